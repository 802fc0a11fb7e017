# Draws the book's TCP and UDP sequence diagrams: book/images/tcp-model.svg and udp-model.svg.
# The SVG files are committed; run this only after changing it: python3 tools/draw_diagrams.py
# Each picture carries its own light card as background, so it reads the same in all five
# mdBook themes (light, rust, coal, navy, ayu).
import html
import os
import sys

# An optional argument names another output folder (the tests use it to check that the
# committed SVG files are what this script draws).
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', 'book', 'images')
W = 800
SX, CX = 215, 585          # lifelines: server, client
BW, BH = 300, 46           # call box size
FONT = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif"
# Chinese inside a monospace label falls back to the Simplified Chinese face, named here: left to
# the system, it may be the Japanese one, whose forms differ (返, 骨, 直).
MONO = "'DejaVu Sans Mono','Menlo','Consolas','Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',monospace"
INK, MUTED = '#1f2933', '#52606d'
SERVER, CLIENT, BLOCK, NET = '#1c64b8', '#23803d', '#c2410c', '#6b21a8'

def esc(s): return html.escape(s, quote=False)

class D:
    def __init__(s, h, title):
        s.h = h; s.out = []
        s.out.append(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" role="img" aria-label="{esc(title)}" font-family="{FONT}">')
        s.out.append(f'<title>{esc(title)}</title>')
        s.out.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker>'
                     f'<marker id="arrow-net" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{NET}"/></marker>'
                     f'<marker id="arrow-ink" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker></defs>')
        # Own light card, so the picture reads the same in light and dark themes.
        s.out.append(f'<rect x="1" y="1" width="{W-2}" height="{h-2}" rx="14" fill="#fbfcfd" stroke="#cbd2d9" stroke-width="2"/>')
        s.text(W/2, 34, title, size=20, weight='bold')
    def text(s, x, y, t, size=14, color=INK, anchor='middle', weight='normal', mono=False):
        fam = f' font-family="{MONO}"' if mono else ''
        s.out.append(f'<text x="{x}" y="{y}" font-size="{size}" fill="{color}" text-anchor="{anchor}" font-weight="{weight}"{fam}>{esc(t)}</text>')
    def lifeline(s, x, y0, y1, label, color):
        s.out.append(f'<rect x="{x-70}" y="{y0-30}" width="140" height="34" rx="8" fill="{color}"/>')
        s.text(x, y0-8, label, size=17, color='#ffffff', weight='bold')
        s.out.append(f'<line x1="{x}" y1="{y0+4}" x2="{x}" y2="{y1}" stroke="{color}" stroke-width="2" stroke-dasharray="6 5" opacity="0.6"/>')
    def call(s, x, y, py, rs, color, block=False, note=None):
        stroke = BLOCK if block else color
        s.out.append(f'<rect x="{x-BW/2}" y="{y}" width="{BW}" height="{BH}" rx="7" fill="#ffffff" stroke="{stroke}" stroke-width="{3 if block else 2}"/>')
        s.text(x, y+19, py, size=13.5, color=INK, mono=True)
        s.text(x, y+38, rs, size=13.5, color=color, mono=True)
        if block:
            # the badge sits on the outer side of the box, away from the messages in the middle
            bx = x - BW/2 - 44 if x < W/2 else x + BW/2 + 6
            s.out.append(f'<rect x="{bx}" y="{y+12}" width="38" height="22" rx="11" fill="{BLOCK}"/>')
            s.text(bx+19, y+28, '阻塞', size=12, color='#ffffff', weight='bold')
        if note:
            s.text(x, y+BH+16, note, size=12, color=MUTED)
    def msg(s, x1, y1, x2, y2, label, color=NET, above=True, dashed=False):
        dash = ' stroke-dasharray="5 4"' if dashed else ''
        s.out.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="2"{dash} marker-end="url(#arrow-net)"/>')
        mx, my = (x1+x2)/2, (y1+y2)/2
        s.text(mx, my - 7 if above else my + 17, label, size=13, color=color, weight='bold')
    def band(s, y0, y1, label):
        s.out.append(f'<rect x="{SX+BW/2+6}" y="{y0}" width="{CX-SX-BW-12}" height="{y1-y0}" rx="6" fill="{NET}" opacity="0.07"/>')
        s.text(W/2, y1 - 6, label, size=12.5, color=NET, weight='bold')
    def brace(s, x, y0, y1, lines, color):
        # A bracket on the outer side of a group of calls, with a label.
        left = x < W/2
        bx = x - BW/2 - 10 if left else x + BW/2 + 10
        d = 8 if left else -8
        s.out.append(f'<path d="M{bx+d},{y0} L{bx},{y0} L{bx},{y1} L{bx+d},{y1}" fill="none" stroke="{color}" stroke-width="2"/>')
        for i, t in enumerate(lines):
            s.text(bx + (-6 if left else 6), (y0+y1)/2 - 8*(len(lines)-1) + 16*i + 5, t, size=12, color=color, anchor='end' if left else 'start', mono=(i==0))
    def legend(s, y):
        s.out.append(f'<rect x="40" y="{y}" width="24" height="16" rx="4" fill="#ffffff" stroke="{INK}" stroke-width="1.5"/>')
        s.text(72, y+13, '上行：Python 的调用　下行：Rust 的对应写法', size=12.5, color=MUTED, anchor='start')
        s.out.append(f'<rect x="420" y="{y}" width="24" height="16" rx="4" fill="#ffffff" stroke="{BLOCK}" stroke-width="3"/>')
        s.text(452, y+13, '橙色边框：这个调用会阻塞（等待对方）', size=12.5, color=MUTED, anchor='start')
    def save(s, path):
        s.out.append('</svg>')
        open(path, 'w').write('\n'.join(s.out) + '\n')

# ---------------- TCP ----------------
d = D(1160, 'TCP 通信模型：服务器端与客户端的调用顺序')
top = 96
d.lifeline(SX, top, 1068, '服务器端', SERVER)
d.lifeline(CX, top, 1068, '客户端', CLIENT)
y = top + 18
d.call(SX, y, 's = socket.socket()', '(socket2) Socket::new(..)', SERVER); ys0 = y
d.call(SX, y+62, 's.bind((HOST, PORT))', '(socket2) s.bind(&addr)', SERVER)
d.call(SX, y+124, 's.listen(5)', '(socket2) s.listen(5)', SERVER); ys1 = y+124+BH
d.text(SX, ys1+22, 'Rust 标准库：TcpListener::bind(addr)', size=13, color=SERVER, weight='bold')
d.text(SX, ys1+40, '一次完成这三步（backlog 为 128）', size=12, color=SERVER)

d.call(CX, y+124, 's = socket.socket()', 'TcpStream::connect(addr)', CLIENT)
d.text(CX, y+124+BH+18, '创建套接字并连接，一步完成', size=12, color=MUTED)

ya = 330
d.call(SX, ya, 'clnt, addr = s.accept()', 'listener.accept()', SERVER, block=True)
d.call(CX, ya, 's.connect((HOST, PORT))', '（connect 返回 = 握手完成）', CLIENT, block=True)
# three-way handshake
hs = ya + BH + 20
d.band(hs - 16, hs + 112, '三次握手（由内核完成）')
d.msg(CX-BW/2+40, hs, SX+BW/2-40, hs+18, 'SYN')
d.msg(SX+BW/2-40, hs+30, CX-BW/2+40, hs+48, 'SYN + ACK')
d.msg(CX-BW/2+40, hs+60, SX+BW/2-40, hs+78, 'ACK')
d.text(SX, hs+134, 'accept 返回一个新的套接字，专门和这个客户端通信', size=12, color=MUTED)

yd = 560
d.call(CX, yd, 's.sendall(data)', 'stream.write_all(&data)', CLIENT)
d.call(SX, yd+40, 'data = clnt.recv(1024)', 'clnt.read(&mut buf)', SERVER, block=True)
d.msg(CX-BW/2, yd+BH/2, SX+BW/2, yd+40+BH/2, '请求数据')
d.call(SX, yd+112, 'clnt.sendall(data)', 'clnt.write_all(data)', SERVER)
d.call(CX, yd+152, 'while got < n: s.recv(n - got)', 'stream.read_exact(&mut reply)', CLIENT, block=True)
d.msg(SX+BW/2, yd+112+BH/2, CX-BW/2, yd+152+BH/2, '回显')
d.text(CX, yd+152+BH+16, '收满发出的字节数，才是完整的回显', size=12, color=MUTED)
d.text(W/2, yd+236, '↑ 这一来一回可以重复许多次', size=12.5, color=MUTED)

yc = 820
d.call(CX, yc, 's.close()', 'drop(stream)', CLIENT)
d.call(SX, yc+40, 'clnt.recv(1024) 返回 b\'\'', 'read 返回 Ok(0)', SERVER, block=True)
d.msg(CX-BW/2, yc+BH/2, SX+BW/2, yc+40+BH/2, 'FIN')
d.msg(SX+BW/2, yc+40+BH-8, CX-4, yc+104, 'ACK（常和下面的 FIN 合并）', dashed=True)
d.call(SX, yc+120, 'clnt.close(); s.close()', 'drop(clnt); drop(listener)', SERVER)
d.msg(SX+BW/2, yc+120+BH/2, CX-4, yc+168, 'FIN', above=False)
d.msg(CX-4, yc+190, SX+4, yc+214, 'ACK')
# the side that closed first waits in TIME_WAIT
d.out.append(f'<rect x="{CX-5}" y="{yc+190}" width="10" height="56" rx="5" fill="{BLOCK}" opacity="0.85"/>')
d.text(CX+16, yc+212, 'TIME_WAIT', size=13, color=BLOCK, anchor='start', weight='bold', mono=True)
d.text(CX+16, yc+230, '先关闭的一方再守 60 秒', size=12, color=BLOCK, anchor='start')
d.text(W/2, yc+270, '关闭：每个方向一个 FIN、一个 ACK；被动关闭一方的 ACK 常和它的 FIN 合并，', size=12, color=NET, weight='bold')
d.text(W/2, yc+288, '所以是三个或四个报文（常说的“四次挥手”）', size=12, color=NET, weight='bold')
d.legend(1128)
d.save(OUT + '/tcp-model.svg')

# ---------------- UDP ----------------
d = D(750, 'UDP 通信模型：服务器端与客户端的调用顺序')
d.lifeline(SX, top, 705, '服务器端', SERVER)
d.lifeline(CX, top, 705, '客户端', CLIENT)
y = top + 18
d.call(SX, y, 'socket(AF_INET, SOCK_DGRAM)', '(socket2) Socket::new(..)', SERVER); ys0 = y
d.call(SX, y+62, 's.bind((HOST, PORT))', '(socket2) s.bind(&addr)', SERVER); ys1 = y+62+BH
d.text(SX, ys1+22, 'Rust 标准库：UdpSocket::bind(addr)', size=13, color=SERVER, weight='bold')
d.text(SX, ys1+40, '一次完成这两步', size=12, color=SERVER)
d.call(CX, y+62, 'socket(AF_INET, SOCK_DGRAM)', 'UdpSocket::bind("0.0.0.0:0")', CLIENT)
d.text(CX, y+62+BH+18, '客户端也要有地址（端口由系统挑）', size=12, color=MUTED)
d.text(CX, y+62+BH+34, '回复才有处可去', size=12, color=MUTED)
d.text(W/2, y+184, '没有 listen，没有 accept，没有握手：绑定之后就可以收发', size=13, color=NET, weight='bold')

yd = 330
d.call(SX, yd, 'data, addr = s.recvfrom(1024)', 's.recv_from(&mut buf)', SERVER, block=True)
d.call(CX, yd+20, 's.sendto(data, (HOST, PORT))', 's.send_to(&data, server)', CLIENT)
d.msg(CX-BW/2, yd+20+BH/2, SX+BW/2, yd+BH-4, '数据报', above=True)
d.text(SX, yd+BH+16, 'addr 就是回信地址', size=12, color=MUTED)
d.call(SX, yd+100, 's.sendto(data, addr)', 's.send_to(data, addr)', SERVER)
d.call(CX, yd+120, 'data, addr = s.recvfrom(65535)', 's.recv_from(&mut buf)', CLIENT, block=True)
d.msg(SX+BW/2, yd+100+BH/2, CX-BW/2, yd+120+BH-4, '数据报')
d.text(CX, yd+120+BH+16, '回复可能丢失：要设超时', size=12, color=BLOCK)
d.text(CX, yd+120+BH+32, 'settimeout(2) / set_read_timeout', size=12, color=BLOCK, mono=True)
d.text(W/2, yd+224, '↑ 每个数据报各自独立，可以来自不同的客户端', size=12.5, color=MUTED)

yc = 590
d.call(CX, yc-20, 's.sendto(b\'True\', …)', 's.send_to(b"True", server)', CLIENT)
d.msg(CX-BW/2, yc-20+BH/2, SX+BW/2, yc+BH/2, '数据报 True')
d.call(SX, yc+10, 's.close()', 'drop(s)', SERVER)
d.text(SX, yc+BH+28, '收到 True 就结束（笔记的约定，不是 UDP 的规则）', size=12, color=MUTED)
d.legend(720)
d.save(OUT + '/udp-model.svg')
