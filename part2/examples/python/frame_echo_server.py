# 按帧回显的 TCP 服务器（Rust 版是 part2/examples/frame_echo_server.rs）：一帧是 4 字节的长度
# （大端序）加上这么多字节的内容；每收到完整的一帧，就把它连同帧头原样发回。
# 一个接一个地服务客户端，按 Ctrl-C 结束。
# 运行：python3 part2/examples/python/frame_echo_server.py [地址] [--max-frame 字节数] [--idle-timeout 秒数]
import argparse
import os
import socket
import struct
import sys

parser = argparse.ArgumentParser(
    description='按帧回显的 TCP 服务器：一帧是 4 字节的长度（大端序）加上这么多字节的内容；'
                '每收到完整的一帧，就把它连同帧头原样发回。')
parser.add_argument('addr', nargs='?', default='127.0.0.1:3214',
                    help='要绑定的 IP:端口，默认 127.0.0.1:3214；IPv6 写成 [::1]:3214')
parser.add_argument('--max-frame', type=int, default=1048576, metavar='字节数',
                    help='一帧的内容最长多少字节（不含帧头），默认 1048576')
parser.add_argument('--idle-timeout', type=float, default=60, metavar='秒数',
                    help='客户端这么久不发数据，就断开它；发送回显也最多等这么久。默认 60')
args = parser.parse_args()
if args.max_frame < 0 or not args.idle_timeout > 0:
    parser.error('--max-frame 不能是负数，--idle-timeout 要大于 0')
HOST, _, PORT = args.addr.rpartition(':')
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


class Closed(Exception):
    """断开这个客户端的原因。"""


def recv_exactly(sock, n):
    # 收满 n 个字节，除非对方先关闭了连接：那时返回的少于 n 个字节
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 65536))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def serve(clnt):
    # 服务一个客户端：读出一帧，发回一帧，直到对方关闭连接
    clnt.settimeout(args.idle_timeout)  # 读和写都最多等这么久
    while True:
        try:
            header = recv_exactly(clnt, 4)
        except socket.timeout:
            raise Closed(f'闲置超时：{args.idle_timeout:g} 秒没有收到数据（--idle-timeout）')
        if not header:
            return  # 读到 0 字节：对方关闭了连接，正好在两帧之间
        if len(header) < 4:
            raise Closed(f'对方在帧头的中间关闭了连接（帧头只收到 {len(header)} 字节）')
        (n,) = struct.unpack('>I', header)
        # 先检查，再接收：帧头是客户端写的，它可以声明 4 GiB
        if n > args.max_frame:
            raise Closed(f'帧头声明的长度 {n} 字节超过了上限 {args.max_frame} 字节（--max-frame）')
        try:
            payload = recv_exactly(clnt, n)
        except socket.timeout:
            raise Closed(f'闲置超时：{args.idle_timeout:g} 秒没有收到数据（--idle-timeout）')
        if len(payload) < n:
            raise Closed(f'对方在一帧的中间关闭了连接（帧头声明 {n} 字节，只收到 {len(payload)} 字节）')
        try:
            clnt.sendall(header + payload)  # 帧头和内容一起发回
        except socket.timeout:
            raise Closed(f'发送超时：{args.idle_timeout:g} 秒内没能发出回显（对方不读回显？）')


s = socket.create_server((HOST.strip('[]'), int(PORT)), family=FAMILY)
say(show(s.getsockname()))

# 一个接一个地服务客户端：服务完一个，再 accept 下一个
try:
    while True:
        clnt, addr = s.accept()
        say('Client Address:', show(addr))
        with clnt:
            try:
                serve(clnt)
            except (Closed, OSError) as why:
                # 这个客户端出了任何问题，都只断开它自己：打印一行原因，然后服务下一个
                print(f'断开 {show(addr)}：{why}', file=sys.stderr, flush=True)
        say(f'连接关闭：{show(addr)}')
except KeyboardInterrupt:
    pass  # Ctrl-C：安静地结束
