# 按帧回显的客户端（Rust 版是 part2/examples/frame_echo_client.rs）：把标准输入的每一行作为一帧
# （4 字节的长度，大端序，再加内容）发给服务器；服务器发回的每一帧，把内容打印成一行。
# 发送和接收分在两个线程里：输入一行就发一帧，不必等上一帧的回显。
# 运行：python3 part2/examples/python/frame_echo_client.py [地址]，默认连接 127.0.0.1:3214
import os
import socket
import struct
import sys
import threading
import unicodedata

HOST, PORT = '127.0.0.1', 3214
TIMEOUT = 5  # 连接、发送、等待回显，每一步最多等这么久
MAX_FRAME = 16 * 1024 * 1024  # 服务器发回的一帧最长多少字节
CLOSED_EARLY = '服务器断开了连接（一帧太长？闲置太久？原因在服务器的标准错误上）'
if len(sys.argv) > 1:
    if sys.argv[1] in ('-h', '--help'):
        print('用法：frame_echo_client.py [地址]\n'
              '按帧回显的客户端：把标准输入的每一行作为一帧发给服务器，把回显的每一帧打印成一行。'
              '地址默认 127.0.0.1:3214。')
        sys.exit()
    HOST, _, port = sys.argv[1].rpartition(':')
    PORT = int(port)
    HOST = HOST.strip('[]')  # IPv6 地址写在方括号里：[::1]:3214


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
    # 和 Rust 版的 printable 一样：坏字节显示为 �，控制字符显示成转义序列（\n、\u{1b}）
    escapes = {'\0': '\\0', '\t': '\\t', '\r': '\\r', '\n': '\\n'}
    text = data.decode('utf-8', errors='replace')
    return ''.join(escapes.get(c, f'\\u{{{ord(c):x}}}') if unicodedata.category(c) == 'Cc' else c
                   for c in text)


def recv_exactly(sock, n):
    # 收满 n 个字节，除非对方先关闭了连接：那时返回的少于 n 个字节
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 65536))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


sent = 0          # 发出了多少字节（发送线程累加）
finished = False  # 输入结束、已经半关闭了吗


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
        finished = True
        s.shutdown(socket.SHUT_WR)  # 告诉服务器“我说完了”
    except OSError:
        pass


try:
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
except OSError as e:
    fail(f'无法连接 {HOST}:{PORT}（服务器启动了吗？地址和端口对吗？）：{e}')
threading.Thread(target=send_lines, args=(s,), daemon=True).start()

# 主线程：一帧一帧地读回显，打印内容
received = 0
try:
    while True:
        try:
            header = recv_exactly(s, 4)
        except socket.timeout:
            if received >= sent:
                continue  # 没有在等回显：只是输入的人停下来了，接着等
            raise
        if not header:
            break  # 服务器关闭了连接
        if len(header) < 4:
            fail('服务器在帧头的中间关闭了连接')
        (n,) = struct.unpack('>I', header)
        if n > MAX_FRAME:
            fail(f'服务器发来的帧头声明了 {n} 字节，超过了上限 {MAX_FRAME} 字节')
        payload = recv_exactly(s, n)
        if len(payload) < n:
            fail('服务器在一帧的中间关闭了连接')
        received += 4 + n
        say(printable(payload))
except socket.timeout:
    fail(f'接收回显失败：等了 {TIMEOUT} 秒，服务器没有响应')
except (ConnectionResetError, BrokenPipeError):
    fail(CLOSED_EARLY)

# 服务器关闭了连接。正常的结束是：我们先说完（半关闭），它回显完所有的帧，再关闭
if not finished or received < sent:
    fail(CLOSED_EARLY)
s.close()
