//! 练习的参考答案：一个最小的闭环负载生成器，只用标准库。
//!
//! 每个连接一个线程：发一条 64 字节的消息，读满 64 字节的回显，逐字节核对，记下往返时间，
//! 再发下一条，直到时间到。最后把所有往返时间排序，打印条数、每秒条数、p50 和 p99。
//! 每个读、写、连接请求都有超时；回显不对、连接被关闭，都说清楚是哪个连接、第几条。
//!
//! 运行（先在另一个终端启动一个回显服务器，例如 `cargo run --release --example echo_tokio`）：
//! `cargo run --release --example ex_performance_mini_bench -- 127.0.0.1:3214 --connections 10 --duration 3`

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const USAGE: &str = "用法：ex_performance_mini_bench [地址] [--connections 个数] [--duration 秒]
最小的闭环负载生成器：每个连接一个线程，发一条、等完整的回显、核对，再发下一条。
  地址              回显服务器的 IP:端口，默认 127.0.0.1:3214
  --connections     同时打开多少个连接，1 到 1000，默认 10
  --duration        量多久，0.1 到 600 秒，默认 3";

/// 一个读、写、连接请求最多等多久。
const TIMEOUT: Duration = Duration::from_secs(5);
const SIZE: usize = 64;

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(2), // 量完了，可是有连接出错
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<bool> {
    let Some((addr, connections, duration)) = parse_args()? else {
        println!("{USAGE}");
        return Ok(true);
    };
    // 先把所有连接都建立起来，再一起开始：建立连接的时间不算在里面。
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
            .with_context(|| format!("连接 {addr} 失败：服务器在运行吗？"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        streams.push(stream);
    }
    let end = Instant::now() + duration;
    // ANCHOR: threads
    let workers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(id, stream)| thread::spawn(move || one_connection(stream, id, end)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for worker in workers {
        let (times, error) = worker.join().expect("a connection's thread never panics");
        latencies.extend(times);
        errors.extend(error);
    }
    // ANCHOR_END: threads
    // ANCHOR: report
    latencies.sort_unstable();
    let quantile = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len());
        latencies[i - 1]
    };
    let mut out = String::new();
    let seconds = duration.as_secs_f64();
    writeln!(out, "连接：{connections} 个，量了 {seconds} s")?;
    let rate = latencies.len() as f64 / seconds;
    writeln!(
        out,
        "回显：{} 条，{rate:.0} msg/s，每条都逐字节核对过",
        latencies.len()
    )?;
    if latencies.is_empty() {
        writeln!(out, "延迟：没有测到回显")?;
    } else {
        let (p50, p99) = (quantile(0.50), quantile(0.99));
        writeln!(
            out,
            "延迟：p50 {} µs，p99 {} µs",
            p50.as_micros(),
            p99.as_micros()
        )?;
    }
    writeln!(out, "错误：{} 个连接出错", errors.len())?;
    for why in errors.iter().take(3) {
        writeln!(out, "  {why}")?;
    }
    show(&out);
    // ANCHOR_END: report
    Ok(errors.is_empty())
}

/// 打印；标准输出被关闭了（例如接在 `| head -1` 后面）就算了：没有人在读了。
fn show(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

// ANCHOR: one
/// 一个连接：发、读满、核对、记时间，直到 end。出错就停下，把已经量到的交回去。
fn one_connection(
    mut stream: TcpStream,
    id: usize,
    end: Instant,
) -> (Vec<Duration>, Option<String>) {
    let mut times = Vec::new();
    let mut echo = [0u8; SIZE];
    let mut seq = 0u64;
    while Instant::now() < end {
        // 每条消息都不一样：连接号和序号写在里面，其余是字母。
        let mut message = [0u8; SIZE];
        let head = format!("{id:08}:{seq:016}:");
        message[..head.len()].copy_from_slice(head.as_bytes());
        for (i, byte) in message[head.len()..].iter_mut().enumerate() {
            *byte = b'a' + ((seq as usize + i) % 26) as u8;
        }
        let sent = Instant::now();
        if let Err(err) = stream.write_all(&message) {
            return (
                times,
                Some(format!("连接 {id} 第 {seq} 条消息发送失败：{err}")),
            );
        }
        // read_exact 读满 64 字节：一次 read 可能只读到一部分（TCP 是字节流）。
        if let Err(err) = stream.read_exact(&mut echo) {
            return (
                times,
                Some(format!("连接 {id} 第 {seq} 条消息的回显没有收全：{err}")),
            );
        }
        if echo != message {
            return (
                times,
                Some(format!("连接 {id} 第 {seq} 条消息的回显和发出的不一样")),
            );
        }
        times.push(sent.elapsed());
        seq += 1;
    }
    (times, None)
}
// ANCHOR_END: one

fn parse_args() -> Result<Option<(SocketAddr, usize, Duration)>> {
    let mut addr = "127.0.0.1:3214".to_string();
    let mut given = false;
    let mut connections = 10;
    let mut duration = 3.0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--connections" => {
                let text = args.next().context("--connections 后面要写一个数")?;
                connections = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .with_context(|| {
                        format!("--connections 要写 1 到 1000 之间的整数，而不是 `{text}`")
                    })?;
            }
            "--duration" => {
                let text = args.next().context("--duration 后面要写一个数")?;
                duration = text
                    .parse()
                    .ok()
                    .filter(|d| (0.1..=600.0).contains(d))
                    .with_context(|| {
                        format!("--duration 要写 0.1 到 600 之间的秒数，而不是 `{text}`")
                    })?;
            }
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if given => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => {
                addr = arg;
                given = true;
            }
        }
    }
    let addr = addr
        .parse()
        .with_context(|| format!("无法解析地址 `{addr}`：应写成 IP:端口，例如 127.0.0.1:3214"))?;
    Ok(Some((addr, connections, Duration::from_secs_f64(duration))))
}
