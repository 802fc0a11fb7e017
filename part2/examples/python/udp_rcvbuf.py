# 接收缓冲区（SO_RCVBUF）有多大、能要到多大，以及它大一些时，一阵突发的数据报丢得少多少。
# 运行：python3 part2/examples/python/udp_rcvbuf.py（不接受参数），输出和 Rust 版相同。
import os
import socket
import struct
import sys

COUNT = 150      # 发送方一口气发出的数据报个数
SIZE = 1000      # 每个数据报的字节数（前 4 个字节是它的序号）
BIG = 1 << 20    # 第二次实验要的接收缓冲区大小：1 MiB
QUIET = 0.3      # 接收方读空缓冲区之后再等这么久（秒），没有新的数据报就认为其余的都丢了

if len(sys.argv) > 1:
    if sys.argv[1:] in (['-h'], ['--help']):
        print('用法：udp_rcvbuf.py\n'
              '显示接收缓冲区的默认大小和上限，再比较两种大小的缓冲区在一阵突发里各收到几个。不接受参数。')
        sys.exit()
    sys.exit(f'错误：这个演示不接受参数（收到了 {sys.argv[1]}）')


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


def proc_setting(name):
    path = f'/proc/sys/net/core/{name}'
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as err:
        return f'（读不到 {path}：{err}）'


def ranges(seqs):
    # 把一串序号写成区间：[0, 1, 2, 5] 写成 0～2、5；一个也没有时写“无”
    parts, i = [], 0
    while i < len(seqs):
        start = seqs[i]
        while i + 1 < len(seqs) and seqs[i + 1] == seqs[i] + 1:
            i += 1
        parts.append(str(start) if seqs[i] == start else f'{start}～{seqs[i]}')
        i += 1
    return '、'.join(parts) or '无'


def burst(want):
    # 接收方先不读，发送方一口气发出 COUNT 个带序号的数据报；然后接收方读出全部，按序号清点
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if want is not None:
        r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, want)
    r.bind(('127.0.0.1', 0))
    rcvbuf = r.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    for seq in range(COUNT):
        s.sendto(struct.pack('>I', seq) + b'.' * (SIZE - 4), r.getsockname())

    r.settimeout(QUIET)
    received = []
    while len(received) < COUNT:
        try:
            data, addr = r.recvfrom(2048)
        except socket.timeout:
            break
        if addr == s.getsockname() and len(data) == SIZE:  # 只数发送方发来的、长度对的数据报
            received.append(struct.unpack('>I', data[:4])[0])
    which = '默认' if want is None else f'要了 {want}'
    say(f'接收缓冲区 {rcvbuf} 字节（{which}）：发出 {COUNT} 个，收到 {len(received)} 个'
        f'（序号 {ranges(received)}），丢失 {COUNT - len(received)} 个')


for name in ['rmem_default', 'rmem_max']:
    say(f'net.core.{name} = {proc_setting(name)}')

for want in [8192, BIG, 16 * BIG]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, want)
    got = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    say(f'SO_RCVBUF：要 {want} 字节，得到 {got} 字节')

burst(None)
burst(BIG)
