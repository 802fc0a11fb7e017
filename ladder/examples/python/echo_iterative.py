# 一次只服务一个客户端的回显服务器（Rust 版是 ladder/examples/echo_iterative.rs）：
# 笔记里的服务器，在 accept 外面加了一个循环。服务完一个客户端，才接受下一个连接；按 Ctrl-C 结束。
# 每个连接打开、关闭时各打印一行；收到的字节原样发回，不打印。
# 运行：python3 ladder/examples/python/echo_iterative.py [地址]
import argparse
import errno
import os
import socket
import sys
import time

parser = argparse.ArgumentParser(
    description='一次只服务一个客户端的 TCP 回显服务器：服务完一个客户端，才接受下一个连接；按 Ctrl-C 结束。')
parser.add_argument('addr', nargs='?', default='127.0.0.1:3214', metavar='地址',
                    help='要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，IPv6 写成 [::1]:3214')
args = parser.parse_args()


def parse_addr(text):
    # '127.0.0.1:3214' -> (AF_INET, '127.0.0.1', 3214)；'[::1]:0' -> (AF_INET6, '::1', 0)。只接受 IP 地址
    host, _, port = text.rpartition(':')
    family = socket.AF_INET
    if host.startswith('[') and host.endswith(']'):
        host, family = host[1:-1], socket.AF_INET6
    try:
        socket.inet_pton(family, host)
        port = int(port)
        if not 0 <= port <= 65535:
            raise ValueError(port)
    except (OSError, ValueError):
        sys.exit(f'错误：无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，'
                 f'例如 127.0.0.1:3214 或 [::1]:3214（本例只接受 IP 地址，不接受主机名）')
    return family, host, port


def bind_hint(err):
    # bind 失败时，按失败的原因给出建议
    if err.errno == errno.EADDRINUSE:
        return '端口已被占用：换一个端口，或先结束占用它的程序'
    if err.errno == errno.EACCES:
        return '1024 以下的端口需要管理员权限：换一个 1024 以上的端口'
    if err.errno == errno.EADDRNOTAVAIL:
        return '本机没有这个 IP 地址：用 127.0.0.1、[::1] 或本机网卡的地址'
    return '检查地址是否写对'


def say(*parts):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(*parts, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


def show(addr):
    # ('127.0.0.1', 54321) 显示成 127.0.0.1:54321，IPv6 显示成 [::1]:54321，和 Rust 版一样
    return f'[{addr[0]}]:{addr[1]}' if ':' in addr[0] else f'{addr[0]}:{addr[1]}'


# ANCHOR: serve
def serve(clnt):
    # 服务一个客户端：收到什么字节，就原样发回什么字节，直到对方关闭连接。
    # 在这期间，服务器不做别的事：下一个客户端只能在积压队列里等着
    while True:
        data = clnt.recv(1024)
        if not data:
            return  # 读到 0 字节：对方关闭了连接
        clnt.sendall(data)
# ANCHOR_END: serve


family, host, port = parse_addr(args.addr)
try:
    s = socket.create_server((host, port), family=family)
except OSError as err:
    sys.exit(f'错误：无法绑定 {args.addr}（{bind_hint(err)}）: {err.strerror}')
say(show(s.getsockname()))

# ANCHOR: loop
# 笔记里的服务器只 accept 一次；这里加一个循环：服务完一个客户端，再 accept 下一个
try:
    while True:
        try:
            clnt, addr = s.accept()
        except OSError as err:
            # 比如 Too many open files：说一行，歇一会儿再试（马上重试只会让循环空转）
            print(f'接受连接失败：{err}（100 毫秒后再试）', file=sys.stderr, flush=True)
            time.sleep(0.1)
            continue
        say('Client Address:', show(addr))
        with clnt:
            try:
                serve(clnt)
            except OSError as why:
                # 这个客户端出了问题（比如被复位），只断开它自己：说一行原因，接着服务下一个
                print(f'断开 {show(addr)}：{why}', file=sys.stderr, flush=True)
        say(f'连接关闭：{show(addr)}')
except KeyboardInterrupt:
    pass  # Ctrl-C：安静地结束
# ANCHOR_END: loop
