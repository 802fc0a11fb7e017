# UDP 回显客户端（笔记只给了服务器端，这是按笔记的风格写的配套客户端）。
# 把标准输入的每一行作为一个数据报发给服务器，打印回显；2 秒内没有回复就说一声，接着发下一行。
# 运行：python3 examples/python/udp_echo_client.py [地址]，默认发往 127.0.0.1:3214
import os
import socket
import sys

HOST = '127.0.0.1'
PORT = 3214
FAMILY = socket.AF_INET
if len(sys.argv) > 1:
    if sys.argv[1] in ('-h', '--help'):
        print('用法：udp_echo_client.py [地址]\n'
              'UDP 回显客户端：把标准输入的每一行作为一个数据报发给服务器，打印回复。地址默认 127.0.0.1:3214。')
        sys.exit()
    HOST, _, port = sys.argv[1].rpartition(':')
    PORT = int(port)
    if HOST.startswith('['):
        HOST, FAMILY = HOST.strip('[]'), socket.AF_INET6


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


s = socket.socket(FAMILY, socket.SOCK_DGRAM)
s.settimeout(2)

for line in sys.stdin.buffer:
  data = line.rstrip(b'\r\n')
  s.sendto(data, (HOST, PORT))
  try:
    reply, addr = s.recvfrom(65535)
    say(reply.decode('utf-8', errors='replace'))
  except socket.timeout:
    print('（2 秒内没有收到回复）', file=sys.stderr, flush=True)

s.close()
