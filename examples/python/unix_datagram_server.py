# AF_UNIX 数据报回显服务器：笔记里的 UDP 服务器，地址族换成 AF_UNIX，地址换成一个路径。
# 运行：python3 examples/python/unix_datagram_server.py [路径]，默认 /tmp/socket-book-dgram.sock
import os
import socket
import stat
import sys
import tempfile

USAGE = '用法：python3 unix_datagram_server.py [路径]（默认是临时目录下的 socket-book-dgram.sock）'
args = sys.argv[1:]
if args in (['-h'], ['--help']):
  print(USAGE)
  sys.exit(0)
if len(args) > 1 or (args and (args[0] == '' or args[0].startswith('-'))):
  sys.exit('错误：参数不对（只要一个路径，不能是空的，也不能以 - 开头）。' + USAGE)
PATH = args[0] if args else os.path.join(tempfile.gettempdir(), 'socket-book-dgram.sock')


def remove_stale_socket(path):
  """上次留下的套接字文件会让 bind 失败：只删没有任何程序在用的旧套接字文件，别的一律不碰。"""
  try:
    mode = os.lstat(path).st_mode
  except FileNotFoundError:
    return
  if not stat.S_ISSOCK(mode):
    sys.exit('错误：%s 已经存在，而且不是套接字文件：换一个路径' % path)
  # 用一个数据报套接字去 connect：不发送数据，正在运行的服务器什么也收不到
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
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(PATH)
mine = os.lstat(PATH).st_ino  # 记下自己创建的文件，结束时只删它
print(PATH, flush=True)

try:
  while True:
    data, addr = s.recvfrom(1024)
    if data == b'True':
      break
    print('Receive String:', data.decode('utf-8', errors='replace'))
    if not addr:
      # 客户端没有绑定路径：没有回信地址
      print('（没有回信地址，无法回显）', file=sys.stderr)
      continue
    try:
      # MSG_DONTWAIT：只有这一次发送不等待。对方的接收队列满了（它不再读）就丢掉回复。
      # （settimeout 会让 recvfrom 也超时，所以这里不用它。）
      s.sendto(data, socket.MSG_DONTWAIT, addr)
    except BlockingIOError:
      print('（无法回复 %s：它的接收队列满了，丢弃这个回复）' % addr, file=sys.stderr)
    except OSError as err:
      print('（无法回复 %s：%s）' % (addr, err), file=sys.stderr)
finally:
  s.close()
  if os.path.lexists(PATH) and os.lstat(PATH).st_ino == mine:
    os.unlink(PATH)
