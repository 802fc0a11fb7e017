# AF_UNIX 流式回显客户端：把标准输入的每一行发给服务器，收满同样多的字节作为回显。
# 运行：python3 examples/python/unix_echo_client.py [路径]，默认 /tmp/socket-book-echo.sock
import os
import socket
import sys
import tempfile

USAGE = '用法：python3 unix_echo_client.py [路径]（默认是临时目录下的 socket-book-echo.sock）'
args = sys.argv[1:]
if args in (['-h'], ['--help']):
  print(USAGE)
  sys.exit(0)
if len(args) > 1 or (args and (args[0] == '' or args[0].startswith('-'))):
  sys.exit('错误：参数不对（只要一个路径，不能是空的，也不能以 - 开头）。' + USAGE)
PATH = args[0] if args else os.path.join(tempfile.gettempdir(), 'socket-book-echo.sock')
PIECE = 8192  # 发一块，收回这一块的回显，再发下一块

s = socket.socket(socket.AF_UNIX)
try:
  s.connect(PATH)
except OSError as err:
  sys.exit('错误：无法连接 %s（服务器启动了吗？路径对吗？）：%s' % (PATH, err))
s.settimeout(5)  # 对 recv 和 sendall 都有效

try:
  for line in sys.stdin.buffer:
    data = line.rstrip(b'\r\n')
    reply = bytearray()
    for start in range(0, len(data), PIECE):
      piece = data[start:start + PIECE]
      s.sendall(piece)
      end = len(reply) + len(piece)
      while len(reply) < end:
        chunk = s.recv(end - len(reply))
        if not chunk:
          sys.exit('错误：服务器在回显完成之前关闭了连接')
        reply += chunk
    print(reply.decode('utf-8', errors='replace'), flush=True)
except socket.timeout:
  sys.exit('错误：等了 5 秒，服务器没有回应')
except OSError as err:
  sys.exit('错误：与服务器的连接出错：%s' % err)
finally:
  s.close()
