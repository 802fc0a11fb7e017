# 只发送、不读回显的客户端：看回显服务器的背压。它一直发（最多 64 MiB），直到 send 等了 2 秒
# 也发不出去；这时让另一个连接发一条消息，看服务器是否照常服务；给了 --pid，还看服务器的内存
# 涨了多少。最后把回显全部读回来，和发出的核对一遍。
# 运行：python3 ladder/examples/python/flood_client.py [地址] [--pid 服务器的进程号]
import argparse
import socket
import sys

parser = argparse.ArgumentParser(description='只发送、不读回显的客户端：看回显服务器的背压。')
parser.add_argument('addr', nargs='?', default='127.0.0.1:3214',
                    help='服务器的 IP:端口，默认 127.0.0.1:3214')
parser.add_argument('--pid', type=int, help='服务器的进程号：给了它，就读 /proc/PID/status 里的 VmRSS')
parser.add_argument('--mib', type=int, default=64, help='最多发多少 MiB，默认 64')
args = parser.parse_args()
HOST, _, PORT = args.addr.rpartition(':')
ADDR = (HOST.strip('[]'), int(PORT))
LIMIT = args.mib << 20
BLOCK = 64 * 1024
# 发送的内容：0, 1, ..., 250, 0, 1, ... 一直重复（251 是质数：错一个字节、丢一个字节都看得出来）
PATTERN = bytes(range(251)) * (BLOCK // 251 + 2)


def block_at(offset, size):
    start = offset % 251
    return PATTERN[start:start + size]


def vm_rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise SystemExit('错误：/proc/PID/status 里没有 VmRSS')


try:
    before = vm_rss_kib(args.pid) if args.pid else None
    s = socket.create_connection(ADDR, timeout=10)
    s.settimeout(2)
    print(f'只发送、不读回显，最多发 {args.mib} MiB……')
    sent = 0
    try:
        while sent < LIMIT:
            sent += s.send(block_at(sent, min(BLOCK, LIMIT - sent)))
        print(f'{args.mib} MiB 全发出去了：服务器一直在读，回显都堆在了它的内存里？')
    except TimeoutError:
        print('send 等了 2 秒也发不出去：服务器不再读我的数据了')
    if before is not None:
        grown = vm_rss_kib(args.pid) - before
        print('服务器的内存（VmRSS）' +
              ('增加了不到 1 MiB' if grown < 1024 else f'增加了 {grown // 1024} MiB'))

    with socket.create_connection(ADDR, timeout=10) as other:
        other.sendall(b'hello')
        echo = b''
        while len(echo) < 5:
            data = other.recv(5 - len(echo))
            if not data:
                break
            echo += data
    print(f'另一个连接发送 hello，收到回显 {echo.decode(errors="replace")}')

    s.settimeout(10)
    got = 0
    while got < sent:
        data = s.recv(min(BLOCK, sent - got))
        if not data:
            break
        if data != block_at(got, len(data)):
            print(f'回显的第 {got} 个字节起和发出的不一样', file=sys.stderr)
            sys.exit(1)
        got += len(data)
    if got == sent:
        print('开始读回显：发出的每一个字节都收回来了，一字不差')
    else:
        print(f'服务器提前关闭了连接：少收回 {sent - got} 个字节', file=sys.stderr)
        sys.exit(1)
except OSError as e:
    print(f'错误：{e}', file=sys.stderr)
    sys.exit(1)
