//! UDP 回显客户端：把标准输入的每一行作为一个数据报发给服务器，打印服务器发回的回显。
//!
//! 运行：先在一个终端启动 `cargo run --example udp_echo_server`，
//! 再在另一个终端运行 `cargo run --example udp_echo_client`（默认发往 127.0.0.1:3214），
//! 然后逐行输入文字；输入 `True` 会让服务器结束。按 Ctrl-D 结束输入，客户端随之退出。

use std::io::{BufRead, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 没有给出地址时发往的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 等待回复的最长时间。UDP 不保证送达：数据报或回复丢了，就不会有回复。
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let server = parse_addr()?;

    // 客户端也要有自己的地址，服务器才知道回复发往哪里。端口 0：让系统挑一个。
    let local: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let s = UdpSocket::bind(local).context("无法创建 UDP 套接字")?;
    // 没有超时，recv_from 会永远等下去；有了超时，丢失的回复只让我们等 2 秒。
    s.set_read_timeout(Some(REPLY_TIMEOUT))?;

    let mut buf = [0u8; 65535]; // 一个 UDP 数据报最多 65507 字节（IPv4）
    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop(); // Windows 的换行是 \r\n：去掉 \r
        }
        // Python: s.sendto(data, (HOST, PORT))   —— 一行就是一个数据报
        s.send_to(&data, server)
            .with_context(|| format!("向 {server} 发送数据报失败"))?;

        // Python: data, addr = s.recvfrom(1024)
        match s.recv_from(&mut buf) {
            Ok((n, from)) if from == server => {
                println!("{}", String::from_utf8_lossy(&buf[..n]));
            }
            Ok((_, from)) => {
                eprintln!("（收到来自 {from} 的数据报，不是服务器发的，忽略）");
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // 没有回复不是致命错误：说一声，接着发下一行。
                eprintln!(
                    "（{} 秒内没有收到回复：数据报可能丢了，或者服务器没有运行）",
                    REPLY_TIMEOUT.as_secs()
                );
            }
            Err(err) => return Err(err).context("接收回复失败"),
        }
    }
    Ok(())
}

/// 读取可选的命令行参数：服务器的地址，形如 `127.0.0.1:3214` 或 `[::1]:3214`。
fn parse_addr() -> Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let text = args.next().unwrap_or_else(|| DEFAULT_ADDR.to_string());
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个地址，例如 `cargo run --example udp_echo_client -- 127.0.0.1:3214`"
        );
    }
    text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })
}
