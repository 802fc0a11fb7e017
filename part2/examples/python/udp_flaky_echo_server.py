# 故意不可靠的 UDP 回显服务器：按收到的顺序，每 3 个数据报里，第 1 个丢掉不回，第 2 个回两次，
# 第 3 个照常回一次。一直运行，按 Ctrl-C 结束。
# 运行：python3 part2/examples/python/udp_flaky_echo_server.py [地址]，默认 127.0.0.1:3214
import os
import socket
import sys

HOST = '127.0.0.1'
PORT = 3214
FAMILY = socket.AF_INET
if len(sys.argv) > 1:
    if sys.argv[1] in ('-h', '--help'):
        print('用法：udp_flaky_echo_server.py [地址]\n'
              '故意不可靠的 UDP 回显服务器：每 3 个数据报里，第 1 个丢掉，第 2 个回两次，第 3 个回一次。')
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


def show(addr):
    return f'[{addr[0]}]:{addr[1]}' if FAMILY == socket.AF_INET6 else f'{addr[0]}:{addr[1]}'


s = socket.socket(FAMILY, socket.SOCK_DGRAM)
s.bind((HOST, PORT))
say(show(s.getsockname()))

count = 0
try:
    while True:
        data, addr = s.recvfrom(65535)  # 整个数据报收下，不截断
        count += 1
        copies = {1: 0, 2: 2, 0: 1}[count % 3]  # 第 1、4、7……个丢掉；第 2、5、8……个回两次
        for _ in range(copies):
            try:
                s.sendto(data, addr)
            except OSError as err:
                print(f'（无法回复 {show(addr)}：{err}）', file=sys.stderr, flush=True)
        what = {0: '丢掉，不回复', 2: '回复两次', 1: '回复一次'}[copies]
        say(f'第 {count} 个数据报：{len(data)} 字节，来自 {show(addr)}，{what}')
except KeyboardInterrupt:  # Ctrl-C
    pass
