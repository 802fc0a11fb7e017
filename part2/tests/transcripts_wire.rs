//! The transcripts of the chapter 在线路上看见它 (book/transcripts/wire/): tcpdump captures of
//! real runs on the loopback interface, and `ss -tan` at each step of a connection's end.
//! After a deliberate change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p part2 --test transcripts_wire
//!
//! tcpdump needs root (or CAP_NET_RAW). A missing tcpdump is said loudly (a failure in CI); a
//! missing permission is said loudly and the captures are skipped (their transcripts are left as
//! they are); the `ss` transcripts are made either way.
//!
//! The capture is deterministic: tcpdump runs with `--immediate-mode -l` (each packet printed as
//! it comes) and `-s 128 -B 8192` (a ring buffer that a busy machine cannot overflow; the test
//! checks that tcpdump reports 0 packets dropped), the programs start only after tcpdump has said "listening on lo", the test waits for
//! the packets it needs before each next step, and the capture ends after a UDP marker datagram
//! sent to the same port has been printed (so every packet before it has been read). Normalized:
//! ports (server 3214, clients 54321, 54322, ... in order of appearance), the random initial
//! sequence numbers (x and y), windows and TCP options (`…`), ss's columns and socket order.

mod closing_support;
#[path = "../../tests/common/mod.rs"]
mod common;

use std::net::{SocketAddr, TcpListener};

use closing_support::*;
use common::transcript::{check, shell};
use common::*;

/// What the book shows as the reader's tcpdump command (the test adds `--immediate-mode -l -s 128
/// -B 8192`, which change when packets are printed and how many tcpdump can hold, not what it
/// prints).
const TCPDUMP: &str = "sudo tcpdump -i lo -nn -t port 3214";
const SS: &str = "ss -tan '( sport = :3214 or dport = :3214 )'";

/// How many times a capture whose shape depends on timing is tried (see `echo_capture`).
const ATTEMPTS: usize = 3;

fn flag_list(packets: &[String]) -> Vec<&str> {
    packets.iter().map(|p| flags(p)).collect()
}

/// Part I's client says "hello" to Part I's server: handshake, data and echo with their ACKs, and
/// a close in three segments. The server closes as soon as it reads 0 bytes, so its ACK of the
/// client's FIN rides on its own FIN: unless the server takes longer than the delayed-ACK timer
/// (40 ms) to get there, which a very busy machine can make happen; then the ACK goes alone (four
/// segments) and the capture is tried again.
fn echo_capture() -> Vec<(&'static str, String)> {
    let expected = ["S", "S.", ".", "P.", ".", "P.", ".", "F.", "F.", "."];
    let mut seen = Vec::new();
    for _ in 0..ATTEMPTS {
        let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
        let Some(capture) = capture_or_skip(addr.port()) else {
            return vec![("tcpdump_echo", String::new())];
        };
        run_example_client("tcp_echo_client", addr, b"hello\n").assert_echoed("hello\n");
        server.finish().assert_success();
        let packets = capture.finish();
        if flag_list(&packets) == expected {
            let text = normalize_packets(&packets, &mut Ports::new(addr.port()));
            return vec![("tcpdump_echo", shell(TCPDUMP, &text))];
        }
        eprintln!("!!! this capture had another shape (a timing): trying again !!!");
        seen.push(packets.join("\n"));
    }
    panic!(
        "the capture never had the shape {expected:?}:\n{}",
        seen.join("\n---\n")
    );
}

/// A port that was free a moment ago, for a program that must be told its port before it starts
/// (tcpdump filters on it). Another program may take it in between: the caller tries again.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// rst_demo's three connections: the first ends with FINs, the other two with a RST.
fn rst_capture() -> Vec<(&'static str, String)> {
    let normal = ["S", "S.", ".", "P.", ".", "F.", "F.", "."];
    let reset = ["S", "S.", ".", "P.", ".", "R."];
    let expected: Vec<&str> = [&normal[..], &reset[..], &reset[..]].concat();
    let mut seen = Vec::new();
    for _ in 0..ATTEMPTS {
        let port = free_port();
        let Some(capture) = capture_or_skip(port) else {
            return vec![("tcpdump_rst", String::new())];
        };
        let mut cmd = example("rst_demo");
        cmd.arg(format!("127.0.0.1:{port}"));
        let out = run(cmd, b"");
        let packets = capture.finish();
        if !out.status.success() {
            // The port was taken in between: try another one.
            assert!(out.stderr.contains("端口已被占用"), "{out:#?}");
            continue;
        }
        if flag_list(&packets) == expected {
            let text = normalize_packets(&packets, &mut Ports::new(port));
            return vec![("tcpdump_rst", shell(TCPDUMP, &text))];
        }
        eprintln!("!!! this capture had another shape (a timing): trying again !!!");
        seen.push(packets.join("\n"));
    }
    panic!(
        "the capture never had the shape {expected:?}:\n{}",
        seen.join("\n---\n")
    );
}

/// The half-close client against the server that forgets to close, watched by tcpdump and ss at
/// each step: connected (ESTAB), the client's input ended (its FIN acknowledged: FIN-WAIT-2 and
/// CLOSE-WAIT), the server stopped with Ctrl-C (its FIN at last; the client in TIME-WAIT). The
/// close takes four segments, the server's ACK and FIN far apart.
fn half_close_steps() -> Vec<(&'static str, String)> {
    let mut server = Running::spawn({
        let mut cmd = example("close_wait_server");
        cmd.arg("127.0.0.1:0");
        cmd
    });
    let addr: SocketAddr = server.next_line().parse().expect("an address first");
    let port = addr.port();
    let mut ports = Ports::new(port);
    let mut capture = capture_or_skip(port);

    let mut client = Running::spawn({
        let mut cmd = example("half_close_client");
        cmd.arg(addr.to_string());
        cmd
    });
    let opened = server.next_line();
    let client_port: u16 = opened
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no client port in {opened:?}"));
    ports.show(client_port);
    // The book shows `ss` filtered by the server's port (SS); the test asks for this one connection
    // only, which prints the same lines, and nothing an earlier test left on a reused port.
    let filter = pair_filter(port, client_port);
    let ss_args = ["-tan", filter.as_str()];
    client.type_line("hello");
    assert_eq!(client.next_line(), "hello");
    if let Some(capture) = &mut capture {
        // The client's ACK of the echo: the last packet of this step.
        capture.wait_for("the client's ACK of the echo", |p| {
            from_port(p, client_port) && flags(p) == "." && p.contains("ack 7,")
        });
    }
    let established = ss_until(&ss_args, &mut ports, |t| t.matches("ESTAB").count() == 2);

    client.end_input(); // Ctrl-D
    assert!(server.next_line().contains("服务器没有关闭这个连接"));
    if let Some(capture) = &mut capture {
        // The server acknowledges the client's FIN on its own (a delayed ACK), and sends no FIN.
        capture.wait_for("the server's ACK of the client's FIN", |p| {
            from_port(p, port) && flags(p) == "." && p.contains("ack 8,")
        });
    }
    let half_closed = ss_until(&ss_args, &mut ports, |t| {
        t.contains("FIN-WAIT-2") && t.contains("CLOSE-WAIT")
    });

    server.interrupt(); // Ctrl-C
    let (_, server_out, server_err) = server.finish();
    assert_eq!(server_err, "");
    let (status, client_out, client_err) = client.finish();
    assert!(status.success() && client_err.is_empty(), "{client_err}");
    let time_wait = ss_until(&ss_args, &mut ports, |t| {
        t.contains("TIME-WAIT") && t.lines().count() == 2
    });

    let mut made = vec![
        (
            "server",
            shell(
                "cargo run --example close_wait_server",
                &format!("{}^C\n", ports.normalize(&server_out, ':')),
            ),
        ),
        (
            "client",
            shell(
                "cargo run --example half_close_client",
                &format!("hello\n{client_out}"),
            ),
        ),
        ("ss_established", shell(SS, &established)),
        ("ss_half_closed", shell(SS, &half_closed)),
        ("ss_time_wait", shell(SS, &time_wait)),
    ];
    let capture_text = match capture {
        None => String::new(),
        Some(capture) => {
            let packets = capture.finish();
            let expected = ["S", "S.", ".", "P.", ".", "P.", ".", "F.", ".", "F.", "."];
            assert_eq!(flag_list(&packets), expected, "{}", packets.join("\n"));
            shell(TCPDUMP, &normalize_packets(&packets, &mut ports))
        }
    };
    made.push(("tcpdump_half_close", capture_text));
    made
}

#[test]
fn transcripts_of_the_wire_chapter_match_what_the_programs_print() {
    if !tool_available("ss") {
        return;
    }
    let mut made = echo_capture();
    made.extend(rst_capture());
    made.extend(half_close_steps());
    check("transcripts/wire", made, "transcripts_wire");
}
