//! The tokio rung: `echo_tokio` (a tokio task per client) and its Python counterpart
//! `echo_asyncio.py` (asyncio streams), run as processes on loopback, and the two pitfall demos.
//!
//! `cargo test` does not rebuild examples for `--test tokio` alone: run `cargo build --examples`
//! first.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::*;

/// The two servers of this chapter.
#[derive(Clone, Copy, Debug)]
enum Server {
    Rust,
    Python,
}

const SERVERS: [Server; 2] = [Server::Rust, Server::Python];

/// The command that runs `server` (without its address); None where there is no python3.
fn command(server: Server) -> Option<Command> {
    match server {
        Server::Rust => Some(example("echo_tokio")),
        Server::Python => python_ladder("echo_asyncio.py"),
    }
}

/// Starts `server` on 127.0.0.1:0 with `args`; None where there is no python3.
fn start(server: Server, args: &[&str]) -> Option<(Proc, SocketAddr)> {
    let mut cmd = command(server)?;
    cmd.arg("127.0.0.1:0").args(args);
    Some(start_server(cmd))
}

/// Reads the server's stdout until it has printed `line` (failing if it does not within STEP).
fn wait_for_line(server: &mut Proc, line: &str) {
    while server.next_line() != line {}
}

/// Reads the server's stdout until `n` more lines that start with `prefix` have come.
fn wait_for_lines(server: &mut Proc, prefix: &str, n: usize) {
    let mut seen = 0;
    while seen < n {
        if server.next_line().starts_with(prefix) {
            seen += 1;
        }
    }
}

/// Ends a connection cleanly: half-close, then the server's EOF must follow with no more bytes.
fn close_cleanly(mut stream: TcpStream) {
    stream.shutdown(Shutdown::Write).expect("half-close");
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the server closes after our EOF");
    assert!(rest.is_empty(), "bytes after the last echo: {rest:?}");
}

#[test]
fn fifty_concurrent_clients_each_get_exact_echoes() {
    const CLIENTS: usize = 50;
    for server in SERVERS {
        let Some((mut proc, addr)) = start(server, &[]) else {
            continue;
        };
        // All 50 connect first, then all talk at once. (Nothing before the barrier can fail, so
        // no thread waits there for one that never comes.)
        let streams: Vec<TcpStream> = (0..CLIENTS).map(|_| tcp_connect(addr)).collect();
        let barrier = Arc::new(Barrier::new(CLIENTS));
        let clients: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, mut stream)| {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    let messages: [Vec<u8>; 5] = [
                        format!("客户端 {i} 的第一条消息\n").into_bytes(),
                        vec![0xff, 0xfe, 0x00, b'\n', 0xe4, 0xbd], // not UTF-8, a cut 你
                        vec![b'a' + (i % 26) as u8; 64 * 1024],    // many reads and writes
                        b"x".to_vec(),
                        format!("客户端 {i} 再见\n").into_bytes(),
                    ];
                    for message in &messages {
                        let echo = tcp_roundtrip(&mut stream, message);
                        assert!(&echo == message, "client {i}: the echo differs");
                    }
                    close_cleanly(stream);
                })
            })
            .collect();
        for client in clients {
            if client.join().is_err() {
                proc.fail(&format!("{server:?}: a client failed"));
            }
        }
        wait_for_lines(&mut proc, "连接关闭：", CLIENTS);
        let out = proc.stop();
        assert_eq!(out.stderr, "", "{server:?}: {out:#?}");
        let opened = out.stdout.matches("Client Address: ").count();
        assert_eq!(
            opened, CLIENTS,
            "{server:?}: one line per connection: {out:#?}"
        );
    }
}

#[test]
fn a_thousand_concurrent_connections_each_get_their_echo() {
    const CLIENTS: usize = 1000;
    // This test holds 1,000 sockets itself (the servers raise their own limit).
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("raise the test's fd limit");
    assert!(
        limit >= 1200,
        "this test needs about 1,100 open files and the hard limit is {limit} (ulimit -Hn)"
    );
    for server in SERVERS {
        let Some(mut cmd) = command(server) else {
            continue;
        };
        // Two worker threads, so that the thread count is known.
        cmd.arg("127.0.0.1:0").env("TOKIO_WORKER_THREADS", "2");
        let (mut proc, addr) = start_server(cmd);
        let threads_before = thread_count(proc.pid());

        let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| tcp_connect(addr)).collect();
        // Every connection is open; now each sends its own message and reads it back.
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .write_all(format!("连接 {i}\n").as_bytes())
                .expect("send");
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let want = format!("连接 {i}\n").into_bytes();
            let mut echo = vec![0u8; want.len()];
            client.read_exact(&mut echo).expect("read the echo");
            assert_eq!(echo, want, "{server:?}: connection {i}");
        }
        wait_for_lines(&mut proc, "Client Address: ", CLIENTS);
        if let Server::Rust = server {
            // A task is not a thread: 1,000 clients, still the main thread and two workers.
            let threads = thread_count(proc.pid());
            assert_eq!(threads, 3, "echo_tokio's threads with {CLIENTS} clients");
            assert_eq!(threads, threads_before, "threads before any client");
        } else {
            assert_eq!(thread_count(proc.pid()), 1, "asyncio runs on one thread");
        }
        drop(clients);
        wait_for_lines(&mut proc, "连接关闭：", CLIENTS);
        let out = proc.stop();
        assert_eq!(out.stderr, "", "{server:?}: {out:#?}");
    }
}

/// How many threads the process `pid` has now.
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("read /proc/PID/task")
        .count()
}

#[test]
fn a_silent_client_and_one_that_never_reads_do_not_delay_another() {
    for server in SERVERS {
        let Some((proc, addr)) = start(server, &[]) else {
            continue;
        };
        // One client says nothing; another sends and never reads its echoes, so the server's
        // writes to it block (its task waits in write_all, or drain).
        let mut silent = tcp_connect(addr);
        let flooder = tcp_connect(addr);
        flooder.set_nonblocking(true).unwrap();
        let chunk = vec![b'f'; 64 * 1024];
        let mut sent = 0usize;
        let mut flooder_ref = &flooder;
        loop {
            match flooder_ref.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{server:?}: flood: {e}"),
            }
            assert!(sent < 256 << 20, "{server:?}: the buffers never filled up");
        }
        // The buffers are full both ways: the server is stuck writing to the flooder.
        let mut other = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut other, b"hello\n"), b"hello\n");
        assert_eq!(
            tcp_roundtrip(&mut silent, "你好".as_bytes()),
            "你好".as_bytes()
        );
        close_cleanly(other);
        close_cleanly(silent);
        drop(flooder);
        let out = proc.stop();
        assert!(
            out.stdout.matches("Client Address: ").count() == 3,
            "{server:?}: {out:#?}"
        );
    }
}

#[test]
fn a_reset_mid_echo_closes_only_that_connection_with_one_line() {
    for server in SERVERS {
        let Some((mut proc, addr)) = start(server, &[]) else {
            continue;
        };
        let victim = tcp_connect(addr);
        let victim_addr = victim.local_addr().unwrap();
        // Send until the buffers are full both ways: the server is in the middle of echoing.
        victim.set_nonblocking(true).unwrap();
        let chunk = vec![b'r'; 64 * 1024];
        let mut sent = 0usize;
        loop {
            match (&victim).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{server:?}: send: {e}"),
            }
            assert!(sent < 256 << 20, "{server:?}: the buffers never filled up");
        }
        // Close with SO_LINGER 0: the kernel sends a reset (RST) instead of a FIN.
        socket2::SockRef::from(&victim)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(victim);
        wait_for_line(&mut proc, &format!("连接关闭：{victim_addr}"));
        // The server goes on serving.
        let mut next = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut next, b"still there?"), b"still there?");
        close_cleanly(next);
        wait_for_lines(&mut proc, "连接关闭：", 1);
        let out = proc.stop();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{server:?}: one line on stderr: {out:#?}");
        assert!(
            lines[0].starts_with(&format!("断开 {victim_addr}：")),
            "{server:?}: {out:#?}"
        );
        assert!(!out.stderr.contains("panicked") && !out.stderr.contains("Traceback"));
    }
}

#[test]
fn each_connection_is_logged_once_when_opened_and_once_when_closed() {
    for server in SERVERS {
        let Some((mut proc, addr)) = start(server, &[]) else {
            continue;
        };
        let mut client = tcp_connect(addr);
        let me = client.local_addr().unwrap();
        for i in 0..20 {
            let message = format!("第 {i} 条\n");
            assert_eq!(
                tcp_roundtrip(&mut client, message.as_bytes()),
                message.as_bytes()
            );
        }
        close_cleanly(client);
        wait_for_line(&mut proc, &format!("连接关闭：{me}"));
        let out = proc.stop();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines,
            [
                addr.to_string(),
                format!("Client Address: {me}"),
                format!("连接关闭：{me}")
            ],
            "{server:?}: {out:#?}"
        );
        assert_eq!(out.stderr, "", "{server:?}");
    }
}

#[test]
fn beyond_max_clients_a_connection_is_refused_with_one_line_and_served_once_a_slot_frees() {
    for server in SERVERS {
        let Some((mut proc, addr)) = start(server, &["--max-clients", "2"]) else {
            continue;
        };
        let mut first = tcp_connect(addr);
        let mut second = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut first, b"1"), b"1");
        assert_eq!(tcp_roundtrip(&mut second, b"2"), b"2");
        let first_addr = first.local_addr().unwrap();

        // The third is accepted and closed at once: EOF (or a reset), never an echo, never a hang.
        let mut third = tcp_connect(addr);
        let third_addr = third.local_addr().unwrap();
        let mut buf = [0u8; 16];
        match third.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("{server:?}: the third client got {other:?}"),
        }

        // When the first leaves, its slot is free for the next one.
        close_cleanly(first);
        wait_for_line(&mut proc, &format!("连接关闭：{first_addr}"));
        let mut fourth = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut fourth, b"4"), b"4");
        close_cleanly(fourth);
        close_cleanly(second);
        wait_for_lines(&mut proc, "连接关闭：", 2);
        let out = proc.stop();
        assert_eq!(
            out.stdout.matches("Client Address: ").count(),
            3,
            "{server:?}: the refused one is not logged as served: {out:#?}"
        );
        assert_eq!(
            out.stderr,
            format!("拒绝 {third_addr}：已经有 2 个连接（--max-clients）\n"),
            "{server:?}"
        );
    }
}

/// `cmd` with its open-file limit set to `soft` (and `hard`, if given) before it starts, as a
/// shell's `ulimit -n` would.
fn with_fd_limit(mut cmd: Command, soft: u64, hard: Option<u64>) -> Command {
    let (_, current_hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let hard = hard.unwrap_or(current_hard);
    // SAFETY: setrlimit is a plain system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard));
    }
    cmd
}

/// The soft and hard open-file limits of the process `pid`, from /proc/PID/limits.
fn fd_limits(pid: u32) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

#[test]
fn the_server_raises_its_soft_fd_limit_to_the_hard_one() {
    for server in SERVERS {
        let Some(cmd) = command(server) else {
            continue;
        };
        let mut cmd = with_fd_limit(cmd, 256, None);
        cmd.arg("127.0.0.1:0");
        let (mut proc, addr) = start_server(cmd);
        let (soft, hard) = fd_limits(proc.pid());
        assert_eq!(soft, hard, "{server:?}: the soft limit was 256");
        let mut client = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut client, b"ok"), b"ok");
        close_cleanly(client);
        wait_for_lines(&mut proc, "连接关闭：", 1);
        let out = proc.stop();
        assert_eq!(out.stderr, "", "{server:?}: the hard limit is high enough");
    }
}

#[test]
fn a_hard_fd_limit_too_low_for_max_clients_is_said_in_one_line_and_the_server_still_serves() {
    for server in SERVERS {
        let Some(cmd) = command(server) else {
            continue;
        };
        let mut cmd = with_fd_limit(cmd, 100, Some(200));
        cmd.arg("127.0.0.1:0");
        let (mut proc, addr) = start_server(cmd);
        let mut client = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut client, b"ok"), b"ok");
        close_cleanly(client);
        wait_for_lines(&mut proc, "连接关闭：", 1);
        let out = proc.stop();
        assert_eq!(
            out.stderr,
            "注意：打开文件数的上限是 200（ulimit -Hn），服务 10000 个客户端需要 10016；\
             最多只能同时服务 184 个\n",
            "{server:?}"
        );
    }
}

#[test]
fn a_flood_beyond_a_low_fd_limit_is_refused_one_line_each_and_the_server_recovers() {
    const FLOOD: usize = 100;
    // 64 open files, 16 of them kept spare: 48 clients at most.
    const SERVED: usize = 48;
    for server in SERVERS {
        let Some(cmd) = command(server) else {
            continue;
        };
        let mut cmd = with_fd_limit(cmd, 64, Some(64));
        cmd.arg("127.0.0.1:0");
        let (mut proc, addr) = start_server(cmd);
        let mut flood: Vec<TcpStream> = (0..FLOOD).map(|_| tcp_connect(addr)).collect();
        let mut served = 0;
        for client in &mut flood {
            // A refused client reads EOF or a reset; a served one its echo; never a hang.
            let _ = client.write_all(b"x");
            let mut buf = [0u8; 1];
            match client.read(&mut buf) {
                Ok(1) => served += 1,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                Err(e) => proc.fail(&format!("{server:?}: a flooding client got {e}")),
            }
        }
        assert_eq!(served, SERVED, "{server:?}");
        drop(flood);
        wait_for_lines(&mut proc, "连接关闭：", SERVED);
        let mut next = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut next, b"ok"), b"ok");
        close_cleanly(next);
        wait_for_lines(&mut proc, "连接关闭：", 1);
        let out = proc.stop();
        let refused = out.stderr.matches("拒绝 ").count();
        assert_eq!(refused, FLOOD - SERVED, "{server:?}: {out:#?}");
        for line in out.stderr.lines() {
            assert!(
                line.starts_with("注意：打开文件数的上限是 64")
                    || line.starts_with("拒绝 ")
                    || line.starts_with("接受连接失败："),
                "{server:?}: one line per event, no traceback: {line:?}\n{}",
                out.stderr
            );
        }
        // Failed accepts are said at most once per pause, not once per connection.
        let failed = out.stderr.matches("接受连接失败：").count();
        assert!(
            failed <= 10,
            "{server:?}: {failed} lines for failed accepts"
        );
    }
}

#[test]
fn help_and_bad_arguments() {
    let out = run(
        {
            let mut cmd = example("echo_tokio");
            cmd.arg("--help");
            cmd
        },
        b"",
    );
    out.assert_success();
    assert!(
        out.stdout
            .starts_with("用法：echo_tokio [地址] [--max-clients 个数]")
    );
    assert!(out.stdout.contains("默认 127.0.0.1:3214") && out.stdout.contains("默认 10000"));
    for (args, needle) in [
        (&["--bogus"][..], "不认识的选项 --bogus"),
        (&["nonsense"], "无法解析地址 `nonsense`"),
        (&["192.0.2.1:0"], "本机没有这个 IP 地址"),
        (&["--max-clients", "0"], "--max-clients 要写一个正整数"),
        (&["--max-clients", "many"], "--max-clients 要写一个正整数"),
        (&["--max-clients"], "--max-clients 后面要写一个个数"),
        (&["127.0.0.1:0", "127.0.0.1:1"], "参数太多"),
    ] {
        let mut cmd = example("echo_tokio");
        cmd.args(args);
        run(cmd, b"").assert_clean_failure(needle);
    }
    // The address is in use: the hint says what to do.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = example("echo_tokio");
    cmd.arg(taken.local_addr().unwrap().to_string());
    run(cmd, b"").assert_clean_failure("端口已被占用");

    if let Some(mut cmd) = python_ladder("echo_asyncio.py") {
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        assert!(out.stdout.contains("--max-clients"), "{out:#?}");
    }
    for (args, needle) in [
        (&["nonsense"][..], "无法解析地址 `nonsense`"),
        (&["192.0.2.1:0"], "无法绑定 192.0.2.1:0"),
        (&["--max-clients", "0"], "--max-clients 要大于 0"),
    ] {
        let Some(mut cmd) = python_ladder("echo_asyncio.py") else {
            break;
        };
        cmd.args(args);
        let out = run(cmd, b"");
        assert!(!out.status.success(), "{out:#?}");
        assert!(out.stderr.contains(needle), "{out:#?}");
        assert!(!out.stderr.contains("Traceback"), "{out:#?}");
    }
}

#[test]
fn a_closed_stdout_ends_the_server_quietly() {
    for server in SERVERS {
        // Nobody reads even the first line.
        let Some(mut cmd) = command(server) else {
            continue;
        };
        cmd.arg("127.0.0.1:0");
        run_with_closed_stdout(cmd, b"").assert_quiet();

        // The reader goes away after the first line (`| head -1`); the next line is for a client.
        let mut cmd = command(server).unwrap();
        cmd.arg("127.0.0.1:0");
        let (head, first) = HeadOne::spawn(cmd, None);
        let addr: SocketAddr = first.parse().expect("the first line is the address");
        // Each client makes the server print a line. One is enough, except when a child that
        // another test is starting at this very moment still holds a copy of the pipe's read end
        // (between its fork and its exec): then that line fits in the pipe, and the next one fails.
        let deadline = std::time::Instant::now() + STEP;
        while std::time::Instant::now() < deadline {
            let Ok(mut client) = TcpStream::connect_timeout(&addr, IO_TIMEOUT) else {
                break; // the server has ended
            };
            client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            let _ = client.write_all(b"x");
            let _ = client.read(&mut [0u8; 1]);
        }
        head.finish().assert_quiet();
    }
}

#[test]
fn the_blocking_pitfall_demos_reach_their_conclusions() {
    let rust = run(example("tokio_blocking_pitfall"), b"");
    let mut outputs = vec![("rust", rust)];
    if let Some(cmd) = python_ladder("asyncio_blocking_pitfall.py") {
        outputs.push(("python", run(cmd, b"")));
    }
    for (who, out) in outputs {
        out.assert_success();
        assert_eq!(out.stderr, "", "{who}");
        let experiments: Vec<&str> = out.stdout.split("\n\n").collect();
        assert_eq!(experiments.len(), 3, "{who}: three experiments: {out:#?}");
        // 1: blocking. The echo came only after the slow work ended.
        let first: Vec<&str> = experiments[0].lines().collect();
        let woke = first.iter().position(|l| l.contains("慢活：结束"));
        let echoed = first.iter().position(|l| l.contains("客户端：收到回显"));
        assert!(woke < echoed && woke.is_some(), "{who}: {first:#?}");
        assert!(experiments[0].contains("回显等到慢活结束以后才到"), "{who}");
        // 2 and 3: the echo came while the slow work was still going on.
        for fixed in &experiments[1..] {
            let lines: Vec<&str> = fixed.lines().collect();
            let woke = lines.iter().position(|l| l.contains("慢活：结束"));
            let echoed = lines.iter().position(|l| l.contains("客户端：收到回显"));
            assert!(echoed < woke && echoed.is_some(), "{who}: {lines:#?}");
            assert!(fixed.contains("回显在慢活结束之前就到了"), "{who}");
        }
    }
}

#[test]
fn the_mutex_pitfall_demo_counts_right_and_shows_the_deadlock() {
    let out = run(example("tokio_mutex_pitfall"), b"");
    out.assert_success();
    assert_eq!(out.stderr, "");
    assert_eq!(
        out.stdout
            .matches("100 个任务各加 100 次，结果 10000（应为 10000）")
            .count(),
        2,
        "{out:#?}"
    );
    assert!(
        out.stdout.contains("任务 2 还在 lock() 里阻塞着唯一的线程"),
        "{out:#?}"
    );
    assert!(!out.stdout.contains("没有死锁"), "{out:#?}");

    for demo in ["tokio_blocking_pitfall", "tokio_mutex_pitfall"] {
        let mut cmd = example(demo);
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        assert!(out.stdout.starts_with(&format!("用法：{demo}")), "{out:#?}");
        let mut cmd = example(demo);
        cmd.arg("extra");
        run(cmd, b"").assert_clean_failure("这个演示不需要参数");
    }
}
