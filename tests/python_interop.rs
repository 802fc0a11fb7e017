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

#[test]
fn python_tcp_client_sends_a_ten_megabyte_line_piece_by_piece() {
    // Before: the Python client sent all 10 MB with one sendall before reading any echo; the
    // buffers filled, both sides waited, and its 5-second timeout ended it with a traceback.
    let Some(mut client) = python("tcp_echo_client.py") else {
        return;
    };
    let line: Vec<u8> = (0..10_000_000).map(|i| b'a' + (i % 26) as u8).collect();
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    client.arg(addr.to_string());
    let out = run(client, &line);
    out.assert_success();
    assert!(
        out.stdout.len() == line.len() + 1 && out.stdout.as_bytes()[..line.len()] == line[..],
        "the echo of the 10 MB line differs ({} bytes came back): {}",
        out.stdout.len(),
        out.stderr
    );
    server.finish().assert_success();
}

#[test]
fn python_clients_end_quietly_when_nobody_reads_their_output() {
    // `tcp_echo_client.py | head -1` with three lines; the fake server holds back the second
    // echo until the client's stdout is closed. Before: a BrokenPipeError traceback.
    let Some(mut client) = python("tcp_echo_client.py") else {
        return;
    };
    let (addr, go, fake) = fake_echo_server_that_waits(3);
    client.arg(addr.to_string());
    let (client, first) = HeadOne::spawn(client, Some(b"one\ntwo\nthree\n".to_vec()));
    assert_eq!(first, "one");
    go.send(()).unwrap();
    client.finish().assert_quiet();
    fake.join().unwrap();
}
