//! 练习答案（Python 的 socket 模块与 Rust，练习 2）：Python 用 `except ConnectionRefusedError`
//! 区分错误，Rust 用 `match err.kind()`。这个客户端只做一件事：连接给出的地址，连上了就说连上了；
//! 连不上，按错误的种类说一句人话，以状态码 1 退出。
//!
//! 运行：`cargo run --example ex_socket_module_connect_errors`（默认连接 127.0.0.1:3214），
//! 先不启动服务器试一次，再启动 `cargo run --example tcp_echo_server` 试一次。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// 没有给出地址时连接的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 连接最多等这么久。
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const USAGE: &str = "用法：ex_socket_module_connect_errors [地址]
连接给出的地址（IP:端口，默认 127.0.0.1:3214），按错误的种类说明连不上的原因。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

fn main() {
    match run() {
        Ok(()) => {}
        // 标准输出被关闭了：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

// ANCHOR: main
fn run() -> Result<()> {
    let Some(addr) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    // Python:
    //     try:
    //         s = socket.create_connection((HOST, PORT), timeout=5)
    //     except ConnectionRefusedError:
    //         print('没有程序在监听')
    //     except TimeoutError:
    //         print('超时')
    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
        Ok(stream) => {
            say!("连接成功：{} → {addr}", stream.local_addr()?)?;
            Ok(())
        }
        // 对方主机回了 RST：这个端口上没有程序在监听。
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => Err(anyhow!(err).context(
            format!("连接 {addr} 被拒绝：这个端口上没有程序在监听（服务器启动了吗？）"),
        )),
        // SYN 没有回音：地址不通，或者对方的积压队列满了。
        Err(err) if matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            Err(anyhow!(err).context(format!(
                "连接 {addr} 超时：{} 秒没有回应（地址对吗？服务器忙不过来？）",
                CONNECT_TIMEOUT.as_secs()
            )))
        }
        // 其余的错误：照原样报告，加上当时在做什么。
        Err(err) => Err(anyhow!(err).context(format!("无法连接 {addr}"))),
    }
}
// ANCHOR_END: main

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}

/// 读取可选的命令行参数：服务器的地址，形如 `127.0.0.1:3214` 或 `[::1]:3214`。
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
        bail!("参数太多：只需要一个地址，例如 127.0.0.1:3214");
    }
    let addr: SocketAddr = text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })?;
    if addr.port() == 0 {
        bail!("`{text}` 的端口是 0：端口 0 只在绑定时表示“让系统挑一个”，不能连接它");
    }
    Ok(Some(addr))
}
