//! The exercises of the chapters on the concurrency ladder, 优雅地停止服务器 and 聊天室 (the
//! `## 练习` sections of book/iterative.md ... book/chat.md): each solution program
//! (ladder/examples/ex_*.rs, ladder/examples/python/ex_*.py) run as a process on loopback and
//! checked for exactly what its exercise asks, and the expected observations of the exercises that
//! ask the reader to predict, as transcripts under book/transcripts/exercises/<chapter>/.
//! Regenerate those with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p ladder --test exercises
//!
//! and read the diff.

#[path = "../../part2/tests/closing_support/mod.rs"]
mod closing_support;
#[path = "../../tests/common/mod.rs"]
mod common;
mod threads_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use closing_support::{Ports, ss_until};
use common::transcript::{SIGINT, ServerTerminal, Terminal, check, ctrl_c_in, shell};
use common::*;
use threads_support::*;

/// How long a test waits to see that an echo does *not* come.
const SHORT: Duration = Duration::from_millis(300);

/// Starts `cmd` (a server, not yet given its address) on 127.0.0.1:0 with `args`.
fn start(mut cmd: Command, args: &[&str]) -> (Proc, SocketAddr) {
    cmd.arg("127.0.0.1:0").args(args);
    start_server(cmd)
}

/// `waiting` sends a message and gets no echo while `first` is connected; once `first` leaves,
/// the server closes it, accepts `waiting`, and echoes.
fn waits_until_the_first_leaves(proc: &mut Proc, first: TcpStream, mut waiting: TcpStream) {
    let first_addr = first.local_addr().unwrap();
    waiting.write_all(b"hello").unwrap();
    assert!(
        nothing_arrives_within(&mut waiting, SHORT),
        "the waiting client got an echo while the first was connected"
    );
    drop(first);
    expect_line(proc, &closed(first_addr));
    expect_line(proc, &opened(waiting.local_addr().unwrap()));
    let mut echo = [0u8; 5];
    waiting.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
}

/// Whether a client of the server on `addr` (IPv4) has a connection in CLOSE-WAIT: the server
/// closed it, and the client has not yet (from /proc/net/tcp, state 08).
fn closed_by_server(addr: SocketAddr) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{:04X}", addr.port());
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 3 && fields[2].ends_with(&port) && fields[3] == "08"
    })
}

/// `ss -tln 'sport = :3214'` for the server on `addr`, once the LISTEN line's Recv-Q is `queued`.
fn listen_queue_ss(addr: SocketAddr, queued: usize) -> String {
    let mut ports = Ports::new(addr.port());
    let filter = format!("sport = :{}", addr.port());
    let wanted = format!("LISTEN {queued} ");
    shell(
        "ss -tln 'sport = :3214'",
        &ss_until(&["-tln", &filter], &mut ports, |text| {
            text.contains(&wanted)
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// 一次一个（book/iterative.md）

/// 练习 1: with 100 silent clients, the iterative server has taken one (and blocks in its recv);
/// the other 99 wait in the accept queue.
fn iterative_transcripts() -> Vec<(&'static str, String)> {
    if !tool_available("ss") {
        return vec![("silent_ss", String::new())];
    }
    let (mut proc, addr) = start(example(ITERATIVE), &[]);
    let clients = silent_clients(addr, 100);
    expect_line(&mut proc, &opened(clients[0].local_addr().unwrap()));
    let text = listen_queue_ss(addr, 99);
    assert_eq!(accept_queue(addr), 99);
    vec![("silent_ss", text)]
}

#[test]
fn ex_iterative_transcripts() {
    check(
        "transcripts/exercises/iterative",
        iterative_transcripts(),
        "exercises",
    );
}

/// 练习 2: a silent client is disconnected after --idle-timeout, and the client waiting behind it
/// is then served; a client that sends a byte more often than that keeps the server to itself.
/// (echo_iterative, which has no idle timeout, fails the first half: the second client never
/// gets its echo.)
#[test]
fn ex_iterative_idle_timeout_drops_a_silent_client_and_serves_the_next() {
    let (mut proc, addr) = start(
        example("ex_iterative_idle_timeout"),
        &["--idle-timeout", "1"],
    );
    let silent = tcp_connect(addr);
    let silent_addr = silent.local_addr().unwrap();
    expect_line(&mut proc, &opened(silent_addr));
    let started = Instant::now();
    let mut second = tcp_connect(addr);
    second.write_all(b"hello").unwrap();
    // The server drops the silent client after about 1 s, then serves the second.
    expect_line(&mut proc, &closed(silent_addr));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "dropped too early: {:?}",
        started.elapsed()
    );
    expect_line(&mut proc, &opened(second.local_addr().unwrap()));
    let mut echo = [0u8; 5];
    second.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
    // The silent client sees the server close its connection (end of stream).
    let mut silent = silent;
    assert_eq!(silent.read(&mut [0u8; 1]).unwrap(), 0);
    let out = proc.stop();
    assert!(
        out.stderr
            .contains(&format!("断开 {silent_addr}：闲置超时")),
        "{}",
        out.stderr
    );
}

/// 练习 2, the question after it: a client that sends one byte every 0.3 s never lets the 1 s
/// idle timeout fire, so it keeps the iterative server (and the client behind it waits) as long
/// as it likes; here, 3 s.
#[test]
fn ex_iterative_idle_timeout_is_beaten_by_a_trickling_client() {
    let (mut proc, addr) = start(
        example("ex_iterative_idle_timeout"),
        &["--idle-timeout", "1"],
    );
    let mut trickle = tcp_connect(addr);
    expect_line(&mut proc, &opened(trickle.local_addr().unwrap()));
    let mut second = tcp_connect(addr);
    second.write_all(b"hello").unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for _ in 0..10 {
        trickle.write_all(b"a").unwrap();
        let mut byte = [0u8; 1];
        trickle.read_exact(&mut byte).unwrap(); // its echo, so it is still being served
        // No echo for the second client during this 0.3 s (the read times out).
        assert!(
            second.read(&mut byte).is_err(),
            "the second client was served while the trickling client held the server"
        );
    }
    let trickle_addr = trickle.local_addr().unwrap();
    drop(trickle);
    expect_line(&mut proc, &closed(trickle_addr));
    expect_line(&mut proc, &opened(second.local_addr().unwrap()));
    second.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut echo = [0u8; 5];
    second.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
}

/// 练习 3: the socketserver.TCPServer version serves one client at a time: a second client
/// connects, waits in the accept queue, and is served once the first leaves.
#[test]
fn ex_iterative_socketserver_serves_a_second_client_only_after_the_first_leaves() {
    let Some(cmd) = python_ladder("ex_iterative_socketserver.py") else {
        return;
    };
    let (mut proc, addr) = start(cmd, &[]);
    let mut first = tcp_connect(addr);
    expect_line(&mut proc, &opened(first.local_addr().unwrap()));
    assert_eq!(
        tcp_roundtrip(&mut first, "你好\n".as_bytes()),
        "你好\n".as_bytes()
    );
    let second = tcp_connect(addr);
    wait_until("the second client in the accept queue", || {
        accept_queue(addr) == 1
    });
    waits_until_the_first_leaves(&mut proc, first, second);
}

// ---------------------------------------------------------------------------------------------
// 每个客户端一个线程（book/threads.md）

/// 练习 1: the socketserver.ThreadingTCPServer version has one thread per client, as
/// echo_threads.py: 100 silent clients make 101 threads, and one more client is served at once.
#[test]
fn ex_threads_socketserver_has_a_thread_per_client() {
    let Some(cmd) = python_ladder("ex_threads_socketserver.py") else {
        return;
    };
    let (proc, addr) = start(cmd, &[]);
    let pid = proc.pid();
    assert_eq!(thread_count(pid), 1, "only the main thread");
    let silent = silent_clients(addr, 100);
    wait_until("a thread for each of the 100 clients", || {
        thread_count(pid) == 101
    });
    let mut another = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut another, b"hello"), b"hello");
    drop(another);
    drop(silent);
    wait_until("the threads end with their clients", || {
        thread_count(pid) == 1
    });
}

/// 练习 2: with --max-clients 2, the third client is accepted and closed at once (it reads the
/// end of the stream), the server says why; once one of the two leaves, a new client is served.
/// (echo_threads, which has no limit, serves the third client: the first assertion fails.)
#[test]
fn ex_threads_max_clients_closes_the_third_connection_and_serves_after_one_leaves() {
    let (mut proc, addr) = start(example("ex_threads_max_clients"), &["--max-clients", "2"]);
    let pid = proc.pid();
    let mut first = tcp_connect(addr);
    let mut second = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut first, b"one"), b"one");
    assert_eq!(tcp_roundtrip(&mut second, b"two"), b"two");
    expect_line(&mut proc, &opened(first.local_addr().unwrap()));
    expect_line(&mut proc, &opened(second.local_addr().unwrap()));
    let mut third = tcp_connect(addr);
    let third_addr = third.local_addr().unwrap();
    expect_line(&mut proc, &opened(third_addr));
    expect_line(&mut proc, &closed(third_addr));
    assert_eq!(
        third.read(&mut [0u8; 1]).unwrap(),
        0,
        "closed: end of stream"
    );
    assert_eq!(thread_count(pid), 3, "main + one thread per served client");
    let first_addr = first.local_addr().unwrap();
    drop(first);
    expect_line(&mut proc, &closed(first_addr));
    let mut fourth = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut fourth, b"four"), b"four");
    expect_line(&mut proc, &opened(fourth.local_addr().unwrap()));
    let out = proc.stop();
    assert_eq!(
        out.stderr,
        format!("已经在服务 2 个客户端（--max-clients），断开 {third_addr}\n")
    );
}

/// 练习 2, the prediction: what the server's terminal and the third client's terminal show.
fn threads_transcripts() -> Vec<(&'static str, String)> {
    let mut cmd = example("ex_threads_max_clients");
    cmd.args(["127.0.0.1:0", "--max-clients", "2"]);
    let mut server = ServerTerminal::start(
        "cargo run --example ex_threads_max_clients -- --max-clients 2",
        cmd,
    );
    let addr = server.addr;
    let client = || {
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        Terminal::spawn(cmd)
    };
    let mut first = client();
    first.type_line("我是第一个");
    assert_eq!(first.next_line(), "我是第一个");
    server.wait_for("Client Address");
    let mut second = client();
    second.type_line("我是第二个");
    assert_eq!(second.next_line(), "我是第二个");
    server.wait_for("Client Address");
    let third = client();
    server.wait_for("Client Address");
    server.wait_for("连接关闭");
    // Typed only once the server has closed the connection, as the reader does: had the line
    // arrived before the close, the server's kernel would answer the unread data with a reset.
    let mut third = third;
    third.type_line("我是第三个");
    let (out, err) = third.end_input();
    assert_eq!(out, "");
    let third_text = shell(
        "cargo run --example tcp_echo_client",
        &format!("我是第三个\n{err}"),
    );
    for c in [first, second] {
        let (_, err) = c.end_input();
        assert_eq!(err, "");
        server.wait_for("连接关闭"); // one at a time, so the lines come in this order
    }
    server.signal_and_wait(SIGINT);
    vec![
        ("max_clients_server", ctrl_c_in(&server.transcript())),
        ("max_clients_third", third_text),
    ]
}

#[test]
fn ex_threads_transcripts() {
    check(
        "transcripts/exercises/threads",
        threads_transcripts(),
        "exercises",
    );
}

// ---------------------------------------------------------------------------------------------
// 线程池（book/thread-pool.md）

/// 练习 1: echo_pool --workers 2 --queue 1 with 100 silent clients: main + 2 workers + the signal
/// thread; it has taken 4 connections (2 being served, 1 in the channel, 1 in the main thread's
/// hand, blocked in `send`), so 96 wait in the accept queue.
fn thread_pool_transcripts() -> Vec<(&'static str, String)> {
    if !tool_available("ss") {
        return vec![("silent", String::new())];
    }
    let (mut proc, addr) = start(example(POOL), &["--workers", "2", "--queue", "1"]);
    let clients = silent_clients(addr, 100);
    proc.next_line();
    proc.next_line();
    let queue = listen_queue_ss(addr, 96);
    let threads = shell(
        "ls /proc/$(pgrep -x echo_pool)/task | wc -l",
        &format!("{}\n", thread_count(proc.pid())),
    );
    assert_eq!(accept_queue(addr), 96);
    drop(clients);
    vec![
        ("silent", threads + &queue),
        ("shed_client", thread_pool_shed_transcript()),
    ]
}

#[test]
fn ex_thread_pool_transcripts() {
    check(
        "transcripts/exercises/thread-pool",
        thread_pool_transcripts(),
        "exercises",
    );
}

/// 练习 2: with one worker and a queue of one, a first client is served, a second waits in the
/// channel, and a third is closed at once (it reads the end of the stream) with one line on
/// stderr; the second is served once the first leaves. (echo_pool, which blocks in `send`, leaves
/// the third connection open and waiting: the read below times out instead of reading 0.)
#[test]
fn ex_thread_pool_shed_closes_a_connection_when_every_worker_and_the_queue_are_full() {
    let (mut proc, addr) = start(
        example("ex_thread_pool_shed"),
        &["--workers", "1", "--queue", "1"],
    );
    let mut first = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut first, b"one"), b"one");
    expect_line(&mut proc, &opened(first.local_addr().unwrap()));
    let second = tcp_connect(addr);
    let mut third = tcp_connect(addr);
    let third_addr = third.local_addr().unwrap();
    third.set_read_timeout(Some(STEP)).unwrap();
    assert_eq!(
        third
            .read(&mut [0u8; 1])
            .expect("the end of the stream, not a timeout"),
        0,
        "the third connection is closed at once"
    );
    waits_until_the_first_leaves(&mut proc, first, second);
    let out = proc.stop();
    assert_eq!(
        out.stderr,
        format!("服务器忙（工作线程和队列都满了），断开 {third_addr}\n")
    );
}

/// 练习 2, the question: what the rejected client's terminal shows.
fn thread_pool_shed_transcript() -> String {
    let (mut proc, addr) = start(
        example("ex_thread_pool_shed"),
        &["--workers", "1", "--queue", "1"],
    );
    let mut first = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut first, b"one"), b"one");
    proc.next_line();
    let _second = tcp_connect(addr);
    let mut cmd = example("tcp_echo_client");
    cmd.arg(addr.to_string());
    let mut third = Terminal::spawn(cmd);
    // Typed once the server has closed the connection (the client sees the end of the stream
    // only then; its connect succeeded long before).
    wait_until("the server closes the third connection", || {
        closed_by_server(addr)
    });
    third.type_line("你好");
    let (out, err) = third.end_input();
    assert_eq!(out, "");
    shell(
        "cargo run --example tcp_echo_client",
        &format!("你好\n{err}"),
    )
}

// ---------------------------------------------------------------------------------------------
// 事件循环（book/event-loop.md）

/// 练习 1: echo_mio --max-clients 2 and a third client: the server accepts it and closes it at
/// once, with one line on stderr; the third client learns it when it sends a line.
fn event_loop_transcripts() -> Vec<(&'static str, String)> {
    let mut cmd = example("echo_mio");
    cmd.args(["127.0.0.1:0", "--max-clients", "2"]);
    let mut server = ServerTerminal::start("cargo run --example echo_mio -- --max-clients 2", cmd);
    let addr = server.addr;
    let client = || {
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        Terminal::spawn(cmd)
    };
    let mut first = client();
    first.type_line("我是第一个");
    assert_eq!(first.next_line(), "我是第一个");
    server.wait_for("Client Address");
    let mut second = client();
    second.type_line("我是第二个");
    assert_eq!(second.next_line(), "我是第二个");
    server.wait_for("Client Address");
    let mut third = client();
    server.wait_for("拒绝");
    wait_until("the third client sees the server's FIN", || {
        closed_by_server(addr)
    });
    third.type_line("我是第三个");
    let (out, err) = third.end_input();
    assert_eq!(out, "");
    let third_text = shell(
        "cargo run --example tcp_echo_client",
        &format!("我是第三个\n{err}"),
    );
    for c in [first, second] {
        let (_, err) = c.end_input();
        assert_eq!(err, "");
        server.wait_for("连接关闭");
    }
    assert!(server.signal_and_wait(SIGINT).success());
    vec![
        ("max_clients_server", ctrl_c_in(&server.transcript())),
        ("max_clients_third", third_text),
    ]
}

/// 练习 3: `ss -tln` for echo_mio (a backlog of 128, mio's fixed value) and for the solution
/// (1024), each while it serves a client. Skipped (loudly) where net.core.somaxconn caps the
/// backlog below 1024, which would show another number.
fn event_loop_backlog_transcripts() -> Vec<(&'static str, String)> {
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let servers = [
        ("backlog_echo_mio", "echo_mio", 128),
        ("backlog_solution", "ex_event_loop_backlog", 1024),
    ];
    if somaxconn < 1024 || !tool_available("ss") {
        eprintln!(
            "!!! net.core.somaxconn is {somaxconn}, below 1024: SKIPPING the backlog transcripts !!!"
        );
        return servers.map(|(file, _, _)| (file, String::new())).to_vec();
    }
    servers
        .map(|(file, name, backlog)| {
            let (mut proc, addr) = start(example(name), &[]);
            let mut client = tcp_connect(addr);
            assert_eq!(tcp_roundtrip(&mut client, b"hello"), b"hello");
            proc.next_line();
            let mut ports = Ports::new(addr.port());
            let filter = format!("sport = :{}", addr.port());
            let text = ss_until(&["-tln", &filter], &mut ports, |t| t.contains("LISTEN 0 "));
            assert!(
                text.contains(&format!("LISTEN 0 {backlog} ")),
                "{name}: {text}"
            );
            (file, shell("ss -tln 'sport = :3214'", &text))
        })
        .to_vec()
}

#[test]
fn ex_event_loop_transcripts() {
    let mut made = event_loop_transcripts();
    made.extend(event_loop_backlog_transcripts());
    check("transcripts/exercises/event-loop", made, "exercises");
}

/// 练习 3: the solution listens with a backlog of 1024 and still echoes; 50 clients at once are
/// all served. (echo_mio listens with 128: the backlog check fails.)
#[test]
fn ex_event_loop_backlog_listens_with_a_backlog_of_1024() {
    if !tool_available("ss") {
        return;
    }
    let (_proc, addr) = start(example("ex_event_loop_backlog"), &[]);
    let mut ports = Ports::new(addr.port());
    let filter = format!("sport = :{}", addr.port());
    let text = closing_support::ss(&["-tln", &filter], &mut ports);
    let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .map(|t| t.trim().parse().unwrap())
        .unwrap();
    let expected = 1024.min(somaxconn);
    assert!(
        text.contains(&format!(" {expected} 127.0.0.1:3214 ")),
        "{text}"
    );
    let mut clients: Vec<TcpStream> = (0..50).map(|_| tcp_connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let msg = format!("client {i}\n");
        assert_eq!(tcp_roundtrip(c, msg.as_bytes()), msg.as_bytes());
    }
}

/// 练习 2: with --idle-timeout 1, a silent client is closed after about 1 s, while a client that
/// sends a byte every 0.3 s is served all along (each byte echoed) and stays connected. (echo_mio,
/// which has no idle timeout, keeps the silent client: the check below fails.)
#[test]
fn ex_event_loop_idle_timeout_closes_a_silent_client_and_keeps_a_trickling_one() {
    silent_closed_trickling_kept(
        "ex_event_loop_idle_timeout",
        "闲置超时：1 秒没有收发数据（--idle-timeout）",
    );
}

/// Runs the server `name` with --idle-timeout 1: a silent client is closed after about 1 s (and
/// `why` is the reason on stderr), while a client that sends a byte every 0.3 s (for 3 s at
/// least) gets each byte echoed and stays connected.
fn silent_closed_trickling_kept(name: &str, why: &str) {
    let (mut proc, addr) = start(example(name), &["--idle-timeout", "1"]);
    let started = Instant::now();
    let mut silent = tcp_connect(addr);
    let silent_addr = silent.local_addr().unwrap();
    expect_line(&mut proc, &opened(silent_addr));
    let mut trickle = tcp_connect(addr);
    let trickle_addr = trickle.local_addr().unwrap();
    expect_line(&mut proc, &opened(trickle_addr));
    // The silent one is closed while the other trickles.
    silent
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut silent_closed_after = None;
    // At least 10 rounds (3 s of trickling), at most 30; until the silent one is closed.
    for round in 0..30 {
        assert_eq!(tcp_roundtrip(&mut trickle, b"a"), b"a");
        if silent_closed_after.is_none() {
            match silent.read(&mut [0u8; 1]) {
                Ok(0) => silent_closed_after = Some(started.elapsed()),
                Ok(_) => panic!("the silent client got data"),
                Err(_) => {} // still open: the 0.3 s read timed out
            }
        }
        if round >= 9 && silent_closed_after.is_some() {
            break;
        }
    }
    let after = silent_closed_after.expect("the silent client was closed within 9 s");
    assert!(
        after >= Duration::from_millis(900),
        "closed too early: {after:?}"
    );
    expect_line(&mut proc, &closed(silent_addr));
    // The trickling client is still served.
    assert_eq!(tcp_roundtrip(&mut trickle, b"still here"), b"still here");
    let out = proc.stop();
    assert_eq!(out.stderr, format!("断开 {silent_addr}：{why}\n"));
}

// ---------------------------------------------------------------------------------------------
// tokio 的任务（book/tokio.md）

/// 练习 1: the same as the event loop's, with tokio::time::timeout around each read.
/// (echo_tokio, which has no idle timeout, keeps the silent client: the check fails.)
#[test]
fn ex_tokio_idle_timeout_closes_a_silent_client_and_keeps_a_trickling_one() {
    silent_closed_trickling_kept(
        "ex_tokio_idle_timeout",
        "闲置超时：1 秒没有收到数据（--idle-timeout）",
    );
}

/// 练习 2: with the slot taken before `accept`, a third client beyond --max-clients 2 is not
/// refused: it waits in the accept queue (Recv-Q 1), gets no echo, and is served once the first
/// leaves. (echo_tokio refuses it: the accept queue stays empty, and the check fails.)
#[test]
fn ex_tokio_wait_for_slot_makes_the_third_client_wait_in_the_accept_queue() {
    let (mut proc, addr) = start(example("ex_tokio_wait_for_slot"), &["--max-clients", "2"]);
    let mut first = tcp_connect(addr);
    expect_line(&mut proc, &opened(first.local_addr().unwrap()));
    assert_eq!(tcp_roundtrip(&mut first, b"one"), b"one");
    let mut second = tcp_connect(addr);
    expect_line(&mut proc, &opened(second.local_addr().unwrap()));
    assert_eq!(tcp_roundtrip(&mut second, b"two"), b"two");
    let third = tcp_connect(addr);
    wait_until("the third client in the accept queue", || {
        accept_queue(addr) == 1
    });
    waits_until_the_first_leaves(&mut proc, first, third);
    assert_eq!(accept_queue(addr), 0);
    drop(second);
    let out = proc.stop();
    assert_eq!(out.stderr, "", "nobody refused");
}

/// 练习 2, the prediction: `ss` while the third client waits.
fn tokio_transcripts() -> Vec<(&'static str, String)> {
    if !tool_available("ss") {
        return vec![("wait_ss", String::new())];
    }
    let (mut proc, addr) = start(example("ex_tokio_wait_for_slot"), &["--max-clients", "2"]);
    let clients = silent_clients(addr, 3);
    proc.next_line();
    proc.next_line();
    let text = listen_queue_ss(addr, 1);
    drop(clients);
    vec![("wait_ss", text)]
}

#[test]
fn ex_tokio_transcripts() {
    check(
        "transcripts/exercises/tokio",
        tokio_transcripts(),
        "exercises",
    );
}

// ---------------------------------------------------------------------------------------------
// 优雅地停止服务器（book/shutdown.md）

const SIGTERM: i32 = 15;

/// Sends `sig` to the process `pid` (our own child).
fn send_signal(pid: u32, sig: i32) {
    let pid = i32::try_from(pid).expect("a pid");
    // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
    assert_eq!(
        unsafe { common::transcript::kill(pid, sig) },
        0,
        "send signal {sig}"
    );
}

/// Whether a bytes-free read on `stream` sees the end of the stream (a FIN), as opposed to a reset
/// or a timeout.
fn reads_eof(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(STEP)).unwrap();
    matches!(stream.read(&mut [0u8; 16]), Ok(0))
}

/// 练习 3: the asyncio server, on SIGTERM, stops accepting (a new connect is refused), says how
/// many connections it is closing, echoes what has arrived, ends each connection with a FIN (the
/// clients read EOF, not a reset), and exits 0 once they have closed. (echo_asyncio.py dies of
/// SIGTERM: no line, status 143, and the check of the exit status fails.)
#[test]
fn ex_shutdown_asyncio_stops_gracefully_on_sigterm() {
    let Some(cmd) = python_ladder("ex_shutdown_asyncio.py") else {
        return;
    };
    // A grace period well above what the test allows for the stop, so that "it did not wait for
    // the grace period" holds on a loaded machine too.
    let (mut proc, addr) = start(cmd, &["--grace", "20"]);
    let mut first = tcp_connect(addr);
    expect_line(&mut proc, &opened(first.local_addr().unwrap()));
    assert_eq!(tcp_roundtrip(&mut first, b"one"), b"one");
    let mut second = tcp_connect(addr);
    expect_line(&mut proc, &opened(second.local_addr().unwrap()));
    let started = Instant::now();
    send_signal(proc.pid(), SIGTERM);
    expect_line(&mut proc, "收到 SIGTERM：不再接受新连接，正在关闭 2 个连接");
    // The door is closed: a new client is refused at once.
    let refused = TcpStream::connect_timeout(&addr, IO_TIMEOUT);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{refused:?}"
    );
    // Each open connection ends with a FIN: the clients read EOF, then close.
    for stream in [&mut first, &mut second] {
        assert!(reads_eof(stream), "a clean end of the stream");
    }
    drop(first);
    drop(second);
    let out = proc.finish();
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it waited for the 20 s grace period: {:?}",
        started.elapsed()
    );
    assert_eq!(
        out.stdout.matches("连接关闭：").count(),
        2,
        "{}",
        out.stdout
    );
    assert_eq!(out.stderr, "");
}

/// 练习 3: a client that neither closes nor stops sending keeps its connection open past the
/// lingering; the grace period ends it, and the server still exits 0, saying so on stderr.
#[test]
fn ex_shutdown_asyncio_ends_at_the_grace_period() {
    let Some(cmd) = python_ladder("ex_shutdown_asyncio.py") else {
        return;
    };
    let (mut proc, addr) = start(cmd, &["--grace", "1"]);
    let chatty = tcp_connect(addr);
    expect_line(&mut proc, &opened(chatty.local_addr().unwrap()));
    // It never reads, so the server's writes block once the buffers fill: it cannot finish.
    let writer = {
        let mut stream = chatty.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = [b'x'; 65536];
            let deadline = Instant::now() + STEP;
            while Instant::now() < deadline && stream.write_all(&chunk).is_ok() {}
        })
    };
    wait_until("the server's send buffer is full", || {
        send_queue_at(addr) > 0
    });
    send_signal(proc.pid(), SIGTERM);
    let out = proc.finish();
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert_eq!(out.stderr, "宽限期到了：强行关闭 1 个连接\n");
    let _ = chatty.shutdown(std::net::Shutdown::Both);
    writer.join().unwrap();
}

/// The bytes waiting in the send queue of the server's side of a connection to `addr` (IPv4): the
/// tx_queue column of /proc/net/tcp for an established socket whose local port is the server's.
fn send_queue_at(addr: SocketAddr) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{:04X}", addr.port());
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() > 4 && fields[1].ends_with(&port) && fields[3] == "01").then(|| {
                let tx = fields[4].split(':').next().unwrap();
                usize::from_str_radix(tx, 16).unwrap()
            })
        })
        .max()
        .unwrap_or(0)
}

/// The rx_queue (bytes received, not yet read) of every established server-side socket of the
/// server on `addr` (IPv4), from /proc/net/tcp.
fn unread_at(addr: SocketAddr) -> Vec<usize> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{:04X}", addr.port());
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() > 4 && fields[1].ends_with(&port) && fields[3] == "01").then(|| {
                let rx = fields[4].split(':').nth(1).unwrap();
                usize::from_str_radix(rx, 16).unwrap()
            })
        })
        .collect()
}

/// 练习 1: echo_pool --workers 1, two clients that have each typed a line (the second waits in
/// the channel, its line unread), then Ctrl-C: the server counts both connections, finishes the
/// first (which lingers 1 s: its client is not reading), then takes the second from the channel,
/// echoes its line, and closes it; the second client gets its echo.
/// 练习 2: ctrl_c_drop --handle killed with SIGTERM: no Drop, and the shell sees 143.
fn shutdown_transcripts() -> Vec<(&'static str, String)> {
    let mut cmd = example(POOL);
    cmd.args(["127.0.0.1:0", "--workers", "1"]);
    let mut server = ServerTerminal::start("cargo run --example echo_pool -- --workers 1", cmd);
    let addr = server.addr;
    let client = || {
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        Terminal::spawn(cmd)
    };
    let mut first = client();
    first.type_line("我是第一个");
    assert_eq!(first.next_line(), "我是第一个");
    server.wait_for("Client Address");
    let mut second = client();
    second.type_line("我是第二个");
    wait_until(
        "the second line waits, unread, in the server's kernel",
        || unread_at(addr).contains(&15),
    );
    let status = server.signal_and_wait(SIGINT);
    assert!(status.success(), "{}", server.transcript());
    assert_eq!(second.next_line(), "我是第二个");
    let (out, err) = second.end_input();
    assert_eq!((out.as_str(), err.as_str()), ("我是第二个\n", ""));
    let (out, err) = first.end_input();
    assert_eq!((out.as_str(), err.as_str()), ("我是第一个\n", ""));
    let typed = |text: &str| {
        shell(
            "cargo run --example tcp_echo_client",
            &format!("{text}\n{text}\n"),
        )
    };
    let pool = vec![
        ("pool_server", ctrl_c_in(&server.transcript())),
        ("pool_client1", typed("我是第一个")),
        ("pool_client2", typed("我是第二个")),
    ];

    let mut cmd = example("ctrl_c_drop");
    cmd.arg("--handle");
    let mut drop_demo = Terminal::spawn(cmd);
    let ready = drop_demo.next_line();
    send_signal(drop_demo.pid(), SIGTERM);
    let (out, err, status) = drop_demo.finish_with_status();
    assert_eq!(out, format!("{ready}\n"), "no Drop line");
    assert_eq!(err, "");
    assert_eq!(status.signal(), Some(SIGTERM), "killed by SIGTERM");
    let drop_text = shell("cargo run --example ctrl_c_drop -- --handle", &out)
        + &shell("echo $?", &format!("{}\n", 128 + SIGTERM));
    let mut made = pool;
    made.push(("drop_sigterm", drop_text));
    made.push(("drop_kill", shell("kill -TERM $(pgrep -x ctrl_c_drop)", "")));
    made
}

#[test]
fn ex_shutdown_transcripts() {
    check(
        "transcripts/exercises/shutdown",
        shutdown_transcripts(),
        "exercises",
    );
}

// ---------------------------------------------------------------------------------------------
// 聊天室（book/chat.md）

/// A chat client driven by the test: every read bounded by IO_TIMEOUT (tcp_connect sets it).
struct Chatter {
    reader: std::io::BufReader<TcpStream>,
    /// Its address, as the server names it at first.
    addr: String,
}

impl Chatter {
    /// Connects and reads the welcome, which counts `online` people.
    fn join(server: SocketAddr, online: usize) -> Chatter {
        let stream = tcp_connect(server);
        let addr = stream.local_addr().unwrap().to_string();
        let mut c = Chatter {
            reader: std::io::BufReader::new(stream),
            addr,
        };
        let welcome = format!(
            "*** 欢迎来到聊天室！你是 {}，现在共有 {online} 人在线\n",
            c.addr
        );
        c.expect(&welcome);
        c
    }

    fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = Vec::new();
        self.reader
            .read_until(b'\n', &mut line)
            .unwrap_or_else(|e| panic!("{}: no line: {e}", self.addr));
        assert!(line.ends_with(b"\n"), "{}: the stream ended", self.addr);
        String::from_utf8(line).expect("UTF-8")
    }

    fn expect(&mut self, want: &str) {
        let got = self.line();
        assert_eq!(got, want, "{}", self.addr);
    }

    fn send(&mut self, text: &str) {
        self.reader.get_mut().write_all(text.as_bytes()).unwrap();
    }
}

/// `n` chatters join one after another; each sees the later ones join.
fn chatters(server: SocketAddr, n: usize) -> Vec<Chatter> {
    let mut all: Vec<Chatter> = Vec::new();
    for k in 0..n {
        let c = Chatter::join(server, k + 1);
        for earlier in &mut all {
            earlier.expect(&format!("*** {} 加入了聊天室\n", c.addr));
        }
        all.push(c);
    }
    all
}

/// 练习 1: `/nick 小明` renames: the others are told, the renamed one is told, and from then on
/// its lines (and its leaving) carry the new name; a bad name and a taken name are refused with a
/// line to the asker only. (chat_server relays `/nick 小明` as an ordinary line: the first
/// expectation fails.)
#[test]
fn ex_chat_nick_renames_with_slash_nick() {
    let (_proc, server) = start(example("ex_chat_nick"), &[]);
    let mut c = chatters(server, 3);
    let [a, b, third] = &mut c[..] else {
        unreachable!("three chatters")
    };
    a.send("/nick 小明\n");
    a.expect("*** 你现在叫 小明\n");
    b.expect(&format!("*** {} 改名为 小明\n", a.addr));
    third.expect(&format!("*** {} 改名为 小明\n", a.addr));
    a.send("大家好\n");
    b.expect("小明: 大家好\n");
    third.expect("小明: 大家好\n");
    // Refused names: told to the asker only (the others' next line is the next real message).
    for (bad, why) in [
        ("/nick ***\n", "名字里不能有冒号，也不能以 * 开头"),
        ("/nick 小 明\n", "名字里不能有空白和控制字符"),
        ("/nick 127.0.0.1:1\n", "名字里不能有冒号，也不能以 * 开头"),
        ("/nick \x1b[2J\n", "名字里不能有空白和控制字符"),
        (
            "/nick 一二三四五六七八九十一二三四五六七\n",
            "名字要有 1 到 16 个字符",
        ),
    ] {
        b.send(bad);
        b.expect(&format!("*** 没有改名：{why}\n"));
    }
    b.send("/nick 小明\n");
    b.expect("*** 没有改名：`小明` 已经有人用了\n");
    b.send("我还是我\n");
    a.expect(&format!("{}: 我还是我\n", b.addr));
    third.expect(&format!("{}: 我还是我\n", b.addr));
    // Leaving is announced with the name.
    let a = c.remove(0);
    a.reader
        .get_ref()
        .shutdown(std::net::Shutdown::Both)
        .unwrap();
    drop(a);
    for other in &mut c {
        other.expect("*** 小明 离开了聊天室\n");
    }
}

/// 练习 2: with --rate 50 --burst 10, 60 lines sent at once reach another client no sooner than
/// (60 - 10) / 50 = 1 s, all of them, in order, and the sender is not disconnected.
/// (chat_server delivers them within milliseconds: the timing check fails.)
#[test]
fn ex_chat_rate_limit_slows_a_flooding_client() {
    let (_proc, server) = start(
        example("ex_chat_rate_limit"),
        &["--rate", "50", "--burst", "10"],
    );
    let mut c = chatters(server, 2);
    let flood: String = (0..60).map(|i| format!("第 {i} 行\n")).collect();
    let started = Instant::now();
    c[0].send(&flood);
    let sender = c[0].addr.clone();
    for i in 0..60 {
        c[1].expect(&format!("{sender}: 第 {i} 行\n"));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(950),
        "60 lines at 50 a second after a burst of 10 came in {took:?}"
    );
    // The flooder is still in the room.
    c[1].send("慢一点\n");
    let receiver = c[1].addr.clone();
    c[0].expect(&format!("{receiver}: 慢一点\n"));
}

/// 练习 1: chat_server --max-clients 1 and a second chat_client: it is told the room is full and
/// closed; the server says one line on stderr, and prints no Client Address for it.
fn chat_transcripts() -> Vec<(&'static str, String)> {
    let mut cmd = example("chat_server");
    cmd.args(["127.0.0.1:0", "--max-clients", "1"]);
    let mut server =
        ServerTerminal::start("cargo run --example chat_server -- --max-clients 1", cmd);
    let addr = server.addr;
    let client = || {
        let mut cmd = example("chat_client");
        cmd.arg(addr.to_string());
        Terminal::spawn(cmd)
    };
    let mut first = client();
    assert!(first.next_line().starts_with("*** 欢迎来到聊天室！"));
    server.wait_for("Client Address");
    let second = client();
    server.wait_for("拒绝");
    // Its stdin stays open, as in a terminal: it ends because the server closed the connection.
    let mut second = second;
    let (out, err, status) = second.finish_with_status();
    assert!(status.success(), "{out}{err}");
    let second_text = shell("cargo run --example chat_client", &(out + &err));
    let (_, err) = first.end_input();
    assert_eq!(err, "");
    server.wait_for("连接关闭");
    assert!(server.signal_and_wait(SIGINT).success());
    vec![
        ("full_server", ctrl_c_in(&server.transcript())),
        ("full_second", second_text),
    ]
}

#[test]
fn ex_chat_transcripts() {
    check(
        "transcripts/exercises/chat",
        chat_transcripts(),
        "exercises",
    );
}
