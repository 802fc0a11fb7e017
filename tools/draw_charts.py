# Draws the performance chapter's charts from the benchmark's data file:
#   book/images/perf-throughput.svg   closed-loop msg/s against connections
#   book/images/perf-p99.svg          open-loop p99 latency against connections
#   book/images/perf-memory.svg       memory per connection at 1,000 and 10,000 connections
# The SVG files are committed; run this after a new bench_ladder run:
#   python3 tools/draw_charts.py [OUTPUT_FOLDER [DATA_FILE]]
# (defaults: book/images and bench/results/ladder.json; the tests use the arguments to check that
# the committed charts are what this script draws from the committed data.)
# Each chart carries its own light card as background, so it reads the same in all five mdBook
# themes (light, rust, coal, navy, ayu). Same look as tools/draw_diagrams.py.
import html
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', 'book', 'images')
DATA = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, '..', 'bench', 'results', 'ladder.json')

# DejaVu Sans first: digits and Latin letters drawn by the CJK font reach the PDF without their
# characters (pdftotext reads "p99" as "p"); Chinese falls through to Noto Sans CJK SC.
FONT = "'DejaVu Sans','Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif"
MONO = "'DejaVu Sans Mono','Menlo','Consolas',monospace"
INK, MUTED, GRID = '#1f2933', '#52606d', '#d9e2ec'
# One colour per rung; Rust is a solid line with filled dots, Python a dashed line with hollow ones.
RUNG = {
    'note': '#6b21a8',
    'iterative': '#7b8794',
    'threads': '#1c64b8',
    'pool': '#0e7490',
    'event-loop': '#c2410c',
    'async': '#23803d',
}
W = 800


def esc(s):
    return html.escape(str(s), quote=True)


def fmt_int(n):
    return f'{n:,.0f}'


def fmt_us(us):
    if us < 1000:
        return f'{us:.0f} µs'
    if us < 1_000_000:
        return f'{us / 1000:g} ms'
    return f'{us / 1_000_000:g} s'


class Svg:
    def __init__(s, h, title):
        s.h = h
        s.out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {h}" width="{W}" height="{h}" '
                 f'role="img" aria-label="{esc(title)}" font-family="{FONT}">',
                 f'<title>{esc(title)}</title>',
                 f'<rect x="1" y="1" width="{W - 2}" height="{h - 2}" rx="14" fill="#fbfcfd" stroke="#cbd2d9" stroke-width="2"/>']
        s.text(W / 2, 34, title, size=19, weight='bold')

    def text(s, x, y, t, size=13, color=INK, anchor='middle', weight='normal', mono=False):
        fam = f' font-family="{MONO}"' if mono else ''
        s.out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" '
                     f'text-anchor="{anchor}" font-weight="{weight}"{fam}>{esc(t)}</text>')

    def line(s, x1, y1, x2, y2, color=GRID, width=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ''
        s.out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" stroke-width="{width}"{d}/>')

    def path(s, points, color, dash):
        d = ' '.join(('M' if i == 0 else 'L') + f'{x:.1f},{y:.1f}' for i, (x, y) in enumerate(points))
        extra = ' stroke-dasharray="7 5"' if dash else ''
        s.out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2.5"{extra}/>')

    def dot(s, x, y, color, hollow):
        fill = '#ffffff' if hollow else color
        s.out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{fill}" stroke="{color}" stroke-width="2"/>')

    def rect(s, x, y, w, h, color, opacity=1.0):
        s.out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" rx="3" fill="{color}" opacity="{opacity}"/>')

    def save(s, name):
        s.out.append('</svg>')
        with open(os.path.join(OUT, name), 'w') as f:
            f.write('\n'.join(s.out) + '\n')


data = json.load(open(DATA))
servers = data['servers']
# The matrix's cells (not the placement experiments, nor a cell that could not be measured).
cells = [c for c in data['cells'] if 'failed' not in c and 'experiment' not in c]
m = data['machine']
SOURCE = f"数据：bench/results/ladder.json（{m['cpu']}，{m['cores']} 核，Linux {m['kernel']}，{m['date']}）"
CONNECTIONS = [1, 10, 100, 1000, 10000]


def series(mode, value):
    # [(server, [(connections, value)])] in the data file's order of servers.
    out = []
    for s in servers:
        points = [(c['connections'], value(c)) for c in cells
                  if c['server'] == s['name'] and c['mode'] == mode and value(c) is not None]
        if points:
            out.append((s, sorted(points)))
    return out


def legend(d, items, x, y):
    # items: [(server, ...)]; one line each: a short line in the server's style, then its name.
    for i, (s, *_rest) in enumerate(items):
        yy = y + i * 22
        color = RUNG[s['rung']]
        python = s['lang'] == 'python'
        d.line(x, yy, x + 30, yy, color, 2.5, '7 5' if python else None)
        d.dot(x + 15, yy, color, python)
        d.text(x + 40, yy + 4.5, s['name'], size=12.5, anchor='start', mono=True)


def line_chart(name, title, subtitle, mode, value, log_y, y_label, fmt):
    ss = series(mode, value)
    h = 520
    left, right, top, bottom = 92, 560, 86, h - 92
    d = Svg(h, title)
    d.text(W / 2, 58, subtitle, size=12.5, color=MUTED)
    xs = {n: left + (right - left) * i / (len(CONNECTIONS) - 1) for i, n in enumerate(CONNECTIONS)}
    values = [v for _, pts in ss for _, v in pts]
    if log_y:
        lo = 10 ** math.floor(math.log10(min(values)))
        hi = 10 ** math.ceil(math.log10(max(values)))
        ticks = []
        t = lo
        while t <= hi * 1.0001:
            ticks.append(t)
            t *= 10

        def y_of(v):
            return bottom - (bottom - top) * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    else:
        top_value = max(values)
        step = 10 ** math.floor(math.log10(top_value))
        for k in (1, 2, 2.5, 5, 10):
            if top_value / (step * k) <= 6:
                step *= k
                break
        hi = step * math.ceil(top_value / step)
        ticks = [step * i for i in range(int(round(hi / step)) + 1)]

        def y_of(v):
            return bottom - (bottom - top) * v / hi
    for t in ticks:
        y = y_of(t)
        d.line(left, y, right, y)
        d.text(left - 8, y + 4.5, fmt(t), size=12, color=MUTED, anchor='end')
    for n, x in xs.items():
        d.line(x, top, x, bottom)
        d.text(x, bottom + 20, fmt_int(n), size=12, color=MUTED)
    d.line(left, bottom, right, bottom, MUTED, 1.5)
    d.line(left, top, left, bottom, MUTED, 1.5)
    d.text((left + right) / 2, bottom + 44, '同时连接的客户端数（对数刻度）', size=13, color=MUTED)
    d.out.append(f'<text x="24" y="{(top + bottom) / 2:.1f}" font-size="13" fill="{MUTED}" text-anchor="middle" '
                 f'transform="rotate(-90 24 {(top + bottom) / 2:.1f})">{esc(y_label)}</text>')
    for s, pts in ss:
        color = RUNG[s['rung']]
        python = s['lang'] == 'python'
        points = [(xs[n], y_of(v)) for n, v in pts]
        if len(points) > 1:
            d.path(points, color, python)
        for x, y in points:
            d.dot(x, y, color, python)
    legend(d, ss, right + 28, top + 6)
    d.text(right + 28, top + 6 + len(ss) * 22 + 10, '实线：Rust　虚线：Python', size=12, color=MUTED, anchor='start')
    d.text(W / 2, h - 18, SOURCE, size=11.5, color=MUTED)
    d.save(name)


def closed_rate(c):
    return c['bench']['msg_per_s'] if c['bench']['messages'] > 0 else None


def open_p99(c):
    return c['bench']['latency_us']['p99']


line_chart('perf-throughput.svg', '吞吐量：每秒回显多少条（闭环）',
           f"每个连接发一条 {data['settings']['size']} 字节的消息、等到回显再发下一条；负载生成器和服务器在同一台机器上",
           'closed', closed_rate, False, '每秒回显的条数（msg/s）', fmt_int)
line_chart('perf-p99.svg', '延迟：p99（开环，同样的负载）',
           f"所有连接加起来每秒 {data['settings']['open_total_rate']:,.0f} 条，按时发送、不等回显；纵轴是对数刻度",
           'open', open_p99, True, '99% 的回显在这个时间之内到达', fmt_us)


# Memory per connection: (VmRSS at the end of the measurement - VmRSS of the idle server) / N.
def per_connection(c):
    s = c['server_stats']
    return max(s['rss_kib'] - s['idle_rss_kib'], 0) / c['connections']


bars = []
for s in servers:
    got = {c['connections']: per_connection(c) for c in cells
           if c['server'] == s['name'] and c['mode'] == 'closed' and c['connections'] in (1000, 10000)}
    if got:
        bars.append((s, got))
row = 46
h = 150 + row * len(bars) + 40
left, right, top = 190, 700, 104
d = Svg(h, '内存：每个连接多占多少（闭环）')
d.text(W / 2, 58, '（测量结束时的 VmRSS − 空闲时的 VmRSS）÷ 连接数；线程的栈只算真正用到的页', size=12.5, color=MUTED)
biggest = max(v for _, got in bars for v in got.values())
step = 10 ** math.floor(math.log10(biggest))
for k in (1, 2, 2.5, 5, 10):
    if biggest / (step * k) <= 5:
        step *= k
        break
hi = step * math.ceil(biggest / step)
bottom = top + row * len(bars)
for i in range(int(round(hi / step)) + 1):
    x = left + (right - left) * (step * i) / hi
    d.line(x, top - 6, x, bottom)
    d.text(x, bottom + 18, f'{step * i:g} KiB', size=12, color=MUTED)
for i, (s, got) in enumerate(bars):
    y = top + i * row
    color = RUNG[s['rung']]
    d.text(left - 10, y + 26, s['name'], size=12.5, anchor='end', mono=True)
    for j, n in enumerate((1000, 10000)):
        if n not in got:
            continue
        v = got[n]
        yy = y + 6 + j * 18
        d.rect(left, yy, (right - left) * v / hi, 15, color, 0.45 if n == 1000 else 1.0)
        d.text(left + (right - left) * v / hi + 6, yy + 12, f'{v:.1f}', size=11.5, color=INK, anchor='start')
d.line(left, top - 6, left, bottom, MUTED, 1.5)
ly = bottom + 42
d.rect(left, ly - 11, 24, 13, '#7b8794', 0.45)
d.text(left + 30, ly, '1,000 个连接', size=12, color=MUTED, anchor='start')
d.rect(left + 140, ly - 11, 24, 13, '#7b8794', 1.0)
d.text(left + 170, ly, '10,000 个连接', size=12, color=MUTED, anchor='start')
d.text(W / 2, h - 18, SOURCE, size=11.5, color=MUTED)
d.save('perf-memory.svg')
