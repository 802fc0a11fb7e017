//! 一条命令看完一次完整的 UDP 对话：服务器和客户端在同一个程序里，各占一个线程。
//!
//! 运行：`cargo run --example udp_echo`
//!
//! 服务器绑定 127.0.0.1:0，客户端发几个数据报（其中有中文），每个都等回显回来再发下一个；
//! 最后客户端发出数据报 `True`，服务器收到后不回显，直接结束。

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

const MESSAGES: [&str; 3] = ["Hello, datagram!", "你好，数据报！", "再见"];

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    // 先在主线程里绑定：这样客户端发第一个数据报之前，服务器的套接字已经存在。
    let socket = UdpSocket::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let addr = socket.local_addr()?;
    println!("[服务器端] 已绑定 {addr}，等待数据报");

    let server = thread::spawn(move || serve(socket));
    talk(addr)?;
    server
        .join()
        .map_err(|_| anyhow::anyhow!("服务器线程异常退出"))??;
    println!(
        "演示结束：客户端发送了 {} 条消息，全部收到回显",
        MESSAGES.len()
    );
    Ok(())
}

/// 服务器端：和 udp_echo_server 一样，逐个回显数据报，收到 `True` 时结束。
fn serve(s: UdpSocket) -> Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let (n, addr) = s.recv_from(&mut buf).context("服务器端接收失败")?;
        let data = &buf[..n];
        if data == b"True" {
            println!("[服务器端] 收到 True（来自 {addr}）：不回显，服务器结束");
            return Ok(());
        }
        println!(
            "[服务器端] 收到来自 {addr} 的数据报，Receive String: {}",
            String::from_utf8_lossy(data)
        );
        s.send_to(data, addr).context("服务器端发送失败")?;
    }
}

/// 客户端：和 udp_echo_client 一样，每个数据报都带超时地等待回复。
fn talk(server: SocketAddr) -> Result<()> {
    let s = UdpSocket::bind("127.0.0.1:0").context("无法绑定客户端套接字")?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    println!("[客户端]   自己的地址是 {}", s.local_addr()?);
    let mut buf = [0u8; 1024];
    for message in MESSAGES {
        s.send_to(message.as_bytes(), server)
            .context("客户端发送失败")?;
        let (n, _) = s.recv_from(&mut buf).context("2 秒内没有收到回显")?;
        println!(
            "[客户端]   发送 {message:?}，收到回显 {:?}（{} 字节）",
            String::from_utf8_lossy(&buf[..n]),
            n
        );
    }
    // 先打印再发送：服务器收到 True 后才打印，两边的输出顺序因此是确定的。
    println!("[客户端]   发送 \"True\"，请服务器结束");
    s.send_to(b"True", server).context("客户端发送失败")?;
    Ok(())
}
