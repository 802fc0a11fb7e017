//! AF_UNIX 数据报回显客户端：把标准输入的每一行作为一个数据报发给服务器，打印回显。
//!
//! 运行：先启动 `cargo run --example unix_datagram_server`，
//! 再运行 `cargo run --example unix_datagram_client`（默认路径与服务器相同），逐行输入，Ctrl-D 结束。
//!
//! 和 UDP 客户端不同，AF_UNIX 数据报套接字不会自动得到地址：客户端必须自己绑定一个路径，
//! 服务器的回复才有处可去。结束时删除这个路径（被 Ctrl-C 打断时删不掉）。

use std::io::{BufRead, ErrorKind, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const USAGE: &str = "用法：unix_datagram_client [路径]
AF_UNIX 数据报回显客户端：把标准输入的每一行作为一个数据报发给套接字文件“路径”上的服务器，打印回显。
路径默认是临时目录下的 socket-book-dgram.sock。";

/// 发送和等回复都最多等这么久。
const TIMEOUT: Duration = Duration::from_secs(2);

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
    let Some(server) = parse_path()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    // 客户端自己的路径：放在临时目录里，用进程号区分，多个客户端不会撞车。
    // 那里已经有文件时，和服务器一样处理：只删没人用的旧套接字文件，别的一律不碰。
    let me = std::env::temp_dir().join(format!("socket-book-client-{}.sock", std::process::id()));
    remove_stale_socket(&me)?;
    let s = UnixDatagram::bind(&me).with_context(|| format!("无法绑定 {}", me.display()))?;
    // 从这里起，无论怎样离开 run（正常结束或出错），_cleanup 都会删除这个文件。
    let _cleanup = SocketFile::created(&me)?;
    // Python: s.connect(path)   —— 从此只和服务器说话：send / recv 不用写地址，
    // 别的程序发给我们的数据报会被内核拒绝。服务器没有运行时，这里立刻报错。
    s.connect(&server).with_context(|| {
        format!(
            "无法连接 {}（服务器启动了吗？路径对吗？）",
            server.display()
        )
    })?;
    // 服务器的接收队列满了（它卡住了，或者根本不读）时，send_to 会阻塞：最多等这么久。
    s.set_write_timeout(Some(TIMEOUT))?;

    let mut buf = [0u8; 65536];
    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop();
        }
        // Python: s.send(data)   —— connect 过了，不用再写地址
        s.send(&data).map_err(|err| match err.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => anyhow::anyhow!(
                "等了 {} 秒，{} 仍没有收下数据报（服务器的接收队列满了）",
                TIMEOUT.as_secs(),
                server.display()
            ),
            _ => anyhow::Error::new(err).context(format!(
                "无法发往 {}（服务器还在运行吗？）",
                server.display()
            )),
        })?;
        // 等这一行的回复。connect 过的套接字只收服务器发来的数据报（别人发的，内核直接拒绝），
        // 但服务器也可能慢：上一行迟到的回复不是这一行的，跳过它，接着等，直到超时。
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                eprintln!("（{} 秒内没有收到回复）", TIMEOUT.as_secs());
                break;
            }
            s.set_read_timeout(Some(left))?;
            match s.recv(&mut buf) {
                // 服务器的缓冲区是 1024 字节：长的一行回来时被截断，是这一行的开头。
                Ok(n) if buf[..n] == data[..] || (n > 0 && data.starts_with(&buf[..n])) => {
                    say!("{}", printable(&buf[..n]))?;
                    break;
                }
                Ok(_) => eprintln!("（收到一个不是这一行的回复，大概是上一行迟到的回复：跳过）"),
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    eprintln!("（{} 秒内没有收到回复）", TIMEOUT.as_secs());
                    break;
                }
                Err(err) => return Err(err).context("接收回复失败"),
            }
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
    // 探测：用一个没有绑定的数据报套接字去 connect 这个路径，不发送任何数据。
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
        _ => bail!(
            "已经有程序在使用 {}：先结束它，或换一个路径",
            path.display()
        ),
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

/// 读取可选的命令行参数：服务器套接字文件的路径。`-h` / `--help` 时返回 None。
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
            "参数太多：只需要一个路径，例如 `cargo run --example unix_datagram_client -- /tmp/dgram.sock`"
        );
    }
    Ok(Some(path))
}
