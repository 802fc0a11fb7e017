//! TCP 是字节流，不保留消息边界（俗称“粘包”）：三个小实验，一条命令看完。
//!
//! 运行：`cargo run --example stream_boundaries`（不接受参数，不到 1 秒结束）。
//!
//! 实验一：客户端 write 两次，服务器一次 read 就把两次的数据都读到了。
//! 实验二：客户端 write 一次，服务器的缓冲区只有 5 字节，要 read 好几次；一个汉字被拆开了。
//! 实验三：客户端 write 一次 1 MiB，服务器的缓冲区足够大，却也要 read 很多次：
//! 服务器的接收缓冲区（`SO_RCVBUF`）很小，数据只能一段一段地过来。
//!
//! 结果每次都一样，不靠 sleep：实验一和实验二里，客户端写完并且半关闭之后，服务器才开始读，
//! 这时所有数据都已经在服务器的接收缓冲区里了。

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

/// 实验三里客户端一次 write 的字节数：1 MiB。
const BIG: usize = 1 << 20;
/// 实验三里要求的接收缓冲区大小（Linux 会把它加倍，见 `man 7 socket` 的 SO_RCVBUF）。
const RCVBUF: usize = 4096;
/// 每一次读写最多等这么久：万一出了问题，演示不会卡住。
const TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "用法：stream_boundaries
演示 TCP 不保留消息边界：两次 write 可能被一次 read 读到，一次 write 可能要 read 好几次。
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
    let listener = TcpListener::bind("127.0.0.1:0").context("无法绑定 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    two_writes_one_read(&listener, addr)?;
    say!("")?;
    one_write_many_reads(&listener, addr)?;
    say!("")?;
    small_receive_buffer()?;
    Ok(())
}

// ANCHOR: two-writes
/// 实验一：客户端 write 两次，服务器 read 一次。
fn two_writes_one_read(listener: &TcpListener, addr: SocketAddr) -> Result<()> {
    say!("实验一：客户端 write 两次")?;
    // Python: c = socket.create_connection(addr); c.sendall(b'hello\n'); c.sendall(b'world\n')
    let mut client = TcpStream::connect_timeout(&addr, TIMEOUT).context("连接失败")?;
    client.write_all(b"hello\n")?;
    client.write_all(b"world\n")?;
    // Python: c.shutdown(socket.SHUT_WR)   —— 半关闭：“我说完了”
    client.shutdown(Shutdown::Write)?;
    say!("客户端：write \"hello\\n\"，write \"world\\n\"，然后半关闭")?;

    // 客户端写完、半关闭之后，服务器才 accept 和 read：两次 write 的数据都已经在接收缓冲区里。
    let (mut server, _) = listener.accept().context("接受连接失败")?;
    show_reads(&mut server, 1024)
}
// ANCHOR_END: two-writes

// ANCHOR: one-write
/// 实验二：客户端 write 一次，服务器每次最多读 5 个字节。
fn one_write_many_reads(listener: &TcpListener, addr: SocketAddr) -> Result<()> {
    say!("实验二：客户端 write 一次")?;
    let mut client = TcpStream::connect_timeout(&addr, TIMEOUT).context("连接失败")?;
    client.write_all("你好，世界\n".as_bytes())?;
    client.shutdown(Shutdown::Write)?;
    say!("客户端：write \"你好，世界\\n\"（16 字节），然后半关闭")?;

    let (mut server, _) = listener.accept().context("接受连接失败")?;
    show_reads(&mut server, 5)
}
// ANCHOR_END: one-write

// ANCHOR: show-reads
/// 服务器一方：用 `size` 字节的缓冲区反复 read，打印每一次读到了什么，直到读到 0 字节。
fn show_reads(server: &mut TcpStream, size: usize) -> Result<()> {
    server.set_read_timeout(Some(TIMEOUT))?;
    say!("服务器：accept，然后用 {size} 字节的缓冲区 read")?;
    let mut buf = vec![0u8; size];
    let mut i = 0;
    loop {
        i += 1;
        // Python: data = conn.recv(size)
        let n = server.read(&mut buf).context("read 失败")?;
        if n == 0 {
            say!("服务器：第 {i} 次 read，0 字节：对方已经半关闭，数据读完了")?;
            return Ok(());
        }
        let data = &buf[..n];
        let hex: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
        say!(
            "服务器：第 {i} 次 read，{n} 字节：{}（\"{}\"）",
            hex.join(" "),
            printable(data)
        )?;
    }
}
// ANCHOR_END: show-reads

// ANCHOR: small-rcvbuf
/// 实验三：接收缓冲区很小时，一次 write 的 1 MiB 要 read 很多次。
fn small_receive_buffer() -> Result<()> {
    say!("实验三：客户端 write 一次 1 MiB，服务器的接收缓冲区很小")?;
    // 在 listen 之前设置接收缓冲区，accept 出来的连接继承它（man 7 tcp 的 SO_RCVBUF 说明）。
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).context("无法创建套接字")?;
    s.set_recv_buffer_size(RCVBUF)
        .context("无法设置接收缓冲区")?;
    let any_port: SocketAddr = "127.0.0.1:0".parse()?;
    s.bind(&any_port.into()).context("无法绑定 127.0.0.1:0")?;
    s.listen(1).context("无法监听")?;
    let addr = s.local_addr()?.as_socket().context("不是 IP 地址")?;

    // 客户端在另一个线程里写：服务器不读，1 MiB 是写不完的。
    let client = thread::spawn(move || -> Result<usize> {
        let mut c = TcpStream::connect_timeout(&addr, TIMEOUT).context("连接失败")?;
        c.set_write_timeout(Some(TIMEOUT))?;
        // 只调用一次 write（不是 write_all）：阻塞的套接字会等到全部写出才返回。
        let written = c.write(&vec![b'x'; BIG]).context("write 失败")?;
        Ok(written)
    });

    let (server, _) = s.accept().context("接受连接失败")?;
    let rcvbuf = server.recv_buffer_size()?;
    say!("服务器：接收缓冲区要求 {RCVBUF} 字节，内核给了 {rcvbuf} 字节")?;
    let mut server = TcpStream::from(server);
    server.set_read_timeout(Some(TIMEOUT))?;
    // 服务器的缓冲区有 1 MiB，足够一次装下全部数据。
    let mut buf = vec![0u8; BIG];
    let (mut reads, mut largest, mut total) = (0, 0, 0);
    while total < BIG {
        let n = server.read(&mut buf).context("read 失败")?;
        if n == 0 {
            bail!("客户端只发来了 {total} 字节就关闭了连接");
        }
        reads += 1;
        largest = largest.max(n);
        total += n;
    }
    let written = client.join().expect("客户端线程 panic 了")?;
    say!("客户端：调用了 1 次 write，它返回 {written}：{BIG} 字节全部写出")?;
    // read 了几次、每次读到多少，取决于两个线程谁快谁慢：机器空闲时和忙碌时不一样
    // （本章练习 3）。不变的是上限：每一次读到的都不超过接收缓冲区的大小。所以只打印这个上限；
    // 超出了（不应该发生）才打印量到的数字。
    if largest <= rcvbuf {
        say!("服务器：用 {BIG} 字节的缓冲区 read，每一次读到的都不超过 {rcvbuf} 字节")?;
        say!("服务器：一次 write 的 {BIG} 字节，分了很多次 read 才读完")?;
    } else {
        say!("服务器：read 了 {reads} 次，最多的一次 {largest} 字节")?;
    }
    Ok(())
}
// ANCHOR_END: small-rcvbuf

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
        Some(arg) => bail!(
            "这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example stream_boundaries`"
        ),
    }
}
