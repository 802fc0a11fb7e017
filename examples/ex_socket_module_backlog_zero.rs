//! 练习答案（Python 的 socket 模块与 Rust，练习 1）：backlog_full 只改一行，`listen(0)`。
//! Linux 判断队列满了用的是“队列长度大于 backlog”，所以 backlog 为 0 时仍能排下 1 个连接。
//!
//! 运行：`cargo run --example ex_socket_module_backlog_zero`（不接受参数，大约 4 秒后结束）。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

/// 传给 `listen` 的 backlog：故意很小，几个客户端就能把队列排满。
// ANCHOR: backlog
const BACKLOG: i32 = 0;
// ANCHOR_END: backlog
/// 客户端的个数：比队列能排下的多两个。
const CLIENTS: usize = 5;
/// 每个客户端等待连接完成的最长时间。
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

const USAGE: &str = "用法：ex_socket_module_backlog_zero
演示 backlog 为 0 的积压队列：监听套接字 listen(0) 之后从不 accept，5 个客户端依次连接，
每个最多等 1 秒。不接受参数。";

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

    // Python: s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
    // 端口 0：让系统挑一个空闲端口。
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).context("无法创建套接字")?;
    let any_port: SocketAddr = "127.0.0.1:0".parse()?;
    s.bind(&any_port.into()).context("无法绑定 127.0.0.1:0")?;
    s.listen(BACKLOG).context("无法监听")?;
    let addr = s.local_addr()?.as_socket().context("不是 IP 地址")?;
    say!("监听 {addr}，backlog 为 {BACKLOG}，之后一次也不调用 accept")?;

    // 连上的客户端都留着、不关闭：它们一直排在积压队列里。
    let mut waiting = Vec::new();
    let (mut timed_out, mut refused) = (0, 0);
    for i in 1..=CLIENTS {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                say!("客户端 {i}：连接成功，排在积压队列里等 accept")?;
                waiting.push(stream);
            }
            Err(err) if err.kind() == ErrorKind::TimedOut => {
                timed_out += 1;
                say!(
                    "客户端 {i}：{} 秒内没有连上（超时），也没有被拒绝",
                    CONNECT_TIMEOUT.as_secs()
                )?;
            }
            Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
                refused += 1;
                say!("客户端 {i}：连接被拒绝")?;
            }
            Err(err) => return Err(err).with_context(|| format!("客户端 {i} 连接失败")),
        }
    }
    say!(
        "结果：{} 个连上，{timed_out} 个超时，{refused} 个被拒绝",
        waiting.len()
    )?;
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

/// 这个演示不接受参数。没有参数时返回 true；`-h` / `--help` 时返回 false；其他参数都是错误。
fn no_arguments() -> Result<bool> {
    let mut args = std::env::args().skip(1);
    match args.next() {
        None => Ok(true),
        Some(arg) if (arg == "-h" || arg == "--help") && args.next().is_none() => Ok(false),
        Some(arg) => {
            bail!(
                "这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example ex_socket_module_backlog_zero`"
            )
        }
    }
}
