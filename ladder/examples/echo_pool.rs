//! 线程池回显服务器：启动时创建固定数目的工作线程；主线程 `accept` 到的连接放进一个有界的通道，
//! 空闲的工作线程从通道里取出一个连接，服务它直到对方关闭，再去取下一个。
//!
//! 运行：`cargo run --example echo_pool`（默认绑定 127.0.0.1:3214，4 个工作线程，队列长 16），
//! 或 `cargo run --example echo_pool -- --workers 8 --queue 32`。按 Ctrl-C 结束服务器。
//!
//! 线程数固定为工作线程数加 1（主线程），来多少客户端都不变。代价是：工作线程都被占住以后，
//! 新来的客户端只能排队等。排队的地方也有上限：通道里最多 `--queue` 个连接；通道满了，
//! 主线程就停在 `send` 上不再 accept，新连接排进内核的积压队列；积压队列也满了，
//! 客户端的连接请求（SYN）被丢掉，它的 connect 一直等到超时。
//! 每个连接被工作线程接手、关闭时各打印一行；收到的字节原样发回，不打印。
//!
//! Ctrl-C（SIGINT）或 SIGTERM 让它优雅地停止：不再接受新连接，已经收到的数据照样回显，
//! 每个连接正常关闭（客户端读到 EOF），然后以状态 0 退出；最多等 `--grace` 秒。

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 默认的工作线程数，可以用 --workers 修改。
const DEFAULT_WORKERS: usize = 4;
/// 通道里最多排几个等待服务的连接，可以用 --queue 修改。
const DEFAULT_QUEUE: usize = 16;
/// --workers 和 --queue 的上限：线程和队列都要有界，参数也一样。
const MAX_WORKERS: usize = 1024;
const MAX_QUEUE: usize = 65536;
/// 停止时发出 FIN 以后，等对方关闭连接：对方安静了这么久还没关闭，就不再等（nginx 的
/// lingering_timeout 是同一个意思）。
const LINGER: Duration = Duration::from_secs(1);
/// 收到停止信号以后，最多再等几秒让连接收尾，可以用 --grace 修改。
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// accept 和每个连接的 read 最多阻塞这么久，就回来看一眼：是不是该停止了。
const TICK: Duration = Duration::from_millis(200);

const USAGE: &str = "用法：echo_pool [地址] [--workers 线程数] [--queue 连接数] [--grace 秒] [--hold-lock]
线程池 TCP 回显服务器：固定数目的工作线程轮流服务客户端。
按 Ctrl-C（或发 SIGTERM）优雅地停止：不再接受新连接，已经收到的数据照样回显，连接都正常关闭；
再按一次 Ctrl-C 立即退出。
  地址                要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                      IPv6 写成 [::1]:3214
  --workers 线程数    工作线程的数目，1 到 1024，默认 4：最多同时服务这么多个客户端
  --queue 连接数      已经接受、等工作线程来取的连接最多排几个，1 到 65536，默认 16；
                      排满以后，服务器暂停接受连接，新连接留在内核的积压队列里
  --grace 秒          收到停止信号以后，最多等几秒让连接收尾（0.1 到 3600，默认 5）；
                      到时还没关闭的连接被强行关闭
  --hold-lock         演示一个常见的错误：工作线程服务客户端的整个过程中一直拿着通道的锁
                      （Rust Book 第 21 章示例 21-21 的 while let 写法），于是一次只能服务一个客户端";

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

/// 通道里传的“活儿”：一个已经接受的连接，和对方的地址。
type Job = (TcpStream, SocketAddr);

/// 命令行给出的设置。
struct Config {
    addr: SocketAddr,
    workers: usize,
    queue: usize,
    grace: Duration,
    hold_lock: bool,
}

fn run() -> Result<()> {
    let Some(config) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    let listener = TcpListener::bind(config.addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {}（{hint}）", config.addr))
    })?;

    // ANCHOR: signals
    // 停止服务要用的共享状态，和一个专门等 SIGINT、SIGTERM 的线程。
    let stop = Arc::new(Stop::default());
    watch_signals(Arc::clone(&stop), config.grace)?;
    // ANCHOR_END: signals

    // ANCHOR: pool
    // 一个有界的通道：最多排 config.queue 个连接，排满以后 send 会阻塞。
    // Python: jobs = queue.Queue(maxsize=args.queue)
    let (sender, receiver) = mpsc::sync_channel::<Job>(config.queue);
    // 标准库的 Receiver 只能有一个主人；几个工作线程要共用它，就把它放进 Mutex（一次只让一个
    // 线程用），再放进 Arc（让几个线程共同拥有它）。
    let receiver = Arc::new(Mutex::new(receiver));
    let mut workers = Vec::new();
    for _ in 0..config.workers {
        let receiver = Arc::clone(&receiver);
        let stop = Arc::clone(&stop);
        let hold_lock = config.hold_lock;
        let handle = thread::Builder::new()
            .spawn(move || {
                if hold_lock {
                    worker_holding_the_lock(&receiver, &stop)
                } else {
                    worker(&receiver, &stop)
                }
            })
            .context("无法创建工作线程")?;
        workers.push(handle);
    }
    // ANCHOR_END: pool
    // ANCHOR: accept
    say!("{}", listener.local_addr()?)?;

    // 别的线程没有办法打断一个阻塞在 accept 上的线程。让 accept 最多等 TICK 就返回
    // （套接字选项 SO_RCVTIMEO；Linux 上它对 accept 也有效，见 socket(7)），循环好看一眼停止标志。
    socket2::SockRef::from(&listener)
        .set_read_timeout(Some(TICK))
        .context("无法设置 accept 的超时")?;

    // 主线程只管 accept，把连接交给通道；通道满了，send 就等到有工作线程取走一个。
    while !stop.requested() {
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            // 等了 TICK 还没有新连接（EAGAIN），或者等的时候来了一个信号（EINTR）：回去看标志。
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                continue;
            }
            Err(err) => {
                accept_failed(err);
                continue;
            }
        };
        // Python: jobs.put((clnt, addr))
        stop.opened();
        sender
            .send((clnt, addr))
            .map_err(|_| anyhow!("所有工作线程都已退出"))?;
    }
    // ANCHOR_END: accept

    // ANCHOR: drain
    // 停止了。积压队列里还有已经完成握手、没被 accept 的连接：直接关闭监听套接字，内核会给它们
    // 每个发一个 RST。把它们也接受下来（非阻塞地，直到队列空了），交给工作线程，和别的连接一样收尾。
    listener
        .set_nonblocking(true)
        .context("无法把监听套接字设成非阻塞")?;
    // 接受失败（队列空了是 WouldBlock；文件描述符用完了是 EMFILE）就不再接受：剩下的连接只好被复位。
    while let Ok((clnt, addr)) = listener.accept() {
        // Linux 上接受的连接不继承非阻塞；有的系统（BSD、macOS）继承，设回来才放心。
        clnt.set_nonblocking(false).context("无法把连接设回阻塞")?;
        stop.opened();
        sender
            .send((clnt, addr))
            .map_err(|_| anyhow!("所有工作线程都已退出"))?;
    }
    drop(listener); // 关闭监听套接字：这以后来的连接请求，内核直接拒绝（RST）
    // 丢掉通道的发送端：工作线程取完通道里剩下的连接，recv 就返回错误，它们就结束了。
    drop(sender);
    for worker in workers {
        let _ = worker.join();
    }
    Ok(()) // main 正常返回：进程以状态 0 退出
    // ANCHOR_END: drain
}

// ANCHOR: stop
/// 停止服务要用的共享状态。
#[derive(Default)]
struct Stop {
    /// 收到的停止信号（SIGINT 或 SIGTERM 的编号），0 表示还没有。
    /// accept 循环和每个工作线程的读循环，每次回来都看一眼。
    signal: AtomicI32,
    /// 收尾的期限：收到停止信号的时刻加上宽限期。
    deadline: OnceLock<Instant>,
    /// 接受了、还没关闭的连接有几个（正在服务的，加上在通道里排队的）。
    open: AtomicUsize,
}

impl Stop {
    fn requested(&self) -> bool {
        self.signal() != 0
    }

    fn signal(&self) -> i32 {
        self.signal.load(Ordering::SeqCst)
    }

    /// 离收尾的期限还有多久（至少 1 毫秒：读写超时不能设成 0）。
    fn left(&self) -> Duration {
        let deadline = self.deadline.get().copied().unwrap_or_else(Instant::now);
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }

    /// 接受了一个连接。
    fn opened(&self) {
        self.open.fetch_add(1, Ordering::SeqCst);
    }

    /// 一个连接关闭了。
    fn closed(&self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }

    /// 收到第一个停止信号：记下期限。
    fn set_deadline(&self, grace: Duration) {
        let _ = self.deadline.set(Instant::now() + grace);
    }

    /// 立起标志。工作线程和 accept 循环最多过 TICK 就会看到它。
    fn begin(&self, signal: i32) {
        self.signal.store(signal, Ordering::SeqCst);
    }
}
// ANCHOR_END: stop

// ANCHOR: watch
/// 开一个线程等 SIGINT（Ctrl-C）和 SIGTERM。signal-hook 装上的信号处理函数只做一件
/// “异步信号安全”的小事：往一个管道里写一个字节；这个线程从管道另一头读到它，
/// 才在普通的代码里做停止要做的事。
fn watch_signals(stop: Arc<Stop>, grace: Duration) -> Result<()> {
    exit_on_second_signal()?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("无法安装信号处理函数")?;
    thread::Builder::new()
        .spawn(move || {
            let Some(first) = signals.forever().next() else {
                return;
            };
            stop.set_deadline(grace);
            // 宽限期：另一个线程计时。先开始计时，再打印：标准输出要是卡住了（比如接在暂停了的
            // `less` 后面），计时照样进行。
            let timer = Arc::clone(&stop);
            thread::spawn(move || {
                thread::sleep(grace);
                // 卡住的工作线程（比如阻塞在一个不读的客户端的 write_all 上）叫不醒：不一个个去关，
                // 直接结束进程，内核关闭所有的套接字。
                let left = timer.open.load(Ordering::SeqCst);
                eprintln!("宽限期到了：强行关闭 {left} 个连接");
                signal_hook::low_level::exit(0);
            });
            let open = stop.open.load(Ordering::SeqCst);
            if say!(
                "收到 {}：不再接受新连接，正在关闭 {open} 个连接",
                signal_name(first)
            )
            .is_err()
            {
                std::process::exit(0); // 标准输出被关闭了：安静地结束
            }
            // 说完那一行再立标志：不然主线程可能抢先收完尾、结束进程，那一行就没说出来。
            stop.begin(first);
        })
        .context("无法创建等信号的线程")?;
    Ok(())
}
// ANCHOR_END: watch

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

/// 信号的名字，用于输出。
fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "信号",
    }
}

// ANCHOR: worker
/// 一个工作线程：从通道里取一个连接，服务它，再取下一个。
fn worker(receiver: &Mutex<Receiver<Job>>, stop: &Stop) {
    loop {
        // 只在取活儿的这一小段里拿着锁。guard 是这个块里的局部变量，块结束时被丢掉，锁随之释放；
        // 下面服务客户端的时候，别的工作线程可以去取下一个连接。
        let job = {
            let guard = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            guard.recv()
        };
        let Ok((clnt, addr)) = job else {
            return; // 发送端没了：不会再有活儿了
        };
        handle(clnt, addr, stop);
    }
}
// ANCHOR_END: worker

// ANCHOR: holding
/// 错误的写法，只为演示（--hold-lock）：Rust Book 第 21 章示例 21-21。
fn worker_holding_the_lock(receiver: &Mutex<Receiver<Job>>, stop: &Stop) {
    // `receiver.lock()` 返回的 MutexGuard 是一个临时值。while let 的条件里的临时值
    // 要活到整个 while let 语句结束，也就是循环体执行完：服务客户端的整个过程中，锁一直被拿着，
    // 别的工作线程都卡在 lock() 上，通道里排着的连接没有人取。
    while let Ok((clnt, addr)) = receiver
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .recv()
    {
        handle(clnt, addr, stop);
    }
}
// ANCHOR_END: holding

// ANCHOR: handle
/// 服务一个客户端，接手和结束时各打印一行。
fn handle(clnt: TcpStream, addr: SocketAddr, stop: &Stop) {
    if say!("Client Address: {addr}").is_err() {
        std::process::exit(0); // 标准输出被关闭了：像 main 一样安静地结束（整个进程）
    }
    let result = serve(clnt, stop);
    stop.closed(); // 最后一个文件描述符关闭：连接到这里才真正关闭
    // 这个客户端出了问题（比如被复位），只断开它自己；工作线程接着去取下一个。
    if let Err(why) = result {
        eprintln!("断开 {addr}：{why:#}");
    }
    if say!("连接关闭：{addr}").is_err() {
        std::process::exit(0);
    }
}
// ANCHOR_END: handle

// ANCHOR: serve
/// 服务一个客户端：收到什么字节，就原样发回什么字节，直到对方关闭连接，或者服务器停止。
fn serve(mut clnt: TcpStream, stop: &Stop) -> Result<()> {
    // 别的线程没法打断阻塞的 read：让它最多等 TICK 就返回，好看一眼停止标志。
    clnt.set_read_timeout(Some(TICK))
        .context("无法设置读超时")?;
    let mut buf = [0u8; 1024];
    loop {
        if stop.requested() {
            return finish(clnt, &mut buf, stop);
        }
        let n = match clnt.read(&mut buf) {
            Ok(0) => return Ok(()), // 读到 0 字节：对方关闭了连接
            Ok(n) => n,
            // 等了 TICK 还没有数据（EAGAIN），或者被信号打断了：回去看标志。
            Err(err) if is_timeout(&err) => continue,
            Err(err) => return Err(err).context("接收数据失败"),
        };
        clnt.write_all(&buf[..n]).context("发送数据失败")?;
    }
}
// ANCHOR_END: serve

// ANCHOR: finish
/// 停止时收尾：已经到达的数据照样回显；发出 FIN；等对方也关闭。每一步都不超过宽限期。
fn finish(mut clnt: TcpStream, buf: &mut [u8], stop: &Stop) -> Result<()> {
    clnt.set_write_timeout(Some(stop.left()))?;
    // 1. 已经到达的数据：读超时设成 1 毫秒，接收缓冲区里有数据就马上读到，没有就很快返回。
    //    最多读 64 次（64 KiB），不陪一个一直在发送的客户端读下去。
    clnt.set_read_timeout(Some(Duration::from_millis(1)))?;
    for _ in 0..64 {
        match clnt.read(buf) {
            Ok(0) => return Ok(()), // 对方已经关闭了：丢掉 clnt 就是我们的 FIN
            Ok(n) => clnt.write_all(&buf[..n]).context("发送数据失败")?,
            Err(err) if is_timeout(&err) => break, // 已经到达的都读完了
            Err(err) => return Err(err).context("接收数据失败"),
        }
    }
    // 2. 关闭发送方向：FIN 排在所有回显后面发出去，客户端读完回显，读到 EOF。
    clnt.shutdown(Shutdown::Write).context("关闭发送方向失败")?;
    // 3. 等对方关闭（read 返回 0），这期间收到的数据只能丢掉。为什么不马上关闭？关闭时接收缓冲区里
    //    有没读的数据，或者关闭以后又来了数据，内核就发 RST，还没发出去的回显和 FIN 都被扔掉。
    //    对方安静了 LINGER 还没关闭（比如它在等人输入），或者宽限期到了，就不再等。
    loop {
        clnt.set_read_timeout(Some(stop.left().min(LINGER)))?;
        match clnt.read(buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) if is_timeout(&err) => return Ok(()),
            Err(err) => return Err(err).context("接收数据失败"),
        }
    }
}
// ANCHOR_END: finish

/// 读超时了（Linux 上是 EAGAIN，也就是 WouldBlock），或者被信号打断了（EINTR）。
fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// `accept` 失败时怎么办。
fn accept_failed(err: std::io::Error) {
    // 连接还没被 accept 就被对方放弃（复位）了：不是服务器的问题，接着等下一个。
    if err.kind() == ErrorKind::ConnectionAborted {
        return;
    }
    // 别的错误（比如 Too many open files：文件描述符用完了）多半过一会儿就好：说一行，歇一会儿再试。
    // 马上重试只会让循环空转，占满一个 CPU。
    eprintln!("接受连接失败：{err}（100 毫秒后再试）");
    thread::sleep(Duration::from_millis(100));
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

/// 读取命令行：可选的地址，`--workers 线程数`，`--queue 连接数`，`--hold-lock`。
/// `-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Config>> {
    let mut addr = None;
    let mut workers = DEFAULT_WORKERS;
    let mut queue = DEFAULT_QUEUE;
    let mut grace = DEFAULT_GRACE;
    let mut hold_lock = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--workers" => workers = count(args.next(), "--workers", "线程数", MAX_WORKERS)?,
            "--queue" => queue = count(args.next(), "--queue", "连接数", MAX_QUEUE)?,
            "--grace" => grace = seconds(args.next(), "--grace", 0.1, 3600.0)?,
            "--hold-lock" => hold_lock = true,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    // std 的 TcpListener::bind 其实也接受 `localhost:3214` 这样的主机名；本例特意只接受 IP 地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名）"
        )
    })?;
    Ok(Some(Config {
        addr,
        workers,
        queue,
        grace,
        hold_lock,
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
