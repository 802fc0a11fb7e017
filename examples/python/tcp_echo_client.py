# TCP 回显客户端（笔记只给了服务器端，这是按笔记的风格写的配套客户端）。
# 把标准输入的每一行发给服务器，收满同样多的字节作为回显，打印出来。
# 运行：python3 examples/python/tcp_echo_client.py [地址]，默认连接 127.0.0.1:3214
import socket
import sys

HOST = '127.0.0.1'
PORT = 3214
FAMILY = socket.AF_INET
if len(sys.argv) > 1:
    HOST, _, port = sys.argv[1].rpartition(':')
    PORT = int(port)
    if HOST.startswith('['):
        HOST, FAMILY = HOST.strip('[]'), socket.AF_INET6

s = socket.socket(FAMILY)
s.connect((HOST, PORT))
s.settimeout(5)  # 等回显最多 5 秒

for line in sys.stdin.buffer:
  data = line.rstrip(b'\r\n')
  s.sendall(data)
  # TCP 是字节流：回显可能分几段到达，收满 len(data) 个字节才算完整
  reply = b''
  while len(reply) < len(data):
    chunk = s.recv(1024)
    if not chunk:
      break
    reply += chunk
  print(reply.decode('utf-8', errors='replace'), flush=True)

s.close()
