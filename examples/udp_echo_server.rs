//! UDP 回显服务器：课堂笔记里 Python UDP 服务器的 Rust 版本，一步对一步。
//!
//! 运行：`cargo run --example udp_echo_server`（默认绑定 127.0.0.1:3214），
//! 或 `cargo run --example udp_echo_server -- 127.0.0.1:0`（让系统挑一个空闲端口）。
//!
//! 它把收到的每个数据报原样发回给发送者；收到内容恰好是 `True` 的数据报时，不回显，直接结束。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：udp_echo_server [地址]
UDP 回显服务器：把收到的每个数据报原样发回给发送者；收到内容恰好是 True 的数据报时结束。
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

// ANCHOR: run
fn run() -> Result<()> {
    let Some(addr) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    // Python: s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((HOST, PORT))
    let s = UdpSocket::bind(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    say!("{}", s.local_addr()?)?;

    let mut buf = [0u8; 1024];
    loop {
        // Python: data, addr = s.recvfrom(1024)   —— 阻塞，直到收到一个数据报
        // 一次 recv_from 只取一个数据报。数据报比 buf 长时（超过 1024 字节），
        // 只有前 1024 个字节放进 buf，多出的部分被内核丢弃，再也读不到；
        // 服务器照常运行，回显的就是这前 1024 个字节。
        let (n, addr) = s.recv_from(&mut buf).context("接收数据报失败")?;
        let data = &buf[..n];
        // Python: if data == b'True': break
        if data == b"True" {
            break;
        }
        // Python: s.sendto(data, addr)   —— 一个数据报要么整个发出，要么出错。
        // 和 TCP 服务器一样，先原样回显，再打印。
        if let Err(err) = s.send_to(data, addr) {
            // 一个数据报发不出去，不该让服务器停下：说一声，接着收下一个。
            eprintln!("（无法回复 {addr}：{err}）");
        }
        // Python: print('Receive String:', data.decode('utf-8'))
        // 数据报不会被拆开，所以没有“半个字符”；控制字符照样打印成转义序列，见 printable。
        say!("Receive String: {}", printable(data))?;
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

/// bind 失败时，按失败的原因给出建议。
fn bind_hint(err: &std::io::Error) -> &'static str {
    match err.kind() {
        ErrorKind::AddrInUse => "端口已被占用：换一个端口，或先结束占用它的程序",
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
            "参数太多：只需要一个地址，例如 `cargo run --example udp_echo_server -- 127.0.0.1:3214`"
        );
    }
    // std 的 UdpSocket::bind 其实也接受 `localhost:3214` 这样的主机名；本例特意只接受 IP 地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名，这样你确切知道它绑定了哪个地址）"
        )
    })?;
    Ok(Some(addr))
}
