# AF_UNIX 数据报回显服务器：笔记里的 UDP 服务器，地址族换成 AF_UNIX，地址换成一个路径。
# 运行：python3 examples/python/unix_datagram_server.py [路径]，默认 /tmp/socket-book-dgram.sock
import os
import socket
import sys
import tempfile

PATH = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), 'socket-book-dgram.sock')

if os.path.exists(PATH) and not os.path.isfile(PATH):
  os.unlink(PATH)

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(PATH)
print(PATH, flush=True)

try:
  while True:
    data, addr = s.recvfrom(1024)
    if data == b'True':
      break
    print('Receive String:', data.decode('utf-8', errors='replace'))
    if addr:
      s.sendto(data, addr)
    else:
      # 客户端没有绑定路径：没有回信地址
      print('（没有回信地址，无法回显）', file=sys.stderr)
finally:
  s.close()
  os.unlink(PATH)
