//! The programs of the chapter 正确地关闭连接, run as processes on loopback: the half-close
//! client (Rust and Python) copies 10 MB exactly through Part I's tcp_echo_server; rst_demo sees
//! one FIN and two resets; close_wait_server leaves CLOSE-WAIT sockets (seen with `ss`) and its
//! fixed variant does not; and every program's command line.
//!
//! The copy tests run Part I's tcp_echo_server, which the root package builds: run them with
//! `cargo test` at the root (or build it first with `cargo build --examples`).

mod closing_support;
#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::process::Command;
use std::thread;
use std::time::Duration;

use closing_support::*;
use common::*;

/// How long copying 10 MB may take (a debug build on a busy machine needs a few seconds).
const COPY_LIMIT: Duration = Duration::from_secs(60);
const TEN_MB: usize = 10_000_000;

/// Copies 10 MB of random bytes (no trailing newline) through tcp_echo_server with `client`.
fn copy_through_echo_server(mut client: Command, seed: u64) {
    let dir = tempdir();
    let data = random_bytes(TEN_MB, seed);
    assert!(std::str::from_utf8(&data).is_err() && !data.ends_with(b"\n"));
    let input = dir.path().join("big.bin");
    let output = dir.path().join("copy.bin");
    std::fs::write(&input, &data).unwrap();
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    client.arg(addr.to_string());
    let (status, stderr) = run_with_files(client, &input, &output, COPY_LIMIT);
    assert!(status.success(), "the client failed: {status:?} {stderr}");
    assert_eq!(stderr, "", "the client said something on stderr");
    let copy = std::fs::read(&output).unwrap();
    if copy != data {
        let first = copy.iter().zip(&data).position(|(a, b)| a != b);
        panic!(
            "the copy differs: {} bytes instead of {}, first difference at {first:?}",
            copy.len(),
            data.len()
        );
    }
    // The server read to EOF (our half-close), echoed everything, and ended by itself.
    server.finish().assert_success();
}

#[test]
fn half_close_client_copies_10_mb_exactly_through_the_part_1_echo_server() {
    copy_through_echo_server(example("half_close_client"), 1);
}

#[test]
fn python_half_close_client_copies_10_mb_exactly_through_the_part_1_echo_server() {
    if let Some(cmd) = python_part2("half_close_client.py") {
        copy_through_echo_server(cmd, 2);
    }
}

/// A server that reads the first line, answers "bye" and closes while the client's input is
/// still open: the client must say so and fail, not end as if all had been echoed.
fn server_that_closes_early(client: Command) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut line = [0u8; 6];
        conn.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"hello\n");
        conn.write_all(b"bye\n").unwrap();
        // Dropped here with nothing unread: a FIN, not a RST.
    });
    let mut client = {
        let mut cmd = client;
        cmd.arg(addr.to_string());
        Running::spawn(cmd)
    };
    client.type_line("hello");
    assert_eq!(client.next_line(), "bye");
    server.join().unwrap();
    // The input is still open: the client has more to say, and the server is gone.
    let (status, stdout, stderr) = client.finish();
    assert!(!status.success(), "expected a failure: {stdout} {stderr}");
    assert_eq!(stdout, "bye\n");
    assert_eq!(stderr.lines().count(), 1, "one line on stderr: {stderr}");
    assert!(
        stderr.contains("服务器在输入发完之前关闭了连接"),
        "{stderr}"
    );
}

#[test]
fn half_close_client_reports_a_server_that_closes_before_the_input_ends() {
    server_that_closes_early(example("half_close_client"));
}

#[test]
fn python_half_close_client_reports_a_server_that_closes_before_the_input_ends() {
    if let Some(cmd) = python_part2("half_close_client.py") {
        server_that_closes_early(cmd);
    }
}

/// `half_close_client | head -1`: once head has gone, the client ends quietly.
fn quiet_when_stdout_closes(mut client: Command) {
    let (_server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    client.arg(addr.to_string());
    let input: Vec<u8> = (0..200_000)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect();
    let (head, first) = HeadOne::spawn(client, Some(input));
    assert_eq!(first, "0");
    head.finish().assert_quiet();
}

#[test]
fn half_close_client_is_quiet_when_its_stdout_closes() {
    quiet_when_stdout_closes(example("half_close_client"));
}

#[test]
fn python_half_close_client_is_quiet_when_its_stdout_closes() {
    if let Some(cmd) = python_part2("half_close_client.py") {
        quiet_when_stdout_closes(cmd);
    }
}

/// The port after "Client Address: 127.0.0.1:".
fn client_port(line: &str) -> u16 {
    let digits: String = line
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|part| !part.is_empty())
        .unwrap_or_default()
        .to_string();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no client port in {line:?}"))
}

/// Against a server that never closes, the half-close client waits: its side is in FIN-WAIT-2
/// (its FIN acknowledged), the server's in CLOSE-WAIT. When the server process ends, the kernel
/// closes the socket, the client reads EOF and ends with the whole echo.
#[test]
fn half_close_client_waits_while_the_server_forgets_to_close() {
    if !tool_available("ss") {
        return;
    }
    let mut server_cmd = example("close_wait_server");
    server_cmd.arg("127.0.0.1:0");
    let mut server = Proc::spawn(server_cmd, None);
    let addr = server.bound_addr();
    let mut client = {
        let mut cmd = example("half_close_client");
        cmd.arg(addr.to_string());
        Running::spawn(cmd)
    };
    let opened = server.next_line();
    let port = client_port(&opened);
    client.type_line("hello");
    assert_eq!(client.next_line(), "hello");
    client.end_input();
    assert!(server.next_line().contains("服务器没有关闭这个连接"));
    let mut ports = Ports::new(addr.port());
    ports.show(port);
    let filter = port_filter(addr.port());
    let states = ss_until(&["-tan", &filter], &mut ports, |text| {
        text.contains("FIN-WAIT-2 0 0 127.0.0.1:54321 127.0.0.1:3214")
    });
    assert!(
        states.contains("CLOSE-WAIT 0 0 127.0.0.1:3214 127.0.0.1:54321"),
        "{states}"
    );
    drop(server); // killed: the kernel closes its sockets, and sends the FIN the server never did
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{stdout} {stderr}");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("hello\n", ""));
}

/// rst_demo's three cases: Ok(0) after a FIN, then ConnectionReset twice.
#[test]
fn rst_demo_reads_a_fin_then_two_resets() {
    let out = run(example("rst_demo"), b"");
    out.assert_success();
    let reads: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("客户端的 read 返回"))
        .collect();
    assert_eq!(reads.len(), 3, "{out:#?}");
    assert!(reads[0].contains("Ok(0)"), "{out:#?}");
    for read in &reads[1..] {
        assert!(
            read.contains("Err(ConnectionReset)") && read.contains("Connection reset by peer"),
            "{out:#?}"
        );
    }
}

#[test]
fn python_rst_demo_reads_a_fin_then_two_resets() {
    let Some(cmd) = python_part2("rst_demo.py") else {
        return;
    };
    let out = run(cmd, b"");
    out.assert_success();
    let reads: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("客户端的 recv"))
        .collect();
    assert_eq!(reads.len(), 3, "{out:#?}");
    assert!(reads[0].contains("返回 b''"), "{out:#?}");
    for read in &reads[1..] {
        assert!(read.contains("ConnectionResetError"), "{out:#?}");
    }
}

/// The leaky server leaves the connection in CLOSE-WAIT; the fixed one closes it, and the client
/// reads EOF.
fn close_wait_and_fixed(leaky: Command, fixed: Command) {
    if !tool_available("ss") {
        return;
    }
    let (mut server, addr) = start_server(leaky);
    let mut stream = tcp_connect(addr);
    let port = stream.local_addr().unwrap().port();
    assert_eq!(tcp_roundtrip(&mut stream, b"hi"), b"hi");
    stream.shutdown(Shutdown::Write).unwrap();
    let opened = server.next_line();
    let closed = server.next_line();
    // Both languages print the client's address as IP:PORT (not Python's tuple).
    assert_eq!(opened, format!("Client Address: 127.0.0.1:{port}"));
    assert_eq!(
        closed,
        format!("客户端 127.0.0.1:{port} 已关闭；服务器没有关闭这个连接（没关闭的连接：1 个）")
    );
    let mut ports = Ports::new(addr.port());
    ports.show(port);
    let filter = format!("sport = :{}", addr.port());
    let waiting = ss(&["-tan", "state", "close-wait", &filter], &mut ports);
    assert!(
        waiting.contains("127.0.0.1:3214 127.0.0.1:54321"),
        "no CLOSE-WAIT socket on the server's port:\n{waiting}"
    );

    let (mut server, addr) = start_server(fixed);
    let mut stream = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut stream, b"hi"), b"hi");
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the fixed server closes: the client reads EOF");
    assert!(rest.is_empty());
    let opened = server.next_line();
    let closed = server.next_line();
    let port = stream.local_addr().unwrap().port();
    assert_eq!(opened, format!("Client Address: 127.0.0.1:{port}"));
    assert_eq!(
        closed,
        format!("客户端 127.0.0.1:{port} 已关闭；服务器也关闭了这个连接")
    );
    let mut ports = Ports::new(addr.port());
    let filter = format!("sport = :{}", addr.port());
    let waiting = ss(&["-tan", "state", "close-wait", &filter], &mut ports);
    assert_eq!(
        waiting.lines().count(),
        1,
        "only the header: no CLOSE-WAIT socket on the fixed server's port:\n{waiting}"
    );
}

#[test]
fn close_wait_server_leaves_close_wait_and_the_fixed_one_does_not() {
    let mut leaky = example("close_wait_server");
    leaky.arg("127.0.0.1:0");
    let mut fixed = example("close_wait_server");
    fixed.args(["--fixed", "127.0.0.1:0"]);
    close_wait_and_fixed(leaky, fixed);
}

#[test]
fn python_close_wait_server_leaves_close_wait_and_the_fixed_one_does_not() {
    let (Some(mut leaky), Some(mut fixed)) = (
        python_part2("close_wait_server.py"),
        python_part2("close_wait_server.py"),
    ) else {
        return;
    };
    leaky.arg("127.0.0.1:0");
    fixed.args(["127.0.0.1:0", "--fixed"]);
    close_wait_and_fixed(leaky, fixed);
}

/// The leak is bounded: after 101 clients, 100 connections are kept (the oldest was closed).
#[test]
fn close_wait_server_keeps_at_most_100_connections() {
    if !tool_available("ss") {
        return;
    }
    let (mut server, addr) = start_example("close_wait_server", "127.0.0.1:0");
    let mut last = String::new();
    for _ in 0..101 {
        let stream = tcp_connect(addr);
        stream.shutdown(Shutdown::Write).unwrap();
        let _opened = server.next_line();
        last = server.next_line();
        // The client's side is closed here: with nothing unread, a FIN.
    }
    assert!(last.contains("（没关闭的连接：100 个）"), "{last}");
    let mut ports = Ports::new(addr.port());
    let filter = format!("sport = :{}", addr.port());
    let waiting = ss(&["-tan", "state", "close-wait", &filter], &mut ports);
    assert_eq!(waiting.lines().count(), 1 + 100, "{waiting}");
}

#[test]
fn every_program_answers_help() {
    for name in ["half_close_client", "rst_demo", "close_wait_server"] {
        for flag in ["-h", "--help"] {
            let mut cmd = example(name);
            cmd.arg(flag);
            let out = run(cmd, b"");
            out.assert_success();
            assert!(out.stdout.starts_with("用法："), "{name}: {out:#?}");
            assert_eq!(out.stderr, "", "{name}");
        }
    }
    for script in [
        "half_close_client.py",
        "rst_demo.py",
        "close_wait_server.py",
    ] {
        let Some(mut cmd) = python_part2(script) else {
            return;
        };
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        assert!(out.stdout.starts_with("用法："), "{script}: {out:#?}");
    }
}

fn fails(name: &str, args: &[&str], needle: &str) {
    let mut cmd = example(name);
    cmd.args(args);
    run(cmd, b"").assert_clean_failure(needle);
}

#[test]
fn bad_arguments_fail_with_one_clear_line() {
    fails("half_close_client", &["nonsense"], "无法解析地址");
    fails(
        "half_close_client",
        &["::1:3214"],
        "IPv6 地址要放在方括号里",
    );
    fails("half_close_client", &["--bogus"], "不认识的选项 --bogus");
    fails("half_close_client", &["127.0.0.1:1", "x"], "参数太多");
    fails("rst_demo", &["1.2.3"], "无法解析地址");
    fails("rst_demo", &["192.0.2.1:0"], "本机没有这个 IP 地址");
    fails("rst_demo", &["-x"], "不认识的选项 -x");
    fails("close_wait_server", &["localhost:3214"], "无法解析地址");
    fails("close_wait_server", &["--fix"], "不认识的选项 --fix");
    fails(
        "close_wait_server",
        &["127.0.0.1:0", "127.0.0.1:0"],
        "参数太多",
    );

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    fails("close_wait_server", &[&taken_addr], "端口已被占用");
    fails("rst_demo", &[&taken_addr], "端口已被占用");
    // A port where nobody listens: connection refused.
    drop(taken);
    fails("half_close_client", &[&taken_addr], "无法连接");
}

#[test]
fn python_programs_fail_with_one_clear_line() {
    for (script, args) in [
        ("half_close_client.py", vec!["nonsense"]),
        ("half_close_client.py", vec!["127.0.0.1:1", "x"]),
        ("rst_demo.py", vec!["1.2.3"]),
        ("close_wait_server.py", vec!["--bogus"]),
        ("close_wait_server.py", vec!["nonsense"]),
    ] {
        let Some(mut cmd) = python_part2(script) else {
            return;
        };
        cmd.args(&args);
        run(cmd, b"").assert_clean_failure("错误：");
    }
}

#[test]
fn the_servers_and_the_demo_are_quiet_when_their_stdout_closes() {
    let (head, first) = HeadOne::spawn(example("rst_demo"), None);
    assert!(first.starts_with("服务器端监听 127.0.0.1:"), "{first}");
    head.finish().assert_quiet();

    let mut cmd = example("close_wait_server");
    cmd.arg("127.0.0.1:0");
    let (head, first) = HeadOne::spawn(cmd, None);
    let addr: SocketAddr = first.parse().expect("an address first");
    // Its next line has nobody to read it: the server ends quietly.
    let mut stream = tcp_connect(addr);
    let mut buf = [0u8; 1];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected the connection to end: {other:?}"),
    }
    head.finish().assert_quiet();
}
