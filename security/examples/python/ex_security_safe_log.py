# 练习“让笔记的服务器安全地打印”的参考答案：课堂笔记里的 TCP 回显服务器，只改了打印的那一行。
# 收到的字节先按 UTF-8 解码（解不了的字节变成 �，不再抛出 UnicodeDecodeError 让服务器崩溃），
# 再把看不见的字符（ESC、BEL、换行、U+202E 这样的格式字符）写成转义序列，终端就不会执行它们。
# 运行：python3 security/examples/python/ex_security_safe_log.py [地址]
import socket
import sys

HOST = ''
PORT = 3214
FAMILY = socket.AF_INET
if len(sys.argv) > 1:
    HOST, _, port = sys.argv[1].rpartition(':')
    PORT = int(port)
    if HOST.startswith('['):
        HOST, FAMILY = HOST.strip('[]'), socket.AF_INET6


# ANCHOR: printable
def printable(data):
    # 汉字、字母这些 isprintable() 的字符照原样；其余的写成 \x1b、\n、\u202e 这样的转义
    text = data.decode('utf-8', 'replace')
    return ''.join(c if c.isprintable() else c.encode('unicode_escape').decode('ascii')
                   for c in text)
# ANCHOR_END: printable


s = socket.socket(FAMILY)
s.bind((HOST, PORT))
s.listen(5)
host, port = s.getsockname()[:2]
print(f'[{host}]:{port}' if FAMILY == socket.AF_INET6 else f'{host}:{port}', flush=True)

clnt, addr = s.accept()
print("Client Address:", addr)

while True:
    data = clnt.recv(1024)
    if not data:
        break
    # ANCHOR: print
    print("Receive Data:", printable(data))  # 笔记原文：data.decode('utf-8')
    # ANCHOR_END: print
    clnt.sendall(data)

clnt.close()
s.close()
