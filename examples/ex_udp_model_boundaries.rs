//! 练习答案（UDP 通信模型，练习 1）：数据报有边界。两次 `send_to` 发出的两个数据报，
//! 用再大的缓冲区也要 `recv_from` 两次；一个 11 字节的数据报用 4 字节的缓冲区接收，
//! 只得到前 4 个字节，剩下的被丢弃，下一次 `recv_from` 什么也等不到。
//!
//! 运行：`cargo run --example ex_udp_model_boundaries`（不接受参数，大约 1 秒后结束）。

use std::io::{ErrorKind, Write};
use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const USAGE: &str = "用法：ex_udp_model_boundaries
演示数据报的边界：两个数据报、一个大缓冲区；一个长数据报、一个小缓冲区。不接受参数。";

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

/// 最后一次接收最多等这么久：什么也等不到，就说明剩下的字节已经没有了。
const WAIT: Duration = Duration::from_secs(1);

// ANCHOR: main
fn run() -> Result<()> {
    if !no_arguments()? {
        say!("{USAGE}")?;
        return Ok(());
    }
    let receiver = UdpSocket::bind("127.0.0.1:0").context("无法绑定接收方")?;
    let sender = UdpSocket::bind("127.0.0.1:0").context("无法绑定发送方")?;
    let to = receiver.local_addr()?;
    receiver.set_read_timeout(Some(WAIT))?;

    // 两次 send_to：两个数据报
    sender.send_to(b"hello", to)?;
    sender.send_to(b"world", to)?;
    let mut big = [0u8; 1024];
    for _ in 0..2 {
        let (n, _) = receiver.recv_from(&mut big).context("接收失败")?;
        say!(
            "1024 字节的缓冲区收到 {n} 个字节：{}",
            String::from_utf8_lossy(&big[..n])
        )?;
    }

    // 一个 11 字节的数据报，只给 4 个字节的缓冲区
    sender.send_to(b"hello world", to)?;
    let mut small = [0u8; 4];
    let (n, _) = receiver.recv_from(&mut small).context("接收失败")?;
    say!(
        "4 字节的缓冲区收到 {n} 个字节：{}",
        String::from_utf8_lossy(&small[..n])
    )?;
    match receiver.recv_from(&mut small) {
        Ok((n, _)) => bail!("意外地又收到了 {n} 个字节"),
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => say!(
            "再等 {} 秒：什么也没有，剩下的 7 个字节被丢弃了",
            WAIT.as_secs()
        )?,
        Err(err) => return Err(err).context("接收失败"),
    }
    Ok(())
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
                "这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example ex_udp_model_boundaries`"
            )
        }
    }
}
