# 水平触发和边沿触发，用 Python 的 select.epoll 各做一遍（Rust 版是 ladder/examples/edge_triggered.rs，
# mio 只有边沿触发）。selectors 模块用的是水平触发：只要还有数据没读，每次 select 都报告“可读”。
# 运行：python3 ladder/examples/python/edge_triggered.py（不要参数）
import select
import socket
import sys

if len(sys.argv) > 1:
    print('这个演示不需要参数：直接运行 python3 ladder/examples/python/edge_triggered.py',
          file=sys.stderr)
    sys.exit(1)


def wait(ep):
    # 等 epoll 通知，最多 1 秒，说出等到了什么
    events = ep.poll(1)
    if not events:
        print('  poll：等了 1 秒，没有事件')
    elif events[0][1] & select.EPOLLIN:
        print('  poll：可读')
    else:
        print('  poll：有事件，但不是可读')


listener = socket.create_server(('127.0.0.1', 0))
for mode, flags in [('水平触发（默认）', select.EPOLLIN),
                    ('边沿触发（EPOLLET）', select.EPOLLIN | select.EPOLLET)]:
    print(f'== {mode}')
    # 一条回环连接：writer 是对方，reader 是我们，非阻塞，交给 epoll 盯着
    writer = socket.create_connection(listener.getsockname())
    reader, _ = listener.accept()
    reader.setblocking(False)
    ep = select.epoll()
    ep.register(reader, flags)

    writer.sendall(b'a' * 2048)
    print('对方发来 2048 字节')
    wait(ep)
    n = len(reader.recv(1024))
    print(f'只读 {n} 字节就回去等：内核里还剩 {2048 - n} 字节')
    wait(ep)
    total = 0
    try:
        while True:  # 一直读到 BlockingIOError（也就是 EAGAIN、WouldBlock）
            total += len(reader.recv(1024))
    except BlockingIOError:
        pass
    print(f'一直读到 BlockingIOError：读了 {total} 字节，内核里空了')
    wait(ep)
    ep.close()
    reader.close()
    writer.close()
