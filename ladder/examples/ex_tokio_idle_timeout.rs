//! 练习答案（tokio 的任务，练习 1）：`echo_tokio` 加上 `--idle-timeout 秒数`。
//!
//! 运行：`cargo run --example ex_tokio_idle_timeout -- --idle-timeout 1`（默认绑定 127.0.0.1:3214）。
//!
//! 和 `echo_tokio.rs` 相比：`serve` 的每次读、写都套上 `tokio::time::timeout`；秒数从命令行
//! 经过 `Gate` 和 `spawn_client` 传给 `serve`（搜 `idle`）。下面是 `echo_tokio` 原来的说明。
//!
//! 每个客户端一个 tokio 任务的回显服务器：服务多个客户端的第五级台阶。
//!
//! `accept` 循环每接受一个连接，就用 `tokio::spawn` 为它开一个任务。任务不是线程：
//! 它是一个状态机，由 tokio 的几个工作线程轮流推进（poll），一万个任务也只用这几个线程。
//! 同时服务的客户端最多 `--max-clients` 个（默认 10000）；满了以后新来的连接被拒绝：
//! 接受后立刻关闭，在标准错误上说一行。
//!
//! Ctrl-C（SIGINT）或 SIGTERM 让它优雅地停止：不再接受新连接，已经收到的数据照样回显，
//! 每个连接正常关闭（客户端读到 EOF），然后以状态 0 退出；最多等 `--grace` 秒。

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use signal_hook::consts::{SIGINT, SIGTERM};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 默认最多同时服务多少个客户端，可以用 --max-clients 修改。
const DEFAULT_MAX_CLIENTS: usize = 10_000;
/// 除了客户端的连接，进程自己还要用的文件描述符：标准输入输出、监听套接字、tokio 的 epoll
/// 和唤醒用的描述符，以及拒绝连接时先接受、再关闭的那一个，留足余量。
const SPARE_FDS: u64 = 16;
/// 停止时发出 FIN 以后，等对方关闭连接：对方安静了这么久还没关闭，就不再等（nginx 的
/// lingering_timeout 是同一个意思）。
const LINGER: Duration = Duration::from_secs(1);
/// 收到停止信号以后，最多再等几秒让连接收尾，可以用 --grace 修改。
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// 没有给出 --idle-timeout 时，客户端多少秒不发数据就断开它。
const DEFAULT_IDLE: Duration = Duration::from_secs(60);

const USAGE: &str = "用法：ex_tokio_idle_timeout [地址] [--max-clients 个数] [--grace 秒] [--idle-timeout 秒]
回显服务器，每个客户端一个 tokio 任务：客户端发来什么字节，就原样发回什么字节。
每个连接打开、关闭时各打印一行。按 Ctrl-C（或发 SIGTERM）优雅地停止：不再接受新连接，
已经收到的数据照样回显，连接都正常关闭；再按一次 Ctrl-C 立即退出。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                        IPv6 写成 [::1]:3214
  --max-clients 个数    最多同时服务多少个客户端，默认 10000；满了以后，新来的连接被接受后立刻关闭，
                        标准错误上说一行。启动时把打开文件数的软上限提到硬上限；
                        硬上限不够时，在标准错误上说一句，并相应地减少这个个数
  --grace 秒            收到停止信号以后，最多等几秒让连接收尾（0.1 到 3600，默认 5）；
                        到时还没关闭的连接被强行关闭
  --idle-timeout 秒     客户端这么久不发数据，就断开它；发送回显也最多等这么久（0.001 到 86400，默认 60）
环境变量 TOKIO_WORKER_THREADS 设定工作线程的个数，默认是 CPU 的核数。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

// ANCHOR: main
#[tokio::main]
async fn main() {
    match run().await {
        Ok(()) => {}
        // 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}
// ANCHOR_END: main

// ANCHOR: run
async fn run() -> Result<()> {
    let Some((addr, max_clients, grace, idle)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let max_clients = raise_fd_limit(max_clients)?;

    // Python: server = await asyncio.start_server(handle, HOST, PORT)
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    // ANCHOR: stop-tools
    // 先装好信号处理，再说出地址：从这里开始，任何时候来的 SIGINT、SIGTERM 都不会漏掉。
    exit_on_second_signal()?;
    let mut signals = StopSignals::new()?;
    say!("{}", listener.local_addr()?)?;
    // 停止的“开关”：每个任务拿一个克隆；cancel() 一次，所有克隆都知道。
    let stop = CancellationToken::new();
    // 记下开出去的每个任务，停止时等它们都结束。
    let tasks = TaskTracker::new();
    // ANCHOR_END: stop-tools
    // 同时服务的客户端的名额：每个连接拿一个，连接关闭时还回来。
    let slots = Arc::new(Semaphore::new(max_clients));
    let gate = Gate {
        slots: &slots,
        max_clients,
        tasks: &tasks,
        stop: &stop,
        idle,
    };
    // ANCHOR: accept-loop
    let signal = loop {
        // 两件事一起等：一个新连接，或者一个停止信号，哪个先来就处理哪个。
        // `.await`：两样都没有时，这个任务让出线程，线程去推进别的任务。
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // 连接在被接受之前就被对方放弃了：不是服务器的问题，等下一个。
                Err(err) if err.kind() == ErrorKind::ConnectionAborted => continue,
                // 其他错误（比如打开的文件太多，EMFILE）：说一行，歇一会儿再接受，免得循环空转。
                Err(err) => {
                    eprintln!("接受连接失败：{err}（100 毫秒后再试）");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            signal = signals.recv() => break signal,
        };
        gate.admit(stream, addr)?;
    };
    // ANCHOR_END: accept-loop
    // ANCHOR: stopping
    // 现在开着的连接有几个（任务一收尾就会还回名额，所以先数好）。
    let mut open = max_clients - slots.available_permits();
    start_watchdog(grace);
    // 积压队列里还有已经完成握手、没被 accept 的连接：直接关闭监听套接字，内核会给它们每个发一个
    // RST。把它们也接受下来（换成标准库的监听套接字，它还是非阻塞的：队列空了就返回 WouldBlock），
    // 和别的连接一样收尾。
    let listener = listener.into_std().context("无法取回监听套接字")?;
    while let Ok((stream, addr)) = listener.accept() {
        stream
            .set_nonblocking(true)
            .context("无法把连接设成非阻塞")?;
        gate.admit(TcpStream::from_std(stream)?, addr)?;
        open += 1;
    }
    drop(listener); // 关闭监听套接字：这以后来的连接请求，内核直接拒绝
    say!("收到 {}：不再接受新连接，正在关闭 {open} 个连接", signal)?;
    // 说完那一行再叫停：不然有的任务收尾得快，它的“连接关闭”会抢在这一行前面。
    stop.cancel(); // 每个任务里的 stop.cancelled() 都会完成
    tasks.close(); // 不会再有新任务了：tasks.wait() 等到现有的任务都结束就返回
    tokio::select! {
        () = tasks.wait() => {}
        () = tokio::time::sleep(grace) => {
            let left = max_clients - slots.available_permits();
            eprintln!("宽限期到了：强行关闭 {left} 个连接");
            // run 返回以后，main 返回，tokio 的运行时丢掉还没结束的任务，它们的连接随之关闭。
        }
    }
    Ok(()) // 进程以状态 0 退出
    // ANCHOR_END: stopping
}
// ANCHOR_END: run

/// 放进一个连接要用到的东西：名额、任务的记录、停止的开关。
struct Gate<'a> {
    slots: &'a Arc<Semaphore>,
    max_clients: usize,
    tasks: &'a TaskTracker,
    stop: &'a CancellationToken,
    idle: Duration,
}

impl Gate<'_> {
    /// 一个新连接：有名额就为它开一个任务，没有就拒绝它。
    fn admit(&self, stream: TcpStream, addr: SocketAddr) -> Result<()> {
        // ANCHOR: refuse
        // 名额用完了：不让它排队干等，接受了就立刻关闭，对方马上知道被拒绝了。
        let Ok(slot) = Arc::clone(self.slots).try_acquire_owned() else {
            eprintln!(
                "拒绝 {addr}：已经有 {} 个连接（--max-clients）",
                self.max_clients
            );
            return Ok(()); // stream 在这里被丢弃，连接随之关闭
        };
        // ANCHOR_END: refuse
        say!("Client Address: {addr}")?;
        spawn_client(self.tasks, stream, addr, slot, self.stop.clone(), self.idle);
        Ok(())
    }
}

// ANCHOR: spawn
/// 为一个客户端开一个任务；调用它的 accept 循环不等这个任务，马上回去接受下一个连接。
fn spawn_client(
    tasks: &TaskTracker,
    stream: TcpStream,
    addr: SocketAddr,
    slot: OwnedSemaphorePermit,
    stop: CancellationToken,
    idle: Duration,
) {
    // tasks.spawn 就是 tokio::spawn，只是顺便记下这个任务，停止时好等它。
    tasks.spawn(async move {
        let result = serve(stream, stop, idle).await; // serve 返回时，连接已经关闭
        drop(slot); // 还回名额
        // 这个客户端出了任何问题，都只断开它自己：在标准错误上说一行原因。
        if let Err(why) = result {
            eprintln!("断开 {addr}：{why:#}");
        }
        if say!("连接关闭：{addr}").is_err() {
            // 标准输出被关闭了：没有人在读了，安静地结束整个程序。
            std::process::exit(0);
        }
    });
}
// ANCHOR_END: spawn

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

// ANCHOR: signals
/// SIGINT（Ctrl-C）和 SIGTERM，合在一起等。
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// 现在就装上信号处理函数：这以后来的信号，tokio 都替我们记着，等 recv 来取。
    fn new() -> Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("无法安装 SIGINT 的处理函数")?,
            terminate: signal(SignalKind::terminate()).context("无法安装 SIGTERM 的处理函数")?,
        })
    }

    /// 等到两个信号中的一个，返回它的名字。
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
// ANCHOR_END: signals

// ANCHOR: serve
/// 服务一个客户端：收到什么就发回什么，直到对方关闭连接，或者服务器停止。
async fn serve(mut stream: TcpStream, stop: CancellationToken, idle: Duration) -> Result<()> {
    let mut buf = [0u8; 1024];
    let secs = idle.as_secs_f64();
    loop {
        // Python: data = await asyncio.wait_for(reader.read(1024), idle)
        // timeout(期限, future) 也是一个 future：里面的 read 先完成，得到 Ok(读的结果)；
        // 期限先到，得到 Err(Elapsed)，里面的 read 被丢掉（取消）。
        let n = tokio::select! {
            read = timeout(idle, stream.read(&mut buf)) => match read {
                Ok(n) => n.context("接收数据失败")?,
                Err(_) => bail!("闲置超时：{secs} 秒没有收到数据（--idle-timeout）"),
            },
            () = stop.cancelled() => return finish(stream, &mut buf).await,
        };
        if n == 0 {
            return Ok(()); // 读到 0 个字节：对方关闭了连接
        }
        // 写也一样：对方一直不读回显，最多等这么久。
        match timeout(idle, stream.write_all(&buf[..n])).await {
            Ok(written) => written.context("发送数据失败")?,
            Err(_) => bail!("闲置超时：{secs} 秒发不出回显，对方不读（--idle-timeout）"),
        }
    }
}
// ANCHOR_END: serve

// ANCHOR: finish
/// 停止时收尾：已经到达的数据照样回显；发出 FIN；等对方也关闭。
async fn finish(mut stream: TcpStream, buf: &mut [u8]) -> Result<()> {
    // 1. 已经到达的数据。select! 丢下的那个 read 没有读走任何数据（tokio 的文档说它“取消安全”），
    //    数据还在内核里。tokio 的套接字本来就是非阻塞的：绕过 tokio，直接对它调用 read 系统调用，
    //    有数据就读到，没有就返回 WouldBlock，不等。（tokio 自己的 try_read 只相信它记下的“就绪”
    //    状态，刚到的数据它可能还不知道。）最多读 64 次，不陪一个一直在发送的客户端读下去。
    for _ in 0..64 {
        let read = (&*socket2::SockRef::from(&stream)).read(buf);
        match read {
            Ok(0) => return Ok(()), // 对方已经关闭了：丢掉 stream 就是我们的 FIN
            Ok(n) => stream.write_all(&buf[..n]).await.context("发送数据失败")?,
            Err(err) if err.kind() == ErrorKind::WouldBlock => break, // 已经到达的都读完了
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err).context("接收数据失败"),
        }
    }
    // 2. 关闭发送方向：FIN 排在所有回显后面发出去，客户端读完回显，读到 EOF。
    stream.shutdown().await.context("关闭发送方向失败")?;
    // 3. 等对方关闭（read 返回 0），这期间收到的数据只能丢掉。为什么不马上关闭？关闭时接收缓冲区里
    //    有没读的数据，或者关闭以后又来了数据，内核就发 RST，还没发出去的回显和 FIN 都被扔掉。
    //    对方安静了 LINGER 还没关闭（比如它在等人输入），就不再等；宽限期由 run 管。
    while let Ok(read) = tokio::time::timeout(LINGER, stream.read(buf)).await {
        if read.context("接收数据失败")? == 0 {
            break;
        }
    }
    Ok(())
}
// ANCHOR_END: finish

// ANCHOR: rlimit
/// 一个连接就是一个打开的文件（文件描述符）。把打开文件数的软上限提高到硬上限（`ulimit -Hn`），
/// 返回最多能同时服务多少个客户端：硬上限不够 --max-clients 用时，说一行，按硬上限来。
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
        "注意：打开文件数的上限是 {limit}（ulimit -Hn），服务 {max_clients} 个客户端需要 {wanted}；\
         最多只能同时服务 {can} 个"
    );
    Ok(can)
}
// ANCHOR_END: rlimit

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
fn parse_args() -> Result<Option<(SocketAddr, usize, Duration, Duration)>> {
    let mut addr = None;
    let mut max_clients = DEFAULT_MAX_CLIENTS;
    let mut grace = DEFAULT_GRACE;
    let mut idle = DEFAULT_IDLE;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--max-clients" => {
                let value = args.next().context("--max-clients 后面要写一个个数")?;
                max_clients = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0 && n <= Semaphore::MAX_PERMITS)
                    .with_context(|| {
                        format!("--max-clients 要写一个正整数（客户端的个数），而不是 `{value}`")
                    })?;
            }
            "--grace" => grace = seconds(args.next(), "--grace", 0.1, 3600.0)?,
            "--idle-timeout" => idle = seconds(args.next(), "--idle-timeout", 0.001, 86400.0)?,
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
    Ok(Some((addr, max_clients, grace, idle)))
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
