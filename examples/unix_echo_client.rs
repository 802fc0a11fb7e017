//! AF_UNIX 流式回显客户端：和 tcp_echo_client 一样，只是连接的是一个路径。
//!
//! 运行：先启动 `cargo run --example unix_echo_server`，
//! 再运行 `cargo run --example unix_echo_client`（默认路径与服务器相同），逐行输入，Ctrl-D 结束。

use std::io::{BufRead, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let path = parse_path()?;

    // Python: s = socket.socket(socket.AF_UNIX); s.connect(path)
    let mut stream = UnixStream::connect(&path)
        .with_context(|| format!("无法连接 {}（服务器启动了吗？路径对吗？）", path.display()))?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;

    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop();
        }
        stream.write_all(&data).context("发送数据失败")?;
        // 和 TCP 一样是字节流：发了多少字节，就读满多少字节。
        let mut reply = vec![0u8; data.len()];
        stream
            .read_exact(&mut reply)
            .map_err(|err| match err.kind() {
                ErrorKind::UnexpectedEof => anyhow::anyhow!("服务器在回显完成之前关闭了连接"),
                ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                    anyhow::anyhow!("等了 {} 秒，回显仍未收全", REPLY_TIMEOUT.as_secs())
                }
                _ => anyhow::Error::new(err).context("接收回显失败"),
            })?;
        println!("{}", String::from_utf8_lossy(&reply));
    }
    Ok(())
}

/// 读取可选的命令行参数：服务器套接字文件的路径。
fn parse_path() -> Result<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    let path = match args.next() {
        Some(path) => PathBuf::from(path),
        None => std::env::temp_dir().join("socket-book-echo.sock"),
    };
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个路径，例如 `cargo run --example unix_echo_client -- /tmp/echo.sock`"
        );
    }
    Ok(path)
}
