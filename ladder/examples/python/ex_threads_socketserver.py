# 练习答案（每个客户端一个线程，练习 1）：用标准库的 socketserver.ThreadingTCPServer 重写 echo_threads.py。
# ThreadingTCPServer 每接受一个连接，就创建一个线程，在那个线程里调用 handle。
# 运行：python3 ladder/examples/python/ex_threads_socketserver.py [地址]
import argparse
import os
import socket
import socketserver
import sys
import threading

parser = argparse.ArgumentParser(
    description='用 socketserver.ThreadingTCPServer 写的、每个客户端一个线程的 TCP 回显服务器；按 Ctrl-C 结束。')
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


print_lock = threading.Lock()  # 几个线程同时打印时，一行不会插进另一行中间


def say(*parts):
    # 像 print 一样打印一行；标准输出被关闭时，安静地结束
    try:
        with print_lock:
            print(*parts, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        os._exit(0)  # 结束整个进程（在别的线程里，sys.exit 只会结束这一个线程）


def show(addr):
    return f'[{addr[0]}]:{addr[1]}' if ':' in addr[0] else f'{addr[0]}:{addr[1]}'


# ANCHOR: handler
class EchoHandler(socketserver.BaseRequestHandler):
    # 每接受一个连接，ThreadingTCPServer 就创建一个线程，在线程里建一个 EchoHandler，调用它的 handle；
    # self.request 是连接的套接字（accept 返回的 clnt），self.client_address 是对方的地址
    def handle(self):
        say('Client Address:', show(self.client_address))
        try:
            while True:
                data = self.request.recv(1024)
                if not data:
                    break  # 读到 0 字节：对方关闭了连接
                self.request.sendall(data)
        except OSError as why:
            with print_lock:
                print(f'断开 {show(self.client_address)}：{why}', file=sys.stderr, flush=True)
        say(f'连接关闭：{show(self.client_address)}')


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True  # 按 Ctrl-C 时，主线程退出，不等这些线程（echo_threads.py 的 daemon=True）
    allow_reuse_address = True  # 和 socket.create_server 一样设 SO_REUSEADDR
    request_queue_size = 128  # listen 的积压队列长度；TCPServer 默认只有 5


family, host, port = parse_addr(args.addr)
Server.address_family = family
try:
    server = Server((host, port), EchoHandler)
except OSError as err:
    sys.exit(f'错误：无法绑定 {args.addr}：{err.strerror}')
with server:
    say(show(server.server_address))
    try:
        server.serve_forever()  # 主线程只管 accept，每个连接交给一个新线程
    except KeyboardInterrupt:
        pass  # Ctrl-C：安静地结束
# ANCHOR_END: handler
