//! 练习答案（超时，练习 2）：`line_echo_server` 加上 `--line-timeout 秒数`：从一行的第一个字节算起，
//! 到这一行收全，最多这么久。
//!
//! 运行：`cargo run --example ex_timeouts_line_timeout -- --idle-timeout 1 --line-timeout 2`。
//!
//! 和 `line_echo_server.rs` 相比：`serve` 不再用 `read_until`，而是自己用 `fill_buf` 和 `consume`
//! 读一行（`read_line`），每次向套接字要数据之前，用这一行剩下的时间重新设读超时；
//! 多了 `--line-timeout` 选项。下面是 `line_echo_server` 原来的说明。
//!
//! 按行回显的 TCP 服务器：用换行符 `\n` 给消息分帧，每收到完整的一行，就把这一行原样发回。
//!
//! 它一个接一个地服务客户端，永远不退出；每个连接打开、关闭时各打印一行。
//! 一行太长、客户端闲置太久、或者在一行的中间断开：在标准错误上打印一行原因，
//! 关闭这个连接，接着服务下一个客户端。

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 一行最长多少字节（含末尾的 `\n`），可以用 --max-line 修改。
const DEFAULT_MAX_LINE: usize = 64 * 1024;
/// 客户端多少秒不发数据就断开它，可以用 --idle-timeout 修改。
const DEFAULT_IDLE_TIMEOUT: &str = "60";
/// --max-line 最大能写多少：64 MiB。
const MAX_MAX_LINE: usize = 64 * 1024 * 1024;
/// --idle-timeout 的范围：1 毫秒到 1 天。
const IDLE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=86400.0;

const USAGE: &str = "用法：ex_timeouts_line_timeout [地址] [--max-line 字节数] [--idle-timeout 秒数] [--line-timeout 秒数]
按行回显的 TCP 服务器：每收到完整的一行（以 \\n 结尾），就把这一行原样发回。
它一个接一个地服务客户端，按 Ctrl-C 结束。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                        IPv6 写成 [::1]:3214
  --max-line 字节数     一行最长多少字节（含末尾的 \\n），默认 65536，最大 67108864；
                        更长的行会让服务器断开这个客户端
  --idle-timeout 秒数   客户端这么久不发数据，就断开它；发送回显也最多等这么久。默认 60，
                        可以写小数，范围 0.001 到 86400
  --line-timeout 秒数   从一行的第一个字节算起，这么久还没收全这一行，就断开客户端。
                        默认不限，可以写小数，范围 0.001 到 86400";

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
    max_line: usize,
    idle_timeout: Duration,
    /// 命令行上写的秒数，原样用在提示里。
    idle_text: String,
    /// 一行最多花多久收全（--line-timeout）；None：不限。和命令行上写的秒数。
    line_timeout: Option<(Duration, String)>,
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

/// 服务一个客户端：读出一行，发回一行，直到对方关闭连接。
fn serve(clnt: TcpStream, config: &Config) -> Result<()> {
    // ANCHOR: set-timeouts
    // Python: clnt.settimeout(idle_timeout)   —— 读和写都最多等这么久
    clnt.set_read_timeout(Some(config.idle_timeout))?;
    clnt.set_write_timeout(Some(config.idle_timeout))?;
    // ANCHOR_END: set-timeouts
    let mut reader = BufReader::new(clnt.try_clone()?);
    let mut writer = clnt;
    let mut line = Vec::new();
    loop {
        line.clear();
        read_line(&mut reader, &mut line, config)?;
        if line.is_empty() {
            return Ok(()); // 读到 0 字节：对方关闭了连接，正好在两行之间
        }
        if !line.ends_with(b"\n") {
            bail!(
                "对方在一行的中间关闭了连接（最后 {} 字节没有换行符，丢弃）",
                line.len()
            );
        }
        // Python: clnt.sendall(line)   —— 发回完整的一行，连同它的 \n
        writer
            .write_all(&line)
            .map_err(|err| send_error(err, config))?;
    }
}
// ANCHOR_END: main-part

// ANCHOR: read-line
/// 读一行（连同末尾的 `\n`）放进 `line`，最多 max_line 字节。读到连接结束时，`line` 里是已经
/// 收到的部分（可能是空的）。和 `read_until` 做的事一样，只是每次向套接字要数据（`fill_buf`）之前，
/// 先算好这一次最多等多久：闲置超时，和这一行剩下的时间，取小的那个。
fn read_line(reader: &mut BufReader<TcpStream>, line: &mut Vec<u8>, config: &Config) -> Result<()> {
    // 这一行的期限：从看到它的第一个字节算起。还没看到：None。
    let mut deadline: Option<Instant> = None;
    loop {
        let mut wait = config.idle_timeout;
        if let (Some(deadline), Some((_, text))) = (deadline, &config.line_timeout) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("整行超时：{text} 秒内没有收全一行（--line-timeout）");
            }
            wait = wait.min(left);
        }
        // 读超时是套接字的选项：reader 里的套接字和 writer 是同一个连接，设一次就行。
        reader.get_ref().set_read_timeout(Some(wait))?;
        // fill_buf：BufReader 里还有没用过的字节，就直接给它们；没有，才去 read 套接字。
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            // 等满了这一次：期限到了的话，是整行超时，回到开头去说；不然就是闲置超时。
            Err(err) if is_timeout(&err) && deadline.is_some_and(|d| d <= Instant::now()) => {
                continue;
            }
            Err(err) => return Err(receive_error(err, config)),
        };
        if buf.is_empty() {
            return Ok(()); // 读到 0 字节：对方关闭了连接
        }
        if config.line_timeout.is_some() && deadline.is_none() {
            deadline = config
                .line_timeout
                .as_ref()
                .map(|(t, _)| Instant::now() + *t);
        }
        // 这一批字节里有换行符，就只取到它为止；剩下的是下一行的开头，留在 BufReader 里。
        let (used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + used > config.max_line {
            bail!("一行超过了 {} 字节的上限（--max-line）", config.max_line);
        }
        line.extend_from_slice(&buf[..used]);
        reader.consume(used);
        if done {
            return Ok(());
        }
    }
}

/// 读写超时在 Linux 上报告为 WouldBlock（EAGAIN），在 Windows 上是 TimedOut。
fn is_timeout(err: &std::io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
// ANCHOR_END: read-line

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

/// 读取命令行：可选的地址，`--max-line 字节数`，`--idle-timeout 秒数`。
/// `-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Config>> {
    let mut addr = None;
    let mut max_line = DEFAULT_MAX_LINE;
    let mut idle_text = DEFAULT_IDLE_TIMEOUT.to_string();
    let mut line_text = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--max-line" => {
                let value = args.next().context("--max-line 后面要写一个字节数")?;
                max_line = value
                    .parse()
                    .ok()
                    .filter(|&n| n > 0 && n <= MAX_MAX_LINE)
                    .with_context(|| {
                        format!(
                            "--max-line 要写一个 1 到 {MAX_MAX_LINE} 之间的整数（字节数），而不是 `{value}`"
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
            "--line-timeout" => {
                line_text = Some(args.next().context("--line-timeout 后面要写一个秒数")?);
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
    let line_timeout = match line_text {
        None => None,
        Some(text) => {
            let secs = text
                .parse::<f64>()
                .ok()
                .filter(|secs| IDLE_RANGE.contains(secs))
                .with_context(|| {
                    format!("--line-timeout 要写一个 0.001 到 86400 之间的秒数（可以是小数），而不是 `{text}`")
                })?;
            Some((Duration::from_secs_f64(secs), text))
        }
    };
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
        max_line,
        idle_timeout,
        idle_text,
        line_timeout,
    }))
}
