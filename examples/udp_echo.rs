//! 一条命令看完一次完整的 UDP 对话：服务器和客户端在同一个程序里，各占一个线程。
//!
//! 运行：`cargo run --example udp_echo`
//!
//! 服务器绑定 127.0.0.1:0，客户端发几个数据报（其中有中文），每个都等回显回来再发下一个；
//! 最后客户端发出数据报 `True`，服务器收到后不回显，直接结束。

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const MESSAGES: [&str; 3] = ["Hello, datagram!", "你好，数据报！", "再见"];

const USAGE: &str = "用法：udp_echo
一条命令看完一次 UDP 回显对话：服务器和客户端在同一个程序的两个线程里。不接受参数。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

fn main() {
    match run() {
        Ok(()) => {}
        // 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

// ANCHOR: run
fn run() -> Result<()> {
    if !no_arguments()? {
        say!("{USAGE}")?;
        return Ok(());
    }

    // 先在主线程里绑定：这样客户端发第一个数据报之前，服务器的套接字已经存在。
    let socket = UdpSocket::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let addr = socket.local_addr()?;
    say!("[服务器端] 已绑定 {addr}，等待数据报")?;

    let server = thread::spawn(move || serve(socket));
    let talked = talk(addr);
    if talked.is_err() && !server.is_finished() {
        // 客户端出错了，服务器线程还在等数据报（它只在收到 True 时结束）：不等它。
        return talked;
    }
    // 先报告服务器线程的错误：服务器出错停下时，客户端只会等不到回显。
    server
        .join()
        .map_err(|_| anyhow::anyhow!("服务器线程异常退出"))??;
    talked?;
    say!(
        "演示结束：客户端发送了 {} 条消息，全部收到回显",
        MESSAGES.len()
    )?;
    Ok(())
}

/// 服务器端：和 udp_echo_server 一样，逐个回显数据报，收到 `True` 时结束。
fn serve(s: UdpSocket) -> Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let (n, addr) = s.recv_from(&mut buf).context("服务器端接收失败")?;
        let data = &buf[..n];
        if data == b"True" {
            say!("[服务器端] 收到 True（来自 {addr}）：不回显，服务器结束")?;
            return Ok(());
        }
        // 先打印再回显：客户端收到回显之后才打印，两个线程的输出顺序因此每次都一样。
        say!(
            "[服务器端] 收到来自 {addr} 的数据报，Receive String: {}",
            String::from_utf8_lossy(data)
        )?;
        s.send_to(data, addr).context("服务器端发送失败")?;
    }
}

/// 客户端：和 udp_echo_client 一样，每个数据报都带超时地等待回复。
fn talk(server: SocketAddr) -> Result<()> {
    let s = UdpSocket::bind("127.0.0.1:0").context("无法绑定客户端套接字")?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    say!("[客户端]   自己的地址是 {}", s.local_addr()?)?;
    let mut buf = [0u8; 1024];
    for message in MESSAGES {
        s.send_to(message.as_bytes(), server)
            .context("客户端发送失败")?;
        let (n, _) = s.recv_from(&mut buf).context("2 秒内没有收到回显")?;
        say!(
            "[客户端]   发送 {message:?}，收到回显 {:?}（{} 字节）",
            String::from_utf8_lossy(&buf[..n]),
            n
        )?;
    }
    // 先打印再发送：服务器收到 True 后才打印，两边的输出顺序因此是确定的。
    say!("[客户端]   发送 \"True\"，请服务器结束")?;
    s.send_to(b"True", server).context("客户端发送失败")?;
    Ok(())
}
// ANCHOR_END: run

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}

/// 这个演示不接受参数。没有参数时返回 true；`-h` / `--help` 时返回 false；其他参数都是错误。
fn no_arguments() -> Result<bool> {
    let mut args = std::env::args().skip(1);
    match args.next() {
        None => Ok(true),
        Some(arg) if (arg == "-h" || arg == "--help") && args.next().is_none() => Ok(false),
        Some(arg) => {
            bail!("这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example udp_echo`")
        }
    }
}
