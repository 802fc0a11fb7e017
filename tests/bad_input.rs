//! Bad input to the programs: one clear line on stderr, a non-zero exit, never a panic.

mod common;

use std::net::{TcpListener, UdpSocket};

use common::*;

const PROGRAMS: [&str; 4] = [
    "tcp_echo_server",
    "tcp_echo_client",
    "udp_echo_server",
    "udp_echo_client",
];

#[test]
fn an_address_that_does_not_parse() {
    for name in PROGRAMS {
        for bad in ["not-an-address", "127.0.0.1", "127.0.0.1:99999", "::1:80"] {
            let mut cmd = example(name);
            cmd.arg(bad);
            run(cmd, b"").assert_clean_failure(&format!("无法解析地址 `{bad}`"));
        }
    }
}

#[test]
fn too_many_arguments() {
    for name in PROGRAMS {
        let mut cmd = example(name);
        cmd.args(["127.0.0.1:0", "extra"]);
        run(cmd, b"").assert_clean_failure("参数太多");
    }
}

#[test]
fn a_tcp_port_already_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cmd = example("tcp_echo_server");
    cmd.arg(addr.to_string());
    run(cmd, b"").assert_clean_failure(&format!("无法绑定 {addr}"));
}

#[test]
fn a_udp_port_already_in_use() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cmd = example("udp_echo_server");
    cmd.arg(addr.to_string());
    run(cmd, b"").assert_clean_failure(&format!("无法绑定 {addr}"));
}

#[test]
fn a_refused_connection() {
    // A socket that is bound but not listening holds the port, so no other test can take it,
    // and every connection to it is refused.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut cmd = example("tcp_echo_client");
    cmd.arg(addr.to_string());
    let out = run(cmd, b"hello\n");
    out.assert_clean_failure(&format!("无法连接 {addr}"));
    assert!(out.stderr.contains("Connection refused"), "{out:#?}");
}
