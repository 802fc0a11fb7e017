# 按帧回显的客户端（Rust 版是 part2/examples/frame_echo_client.rs）：把标准输入的每一行作为一帧
# （4 字节的长度，大端序，再加内容）发给服务器；服务器发回的每一帧，把内容打印成一行。
# 发送和接收分在两个线程里：输入一行就发一帧，不必等上一帧的回显。
# 运行：python3 part2/examples/python/frame_echo_client.py [地址]，默认连接 127.0.0.1:3214
import os
import socket
import struct
import sys
import threading
import time
import unicodedata

HOST, PORT = '127.0.0.1', 3214
TIMEOUT = 5  # 连接、发送、等待回显，每一步最多等这么久
MAX_FRAME = 16 * 1024 * 1024  # 服务器发回的一帧最长多少字节
CLOSED_EARLY = '服务器断开了连接（一帧太长？闲置太久？原因在服务器的标准错误上）'
args = sys.argv[1:]
if args and args[0] in ('-h', '--help'):
    print('用法：frame_echo_client.py [地址]\n'
          '按帧回显的客户端：把标准输入的每一行作为一帧发给服务器，把回显的每一帧打印成一行。'
          '地址默认 127.0.0.1:3214。')
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


def send_lines(s):
    # 发送线程：把标准输入的每一行（去掉行尾的 \n 和 \r）作为一帧发出去；输入结束时半关闭
    # 发送失败（服务器断开了连接）时什么也不说：主线程会读到连接的结尾，由它报告
    global sent, finished
    try:
        for line in sys.stdin.buffer:
            payload = line.removesuffix(b'\n').removesuffix(b'\r')
            frame = struct.pack('>I', len(payload)) + payload
            s.sendall(frame)
            sent += len(frame)
        finished = time.monotonic()
        s.shutdown(socket.SHUT_WR)  # 告诉服务器“我说完了”
    except OSError:
        pass


try:
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
except OSError as e:
    fail(f'无法连接 {HOST}:{PORT}（服务器启动了吗？地址和端口对吗？）：{e}')
threading.Thread(target=send_lines, args=(s,), daemon=True).start()

# 主线程：一帧一帧地读回显，打印内容。收到的字节先攒在 buf 里，攒够一整帧再切出来：
# 读超时落在帧头或内容的中间时，已经收到的那几个字节也还留着
buf = bytearray()
received = 0
while True:
    while len(buf) >= 4:
        (n,) = struct.unpack('>I', buf[:4])
        if n > MAX_FRAME:
            fail(f'服务器发来的帧头声明了 {n} 字节，超过了上限 {MAX_FRAME} 字节')
        if len(buf) < 4 + n:
            break  # 这一帧还没收全
        payload = bytes(buf[4:4 + n])
        del buf[:4 + n]
        received += 4 + n
        say(printable(payload))
    try:
        data = s.recv(65536)
    except socket.timeout:
        if received < sent:
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

if buf:
    fail('服务器在一帧的中间关闭了连接')
# 服务器关闭了连接。正常的结束是：我们先说完（半关闭），它回显完所有的帧，再关闭
if finished is None or received < sent:
    fail(CLOSED_EARLY)
s.close()
