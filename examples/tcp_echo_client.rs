//! TCP 回显客户端：连接服务器，把标准输入的每一行发过去，打印服务器发回的回显。
//!
//! 运行：先在一个终端启动 `cargo run --example tcp_echo_server`，
//! 再在另一个终端运行 `cargo run --example tcp_echo_client`（默认连接 127.0.0.1:3214），
//! 然后逐行输入文字；按 Ctrl-D（Windows 上是 Ctrl-Z 回车）结束输入，客户端随之退出。

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 没有给出地址时连接的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 等待回显的最长时间：服务器出了问题时，客户端不会永远卡住。
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let addr = parse_addr()?;

    // Python: s = socket.socket(); s.connect((HOST, PORT))
    let mut stream = TcpStream::connect(addr)
        .with_context(|| format!("无法连接 {addr}（服务器启动了吗？地址和端口对吗？）"))?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;

    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop(); // Windows 的换行是 \r\n：去掉 \r
        }
        // Python: s.sendall(data)
        stream.write_all(&data).context("发送数据失败")?;

        // TCP 是字节流：回显可能分成几段到达，也可能一段里不止一条消息。
        // 发了多少字节，就读满多少字节，才算收到了完整的回显。
        let mut reply = vec![0u8; data.len()];
        stream
            .read_exact(&mut reply)
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    anyhow::anyhow!("服务器在回显完成之前关闭了连接")
                }
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    anyhow::anyhow!("等了 {} 秒，回显仍未收全", REPLY_TIMEOUT.as_secs())
                }
                _ => anyhow::Error::new(err).context("接收回显失败"),
            })?;
        println!("{}", String::from_utf8_lossy(&reply));
    }
    // stream 在这里被丢弃，连接随之关闭；服务器读到 0 字节，知道我们说完了。
    Ok(())
}

/// 读取可选的命令行参数：服务器的地址，形如 `127.0.0.1:3214` 或 `[::1]:3214`。
fn parse_addr() -> Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let text = args.next().unwrap_or_else(|| DEFAULT_ADDR.to_string());
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个地址，例如 `cargo run --example tcp_echo_client -- 127.0.0.1:3214`"
        );
    }
    text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })
}
