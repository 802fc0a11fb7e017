//! The terminal transcripts of the chapter 事件循环：mio (book/event-loop.md), in
//! book/transcripts/mio/, made here by running the programs for real. A transcript that no longer
//! matches what the programs print fails the test; after a deliberate change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p ladder --test transcripts_mio
//!
//! and read the diff before committing it. (`cargo build --examples` first: this test runs the
//! examples that cargo built, among them Part I's tcp_echo_client.)
//!
//! The servers bind 127.0.0.1:0 here while the transcripts show the reader's command, which binds
//! the default 127.0.0.1:3214: the server's port is shown as 3214, and the clients' ephemeral
//! ports as 54321, 54322, ... in the order they first appear. A server's terminal shows its stdout
//! and its stderr as the reader sees them, interleaved (one pipe here; the server writes whole
//! lines). Where a transcript shows `$(pgrep -x echo_mio)`, the test ran the command with the
//! server's real process id.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::transcript::{ServerTerminal, Terminal, check, shell};
use common::*;

const DIR: &str = "transcripts/mio";

/// Transcripts made by one group: (file name without .txt, text); an empty text was not made here.
type Made = Vec<(&'static str, String)>;

fn echo_mio(args: &[&str]) -> Command {
    let mut cmd = example("echo_mio");
    cmd.arg("127.0.0.1:0").args(args);
    cmd
}

fn echo_client(addr: SocketAddr) -> Command {
    let mut cmd = example("tcp_echo_client");
    cmd.arg(addr.to_string());
    cmd
}

/// Types `line` into a client terminal and reads its echo: what the terminal shows.
fn type_and_echo(client: &mut Terminal, line: &str) -> String {
    client.type_line(line);
    let echo = client.next_line();
    assert_eq!(echo, line, "the echo");
    format!("{line}\n{echo}\n")
}

/// Runs `sh -c command` and returns its stdout; `shown` is what the transcript shows.
fn sh(shown: &str, command: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("run sh");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{command}: {out:?}"
    );
    shell(shown, &String::from_utf8(out.stdout).unwrap())
}

/// Terminal 1 runs the server; terminals 2 and 3 run a client each, both connected at once.
fn two_clients_at_once() -> Made {
    let mut server = ServerTerminal::start("cargo run --example echo_mio", echo_mio(&[]));
    let addr = server.addr;
    let mut a = Terminal::spawn(echo_client(addr));
    let mut a_text = type_and_echo(&mut a, "hello");
    server.wait_for("Client Address");
    let mut b = Terminal::spawn(echo_client(addr));
    let b_text = type_and_echo(&mut b, "你好，我是第二个客户端");
    server.wait_for("Client Address");
    let _ = b.end_input(); // Ctrl-D in terminal 3
    server.wait_for("连接关闭");
    a_text.push_str(&type_and_echo(&mut a, "我还在"));
    let _ = a.end_input(); // Ctrl-D in terminal 2
    server.wait_for("连接关闭");
    let client = "cargo run --example tcp_echo_client";
    vec![
        ("server", server.transcript()),
        ("client_a", shell(client, &a_text)),
        ("client_b", shell(client, &b_text)),
    ]
}

fn help() -> Made {
    let mut cmd = example("echo_mio");
    cmd.arg("--help");
    let out = run(cmd, b"");
    out.assert_success();
    vec![(
        "help",
        shell("cargo run --example echo_mio -- --help", &out.stdout),
    )]
}

fn edge_triggered() -> Made {
    let out = run(example("edge_triggered"), b"");
    out.assert_success();
    let mut made = vec![(
        "edge_rust",
        shell("cargo run --example edge_triggered", &out.stdout),
    )];
    let python = python_ladder("edge_triggered.py").map(|cmd| {
        let out = run(cmd, b"");
        out.assert_success();
        shell(
            "python3 ladder/examples/python/edge_triggered.py",
            &out.stdout,
        )
    });
    made.push(("edge_python", python.unwrap_or_default()));
    made
}

/// The reader presses Enter in the terminal of hold_clients.py, which has printed `shown` so far:
/// the terminal shows the empty line typed, then the rest of what the program prints.
fn press_enter(mut terminal: Terminal, shown: &str) -> String {
    terminal.type_line("");
    let (all, stderr) = terminal.end_input();
    assert_eq!(stderr, "");
    let rest = all
        .strip_prefix(shown)
        .expect("the lines already shown come first");
    format!("{shown}\n{rest}")
}

/// 1,000 clients held open by hold_clients.py, and a third terminal looking at the server.
/// `pgrep` is how the transcript finds the server (`-x echo_mio`, or `-f echo_selectors` for the
/// Python one).
fn thousand(server_cmd: Command, server_shown: &str, pgrep: &str) -> Option<(String, String)> {
    let mut hold = python_ladder("hold_clients.py")?;
    let server = ServerTerminal::start(server_shown, server_cmd);
    let (pid, addr) = (server.pid(), server.addr);
    hold.args(["1000", "--addr", &addr.to_string()]);
    let mut terminal = Terminal::spawn(hold);
    let mut held = String::new();
    for _ in 0..2 {
        held.push_str(&terminal.next_line());
        held.push('\n');
    }
    assert!(held.contains("1000 个收到了自己的回显"), "{held}");
    let mut looks = sh(
        &format!("ls /proc/$({pgrep})/task | wc -l"),
        &format!("ls /proc/{pid}/task | wc -l"),
    );
    if tool_available("ss") {
        looks.push_str(&sh(
            "ss -Htn state established '( sport = :3214 )' | wc -l",
            &format!(
                "ss -Htn state established '( sport = :{} )' | wc -l",
                addr.port()
            ),
        ));
    }
    let echo = run(echo_client(addr), b"hello\n");
    echo.assert_success();
    looks.push_str(&shell(
        "echo hello | cargo run --example tcp_echo_client",
        &echo.stdout,
    ));
    let held = press_enter(terminal, &held);
    Some((
        shell("python3 ladder/examples/python/hold_clients.py 1000", &held),
        looks,
    ))
}

fn thousand_clients() -> Made {
    let rust = thousand(
        echo_mio(&[]),
        "cargo run --example echo_mio",
        "pgrep -x echo_mio",
    );
    let python = python_ladder("echo_selectors.py").and_then(|mut cmd| {
        cmd.arg("127.0.0.1:0");
        thousand(
            cmd,
            "python3 ladder/examples/python/echo_selectors.py",
            "pgrep -f echo_selectors",
        )
    });
    let (hold, looks) = rust.unwrap_or_default();
    let (_, looks_python) = python.unwrap_or_default();
    vec![
        ("hold_1000", hold),
        ("hold_1000_looks", looks),
        ("hold_1000_looks_python", looks_python),
    ]
}

/// flood_client.py against a server whose process id it is given.
fn flood(server_cmd: Command, pgrep: &str) -> String {
    let Some(mut cmd) = python_ladder("flood_client.py") else {
        return String::new();
    };
    let server = ServerTerminal::start("", server_cmd);
    cmd.args([&server.addr.to_string(), "--pid", &server.pid().to_string()]);
    let out = run(cmd, b"");
    out.assert_success();
    assert_eq!(out.stderr, "");
    shell(
        &format!("python3 ladder/examples/python/flood_client.py --pid $({pgrep})"),
        &out.stdout,
    )
}

fn backpressure() -> Made {
    let python = python_ladder("echo_selectors.py")
        .map(|mut cmd| {
            cmd.arg("127.0.0.1:0");
            flood(cmd, "pgrep -f echo_selectors")
        })
        .unwrap_or_default();
    vec![
        ("flood_rust", flood(echo_mio(&[]), "pgrep -x echo_mio")),
        ("flood_python", python),
    ]
}

/// --max-clients 2, and three clients held open: the third is refused.
fn max_clients() -> Made {
    let Some(mut hold) = python_ladder("hold_clients.py") else {
        return vec![
            ("max_clients_server", String::new()),
            ("max_clients_hold", String::new()),
        ];
    };
    let mut server = ServerTerminal::start(
        "cargo run --example echo_mio -- --max-clients 2",
        echo_mio(&["--max-clients", "2"]),
    );
    hold.args(["3", "--addr", &server.addr.to_string()]);
    let mut terminal = Terminal::spawn(hold);
    let mut held = String::new();
    for _ in 0..2 {
        held.push_str(&terminal.next_line());
        held.push('\n');
    }
    let held = press_enter(terminal, &held);
    for _ in 0..2 {
        server.wait_for("连接关闭");
    }
    vec![
        ("max_clients_server", server.transcript()),
        (
            "max_clients_hold",
            shell("python3 ladder/examples/python/hold_clients.py 3", &held),
        ),
    ]
}

/// A hard limit of 100 open files, as `ulimit -n 100` in the reader's shell sets it.
fn low_limit() -> Made {
    use std::os::unix::process::CommandExt;
    let mut cmd = echo_mio(&[]);
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 100, 100));
    }
    let mut server = ServerTerminal::start("(ulimit -n 100; cargo run --example echo_mio)", cmd);
    server.wait_for("注意");
    vec![("ulimit", server.transcript())]
}

#[test]
fn transcripts_of_the_event_loop_chapter_match_what_the_programs_print() {
    let mut made = Made::new();
    made.extend(two_clients_at_once());
    made.extend(help());
    made.extend(edge_triggered());
    made.extend(thousand_clients());
    made.extend(backpressure());
    made.extend(max_clients());
    made.extend(low_limit());
    check(DIR, made, "transcripts_mio");
}
