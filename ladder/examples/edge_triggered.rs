//! 边沿触发的演示：mio 在 Linux 上用 epoll 的边沿触发（EPOLLET），只在套接字“有变化”
//! （新数据到来）时通知一次。读了一半就回去等，剩下的数据明明还在内核里，却再也等不到通知；
//! 直到对方又发来新数据，才又通知一次。这正是 epoll(7) 手册页里的那个例子。
//!
//! 运行：`cargo run --example edge_triggered`（不要参数：它自己在回环地址上建一条连接）。

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const USAGE: &str = "用法：edge_triggered
边沿触发的演示：在回环地址上建一条连接，用 mio（epoll 的边沿触发）等它可读；
读了一半就回去等，看看还等不等得到通知。不需要参数。";

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

// ANCHOR: demo
fn run() -> Result<()> {
    match std::env::args().nth(1) {
        None => {}
        Some(arg) if arg == "-h" || arg == "--help" => {
            say!("{USAGE}")?;
            return Ok(());
        }
        Some(arg) => bail!(
            "这个演示不需要参数（收到了 `{arg}`）：直接运行 cargo run --example edge_triggered"
        ),
    }
    // 一条回环连接：writer 是对方，reader 是我们，非阻塞，交给 mio 盯着。
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("绑定失败")?;
    let mut writer = std::net::TcpStream::connect(listener.local_addr()?).context("连接失败")?;
    let (reader, _) = listener.accept().context("接受连接失败")?;
    reader.set_nonblocking(true)?;
    let mut reader = TcpStream::from_std(reader);
    let mut poll = Poll::new().context("创建 epoll 失败")?;
    let mut events = Events::with_capacity(8);
    poll.registry()
        .register(&mut reader, Token(0), Interest::READABLE)?;

    writer.write_all(&[b'a'; 2048])?;
    say!("对方发来 2048 字节")?;
    wait(&mut poll, &mut events)?;

    let n = reader.read(&mut [0u8; 1024])?;
    say!("只读 {n} 字节就回去等：内核里还剩 {} 字节", 2048 - n)?;
    wait(&mut poll, &mut events)?;

    writer.write_all(b"b")?;
    say!("对方又发来 1 字节")?;
    wait(&mut poll, &mut events)?;

    // 正确的做法：一直读到 WouldBlock，内核里的数据读空了，才回去等。
    let mut total = 0;
    let mut buf = [0u8; 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => bail!("对方意外地关闭了连接"),
            Ok(n) => total += n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err).context("读取失败"),
        }
    }
    say!("这次一直读到 WouldBlock：读了 {total} 字节，内核里空了")?;
    wait(&mut poll, &mut events)?;
    Ok(())
}

/// 等 mio 通知，最多 1 秒，说出等到了什么。
fn wait(poll: &mut Poll, events: &mut Events) -> Result<()> {
    poll.poll(events, Some(Duration::from_secs(1)))
        .context("等待事件失败")?;
    match events.iter().next() {
        Some(event) if event.is_readable() => say!("  poll：可读")?,
        Some(_) => say!("  poll：有事件，但不是可读")?,
        None => say!("  poll：等了 1 秒，没有事件")?,
    }
    Ok(())
}
// ANCHOR_END: demo

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}
