# 线程池回显服务器（Rust 版是 ladder/examples/echo_pool.rs）：启动时创建固定数目的工作线程；
# 主线程 accept 到的连接放进一个有界的队列，空闲的工作线程从队列里取出一个连接，服务它直到对方关闭，
# 再去取下一个。按 Ctrl-C 结束。
# 每个连接被工作线程接手、关闭时各打印一行；收到的字节原样发回，不打印。
# 运行：python3 ladder/examples/python/echo_pool.py [地址] [--workers 线程数] [--queue 连接数]
import argparse
import errno
import os
import queue
import socket
import sys
import threading
import time

parser = argparse.ArgumentParser(
    description='线程池 TCP 回显服务器：固定数目的工作线程轮流服务客户端；按 Ctrl-C 结束。')
parser.add_argument('addr', nargs='?', default='127.0.0.1:3214', metavar='地址',
                    help='要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，IPv6 写成 [::1]:3214')
parser.add_argument('--workers', type=int, default=4, metavar='线程数',
                    help='工作线程的数目，1 到 1024，默认 4：最多同时服务这么多个客户端')
parser.add_argument('--queue', type=int, default=16, metavar='连接数',
                    help='已经接受、等工作线程来取的连接最多排几个，1 到 65536，默认 16；'
                         '排满以后，服务器暂停接受连接，新连接留在内核的积压队列里')
args = parser.parse_args()
# 两个数都要有上限。注意 queue.Queue(maxsize=0) 表示“不限长度”，所以 0 也不行
if not 1 <= args.workers <= 1024:
    parser.error(f'--workers 要写 1 到 1024 之间的整数，而不是 {args.workers}')
if not 1 <= args.queue <= 65536:
    parser.error(f'--queue 要写 1 到 65536 之间的整数，而不是 {args.queue}')
# 一次只让一个线程打印：print 会分几次写出一行，几个线程同时打印，一行里会被插进别的线程的字
print_lock = threading.Lock()


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
    with print_lock:
        try:
            print(*parts, flush=True)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
            os._exit(0)  # 结束整个进程（在别的线程里，sys.exit 只会结束这一个线程）


def warn(text):
    # 在标准错误上说一行
    with print_lock:
        print(text, file=sys.stderr, flush=True)


def show(addr):
    # ('127.0.0.1', 54321) 显示成 127.0.0.1:54321，IPv6 显示成 [::1]:54321，和 Rust 版一样
    return f'[{addr[0]}]:{addr[1]}' if ':' in addr[0] else f'{addr[0]}:{addr[1]}'


# ANCHOR: worker
def worker():
    # 一个工作线程：从队列里取一个连接，服务它，再取下一个。
    # queue.Queue 本身允许几个线程同时取，不需要另外加锁
    while True:
        clnt, addr = jobs.get()
        handle(clnt, addr)


def handle(clnt, addr):
    # 服务一个客户端，接手和结束时各打印一行
    say('Client Address:', show(addr))
    with clnt:
        try:
            serve(clnt)
        except OSError as why:
            # 这个客户端出了问题（比如被复位），只断开它自己；工作线程接着去取下一个
            warn(f'断开 {show(addr)}：{why}')
    say(f'连接关闭：{show(addr)}')


def serve(clnt):
    # 服务一个客户端：收到什么字节，就原样发回什么字节，直到对方关闭连接
    while True:
        data = clnt.recv(1024)
        if not data:
            return  # 读到 0 字节：对方关闭了连接
        clnt.sendall(data)
# ANCHOR_END: worker


family, host, port = parse_addr(args.addr)
try:
    s = socket.create_server((host, port), family=family)
except OSError as err:
    sys.exit(f'错误：无法绑定 {args.addr}（{bind_hint(err)}）: {err.strerror}')

# ANCHOR: pool
# 一个有界的队列：最多排 args.queue 个连接，排满以后 put 会阻塞
jobs = queue.Queue(maxsize=args.queue)
for _ in range(args.workers):
    # daemon=True：按 Ctrl-C 时，主线程退出，不等这些线程
    threading.Thread(target=worker, daemon=True).start()
# ANCHOR_END: pool
say(show(s.getsockname()))

# ANCHOR: loop
# 主线程只管 accept，把连接放进队列；队列满了，put 就等到有工作线程取走一个
try:
    while True:
        try:
            clnt, addr = s.accept()
        except OSError as err:
            # 比如 Too many open files：说一行，歇一会儿再试（马上重试只会让循环空转）
            warn(f'接受连接失败：{err}（100 毫秒后再试）')
            time.sleep(0.1)
            continue
        jobs.put((clnt, addr))
except KeyboardInterrupt:
    pass  # Ctrl-C：安静地结束
# ANCHOR_END: loop
