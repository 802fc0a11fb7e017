//! The TCP echo server and client, run as processes on loopback.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::*;

const LINES: &str = "hello\n你好，世界\nTCP 是字节流\n";

#[test]
fn rust_client_talks_to_rust_server() {
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let out = run_example_client("tcp_echo_client", addr, LINES.as_bytes());
    out.assert_echoed(LINES);
    assert_eq!(out.stderr, "");

    let server = server.finish();
    server.assert_success();
    let mut lines = server.stdout.lines().skip(1);
    let client_line = lines.next().unwrap_or_default();
    assert!(
        client_line.starts_with("Client Address: 127.0.0.1:"),
        "{server:#?}"
    );
    let received: Vec<&str> = lines.collect();
    assert_eq!(
        received,
        [
            "Receive Data: hello",
            "Receive Data: 你好，世界",
            "Receive Data: TCP 是字节流"
        ],
        "{server:#?}"
    );
}

#[test]
fn server_echoes_every_kind_of_bytes_exactly() {
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let mut stream = tcp_connect(addr);
    let samples: [&[u8]; 3] = [
        b"plain ASCII",
        "中文 UTF-8：套接字".as_bytes(),
        &[0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3], // not UTF-8 at all
    ];
    for sample in samples {
        assert_eq!(tcp_roundtrip(&mut stream, sample), sample);
    }
    drop(stream);
    let out = server.finish();
    out.assert_success();
    // Bytes that are not UTF-8 are shown lossily, never a crash.
    assert!(
        out.stdout.contains("Receive Data: \u{fffd}\u{fffd}"),
        "{out:#?}"
    );
}

#[test]
fn one_mebibyte_in_one_write_comes_back_whole() {
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut stream = tcp_connect(addr);
    let mut writer = stream.try_clone().unwrap();
    // Write from another thread while this one reads: the server writes back as it reads, and
    // if nobody read the echo, both sides' buffers could fill up and everything would stop.
    let sent = payload.clone();
    let writer = thread::spawn(move || writer.write_all(&sent));
    let mut echoed = vec![0u8; payload.len()];
    stream.read_exact(&mut echoed).expect("read 1 MiB of echo");
    writer.join().unwrap().expect("write 1 MiB");
    assert!(echoed == payload, "the echo differs from what was sent");
    drop(stream);
    server.finish().assert_success();
}

#[test]
fn a_reset_connection_ends_the_server_with_a_message() {
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let mut stream = tcp_connect(addr);
    // After a full echo, the server is waiting in read(): the reset reaches it there.
    assert_eq!(tcp_roundtrip(&mut stream, b"bye"), b"bye");
    // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
    let out = server.finish();
    out.assert_clean_failure("Connection reset");
    assert!(out.stderr.starts_with("错误：从 127.0.0.1:"), "{out:#?}");
}

#[test]
fn server_and_client_work_over_ipv6() {
    let (server, addr) = start_example("tcp_echo_server", "[::1]:0");
    assert!(addr.is_ipv6(), "bound {addr}");
    let out = run_example_client("tcp_echo_client", addr, "IPv6 你好\n".as_bytes());
    out.assert_echoed("IPv6 你好\n");
    let out = server.finish();
    out.assert_success();
    assert!(out.stdout.contains("Client Address: [::1]:"), "{out:#?}");
}

#[test]
fn client_fails_cleanly_when_the_server_closes_mid_echo() {
    // A "server" that accepts, reads a little and closes without echoing anything.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        // Read the whole line that the client sends, so that closing sends FIN, not RST.
        let mut buf = [0u8; 14];
        conn.read_exact(&mut buf).unwrap();
    });
    let out = run_example_client("tcp_echo_client", addr, b"are you there?\n");
    fake.join().unwrap();
    out.assert_clean_failure("关闭了连接");
}

// ---------------------------------------------------------------------------------------------
// Examples that cannot be broken.

/// The three TCP echo servers and an address for each to bind on loopback.
const SERVERS: [(&str, &str); 3] = [
    ("tcp_echo_server", "127.0.0.1:0"),
    ("tcp_echo_server_socket2", "127.0.0.1:0"),
    ("dual_stack_server", "[::1]:0"),
];

/// Starts one of [`SERVERS`] and skips the second line that the dual-stack server prints.
fn start(name: &str, addr: &str) -> (Proc, std::net::SocketAddr) {
    let (mut server, addr) = start_example(name, addr);
    if name == "dual_stack_server" {
        server.next_line();
    }
    (server, addr)
}

#[test]
fn servers_end_quietly_when_nobody_reads_their_output() {
    // `tcp_echo_server 127.0.0.1:0 | head -1`, then a client connects and sends a line.
    // Before: `println!` panicked on the broken pipe (exit 101).
    for (name, addr) in SERVERS {
        let mut cmd = example(name);
        cmd.arg(addr);
        let (server, first) = HeadOne::spawn(cmd, None);
        let addr: std::net::SocketAddr = first.parse().expect("the first line is the address");
        // The dual-stack server may already have ended (its second line failed): then the
        // connection is refused, and that is fine.
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
            let _ = stream.write_all(b"is anybody reading?\n");
        }
        server.finish().assert_quiet();
    }
}

#[test]
fn client_ends_quietly_when_nobody_reads_its_output() {
    // `tcp_echo_client | head -1` with three lines of input. The fake server holds back the
    // second echo until the test has closed the client's stdout, so the client's second print
    // always meets a broken pipe. Before: it panicked (exit 101).
    let (addr, go, fake) = fake_echo_server_that_waits(3);
    let mut cmd = example("tcp_echo_client");
    cmd.arg(addr.to_string());
    let (client, first) = HeadOne::spawn(cmd, Some(b"one\ntwo\nthree\n".to_vec()));
    assert_eq!(first, "one");
    go.send(()).unwrap();
    client.finish().assert_quiet();
    fake.join().unwrap();
}

#[test]
fn a_character_split_across_reads_is_printed_whole() {
    // 400 × 你 is 1200 bytes: the server's first read(1024) ends inside a character.
    // Before: the first line ended in U+FFFD and the next began with two more.
    let line = "你".repeat(400);
    for (name, addr) in SERVERS {
        let (server, addr) = start(name, addr);
        let mut stream = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut stream, line.as_bytes()), line.as_bytes());
        drop(stream);
        let out = server.finish();
        out.assert_success();
        assert!(!out.stdout.contains('\u{fffd}'), "{name}: {out:#?}");
        assert!(
            out.shown_after("Receive Data: ") == line,
            "{name} printed other text than it received: {out:#?}"
        );
    }
}

#[test]
fn a_character_split_across_two_sends_is_printed_once_whole() {
    // The client sends the first two bytes of 你, waits for their echo, then sends the third:
    // the server surely reads them in two reads. It prints 你 once, when it is complete.
    let ni = "你".as_bytes();
    for (name, addr) in SERVERS {
        let (server, addr) = start(name, addr);
        let mut stream = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut stream, &ni[..2]), &ni[..2]);
        assert_eq!(tcp_roundtrip(&mut stream, &ni[2..]), &ni[2..]);
        drop(stream);
        let out = server.finish();
        out.assert_success();
        let received: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("Receive Data:"))
            .collect();
        assert_eq!(received, ["Receive Data: 你"], "{name}: {out:#?}");
    }
}

#[test]
fn an_incomplete_character_at_the_end_is_shown_once_as_a_replacement() {
    // The client closes after `a` and two thirds of 你: the tail can never be completed.
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let mut stream = tcp_connect(addr);
    let sent = [b'a', 0xe4, 0xbd];
    assert_eq!(tcp_roundtrip(&mut stream, &sent), sent);
    drop(stream);
    let out = server.finish();
    out.assert_success();
    let received: Vec<&str> = out.stdout.lines().skip(2).collect();
    assert_eq!(
        received,
        ["Receive Data: a", "Receive Data: \u{fffd}"],
        "{out:#?}"
    );
}

#[test]
fn control_characters_from_a_client_are_printed_escaped() {
    // A client tries to colour the server's terminal and to forge a second "Client Address:"
    // line. Before: both went through raw. The echo stays byte-exact.
    let attack = b"\x1b[31mred\nClient Address: fake";
    for (name, addr) in SERVERS {
        let (server, addr) = start(name, addr);
        let mut stream = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut stream, attack), attack);
        drop(stream);
        let out = server.finish();
        out.assert_success();
        assert!(!out.stdout.contains('\x1b'), "{name}: {out:#?}");
        assert_eq!(
            out.stdout
                .lines()
                .filter(|l| l.starts_with("Client Address:"))
                .count(),
            1,
            "{name}: {out:#?}"
        );
        assert_eq!(
            out.shown_after("Receive Data: "),
            r"\u{1b}[31mred\nClient Address: fake",
            "{name}: {out:#?}"
        );
    }
}

#[test]
fn a_ten_megabyte_line_without_a_newline_comes_back_whole() {
    // Before: the client wrote all 10 MB before reading any echo; the echo filled the client's
    // receive buffer and the server's send buffer, the server stopped reading, and both sides
    // waited for ever (here: until Proc gives up after STEP).
    let line: Vec<u8> = (0..10_000_000).map(|i| b'a' + (i % 26) as u8).collect();
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let out = run_example_client("tcp_echo_client", addr, &line);
    out.assert_success();
    assert_eq!(out.stderr, "");
    assert!(
        out.stdout.len() == line.len() + 1 && out.stdout.as_bytes()[..line.len()] == line[..],
        "the echo of the 10 MB line differs ({} bytes came back)",
        out.stdout.len()
    );
    let out = server.finish();
    out.assert_success();
    assert_eq!(out.shown_after("Receive Data: ").len(), line.len());
}

#[test]
fn client_gives_up_on_a_server_that_never_answers() {
    // A "server" that accepts and then neither reads nor echoes. Before: the client's
    // write_all of the long line blocked for ever once the buffers were full.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let silent = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        // Hold the connection open, unread, until the test is over.
        let _ = done_rx.recv_timeout(STEP);
        drop(conn);
    });
    let line = vec![b'x'; 10_000_000];
    let out = run_example_client("tcp_echo_client", addr, &line);
    done_tx.send(()).unwrap();
    silent.join().unwrap();
    out.assert_clean_failure("等了 5 秒");
}

#[test]
fn client_has_a_connect_timeout() {
    // A listener with a backlog of 0 admits one connection, which the test makes; Linux then
    // drops the next SYN, so the client's connect waits. Before: it waited for the kernel's
    // retries (over two minutes); now it gives up after 5 seconds with one line.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let _first = tcp_connect(addr);
    let out = run_example_client("tcp_echo_client", addr, b"hello\n");
    out.assert_clean_failure(&format!("无法连接 {addr}"));
}

#[test]
fn client_takes_a_hostname() {
    // Before: "localhost:PORT" did not parse.
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let mut cmd = example("tcp_echo_client");
    cmd.arg(format!("localhost:{}", addr.port()));
    run(cmd, LINES.as_bytes()).assert_echoed(LINES);
    server.finish().assert_success();
}

#[test]
fn client_prints_a_hostile_reply_escaped() {
    // What comes back from the network is untrusted too: a server that answers `hello` with
    // five bytes of terminal escape sequence must not reach the reader's terminal as such.
    // Before: the client printed the reply raw.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut line = [0u8; 5];
        conn.read_exact(&mut line).unwrap();
        conn.write_all(b"\x1b]0;X").unwrap();
    });
    let out = run_example_client("tcp_echo_client", addr, b"hello\n");
    out.assert_success();
    assert_eq!(out.stdout, "\\u{1b}]0;X\n", "{out:#?}");
    fake.join().unwrap();
}
