# AF_UNIX 流式回显服务器：笔记里的 TCP 服务器，地址族换成 AF_UNIX，地址换成一个路径。
# 运行：python3 examples/python/unix_echo_server.py [路径]，默认 /tmp/socket-book-echo.sock
import os
import socket
import sys
import tempfile

PATH = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), 'socket-book-echo.sock')

# 上次留下的套接字文件会让 bind 失败，先删掉（只删套接字文件）
if os.path.exists(PATH) and not os.path.isfile(PATH):
  os.unlink(PATH)

s = socket.socket(socket.AF_UNIX)
s.bind(PATH)
s.listen(5)
print(PATH, flush=True)

try:
  clnt, addr = s.accept()
  # 客户端没有绑定路径时，addr 是空字符串
  print("Client Address:", addr)
  while True:
    data = clnt.recv(1024)
    if not data:
      break
    print("Receive Data:", data.decode('utf-8', errors='replace'))
    clnt.sendall(data)
  clnt.close()
finally:
  s.close()
  os.unlink(PATH)  # 自己创建的文件，自己删掉
