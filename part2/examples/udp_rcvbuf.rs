//! 接收缓冲区（`SO_RCVBUF`）有多大、能要到多大，以及它大一些时，一阵突发的数据报丢得少多少。
//!
//! 运行：`cargo run --example udp_rcvbuf`（不接受参数，不到 1 秒结束）。
//!
//! 先读出系统的两个设置 `net.core.rmem_default` 和 `net.core.rmem_max`，再用 socket2 要几种大小的
//! 接收缓冲区，看内核实际给了多少。然后做两次同样的实验：接收方先不读，发送方一口气发出
//! 150 个带序号的数据报，接收方再读出缓冲区里的全部数据报，按序号数一数收到了几个、丢了哪些。
//! 第一次用默认大小的缓冲区，第二次先要一个 1 MiB 的缓冲区。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

/// 发送方一口气发出的数据报个数。
const COUNT: u32 = 150;
/// 每个数据报的字节数（前 4 个字节是它的序号）。
const SIZE: usize = 1000;
/// 第二次实验要的接收缓冲区大小：1 MiB。
const BIG: usize = 1 << 20;
/// 接收方读空缓冲区之后，再等这么久；这段时间里没有新的数据报，就认为其余的都丢了。
const QUIET: Duration = Duration::from_millis(300);

const USAGE: &str = "用法：udp_rcvbuf
显示接收缓冲区（SO_RCVBUF）的默认大小和上限（net.core.rmem_default、net.core.rmem_max），
要几种大小的缓冲区看内核实际给了多少，再比较默认的缓冲区和 1 MiB 的缓冲区
在一阵 150 个数据报的突发里各收到几个。不接受参数。";

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

    // ANCHOR: limits
    // 系统的设置（man 7 socket）：新套接字的接收缓冲区有多大，普通程序最多能要到多大。
    // 和 `sysctl net.core.rmem_default net.core.rmem_max` 显示的一样。
    for name in ["rmem_default", "rmem_max"] {
        say!("net.core.{name} = {}", proc_setting(name))?;
    }

    // Python: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, want)
    //         s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    for want in [8192, BIG, 16 * BIG] {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).context("无法创建套接字")?;
        s.set_recv_buffer_size(want).context("无法设置接收缓冲区")?;
        let got = s.recv_buffer_size()?;
        say!("SO_RCVBUF：要 {want} 字节，得到 {got} 字节")?;
    }
    // ANCHOR_END: limits

    // ANCHOR: burst
    // 同样的突发，先用默认的接收缓冲区，再用 1 MiB 的。
    burst(None)?;
    burst(Some(BIG))?;
    // ANCHOR_END: burst
    Ok(())
}

// ANCHOR: burst-fn
/// 接收方先不读，发送方一口气发出 COUNT 个带序号的数据报；然后接收方读出全部，按序号清点。
/// `want` 是要的接收缓冲区大小；None 表示不设置，用默认的大小。
fn burst(want: Option<usize>) -> Result<()> {
    let r = Socket::new(Domain::IPV4, Type::DGRAM, None).context("无法创建套接字")?;
    if let Some(size) = want {
        r.set_recv_buffer_size(size).context("无法设置接收缓冲区")?;
    }
    let any_port: SocketAddr = "127.0.0.1:0".parse()?;
    r.bind(&any_port.into()).context("无法绑定 127.0.0.1:0")?;
    let rcvbuf = r.recv_buffer_size()?;
    let receiver: UdpSocket = r.into();
    let to = receiver.local_addr()?;

    // 发送方：每个数据报以自己的序号开头（4 字节，大端序），接收方才知道丢了哪些。
    let sender = UdpSocket::bind("127.0.0.1:0").context("无法绑定发送方的套接字")?;
    let from = sender.local_addr()?;
    let mut datagram = vec![b'.'; SIZE];
    for seq in 0..COUNT {
        datagram[..4].copy_from_slice(&seq.to_be_bytes());
        sender
            .send_to(&datagram, to)
            .with_context(|| format!("发送第 {seq} 个数据报失败"))?;
    }

    // 接收方：读到全部收齐，或者连续 QUIET 这么久没有新的数据报为止。
    receiver.set_read_timeout(Some(QUIET))?;
    let mut received = Vec::new();
    let mut buf = [0u8; 2048];
    while received.len() < COUNT as usize {
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
    let which = match want {
        None => "默认".to_string(),
        Some(size) => format!("要了 {size}"),
    };
    say!(
        "接收缓冲区 {rcvbuf} 字节（{which}）：发出 {COUNT} 个，收到 {} 个（序号 {}），丢失 {} 个",
        received.len(),
        ranges(&received),
        COUNT as usize - received.len()
    )?;
    Ok(())
}
// ANCHOR_END: burst-fn

/// 读 /proc/sys/net/core/ 下的一个设置；读不到（不是 Linux）时说一声。
fn proc_setting(name: &str) -> String {
    let path = format!("/proc/sys/net/core/{name}");
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_string(),
        Err(err) => format!("（读不到 {path}：{err}）"),
    }
}

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
            bail!("这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example udp_rcvbuf`")
        }
    }
}
