//! AF_UNIX 数据报回显客户端：把标准输入的每一行作为一个数据报发给服务器，打印回显。
//!
//! 运行：先启动 `cargo run --example unix_datagram_server`，
//! 再运行 `cargo run --example unix_datagram_client`（默认路径与服务器相同），逐行输入，Ctrl-D 结束。
//!
//! 和 UDP 客户端不同，AF_UNIX 数据报套接字不会自动得到地址：客户端必须自己绑定一个路径，
//! 服务器的回复才有处可去。结束时删除这个路径。

use std::io::{BufRead, ErrorKind};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let server = parse_path()?;

    // 客户端自己的路径：放在临时目录里，用进程号区分，多个客户端不会撞车。
    let me = std::env::temp_dir().join(format!("socket-book-client-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&me); // 同一个进程号留下的旧文件（极少见）
    let s = UnixDatagram::bind(&me).with_context(|| format!("无法绑定 {}", me.display()))?;
    let _cleanup = RemoveOnDrop(me);
    s.set_read_timeout(Some(REPLY_TIMEOUT))?;

    let mut buf = [0u8; 65536];
    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop();
        }
        // 服务器没有运行时，AF_UNIX 立刻报错（没有人在那个路径上收），不像 UDP 那样石沉大海。
        s.send_to(&data, &server).with_context(|| {
            format!(
                "无法发往 {}（服务器启动了吗？路径对吗？）",
                server.display()
            )
        })?;
        match s.recv_from(&mut buf) {
            Ok((n, _)) => println!("{}", String::from_utf8_lossy(&buf[..n])),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                eprintln!("（{} 秒内没有收到回复）", REPLY_TIMEOUT.as_secs());
            }
            Err(err) => return Err(err).context("接收回复失败"),
        }
    }
    Ok(())
}

/// 离开作用域时删除套接字文件。
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// 读取可选的命令行参数：服务器套接字文件的路径。
fn parse_path() -> Result<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    let path = match args.next() {
        Some(path) => PathBuf::from(path),
        None => std::env::temp_dir().join("socket-book-dgram.sock"),
    };
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个路径，例如 `cargo run --example unix_datagram_client -- /tmp/dgram.sock`"
        );
    }
    Ok(path)
}
