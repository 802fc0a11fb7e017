//! 练习答案（用套接字建立 TCP 连接，练习 2）：回显服务器循环接受连接，一个客户端离开后，
//! 回到 `accept` 等下一个；一个客户端出错，只断开它一个，服务器接着服务。
//!
//! 运行：`cargo run --example ex_tcp_echo_loop`（默认绑定 127.0.0.1:3214），按 Ctrl-C 停止。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：ex_tcp_echo_loop [地址]
TCP 回显服务器：一个接一个地接受客户端，把每个客户端发来的字节原样发回；按 Ctrl-C 停止。
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

// ANCHOR: main
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

    // 外层循环：一个客户端服务完，回到 accept 等下一个。
    loop {
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            // accept 也可能失败（比如打开的文件太多）：说一声，接着等下一个。
            Err(err) => {
                eprintln!("接受连接失败：{err}");
                continue;
            }
        };
        say!("Client Address: {addr}")?;
        match serve(clnt, addr) {
            Ok(()) => {}
            // 标准输出被关闭：没有人在看了，整个服务器安静地结束。
            Err(err) if err.is::<StdoutClosed>() => return Err(err),
            // 这个客户端出了错（比如它发来复位 RST）：只断开它一个，打印一行原因。
            Err(err) => eprintln!("客户端 {addr} 出错：{err:#}"),
        }
    }
}

/// 服务一个客户端，直到它关闭连接：和 tcp_echo_server 的内层循环一样。
fn serve(mut clnt: TcpStream, addr: SocketAddr) -> Result<()> {
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
            "参数太多：只需要一个地址，例如 `cargo run --example ex_tcp_echo_loop -- 127.0.0.1:3214`"
        );
    }
    // std 的 TcpListener::bind 其实也接受 `localhost:3214` 这样的主机名；本例特意只接受 IP 地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名，这样你确切知道它绑定了哪个地址）"
        )
    })?;
    Ok(Some(addr))
}
