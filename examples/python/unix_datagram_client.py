# AF_UNIX 数据报回显客户端。客户端必须绑定自己的路径，服务器才能回复。
# 运行：python3 examples/python/unix_datagram_client.py [路径]，默认 /tmp/socket-book-dgram.sock
import os
import socket
import sys
import tempfile

PATH = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), 'socket-book-dgram.sock')
ME = os.path.join(tempfile.gettempdir(), 'socket-book-client-%d.sock' % os.getpid())

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(ME)
s.settimeout(2)

try:
  for line in sys.stdin.buffer:
    data = line.rstrip(b'\r\n')
    s.sendto(data, PATH)
    try:
      reply, addr = s.recvfrom(65536)
      print(reply.decode('utf-8', errors='replace'), flush=True)
    except socket.timeout:
      print('（2 秒内没有收到回复）', file=sys.stderr, flush=True)
finally:
  s.close()
  os.unlink(ME)
