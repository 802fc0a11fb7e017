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

/// 练习 3: a 2-byte length prefix carries frames of up to 65,535 bytes; a 65,536-byte message is
/// not sent, and the reason names what `as u16` would have written (0).
#[test]
fn ex_byte_stream_u16_frames_carry_65535_bytes_and_refuse_65536() {
    let out = run(example("ex_byte_stream_u16_frames"), b"");
    out.assert_success();
    assert_eq!(
        out.stdout,
        "5 字节：作为一帧发出，收回 5 字节\n\
         65535 字节：作为一帧发出，收回 65535 字节\n\
         65536 字节：没有发出：2 字节的长度前缀最多表示 65535 字节；写成 `as u16` 的话，帧头会是 0\n"
    );
}

// ---- 正确地关闭连接 (closing.md) ----

/// The states of the server-side sockets of the server listening on `port`, from /proc/net/tcp
/// (01 ESTABLISHED, 08 CLOSE_WAIT), without the listening socket (0A).
fn server_side_states(port: u16) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
            let state = *fields.get(3)?;
            (local_port == port && state != "0A").then(|| state.to_string())
        })
        .collect()
}

fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |tasks| tasks.count())
}

/// 练习 1: dropping the clone instead of `shutdown(Write)` sends no FIN. The client gets its echo,
/// its sending thread ends (the handle is dropped), and still the server's side of the connection
/// stays ESTABLISHED (not CLOSE_WAIT) and both programs go on waiting. half_close_client fails
/// this test: its FIN turns the server's side to CLOSE_WAIT and both end.
#[test]
fn ex_closing_drop_not_shutdown_sends_no_fin() {
    use std::io::BufRead;
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let mut child = example("ex_closing_drop_not_shutdown")
        .arg(addr.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the client");
    let pid = child.id();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap(); // and close stdin: input ends
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let echoed = rx.recv_timeout(STEP);
    // The sending thread has dropped its handle and ended: only the main thread is left.
    wait_until("the client's sending thread ends", || threads_of(pid) == 1);
    // Had a FIN been sent, the server's side would turn CLOSE_WAIT within moments; watch it for a
    // while (a bounded watch for something that must NOT happen, not a wait for readiness).
    let watch_until = std::time::Instant::now() + std::time::Duration::from_millis(300);
    let mut states = Vec::new();
    while std::time::Instant::now() < watch_until {
        states = server_side_states(addr.port());
        assert_eq!(states, ["01"], "the server's side stays ESTABLISHED");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(echoed.as_deref(), Ok("hello"), "the echo still comes back");
    assert!(
        still_running,
        "the client waits for a close that never comes"
    );
    assert_eq!(states, ["01"]);
    // With the client gone (killed: its socket is closed), the server ends too.
    server.finish().assert_success();
}

/// 练习 2: the two new cases of rst_demo: 2 bytes left unread when the server closes → RST;
/// nothing sent, the server closes → FIN.
#[test]
fn ex_closing_rst_partial_resets_with_unread_bytes_and_fins_without() {
    let out = run(example("ex_closing_rst_partial"), b"");
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("服务器端监听 127.0.0.1:"), "{out:#?}");
    assert_eq!(
        lines[1..],
        [
            "一、服务器端只读 3 个字节就关闭",
            "  客户端发送 \"hello\"",
            "  客户端的 read 返回 Err(ConnectionReset)：Connection reset by peer (os error 104)",
            "二、客户端什么也不发，服务器端直接关闭",
            "  客户端的 read 返回 Ok(0)：对方正常关闭了连接（FIN）",
        ],
        "{out:#?}"
    );
}
