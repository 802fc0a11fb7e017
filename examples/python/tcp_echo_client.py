# TCP 回显客户端（笔记只给了服务器端，这是按笔记的风格写的配套客户端）。
# 把标准输入的每一行发给服务器，收满同样多的字节作为回显，打印出来。
# 很长的一行分块发送：发一块，收回这一块的回显，再发下一块（一口气全发出去会卡死，见书中 TCP 回显一章）。
# 运行：python3 examples/python/tcp_echo_client.py [地址]，默认连接 127.0.0.1:3214；也可以写 localhost:3214
import os
import socket
import sys

HOST = '127.0.0.1'
PORT = 3214
PIECE = 1024  # 一块的大小：和服务器的 recv(1024) 一样
if len(sys.argv) > 1:
    if sys.argv[1] in ('-h', '--help'):
        print('用法：tcp_echo_client.py [地址]\n'
              'TCP 回显客户端：把标准输入的每一行发给服务器，打印回显。地址默认 127.0.0.1:3214。')
        sys.exit()
    HOST, _, port = sys.argv[1].rpartition(':')
    PORT = int(port)
    HOST = HOST.strip('[]')  # IPv6 地址写在方括号里：[::1]:3214


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


# create_connection 解析主机名，依次尝试每个地址；timeout=5 同时管连接、发送和接收
s = socket.create_connection((HOST, PORT), timeout=5)

for line in sys.stdin.buffer:
  data = line.rstrip(b'\r\n')
  reply = bytearray()
  for start in range(0, len(data), PIECE):
    piece = data[start:start + PIECE]
    s.sendall(piece)
    # TCP 是字节流：这一块的回显可能分几段到达，收满 len(piece) 个字节才算完整
    got = 0
    while got < len(piece):
      chunk = s.recv(len(piece) - got)
      if not chunk:
        sys.exit('错误：服务器在回显完成之前关闭了连接')
      reply += chunk
      got += len(chunk)
  say(reply.decode('utf-8', errors='replace'))

s.close()
