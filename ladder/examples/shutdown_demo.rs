//! 优雅地停止服务器要用到的两件事，在回环地址上各做一遍给你看：
//!
//! 1. `shutdown(Shutdown::Read)`：从另一个线程叫醒阻塞在 `read` 上的线程；已经到达的数据照样读得到，
//!    读完了 `read` 返回 0。
//! 2. 关闭一个接收缓冲区里还有没读的数据的连接：直接关闭，内核发 RST，客户端读完已经到达的回显，
//!    接着读到的是“连接被复位”；先 `shutdown(Shutdown::Write)` 发出 FIN 再关闭，客户端读到的是 EOF。
//!
//! 运行：`cargo run --example shutdown_demo`。不需要参数，所有连接都在 127.0.0.1 上。

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 每次读写最多等这么久：演示里的每一步都应该立刻完成，等这么久还没完成就是出了问题。
const TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "用法：shutdown_demo
在回环地址上演示 shutdown(Read) 怎样叫醒阻塞的 read，以及关闭连接之前为什么要先发出 FIN。";

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
    if let Some(arg) = std::env::args().nth(1) {
        if arg == "-h" || arg == "--help" {
            say!("{USAGE}")?;
            return Ok(());
        }
        bail!("这个演示不需要参数，而不是 `{arg}`：用 --help 查看用法");
    }
    shutdown_read()?;
    close_with_unread_data(false)?;
    close_with_unread_data(true)?;
    Ok(())
}

/// 一对连在一起的 TCP 套接字：(服务器这一端, 客户端那一端)，读写都有超时。
fn pair() -> Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?).context("无法连接")?;
    let (server, _) = listener.accept().context("无法接受连接")?;
    for stream in [&server, &client] {
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
    }
    Ok((server, client))
}

/// 读一次，说读到了什么。
fn describe(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(0) => "0 字节".to_string(),
        Ok(n) => format!("{n} 字节：{}", String::from_utf8_lossy(&buf[..n])),
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            "超时：什么也没读到".to_string()
        }
        Err(err) => format!("错误：{err}"),
    }
}

// ANCHOR: shut-rd
/// shutdown(Read)：已经到达的数据先读出来，然后 read 返回 0；阻塞在 read 上的线程被叫醒。
fn shutdown_read() -> Result<()> {
    let (mut server, mut client) = pair()?;
    say!("1. 客户端发来“早到的数据”，服务器还没读，就关闭了读的方向：")?;
    client.write_all("早到的数据".as_bytes())?;
    // peek 看一眼、不取走：等数据真的到了服务器的接收缓冲区，再关闭读的方向。
    server.peek(&mut [0u8; 1]).context("等数据到达")?;
    server.shutdown(Shutdown::Read)?;
    say!("   服务器 read：{}", describe(&mut server))?;
    say!("   服务器 read：{}", describe(&mut server))?;

    let (server, _client) = pair()?;
    say!("2. 一个线程阻塞在 read 上，另一个线程关闭这个连接读的方向：")?;
    let mut reader = server.try_clone()?; // 同一个套接字的另一个文件描述符
    let blocked = thread::spawn(move || describe(&mut reader));
    server.shutdown(Shutdown::Read)?;
    let woke = blocked
        .join()
        .map_err(|_| anyhow::anyhow!("读的线程 panic 了"))?;
    say!("   那个线程的 read：{woke}")?;
    Ok(())
}
// ANCHOR_END: shut-rd

// ANCHOR: fin-first
/// 服务器发出回显以后，客户端又发来数据；服务器还没读它，就关闭了连接。
fn close_with_unread_data(fin_first: bool) -> Result<()> {
    let (mut server, mut client) = pair()?;
    if fin_first {
        say!("4. 先 shutdown(Write) 发出 FIN，再关闭：")?;
    } else {
        say!("3. 接收缓冲区里还有没读的数据，直接关闭：")?;
    }
    server.write_all("回显".as_bytes())?;
    if fin_first {
        server.shutdown(Shutdown::Write)?; // FIN 跟在回显后面发出去
    }
    client.write_all("晚到的数据".as_bytes())?;
    server.peek(&mut [0u8; 1]).context("等数据到达")?; // 它到了，服务器没有读
    drop(server); // 关闭：接收缓冲区里有没读的数据，内核发 RST
    say!("   客户端 read：{}", describe(&mut client))?;
    say!("   客户端 read：{}", describe(&mut client))?;
    Ok(())
}
// ANCHOR_END: fin-first

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}
