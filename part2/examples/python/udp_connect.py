# 对 UDP 套接字调用 connect：send/recv 不用写地址；别的地址发来的数据报被内核丢掉；
# 发往没有人收的端口时，下一次 recv 抛出 ConnectionRefusedError（没有 connect 的套接字只会超时）。
# 运行：python3 part2/examples/python/udp_connect.py（不接受参数，大约 1 秒后结束）
import os
import socket
import sys
import unicodedata

if len(sys.argv) > 1:
    if sys.argv[1:] in (['-h'], ['--help']):
        print('用法：udp_connect.py\n'
              '演示对 UDP 套接字调用 connect 之后：send/recv 不用写地址；别的地址发来的数据报被丢掉；'
              '发往没有人收的端口时 recv 得到 ConnectionRefusedError。不接受参数。')
        sys.exit()
    sys.exit(f'错误：这个演示不接受参数（收到了 {sys.argv[1]}）')


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


def udp_socket(timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    s.settimeout(timeout)
    return s


def printable(data):
    # 不是 UTF-8 的字节显示为 �，控制字符（换行、ESC 等）显示成转义序列，别人就无法操纵终端
    text = data.decode('utf-8', errors='replace')
    return ''.join(c.encode('unicode_escape').decode() if unicodedata.category(c) == 'Cc' else c
                   for c in text)


def recv_result(s):
    # 收一个数据报，把结果写成一句话：收到了什么、得到什么错误，或者超时
    try:
        data, addr = s.recvfrom(1024)  # 没有 connect 的套接字谁发来的都收：内容经 printable 处理
        return f'收到 "{printable(data)}"'
    except socket.timeout:
        return f'{s.gettimeout():g} 秒内什么也没收到，也没有错误'
    except ConnectionRefusedError as err:  # ECONNREFUSED
        return f'错误 {type(err).__name__}: {err}'


server = udp_socket()  # 一个“服务器”：由这个程序自己替它收发
say(f'服务器：127.0.0.1:{server.getsockname()[1]}')

say('一、客户端 connect 到服务器，之后收发都不用写地址')
c = udp_socket()
c.connect(server.getsockname())
c.send(b'ping')
while True:  # 服务器收到 ping，回显给客户端（别的程序发来的数据报不理）
    data, addr = server.recvfrom(1024)
    if addr == c.getsockname():
        server.sendto(data, addr)
        break
say(f'   send "ping"，recv 收到 "{c.recv(1024).decode()}"')

say('二、一个陌生人往客户端的端口发数据报')
stranger = udp_socket()
stranger.connect(c.getsockname())  # 陌生人也 connect，这样它才能收到 ICMP 错误
stranger.send(b'I am a stranger')
say(f'   陌生人的 recv：{recv_result(stranger)}')
server.sendto(b'pong', c.getsockname())
say(f'   服务器接着发来 "pong"，客户端的 recv：{recv_result(c)}')

say('三、往一个没有人收的端口发数据报')
# 一个确定没有人收的端口：绑定它，再让这个套接字 connect 到它自己（只收自己发的数据报）
closed = udp_socket()
closed.connect(closed.getsockname())
nobody = closed.getsockname()

connected = udp_socket()
connected.connect(nobody)
connected.send(b'anybody there?')
say(f'   connect 过的套接字：send 成功；recv：{recv_result(connected)}')

unconnected = udp_socket(timeout=1)
unconnected.sendto(b'anybody there?', nobody)
say(f'   没有 connect 的套接字：send_to 成功；recv_from：{recv_result(unconnected)}')
