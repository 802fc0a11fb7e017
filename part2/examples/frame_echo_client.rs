//! 按帧回显的客户端：把标准输入的每一行作为一帧（4 字节的长度，大端序，再加内容）发给服务器，
//! 服务器发回的每一帧，把内容打印成一行。
//!
//! 运行：先在一个终端启动 `cargo run --example frame_echo_server`，
//! 再在另一个终端运行 `cargo run --example frame_echo_client`（默认连接 127.0.0.1:3214），
//! 然后逐行输入文字；按 Ctrl-D 结束输入，客户端收完所有回显后退出。
//!
//! 发送和接收分在两个线程里：输入一行就发一帧，不必等上一帧的回显；
//! 几帧挤在一次 read 里，或者一帧分几次 read 才到齐，打印出来都是一帧一行。

use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// 没有给出地址时连接的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 连接、发送、等待回显，每一步最多等这么久：服务器出了问题时，客户端不会永远卡住。
const TIMEOUT: Duration = Duration::from_secs(5);
/// 服务器发回的一帧最长多少字节：客户端也不让对方的帧头骗走内存。
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// 服务器不等我们说完就断开了连接时的说明。
const CLOSED_EARLY: &str = "服务器断开了连接（一帧太长？闲置太久？原因在服务器的标准错误上）";

const USAGE: &str = "用法：frame_echo_client [地址]
按帧回显的客户端：把标准输入的每一行作为一帧发给服务器（4 字节的长度，大端序，再加内容），
服务器发回的每一帧，把内容打印成一行；输入结束、回显收齐后退出。
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

    // Python: s = socket.create_connection((HOST, PORT), timeout=5)
    let stream = connect(&addrs)
        .with_context(|| format!("无法连接 {name}（服务器启动了吗？地址和端口对吗？）"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;

    // 发送的线程：把标准输入的每一行作为一帧发出去，记下发了多少字节；输入结束时半关闭。
    let sent = Arc::new(AtomicU64::new(0));
    // 输入结束、半关闭的时刻。
    let finished = Arc::new(OnceLock::new());
    let sender = {
        let (stream, sent, finished) = (stream.try_clone()?, sent.clone(), finished.clone());
        thread::spawn(move || send_lines(stream, &sent, &finished))
    };

    // 主线程：一帧一帧地读回显，打印内容。收到的字节先攒在 buf 里，攒够一整帧再切出来：
    // 读超时落在帧头或内容的中间时，已经收到的那几个字节也还留着。
    let mut stream = stream;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut received = 0;
    loop {
        // 先把 buf 里所有完整的帧切出来，打印。
        while buf.len() >= 4 {
            // Python: (n,) = struct.unpack('>I', buf[:4])
            let n = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if n > MAX_FRAME {
                bail!("服务器发来的帧头声明了 {n} 字节，超过了上限 {MAX_FRAME} 字节");
            }
            if buf.len() < 4 + n {
                break; // 这一帧还没收全
            }
            received += (4 + n) as u64;
            say!("{}", printable(&buf[4..4 + n]))?;
            buf.drain(..4 + n);
        }
        // Python: data = s.recv(65536)
        match stream.read(&mut chunk) {
            Ok(0) => break, // 服务器关闭了连接
            Ok(got) => buf.extend_from_slice(&chunk[..got]),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) if is_timeout(&err) => {
                if received < sent.load(Ordering::SeqCst) {
                    return Err(explain(err, "接收回显失败")); // 在等回显，服务器却不响应
                }
                // 没有在等回显。输入还没结束：只是输入的人停下来了，接着等。
                // 输入已经结束（我们半关闭了）：服务器最多再等 TIMEOUT 秒来关闭连接。
                if let Some(at) = finished.get() {
                    let waited = at.elapsed();
                    if waited >= TIMEOUT {
                        bail!("服务器在 {} 秒内没有关闭连接", TIMEOUT.as_secs());
                    }
                    stream.set_read_timeout(Some(TIMEOUT - waited))?;
                }
            }
            Err(err) => return Err(explain(err, "接收回显失败")),
        }
    }

    // 服务器关闭了连接。正常的结束是：我们先说完（半关闭），它回显完所有的帧，再关闭。
    if !buf.is_empty() {
        bail!("服务器在一帧的中间关闭了连接");
    }
    if finished.get().is_none() || received < sent.load(Ordering::SeqCst) {
        bail!("{CLOSED_EARLY}");
    }
    sender.join().expect("发送线程 panic 了")
}

/// 发送线程：把标准输入的每一行（去掉行尾的 `\n`）作为一帧发出去；
/// 输入结束时半关闭连接，告诉服务器“我说完了”。
fn send_lines(mut stream: TcpStream, sent: &AtomicU64, finished: &OnceLock<Instant>) -> Result<()> {
    for line in std::io::stdin().lock().split(b'\n') {
        let mut payload = line.context("读取标准输入失败")?;
        if payload.last() == Some(&b'\r') {
            payload.pop(); // Windows 的换行是 \r\n：去掉 \r
        }
        let n = u32::try_from(payload.len()).context("一行太长：一帧最多 4 GiB")?;
        // Python: s.sendall(struct.pack('>I', len(payload)) + payload)
        let mut frame = n.to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        stream
            .write_all(&frame)
            .map_err(|err| explain(err, "发送数据失败"))?;
        sent.fetch_add(frame.len() as u64, Ordering::SeqCst);
    }
    let _ = finished.set(Instant::now());
    // Python: s.shutdown(socket.SHUT_WR)
    stream.shutdown(Shutdown::Write).context("半关闭连接失败")?;
    Ok(())
}

// ANCHOR_END: main-part

/// 阻塞的套接字等到超时：Linux 报告 WouldBlock（EAGAIN），Windows 报告 TimedOut。
fn is_timeout(err: &std::io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// 把收发时的错误说清楚。
fn explain(err: std::io::Error, what: &str) -> anyhow::Error {
    match err.kind() {
        _ if is_timeout(&err) => anyhow!("{what}：等了 {} 秒，服务器没有响应", TIMEOUT.as_secs()),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => anyhow!("{CLOSED_EARLY}"),
        _ => anyhow::Error::new(err).context(what.to_string()),
    }
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
            "参数太多：只需要一个地址，例如 `cargo run --example frame_echo_client -- 127.0.0.1:3214`"
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
    Ok(Some((text, addrs)))
}
