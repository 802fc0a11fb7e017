//! AF_UNIX 数据报回显服务器：和 udp_echo_server 一样，只是地址换成了一个路径。
//! 收到内容恰好是 `True` 的数据报时结束。
//!
//! 运行：`cargo run --example unix_datagram_server`（默认路径是临时目录下的 socket-book-dgram.sock），
//! 或 `cargo run --example unix_datagram_server -- /tmp/dgram.sock`。
//!
//! 数据报的坑：客户端必须自己也绑定一个路径，服务器才有地方回复。
//! 没有绑定的客户端发来的数据报，服务器照样收到、打印，但无法回显，只能说一声。

use std::io::{ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

const USAGE: &str = "用法：unix_datagram_server [路径]
AF_UNIX 数据报回显服务器：在套接字文件“路径”上收数据报并原样发回，收到 True 时结束。
路径默认是临时目录下的 socket-book-dgram.sock。";

/// 一个回复最多等这么久：对方的接收队列满了（它不再读）时，丢掉这个回复，接着服务别人。
const REPLY_TIMEOUT: Duration = Duration::from_millis(100);

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
    remove_stale_socket(&path)?;

    // Python: s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path)
    let s = UnixDatagram::bind(&path).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {}（{hint}）", path.display()))
    })?;
    let _cleanup = SocketFile::created(&path)?;
    // 发送超时只影响 send_to；recv_from 照样一直等下一个数据报。
    s.set_write_timeout(Some(REPLY_TIMEOUT))?;
    say!("{}", path.display())?;

    let mut buf = [0u8; 1024];
    loop {
        // Python: data, addr = s.recvfrom(1024)
        // 数据报比 buf 长时，多出的部分被内核丢弃（截断），和 UDP 一样。
        let (n, addr) = s.recv_from(&mut buf).context("接收数据报失败")?;
        let data = &buf[..n];
        if data == b"True" {
            break;
        }
        say!("Receive String: {}", printable(data))?;
        // Python: s.sendto(data, addr)
        let Some(client) = addr.as_pathname() else {
            eprintln!("（这个数据报没有回信地址：客户端没有绑定路径，无法回显）");
            continue;
        };
        let shown = printable(client.as_os_str().as_bytes());
        match s.send_to(data, client) {
            Ok(_) => {}
            // 对方的接收队列满了（它发了很多数据报，却不读回复）：不能为它一直等下去。
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                eprintln!(
                    "（{} 毫秒内无法回复 {shown}：它的接收队列满了，丢弃这个回复）",
                    REPLY_TIMEOUT.as_millis()
                );
            }
            // 客户端可能已经退出、删掉了它的文件：这不该让服务器停下。
            Err(err) => eprintln!("（无法回复 {shown}：{err}）"),
        }
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

/// 路径上已经有一个文件时：是没有任何程序在用的旧套接字文件就删掉；其他情况一律报错，
/// 什么也不删。
fn remove_stale_socket(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("无法检查 {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{} 已经存在，而且不是套接字文件：换一个路径",
            path.display()
        );
    }
    // 探测：用一个没有绑定的数据报套接字去 connect 这个路径。connect 不发送任何数据，
    // 正在运行的服务器什么也收不到。
    let probe = UnixDatagram::unbound().context("无法创建套接字")?;
    match probe.connect(path) {
        // 文件还在，却没有任何套接字在用它：上一次运行留下的旧文件。
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
            eprintln!("（删除上次留下的套接字文件 {}）", path.display());
            std::fs::remove_file(path).with_context(|| format!("无法删除 {}", path.display()))
        }
        Err(err) if err.kind() == ErrorKind::PermissionDenied => {
            bail!("没有权限使用 {}：换一个路径", path.display())
        }
        // 连接成功（一个数据报套接字在用它），或“Protocol wrong type”（一个流式套接字
        // 在监听它），或别的错误：都不能说明它没人用，不碰它。
        _ => bail!(
            "已经有程序在使用 {}：先结束它，或换一个路径",
            path.display()
        ),
    }
}

/// bind 失败时，按失败的原因给出建议。
fn bind_hint(err: &std::io::Error) -> &'static str {
    match err.kind() {
        ErrorKind::AddrInUse => "路径上已经有文件了：换一个路径",
        ErrorKind::PermissionDenied => "没有权限在那个目录里创建文件：换一个目录，例如 /tmp",
        ErrorKind::NotFound => "路径中的目录不存在：先创建它，或换一个路径",
        ErrorKind::InvalidInput => "路径太长：AF_UNIX 的路径最多 107 个字节",
        _ => "检查路径是否写对",
    }
}

/// 本程序创建的套接字文件：离开作用域时删除它。删除之前先确认路径上还是同一个文件
/// （同一个设备号和 inode 号），别人后来放在那里的文件不碰。
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn created(path: &Path) -> Result<SocketFile> {
        let meta = std::fs::symlink_metadata(path)
            .with_context(|| format!("无法检查 {}", path.display()))?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

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

/// 读取可选的命令行参数：套接字文件的路径。`-h` / `--help` 时返回 None。
fn parse_path() -> Result<Option<PathBuf>> {
    let mut args = std::env::args_os().skip(1);
    let path = match args.next() {
        None => std::env::temp_dir().join("socket-book-dgram.sock"),
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
            "参数太多：只需要一个路径，例如 `cargo run --example unix_datagram_server -- /tmp/dgram.sock`"
        );
    }
    Ok(Some(path))
}
