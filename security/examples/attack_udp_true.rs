//! 攻击：UDP 的 `True`。笔记里的 UDP 回显服务器收到数据报 `True` 就退出；
//! 本机上任何一个进程都可以发这个数据报，不需要是“它的”客户端。
//!
//! 运行：先启动一个 UDP 服务器（如 `cargo run --example udp_echo_server`），再
//! `cargo run --example attack_udp_true -- 127.0.0.1:3214`。只能攻击本机回环地址上的服务器。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, bail};

const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 探一次服务器，最多等这么久回答。
const PROBE_WAIT: Duration = Duration::from_secs(1);

const USAGE: &str = "用法：attack_udp_true [地址]
UDP 的 True：先发一个 ping 看服务器在不在，再发数据报 True，然后再发一个 ping，看服务器还在不在。
  地址   目标 UDP 服务器，默认 127.0.0.1:3214；只能是 127.0.0.0/8 或 [::1]";

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
    let local = if target.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let socket = UdpSocket::bind(local).context("无法绑定本地的 UDP 套接字")?;
    // connect：只收 target 发来的数据报；那个端口上没有套接字时，send/recv 会报“连接被拒绝”。
    socket
        .connect(target)
        .with_context(|| format!("无法连接 {target}"))?;
    socket.set_read_timeout(Some(PROBE_WAIT))?;
    say!("我是另一个进程，地址 {}", socket.local_addr()?)?;
    let before = probe(&socket)?;
    say!("发送 True 之前：{before}")?;
    if before.starts_with("连接被拒绝") {
        return Ok(()); // 那里没有 UDP 服务：没有什么可攻击的
    }
    socket.send(b"True").context("发送 True 失败")?;
    say!("发送了数据报 True")?;
    // 服务器也许还没来得及退出，第一个 ping 落进了它不再读的接收队列：最多探 3 次。
    let mut after = probe(&socket)?;
    for _ in 0..2 {
        if !after.ends_with("没有回答") {
            break;
        }
        after = probe(&socket)?;
    }
    say!("发送 True 之后：{after}")?;
    Ok(())
}

/// 发一个 ping，说出服务器怎样回答。
fn probe(socket: &UdpSocket) -> Result<String> {
    let refused = "连接被拒绝：那个端口上没有 UDP 套接字（内核回了 ICMP 端口不可达）";
    match socket.send(b"ping") {
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Ok(refused.into()),
        other => other.context("发送 ping 失败")?,
    };
    let mut buf = [0u8; 1024];
    Ok(match socket.recv(&mut buf) {
        Ok(n) => format!("服务器回显了 {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused.into(),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            format!("{} 秒内没有回答", PROBE_WAIT.as_secs())
        }
        Err(e) => return Err(e).context("接收回答失败"),
    })
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
