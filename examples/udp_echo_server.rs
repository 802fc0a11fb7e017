//! UDP 回显服务器：课堂笔记里 Python UDP 服务器的 Rust 版本，一步对一步。
//!
//! 运行：`cargo run --example udp_echo_server`（默认绑定 127.0.0.1:3214），
//! 或 `cargo run --example udp_echo_server -- 127.0.0.1:0`（让系统挑一个空闲端口）。
//!
//! 它把收到的每个数据报原样发回给发送者；收到内容恰好是 `True` 的数据报时，不回显，直接结束。

use std::net::{SocketAddr, UdpSocket};

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let addr = parse_addr()?;

    // Python: s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((HOST, PORT))
    let s = UdpSocket::bind(addr).with_context(|| {
        format!("无法绑定 {addr}（端口可能已被占用：换一个端口，或先结束占用它的程序）")
    })?;
    println!("{}", s.local_addr()?);

    let mut buf = [0u8; 1024];
    loop {
        // Python: data, addr = s.recvfrom(1024)   —— 阻塞，直到收到一个数据报
        // 一次 recv_from 只取一个数据报。数据报比 buf 长时（超过 1024 字节），
        // 只有前 1024 个字节放进 buf，多出的部分被内核丢弃，再也读不到；
        // 服务器照常运行，回显的就是这前 1024 个字节。
        let (n, addr) = s.recv_from(&mut buf).context("接收数据报失败")?;
        let data = &buf[..n];
        // Python: if data == b'True': break
        if data == b"True" {
            break;
        }
        println!("Receive String: {}", String::from_utf8_lossy(data));
        // Python: s.sendto(data, addr)   —— 一个数据报要么整个发出，要么出错
        s.send_to(data, addr)
            .with_context(|| format!("向 {addr} 发送数据报失败"))?;
    }
    Ok(())
}

/// 读取可选的命令行参数：要绑定的地址，形如 `127.0.0.1:3214` 或 `[::1]:0`。
fn parse_addr() -> Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let text = args.next().unwrap_or_else(|| DEFAULT_ADDR.to_string());
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个地址，例如 `cargo run --example udp_echo_server -- 127.0.0.1:3214`"
        );
    }
    text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })
}
