//! UDP 在回环地址上也会丢数据报：接收方的接收缓冲区满了，内核就把新来的数据报丢掉。
//!
//! 运行：`cargo run --example udp_loss`（不接受参数，不到 1 秒结束）。
//!
//! 接收方把接收缓冲区（`SO_RCVBUF`）设得很小，并且先不读；发送方一口气发出 100 个数据报；
//! 然后接收方把缓冲区里的数据报全部读出来，数一数。发送方的每一次 `send_to` 都成功了：
//! 丢掉的数据报，发送方和接收方都得不到任何错误。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

/// 发送方一口气发出的数据报个数。
const COUNT: u32 = 100;
/// 每个数据报的字节数（前 4 个字节是它的序号）。
const SIZE: usize = 1000;
/// 要求的接收缓冲区大小（Linux 会把它加倍，见 `man 7 socket` 的 SO_RCVBUF）。
const RCVBUF: usize = 8192;
/// 接收方读空缓冲区之后，再等这么久；这段时间里没有新的数据报，就认为其余的都丢了。
const QUIET: Duration = Duration::from_millis(500);

const USAGE: &str = "用法：udp_loss
演示 UDP 在回环地址上也会丢数据报：接收缓冲区很小、接收方暂时不读时，
发送方一口气发出 100 个数据报，再数一数收到了几个。不接受参数。";

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

    // 接收方：用 socket2 创建，先设置接收缓冲区的大小，再绑定（端口 0：让系统挑）。
    // Python: r = socket.socket(AF_INET, SOCK_DGRAM)
    //         r.setsockopt(SOL_SOCKET, SO_RCVBUF, 8192); r.bind(('127.0.0.1', 0))
    let r = Socket::new(Domain::IPV4, Type::DGRAM, None).context("无法创建套接字")?;
    r.set_recv_buffer_size(RCVBUF)
        .context("无法设置接收缓冲区")?;
    let any_port: SocketAddr = "127.0.0.1:0".parse()?;
    r.bind(&any_port.into()).context("无法绑定 127.0.0.1:0")?;
    let rcvbuf = r.recv_buffer_size()?;
    let receiver: UdpSocket = r.into();
    let to = receiver.local_addr()?;
    say!("接收方：{to}，接收缓冲区 {rcvbuf} 字节（要求的是 {RCVBUF}），暂时不读")?;

    // 发送方：一口气发出 COUNT 个数据报，每个都以自己的序号开头。
    let sender = UdpSocket::bind("127.0.0.1:0").context("无法绑定发送方的套接字")?;
    let from = sender.local_addr()?;
    let mut datagram = vec![b'.'; SIZE];
    for seq in 0..COUNT {
        datagram[..4].copy_from_slice(&seq.to_be_bytes());
        sender
            .send_to(&datagram, to)
            .with_context(|| format!("发送第 {seq} 个数据报失败"))?;
    }
    say!("发送方：发出 {COUNT} 个数据报，每个 {SIZE} 字节，send_to 每次都成功")?;

    // 接收方开始读：读到连续 QUIET 这么久没有新的数据报为止。
    receiver.set_read_timeout(Some(QUIET))?;
    let mut received = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        match receiver.recv_from(&mut buf) {
            // 只数发送方发来的、长度对的数据报。
            Ok((n, addr)) if addr == from && n == SIZE => {
                received.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
            }
            Ok(_) => {} // 别的程序发来的数据报：不算
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break;
            }
            Err(err) => return Err(err).context("接收失败"),
        }
    }
    say!(
        "接收方：收到 {} 个，序号 {}",
        received.len(),
        ranges(&received)
    )?;
    say!(
        "丢失：{} 个，发送方和接收方都没有得到任何错误",
        COUNT as usize - received.len()
    )?;
    Ok(())
}
// ANCHOR_END: run

/// 把一串序号写成区间：`[0, 1, 2, 5]` 写成 `0～2、5`；一个也没有时写“无”。
fn ranges(seqs: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seqs.len() {
        let start = seqs[i];
        while i + 1 < seqs.len() && seqs[i + 1] == seqs[i] + 1 {
            i += 1;
        }
        parts.push(if seqs[i] == start {
            start.to_string()
        } else {
            format!("{start}～{}", seqs[i])
        });
        i += 1;
    }
    if parts.is_empty() {
        "无".to_string()
    } else {
        parts.join("、")
    }
}

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
            bail!("这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example udp_loss`")
        }
    }
}
