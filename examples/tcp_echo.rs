//! 一条命令看完一次完整的 TCP 对话：服务器和客户端在同一个程序里，各占一个线程。
//!
//! 运行：`cargo run --example tcp_echo`
//!
//! 服务器绑定 127.0.0.1:0（系统挑一个空闲端口），客户端连上去，发几条消息（其中有中文），
//! 每条都等完整的回显回来再发下一条；最后客户端关闭连接，服务器随之结束。

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

const MESSAGES: [&str; 3] = ["Hello, socket!", "你好，套接字！", "再见"];

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    // 先在主线程里绑定：这样客户端开始连接之前，服务器已经在监听了。
    let listener = TcpListener::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("[服务器端] 已绑定 {addr}，等待连接");

    let server = thread::spawn(move || serve(listener));
    talk(addr)?;
    // 客户端已经关闭连接，服务器线程会读到 0 字节并结束。
    server
        .join()
        .map_err(|_| anyhow::anyhow!("服务器线程异常退出"))??;
    println!(
        "演示结束：客户端发送了 {} 条消息，全部收到回显",
        MESSAGES.len()
    );
    Ok(())
}

/// 服务器端：和 tcp_echo_server 一样，接受一个客户端，逐段回显，直到对方关闭。
fn serve(listener: TcpListener) -> Result<()> {
    let (mut clnt, addr) = listener.accept().context("接受连接失败")?;
    println!("[服务器端] Client Address: {addr}");
    let mut buf = [0u8; 1024];
    loop {
        let n = clnt.read(&mut buf).context("服务器端接收失败")?;
        if n == 0 {
            println!("[服务器端] 读到 0 字节：客户端已关闭连接，服务器结束");
            return Ok(());
        }
        let data = &buf[..n];
        println!("[服务器端] Receive Data: {}", String::from_utf8_lossy(data));
        clnt.write_all(data).context("服务器端发送失败")?;
    }
}

/// 客户端：和 tcp_echo_client 一样，每发一条消息，就读满同样多的字节作为回显。
fn talk(addr: std::net::SocketAddr) -> Result<()> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("无法连接 {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    for message in MESSAGES {
        stream
            .write_all(message.as_bytes())
            .context("客户端发送失败")?;
        let mut reply = vec![0u8; message.len()];
        stream
            .read_exact(&mut reply)
            .context("客户端接收回显失败")?;
        println!(
            "[客户端]   发送 {message:?}，收到回显 {:?}（{} 字节）",
            String::from_utf8_lossy(&reply),
            reply.len()
        );
    }
    println!("[客户端]   关闭连接");
    Ok(())
    // stream 在这里被丢弃，连接关闭。
}
