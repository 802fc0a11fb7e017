//! 练习答案（UDP 通信模型，练习 2）：一个 IPv4 的 UDP 数据报最多能装多少字节。
//! IP 包的长度字段是 16 位，最长 65535 字节，减去 IP 头 20 字节和 UDP 头 8 字节，
//! 剩下 65507 字节。多一个字节，`send_to` 就失败：Message too long。
//!
//! 运行：`cargo run --example ex_udp_model_max_datagram`（不接受参数）。

use std::io::Write;
use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const USAGE: &str = "用法：ex_udp_model_max_datagram
在回环地址上发送 65507 和 65508 字节的 UDP 数据报，看哪一个发得出去。不接受参数。";

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

/// 接收最多等这么久：回环地址上，发出去的数据报立刻就到。
const WAIT: Duration = Duration::from_secs(5);

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
    let mut buf = vec![0u8; 65536];
    for size in [65507, 65508] {
        let data = vec![b'x'; size];
        match sender.send_to(&data, to) {
            Ok(_) => {
                let (n, _) = receiver.recv_from(&mut buf).context("接收失败")?;
                say!("{size} 字节：发出去了，对方收到 {n} 个字节")?;
            }
            Err(err) => say!("{size} 字节：send_to 失败：{err}")?,
        }
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
                "这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example ex_udp_model_max_datagram`"
            )
        }
    }
}
