//! The terminal transcripts of the chapter 优雅地停止服务器 (book/transcripts/shutdown/), made by
//! running the programs for real. After a deliberate change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p ladder --test transcripts_shutdown
//!
//! and read the diff. Normalized: the server's port is shown as 3214 and the clients' ports as
//! 54321, 54322, ... A server's terminal shows its stdout and stderr through one pipe, and `^C`
//! where the reader pressed Ctrl-C. The book's `kill $(pgrep -x echo_pool)` is, here, a SIGTERM
//! to the test's own child.
//!
//! Needs Part I's tcp_echo_client (which `cargo test` at the root builds).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::os::unix::process::ExitStatusExt;

use common::transcript::{
    SIGINT, ServerTerminal, Terminal, check, client_of, ctrl_c_in, server_on_port_0, shell,
};
use common::*;

const SIGTERM: i32 = 15;

type Made = Vec<(&'static str, String)>;

#[test]
fn transcripts_of_the_shutdown_chapter_match_what_the_programs_print() {
    let mut made = Made::new();
    made.extend(ctrl_c_and_drop());
    made.extend(demo());
    made.extend(tokio_ctrl_c());
    made.extend(pool_sigterm());
    check("transcripts/shutdown", made, "transcripts_shutdown");
}

/// `ctrl_c_drop` without and with a handler for SIGINT, and the status the shell sees.
fn ctrl_c_and_drop() -> Made {
    // Terminal gives SIGINT its default action, as in a terminal.
    let mut plain = Terminal::spawn(example("ctrl_c_drop"));
    assert_eq!(plain.next_line(), "按 Ctrl-C 结束");
    let (out, err) = plain.interrupt();
    assert_eq!(err, "");
    // Terminal::interrupt waited for it; what the shell shows for a process killed by SIGINT.
    let status = 128 + SIGINT;
    let default = shell("cargo run --example ctrl_c_drop", &ctrl_c_in(&out))
        + &shell("echo $?", &format!("{status}\n"));

    let mut cmd = example("ctrl_c_drop");
    cmd.arg("--handle");
    let mut handled = Terminal::spawn(cmd);
    assert!(handled.next_line().starts_with("按 Ctrl-C 结束"));
    let (out, err) = handled.interrupt();
    assert_eq!(err, "");
    assert!(out.ends_with("Drop 运行了：清理完毕\n"), "{out}");
    let handled = shell(
        "cargo run --example ctrl_c_drop -- --handle",
        &ctrl_c_in_before(&out, "收到 SIGINT：run 正常返回"),
    ) + &shell("echo $?", "0\n");
    vec![("ctrl_c_default", default), ("ctrl_c_handled", handled)]
}

/// `^C` before the line that answers it.
fn ctrl_c_in_before(text: &str, line: &str) -> String {
    let at = text.find(line).expect("the answering line");
    format!("{}^C\n{}", &text[..at], &text[at..])
}

fn demo() -> Made {
    let done = run(example("shutdown_demo"), b"");
    done.assert_success();
    assert_eq!(done.stderr, "");
    vec![(
        "demo",
        shell("cargo run --example shutdown_demo", &done.stdout),
    )]
}

/// echo_tokio in terminal 1, a client in terminal 2; Ctrl-C in terminal 1; the client types
/// another line and finds the connection ended (EOF, not a reset).
fn tokio_ctrl_c() -> Made {
    let mut server = ServerTerminal::start(
        "cargo run --example echo_tokio",
        server_on_port_0("echo_tokio"),
    );
    let mut client = Terminal::spawn(client_of("tcp_echo_client")(server.addr));
    client.type_line("你好");
    assert_eq!(client.next_line(), "你好");
    server.wait_for("Client Address: ");
    let status = server.signal_and_wait(SIGINT);
    assert_eq!(status.code(), Some(0), "{}", server.transcript());
    client.type_line("还在吗");
    let (out, err) = client.end_input();
    assert_eq!(out, "你好\n");
    assert_eq!(err, "错误：服务器在回显完成之前关闭了连接\n");
    let text = server.transcript();
    assert!(
        text.contains("收到 SIGINT：不再接受新连接，正在关闭 1 个连接\n"),
        "{text}"
    );
    vec![
        ("tokio_server", ctrl_c_in(&text)),
        (
            "tokio_client",
            shell(
                "cargo run --example tcp_echo_client",
                &format!("你好\n你好\n还在吗\n{err}"),
            ),
        ),
    ]
}

/// echo_pool in terminal 1, a client in terminal 2, `kill` (SIGTERM) from terminal 3.
fn pool_sigterm() -> Made {
    let mut server = ServerTerminal::start(
        "cargo run --example echo_pool",
        server_on_port_0("echo_pool"),
    );
    let mut client = Terminal::spawn(client_of("tcp_echo_client")(server.addr));
    client.type_line("你好");
    assert_eq!(client.next_line(), "你好");
    server.wait_for("Client Address: ");
    let status = server.signal_and_wait(SIGTERM);
    assert_eq!(status.code(), Some(0), "{}", server.transcript());
    assert_eq!(status.signal(), None);
    let (out, err) = client.end_input();
    assert_eq!((out.as_str(), err.as_str()), ("你好\n", ""));
    vec![
        ("pool_server", server.transcript()),
        ("pool_kill", shell("kill $(pgrep -x echo_pool)", "")),
    ]
}
