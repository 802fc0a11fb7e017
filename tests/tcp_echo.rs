//! The TCP echo server and client, run as processes on loopback.

mod common;

use std::io::{Read, Write};
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
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
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
