# AF_UNIX 流式回显服务器：笔记里的 TCP 服务器，地址族换成 AF_UNIX，地址换成一个路径。
# 运行：python3 examples/python/unix_echo_server.py [路径]，默认 /tmp/socket-book-echo.sock
import os
import socket
import stat
import sys
import tempfile

USAGE = '用法：python3 unix_echo_server.py [路径]（默认是临时目录下的 socket-book-echo.sock）'
args = sys.argv[1:]
if args in (['-h'], ['--help']):
  print(USAGE)
  sys.exit(0)
if len(args) > 1 or (args and (args[0] == '' or args[0].startswith('-'))):
  sys.exit('错误：参数不对（只要一个路径，不能是空的，也不能以 - 开头）。' + USAGE)
PATH = args[0] if args else os.path.join(tempfile.gettempdir(), 'socket-book-echo.sock')


def remove_stale_socket(path):
  """上次留下的套接字文件会让 bind 失败：只删没有任何程序在用的旧套接字文件，别的一律不碰。"""
  try:
    mode = os.lstat(path).st_mode
  except FileNotFoundError:
    return
  if not stat.S_ISSOCK(mode):
    sys.exit('错误：%s 已经存在，而且不是套接字文件：换一个路径' % path)
  # 用一个数据报套接字去 connect：不发送数据，也不会占用正在运行的服务器的 accept
  probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
  try:
    probe.connect(path)
  except ConnectionRefusedError:
    print('（删除上次留下的套接字文件 %s）' % path, file=sys.stderr)
    os.unlink(path)
    return
  except OSError:
    pass  # 例如一个流式服务器在监听它（Protocol wrong type）
  finally:
    probe.close()
  sys.exit('错误：已经有程序在使用 %s：先结束它，或换一个路径' % path)


remove_stale_socket(PATH)
s = socket.socket(socket.AF_UNIX)
s.bind(PATH)
mine = os.lstat(PATH).st_ino  # 记下自己创建的文件，结束时只删它
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
  if os.path.lexists(PATH) and os.lstat(PATH).st_ino == mine:
    os.unlink(PATH)  # 自己创建的文件，自己删掉
