//! The UDP echo server and client, run as processes on loopback.

mod common;

use std::net::SocketAddr;

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
