//! 练习答案（正确地关闭连接，练习 1）：把 half_close_client 的 `shutdown(Shutdown::Write)`
//! 换成 `drop(to_server)`，别的一行不改。这是一个**错误**的客户端，用来观察：`to_server` 是
//! `try_clone` 复制出来的句柄，丢掉它不关闭连接（主线程的 `from_server` 还开着同一个套接字），
//! 于是不发 FIN。服务器一直等客户端说下去，客户端一直等服务器关闭：两边都不结束。
//!
//! 运行：先启动 `cargo run --example tcp_echo_server`，再运行
//! `echo hello | cargo run --example ex_closing_drop_not_shutdown`，然后用 `ss -tn` 看两边的状态；
//! 按 Ctrl-C 结束它。

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// 没有给出地址时连接的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 连接最多等这么久。连上之后不设读写超时：等多久由服务器决定（见书中“正确地关闭连接”一章）。
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "用法：ex_closing_drop_not_shutdown [地址]
一个错误的客户端（练习用）：和 half_close_client 一样收发，但输入结束时只丢掉发送句柄、不半关闭，
于是服务器收不到 FIN，两边都不结束；按 Ctrl-C 结束它。
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

fn run() -> Result<()> {
    let Some((name, addrs)) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    // Python: s = socket.create_connection((HOST, PORT), timeout=5)
    let stream = connect(&addrs)
        .with_context(|| format!("无法连接 {name}（服务器启动了吗？地址和端口对吗？）"))?;

    // 同一个连接的两个句柄：一个给发送线程，一个留给主线程接收。
    let mut to_server = stream.try_clone().context("无法复制套接字句柄")?;
    let mut from_server = stream;
    // 发送线程做完之后，把结果放进这个通道。
    let (sent_tx, sent_rx) = mpsc::channel();

    // 线程一：标准输入 → 服务器。输入结束时半关闭。
    thread::spawn(move || {
        let sent = send_input(&mut to_server);
        let failed = sent.is_err();
        // 先报告结果，再关闭：主线程读到服务器的 EOF 时，结果一定已经在通道里了。
        let _ = sent_tx.send(sent);
        if failed {
            // 发送出错：两个方向都关闭，主线程的 read 随即返回 0，不会一直等下去。
            let _ = to_server.shutdown(Shutdown::Both);
        } else {
            // ANCHOR: drop
            // 练习里的改动：丢掉句柄，而不是半关闭。连接还被 from_server 用着，不会关闭，
            // 也就不发 FIN：服务器不知道我们说完了。
            drop(to_server);
            // ANCHOR_END: drop
        }
    });

    // 线程二（主线程）：服务器 → 标准输出，直到读到 EOF（服务器关闭了它那一端）。
    receive_output(&mut from_server)?;

    // 服务器关闭了。输入都发出去了吗？
    match sent_rx.try_recv() {
        Ok(sent) => sent,
        // 发送线程还没做完：服务器没等我们说完，就关闭了连接。
        Err(_) => bail!("服务器在输入发完之前关闭了连接"),
    }
}

/// 把标准输入原样发给服务器，直到输入结束。
fn send_input(to_server: &mut TcpStream) -> Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Python: chunk = os.read(sys.stdin.fileno(), 65536)   —— 有多少读多少，不等凑满
        let n = match stdin.read(&mut buf) {
            Ok(0) => return Ok(()), // 输入结束（Ctrl-D，或管道的另一头关闭了）
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err).context("读取标准输入失败"),
        };
        // Python: s.sendall(chunk)
        to_server
            .write_all(&buf[..n])
            .context("向服务器发送数据失败")?;
    }
}

/// 把服务器发回的字节原样写到标准输出，直到服务器关闭它那一端（读到 0 字节）。
fn receive_output(from_server: &mut TcpStream) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Python: data = s.recv(65536)
        let n = match from_server.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(explain(err)),
        };
        // 原样写出，立刻 flush：交互地使用时，每一行的回显马上就能看到。
        stdout
            .write_all(&buf[..n])
            .and_then(|()| stdout.flush())
            .map_err(stdout_error)?;
    }
}

/// 像 Python 的 socket.create_connection 一样：依次尝试主机名对应的每个地址，
/// 每个最多等 CONNECT_TIMEOUT；都失败时，返回最后一个错误。
fn connect(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last_err = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.unwrap_or_else(|| std::io::Error::other("没有可以连接的地址")))
}

/// 接收出错时说清楚原因。
fn explain(err: std::io::Error) -> anyhow::Error {
    match err.kind() {
        ErrorKind::ConnectionReset => {
            anyhow!("连接被服务器复位（RST）：服务器可能还没读完我们发的数据就关闭了连接")
        }
        _ => anyhow::Error::new(err).context("从服务器接收数据失败"),
    }
}

/// 写标准输出出错：读输出的程序已经退出（`| head -1`）时安静地结束，其他错误（比如磁盘满了）照常报告。
fn stdout_error(err: std::io::Error) -> anyhow::Error {
    if err.kind() == ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        anyhow::Error::new(err).context("写标准输出失败")
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
            "参数太多：只需要一个地址，例如 `cargo run --example ex_closing_drop_not_shutdown -- 127.0.0.1:3214`"
        );
    }
    // `::1:80` 有歧义：它本身就是一个合法的 IPv6 地址。所以 IPv6 地址要写在方括号里。
    if !text.starts_with('[') && text.matches(':').count() > 1 {
        bail!("无法解析地址 `{text}`：IPv6 地址要放在方括号里，例如 [::1]:3214");
    }
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
