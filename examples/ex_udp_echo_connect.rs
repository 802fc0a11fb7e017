//! 练习答案（用套接字建立 UDP 连接，练习 2）：先 `connect(server)`，再用 `send` / `recv`
//! 代替 `send_to` / `recv_from` 的 UDP 回显客户端。`connect` 不发任何数据报，只让内核记住对方：
//! 从此只有来自服务器的数据报送到这个套接字，服务器的端口没有人监听时，
//! 下一次 `recv` 会得到 ECONNREFUSED（内核收到了 ICMP“端口不可达”）。
//!
//! 运行：先启动 `cargo run --example udp_echo_server`，再运行 `cargo run --example ex_udp_echo_connect`；
//! 不启动服务器直接运行它，看它报什么错。

use std::io::{BufRead, ErrorKind, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// 没有给出地址时发往的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 每发一行，最多等这么久的回复。UDP 不保证送达：数据报或回复丢了，就不会有回复。
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

const USAGE: &str = "用法：ex_udp_echo_connect [地址]
UDP 回显客户端（先 connect）：把标准输入的每一行作为一个数据报发给服务器，打印服务器的回复；服务器没有运行时报错退出。
地址是服务器的 主机:端口，默认 127.0.0.1:3214；也可以写 localhost:3214，IPv6 写成 [::1]:3214。";

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

// ANCHOR: main
fn run() -> Result<()> {
    let Some(server) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let local: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let s = UdpSocket::bind(local).context("无法创建 UDP 套接字")?;
    // 不发任何数据报：只是让内核记住对方的地址。
    s.connect(server)
        .with_context(|| format!("无法把 UDP 套接字连接到 {server}"))?;

    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop();
        }
        // 不用再写地址：send 发往 connect 时给的地址。
        s.send(&data)
            .map_err(|err| refused_or(err, server, "发送数据报失败"))?;
        if let Some(reply) = wait_for_reply(&s, server, &data)? {
            say!("{}", printable(&reply))?;
        }
    }
    Ok(())
}

/// 等 `line` 的回复，直到发送后 REPLY_TIMEOUT 为止。来自别的地址的数据报已经被内核丢掉了，
/// 这里只需要跳过迟到或重复的回复。
fn wait_for_reply(s: &UdpSocket, server: SocketAddr, line: &[u8]) -> Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut buf = [0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            eprintln!(
                "（{} 秒内没有收到回复：数据报可能丢了）",
                REPLY_TIMEOUT.as_secs()
            );
            return Ok(None);
        }
        s.set_read_timeout(Some(left))?;
        match s.recv(&mut buf) {
            Ok(n) if &buf[..n] == line => return Ok(Some(buf[..n].to_vec())),
            Ok(_) => eprintln!("（收到一个不是这一行的回复：迟到或重复的回复，忽略）"),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(err) => return Err(refused_or(err, server, "接收回复失败")),
        }
    }
}

/// ECONNREFUSED 在 UDP 上的意思：对方主机回了 ICMP“端口不可达”，那个端口上没有程序在收。
fn refused_or(err: std::io::Error, server: SocketAddr, what: &str) -> anyhow::Error {
    if err.kind() == ErrorKind::ConnectionRefused {
        anyhow::Error::new(err).context(format!(
            "{what}：{server} 上没有程序在接收（服务器启动了吗？）"
        ))
    } else {
        anyhow::Error::new(err).context(what.to_string())
    }
}
// ANCHOR_END: run

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

/// 读取可选的命令行参数：服务器的地址，形如 `127.0.0.1:3214`、`[::1]:3214` 或 `localhost:3214`。
/// `-h` / `--help` 时返回 None。
fn parse_addr() -> Result<Option<SocketAddr>> {
    let mut args = std::env::args().skip(1);
    let text = match args.next() {
        None => DEFAULT_ADDR.to_string(),
        Some(arg) if arg == "-h" || arg == "--help" => return Ok(None),
        Some(arg) if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
        Some(arg) => arg,
    };
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个地址，例如 `cargo run --example ex_udp_echo_connect -- 127.0.0.1:3214`"
        );
    }
    // `::1:80` 有歧义：它本身就是一个合法的 IPv6 地址。所以 IPv6 地址要写在方括号里。
    if !text.starts_with('[') && text.matches(':').count() > 1 {
        bail!("无法解析地址 `{text}`：IPv6 地址要放在方括号里，例如 [::1]:3214");
    }
    // to_socket_addrs 解析 IP:端口，或者查询主机名（localhost 可能对应 127.0.0.1 和 ::1 两个地址）。
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "无法解析地址 `{text}`：应写成 主机:端口，例如 127.0.0.1:3214、[::1]:3214 或 localhost:3214"
            )
        })?
        .collect();
    // UDP 没有连接可以试：用第一个 IPv4 地址（和 Python 默认的 AF_INET 套接字一样），
    // 没有 IPv4 地址时用第一个地址。
    let server = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first());
    match server {
        Some(server) if server.port() == 0 => {
            bail!("`{text}` 的端口是 0：端口 0 只在绑定时表示“让系统挑一个”，不能发往它")
        }
        Some(server) => Ok(Some(*server)),
        None => bail!("无法解析地址 `{text}`：这个主机名没有对应的 IP 地址"),
    }
}
