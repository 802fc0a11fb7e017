//! The terminal transcripts of the byte-stream and timeouts chapters, in
//! book/transcripts/byte-stream/, made here by running the programs for real. A transcript that
//! no longer matches what the programs print fails the test; after a deliberate change,
//! regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p part2 --test transcripts_bytestream
//!
//! and read the diff before committing it.
//!
//! The servers bind 127.0.0.1:0 here while the transcripts show the reader's command, which binds
//! the default 127.0.0.1:3214: the server's port is shown as 3214, and the clients' ephemeral
//! ports as 54321, 54322, ... in the order they first appear (so that two clients stay two).
//! A server's terminal shows its stdout and its stderr as the reader sees them, interleaved: both
//! go through one pipe here, and the server writes whole lines.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::thread;

use common::transcript::{
    ServerTerminal, Terminal, check, normalize_clients, shell, typed_session,
};
use common::*;

const DIR: &str = "transcripts/byte-stream";

/// Transcripts made by one group: (file name without .txt, text); an empty text was not made here.
type Made = Vec<(&'static str, String)>;

fn rust_server(name: &str, args: &[&str]) -> Command {
    let mut cmd = example(name);
    cmd.arg("127.0.0.1:0").args(args);
    cmd
}

fn client(name: &str, addr: SocketAddr) -> Command {
    let mut cmd = example(name);
    cmd.arg(addr.to_string());
    cmd
}

/// A demo that takes no argument and names no port.
fn demo(shown: &str, cmd: Command) -> String {
    let out = run(cmd, b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    shell(shown, &out.stdout)
}

/// A shell pipeline, run for real by `sh -c`, where CLIENT stands for the client binary given the
/// server's address; the transcript shows `shown`.
fn pipeline(shown: &str, real: &str, client_name: &str, addr: SocketAddr) -> String {
    let client = format!("{} {addr}", example(client_name).get_program().display());
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(real.replace("CLIENT", &client));
    let out = run(cmd, b"");
    out.assert_success();
    shell(shown, &format!("{}{}", out.stdout, out.stderr))
}

fn stream_boundaries() -> Made {
    vec![(
        "stream_boundaries",
        demo(
            "cargo run --example stream_boundaries",
            example("stream_boundaries"),
        ),
    )]
}

/// A server in one terminal and its client typed into another, then a pipe into the client.
fn line_terminals() -> Made {
    let mut server = ServerTerminal::start(
        "cargo run --example line_echo_server",
        rust_server("line_echo_server", &[]),
    );
    let typed = typed_session(
        client("line_echo_client", server.addr),
        &[
            "hello",
            "你好，世界",
            "一行可以很长，也可以是空的：",
            "",
            "上面是一个空行和它的回显",
        ],
    );
    server.wait_for("连接关闭");
    let pipe = pipeline(
        "printf 'one\\ntwo\\nthree' | cargo run --example line_echo_client",
        "printf 'one\\ntwo\\nthree' | CLIENT",
        "line_echo_client",
        server.addr,
    );
    server.wait_for("连接关闭");
    let long = if tool_available("python3") {
        let text = pipeline(
            "python3 -c \"print('长' * 20000)\" | cargo run --example line_echo_client | wc -c",
            "python3 -c \"print('长' * 20000)\" | CLIENT | wc -c",
            "line_echo_client",
            server.addr,
        );
        server.wait_for("连接关闭");
        text
    } else {
        String::new()
    };
    vec![
        ("line_server", server.transcript()),
        (
            "line_client",
            shell("cargo run --example line_echo_client", &typed),
        ),
        ("line_pipe", pipe),
        ("line_long", long),
    ]
}

/// A line over the limit: the client types a short line, then a long one.
fn line_too_long() -> Made {
    let mut server = ServerTerminal::start(
        "cargo run --example line_echo_server -- --max-line 16",
        rust_server("line_echo_server", &["--max-line", "16"]),
    );
    let mut terminal = Terminal::spawn(client("line_echo_client", server.addr));
    let long = "这一行超过了 16 个字节";
    terminal.type_line("short");
    assert_eq!(terminal.next_line(), "short");
    terminal.type_line(long);
    let (stdout, stderr) = terminal.finish();
    assert_eq!(stdout, "short\n");
    server.wait_for("连接关闭");
    let client_text = shell(
        "cargo run --example line_echo_client",
        &format!("short\nshort\n{long}\n{stderr}"),
    );
    vec![
        ("line_too_long_server", server.transcript()),
        ("line_too_long_client", client_text),
    ]
}

fn frame_terminals() -> Made {
    let mut server = ServerTerminal::start(
        "cargo run --example frame_echo_server",
        rust_server("frame_echo_server", &[]),
    );
    let typed = typed_session(
        client("frame_echo_client", server.addr),
        &["hello", "你好，世界", "帧里可以有任何字节"],
    );
    server.wait_for("连接关闭");
    vec![
        ("frame_server", server.transcript()),
        (
            "frame_client",
            shell("cargo run --example frame_echo_client", &typed),
        ),
    ]
}

/// A hostile client whose header announces 4 GiB, then an ordinary client.
fn frame_huge_header() -> Made {
    if !tool_available("python3") {
        return vec![
            ("frame_huge_header_server", String::new()),
            ("frame_huge_header_client", String::new()),
        ];
    }
    let mut server = ServerTerminal::start(
        "cargo run --example frame_echo_server",
        rust_server("frame_echo_server", &[]),
    );
    let script = "import socket; s = socket.create_connection(('127.0.0.1', PORT)); \
                  s.sendall(b'\\xff\\xff\\xff\\xff'); print(s.recv(1024))";
    let shown = format!("python3 -c \"{}\"", script.replace("PORT", "3214"));
    let mut cmd = python_plain().unwrap();
    cmd.arg("-c")
        .arg(script.replace("PORT", &server.addr.port().to_string()));
    let out = run(cmd, b"");
    out.assert_success();
    let hostile = shell(&shown, &out.stdout);
    server.wait_for("连接关闭");
    let typed = typed_session(client("frame_echo_client", server.addr), &["我是下一个"]);
    server.wait_for("连接关闭");
    vec![
        ("frame_huge_header_server", server.transcript()),
        (
            "frame_huge_header_client",
            format!(
                "{hostile}{}",
                shell("cargo run --example frame_echo_client", &typed)
            ),
        ),
    ]
}

/// The Python frame server with the Rust client: both terminals.
fn python_frame_server() -> Made {
    let Some(mut cmd) = python_part2("frame_echo_server.py") else {
        return vec![
            ("python_frame_server", String::new()),
            ("python_frame_client", String::new()),
        ];
    };
    cmd.arg("127.0.0.1:0");
    let mut server =
        ServerTerminal::start("python3 part2/examples/python/frame_echo_server.py", cmd);
    let typed = typed_session(
        client("frame_echo_client", server.addr),
        &["hello", "你好，世界"],
    );
    server.wait_for("连接关闭");
    vec![
        ("python_frame_server", server.transcript()),
        (
            "python_frame_client",
            shell("cargo run --example frame_echo_client", &typed),
        ),
    ]
}

fn help() -> Made {
    let mut made = Vec::new();
    for (name, file) in [
        ("line_echo_server", "line_server_help"),
        ("frame_echo_server", "frame_server_help"),
    ] {
        let mut cmd = example(name);
        cmd.arg("--help");
        made.push((
            file,
            demo(&format!("cargo run --example {name} -- --help"), cmd),
        ));
    }
    made
}

fn timeouts() -> Made {
    let python = match python_part2("timeouts.py") {
        Some(cmd) => demo("python3 part2/examples/python/timeouts.py", cmd),
        None => String::new(),
    };
    vec![
        (
            "timeouts_rust",
            demo("cargo run --example timeouts", example("timeouts")),
        ),
        ("timeouts_python", python),
    ]
}

/// The idle timeout: a client that says nothing is closed after one second, and the next client
/// is served.
fn idle_timeout() -> Made {
    let mut server = ServerTerminal::start(
        "cargo run --example line_echo_server -- --idle-timeout 1",
        rust_server("line_echo_server", &["--idle-timeout", "1"]),
    );
    // The reader starts the client and types nothing.
    let (stdout, stderr) = Terminal::spawn(client("line_echo_client", server.addr)).finish();
    assert_eq!(stdout, "");
    server.wait_for("连接关闭");
    let typed = typed_session(client("line_echo_client", server.addr), &["hello"]);
    server.wait_for("连接关闭");
    let client_text = format!(
        "{}{}",
        shell("cargo run --example line_echo_client", &stderr),
        shell("cargo run --example line_echo_client", &typed)
    );
    vec![
        ("idle_server", server.transcript()),
        ("idle_client", client_text),
    ]
}

#[test]
fn the_byte_stream_transcripts_are_what_the_programs_print() {
    // Each group in its own thread: the slow ones (timeouts, the idle timeout) run side by side.
    let groups: Vec<fn() -> Made> = vec![
        stream_boundaries,
        line_terminals,
        line_too_long,
        frame_terminals,
        frame_huge_header,
        python_frame_server,
        help,
        timeouts,
        idle_timeout,
    ];
    let handles: Vec<_> = groups.into_iter().map(thread::spawn).collect();
    let made: Made = handles
        .into_iter()
        .flat_map(|h| h.join().expect("a transcript group failed"))
        .collect();
    check(DIR, made, "transcripts_bytestream -p part2");
}

#[test]
fn ports_are_normalized_per_client() {
    let text = "127.0.0.1:4000\nClient Address: 127.0.0.1:5000\n断开 127.0.0.1:5000：x\n\
                Client Address: [::1]:6000\n";
    assert_eq!(
        normalize_clients(text, 4000),
        "127.0.0.1:3214\nClient Address: 127.0.0.1:54321\n断开 127.0.0.1:54321：x\n\
         Client Address: [::1]:54322\n"
    );
}
