//! AF_UNIX 流式回显服务器：和 tcp_echo_server 一样，只是地址换成了文件系统里的一个路径。
//! 只能和同一台机器上的进程通信，不经过网络协议栈。
//!
//! 运行：`cargo run --example unix_echo_server`（默认路径是临时目录下的 socket-book-echo.sock），
//! 或 `cargo run --example unix_echo_server -- /tmp/echo.sock`。
//!
//! 套接字文件的两个坑，这里都处理了：
//! - 上一次运行留下的旧文件会让 bind 失败（Address already in use）：启动时先检查，确认
//!   没有服务器在用它，再删掉；
//! - 服务器结束时，自己创建的文件要自己删掉（被 Ctrl-C 打断时删不掉，所以上一条仍然需要）。

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let path = parse_path()?;
    remove_stale_socket(&path)?;

    // Python: s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(5)
    let listener =
        UnixListener::bind(&path).with_context(|| format!("无法绑定 {}", path.display()))?;
    // 从这里起，无论怎样离开 run（正常结束或出错），_cleanup 都会删除套接字文件。
    let _cleanup = RemoveOnDrop(path.clone());
    println!("{}", path.display());

    let (mut clnt, addr) = listener.accept().context("接受连接失败")?;
    // 客户端通常不绑定路径，它的地址是“未命名的”（Python 里打印为空字符串）。
    match addr.as_pathname() {
        Some(p) => println!("Client Address: {}", p.display()),
        None => println!("Client Address: （未命名）"),
    }

    let mut buf = [0u8; 1024];
    loop {
        let n = clnt.read(&mut buf).context("接收数据失败")?;
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        println!("Receive Data: {}", String::from_utf8_lossy(data));
        clnt.write_all(data).context("发送数据失败")?;
    }
    Ok(())
}

/// 路径上已经有一个文件时：是没人在用的套接字文件就删掉，否则报错，绝不删别的文件。
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
    match UnixStream::connect(path) {
        Ok(_) => bail!(
            "{} 上已经有一个服务器在运行：先结束它，或换一个路径",
            path.display()
        ),
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
            // 文件还在，却没有程序在监听：上一次运行留下的旧文件。
            eprintln!("（删除上次留下的套接字文件 {}）", path.display());
            std::fs::remove_file(path).with_context(|| format!("无法删除 {}", path.display()))
        }
        Err(err) => Err(err).with_context(|| format!("无法检查 {}", path.display())),
    }
}

/// 离开作用域时删除套接字文件。
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// 读取可选的命令行参数：套接字文件的路径。
fn parse_path() -> Result<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    let path = match args.next() {
        Some(path) => PathBuf::from(path),
        None => std::env::temp_dir().join("socket-book-echo.sock"),
    };
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个路径，例如 `cargo run --example unix_echo_server -- /tmp/echo.sock`"
        );
    }
    Ok(path)
}
