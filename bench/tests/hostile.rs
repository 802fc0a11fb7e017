//! echo_bench and bench_ladder against what a hostile tester throws at them: a server that accepts
//! and never answers, one that resets connections mid-run, one that changes the time stamp at the
//! start of an echo, a rate the load generator itself cannot keep, a data file that is JSON but not
//! bench_ladder's. Each must end within a bound, with the problem counted and said in one line, and
//! never a panic. Each test failed on the program before the fix it guards (see its comment).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// What the test's own server does with the bytes it receives.
#[derive(Clone, Copy)]
enum Server {
    /// Accepts every connection, reads everything, never answers.
    Silent,
    /// Echoes exactly.
    Exact,
    /// Echoes exactly, but once more than 2000 bytes came in on a connection, every chunk goes
    /// back with its first 16 bytes replaced by sixteen `f`s (a time stamp that is valid hex).
    BadStamp,
    /// Echoes exactly until 2000 bytes came in on a connection, then resets it (RST).
    Reset,
}

/// A server on 127.0.0.1:0 with a thread per connection; it serves until the test ends.
fn server(kind: Server) -> SocketAddr {
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

fn serve(mut stream: TcpStream, kind: Server) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = [0u8; 4096];
    let mut seen = 0usize;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        seen += n;
        match kind {
            Server::Silent => continue,
            Server::Exact => {}
            Server::BadStamp => {
                if seen > 2000 && n >= 16 {
                    buf[..16].fill(b'f');
                }
            }
            Server::Reset => {
                if seen > 2000 {
                    // SO_LINGER with a zero timeout: close() sends RST instead of FIN.
                    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                    return;
                }
            }
        }
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn echo_bench(addr: SocketAddr, args: &[&str]) -> (Finished, Duration) {
    let mut cmd = example("echo_bench");
    cmd.arg(addr.to_string()).arg("--quiet").args(args);
    let began = Instant::now();
    let done = run(cmd, b"");
    (done, began.elapsed())
}

/// Before the fix: each of the 100 connections waited its whole --timeout for a first echo that
/// never came, 4 at a time (25 rounds of 0.3 s: 7.5 s), and the message said only "超时".
#[test]
fn a_server_that_never_answers_is_given_up_on_quickly_and_said_so() {
    let addr = server(Server::Silent);
    let (done, took) = echo_bench(
        addr,
        &[
            "--connections",
            "100",
            "--connect-parallel",
            "4",
            "--timeout",
            "0.3",
            "--duration",
            "0.2",
        ],
    );
    assert_eq!(done.status.code(), Some(1), "{done:#?}");
    // 16 failures (the floor of the give-up rule; up to 3 more that were already under way when
    // the 16th failed), then no more attempts: about 4 rounds of 0.3 s.
    assert!(took < Duration::from_secs(4), "took {took:?}: {done:#?}");
    let counts: Vec<u64> = done
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("连接：0 个（连接请求失败 "))
        .and_then(|l| l.split_once(" 个，失败太多，另外 "))
        .and_then(|(failed, rest)| Some([failed, rest.split_once(" 个没有再尝试）")?.0]))
        .map(|n| n.iter().map(|n| n.parse().unwrap()).collect())
        .unwrap_or_else(|| panic!("no 连接 line with the give-up: {}", done.stdout));
    let (failed, skipped) = (counts[0], counts[1]);
    assert!((16..20).contains(&failed), "{}", done.stdout);
    assert_eq!(failed + skipped, 100, "{}", done.stdout);
    assert!(
        done.stderr
            .starts_with("错误：一个连接也没有建立起来（连上了 127.0.0.1:")
            && done.stderr.contains("没有收全第一条回显")
            && done.stderr.contains("它是回显服务器吗？")
            && done.stderr.lines().count() == 1,
        "{}",
        done.stderr
    );
}

/// Before the fix: the open loop took the time stamp from the echo itself, so an echo whose
/// stamp was changed to other valid hex passed as verified (0 errors, p50 0 µs).
#[test]
fn an_echo_with_a_changed_time_stamp_is_an_error_in_the_open_loop() {
    let addr = server(Server::BadStamp);
    let (done, took) = echo_bench(
        addr,
        &[
            "--connections",
            "2",
            "--rate",
            "1000",
            "--duration",
            "0.5",
            "--warmup",
            "0",
        ],
    );
    assert_eq!(done.status.code(), Some(2), "{done:#?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        done.stdout.contains("错误：2 个连接出错\n")
            && done
                .stdout
                .contains("的回显开头不是它发出的时刻：收到 \"ffffffffffffffff\""),
        "{}",
        done.stdout
    );
}

/// Before the fix: echo_bench sent every planned message however late, so a rate it could not
/// keep made a 0.3 s run last many seconds, and the error blamed the server ("回显没有收全").
#[test]
fn a_rate_the_load_generator_cannot_keep_stops_it_and_it_says_so() {
    let addr = server(Server::Exact);
    let (done, took) = echo_bench(
        addr,
        &[
            "--connections",
            "20",
            "--rate",
            "1000000",
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--timeout",
            "0.2",
        ],
    );
    assert_eq!(done.status.code(), Some(2), "{done:#?}");
    assert!(took < Duration::from_secs(5), "took {took:?}: {done:#?}");
    assert!(
        done.stdout.contains("负载生成器跟不上计划：第 ")
            && done.stdout.contains("（--rate 太高，或者机器太忙）"),
        "{}",
        done.stdout
    );
}

/// A reset in the middle of a run: counted per connection, named as a reset, the echoes before it
/// kept (before the fix the open loop threw away the count of a connection that failed).
#[test]
fn a_reset_mid_run_is_counted_and_named_and_the_echoes_before_it_are_kept() {
    let addr = server(Server::Reset);
    for mode in [&[][..], &["--rate", "1000"][..]] {
        let mut args = vec!["--connections", "3", "--duration", "0.5", "--warmup", "0"];
        args.extend_from_slice(mode);
        let (done, took) = echo_bench(addr, &args);
        assert_eq!(done.status.code(), Some(2), "{done:#?}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(
            done.stdout.contains("错误：3 个连接出错\n")
                && done.stdout.contains("服务器复位了连接（RST）"),
            "{}",
            done.stdout
        );
        // 2000 bytes are 31 messages of 64 bytes: each connection had about 30 echoes first.
        let echoes: u64 = done
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("回显："))
            .and_then(|l| l.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("an 回显 line");
        assert!(echoes >= 3 * 25, "{}", done.stdout);
    }
}

/// Before the fix: `--report` on a JSON file that bench_ladder did not write printed empty tables
/// with `?` and `null` in them, and exit status 0.
#[test]
fn bench_ladder_refuses_a_json_file_it_did_not_write() {
    let dir = tempdir();
    let file = dir.path().join("other.json");
    std::fs::write(&file, "{\"cells\": 3}\n").unwrap();
    for flag in ["--report", "--targets"] {
        let mut cmd = example("bench_ladder");
        cmd.arg(flag).arg(&file);
        run(cmd, b"").assert_clean_failure(
            "不是 bench_ladder 写的结果文件：没有 schema 1、machine 和 cells",
        );
    }
}
