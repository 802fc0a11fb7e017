//! The exercises of the chapter 性能：量出来，而不是猜出来: each solution checked for exactly what
//! its exercise asks, and the observation transcripts (book/transcripts/exercises/performance/)
//! made by running the programs. After a deliberate change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p bench --test exercises
//!
//! Needs python3 and strace for the observation (where one is missing, that part is skipped,
//! loudly).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::thread;

use common::transcript::{check, shell};
use common::*;
use serde_json::Value;

/// Exercise 2: Little's law on the committed run. Every closed-loop cell that measured echoes is
/// one row, and the measured mean latency is the predicted one (connections / msg/s) within 2 %.
/// A solution that forgot the unit (seconds, not µs) or divided the wrong way round fails here.
#[test]
fn ex_performance_little_finds_littles_law_in_every_closed_loop_cell() {
    let data: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("bench/results/ladder.json")).unwrap(),
    )
    .unwrap();
    let closed = data["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["mode"] == "closed" && c["bench"]["latency_us"]["mean"].is_f64())
        .count();
    let mut cmd = example("ex_performance_little");
    cmd.current_dir(root());
    let done = run(cmd, b"");
    done.assert_success();
    let rows: Vec<&str> = done.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), closed, "{}", done.stdout);
    for row in rows {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let predicted: f64 = fields[4].parse().unwrap();
        let measured: f64 = fields[6].parse().unwrap();
        let ratio: f64 = fields[8].parse().unwrap();
        assert!((0.98..=1.02).contains(&ratio), "{row}");
        // Both are printed to 0.1 µs: at 15 µs that rounding alone is 0.7 %.
        assert!((measured / predicted - ratio).abs() < 0.01, "{row}");
    }
    // The program reads the file it is given, and says so in one line when it cannot.
    let mut missing = example("ex_performance_little");
    missing.arg(root().join("bench/results/no-such-run.json"));
    run(missing, b"").assert_clean_failure("无法读取");
}

/// What the test's own server does with what it receives.
#[derive(Clone, Copy, PartialEq)]
enum Echo {
    Exact,
    /// The 500th byte of each connection comes back changed.
    Corrupt,
    /// Each connection is closed after 300 bytes.
    CloseEarly,
}

/// A server on 127.0.0.1:0 with a thread per connection; it serves until the test ends.
fn echo_server(kind: Echo) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server");
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let mut buf = [0u8; 4096];
                let mut seen = 0usize;
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if kind == Echo::Corrupt && (seen..seen + n).contains(&500) {
                        buf[500 - seen] ^= 0x01;
                    }
                    if kind == Echo::CloseEarly && seen + n > 300 {
                        return;
                    }
                    seen += n;
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn mini_bench(addr: SocketAddr) -> Finished {
    let mut cmd = example("ex_performance_mini_bench");
    cmd.arg(addr.to_string())
        .args(["--connections", "4", "--duration", "0.3"]);
    run(cmd, b"")
}

/// Exercise 3: the smallest load generator measures, verifies every echo, and says which
/// connection went wrong. A version that only counted replies (no comparison) passes the first
/// part and fails the second; one that used a single `read` instead of `read_exact` fails the
/// first part against a server that splits its echo (the test server echoes what one read got).
#[test]
fn ex_performance_mini_bench_measures_verifies_and_reports_a_bad_echo() {
    let good = mini_bench(echo_server(Echo::Exact));
    good.assert_success();
    let lines: Vec<&str> = good.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", good.stdout);
    assert_eq!(lines[0], "连接：4 个，量了 0.3 s");
    let echoes: u64 = lines[1]
        .strip_prefix("回显：")
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", good.stdout));
    assert!(echoes >= 4, "{}", good.stdout);
    assert!(
        lines[2].starts_with("延迟：p50 ") && lines[2].contains(" µs，p99 "),
        "{}",
        good.stdout
    );
    assert_eq!(lines[3], "错误：0 个连接出错");

    let bad = mini_bench(echo_server(Echo::Corrupt));
    assert_eq!(bad.status.code(), Some(2), "{bad:#?}");
    assert!(
        bad.stdout.contains("错误：4 个连接出错\n"),
        "{}",
        bad.stdout
    );
    // Byte 500 is in the 8th message (64 bytes each: 448..512).
    assert!(
        bad.stdout.contains(" 第 7 条消息的回显和发出的不一样"),
        "{}",
        bad.stdout
    );

    let cut = mini_bench(echo_server(Echo::CloseEarly));
    assert_eq!(cut.status.code(), Some(2), "{cut:#?}");
    assert!(cut.stdout.contains("的回显没有收全"), "{}", cut.stdout);

    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    mini_bench(refused).assert_clean_failure("失败：服务器在运行吗？");
}

/// Exercise 1: how many `write` calls the note's server makes for its `print`s, buffered (stdout
/// to a file) and unbuffered (`python3 -u`). strace starts the server, so no permission to attach
/// is needed; echo_bench sends 1,000 messages on one connection, and the server ends when it
/// closes.
#[test]
fn exercise_transcripts_of_the_performance_chapter() {
    let made = if tool_available("strace") && python_plain().is_some() {
        vec![
            ("note_print_buffered", note_server_writes(false)),
            ("note_print_unbuffered", note_server_writes(true)),
        ]
    } else {
        vec![
            ("note_print_buffered", String::new()),
            ("note_print_unbuffered", String::new()),
        ]
    };
    check(
        "transcripts/exercises/performance",
        made,
        "exercises (-p bench)",
    );
}

fn note_server_writes(unbuffered: bool) -> String {
    let dir = tempdir();
    let summary = dir.path().join("note.txt");
    let mut server = Command::new("strace");
    server
        .args([
            "-f",
            "-c",
            "-U",
            "name,calls",
            "-e",
            "trace=recvfrom,sendto,write",
        ])
        .arg("-o")
        .arg(&summary)
        .arg(real_python3());
    if unbuffered {
        server.arg("-u");
    }
    server
        .arg(root().join("examples/python/tcp_echo_server.py"))
        .arg("127.0.0.1:0")
        .env_remove("PYTHONUNBUFFERED")
        .env("PYTHONIOENCODING", "utf-8");
    let (server, addr) = start_server(server);
    let mut bench = example("echo_bench");
    bench.args([
        &addr.to_string(),
        "--connections",
        "1",
        "--messages",
        "1000",
        "--quiet",
    ]);
    run(bench, b"").assert_success();
    // The server ends after its one client; strace writes the summary when it ends.
    server.finish().assert_success();
    let text = std::fs::read_to_string(&summary).expect("strace wrote its summary");
    // The counts do not depend on timing: 1,001 echoes (echo_bench's first message, then 1,000),
    // one more recv that reads the end of the stream.
    assert!(text.contains("\nrecvfrom              1002\n"), "{text}");
    assert!(text.contains("\nsendto                1001\n"), "{text}");
    let python = if unbuffered { "python3 -u" } else { "python3" };
    let out = if unbuffered {
        ""
    } else {
        " > /tmp/note-out.txt"
    };
    format!(
        "{}{}",
        shell(
            &format!(
                "strace -f -c -U name,calls -e trace=recvfrom,sendto,write -o /tmp/note.txt \
                 {python} examples/python/tcp_echo_server.py{out}"
            ),
            ""
        ),
        // strace orders the rows by time spent, which varies from run to run: the reader sorts
        // them by name, and so does the test.
        shell(
            "grep -E '^(recvfrom|sendto|write) ' /tmp/note.txt | sort",
            &sorted_rows(&text)
        )
    )
}

/// The interpreter itself: `python3` may be a shell script (pyenv's shim) whose own processes
/// would enter strace's count (`-f`).
fn real_python3() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// What `grep -E '^(recvfrom|sendto|write) ' FILE | sort` prints.
fn sorted_rows(summary: &str) -> String {
    let mut rows: Vec<&str> = summary
        .lines()
        .filter(|l| {
            ["recvfrom ", "sendto ", "write "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    rows.sort_unstable();
    assert_eq!(rows.len(), 3, "{summary}");
    rows.iter().map(|r| format!("{r}\n")).collect()
}
