//! 练习答案（聊天室，练习 3）：`chat_server` 加上限流：每个人每秒最多说 `--rate` 行
//! （令牌桶，最多攒 `--burst` 个令牌）。
//!
//! 运行：`cargo run --example ex_chat_rate_limit`（默认每秒 20 行，最多攒 100 个令牌）。
//!
//! 和 `chat_server.rs` 相比：`Bucket` 是新的；读线程每转发一行，先从桶里拿一个令牌，桶空了就
//! 睡到有令牌为止，这期间不读这个客户端；`--rate`、`--burst` 两个选项经过 `Config` 传给读线程
//! （搜 `bucket`）。下面是 `chat_server` 原来的说明。
//!
//! 聊天室服务器，线程版：每个客户端发来的每一行，都转发给其他所有客户端，前面加上发送者的地址；
//! 有人加入、离开时，告诉其他人。
//!
//! 每个客户端两个线程：读线程一行一行地读它发来的消息，放进其他每个客户端的发件箱；
//! 写线程把它自己发件箱里的行，一行一行地写给它。发件箱有界（--queue，默认 64 行）：
//! 谁的发件箱满了（它读得太慢），服务器就断开谁，而不是让整个聊天室等它。
//! 服务器只在连接打开、关闭时各打印一行，从不打印聊天的内容。

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 一个写不进去（客户端不读）的客户端，发件箱里最多排几行，可以用 --queue 修改。
const DEFAULT_QUEUE: usize = 64;
/// 发件箱的硬上限是 --queue 的这么多倍：写线程只是一时没轮到运行（服务器忙不过来），
/// 不是客户端不读，发件箱可以多排一些，但也有个头。
const HARD_FACTOR: usize = 16;
/// 一行最长多少字节（含末尾的 `\n`），可以用 --max-line 修改。
const DEFAULT_MAX_LINE: usize = 1024;
/// 最多同时连着多少个客户端，可以用 --max-clients 修改。
const DEFAULT_MAX_CLIENTS: usize = 1000;
/// 收到停止信号以后，最多再等几秒让连接收尾，可以用 --grace 修改。
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// 停止时，每个连接最多再读这么多行：不陪一个不停发送的客户端一直读下去。
const FINISH_LINES: usize = 64;
/// 阻塞的 accept、read 和 write 最多等这么久就回来，看一眼该不该停下。
const TICK: Duration = Duration::from_millis(200);
/// 跟不上的客户端被断开以后，最多再等这么久，把写了一半的那一行和最后一句话写给它。
const FINAL_LINE_TIMEOUT: Duration = Duration::from_secs(2);
/// 说完最后一句话、半关闭以后，等客户端关闭连接：它安静了这么久还没关闭，就不再等。
const LINGER: Duration = Duration::from_secs(1);
/// 除了客户端的连接，进程自己还要用的文件描述符：标准输入输出、监听套接字、信号用的管道，留足余量。
const SPARE_FDS: u64 = 16;
/// 每个人每秒最多说几行（令牌桶每秒补充的令牌数），可以用 --rate 修改。
const DEFAULT_RATE: f64 = 20.0;
/// 令牌桶最多攒几个令牌（一口气最多能说几行），可以用 --burst 修改。
const DEFAULT_BURST: f64 = 100.0;
/// 服务器关闭时，对每个客户端说的最后一句话。
const STOPPING_LINE: &str = "*** 服务器正在关闭\n";

const USAGE: &str = "用法：ex_chat_rate_limit [地址] [--queue 行数] [--max-line 字节数] [--max-clients 个数] [--grace 秒]
                    [--rate 行数] [--burst 行数]
聊天室服务器（线程版）：每个客户端发来的每一行，都转发给其他所有客户端，前面加上发送者的地址。
每个连接打开、关闭时各打印一行；按 Ctrl-C 或发 SIGTERM 优雅地关闭，再来一次就立即退出。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                        IPv6 写成 [::1]:3214
  --queue 行数          客户端不读（写不进去）时，它的发件箱最多排多少行，1 到 65536，默认 64；
                        排满了，服务器就断开这个客户端。写得进去时最多排 16 倍
  --max-line 字节数     一行最长多少字节（含末尾的 \\n），1 到 1048576，默认 1024；
                        更长的一行让服务器断开这个客户端
  --max-clients 个数    最多同时连着多少个客户端，1 到 100000，默认 1000；满了以后，新来的连接
                        收到一行“聊天室已满”就被关闭。启动时把打开文件数的软上限提到硬上限
  --grace 秒            收到停止信号以后，最多等几秒让连接收尾（0.1 到 3600，默认 5）；
                        到时候还没关完的连接被强行关闭
  --rate 行数           每个人每秒最多说几行，1 到 10000，默认 20；说得更快，服务器就晚一点读他的数据
  --burst 行数          一口气最多能说几行（令牌桶最多攒几个令牌），1 到 100000，默认 100";

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

/// 命令行给出的设置。
struct Config {
    addr: SocketAddr,
    queue: usize,
    max_line: usize,
    max_clients: usize,
    grace: Duration,
    rate: f64,
    burst: f64,
}

// ANCHOR: bucket
/// 令牌桶：每秒补充 `rate` 个令牌，最多攒 `burst` 个。每转发一行拿走一个；桶空了，就等到有为止。
/// 一开始是满的：平时说话不受影响，一口气最多说 `burst` 行，再往后每秒只能说 `rate` 行。
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Bucket {
        Bucket {
            tokens: burst,
            rate,
            burst,
            last: Instant::now(),
        }
    }

    /// 拿一个令牌；桶空了，就让这个线程睡到有一个令牌为止（最多 1 / rate 秒）。
    fn take(&mut self) {
        let now = Instant::now();
        let refilled = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refilled).min(self.burst);
        self.last = now;
        if self.tokens < 1.0 {
            // 还差 1 - tokens 个令牌：按每秒 rate 个算，要等这么久。睡醒时正好攒够一个，马上用掉。
            thread::sleep(Duration::from_secs_f64((1.0 - self.tokens) / self.rate));
            self.tokens = 0.0;
            self.last = Instant::now();
        } else {
            self.tokens -= 1.0;
        }
    }
}
// ANCHOR_END: bucket

/// 一行消息。几个发件箱共用同一份字节（`Arc`）：转发给 100 个人，也只存一份。
type Line = Arc<[u8]>;

// ANCHOR: room
/// 聊天室：所有线程共用的状态，放在一把锁里。
struct Room {
    state: Mutex<State>,
    /// 打印用的锁：要打印一行的人先拿它，再拿 `state`，改完状态就放开 `state`，拿着它打印。
    /// 这样打印出来的行和状态的变化顺序一致（“正在关闭 N 个连接”和前后的行对得上），
    /// 而打印时不拿着 `state`：标准输出堵住了（比如接在一个暂停了的 `less` 后面），
    /// 卡住的只是要打印的线程，聊天室里的人照样说话。
    log: Mutex<()>,
    /// 一个连接关闭时，通知等在这里的主线程（优雅关闭时，它等所有连接关完）。
    closed: Condvar,
    /// 写线程写不进去时，发件箱最多排几行（--queue）。
    queue: usize,
    /// 收到停止信号以后，最多再等多久（--grace）。
    grace: Duration,
}

struct State {
    /// 每个打开的连接，从接受它，到打印“连接关闭”。
    conns: HashMap<u64, Conn>,
    next_id: u64,
    /// 收到第一个停止信号的时刻；None：还在正常服务。
    stopping: Option<Instant>,
    /// 宽限期到了，剩下的连接被强行关闭：它们因此出的错，不再一个个打印。
    forced: bool,
}

/// 聊天室眼里的一个连接。
struct Conn {
    addr: SocketAddr,
    /// 和这个连接的读线程、写线程共用的套接字：宽限期到了，用它强行关闭连接。
    stream: Arc<TcpStream>,
    /// 它的发件箱：一个有界通道的发送端。None：不再给它发东西了
    /// （它离开了、被断开了，或者服务器正在关闭）。
    outbox: Option<SyncSender<Line>>,
    /// 别人看到过它“加入了聊天室”，还没看到它离开：它离开时，要告诉别人。
    joined: bool,
    /// 它的读线程还在读。
    reading: bool,
    /// 和它的写线程共用：发件箱的情况，最后对它说的话。
    bye: Arc<Bye>,
}

/// 一个刚加入的连接：它的编号、它的 `Bye`、它的发件箱的接收端（交给写线程）。
struct Joined {
    id: u64,
    bye: Arc<Bye>,
    inbox: Receiver<Line>,
}

/// 聊天室和一个写线程共用的事。
#[derive(Default)]
struct Bye {
    /// 发件箱里排着几行（通道自己不说）：放进去之前加一，写线程取出来以后减一。
    queued: AtomicUsize,
    /// 写线程写不进去：它的上一次 write 等了一个 TICK，一个字节也没写出去（客户端不读，
    /// 发送缓冲区满了）。写出去一点，就不算了。
    stuck: AtomicBool,
    /// 最后对客户端说的一行：断开它的原因，或者“服务器正在关闭”。第一个原因算数。
    line: OnceLock<String>,
    /// 它因为跟不上被断开的时刻。
    slow_since: OnceLock<Instant>,
}
// ANCHOR_END: room

impl Room {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// 打印之前先拿这把锁（在拿 `state` 之前，顺序总是这样，不会死锁）。
    fn log(&self) -> MutexGuard<'_, ()> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ANCHOR: join
    /// 一个刚接受的连接：登记它，打印一行，让它加入聊天室：先欢迎它，再告诉其他人。
    /// 服务器正在关闭时不让它加入：读完它已经发来的字节，对它说最后一句话，就关闭。
    /// 已经有 `max_clients` 个连接时返回 None。拿着打印用的锁做完这些：收到信号时说的
    /// “正在关闭 N 个连接”和打印出来的行对得上，你看到 `Client Address` 时它已经在聊天室里了。
    fn join(
        &self,
        stream: &Arc<TcpStream>,
        addr: SocketAddr,
        max_clients: usize,
    ) -> Result<Option<Joined>, StdoutClosed> {
        let _log = self.log();
        let mut state = self.lock();
        if state.conns.len() >= max_clients {
            return Ok(None);
        }
        let id = state.next_id;
        state.next_id += 1;
        // 发件箱：一个有界的通道，最多排 --queue 的 HARD_FACTOR 倍行（见 deliver）。
        let (outbox, inbox) = mpsc::sync_channel::<Line>(self.queue * HARD_FACTOR);
        let bye = Arc::new(Bye::default());
        let mut conn = Conn {
            addr,
            stream: Arc::clone(stream),
            outbox: None,
            joined: false,
            reading: false,
            bye: Arc::clone(&bye),
        };
        if state.stopping.is_some() {
            let _ = bye.line.set(STOPPING_LINE.to_string());
            // outbox 在这里被丢弃：写线程说完最后一句话就结束
        } else {
            let online = 1 + state.conns.values().filter(|c| c.outbox.is_some()).count();
            let welcome = format!("*** 欢迎来到聊天室！你是 {addr}，现在共有 {online} 人在线\n");
            let _ = outbox.try_send(welcome.into_bytes().into()); // 新的发件箱是空的，放得下
            bye.queued.fetch_add(1, Ordering::SeqCst);
            conn.outbox = Some(outbox);
            conn.joined = true;
            conn.reading = true;
            let joined = format!("*** {addr} 加入了聊天室\n");
            deliver(&mut state, id, &joined.into_bytes().into(), self.queue);
        }
        state.conns.insert(id, conn);
        drop(state); // 打印时不拿着聊天室的锁
        say!("Client Address: {addr}")?;
        Ok(Some(Joined { id, bye, inbox }))
    }
    // ANCHOR_END: join

    // ANCHOR: relay
    /// 连接 `id`（地址 `addr`）发来了完整的一行 `text`：加上它的地址，转发给其他人。
    fn relay(&self, id: u64, addr: SocketAddr, text: &[u8]) {
        let mut line = format!("{addr}: ").into_bytes();
        line.extend_from_slice(text); // 原样转发，不管是不是 UTF-8
        let line: Line = line.into();
        let mut state = self.lock();
        // 它已经不在聊天室里了（被断开了）：它说的话不再转发。
        if state.conns.get(&id).is_some_and(|c| c.outbox.is_some()) {
            deliver(&mut state, id, &line, self.queue);
        }
    }
    // ANCHOR_END: relay

    // ANCHOR: leave
    /// 连接 `id` 的读线程结束了。正常服务时：不再给它发东西，告诉其他人它离开了。
    /// 正在关闭时：等所有的读线程都结束（在途的行都已转发），再一起关闭所有的发件箱。
    fn leave(&self, id: u64) {
        let mut state = self.lock();
        let stopping = state.stopping.is_some();
        let Some(conn) = state.conns.get_mut(&id) else {
            return;
        };
        conn.reading = false;
        if !stopping {
            conn.outbox = None; // 写线程写完发件箱里剩下的行，就结束
            if conn.joined {
                let left = format!("*** {} 离开了聊天室\n", conn.addr);
                deliver(&mut state, id, &left.into_bytes().into(), self.queue);
            }
        } else if !state.conns.values().any(|c| c.reading) {
            close_outboxes(&mut state);
        }
    }
    // ANCHOR_END: leave

    // ANCHOR: stop
    /// 第一个停止信号：打印一行，记下时刻。读线程最多过 TICK 就会看到，读完已经到达的行就结束。
    /// 已经在停止了，返回 false。
    fn stop(&self, signal: &str) -> bool {
        let _log = self.log();
        let mut state = self.lock();
        if state.stopping.is_some() {
            return false;
        }
        state.stopping = Some(Instant::now());
        let open = state.conns.len();
        if !state.conns.values().any(|c| c.reading) {
            close_outboxes(&mut state);
        }
        drop(state);
        if say!("收到 {signal}：不再接受新连接，正在关闭 {open} 个连接").is_err()
        {
            std::process::exit(0); // 标准输出被关闭了：安静地结束
        }
        true
    }
    // ANCHOR_END: stop

    /// 连接 `id` 关闭了：打印一行，注销它。
    fn close(&self, id: u64, addr: SocketAddr) {
        let _log = self.log();
        if say!("连接关闭：{addr}").is_err() {
            std::process::exit(0); // 标准输出被关闭了：像 main 一样安静地结束（整个进程）
        }
        self.lock().conns.remove(&id);
        self.closed.notify_all();
    }

    fn stopping_since(&self) -> Option<Instant> {
        self.lock().stopping
    }

    fn stopping(&self) -> bool {
        self.stopping_since().is_some()
    }

    fn forced(&self) -> bool {
        self.lock().forced
    }

    /// 和一个连接告别（等它关闭）最晚等到什么时候：平时（它被断开了）是 FINAL_LINE_TIMEOUT 以后。
    /// 正在关闭时由宽限期管：到时候主线程说一行“宽限期到了”，强行关闭还开着的连接
    /// （`shutdown(Both)` 让这里的 read 马上返回）。这里只是兜底，比宽限期多留一个 LINGER：
    /// 要是正好在宽限期结束时自己返回，就和主线程抢着决定这个连接算不算被强行关闭的了。
    fn farewell_deadline(&self) -> Instant {
        match self.stopping_since() {
            Some(since) => since + self.grace + LINGER,
            None => Instant::now() + FINAL_LINE_TIMEOUT,
        }
    }

    // ANCHOR: grace
    /// 优雅关闭的最后一步：等所有连接都关闭，最多等到 `deadline`；到时候还没关的，强行关闭。
    fn wait_until_closed(&self, deadline: Instant) {
        let state = self.lock();
        let left = deadline.saturating_duration_since(Instant::now());
        let (mut state, _) = self
            .closed
            .wait_timeout_while(state, left, |s| !s.conns.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        if state.conns.is_empty() {
            return;
        }
        eprintln!("宽限期到了：强行关闭 {} 个连接", state.conns.len());
        state.forced = true;
        // 读、写这些连接的线程马上出错返回，各自打印“连接关闭”。最多再等一秒。
        for conn in state.conns.values() {
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        let _ = self
            .closed
            .wait_timeout_while(state, Duration::from_secs(1), |s| !s.conns.is_empty());
    }
    // ANCHOR_END: grace
}

// ANCHOR: deliver
/// 把一行放进除了 `from` 以外每个人的发件箱。谁跟不上了，就断开谁，马上告诉其他人它离开了。
/// 跟不上：写线程写不进去（客户端不读），发件箱里又排了 `queue` 行；或者发件箱排满了硬上限。
/// 这里从不等待（`try_send`）：一个读得慢的客户端，只会让它自己被断开，不会拖慢别人。
fn deliver(state: &mut State, from: u64, line: &Line, queue: usize) {
    let mut dropped = Vec::new(); // 这一次被断开的人
    for (&id, conn) in &mut state.conns {
        let Some(outbox) = conn.outbox.as_ref().filter(|_| id != from) else {
            continue;
        };
        let bye = &conn.bye;
        // 先加一再放：写线程取出它以后才会减一，计数不会小于 0。
        let behind = bye.queued.fetch_add(1, Ordering::SeqCst);
        let sent = if behind >= queue && bye.stuck.load(Ordering::SeqCst) {
            Err(TrySendError::Full(Arc::clone(line))) // 对方不读，又落后了 queue 行
        } else {
            outbox.try_send(Arc::clone(line)) // 满了：落后到了硬上限
        };
        if sent.is_err() {
            bye.queued.fetch_sub(1, Ordering::SeqCst);
        }
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let _ = conn.bye.line.set(format!(
                    "*** 你跟不上聊天室的速度（落后超过 {queue} 行），服务器断开了你的连接\n"
                ));
                let _ = conn.bye.slow_since.set(Instant::now());
                conn.outbox = None; // 不再给它发东西
                // 它的读线程最多过 TICK 就会看到 slow_since，结束；不等它，现在就告诉别人。
                if conn.joined {
                    conn.joined = false;
                    dropped.push((id, conn.addr));
                }
            }
            // 它的写线程已经结束了（发送出错）：不再给它发东西。
            Err(TrySendError::Disconnected(_)) => conn.outbox = None,
        }
    }
    // 每个人最多被断开一次（joined 已经是 false），所以这里的递归有尽头。
    for (id, addr) in dropped {
        let left = format!("*** {addr} 离开了聊天室\n");
        deliver(state, id, &left.into_bytes().into(), queue);
    }
}
// ANCHOR_END: deliver

/// 服务器正在关闭，所有的读线程都已结束：关闭每一个发件箱。写线程写完里面剩下的行，
/// 再写上“服务器正在关闭”，就半关闭连接。
fn close_outboxes(state: &mut State) {
    for conn in state.conns.values_mut() {
        let _ = conn.bye.line.set(STOPPING_LINE.to_string());
        conn.outbox = None;
    }
}

fn run() -> Result<()> {
    let Some(config) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let max_clients = raise_fd_limit(config.max_clients)?;
    let config = Config {
        max_clients,
        ..config
    };

    let listener = TcpListener::bind(config.addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {}（{hint}）", config.addr))
    })?;
    // 先装好信号处理，再打印地址：打印之后马上来的 Ctrl-C，也走优雅关闭的路。
    exit_on_second_signal()?;
    let signals = Signals::new([SIGINT, SIGTERM]).context("无法设置信号处理")?;
    say!("{}", listener.local_addr()?)?;

    let room = Arc::new(Room {
        state: Mutex::new(State {
            conns: HashMap::new(),
            next_id: 0,
            stopping: None,
            forced: false,
        }),
        log: Mutex::new(()),
        closed: Condvar::new(),
        queue: config.queue,
        grace: config.grace,
    });
    {
        let room = Arc::clone(&room);
        thread::Builder::new()
            .spawn(move || watch_signals(signals, &room))
            .context("无法创建信号线程")?;
    }

    // ANCHOR: accept
    // 给监听套接字设一个读超时（SO_RCVTIMEO）：在 Linux 上它也管 accept，accept 最多等 TICK
    // 就返回，主线程借此看一眼该不该停。std 的 accept 没有办法从别的线程打断。
    socket2::SockRef::from(&listener).set_read_timeout(Some(TICK))?;
    let stopped_at = loop {
        match listener.accept() {
            Ok((stream, addr)) => admit(&room, stream, addr, &config)?,
            Err(err) if is_timeout(&err) => {}
            // 连接在被接受之前就被对方放弃了：不是服务器的问题，等下一个。
            Err(err) if err.kind() == ErrorKind::ConnectionAborted => {}
            // 别的错误（比如打开的文件太多）多半过一会儿就好：说一行，歇一会儿再试。
            Err(err) => {
                eprintln!("接受连接失败：{err}（100 毫秒后再试）");
                thread::sleep(Duration::from_millis(100));
            }
        }
        if let Some(at) = room.stopping_since() {
            break at;
        }
    };
    // 积压队列里已经完成握手、还没被接受的连接：也接受下来，让它们和别人一样收到
    // “服务器正在关闭”，干净地关闭。直接关闭监听套接字的话，它们会被复位（RST）。
    listener.set_nonblocking(true)?;
    loop {
        match listener.accept() {
            Ok((stream, addr)) => admit(&room, stream, addr, &config)?,
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == ErrorKind::ConnectionAborted => {}
            Err(err) => {
                eprintln!("接受连接失败：{err}");
                break;
            }
        }
    }
    drop(listener); // 从此新的连接请求被内核拒绝
    room.wait_until_closed(stopped_at + config.grace);
    Ok(())
    // ANCHOR_END: accept
}

// ANCHOR: admit
/// 一个刚接受的连接：登记，打印一行，交给它自己的线程；聊天室满了，就拒绝它。
fn admit(room: &Arc<Room>, stream: TcpStream, addr: SocketAddr, config: &Config) -> Result<()> {
    // TCP_NODELAY：每一行写出去就马上发送，不让 Nagle 算法扣住等确认（聊天是一来一往的；
    // Python 的 asyncio 默认就这样设置）。接受的套接字继承了监听套接字的读超时（Linux 复制了
    // 套接字选项）：不要紧，读线程自己会设它要的读超时。
    if let Err(err) = stream.set_nodelay(true) {
        eprintln!("断开 {addr}：{err}");
        return Ok(());
    }
    let stream = Arc::new(stream);
    let Some(joined) = room.join(&stream, addr, config.max_clients)? else {
        refuse(&stream, addr, config.max_clients);
        return Ok(());
    };
    let id = joined.id;
    let spawned = thread::Builder::new().spawn({
        let (room, max_line) = (Arc::clone(room), config.max_line);
        let bucket = Bucket::new(config.rate, config.burst);
        move || serve(&room, joined, &stream, addr, max_line, bucket)
    });
    if let Err(err) = spawned {
        // 线程创建不了：只放弃这一个客户端（套接字随闭包一起被丢弃，连接关闭）。
        eprintln!("断开 {addr}：无法创建线程：{err}");
        room.leave(id);
        room.close(id, addr);
    }
    Ok(())
}
// ANCHOR_END: admit

/// 聊天室满了：告诉对方一声（写不进去就算了，不等），然后关闭连接。
fn refuse(stream: &TcpStream, addr: SocketAddr, max_clients: usize) {
    eprintln!("拒绝 {addr}：已经有 {max_clients} 个连接（--max-clients）");
    let _ = stream.set_nonblocking(true);
    let line = format!("*** 聊天室已满（{max_clients} 人），请稍后再来\n");
    let _ = (&*stream).write(line.as_bytes());
}

// ANCHOR: serve
/// 一个连接的线程：它就是这个客户端的读线程，另外再开一个写线程。
fn serve(
    room: &Room,
    joined: Joined,
    stream: &Arc<TcpStream>,
    addr: SocketAddr,
    max_line: usize,
    bucket: Bucket,
) {
    let id = joined.id;
    let result = chat(room, joined, stream, addr, max_line, bucket);
    // 这个客户端出了任何问题，都只断开它自己：在标准错误上说一行原因。
    if let Err(why) = result
        && !room.forced()
    {
        eprintln!("断开 {addr}：{why:#}");
    }
    room.close(id, addr);
}

fn chat(
    room: &Room,
    joined: Joined,
    stream: &Arc<TcpStream>,
    addr: SocketAddr,
    max_line: usize,
    bucket: Bucket,
) -> Result<()> {
    let Joined { id, bye, inbox } = joined;
    let writer = thread::Builder::new().spawn({
        let (stream, bye) = (Arc::clone(stream), Arc::clone(&bye));
        move || write_lines(&stream, &inbox, &bye)
    });
    // 写线程创建不了的话，也不读了，直接离开。
    let read = match &writer {
        Ok(_) => read_lines(room, id, stream, addr, &bye, max_line, bucket),
        Err(_) => Ok(()),
    };
    room.leave(id);
    // 写线程写完发件箱里剩下的行和最后一句话，半关闭连接，就结束了。
    let wrote = match writer {
        Ok(writer) => writer
            .join()
            .unwrap_or_else(|_| Err(anyhow!("写线程 panic 了"))),
        Err(err) => Err(anyhow::Error::new(err).context("无法创建写线程")),
    };
    linger(stream, room.farewell_deadline());
    read.and(wrote)
}

// ANCHOR: linger
/// 半关闭以后，等客户端关闭连接（read 返回 0），这期间它发来的数据只能丢掉。为什么不马上关闭？
/// 关闭时接收缓冲区里有没读的数据，或者关闭以后又来了数据，内核就发 RST（复位），还在发送缓冲区里、
/// 客户端还没读到的行和 FIN 都被扔掉。客户端安静了 LINGER 还没关闭，或者到了 `deadline`，就不再等。
fn linger(mut stream: &TcpStream, deadline: Instant) {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left.min(LINGER))).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(_) => return, // 超时了，或者连接出了错
        }
    }
}
// ANCHOR_END: linger
// ANCHOR_END: serve

// ANCHOR: read
/// 读线程：一行一行地读客户端发来的消息，转发给其他人，直到对方关闭连接。
fn read_lines(
    room: &Room,
    id: u64,
    stream: &TcpStream,
    addr: SocketAddr,
    bye: &Bye,
    max_line: usize,
    mut bucket: Bucket,
) -> Result<()> {
    // 读超时当作“滴答”：read 最多等 TICK 就回来，看一眼该不该停下。别的线程没有办法打断阻塞的
    // read；用 shutdown(Read) 叫醒它也不行，那样就再也等不到客户端的 FIN 了（见 linger）。
    stream.set_read_timeout(Some(TICK))?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut shut = false; // 服务器正在关闭：只再读已经到达的行
    let mut late = 0; // 服务器开始停止以后，又读到了几行
    loop {
        if bye.slow_since.get().is_some() {
            bail!("跟不上：落后超过 {} 行（--queue）", room.queue);
        }
        if !shut && room.stopping() {
            // 读超时改成 1 毫秒：接收缓冲区里有数据就马上读到，没有就很快返回。
            shut = true;
            stream.set_read_timeout(Some(Duration::from_millis(1)))?;
        }
        // take：这一次最多再读这么多字节。上一次超时以前读到的半行还在 line 里，也算在上限里；
        // 没有换行符的超长行，也撑不大内存。
        let limit = max_line.saturating_sub(line.len()) as u64;
        match reader.by_ref().take(limit).read_until(b'\n', &mut line) {
            Ok(_) => {}
            // 等了一个 TICK 还没有一整行：已经读到的字节留在 line 里，回去看一眼标志。
            Err(err) if is_timeout(&err) => {
                if shut {
                    return Ok(()); // 已经到达的行都读完了
                }
                continue;
            }
            Err(err) => return Err(err).context("接收数据失败"),
        }
        if line.ends_with(b"\n") {
            // ANCHOR: take
            // 限流：先拿一个令牌，再转发。桶空了，这个读线程就睡一会儿，这期间不读这个客户端：
            // 它再发来的数据留在服务器的接收缓冲区里，满了，它自己的 write 也就慢下来（背压）。
            bucket.take();
            room.relay(id, addr, &line);
            // ANCHOR_END: take
            line.clear();
            if shut {
                late += 1;
                if late == FINISH_LINES {
                    return Ok(());
                }
            }
            continue;
        }
        // 没有读到完整的一行：连接结束了（读到 0 字节），或者这一行太长了。
        if shut {
            return Ok(()); // 服务器正在关闭
        }
        if line.len() == max_line {
            let _ = bye.line.set(format!(
                "*** 一行超过了 {max_line} 字节的上限，服务器断开了你的连接\n"
            ));
            bail!("一行超过了 {max_line} 字节的上限（--max-line）");
        }
        if line.is_empty() {
            return Ok(()); // 对方关闭了连接，正好在两行之间
        }
        bail!(
            "对方在一行的中间关闭了连接（最后 {} 字节没有换行符，丢弃）",
            line.len()
        );
    }
}
// ANCHOR_END: read

// ANCHOR: write
/// 写线程：把发件箱里的行一行一行地写给客户端。发件箱关闭以后（不会再有新的行了），
/// 写上最后一句话（如果有），然后半关闭：客户端读到连接的结尾。
fn write_lines(stream: &TcpStream, inbox: &Receiver<Line>, bye: &Bye) -> Result<()> {
    // 写超时当作“滴答”：发送缓冲区满了，write 最多等 TICK 就回来，看看这个客户端是不是被断开了。
    stream.set_write_timeout(Some(TICK))?;
    for line in inbox {
        bye.queued.fetch_sub(1, Ordering::SeqCst);
        if bye.slow_since.get().is_some() {
            break; // 它跟不上了：发件箱里剩下的行不再发
        }
        send(stream, &line, bye)?;
    }
    if let Some(last) = bye.line.get() {
        send(stream, last.as_bytes(), bye)?;
    }
    let _ = stream.shutdown(Shutdown::Write); // 对方已经复位了连接的话，这里会出错：不要紧
    Ok(())
}

/// 把 `bytes` 全部写出去。客户端被判定为跟不上以后，最多再等 FINAL_LINE_TIMEOUT。
fn send(mut stream: &TcpStream, mut bytes: &[u8], bye: &Bye) -> Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(n) => {
                bye.stuck.store(false, Ordering::SeqCst);
                bytes = &bytes[n..];
            }
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            // 等了一个 TICK，一个字节也没写出去：客户端不读，发送缓冲区满了。
            Err(err) if is_timeout(&err) => {
                bye.stuck.store(true, Ordering::SeqCst);
                if let Some(since) = bye.slow_since.get()
                    && since.elapsed() >= FINAL_LINE_TIMEOUT
                {
                    bail!("{} 秒内没能写完最后几个字节", FINAL_LINE_TIMEOUT.as_secs());
                }
            }
            Err(err) => return Err(err).context("发送数据失败"),
        }
    }
    Ok(())
}
// ANCHOR_END: write

// ANCHOR: signals
/// 信号线程：第一个 SIGINT（Ctrl-C）或 SIGTERM 开始优雅关闭。第二个信号到不了这里：
/// `exit_on_second_signal` 装的处理函数已经让进程退出了（状态 130 或 143）。
fn watch_signals(mut signals: Signals, room: &Room) {
    for signal in signals.forever() {
        let name = if signal == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        room.stop(name);
    }
}
// ANCHOR_END: signals

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

/// 阻塞的套接字等到了超时：Linux 报告 WouldBlock（EAGAIN），Windows 报告 TimedOut。
fn is_timeout(err: &std::io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// 一个连接就是一个打开的文件（文件描述符）。把打开文件数的软上限提高到硬上限（`ulimit -Hn`），
/// 返回最多能同时连着多少个客户端：硬上限不够 --max-clients 用时，说一行，按硬上限来。
fn raise_fd_limit(max_clients: usize) -> Result<usize> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .context("读取打开文件数的上限失败")?;
    let wanted = max_clients as u64 + SPARE_FDS;
    if limit >= wanted {
        return Ok(max_clients);
    }
    let can = usize::try_from(limit.saturating_sub(SPARE_FDS)).unwrap_or(max_clients);
    if can == 0 {
        bail!("打开文件数的上限只有 {limit}，一个客户端也服务不了：先用 ulimit -n 调高它");
    }
    eprintln!(
        "注意：打开文件数的上限是 {limit}（ulimit -Hn），连着 {max_clients} 个客户端需要 {wanted}；\
         最多只能同时连着 {can} 个"
    );
    Ok(can)
}

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

/// 读取命令行：可选的地址，`--queue`、`--max-line`、`--max-clients`、`--grace`。
/// `-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Config>> {
    let mut addr = None;
    let mut queue = DEFAULT_QUEUE;
    let mut max_line = DEFAULT_MAX_LINE;
    let mut max_clients = DEFAULT_MAX_CLIENTS;
    let mut grace = DEFAULT_GRACE;
    let mut rate = DEFAULT_RATE;
    let mut burst = DEFAULT_BURST;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--queue" => queue = count(args.next(), "--queue", "行数", 65536)?,
            "--max-line" => max_line = count(args.next(), "--max-line", "字节数", 1 << 20)?,
            "--max-clients" => {
                max_clients = count(args.next(), "--max-clients", "个数", 100_000)?;
            }
            "--grace" => grace = seconds(args.next(), "--grace", 0.1, 3600.0)?,
            "--rate" => rate = count(args.next(), "--rate", "行数", 10_000)? as f64,
            "--burst" => burst = count(args.next(), "--burst", "行数", 100_000)? as f64,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    // 本例只接受 IP 地址，不接受主机名，这样你确切知道它绑定了哪个地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名）"
        )
    })?;
    Ok(Some(Config {
        addr,
        queue,
        max_line,
        max_clients,
        grace,
        rate,
        burst,
    }))
}

/// 选项 `flag` 后面的数：1 到 `max` 之间的整数。
fn count(value: Option<String>, flag: &str, what: &str, max: usize) -> Result<usize> {
    let value = value.with_context(|| format!("{flag} 后面要写一个{what}"))?;
    value
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .with_context(|| format!("{flag} 要写 1 到 {max} 之间的整数，而不是 `{value}`"))
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
