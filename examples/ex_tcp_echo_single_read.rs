//! 练习答案（用套接字建立 TCP 连接，练习 3）：一个“看起来也对”的客户端。它把一整行一次写出，
//! 再只调用一次 `read` 读回显。TCP 是字节流，一次 `read` 只拿到已经到达的那些字节：
//! 行一长，打印出来的回显就不完整。这个程序是用来观察错误的，正确的写法见 tcp_echo_client。
//!
//! 运行：先启动 `cargo run --example tcp_echo_server`，再运行
//! `python3 -c "print('a' * 100_000)" | cargo run --example ex_tcp_echo_single_read | awk '{ print length }'`。

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// 没有给出地址时连接的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 连接、发送、等待回显，每一步最多等这么久：服务器出了问题时，客户端不会永远卡住。
const TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "用法：ex_tcp_echo_single_read [地址]
一个有错误的 TCP 回显客户端：每一行一次写出、只读一次，长的行回显不完整（用来观察字节流）。
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

// ANCHOR: run
fn run() -> Result<()> {
    let Some((name, addrs)) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    // Python: s = socket.create_connection((HOST, PORT), timeout=5)
    let mut stream = connect(&addrs)
        .with_context(|| format!("无法连接 {name}（服务器启动了吗？地址和端口对吗？）"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;

    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop(); // Windows 的换行是 \r\n：去掉 \r
        }
        if data.is_empty() {
            say!()?; // 空行没有回显可等
            continue;
        }
        // ANCHOR: single-read
        // 一次写出整行，再只读一次：read 返回的是“现在已经到了多少”，不是“对方发了多少”。
        stream
            .write_all(&data)
            .map_err(|err| explain(err, "发送数据失败"))?;
        let mut reply = vec![0u8; data.len()];
        let n = stream
            .read(&mut reply)
            .map_err(|err| explain(err, "接收回显失败"))?;
        if n == 0 {
            bail!("服务器在回显之前关闭了连接");
        }
        reply.truncate(n);
        // ANCHOR_END: single-read
        say!("{}", printable(&reply))?;
    }
    // stream 在这里被丢弃，连接随之关闭；服务器读到 0 字节，知道我们说完了。
    Ok(())
}

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
// ANCHOR_END: run

/// 把读写错误说清楚。阻塞的套接字等到超时时，Linux 报告 WouldBlock，Windows 报告 TimedOut。
fn explain(err: std::io::Error, what: &str) -> anyhow::Error {
    match err.kind() {
        ErrorKind::UnexpectedEof => anyhow!("服务器在回显完成之前关闭了连接"),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            anyhow!("{what}：等了 {} 秒，服务器没有响应", TIMEOUT.as_secs())
        }
        _ => anyhow::Error::new(err).context(what.to_string()),
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
        bail!(
            "参数太多：只需要一个地址，例如 `cargo run --example ex_tcp_echo_single_read -- 127.0.0.1:3214`"
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
    if addrs.is_empty() {
        bail!("无法解析地址 `{text}`：这个主机名没有对应的 IP 地址");
    }
    if addrs.iter().any(|a| a.port() == 0) {
        bail!("`{text}` 的端口是 0：端口 0 只在绑定时表示“让系统挑一个”，不能连接它");
    }
    Ok(Some((text, addrs)))
}
