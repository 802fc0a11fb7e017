//! 练习答案（每个客户端一个线程，练习 2）：`echo_threads` 加上 `--max-clients 个数`。
//!
//! 运行：`cargo run --example ex_threads_max_clients -- --max-clients 2`（默认绑定 127.0.0.1:3214）。
//!
//! 用一个 `Arc<AtomicUsize>` 数着正在服务的客户端。已经满了，就不创建线程，打印一行，
//! 直接关闭新的连接。和 `echo_threads.rs` 相比，改了 `run` 的循环，加了 `Slot` 和读取
//! `--max-clients` 的几行。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

/// 没有给出 `--max-clients` 时，最多同时服务多少个客户端。
const DEFAULT_MAX_CLIENTS: usize = 1000;

const USAGE: &str = "用法：ex_threads_max_clients [地址] [--max-clients 个数]
每个客户端一个线程的 TCP 回显服务器，同时服务的客户端有上限；按 Ctrl-C 结束。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口
  --max-clients 个数    最多同时服务多少个客户端，默认 1000；满了，新的连接一接受就关闭
环境变量 RUST_MIN_STACK 可以改变每个线程的栈大小（字节数，默认 2 MiB）。";

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
    let Some((addr, max_clients)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    let listener = TcpListener::bind(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    say!("{}", listener.local_addr()?)?;

    // 正在服务的客户端数。只有主线程加一，每个服务线程结束时减一（见 Slot）。
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            Err(err) => {
                accept_failed(err);
                continue;
            }
        };
        say!("Client Address: {addr}")?;
        // ANCHOR: limit
        // 满了：不创建线程，关闭这个连接（drop(clnt)），客户端读到连接结束。
        if active.load(Ordering::SeqCst) >= max_clients {
            eprintln!("已经在服务 {max_clients} 个客户端（--max-clients），断开 {addr}");
            drop(clnt);
            say!("连接关闭：{addr}")?;
            continue;
        }
        // 占一个名额；名额随闭包走，服务线程结束时（或者线程没能创建、闭包被丢掉时）还回来。
        let slot = Slot::take(&active);
        let spawned = thread::Builder::new().spawn(move || handle(clnt, addr, slot));
        // ANCHOR_END: limit
        if let Err(err) = spawned {
            // 闭包连同它拿走的 clnt 已经被丢掉：连接关闭了，客户端读到 EOF。
            eprintln!("无法为 {addr} 创建线程，断开它：{err}");
            say!("连接关闭：{addr}")?;
        }
        // spawn 返回的 JoinHandle 被丢掉了：没有人等这个线程结束，它服务完客户端就自己退出。
    }
}

/// 一个客户端的名额：拿到时计数加一，丢掉时减一。
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::SeqCst);
        Slot(Arc::clone(active))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// 在自己的线程里服务一个客户端，结束时打印一行。
fn handle(clnt: TcpStream, addr: SocketAddr, slot: Slot) {
    // 这个客户端出了问题（比如被复位），只断开它自己，只结束这一个线程。
    if let Err(why) = serve(clnt) {
        eprintln!("断开 {addr}：{why:#}");
    }
    // 先还名额，再说“连接关闭”：看到这一行的人可以放心地连下一个客户端。
    drop(slot);
    if say!("连接关闭：{addr}").is_err() {
        // 标准输出被关闭了：像 main 一样安静地结束。这里是别的线程，要结束的是整个进程。
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

/// 读取命令行：可选的地址，`--max-clients 个数`。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, usize)>> {
    let mut addr = None;
    let mut max_clients = DEFAULT_MAX_CLIENTS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--max-clients" => {
                let value = args.next().context("--max-clients 后面要写一个个数")?;
                max_clients =
                    value.parse().ok().filter(|&n| n > 0).with_context(|| {
                        format!("--max-clients 要写一个正整数，而不是 `{value}`")
                    })?;
            }
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let addr = text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })?;
    Ok(Some((addr, max_clients)))
}
