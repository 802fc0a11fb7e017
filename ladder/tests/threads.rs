//! The first three rungs of the concurrency ladder, each in Rust and in Python, run as processes on
//! loopback: echo_iterative (one client at a time), echo_threads (a thread per client) and
//! echo_pool (a fixed pool of worker threads with a bounded queue).
//!
//! Every server serves until stopped; a test drives it with its own connections, reads the one
//! line per connection opened or closed that it prints on stdout, and looks at it through /proc
//! (its threads, its memory, its open files, the accept queue of its listening socket).

#[path = "../../tests/common/mod.rs"]
mod common;
mod threads_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::*;
use threads_support::*;

/// How long a test waits to see that an echo does *not* come (the proof that it waits is the
/// order of the server's lines; this only shows the client's side of it).
const SHORT: Duration = Duration::from_millis(300);

/// The messages one client sends, one after another, each echoed before the next is sent.
fn messages(client: usize) -> Vec<Vec<u8>> {
    vec![
        format!("你好，我是客户端 {client}\n").into_bytes(),
        (0..=255u8).collect(), // every byte value: invalid UTF-8, NUL, control characters
        vec![b'a' + (client % 26) as u8; 3000], // longer than the servers' 1024-byte buffer
        vec![0xe4, 0xbd],      // the first two bytes of 你, and nothing more
        b"\xa0 bye".to_vec(),
    ]
}

/// 50 clients at once, each exchanging several messages: every echo exact, and the server prints
/// exactly one line when each connection opens and one when it closes, nothing per message.
fn fifty_concurrent_clients(server: Server, args: &[&str]) {
    let Some((mut proc, addr)) = server.start(args) else {
        return;
    };
    let label = server.label();
    let clients: Vec<SocketAddr> = thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let label = &label;
                s.spawn(move || {
                    let mut stream = tcp_connect(addr);
                    for message in messages(i) {
                        let echo = tcp_roundtrip(&mut stream, &message);
                        assert_eq!(echo, message, "{label}: client {i} got a wrong echo");
                    }
                    stream.local_addr().unwrap()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client failed"))
            .collect()
    });
    let lines: Vec<String> = (0..100).map(|_| proc.next_line()).collect();
    let out = proc.stop();
    assert_eq!(out.stderr, "", "{label}: {out:#?}");
    assert_eq!(
        out.stdout.lines().count(),
        101,
        "{label}: the address, then one line per connection opened or closed: {out:#?}"
    );
    for client in clients {
        let open = lines.iter().position(|l| *l == opened(client));
        let close = lines.iter().position(|l| *l == closed(client));
        assert!(
            matches!((open, close), (Some(o), Some(c)) if o < c),
            "{label}: {client} should be opened, then closed: {lines:#?}"
        );
    }
}

#[test]
fn every_server_echoes_fifty_concurrent_clients_exactly() {
    for server in Server::all() {
        fifty_concurrent_clients(server, &[]);
    }
}

#[test]
fn the_pool_with_one_worker_and_a_queue_of_one_still_serves_fifty_clients() {
    for server in Server::both(POOL) {
        fifty_concurrent_clients(server, &["--workers", "1", "--queue", "1"]);
    }
}

/// A client that connects and says nothing is being served (the server printed its line); another
/// client's echo comes at once all the same.
fn a_silent_client_does_not_delay_another(server: Server, args: &[&str]) {
    let Some((mut proc, addr)) = server.start(args) else {
        return;
    };
    let silent = tcp_connect(addr);
    expect_line(&mut proc, &opened(silent.local_addr().unwrap()));
    let mut other = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut other, b"hello"), b"hello");
    expect_line(&mut proc, &opened(other.local_addr().unwrap()));
    drop(other);
    drop(silent);
}

#[test]
fn a_silent_client_does_not_delay_another_on_threads_and_on_the_pool() {
    for server in Server::both(THREADS) {
        a_silent_client_does_not_delay_another(server, &[]);
    }
    for server in Server::both(POOL) {
        a_silent_client_does_not_delay_another(server, &["--workers", "2"]);
    }
}

/// `first` is being served (its line is printed) and says nothing; `waiting` connects, sends
/// "hello" and gets no echo; only once `first` leaves does the server take `waiting`: its lines
/// come in this order (the server's output is one ordered stream), and then the echo.
fn waits_until_the_first_leaves(proc: &mut Proc, first: TcpStream, mut waiting: TcpStream) {
    let first_addr = first.local_addr().unwrap();
    waiting.write_all(b"hello").unwrap();
    assert!(
        nothing_arrives_within(&mut waiting, SHORT),
        "the waiting client got an echo"
    );
    drop(first);
    expect_line(proc, &closed(first_addr));
    expect_line(proc, &opened(waiting.local_addr().unwrap()));
    let mut echo = [0u8; 5];
    waiting.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
}

#[test]
fn on_the_iterative_server_a_second_client_connects_but_waits_in_the_backlog() {
    for server in Server::both(ITERATIVE) {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let first = tcp_connect(addr);
        expect_line(&mut proc, &opened(first.local_addr().unwrap()));
        // connect succeeds: the kernel completed the handshake and queued the connection.
        let second = tcp_connect(addr);
        wait_until("the second client in the accept queue", || {
            accept_queue(addr) == 1
        });
        waits_until_the_first_leaves(&mut proc, first, second);
        assert_eq!(accept_queue(addr), 0, "{}", server.label());
    }
}

#[test]
fn on_the_pool_a_client_waits_once_every_worker_is_taken() {
    for server in Server::both(POOL) {
        let Some((mut proc, addr)) = server.start(&["--workers", "2"]) else {
            continue;
        };
        let first = tcp_connect(addr);
        expect_line(&mut proc, &opened(first.local_addr().unwrap()));
        let second = tcp_connect(addr);
        expect_line(&mut proc, &opened(second.local_addr().unwrap()));
        let third = tcp_connect(addr);
        waits_until_the_first_leaves(&mut proc, first, third);
        drop(second);
    }
}

#[test]
fn a_worker_that_holds_the_lock_while_serving_makes_a_free_worker_useless() {
    // Two workers, one silent client: without --hold-lock the second client is served at once
    // (a_silent_client_does_not_delay_another, same --workers 2); with it, it waits.
    let server = Server::rust(POOL);
    let (mut proc, addr) = server.start(&["--workers", "2", "--hold-lock"]).unwrap();
    let first = tcp_connect(addr);
    expect_line(&mut proc, &opened(first.local_addr().unwrap()));
    let second = tcp_connect(addr);
    waits_until_the_first_leaves(&mut proc, first, second);
    assert_eq!(
        thread_count(proc.pid()),
        server.pool_threads(2),
        "still main + 2 workers (+ the signal thread)"
    );
}

#[test]
fn echo_threads_has_one_thread_per_client() {
    for server in Server::both(THREADS) {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let pid = proc.pid();
        assert_eq!(
            thread_count(pid),
            1,
            "{}: only the main thread",
            server.label()
        );
        let clients = silent_clients(addr, 50);
        for _ in 0..50 {
            proc.next_line();
        }
        wait_until("51 threads", || thread_count(pid) == 51);
        drop(clients);
        for _ in 0..50 {
            proc.next_line();
        }
        wait_until("the client threads to end", || thread_count(pid) == 1);
    }
}

#[test]
fn echo_pool_keeps_its_threads_and_its_queue_bounded_with_fifty_clients() {
    for server in Server::both(POOL) {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let pid = proc.pid();
        let label = server.label();
        let threads = server.pool_threads(4);
        assert_eq!(thread_count(pid), threads, "{label}: main + 4 workers");
        let clients = silent_clients(addr, 50);
        for _ in 0..4 {
            proc.next_line();
        }
        // 4 being served, 16 in the queue, 1 in the acceptor's hands (blocked in send), and the
        // other 29 in the kernel's accept queue.
        wait_until("29 connections in the accept queue", || {
            accept_queue(addr) == 29
        });
        assert_eq!(
            thread_count(pid),
            threads,
            "{label}: still main + 4 workers"
        );
        drop(clients);
        // Every worker goes through the closed connections; then a new client is served.
        let mut late = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut late, b"late"), b"late", "{label}");
        assert_eq!(
            thread_count(pid),
            threads,
            "{label}: still main + 4 workers"
        );
    }
}

#[test]
fn each_client_thread_reserves_a_stack_of_2_mib_or_rust_min_stack() {
    for (min_stack, mib) in [(None, 2), (Some("16777216"), 16)] {
        let mut cmd = example(THREADS);
        cmd.arg("127.0.0.1:0");
        if let Some(bytes) = min_stack {
            cmd.env("RUST_MIN_STACK", bytes);
        }
        let (mut proc, addr) = start_server(cmd);
        let pid = proc.pid();
        let (size, rss) = (vm_size_kib(pid), vm_rss_kib(pid));
        let clients = silent_clients(addr, 20);
        for _ in 0..20 {
            proc.next_line();
        }
        wait_until("21 threads", || thread_count(pid) == 21);
        let grown = vm_size_kib(pid) - size;
        assert!(
            grown >= 20 * mib * 1024,
            "20 threads with {mib} MiB stacks should reserve at least {} KiB, not {grown} KiB",
            20 * mib * 1024
        );
        // Reserved is not used: the threads touch a few pages of their stacks.
        let used = vm_rss_kib(pid).saturating_sub(rss);
        assert!(used < 20 * 1024, "20 threads use {used} KiB");
        drop(clients);
    }
}

/// The stack glibc gives a new thread: RLIMIT_STACK (ulimit -s, usually 8 MiB), which a server
/// inherits from this test. None (said loudly) where that is unlimited: glibc then uses a default
/// of its own, which these tests do not guess.
fn python_thread_stack_kib() -> Option<u64> {
    let (stack, _) = rlimit::getrlimit(rlimit::Resource::STACK).unwrap();
    if stack == rlimit::INFINITY {
        eprintln!("!!! ulimit -s is unlimited: SKIPPING the Python thread-stack checks !!!");
        return None;
    }
    Some(stack / 1024)
}

#[test]
fn python_client_threads_reserve_the_systems_default_stack() {
    let Some((mut proc, addr)) = Server::python(THREADS).start(&[]) else {
        return;
    };
    let Some(stack_kib) = python_thread_stack_kib() else {
        return;
    };
    let pid = proc.pid();
    let before = vm_size_kib(pid);
    let clients = silent_clients(addr, 20);
    for _ in 0..20 {
        proc.next_line();
    }
    wait_until("21 threads", || thread_count(pid) == 21);
    let grown = vm_size_kib(pid) - before;
    assert!(
        grown >= 20 * stack_kib,
        "20 threads should add at least 20 × {stack_kib} KiB, not {grown} KiB"
    );
    drop(clients);
}

#[test]
fn every_server_answers_help_and_rejects_bad_arguments() {
    for server in Server::all() {
        if server.command().is_none() {
            continue; // no python3 (said loudly)
        }
        let label = server.label();
        for help in ["--help", "-h"] {
            let mut cmd = server.command().unwrap();
            cmd.arg(help).env("COLUMNS", "200"); // argparse wraps its help to the terminal's width
            let out = run(cmd, b"");
            out.assert_success();
            let mut flags = vec!["地址", "127.0.0.1:3214"];
            if server.name == POOL {
                flags.extend(["--workers", "--queue", "默认 4", "默认 16"]);
                if server.lang == Lang::Rust {
                    flags.push("--hold-lock");
                }
            }
            for flag in flags {
                assert!(
                    out.stdout.contains(flag),
                    "{label} {help}: {flag}: {out:#?}"
                );
            }
        }
        let mut bad = vec![
            (vec!["-x"], "-x"),
            (vec!["nonsense"], "无法解析地址 `nonsense`"),
            (vec!["localhost:0"], "无法解析地址 `localhost:0`"),
            (vec!["127.0.0.1:0", "127.0.0.1:1"], ""),
            (vec!["192.0.2.1:0"], "本机没有这个 IP 地址"),
        ];
        if server.name == POOL {
            bad.extend([
                (vec!["--workers", "0"], "--workers"),
                (vec!["--workers", "many"], "--workers"),
                (vec!["--workers", "1025"], "--workers"),
                (vec!["--workers"], "--workers"),
                (vec!["--queue", "0"], "--queue"),
                (vec!["--queue", "65537"], "--queue"),
            ]);
        }
        for (args, needle) in bad {
            let mut cmd = server.command().unwrap();
            cmd.args(&args);
            let out = run(cmd, b"");
            assert_failed_cleanly(server, &out, needle, &args);
        }
        // The port is taken (by a listener of this test).
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut cmd = server.command().unwrap();
        cmd.arg(taken.local_addr().unwrap().to_string());
        let out = run(cmd, b"");
        assert_failed_cleanly(server, &out, "端口已被占用", &["(in use)"]);
    }
}

/// A bad argument: a non-zero exit, no panic or traceback, and a message that says what was
/// wrong. The Rust servers say it in one line; Python's argparse adds a usage line.
fn assert_failed_cleanly(server: Server, out: &Finished, needle: &str, args: &[&str]) {
    let label = format!("{} {args:?}", server.label());
    match server.lang {
        Lang::Rust => out.assert_clean_failure(needle),
        Lang::Python => {
            assert!(
                !out.status.success(),
                "{label}: expected a failure: {out:#?}"
            );
            assert!(!out.stderr.contains("Traceback"), "{label}: {out:#?}");
            assert!(out.stderr.lines().count() <= 2, "{label}: {out:#?}");
            assert!(out.stderr.contains(needle), "{label}: {out:#?}");
        }
    }
    assert_eq!(out.stdout, "", "{label}: nothing on stdout: {out:#?}");
}

#[test]
fn every_server_works_on_ipv6_loopback() {
    for server in Server::all() {
        let Some((mut proc, addr)) = server.start_on("[::1]:0", &[]) else {
            continue;
        };
        assert!(addr.is_ipv6(), "{}: {addr}", server.label());
        let mut client = tcp_connect(addr);
        assert_eq!(
            tcp_roundtrip(&mut client, "你好".as_bytes()),
            "你好".as_bytes()
        );
        let local = client.local_addr().unwrap();
        expect_line(&mut proc, &opened(local));
        drop(client);
        expect_line(&mut proc, &closed(local));
    }
}

#[test]
fn every_server_ends_quietly_when_nobody_reads_its_output() {
    for server in Server::all() {
        let Some(mut cmd) = server.command() else {
            continue;
        };
        cmd.arg("127.0.0.1:0");
        let (head, first) = HeadOne::spawn(cmd, None);
        let addr: SocketAddr = first.parse().unwrap();
        // The server's next line ("Client Address: ...") cannot be written: it ends, exit 0.
        let mut client = tcp_connect(addr);
        let _ = client.write_all(b"hello");
        let out = head.finish();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {out:#?}",
            server.label()
        );
    }
}

/// A client that sends, reads its echo and then resets the connection (SO_LINGER 0, then close).
fn reset_after_echo(addr: SocketAddr) -> SocketAddr {
    let mut client = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut client, b"hello"), b"hello");
    let local = client.local_addr().unwrap();
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client); // RST
    local
}

/// A client that sends a lot and never reads its echo, then resets the connection: the server is
/// stuck in a write when the reset comes.
fn reset_mid_echo(addr: SocketAddr) -> SocketAddr {
    let mut client = tcp_connect(addr);
    client.set_write_timeout(Some(SHORT)).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    // Until the buffers on both sides are full and the write times out.
    for _ in 0..1000 {
        if client.write_all(&chunk).is_err() {
            break;
        }
    }
    let local = client.local_addr().unwrap();
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    local
}

#[test]
fn a_reset_client_costs_one_line_on_stderr_and_the_server_goes_on() {
    for server in Server::all() {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let label = server.label();
        let mut reset = Vec::new();
        for client in [reset_after_echo, reset_mid_echo] {
            let local = client(addr);
            expect_line(&mut proc, &opened(local));
            expect_line(&mut proc, &closed(local));
            reset.push(local);
        }
        let mut next = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut next, b"still here"), b"still here");
        let out = proc.stop();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "{label}: one line per reset client: {out:#?}"
        );
        for (line, local) in lines.iter().zip(&reset) {
            assert!(
                line.starts_with(&format!("断开 {local}："))
                    && (line.contains("reset by peer") || line.contains("Broken pipe")),
                "{label}: {line}"
            );
        }
    }
}

#[test]
fn a_flood_of_connections_does_not_stop_any_server() {
    for server in Server::all() {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let label = server.label();
        for i in 0..200 {
            let client = tcp_connect(addr);
            if i % 2 == 0 {
                // Half of them reset the connection instead of closing it.
                socket2::SockRef::from(&client)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
        }
        for _ in 0..400 {
            proc.next_line();
        }
        let mut last = tcp_connect(addr);
        assert_eq!(
            tcp_roundtrip(&mut last, b"after the flood"),
            b"after the flood"
        );
        let out = proc.stop();
        assert!(
            out.stderr.lines().all(|l| l.starts_with("断开 ")),
            "{label}: {out:#?}"
        );
        assert!(out.stderr.lines().count() <= 100, "{label}: {out:#?}");
    }
}

#[test]
fn running_out_of_file_descriptors_pauses_accept_and_the_server_recovers() {
    for server in [THREADS, POOL].into_iter().flat_map(Server::both) {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let label = server.label();
        let pid = proc.pid();
        // Leave the server room for 4 more open files.
        let soft = nofile_limit_leaving_room(pid, 4);
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        rlimit::prlimit(
            i32::try_from(pid).unwrap(),
            rlimit::Resource::NOFILE,
            Some((soft, hard)),
            None,
        )
        .unwrap();
        let clients = silent_clients(addr, 12);
        for _ in 0..4 {
            proc.next_line();
        }
        // accept fails (Too many open files): the other 8 wait in the accept queue.
        wait_until("8 connections left in the accept queue", || {
            accept_queue(addr) == 8
        });
        drop(clients);
        // The 4 served connections close, the server accepts the 8 others and closes them, and
        // then serves a new client: it was never stopped, only paused.
        let mut late = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut late, b"late"), b"late", "{label}");
        let out = proc.stop();
        assert!(
            out.stderr.contains("Too many open files"),
            "{label}: {out:#?}"
        );
        assert!(
            out.stderr.lines().all(|l| l.starts_with("接受连接失败：")),
            "{label}: {out:#?}"
        );
        // One line per 100 ms at most: no busy loop.
        assert!(out.stderr.lines().count() < 100, "{label}: {out:#?}");
    }
}

#[test]
fn when_no_thread_can_be_created_only_that_client_is_dropped() {
    for server in Server::both(THREADS) {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let label = server.label();
        let pid = i32::try_from(proc.pid()).unwrap();
        // The address space a new thread's stack takes: 2 MiB for Rust's threads, RLIMIT_STACK
        // (ulimit -s) for Python's (glibc's default), which the server inherited from this test.
        let stack_kib = match server.lang {
            Lang::Rust => 2048,
            Lang::Python => match python_thread_stack_kib() {
                Some(kib) => kib,
                None => continue,
            },
        };
        // Room for about 5 stacks, less their guard pages: 4 threads, and no more.
        let limit = (vm_size_kib(proc.pid()) + 5 * stack_kib) * 1024;
        rlimit::prlimit(
            pid,
            rlimit::Resource::AS,
            Some((limit, rlimit::INFINITY)),
            None,
        )
        .unwrap();
        let mut clients = silent_clients(addr, 12);
        // Each client sends "hi": the ones the server could give a thread to get their echo, the
        // others find the connection closed (EOF, or a reset if "hi" arrived before the close).
        let mut refused = Vec::new();
        for client in &mut clients {
            client.write_all(b"hi").unwrap();
            let mut echo = [0u8; 2];
            match client.read_exact(&mut echo) {
                Ok(()) => assert_eq!(&echo, b"hi", "{label}"),
                Err(_) => refused.push(client.local_addr().unwrap()),
            }
        }
        assert!(
            (1..12).contains(&refused.len()),
            "{label}: some clients are served, and some are refused: {refused:?}"
        );
        // The server says which ones it closed: "Client Address", then at once "连接关闭".
        let mut closed_lines = Vec::new();
        while closed_lines.len() < refused.len() {
            if let Some(addr) = proc.next_line().strip_prefix("连接关闭：") {
                closed_lines.push(addr.parse::<SocketAddr>().unwrap());
            }
        }
        assert_eq!(closed_lines, refused, "{label}");
        drop(clients);
        rlimit::prlimit(
            pid,
            rlimit::Resource::AS,
            Some((rlimit::INFINITY, rlimit::INFINITY)),
            None,
        )
        .unwrap();
        let mut late = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut late, b"late"), b"late", "{label}");
        let out = proc.stop();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), refused.len(), "{label}: {out:#?}");
        for (line, addr) in lines.iter().zip(&refused) {
            assert!(
                line.starts_with(&format!("无法为 {addr} 创建线程，断开它：")),
                "{label}: {line}"
            );
        }
    }
}

#[test]
fn with_100_silent_clients_the_accept_queue_holds_whatever_the_server_has_not_taken() {
    // (server, its arguments, threads, connections it takes: being served, queued, in hand)
    let cases: [(&str, &[&str], usize); 2] = [
        (ITERATIVE, &[], 1),
        (POOL, &["--workers", "2", "--queue", "1"], 2 + 1 + 1),
    ];
    for (name, args, taken) in cases {
        for server in Server::both(name) {
            let threads = if name == POOL {
                server.pool_threads(2)
            } else {
                1
            };
            let Some((mut proc, addr)) = server.start(args) else {
                continue;
            };
            let label = server.label();
            let clients = silent_clients(addr, 100);
            let served = if name == POOL { 2 } else { 1 };
            for _ in 0..served {
                proc.next_line();
            }
            wait_until("the accept queue to settle", || {
                accept_queue(addr) == 100 - taken
            });
            assert_eq!(thread_count(proc.pid()), threads, "{label}");
            drop(clients);
        }
    }
}
