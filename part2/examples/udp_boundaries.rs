//! UDP 保留消息边界：发几个数据报，就收到几个，每个的长短都和发出时一样；
//! 比接收缓冲区长的数据报被截断，多出的字节再也读不到。
//!
//! 运行：`cargo run --example udp_boundaries`（不接受参数，立即结束）。
//!
//! 同一个程序里有一个发送方和一个接收方，都绑定在 127.0.0.1 上（端口 0：让系统挑）。
//! 发送方先把数据报全部发出，接收方再一个一个地收。

use std::io::{ErrorKind, Write};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use socket2::{MaybeUninitSlice, SockRef};

/// 接收方等一个数据报最多等这么久。在回环地址上，数据报在 `send_to` 返回前后就到了。
const WAIT: Duration = Duration::from_secs(5);

/// Linux 的 `MSG_TRUNC` 标志（`<sys/socket.h>` 里的值是 0x20）。socket2 没有导出这个常量，
/// libc crate 里有（`libc::MSG_TRUNC`）；本书的示例只依赖 anyhow 和 socket2，所以直接写出它的值。
#[cfg(target_os = "linux")]
const MSG_TRUNC: std::ffi::c_int = 0x20;

const USAGE: &str = "用法：udp_boundaries
演示 UDP 保留消息边界：发出 3 个长短不同的数据报（其中一个是空的），接收方正好收到 3 个，
长短不变；再演示比接收缓冲区长的数据报被截断，以及 MSG_TRUNC 标志。不接受参数。";

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

    // Python: r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))
    let receiver = UdpSocket::bind("127.0.0.1:0").context("无法绑定接收方的套接字")?;
    receiver.set_read_timeout(Some(WAIT))?;
    let to = receiver.local_addr()?;
    let sender = UdpSocket::bind("127.0.0.1:0").context("无法绑定发送方的套接字")?;
    let from = sender.local_addr()?;

    // ANCHOR: boundaries
    // 三个长短不同的数据报，其中一个是空的。发送方一口气全部发出，接收方这时还一个也没读。
    let datagrams: [&[u8]; 3] = [b"hello", b"", "边界还在，不会粘在一起".as_bytes()];
    for datagram in datagrams {
        // Python: s.sendto(datagram, addr)   —— 一次 sendto，一个数据报
        sender.send_to(datagram, to).context("发送失败")?;
    }
    let sizes: Vec<String> = datagrams
        .iter()
        .map(|d| format!("{} 字节", d.len()))
        .collect();
    say!("发送方发出 3 个数据报：{}", sizes.join("、"))?;

    // 接收方收 3 次：每次 recv_from 正好取出一个数据报，不多也不少。
    let mut buf = [0u8; 2048];
    say!("接收方 recv_from 3 次（缓冲区 {} 字节）：", buf.len())?;
    for i in 1..=3 {
        // Python: data, addr = r.recvfrom(2048)
        let n = recv_from_sender(&receiver, from, &mut buf)?;
        say!(
            "  第 {i} 次：{n} 字节 \"{}\"",
            String::from_utf8_lossy(&buf[..n])
        )?;
    }
    // ANCHOR_END: boundaries

    // ANCHOR: truncated
    // 一个 3000 字节的数据报，接收方只给 1024 字节的缓冲区；紧接着再发一个 "next"。
    let long = vec![b'x'; 3000];
    sender.send_to(&long, to).context("发送失败")?;
    sender.send_to(b"next", to).context("发送失败")?;
    let mut small = [0u8; 1024];
    say!(
        "比缓冲区长的数据报：发出 {} 字节，接收方的缓冲区只有 {} 字节",
        long.len(),
        small.len()
    )?;
    let n = recv_from_sender(&receiver, from, &mut small)?;
    say!(
        "  recv_from 得到 {n} 字节：其余 {} 字节被丢弃了",
        long.len() - n
    )?;
    // 多出的字节没有留给下一次：下一次 recv_from 取到的是下一个数据报。
    let n = recv_from_sender(&receiver, from, &mut small)?;
    say!(
        "  下一次 recv_from 得到 {n} 字节 \"{}\"：是下一个数据报，不是剩下的字节",
        String::from_utf8_lossy(&small[..n])
    )?;
    // ANCHOR_END: truncated

    // ANCHOR: msg-trunc
    // 怎样知道被截断了？recvmsg 返回的标志里有 MSG_TRUNC（man 7 udp；man 2 recv 的 msg_flags）。
    // std 的 UdpSocket 不返回这个标志；socket2 的 recv_from_vectored 用 recvmsg 接收，会返回它。
    // SockRef 让我们不交出所有权，就能在 std 的套接字上调用 socket2 的方法。
    let socket = SockRef::from(&receiver);
    // socket2 的接收缓冲区是 MaybeUninit<u8>：内核只往里写，不读。这里只看长度和标志，不看内容。
    let mut raw = [MaybeUninit::<u8>::uninit(); 1024];
    sender.send_to(&long, to).context("发送失败")?;
    let (n, flags) = loop {
        let (n, flags, addr) = socket
            .recv_from_vectored(&mut [MaybeUninitSlice::new(&mut raw)])
            .context("没有收到数据报")?;
        if addr.as_socket() == Some(from) {
            break (n, flags);
        }
    };
    say!(
        "  recvmsg：得到 {n} 字节，标志里{}有 MSG_TRUNC（数据报被截断了）",
        if flags.is_truncated() { "" } else { "没" }
    )?;

    // Linux 还能告诉你数据报原本有多长：接收时加上 MSG_TRUNC 标志，返回值就是原本的长度，
    // 尽管放进缓冲区的仍然只有 1024 字节（man 2 recv 的 MSG_TRUNC）。
    #[cfg(target_os = "linux")]
    {
        sender.send_to(&long, to).context("发送失败")?;
        let n = loop {
            let (n, addr) = socket
                .recv_from_with_flags(&mut raw, MSG_TRUNC)
                .context("没有收到数据报")?;
            if addr.as_socket() == Some(from) {
                break n;
            }
        };
        say!("  recv 加上 MSG_TRUNC 标志（Linux）：返回 {n}，数据报原本的长度")?;
    }
    // ANCHOR_END: msg-trunc
    Ok(())
}

/// 收一个发送方 `from` 发来的数据报，返回它的长度。别的程序发来的数据报不算，接着收：
/// 所以打印收到的文字时，不必担心别人发来的控制字符。
fn recv_from_sender(receiver: &UdpSocket, from: SocketAddr, buf: &mut [u8]) -> Result<usize> {
    loop {
        let (n, addr) = match receiver.recv_from(buf) {
            Ok(got) => got,
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("{} 秒内没有收到数据报", WAIT.as_secs())
            }
            Err(err) => return Err(err).context("接收失败"),
        };
        if addr == from {
            return Ok(n);
        }
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
        Some(arg) => bail!(
            "这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example udp_boundaries`"
        ),
    }
}
