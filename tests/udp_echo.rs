//! The UDP echo server and client, run as processes on loopback.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::mpsc;
use std::thread;

use common::*;

const LINES: &str = "hello\n你好，世界\nUDP 是数据报\n";

/// Sends the datagram `True`, which ends the server, and checks that it ended cleanly.
fn stop(server: Proc, addr: SocketAddr) -> Finished {
    let socket = udp_socket(addr);
    socket.send_to(b"True", addr).expect("send True");
    let out = server.finish();
    out.assert_success();
    out
}

#[test]
fn rust_client_talks_to_rust_server() {
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    let out = run_example_client("udp_echo_client", addr, LINES.as_bytes());
    out.assert_echoed(LINES);
    assert_eq!(out.stderr, "");

    let out = stop(server, addr);
    let received: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(
        received,
        [
            "Receive String: hello",
            "Receive String: 你好，世界",
            "Receive String: UDP 是数据报"
        ],
        "{out:#?}"
    );
}

#[test]
fn server_echoes_every_kind_of_datagram_exactly() {
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    let socket = udp_socket(addr);
    let samples: [&[u8]; 4] = [
        b"plain ASCII",
        "中文 UTF-8：数据报".as_bytes(),
        &[0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3], // not UTF-8 at all
        b"",                                    // a datagram with no bytes is still a datagram
    ];
    for sample in samples {
        assert_eq!(udp_roundtrip(&socket, addr, sample), sample);
    }
    let out = stop(server, addr);
    assert!(
        out.stdout.contains("Receive String: \u{fffd}\u{fffd}"),
        "{out:#?}"
    );
    assert!(
        out.stdout.lines().any(|l| l == "Receive String: "),
        "{out:#?}"
    );
}

#[test]
fn a_datagram_longer_than_the_buffer_is_cut_and_the_server_goes_on() {
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    let socket = udp_socket(addr);
    let long: Vec<u8> = (0..3000).map(|i| b'a' + (i % 26) as u8).collect();
    // recv_from into 1024 bytes keeps the first 1024; the rest of the datagram is discarded.
    assert_eq!(udp_roundtrip(&socket, addr, &long), &long[..1024]);
    // The server is still there and the next datagram is not polluted by the excess.
    assert_eq!(udp_roundtrip(&socket, addr, b"next"), b"next");
    stop(server, addr);
}

#[test]
fn true_ends_the_server_without_an_echo() {
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    // The client sends True, gets no reply, says so on stderr, and goes on with the next line;
    // the server has ended, so that line gets no reply either.
    let out = run_example_client("udp_echo_client", addr, b"ping\nTrue\n");
    out.assert_echoed("ping\n");
    assert!(out.stderr.contains("没有收到回复"), "{out:#?}");
    let out = server.finish();
    out.assert_success();
    assert!(
        !out.stdout.contains("True"),
        "True must not be printed: {out:#?}"
    );
}

#[test]
fn server_and_client_work_over_ipv6() {
    let (server, addr) = start_example("udp_echo_server", "[::1]:0");
    assert!(addr.is_ipv6(), "bound {addr}");
    let out = run_example_client("udp_echo_client", addr, "IPv6 你好\n".as_bytes());
    out.assert_echoed("IPv6 你好\n");
    stop(server, addr);
}

// ---------------------------------------------------------------------------------------------
// Examples that cannot be broken.

#[test]
fn server_ends_quietly_when_nobody_reads_its_output() {
    // `udp_echo_server 127.0.0.1:0 | head -1`, then a datagram. Before: `println!` panicked on
    // the broken pipe (exit 101).
    let mut cmd = example("udp_echo_server");
    cmd.arg("127.0.0.1:0");
    let (mut server, first) = HeadOne::spawn(cmd, None);
    let addr: SocketAddr = first.parse().expect("the first line is the address");
    let client = udp_socket(addr);
    for _ in 0..50 {
        client.send_to(b"is anybody reading?", addr).unwrap();
        if server.ended_within(std::time::Duration::from_millis(200)) {
            break;
        }
    }
    server.finish().assert_quiet();
}

#[test]
fn client_ends_quietly_when_nobody_reads_its_output() {
    // `udp_echo_client | head -1` with three lines. The fake server answers the second line only
    // after the test has closed the client's stdout, so the client's second print always meets a
    // broken pipe. Before: it panicked (exit 101).
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    fake.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let addr = fake.local_addr().unwrap();
    let (go_tx, go_rx) = mpsc::channel();
    let server = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, client) = fake.recv_from(&mut buf).unwrap();
        fake.send_to(&buf[..n], client).unwrap();
        go_rx.recv_timeout(STEP).expect("the test says go");
        // Echo whatever else comes, until the test says the client has gone.
        while let Ok((n, client)) = fake.recv_from(&mut buf) {
            if &buf[..n] == b"the client has gone" {
                break;
            }
            let _ = fake.send_to(&buf[..n], client);
        }
    });
    let mut cmd = example("udp_echo_client");
    cmd.arg(addr.to_string());
    let (client, first) = HeadOne::spawn(cmd, Some(b"one\ntwo\nthree\n".to_vec()));
    assert_eq!(first, "one");
    go_tx.send(()).unwrap();
    let out = client.finish();
    assert!(
        !out.stderr.contains("panicked") && out.status.code() == Some(0),
        "the client should end quietly: {out:#?}"
    );
    udp_socket(addr)
        .send_to(b"the client has gone", addr)
        .unwrap();
    server.join().unwrap();
}

#[test]
fn control_characters_in_a_datagram_are_printed_escaped() {
    // Before: the ESC sequence reached the terminal and the newline forged a second line.
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    let socket = udp_socket(addr);
    let attack = b"\x1b[31mred\nReceive String: fake";
    assert_eq!(udp_roundtrip(&socket, addr, attack), attack);
    let out = stop(server, addr);
    let received: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(
        received,
        [r"Receive String: \u{1b}[31mred\nReceive String: fake"],
        "{out:#?}"
    );
}

#[test]
fn client_prints_only_the_reply_to_the_line_just_sent() {
    // A fake server that answers line 1 late (after line 2 was sent), answers line 2 twice,
    // and has a second socket send line 2's bytes from another address. Before: the client
    // printed the late "one" as the reply to "two".
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    fake.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = fake.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut next = |expected: &[u8]| {
            let (n, client) = fake.recv_from(&mut buf).expect("a line from the client");
            assert_eq!(&buf[..n], expected);
            client
        };
        next(b"one"); // no answer yet: the client gives up on it after 2 seconds
        let client = next(b"two");
        fake.send_to(b"one", client).unwrap(); // the late answer to line 1
        stranger.send_to(b"two", client).unwrap(); // right bytes, wrong sender
        fake.send_to(b"two", client).unwrap();
        fake.send_to(b"two", client).unwrap(); // a duplicate
        let client = next(b"three");
        fake.send_to(b"three", client).unwrap();
    });
    let out = run_example_client("udp_echo_client", addr, b"one\ntwo\nthree\n");
    server.join().unwrap();
    out.assert_success();
    assert_eq!(out.stdout, "two\nthree\n", "{out:#?}");
    for note in ["没有收到回复", "不是服务器发的", "不是这一行的回复"] {
        assert!(out.stderr.contains(note), "missing {note:?}: {out:#?}");
    }
}

#[test]
fn client_says_when_the_server_cut_its_datagram() {
    // The server's buffer is 1024 bytes: a 3000-byte line comes back as its first 1024 bytes.
    // Before: the client printed the cut reply as if it were whole.
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    let long: String = (0..3000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let out = run_example_client("udp_echo_client", addr, format!("{long}\n").as_bytes());
    out.assert_success();
    assert_eq!(out.stdout, format!("{}\n", &long[..1024]), "{out:#?}");
    assert!(out.stderr.contains("截断"), "{out:#?}");
    stop(server, addr);
}

#[test]
fn client_takes_a_hostname() {
    // Before: "localhost:PORT" did not parse.
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    let mut cmd = example("udp_echo_client");
    cmd.arg(format!("localhost:{}", addr.port()));
    run(cmd, LINES.as_bytes()).assert_echoed(LINES);
    stop(server, addr);
}

#[test]
fn a_reply_that_cannot_be_sent_stops_nothing() {
    // A failed send_to cannot be provoked on loopback without privileges, so strace injects
    // one: the server's first sendto fails with ENOBUFS. Before: the server ended with an
    // error and the next datagram got no echo.
    if !tool_available("strace") {
        return;
    }
    let server = example("udp_echo_server");
    let mut cmd = Command::new("strace");
    cmd.args([
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "inject=sendto:error=ENOBUFS:when=1",
    ])
    .arg(server.get_program())
    .arg("127.0.0.1:0");
    let (server, addr) = start_server(cmd);
    let socket = udp_socket(addr);
    socket.send_to(b"lost", addr).unwrap();
    assert_eq!(udp_roundtrip(&socket, addr, b"next"), b"next");
    let out = stop(server, addr);
    assert!(out.stderr.contains("无法回复"), "{out:#?}");
    assert!(out.stdout.contains("Receive String: next"), "{out:#?}");
}
