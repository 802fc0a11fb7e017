//! AF_UNIX 数据报回显服务器：和 udp_echo_server 一样，只是地址换成了一个路径。
//! 收到内容恰好是 `True` 的数据报时结束。
//!
//! 运行：`cargo run --example unix_datagram_server`（默认路径是临时目录下的 socket-book-dgram.sock），
//! 或 `cargo run --example unix_datagram_server -- /tmp/dgram.sock`。
//!
//! 数据报的坑：客户端必须自己也绑定一个路径，服务器才有地方回复。
//! 没有绑定的客户端发来的数据报，服务器照样收到、打印，但无法回显，只能说一声。

use std::io::ErrorKind;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
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

    // Python: s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path)
    let s = UnixDatagram::bind(&path).with_context(|| format!("无法绑定 {}", path.display()))?;
    let _cleanup = RemoveOnDrop(path.clone());
    println!("{}", path.display());

    let mut buf = [0u8; 1024];
    loop {
        // Python: data, addr = s.recvfrom(1024)
        let (n, addr) = s.recv_from(&mut buf).context("接收数据报失败")?;
        let data = &buf[..n];
        if data == b"True" {
            break;
        }
        println!("Receive String: {}", String::from_utf8_lossy(data));
        // Python: s.sendto(data, addr)
        match addr.as_pathname() {
            Some(client) => {
                if let Err(err) = s.send_to(data, client) {
                    // 客户端可能已经退出、删掉了它的文件：这不该让服务器停下。
                    eprintln!("（无法回复 {}：{err}）", client.display());
                }
            }
            None => eprintln!("（这个数据报没有回信地址：客户端没有绑定路径，无法回显）"),
        }
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
    // 数据报套接字没有“连接”；向它发一个空数据报试试：没人在收时，内核立刻拒绝
    // （真有服务器在运行的话，它会收到这个空数据报，无害）。
    let probe = UnixDatagram::unbound().context("无法创建套接字")?;
    match probe.send_to(b"", path) {
        Ok(_) => bail!(
            "{} 上已经有一个服务器在运行：先结束它，或换一个路径",
            path.display()
        ),
        Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
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
        None => std::env::temp_dir().join("socket-book-dgram.sock"),
    };
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个路径，例如 `cargo run --example unix_datagram_server -- /tmp/dgram.sock`"
        );
    }
    Ok(path)
}
