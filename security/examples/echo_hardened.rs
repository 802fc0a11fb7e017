//! 加固过的回显服务器：经得起“安全：攻击自己的服务器”一章里的每一种攻击。
//!
//! 运行：`cargo run --example echo_hardened`（默认绑定 127.0.0.1:3214），按 Ctrl-C 结束；
//! 客户端可以用 `cargo run --example tcp_echo_client`。`--help` 列出每一个上限和它的默认值。
//!
//! 它建在阶梯的最高一级（tokio 的任务，见 `echo_tokio`）上，保留了它的优雅退出，
//! 再给客户端能让它变大、变慢的每一样东西加上上限：
//! - 消息是一行（以 `\n` 结尾），一行最多 `--max-line` 字节：先检查长度，再收进固定大小的缓冲区；
//! - 同时最多 `--max-clients` 个连接，同一个 IP 最多 `--max-per-ip` 个；
//! - 一个字节都不发的连接，`--idle` 秒后关闭；一行从第一个字节起，`--line-deadline` 秒内必须收完；
//!   不读回显的客户端，回显 `--idle` 秒写不出去就关闭；
//! - 客户端的字节只以转义后的形式打印（`--log-lines` 时），终端不会执行其中的控制序列；
//! - 只绑定回环地址，除非明确写了 `--public`；
//! - 每拒绝或关闭一个连接，标准错误上说一行原因。

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use signal_hook::consts::{SIGINT, SIGTERM};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 除了客户端的连接，进程自己还要用的文件描述符，留足余量（见 echo_tokio）。
const SPARE_FDS: u64 = 16;
/// 停止时发出 FIN 以后，最多等对方多久关闭连接。
const LINGER: Duration = Duration::from_secs(1);
/// --log-lines 时一行最多显示多少个字符，后面的用“…”代替：日志也不能被一个客户端撑大。
const SHOWN_CHARS: usize = 80;

const USAGE: &str = "用法：echo_hardened [地址] [选项]
加固过的按行回显服务器：每收到完整的一行（以 \\n 结尾），就把这一行原样发回。
每个连接打开、关闭时各打印一行；每拒绝或关闭一个连接，标准错误上说一行原因。
按 Ctrl-C（或发 SIGTERM）优雅地停止；再按一次立即退出。
  地址                   要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口
  --public               允许绑定回环地址以外的地址（如 0.0.0.0:3214）；不写就只能绑定回环地址
  --max-clients 个数     最多同时服务多少个连接，默认 512；满了以后，新连接被接受后立刻关闭
  --max-per-ip 个数      同一个 IP 地址最多同时有几个连接，默认 8
  --max-line 字节数      一行最多多少字节（含 \\n），默认 4096（16 到 1048576）；
                         超过了还没有换行符，就关闭这个连接
  --idle 秒              连接上多久没有收到一个字节就关闭，默认 10；
                         回显多久写不出去（对方不读）也关闭
  --line-deadline 秒     一行从收到第一个字节起，最多多久必须收完，默认 5
  --log-lines            把收到的每一行打印出来（转义后，最多 80 个字符）；默认不打印
  --grace 秒             收到停止信号以后，最多等几秒让连接收尾，默认 5
秒数可以有小数（0.1 到 3600）。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

// ANCHOR: limits
/// 每一个上限，都来自命令行（见 USAGE）。
#[derive(Clone, Copy)]
struct Limits {
    max_clients: usize,
    max_per_ip: usize,
    max_line: usize,
    idle: Duration,
    line_deadline: Duration,
    log_lines: bool,
}
// ANCHOR_END: limits

#[tokio::main]
async fn main() {
    match run().await {
        Ok(()) => {}
        // 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

async fn run() -> Result<()> {
    let Some(Args {
        addr,
        public,
        mut limits,
        grace,
    }) = parse_args()?
    else {
        say!("{USAGE}")?;
        return Ok(());
    };
    // ANCHOR: loopback
    // 默认只在本机可达：要让别的机器连上来，得明确地写 --public。
    if !addr.ip().is_loopback() && !public {
        bail!(
            "{addr} 不是回环地址：别的机器也能连上来。确实要这样，加上 --public；\
             只在本机试验，用 127.0.0.1:3214"
        );
    }
    // ANCHOR_END: loopback
    limits.max_clients = raise_fd_limit(limits.max_clients)?;

    let listener = TcpListener::bind(addr).await.map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    exit_on_second_signal()?;
    let mut signals = StopSignals::new()?;
    say!("{}", listener.local_addr()?)?;
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(limits.max_clients));
    let per_ip = Arc::new(Mutex::new(HashMap::new()));
    let gate = Gate {
        slots: &slots,
        per_ip: &per_ip,
        limits,
        tasks: &tasks,
        stop: &stop,
    };
    let signal = loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) if err.kind() == ErrorKind::ConnectionAborted => continue,
                Err(err) => {
                    eprintln!("接受连接失败：{err}（100 毫秒后再试）");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            signal = signals.recv() => break signal,
        };
        gate.admit(stream, addr)?;
    };
    let open = limits.max_clients - slots.available_permits();
    start_watchdog(grace);
    drop(listener); // 关闭监听套接字：这以后来的连接请求，内核直接拒绝
    say!("收到 {signal}：不再接受新连接，正在关闭 {open} 个连接")?;
    stop.cancel();
    tasks.close();
    tokio::select! {
        () = tasks.wait() => {}
        () = tokio::time::sleep(grace) => {
            let left = limits.max_clients - slots.available_permits();
            eprintln!("宽限期到了：强行关闭 {left} 个连接");
        }
    }
    Ok(())
}

/// 放进一个连接要用到的东西：总名额、每个 IP 的计数、上限、任务的记录、停止的开关。
struct Gate<'a> {
    slots: &'a Arc<Semaphore>,
    per_ip: &'a Arc<Mutex<HashMap<IpAddr, usize>>>,
    limits: Limits,
    tasks: &'a TaskTracker,
    stop: &'a CancellationToken,
}

impl Gate<'_> {
    // ANCHOR: admit
    /// 一个新连接：总数和它的 IP 都还有名额，就为它开一个任务；否则接受了就立刻关闭它。
    fn admit(&self, stream: TcpStream, addr: SocketAddr) -> Result<()> {
        let Ok(slot) = Arc::clone(self.slots).try_acquire_owned() else {
            eprintln!(
                "拒绝 {addr}：已经有 {} 个连接（--max-clients）",
                self.limits.max_clients
            );
            return Ok(()); // stream 在这里被丢弃，连接随之关闭
        };
        let Some(ip_slot) = IpSlot::take(self.per_ip, addr.ip(), self.limits.max_per_ip) else {
            eprintln!(
                "拒绝 {addr}：这个 IP 已经有 {} 个连接（--max-per-ip）",
                self.limits.max_per_ip
            );
            return Ok(());
        };
        say!("Client Address: {addr}")?;
        let limits = self.limits;
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let result = serve(stream, addr, limits, stop).await;
            drop((slot, ip_slot)); // 还回两个名额
            if let Err(why) = result {
                eprintln!("断开 {addr}：{why:#}");
            }
            if say!("连接关闭：{addr}").is_err() {
                std::process::exit(0); // 标准输出被关闭了：安静地结束整个程序
            }
        });
        Ok(())
    }
    // ANCHOR_END: admit
}

/// 一个 IP 地址占用的一个名额；丢掉它（连接结束）就还回去。
struct IpSlot {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl IpSlot {
    /// 这个 IP 的连接数还没到 `max`：记上一个，返回名额；到了：返回 None。
    fn take(map: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut counts = map.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            map: Arc::clone(map),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip); // 表的大小只和现有的连接有关
            }
        }
    }
}

// ANCHOR: serve
/// 服务一个客户端：每收到完整的一行就发回这一行，直到对方关闭连接、违反了一个上限，
/// 或者服务器停止。返回错误时，错误就是标准错误上那一行的原因。
async fn serve(
    mut stream: TcpStream,
    addr: SocketAddr,
    limits: Limits,
    stop: CancellationToken,
) -> Result<()> {
    // 一个连接的全部缓冲：max_line 字节，连接接受以后分配一次，以后不再变大。
    let mut buf = vec![0u8; limits.max_line];
    let mut len = 0; // buf 里已经收到、还没回显的字节数（总是不完整的一行）
    let mut line_started = None; // 这半行的第一个字节是什么时候到的
    loop {
        // 等多久：还没收到半行时，最多等 --idle；收到了半行，这一行的期限和 --idle 哪个先到算哪个。
        let idle_end = Instant::now() + limits.idle;
        let deadline = match line_started {
            Some(start) => idle_end.min(start + limits.line_deadline),
            None => idle_end,
        };
        let read = tokio::select! {
            read = timeout_at(deadline, stream.read(&mut buf[len..])) => read,
            () = stop.cancelled() => return finish(stream).await,
        };
        let n = match read {
            Ok(read) => read.context("接收数据失败")?,
            Err(_) if deadline < idle_end => bail!(
                "一行 {} 秒还没收完（--line-deadline），已经收到 {len} 字节",
                secs(limits.line_deadline)
            ),
            Err(_) => bail!("{} 秒没有收到数据（--idle）", secs(limits.idle)),
        };
        if n == 0 {
            if len > 0 {
                bail!("对方关闭连接时，还有 {len} 字节没有换行符：丢弃，不回显");
            }
            return Ok(()); // 对方关闭了连接，没有留下半行
        }
        len += n;
        // 回显收到的每一个完整的行。
        let mut start = 0;
        while let Some(end) = buf[start..len].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + end + 1];
            if limits.log_lines {
                say!("收到 {addr}：{}", shown(line))?;
            }
            // 对方不读回显：发送缓冲区满了，write_all 就等着；等 --idle 还写不出去，就断开。
            timeout(limits.idle, stream.write_all(line))
                .await
                .map_err(|_| anyhow::anyhow!("{} 秒没有读走回显（--idle）", secs(limits.idle)))?
                .context("发送数据失败")?;
            start += end + 1;
            line_started = None;
        }
        // 剩下的半行挪到缓冲区开头；它占满了整个缓冲区还没有换行符，就是超长的一行。
        buf.copy_within(start..len, 0);
        len -= start;
        if len > 0 && line_started.is_none() {
            line_started = Some(Instant::now()); // 一个新的半行开始了
        }
        if len == limits.max_line {
            bail!(
                "一行超过 {} 字节还没有换行符（--max-line），开头是 \"{}\"",
                limits.max_line,
                shown(&buf[..32.min(len)])
            );
        }
    }
}
// ANCHOR_END: serve

/// 停止时收尾：发出 FIN；等对方也关闭（最多 LINGER），这期间收到的数据丢掉。
/// 已经收到的完整的行都回显过了（serve 收到就回显）；缓冲区里剩下的只会是半行。
async fn finish(mut stream: TcpStream) -> Result<()> {
    stream.shutdown().await.context("关闭发送方向失败")?;
    let mut sink = [0u8; 1024];
    while let Ok(read) = timeout(LINGER, stream.read(&mut sink)).await {
        if read.context("接收数据失败")? == 0 {
            break;
        }
    }
    Ok(())
}

// ANCHOR: shown
/// 客户端的字节变成可以安全打印的文字：不是 UTF-8 的字节显示为 �；控制字符（ESC、回车等）
/// 和看不见的格式字符显示成转义序列（`\u{1b}`、`\r`），终端不会执行它们，
/// 对方也伪造不了一行日志；最多显示 SHOWN_CHARS 个字符。
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(SHOWN_CHARS)
        .map(|c| match c {
            '\\' | '"' | '\'' => c.to_string(),
            _ => c.escape_debug().to_string(),
        })
        .collect();
    if text.chars().nth(SHOWN_CHARS).is_some() {
        out.push('…');
    }
    out
}
// ANCHOR_END: shown

/// 秒数的简短写法：5、0.5。
fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// 第二个停止信号：立即退出（见 echo_tokio）。
fn exit_on_second_signal() -> Result<()> {
    let seen = Arc::new(AtomicUsize::new(0));
    for signal in [SIGINT, SIGTERM] {
        let seen = Arc::clone(&seen);
        let action = move || {
            if seen.fetch_add(1, Ordering::SeqCst) > 0 {
                signal_hook::low_level::exit(128 + signal);
            }
        };
        // SAFETY: 处理函数里只有一次原子加法和 _exit，都是异步信号安全的（signal-safety(7)）。
        unsafe { signal_hook::low_level::register(signal, action) }
            .context("无法安装信号处理函数")?;
    }
    Ok(())
}

/// 看门狗：宽限期过后再等一秒，程序还没结束，就直接退出。
fn start_watchdog(grace: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(grace + Duration::from_secs(1));
        signal_hook::low_level::exit(0);
    });
}

/// SIGINT（Ctrl-C）和 SIGTERM，合在一起等。
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn new() -> Result<StopSignals> {
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("无法安装 SIGINT 的处理函数")?,
            terminate: signal(SignalKind::terminate()).context("无法安装 SIGTERM 的处理函数")?,
        })
    }

    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// 把打开文件数的软上限提高到硬上限；不够 max_clients 用时，说一行，按硬上限来（见 echo_tokio）。
fn raise_fd_limit(max_clients: usize) -> Result<usize> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .context("读取打开文件数的上限失败")?;
    let wanted = max_clients as u64 + SPARE_FDS;
    if limit >= wanted {
        return Ok(max_clients);
    }
    let can = usize::try_from(limit.saturating_sub(SPARE_FDS)).unwrap_or(max_clients);
    if can == 0 {
        bail!("打开文件数的上限只有 {limit}，一个客户端也服务不了：先用 ulimit -n 调高它");
    }
    eprintln!(
        "注意：打开文件数的上限是 {limit}（ulimit -Hn），服务 {max_clients} 个客户端需要 {wanted}；\
         最多只能同时服务 {can} 个"
    );
    Ok(can)
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

/// bind 失败时，按失败的原因给出建议。
fn bind_hint(err: &std::io::Error) -> &'static str {
    match err.kind() {
        ErrorKind::AddrInUse => "端口已被占用：换一个端口，或先结束占用它的程序",
        ErrorKind::PermissionDenied => "1024 以下的端口需要管理员权限：换一个 1024 以上的端口",
        ErrorKind::AddrNotAvailable => "本机没有这个 IP 地址：用 127.0.0.1 或 [::1]",
        _ => "检查地址是否写对",
    }
}

/// 命令行的内容。
struct Args {
    addr: SocketAddr,
    public: bool,
    limits: Limits,
    grace: Duration,
}

/// 读取命令行（见 USAGE）。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Args>> {
    let mut addr = None;
    let mut public = false;
    let mut limits = Limits {
        max_clients: 512,
        max_per_ip: 8,
        max_line: 4096,
        idle: Duration::from_secs(10),
        line_deadline: Duration::from_secs(5),
        log_lines: false,
    };
    let mut grace = Duration::from_secs(5);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--public" => public = true,
            "--log-lines" => limits.log_lines = true,
            "--max-clients" => {
                limits.max_clients = count(args.next(), "--max-clients", 1, Semaphore::MAX_PERMITS)?
            }
            "--max-per-ip" => limits.max_per_ip = count(args.next(), "--max-per-ip", 1, 1 << 20)?,
            "--max-line" => limits.max_line = count(args.next(), "--max-line", 16, 1 << 20)?,
            "--idle" => limits.idle = seconds(args.next(), "--idle")?,
            "--line-deadline" => limits.line_deadline = seconds(args.next(), "--line-deadline")?,
            "--grace" => grace = seconds(args.next(), "--grace")?,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let addr = text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })?;
    Ok(Some(Args {
        addr,
        public,
        limits,
        grace,
    }))
}

/// 选项 `flag` 后面的个数：`min` 到 `max` 之间的整数。
fn count(value: Option<String>, flag: &str, min: usize, max: usize) -> Result<usize> {
    let value = value.with_context(|| format!("{flag} 后面要写一个整数"))?;
    value
        .parse()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .with_context(|| format!("{flag} 要写 {min} 到 {max} 之间的整数，而不是 `{value}`"))
}

/// 选项 `flag` 后面的秒数：0.1 到 3600 之间，可以有小数。
fn seconds(value: Option<String>, flag: &str) -> Result<Duration> {
    let value = value.with_context(|| format!("{flag} 后面要写一个秒数"))?;
    value
        .parse::<f64>()
        .ok()
        .filter(|s| (0.1..=3600.0).contains(s))
        .map(Duration::from_secs_f64)
        .with_context(|| format!("{flag} 要写 0.1 到 3600 之间的秒数，而不是 `{value}`"))
}
