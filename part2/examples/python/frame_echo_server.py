# 按帧回显的 TCP 服务器（Rust 版是 part2/examples/frame_echo_server.rs）：一帧是 4 字节的长度
# （大端序）加上这么多字节的内容；每收到完整的一帧，就把它连同帧头原样发回。
# 一个接一个地服务客户端，按 Ctrl-C 结束。
# 运行：python3 part2/examples/python/frame_echo_server.py [地址] [--max-frame 字节数] [--idle-timeout 秒数]
import errno
import ipaddress
import os
import socket
import struct
import sys

USAGE = """用法：frame_echo_server.py [地址] [--max-frame 字节数] [--idle-timeout 秒数]
按帧回显的 TCP 服务器：一帧是 4 字节的长度（大端序）加上这么多字节的内容；
每收到完整的一帧，就把它连同帧头原样发回。按 Ctrl-C 结束。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；IPv6 写成 [::1]:3214
  --max-frame 字节数    一帧的内容最长多少字节（不含帧头），默认 1048576，最大 67108864（64 MiB）
  --idle-timeout 秒数   客户端这么久不发数据，就断开它；发送回显也最多等这么久。默认 60，范围 0.001 到 86400"""


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


def fail(why):
    # 一行错误，状态码 1：和 Rust 版一样，不打印 Traceback
    sys.exit(f'错误：{why}')


def looks_like_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def parse_args(argv):
    # 读取命令行：可选的地址，--max-frame 字节数，--idle-timeout 秒数。返回 (主机, 端口, 上限, 秒数)
    addr, limit, idle = '127.0.0.1:3214', 1048576, 60.0
    given = None
    while argv:
        a = argv.pop(0)
        if a in ('-h', '--help'):
            print(USAGE)
            sys.exit()
        elif a == '--max-frame':
            v = argv.pop(0) if argv else fail('--max-frame 后面要写一个字节数')
            if not v.isdecimal() or not 0 <= int(v) <= 67108864:
                fail(f'--max-frame 要写一个 0 到 67108864 之间的整数（字节数），而不是 `{v}`')
            limit = int(v)
        elif a == '--idle-timeout':
            # 下一个参数是地址或别的选项：秒数漏写了
            if not argv or ':' in argv[0] or (argv[0].startswith('-') and not looks_like_number(argv[0])):
                fail('--idle-timeout 后面要写一个秒数')
            v = argv.pop(0)
            idle = float(v) if looks_like_number(v) else None
            if idle is None or not 0.001 <= idle <= 86400:  # nan、inf 也不行
                fail(f'--idle-timeout 要写一个 0.001 到 86400 之间的秒数（可以是小数），而不是 `{v}`')
        elif a.startswith('-'):
            fail(f'不认识的选项 {a}：用 --help 查看用法')
        elif given is not None:
            fail('参数太多：只能给一个地址，例如 127.0.0.1:3214')
        else:
            given = addr = a
    host, _, port = addr.rpartition(':')
    try:
        ip = ipaddress.ip_address(host[1:-1] if host.startswith('[') and host.endswith(']') else host)
        if (ip.version == 6) != host.startswith('[') or not port.isdecimal() or int(port) > 65535:
            raise ValueError
    except ValueError:
        fail(f'无法解析地址 `{addr}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214'
             '（本例只接受 IP 地址，不接受主机名）')
    return str(ip), int(port), limit, idle


def bind(host, port):
    # 绑定并监听；失败时按原因给出建议，打印一行
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ':' in host else socket.AF_INET)
    except OSError as e:
        hint = {errno.EADDRINUSE: '端口已被占用：换一个端口，或先结束占用它的程序',
                errno.EACCES: '1024 以下的端口需要管理员权限：换一个 1024 以上的端口',
                errno.EADDRNOTAVAIL: '本机没有这个 IP 地址：用 127.0.0.1、[::1] 或本机网卡的地址',
                }.get(e.errno, '检查地址是否写对')
        fail(f'无法绑定 {show((host, port))}（{hint}）：{e.strerror}')


HOST, PORT, LIMIT, IDLE = parse_args(sys.argv[1:])


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
    clnt.settimeout(IDLE)  # 读和写都最多等这么久
    while True:
        try:
            header = recv_exactly(clnt, 4)
        except socket.timeout:
            raise Closed(f'闲置超时：{IDLE:g} 秒没有收到数据（--idle-timeout）')
        if not header:
            return  # 读到 0 字节：对方关闭了连接，正好在两帧之间
        if len(header) < 4:
            raise Closed(f'对方在帧头的中间关闭了连接（帧头只收到 {len(header)} 字节）')
        (n,) = struct.unpack('>I', header)
        # 先检查，再接收：帧头是客户端写的，它可以声明 4 GiB
        if n > LIMIT:
            raise Closed(f'帧头声明的长度 {n} 字节超过了上限 {LIMIT} 字节（--max-frame）')
        try:
            payload = recv_exactly(clnt, n)
        except socket.timeout:
            raise Closed(f'闲置超时：{IDLE:g} 秒没有收到数据（--idle-timeout）')
        if len(payload) < n:
            raise Closed(f'对方在一帧的中间关闭了连接（帧头声明 {n} 字节，只收到 {len(payload)} 字节）')
        try:
            clnt.sendall(header + payload)  # 帧头和内容一起发回
        except socket.timeout:
            raise Closed(f'发送超时：{IDLE:g} 秒内没能发出回显（对方不读回显？）')


s = bind(HOST, PORT)
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
