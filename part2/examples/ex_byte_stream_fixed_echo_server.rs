//! 练习答案（字节流与消息边界，练习 2）：固定长度分帧的回显服务器。每条消息正好 8 个字节，
//! 服务器每读满 8 个字节就回显这 8 个字节；连接结束时还剩不足 8 个字节，就在标准错误上
//! 打印一行原因，丢掉它们。
//!
//! 运行：`cargo run --example ex_byte_stream_fixed_echo_server`（默认绑定 127.0.0.1:3214），
//! 再在另一个终端运行 `printf 'abcdefgh123' | cargo run --example half_close_client`。
//! 按 Ctrl-C 结束服务器。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 每条消息的长度：固定 8 个字节。
const MESSAGE: usize = 8;
/// 客户端这么久不发数据（或者不读回显），就断开它。
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "用法：ex_byte_stream_fixed_echo_server [地址]
固定长度分帧的 TCP 回显服务器：每读满 8 个字节，就把这 8 个字节原样发回。
它一个接一个地服务客户端，按 Ctrl-C 结束。
地址是要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，IPv6 写成 [::1]:3214。";

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
    say!("{}", listener.local_addr()?)?;
    loop {
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            Err(err) if err.kind() == ErrorKind::ConnectionAborted => continue,
            Err(err) => return Err(err).context("接受连接失败"),
        };
        say!("Client Address: {addr}")?;
        if let Err(why) = serve(clnt) {
            eprintln!("断开 {addr}：{why:#}");
        }
        say!("连接关闭：{addr}")?;
    }
}

// ANCHOR: main
/// 服务一个客户端：每读满 8 个字节，回显这 8 个字节，直到对方关闭连接。
fn serve(mut clnt: TcpStream) -> Result<()> {
    clnt.set_read_timeout(Some(IDLE_TIMEOUT))?;
    clnt.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mut message = [0u8; MESSAGE];
    loop {
        // 不能用 read_exact：它在连接结束时只说“没读满”，不说读到了几个字节。
        // 自己循环读，才知道最后剩下多少。
        let mut filled = 0;
        while filled < MESSAGE {
            let n = clnt
                .read(&mut message[filled..])
                .map_err(|err| io_error(err, "接收数据失败"))?;
            if n == 0 {
                break; // 对方关闭了连接（或者半关闭了它的发送方向）
            }
            filled += n;
        }
        match filled {
            0 => return Ok(()), // 正好在两条消息之间结束
            MESSAGE => clnt
                .write_all(&message)
                .map_err(|err| io_error(err, "发送回显失败"))?,
            _ => bail!("连接结束时还剩 {filled} 个字节，不足一条 {MESSAGE} 字节的消息，丢弃"),
        }
    }
}
// ANCHOR_END: main

/// 读写失败的原因，说成一句话。超时在 Linux 上报告为 WouldBlock，在 Windows 上是 TimedOut。
fn io_error(err: std::io::Error, what: &str) -> anyhow::Error {
    match err.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            anyhow!("{what}：{} 秒没有进展", IDLE_TIMEOUT.as_secs())
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

/// 读取可选的命令行参数：要绑定的地址。`-h` / `--help` 时返回 None。
fn parse_addr() -> Result<Option<SocketAddr>> {
    let mut args = std::env::args().skip(1);
    let text = match args.next() {
        None => DEFAULT_ADDR.to_string(),
        Some(arg) if arg == "-h" || arg == "--help" => return Ok(None),
        Some(arg) if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
        Some(arg) => arg,
    };
    if args.next().is_some() {
        bail!("参数太多：只需要一个地址，例如 127.0.0.1:3214");
    }
    let addr = text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })?;
    Ok(Some(addr))
}
