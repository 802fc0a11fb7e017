//! 练习答案（字节流与消息边界，练习 3）：长度前缀改用 2 个字节，一帧最长 65535 字节。
//! 同一个程序里有一个按 2 字节帧头回显的服务器端和一个客户端：客户端依次发 5、65535、
//! 65536 字节的消息。最后一条放不进 2 字节的帧头，客户端不发它，说明原因；
//! 写成 `len as u16` 的话，帧头会悄悄变成 0，对方从此把字节分错帧。
//!
//! 运行：`cargo run --example ex_byte_stream_u16_frames`（不接受参数）。

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// 读写最多等这么久：出了意外也不会永远卡住。
const TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "用法：ex_byte_stream_u16_frames
演示 2 字节的长度前缀：5、65535、65536 字节的消息，哪些能作为一帧发出。不接受参数。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

fn main() {
    match run() {
        Ok(()) => {}
        // 标准输出被关闭了：没有人在读了，安静地结束。
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
    let listener = TcpListener::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // 服务器端：接受一个连接，按 2 字节帧头一帧一帧地回显，直到对方关闭。
    let server = thread::spawn(move || -> Result<()> {
        let (mut conn, _) = listener.accept().context("接受连接失败")?;
        conn.set_read_timeout(Some(TIMEOUT))?;
        conn.set_write_timeout(Some(TIMEOUT))?;
        while let Some(body) = read_frame(&mut conn)? {
            write_frame(&mut conn, &body)?;
        }
        Ok(())
    });

    let mut client = TcpStream::connect_timeout(&addr, TIMEOUT).context("无法连接服务器端")?;
    client.set_read_timeout(Some(TIMEOUT))?;
    client.set_write_timeout(Some(TIMEOUT))?;
    for size in [5, 65535, 65536] {
        let message = vec![b'x'; size];
        match write_frame(&mut client, &message) {
            Ok(()) => {
                let echo = read_frame(&mut client)?.context("服务器端提前关闭了连接")?;
                say!("{size} 字节：作为一帧发出，收回 {} 字节", echo.len())?;
            }
            Err(why) => say!("{size} 字节：没有发出：{why:#}")?,
        }
    }
    drop(client); // 关闭连接：服务器端读到 0 字节，结束
    server
        .join()
        .map_err(|_| anyhow!("服务器端的线程 panic 了"))??;
    Ok(())
}

// ANCHOR: main
/// 发出一帧：2 字节的长度（大端序），然后是内容，一次写出。
fn write_frame(stream: &mut TcpStream, body: &[u8]) -> Result<()> {
    // 不能写 `body.len() as u16`：65536 会悄悄变成 0，帧头就错了。
    let len = u16::try_from(body.len()).map_err(|_| {
        anyhow!(
            "2 字节的长度前缀最多表示 65535 字节；写成 `as u16` 的话，帧头会是 {}",
            body.len() as u16
        )
    })?;
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    stream.write_all(&frame).context("发送一帧失败")
}

/// 读一帧：先读满 2 个字节的长度，再读满内容。在两帧之间读到连接的结尾，返回 None。
fn read_frame(stream: &mut TcpStream) -> Result<Option<Vec<u8>>> {
    let mut header = [0u8; 2];
    let n = stream.read(&mut header[..1]).context("读帧头失败")?;
    if n == 0 {
        return Ok(None);
    }
    stream.read_exact(&mut header[1..]).context("读帧头失败")?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(header))];
    stream.read_exact(&mut body).context("读一帧的内容失败")?;
    Ok(Some(body))
}
// ANCHOR_END: main

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
            bail!(
                "这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example ex_byte_stream_u16_frames`"
            )
        }
    }
}
