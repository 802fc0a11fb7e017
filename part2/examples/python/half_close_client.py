# 半关闭的客户端：一个线程把标准输入发给服务器，主线程把服务器发回的字节写到标准输出。
# 输入结束时 shutdown(SHUT_WR)：发出 FIN，但读的方向还开着，回显照样能收到。
# 运行：cat 某个文件 | python3 part2/examples/python/half_close_client.py [地址] > 副本
# 地址默认 127.0.0.1:3214；也可以写 localhost:3214，IPv6 写成 [::1]:3214
import os
import socket
import sys
import threading

HOST = '127.0.0.1'
PORT = 3214
if len(sys.argv) > 2:
    sys.exit('错误：参数太多：只需要一个地址，例如 127.0.0.1:3214')
if len(sys.argv) == 2:
    if sys.argv[1] in ('-h', '--help'):
        print('用法：half_close_client.py [地址]\n'
              '半关闭的 TCP 客户端：把标准输入原样发给服务器，同时把回显原样写到标准输出；\n'
              '输入结束时半关闭，等服务器关闭连接后退出。地址默认 127.0.0.1:3214。')
        sys.exit()
    HOST, _, port = sys.argv[1].rpartition(':')
    if not HOST or not port.isdigit():
        sys.exit(f'错误：无法解析地址 `{sys.argv[1]}`：应写成 主机:端口，例如 127.0.0.1:3214')
    HOST, PORT = HOST.strip('[]'), int(port)  # IPv6 地址写在方括号里：[::1]:3214

try:
    s = socket.create_connection((HOST, PORT), timeout=5)
except OSError as e:
    sys.exit(f'错误：无法连接 {HOST}:{PORT}（服务器启动了吗？地址和端口对吗？）: {e}')
s.settimeout(None)  # 连上之后不设超时：等多久由服务器决定

sent = []  # 发送线程的结果：None 表示输入全部发出，否则是出错的原因


def send_input():
    # 线程一：标准输入 → 服务器
    try:
        while True:
            chunk = os.read(sys.stdin.fileno(), 65536)  # 有多少读多少，不等凑满
            if not chunk:
                break  # 输入结束（Ctrl-D，或管道的另一头关闭了）
            s.sendall(chunk)
    except OSError as e:
        sent.append(e)
        s.shutdown(socket.SHUT_RDWR)  # 出错：两个方向都关闭，主线程的 recv 随即返回 b''
        return
    sent.append(None)  # 先报告结果，再关闭：主线程读到 EOF 时，结果一定已经在这里了
    # 半关闭：发出 FIN，告诉服务器“我说完了”。读的方向还开着
    s.shutdown(socket.SHUT_WR)


# daemon=True：主线程结束时，不必等这个线程（它可能还在等标准输入）
threading.Thread(target=send_input, daemon=True).start()

# 线程二（主线程）：服务器 → 标准输出，直到读到 EOF（服务器关闭了它那一端）
out = sys.stdout.buffer
try:
    while True:
        data = s.recv(65536)
        if not data:
            break
        out.write(data)
        out.flush()
except ConnectionResetError:
    sys.exit('错误：连接被服务器复位（RST）：服务器可能还没读完我们发的数据就关闭了连接')
except BrokenPipeError:
    # 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
    sys.exit(0)

if not sent:
    sys.exit('错误：服务器在输入发完之前关闭了连接')
if sent[0] is not None:
    sys.exit(f'错误：发送失败：{sent[0]}')
