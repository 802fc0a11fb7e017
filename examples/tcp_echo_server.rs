//! TCP 回显服务器：课堂笔记里 Python TCP 服务器的 Rust 版本，一步对一步。
//!
//! 运行：`cargo run --example tcp_echo_server`（默认绑定 127.0.0.1:3214），
//! 或 `cargo run --example tcp_echo_server -- 127.0.0.1:0`（让系统挑一个空闲端口）。
//!
//! 它接受一个客户端，把收到的每一段字节原样发回；客户端关闭连接后，服务器结束。

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

fn main() {
    // 出错时只打印一行清楚的说明，并以非 0 状态码退出，不 panic。
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let addr = parse_addr()?;

    // Python: s = socket.socket(); s.bind((HOST, PORT)); s.listen(5)
    // Rust 的 TcpListener::bind 一次完成 创建套接字 + 绑定 + 监听 三步。
    let listener = TcpListener::bind(addr).with_context(|| {
        format!("无法绑定 {addr}（端口可能已被占用：换一个端口，或先结束占用它的程序）")
    })?;
    // 第一行输出：实际绑定的地址（端口为 0 时，这里能看到系统分配的端口）。
    println!("{}", listener.local_addr()?);

    // Python: clnt, addr = s.accept()   —— 阻塞，直到有客户端连上来
    let (mut clnt, addr) = listener.accept().context("接受连接失败")?;
    println!("Client Address: {addr}");

    let mut buf = [0u8; 1024];
    loop {
        // Python: data = clnt.recv(1024)   —— 阻塞，直到有数据或对方关闭
        let n = clnt
            .read(&mut buf)
            .with_context(|| format!("从 {addr} 接收数据失败"))?;
        if n == 0 {
            // 读到 0 个字节：对方已经关闭了连接（Python 里是 `if not data: break`）。
            break;
        }
        let data = &buf[..n];
        // 收到的字节不一定是合法的 UTF-8：from_utf8_lossy 把坏字节显示成 �，不会崩溃。
        println!("Receive Data: {}", String::from_utf8_lossy(data));
        // Python: clnt.send(data)   —— write_all 保证全部写出，相当于 sendall
        clnt.write_all(data)
            .with_context(|| format!("向 {addr} 发送数据失败"))?;
    }

    // clnt 和 listener 在这里离开作用域，自动关闭（Python 里的 clnt.close()、s.close()）。
    Ok(())
}

/// 读取可选的命令行参数：要绑定的地址，形如 `127.0.0.1:3214` 或 `[::1]:0`。
fn parse_addr() -> Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let text = args.next().unwrap_or_else(|| DEFAULT_ADDR.to_string());
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个地址，例如 `cargo run --example tcp_echo_server -- 127.0.0.1:3214`"
        );
    }
    text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })
}
