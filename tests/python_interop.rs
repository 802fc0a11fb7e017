//! The Python originals against the Rust programs, in both directions.

mod common;

use std::net::SocketAddr;

use common::*;

const LINES: &str = "hello from the other language\n你好，Python 与 Rust\n";

fn python_server(script: &str, addr: &str) -> Option<(Proc, SocketAddr)> {
    let mut cmd = python(script)?;
    cmd.arg(addr);
    Some(start_server(cmd))
}

fn python_client(script: &str, server: SocketAddr, input: &str) -> Option<Finished> {
    let mut cmd = python(script)?;
    cmd.arg(server.to_string());
    Some(run(cmd, input.as_bytes()))
}

#[test]
fn rust_tcp_client_with_python_tcp_server() {
    for family in ["127.0.0.1:0", "[::1]:0"] {
        let Some((server, addr)) = python_server("tcp_echo_server.py", family) else {
            return;
        };
        let out = run_example_client("tcp_echo_client", addr, LINES.as_bytes());
        out.assert_echoed(LINES);
        let out = server.finish();
        out.assert_success();
        // The note's own spelling, kept in the Python original.
        assert!(
            out.stdout.contains("Recieve Data: 你好，Python 与 Rust"),
            "{out:#?}"
        );
    }
}

#[test]
fn python_tcp_client_with_rust_tcp_server() {
    for family in ["127.0.0.1:0", "[::1]:0"] {
        let (server, addr) = start_example("tcp_echo_server", family);
        let Some(out) = python_client("tcp_echo_client.py", addr, LINES) else {
            return;
        };
        out.assert_echoed(LINES);
        let out = server.finish();
        out.assert_success();
        assert!(
            out.stdout.contains("Receive Data: 你好，Python 与 Rust"),
            "{out:#?}"
        );
    }
}

#[test]
fn rust_udp_client_with_python_udp_server() {
    for family in ["127.0.0.1:0", "[::1]:0"] {
        let Some((server, addr)) = python_server("udp_echo_server.py", family) else {
            return;
        };
        let out = run_example_client("udp_echo_client", addr, LINES.as_bytes());
        out.assert_echoed(LINES);
        udp_socket(addr).send_to(b"True", addr).unwrap();
        let out = server.finish();
        out.assert_success();
        assert!(
            out.stdout.contains("Receive String: 你好，Python 与 Rust"),
            "{out:#?}"
        );
    }
}

#[test]
fn python_udp_client_with_rust_udp_server() {
    for family in ["127.0.0.1:0", "[::1]:0"] {
        let (server, addr) = start_example("udp_echo_server", family);
        let Some(out) = python_client("udp_echo_client.py", addr, LINES) else {
            return;
        };
        out.assert_echoed(LINES);
        udp_socket(addr).send_to(b"True", addr).unwrap();
        let out = server.finish();
        out.assert_success();
        assert!(
            out.stdout.contains("Receive String: 你好，Python 与 Rust"),
            "{out:#?}"
        );
    }
}
