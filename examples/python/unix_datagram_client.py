# AF_UNIX 数据报回显客户端。客户端必须绑定自己的路径，服务器才能回复。
# 运行：python3 examples/python/unix_datagram_client.py [路径]，默认 /tmp/socket-book-dgram.sock
import os
import socket
import stat
import sys
import tempfile

USAGE = '用法：python3 unix_datagram_client.py [路径]（默认是临时目录下的 socket-book-dgram.sock）'
args = sys.argv[1:]
if args in (['-h'], ['--help']):
  print(USAGE)
  sys.exit(0)
if len(args) > 1 or (args and (args[0] == '' or args[0].startswith('-'))):
  sys.exit('错误：参数不对（只要一个路径，不能是空的，也不能以 - 开头）。' + USAGE)
PATH = args[0] if args else os.path.join(tempfile.gettempdir(), 'socket-book-dgram.sock')
ME = os.path.join(tempfile.gettempdir(), 'socket-book-client-%d.sock' % os.getpid())


def remove_stale_socket(path):
  """只删没有任何程序在用的旧套接字文件，别的一律不碰。"""
  try:
    mode = os.lstat(path).st_mode
  except FileNotFoundError:
    return
  if not stat.S_ISSOCK(mode):
    sys.exit('错误：%s 已经存在，而且不是套接字文件：换一个路径' % path)
  probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
  try:
    probe.connect(path)
  except ConnectionRefusedError:
    print('（删除上次留下的套接字文件 %s）' % path, file=sys.stderr)
    os.unlink(path)
    return
  except OSError:
    pass
  finally:
    probe.close()
  sys.exit('错误：已经有程序在使用 %s：先结束它，或换一个路径' % path)


remove_stale_socket(ME)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(ME)
mine = os.lstat(ME).st_ino
try:
  # 从此只和服务器说话：别的程序发给我们的数据报会被内核拒绝
  s.connect(PATH)
except OSError as err:
  s.close()
  os.unlink(ME)
  sys.exit('错误：无法连接 %s（服务器启动了吗？路径对吗？）：%s' % (PATH, err))
s.settimeout(2)  # 对 send 和 recv 都有效

try:
  for line in sys.stdin.buffer:
    data = line.rstrip(b'\r\n')
    try:
      s.send(data)
    except socket.timeout:
      sys.exit('错误：等了 2 秒，%s 仍没有收下数据报（服务器的接收队列满了）' % PATH)
    except OSError as err:
      sys.exit('错误：无法发往 %s（服务器还在运行吗？）：%s' % (PATH, err))
    try:
      reply = s.recv(65536)
      print(reply.decode('utf-8', errors='replace'), flush=True)
    except socket.timeout:
      print('（2 秒内没有收到回复）', file=sys.stderr, flush=True)
finally:
  s.close()
  if os.path.lexists(ME) and os.lstat(ME).st_ino == mine:
    os.unlink(ME)  # 无论正常结束还是出错，都删掉自己的文件
