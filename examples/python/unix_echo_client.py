# AF_UNIX 流式回显客户端：把标准输入的每一行发给服务器，收满同样多的字节作为回显。
# 运行：python3 examples/python/unix_echo_client.py [路径]，默认 /tmp/socket-book-echo.sock
import os
import socket
import sys
import tempfile

PATH = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), 'socket-book-echo.sock')

s = socket.socket(socket.AF_UNIX)
s.connect(PATH)
s.settimeout(5)

for line in sys.stdin.buffer:
  data = line.rstrip(b'\r\n')
  s.sendall(data)
  reply = b''
  while len(reply) < len(data):
    chunk = s.recv(1024)
    if not chunk:
      break
    reply += chunk
  print(reply.decode('utf-8', errors='replace'), flush=True)

s.close()
