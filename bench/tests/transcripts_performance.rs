//! The terminal transcripts of the chapter 性能：量出来，而不是猜出来 (book/transcripts/performance/).
//!
//! The figures of a benchmark differ from run to run, so the transcripts that show them are made
//! from the committed data file, bench/results/ladder.json, which one real run of
//! `cargo run --release --example bench_ladder` wrote (the chapter names the machine and the run):
//! echo_bench's own output for a cell of the matrix (kept in the data file as `text`), the table
//! that `bench_ladder --report` prints from it, and the summaries that `strace -c -f` wrote. The
//! rest (`--help`) is made by running the programs. After a deliberate change, regenerate with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p bench --test transcripts_performance
//!
//! and read the diff. Normalized: the server's port is shown as 3214.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::transcript::{check, normalize, shell};
use common::*;
use serde_json::Value;

type Made = Vec<(&'static str, String)>;

#[test]
fn transcripts_of_the_performance_chapter_match_the_data_and_the_programs() {
    let data = data();
    let made: Made = vec![
        ("echo_bench_help", help()),
        ("report", report()),
        ("runs", runs()),
        (
            "tokio_100",
            bench_output(&data, "echo_tokio", 100, "closed"),
        ),
        (
            "asyncio_100",
            bench_output(&data, "echo_asyncio.py", 100, "closed"),
        ),
        (
            "tokio_10k",
            bench_output(&data, "echo_tokio", 10_000, "open"),
        ),
        ("mio_10k", bench_output(&data, "echo_mio", 10_000, "open")),
        ("strace_threads", strace(&data, "echo_threads", 1)),
        ("strace_mio", strace(&data, "echo_mio", 1)),
        ("strace_mio_100", strace(&data, "echo_mio", 100)),
        ("strace_asyncio", strace(&data, "echo_asyncio.py", 1)),
    ];
    check("transcripts/performance", made, "transcripts_performance");
}

/// The committed data file: what one full run of bench_ladder wrote.
fn data() -> Value {
    let path = root().join("bench/results/ladder.json");
    let text = std::fs::read_to_string(&path).expect("bench/results/ladder.json is committed");
    serde_json::from_str(&text).expect("the data file is JSON")
}

fn help() -> String {
    let mut cmd = example("echo_bench");
    cmd.arg("--help");
    let done = run(cmd, b"");
    done.assert_success();
    shell(
        "cargo run --release --example echo_bench -- --help",
        &done.stdout,
    )
}

/// `bench_ladder --report` on the committed data file: the tables of the chapter.
fn report() -> String {
    let mut cmd = example("bench_ladder");
    cmd.current_dir(root())
        .args(["--report", "bench/results/ladder.json"]);
    let done = run(cmd, b"");
    done.assert_success();
    assert_eq!(done.stderr, "");
    for heading in [
        "机器：",
        "\n闭环：",
        "\n开环：",
        "\n资源（闭环）：",
        "\n目标\n",
    ] {
        assert!(done.stdout.contains(heading), "{heading}: {}", done.stdout);
    }
    shell(
        "cargo run --release --example bench_ladder -- --report bench/results/ladder.json",
        &done.stdout,
    )
}

/// `bench_ladder --targets` over the committed runs: how much the targets moved between them.
fn runs() -> String {
    let mut files: Vec<String> = std::fs::read_dir(root().join("bench/results/earlier"))
        .expect("bench/results/earlier holds the other runs")
        .map(|e| {
            format!(
                "bench/results/earlier/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    files.push("bench/results/ladder.json".to_string());
    let mut cmd = example("bench_ladder");
    cmd.current_dir(root()).arg("--targets").args(&files);
    let done = run(cmd, b"");
    done.assert_success();
    assert_eq!(
        done.stdout.matches("\n  达到  ").count() + done.stdout.matches("\n  没达到").count(),
        5 * files.len(),
        "{}",
        done.stdout
    );
    shell(
        &format!(
            "cargo run --release --example bench_ladder -- --targets {}",
            files.join(" ")
        ),
        &done.stdout,
    )
}

/// One cell of the matrix (not a placement experiment).
fn cell<'a>(data: &'a Value, server: &str, connections: u64, mode: &str) -> &'a Value {
    data["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["server"] == server
                && c["connections"] == connections
                && c["mode"] == mode
                && c.get("experiment").is_none()
        })
        .unwrap_or_else(|| panic!("no cell {server} {connections} {mode} in the data file"))
}

/// What echo_bench printed for one cell, as the command the reader types (server on port 3214).
fn bench_output(data: &Value, server: &str, connections: u64, mode: &str) -> String {
    let c = cell(data, server, connections, mode);
    let text = c["text"].as_str().expect("the cell has echo_bench's text");
    // The labels of echo_bench's output, in its order: the stored text is what it prints now.
    let labels: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("  "))
        .map(|l| l.split_inclusive('：').next().unwrap())
        .collect();
    let mut wanted = vec![
        "服务器：",
        "连接：",
        "方式：",
        "测量：",
        "回显：",
        "吞吐：",
        "延迟：",
    ];
    if mode == "open" {
        wanted.push("发晚了：");
    }
    wanted.push("错误：");
    assert_eq!(labels, wanted, "{text}");
    let port: u16 = text
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("the first line names the server");
    let args: Vec<&str> = c["bench_args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    shell(
        &format!(
            "cargo run --release --example echo_bench -- 127.0.0.1:3214 {}",
            args.join(" ")
        ),
        &normalize(text, port),
    )
}

/// The summary that `strace -c -f -o FILE -p PID` wrote for one server, one configuration.
fn strace(data: &Value, server: &str, connections: u64) -> String {
    let s = data["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server"] == server && s["connections"] == connections)
        .unwrap_or_else(|| panic!("no strace count for {server} {connections}"));
    let raw = s["raw"].as_str().unwrap();
    assert!(raw.contains("% time") && raw.contains(" total"), "{raw}");
    let file = if connections == 1 {
        format!("/tmp/{server}.txt")
    } else {
        format!("/tmp/{server}-{connections}.txt")
    };
    shell(&format!("cat {file}"), raw)
}
