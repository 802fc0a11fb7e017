//! The terminal transcripts of the chapter 聊天室 (book/transcripts/chat/), made by running the
//! programs for real. After a deliberate change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p ladder --test transcripts_chat
//!
//! and read the diff. Normalized: the server's port is shown as 3214 and the clients' ports as
//! 54321, 54322, ... in the order they connected. A server's terminal shows its stdout and stderr
//! through one pipe, and `^C` where the reader pressed Ctrl-C; a client's terminal shows what the
//! reader typed and what the client printed, in the order they appeared.
//!
//! The three servers (chat_server, chat_tokio, chat_server.py) must make the same transcripts:
//! the book shows chat_server's, and says the other two print the same. Needs python3 for the
//! Python server and for the client that does not read; where it is missing, those parts are
//! skipped, loudly.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use common::transcript::{
    SIGINT, ServerTerminal, Terminal, check, client_of, ctrl_c_in, server_on_port_0, shell,
};
use common::*;

type Made = Vec<(&'static str, String)>;

#[test]
fn transcripts_of_the_chat_chapter_match_what_the_programs_print() {
    let mut made = Made::new();
    made.extend(help());
    made.extend(three_terminals());
    made.extend(too_long());
    made.extend(slow_reader());
    check("transcripts/chat", made, "transcripts_chat");
}

/// The three servers: the command the book shows and the command the test runs.
fn servers() -> Vec<(&'static str, Command)> {
    let mut all = vec![
        (
            "cargo run --example chat_server",
            server_on_port_0("chat_server"),
        ),
        (
            "cargo run --example chat_tokio",
            server_on_port_0("chat_tokio"),
        ),
    ];
    if let Some(mut cmd) = python_ladder("chat_server.py") {
        cmd.arg("127.0.0.1:0");
        all.push(("python3 ladder/examples/python/chat_server.py", cmd));
    }
    all
}

fn help() -> Made {
    let text = |name: &str| {
        let mut cmd = example(name);
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        shell(
            &format!("cargo run --example {name} -- --help"),
            &out.stdout,
        )
    };
    vec![
        ("help", text("chat_server")),
        ("help_tokio", text("chat_tokio")),
    ]
}

/// Shows the client ports of `text` as the server's transcript numbers them: the first client
/// to connect is 54321, the second 54322.
fn client_ports(text: &str, clients: &[SocketAddr]) -> String {
    let mut text = text.to_string();
    for (n, addr) in clients.iter().enumerate() {
        text = text.replace(&addr.to_string(), &format!("127.0.0.1:{}", 54321 + n));
    }
    text
}

/// The address a client was given in its welcome line.
fn welcomed(line: &str) -> SocketAddr {
    line.strip_prefix("*** 欢迎来到聊天室！你是 ")
        .and_then(|rest| rest.split('，').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("not a welcome: {line}"))
}

/// Terminal 1 a server, terminals 2 and 3 a chat_client each. They talk; the second leaves with
/// Ctrl-D; the server is stopped with Ctrl-C. Every server must make the same transcripts.
fn three_terminals() -> Made {
    let mut made: Option<Made> = None;
    for (shown, cmd) in servers() {
        let mut server = ServerTerminal::start(shown, cmd);
        let client = client_of("chat_client");
        let mut first = Terminal::spawn(client(server.addr));
        let mut one = String::new();
        let welcome = first.next_line();
        let first_addr = welcomed(&welcome);
        one += &format!("{welcome}\n");
        server.wait_for("Client Address: ");

        let mut second = Terminal::spawn(client_of("chat_client")(server.addr));
        let mut two = String::new();
        let welcome = second.next_line();
        let second_addr = welcomed(&welcome);
        two += &format!("{welcome}\n");
        server.wait_for("Client Address: ");
        let line = first.next_line();
        assert_eq!(line, format!("*** {second_addr} 加入了聊天室"), "{shown}");
        one += &format!("{line}\n");

        first.type_line("大家好");
        one += "大家好\n";
        let line = second.next_line();
        assert_eq!(line, format!("{first_addr}: 大家好"), "{shown}");
        two += &format!("{line}\n");

        second.type_line("你好！我刚到");
        two += "你好！我刚到\n";
        let line = first.next_line();
        assert_eq!(line, format!("{second_addr}: 你好！我刚到"), "{shown}");
        one += &format!("{line}\n");

        // Ctrl-D in terminal 3.
        let (out, err) = second.end_input();
        assert_eq!(err, "", "{shown}");
        let rest = out
            .strip_prefix(&two.replace("你好！我刚到\n", ""))
            .unwrap_or_else(|| panic!("{shown}: {out}"));
        assert_eq!(rest, "服务器关闭了连接\n", "{shown}");
        two += rest;
        let line = first.next_line();
        assert_eq!(line, format!("*** {second_addr} 离开了聊天室"), "{shown}");
        one += &format!("{line}\n");
        server.wait_for("连接关闭：");

        // Ctrl-C in terminal 1.
        let status = server.signal_and_wait(SIGINT);
        assert_eq!(status.code(), Some(0), "{}", server.transcript());
        let (out, err) = first.finish();
        assert_eq!(err, "", "{shown}");
        let rest = out.strip_prefix(&one.replace("大家好\n", "")).unwrap();
        assert_eq!(rest, "*** 服务器正在关闭\n服务器关闭了连接\n", "{shown}");
        one += rest;

        let clients = [first_addr, second_addr];
        let these = vec![
            ("room_server", ctrl_c_in(&server.transcript())),
            (
                "room_client1",
                shell(
                    "cargo run --example chat_client",
                    &client_ports(&one, &clients),
                ),
            ),
            (
                "room_client2",
                shell(
                    "cargo run --example chat_client",
                    &client_ports(&two, &clients),
                ),
            ),
        ];
        match &made {
            None => made = Some(these),
            Some(book) => {
                let ours = these[0]
                    .1
                    .replacen(shown, "cargo run --example chat_server", 1);
                assert_eq!(ours, book[0].1, "{shown} prints differently");
                assert_eq!(
                    these[1..],
                    book[1..],
                    "with {shown}, the clients see otherwise"
                );
            }
        }
    }
    made.unwrap()
}

/// A line longer than 1024 bytes: the client is told why, and the server closes its connection.
const LONG: &str = "python3 -c \"print('长' * 400)\" | cargo run --example chat_client";

fn too_long() -> Made {
    let mut made = None;
    for (shown, cmd) in servers() {
        let mut server = ServerTerminal::start(shown, cmd);
        let input = "长".repeat(400) + "\n";
        let out = run(client_of("chat_client")(server.addr), input.as_bytes());
        out.assert_success();
        assert_eq!(out.stderr, "", "{shown}");
        let mut lines = out.stdout.lines();
        let addr = welcomed(lines.next().unwrap());
        server.wait_for("连接关闭：");
        let said = server.transcript();
        assert!(
            said.contains("断开 127.0.0.1:54321：一行超过了 1024 字节的上限（--max-line）\n"),
            "{shown}: {said}"
        );
        let text = shell(LONG, &client_ports(&out.stdout, &[addr]));
        match &made {
            None => made = Some(text),
            Some(book) => assert_eq!(&text, book, "with {shown}, the client sees otherwise"),
        }
    }
    vec![("too_long", made.unwrap())]
}

/// The client that does not read: it connects, waits for Enter, then reads everything that came
/// and prints the last line. (How much came before it depends on how fast the server's writer
/// thread ran: a dozen lines or so; the test shows only the last line.)
const NOT_READING: &str = "import socket; s = socket.create_connection(('127.0.0.1', 3214)); \
                           input('连上了，先不读。按回车开始读：'); \
                           data = b''.join(iter(lambda: s.recv(65536), b'')); \
                           print(data.decode('utf-8', 'replace').splitlines()[-1])";
const NOT_READING_PROMPT: &str = "连上了，先不读。按回车开始读：";
/// The flood: 100,000 long lines from another client, as fast as it can send them.
const FLOOD_LINE: &str = "大家好，这是一行很长的消息，一口气发出十万行";
const LINES: usize = 100_000;

/// The client that does not read, running.
struct NotReading {
    child: Child,
    stdin: ChildStdin,
    stdout: mpsc::Receiver<Vec<u8>>,
}

impl NotReading {
    fn start(addr: SocketAddr) -> Option<NotReading> {
        let program = NOT_READING.replace("3214", &addr.port().to_string());
        let mut cmd = python_plain()?;
        cmd.args(["-c", &program]).env("PYTHONIOENCODING", "utf-8");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3");
        let stdin = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, stdout) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut this = NotReading {
            child,
            stdin,
            stdout,
        };
        // The prompt has no newline: read until it has all come.
        let prompt = this.read_until(|seen| seen.ends_with(NOT_READING_PROMPT.as_bytes()));
        assert_eq!(prompt, NOT_READING_PROMPT.as_bytes());
        Some(this)
    }

    fn read_until(&mut self, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let mut seen = Vec::new();
        while !done(&seen) {
            match self.stdout.recv_timeout(STEP) {
                Ok(bytes) => seen.extend_from_slice(&bytes),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "the client that does not read: {}",
                        String::from_utf8_lossy(&seen)
                    )
                }
            }
        }
        seen
    }

    /// Presses Enter: it reads what came and prints the last line, and ends.
    fn enter(mut self) -> String {
        self.stdin.write_all(b"\n").unwrap();
        let out = self.read_until(|seen| seen.ends_with(b"\n"));
        let status = self.child.wait().unwrap();
        assert!(status.success());
        String::from_utf8(out).unwrap()
    }
}

/// Terminal 1 the server; terminal 2 a client that does not read; terminal 3 a client that floods
/// the room. The one that does not read is disconnected; the flood goes on.
fn slow_reader() -> Made {
    let names = ["slow_server", "slow_client", "slow_flood"];
    let mut server = ServerTerminal::start(
        "cargo run --example chat_server",
        server_on_port_0("chat_server"),
    );
    let Some(not_reading) = NotReading::start(server.addr) else {
        return names.iter().map(|n| (*n, String::new())).collect();
    };
    server.wait_for("Client Address: ");

    // The flood, through chat_client. The test feeds its stdin, and pauses once the room has
    // let the slow one go, until the server has closed that connection (a second or two later:
    // it waits for the client to close, which it does not), so that the server's lines come
    // in the same order every time.
    let (stdin, feed) = std::io::pipe().unwrap();
    let mut flood = Proc::spawn_with_stdin(client_of("chat_client")(server.addr), stdin);
    let (pause, paused_rx) = (mpsc::channel::<()>(), mpsc::channel::<()>());
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let ((pause_tx, pause_rx), (paused_tx, paused)) = (pause, paused_rx);
    let feeder = thread::spawn(move || {
        let mut feed = feed;
        let chunk = format!("{FLOOD_LINE}\n").repeat(100);
        for _ in 0..LINES / 100 {
            if pause_rx.try_recv().is_ok() {
                paused_tx.send(()).unwrap();
                resume_rx
                    .recv_timeout(STEP)
                    .expect("the test resumes the flood");
            }
            feed.write_all(chunk.as_bytes()).expect("feed the flood");
        }
    });
    let welcome = flood.next_line();
    let flood_addr = welcomed(&welcome);
    server.wait_for("Client Address: ");
    let left = flood.next_line();
    assert!(left.ends_with(" 离开了聊天室"), "{left}");
    pause_tx.send(()).unwrap();
    paused.recv_timeout(STEP).expect("the feeder paused");

    server.wait_for("连接关闭：");
    resume_tx.send(()).unwrap();
    feeder.join().expect("the feeder");
    let out = flood.finish();
    out.assert_success();
    server.wait_for("连接关闭：");
    // Enter in terminal 2, after the flood has ended: the last line was written long ago
    // (the slow one had been sent only a few KB, so it fitted at once), and waits for it.
    let last = not_reading.enter();
    let tail: Vec<&str> = out.stdout.lines().rev().take(3).collect();
    let tail: String = tail.iter().rev().map(|l| format!("{l}\n")).collect();
    let status = server.signal_and_wait(SIGINT);
    assert_eq!(status.code(), Some(0));

    let slow_addr: SocketAddr = left
        .strip_prefix("*** ")
        .and_then(|rest| rest.strip_suffix(" 离开了聊天室"))
        .unwrap()
        .parse()
        .unwrap();
    let clients = [slow_addr, flood_addr];
    let said = server.transcript();
    assert!(
        said.contains(
            "断开 127.0.0.1:54321：跟不上：落后超过 64 行（--queue）\n连接关闭：127.0.0.1:54321\n"
        ),
        "{said}"
    );
    vec![
        ("slow_server", ctrl_c_in(&said)),
        (
            "slow_client",
            shell(
                &format!("python3 -c \"{NOT_READING}\""),
                &client_ports(&format!("{NOT_READING_PROMPT}\n{last}"), &clients),
            ),
        ),
        (
            "slow_flood",
            shell(
                &format!(
                    "yes {FLOOD_LINE} | head -n {LINES} | cargo run --example chat_client | tail -n 3"
                ),
                &client_ports(&tail, &clients),
            ),
        ),
    ]
}
