//! 双栈 TCP 回显服务器：一个 IPv6 套接字绑定 `[::]`，关掉 IPV6_V6ONLY 后，
//! IPv4 客户端也能连上来，它的地址显示成 IPv4 映射地址 `[::ffff:127.0.0.1]:端口`。
//!
//! 运行：`cargo run --example dual_stack_server`（默认绑定 [::]:3214，IPV6_V6ONLY 关闭），
//! 或 `cargo run --example dual_stack_server -- [::]:3214 --v6only`（只接受 IPv6 客户端）。
//!
//! 注意：`[::]` 是本机的所有 IPv6 地址（双栈时也包括所有 IPv4 地址），不只是回环地址。

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

const DEFAULT_ADDR: &str = "[::]:3214";

const USAGE: &str = "用法：dual_stack_server [IPv6 地址] [--v6only]
双栈 TCP 回显服务器：一个 IPv6 套接字，IPv4 客户端也能连上来；接受一个客户端，把它发来的字节原样发回。
地址默认是 [::]:3214（本机的所有地址）；加上 --v6only 就只接受 IPv6 客户端。";

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
    let Some((addr, v6only)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    let s = Socket::new(Domain::IPV6, Type::STREAM, None).context("无法创建 IPv6 套接字")?;
    // 必须在 bind 之前设置。不设置时，Linux 用 /proc/sys/net/ipv6/bindv6only 的值（默认 0，即关闭）。
    // Python: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 或 1)
    s.set_only_v6(v6only).context("无法设置 IPV6_V6ONLY")?;
    s.bind(&addr.into()).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    s.listen(128).context("无法监听")?;
    let local = s.local_addr()?.as_socket().context("不是 IP 地址")?;
    say!("{local}")?;
    if v6only {
        say!("IPV6_V6ONLY = true：只接受 IPv6 客户端")?;
    } else {
        say!("IPV6_V6ONLY = false：IPv4 客户端也能连上来")?;
    }

    let (mut clnt, addr) = s.accept().context("接受连接失败")?;
    let addr = addr.as_socket().context("客户端地址不是 IP 地址")?;
    // IPv4 客户端的地址在 IPv6 套接字上显示为 [::ffff:a.b.c.d]:端口。
    say!("Client Address: {addr}")?;

    // 回显循环和 tcp_echo_server 完全相同。
    let mut buf = [0u8; 1024];
    let mut pending = Vec::new();
    loop {
        let n = clnt
            .read(&mut buf)
            .with_context(|| format!("从 {addr} 接收数据失败"))?;
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        clnt.write_all(data)
            .with_context(|| format!("向 {addr} 发送数据失败"))?;
        pending.extend_from_slice(data);
        let shown = complete_utf8_len(&pending);
        if shown > 0 {
            say!("Receive Data: {}", printable(&pending[..shown]))?;
            pending.drain(..shown);
        }
    }
    if !pending.is_empty() {
        say!("Receive Data: {}", printable(&pending))?;
    }
    Ok(())
}
// ANCHOR_END: run

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

/// `bytes` 里有多少字节现在就能显示：末尾一个还没收全的 UTF-8 字符（最多 3 个字节）留到下一次。
fn complete_utf8_len(bytes: &[u8]) -> usize {
    match bytes.utf8_chunks().last() {
        Some(chunk)
            if std::str::from_utf8(chunk.invalid()).is_err_and(|e| e.error_len().is_none()) =>
        {
            bytes.len() - chunk.invalid().len()
        }
        _ => bytes.len(),
    }
}

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

/// 参数：可选的 IPv6 地址（默认 `[::]:3214`），可选的 `--v6only`。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(SocketAddr, bool)>> {
    let mut addr = None;
    let mut v6only = false;
    for arg in std::env::args().skip(1) {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        } else if arg == "--v6only" {
            v6only = true;
        } else if arg.starts_with('-') {
            bail!("不认识的选项 {arg}：用 --help 查看用法");
        } else if addr.is_none() {
            let parsed: SocketAddr = arg.parse().with_context(|| {
                format!("无法解析地址 `{arg}`：应写成 [IPv6]:端口，例如 [::]:3214")
            })?;
            if !parsed.is_ipv6() {
                bail!("`{arg}` 不是 IPv6 地址：双栈服务器要绑定 IPv6 地址，例如 [::]:3214");
            }
            addr = Some(parsed);
        } else {
            bail!(
                "参数太多：用法是 `cargo run --example dual_stack_server -- [::]:3214 [--v6only]`"
            );
        }
    }
    let addr = match addr {
        Some(addr) => addr,
        None => DEFAULT_ADDR.parse()?,
    };
    Ok(Some((addr, v6only)))
}
