//! 回显服务器的负载生成器：打开许多个连接，让每个连接不停地发消息、等回显，逐字节核对每一条回显，
//! 最后打印吞吐量（msg/s、MiB/s）和延迟的分位数（p50、p99、p99.9、最大）。
//!
//! 运行（先在另一个终端启动一个回显服务器，例如 `cargo run --release --example echo_tokio`）：
//!
//! ```text
//! cargo run --release --example echo_bench -- 127.0.0.1:3214 --connections 100
//! cargo run --release --example echo_bench -- 127.0.0.1:3214 --connections 10000 --rate 1 --duration 30
//! ```
//!
//! 两种发法：
//! - 闭环（默认）：每个连接发一条，等到它完整的回显，再发下一条。量的是“服务器最快能回显多少条”。
//! - 开环（`--rate 每秒条数`）：每个连接按时发送，不等回显。量的是“这样的负载下，每条回显要等多久”。
//!
//! 每条消息的开头是它发出的时刻（16 个十六进制数字），其余是由连接号和序号算出来的字母：
//! 回显回来时，减一下就是这条消息的往返时间，其余的字节必须一个不差。
//! 一切都有上限：连接请求、每条回显都有超时，同时在进行的连接请求有个数上限，测量有时长。

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout_at};

const USAGE: &str = "用法：echo_bench [地址] [选项]
回显服务器的负载生成器：打开许多个连接，不停地发消息、等回显，逐字节核对每一条回显，
最后打印吞吐量和延迟（p50、p99、p99.9、最大）。
  地址                      回显服务器的 IP:端口，默认 127.0.0.1:3214
  --connections 个数        同时打开多少个连接，1 到 60000，默认 10
  --duration 秒             测量多久，0.05 到 3600，默认 5
  --warmup 秒               测量之前先跑多久（不计入结果），0 到 600，默认 1
  --size 字节               每条消息多少字节，16 到 65536，默认 64
  --rate 条数               开环：每个连接每秒发这么多条，不等回显（0.01 到 1000000）；
                            不写就是闭环：每个连接发一条，等到完整的回显，再发下一条
  --messages 条数           闭环，每个连接只发这么多条就结束（不预热，不限时长），
                            用来数每条回显要几个系统调用
  --connect-parallel 个数   同时在进行的连接请求最多几个，1 到 10000，默认 64
  --timeout 秒              一个连接请求、一条回显最多等多久，0.1 到 600，默认 5
  --threads 个数            负载生成器自己用几个线程，1 到 64，默认 1
  --json                    标准输出上只打印给程序读的 JSON 行（bench_ladder 用）
  --quiet                   不在标准错误上每秒打印一行进度
测量完成、没有错误时以状态 0 退出；测量完成但有错误（或有连接请求失败）时以状态 2 退出。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(2),
        // 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

/// 命令行给出的一切。
struct Options {
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    size: usize,
    /// 开环时每个连接每秒发几条；None：闭环。
    rate: Option<f64>,
    /// 闭环时每个连接只发这么多条。
    messages: Option<u64>,
    connect_parallel: usize,
    timeout: Duration,
    threads: usize,
    json: bool,
    quiet: bool,
}

/// 测量到的一切。
struct Report {
    connected: usize,
    failed_connects: usize,
    /// 失败的连接请求太多，没有再尝试的连接个数。
    skipped_connects: usize,
    /// 前几个连接请求失败的说明。
    connect_samples: Vec<String>,
    connect_time: Duration,
    /// 测量窗口里完成的回显条数。
    messages: u64,
    latency: Histogram<u64>,
    /// 出错的连接个数，和前几个错误的说明。
    errors: usize,
    error_samples: Vec<String>,
    /// 开环：比计划晚了 2 毫秒以上才发出去的消息条数（负载生成器自己跟不上，或者发送被阻塞了）。
    late_sends: u64,
    /// 实际的测量时长（--messages 时是从开始到最后一条回显）。
    measured: Duration,
}

// ANCHOR: run
fn run() -> Result<bool> {
    let Some(opts) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(true);
    };
    raise_fd_limit(opts.connections)?;
    // 负载生成器自己也是一个 tokio 程序：默认只用一个线程（current_thread），
    // 两核的机器上，另一个核留给被测的服务器。
    let runtime = if opts.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.threads)
            .enable_all()
            .build()
    }
    .context("无法创建 tokio 运行时")?;
    let opts = Arc::new(opts);
    let report = runtime.block_on(bench(Arc::clone(&opts)))?;
    let text = describe(&opts, &report);
    if opts.json {
        say!("{}", json_result(&opts, &report, &text))?;
    } else {
        write!(std::io::stdout(), "{text}").map_err(|_| StdoutClosed)?;
    }
    if report.connected == 0 {
        let why = report.connect_samples.first().map_or("", String::as_str);
        let hint = if why.starts_with("连上了") {
            "它是回显服务器吗？它接受连接了吗？"
        } else {
            "服务器在运行吗？地址对吗？"
        };
        bail!("一个连接也没有建立起来（{why}）：{hint}");
    }
    Ok(report.errors == 0 && report.failed_connects == 0)
}
// ANCHOR_END: run

/// 所有连接共用的东西。
struct Shared {
    opts: Arc<Options>,
    /// 所有连接同时开始发送的时刻。
    start: Instant,
    /// 测量窗口：[measure_from, end)。
    measure_from: Instant,
    end: Instant,
    /// 延迟的直方图：分成几份，每个连接用其中一份，免得所有连接抢一把锁。
    histograms: Vec<Mutex<Histogram<u64>>>,
    /// 到现在为止完成的回显（包括预热的），进度行用。
    done: AtomicU64,
    failed: AtomicU64,
}

const SHARDS: usize = 16;
/// 测量结束以后，连接再保持这么久（闭环接着发，开环等着），才关闭：250 毫秒，
/// 每个连接再加 0.1 毫秒（一万个连接时 1.25 秒：bench_ladder 读一万个线程的 /proc 要好几百毫秒）。
fn tail(connections: usize) -> Duration {
    Duration::from_millis(250) + Duration::from_micros(100) * connections as u32
}
/// 开环时，一条消息比计划晚了这么久才发出，就算“发晚了”。tokio 的定时器精度是 1 毫秒。
const LATE: Duration = Duration::from_millis(2);

async fn bench(opts: Arc<Options>) -> Result<Report> {
    // ANCHOR: connect
    // 1. 建立所有连接：同时在进行的连接请求最多 connect_parallel 个，每个最多等 timeout。
    // 失败的连接请求多到 give_up_after 个（服务器不在、不接受连接、不回显），其余的就不再尝试：
    // 否则一万个连接、每批 64 个、每个等 5 秒，要等十几分钟才说出同一个错误。
    let began = Instant::now();
    let gate = Arc::new(Semaphore::new(opts.connect_parallel));
    let give_up_after = opts.connect_parallel.max(16) as u64;
    let failures = Arc::new(AtomicU64::new(0));
    let mut connecting = JoinSet::new();
    for id in 0..opts.connections {
        let gate = Arc::clone(&gate);
        let opts = Arc::clone(&opts);
        let failures = Arc::clone(&failures);
        connecting.spawn(async move {
            let _permit = gate
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            if failures.load(Ordering::Relaxed) >= give_up_after {
                return Err(None); // 不再尝试
            }
            let result = connect(id, &opts).await.map_err(Some);
            if result.is_err() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            result
        });
    }
    let mut streams = Vec::with_capacity(opts.connections);
    let mut failed_connects = 0;
    let mut skipped_connects = 0;
    let mut connect_samples = Vec::new();
    while let Some(joined) = connecting.join_next().await {
        match joined.context("连接任务失败")? {
            Ok(pair) => streams.push(pair),
            Err(None) => skipped_connects += 1,
            Err(Some(why)) => {
                failed_connects += 1;
                if connect_samples.len() < 3 {
                    connect_samples.push(why);
                }
            }
        }
    }
    let connect_time = began.elapsed();
    let mut error_samples = Vec::new();
    // ANCHOR_END: connect

    // 2. 所有连接同时开始：先预热，再测量。
    let start = Instant::now() + Duration::from_millis(10);
    let measure_from = start
        + if opts.messages.is_some() {
            Duration::ZERO
        } else {
            opts.warmup
        };
    let end = measure_from + opts.duration;
    let shared = Arc::new(Shared {
        opts: Arc::clone(&opts),
        start,
        measure_from,
        end,
        histograms: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect(),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let connected = streams.len();
    let mut running = JoinSet::new();
    for (id, stream) in streams {
        let shared = Arc::clone(&shared);
        running.spawn(async move {
            match shared.opts.rate {
                None => closed_loop(stream, id, &shared).await,
                Some(rate) => open_loop(stream, id, rate, &shared).await,
            }
        });
    }
    let progress = (!opts.quiet).then(|| tokio::spawn(progress(Arc::clone(&shared), connected)));
    let phases = opts.json.then(|| tokio::spawn(phases(Arc::clone(&shared))));

    // 3. 等每个连接做完：闭环到时间就停；开环发完计划的消息、收完它们的回显就停。
    let mut messages = 0;
    let mut errors = 0;
    let mut late_sends = 0;
    let mut last = start;
    while let Some(joined) = running.join_next().await {
        let outcome = joined.context("连接任务失败")?;
        messages += outcome.messages;
        late_sends += outcome.late;
        last = last.max(outcome.last);
        if let Some(why) = outcome.error {
            errors += 1;
            if error_samples.len() < 3 {
                error_samples.push(why);
            }
        }
    }
    if let Some(progress) = progress {
        progress.abort();
    }
    if let Some(phases) = phases {
        phases.await.context("阶段任务失败")??;
        if opts.messages.is_some() {
            say!("{{\"phase\":\"draining\"}}")?;
        }
    }
    let mut latency = new_histogram();
    for shard in &shared.histograms {
        latency
            .add(&*shard.lock().expect("no task panics while holding it"))
            .context("合并直方图失败")?;
    }
    let measured = if opts.messages.is_some() {
        last.saturating_duration_since(start)
    } else {
        opts.duration
    };
    Ok(Report {
        connected,
        failed_connects,
        skipped_connects,
        connect_samples,
        connect_time,
        messages,
        latency,
        errors,
        error_samples,
        late_sends,
        measured,
    })
}

/// 建立一个连接，再等到第一条回显：这样才算服务器真的接受了它、开始服务它。
/// 只等握手是不够的：握手由内核完成，连接在积压队列里排着，connect 就返回了。
/// 不等第一条回显，几千个连接请求会一下子塞满服务器的积压队列（std、mio、tokio 都是 128 个），
/// 多出来的握手被丢掉，一秒以后才重试。
/// 握手和第一条回显一共最多等 `--timeout`，两步超时各有各的说明。
async fn connect(id: usize, opts: &Options) -> Result<(usize, TcpStream), String> {
    let deadline = Instant::now() + opts.timeout;
    let mut stream = match timeout_at(deadline, TcpStream::connect(opts.addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => return Err(format!("连接 {} 失败：{err}", opts.addr)),
        Err(_) => {
            return Err(format!(
                "连接 {} 超时：{:?} 内没有完成握手（地址不可达，或者服务器的积压队列满了）",
                opts.addr, opts.timeout
            ));
        }
    };
    // 关掉 Nagle 算法：一条小消息马上发出去，不等前一条的确认。
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut hello = vec![0u8; opts.size];
    fill(&mut hello, Duration::ZERO, id, u64::MAX);
    let mut echo = vec![0u8; opts.size];
    let first_echo = async {
        stream.write_all(&hello).await?;
        stream.read_exact(&mut echo).await
    };
    match timeout_at(deadline, first_echo).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) if err.kind() == ErrorKind::UnexpectedEof => {
            return Err(format!(
                "连上了 {}，可是第一条回显还没收全，服务器就关闭了连接",
                opts.addr
            ));
        }
        Ok(Err(err)) => return Err(format!("连上了 {}，可是第一条消息：{err}", opts.addr)),
        Err(_) => {
            return Err(format!(
                "连上了 {}，可是 {:?} 内没有收全第一条回显（服务器不回显，或者还没有接受这个连接）",
                opts.addr, opts.timeout
            ));
        }
    }
    match check(&echo, &hello, id, u64::MAX) {
        None => Ok((id, stream)),
        Some(why) => Err(why),
    }
}

/// 纳秒为单位的直方图：1 纳秒到 10 分钟，三位有效数字。
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid histogram bounds")
}

/// 一个连接做完以后交回来的东西。
struct Outcome {
    /// 测量窗口里完成的回显条数。
    messages: u64,
    late: u64,
    /// 出了错：说明。出错的连接就此停下。
    error: Option<String>,
    /// 最后一条回显到达的时刻。
    last: Instant,
}

// ANCHOR: closed-loop
/// 闭环：发一条，等到它完整的回显，核对，再发下一条。
async fn closed_loop(mut stream: TcpStream, id: usize, shared: &Shared) -> Outcome {
    let opts = &shared.opts;
    let mut message = vec![0u8; opts.size];
    let mut echo = vec![0u8; opts.size];
    let mut outcome = Outcome {
        messages: 0,
        late: 0,
        error: None,
        last: shared.start,
    };
    sleep_until(shared.start).await;
    let mut seq = 0u64;
    loop {
        let sent = Instant::now();
        let more = match opts.messages {
            Some(n) => seq < n,
            // 测量结束以后再接着发一小会儿（见 tail）：bench_ladder 在结束的那一刻读服务器的状态，
            // 那时负载还在，连接也都还开着。
            None => sent < shared.end + tail(opts.connections),
        };
        if !more {
            break;
        }
        fill(&mut message, sent - shared.start, id, seq);
        let round_trip = async {
            stream.write_all(&message).await?;
            stream.read_exact(&mut echo).await
        };
        let failed = match timeout_at(sent + opts.timeout, round_trip).await {
            Ok(Ok(_)) => check(&echo, &message, id, seq),
            Ok(Err(err)) => Some(io_error(&err, seq)),
            Err(_) => Some(format!(
                "第 {seq} 条消息的回显 {:?} 内没有收全",
                opts.timeout
            )),
        };
        if let Some(why) = failed {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            outcome.error = Some(why);
            break;
        }
        let now = Instant::now();
        outcome.last = now;
        shared.done.fetch_add(1, Ordering::Relaxed);
        if now >= shared.measure_from && (opts.messages.is_some() || now < shared.end) {
            outcome.messages += 1;
            record(shared, id, now - sent);
        }
        seq += 1;
    }
    outcome
}
// ANCHOR_END: closed-loop

// ANCHOR: open-loop
/// 开环：按计划的时刻发送，不等回显；另一半同时读回显、核对、算延迟。
/// 第 k 条消息计划在 start + 相位 + k × 周期 发出；各个连接的相位错开，消息均匀地分布在时间上。
async fn open_loop(mut stream: TcpStream, id: usize, rate: f64, shared: &Shared) -> Outcome {
    let opts = &shared.opts;
    let period = Duration::from_secs_f64(1.0 / rate);
    let phase = period.mul_f64(id as f64 / opts.connections as f64);
    let first = shared.start + phase;
    // 计划发出的条数：在 end 之前的每一个时刻发一条。
    let total = if first >= shared.end {
        0
    } else {
        ((shared.end - first).as_secs_f64() / period.as_secs_f64()).ceil() as u64
    };
    let planned = |k: u64| first + period.mul_f64(k as f64);
    // 两半各记各的数；计数放在两半之外，出了错也留得住。
    let late = AtomicU64::new(0);
    let sent_count = AtomicU64::new(0);
    let messages = AtomicU64::new(0);
    let last = Mutex::new(shared.start);
    let (mut reader, mut writer) = stream.split();
    let send = async {
        let mut message = vec![0u8; opts.size];
        for k in 0..total {
            let at = planned(k);
            if at > Instant::now() {
                sleep_until(at).await;
            }
            let now = Instant::now();
            if now - at > LATE {
                late.fetch_add(1, Ordering::Relaxed);
            }
            // 落后得太多，就不是在量服务器了：停下来，说清楚是谁的问题。
            // （也让整个测量有个上限：最多比计划晚 timeout 的一半。）
            if now - at > opts.timeout / 2 {
                return Err(format!(
                    "负载生成器跟不上计划：第 {k} 条消息过了计划时刻 {:?} 还没有发出（--rate 太高，或者机器太忙）",
                    opts.timeout / 2
                ));
            }
            fill(&mut message, now - shared.start, id, k);
            if let Err(err) = writer.write_all(&message).await {
                return Err(io_error(&err, k));
            }
            sent_count.store(k + 1, Ordering::Relaxed);
        }
        Ok(())
    };
    let receive = async {
        let mut expected = vec![0u8; opts.size];
        let mut echo = vec![0u8; opts.size];
        for k in 0..total {
            match timeout_at(planned(k) + opts.timeout, reader.read_exact(&mut echo)).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => return Err(io_error(&err, k)),
                // 这一条还没发出去：是负载生成器自己没跟上（发送被阻塞，或者机器太忙）。
                Err(_) if sent_count.load(Ordering::Relaxed) <= k => {
                    return Err(format!(
                        "负载生成器跟不上计划：第 {k} 条消息过了计划时刻 {:?} 还没有发出（--rate 太高，或者机器太忙）",
                        opts.timeout
                    ));
                }
                Err(_) => {
                    return Err(format!("第 {k} 条消息的回显 {:?} 内没有收全", opts.timeout));
                }
            }
            // 开头的 16 个数字是发出的时刻：它不会早于计划的时刻，也不会晚于现在；
            // 其余的字节和发出的一样，才算对。
            let now = Instant::now();
            let Some(sent) = sent_at(&echo)
                .filter(|&sent| planned(k) <= shared.start + sent && shared.start + sent <= now)
            else {
                return Err(format!(
                    "第 {k} 条消息的回显开头不是它发出的时刻：收到 {:?}",
                    String::from_utf8_lossy(&echo[..16])
                ));
            };
            fill(&mut expected, sent, id, k);
            if let Some(why) = check(&echo, &expected, id, k) {
                return Err(why);
            }
            *last.lock().expect("no panic while holding it") = now;
            shared.done.fetch_add(1, Ordering::Relaxed);
            if planned(k) >= shared.measure_from {
                messages.fetch_add(1, Ordering::Relaxed);
                record(shared, id, now - (shared.start + sent));
            }
        }
        Ok(())
    };
    let error = tokio::try_join!(send, receive).err();
    match error {
        // 回显都收到了：连接再开一小会儿（见 tail），bench_ladder 在测量结束的那一刻读服务器的状态。
        None => sleep_until(shared.end + tail(opts.connections)).await,
        Some(_) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    Outcome {
        messages: messages.into_inner(),
        late: late.into_inner(),
        error,
        last: last.into_inner().expect("no panic while holding it"),
    }
}
// ANCHOR_END: open-loop

// ANCHOR: message
/// 第 `seq` 条消息：开头 16 个十六进制数字是发出的时刻（从开始算起的纳秒数），
/// 其余是由连接号和序号算出来的小写字母，每条都不一样。全是 ASCII：笔记里的服务器会把它 decode 成文字。
fn fill(message: &mut [u8], sent: Duration, id: usize, seq: u64) {
    let stamp = format!("{:016x}", sent.as_nanos() as u64);
    message[..16].copy_from_slice(stamp.as_bytes());
    let base = (id as u64)
        .wrapping_mul(31)
        .wrapping_add(seq.wrapping_mul(17));
    for (i, byte) in message[16..].iter_mut().enumerate() {
        *byte = b'a' + (base.wrapping_add(i as u64) % 26) as u8;
    }
}

/// 回显开头记着的发出时刻。
fn sent_at(echo: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(&echo[..16]).ok()?;
    // 只认 fill 写的样子：16 个小写的十六进制数字（from_str_radix 还会认 `+` 和大写字母）。
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(text, 16).ok().map(Duration::from_nanos)
}

/// 回显必须和发出的消息一字不差。
fn check(echo: &[u8], sent: &[u8], id: usize, seq: u64) -> Option<String> {
    let at = echo.iter().zip(sent).position(|(a, b)| a != b)?;
    Some(format!(
        "连接 {id} 第 {seq} 条消息的回显在第 {at} 个字节上不同：发出 {:?}，收到 {:?}",
        sent[at] as char, echo[at] as char
    ))
}
// ANCHOR_END: message

fn record(shared: &Shared, id: usize, latency: Duration) {
    let nanos = (latency.as_nanos() as u64).clamp(1, 600_000_000_000);
    let mut histogram = shared.histograms[id % SHARDS]
        .lock()
        .expect("no task panics while holding it");
    histogram.saturating_record(nanos);
}

fn io_error(err: &std::io::Error, seq: u64) -> String {
    match err.kind() {
        ErrorKind::UnexpectedEof => format!("第 {seq} 条消息的回显还没收全，服务器就关闭了连接"),
        ErrorKind::ConnectionReset => format!("第 {seq} 条消息：服务器复位了连接（RST）：{err}"),
        _ => format!("第 {seq} 条消息：{err}"),
    }
}

/// 每秒在标准错误上打印一行进度。
async fn progress(shared: Arc<Shared>, connected: usize) {
    let mut next = shared.start;
    let mut before = 0;
    loop {
        next += Duration::from_secs(1);
        sleep_until(next).await;
        let done = shared.done.load(Ordering::Relaxed);
        let stage = if next <= shared.measure_from {
            "预热"
        } else if next <= shared.end || shared.opts.messages.is_some() {
            "测量"
        } else {
            "收尾"
        };
        eprintln!(
            "[{stage} {:>4.0} s] {connected} 个连接，这一秒 {} 条回显，{} 个连接出错",
            (next - shared.start).as_secs_f64(),
            done - before,
            shared.failed.load(Ordering::Relaxed)
        );
        before = done;
    }
}

/// --json 时，在测量开始和结束的时刻各打印一行 JSON：bench_ladder 在这两个时刻读服务器的 CPU 时间。
/// （--messages 时，结束的那一行由 bench 在最后一条回显之后打印。）
async fn phases(shared: Arc<Shared>) -> Result<(), StdoutClosed> {
    sleep_until(shared.measure_from).await;
    say!("{{\"phase\":\"measuring\"}}")?;
    if shared.opts.messages.is_none() {
        sleep_until(shared.end).await;
        say!("{{\"phase\":\"draining\"}}")?;
    }
    Ok(())
}

// ANCHOR: describe
/// 给人读的结果。
fn describe(opts: &Options, r: &Report) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!("服务器：{}", opts.addr));
    let skipped = if r.skipped_connects > 0 {
        format!("，失败太多，另外 {} 个没有再尝试", r.skipped_connects)
    } else {
        String::new()
    };
    line(format!(
        "连接：{} 个（连接请求失败 {} 个{skipped}），建立用时 {:.2} s",
        r.connected,
        r.failed_connects,
        r.connect_time.as_secs_f64()
    ));
    for why in &r.connect_samples {
        line(format!("  {why}"));
    }
    line(match (opts.rate, opts.messages) {
        (Some(rate), _) => format!(
            "方式：开环，每个连接每秒发 {} 条、不等回显；每条 {} 字节",
            number(rate),
            opts.size
        ),
        (None, Some(n)) => format!(
            "方式：闭环，每个连接发 {n} 条，每条等到完整的回显再发下一条；每条 {} 字节",
            opts.size
        ),
        (None, None) => format!(
            "方式：闭环，每个连接发一条、等到完整的回显再发下一条；每条 {} 字节",
            opts.size
        ),
    });
    if opts.messages.is_some() {
        line(format!("用时：{:.2} s", r.measured.as_secs_f64()));
    } else {
        line(format!(
            "测量：{} s（之前预热 {} s，不计入）",
            number(opts.duration.as_secs_f64()),
            number(opts.warmup.as_secs_f64())
        ));
    }
    let seconds = r.measured.as_secs_f64().max(1e-9);
    let per_second = r.messages as f64 / seconds;
    line(format!("回显：{} 条，每条都逐字节核对过", r.messages));
    line(format!(
        "吞吐：{:.0} msg/s，{:.2} MiB/s（每个方向）",
        per_second,
        per_second * opts.size as f64 / (1024.0 * 1024.0)
    ));
    if r.messages > 0 {
        let q = |q: f64| r.latency.value_at_quantile(q);
        line(format!(
            "延迟：p50 {}，p99 {}，p99.9 {}，最大 {}",
            latency(q(0.5)),
            latency(q(0.99)),
            latency(q(0.999)),
            latency(r.latency.max())
        ));
    } else {
        line("延迟：没有测到回显".to_string());
    }
    if opts.rate.is_some() {
        line(format!(
            "发晚了：{} 条消息比计划晚 2 ms 以上才发出",
            r.late_sends
        ));
    }
    line(format!("错误：{} 个连接出错", r.errors));
    for why in &r.error_samples {
        line(format!("  {why}"));
    }
    out
}
// ANCHOR_END: describe

/// 纳秒显示成 µs（不到 1 毫秒时）或 ms。
fn latency(nanos: u64) -> String {
    let micros = nanos as f64 / 1000.0;
    if micros < 1000.0 {
        format!("{micros:.0} µs")
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}

/// 1、0.5、2.25 这样的数：整数不带小数点。
fn number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// 给 bench_ladder 读的一行 JSON。
fn json_result(opts: &Options, r: &Report, text: &str) -> serde_json::Value {
    let seconds = r.measured.as_secs_f64().max(1e-9);
    let micros = |nanos: u64| nanos as f64 / 1000.0;
    let q = |q: f64| {
        if r.messages == 0 {
            serde_json::Value::Null
        } else {
            micros(r.latency.value_at_quantile(q)).into()
        }
    };
    serde_json::json!({
        "result": {
            "mode": if opts.rate.is_some() { "open" } else { "closed" },
            "connections": opts.connections,
            "connected": r.connected,
            "failed_connects": r.failed_connects,
            "skipped_connects": r.skipped_connects,
            "connect_samples": r.connect_samples,
            "connect_s": r.connect_time.as_secs_f64(),
            "size": opts.size,
            "rate_per_connection": opts.rate,
            "messages_per_connection": opts.messages,
            "duration_s": r.measured.as_secs_f64(),
            "warmup_s": if opts.messages.is_some() { 0.0 } else { opts.warmup.as_secs_f64() },
            "messages": r.messages,
            "msg_per_s": r.messages as f64 / seconds,
            "mib_per_s": r.messages as f64 * opts.size as f64 / seconds / (1024.0 * 1024.0),
            "latency_us": {
                "p50": q(0.5),
                "p90": q(0.9),
                "p99": q(0.99),
                "p99_9": q(0.999),
                "max": if r.messages == 0 { serde_json::Value::Null } else { micros(r.latency.max()).into() },
                "mean": if r.messages == 0 { serde_json::Value::Null } else { (r.latency.mean() / 1000.0).into() },
            },
            "errors": r.errors,
            "error_samples": r.error_samples,
            "late_sends": r.late_sends,
            "verified": true,
        },
        "text": text,
    })
}

// ANCHOR: nofile
/// 每个连接占一个文件描述符：把打开文件数的软上限提到硬上限；还是不够，就说清楚。
fn raise_fd_limit(connections: usize) -> Result<()> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .context("读取打开文件数的上限失败")?;
    let wanted = connections as u64 + 16;
    if limit < wanted {
        bail!(
            "打开文件数的上限是 {limit}（ulimit -Hn），{connections} 个连接需要 {wanted}：\
             减少 --connections，或者提高硬上限"
        );
    }
    Ok(())
}
// ANCHOR_END: nofile

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}

/// 读取命令行。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Options>> {
    let mut opts = Options {
        addr: "127.0.0.1:3214".parse().expect("a valid address"),
        connections: 10,
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        size: 64,
        rate: None,
        messages: None,
        connect_parallel: 64,
        timeout: Duration::from_secs(5),
        threads: 1,
        json: false,
        quiet: false,
    };
    let mut addr = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} 后面要写一个数"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--connections" => opts.connections = whole(value(&arg)?, &arg, 1, 60_000)? as usize,
            "--duration" => opts.duration = seconds(value(&arg)?, &arg, 0.05, 3600.0)?,
            "--warmup" => opts.warmup = seconds(value(&arg)?, &arg, 0.0, 600.0)?,
            "--size" => opts.size = whole(value(&arg)?, &arg, 16, 65_536)? as usize,
            "--rate" => opts.rate = Some(real(value(&arg)?, &arg, 0.01, 1_000_000.0)?),
            "--messages" => opts.messages = Some(whole(value(&arg)?, &arg, 1, 100_000_000)?),
            "--connect-parallel" => {
                opts.connect_parallel = whole(value(&arg)?, &arg, 1, 10_000)? as usize;
            }
            "--timeout" => opts.timeout = seconds(value(&arg)?, &arg, 0.1, 600.0)?,
            "--threads" => opts.threads = whole(value(&arg)?, &arg, 1, 64)? as usize,
            "--json" => opts.json = true,
            "--quiet" => opts.quiet = true,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    if opts.rate.is_some() && opts.messages.is_some() {
        bail!("--messages 只用于闭环，不能和 --rate 一起用");
    }
    if let Some(text) = addr {
        opts.addr = text.parse().with_context(|| {
            format!("无法解析地址 `{text}`：应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
        })?;
    }
    Ok(Some(opts))
}

fn real(value: String, flag: &str, min: f64, max: f64) -> Result<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|x| (min..=max).contains(x))
        .with_context(|| format!("{flag} 要写 {min} 到 {max} 之间的数，而不是 `{value}`"))
}

fn whole(value: String, flag: &str, min: u64, max: u64) -> Result<u64> {
    value
        .parse::<u64>()
        .ok()
        .filter(|x| (min..=max).contains(x))
        .with_context(|| format!("{flag} 要写 {min} 到 {max} 之间的整数，而不是 `{value}`"))
}

fn seconds(value: String, flag: &str, min: f64, max: f64) -> Result<Duration> {
    real(value, flag, min, max).map(Duration::from_secs_f64)
}
