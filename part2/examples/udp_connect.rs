//! 对 UDP 套接字调用 `connect`：不发任何数据包，只是让内核记住对方的地址。之后
//! 一、`send` / `recv` 不用写地址；
//! 二、别的地址发来的数据报，内核不交给这个套接字；
//! 三、发往一个没有人收的端口时，对方的内核回一个 ICMP“端口不可达”，
//!     Linux 把它报告为下一次 `recv`（或 `send`）的错误 ECONNREFUSED（Connection refused）；
//!     没有 connect 的套接字什么也得不到，只能等到超时。
//!
//! 运行：`cargo run --example udp_connect`（不接受参数，大约 1 秒后结束）。

use std::io::{ErrorKind, Write};
use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 等一个一定会来的数据报或错误，最多等这么久。在回环地址上，它们几乎立刻就到。
const WAIT: Duration = Duration::from_secs(5);
/// 没有 connect 的套接字等回复的时间：什么也不会来，等到超时为止。
const SHORT_WAIT: Duration = Duration::from_secs(1);

const USAGE: &str = "用法：udp_connect
演示对 UDP 套接字调用 connect 之后的三件事：send/recv 不用写地址；别的地址发来的数据报被内核丢掉；
发往没有人收的端口时，下一次 recv 得到 Connection refused（没有 connect 的套接字只会超时）。
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

    // 一个“服务器”：只是一个绑定在 127.0.0.1 上的套接字，由这个程序自己替它收发。
    let server = UdpSocket::bind("127.0.0.1:0").context("无法绑定服务器的套接字")?;
    server.set_read_timeout(Some(WAIT))?;
    let server_addr = server.local_addr()?;
    say!("服务器：{server_addr}")?;

    // ANCHOR: connect
    say!("一、客户端 connect 到服务器，之后收发都不用写地址")?;
    // Python: c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.connect((HOST, PORT))
    let client = UdpSocket::bind("127.0.0.1:0").context("无法绑定客户端的套接字")?;
    client.set_read_timeout(Some(WAIT))?;
    client.connect(server_addr).context("connect 失败")?;
    // Python: c.send(b'ping')
    client.send(b"ping").context("send 失败")?;
    let client_addr = client.local_addr()?;
    let mut buf = [0u8; 1024];
    // 服务器收到 ping，回显给客户端（别的程序发来的数据报不理）。
    loop {
        let (n, from) = server.recv_from(&mut buf).context("服务器没有收到")?;
        if from == client_addr {
            server.send_to(&buf[..n], client_addr)?;
            break;
        }
    }
    // Python: data = c.recv(1024)
    let n = client.recv(&mut buf).context("recv 失败")?;
    say!(
        "   send \"ping\"，recv 收到 \"{}\"",
        String::from_utf8_lossy(&buf[..n])
    )?;
    // ANCHOR_END: connect

    // ANCHOR: filter
    say!("二、一个陌生人往客户端的端口发数据报")?;
    // 陌生人也 connect 到客户端的地址，这样它才能收到 ICMP 错误（见第三步）。
    let stranger = UdpSocket::bind("127.0.0.1:0").context("无法绑定陌生人的套接字")?;
    stranger.set_read_timeout(Some(WAIT))?;
    stranger.connect(client_addr)?;
    stranger.send(b"I am a stranger")?;
    // 客户端只认 connect 的那个地址，内核找不到愿意收这个数据报的套接字，就回一个“端口不可达”。
    say!("   陌生人的 recv：{}", recv_result(&stranger, &mut buf)?)?;
    server.send_to(b"pong", client_addr)?;
    say!(
        "   服务器接着发来 \"pong\"，客户端的 recv：{}",
        recv_result(&client, &mut buf)?
    )?;
    // ANCHOR_END: filter

    // ANCHOR: refused
    say!("三、往一个没有人收的端口发数据报")?;
    // 怎样得到一个确定没有人收的端口？绑定一个端口，再让这个套接字 connect 到它自己：
    // 它只收自己发的数据报（第二步），别人发来的一律被拒收；端口一直被它占着，别的程序也绑定不了。
    // （绑定再关闭也能空出一个端口，但关闭之后，别的程序可能恰好绑定它。）
    let closed = UdpSocket::bind("127.0.0.1:0").context("无法绑定套接字")?;
    closed.connect(closed.local_addr()?)?;
    let nobody = closed.local_addr()?;

    // connect 过的套接字：send 成功，ICMP 错误在下一次 recv 时报告。
    let connected = UdpSocket::bind("127.0.0.1:0").context("无法绑定套接字")?;
    connected.set_read_timeout(Some(WAIT))?;
    connected.connect(nobody)?;
    connected.send(b"anybody there?").context("send 失败")?;
    say!(
        "   connect 过的套接字：send 成功；recv：{}",
        recv_result(&connected, &mut buf)?
    )?;

    // 没有 connect 的套接字：同样的数据报，send_to 也成功，但 ICMP 错误不会报告给它。
    let unconnected = UdpSocket::bind("127.0.0.1:0").context("无法绑定套接字")?;
    unconnected.set_read_timeout(Some(SHORT_WAIT))?;
    unconnected
        .send_to(b"anybody there?", nobody)
        .context("send_to 失败")?;
    say!(
        "   没有 connect 的套接字：send_to 成功；recv_from：{}",
        recv_result(&unconnected, &mut buf)?
    )?;
    // ANCHOR_END: refused
    Ok(())
}

// ANCHOR: recv-result
/// 收一个数据报，把结果写成一句话：收到了什么、得到什么错误，或者超时。
fn recv_result(s: &UdpSocket, buf: &mut [u8]) -> Result<String> {
    let timeout = s.read_timeout()?.unwrap_or_default().as_secs();
    Ok(match s.recv_from(buf) {
        // 没有 connect 的套接字谁发来的都收：内容经 printable 处理再打印。
        Ok((n, _)) => format!("收到 \"{}\"", printable(&buf[..n])),
        // 超时：Linux 报告 WouldBlock，Windows 报告 TimedOut。
        Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            format!("{timeout} 秒内什么也没收到，也没有错误")
        }
        // ECONNREFUSED：err.kind() 是 ErrorKind::ConnectionRefused。
        Err(err) => format!("错误 {err}"),
    })
}
// ANCHOR_END: recv-result

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}

/// 把收到的字节变成可以安全打印的文字：不是 UTF-8 的字节显示为 �；控制字符（换行、ESC 等）
/// 和看不见的格式字符（比如让一行字倒过来显示的 U+202E）显示成转义序列（`\n`、`\u{1b}`、
/// `\u{202e}`），对方就无法伪造一行输出，也无法操纵终端。
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| match c {
            // 引号和反斜杠照原样显示；其余的交给 escape_debug：看得见的字符（包括汉字）不变，
            // 控制字符和看不见的字符变成转义序列。
            '\\' | '"' | '\'' => c.to_string(),
            _ => c.escape_debug().to_string(),
        })
        .collect()
}

/// 这个演示不接受参数。没有参数时返回 true；`-h` / `--help` 时返回 false；其他参数都是错误。
fn no_arguments() -> Result<bool> {
    let mut args = std::env::args().skip(1);
    match args.next() {
        None => Ok(true),
        Some(arg) if (arg == "-h" || arg == "--help") && args.next().is_none() => Ok(false),
        Some(arg) => {
            bail!("这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example udp_connect`")
        }
    }
}
