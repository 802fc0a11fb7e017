//! echo_hardened against hostile clients the attack programs do not cover, each one written as
//! the client a tester would try: silent halfway through a line, a half-close, an unfinished line,
//! a reset in the middle of a line, a client that never reads its echoes, lines exactly at and
//! one byte over the limit, bytes that are not UTF-8, many honest clients at once; then the
//! command line (--help, bad values, a public address) and the graceful stop.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Socket, Type};

fn hardened(args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = example("echo_hardened");
    cmd.arg("127.0.0.1:0").args(args);
    start_server(cmd)
}

/// Reads until EOF (or a reset, which also ends what the client can read); bounded by IO_TIMEOUT.
fn read_to_end(stream: &mut TcpStream) -> (Vec<u8>, Option<ErrorKind>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Some(e.kind())),
        }
    }
}

/// A client connected from 127.0.0.N.
fn connect_from(server: SocketAddr, n: u8) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv4Addr::new(127, 0, 0, n), 0)).into())
        .unwrap();
    socket.connect_timeout(&server.into(), IO_TIMEOUT).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

#[test]
fn a_half_close_gets_every_complete_line_then_eof() {
    let (server, addr) = hardened(&[]);
    let mut stream = tcp_connect(addr);
    stream.write_all(b"one\ntwo\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut stream), (b"one\ntwo\n".to_vec(), None));
    drop(server);
}

#[test]
fn an_unfinished_line_at_eof_is_dropped_with_one_line() {
    let (mut server, addr) = hardened(&[]);
    let mut stream = tcp_connect(addr);
    stream.write_all(b"one\npartial").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut stream), (b"one\n".to_vec(), None));
    while !server.next_line().starts_with("连接关闭") {}
    let log = server.stop();
    assert!(
        log.stderr.contains("还有 7 字节没有换行符：丢弃，不回显"),
        "{log:?}"
    );
}

#[test]
fn a_line_of_exactly_max_line_bytes_is_echoed_and_one_more_byte_closes() {
    let (mut server, addr) = hardened(&["--max-line", "64"]);
    let mut line = vec![b'a'; 63];
    line.push(b'\n');
    let mut stream = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut stream, &line), line);
    // Two lines at once, both at the limit: still fine.
    let two = [line.clone(), line.clone()].concat();
    assert_eq!(tcp_roundtrip(&mut stream, &two), two);
    let mut long = vec![b'b'; 64];
    long.push(b'\n');
    stream.write_all(&long).unwrap();
    let (echo, _) = read_to_end(&mut stream);
    assert!(echo.is_empty(), "nothing of the long line comes back");
    while !server.next_line().starts_with("连接关闭") {}
    let log = server.stop();
    assert!(
        log.stderr
            .contains("一行超过 64 字节还没有换行符（--max-line）"),
        "{log:?}"
    );
}

#[test]
fn bytes_that_are_not_utf8_are_echoed_exactly() {
    let (server, addr) = hardened(&["--log-lines"]);
    let mut stream = tcp_connect(addr);
    let line = b"\xff\xfe\x00\x1b[31m\xe4\xbd\n";
    assert_eq!(tcp_roundtrip(&mut stream, line), line);
    drop(stream);
    drop(server);
}

#[test]
fn a_reset_in_the_middle_of_a_line_closes_only_that_client() {
    let (mut server, addr) = hardened(&[]);
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
    socket.send(b"half a li").unwrap();
    socket.set_linger(Some(Duration::ZERO)).unwrap(); // close sends RST
    while !server.next_line().starts_with("Client Address") {}
    drop(socket);
    while !server.next_line().starts_with("连接关闭") {}
    let mut honest = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut honest, b"still here\n"), b"still here\n");
    let log = server.stop();
    assert!(
        log.stderr.contains("接收数据失败") || log.stderr.contains("还有 9 字节没有换行符"),
        "{log:?}"
    );
}

#[test]
fn a_silent_client_halfway_through_a_line_meets_the_line_deadline() {
    let (mut server, addr) = hardened(&["--line-deadline", "0.5", "--idle", "30"]);
    let mut stream = tcp_connect(addr);
    let start = Instant::now();
    stream.write_all(b"no end").unwrap();
    let (echo, _) = read_to_end(&mut stream);
    let took = start.elapsed();
    assert!(echo.is_empty());
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{took:?}"
    );
    while !server.next_line().starts_with("连接关闭") {}
    let log = server.stop();
    assert!(
        log.stderr
            .contains("一行 0.5 秒还没收完（--line-deadline），已经收到 6 字节"),
        "{log:?}"
    );
}

#[test]
fn a_client_that_never_reads_its_echoes_is_closed_and_memory_stays_bounded() {
    let (mut server, addr) = hardened(&["--idle", "1"]);
    let mut stream = tcp_connect(addr);
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let line = [vec![b'x'; 1023], vec![b'\n']].concat();
    // Write until the server's and our buffers are full (our write times out) or it closes.
    let start = Instant::now();
    let mut sent = 0usize;
    while start.elapsed() < STEP {
        match stream.write(&line) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(_) => break,
        }
    }
    assert!(sent > 64 * 1024, "only {sent} bytes went out");
    while !server.next_line().starts_with("连接关闭") {}
    // Meanwhile another client is served.
    let mut honest = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut honest, b"hi\n"), b"hi\n");
    let peak = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let log = server.stop();
    assert!(
        log.stderr.contains("1 秒没有读走回显（--idle）"),
        "{log:?}\n{peak}"
    );
}

#[test]
fn many_honest_clients_from_many_addresses_are_served_at_once() {
    let (server, addr) = hardened(&[]);
    let clients: Vec<_> = (0..100u8)
        .map(|i| {
            thread::spawn(move || {
                let mut stream = connect_from(addr, 10 + i);
                for round in 0..5 {
                    let line = format!("client {i} round {round}\n");
                    assert_eq!(tcp_roundtrip(&mut stream, line.as_bytes()), line.as_bytes());
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("every honest client is echoed");
    }
    drop(server);
}

#[test]
fn a_refused_connection_reads_eof_or_reset_at_once() {
    let (mut server, addr) = hardened(&["--max-per-ip", "1"]);
    let mut first = tcp_connect(addr);
    while !server.next_line().starts_with("Client Address") {}
    let mut second = tcp_connect(addr);
    let (echo, _) = read_to_end(&mut second);
    assert!(echo.is_empty());
    assert_eq!(tcp_roundtrip(&mut first, b"ok\n"), b"ok\n");
    drop(first);
    while !server.next_line().starts_with("连接关闭") {}
    // Its slot came back: a new connection from the same address is served.
    let mut third = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut third, b"ok\n"), b"ok\n");
    let log = server.stop();
    assert_eq!(
        log.stderr
            .matches("这个 IP 已经有 1 个连接（--max-per-ip）")
            .count(),
        1,
        "{log:?}"
    );
}

#[test]
fn sigterm_finishes_the_connections_and_exits_0() {
    let (mut server, addr) = hardened(&[]);
    let mut stream = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut stream, b"before\n"), b"before\n");
    const SIGTERM: i32 = 15;
    // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
    assert_eq!(
        unsafe { transcript::kill(i32::try_from(server.pid()).unwrap(), SIGTERM) },
        0
    );
    assert_eq!(read_to_end(&mut stream), (Vec::new(), None));
    drop(stream);
    let mut line = server.next_line();
    while line.starts_with("Client Address") {
        line = server.next_line();
    }
    assert!(
        line.starts_with("收到 SIGTERM：不再接受新连接，正在关闭 1 个连接"),
        "{line}"
    );
    let out = server.finish();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn help_names_every_limit() {
    let mut cmd = example("echo_hardened");
    cmd.arg("--help");
    let out = run(cmd, b"");
    out.assert_success();
    for flag in [
        "--public",
        "--max-clients",
        "--max-per-ip",
        "--max-line",
        "--idle",
        "--line-deadline",
        "--log-lines",
        "--grace",
    ] {
        assert!(out.stdout.contains(flag), "--help does not name {flag}");
    }
}

#[test]
fn bad_limits_and_a_public_address_without_public_are_refused() {
    for (args, needle) in [
        (&["--max-line", "0"][..], "--max-line"),
        (&["--max-line", "99999999"], "--max-line"),
        (&["--idle", "0"], "--idle"),
        (&["--line-deadline", "nan"], "--line-deadline"),
        (&["--max-per-ip", "-1"], "--max-per-ip"),
        (&["--max-clients"], "--max-clients"),
        (&["0.0.0.0:0"], "不是回环地址"),
        (&["--bogus"], "不认识的选项"),
    ] {
        let mut cmd = example("echo_hardened");
        cmd.args(args);
        run(cmd, b"").assert_clean_failure(needle);
    }
}
