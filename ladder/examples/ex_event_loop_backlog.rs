//! 练习答案（事件循环，练习 3）：`echo_mio` 的监听套接字用 `socket2` 自己建，积压队列 1024。
//!
//! 运行：`cargo run --example ex_event_loop_backlog`（默认绑定 127.0.0.1:3214），再运行
//! `ss -tln 'sport = :3214'`：`Send-Q` 一栏是 1024，而不是 `echo_mio` 的 128。
//!
//! 和 `echo_mio.rs` 相比，只是 `TcpListener::bind` 换成了 `listen_with_backlog`（搜 `BACKLOG`）。
//! 下面是 `echo_mio` 原来的说明。
//!
//! 事件循环上的回显服务器：只用一个线程，套接字都是非阻塞的；mio（在 Linux 上就是 epoll）
//! 一次替我们盯着所有的套接字，我们只问它一个问题：“谁准备好了？”
//!
//! 收到的字节原样发回；每个连接打开、关闭时各打印一行。每个连接有一个最多 64 KiB 的输出缓冲区：
//! 客户端只发不读，缓冲区满了，服务器就不再读它的数据（背压），内存不会被它撑大。
//! 一个连接出了错，只断开它自己，在标准错误上打印一行，其余的连接照常服务。
//!
//! Ctrl-C（SIGINT）或 SIGTERM 让它优雅地停止：不再接受新连接，已经收到的数据照样回显，
//! 每个连接正常关闭（客户端读到 EOF），然后以状态 0 退出；最多等 `--grace` 秒。

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 默认最多同时服务多少个客户端，可以用 --max-clients 修改。
const DEFAULT_MAX_CLIENTS: usize = 10_000;
/// 每个连接的输出缓冲区最多存多少字节（收到了、还没发回去的回显）。满了就先不读这个客户端。
const OUT_LIMIT: usize = 64 * 1024;
/// 轮到一个套接字时，最多读（或接受连接）这么多次（读最多 4 × 64 KiB），就先去照顾别的套接字，
/// 下一轮再接着处理它：一个发得飞快的客户端，不会让别的客户端一直等着（epoll(7) 说的“饥饿”）。
const TURN: usize = 4;
/// 除了客户端的连接，进程自己还要用的文件描述符：标准输入输出、监听套接字、epoll 等，留足余量。
const SPARE_FDS: u64 = 16;
/// accept 失败了（比如打开的文件太多），过多久再试。
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// 监听套接字在 mio 里的记号（Token）。连接的记号是它在 `Slab` 里的下标，从 0 开始。
const LISTENER: Token = Token(usize::MAX);
/// 信号（SIGINT、SIGTERM）在 mio 里的记号。
const SIGNALS: Token = Token(usize::MAX - 1);
/// 停止时发出 FIN 以后，等对方关闭连接：对方安静了这么久还没关闭，就不再等（nginx 的
/// lingering_timeout 是同一个意思）。
const LINGER: Duration = Duration::from_secs(1);
/// 在停止时，事件循环最多等这么久就醒来一次，看看有没有安静了 LINGER 的连接。
const LINGER_TICK: Duration = Duration::from_millis(100);
/// 收到停止信号以后，最多再等几秒让连接收尾，可以用 --grace 修改。
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// 监听套接字的积压队列长度。Linux 会把它截到 net.core.somaxconn（较新的内核默认 4096）。
const BACKLOG: i32 = 1024;

const USAGE: &str = "用法：ex_event_loop_backlog [地址] [--max-clients 个数] [--grace 秒]
事件循环上的回显服务器：一个线程用 mio（epoll）同时服务很多个客户端，收到的字节原样发回。
每个连接打开、关闭时各打印一行。按 Ctrl-C（或发 SIGTERM）优雅地停止：不再接受新连接，
已经收到的数据照样回显，连接都正常关闭；再按一次 Ctrl-C 立即退出。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                        IPv6 写成 [::1]:3214
  --max-clients 个数    最多同时服务多少个客户端，默认 10000；更多的连接一接受就关闭，并在标准错误上
                        说一行。启动时会把打开文件数的软限制提高到硬限制，硬限制不够时也会说一行
  --grace 秒            收到停止信号以后，最多等几秒让连接收尾（0.1 到 3600，默认 5）；
                        到时还没关闭的连接被强行关闭";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

fn main() {
    match run() {
        Ok(()) => {}
        // 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

// ANCHOR: conn
/// 一个连接的全部状态。阻塞的服务器把这些放在一个函数的局部变量和调用栈里；
/// 事件循环随时会离开一个连接去照顾别的连接，只好把它们放进一个结构体，下次接着用。
struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    /// 输出缓冲区：收到了、还没发回去的字节，最多 OUT_LIMIT 个。
    out: Vec<u8>,
    /// 对方已经关闭了它的发送方向（read 返回了 0）：不会再有数据来了。
    read_closed: bool,
    /// 现在向 mio 登记的兴趣：等它可读、可写，还是都等。
    interest: Interest,
    /// 它已经排在“这一轮还要处理”的队列里了（免得排两次）。
    queued: bool,
    /// 停止时用的状态，见 `stop` 和 `finish`：服务器在停止；已经收到的数据都读出来了；
    /// 已经发出 FIN（这以后读到的数据只能丢掉，等对方关闭）；最后一次收到对方的东西是什么时候。
    stopping: bool,
    caught_up: bool,
    fin_sent: bool,
    last_heard: Instant,
}
// ANCHOR_END: conn

/// 所有连接：下标就是连接的 Token。关闭的连接留下一个空位（None），记在 free 里，给下一个连接用。
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    open: usize,
}

impl Slab {
    /// 下一个 insert 会用的下标（先要知道它，才能用它作 Token 向 epoll 登记）。
    fn next_key(&self) -> usize {
        self.free.last().copied().unwrap_or(self.slots.len())
    }

    fn insert(&mut self, conn: Conn) -> usize {
        self.open += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(conn);
                i
            }
            None => {
                self.slots.push(Some(conn));
                self.slots.len() - 1
            }
        }
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Conn> {
        self.slots.get_mut(i).and_then(Option::as_mut)
    }

    /// 所有还开着的连接，和它们的下标。
    fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Conn)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, slot)| Some((i, slot.as_mut()?)))
    }

    fn remove(&mut self, i: usize) -> Option<Conn> {
        let conn = self.slots.get_mut(i).and_then(Option::take)?;
        self.free.push(i);
        self.open -= 1;
        Some(conn)
    }
}

// ANCHOR: run
fn run() -> Result<()> {
    let Some((addr, max_clients, grace)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    // Python: s = socket.create_server((HOST, PORT), backlog=1024); s.setblocking(False)
    let listener = listen_with_backlog(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    // 先装好信号处理，再说出地址：看到地址就发信号的人（比如测试），信号不会落空。
    exit_on_second_signal()?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("无法安装信号处理函数")?;
    say!("{}", listener.local_addr()?)?;
    let max_clients = raise_fd_limit(max_clients)?;

    // Python: sel = selectors.DefaultSelector(); sel.register(s, selectors.EVENT_READ)
    let mut poll = Poll::new().context("创建 epoll 失败")?;
    let mut events = Events::with_capacity(1024);
    // 停止以后监听套接字就关闭了，所以放在 Option 里：None 表示已经不再接受连接。
    let mut listener = Some(listener);
    if let Some(listener) = &mut listener {
        poll.registry()
            .register(listener, LISTENER, Interest::READABLE)
            .context("向 epoll 登记监听套接字失败")?;
    }
    // ANCHOR: signals
    // signal-hook-mio 把 SIGINT、SIGTERM 变成 epoll 盯着的又一个事件源：信号来了，
    // poll 就返回 SIGNALS 这个记号，和“某个套接字可读了”一样处理。
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .context("向 epoll 登记信号失败")?;
    // 收到停止信号以后，到这个时刻还没关闭的连接，就强行关闭。None：还没收到停止信号。
    let mut deadline: Option<Instant> = None;
    // ANCHOR_END: signals

    let mut conns = Slab::default();
    // 这一轮还要处理的套接字：收到事件的，和上一轮没处理完的（epoll(7) 说的 ready list）。
    let mut ready: VecDeque<Token> = VecDeque::new();
    let mut listener_queued = false;
    // accept 失败了（比如文件描述符用完了）：到这个时刻再试，这之前不理会监听套接字的事件。
    let mut retry_accept: Option<Instant> = None;
    let mut accept_failing = false;
    // 读数据用的缓冲区，所有连接共用：读到的字节马上放进那个连接自己的输出缓冲区。
    let mut scratch = vec![0u8; OUT_LIMIT];

    loop {
        // Python: events = sel.select()   —— 阻塞，直到至少一个套接字准备好了。
        // 上一轮还有没处理完的套接字，就不等（超时 0），只看看有没有新的事件；
        // 等着重试 accept，就最多等到那个时刻。
        // 在停止，就最多等 LINGER_TICK（好关闭安静了太久的连接），也不超过宽限期。
        let tick = deadline.map(|_| Instant::now() + LINGER_TICK);
        let timeout = if ready.is_empty() {
            [retry_accept, deadline, tick]
                .into_iter()
                .flatten()
                .min()
                .map(|at| at.saturating_duration_since(Instant::now()))
        } else {
            Some(Duration::ZERO)
        };
        if let Err(err) = poll.poll(&mut events, timeout) {
            if err.kind() == ErrorKind::Interrupted {
                continue; // 被信号打断了：再等一次
            }
            return Err(err).context("等待事件失败");
        }
        if retry_accept.is_some_and(|at| at <= Instant::now()) {
            // 到了重试的时刻：积压队列里的连接不会再带来新的事件，自己排进队列。
            retry_accept = None;
            listener_queued = true;
            ready.push_back(LISTENER);
        }
        for event in &events {
            let token = event.token();
            if token == SIGNALS {
                // ANCHOR: on-signal
                // 第二个信号不会到这里：exit_on_second_signal 装的处理函数已经让进程退出了。
                if let Some(signal) = signals.pending().next()
                    && deadline.is_none()
                {
                    deadline = Some(Instant::now() + grace);
                    start_watchdog(grace);
                    let registry = poll.registry();
                    stop(
                        &mut listener,
                        &mut conns,
                        registry,
                        &mut ready,
                        signal,
                        max_clients,
                    )?;
                }
                // ANCHOR_END: on-signal
            } else if token == LISTENER {
                if !listener_queued && retry_accept.is_none() {
                    listener_queued = true;
                    ready.push_back(token);
                }
            } else if let Some(conn) = conns.get_mut(token.0)
                && !conn.queued
            {
                conn.queued = true;
                ready.push_back(token);
            }
        }
        // 每个准备好的套接字轮一次；没处理完的排回队尾，下一轮再来。
        for _ in 0..ready.len() {
            let Some(token) = ready.pop_front() else {
                break;
            };
            if token == LISTENER {
                listener_queued = false;
                let Some(listener) = &listener else {
                    continue; // 已经停止接受连接了
                };
                match accept_some(listener, &mut conns, poll.registry(), max_clients)? {
                    Accepted::Drained => accept_failing = false,
                    Accepted::More => {
                        accept_failing = false;
                        listener_queued = true;
                        ready.push_back(LISTENER);
                    }
                    Accepted::Failed(err) => {
                        // 连接留在积压队列里。只在第一次失败时说一行，免得刷屏。
                        if !accept_failing {
                            eprintln!("接受连接失败：{err}（每 100 毫秒再试一次）");
                        }
                        accept_failing = true;
                        retry_accept = Some(Instant::now() + ACCEPT_RETRY);
                    }
                }
            } else {
                serve_turn(&mut conns, token, poll.registry(), &mut scratch, &mut ready)?;
            }
        }
        // ANCHOR: finished
        // 在停止：连接都关闭了，就结束；宽限期到了还有没关闭的，就强行关闭它们（丢掉就是关闭）。
        if let Some(deadline) = deadline {
            close_lingering(&mut conns)?;
            if conns.open == 0 {
                return Ok(()); // run 正常返回：进程以状态 0 退出
            }
            if Instant::now() >= deadline {
                eprintln!("宽限期到了：强行关闭 {} 个连接", conns.open);
                return Ok(());
            }
        }
        // ANCHOR_END: finished
    }
}
// ANCHOR_END: run

// ANCHOR: backlog
/// 和 mio 的 `TcpListener::bind` 做同样的事（SO_REUSEADDR、绑定、监听、非阻塞），只是积压队列是
/// BACKLOG，而不是固定的 128。
fn listen_with_backlog(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?; // mio 要求交给它的套接字是非阻塞的
    Ok(TcpListener::from_std(socket.into()))
}
// ANCHOR_END: backlog

// ANCHOR: stop
/// 收到第一个停止信号：不再接受新连接，让每个连接收尾。
fn stop(
    listener: &mut Option<TcpListener>,
    conns: &mut Slab,
    registry: &Registry,
    ready: &mut VecDeque<Token>,
    signal: i32,
    max_clients: usize,
) -> Result<()> {
    if let Some(mut listener) = listener.take() {
        // 积压队列里还有已经完成握手、没被 accept 的连接：直接关闭监听套接字，内核会给它们
        // 每个发一个 RST。把它们也接受下来，和别的连接一样收尾。
        while let Accepted::More = accept_some(&listener, conns, registry, max_clients)? {}
        let _ = registry.deregister(&mut listener);
    } // listener 在这里被丢弃：监听套接字关闭，这以后来的连接请求，内核直接拒绝
    say!(
        "收到 {}：不再接受新连接，正在关闭 {} 个连接",
        signal_name(signal),
        conns.open
    )?;
    for (i, conn) in conns.iter_mut() {
        // 每个连接再读一遍：读到 WouldBlock（已经到达的数据都读出来了）或者读满一轮，
        // 就算“跟上了”；回显完，finish 发出 FIN。
        conn.stopping = true;
        conn.caught_up = false;
        // 边沿触发：不会为“服务器要停止了”来一个事件，直接把每个连接排进这一轮。
        if !conn.queued {
            conn.queued = true;
            ready.push_back(Token(i));
        }
    }
    Ok(())
}
// ANCHOR_END: stop

// ANCHOR: second
/// 第二个停止信号：不管程序正在做什么（哪怕卡在写满了的标准输出上），立即退出。
/// 处理函数只做两件异步信号安全的事：给计数器加一；加之前已经不是 0（这是第二个信号），
/// 就调用 `_exit`，退出状态是 128 加信号的编号，和被这个信号结束时 shell 看到的一样。
/// 用一次原子的 `fetch_add`：两个信号同时落在两个线程上，也恰好有一个看到“第二个”。
fn exit_on_second_signal() -> Result<()> {
    let seen = Arc::new(AtomicUsize::new(0));
    for signal in [SIGINT, SIGTERM] {
        let seen = Arc::clone(&seen);
        let action = move || {
            if seen.fetch_add(1, Ordering::SeqCst) > 0 {
                signal_hook::low_level::exit(128 + signal);
            }
        };
        // SAFETY: 处理函数里只有一次原子加法和 _exit，都是异步信号安全的（signal-safety(7)）。
        unsafe { signal_hook::low_level::register(signal, action) }
            .context("无法安装信号处理函数")?;
    }
    Ok(())
}
// ANCHOR_END: second

/// 看门狗：宽限期过后再等一秒，程序还没结束（比如卡在写满了的标准输出上），就直接退出。
fn start_watchdog(grace: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(grace + Duration::from_secs(1));
        signal_hook::low_level::exit(0);
    });
}

/// 信号的名字，用于输出。
fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "信号",
    }
}

// ANCHOR: accept
/// 一轮 accept 的结果。
enum Accepted {
    /// 积压队列空了（WouldBlock）：等下一个事件。
    Drained,
    /// 这一轮的次数用完了，可能还有连接在排队：下一轮接着接受。
    More,
    /// 失败了，比如打开的文件太多（EMFILE）：过一会儿再试。
    Failed(std::io::Error),
}

/// 接受连接，直到 WouldBlock（积压队列空了），或者这一轮的次数用完。
fn accept_some(
    listener: &TcpListener,
    conns: &mut Slab,
    registry: &Registry,
    max_clients: usize,
) -> Result<Accepted> {
    for _ in 0..TURN {
        // Python: clnt, addr = s.accept(); clnt.setblocking(False)
        // mio 接受的连接已经是非阻塞的。
        let (mut stream, addr) = match listener.accept() {
            Ok(pair) => pair,
            Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(Accepted::Drained),
            // 连接在被接受之前就被对方放弃了，或者被信号打断了：接着接受下一个。
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::ConnectionAborted | ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(err) => return Ok(Accepted::Failed(err)),
        };
        if conns.open >= max_clients {
            // 连接已经建立了，马上关闭它：客户端读到 EOF。
            eprintln!("拒绝 {addr}：已经有 {max_clients} 个连接（--max-clients）");
            continue;
        }
        let token = Token(conns.next_key());
        // Python: sel.register(clnt, selectors.EVENT_READ, data=...)
        if let Err(err) = registry.register(&mut stream, token, Interest::READABLE) {
            eprintln!("断开 {addr}：向 epoll 登记失败：{err}");
            continue;
        }
        conns.insert(Conn {
            stream,
            addr,
            out: Vec::new(),
            read_closed: false,
            interest: Interest::READABLE,
            queued: false,
            stopping: false,
            caught_up: false,
            fin_sent: false,
            last_heard: Instant::now(),
        });
        say!("Client Address: {addr}")?;
    }
    Ok(Accepted::More)
}
// ANCHOR_END: accept

// ANCHOR: serve-turn
/// 轮到一个连接：读写它，然后按它的状态，重新登记兴趣、排回队列，或者关闭它。
fn serve_turn(
    conns: &mut Slab,
    token: Token,
    registry: &Registry,
    scratch: &mut [u8],
    ready: &mut VecDeque<Token>,
) -> Result<()> {
    let Some(conn) = conns.get_mut(token.0) else {
        return Ok(()); // 这个连接刚才已经关闭了
    };
    conn.queued = false;
    let keep = match turn(conn, token, registry, scratch, ready) {
        Ok(keep) => keep,
        Err(err) => {
            // 只断开这一个连接：说一行原因，事件循环接着服务别的连接。
            eprintln!("断开 {}：{err:#}", conn.addr);
            false
        }
    };
    if !keep && let Some(conn) = conns.remove(token.0) {
        // conn 在这里被丢弃，套接字随之关闭，epoll 也就不再盯着它了。
        say!("连接关闭：{}", conn.addr)?;
    }
    Ok(())
}

/// 读写一个连接，再告诉 epoll 它接下来该等什么。返回 false：该关闭它了。
fn turn(
    conn: &mut Conn,
    token: Token,
    registry: &Registry,
    scratch: &mut [u8],
    ready: &mut VecDeque<Token>,
) -> Result<bool> {
    let more = pump(conn, scratch)?;
    finish(conn)?;
    let Some(interest) = wanted_interest(conn) else {
        return Ok(false); // 对方关闭了它的发送方向，回显也都发完了
    };
    // 兴趣变了（比如输出缓冲区满了，不再等可读）才告诉 epoll。
    if interest != conn.interest {
        registry
            .reregister(&mut conn.stream, token, interest)
            .context("向 epoll 登记失败")?;
        conn.interest = interest;
    }
    if more {
        conn.queued = true;
        ready.push_back(token);
    }
    Ok(true)
}
// ANCHOR_END: serve-turn

// ANCHOR: interest
/// 这个连接现在该等什么：输出缓冲区还有空位、对方也还在发，就等可读；
/// 还有回显没发出去，就等可写。两样都不用等，说明该关闭了，返回 None。
fn wanted_interest(conn: &Conn) -> Option<Interest> {
    // 发出 FIN 以后，读到的数据只是丢掉，不占输出缓冲区，就总是可以读。
    let read = !conn.read_closed && (conn.fin_sent || conn.out.len() < OUT_LIMIT);
    let write = !conn.out.is_empty();
    match (read, write) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    }
}
// ANCHOR_END: interest

// ANCHOR: pump
/// 读写一个连接，直到 WouldBlock：mio 是边沿触发的，不读（写）到 WouldBlock，
/// 就不保证还会再通知我们。返回 true：读了 TURN 次还没读完，下一轮接着读。
fn pump(conn: &mut Conn, scratch: &mut [u8]) -> Result<bool> {
    let mut reads = 0;
    loop {
        // 1. 先把输出缓冲区里的回显写出去，直到写完或者 WouldBlock。
        //    write 可能只写出一部分（部分写）：写出多少，就从缓冲区开头删掉多少。
        while !conn.out.is_empty() {
            match conn.stream.write(&conn.out) {
                Ok(0) => bail!("发送数据失败：对方不再接收"),
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(err).context("发送数据失败"),
            }
        }
        // 2. 再读。输出缓冲区满了就不读（背压）：数据留在内核里，对方发送得越来越慢，最后停下。
        //    发出 FIN 以后读到的数据只是丢掉，不占输出缓冲区。
        let room = if conn.fin_sent {
            scratch.len()
        } else {
            OUT_LIMIT - conn.out.len()
        };
        if conn.read_closed || room == 0 {
            return Ok(false);
        }
        if reads == TURN {
            // 在停止：这一轮读够了，就算已经收到的都读出来了，不再等一个还在不停发送的客户端。
            conn.caught_up |= conn.stopping;
            return Ok(true); // 这一轮读够了，先去照顾别的连接
        }
        reads += 1;
        match conn.stream.read(&mut scratch[..room]) {
            // 读到 0 个字节：对方关闭了它的发送方向。已经收到的回显还要发完，再关闭。
            Ok(0) => conn.read_closed = true,
            // 发出 FIN 以后读到的数据：没法回显了，丢掉，记下对方还在说话。
            Ok(_) if conn.fin_sent => conn.last_heard = Instant::now(),
            // 读到了数据：放进输出缓冲区，回到开头先把它写回去。
            Ok(n) => conn.out.extend_from_slice(&scratch[..n]),
            // 内核里没有数据了：这一次的“可读”用完了，等下一个事件。
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                conn.caught_up |= conn.stopping;
                return Ok(false);
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err).context("接收数据失败"),
        }
    }
}
// ANCHOR_END: pump

// ANCHOR: finish
/// 停止时收尾：已经收到的数据都读出来、回显完了，就关闭发送方向，发出 FIN，客户端读完回显、
/// 读到 EOF。然后不马上关闭，而是接着读（读到的丢掉），等对方也关闭：`read_closed` 以后
/// `wanted_interest` 返回 None，连接就关闭了；对方一直不关闭，由 `close_lingering` 和宽限期收拾。
///
/// 为什么要等？关闭时接收缓冲区里有没读的数据，或者关闭以后又来了数据，内核就发 RST，
/// 还在发送缓冲区里没发出去的回显和 FIN 都被扔掉，客户端读到的是“连接被复位”。
fn finish(conn: &mut Conn) -> Result<()> {
    if conn.stopping && conn.caught_up && conn.out.is_empty() && !conn.fin_sent {
        conn.stream
            .shutdown(Shutdown::Write)
            .context("关闭发送方向失败")?;
        conn.fin_sent = true;
        conn.last_heard = Instant::now();
    }
    Ok(())
}

/// 发出 FIN 以后，对方安静了 LINGER 还没关闭连接（比如它在等人输入）：不再等它，关闭。
fn close_lingering(conns: &mut Slab) -> Result<(), StdoutClosed> {
    let quiet: Vec<usize> = conns
        .iter_mut()
        .filter(|(_, conn)| conn.fin_sent && conn.last_heard.elapsed() >= LINGER)
        .map(|(i, _)| i)
        .collect();
    for i in quiet {
        if let Some(conn) = conns.remove(i) {
            say!("连接关闭：{}", conn.addr)?;
        }
    }
    Ok(())
}
// ANCHOR_END: finish

// ANCHOR: nofile
/// 一个连接就是一个打开的文件（文件描述符）。把打开文件数的软限制提高到硬限制（`ulimit -Hn`），
/// 返回最多能同时服务多少个客户端：硬限制不够 --max-clients 用时，说一行，按硬限制来。
fn raise_fd_limit(max_clients: usize) -> Result<usize> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .context("读取打开文件数的上限失败")?;
    let wanted = (max_clients as u64).saturating_add(SPARE_FDS);
    if limit >= wanted {
        return Ok(max_clients);
    }
    let can = usize::try_from(limit.saturating_sub(SPARE_FDS)).unwrap_or(max_clients);
    if can == 0 {
        bail!("打开文件数的上限只有 {limit}，一个客户端也服务不了：先用 ulimit -n 调高它");
    }
    eprintln!(
        "注意：打开文件数的上限是 {limit}（ulimit -Hn），服务 {max_clients} 个客户端需要 {wanted}；\
         最多只能同时服务 {can} 个"
    );
    Ok(can)
}
// ANCHOR_END: nofile

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}

/// bind 失败时，按失败的原因给出建议。
fn bind_hint(err: &std::io::Error) -> &'static str {
    match err.kind() {
        ErrorKind::AddrInUse => {
            "端口已被占用：换一个端口，或先结束占用它的程序；刚停掉的服务器留下的 TIME_WAIT 也会占住它，最多一分钟"
        }
        ErrorKind::PermissionDenied => "1024 以下的端口需要管理员权限：换一个 1024 以上的端口",
        ErrorKind::AddrNotAvailable => "本机没有这个 IP 地址：用 127.0.0.1、[::1] 或本机网卡的地址",
        _ => "检查地址是否写对",
    }
}

/// 读取命令行：可选的地址、`--max-clients 个数` 和 `--grace 秒`。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, usize, Duration)>> {
    let mut addr = None;
    let mut max_clients = DEFAULT_MAX_CLIENTS;
    let mut grace = DEFAULT_GRACE;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--max-clients" => {
                let value = args.next().context("--max-clients 后面要写一个个数")?;
                max_clients = value.parse().ok().filter(|&n| n > 0).with_context(|| {
                    format!("--max-clients 要写一个正整数（客户端的个数），而不是 `{value}`")
                })?;
            }
            "--grace" => grace = seconds(args.next(), "--grace", 0.1, 3600.0)?,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名）"
        )
    })?;
    Ok(Some((addr, max_clients, grace)))
}

/// 选项 `flag` 后面的秒数：`min` 到 `max` 之间，可以有小数。
fn seconds(value: Option<String>, flag: &str, min: f64, max: f64) -> Result<Duration> {
    let value = value.with_context(|| format!("{flag} 后面要写一个秒数"))?;
    value
        .parse::<f64>()
        .ok()
        .filter(|s| (min..=max).contains(s))
        .map(Duration::from_secs_f64)
        .with_context(|| format!("{flag} 要写 {min} 到 {max} 之间的秒数，而不是 `{value}`"))
}
