# 关闭连接的三种结果：对方读到 b''（FIN），还是 ConnectionResetError（RST）。
# 同一个程序里既有服务器端也有客户端。每种情况用一个新连接：客户端发送 b'hello'，
# 服务器端用不同的方式关闭，然后看客户端的 recv 得到什么。
# 运行：python3 part2/examples/python/rst_demo.py [地址]，默认 127.0.0.1:0（让系统挑一个空闲端口）
import os
import socket
import struct
import sys

HOST = '127.0.0.1'
PORT = 0
if len(sys.argv) > 2:
    sys.exit('错误：参数太多：只需要一个地址，例如 127.0.0.1:3214')
if len(sys.argv) == 2:
    if sys.argv[1] in ('-h', '--help'):
        print('用法：rst_demo.py [地址]\n'
              '演示关闭连接的三种结果：读完数据再关闭、数据没读完就关闭、SO_LINGER 设为 0 再关闭。\n'
              '地址默认 127.0.0.1:0（让系统挑一个空闲端口）。')
        sys.exit()
    HOST, _, port = sys.argv[1].rpartition(':')
    if not HOST or not port.isdigit():
        sys.exit(f'错误：无法解析地址 `{sys.argv[1]}`：应写成 IP:端口，例如 127.0.0.1:3214')
    HOST, PORT = HOST.strip('[]'), int(port)


def say(text):
    # 像 print 一样打印一行。标准输出被关闭时（例如接在 `| head -1` 后面），没有人在读了：安静地结束
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python 文档推荐的做法
        sys.exit(0)


def connect_and_send():
    # 客户端连接，服务器端接受连接，客户端发送 b'hello'
    client = socket.create_connection(listener.getsockname()[:2], timeout=5)
    conn, _ = listener.accept()
    client.sendall(b'hello')
    say("  客户端发送 b'hello'")
    return client, conn


def what_the_client_reads(client):
    # 服务器端关闭之后，客户端再读一次；然后客户端也关闭
    try:
        data = client.recv(16)
        if data:
            sys.exit(f'错误：客户端意外地读到了 {data!r}')
        say("  客户端的 recv 返回 b''：对方正常关闭了连接（FIN）")
    except ConnectionResetError as e:
        say(f'  客户端的 recv 抛出 ConnectionResetError：{e}')
    client.close()


try:
    listener = socket.create_server((HOST, PORT), family=socket.AF_INET6 if ':' in HOST else socket.AF_INET)
except OSError as e:
    sys.exit(f'错误：无法绑定 {sys.argv[1] if len(sys.argv) > 1 else HOST}: {e}')
host, port = listener.getsockname()[:2]
say(f'服务器端监听 [{host}]:{port}' if ':' in host else f'服务器端监听 {host}:{port}')

say('一、服务器端读完数据再关闭')
client, conn = connect_and_send()
conn.recv(5, socket.MSG_WAITALL)  # 读满 5 个字节，像 Rust 的 read_exact
conn.close()  # 接收缓冲区是空的：内核发出 FIN
what_the_client_reads(client)

say('二、服务器端一个字节也不读就关闭')
client, conn = connect_and_send()
conn.recv(5, socket.MSG_PEEK)  # 只看一眼、不取走：确认数据已经到了接收缓冲区
conn.close()  # 接收缓冲区里还有没读的数据：内核丢掉它们，发出 RST 而不是 FIN
what_the_client_reads(client)

say('三、服务器端读完数据，把 SO_LINGER 设为 0 再关闭')
client, conn = connect_and_send()
conn.recv(5, socket.MSG_WAITALL)  # 读满 5 个字节，像 Rust 的 read_exact
# struct linger { int l_onoff; int l_linger; }：打开，时间为 0
conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
conn.close()  # SO_LINGER 打开、时间为 0：关闭时不走正常的挥手，直接发出 RST
what_the_client_reads(client)
