//! 练习答案（正确地关闭连接，练习 2）：rst_demo 的两种新情况。
//! 一、客户端发送 "hello"，服务器端只读 3 个字节就关闭（还剩 2 个没读）：RST；
//! 二、客户端什么也不发，服务器端直接关闭：接收缓冲区是空的，FIN，客户端读到 0 字节。
//!
//! 运行：`cargo run --example ex_closing_rst_partial`（绑定 127.0.0.1:0，让系统挑一个空闲端口）。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 没有给出地址时绑定的地址：端口 0，让系统挑一个空闲端口。
const DEFAULT_ADDR: &str = "127.0.0.1:0";
/// 客户端每次发送的数据。
const HELLO: &[u8] = b"hello";
/// 客户端等待服务器端的回应最多等这么久：出了意外也不会永远卡住。
const TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "用法：ex_closing_rst_partial [地址]
演示关闭连接的两种结果：数据只读了一部分就关闭（对方读到 Connection reset by peer），
对方什么也没发、直接关闭（对方读到 0 字节）。
地址是服务器端要绑定的 IP:端口，默认 127.0.0.1:0（让系统挑一个空闲端口）；
用 tcpdump 抓包时给一个固定端口，例如 127.0.0.1:3214。";

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
    let Some(addr) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let listener = TcpListener::bind(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    say!("服务器端监听 {}", listener.local_addr()?)?;

    // ANCHOR: cases
    say!("一、服务器端只读 3 个字节就关闭")?;
    let (client, mut server) = connect_and_send(&listener)?;
    let mut three = [0u8; 3];
    server
        .read_exact(&mut three)
        .context("服务器端读数据失败")?;
    // 还剩 "lo" 两个字节没读：只要接收缓冲区里还有没读的数据，关闭就发出 RST
    drop(server);
    what_the_client_reads(client)?;

    say!("二、客户端什么也不发，服务器端直接关闭")?;
    let addr = listener.local_addr()?;
    let client =
        TcpStream::connect_timeout(&addr, TIMEOUT).with_context(|| format!("无法连接 {addr}"))?;
    client.set_read_timeout(Some(TIMEOUT))?;
    let (server, _) = listener.accept().context("接受连接失败")?;
    // 接收缓冲区是空的：正常关闭，发出 FIN
    drop(server);
    what_the_client_reads(client)?;
    // ANCHOR_END: cases
    Ok(())
}

/// 客户端连接，服务器端接受连接，客户端发送 "hello"。返回（客户端，服务器端）两个套接字。
fn connect_and_send(listener: &TcpListener) -> Result<(TcpStream, TcpStream)> {
    let addr = listener.local_addr()?;
    let mut client =
        TcpStream::connect_timeout(&addr, TIMEOUT).with_context(|| format!("无法连接 {addr}"))?;
    client.set_read_timeout(Some(TIMEOUT))?;
    client.set_write_timeout(Some(TIMEOUT))?;
    let (server, _) = listener.accept().context("接受连接失败")?;
    client.write_all(HELLO).context("客户端发送失败")?;
    say!("  客户端发送 {:?}", String::from_utf8_lossy(HELLO))?;
    Ok((client, server))
}

/// 服务器端关闭之后，客户端再读一次：Ok(0) 是正常关闭（FIN），ConnectionReset 是被复位（RST）。
/// 然后客户端也关闭（`client` 在函数结束时被丢弃）。
fn what_the_client_reads(mut client: TcpStream) -> Result<()> {
    let mut buf = [0u8; 16];
    match client.read(&mut buf) {
        Ok(0) => say!("  客户端的 read 返回 Ok(0)：对方正常关闭了连接（FIN）")?,
        Err(err) if err.kind() == ErrorKind::ConnectionReset => {
            say!("  客户端的 read 返回 Err({:?})：{err}", err.kind())?
        }
        // 下面两种情况在这个演示里不应该出现。
        Ok(n) => bail!("客户端意外地读到了 {n} 个字节"),
        Err(err) => return Err(err).context("客户端读数据失败"),
    }
    Ok(())
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

/// bind 失败时，按失败的原因给出建议。
fn bind_hint(err: &std::io::Error) -> &'static str {
    match err.kind() {
        ErrorKind::AddrInUse => {
            "端口已被占用：换一个端口，或先结束占用它的程序；刚停掉的服务器留下的 TIME_WAIT 也会占住它，最多一分钟"
        }
        ErrorKind::PermissionDenied => "1024 以下的端口需要管理员权限：换一个 1024 以上的端口",
        ErrorKind::AddrNotAvailable => "本机没有这个 IP 地址：用 127.0.0.1、[::1] 或本机网卡的地址",
        _ => "检查地址是否写对",
    }
}

/// 读取可选的命令行参数：要绑定的地址，形如 `127.0.0.1:3214` 或 `[::1]:0`。
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
            "参数太多：只需要一个地址，例如 `cargo run --example ex_closing_rst_partial -- 127.0.0.1:3214`"
        );
    }
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214"
        )
    })?;
    Ok(Some(addr))
}
