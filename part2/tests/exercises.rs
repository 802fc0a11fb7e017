//! The solutions of Part II's exercises in the chapters 字节流与消息边界 and 正确地关闭连接, run
//! as processes on loopback: each test checks exactly what its exercise asks for. The transcripts
//! of the observation exercises live in book/transcripts/exercises/<chapter>/ and are made here;
//! `UPDATE_TRANSCRIPTS=1 cargo test -p part2 --test exercises` regenerates them.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::Command;

use common::transcript::{ServerTerminal, Terminal, check, shell};
use common::*;

fn server_cmd(name: &str, args: &[&str]) -> Command {
    let mut cmd = example(name);
    cmd.arg("127.0.0.1:0").args(args);
    cmd
}

fn client(name: &str, addr: SocketAddr) -> Command {
    let mut cmd = example(name);
    cmd.arg(addr.to_string());
    cmd
}

// ---- 字节流与消息边界 (byte-stream.md) ----

/// 练习 1 (observation): with --max-line 6, `hello` plus its `\n` is 6 bytes and comes back;
/// `hello!` is 7 and the server closes the connection.
fn max_line_six() -> Vec<(&'static str, String)> {
    let mut server = ServerTerminal::start(
        "cargo run --example line_echo_server -- --max-line 6",
        server_cmd("line_echo_server", &["--max-line", "6"]),
    );
    let mut terminal = Terminal::spawn(client("line_echo_client", server.addr));
    terminal.type_line("hello");
    assert_eq!(terminal.next_line(), "hello");
    terminal.type_line("hello!");
    let (stdout, stderr) = terminal.finish();
    assert_eq!(stdout, "hello\n", "no echo for the 7-byte line");
    server.wait_for("连接关闭");
    vec![
        ("max_line_server", server.transcript()),
        (
            "max_line_client",
            shell(
                "cargo run --example line_echo_client",
                &format!("hello\nhello\nhello!\n{stderr}"),
            ),
        ),
    ]
}

#[test]
fn byte_stream_exercise_transcripts() {
    check(
        "transcripts/exercises/byte-stream",
        max_line_six(),
        "exercises",
    );
}

/// Sends `pieces` (each its own write), half-closes, and returns everything echoed back.
fn send_and_half_close(addr: SocketAddr, pieces: &[&[u8]]) -> Vec<u8> {
    let mut stream = tcp_connect(addr);
    for piece in pieces {
        stream.write_all(piece).unwrap();
    }
    stream.shutdown(Shutdown::Write).unwrap();
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).expect("read the echo");
    echoed
}

/// 练习 2: the fixed-length server echoes every whole 8-byte message, however the writes cut
/// them, and says how many bytes were left over. line_echo_server fails this test: without a
/// `\n` it echoes nothing.
#[test]
fn ex_byte_stream_fixed_echo_server_echoes_whole_eight_byte_messages_only() {
    let mut server = ServerTerminal::start(
        "ex_byte_stream_fixed_echo_server",
        server_cmd("ex_byte_stream_fixed_echo_server", &[]),
    );
    let addr = server.addr;
    let whole = send_and_half_close(addr, &[b"abc", b"defgh1", b"2345678"]);
    assert_eq!(whole, b"abcdefgh12345678");
    server.wait_for("连接关闭");
    let cut = send_and_half_close(addr, &[b"abcdefgh123"]);
    assert_eq!(cut, b"abcdefgh", "the 3 bytes left over are not echoed");
    let opened = server.next_line();
    assert!(opened.starts_with("Client Address: "), "{opened}");
    let why = server.next_line();
    assert!(
        why.starts_with("断开 ") && why.contains("还剩 3 个字节"),
        "one line says what was left over: {why}"
    );
    assert!(server.next_line().starts_with("连接关闭"));
}
