//! 守好门的 AF_UNIX 回显服务器：套接字文件只让自己的用户连接（权限 0600），
//! 每个连接都用 SO_PEERCRED 问内核“对面是谁”（进程号、用户号、组号），不是允许的用户就拒绝。
//!
//! 运行：`cargo run --example unix_guarded`（默认路径是临时目录下的 socket-book-guarded.sock），
//! 客户端用 `cargo run --example unix_echo_client -- 路径`。按 Ctrl-C 结束。
//!
//! 它一个接一个地服务客户端；每个连接最多 10 秒不发数据，一行一行地回显，直到对方关闭连接。

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 一个客户端最多这么久不发数据，就断开它。
const IDLE: Duration = Duration::from_secs(10);

const USAGE: &str = "用法：unix_guarded [路径] [--allow-uid 用户号]
守好门的 AF_UNIX 回显服务器：套接字文件的权限是 0600（只有属主能连接），
每个连接都用 SO_PEERCRED 查出对方的进程号、用户号、组号，打印出来；用户号不对就拒绝。
  路径                  套接字文件，默认是临时目录下的 socket-book-guarded.sock
  --allow-uid 用户号    允许哪个用户连接，默认是运行服务器的用户";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

fn main() {
    match run() {
        Ok(()) => {}
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

// ANCHOR: run
fn run() -> Result<()> {
    let Some((path, allow_uid)) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    remove_stale_socket(&path)?;
    // 套接字文件的权限由 bind 时的 umask 决定：先把 umask 设成 0177，文件一出生就是 0600，
    // 没有“先建好、再 chmod”之间别人能钻的空子。（umask 是整个进程的，这时还只有一个线程。）
    // SAFETY: umask 只改本进程的文件创建掩码，总是成功。
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(&path);
    // SAFETY: 同上，换回原来的掩码。
    unsafe { libc::umask(old) };
    let listener = bound.with_context(|| format!("无法绑定 {}", path.display()))?;
    say!("{}", path.display())?;
    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    say!("套接字文件的权限：{mode:04o}（只有属主能连接）；允许的用户号：{allow_uid}")?;
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(stream) => stream,
            Err(err) => {
                eprintln!("接受连接失败：{err}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // 连接的那一刻，内核记下了对方进程的凭据；对方伪造不了。
        let cred = match peer_cred(&stream) {
            Ok(cred) => cred,
            Err(err) => {
                eprintln!("拒绝一个连接：查不到对方是谁（{err}）");
                continue;
            }
        };
        let who = format!("pid {}，uid {}，gid {}", cred.pid, cred.uid, cred.gid);
        if cred.uid != allow_uid {
            eprintln!("拒绝 {who}：只允许 uid {allow_uid}（--allow-uid）");
            continue; // stream 在这里被丢弃，连接随之关闭
        }
        say!("对方：{who}")?;
        if let Err(why) = serve(stream) {
            eprintln!("断开 {who}：{why:#}");
        }
        say!("连接关闭：{who}")?;
    }
    Ok(())
}
// ANCHOR_END: run

// ANCHOR: peer_cred
/// 对方进程的凭据（Linux 的 struct ucred）。
struct Cred {
    pid: i32,
    uid: u32,
    gid: u32,
}

/// getsockopt(SO_PEERCRED)：问内核，连接另一端的进程是谁（socket(7)、unix(7)）。
/// 标准库的 `UnixStream::peer_cred` 还不稳定，socket2 也没有它，这里直接调用 libc。
fn peer_cred(stream: &UnixStream) -> std::io::Result<Cred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred 和 len 都活到调用结束，len 正是 cred 的大小，内核最多写这么多字节。
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Cred {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}
// ANCHOR_END: peer_cred

/// 回显，直到对方关闭连接；闲置 IDLE 就断开。
fn serve(mut stream: UnixStream) -> Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("{} 秒没有收到数据", IDLE.as_secs())
            }
            Err(e) => return Err(e).context("接收数据失败"),
        };
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).context("发送数据失败")?;
    }
}

/// 路径上已经有一个没人在用的旧套接字文件就删掉；别的情况一律报错（见 unix_echo_server）。
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
    let probe = UnixDatagram::unbound().context("无法创建套接字")?;
    match probe.connect(path) {
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).with_context(|| format!("无法删除 {}", path.display()))
        }
        _ => bail!(
            "已经有程序在使用 {}：先结束它，或换一个路径",
            path.display()
        ),
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

/// 读取命令行：可选的路径和 `--allow-uid 用户号`。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<(PathBuf, u32)>> {
    let mut path = None;
    // SAFETY: getuid 总是成功，没有副作用。
    let mut allow_uid = unsafe { libc::getuid() };
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(None),
            Some("--allow-uid") => {
                let value = args.next().context("--allow-uid 后面要写一个用户号")?;
                let value = value.to_string_lossy();
                allow_uid = value.parse().with_context(|| {
                    format!("--allow-uid 要写一个用户号（非负整数），而不是 `{value}`")
                })?;
            }
            Some(text) if text.starts_with('-') => {
                bail!("不认识的选项 {text}：用 --help 查看用法")
            }
            _ if path.is_some() => bail!("参数太多：只能给一个路径"),
            _ => path = Some(PathBuf::from(arg)),
        }
    }
    let path = path.unwrap_or_else(|| std::env::temp_dir().join("socket-book-guarded.sock"));
    Ok(Some((path, allow_uid)))
}
