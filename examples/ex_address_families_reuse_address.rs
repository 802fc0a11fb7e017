//! 练习答案（地址族与套接字类型，练习 2）：tcp_echo_server_socket2 加上 `SO_REUSEADDR`。
//! 它必须在 `bind` 之前设置：端口能不能用，是 `bind` 检查的。设置之后，端口上留着的
//! `TIME_WAIT` 连接不再妨碍服务器立刻重启。
//!
//! 运行：`cargo run --example ex_address_families_reuse_address`（默认绑定 127.0.0.1:3214）。

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：ex_address_families_reuse_address [地址]
TCP 回显服务器（socket2 版，设置了 SO_REUSEADDR，一步一个调用：socket、setsockopt、bind、listen(5)、accept）：接受一个客户端，
把它发来的字节原样发回；客户端关闭连接后结束。
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

    // Python: s = socket.socket()   —— 默认参数即 AF_INET 和 SOCK_STREAM
    // 地址是 IPv6 时，地址族要换成 AF_INET6（Domain::IPV6）。
    let family = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    // ANCHOR: reuse
    let s = Socket::new(family, Type::STREAM, None).context("无法创建套接字")?;
    // Python: s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    // 必须在 bind 之前：端口上还有 TIME_WAIT 连接时，是 bind 决定行不行。
    s.set_reuse_address(true).context("无法设置 SO_REUSEADDR")?;

    // Python: s.bind((HOST, PORT))
    s.bind(&addr.into()).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    // ANCHOR_END: reuse

    // Python: s.listen(5)   —— 积压队列长度 5，和笔记一样
    s.listen(5).context("无法监听")?;
    let local = s.local_addr()?.as_socket().context("不是 IP 地址")?;
    say!("{local}")?;

    // Python: clnt, addr = s.accept()
    let (mut clnt, addr) = s.accept().context("接受连接失败")?;
    let addr = addr.as_socket().context("客户端地址不是 IP 地址")?;
    say!("Client Address: {addr}")?;

    // 从这里起和 tcp_echo_server 完全相同：socket2 的 Socket 也实现了 Read 和 Write。
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
            "参数太多：只需要一个地址，例如 `cargo run --example ex_address_families_reuse_address -- 127.0.0.1:3214`"
        );
    }
    // socket2 的 bind 要的是一个具体的地址（SockAddr），不会替你解析主机名：这里只接受 IP 地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名，这样你确切知道它绑定了哪个地址）"
        )
    })?;
    Ok(Some(addr))
}
