//! 反射与放大（原理演示，只在回环地址上，不伪造任何地址）：UDP 回显服务器把回答发往数据报上
//! 写的源地址，它没有办法核实这个地址。源地址是伪造的，回答就落到被伪造的那台机器上。
//!
//! 运行：先启动一个 UDP 服务器（如 `cargo run --example udp_echo_server`），再
//! `cargo run --example attack_reflect -- 127.0.0.1:3214`。只能对准本机回环地址上的服务器。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, bail};

const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：attack_reflect [地址] [--bytes 个数]
反射与放大的原理：发一个数据报，看回答发到了哪里（数据报上写的源地址），比一比请求和回答的大小。
不伪造源地址：回答回到这个程序自己。
  地址             目标 UDP 服务器，默认 127.0.0.1:3214；只能是 127.0.0.0/8 或 [::1]
  --bytes 个数     请求有多少字节，默认 4（1 到 1024）";

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
    let Some((target, bytes)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let local = if target.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let socket = UdpSocket::bind(local).context("无法绑定本地的 UDP 套接字")?;
    socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    let me = socket.local_addr()?;
    // 数据报的内容：ping、pingping……截到 bytes 个字节（不发 True）。
    let request: Vec<u8> = b"ping".iter().copied().cycle().take(bytes).collect();
    socket
        .send_to(&request, target)
        .with_context(|| format!("向 {target} 发送失败"))?;
    say!(
        "发出 {bytes} 字节，数据报上的源地址是 {me}（这个程序自己；攻击者会在这里写上受害者的地址）"
    )?;
    let mut buf = vec![0u8; 65536];
    match socket.recv_from(&mut buf) {
        Ok((n, from)) => {
            say!("收到 {n} 字节的回答：{from} 把它发往 {me}，也就是数据报上写的源地址")?;
            say!("放大倍数（回答 / 请求）：{:.1}", n as f64 / bytes as f64)?;
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            say!("1 秒内没有回答：这个端口上没有 UDP 服务器，或者它不回答")?
        }
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            say!("连接被拒绝：那个端口上没有 UDP 套接字，没有什么可以反射")?
        }
        Err(e) => return Err(e).context("接收回答失败"),
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

/// 读取命令行（见 USAGE）。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, usize)>> {
    let mut target = None;
    let mut bytes = 4;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bytes" => {
                let value = args.next().context("--bytes 后面要写一个个数")?;
                bytes = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .with_context(|| {
                        format!("--bytes 要写 1 到 1024 之间的整数，而不是 `{value}`")
                    })?;
            }
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if target.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => target = Some(arg),
        }
    }
    Ok(Some((
        loopback_only(target.as_deref().unwrap_or(DEFAULT_ADDR))?,
        bytes,
    )))
}
