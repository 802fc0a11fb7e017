# UDP 保留消息边界：发几个数据报，就收到几个，每个的长短都和发出时一样；
# 比接收缓冲区长的数据报被截断，多出的字节再也读不到。
# 运行：python3 part2/examples/python/udp_boundaries.py（不接受参数），输出和 Rust 版相同。
import os
import socket
import sys

if len(sys.argv) > 1:
    if sys.argv[1:] in (['-h'], ['--help']):
        print('用法：udp_boundaries.py\n'
              '演示 UDP 保留消息边界，以及比接收缓冲区长的数据报被截断。不接受参数。')
        sys.exit()
    sys.exit(f'错误：这个演示不接受参数（收到了 {sys.argv[1]}）')


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(('127.0.0.1', 0))
r.settimeout(5)
to = r.getsockname()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
me = s.getsockname()


def recv_from_sender(size):
    # 收一个发送方发来的数据报；别的程序发来的不算，接着收（所以下面可以放心地打印收到的文字）
    while True:
        data, addr = r.recvfrom(size)
        if addr == me:
            return data


# 三个长短不同的数据报，其中一个是空的。发送方一口气全部发出，接收方这时还一个也没读。
datagrams = [b'hello', b'', '边界还在，不会粘在一起'.encode()]
for datagram in datagrams:
    s.sendto(datagram, to)  # 一次 sendto，一个数据报
say('发送方发出 3 个数据报：' + '、'.join(f'{len(d)} 字节' for d in datagrams))

say('接收方 recv_from 3 次（缓冲区 2048 字节）：')
for i in range(1, 4):
    data = recv_from_sender(2048)  # 每次 recvfrom 正好取出一个数据报
    say(f'  第 {i} 次：{len(data)} 字节 "{data.decode("utf-8", errors="replace")}"')

# 一个 3000 字节的数据报，接收方只给 1024 字节的缓冲区；紧接着再发一个 "next"。
long = b'x' * 3000
s.sendto(long, to)
s.sendto(b'next', to)
say(f'比缓冲区长的数据报：发出 {len(long)} 字节，接收方的缓冲区只有 1024 字节')
data = recv_from_sender(1024)
say(f'  recv_from 得到 {len(data)} 字节：其余 {len(long) - len(data)} 字节被丢弃了')
data = recv_from_sender(1024)
say(f'  下一次 recv_from 得到 {len(data)} 字节 "{data.decode("utf-8", errors="replace")}"：是下一个数据报，不是剩下的字节')

# 怎样知道被截断了？recvmsg 返回的标志里有 MSG_TRUNC（man 7 udp；man 2 recv 的 msg_flags）。
s.sendto(long, to)
while True:
    data, ancdata, flags, addr = r.recvmsg(1024)
    if addr == me:
        break
truncated = flags & socket.MSG_TRUNC
say(f'  recvmsg：得到 {len(data)} 字节，标志里{"" if truncated else "没"}有 MSG_TRUNC（数据报被截断了）')

# Linux 还能告诉你数据报原本有多长：接收时加上 MSG_TRUNC 标志，返回值就是原本的长度（man 2 recv）。
# 用 recvfrom_into：它只往 buf 里写，最多 1024 字节。不要用 r.recv(1024, socket.MSG_TRUNC)：
# 它按返回值 3000 截取自己的缓冲区，得到的 bytes 有 3000 字节长，后面 1976 字节是没有初始化的内存。
if sys.platform.startswith('linux'):
    s.sendto(long, to)
    buf = bytearray(1024)
    while True:
        n, addr = r.recvfrom_into(buf, 1024, socket.MSG_TRUNC)
        if addr == me:
            break
    say(f'  recv 加上 MSG_TRUNC 标志（Linux）：返回 {n}，数据报原本的长度')
