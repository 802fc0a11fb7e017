//! 练习答案（线程池，练习 2）：甩掉负载（load shedding）的线程池回显服务器。
//!
//! 运行：`cargo run --example ex_thread_pool_shed -- --workers 1 --queue 1`（默认绑定 127.0.0.1:3214）。
//!
//! 和 `echo_pool` 一样：固定数目的工作线程，从一个有界的通道里取连接。不同的是，主线程用
//! `try_send` 而不是 `send`：工作线程都忙、通道也满了，就不再等，立刻关闭新的连接，
//! 在标准错误上说一行“服务器忙”。为了短一些，这里没有 `echo_pool` 的优雅退出
//! （见“优雅地停止服务器”一章）和 `--hold-lock`，按 Ctrl-C 直接结束。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 默认的工作线程数和队列长度，和 echo_pool 一样。
const DEFAULT_WORKERS: usize = 4;
const DEFAULT_QUEUE: usize = 16;

const USAGE: &str = "用法：ex_thread_pool_shed [地址] [--workers 线程数] [--queue 连接数]
甩掉负载的线程池 TCP 回显服务器：工作线程都忙、队列也满了，新的连接立刻被关闭；按 Ctrl-C 结束。
  地址                要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口
  --workers 线程数    工作线程的数目，1 到 1024，默认 4
  --queue 连接数      已经接受、等工作线程来取的连接最多排几个，1 到 65536，默认 16";

/// 一个等待服务的连接。
type Job = (TcpStream, SocketAddr);

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

fn run() -> Result<()> {
    let Some((addr, workers, queue)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let listener = TcpListener::bind(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;

    let (sender, receiver) = mpsc::sync_channel::<Job>(queue);
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..workers {
        let receiver = Arc::clone(&receiver);
        thread::Builder::new()
            .spawn(move || worker(&receiver))
            .context("无法创建工作线程")?;
    }
    say!("{}", listener.local_addr()?)?;

    // ANCHOR: shed
    loop {
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            Err(err) => {
                accept_failed(err);
                continue;
            }
        };
        // send 在通道满了的时候等；try_send 不等，把连接原样还给我们。
        match sender.try_send((clnt, addr)) {
            Ok(()) => {}
            Err(TrySendError::Full((clnt, addr))) => {
                // 甩掉负载：关闭连接（drop），客户端读到连接结束，马上知道服务器忙。
                drop(clnt);
                eprintln!("服务器忙（工作线程和队列都满了），断开 {addr}");
            }
            Err(TrySendError::Disconnected(_)) => bail!("所有工作线程都已退出"),
        }
    }
    // ANCHOR_END: shed
}

/// 一个工作线程：从通道里取一个连接，服务它，再取下一个。
fn worker(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let guard = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            guard.recv()
        };
        let Ok((clnt, addr)) = job else {
            return; // 发送端没了：不会再有活儿了
        };
        if say!("Client Address: {addr}").is_err() {
            std::process::exit(0); // 标准输出被关闭了：安静地结束整个进程
        }
        if let Err(why) = serve(clnt) {
            eprintln!("断开 {addr}：{why:#}");
        }
        if say!("连接关闭：{addr}").is_err() {
            std::process::exit(0);
        }
    }
}

/// 服务一个客户端：收到什么字节，就原样发回什么字节，直到对方关闭连接。
fn serve(mut clnt: TcpStream) -> Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let n = clnt.read(&mut buf).context("接收数据失败")?;
        if n == 0 {
            return Ok(());
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

/// 读取命令行：可选的地址，`--workers 线程数`，`--queue 连接数`。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, usize, usize)>> {
    let mut addr = None;
    let mut workers = DEFAULT_WORKERS;
    let mut queue = DEFAULT_QUEUE;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--workers" => workers = count(args.next(), "--workers", 1024)?,
            "--queue" => queue = count(args.next(), "--queue", 65536)?,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let addr = text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })?;
    Ok(Some((addr, workers, queue)))
}

/// 选项 `flag` 后面的数：1 到 `max` 之间的整数。
fn count(value: Option<String>, flag: &str, max: usize) -> Result<usize> {
    let value = value.with_context(|| format!("{flag} 后面要写一个整数"))?;
    value
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .with_context(|| format!("{flag} 要写 1 到 {max} 之间的整数，而不是 `{value}`"))
}
