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

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 默认的工作线程数，可以用 --workers 修改。
const DEFAULT_WORKERS: usize = 4;
/// 通道里最多排几个等待服务的连接，可以用 --queue 修改。
const DEFAULT_QUEUE: usize = 16;
/// --workers 和 --queue 的上限：线程和队列都要有界，参数也一样。
const MAX_WORKERS: usize = 1024;
const MAX_QUEUE: usize = 65536;

const USAGE: &str = "用法：echo_pool [地址] [--workers 线程数] [--queue 连接数] [--hold-lock]
线程池 TCP 回显服务器：固定数目的工作线程轮流服务客户端；按 Ctrl-C 结束。
  地址                要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                      IPv6 写成 [::1]:3214
  --workers 线程数    工作线程的数目，1 到 1024，默认 4：最多同时服务这么多个客户端
  --queue 连接数      已经接受、等工作线程来取的连接最多排几个，1 到 65536，默认 16；
                      排满以后，服务器暂停接受连接，新连接留在内核的积压队列里
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

    // ANCHOR: pool
    // 一个有界的通道：最多排 config.queue 个连接，排满以后 send 会阻塞。
    // Python: jobs = queue.Queue(maxsize=args.queue)
    let (sender, receiver) = mpsc::sync_channel::<Job>(config.queue);
    // 标准库的 Receiver 只能有一个主人；几个工作线程要共用它，就把它放进 Mutex（一次只让一个
    // 线程用），再放进 Arc（让几个线程共同拥有它）。
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..config.workers {
        let receiver = Arc::clone(&receiver);
        let hold_lock = config.hold_lock;
        thread::Builder::new()
            .spawn(move || {
                if hold_lock {
                    worker_holding_the_lock(&receiver)
                } else {
                    worker(&receiver)
                }
            })
            .context("无法创建工作线程")?;
    }
    // ANCHOR_END: pool
    // ANCHOR: accept
    say!("{}", listener.local_addr()?)?;

    // 主线程只管 accept，把连接交给通道；通道满了，send 就等到有工作线程取走一个。
    loop {
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            Err(err) => {
                accept_failed(err);
                continue;
            }
        };
        // Python: jobs.put((clnt, addr))
        sender
            .send((clnt, addr))
            .map_err(|_| anyhow!("所有工作线程都已退出"))?;
    }
    // ANCHOR_END: accept
}

// ANCHOR: worker
/// 一个工作线程：从通道里取一个连接，服务它，再取下一个。
fn worker(receiver: &Mutex<Receiver<Job>>) {
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
        handle(clnt, addr);
    }
}
// ANCHOR_END: worker

// ANCHOR: holding
/// 错误的写法，只为演示（--hold-lock）：Rust Book 第 21 章示例 21-21。
fn worker_holding_the_lock(receiver: &Mutex<Receiver<Job>>) {
    // `receiver.lock()` 返回的 MutexGuard 是一个临时值。while let 的条件里的临时值
    // 要活到整个 while let 语句结束，也就是循环体执行完：服务客户端的整个过程中，锁一直被拿着，
    // 别的工作线程都卡在 lock() 上，通道里排着的连接没有人取。
    while let Ok((clnt, addr)) = receiver
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .recv()
    {
        handle(clnt, addr);
    }
}
// ANCHOR_END: holding

/// 服务一个客户端，接手和结束时各打印一行。
fn handle(clnt: TcpStream, addr: SocketAddr) {
    if say!("Client Address: {addr}").is_err() {
        std::process::exit(0); // 标准输出被关闭了：像 main 一样安静地结束（整个进程）
    }
    // 这个客户端出了问题（比如被复位），只断开它自己；工作线程接着去取下一个。
    if let Err(why) = serve(clnt) {
        eprintln!("断开 {addr}：{why:#}");
    }
    if say!("连接关闭：{addr}").is_err() {
        std::process::exit(0);
    }
}

/// 服务一个客户端：收到什么字节，就原样发回什么字节，直到对方关闭连接。
fn serve(mut clnt: TcpStream) -> Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let n = clnt.read(&mut buf).context("接收数据失败")?;
        if n == 0 {
            return Ok(()); // 读到 0 字节：对方关闭了连接
        }
        clnt.write_all(&buf[..n]).context("发送数据失败")?;
    }
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
    let mut hold_lock = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--workers" => workers = count(args.next(), "--workers", "线程数", MAX_WORKERS)?,
            "--queue" => queue = count(args.next(), "--queue", "连接数", MAX_QUEUE)?,
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
