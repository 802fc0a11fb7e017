//! The solutions of Part I's exercises (the `## 练习` of each chapter), run as processes on
//! loopback: each test checks exactly what its exercise asks for. The transcripts of the
//! observation exercises live in book/transcripts/exercises/<chapter>/ and are made here;
//! `UPDATE_TRANSCRIPTS=1 cargo test --test exercises` regenerates them.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

use common::transcript::{self, *};
use common::*;

// ---- 用套接字建立 TCP 连接 (tcp-echo.md) ----

/// The server-side sockets of the server listening on `port`, from /proc/net/tcp: (state, bytes
/// received and not yet read). State 01 is ESTABLISHED.
fn server_side_sockets(port: u16) -> Vec<(String, usize)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            let state = fields.get(3)?;
            let rx = fields.get(4)?.rsplit(':').next()?;
            (u16::from_str_radix(local_port, 16).ok()? == port && *state == "01")
                .then(|| Some((state.to_string(), usize::from_str_radix(rx, 16).ok()?)))
                .flatten()
        })
        .collect()
}

/// 练习 1 (observation): two clients at once on tcp_echo_server. The second one's `connect`
/// succeeds (the kernel completes the handshake and queues it), its line waits unread in the
/// server's queue, and when the first client leaves the server ends: the waiting connection is
/// reset.
fn two_clients_at_once() -> Vec<(&'static str, String)> {
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let mut first = Terminal::spawn({
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        cmd
    });
    first.type_line("hello");
    assert_eq!(first.next_line(), "hello");
    let mut second = Terminal::spawn({
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        cmd
    });
    second.type_line("world");
    // The second client's 5 bytes arrive in a connection nobody has accepted yet.
    wait_until(
        "the second client's line waits in the server's queue",
        || {
            server_side_sockets(addr.port())
                .iter()
                .any(|(_, unread)| *unread == "world".len())
        },
    );
    let (first_out, first_err) = first.end_input();
    assert_eq!(first_err, "");
    let server = server.finish();
    server.assert_success();
    let (second_out, second_err) = second.finish();
    assert_eq!(second_out, "", "the second client got no echo");
    assert!(
        second_err.contains("Connection reset by peer"),
        "the second client's connection is reset: {second_err:?}"
    );
    vec![
        (
            "two_clients_server",
            shell(
                "cargo run --example tcp_echo_server",
                &normalize_clients(&server.stdout, addr.port()),
            ),
        ),
        (
            "two_clients_first",
            shell(
                "cargo run --example tcp_echo_client",
                &format!("hello\n{first_out}"),
            ),
        ),
        (
            "two_clients_second",
            shell(
                "cargo run --example tcp_echo_client",
                &format!("world\n{second_err}"),
            ),
        ),
    ]
}

#[test]
fn tcp_echo_exercise_transcripts() {
    transcript::check(
        "transcripts/exercises/tcp-echo",
        two_clients_at_once(),
        "exercises",
    );
}

/// 练习 2: the server loops on accept. tcp_echo_server fails this test: it ends after its first
/// client, so the second one's connect is refused.
#[test]
fn ex_tcp_echo_loop_serves_a_second_client_after_the_first_leaves() {
    let (mut server, addr) = start_example("ex_tcp_echo_loop", "127.0.0.1:0");
    for (k, line) in [b"first\n".as_slice(), "第二个\n".as_bytes()]
        .iter()
        .enumerate()
    {
        let mut client = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut client, line), *line);
        drop(client); // the client leaves
        let opened = server.next_line();
        assert!(
            opened.starts_with("Client Address: 127.0.0.1:"),
            "{k}: {opened}"
        );
        server.next_line(); // its Receive Data line
    }
}

/// 练习 2: one client's error (here a reset, RST, sent by closing with SO_LINGER 0) ends only
/// that client's conversation; tcp_echo_server fails this test (its read error ends it).
#[test]
fn ex_tcp_echo_loop_survives_a_client_that_resets() {
    let (mut server, addr) = start_example("ex_tcp_echo_loop", "127.0.0.1:0");
    let rude = tcp_connect(addr);
    socket2::SockRef::from(&rude)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(rude); // RST instead of FIN
    assert!(server.next_line().starts_with("Client Address: "));
    let mut polite = tcp_connect(addr);
    assert_eq!(tcp_roundtrip(&mut polite, b"still here"), b"still here");
    assert!(server.next_line().starts_with("Client Address: "));
}

/// 练习 3: a single `read` returns what has arrived, not what was sent. A test server echoes the
/// first half of a 100,000-byte line at once and the rest only after the client has gone: the
/// client with one `read` prints part of the line. (tcp_echo_client, with `read_exact`, would
/// wait for the rest instead: against this server it times out after 5 seconds.)
#[test]
fn ex_tcp_echo_single_read_loses_part_of_a_long_line() {
    const LINE: usize = 100_000;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut line = vec![0u8; LINE];
        conn.read_exact(&mut line).unwrap();
        conn.write_all(&line[..LINE / 2]).unwrap();
        // The rest only once the client has closed: it reads 0 bytes then, or a reset when the
        // client closed with part of the first half still unread (its kernel then sends RST).
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
        let _ = conn.write_all(&line[LINE / 2..]);
    });
    let input = format!("{}\n", "a".repeat(LINE));
    let out = run_example_client("ex_tcp_echo_single_read", addr, input.as_bytes());
    out.assert_success();
    server.join().unwrap();
    let printed = out.stdout.trim_end_matches('\n');
    assert!(
        !printed.is_empty() && printed.len() <= LINE / 2 && printed.bytes().all(|b| b == b'a'),
        "one read gets at most the first half: printed {} bytes",
        printed.len()
    );
}

// ---- 用套接字建立 UDP 连接 (udp-echo.md) ----

/// 练习 1 (observation): two UDP clients talk to one server, turn by turn; each gets its own
/// echo, and the server's output does not say who sent what.
fn two_udp_clients() -> Vec<(&'static str, String)> {
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    let client = || {
        let mut cmd = example("udp_echo_client");
        cmd.arg(addr.to_string());
        Terminal::spawn(cmd)
    };
    let (mut first, mut second) = (client(), client());
    first.type_line("hello");
    assert_eq!(first.next_line(), "hello");
    second.type_line("world");
    assert_eq!(second.next_line(), "world");
    first.type_line("again");
    assert_eq!(first.next_line(), "again");
    second.type_line("True");
    let (first_out, first_err) = first.end_input();
    let (second_out, second_err) = second.end_input();
    let server = server.finish();
    server.assert_success();
    assert_eq!(first_err, "");
    let server_text = normalize(&server.stdout, addr.port());
    assert_eq!(
        server_text,
        "127.0.0.1:3214\nReceive String: hello\nReceive String: world\nReceive String: again\n"
    );
    vec![
        (
            "two_clients_server",
            shell("cargo run --example udp_echo_server", &server_text),
        ),
        (
            "two_clients_first",
            shell(
                "cargo run --example udp_echo_client",
                &interleave(&["hello", "again"], &first_out, &first_err),
            ),
        ),
        (
            "two_clients_second",
            shell(
                "cargo run --example udp_echo_client",
                &format!("world\n{}True\n{second_err}", second_out),
            ),
        ),
    ]
}

/// Each typed line followed by its answer (stdout lines, in order); then stderr.
fn interleave(typed: &[&str], stdout: &str, stderr: &str) -> String {
    let mut text: String = typed
        .iter()
        .zip(stdout.lines())
        .map(|(t, a)| format!("{t}\n{a}\n"))
        .collect();
    text.push_str(stderr);
    text
}

#[test]
fn udp_echo_exercise_transcripts() {
    transcript::check(
        "transcripts/exercises/udp-echo",
        two_udp_clients(),
        "exercises",
    );
}

/// 练习 2: with `connect`, the ICMP "port unreachable" reaches the socket: the client reports
/// ECONNREFUSED at once. udp_echo_client (no connect) fails this test: it hears nothing, waits its
/// 2 seconds and goes on.
#[test]
fn ex_udp_echo_connect_reports_connection_refused_without_a_server() {
    let free = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free); // nobody receives on this port now
    // A client that waited for its 2-second timeout instead would say so and exit 0.
    let out = run_example_client("ex_udp_echo_connect", addr, b"hello\n");
    out.assert_clean_failure("Connection refused");
}

/// 练习 2: after `connect`, a datagram from another address never reaches the socket, even with
/// the very bytes the client waits for. udp_echo_client fails this test: it receives the
/// stranger's datagram and says it ignores it.
#[test]
fn ex_udp_echo_connect_hears_only_its_server() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let addr = server.local_addr().unwrap();
    let mut cmd = example("ex_udp_echo_connect");
    cmd.arg(addr.to_string());
    let client = Proc::spawn(cmd, Some(b"hello\n".to_vec()));
    let mut buf = [0u8; 64];
    let (n, client_addr) = server.recv_from(&mut buf).expect("the client's datagram");
    assert_eq!(&buf[..n], b"hello");
    // First a stranger sends exactly the awaited bytes, then the server answers.
    stranger.send_to(b"hello", client_addr).unwrap();
    server.send_to(b"hello", client_addr).unwrap();
    let out = client.finish();
    out.assert_success();
    assert_eq!(out.stdout, "hello\n");
    assert_eq!(out.stderr, "", "the stranger's datagram never arrived");
}

// ---- 地址族与套接字类型 (address-families.md) ----

/// `ss -ltn` for the listening socket on `port`, columns squeezed, port shown as 3214.
fn ss_listening(port: u16) -> String {
    let filter = format!("sport = :{port}");
    let out = std::process::Command::new("ss")
        .args(["-ltn", &filter])
        .output()
        .expect("run `ss` (Debian package iproute2)");
    assert!(out.status.success(), "ss failed: {out:?}");
    let squeezed: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    assert_eq!(
        squeezed.lines().count(),
        2,
        "one listening socket: {squeezed}"
    );
    shell(
        "ss -ltn 'sport = :3214'",
        &squeezed.replace(&format!(":{port} "), ":3214 "),
    )
}

/// 练习 1 (observation): ss shows a dual-stack listening socket as `*:3214`, an IPV6_V6ONLY one
/// as `[::]:3214`.
fn ss_dual_stack() -> Vec<(&'static str, String)> {
    if !tool_available("ss") {
        return vec![
            ("ss_dual_stack", String::new()),
            ("ss_v6only", String::new()),
        ];
    }
    let (_dual, dual) = start_example("dual_stack_server", "[::]:0");
    let dual_text = ss_listening(dual.port());
    assert!(dual_text.contains(" *:3214 "), "{dual_text}");
    let mut cmd = example("dual_stack_server");
    cmd.args(["[::]:0", "--v6only"]);
    let (_v6only, v6only) = start_server(cmd);
    let v6only_text = ss_listening(v6only.port());
    assert!(v6only_text.contains(" [::]:3214 "), "{v6only_text}");
    vec![("ss_dual_stack", dual_text), ("ss_v6only", v6only_text)]
}

#[test]
fn address_families_exercise_transcripts() {
    transcript::check(
        "transcripts/exercises/address-families",
        ss_dual_stack(),
        "exercises",
    );
}

/// Leaves a TIME_WAIT connection on a free loopback port and returns the port: the server's side
/// closes first, then the client's.
fn port_in_time_wait() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tcp_connect(addr);
    let (server_side, _) = listener.accept().unwrap();
    drop(listener);
    drop(server_side); // the server closes first: its side will wait in TIME_WAIT
    let mut client = client;
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).expect("the server's FIN");
    drop(client);
    wait_until("the server's side is in TIME_WAIT", || {
        std::fs::read_to_string("/proc/net/tcp")
            .unwrap()
            .lines()
            .any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(&format!(":{:04X}", addr.port())) && f[3] == "06"
            })
    });
    addr.port()
}

/// 练习 2: with SO_REUSEADDR set before bind, the server binds a port that a TIME_WAIT connection
/// still holds; tcp_echo_server_socket2 (the control, without it) fails there with "in use".
#[test]
fn ex_address_families_reuse_address_binds_past_time_wait() {
    let port = port_in_time_wait();
    let addr = format!("127.0.0.1:{port}");
    let mut plain = example("tcp_echo_server_socket2");
    plain.arg(&addr);
    run(plain, b"").assert_clean_failure("Address already in use");
    let (server, bound) = start_example("ex_address_families_reuse_address", &addr);
    assert_eq!(bound.port(), port);
    let out = run_example_client("tcp_echo_client", bound, b"hello\n");
    out.assert_echoed("hello\n");
    server.finish().assert_success();
}

// ---- Python 的 socket 模块与 Rust (socket-module.md) ----

/// 练习 1: with listen(0), Linux still queues one connection (full means "longer than the
/// backlog"); the other four clients time out, none is refused.
#[test]
fn ex_socket_module_backlog_zero_admits_exactly_one_connection() {
    let out = run(example("ex_socket_module_backlog_zero"), b"");
    out.assert_success();
    assert!(
        out.stdout
            .ends_with("结果：1 个连上，4 个超时，0 个被拒绝\n"),
        "{out:#?}"
    );
}

/// 练习 2: a refused connection is told apart by its kind: one line that says nobody listens,
/// exit status 1; a listening server gives a success line.
#[test]
fn ex_socket_module_connect_errors_tells_refused_from_connected() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free); // nobody listens on this port now
    let mut cmd = example("ex_socket_module_connect_errors");
    cmd.arg(addr.to_string());
    let refused = run(cmd, b"");
    refused.assert_clean_failure("没有程序在监听");
    assert_eq!(refused.status.code(), Some(1));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cmd = example("ex_socket_module_connect_errors");
    cmd.arg(addr.to_string());
    let connected = run(cmd, b"");
    connected.assert_success();
    assert!(
        connected.stdout.starts_with("连接成功：127.0.0.1:")
            && connected.stdout.ends_with(&format!(" → {addr}\n")),
        "{connected:#?}"
    );
}

// ---- UDP 通信模型 (udp-model.md) ----

/// 练习 1: two datagrams need two receives however big the buffer; a datagram cut by a small
/// buffer loses its rest.
#[test]
fn ex_udp_model_boundaries_keeps_datagrams_apart_and_drops_what_does_not_fit() {
    let out = run(example("ex_udp_model_boundaries"), b"");
    out.assert_success();
    assert_eq!(
        out.stdout,
        "1024 字节的缓冲区收到 5 个字节：hello\n\
         1024 字节的缓冲区收到 5 个字节：world\n\
         4 字节的缓冲区收到 4 个字节：hell\n\
         再等 1 秒：什么也没有，剩下的 7 个字节被丢弃了\n"
    );
}

/// 练习 2: 65,507 bytes is the largest IPv4 UDP datagram; one byte more and send_to fails with
/// EMSGSIZE.
#[test]
fn ex_udp_model_max_datagram_sends_65507_bytes_but_not_65508() {
    let out = run(example("ex_udp_model_max_datagram"), b"");
    out.assert_success();
    assert_eq!(
        out.stdout,
        "65507 字节：发出去了，对方收到 65507 个字节\n\
         65508 字节：send_to 失败：Message too long (os error 90)\n"
    );
}
