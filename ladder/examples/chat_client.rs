//! 聊天室的客户端：把你输入的每一行发给服务器，同时把服务器发来的每一行（别人说的话）打印出来。
//!
//! 运行：先在一个终端启动 `cargo run --example chat_server`（或者 `chat_tokio`），再在另外两个
//! 终端里各运行一个 `cargo run --example chat_client`（默认连接 127.0.0.1:3214）。
//! 按 Ctrl-D 结束输入：客户端半关闭连接，打印完服务器还发来的行，等服务器关闭连接后退出。
//!
//! 两个线程：一个线程读标准输入，发给服务器；主线程读服务器发来的行，打印出来。
//! 所以你还在打字的时候，别人说的话也会随时出现在屏幕上。

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 没有给出地址时连接的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 连接、发送，每一步最多等这么久。接收不设期限：聊天室里没人说话是常事。
const TIMEOUT: Duration = Duration::from_secs(5);
/// 服务器发来的一行最长多少字节：客户端也不让对方撑大自己的内存。
const MAX_LINE: usize = 64 * 1024;

const USAGE: &str = "用法：chat_client [地址]
聊天室的客户端：把标准输入的每一行发给服务器，同时把服务器发来的每一行打印出来。
输入结束（Ctrl-D）后半关闭连接，打印完服务器还发来的行；服务器关闭连接时说一句，然后退出。
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

// ANCHOR: main-part
fn run() -> Result<()> {
    let Some((name, addrs)) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let stream = connect(&addrs).map_err(|err| {
        // 连上了，可服务器马上复位了连接：非阻塞的 connect 等到的是 RST，报告 ECONNRESET。
        // 这时服务器是启动了的，不要让人去查地址和端口。
        let hint = if err.kind() == ErrorKind::ConnectionReset {
            "连上了，但服务器马上复位（RST）了连接"
        } else {
            "服务器启动了吗？地址和端口对吗？"
        };
        anyhow::Error::new(err).context(format!("无法连接 {name}（{hint}）"))
    })?;
    stream.set_write_timeout(Some(TIMEOUT))?;

    // 发送的线程：把标准输入发给服务器，输入结束时半关闭。
    let sender = stream.try_clone()?;
    thread::spawn(move || {
        if let Err(err) = send_stdin(sender) {
            // 服务器关闭或复位了连接（复位以后再半关闭，报告的是 NotConnected）：主线程会读到，
            // 由它来说。别的错误在这里说，然后结束。
            if !matches!(
                err.downcast_ref::<std::io::Error>().map(|e| e.kind()),
                Some(ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::NotConnected)
            ) {
                eprintln!("错误：{err:#}");
                std::process::exit(1);
            }
        }
    });

    // 主线程：一行一行地读服务器发来的字节，打印出来，直到服务器关闭连接。
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .context("接收失败")?;
        if n == 0 {
            break; // 服务器关闭了连接
        }
        // 别人发来的字节原样转发到这里：先变成可以安全打印的文字，再打印。
        match line.strip_suffix(b"\n") {
            Some(text) => say!("{}", printable(text))?,
            None if line.len() == MAX_LINE => bail!("服务器发来的一行超过了 {MAX_LINE} 字节"),
            // 没有 \n 就到了连接的结尾：服务器在一行的中间关闭了连接。
            None => say!("{}（这一行没有收完）", printable(&line))?,
        }
    }
    say!("服务器关闭了连接")?;
    Ok(())
}

/// 发送的线程：把标准输入读到的字节原样发出去。输入结束时，如果最后一行没有 `\n`，补上一个，
/// 然后半关闭连接，告诉服务器“我说完了”；服务器发来的行还会接着打印。
fn send_stdin(mut stream: TcpStream) -> Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 8192];
    let mut last = b'\n';
    loop {
        // 从终端读：每次读到一行；从管道读：每次读到一块，可能是几行，也可能是半行。
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err).context("读取标准输入失败"),
        };
        stream.write_all(&buf[..n]).context("发送失败")?;
        last = buf[n - 1];
    }
    if last != b'\n' {
        stream.write_all(b"\n").context("发送失败")?;
    }
    stream.shutdown(Shutdown::Write).context("半关闭连接失败")?;
    Ok(())
}
// ANCHOR_END: main-part

/// 像 Python 的 socket.create_connection 一样：依次尝试主机名对应的每个地址，
/// 每个最多等 TIMEOUT；都失败时，返回最后一个错误。
fn connect(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last_err = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("没有可以连接的地址")))
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

/// 把收到的字节变成可以安全打印的文字：不是 UTF-8 的字节显示为 �；控制字符（换行、ESC 等）
/// 和看不见的格式字符（比如让一行字倒过来显示的 U+202E）显示成转义序列（`\n`、`\u{1b}`、
/// `\u{202e}`），别人就无法伪造一行输出，也无法操纵你的终端。
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
/// 返回写下的地址和它解析出的所有 IP 地址；`-h` / `--help` 时返回 None。
fn parse_addr() -> Result<Option<(String, Vec<SocketAddr>)>> {
    let mut args = std::env::args().skip(1);
    let text = match args.next() {
        None => DEFAULT_ADDR.to_string(),
        Some(arg) if arg == "-h" || arg == "--help" => return Ok(None),
        Some(arg) if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
        Some(arg) => arg,
    };
    if args.next().is_some() {
        bail!("参数太多：只需要一个地址，例如 `cargo run --example chat_client -- 127.0.0.1:3214`");
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
    if addrs.is_empty() {
        bail!("无法解析地址 `{text}`：这个主机名没有对应的 IP 地址");
    }
    Ok(Some((text, addrs)))
}
