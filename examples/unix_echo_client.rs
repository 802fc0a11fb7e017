//! AF_UNIX 流式回显客户端：和 tcp_echo_client 一样，只是连接的是一个路径。
//!
//! 运行：先启动 `cargo run --example unix_echo_server`，
//! 再运行 `cargo run --example unix_echo_client`（默认路径与服务器相同），逐行输入，Ctrl-D 结束。

use std::io::{BufRead, ErrorKind, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const USAGE: &str = "用法：unix_echo_client [路径]
AF_UNIX 流式回显客户端：连接套接字文件“路径”上的服务器，发送标准输入的每一行，打印回显。
路径默认是临时目录下的 socket-book-echo.sock。";

/// 读写都最多等这么久：服务器不回应时，客户端报错退出，而不是永远等下去。
const TIMEOUT: Duration = Duration::from_secs(5);

/// 一次发送多少字节：发一块，收回这一块的回显，再发下一块。
const PIECE: usize = 8 * 1024;

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
    let Some(path) = parse_path()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    // Python: s = socket.socket(socket.AF_UNIX); s.connect(path)
    let mut stream = UnixStream::connect(&path).map_err(|e| {
        let hint = connect_hint(&e);
        anyhow::Error::new(e).context(format!("无法连接 {}（{hint}）", path.display()))
    })?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;

    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop();
        }
        // 和 TCP 一样是字节流：发了多少字节，就读满多少字节。
        // 一块一块地发：发一块，读回这一块的回显，再发下一块。一口气先全部写出去的话，
        // 很长的一行会让双方都卡在写上（书中“客户端为什么一块一块地发”一节讲了原因）。
        let mut reply = vec![0u8; data.len()];
        for (piece, echo) in data.chunks(PIECE).zip(reply.chunks_mut(PIECE)) {
            stream.write_all(piece).map_err(|err| match err.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                    anyhow::anyhow!("等了 {} 秒，服务器仍没有收下数据", TIMEOUT.as_secs())
                }
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => {
                    anyhow::anyhow!("服务器已经关闭了连接")
                }
                _ => anyhow::Error::new(err).context("发送数据失败"),
            })?;
            stream.read_exact(echo).map_err(|err| match err.kind() {
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset => {
                    anyhow::anyhow!("服务器在回显完成之前关闭了连接")
                }
                ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                    anyhow::anyhow!("等了 {} 秒，回显仍未收全", TIMEOUT.as_secs())
                }
                _ => anyhow::Error::new(err).context("接收回显失败"),
            })?;
        }
        say!("{}", printable(&reply))?;
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

/// 连接失败时，按失败的原因给出建议。
fn connect_hint(err: &std::io::Error) -> &'static str {
    match err.kind() {
        ErrorKind::NotFound => "路径上没有文件：服务器启动了吗？路径对吗？",
        ErrorKind::ConnectionRefused => "文件在，但没有服务器在监听：服务器启动了吗？",
        ErrorKind::PermissionDenied => "没有权限：套接字文件或它所在的目录不允许你访问",
        _ => "服务器启动了吗？路径对吗？",
    }
}

/// 读取可选的命令行参数：服务器套接字文件的路径。`-h` / `--help` 时返回 None。
fn parse_path() -> Result<Option<PathBuf>> {
    let mut args = std::env::args_os().skip(1);
    let path = match args.next() {
        None => std::env::temp_dir().join("socket-book-echo.sock"),
        Some(arg) if arg == "-h" || arg == "--help" => return Ok(None),
        Some(arg) if arg.is_empty() => {
            bail!("路径不能是空的：不给参数就用默认路径，或者给一个文件路径")
        }
        Some(arg) if arg.as_bytes().starts_with(b"-") => bail!(
            "不认识的选项 {}：路径不能以 - 开头（文件名确实以 - 开头时，写成 ./{}）",
            arg.display(),
            arg.display()
        ),
        Some(arg) => PathBuf::from(arg),
    };
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个路径，例如 `cargo run --example unix_echo_client -- /tmp/echo.sock`"
        );
    }
    Ok(Some(path))
}
