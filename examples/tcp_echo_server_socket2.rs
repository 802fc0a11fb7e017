//! TCP 回显服务器，一个调用对一个调用：用 socket2 库，像笔记里的 Python 那样
//! 先创建套接字，再 bind、listen(5)、accept，然后是和 tcp_echo_server 相同的回显循环。
//!
//! 运行：`cargo run --example tcp_echo_server_socket2`（默认绑定 127.0.0.1:3214），
//! 或 `cargo run --example tcp_echo_server_socket2 -- 127.0.0.1:0`。

use std::io::{Read, Write};
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

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

    // Python: s = socket.socket()   —— 默认参数即 AF_INET 和 SOCK_STREAM
    // 地址是 IPv6 时，地址族要换成 AF_INET6（Domain::IPV6）。
    let family = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(family, Type::STREAM, None).context("无法创建套接字")?;

    // Python: s.bind((HOST, PORT))
    s.bind(&addr.into()).with_context(|| {
        format!("无法绑定 {addr}（端口可能已被占用：换一个端口，或先结束占用它的程序）")
    })?;

    // Python: s.listen(5)   —— 积压队列长度 5，和笔记一样
    s.listen(5).context("无法监听")?;
    let local = s.local_addr()?.as_socket().context("不是 IP 地址")?;
    println!("{local}");

    // Python: clnt, addr = s.accept()
    let (mut clnt, addr) = s.accept().context("接受连接失败")?;
    let addr = addr.as_socket().context("客户端地址不是 IP 地址")?;
    println!("Client Address: {addr}");

    // 从这里起和 tcp_echo_server 完全相同：socket2 的 Socket 也实现了 Read 和 Write。
    let mut buf = [0u8; 1024];
    loop {
        let n = clnt
            .read(&mut buf)
            .with_context(|| format!("从 {addr} 接收数据失败"))?;
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        println!("Receive Data: {}", String::from_utf8_lossy(data));
        clnt.write_all(data)
            .with_context(|| format!("向 {addr} 发送数据失败"))?;
    }
    Ok(())
}

/// 读取可选的命令行参数：要绑定的地址，形如 `127.0.0.1:3214` 或 `[::1]:0`。
fn parse_addr() -> Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let text = args.next().unwrap_or_else(|| DEFAULT_ADDR.to_string());
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个地址，例如 `cargo run --example tcp_echo_server_socket2 -- 127.0.0.1:3214`"
        );
    }
    text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })
}
