# 事件循环上的回显服务器（Rust 版是 ladder/examples/echo_mio.rs）：一个线程，非阻塞套接字，
# selectors 模块（在 Linux 上就是 epoll）替我们盯着所有的套接字，我们只问它“谁准备好了？”
# 收到的字节原样发回；每个连接打开、关闭时各打印一行。按 Ctrl-C 结束。
# 运行：python3 ladder/examples/python/echo_selectors.py [地址] [--max-clients 个数]
import argparse
import errno
import os
import resource
import selectors
import socket
import sys
import time

OUT_LIMIT = 64 * 1024  # 每个连接的输出缓冲区最多存多少字节；满了就先不读这个客户端（背压）
SPARE_FDS = 16  # 除了客户端的连接，进程自己还要用的文件描述符

parser = argparse.ArgumentParser(
    description='事件循环上的回显服务器：一个线程用 selectors（epoll）同时服务很多个客户端。')
parser.add_argument('addr', nargs='?', default='127.0.0.1:3214',
                    help='要绑定的 IP:端口，默认 127.0.0.1:3214；IPv6 写成 [::1]:3214')
parser.add_argument('--max-clients', type=int, default=10000, metavar='个数',
                    help='最多同时服务多少个客户端，默认 10000；更多的连接一接受就关闭')
args = parser.parse_args()
if args.max_clients <= 0:
    parser.error('--max-clients 要大于 0')


def fail(message):
    print(f'错误：{message}', file=sys.stderr)
    sys.exit(1)


HOST, _, PORT = args.addr.rpartition(':')
if not HOST or not PORT.isdigit():
    fail(f'无法解析地址 `{args.addr}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214')
FAMILY = socket.AF_INET6 if HOST.startswith('[') else socket.AF_INET


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


def raise_fd_limit(max_clients):
    # 一个连接就是一个打开的文件：把软限制提高到硬限制，返回最多能同时服务多少个客户端
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    except (ValueError, OSError):
        pass
    limit = soft if soft != resource.RLIM_INFINITY else max_clients + SPARE_FDS
    if limit >= max_clients + SPARE_FDS:
        return max_clients
    can = limit - SPARE_FDS
    if can <= 0:
        fail(f'打开文件数的上限只有 {limit}，一个客户端也服务不了：先用 ulimit -n 调高它')
    print(f'注意：打开文件数的上限是 {limit}（ulimit -Hn），服务 {max_clients} 个客户端需要 '
          f'{max_clients + SPARE_FDS}；最多只能同时服务 {can} 个', file=sys.stderr, flush=True)
    return can


# ANCHOR: conn
class Conn:
    """一个连接的全部状态：事件循环随时会离开它去照顾别的连接，下次接着用。"""

    def __init__(self, sock, addr):
        self.sock = sock
        self.addr = addr
        self.out = bytearray()  # 输出缓冲区：收到了、还没发回去的字节，最多 OUT_LIMIT 个
        self.read_closed = False  # 对方关闭了它的发送方向（recv 返回了 b''）
        self.events = selectors.EVENT_READ  # 现在登记的兴趣
# ANCHOR_END: conn


BIND_HINTS = {  # bind 失败时，按失败的原因给出建议（和 Rust 版一样）
    errno.EADDRINUSE: '端口已被占用：换一个端口，或先结束占用它的程序',
    errno.EACCES: '1024 以下的端口需要管理员权限：换一个 1024 以上的端口',
    errno.EADDRNOTAVAIL: '本机没有这个 IP 地址：用 127.0.0.1、[::1] 或本机网卡的地址',
}
# ANCHOR: setup
try:
    s = socket.create_server((HOST.strip('[]'), int(PORT)), family=FAMILY)
except OSError as e:
    fail(f'无法绑定 {args.addr}（{BIND_HINTS.get(e.errno, "检查地址是否写对")}）：{e.strerror}')
s.setblocking(False)  # 非阻塞：没有连接可接受时，accept 抛出 BlockingIOError，而不是等
say(show(s.getsockname()))
max_clients = raise_fd_limit(args.max_clients)

sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_READ, None)  # data 为 None 的是监听套接字
open_count = 0
retry_accept = None  # accept 失败了（比如打开的文件太多）：到这个时刻再试
accept_failing = False
# ANCHOR_END: setup


def close(conn, why=None):
    global open_count
    if why is not None:
        print(f'断开 {show(conn.addr)}：{why}', file=sys.stderr, flush=True)
    sel.unregister(conn.sock)
    conn.sock.close()
    open_count -= 1
    say(f'连接关闭：{show(conn.addr)}')


# ANCHOR: accept
def accept():
    # 水平触发：积压队列里还有连接，下一次 select 还会报告它；一次多接受几个，积压队列空得快些
    global open_count, retry_accept, accept_failing
    for _ in range(16):
        try:
            clnt, addr = s.accept()
        except BlockingIOError:
            return  # 积压队列空了
        except ConnectionAbortedError:
            continue  # 连接在被接受之前就被对方放弃了
        except OSError as e:  # 比如打开的文件太多（EMFILE）
            # 连接留在积压队列里，监听套接字一直“可读”：不先拿走它，select 就会立刻返回，
            # 服务器原地空转。只在第一次失败时说一行，100 毫秒后再试
            if not accept_failing:
                print(f'接受连接失败：{e}（每 100 毫秒再试一次）', file=sys.stderr, flush=True)
            accept_failing = True
            sel.unregister(s)
            retry_accept = time.monotonic() + 0.1
            return
        accept_failing = False
        if open_count >= max_clients:
            print(f'拒绝 {show(addr)}：已经有 {max_clients} 个连接（--max-clients）',
                  file=sys.stderr, flush=True)
            clnt.close()
            continue
        clnt.setblocking(False)
        open_count += 1
        sel.register(clnt, selectors.EVENT_READ, Conn(clnt, addr))
        say('Client Address:', show(addr))
# ANCHOR_END: accept


# ANCHOR: serve
def serve(conn, mask):
    # 水平触发：只要还有数据没读（还能写），select 就一直报告它，所以每次读一次、写一次就够了
    try:
        if mask & selectors.EVENT_READ:
            data = conn.sock.recv(OUT_LIMIT - len(conn.out))
            if data:
                conn.out += data
            else:
                conn.read_closed = True  # 对方不再发了；已经收到的回显还要发完，再关闭
        if conn.out:
            n = conn.sock.send(conn.out)  # 可能只发出一部分（部分写）：发出多少，删掉多少
            del conn.out[:n]
    except BlockingIOError:
        pass  # 这一次没有准备好（虚假的事件，或者发送缓冲区满了）：等下一个事件
    except OSError as e:
        close(conn, e)  # 只断开这一个连接
        return
    if conn.read_closed and not conn.out:
        close(conn)
        return
    # 这个连接现在该等什么：缓冲区还有空位、对方也还在发，就等可读（满了就不读：背压）；
    # 还有回显没发出去，就等可写
    events = 0
    if not conn.read_closed and len(conn.out) < OUT_LIMIT:
        events |= selectors.EVENT_READ
    if conn.out:
        events |= selectors.EVENT_WRITE
    if events != conn.events:
        sel.modify(conn.sock, events, conn)
        conn.events = events
# ANCHOR_END: serve


# ANCHOR: loop
try:
    while True:
        # 阻塞，直到至少一个套接字准备好了；等着重试 accept，就最多等到那个时刻
        timeout = None if retry_accept is None else max(0, retry_accept - time.monotonic())
        for key, mask in sel.select(timeout):
            if key.data is None:
                accept()
            else:
                serve(key.data, mask)
        if retry_accept is not None and time.monotonic() >= retry_accept:
            retry_accept = None
            sel.register(s, selectors.EVENT_READ, None)
except KeyboardInterrupt:
    pass  # Ctrl-C：安静地结束
# ANCHOR_END: loop
