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

use anyhow::{Context, Result, bail};

const MESSAGES: [&str; 3] = ["Hello, socket!", "你好，套接字！", "再见"];

const USAGE: &str = "用法：tcp_echo
一条命令看完一次 TCP 回显对话：服务器和客户端在同一个程序的两个线程里。不接受参数。";

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

    // 先在主线程里绑定：这样客户端开始连接之前，服务器已经在监听了。
    let listener = TcpListener::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    say!("[服务器端] 已绑定 {addr}，等待连接")?;

    // 客户端在主线程里连接：服务器在监听，连接在积压队列里等 accept，所以不必等服务器线程。
    let stream = TcpStream::connect(addr).with_context(|| format!("无法连接 {addr}"))?;
    let server = thread::spawn(move || serve(listener));
    let talked = talk(stream);
    // talk 返回时，客户端的连接已经关闭，服务器线程读到 0 字节就会结束，可以放心等它。
    // 先报告服务器线程的错误：服务器出错停下时，客户端只会看到连接断开。
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

/// 服务器端：和 tcp_echo_server 一样，接受一个客户端，逐段回显，直到对方关闭。
fn serve(listener: TcpListener) -> Result<()> {
    let (mut clnt, addr) = listener.accept().context("接受连接失败")?;
    say!("[服务器端] Client Address: {addr}")?;
    let mut buf = [0u8; 1024];
    loop {
        let n = clnt.read(&mut buf).context("服务器端接收失败")?;
        if n == 0 {
            say!("[服务器端] 读到 0 字节：客户端已关闭连接，服务器结束")?;
            return Ok(());
        }
        let data = &buf[..n];
        // 先打印再回显：客户端收到回显之后才打印，两个线程的输出顺序因此每次都一样。
        say!("[服务器端] Receive Data: {}", String::from_utf8_lossy(data))?;
        clnt.write_all(data).context("服务器端发送失败")?;
    }
}

/// 客户端：和 tcp_echo_client 一样，每发一条消息，就读满同样多的字节作为回显。
fn talk(mut stream: TcpStream) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    for message in MESSAGES {
        stream
            .write_all(message.as_bytes())
            .context("客户端发送失败")?;
        let mut reply = vec![0u8; message.len()];
        stream
            .read_exact(&mut reply)
            .context("客户端接收回显失败")?;
        say!(
            "[客户端]   发送 {message:?}，收到回显 {:?}（{} 字节）",
            String::from_utf8_lossy(&reply),
            reply.len()
        )?;
    }
    say!("[客户端]   关闭连接")?;
    Ok(())
    // stream 在这里被丢弃，连接关闭。
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
            bail!("这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example tcp_echo`")
        }
    }
}
