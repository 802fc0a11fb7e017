# 课堂笔记里的 TCP 回显服务器，原样照录。
# 与笔记不同的只有开头几行：可以在命令行给出地址（如 127.0.0.1:0 或 [::1]:0），
# 并且第一行打印实际绑定的地址（测试靠它得知端口）。不给参数时，与笔记一样绑定 ('', 3214)。
# 运行：python3 examples/python/tcp_echo_server.py [地址]
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
 # 使用默认参数，即IPv4和TCP传输
s = socket.socket(FAMILY)
s.bind((HOST, PORT))
s.listen(5)
host, port = s.getsockname()[:2]
print(f'[{host}]:{port}' if FAMILY == socket.AF_INET6 else f'{host}:{port}', flush=True)

# 监听客户端连接，返回的就是客户端对象和连接地址
clnt, addr = s.accept()
print("Client Address:", addr)

while True:
  data = clnt.recv(1024)
  if not data:
    break
  # py3中，接收的是二进制字节码，所以需要decode()方法解码
  # （笔记原文拼作 Recieve，照录；Rust 版改正为 Receive）
  print("Recieve Data:", data.decode('utf-8'))
  # 将接收自客户端的数据发回客户端
  clnt.send(data)

clnt.close()
s.close()
