//! 练习答案（UDP 深入，练习 3）：`udp_id_client` 先 `connect` 到服务器，再用 `send` / `recv`。
//!
//! 运行：`cargo run --example ex_udp_in_depth_connect`。没有服务器时，它不再等满超时、重发几次，
//! 而是第一次 `recv` 就得到 `Connection refused`，说一行就退出。
//!
//! 和 `udp_id_client.rs` 相比：`run` 里多了 `connect`；`ask` 用 `send` / `recv`，去掉了检查回复
//! 来自哪个地址的几行，多了对 `ConnectionRefused` 的处理。下面是 `udp_id_client` 原来的说明。
//!
//! 带编号的 UDP 客户端：每个请求前面加上 4 字节的请求编号，超时就重发，只认编号相同的回复。
//!
//! 运行：先在一个终端启动一个 UDP 回显服务器，例如 `cargo run --example udp_echo_server`
//! （回显把编号原样带回来），或者故意丢包、重复回复的 `cargo run --example udp_flaky_echo_server`；
//! 再在另一个终端运行 `cargo run --example udp_id_client`（默认发往 127.0.0.1:3214），逐行输入文字。
//! 按 Ctrl-D 结束输入，客户端随之退出。
//!
//! 请求的格式：4 字节的编号（大端序，第 1 行是 1，第 2 行是 2……），后面是这一行的字节。
//! 回复的前 4 个字节必须是同一个编号；编号不对的回复（迟到的、重复的）说一声就忽略。

use std::io::{BufRead, ErrorKind, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// 没有给出地址时发往的默认地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 每次发送后等回复的时间（秒），`--timeout` 可以改。
const DEFAULT_TIMEOUT: f64 = 1.0;
/// 没等到回复时最多重发几次，`--retries` 可以改。
const DEFAULT_RETRIES: u32 = 3;

const USAGE: &str = "用法：ex_udp_in_depth_connect [--timeout 秒数] [--retries 次数] [地址]
带编号的 UDP 客户端：把标准输入的每一行前面加上 4 字节的请求编号（大端序），作为一个数据报
发给服务器，只打印编号相同的回复（去掉编号）；迟到的、重复的回复说一声就忽略。输入结束时退出。
  --timeout 秒数   每次发送后等回复的时间，默认 1；可以是小数，例如 0.2
  --retries 次数   没等到回复时最多重发几次，默认 3；都没有回复就说一声，接着发下一行
地址是服务器的 主机:端口，默认 127.0.0.1:3214；IPv6 写成 [::1]:3214。
回显服务器（例如 udp_echo_server）把编号原样发回，可以直接当作服务器使用。";

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
struct Options {
    server: SocketAddr,
    timeout: Duration,
    retries: u32,
}

fn run() -> Result<()> {
    let Some(opts) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    // 客户端也要有自己的地址，服务器才知道回复发往哪里。端口 0：让系统挑一个。
    let local: SocketAddr = if opts.server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let s = UdpSocket::bind(local).context("无法创建 UDP 套接字")?;
    // ANCHOR: connect
    // 不发任何数据包，只让内核记住对方的地址：之后 send / recv 不用写地址，内核只收来自它的
    // 数据报，它引出的 ICMP 错误（端口不可达）也报告给这个套接字。Python: s.connect(server)
    s.connect(opts.server)
        .with_context(|| format!("无法把 UDP 套接字连接到 {}", opts.server))?;
    // ANCHOR_END: connect

    // ANCHOR: main-loop
    let mut id: u32 = 0;
    for line in std::io::stdin().lock().split(b'\n') {
        let mut data = line.context("读取标准输入失败")?;
        if data.last() == Some(&b'\r') {
            data.pop(); // Windows 的换行是 \r\n：去掉 \r
        }
        // 每个请求一个新编号。Python: request = struct.pack('>I', id) + data
        id = id.wrapping_add(1);
        let mut request = id.to_be_bytes().to_vec();
        request.extend_from_slice(&data);

        match ask(&s, &opts, id, &request)? {
            Some(reply) => say!("{}", String::from_utf8_lossy(&reply))?,
            None => eprintln!(
                "（编号 {id}：发了 {} 次，都没有收到回复：服务器可能没有运行，或者数据报都丢了）",
                opts.retries + 1
            ),
        }
    }
    // ANCHOR_END: main-loop
    Ok(())
}

// ANCHOR: ask
/// 发出请求 `request`（编号 `id`），等编号相同的回复，返回去掉编号的内容。
/// 每次发送后最多等 `opts.timeout`；没等到就把同一个请求再发一次，最多重发 `opts.retries` 次。
fn ask(s: &UdpSocket, opts: &Options, id: u32, request: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut buf = [0u8; 65535]; // 一个 UDP 数据报最多 65507 字节（IPv4）
    for attempt in 0..=opts.retries {
        if attempt > 0 {
            eprintln!(
                "（编号 {id}：{} 秒内没有回复，第 {attempt} 次重发）",
                opts.timeout.as_secs_f64()
            );
        }
        // Python: s.send(request)
        match s.send(request) {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::ConnectionRefused => return Err(refused(opts)),
            Err(err) => {
                return Err(err).with_context(|| format!("向 {} 发送数据报失败", opts.server));
            }
        }

        // 等到这次发送的期限为止。收到不相干的数据报、接着再等时，期限不会往后推。
        let deadline = Instant::now() + opts.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s.set_read_timeout(Some(left))?;
            // Python: reply = s.recv(65535)
            // 不用再看回复来自哪个地址：别的地址发来的数据报，内核根本不交给这个套接字。
            let n = match s.recv(&mut buf) {
                Ok(n) => n,
                // 超时：Linux 报告 WouldBlock，Windows 报告 TimedOut。
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break;
                }
                // 我们的请求引出了一个 ICMP 端口不可达：对方的端口上没有程序在收。
                Err(err) if err.kind() == ErrorKind::ConnectionRefused => {
                    return Err(refused(opts));
                }
                Err(err) => return Err(err).context("接收回复失败"),
            };
            let reply = &buf[..n];
            // Python: (got,) = struct.unpack('>I', reply[:4])
            let Some((head, body)) = reply.split_first_chunk::<4>() else {
                eprintln!("（收到一个只有 {n} 字节的回复，放不下编号，忽略）");
                continue;
            };
            let got = u32::from_be_bytes(*head);
            if got != id {
                eprintln!("（收到编号 {got} 的回复，等的是编号 {id}：迟到或重复的回复，忽略）");
                continue;
            }
            return Ok(Some(body.to_vec()));
        }
    }
    Ok(None)
}

/// 对方的端口上没有程序在收：说成一句话。
fn refused(opts: &Options) -> anyhow::Error {
    anyhow::anyhow!(
        "{} 拒绝了数据报（Connection refused：对方回了 ICMP 端口不可达，那个端口上没有程序在收）：\
         服务器启动了吗？地址和端口对吗？",
        opts.server
    )
}
// ANCHOR_END: ask

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}

/// 读取命令行：`--timeout 秒数`、`--retries 次数` 和可选的服务器地址。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Options>> {
    let mut timeout = DEFAULT_TIMEOUT;
    let mut retries = DEFAULT_RETRIES;
    let mut addr = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--timeout" => {
                let text = args
                    .next()
                    .context("--timeout 后面要跟秒数，例如 --timeout 0.5")?;
                timeout = text
                    .parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t > 0.0 && *t <= 3600.0)
                    .with_context(|| {
                        format!(
                            "--timeout 的值 `{text}` 不对：应是大于 0、不超过 3600 的秒数，例如 0.5"
                        )
                    })?;
            }
            "--retries" => {
                let text = args
                    .next()
                    .context("--retries 后面要跟次数，例如 --retries 3")?;
                retries = text
                    .parse::<u32>()
                    .ok()
                    .filter(|r| *r <= 100)
                    .with_context(|| {
                        format!("--retries 的值 `{text}` 不对：应是 0 到 100 之间的整数")
                    })?;
            }
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!(
                "参数太多：只需要一个地址，例如 `cargo run --example udp_id_client -- 127.0.0.1:3214`"
            ),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    // `::1:80` 有歧义：它本身就是一个合法的 IPv6 地址。所以 IPv6 地址要写在方括号里。
    if !text.starts_with('[') && text.matches(':').count() > 1 {
        bail!("无法解析地址 `{text}`：IPv6 地址要放在方括号里，例如 [::1]:3214");
    }
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "无法解析地址 `{text}`：应写成 主机:端口，例如 127.0.0.1:3214、[::1]:3214 或 localhost:3214"
            )
        })?
        .collect();
    // 和 udp_echo_client 一样：用第一个 IPv4 地址，没有 IPv4 地址时用第一个地址。
    let Some(server) = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) else {
        bail!("无法解析地址 `{text}`：这个主机名没有对应的 IP 地址");
    };
    Ok(Some(Options {
        server: *server,
        timeout: Duration::from_secs_f64(timeout),
        retries,
    }))
}
