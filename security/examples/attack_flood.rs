//! 攻击：连接洪水。从本机一口气打开很多个连接，每个都发一行，看服务器接下多少个：
//! 没有上限的服务器来者不拒（每个连接一个线程、一个文件描述符）；有上限的只接下它肯接的那么多。
//!
//! 运行：先启动一个服务器，再 `cargo run --example attack_flood -- 127.0.0.1:3214`。
//! `--sources 个数` 让连接轮流从 127.0.0.1、127.0.0.2……出发：整个 127.0.0.0/8 都是本机，
//! 一个攻击者可以有很多个源地址。只能攻击本机回环地址上的服务器；个数和时间都有上限。

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 等服务器回答每个连接的那一行，最多等这么久。
const ANSWER_WAIT: Duration = Duration::from_secs(2);

const USAGE: &str = "用法：attack_flood [地址] [--connections 个数] [--sources 个数] [--seconds 秒]
连接洪水：一口气打开很多个连接，每个发一行 ping，数一数服务器回显了几个、关闭了几个，
再把回显了的连接拿住一段时间。
  地址                 目标服务器，默认 127.0.0.1:3214；只能是 127.0.0.0/8 或 [::1]
  --connections 个数   打开几个连接，默认 200（1 到 900）
  --sources 个数       从几个源地址出发（127.0.0.1、127.0.0.2……），默认 1（1 到 250；只用于 IPv4）
  --seconds 秒         把回显了的连接拿住多久，默认 3（0 到 60）";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

fn main() {
    match run() {
        Ok(()) => {}
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

/// 一个连接的结果。
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Waiting,
    Echoed,
    Closed,
}

// ANCHOR: run
fn run() -> Result<()> {
    let Some((target, connections, sources, hold)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    // 1. 一口气连上去，每个连接发一行。
    let mut open = Vec::new();
    let mut not_connected = 0;
    for i in 0..connections {
        match connect_from(target, i % sources) {
            Ok(mut stream) => {
                let _ = stream.write_all(b"ping\n"); // 被拒绝的连接可能已经关了：下面会看到
                stream.set_nonblocking(true)?;
                open.push((stream, Answer::Waiting, Vec::new()));
            }
            Err(_) => not_connected += 1, // 积压队列满了，连接请求没有被应答
        }
    }
    // 2. 最多等 ANSWER_WAIT：每个连接，要么收到回显的那一行，要么被关闭。
    let start = Instant::now();
    while start.elapsed() < ANSWER_WAIT && open.iter().any(|(_, a, _)| *a == Answer::Waiting) {
        for (stream, answer, got) in open.iter_mut().filter(|(_, a, _)| *a == Answer::Waiting) {
            let mut buf = [0u8; 16];
            match stream.read(&mut buf) {
                Ok(0) => *answer = Answer::Closed,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.ends_with(b"\n") {
                        *answer = Answer::Echoed;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => *answer = Answer::Closed, // 复位
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let count = |which| open.iter().filter(|(_, a, _)| *a == which).count();
    let from = if sources == 1 {
        "一个源地址".to_string()
    } else {
        format!(" {sources} 个源地址")
    };
    say!(
        "从{from}打开了 {connections} 个连接：服务器回显了 {} 个，关闭了 {} 个，{} 秒内没有回答 {} 个，没有连上 {not_connected} 个",
        count(Answer::Echoed),
        count(Answer::Closed),
        ANSWER_WAIT.as_secs(),
        count(Answer::Waiting),
    )?;
    // 3. 拿住回显了的连接：它们占着服务器的名额。
    if !hold.is_zero() {
        std::thread::sleep(hold);
        say!("拿住 {} 秒，然后全部关闭", hold.as_secs_f64())?;
    }
    Ok(())
}
// ANCHOR_END: run

/// 从第 `source` 个源地址（127.0.0.1 加上 source）连接 `target`；IPv6 只有 ::1 一个。
fn connect_from(target: SocketAddr, source: usize) -> Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    if target.is_ipv4() && source > 0 {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::LOCALHOST) + source as u32);
        socket.bind(&SocketAddr::new(IpAddr::V4(ip), 0).into())?;
    }
    // 3 秒：积压队列满时，内核丢掉 SYN，1 秒后重发一次；再等不到就算没有连上。
    socket.connect_timeout(&target.into(), Duration::from_secs(3))?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    socket.set_write_timeout(Some(Duration::from_secs(1)))?;
    Ok(socket.into())
}

/// 只攻击本机：目标必须是回环地址（127.0.0.0/8 或 ::1），别的一律拒绝。
fn loopback_only(text: &str) -> Result<SocketAddr> {
    let addr: SocketAddr = text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：写成 IP:端口，例如 127.0.0.1:3214（不接受主机名）")
    })?;
    if !addr.ip().is_loopback() {
        bail!(
            "拒绝攻击 {addr}：攻击程序只能对准本机回环地址（127.0.0.0/8 或 [::1]）上你自己的服务器"
        );
    }
    Ok(addr)
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

/// 读取命令行（见 USAGE）。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, usize, usize, Duration)>> {
    let mut target = None;
    let mut connections = 200;
    let mut sources = 1;
    let mut hold = Duration::from_secs(3);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--connections" => connections = count(args.next(), "--connections", 1, 900)?,
            "--sources" => sources = count(args.next(), "--sources", 1, 250)?,
            "--seconds" => {
                let value = args.next().context("--seconds 后面要写一个秒数")?;
                hold = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..=60.0).contains(s))
                    .map(Duration::from_secs_f64)
                    .with_context(|| {
                        format!("--seconds 要写 0 到 60 之间的秒数，而不是 `{value}`")
                    })?;
            }
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if target.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => target = Some(arg),
        }
    }
    let target = loopback_only(target.as_deref().unwrap_or(DEFAULT_ADDR))?;
    Ok(Some((target, connections, sources, hold)))
}

/// 选项 `flag` 后面的个数：`min` 到 `max` 之间的整数。
fn count(value: Option<String>, flag: &str, min: usize, max: usize) -> Result<usize> {
    let value = value.with_context(|| format!("{flag} 后面要写一个整数"))?;
    value
        .parse()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .with_context(|| format!("{flag} 要写 {min} 到 {max} 之间的整数，而不是 `{value}`"))
}
