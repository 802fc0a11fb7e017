# 按行回显的客户端（Rust 版是 part2/examples/line_echo_client.rs）：把标准输入原样发给服务器，
# 服务器发回的每一行单独打印一行。发送和接收分在两个线程里：输入多少就发多少，不必等上一行的回显。
# 运行：python3 part2/examples/python/line_echo_client.py [地址]，默认连接 127.0.0.1:3214
import os
import socket
import sys
import threading
import time
import unicodedata

HOST, PORT = '127.0.0.1', 3214
TIMEOUT = 5  # 连接、发送、等待回显，每一步最多等这么久
MAX_LINE = 16 * 1024 * 1024  # 服务器发回的一行最长多少字节
CLOSED_EARLY = '服务器断开了连接（一行太长？闲置太久？原因在服务器的标准错误上）'
args = sys.argv[1:]
if args and args[0] in ('-h', '--help'):
    print('用法：line_echo_client.py [地址]\n'
          '按行回显的客户端：把标准输入发给服务器，服务器发回的每一行打印成一行。地址默认 127.0.0.1:3214。')
    sys.exit()
if args and args[0].startswith('-'):
    sys.exit(f'错误：不认识的选项 {args[0]}：用 --help 查看用法')
if len(args) > 1:
    sys.exit('错误：参数太多：只需要一个地址，例如 127.0.0.1:3214')
if args:
    HOST, _, port = args[0].rpartition(':')
    if ':' in HOST and not (HOST.startswith('[') and HOST.endswith(']')):
        sys.exit(f'错误：无法解析地址 `{args[0]}`：IPv6 地址要放在方括号里，例如 [::1]:3214')
    if not HOST or not port.isdecimal() or int(port) > 65535:
        sys.exit(f'错误：无法解析地址 `{args[0]}`：应写成 主机:端口，例如 127.0.0.1:3214、[::1]:3214 或 localhost:3214')
    HOST, PORT = HOST.strip('[]'), int(port)  # IPv6 地址写在方括号里：[::1]:3214


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os._exit(0)  # 不用 sys.exit：发送线程可能正卡在读标准输入上


def fail(why):
    # 打印一行错误，以状态码 1 退出（os._exit 不等发送线程：它可能正卡在读标准输入上）
    print(f'错误：{why}', file=sys.stderr, flush=True)
    os._exit(1)


def printable(data):
    # 和 Rust 版的 printable 一样：坏字节显示为 �；控制字符和看不见的格式字符（比如让一行字
    # 倒过来显示的 U+202E）显示成转义序列（\n、\u{1b}、\u{202e}）；引号和反斜杠照原样显示
    escapes = {'\0': '\\0', '\t': '\\t', '\r': '\\r', '\n': '\\n'}
    text = data.decode('utf-8', errors='replace')
    return ''.join(escapes.get(c, f'\\u{{{ord(c):x}}}')
                   if unicodedata.category(c) in ('Cc', 'Cf') or not c.isprintable() else c
                   for c in text)


sent = 0          # 发出了多少字节（发送线程累加）
finished = None  # 输入结束、半关闭的时刻（time.monotonic()）


def send_stdin(s):
    # 发送线程：把标准输入读到的字节原样发出去；输入结束时，最后一行没有 \n 就补上一个，然后半关闭
    # 发送失败（服务器断开了连接）时什么也不说：主线程会读到连接的结尾，由它报告
    global sent, finished
    last = b'\n'
    try:
        while data := sys.stdin.buffer.read1(8192):
            s.sendall(data)
            sent += len(data)
            last = data[-1:]
        if last != b'\n':
            s.sendall(b'\n')
            sent += 1
        finished = time.monotonic()
        s.shutdown(socket.SHUT_WR)  # 告诉服务器“我说完了”
    except OSError:
        pass


try:
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
except OSError as e:
    fail(f'无法连接 {HOST}:{PORT}（服务器启动了吗？地址和端口对吗？）：{e}')
threading.Thread(target=send_stdin, args=(s,), daemon=True).start()

# 主线程：一行一行地读回显，打印出来
buf = bytearray()
received = 0
while True:
    try:
        data = s.recv(65536)
    except socket.timeout:
        if received + len(buf) < sent:
            fail(f'接收回显失败：等了 {TIMEOUT} 秒，服务器没有响应')
        # 没有在等回显。输入还没结束：只是输入的人停下来了，接着等；
        # 输入已经结束（我们半关闭了）：服务器最多再等 TIMEOUT 秒来关闭连接
        if finished is not None:
            waited = time.monotonic() - finished
            if waited >= TIMEOUT:
                fail(f'服务器在 {TIMEOUT} 秒内没有关闭连接')
            s.settimeout(TIMEOUT - waited)
        continue
    except (ConnectionResetError, BrokenPipeError):
        fail(CLOSED_EARLY)
    if not data:
        break  # 服务器关闭了连接
    buf += data
    while (end := buf.find(b'\n')) >= 0:
        line = bytes(buf[:end])
        del buf[:end + 1]
        received += end + 1
        say(printable(line))
    if len(buf) > MAX_LINE:
        fail(f'服务器发回的一行超过了 {MAX_LINE} 字节')

# 服务器关闭了连接。正常的结束是：我们先说完（半关闭），它回显完所有的行，再关闭
if finished is None or buf or received < sent:
    fail(CLOSED_EARLY)
s.close()
