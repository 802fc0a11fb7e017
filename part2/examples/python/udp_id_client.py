# 带编号的 UDP 客户端：每个请求前面加上 4 字节的请求编号，超时就重发，只认编号相同的回复。
# 运行：python3 part2/examples/python/udp_id_client.py [--timeout 秒数] [--retries 次数] [地址]
# 默认发往 127.0.0.1:3214；回显服务器把编号原样发回，可以直接当作服务器使用。
import argparse
import os
import socket
import struct
import sys
import time

parser = argparse.ArgumentParser(
    description='带编号的 UDP 客户端：每一行前面加上 4 字节的请求编号（大端序）发给服务器，'
                '只打印编号相同的回复；迟到的、重复的回复说一声就忽略。')
parser.add_argument('--timeout', type=float, default=1.0, help='每次发送后等回复的秒数，默认 1')
parser.add_argument('--retries', type=int, default=3, help='没等到回复时最多重发几次，默认 3')
parser.add_argument('address', nargs='?', default='127.0.0.1:3214', help='服务器的 主机:端口')
args = parser.parse_args()
if not 0 < args.timeout <= 3600 or not 0 <= args.retries <= 100:
    parser.error('--timeout 应大于 0、不超过 3600；--retries 应在 0 到 100 之间')

host, _, port = args.address.rpartition(':')
family = socket.AF_INET6 if host.startswith('[') else socket.AF_INET
# getaddrinfo 把主机名换成 IP 地址：recvfrom 返回的发送者地址是 IP，要和它比较
server = socket.getaddrinfo(host.strip('[]'), int(port), family, socket.SOCK_DGRAM)[0][4]


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


def note(text):
    print(text, file=sys.stderr, flush=True)


s = socket.socket(family, socket.SOCK_DGRAM)


def ask(id, request):
    # 发出请求，等编号相同的回复，返回去掉编号的内容；没等到就重发，最多重发 args.retries 次
    for attempt in range(args.retries + 1):
        if attempt > 0:
            note(f'（编号 {id}：{args.timeout:g} 秒内没有回复，第 {attempt} 次重发）')
        s.sendto(request, server)
        deadline = time.monotonic() + args.timeout
        while (left := deadline - time.monotonic()) > 0:
            s.settimeout(left)
            try:
                reply, addr = s.recvfrom(65535)
            except socket.timeout:
                break
            if addr[:2] != server[:2]:
                note(f'（收到来自 {addr[0]}:{addr[1]} 的数据报，不是服务器发的，忽略）')
            elif len(reply) < 4:
                note(f'（收到一个只有 {len(reply)} 字节的回复，放不下编号，忽略）')
            elif (got := struct.unpack('>I', reply[:4])[0]) != id:
                note(f'（收到编号 {got} 的回复，等的是编号 {id}：迟到或重复的回复，忽略）')
            else:
                return reply[4:]
    return None


for id, line in enumerate(sys.stdin.buffer, start=1):
    data = line.rstrip(b'\r\n')
    request = struct.pack('>I', id) + data  # 4 字节的编号（大端序），后面是这一行
    reply = ask(id, request)
    if reply is None:
        note(f'（编号 {id}：发了 {args.retries + 1} 次，都没有收到回复：服务器可能没有运行，或者数据报都丢了）')
    else:
        say(reply.decode('utf-8', errors='replace'))

s.close()
