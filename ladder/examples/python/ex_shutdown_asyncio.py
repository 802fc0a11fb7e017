# 练习答案（优雅地停止服务器，练习 3）：echo_asyncio.py 加上和 echo_tokio 一样的优雅退出。
# Ctrl-C（SIGINT）或 SIGTERM：不再接受新连接，已经收到的数据照样回显，每个连接正常关闭
# （客户端读到 EOF），然后以状态 0 退出；最多等 --grace 秒。再来一个信号，立即退出。
# 和 echo_asyncio.py 相比，改了 handle 的循环，加了 finish，main 不再 serve_forever，而是等信号。
# 运行：python3 ladder/examples/python/ex_shutdown_asyncio.py [地址] [--max-clients 个数] [--grace 秒]
import argparse
import asyncio
import os
import resource
import signal
import sys

parser = argparse.ArgumentParser(
    description='回显服务器，每个客户端一个 asyncio 任务：客户端发来什么字节，就原样发回什么字节。')
parser.add_argument('addr', nargs='?', default='127.0.0.1:3214',
                    help='要绑定的 IP:端口，默认 127.0.0.1:3214；IPv6 写成 [::1]:3214')
parser.add_argument('--max-clients', type=int, default=10000, metavar='个数',
                    help='最多同时服务多少个客户端，默认 10000；满了以后，新来的连接被接受后立刻关闭，'
                         '标准错误上说一行。启动时把打开文件数的软上限提到硬上限；'
                         '硬上限不够时，在标准错误上说一句，并相应地减少这个个数')
parser.add_argument('--grace', type=float, default=5.0, metavar='秒',
                    help='收到停止信号以后，最多等几秒让连接收尾（0.1 到 3600，默认 5）')
args = parser.parse_args()
if not 0.1 <= args.grace <= 3600:
    parser.error('--grace 要写 0.1 到 3600 之间的秒数')
if args.max_clients <= 0:
    parser.error('--max-clients 要大于 0')
HOST, _, PORT = args.addr.rpartition(':')
if not HOST or not PORT.isdigit():
    parser.error(f'无法解析地址 `{args.addr}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214')
# 留给客户端以外的文件描述符：标准输入、输出、错误，监听套接字，事件循环自己用的几个
SPARE_FDS = 16
# 停止时发出 FIN 以后，等对方关闭连接：对方安静了这么久还没关闭，就不再等（和 Rust 版一样）
LINGER = 1.0


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
stopping = None  # 停止的“开关”：一个 asyncio.Event，在 main 里创建
clients = set()  # 正在服务客户端的任务：停止时等它们都结束


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
    clients.add(asyncio.current_task())
    say('Client Address:', addr)
    try:
        while True:
            # 两件事一起等：数据，或者停止的开关（Rust 版的 tokio::select!）
            read = asyncio.ensure_future(reader.read(1024))
            stop = asyncio.ensure_future(stopping.wait())
            done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if read not in done:
                # 只等到了停止：丢下这次 read（它还没读走任何数据），收尾
                read.cancel()
                await finish(reader, writer)
                break
            # 读到了数据：就算同时也在停止，已经到达的数据也照样回显
            data = read.result()
            if not data:
                break  # 读到 0 个字节：对方关闭了连接
            writer.write(data)
            # drain 等发送缓冲区降到水位以下：对方不读回显，这个任务就停在这里，不再读
            await writer.drain()
    except OSError as why:
        # 这个客户端出了任何问题，都只断开它自己：在标准错误上说一行原因
        print(f'断开 {addr}：{why}', file=sys.stderr, flush=True)
    except asyncio.CancelledError:
        pass  # 宽限期到了，main 取消了这个任务：下面关闭连接，任务正常结束
    finally:
        writer.close()
        active -= 1
        clients.discard(asyncio.current_task())
    say(f'连接关闭：{addr}')


async def finish(reader, writer):
    # 停止时收尾：发出 FIN（writer.write_eof() 就是 shutdown(Write)），客户端读完回显，读到 EOF；
    # 然后等对方也关闭，这期间收到的数据只能丢掉。不马上关闭：关闭时接收缓冲区里有没读的数据，
    # 内核就发 RST，还没发出去的回显和 FIN 都被扔掉。对方安静了 LINGER 秒还没关闭，就不再等
    writer.write_eof()
    await writer.drain()
    try:
        while await asyncio.wait_for(reader.read(1024), LINGER):
            pass
    except asyncio.TimeoutError:
        pass
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
    global stopping
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(on_loop_error)
    stopping = asyncio.Event()
    # 信号变成事件循环里的回调：第一个信号让 stopped 完成，第二个立即结束进程
    stopped = loop.create_future()

    def on_signal(signum):
        if stopped.done():
            os._exit(128 + signum)  # 第二个信号：不再等，立即退出
        stopped.set_result(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        # backlog 和 tokio 的 TcpListener::bind 一样是 1024（asyncio 默认只有 100）
        server = await asyncio.start_server(handle, HOST.strip('[]'), int(PORT), backlog=1024)
    except OSError as err:
        print(f'错误：无法绑定 {args.addr}：{err}', file=sys.stderr, flush=True)
        sys.exit(1)
    say(show(server.sockets[0].getsockname()))
    # start_server 返回时已经在接受连接了：这里只等停止信号
    name = await stopped
    server.close()  # 关门：关闭监听套接字，这以后来的连接请求，内核直接拒绝
    say(f'收到 {name}：不再接受新连接，正在关闭 {active} 个连接')
    stopping.set()  # 每个 handle 里的 stopping.wait() 都会完成
    if clients:
        _, pending = await asyncio.wait(set(clients), timeout=args.grace)
        if pending:
            print(f'宽限期到了：强行关闭 {len(pending)} 个连接', file=sys.stderr, flush=True)
            for task in pending:
                task.cancel()  # 任务停在哪个 await 上，就在那里收到 CancelledError
            await asyncio.gather(*pending)
    # main 返回，进程以状态 0 退出


asyncio.run(main())
# ANCHOR_END: main
