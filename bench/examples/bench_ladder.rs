//! 把整个阶梯量一遍：每一级的 Rust 服务器、它们的 Python 对应版本，还有笔记里的服务器，
//! 用同一个负载生成器 `echo_bench`、同一组连接数（1、10、100、1000、10000，各级能服务多少就量多少）
//! 和两种发法（闭环、开环）各量一遍；同时从 `/proc` 读服务器的内存、线程数、CPU 时间和上下文切换，
//! 再用 `strace -c -f` 数每条回显要几个系统调用。结果连同机器的描述写进一个 JSON 文件，
//! 最后打印几张表。
//!
//! 运行：`cargo run --release --example bench_ladder`（完整的一遍，两核的机器上不到 10 分钟，
//! 结果写进 bench/results/ladder.json）；`-- --quick` 只量几个格子，不到 1 分钟；
//! `-- --report bench/results/ladder.json` 不测量，只把一个结果文件打印成表。
//!
//! 它自己编译要用的程序（`cargo build --release -p ladder -p bench --examples`），
//! 自己启动每个服务器（绑定 127.0.0.1:0，从第一行输出读到端口），量完发 SIGTERM 停掉它。
//! 一切都有时限：每个格子、每个服务器的启动和停止都有期限，超时就结束它，记为出错。

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const USAGE: &str = "用法：bench_ladder [--quick | --smoke] [--out 文件] [--only 名字,名字...] [--no-build] [--no-strace]
       bench_ladder --report 文件
       bench_ladder --targets 文件 文件...
把阶梯上的每个回显服务器（Rust 和 Python）用 echo_bench 量一遍，结果写进一个 JSON 文件，再打印成表。
  （不写）          完整的一遍：连接数 1 到 10000，闭环和开环，再用 strace 数系统调用；
                    两核的机器上不到 10 分钟，结果写进 bench/results/ladder.json
  --quick           快速的一遍：只量闭环的 1 和 100 个连接，每格 1 秒，不到 1 分钟；
                    结果写进 target/bench/ladder-quick.json
  --smoke           冒烟测试用：每个服务器几个连接、每格零点几秒；结果写进 target/bench/ladder-smoke.json
  --out 文件        结果写到这个文件
  --only 名字,...   只量这几个服务器，例如 --only echo_tokio,echo_asyncio.py
  --no-build        不先编译（程序已经编译好了）
  --no-strace       不用 strace 数系统调用
  --report 文件     不测量：把一个结果文件打印成表
  --targets 文件... 不测量：逐个结果文件对照三个目标，看几次运行之间变了多少";

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

// ANCHOR: servers
/// 阶梯上的一个服务器：怎样启动它，它能同时服务多少个连接。
struct Server {
    /// 表里的名字：Rust 的是示例名，Python 的是文件名。
    name: &'static str,
    lang: &'static str,
    /// 它在哪一级台阶上。
    rung: &'static str,
    /// Rust：示例名；Python：脚本相对于仓库根目录的路径。
    program: &'static str,
    /// 地址以外的参数。
    args: &'static [&'static str],
    /// 量哪几个连接数：这一级能服务多少，就量到多少。
    connections: &'static [usize],
}

const ALL: &[usize] = &[1, 10, 100, 1000, 10000];
const ONE: &[usize] = &[1];
/// Python 的线程：一万个线程抢一把 GIL，回显等上好几秒，echo_bench 超时（见“性能”一章）。
const TO_1000: &[usize] = &[1, 10, 100, 1000];
/// 线程池开 100 个工作线程：默认的 4 个只能同时服务 4 个客户端，其余的连接一直等着。
const POOL: &[usize] = &[1, 10, 100];

#[rustfmt::skip]
const SERVERS: &[Server] = &[
    Server { name: "echo_iterative", lang: "rust", rung: "iterative", program: "echo_iterative", args: &[], connections: ONE },
    Server { name: "echo_threads", lang: "rust", rung: "threads", program: "echo_threads", args: &[], connections: ALL },
    Server { name: "echo_pool", lang: "rust", rung: "pool", program: "echo_pool", args: &["--workers", "100"], connections: POOL },
    Server { name: "echo_mio", lang: "rust", rung: "event-loop", program: "echo_mio", args: &[], connections: ALL },
    Server { name: "echo_tokio", lang: "rust", rung: "async", program: "echo_tokio", args: &[], connections: ALL },
    Server { name: "tcp_echo_server.py", lang: "python", rung: "note", program: "examples/python/tcp_echo_server.py", args: &[], connections: ONE },
    Server { name: "echo_iterative.py", lang: "python", rung: "iterative", program: "ladder/examples/python/echo_iterative.py", args: &[], connections: ONE },
    Server { name: "echo_threads.py", lang: "python", rung: "threads", program: "ladder/examples/python/echo_threads.py", args: &[], connections: TO_1000 },
    Server { name: "echo_pool.py", lang: "python", rung: "pool", program: "ladder/examples/python/echo_pool.py", args: &["--workers", "100"], connections: POOL },
    Server { name: "echo_selectors.py", lang: "python", rung: "event-loop", program: "ladder/examples/python/echo_selectors.py", args: &[], connections: ALL },
    Server { name: "echo_asyncio.py", lang: "python", rung: "async", program: "ladder/examples/python/echo_asyncio.py", args: &[], connections: ALL },
];
// ANCHOR_END: servers

/// 三种规模。
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scale {
    Full,
    Quick,
    Smoke,
}

// ANCHOR: plan
/// 每种规模量什么、量多久。
struct Plan {
    warmup: f64,
    duration: f64,
    /// 开环时所有连接加起来每秒发多少条：连接越多，每个连接发得越慢。10000 个连接时每个连接每秒 1 条。
    open_total_rate: f64,
    /// 这些服务器在 10000 个连接的开环格子里量这么久（目标：30 秒）。
    long_servers: &'static [&'static str],
    long_duration: f64,
    /// 只量这些连接数（None：全部）；开环量哪些连接数。
    closed_connections: Option<&'static [usize]>,
    open_connections: Option<&'static [usize]>,
    /// strace：每种配置（连接数，每个连接几条）。
    strace: &'static [(usize, u64)],
    /// 这些服务器 1 个连接的闭环，再换两种放法（不管、挤在一个核上）各量一次。
    placement_servers: &'static [&'static str],
    /// 别的程序用掉的 CPU 超过一个核的这么多百分比，就重量这个格子，一个格子最多量几次；
    /// 重量以后剩下的格子在开始后这么多秒内量不完，就不再重量（整个矩阵要在 10 分钟内量完）。
    quiet_percent: f64,
    attempts: u32,
    retry_until_s: f64,
}

fn plan(scale: Scale) -> Plan {
    match scale {
        Scale::Full => Plan {
            warmup: 0.5,
            duration: 3.0,
            open_total_rate: 10_000.0,
            long_servers: &["echo_mio", "echo_tokio"],
            long_duration: 30.0,
            closed_connections: None,
            open_connections: None,
            strace: &[(1, 10_000), (100, 100)],
            placement_servers: &["echo_iterative", "echo_threads", "echo_tokio"],
            quiet_percent: 20.0,
            attempts: 3,
            retry_until_s: 500.0,
        },
        Scale::Quick => Plan {
            warmup: 0.3,
            duration: 1.0,
            open_total_rate: 10_000.0,
            long_servers: &[],
            long_duration: 1.0,
            closed_connections: Some(&[1, 100]),
            open_connections: Some(&[]),
            strace: &[],
            placement_servers: &[],
            quiet_percent: 20.0,
            attempts: 2,
            retry_until_s: 40.0,
        },
        Scale::Smoke => Plan {
            warmup: 0.0,
            duration: 0.2,
            open_total_rate: 200.0,
            long_servers: &[],
            long_duration: 0.2,
            closed_connections: Some(&[1, 4]),
            open_connections: Some(&[4]),
            strace: &[(1, 50)],
            placement_servers: &[],
            quiet_percent: 0.0,
            attempts: 1,
            retry_until_s: 0.0,
        },
    }
}
// ANCHOR_END: plan

/// 命令行给出的一切。
struct Options {
    scale: Scale,
    out: Option<PathBuf>,
    only: Option<Vec<String>>,
    build: bool,
    strace: bool,
    report: Option<PathBuf>,
    targets: Vec<PathBuf>,
}

fn run() -> Result<()> {
    let Some(opts) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    if let Some(path) = &opts.report {
        let data = load(path)?;
        write!(std::io::stdout(), "{}", report(&data)).map_err(|_| StdoutClosed)?;
        return Ok(());
    }
    if !opts.targets.is_empty() {
        for path in &opts.targets {
            let data = load(path)?;
            write!(std::io::stdout(), "{}", runs_targets(path, &data)).map_err(|_| StdoutClosed)?;
        }
        return Ok(());
    }
    let root = root();
    let plan = plan(opts.scale);
    let out = opts.out.clone().unwrap_or_else(|| match opts.scale {
        Scale::Full => root.join("bench/results/ladder.json"),
        Scale::Quick => root.join("target/bench/ladder-quick.json"),
        Scale::Smoke => root.join("target/bench/ladder-smoke.json"),
    });
    let servers: Vec<&Server> = SERVERS
        .iter()
        .filter(|s| {
            opts.only
                .as_ref()
                .is_none_or(|only| only.iter().any(|o| o == s.name))
        })
        .collect();
    if servers.is_empty() {
        bail!("--only 里没有一个认识的服务器名字；认识的有：{}", names());
    }
    if opts.build {
        build()?;
    }
    let bin = examples_dir()?;
    let began = Instant::now();
    let machine = machine(&root);

    // 两个核以上、有 taskset，才能把服务器和负载生成器分开放。
    let can_pin =
        thread::available_parallelism().is_ok_and(|n| n.get() >= 2) && tool_found("taskset");
    let cells = cells(&plan, &servers, can_pin);
    let mut results: Vec<Value> = Vec::new();
    for (i, (server, cell)) in cells.iter().enumerate() {
        let took = Instant::now();
        // ANCHOR: retry
        // 测量期间别的程序用掉了不少 CPU（机器不安静），这个格子就再量一次，最多量 plan.attempts 次，
        // 留下“其他”最少的那一次；数据里记着量了几次。整个矩阵快到时限时不再重量。
        let mut best: Option<Value> = None;
        let mut attempts = 0;
        while attempts < plan.attempts {
            attempts += 1;
            // 一个格子失败了（比如 echo_bench 到期限还没结束），记下原因，接着量别的格子。
            let value = run_cell(&root, &bin, server, cell)
                .unwrap_or_else(|err| json!({ "failed": format!("{err:#}") }));
            let others = |v: &Value| v["others_cpu_percent"].as_f64().unwrap_or(f64::INFINITY);
            if best.as_ref().is_none_or(|b| others(&value) < others(b)) {
                best = Some(value);
            }
            let quiet = best
                .as_ref()
                .is_some_and(|b| others(b) <= plan.quiet_percent);
            // 再量一次以后，剩下的格子还来得及量完吗？
            let left: f64 = cells[i..].iter().map(|(_, c)| c.estimate()).sum();
            if quiet || began.elapsed().as_secs_f64() + left > plan.retry_until_s {
                break;
            }
        }
        let mut value = best.unwrap_or_default();
        value["attempts"] = json!(attempts);
        // ANCHOR_END: retry
        value["server"] = json!(server.name);
        value["connections"] = json!(cell.connections);
        value["mode"] = json!(if cell.mode == Mode::Closed {
            "closed"
        } else {
            "open"
        });
        value["bench_args"] = json!(cell.args());
        value["placement"] = json!(cell.placement.name());
        if cell.experiment {
            value["experiment"] = json!("placement");
        }
        value["wall_s"] = json!(round(took.elapsed().as_secs_f64(), 1));
        eprintln!(
            "[{:>3}/{}] {}",
            i + 1,
            cells.len(),
            one_line(server.name, &value)
        );
        results.push(value);
    }
    let mut syscalls = Vec::new();
    if opts.strace && !plan.strace.is_empty() {
        if tool_found("strace") {
            for server in &servers {
                for &(connections, messages) in plan.strace {
                    if !server.connections.contains(&connections) {
                        continue;
                    }
                    let value = count_syscalls(&root, &bin, server, connections, messages)
                        .with_context(|| {
                            format!("用 strace 数 {} 的系统调用时出错", server.name)
                        })?;
                    eprintln!(
                        "[strace] {} {connections} 个连接：每条回显 {:.2} 个系统调用",
                        server.name,
                        value["per_echo"].as_f64().unwrap_or(f64::NAN)
                    );
                    syscalls.push(value);
                }
            }
        } else {
            eprintln!(
                "没有找到 strace：跳过系统调用的计数（Debian/Ubuntu：apt-get install strace）"
            );
        }
    }

    let mut machine = machine;
    machine["load_after"] = json!(loadavg());
    let data = json!({
        "schema": 1,
        "scale": format!("{:?}", opts.scale).to_lowercase(),
        "command": command_line(),
        "machine": machine,
        "settings": {
            "warmup_s": plan.warmup,
            "duration_s": plan.duration,
            "long_duration_s": plan.long_duration,
            "long_servers": plan.long_servers,
            "open_total_rate": plan.open_total_rate,
            "size": 64,
        },
        "elapsed_s": round(began.elapsed().as_secs_f64(), 1),
        "servers": servers.iter().map(|s| json!({
            "name": s.name, "lang": s.lang, "rung": s.rung, "program": s.program, "args": s.args,
        })).collect::<Vec<_>>(),
        "cells": results,
        "syscalls": syscalls,
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("无法创建 {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&data)? + "\n";
    std::fs::write(&out, text).with_context(|| format!("无法写入 {}", out.display()))?;
    eprintln!(
        "结果写进了 {}（用时 {:.0} s）",
        out.display(),
        began.elapsed().as_secs_f64()
    );
    write!(std::io::stdout(), "{}", report(&data)).map_err(|_| StdoutClosed)?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Closed,
    Open,
}

/// 要量的所有格子。1 个连接的格子把服务器和负载生成器放在同一个核上（能用 taskset 的话）；
/// `plan.placement_servers` 里的服务器，1 个连接的闭环再换两种放法各量一次，作对照。
fn cells<'a>(plan: &Plan, servers: &[&'a Server], can_pin: bool) -> Vec<(&'a Server, Cell)> {
    let mut cells = Vec::new();
    let one = if can_pin {
        Placement::Together
    } else {
        Placement::Free
    };
    for &server in servers {
        let own = server.connections;
        let most = own.iter().copied().max().unwrap_or(1);
        // 只量这个服务器服务得了的连接数：一次只服务一个连接的，只量 1 个连接。
        let pick = |wanted: Option<&[usize]>| -> Vec<usize> {
            match wanted {
                None => own.to_vec(),
                Some(list) => list.iter().copied().filter(|&n| n <= most).collect(),
            }
        };
        let open = match plan.open_connections {
            Some([]) => Vec::new(),
            // 只有一个连接的服务器，开环也只量 1 个连接。
            Some(_) if own == ONE => vec![1],
            other => pick(other),
        };
        let modes = pick(plan.closed_connections)
            .into_iter()
            .map(|n| (n, Mode::Closed))
            .chain(open.into_iter().map(|n| (n, Mode::Open)));
        for (n, mode) in modes {
            let placement = if n == 1 { one } else { Placement::Free };
            cells.push((server, Cell::new(plan, server, n, mode, placement)));
        }
        if can_pin && plan.placement_servers.contains(&server.name) {
            for placement in [Placement::Free, Placement::Apart] {
                let mut cell = Cell::new(plan, server, 1, Mode::Closed, placement);
                cell.experiment = true;
                cells.push((server, cell));
            }
        }
    }
    cells
}

/// 一个格子：echo_bench 的参数。
struct Cell {
    connections: usize,
    mode: Mode,
    warmup: f64,
    duration: f64,
    rate: Option<f64>,
    placement: Placement,
    /// 不属于矩阵的一次实验（同一个格子换一种放法），表和图里单独列出。
    experiment: bool,
}

// ANCHOR: placement
/// 服务器和负载生成器放在哪个核上。
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Placement {
    /// 不管：调度器决定（多个连接时都这样）。
    Free,
    /// 分开：服务器只在 CPU 1 上，负载生成器只在 CPU 0 上（`taskset -c`）。只用于对照的实验。
    Apart,
    /// 挤在一起：两个都只在 CPU 0 上。1 个连接时这样：两个进程轮流干活，往返时间就是两边的程序
    /// 加上两次切换；不然它取决于调度器把两个进程放在同一个核上还是两个核上，能差好几倍
    /// （在虚拟机里，叫醒另一个核上睡着的线程要几十微秒，而且忽快忽慢）。
    Together,
}

impl Placement {
    /// （服务器的 CPU，负载生成器的 CPU），给 `taskset -c`。
    fn cpus(self) -> Option<(&'static str, &'static str)> {
        match self {
            Placement::Free => None,
            Placement::Apart => Some(("1", "0")),
            Placement::Together => Some(("0", "0")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Placement::Free => "free",
            Placement::Apart => "apart",
            Placement::Together => "together",
        }
    }
}

/// 在 `cpus` 指定的核上运行（`taskset -c 1 程序 参数`：taskset 设好 CPU 亲和性，再 exec 程序，
/// 进程号不变）；`cpus` 为 None 时照常运行。
fn pinned(program: impl AsRef<std::ffi::OsStr>, cpus: Option<&str>) -> Command {
    match cpus {
        None => Command::new(program),
        Some(cpus) => {
            let mut cmd = Command::new("taskset");
            cmd.args(["-c", cpus]).arg(program);
            cmd
        }
    }
}
// ANCHOR_END: placement

impl Cell {
    fn new(
        plan: &Plan,
        server: &Server,
        connections: usize,
        mode: Mode,
        placement: Placement,
    ) -> Cell {
        let long =
            mode == Mode::Open && connections == 10_000 && plan.long_servers.contains(&server.name);
        Cell {
            connections,
            mode,
            warmup: plan.warmup,
            duration: if long {
                plan.long_duration
            } else {
                plan.duration
            },
            rate: (mode == Mode::Open).then(|| plan.open_total_rate / connections as f64),
            placement,
            experiment: false,
        }
    }

    /// 量一次大概要几秒：启动服务器、建立连接、预热、测量、收尾。
    fn estimate(&self) -> f64 {
        0.8 + self.connections as f64 / 5000.0 + self.warmup + self.duration
    }

    /// echo_bench 的参数（不含地址）。
    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--connections".to_string(),
            self.connections.to_string(),
            "--duration".to_string(),
            number(self.duration),
            "--warmup".to_string(),
            number(self.warmup),
        ];
        if let Some(rate) = self.rate {
            args.extend(["--rate".to_string(), number(rate)]);
        }
        args
    }
}

// ANCHOR: run-cell
/// 量一个格子：启动服务器，用 echo_bench 加上负载，同时从 /proc 读服务器的状态，最后停掉服务器。
fn run_cell(root: &Path, bin: &Path, server: &Server, cell: &Cell) -> Result<Value> {
    let cpus = cell.placement.cpus();
    let mut srv = Running::start(root, bin, server, cpus.map(|c| c.0))?;
    let idle = status(srv.pid).unwrap_or_default();
    let mut bench = pinned(bin.join("echo_bench"), cpus.map(|c| c.1));
    bench
        .arg(srv.addr.as_str())
        .args(cell.args())
        .args(["--json", "--quiet"]);
    let began = Instant::now();
    let mut load = Background::spawn(bench)?;
    // 最多等这么久：建立连接、预热、测量、收尾，再加上足够的余量。
    let limit = Duration::from_secs_f64(
        20.0 + cell.connections as f64 / 500.0 + cell.warmup + cell.duration,
    );
    let (mut start, mut end) = (None, None);
    let mut result = None;
    let mut peak_threads = idle.threads;
    loop {
        match load.lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let value: Value = serde_json::from_str(&line)
                    .with_context(|| format!("echo_bench 打印了一行不是 JSON 的东西：{line}"))?;
                match value["phase"].as_str() {
                    // 测量开始、结束的时刻：读服务器和负载生成器用掉的 CPU 时间、上下文切换的次数。
                    Some("measuring") => start = Some(Snapshot::take(srv.pid, load.pid())),
                    Some("draining") => end = Some(Snapshot::take(srv.pid, load.pid())),
                    _ => result = Some(value),
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // 每 100 毫秒看一眼服务器有几个线程。
        if let Some(now) = status(srv.pid) {
            peak_threads = peak_threads.max(now.threads);
        }
        if began.elapsed() > limit {
            load.kill();
            srv.stop();
            bail!("echo_bench 在 {limit:?} 内没有结束：停掉了它");
        }
    }
    let (code, bench_stderr) = load.finish();
    let after = status(srv.pid).unwrap_or_default();
    let server_out = srv.stop();
    let Some(result) = result else {
        bail!(
            "echo_bench 没有给出结果（退出状态 {code:?}）：{}\n服务器的标准错误：{}",
            bench_stderr.trim(),
            server_out.stderr_sample.join("\n")
        );
    };
    let (start, end) = (start.unwrap_or_default(), end.unwrap_or_default());
    let window = (end.at - start.at).max(1e-9);
    Ok(json!({
        "server": srv.name,
        "connections": cell.connections,
        "mode": if cell.mode == Mode::Closed { "closed" } else { "open" },
        "bench_args": cell.args(),
        "exit": code,
        "bench": result["result"],
        "text": result["text"],
        "bench_stderr": bench_stderr,
        "server_stats": {
            "idle_rss_kib": idle.rss_kib,
            "rss_kib": end.server.rss_kib,
            "hwm_kib": after.hwm_kib.max(end.server.hwm_kib),
            "threads": peak_threads,
            "cpu_s": round(end.server.cpu_s - start.server.cpu_s, 3),
            "cpu_percent": round(100.0 * (end.server.cpu_s - start.server.cpu_s) / window, 1),
            "voluntary_ctxt": end.server.voluntary.saturating_sub(start.server.voluntary),
            "involuntary_ctxt": end.server.involuntary.saturating_sub(start.server.involuntary),
            "stdout_lines": server_out.stdout_lines,
            "stderr_lines": server_out.stderr_lines,
            "stderr_sample": server_out.stderr_sample,
        },
        "generator_stats": {
            "hwm_kib": end.generator.hwm_kib,
            "cpu_s": round(end.generator.cpu_s - start.generator.cpu_s, 3),
            "cpu_percent": round(100.0 * (end.generator.cpu_s - start.generator.cpu_s) / window, 1),
            "voluntary_ctxt": end.generator.voluntary.saturating_sub(start.generator.voluntary),
            "involuntary_ctxt": end.generator.involuntary.saturating_sub(start.generator.involuntary),
        },
        // 测量期间别的程序（不是服务器，也不是负载生成器）用掉的 CPU：机器不安静时，这个数就大。
        "others_cpu_percent": round(
            100.0
                * ((end.machine_busy_s - start.machine_busy_s)
                    - (end.server.cpu_s - start.server.cpu_s)
                    - (end.generator.cpu_s - start.generator.cpu_s))
                    .max(0.0)
                / window,
            1
        ),
        "softirq_cpu_percent": round(100.0 * (end.softirq_s - start.softirq_s) / window, 1),
        "window_s": round(window, 3),
    }))
}
// ANCHOR_END: run-cell

// ANCHOR: proc
/// 从 /proc/PID/status 读到的几样东西。
#[derive(Default, Clone, Copy)]
struct Status {
    /// 现在占用的物理内存（VmRSS）和到现在为止的峰值（VmHWM），KiB。
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
    /// 用掉的 CPU 时间（用户态加内核态，所有线程），秒。
    cpu_s: f64,
    /// 所有线程的上下文切换次数之和：自愿的（阻塞了、让出 CPU）和非自愿的（时间片用完、被抢占）。
    voluntary: u64,
    involuntary: u64,
}

fn status(pid: u32) -> Option<Status> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Some(Status {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
        ..Status::default()
    })
}

/// 进程用掉的 CPU 时间：/proc/PID/stat 的第 14、15 个字段（utime、stime），单位是时钟滴答（1/100 秒）。
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // 第 2 个字段是括号里的程序名，里面可能有空格：从最后一个 ')' 之后数起。
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// 整台机器忙着的 CPU 时间：/proc/stat 第一行（所有核加起来）里除了 idle、iowait 和软中断的各项；
/// 和软中断的时间。秒。
fn machine_busy() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return (0.0, 0.0);
    };
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| ![3, 4, 6].contains(i))
        .map(|(_, t)| t)
        .sum();
    let softirq = ticks.get(6).copied().unwrap_or(0.0);
    (busy / 100.0, softirq / 100.0)
}

/// 上下文切换：/proc/PID/status 里的只是主线程的，要把 /proc/PID/task/*/status 加起来。
fn context_switches(pid: u32) -> (u64, u64) {
    let (mut voluntary, mut involuntary) = (0, 0);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // 这个线程刚刚结束了
        };
        for line in text.lines() {
            let number = |rest: &str| rest.trim().parse::<u64>().unwrap_or(0);
            if let Some(rest) = line.strip_prefix("voluntary_ctxt_switches:") {
                voluntary += number(rest);
            } else if let Some(rest) = line.strip_prefix("nonvoluntary_ctxt_switches:") {
                involuntary += number(rest);
            }
        }
    }
    (voluntary, involuntary)
}
// ANCHOR_END: proc

/// 某一时刻服务器和负载生成器的状态。
#[derive(Default, Clone, Copy)]
struct Snapshot {
    at: f64,
    server: Status,
    generator: Status,
    /// 整台机器所有核忙着的时间（秒），不含软中断：减去服务器和负载生成器的，就是别的程序用掉的。
    machine_busy_s: f64,
    /// 所有核花在软中断上的时间（秒）：回环地址上收发包的大部分工作在这里，不算在哪个进程头上。
    softirq_s: f64,
}

impl Snapshot {
    fn take(server: u32, generator: u32) -> Snapshot {
        let of = |pid: u32| {
            let mut s = status(pid).unwrap_or_default();
            s.cpu_s = cpu_seconds(pid);
            (s.voluntary, s.involuntary) = context_switches(pid);
            s
        };
        let (busy, softirq) = machine_busy();
        Snapshot {
            at: since_start(),
            server: of(server),
            generator: of(generator),
            machine_busy_s: busy,
            softirq_s: softirq,
        }
    }
}

/// 从程序启动算起的秒数。
fn since_start() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// 一个在后台运行的进程：标准输出一行一行地送来，标准错误收集起来。
struct Background {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Background {
    fn spawn(mut cmd: Command) -> Result<Background> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("无法运行 {cmd:?}"))?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = Some(thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        }));
        Ok(Background {
            child,
            lines,
            stderr,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// 等它结束（它的标准输出已经关闭了）：退出状态和标准错误。
    fn finish(&mut self) -> (Option<i32>, String) {
        let status = wait_for(&mut self.child, Duration::from_secs(10));
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// 最多等 `limit` 让一个进程结束，到时还没结束就杀掉它。返回退出状态（被信号杀死时是 None）。
fn wait_for(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code(),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                return child.wait().ok().and_then(|s| s.code());
            }
        }
    }
}

/// 一个正在运行的服务器。
struct Running {
    name: &'static str,
    child: Child,
    pid: u32,
    addr: String,
    stdout: Option<JoinHandle<u64>>,
    stderr: Option<JoinHandle<(u64, Vec<String>)>>,
}

/// 服务器停下以后，它打印了什么。
struct ServerOutput {
    stdout_lines: u64,
    stderr_lines: u64,
    stderr_sample: Vec<String>,
}

impl Running {
    // ANCHOR: start
    /// 启动服务器，绑定 127.0.0.1:0，从它的第一行输出读到端口。
    fn start(root: &Path, bin: &Path, server: &Server, cpus: Option<&str>) -> Result<Running> {
        let mut cmd = if server.lang == "rust" {
            pinned(bin.join(server.program), cpus)
        } else {
            let mut cmd = pinned("python3", cpus);
            cmd.arg(root.join(server.program));
            // 和读者在终端里运行时一样：不强迫 Python 每次 print 都立刻写出。
            cmd.env_remove("PYTHONUNBUFFERED");
            cmd
        };
        cmd.arg("127.0.0.1:0")
            .args(server.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("无法启动 {cmd:?}"))?;
        let pid = child.id();
        // 服务器每个连接打印一两行：一直读着它的标准输出，不然管道满了，服务器就卡在打印上。
        let (tx, first) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout = thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            lines.map_while(Result::ok).count() as u64
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut count = 0;
            let mut sample = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                count += 1;
                if sample.len() < 5 {
                    sample.push(line);
                }
            }
            (count, sample)
        });
        let mut running = Running {
            name: server.name,
            child,
            pid,
            addr: String::new(),
            stdout: Some(stdout),
            stderr: Some(stderr),
        };
        match first.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => running.addr = line.trim().to_string(),
            Err(_) => {
                let out = running.stop();
                bail!(
                    "{} 在 20 秒内没有打印它绑定的地址：{}",
                    server.name,
                    out.stderr_sample.join("\n")
                );
            }
        }
        Ok(running)
    }
    // ANCHOR_END: start

    /// 发 SIGTERM（能优雅停止的服务器收尾后退出，别的直接结束），最多等 10 秒，再不行就杀掉。
    fn stop(&mut self) -> ServerOutput {
        signal(self.pid, "TERM");
        wait_for(&mut self.child, Duration::from_secs(10));
        let stdout_lines = self.stdout.take().and_then(|h| h.join().ok()).unwrap_or(0);
        let (stderr_lines, stderr_sample) = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        ServerOutput {
            stdout_lines,
            stderr_lines,
            stderr_sample,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// 用 kill 命令给一个进程发信号（标准库只能发 SIGKILL）。
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

// ANCHOR: strace
/// 用 `strace -c -f -p PID` 数服务器的系统调用：先启动服务器，strace 挂上去以后，
/// 用 echo_bench 让每个连接发固定条数的消息，再让 strace 放开它（SIGINT），读它的汇总表。
fn count_syscalls(
    root: &Path,
    bin: &Path,
    server: &Server,
    connections: usize,
    messages: u64,
) -> Result<Value> {
    let mut srv = Running::start(root, bin, server, None)?;
    let dir = std::env::temp_dir().join(format!("bench-ladder-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let table = dir.join(format!("{}-{connections}.txt", server.name));
    let mut strace = Command::new("strace");
    strace
        .args(["-c", "-f", "-o"])
        .arg(&table)
        .args(["-p", &srv.pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut tracer = strace.spawn().context("无法运行 strace")?;
    // strace 挂上去以后，在标准错误上说 “Process N attached”：等到这一行再开始发消息。
    let (tx, attached) = mpsc::channel();
    let err = tracer.stderr.take().expect("piped stderr");
    let said = thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("attached") {
                let _ = tx.send(());
            }
            all.push(line);
        }
        all.join("\n")
    });
    if attached.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = tracer.kill();
        srv.stop();
        let said = said.join().unwrap_or_default();
        bail!("strace 没能挂到 {} 上：{said}", server.name);
    }
    let mut bench = Command::new(bin.join("echo_bench"));
    bench.arg(srv.addr.as_str()).args([
        "--connections",
        &connections.to_string(),
        "--messages",
        &messages.to_string(),
        "--quiet",
        "--json",
        "--timeout",
        "30",
    ]);
    let mut load = Background::spawn(bench)?;
    let mut result = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match load.lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Ok(value) = serde_json::from_str::<Value>(&line)
                    && value.get("result").is_some()
                {
                    result = Some(value);
                }
            }
            Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(RecvTimeoutError::Timeout) => {
                load.kill();
                break;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let (code, bench_stderr) = load.finish();
    // 笔记里的服务器服务完一个客户端就退出了，strace 也随之结束；别的服务器，让 strace 放开它。
    signal(tracer.id(), "INT");
    wait_for(&mut tracer, Duration::from_secs(20));
    let _ = said.join();
    srv.stop();
    let raw = std::fs::read_to_string(&table).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let Some(result) = result else {
        bail!(
            "echo_bench 没有给出结果（退出状态 {code:?}）：{}",
            bench_stderr.trim()
        );
    };
    let (calls, errors) = parse_strace(&raw);
    // 每个连接还多一条：建立连接后的第一条回显。
    let echoes = connections as u64 * (messages + 1);
    let total: u64 = calls.values().sum();
    Ok(json!({
        "server": server.name,
        "connections": connections,
        "messages_per_connection": messages,
        "echoes": echoes,
        "bench_errors": result["result"]["errors"],
        "calls": calls,
        "errors": errors,
        "per_echo": round(total as f64 / echoes as f64, 3),
        "raw": raw,
    }))
}

/// 读 `strace -c` 的汇总表：每个系统调用调用了几次、失败了几次。
fn parse_strace(raw: &str) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut calls = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for line in raw.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // % time  seconds  usecs/call  calls  [errors]  syscall
        if fields.len() < 5 || fields[0].parse::<f64>().is_err() {
            continue;
        }
        let name = fields[fields.len() - 1];
        if name == "total" {
            continue;
        }
        let Ok(n) = fields[3].parse::<u64>() else {
            continue;
        };
        calls.insert(name.to_string(), n);
        if fields.len() == 6
            && let Ok(e) = fields[4].parse::<u64>()
        {
            errors.insert(name.to_string(), e);
        }
    }
    (calls, errors)
}
// ANCHOR_END: strace

// ANCHOR: report
/// 把结果打印成几张表。
fn report(data: &Value) -> String {
    let mut out = String::new();
    let m = &data["machine"];
    out += &format!(
        "机器：{}，{} 核，Linux {}，{}，{}\n",
        text(&m["cpu"]),
        m["cores"],
        text(&m["kernel"]),
        text(&m["rustc"]),
        text(&m["python"])
    );
    out += &format!(
        "日期：{}；规模：{}；用时 {} s；开始时负载 {}，结束时 {}\n",
        text(&m["date"]),
        text(&data["scale"]),
        data["elapsed_s"],
        text(&m["load_before"]),
        text(&m["load_after"])
    );
    let all: Vec<&Value> = data["cells"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    // 矩阵里的格子；换了放法的对照实验另列一张表。
    let cells: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|c| c.get("experiment").is_none())
        .collect();
    let size = data["settings"]["size"].as_u64().unwrap_or(64);
    let again = all
        .iter()
        .filter(|c| c["attempts"].as_u64().is_some_and(|n| n > 1))
        .count();
    if again > 0 {
        out += &format!(
            "有 {again} 个格子因为测量期间别的程序用掉了不少 CPU 而重量过（最多 3 次，留下最安静的一次）\n"
        );
    }

    out += &format!(
        "\n闭环：每个连接发一条 {size} 字节的消息，等到回显再发下一条\n\
         （CPU 是测量期间用掉的 CPU 时间占墙上时间的百分比，100% 是一个核；\
         “其他”是别的程序用掉的）\n"
    );
    let mut rows = vec![row(&[
        "服务器",
        "连接",
        "msg/s",
        "p50",
        "p99",
        "p99.9",
        "错误",
        "服务器 CPU",
        "生成器 CPU",
        "其他",
    ])];
    for c in cells.iter().filter(|c| c["mode"] == "closed") {
        if let Some(why) = failed(c) {
            rows.push(why);
            continue;
        }
        let b = &c["bench"];
        rows.push(vec![
            text(&c["server"]),
            c["connections"].to_string(),
            format!("{:.0}", b["msg_per_s"].as_f64().unwrap_or(0.0)),
            micros(&b["latency_us"]["p50"]),
            micros(&b["latency_us"]["p99"]),
            micros(&b["latency_us"]["p99_9"]),
            errors(b),
            percent(&c["server_stats"]["cpu_percent"]),
            percent(&c["generator_stats"]["cpu_percent"]),
            percent(&c["others_cpu_percent"]),
        ]);
    }
    out += &table(&rows);

    // 1 个连接：服务器和负载生成器放在哪个核上。
    let placed: Vec<&Value> = all
        .iter()
        .copied()
        .filter(|c| c["connections"] == 1 && c["mode"] == "closed")
        .filter(|c| c.get("experiment").is_some() || c["placement"] == "together")
        .filter(|c| {
            all.iter()
                .any(|e| e.get("experiment").is_some() && e["server"] == c["server"])
        })
        .collect();
    if !placed.is_empty() {
        out += "\n1 个连接的闭环，换一种放法：挤在一起（都在 CPU 0，上面的表用的就是它）、\
                不管（调度器决定）、分开（服务器在 CPU 1，生成器在 CPU 0）\n";
        let mut rows = vec![row(&[
            "服务器",
            "放法",
            "msg/s",
            "p50",
            "p99",
            "服务器 CPU",
            "生成器 CPU",
        ])];
        for c in placed {
            let name = match c["placement"].as_str() {
                Some("apart") => "分开",
                Some("together") => "挤在一起",
                _ => "不管",
            };
            if failed(c).is_some() {
                continue;
            }
            let b = &c["bench"];
            rows.push(vec![
                text(&c["server"]),
                name.to_string(),
                format!("{:.0}", b["msg_per_s"].as_f64().unwrap_or(0.0)),
                micros(&b["latency_us"]["p50"]),
                micros(&b["latency_us"]["p99"]),
                percent(&c["server_stats"]["cpu_percent"]),
                percent(&c["generator_stats"]["cpu_percent"]),
            ]);
        }
        out += &table(&rows);
    }

    let open: Vec<&&Value> = cells.iter().filter(|c| c["mode"] == "open").collect();
    if !open.is_empty() {
        out += &format!(
            "\n开环：所有连接加起来每秒 {} 条，按时发送、不等回显\n",
            number(data["settings"]["open_total_rate"].as_f64().unwrap_or(0.0))
        );
        let mut rows = vec![row(&[
            "服务器",
            "连接",
            "每个连接",
            "时长",
            "p50",
            "p99",
            "p99.9",
            "最大",
            "发晚了",
            "错误",
        ])];
        for c in open {
            if let Some(why) = failed(c) {
                rows.push(why);
                continue;
            }
            let b = &c["bench"];
            rows.push(vec![
                text(&c["server"]),
                c["connections"].to_string(),
                format!(
                    "{}/s",
                    number(b["rate_per_connection"].as_f64().unwrap_or(0.0))
                ),
                format!("{} s", number(b["duration_s"].as_f64().unwrap_or(0.0))),
                micros(&b["latency_us"]["p50"]),
                micros(&b["latency_us"]["p99"]),
                micros(&b["latency_us"]["p99_9"]),
                micros(&b["latency_us"]["max"]),
                b["late_sends"].to_string(),
                errors(b),
            ]);
        }
        out += &table(&rows);
    }

    out +=
        "\n资源（闭环）：内存是测量结束时的 VmRSS 减去空闲时的；CPU 和上下文切换按每条回显平均\n";
    let mut rows = vec![row(&[
        "服务器",
        "连接",
        "线程",
        "峰值 RSS",
        "每个连接",
        "CPU/条",
        "切换/条",
    ])];
    for c in cells
        .iter()
        .filter(|c| c["mode"] == "closed" && c.get("failed").is_none())
    {
        let s = &c["server_stats"];
        let n = c["connections"].as_f64().unwrap_or(1.0);
        let messages = c["bench"]["messages"].as_f64().unwrap_or(0.0).max(1.0);
        let rss = s["rss_kib"].as_f64().unwrap_or(0.0);
        let idle = s["idle_rss_kib"].as_f64().unwrap_or(0.0);
        let switches = s["voluntary_ctxt"].as_f64().unwrap_or(0.0)
            + s["involuntary_ctxt"].as_f64().unwrap_or(0.0);
        rows.push(vec![
            text(&c["server"]),
            c["connections"].to_string(),
            s["threads"].to_string(),
            format!("{:.1} MiB", s["hwm_kib"].as_f64().unwrap_or(0.0) / 1024.0),
            format!("{:.1} KiB", (rss - idle).max(0.0) / n),
            format!(
                "{:.1} µs",
                s["cpu_s"].as_f64().unwrap_or(0.0) * 1e6 / messages
            ),
            format!("{:.2}", switches / messages),
        ]);
    }
    out += &table(&rows);

    let syscalls: Vec<&Value> = data["syscalls"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if !syscalls.is_empty() {
        out += "\n系统调用（strace -c -f）：每条回显平均几个，和最多的几个\n";
        let mut rows = vec![row(&[
            "服务器",
            "连接",
            "每条",
            "最多的几个（每条回显几次）",
        ])];
        for s in syscalls {
            let echoes = s["echoes"].as_f64().unwrap_or(1.0).max(1.0);
            let mut top: Vec<(&String, u64)> = s["calls"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k, v.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default();
            top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = top
                .iter()
                .take(4)
                .filter(|(_, n)| *n as f64 / echoes >= 0.01)
                .map(|(k, n)| format!("{k} {:.2}", *n as f64 / echoes))
                .collect();
            rows.push(vec![
                text(&s["server"]),
                s["connections"].to_string(),
                format!("{:.2}", s["per_echo"].as_f64().unwrap_or(0.0)),
                top.join("，"),
            ]);
        }
        out += &table(&rows);
    }

    let targets = targets(data);
    if !targets.is_empty() {
        out += "\n目标\n";
        for (ok, what) in targets {
            out += &format!("{} {what}\n", if ok { "达到  " } else { "没达到" });
        }
    }
    out
}
// ANCHOR_END: report

/// 读一个 bench_ladder 写的结果文件。
fn load(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("无法读取 {}", path.display()))?;
    let data: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} 不是 bench_ladder 写的 JSON", path.display()))?;
    if data["schema"] != 1 || !data["cells"].is_array() || !data["machine"].is_object() {
        bail!(
            "{} 不是 bench_ladder 写的结果文件：没有 schema 1、machine 和 cells",
            path.display()
        );
    }
    Ok(data)
}

/// 一次运行：它有多安静，三个目标各是多少。
fn runs_targets(path: &Path, data: &Value) -> String {
    let cells: Vec<&Value> = data["cells"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let noisy = cells
        .iter()
        .filter(|c| c["others_cpu_percent"].as_f64().is_some_and(|p| p > 20.0))
        .count();
    let measured = cells
        .iter()
        .filter(|c| c.get("others_cpu_percent").is_some())
        .count();
    let quiet = if measured == 0 {
        "这次运行没有记录别的程序用掉的 CPU".to_string()
    } else {
        format!(
            "{noisy} / {} 个格子里别的程序用掉了一个核的 20% 以上",
            cells.len()
        )
    };
    let mut out = format!(
        "{}：{}，{}\n",
        path.display(),
        text(&data["machine"]["date"]),
        quiet
    );
    for (ok, what) in targets(data) {
        out += &format!("  {} {what}\n", if ok { "达到  " } else { "没达到" });
    }
    out
}

// ANCHOR: targets
/// 议题里定下的三个目标，逐个对照数据：（达到了吗，说明）。数据里没有的格子就不说。
fn targets(data: &Value) -> Vec<(bool, String)> {
    let cells: Vec<&Value> = data["cells"]
        .as_array()
        .map(|a| a.iter().filter(|c| c.get("experiment").is_none()).collect())
        .unwrap_or_default();
    let find = |server: &str, n: u64, mode: &str| {
        cells
            .iter()
            .copied()
            .find(|c| c["server"] == server && c["connections"] == n && c["mode"] == mode)
    };
    let mut out = Vec::new();
    // 1. echo_tokio、echo_mio：10000 个连接，每个每秒 64 字节一条，30 秒，没有错误，p99 < 2 ms，峰值 RSS < 64 MB。
    for server in ["echo_tokio", "echo_mio"] {
        let Some(c) = find(server, 10_000, "open") else {
            continue;
        };
        let b = &c["bench"];
        let p99 = b["latency_us"]["p99"].as_f64().unwrap_or(f64::INFINITY);
        let hwm = c["server_stats"]["hwm_kib"]
            .as_f64()
            .unwrap_or(f64::INFINITY)
            * 1024.0;
        let seconds = b["duration_s"].as_f64().unwrap_or(0.0);
        let errors = b["errors"].as_u64().unwrap_or(1) + b["failed_connects"].as_u64().unwrap_or(1);
        let ok = errors == 0 && p99 < 2000.0 && hwm < 64e6 && seconds >= 30.0;
        out.push((
            ok,
            format!(
                "{server}：10000 个连接、每个每秒 1 条，{} s：错误 {errors}，p99 {p99:.0} µs（< 2000 µs），峰值 RSS {:.1} MB（< 64 MB）",
                number(seconds),
                hwm / 1e6
            ),
        ));
    }
    // 2. 100 个连接的闭环：echo_tokio ≥ 1.4 × asyncio，echo_threads ≥ 2 × threading。
    for (rust, python, factor) in [
        ("echo_tokio", "echo_asyncio.py", 1.4),
        ("echo_threads", "echo_threads.py", 2.0),
    ] {
        let (Some(r), Some(p)) = (find(rust, 100, "closed"), find(python, 100, "closed")) else {
            continue;
        };
        let rate = |c: &Value| c["bench"]["msg_per_s"].as_f64().unwrap_or(0.0);
        let ratio = rate(r) / rate(p).max(1e-9);
        out.push((
            ratio >= factor,
            format!(
                "100 个连接的闭环：{rust} {:.0} msg/s 是 {python} {:.0} msg/s 的 {ratio:.2} 倍（≥ {factor}）",
                rate(r),
                rate(p)
            ),
        ));
    }
    // 3. 1 个连接：每一级 Rust 服务器往返时间的 p50 不超过最好的那一级的 1.2 倍。
    let placement = cells
        .iter()
        .find(|c| c["connections"] == 1 && c["mode"] == "closed")
        .map_or("", |c| match c["placement"].as_str() {
            Some("together") => "（两个进程挤在一个核上）",
            Some("apart") => "（两个进程分开在两个核上）",
            _ => "",
        });
    let ones: Vec<(&str, f64)> = cells
        .iter()
        .filter(|c| c["connections"] == 1 && c["mode"] == "closed")
        .filter(|c| {
            SERVERS
                .iter()
                .any(|s| s.lang == "rust" && c["server"] == s.name)
        })
        .filter_map(|c| {
            Some((
                c["server"].as_str()?,
                c["bench"]["latency_us"]["p50"].as_f64()?,
            ))
        })
        .collect();
    if let Some(best) = ones.iter().map(|(_, p)| *p).reduce(f64::min) {
        let worst = ones
            .iter()
            .copied()
            .fold(("", 0.0), |w, x| if x.1 > w.1 { x } else { w });
        let list: Vec<String> = ones.iter().map(|(s, p)| format!("{s} {p:.1} µs")).collect();
        out.push((
            worst.1 <= 1.2 * best,
            format!(
                "1 个连接的 p50{placement}：最慢的 {} 是最快的 {:.2} 倍（≤ 1.2）：{}",
                worst.0,
                worst.1 / best,
                list.join("，")
            ),
        ));
    }
    out
}
// ANCHOR_END: targets

/// 没量成的格子：一行说明。
fn failed(c: &Value) -> Option<Vec<String>> {
    let why = c.get("failed")?.as_str()?;
    Some(vec![
        text(&c["server"]),
        c["connections"].to_string(),
        format!("没量成：{why}"),
    ])
}

/// 一行里的几个格子。
fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// 对齐的表：第一列左对齐，其余右对齐；汉字按两个字符宽。比别的行短的行（没量成的格子），
/// 最后一格是一句话，不参与对齐。系统调用的表最后一列是一串文字，左对齐。
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let full: Vec<&Vec<String>> = rows.iter().filter(|r| r.len() == columns).collect();
    let widths: Vec<usize> = (0..columns)
        .map(|i| full.iter().map(|r| width(&r[i])).max().unwrap_or(0))
        .collect();
    let text_last = rows
        .first()
        .is_some_and(|r| r.last().is_some_and(|h| h.contains("最多的几个")));
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            let last = i + 1 == r.len();
            if last && (r.len() < columns || text_last) {
                line += &format!("  {cell}");
                continue;
            }
            let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
            if i == 0 {
                line += &format!("{cell}{pad}");
            } else {
                line += &format!("  {pad}{cell}");
            }
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// 显示宽度：汉字和全角标点算两个。
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{1100}'..).contains(&c) && c != 'µ' && c != '≥' && c != '≤' {
                2
            } else {
                1
            }
        })
        .sum()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_string(),
        other => other.to_string(),
    }
}

fn micros(v: &Value) -> String {
    match v.as_f64() {
        None => "-".to_string(),
        Some(us) if us < 1000.0 => format!("{us:.0} µs"),
        Some(us) => format!("{:.2} ms", us / 1000.0),
    }
}

fn percent(v: &Value) -> String {
    v.as_f64().map_or("-".to_string(), |p| format!("{p:.0}%"))
}

fn errors(b: &Value) -> String {
    let e = b["errors"].as_u64().unwrap_or(0);
    let f = b["failed_connects"].as_u64().unwrap_or(0);
    if f == 0 {
        e.to_string()
    } else {
        format!("{e}+{f}")
    }
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// 本次测量的一行进度。
fn one_line(name: &str, v: &Value) -> String {
    let b = &v["bench"];
    format!(
        "{name} {} 个连接 {}：{:.0} msg/s，p99 {}，错误 {}，服务器 CPU {}，生成器 CPU {}，其他 {}（{} s）",
        v["connections"],
        if v["mode"] == "closed" {
            "闭环"
        } else {
            "开环"
        },
        b["msg_per_s"].as_f64().unwrap_or(0.0),
        micros(&b["latency_us"]["p99"]),
        errors(b),
        percent(&v["server_stats"]["cpu_percent"]),
        percent(&v["generator_stats"]["cpu_percent"]),
        percent(&v["others_cpu_percent"]),
        v["wall_s"],
    )
}

/// 仓库的根目录（bench/ 的上一级）。
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is inside the repository")
        .to_path_buf()
}

/// 编译要用的程序：阶梯上的服务器和 echo_bench，和本程序用同一种配置（release 或 debug）。
fn build() -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root())
        .args(["build", "-p", "ladder", "-p", "bench", "--examples"]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = cmd.status().context("无法运行 cargo")?;
    if !status.success() {
        bail!("cargo build 失败（{status}）");
    }
    Ok(())
}

/// 编译好的示例程序所在的目录：就是本程序所在的目录（target/release/examples）。
fn examples_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("找不到本程序的路径")?;
    let dir = exe.parent().context("本程序不在一个目录里")?.to_path_buf();
    if !dir.join("echo_bench").exists() {
        bail!(
            "{} 里没有 echo_bench：先编译它（cargo build --release -p bench --examples）",
            dir.display()
        );
    }
    Ok(dir)
}

// ANCHOR: machine
/// 这台机器：CPU、核数、内核、Rust 和 Python 的版本、日期、开始时的负载。
fn machine(root: &Path) -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("?".to_string(), |(_, v)| v.trim().to_string());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024);
    let version = |program: &str| {
        Command::new(program)
            .arg("--version")
            .current_dir(root)
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(if o.stdout.is_empty() {
                    &o.stderr
                } else {
                    &o.stdout
                })
                .trim()
                .to_string()
            })
            .unwrap_or_else(|| "?".to_string())
    };
    json!({
        "cpu": cpu,
        "cores": thread::available_parallelism().map_or(0, |n| n.get()),
        "memory_mib": memory,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "rustc": version("rustc"),
        "python": version("python3"),
        "date": today(),
        "load_before": loadavg(),
    })
}
// ANCHOR_END: machine

/// /proc/loadavg 的前三个数：过去 1、5、15 分钟的平均负载。
fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// 今天的日期（UTC），YYYY-MM-DD。
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant 的 civil_from_days。
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "cargo run --release --example bench_ladder".to_string()
    } else {
        format!(
            "cargo run --release --example bench_ladder -- {}",
            args.join(" ")
        )
    }
}

fn tool_found(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn names() -> String {
    SERVERS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join("、")
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

/// 读取命令行。`-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Options>> {
    let mut opts = Options {
        scale: Scale::Full,
        out: None,
        only: None,
        build: true,
        strace: true,
        report: None,
        targets: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => opts.scale = Scale::Quick,
            "--smoke" => opts.scale = Scale::Smoke,
            "--out" => opts.out = Some(args.next().context("--out 后面要写一个文件名")?.into()),
            "--report" => {
                opts.report = Some(args.next().context("--report 后面要写一个文件名")?.into())
            }
            "--only" => {
                let list = args
                    .next()
                    .context("--only 后面要写服务器的名字，用逗号隔开")?;
                let list: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(unknown) = list
                    .iter()
                    .find(|n| !SERVERS.iter().any(|s| s.name == n.as_str()))
                {
                    bail!("不认识的服务器 `{unknown}`；认识的有：{}", names());
                }
                opts.only = Some(list);
            }
            "--targets" => {
                opts.targets.extend(args.by_ref().map(PathBuf::from));
                if opts.targets.is_empty() {
                    bail!("--targets 后面要写至少一个结果文件");
                }
            }
            "--no-build" => opts.build = false,
            "--no-strace" => opts.strace = false,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ => bail!("bench_ladder 不接受参数 `{arg}`：用 --help 查看用法"),
        }
    }
    Ok(Some(opts))
}
