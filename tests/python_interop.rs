//! The Python originals against the Rust programs, in both directions, over IPv4 and IPv6.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::*;

const LINES: &str = "hello from the other language\n你好，Python 与 Rust\n";

/// A Python program (None, said loudly, where there is no python3) or a Rust example.
fn program(name: &str) -> Option<Command> {
    match name.strip_suffix(".py") {
        Some(_) => python(name),
        None => Some(example(name)),
    }
}

/// For each address family: starts `server`, runs `client` against it with two lines, checks
/// that every line came back and that the server printed `says: <line>`. A UDP server is then
/// stopped with the datagram `True`.
fn pair(server: &str, client: &str, says: &str) {
    for family in ["127.0.0.1:0", "[::1]:0"] {
        let (Some(mut server_cmd), Some(mut client_cmd)) = (program(server), program(client))
        else {
            return;
        };
        server_cmd.arg(family);
        let (server, addr): (Proc, SocketAddr) = start_server(server_cmd);
        client_cmd.arg(addr.to_string());
        run(client_cmd, LINES.as_bytes()).assert_echoed(LINES);
        if says.starts_with("Receive String") {
            udp_socket(addr).send_to(b"True", addr).unwrap();
        }
        let out = server.finish();
        out.assert_success();
        assert!(
            out.stdout
                .contains(&format!("{says}: 你好，Python 与 Rust")),
            "{out:#?}"
        );
    }
}

#[test]
fn rust_tcp_client_with_python_tcp_server() {
    // The note's own spelling, kept in the Python original.
    pair("tcp_echo_server.py", "tcp_echo_client", "Recieve Data");
}

#[test]
fn python_tcp_client_with_rust_tcp_server() {
    pair("tcp_echo_server", "tcp_echo_client.py", "Receive Data");
}

#[test]
fn rust_udp_client_with_python_udp_server() {
    pair("udp_echo_server.py", "udp_echo_client", "Receive String");
}

#[test]
fn python_udp_client_with_rust_udp_server() {
    pair("udp_echo_server", "udp_echo_client.py", "Receive String");
}
