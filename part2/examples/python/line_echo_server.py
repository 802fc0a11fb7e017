# 按行回显的 TCP 服务器（Rust 版是 part2/examples/line_echo_server.rs）：
# 每收到完整的一行（以 \n 结尾），就把这一行原样发回。一个接一个地服务客户端，按 Ctrl-C 结束。
# 运行：python3 part2/examples/python/line_echo_server.py [地址] [--max-line 字节数] [--idle-timeout 秒数]
import argparse
import os
import socket
import sys

parser = argparse.ArgumentParser(
    description='按行回显的 TCP 服务器：每收到完整的一行（以 \\n 结尾），就把这一行原样发回。')
parser.add_argument('addr', nargs='?', default='127.0.0.1:3214',
                    help='要绑定的 IP:端口，默认 127.0.0.1:3214；IPv6 写成 [::1]:3214')
parser.add_argument('--max-line', type=int, default=65536, metavar='字节数',
                    help='一行最长多少字节（含末尾的 \\n），默认 65536')
parser.add_argument('--idle-timeout', type=float, default=60, metavar='秒数',
                    help='客户端这么久不发数据，就断开它；发送回显也最多等这么久。默认 60')
args = parser.parse_args()
if args.max_line <= 0 or not args.idle_timeout > 0:
    parser.error('--max-line 和 --idle-timeout 都要大于 0')
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


def serve(clnt):
    # 服务一个客户端：读出一行，发回一行，直到对方关闭连接
    clnt.settimeout(args.idle_timeout)  # 读和写都最多等这么久
    with clnt.makefile('rb') as f:  # 带缓冲的读，才能按行读
        while True:
            try:
                # 最多读 max_line 字节：没有换行符的超长行，也撑不大内存
                line = f.readline(args.max_line)
            except socket.timeout:
                raise Closed(f'闲置超时：{args.idle_timeout:g} 秒没有收到数据（--idle-timeout）')
            if not line:
                return  # 读到 0 字节：对方关闭了连接，正好在两行之间
            if not line.endswith(b'\n'):
                if len(line) == args.max_line:
                    raise Closed(f'一行超过了 {args.max_line} 字节的上限（--max-line）')
                raise Closed(f'对方在一行的中间关闭了连接（最后 {len(line)} 字节没有换行符，丢弃）')
            try:
                clnt.sendall(line)  # 发回完整的一行，连同它的 \n
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
