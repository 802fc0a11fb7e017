//! 三种超时，各等 0.5 秒，看看标准库分别报告什么错误：
//! 连接超时（`TcpStream::connect_timeout`）、读超时（`set_read_timeout`）、写超时（`set_write_timeout`）。
//!
//! 运行：`cargo run --example timeouts`（不接受参数，大约 2 秒后结束）。
//!
//! 一、连接超时：监听套接字 `listen(0)`，之后从不 accept；第一个客户端排进积压队列，
//!    第二个客户端的 SYN 被内核丢掉，没有任何回应，`connect_timeout` 等满 0.5 秒。
//! 二、读超时：服务器一个字节也不发，客户端的 `read` 等满 0.5 秒。
//! 三、写超时：服务器一个字节也不读，两边的缓冲区写满之后，客户端的 `write` 等满 0.5 秒。

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

/// 每一种超时都等这么久。
const TIMEOUT: Duration = Duration::from_millis(500);

const USAGE: &str = "用法：timeouts
演示三种超时各报告什么错误：connect_timeout、set_read_timeout、set_write_timeout，各等 0.5 秒。
不接受参数。";

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

fn run() -> Result<()> {
    if !no_arguments()? {
        say!("{USAGE}")?;
        return Ok(());
    }
    connect_timeout()?;
    read_timeout()?;
    write_timeout()?;
    Ok(())
}

// ANCHOR: connect
/// 一、连接超时：积压队列满了，内核丢掉新来的 SYN，客户端等不到任何回应。
fn connect_timeout() -> Result<()> {
    say!("一、连接超时：TcpStream::connect_timeout(addr, 0.5 秒)")?;
    // Python: s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).context("无法创建套接字")?;
    let any_port: SocketAddr = "127.0.0.1:0".parse()?;
    s.bind(&any_port.into()).context("无法绑定 127.0.0.1:0")?;
    s.listen(0).context("无法监听")?; // 积压队列只排得下 1 个连接，之后从不 accept
    let addr = s.local_addr()?.as_socket().context("不是 IP 地址")?;
    let _first = TcpStream::connect_timeout(&addr, TIMEOUT).context("第一个连接失败")?;

    // Python: socket.create_connection(addr, timeout=0.5)
    let start = Instant::now();
    match TcpStream::connect_timeout(&addr, TIMEOUT) {
        Ok(_) => say!("意外：连上了")?,
        Err(err) => report(start, &err)?,
    }
    Ok(())
}
// ANCHOR_END: connect

// ANCHOR: read
/// 二、读超时：服务器接受了连接，可一个字节也不发。
fn read_timeout() -> Result<()> {
    say!("二、读超时：set_read_timeout(Some(0.5 秒))，然后 read")?;
    let listener = TcpListener::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?).context("连接失败")?;
    let (_server, _) = listener.accept().context("接受连接失败")?;

    // Python: c.settimeout(0.5); c.recv(1024)
    client.set_read_timeout(Some(TIMEOUT))?;
    let start = Instant::now();
    match client.read(&mut [0u8; 1024]) {
        Ok(n) => say!("意外：读到了 {n} 字节")?,
        Err(err) => report(start, &err)?,
    }
    Ok(())
}
// ANCHOR_END: read

// ANCHOR: write
/// 三、写超时：服务器一个字节也不读，客户端一直写，直到两边的缓冲区都满了。
fn write_timeout() -> Result<()> {
    say!("三、写超时：set_write_timeout(Some(0.5 秒))，然后一直 write，对方从不读")?;
    let listener = TcpListener::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?).context("连接失败")?;
    let (_server, _) = listener.accept().context("接受连接失败")?;

    // Python: c.settimeout(0.5); while True: c.send(chunk)
    client.set_write_timeout(Some(TIMEOUT))?;
    let chunk = vec![b'x'; 64 * 1024];
    loop {
        let start = Instant::now();
        if let Err(err) = client.write(&chunk) {
            report(start, &err)?;
            return Ok(());
        }
    }
}
// ANCHOR_END: write

// ANCHOR: report
/// 打印等了多久、错误的种类（`ErrorKind`）和错误本身。
fn report(start: Instant, err: &std::io::Error) -> Result<()> {
    let waited = start.elapsed();
    // 内核按时钟节拍计时，机器忙的时候还会晚一点：在 0.5 秒到 1 秒之间，就算“等满了 0.5 秒”。
    if waited >= TIMEOUT.mul_f64(0.9) && waited < TIMEOUT * 2 {
        say!("    等了 0.5 秒，错误的种类：{:?}，错误：{err}", err.kind())?;
    } else {
        say!(
            "    等了 {:.3} 秒，错误的种类：{:?}，错误：{err}",
            waited.as_secs_f64(),
            err.kind()
        )?;
    }
    Ok(())
}
// ANCHOR_END: report

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
            bail!("这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example timeouts`")
        }
    }
}
