# 每个客户端一个 asyncio 任务的回显服务器（Rust 版是 ladder/examples/echo_tokio.rs）：
# 客户端发来什么字节，就原样发回什么字节。每个连接打开、关闭时各打印一行；按 Ctrl-C 结束。
# 运行：python3 ladder/examples/python/echo_asyncio.py [地址] [--max-clients 个数]
import argparse
import asyncio
import os
import resource
import sys

parser = argparse.ArgumentParser(
    description='回显服务器，每个客户端一个 asyncio 任务：客户端发来什么字节，就原样发回什么字节。')
parser.add_argument('addr', nargs='?', default='127.0.0.1:3214',
                    help='要绑定的 IP:端口，默认 127.0.0.1:3214；IPv6 写成 [::1]:3214')
parser.add_argument('--max-clients', type=int, default=10000, metavar='个数',
                    help='最多同时服务多少个客户端，默认 10000；满了以后，新来的连接被接受后立刻关闭，'
                         '标准错误上说一行。启动时把打开文件数的软上限提到硬上限；'
                         '硬上限不够时，在标准错误上说一句，并相应地减少这个个数')
args = parser.parse_args()
if args.max_clients <= 0:
    parser.error('--max-clients 要大于 0')
HOST, _, PORT = args.addr.rpartition(':')
if not HOST or not PORT.isdigit():
    parser.error(f'无法解析地址 `{args.addr}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214')
# 留给客户端以外的文件描述符：标准输入、输出、错误，监听套接字，事件循环自己用的几个
SPARE_FDS = 16


def say(*parts):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(*parts, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        os._exit(0)  # 在事件循环里面：直接结束整个进程


def show(addr):
    # ('127.0.0.1', 54321) 显示成 127.0.0.1:54321，IPv6 显示成 [::1]:54321，和 Rust 版一样
    if not addr:
        return '（未知地址）'
    return f'[{addr[0]}]:{addr[1]}' if ':' in addr[0] else f'{addr[0]}:{addr[1]}'


def raise_open_file_limit(max_clients):
    # 把打开文件数的软上限提到硬上限：每个连接占一个文件描述符，Linux 默认的软上限常常只有 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    except (ValueError, OSError) as err:
        print(f'无法提高打开文件数的上限：{err}', file=sys.stderr, flush=True)
    if soft == resource.RLIM_INFINITY or soft - SPARE_FDS >= max_clients:
        return max_clients
    room = soft - SPARE_FDS
    if room <= 0:
        print(f'错误：打开文件数的上限只有 {soft}，一个客户端也服务不了：先用 ulimit -n 调高它',
              file=sys.stderr, flush=True)
        sys.exit(1)
    print(f'注意：打开文件数的上限是 {soft}（ulimit -Hn），服务 {max_clients} 个客户端需要 '
          f'{max_clients + SPARE_FDS}；最多只能同时服务 {room} 个', file=sys.stderr, flush=True)
    return room


max_clients = raise_open_file_limit(args.max_clients)
active = 0  # 正在服务的客户端个数：所有任务都在同一个线程上，不需要锁


# ANCHOR: handle
async def handle(reader, writer):
    # 每接受一个连接，asyncio 就为它开一个任务，运行这个函数
    global active
    addr = show(writer.get_extra_info('peername'))
    if active >= max_clients:
        # 名额用完了：不让它排队干等，接受了就立刻关闭，对方马上知道被拒绝了
        print(f'拒绝 {addr}：已经有 {max_clients} 个连接（--max-clients）',
              file=sys.stderr, flush=True)
        writer.close()
        return
    active += 1
    say('Client Address:', addr)
    try:
        while True:
            data = await reader.read(1024)  # await：没有数据时让出线程
            if not data:
                break  # 读到 0 个字节：对方关闭了连接
            writer.write(data)
            # drain 等发送缓冲区降到水位以下：对方不读回显，这个任务就停在这里，不再读
            await writer.drain()
    except OSError as why:
        # 这个客户端出了任何问题，都只断开它自己：在标准错误上说一行原因
        print(f'断开 {addr}：{why}', file=sys.stderr, flush=True)
    finally:
        writer.close()
        active -= 1
    say(f'连接关闭：{addr}')
# ANCHOR_END: handle


# ANCHOR: main
last_accept_error = -1.0  # 上一次说“接受连接失败”的时刻


def on_loop_error(loop, context):
    # asyncio 自己遇到的错误只说一行，不打印一大段 traceback。最常见的是 accept 时打开的文件太多：
    # start_server 一次接受一批连接，被拒绝的要等到 handle 运行时才关闭。asyncio 歇 1 秒再接受，
    # 可同一批里剩下的 accept 还会一个个失败，所以一秒最多说一次
    global last_accept_error
    exc = context.get('exception')
    if context.get('message') == 'socket.accept() out of system resource':
        if loop.time() - last_accept_error >= 1:
            last_accept_error = loop.time()
            print(f'接受连接失败：{exc}（1 秒后再试）', file=sys.stderr, flush=True)
    else:
        print(f'asyncio：{context.get("message")}：{exc}', file=sys.stderr, flush=True)


async def main():
    asyncio.get_running_loop().set_exception_handler(on_loop_error)
    try:
        # 积压队列 1024 个位置（asyncio 默认只有 100）；tokio 的 TcpListener::bind 只有 128，和标准库一样
        server = await asyncio.start_server(handle, HOST.strip('[]'), int(PORT), backlog=1024)
    except OSError as err:
        print(f'错误：无法绑定 {args.addr}：{err}', file=sys.stderr, flush=True)
        sys.exit(1)
    say(show(server.sockets[0].getsockname()))
    async with server:
        await server.serve_forever()


try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass  # Ctrl-C：安静地结束
# ANCHOR_END: main
