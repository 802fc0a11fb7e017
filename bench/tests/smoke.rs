//! The benchmark programs in a tiny smoke mode, so that they cannot rot: `echo_bench` against an
//! echo server of the test's own (a few connections, a fraction of a second), and `bench_ladder
//! --smoke` over every server of the ladder. The figures are never checked against a speed: only
//! the output's shape, zero errors, and that every echo was verified. A server that corrupts or
//! drops an echo must make `echo_bench` say so: the verification can fail.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// What the test's own echo server does to the bytes it echoes.
#[derive(Clone, Copy)]
enum Echo {
    /// Every byte back, exactly.
    Exact,
    /// Byte number 500 of each connection (after the first echo) comes back changed.
    Corrupt,
    /// Each connection is closed after 300 bytes.
    CloseEarly,
}

/// An echo server on 127.0.0.1:0 with a thread per connection; it serves until the test ends.
fn echo_server(kind: Echo) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server");
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            thread::spawn(move || serve(stream, kind));
        }
    });
    addr
}

fn serve(mut stream: TcpStream, kind: Echo) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = [0u8; 4096];
    let mut seen = 0usize;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match kind {
            Echo::Exact => {}
            Echo::Corrupt => {
                if (seen..seen + n).contains(&500) {
                    buf[500 - seen] ^= 0x01;
                }
            }
            Echo::CloseEarly => {
                if seen + n > 300 {
                    return;
                }
            }
        }
        seen += n;
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn echo_bench(addr: SocketAddr, args: &[&str]) -> Finished {
    let mut cmd = example("echo_bench");
    cmd.arg(addr.to_string()).args(args);
    run(cmd, b"")
}

/// The lines every result has, in this order (the value after the colon varies).
const LABELS: [&str; 8] = [
    "服务器：",
    "连接：",
    "方式：",
    "测量：",
    "回显：",
    "吞吐：",
    "延迟：",
    "错误：",
];

#[test]
fn echo_bench_closed_loop_reports_every_figure_and_verifies_every_echo() {
    let addr = echo_server(Echo::Exact);
    let done = echo_bench(
        addr,
        &["--connections", "4", "--duration", "0.3", "--warmup", "0.1"],
    );
    done.assert_success();
    let lines: Vec<&str> = done.stdout.lines().collect();
    let labels: Vec<&str> = lines
        .iter()
        .map(|l| l.split_inclusive('：').next().unwrap())
        .collect();
    assert_eq!(labels, LABELS, "{}", done.stdout);
    assert_eq!(lines[0], format!("服务器：{addr}"));
    assert!(
        lines[1].starts_with("连接：4 个（连接请求失败 0 个），建立用时 "),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "方式：闭环，每个连接发一条、等到完整的回显再发下一条；每条 64 字节"
    );
    assert_eq!(lines[3], "测量：0.3 s（之前预热 0.1 s，不计入）");
    let echoes: u64 = lines[4]
        .strip_prefix("回显：")
        .and_then(|l| l.strip_suffix(" 条，每条都逐字节核对过"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", lines[4]));
    assert!(echoes > 0, "no echo measured: {}", done.stdout);
    assert!(lines[5].contains(" msg/s，") && lines[5].ends_with(" MiB/s（每个方向）"));
    for part in ["p50 ", "p99 ", "p99.9 ", "最大 "] {
        assert!(lines[6].contains(part), "{}", lines[6]);
    }
    assert_eq!(lines[7], "错误：0 个连接出错");
    // Progress goes to stderr, a line a second: this run is shorter than a second.
    assert_eq!(done.stderr, "");
}

#[test]
fn echo_bench_open_loop_sends_on_schedule_and_counts_late_sends() {
    let addr = echo_server(Echo::Exact);
    let done = echo_bench(
        addr,
        &[
            "--connections",
            "3",
            "--rate",
            "100",
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--quiet",
        ],
    );
    done.assert_success();
    let text = &done.stdout;
    assert!(
        text.contains("方式：开环，每个连接每秒发 100 条、不等回显；每条 64 字节\n"),
        "{text}"
    );
    // 3 connections × 100 a second × 0.3 s: 90 messages planned in the window, all echoed.
    assert!(text.contains("回显：90 条，每条都逐字节核对过\n"), "{text}");
    assert!(text.contains("吞吐：300 msg/s，"), "{text}");
    assert!(text.contains("\n发晚了："), "{text}");
    assert!(text.ends_with("错误：0 个连接出错\n"), "{text}");
}

#[test]
fn echo_bench_json_gives_the_phases_then_the_result() {
    let addr = echo_server(Echo::Exact);
    let done = echo_bench(
        addr,
        &[
            "--connections",
            "2",
            "--messages",
            "25",
            "--json",
            "--quiet",
        ],
    );
    done.assert_success();
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", done.stdout);
    assert_eq!(lines[0], r#"{"phase":"measuring"}"#);
    assert_eq!(lines[1], r#"{"phase":"draining"}"#);
    let value: serde_json::Value = serde_json::from_str(lines[2]).expect("a JSON result");
    let result = &value["result"];
    assert_eq!(result["messages"], 50);
    assert_eq!(result["connected"], 2);
    assert_eq!(result["errors"], 0);
    assert_eq!(result["failed_connects"], 0);
    assert_eq!(result["verified"], true);
    assert_eq!(result["mode"], "closed");
    for q in ["p50", "p90", "p99", "p99_9", "max", "mean"] {
        assert!(
            result["latency_us"][q].as_f64().is_some_and(|us| us > 0.0),
            "{q}: {value}"
        );
    }
    assert!(
        value["text"]
            .as_str()
            .unwrap()
            .contains("方式：闭环，每个连接发 25 条")
    );
}

#[test]
fn a_corrupted_echo_is_caught_and_the_exit_status_says_so() {
    let addr = echo_server(Echo::Corrupt);
    let done = echo_bench(
        addr,
        &["--connections", "2", "--duration", "0.3", "--warmup", "0"],
    );
    // Status 2: measured, with errors.
    assert_eq!(done.status.code(), Some(2), "{done:#?}");
    assert!(
        done.stdout.contains("错误：2 个连接出错\n"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("的回显在第 ") && done.stdout.contains("个字节上不同"),
        "{}",
        done.stdout
    );
}

#[test]
fn an_echo_cut_short_is_an_error_too() {
    let addr = echo_server(Echo::CloseEarly);
    let done = echo_bench(
        addr,
        &["--connections", "3", "--duration", "0.3", "--warmup", "0"],
    );
    assert_eq!(done.status.code(), Some(2), "{done:#?}");
    assert!(
        done.stdout.contains("错误：3 个连接出错\n"),
        "{}",
        done.stdout
    );
    assert!(
        done.stdout.contains("服务器就关闭了连接"),
        "{}",
        done.stdout
    );
}

#[test]
fn no_server_is_one_clear_line_and_a_failure() {
    // A port that nothing listens on: bind one, note it, close it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let done = echo_bench(addr, &["--connections", "2", "--duration", "0.1"]);
    assert_eq!(done.status.code(), Some(1), "{done:#?}");
    assert!(
        done.stderr
            .starts_with("错误：一个连接也没有建立起来（连接 127.0.0.1:"),
        "{}",
        done.stderr
    );
    assert!(done.stdout.contains("连接：0 个（连接请求失败 2 个）"));
}

#[test]
fn bad_options_are_refused_and_help_is_printed() {
    let addr = echo_server(Echo::Exact);
    for (args, needle) in [
        (
            &["--connections", "0"][..],
            "--connections 要写 1 到 60000 之间的整数",
        ),
        (&["--size", "8"][..], "--size 要写 16 到 65536 之间的整数"),
        (
            &["--rate", "1", "--messages", "3"][..],
            "--messages 只用于闭环",
        ),
        (&["--bogus"][..], "不认识的选项 --bogus"),
    ] {
        echo_bench(addr, args).assert_clean_failure(needle);
    }
    let help = echo_bench(addr, &["--help"]);
    help.assert_success();
    assert!(help.stdout.starts_with("用法：echo_bench [地址] [选项]\n"));
}

/// `bench_ladder --smoke`: every server of the ladder, Rust and Python, a few connections for a
/// fraction of a second each, closed-loop and open-loop, and strace's count on one connection.
/// It writes its data file where it is told, never over the committed one.
#[test]
fn bench_ladder_smoke_runs_every_server_and_every_echo_is_verified() {
    if !tool_available("python3") {
        return;
    }
    let committed = root().join("bench/results/ladder.json");
    let before = std::fs::read(&committed).ok();
    let dir = tempdir();
    let out = dir.path().join("smoke.json");
    let mut cmd = example("bench_ladder");
    cmd.arg("--smoke").arg("--out").arg(&out);
    // It builds the servers it runs (a no-op when `cargo test` has built them already).
    cmd.env(
        "CARGO",
        std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
    );
    let done = run_long(cmd);
    done.assert_success();
    assert_eq!(
        std::fs::read(&committed).ok(),
        before,
        "the smoke run changed the committed data file"
    );

    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the smoke data file"))
            .expect("JSON");
    assert_eq!(data["scale"], "smoke");
    for key in ["cpu", "cores", "kernel", "rustc", "python", "date"] {
        assert!(!data["machine"][key].is_null(), "machine.{key} missing");
    }
    let names: Vec<&str> = data["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 11, "{names:?}");
    let cells = data["cells"].as_array().unwrap();
    for name in &names {
        let mine: Vec<_> = cells.iter().filter(|c| c["server"] == *name).collect();
        assert!(
            mine.iter().any(|c| c["mode"] == "closed") && mine.iter().any(|c| c["mode"] == "open"),
            "{name}: a closed-loop and an open-loop cell"
        );
        for c in mine {
            assert!(c.get("failed").is_none(), "{name}: {c}");
            let b = &c["bench"];
            assert_eq!(b["errors"], 0, "{name}: {c}");
            assert_eq!(b["failed_connects"], 0, "{name}: {c}");
            assert_eq!(b["verified"], true);
            assert!(b["messages"].as_u64().unwrap() > 0, "{name}: {c}");
            let s = &c["server_stats"];
            assert!(s["idle_rss_kib"].as_u64().unwrap() > 0, "{name}: {c}");
            assert!(s["hwm_kib"].as_u64().unwrap() > 0, "{name}: {c}");
            assert!(s["threads"].as_u64().unwrap() >= 1, "{name}: {c}");
            // One line per connection opened and one per connection closed, nothing per
            // message (the note's server prints every message: it is the exception).
            if *name != "tcp_echo_server.py" {
                let connections = c["connections"].as_u64().unwrap();
                assert!(
                    s["stdout_lines"].as_u64().unwrap() <= 2 * connections + 2,
                    "{name}: {c}"
                );
            }
        }
    }
    // Tables on stdout, a line per cell on stderr.
    for heading in ["闭环：", "开环：", "资源（闭环）："] {
        assert!(done.stdout.contains(heading), "{}", done.stdout);
    }
    assert_eq!(
        done.stderr.matches("个连接 闭环：").count() + done.stderr.matches("个连接 开环：").count(),
        cells.len(),
        "{}",
        done.stderr
    );
    if tool_available("strace") {
        let syscalls = data["syscalls"].as_array().unwrap();
        assert_eq!(syscalls.len(), names.len(), "{syscalls:?}");
        for s in syscalls {
            // At least one receive and one send per echo, whatever the server.
            let per_echo = s["per_echo"].as_f64().unwrap();
            assert!(per_echo >= 2.0, "{s}");
            assert_eq!(s["bench_errors"], 0, "{s}");
            assert!(s["raw"].as_str().unwrap().contains("% time"), "{s}");
        }
        assert!(done.stdout.contains("系统调用（strace -c -f）"));
    }
}

#[test]
fn bench_ladder_refuses_unknown_servers_and_options() {
    let mut cmd = example("bench_ladder");
    cmd.args(["--only", "echo_nothing"]);
    run(cmd, b"").assert_clean_failure("不认识的服务器 `echo_nothing`");
    let mut cmd = example("bench_ladder");
    cmd.arg("--fast");
    run(cmd, b"").assert_clean_failure("不认识的选项 --fast");
    let mut cmd = example("bench_ladder");
    cmd.arg("--help");
    let help = run(cmd, b"");
    help.assert_success();
    assert!(help.stdout.starts_with("用法：bench_ladder "));
}

/// Like `run`, with a longer deadline (the smoke run may have to compile the ladder first); the
/// process is killed if it does not end within 10 minutes.
fn run_long(mut cmd: Command) -> Finished {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bench_ladder");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bench_ladder") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bench_ladder --smoke did not end within 10 minutes");
        }
        thread::sleep(Duration::from_millis(50));
    };
    Finished {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
