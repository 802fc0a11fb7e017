# 在异步代码里调用阻塞函数：事件循环上的其他任务全都停下来（Rust 版是 ladder/examples/tokio_blocking_pitfall.rs）。
# 运行：python3 ladder/examples/python/asyncio_blocking_pitfall.py（大约 6 秒）
#
# 做三次实验。每次都开一个事件循环，里面有一个回显服务器（每个连接一个任务），还有一个要干 2 秒
# “慢活”的任务。慢活一开始，另一个线程上的客户端就发一条消息，看回显是在慢活结束之前到，还是之后才到：
#   1. 慢活是 time.sleep：阻塞调用，占住了事件循环唯一的线程；
#   2. 慢活是 await asyncio.sleep：异步的等待，等的时候让出线程；
#   3. 慢活是 await asyncio.to_thread(time.sleep, ...)：在另一个线程上阻塞。
import asyncio
import os
import queue
import socket
import sys
import threading
import time

SLOW = 2  # 慢活要几秒
PATIENCE = 10  # 客户端最多等几秒：比慢活长得多，回显总能等到

if len(sys.argv) > 1:
    if sys.argv[1] in ('-h', '--help'):
        print('用法：asyncio_blocking_pitfall.py\n'
              '演示在异步代码里调用阻塞函数（time.sleep）会让事件循环上的其他任务全都停下来，\n'
              '以及两种改法：await asyncio.sleep 和 await asyncio.to_thread。不需要参数，大约 6 秒。')
        sys.exit(0)
    print(f'错误：这个演示不需要参数（收到了 `{sys.argv[1]}`）：直接运行它', file=sys.stderr)
    sys.exit(1)


def say(*parts):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(*parts, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        os._exit(0)  # 可能在别的线程里：直接结束整个进程


async def echo(reader, writer):
    # 回显服务器，和 echo_asyncio.py 一样：每个连接一个任务
    try:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


# ANCHOR: slow
async def slow_work(kind, started, done):
    # 干 2 秒的慢活，开始时通知客户端，结束时记下“已结束”
    say(f'  慢活：开始，要 {SLOW} 秒')
    started.put(None)  # 告诉客户端：现在发
    if kind == 'blocking':
        time.sleep(SLOW)  # 错误的做法：阻塞了事件循环的线程，这 2 秒里所有任务都不能运行
    elif kind == 'async':
        await asyncio.sleep(SLOW)  # 改法一：异步地等，await 让出线程
    else:
        await asyncio.to_thread(time.sleep, SLOW)  # 改法二：阻塞的代码交给另一个线程去跑
    done.set()
    say('  慢活：结束')
# ANCHOR_END: slow


def client(port, started, done, result):
    # 另一个线程上的客户端：慢活开始后发出一条消息，记下回显是否在慢活结束之前就到了
    with socket.create_connection(('127.0.0.1', port), timeout=PATIENCE) as s:
        started.get(timeout=PATIENCE)
        s.sendall(b'hello')
        say('  客户端：发出 hello')
        reply = b''
        while len(reply) < 5:
            chunk = s.recv(5 - len(reply))
            if not chunk:
                break
            reply += chunk
        result.append(not done.is_set())  # 先看慢活结束了没有，再打印
        if reply != b'hello':
            raise RuntimeError(f'回显不对：{reply!r}')
        say('  客户端：收到回显 hello')


async def experiment(kind):
    server = await asyncio.start_server(echo, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    started, done, result = queue.Queue(), threading.Event(), []
    thread = threading.Thread(target=client, args=(port, started, done, result))
    thread.start()
    await asyncio.create_task(slow_work(kind, started, done))  # 慢活是一个单独的任务
    await asyncio.to_thread(thread.join)  # 等客户端收到回显；等的时候事件循环照常运行
    server.close()
    if not result:
        raise RuntimeError('客户端没有收到回显')
    return result[0]


experiments = [
    ('blocking', '实验 1：在协程里直接调用 time.sleep（阻塞）'),
    ('async', '实验 2：改用 await asyncio.sleep（异步地等）'),
    ('thread', '实验 3：把 time.sleep 放进 await asyncio.to_thread'),
]
for i, (kind, title) in enumerate(experiments):
    if i > 0:
        say()
    say(title)
    if asyncio.run(experiment(kind)):
        say('  结论：回显在慢活结束之前就到了。等待时让出了线程，回显任务照常运行。')
    else:
        say('  结论：回显等到慢活结束以后才到。阻塞调用占住了事件循环唯一的线程，回显任务一直没有机会运行。')
