# 三种超时，各等 0.5 秒，看看 Python 报告什么异常（Rust 版是 part2/examples/timeouts.rs）：
# 连接超时、读超时、写超时，在 Python 里都用 settimeout（或 create_connection 的 timeout 参数）设置。
# 运行：python3 part2/examples/python/timeouts.py（不接受参数，大约 2 秒后结束）
import os
import socket
import sys
import time

TIMEOUT = 0.5
if len(sys.argv) > 1:
    sys.exit(f'错误：这个演示不接受参数（收到了 {sys.argv[1]}）')


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


def report(start, err):
    waited = time.monotonic() - start
    # 机器忙的时候会晚一点：在 0.5 秒到 1 秒之间，就算“等满了 0.5 秒”
    shown = '0.5' if TIMEOUT * 0.9 <= waited < TIMEOUT * 2 else f'{waited:.3f}'
    say(f'    等了 {shown} 秒，异常：{type(err).__name__}: {err}')


say('一、连接超时：socket.create_connection(addr, timeout=0.5)')
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(0)  # 积压队列只排得下 1 个连接，之后从不 accept
first = socket.create_connection(s.getsockname(), timeout=TIMEOUT)
start = time.monotonic()
try:
    socket.create_connection(s.getsockname(), timeout=TIMEOUT)
    say('意外：连上了')
except OSError as err:
    report(start, err)

say('二、读超时：settimeout(0.5)，然后 recv')
listener = socket.create_server(('127.0.0.1', 0))
c = socket.create_connection(listener.getsockname())
server, _ = listener.accept()
c.settimeout(TIMEOUT)
start = time.monotonic()
try:
    c.recv(1024)
    say('意外：读到了数据')
except OSError as err:
    report(start, err)

say('三、写超时：settimeout(0.5)，然后一直 send，对方从不读')
c = socket.create_connection(listener.getsockname())
server2, _ = listener.accept()
c.settimeout(TIMEOUT)
chunk = b'x' * 65536
while True:
    start = time.monotonic()
    try:
        c.send(chunk)
    except OSError as err:
        report(start, err)
        break
