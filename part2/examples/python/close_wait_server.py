# 一个忘了关闭连接的回显服务器：客户端关闭之后，连接停在 CLOSE-WAIT 状态，直到服务器退出。
# 一个接一个地服务客户端，永不停止（Ctrl-C 结束它）。加上 --fixed，它就会关闭连接。
# 运行：python3 part2/examples/python/close_wait_server.py [--fixed] [地址]，地址默认 127.0.0.1:3214
import os
import signal
import socket
import sys

MAX_FORGOTTEN = 100  # 最多留着多少个没关闭的连接：每个连接占一个文件描述符

signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C 直接结束进程，不打印 KeyboardInterrupt

args = sys.argv[1:]
if '-h' in args or '--help' in args:
    print('用法：close_wait_server.py [--fixed] [地址]\n'
          '一个忘了关闭连接的 TCP 回显服务器：客户端关闭之后，连接停在 CLOSE-WAIT（最多留 100 个）。\n'
          '  --fixed  修好的版本：客户端关闭之后，服务器也关闭连接\n'
          '地址默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口。')
    sys.exit()
FIXED = '--fixed' in args
args = [a for a in args if a != '--fixed']
for a in args:
    if a.startswith('-'):
        sys.exit(f'错误：不认识的选项 {a}：用 --help 查看用法')
if len(args) > 1:
    sys.exit('错误：参数太多：只需要一个地址，例如 127.0.0.1:3214')
HOST, PORT = '127.0.0.1', 3214
if args:
    HOST, _, port = args[0].rpartition(':')
    if not HOST or not port.isdigit():
        sys.exit(f'错误：无法解析地址 `{args[0]}`：应写成 IP:端口，例如 127.0.0.1:3214')
    HOST, PORT = HOST.strip('[]'), int(port)


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


def show(addr):
    # ('127.0.0.1', 54321) 显示成 127.0.0.1:54321，IPv6 显示成 [::1]:54321，和 Rust 版一样
    return f'[{addr[0]}]:{addr[1]}' if ':' in addr[0] else f'{addr[0]}:{addr[1]}'


try:
    s = socket.create_server((HOST, PORT), family=socket.AF_INET6 if ':' in HOST else socket.AF_INET)
except OSError as e:
    sys.exit(f'错误：无法绑定 {HOST}:{PORT}: {e}')

say(show(s.getsockname()))

forgotten = []  # 客户端已经关闭、我们却没有关闭的连接
while True:
    clnt, addr = s.accept()
    addr = show(addr)
    say(f'Client Address: {addr}')
    try:
        while True:  # 回显，直到读到 b''：客户端关闭了它那一端（发来了 FIN）
            data = clnt.recv(1024)
            if not data:
                break
            clnt.sendall(data)
    except OSError as e:
        print(f'错误：与 {addr} 通信失败：{e}', file=sys.stderr, flush=True)
    if FIXED:
        # 对的做法：对方关闭了，我们也关闭。内核发出我们的 FIN
        clnt.close()
        say(f'客户端 {addr} 已关闭；服务器也关闭了这个连接')
    else:
        # 错误的做法：连接被留在列表里，没有人关闭它。我们的 FIN 永远不会发出：它停在 CLOSE-WAIT
        forgotten.append(clnt)
        if len(forgotten) > MAX_FORGOTTEN:
            forgotten.pop(0).close()  # 关闭最早的一个
        say(f'客户端 {addr} 已关闭；服务器没有关闭这个连接（没关闭的连接：{len(forgotten)} 个）')
