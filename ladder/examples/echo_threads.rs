//! 每个客户端一个线程的回显服务器：主线程只管 `accept`，每接受一个连接，就创建一个新线程去服务它。
//!
//! 运行：`cargo run --example echo_threads`（默认绑定 127.0.0.1:3214），
//! 客户端可以用 `cargo run --example tcp_echo_client`。按 Ctrl-C 结束服务器。
//!
//! 一个客户端不说话，只占住它自己的线程，别的客户端照常得到回显。代价是：有多少个客户端，
//! 就有多少个线程，每个线程都有自己的栈（Rust 默认 2 MiB）。这一级没有给线程数设上限。
//! 每个连接打开、关闭时各打印一行；收到的字节原样发回，不打印。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：echo_threads [地址]
每个客户端一个线程的 TCP 回显服务器：每接受一个连接，就创建一个线程服务它；按 Ctrl-C 结束。
线程数没有上限：有多少个客户端，就有多少个线程。
  地址   要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，IPv6 写成 [::1]:3214
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

// ANCHOR: run
fn run() -> Result<()> {
    let Some(addr) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    let listener = TcpListener::bind(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    say!("{}", listener.local_addr()?)?;

    // 主线程只做一件事：accept。服务客户端的事交给新线程，主线程马上回来 accept 下一个。
    loop {
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            Err(err) => {
                accept_failed(err);
                continue;
            }
        };
        say!("Client Address: {addr}")?;
        // ANCHOR: spawn
        // Python: threading.Thread(target=handle, args=(clnt, addr), daemon=True).start()
        // 用 Builder::spawn 而不是 thread::spawn：系统不肯再创建线程时，thread::spawn 会 panic，
        // Builder::spawn 则把错误还给我们，服务器只需放弃这一个客户端。
        let spawned = thread::Builder::new().spawn(move || handle(clnt, addr));
        if let Err(err) = spawned {
            // 闭包连同它拿走的 clnt 已经被丢掉：连接关闭了，客户端读到 EOF。
            eprintln!("无法为 {addr} 创建线程，断开它：{err}");
            say!("连接关闭：{addr}")?;
        }
        // ANCHOR_END: spawn
        // spawn 返回的 JoinHandle 被丢掉了：没有人等这个线程结束，它服务完客户端就自己退出。
    }
}

/// 在自己的线程里服务一个客户端，结束时打印一行。
fn handle(clnt: TcpStream, addr: SocketAddr) {
    // 这个客户端出了问题（比如被复位），只断开它自己，只结束这一个线程。
    if let Err(why) = serve(clnt) {
        eprintln!("断开 {addr}：{why:#}");
    }
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
// ANCHOR_END: run

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

/// 读取可选的命令行参数：要绑定的地址，形如 `127.0.0.1:3214` 或 `[::1]:0`。
/// `-h` / `--help` 时返回 None。
fn parse_addr() -> Result<Option<SocketAddr>> {
    let mut args = std::env::args().skip(1);
    let text = match args.next() {
        None => DEFAULT_ADDR.to_string(),
        Some(arg) if arg == "-h" || arg == "--help" => return Ok(None),
        Some(arg) if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
        Some(arg) => arg,
    };
    if args.next().is_some() {
        bail!("参数太多：只需要一个地址，例如 127.0.0.1:3214");
    }
    // std 的 TcpListener::bind 其实也接受 `localhost:3214` 这样的主机名；本例特意只接受 IP 地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名）"
        )
    })?;
    Ok(Some(addr))
}
