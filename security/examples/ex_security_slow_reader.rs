//! 练习“不读回显的客户端”的参考答案：一个攻击程序。它不停地发整行，却一个回显也不读，
//! 直到双方的缓冲区都满了；然后每隔 100 毫秒试着再发一个字节，看服务器什么时候断开它。
//!
//! 运行：先启动一个服务器，再 `cargo run --example ex_security_slow_reader -- 127.0.0.1:3214`。
//! 只能对准本机回环地址上的服务器；发多少、等多久都有上限。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 最多发这么多字节：缓冲区再大，也填得满。
const MAX_BYTES: usize = 64 * 1024 * 1024;

const USAGE: &str = "用法：ex_security_slow_reader [地址] [--seconds 秒]
不读回显的客户端：发整行直到发不动，一个回显也不读，看服务器多久以后断开连接。
  地址           目标服务器，默认 127.0.0.1:3214；只能是 127.0.0.0/8 或 [::1]
  --seconds 秒   缓冲区满了以后最多等多久，默认 5（0.1 到 60）";

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

// ANCHOR: run
fn run() -> Result<()> {
    let Some((target, wait)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))
        .with_context(|| format!("连接 {target} 失败"))?;
    stream.set_nonblocking(true)?; // 发不动时立刻知道（WouldBlock），而不是卡住
    let line = [vec![b'x'; 1023], vec![b'\n']].concat();
    // 1. 发整行，直到发不动：服务器的接收缓冲区、我们的发送缓冲区，
    //    还有服务器发给我们、我们不读的回显，都满了。
    let mut sent = 0;
    let mut stalled_since = None;
    while sent < MAX_BYTES {
        match stream.write(&line) {
            Ok(n) => {
                sent += n;
                stalled_since = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // 发不动了；服务器也许只是慢一点：连续 200 毫秒发不动，才算满了。
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(200) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).context("还没发满，服务器就断开了"),
        }
    }
    say!(
        "发出 {} KiB 的整行，一个回显也不读，现在发不动了",
        sent / 1024
    )?;
    // 2. 每隔 100 毫秒试着再发一个字节：服务器断开以后，发送会失败（复位或管道已断开）。
    //    从发不动的那一刻算起（服务器那边写不动，比这还早一点）。
    let start = stalled_since.unwrap_or_else(Instant::now);
    while start.elapsed() < wait {
        match stream.write(b"x") {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => {
                let after = start.elapsed().as_secs_f64();
                say!("服务器断开了连接：发不动以后又过了 {after:.1} 秒")?;
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    say!(
        "{} 秒后连接还开着：服务器一直在等我们读",
        wait.as_secs_f64()
    )?;
    Ok(())
}
// ANCHOR_END: run

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

/// 读取命令行：可选的地址和 `--seconds 秒`。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, Duration)>> {
    let mut target = None;
    let mut wait = Duration::from_secs(5);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seconds" => {
                let value = args.next().context("--seconds 后面要写一个秒数")?;
                wait = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.1..=60.0).contains(s))
                    .map(Duration::from_secs_f64)
                    .with_context(|| {
                        format!("--seconds 要写 0.1 到 60 之间的秒数，而不是 `{value}`")
                    })?;
            }
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if target.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => target = Some(arg),
        }
    }
    let target = loopback_only(target.as_deref().unwrap_or(DEFAULT_ADDR))?;
    Ok(Some((target, wait)))
}
