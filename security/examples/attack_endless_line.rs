//! 攻击：没有尽头的一行。只发字节，永远不发换行符，看按行读的服务器会不会把它们全收进内存。
//!
//! 运行：先启动一个服务器，再 `cargo run --example attack_endless_line -- 127.0.0.1:3214`。
//! 只能攻击本机回环地址上的服务器；发多少、发多久都有上限（见 `--help`）。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：attack_endless_line [地址] [--mib 个数] [--seconds 秒]
没有尽头的一行：不停地发字节 x，不发换行符，直到发完、服务器断开，或者时间到了。
  地址             目标服务器，默认 127.0.0.1:3214；只能是 127.0.0.0/8 或 [::1]
  --mib 个数       最多发多少 MiB，默认 64（1 到 1024）
  --seconds 秒     最多发多久，默认 10（0.1 到 60）";

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
    let Some((target, limit, seconds)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))
        .with_context(|| format!("连接 {target} 失败"))?;
    // 每次写最多等 100 毫秒：服务器不读了，我们也不会卡住，时间到了照样停。
    stream.set_write_timeout(Some(Duration::from_millis(100)))?;
    let chunk = vec![b'x'; 64 * 1024];
    let start = Instant::now();
    let mut sent = 0u64;
    let why = loop {
        if sent >= limit {
            break "全部发完，服务器一直在收，没有断开连接".to_string();
        }
        if start.elapsed() >= seconds {
            break "时间到了，服务器没有断开连接，但也不再收了".to_string();
        }
        match stream.write(&chunk) {
            Ok(n) => sent += n as u64,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // 对方关闭时接收缓冲区里还有没读的数据，内核发的是 RST：先报“连接被复位”，
            // 再写就是“管道已断开”。两样都是“服务器断开了连接”。
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                break "服务器断开了连接：这一行它不收了".into();
            }
            Err(e) => break format!("发送失败：{e}"),
        }
    };
    say!("{why}")?;
    say!(
        "一共发出 {:.1} MiB（没有一个换行符），用了 {:.1} 秒",
        sent as f64 / (1024.0 * 1024.0),
        start.elapsed().as_secs_f64()
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

/// 读取命令行（见 USAGE）。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, u64, Duration)>> {
    let mut target = None;
    let mut mib = 64u64;
    let mut seconds = Duration::from_secs(10);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--mib" => {
                let value = args.next().context("--mib 后面要写一个个数")?;
                mib = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .with_context(|| {
                        format!("--mib 要写 1 到 1024 之间的整数，而不是 `{value}`")
                    })?;
            }
            "--seconds" => {
                let value = args.next().context("--seconds 后面要写一个秒数")?;
                seconds = value
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
    Ok(Some((target, mib * 1024 * 1024, seconds)))
}
