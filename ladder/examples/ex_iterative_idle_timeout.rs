//! 练习答案（一次一个，练习 2）：`echo_iterative` 加上 `--idle-timeout 秒数`。
//! 客户端这么久不发数据，服务器就断开它，接着服务积压队列里的下一个客户端。
//!
//! 运行：`cargo run --example ex_iterative_idle_timeout -- --idle-timeout 1`（默认绑定 127.0.0.1:3214）。
//!
//! 和 `echo_iterative.rs` 相比，只改了三处：读取 `--idle-timeout`，`accept` 之后给连接设上
//! 读、写超时，超时的错误说成一句话。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// 没有给出 `--idle-timeout` 时，客户端多少秒不发数据就断开它。
const DEFAULT_IDLE_SECS: f64 = 60.0;

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：ex_iterative_idle_timeout [地址] [--idle-timeout 秒数]
一次只服务一个客户端的 TCP 回显服务器，客户端闲置太久就断开它；按 Ctrl-C 结束。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口
  --idle-timeout 秒数   客户端这么久不发数据，就断开它；发送回显也最多等这么久。默认 60，可以是小数";

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
    let Some((addr, idle)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    // Python: s = socket.create_server((HOST, PORT))
    let listener = TcpListener::bind(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    say!("{}", listener.local_addr()?)?;

    // 笔记里的服务器只 accept 一次；这里加一个循环：服务完一个客户端，再 accept 下一个。
    loop {
        // Python: clnt, addr = s.accept()
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            Err(err) => {
                accept_failed(err);
                continue;
            }
        };
        say!("Client Address: {addr}")?;
        // 这个客户端出了问题（比如被复位），只断开它自己：说一行原因，接着服务下一个。
        if let Err(why) = serve(clnt, idle) {
            eprintln!("断开 {addr}：{why:#}");
        }
        say!("连接关闭：{addr}")?;
    }
}

// ANCHOR: serve
/// 服务一个客户端：收到什么字节，就原样发回什么字节，直到对方关闭连接，或者闲置太久。
fn serve(mut clnt: TcpStream, idle: Duration) -> Result<()> {
    // Python: clnt.settimeout(idle)   —— 读和写都最多等这么久
    clnt.set_read_timeout(Some(idle))?;
    clnt.set_write_timeout(Some(idle))?;
    let mut buf = [0u8; 1024];
    loop {
        let n = clnt
            .read(&mut buf)
            .map_err(|e| timed_out(e, "接收数据失败", idle))?;
        if n == 0 {
            return Ok(()); // 读到 0 字节：对方关闭了连接
        }
        clnt.write_all(&buf[..n])
            .map_err(|e| timed_out(e, "发送数据失败", idle))?;
    }
}

/// 超时在 Linux 上报告为 WouldBlock（EAGAIN），在 Windows 上是 TimedOut：说成一句人话。
fn timed_out(err: std::io::Error, what: &str, idle: Duration) -> anyhow::Error {
    match err.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            anyhow::anyhow!(
                "闲置超时：{} 秒没有进展（--idle-timeout）",
                idle.as_secs_f64()
            )
        }
        _ => anyhow::Error::new(err).context(what.to_string()),
    }
}
// ANCHOR_END: serve

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

/// 读取命令行：可选的地址，`--idle-timeout 秒数`。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, Duration)>> {
    let mut addr = None;
    let mut idle = DEFAULT_IDLE_SECS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--idle-timeout" => {
                let value = args.next().context("--idle-timeout 后面要写一个秒数")?;
                idle = value
                    .parse::<f64>()
                    .ok()
                    .filter(|secs| (0.001..=86400.0).contains(secs))
                    .with_context(|| {
                        format!(
                            "--idle-timeout 要写一个 0.001 到 86400 之间的秒数，而不是 `{value}`"
                        )
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
    Ok(Some((addr, Duration::from_secs_f64(idle))))
}
