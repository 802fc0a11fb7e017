# 同时连着很多个客户端（默认 1000 个）：每个连接发一条消息、收回自己的回显，然后都连着、
# 什么也不发，直到你按回车（或 Ctrl-D）。用来看一个服务器能不能同时服务这么多连接，用了几个线程。
# 运行：python3 ladder/examples/python/hold_clients.py [个数] [--addr 地址]
import argparse
import resource
import socket
import sys

parser = argparse.ArgumentParser(
    description='同时连着很多个客户端：每个连接发一条消息、收回回显，然后都连着，直到按回车。')
parser.add_argument('count', nargs='?', type=int, default=1000,
                    help='连接的个数，默认 1000')
parser.add_argument('--addr', default='127.0.0.1:3214',
                    help='服务器的 IP:端口，默认 127.0.0.1:3214')
args = parser.parse_args()
if args.count <= 0:
    parser.error('个数要大于 0')
HOST, _, PORT = args.addr.rpartition(':')
ADDR = (HOST.strip('[]'), int(PORT))
BATCH = 100  # 每批连接的个数：比服务器的积压队列（128）小，连接请求就不会被内核丢掉

# 每个连接占一个文件描述符：先把打开文件数的软限制提高到硬限制
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < args.count + 16:
    print(f'错误：打开文件数的上限是 {hard}（ulimit -Hn），不够 {args.count} 个连接', file=sys.stderr)
    sys.exit(1)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def echo_of(sock, message):
    # 收回 len(message) 个字节；服务器关闭了连接（或者复位了它）就返回 None
    got = b''
    try:
        while len(got) < len(message):
            data = sock.recv(len(message) - len(got))
            if not data:
                return None
            got += data
    except ConnectionResetError:
        return None
    return got


conns = []
echoed = refused = 0
try:
    for start in range(0, args.count, BATCH):
        # 一批连接先都连上、都发出消息，再一个个收回回显：它们同时在等服务器
        batch = [socket.create_connection(ADDR, timeout=10)
                 for _ in range(min(BATCH, args.count - start))]
        messages = [f'第 {start + i} 个连接\n'.encode() for i in range(len(batch))]
        for sock, message in zip(batch, messages):
            sock.sendall(message)
        for sock, message in zip(batch, messages):
            if echo_of(sock, message) == message:
                echoed += 1
            else:
                refused += 1
        conns += batch
except OSError as e:
    print(f'错误：连接 {args.addr} 失败：{e}', file=sys.stderr)
    sys.exit(1)

summary = f'{args.count} 个连接都连着：{echoed} 个收到了自己的回显'
if refused:
    summary += f'，{refused} 个被服务器关闭了'
print(summary)
print('它们现在什么也不发。按回车（或 Ctrl-D）关闭它们……', flush=True)
try:
    sys.stdin.readline()
except KeyboardInterrupt:
    pass
for sock in conns:
    sock.close()
print('都关闭了')
