//! 一个忘了关闭连接的回显服务器：客户端关闭之后，连接停在 CLOSE-WAIT 状态，直到服务器退出。
//!
//! 运行：`cargo run --example close_wait_server`（默认绑定 127.0.0.1:3214），
//! 修好的版本：`cargo run --example close_wait_server -- --fixed`。
//!
//! 它一个接一个地服务客户端，永不停止（Ctrl-C 结束它）：把收到的字节原样发回，
//! 直到客户端关闭连接（读到 0 字节）。这时它本该关闭自己这一端，却把连接放进一个列表里留着。
//! 用 `ss -tan state close-wait` 就能看到这些被忘掉的连接。加上 `--fixed`，它就会关闭连接。

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use anyhow::{Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 最多留着多少个没关闭的连接。再多就关闭最早的一个：每个连接占一个文件描述符，
/// 真的无限地留下去，进程的文件描述符很快就会用完（常见的上限是 1024 个）。
const MAX_FORGOTTEN: usize = 100;

const USAGE: &str = "用法：close_wait_server [--fixed] [地址]
一个忘了关闭连接的 TCP 回显服务器：一个接一个地服务客户端，把收到的字节原样发回；
客户端关闭之后，它不关闭自己这一端，连接停在 CLOSE-WAIT（最多留 100 个），Ctrl-C 结束它。
  --fixed  修好的版本：客户端关闭之后，服务器也关闭连接
地址是要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口。";

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
    let Some((addr, fixed)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let listener = TcpListener::bind(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    say!("{}", listener.local_addr()?)?;

    // ANCHOR: serve
    // 客户端已经关闭、我们却没有关闭的连接。
    let mut forgotten: VecDeque<TcpStream> = VecDeque::new();
    loop {
        let (mut clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            Err(err) => {
                eprintln!("错误：接受连接失败：{err}");
                continue;
            }
        };
        say!("Client Address: {addr}")?;
        // 回显，直到读到 0 字节：客户端关闭了它那一端（发来了 FIN）。
        if let Err(err) = echo(&mut clnt) {
            eprintln!("错误：与 {addr} 通信失败：{err}");
        }
        if fixed {
            // 对的做法：对方关闭了，我们也关闭。内核发出我们的 FIN，连接走完关闭的过程。
            drop(clnt);
            say!("客户端 {addr} 已关闭；服务器也关闭了这个连接")?;
        } else {
            // 错误的做法：连接被留在列表里，没有人再读它、写它，也没有人关闭它。
            // 客户端的 FIN 已经到了，我们的 FIN 却永远不会发出：这个连接停在 CLOSE-WAIT。
            forgotten.push_back(clnt);
            if forgotten.len() > MAX_FORGOTTEN {
                drop(forgotten.pop_front()); // 关闭最早的一个
            }
            say!(
                "客户端 {addr} 已关闭；服务器没有关闭这个连接（没关闭的连接：{} 个）",
                forgotten.len()
            )?;
        }
    }
    // ANCHOR_END: serve
}

/// 把收到的字节原样发回，直到对方关闭（读到 0 字节）。
fn echo(clnt: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let n = clnt.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        clnt.write_all(&buf[..n])?;
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

/// 读取命令行参数：可选的 `--fixed`，和可选的要绑定的地址（形如 `127.0.0.1:3214` 或 `[::1]:0`）。
/// `-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, bool)>> {
    let mut fixed = false;
    let mut addr = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--fixed" => fixed = true,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!(
                "参数太多：只需要一个地址，例如 `cargo run --example close_wait_server -- 127.0.0.1:3214`"
            ),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let Ok(addr) = text.parse() else {
        bail!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214"
        );
    };
    Ok(Some((addr, fixed)))
}
