//! 每个客户端一个 tokio 任务的回显服务器：服务多个客户端的第五级台阶。
//!
//! 运行：`cargo run --example echo_tokio`（默认绑定 127.0.0.1:3214），按 Ctrl-C 结束；
//! 客户端可以用 `cargo run --example tcp_echo_client`，同时开几个。
//!
//! `accept` 循环每接受一个连接，就用 `tokio::spawn` 为它开一个任务。任务不是线程：
//! 它是一个状态机，由 tokio 的几个工作线程轮流推进（poll），一万个任务也只用这几个线程。
//! 同时服务的客户端最多 `--max-clients` 个（默认 10000）；满了以后新来的连接被拒绝：
//! 接受后立刻关闭，在标准错误上说一行。

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 默认最多同时服务多少个客户端，可以用 --max-clients 修改。
const DEFAULT_MAX_CLIENTS: usize = 10_000;
/// 除了客户端的连接，进程自己还要用的文件描述符：标准输入输出、监听套接字、tokio 的 epoll
/// 和唤醒用的描述符，以及拒绝连接时先接受、再关闭的那一个，留足余量。
const SPARE_FDS: u64 = 16;

const USAGE: &str = "用法：echo_tokio [地址] [--max-clients 个数]
回显服务器，每个客户端一个 tokio 任务：客户端发来什么字节，就原样发回什么字节。
每个连接打开、关闭时各打印一行；按 Ctrl-C 结束。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                        IPv6 写成 [::1]:3214
  --max-clients 个数    最多同时服务多少个客户端，默认 10000；满了以后，新来的连接被接受后立刻关闭，
                        标准错误上说一行。启动时把打开文件数的软上限提到硬上限；
                        硬上限不够时，在标准错误上说一句，并相应地减少这个个数
环境变量 TOKIO_WORKER_THREADS 设定工作线程的个数，默认是 CPU 的核数。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

// ANCHOR: main
#[tokio::main]
async fn main() {
    match run().await {
        Ok(()) => {}
        // 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}
// ANCHOR_END: main

// ANCHOR: run
async fn run() -> Result<()> {
    let Some((addr, max_clients)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let max_clients = raise_fd_limit(max_clients)?;

    // Python: server = await asyncio.start_server(handle, HOST, PORT)
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    say!("{}", listener.local_addr()?)?;

    // 同时服务的客户端的名额：每个连接拿一个，连接关闭时还回来。
    let slots = Arc::new(Semaphore::new(max_clients));
    loop {
        // `.await`：没有新连接时，这个任务让出线程，线程去推进别的任务。
        let (stream, addr) = match listener.accept().await {
            Ok(pair) => pair,
            // 连接在被接受之前就被对方放弃了：不是服务器的问题，等下一个。
            Err(err) if err.kind() == ErrorKind::ConnectionAborted => continue,
            // 其他错误（比如打开的文件太多，EMFILE）：说一行，歇一会儿再接受，免得循环空转。
            Err(err) => {
                eprintln!("接受连接失败：{err}（100 毫秒后再试）");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // ANCHOR: refuse
        // 名额用完了：不让它排队干等，接受了就立刻关闭，对方马上知道被拒绝了。
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            eprintln!("拒绝 {addr}：已经有 {max_clients} 个连接（--max-clients）");
            continue; // stream 在这里被丢弃，连接随之关闭
        };
        // ANCHOR_END: refuse
        say!("Client Address: {addr}")?;

        // ANCHOR: spawn
        // 为这个客户端开一个任务；accept 循环不等它，马上回去接受下一个连接。
        tokio::spawn(async move {
            let result = serve(stream).await; // serve 返回时，连接已经关闭
            drop(slot); // 还回名额
            // 这个客户端出了任何问题，都只断开它自己：在标准错误上说一行原因。
            if let Err(why) = result {
                eprintln!("断开 {addr}：{why:#}");
            }
            if say!("连接关闭：{addr}").is_err() {
                // 标准输出被关闭了：没有人在读了，安静地结束整个程序。
                std::process::exit(0);
            }
        });
        // ANCHOR_END: spawn
    }
}
// ANCHOR_END: run

// ANCHOR: serve
/// 服务一个客户端：收到什么就发回什么，直到对方关闭连接。
async fn serve(mut stream: TcpStream) -> Result<()> {
    // 固定大小的缓冲区：不管客户端发多快，这个任务最多占用这么多内存。
    let mut buf = [0u8; 1024];
    loop {
        // Python: data = await reader.read(1024)
        let n = stream.read(&mut buf).await.context("接收数据失败")?;
        if n == 0 {
            return Ok(()); // 读到 0 个字节：对方关闭了连接
        }
        // Python: writer.write(data); await writer.drain()
        // 对方不读回显、发送缓冲区满了，write_all 就在这里等着，这个任务也就不再读：
        // 客户端发得再多，也撑不大服务器的内存。
        stream.write_all(&buf[..n]).await.context("发送数据失败")?;
    }
}
// ANCHOR_END: serve

// ANCHOR: rlimit
/// 一个连接就是一个打开的文件（文件描述符）。把打开文件数的软上限提高到硬上限（`ulimit -Hn`），
/// 返回最多能同时服务多少个客户端：硬上限不够 --max-clients 用时，说一行，按硬上限来。
fn raise_fd_limit(max_clients: usize) -> Result<usize> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .context("读取打开文件数的上限失败")?;
    let wanted = max_clients as u64 + SPARE_FDS;
    if limit >= wanted {
        return Ok(max_clients);
    }
    let can = usize::try_from(limit.saturating_sub(SPARE_FDS)).unwrap_or(max_clients);
    if can == 0 {
        bail!("打开文件数的上限只有 {limit}，一个客户端也服务不了：先用 ulimit -n 调高它");
    }
    eprintln!(
        "注意：打开文件数的上限是 {limit}（ulimit -Hn），服务 {max_clients} 个客户端需要 {wanted}；\
         最多只能同时服务 {can} 个"
    );
    Ok(can)
}
// ANCHOR_END: rlimit

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

/// 读取命令行：可选的地址和 `--max-clients 个数`。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, usize)>> {
    let mut addr = None;
    let mut max_clients = DEFAULT_MAX_CLIENTS;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--max-clients" => {
                let value = args.next().context("--max-clients 后面要写一个个数")?;
                max_clients = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0 && n <= Semaphore::MAX_PERMITS)
                    .with_context(|| {
                        format!("--max-clients 要写一个正整数（客户端的个数），而不是 `{value}`")
                    })?;
            }
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    // 本例只接受 IP 地址，不接受主机名，这样你确切知道它绑定了哪个地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名）"
        )
    })?;
    Ok(Some((addr, max_clients)))
}
