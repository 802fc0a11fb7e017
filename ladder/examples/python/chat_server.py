# 聊天室服务器，asyncio 版（Rust 版是 ladder/examples/chat_server.rs 和 chat_tokio.rs）：
# 每个客户端发来的每一行，都转发给其他所有客户端，前面加上发送者的地址；有人加入、离开时告诉其他人。
# 每个客户端一个读的任务（handle）和一个写的任务（send_lines），一个有界的 asyncio.Queue 当发件箱。
# 每个连接打开、关闭时各打印一行；按 Ctrl-C 或发 SIGTERM 优雅地关闭，再来一次就立即退出。
# 运行：python3 ladder/examples/python/chat_server.py [地址] [--queue 行数] [--max-line 字节数]
#       [--max-clients 个数] [--grace 秒]
import asyncio
import errno
import ipaddress
import itertools
import os
import resource
import signal
import socket
import sys

USAGE = """用法：chat_server.py [地址] [--queue 行数] [--max-line 字节数] [--max-clients 个数] [--grace 秒]
聊天室服务器（asyncio 版）：每个客户端发来的每一行，都转发给其他所有客户端，前面加上发送者的地址。
每个连接打开、关闭时各打印一行；按 Ctrl-C 或发 SIGTERM 优雅地关闭，再来一次就立即退出。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；IPv6 写成 [::1]:3214
  --queue 行数          客户端不读（写不进去）时，它的发件箱最多排多少行，1 到 65536，默认 64；
                        排满了，服务器就断开这个客户端。写得进去时最多排 16 倍
  --max-line 字节数     一行最长多少字节（含末尾的 \\n），1 到 1048576，默认 1024
  --max-clients 个数    最多同时连着多少个客户端，1 到 100000，默认 1000
  --grace 秒            收到停止信号以后，最多等几秒让连接收尾（0.1 到 3600，默认 5）"""

FINISH_LINES = 64  # 停止时，每个连接最多再读这么多行：不陪一个不停发送的客户端一直读下去
FINAL_LINE_TIMEOUT = 2  # 跟不上的客户端被断开以后，最多再等几秒，把最后一句话写给它
LINGER = 1  # 说完最后一句话、半关闭以后，等客户端关闭连接：它安静了这么久还没关闭，就不再等
HARD_FACTOR = 16  # 发件箱的硬上限是 --queue 的这么多倍，见 deliver
SPARE_FDS = 16  # 留给客户端以外的文件描述符：标准输入、输出、错误，监听套接字，事件循环自己用的几个
STOPPING_LINE = '*** 服务器正在关闭\n'.encode()


def say(*parts):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(*parts, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        os._exit(0)  # 在事件循环里面：直接结束整个进程


def warn(text):
    print(text, file=sys.stderr, flush=True)


def fail(why):
    # 一行错误，状态码 1：和 Rust 版一样，不打印 Traceback
    sys.exit(f'错误：{why}')


def show(addr):
    # ('127.0.0.1', 54321) 显示成 127.0.0.1:54321，IPv6 显示成 [::1]:54321，和 Rust 版一样
    if not addr:
        return '（未知地址）'
    return f'[{addr[0]}]:{addr[1]}' if ':' in addr[0] else f'{addr[0]}:{addr[1]}'


def count(argv, flag, what, top):
    # 选项 flag 后面的数：1 到 top 之间的整数
    value = argv.pop(0) if argv else fail(f'{flag} 后面要写一个{what}')
    if not value.isdecimal() or not 1 <= int(value) <= top:
        fail(f'{flag} 要写 1 到 {top} 之间的整数，而不是 `{value}`')
    return int(value)


def parse_args(argv):
    # 读取命令行，返回 (主机, 端口, 行数, 字节数, 个数, 秒数)
    addr, queue, max_line, max_clients, grace = '127.0.0.1:3214', 64, 1024, 1000, '5'
    given = None
    while argv:
        a = argv.pop(0)
        if a in ('-h', '--help'):
            print(USAGE)
            sys.exit()
        elif a == '--queue':
            queue = count(argv, a, '行数', 65536)
        elif a == '--max-line':
            max_line = count(argv, a, '字节数', 1 << 20)
        elif a == '--max-clients':
            max_clients = count(argv, a, '个数', 100000)
        elif a == '--grace':
            grace = argv.pop(0) if argv else fail('--grace 后面要写一个秒数')
        elif a.startswith('-'):
            fail(f'不认识的选项 {a}：用 --help 查看用法')
        elif given is not None:
            fail('参数太多：只能给一个地址，例如 127.0.0.1:3214')
        else:
            given = addr = a
    try:
        seconds = float(grace)
        if not 0.1 <= seconds <= 3600:  # nan、inf 也不行
            raise ValueError
    except ValueError:
        fail(f'--grace 要写 0.1 到 3600 之间的秒数，而不是 `{grace}`')
    host, _, port = addr.rpartition(':')
    try:
        ip = ipaddress.ip_address(host[1:-1] if host.startswith('[') and host.endswith(']') else host)
        if (ip.version == 6) != host.startswith('[') or not port.isdecimal() or int(port) > 65535:
            raise ValueError
    except ValueError:
        fail(f'无法解析地址 `{addr}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214'
             '（本例只接受 IP 地址，不接受主机名）')
    return str(ip), int(port), queue, max_line, max_clients, seconds


def raise_open_file_limit(max_clients):
    # 把打开文件数的软上限提到硬上限：每个连接占一个文件描述符，Linux 默认的软上限常常只有 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    except (ValueError, OSError) as err:
        warn(f'无法提高打开文件数的上限：{err}')
    if soft == resource.RLIM_INFINITY or soft - SPARE_FDS >= max_clients:
        return max_clients
    room = soft - SPARE_FDS
    if room <= 0:
        fail(f'打开文件数的上限只有 {soft}，一个客户端也服务不了：先用 ulimit -n 调高它')
    warn(f'注意：打开文件数的上限是 {soft}（ulimit -Hn），连着 {max_clients} 个客户端需要 '
         f'{max_clients + SPARE_FDS}；最多只能同时连着 {room} 个')
    return room


def bind(host, port):
    # 绑定并监听；失败时按原因给出建议，打印一行
    try:
        return socket.create_server((host, port), backlog=1024,
                                    family=socket.AF_INET6 if ':' in host else socket.AF_INET)
    except OSError as e:
        hint = {errno.EADDRINUSE: '端口已被占用：换一个端口，或先结束占用它的程序',
                errno.EACCES: '1024 以下的端口需要管理员权限：换一个 1024 以上的端口',
                errno.EADDRNOTAVAIL: '本机没有这个 IP 地址：用 127.0.0.1、[::1] 或本机网卡的地址',
                }.get(e.errno, '检查地址是否写对')
        fail(f'无法绑定 {show((host, port))}（{hint}）：{e.strerror}')


HOST, PORT, QUEUE, MAX_LINE, MAX_CLIENTS, GRACE = parse_args(sys.argv[1:])
MAX_CLIENTS = raise_open_file_limit(MAX_CLIENTS)


# ANCHOR: room
class Member:
    # 一个连接
    def __init__(self, addr, reader, writer):
        self.addr = addr
        self.reader = reader
        self.writer = writer
        # 发件箱。多留一个位置给结束标记 None：发件箱满了也放得下它
        self.outbox = asyncio.Queue(QUEUE * HARD_FACTOR + 1)
        self.outbox_closed = False
        self.joined = False  # 别人看到过它“加入了聊天室”：它离开时，也要告诉别人
        self.reading = False  # 它的读还在进行
        self.waiting = False  # 它的读正等在 readuntil 上（wake 只在这时叫醒它）
        self.woken = False  # 已经叫醒过它的读了（只叫醒一次）
        self.wake_pending = False  # 叫醒它的 CancelledError 还没到
        self.task = asyncio.current_task()  # 读它的任务（handle）
        self.bye = None  # 最后对它说的一行：断开它的原因，或者“服务器正在关闭”
        self.slow = False  # 它因为跟不上被断开了
        self.send_error = None
        self.sender = None  # 写的任务
        self.draining = False  # 写的任务正等在 drain 上（客户端不读，缓冲区满了）


room = set()  # 聊天室里的人：转发给他们
conns = set()  # 每个打开的连接，从接受它，到打印“连接关闭”
tasks = set()  # 每个连接的任务：关闭时，等它们全部结束
stopping = None  # 收到的第一个停止信号的名字；None：还在正常服务
forced = False  # 宽限期到了，剩下的连接被强行关闭
stopped = asyncio.Event()
turn = asyncio.Lock()  # 往发件箱里放行的任务排队：一次一个，见 announce


def deliver(line, sender):
    # 把一行放进除了 sender 以外每个人的发件箱。谁跟不上了，就断开谁。跟不上：写任务写不进去
    # （卡在 drain 上：客户端不读），发件箱里又排了 QUEUE 行；或者发件箱排到了硬上限。
    # 这里从不等待：一个读得慢的客户端，只会让它自己被断开，不会拖慢别人
    for m in list(room):
        if m is sender:
            continue
        behind = m.outbox.qsize()
        if behind >= QUEUE * HARD_FACTOR or (behind >= QUEUE and m.draining):
            kick(m)
        else:
            m.outbox.put_nowait(line)


def kick(m):
    room.discard(m)  # 不再给它发东西
    m.bye = m.bye or f'*** 你跟不上聊天室的速度（落后超过 {QUEUE} 行），服务器断开了你的连接\n'.encode()
    m.slow = True
    if m.draining:
        m.sender.cancel()  # 写的任务正卡在 drain 上：取消它，它只再说最后一句话
    # 不在 drain 上的写任务（包括还没开始运行的）自己会看到 slow。还没开始运行的任务不能取消：
    # 它一行代码都不会执行，最后一句话、半关闭全都没了，handle 里的 await m.sender 也会抛出异常
    wake(m)  # 叫醒读：它该离开了（别人会看到它“离开了聊天室”）


async def announce(line, sender):
    # 把一行交给 deliver，再让出一次（sleep(0)），被这一行叫醒的写任务先把它交给内核，
    # 下一行才能放进来。往发件箱里放行的任务排队（turn），一次一个。为什么要排队？
    # 几百个任务同时有一行要放（一下子涌来几百个连接，或者几百个人同时说话），不排队的话，
    # 它们在同一轮里一个接一个地运行，几百行一口气塞进每个人的发件箱，写任务还没轮到运行。
    # 成千上万行的话，读得很及时的客户端的发件箱也会排到硬上限，被当成跟不上
    async with turn:
        deliver(line, sender)
        await asyncio.sleep(0)
# ANCHOR_END: room


def wake(m):
    # 读的任务正等在 readuntil 上：取消这一次等待（CancelledError），它回去看 stopping 和 slow。
    # 不等在 readuntil 上的（比如正在 announce 里排队），过一会儿自己会回去看。
    # 不能用 shutdown(SHUT_RD) 叫醒它：那样就再也等不到客户端的 FIN 了（见 linger）
    if m.waiting and not m.woken:
        m.woken = m.wake_pending = True
        m.task.cancel()


def close_outbox(m):
    # 放进结束标记：写的任务写完发件箱里剩下的行，说最后一句话，关闭连接
    if not m.outbox_closed:
        m.outbox_closed = True
        m.outbox.put_nowait(None)


async def join(m):
    # 先欢迎它，再告诉其他人。在 turn 里做完：欢迎词里的人数，和它此后收到的“加入了”对得上
    async with turn:
        if stopping:
            m.bye = STOPPING_LINE  # 服务器正在关闭：不让它加入，读完它已经发来的行，说最后一句话
            return
        m.outbox.put_nowait(f'*** 欢迎来到聊天室！你是 {m.addr}，现在共有 {len(room) + 1} 人在线\n'.encode())
        room.add(m)
        m.joined = True
        deliver(f'*** {m.addr} 加入了聊天室\n'.encode(), m)
        await asyncio.sleep(0)


async def leave(m):
    # 读结束了。正常服务时：关闭它的发件箱，告诉其他人它离开了。
    # 正在关闭时：等所有的读都结束了（在途的行都已转发），再一起关闭所有的发件箱
    if not stopping:
        room.discard(m)
        close_outbox(m)
        if m.joined:
            await announce(f'*** {m.addr} 离开了聊天室\n'.encode(), m)
    elif not any(c.reading for c in conns):
        close_all_outboxes()


def close_all_outboxes():
    # 服务器正在关闭，所有的读都已结束：关闭每一个发件箱。写的任务写完里面剩下的行，
    # 再写上“服务器正在关闭”，就关闭连接
    for c in conns:
        c.bye = c.bye or STOPPING_LINE
        close_outbox(c)


# ANCHOR: handle
async def handle(reader, writer):
    # 每接受一个连接，asyncio 就为它开一个任务，运行这个函数：它是读的一半
    task = asyncio.current_task()
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    addr = show(writer.get_extra_info('peername'))
    if len(conns) >= MAX_CLIENTS:
        warn(f'拒绝 {addr}：已经有 {MAX_CLIENTS} 个连接（--max-clients）')
        writer.write(f'*** 聊天室已满（{MAX_CLIENTS} 人），请稍后再来\n'.encode())
        writer.close()
        return
    m = Member(addr, reader, writer)
    conns.add(m)
    say('Client Address:', addr)
    m.sender = asyncio.create_task(send_lines(m))
    await join(m)
    why = await read_lines(m)
    await leave(m)
    await m.sender  # 写的任务写完剩下的行和最后一句话，半关闭连接
    await linger(m)
    m.writer.close()
    try:
        await m.writer.wait_closed()
    except OSError:
        pass
    why = why or m.send_error
    if why and not forced:
        # 这个客户端出了任何问题，都只断开它自己：在标准错误上说一行原因
        warn(f'断开 {addr}：{why}')
    say(f'连接关闭：{addr}')
    conns.discard(m)


async def read_lines(m):
    # 一行一行地读客户端发来的消息，转发给其他人，直到对方关闭连接。返回断开的原因（正常离开时 None）
    m.reading = True
    partial = b''
    late = 0  # 服务器开始停止以后，又读到了几行
    try:
        while not m.slow:
            try:
                m.waiting = True
                if stopping:
                    # 服务器正在关闭：只再读已经到达的行，1 毫秒内没有一整行就不读了
                    line = await asyncio.wait_for(m.reader.readuntil(b'\n'), 0.001)
                else:
                    line = await m.reader.readuntil(b'\n')  # 缓冲区最多攒 MAX_LINE 字节，见 main
            except asyncio.CancelledError:
                if not m.wake_pending:
                    raise  # 不是 wake 叫醒的：真的被取消了
                # wake 叫醒了它（readuntil 被取消时，缓冲区里的字节原样留着）：回去看 stopping 和 slow
                m.wake_pending = False
                asyncio.current_task().uncancel()
                continue
            except asyncio.TimeoutError:
                break
            except asyncio.IncompleteReadError as e:
                partial = e.partial  # 连接结束了：最后不完整的一行（可能是空的）
                break
            except asyncio.LimitOverrunError:
                line = None
            finally:
                m.waiting = False
            if line is None or len(line) > MAX_LINE:
                if m.slow or stopping:
                    break
                m.bye = f'*** 一行超过了 {MAX_LINE} 字节的上限，服务器断开了你的连接\n'.encode()
                return f'一行超过了 {MAX_LINE} 字节的上限（--max-line）'
            if m in room:  # 被断开以后才读到的行，不再转发
                await announce(f'{m.addr}: '.encode() + line, m)  # 原样转发，不管是不是 UTF-8
            if stopping:
                late += 1
                if late == FINISH_LINES:
                    break
    except OSError as e:
        return f'接收数据失败：{e}'
    finally:
        m.reading = False
    if m.slow:
        return f'跟不上：落后超过 {QUEUE} 行（--queue）'
    if stopping or not partial:
        return None  # 对方关闭了连接，正好在两行之间；或者服务器正在关闭
    return f'对方在一行的中间关闭了连接（最后 {len(partial)} 字节没有换行符，丢弃）'
# ANCHOR_END: handle


# ANCHOR: send
async def send_lines(m):
    # 写的一半：把发件箱里的行一行一行写给客户端。取到结束标记 None 以后，说最后一句话，关闭连接
    try:
        while not m.slow and (line := await m.outbox.get()) is not None:
            m.writer.write(line)
            m.draining = True
            await m.writer.drain()  # 对方不读，发送缓冲区满了，就停在这里；发件箱跟着排起来
            m.draining = False
    except asyncio.CancelledError:
        pass  # 它跟不上了（kick 取消了这个任务）：发件箱里剩下的行不再发
    except OSError as e:
        m.send_error = f'发送数据失败：{e}'
    try:
        if m.bye:
            m.writer.write(m.bye)
        m.writer.write_eof()  # 半关闭：FIN 排在所有的行后面，客户端读完它们，读到连接的结尾
        # 水位设成 0：drain 一直等到缓冲区里的字节全部交给了内核。跟不上的客户端最多等
        # FINAL_LINE_TIMEOUT 秒；别的客户端由宽限期兜底（到时候 main 强行关闭连接）
        m.writer.transport.set_write_buffer_limits(0)
        await asyncio.wait_for(m.writer.drain(), FINAL_LINE_TIMEOUT if m.slow else None)
    except (asyncio.TimeoutError, OSError):
        m.writer.transport.abort()  # 写不出去：直接关闭，缓冲区里剩下的字节不要了


async def linger(m):
    # 半关闭以后，等客户端关闭连接（读到 b''），这期间它发来的数据只能丢掉。为什么不马上关闭？关闭时
    # 接收缓冲区里有没读的数据，或者关闭以后又来了数据，内核就发 RST（复位），还没发出去的行和 FIN
    # 都被扔掉。客户端安静了 LINGER 秒还没关闭就不再等；被断开的客户端最多等 FINAL_LINE_TIMEOUT 秒，
    # 正在关闭时由宽限期兜底
    loop = asyncio.get_running_loop()
    deadline = None if stopping else loop.time() + FINAL_LINE_TIMEOUT
    try:
        while True:
            quiet = LINGER if deadline is None else min(LINGER, deadline - loop.time())
            if quiet <= 0 or not await asyncio.wait_for(m.reader.read(65536), quiet):
                return
    except (asyncio.TimeoutError, OSError):
        pass
# ANCHOR_END: send


# ANCHOR: signals
signals_seen = itertools.count()  # 收到过几个停止信号


def on_signal(signum, frame):
    # 信号处理函数（signal.signal 装的）：Python 在主线程上、两条字节码之间运行它，哪怕主线程
    # 正卡在写满了的标准输出上（write 被信号打断，先运行处理函数，再接着写）。
    # 第二个信号：立即退出，退出码和被这个信号杀死的进程一样（130、143），什么也不打印
    # （标准输出、标准错误可能正堵着）。next 是一次不可分割的操作，像 Rust 版的 fetch_add。
    # 第一个：交给事件循环去做，处理函数本身不碰聊天室
    if next(signals_seen) > 0:
        os._exit(128 + signum)
    loop.call_soon_threadsafe(begin_stop, signal.Signals(signum).name)


def begin_stop(name):
    # 第一个 SIGINT（Ctrl-C）或 SIGTERM，在事件循环里：打印一行，不再接受新连接，叫醒所有的读
    global stopping
    stopping = name
    say(f'收到 {name}：不再接受新连接，正在关闭 {len(conns)} 个连接')
    # 积压队列里已经完成握手、还没被接受的连接：也接受下来，让它们收到“服务器正在关闭”，
    # 干净地关闭。直接关闭监听套接字的话，它们会被复位（RST）
    while True:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            break
        except OSError as e:
            warn(f'接受连接失败：{e}')
            break
        task = asyncio.create_task(handle_accepted(sock))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    server.close()  # 关闭监听套接字：从此新的连接请求被内核拒绝
    for m in conns:
        wake(m)
    if not any(m.reading for m in conns):
        close_all_outboxes()
    stopped.set()


async def handle_accepted(sock):
    reader, writer = await asyncio.open_connection(sock=sock, limit=max(MAX_LINE - 1, 1))
    await handle(reader, writer)
# ANCHOR_END: signals


def on_loop_error(loop, context):
    # asyncio 自己遇到的错误只说一行，不打印一大段 traceback
    warn(f'asyncio：{context.get("message")}：{context.get("exception")}')


async def main():
    global server, listener, forced, loop
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(on_loop_error)
    listener = bind(HOST, PORT)
    # limit：readuntil 最多攒这么多字节还找不到 \n，就报告 LimitOverrunError。没有换行符的超长行，
    # 也撑不大内存（一行含 \n 最多 MAX_LINE 字节，所以 \n 之前最多 MAX_LINE - 1 字节）
    server = await asyncio.start_server(handle, sock=listener, limit=max(MAX_LINE - 1, 1))
    # 先装好信号处理，再打印地址：打印之后马上来的 Ctrl-C，也走优雅关闭的路。不用
    # loop.add_signal_handler：它让事件循环去运行处理函数，事件循环卡住时（比如卡在写满了的
    # 标准输出上）第二个信号也就没人管了；asyncio.run 结束时它还会把处理函数换回默认的
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    say(show(listener.getsockname()))
    await stopped.wait()
    # 等所有连接都关闭，最多等到宽限期结束；到时候还没关的，强行关闭
    deadline = loop.time() + GRACE
    while tasks and loop.time() < deadline:
        await asyncio.wait(set(tasks), timeout=deadline - loop.time())
    if tasks:
        warn(f'宽限期到了：强行关闭 {len(conns)} 个连接')
        forced = True
        for m in conns:
            m.writer.transport.abort()
        await asyncio.wait(set(tasks), timeout=1)


asyncio.run(main())
