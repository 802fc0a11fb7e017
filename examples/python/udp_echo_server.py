# 课堂笔记里的 UDP 回显服务器，原样照录。
# 与笔记不同的只有开头几行：可以在命令行给出地址（如 127.0.0.1:0 或 [::1]:0），
# 并且第一行打印实际绑定的地址（测试靠它得知端口）。不给参数时，与笔记一样绑定 ('', 3214)。
# 运行：python3 examples/python/udp_echo_server.py [地址]
import socket
import sys

HOST = ''
PORT = 3214
FAMILY = socket.AF_INET
if len(sys.argv) > 1:
    HOST, _, port = sys.argv[1].rpartition(':')
    PORT = int(port)
    if HOST.startswith('['):
        HOST, FAMILY = HOST.strip('[]'), socket.AF_INET6

# ---- 以下是笔记原文（只多了 FAMILY 和打印地址的一行） ----
s = socket.socket(FAMILY, socket.SOCK_DGRAM)

s.bind((HOST, PORT))
host, port = s.getsockname()[:2]
print(f'[{host}]:{port}' if FAMILY == socket.AF_INET6 else f'{host}:{port}', flush=True)

data = True

while True:
  data, addr = s.recvfrom(1024)
  # b 表示二进制形式的数据
  if data == b'True':
    break
  print('Receive String:', data.decode('utf-8'))
  s.sendto(data, addr)
s.close()
