//! 按帧回显的 TCP 服务器：用长度前缀给消息分帧。一帧是 4 个字节的长度（大端序），
//! 后面跟着这么多字节的内容；每收到完整的一帧，就把它连同帧头原样发回。
//!
//! 运行：`cargo run --example frame_echo_server`（默认绑定 127.0.0.1:3214），
//! 客户端是 `cargo run --example frame_echo_client`。按 Ctrl-C 结束服务器。
//!
//! 它一个接一个地服务客户端，永远不退出；每个连接打开、关闭时各打印一行。
//! 帧头声明的长度超过上限、客户端闲置太久、或者在一帧的中间断开：在标准错误上打印一行原因，
//! 关闭这个连接，接着服务下一个客户端。长度在分配内存之前检查：一个声明 4 GiB 的帧头骗不走内存。

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 一帧的内容最长多少字节（不含 4 字节的帧头），可以用 --max-frame 修改。
const DEFAULT_MAX_FRAME: usize = 1024 * 1024;
/// 客户端多少秒不发数据就断开它，可以用 --idle-timeout 修改。
const DEFAULT_IDLE_TIMEOUT: &str = "60";
/// --max-frame 最大能写多少：64 MiB。
const MAX_MAX_FRAME: usize = 64 * 1024 * 1024;
/// --idle-timeout 的范围：1 毫秒到 1 天。
const IDLE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=86400.0;

const USAGE: &str = "用法：frame_echo_server [地址] [--max-frame 字节数] [--idle-timeout 秒数]
按帧回显的 TCP 服务器：一帧是 4 字节的长度（大端序）加上这么多字节的内容；
每收到完整的一帧，就把它连同帧头原样发回。它一个接一个地服务客户端，按 Ctrl-C 结束。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                        IPv6 写成 [::1]:3214
  --max-frame 字节数    一帧的内容最长多少字节（不含帧头），默认 1048576，最大 67108864（64 MiB）；
                        帧头声明的长度更大时，服务器不分配内存，直接断开这个客户端
  --idle-timeout 秒数   客户端这么久不发数据，就断开它；发送回显也最多等这么久。默认 60，
                        可以写小数，范围 0.001 到 86400";

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

/// 命令行给出的设置。
struct Config {
    addr: SocketAddr,
    max_frame: usize,
    idle_timeout: Duration,
    /// 命令行上写的秒数，原样用在提示里。
    idle_text: String,
}

// ANCHOR: main-part
fn run() -> Result<()> {
    let Some(config) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    // Python: s = socket.create_server((HOST, PORT))
    let listener = TcpListener::bind(config.addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {}（{hint}）", config.addr))
    })?;
    say!("{}", listener.local_addr()?)?;

    // 一个接一个地服务客户端：服务完一个，再 accept 下一个。
    loop {
        // Python: clnt, addr = s.accept()
        let (clnt, addr) = match listener.accept() {
            Ok(pair) => pair,
            // 连接在被 accept 之前就被对方放弃了：不是服务器的问题，等下一个。
            Err(err) if err.kind() == ErrorKind::ConnectionAborted => continue,
            Err(err) => return Err(err).context("接受连接失败"),
        };
        say!("Client Address: {addr}")?;
        // 这个客户端出了任何问题，都只断开它自己：打印一行原因，然后服务下一个。
        if let Err(why) = serve(clnt, &config) {
            eprintln!("断开 {addr}：{why:#}");
        }
        say!("连接关闭：{addr}")?;
    }
}

/// 服务一个客户端：读出一帧，发回一帧，直到对方关闭连接。
fn serve(mut clnt: TcpStream, config: &Config) -> Result<()> {
    // ANCHOR: set-timeouts
    // Python: clnt.settimeout(idle_timeout)   —— 读和写都最多等这么久
    clnt.set_read_timeout(Some(config.idle_timeout))?;
    clnt.set_write_timeout(Some(config.idle_timeout))?;
    // ANCHOR_END: set-timeouts
    loop {
        // Python: header = recv_exactly(clnt, 4)
        let mut header = [0u8; 4];
        let got = recv_exactly(&mut clnt, &mut header).map_err(|err| receive_error(err, config))?;
        if got == 0 {
            return Ok(()); // 读到 0 字节：对方关闭了连接，正好在两帧之间
        }
        if got < header.len() {
            bail!("对方在帧头的中间关闭了连接（帧头只收到 {got} 字节）");
        }
        // Python: (n,) = struct.unpack('>I', header)
        let n = u32::from_be_bytes(header) as usize;
        // 先检查，再分配：帧头是客户端写的，它可以声明 4 GiB。
        if n > config.max_frame {
            bail!(
                "帧头声明的长度 {n} 字节超过了上限 {} 字节（--max-frame）",
                config.max_frame
            );
        }
        // 帧头和内容放在同一块内存里，一次发回。内存随收到的数据增长，而不是按帧头一次分配：
        // 声明了 60 MiB、却一个字节也不发的客户端，只占得到它真正发来的那么多。
        let mut frame = header.to_vec();
        // Python: payload = recv_exactly(clnt, n)
        let got = (&mut clnt)
            .take(n as u64)
            .read_to_end(&mut frame)
            .map_err(|err| receive_error(err, config))?;
        if got < n {
            bail!("对方在一帧的中间关闭了连接（帧头声明 {n} 字节，只收到 {got} 字节）");
        }
        // Python: clnt.sendall(header + payload)
        clnt.write_all(&frame)
            .map_err(|err| send_error(err, config))?;
    }
}

/// 读满 `buf`，除非对方先关闭了连接；返回读到的字节数（对方关闭了连接时，少于 `buf.len()`）。
/// Python: def recv_exactly(sock, n)
fn recv_exactly(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(got)
}
// ANCHOR_END: main-part

// ANCHOR: idle
/// 接收失败的原因，说成一句话。超时在 Linux 上报告为 WouldBlock（EAGAIN），在 Windows 上是 TimedOut。
fn receive_error(err: std::io::Error, config: &Config) -> anyhow::Error {
    match err.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => anyhow!(
            "闲置超时：{} 秒没有收到数据（--idle-timeout）",
            config.idle_text
        ),
        _ => anyhow::Error::new(err).context("接收数据失败"),
    }
}

/// 发送失败的原因，说成一句话。
fn send_error(err: std::io::Error, config: &Config) -> anyhow::Error {
    match err.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => anyhow!(
            "发送超时：{} 秒内没能发出回显（对方不读回显？）",
            config.idle_text
        ),
        _ => anyhow::Error::new(err).context("发送数据失败"),
    }
}

// ANCHOR_END: idle

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}

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

/// 读取命令行：可选的地址，`--max-frame 字节数`，`--idle-timeout 秒数`。
/// `-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Config>> {
    let mut addr = None;
    let mut max_frame = DEFAULT_MAX_FRAME;
    let mut idle_text = DEFAULT_IDLE_TIMEOUT.to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--max-frame" => {
                let value = args.next().context("--max-frame 后面要写一个字节数")?;
                max_frame = value
                    .parse()
                    .ok()
                    .filter(|&n| n <= MAX_MAX_FRAME)
                    .with_context(|| {
                        format!(
                            "--max-frame 要写一个 0 到 {MAX_MAX_FRAME} 之间的整数（字节数），而不是 `{value}`"
                        )
                    })?;
            }
            "--idle-timeout" => {
                idle_text = args
                    .next()
                    // 下一个参数是地址或别的选项：秒数漏写了。
                    .filter(|value| {
                        !value.contains(':')
                            && (!value.starts_with('-') || value.parse::<f64>().is_ok())
                    })
                    .context("--idle-timeout 后面要写一个秒数")?;
            }
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let idle_timeout = idle_text
        .parse::<f64>()
        .ok()
        .filter(|secs| IDLE_RANGE.contains(secs))
        .map(Duration::from_secs_f64)
        .with_context(|| {
            format!(
                "--idle-timeout 要写一个 0.001 到 86400 之间的秒数（可以是小数），而不是 `{idle_text}`"
            )
        })?;
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    // std 的 TcpListener::bind 其实也接受 `localhost:3214` 这样的主机名；本例特意只接受 IP 地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名）"
        )
    })?;
    Ok(Some(Config {
        addr,
        max_frame,
        idle_timeout,
        idle_text,
    }))
}
