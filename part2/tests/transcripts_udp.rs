//! The terminal transcripts of the chapter "再看 UDP：边界、丢失与连接", in book/transcripts/udp/,
//! made here by running the programs for real. A transcript that no longer matches what the
//! programs print fails the test; after a deliberate change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p part2 --test transcripts_udp
//!
//! and read the diff before committing it. (Build the examples first, `cargo build --examples`:
//! these transcripts run Part I's `udp_echo_server` too.)
//!
//! The servers bind 127.0.0.1:0 here while the transcripts show the reader's command, which binds
//! the default 127.0.0.1:3214: the server's port is shown as 3214 and the client's ephemeral port
//! as 54321. A client's terminal shows what the reader types, each line followed by what the
//! client prints in answer, stdout and stderr interleaved as the reader sees them (both go
//! through one pipe here). `udp_rcvbuf` reads this machine's kernel settings.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use common::transcript::{Terminal, check, normalize, shell};
use common::*;

const DIR: &str = "transcripts/udp";

/// Transcripts made by one group: (file name without .txt, text); an empty text was not made here.
type Made = Vec<(&'static str, String)>;

/// A demo that takes no argument, run to the end; `shown` is the command the reader types.
fn demo(shown: &str, cmd: Command) -> String {
    let out = run(cmd, b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    // A demo that names its server shows it on its first line, as 服务器：127.0.0.1:PORT.
    let port = out
        .stdout
        .lines()
        .next()
        .and_then(|l| l.split_once("127.0.0.1:"))
        .and_then(|(_, rest)| rest.parse().ok())
        .unwrap_or(0);
    shell(shown, &normalize(&out.stdout, port))
}

/// The reader's terminal with an ID client: each typed line, then everything the client prints
/// until its answer to that line (the reply, which is the line itself, or the note that it gave
/// up); at the end of input, whatever it prints before it exits.
fn id_client_session(mut cmd: Command, typed: &[&str]) -> String {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .expect("start the client");
    drop(cmd); // the parent's copies of the pipe's write end go away with the Command
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut text = String::new();
    for t in typed {
        writeln!(stdin, "{t}").expect("type a line");
        text.push_str(&format!("{t}\n"));
        loop {
            let Ok(line) = lines.recv_timeout(STEP) else {
                let _ = child.kill();
                panic!("no answer to {t:?} in time; so far:\n{text}");
            };
            text.push_str(&format!("{line}\n"));
            if line == *t || line.contains("都没有收到回复") {
                break;
            }
        }
    }
    drop(stdin); // Ctrl-D
    while let Ok(line) = lines.recv_timeout(STEP) {
        text.push_str(&format!("{line}\n"));
    }
    assert!(child.wait().unwrap().success(), "client failed:\n{text}");
    text
}

/// A server in one terminal (stopped with Ctrl-C at the end), the ID client in the other. The
/// server prints one line per datagram it gets (`datagrams` in all), after it has answered: the
/// test waits for them before it presses Ctrl-C, or a reply could beat the server's last line.
fn server_and_id_client(
    server_shown: &str,
    server: Command,
    typed: &[&str],
    datagrams: usize,
) -> (String, String) {
    let mut terminal = Terminal::spawn(server);
    let addr: SocketAddr = terminal.next_line().parse().expect("the server's address");
    let mut client = example("udp_id_client");
    client.arg(addr.to_string());
    let client_text = id_client_session(client, typed);
    for _ in 0..datagrams {
        terminal.next_line();
    }
    let (stdout, stderr) = terminal.interrupt();
    assert_eq!(stderr, "", "the server complained");
    (
        shell(
            server_shown,
            &normalize(&format!("{stdout}^C\n"), addr.port()),
        ),
        shell(
            "cargo run --example udp_id_client",
            &normalize(&client_text, addr.port()),
        ),
    )
}

fn demos() -> Made {
    let mut made = vec![
        (
            "udp_boundaries",
            demo(
                "cargo run --example udp_boundaries",
                example("udp_boundaries"),
            ),
        ),
        (
            "udp_rcvbuf",
            demo("cargo run --example udp_rcvbuf", example("udp_rcvbuf")),
        ),
        (
            "udp_connect",
            demo("cargo run --example udp_connect", example("udp_connect")),
        ),
    ];
    made.push((
        "udp_connect_python",
        python_part2("udp_connect.py")
            .map(|cmd| demo("python3 part2/examples/python/udp_connect.py", cmd))
            .unwrap_or_default(),
    ));
    made
}

fn id_with_echo_server() -> Made {
    let mut server = example("udp_echo_server");
    server.arg("127.0.0.1:0");
    let (server, client) = server_and_id_client(
        "cargo run --example udp_echo_server",
        server,
        &["hello", "你好，世界", "True"],
        3,
    );
    vec![("id_echo_server", server), ("id_echo_client", client)]
}

fn id_with_flaky_server() -> Made {
    let mut server = example("udp_flaky_echo_server");
    server.arg("127.0.0.1:0");
    let (server, client) = server_and_id_client(
        "cargo run --example udp_flaky_echo_server",
        server,
        &["hello", "你好", "第三行"],
        5,
    );
    vec![("id_flaky_server", server), ("id_flaky_client", client)]
}

fn id_without_server() -> Made {
    // A port that certainly nobody receives on: bound here, and connected to itself, so that the
    // kernel hands it no datagram from anyone else (the udp_connect demo does the same).
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    closed.connect(closed.local_addr().unwrap()).unwrap();
    let mut client = example("udp_id_client");
    client.args(["--timeout", "0.5", "--retries", "2"]);
    client.arg(closed.local_addr().unwrap().to_string());
    let text = id_client_session(client, &["hello"]);
    vec![(
        "id_no_server",
        shell(
            "cargo run --example udp_id_client -- --timeout 0.5 --retries 2",
            &text,
        ),
    )]
}

#[test]
fn the_udp_transcripts_are_what_the_programs_print() {
    type Generator = fn() -> Made;
    let generators: [Generator; 4] = [
        demos,
        id_with_echo_server,
        id_with_flaky_server,
        id_without_server,
    ];
    // Independent of each other (every server on its own port): side by side, so that the
    // clients' waits for lost replies overlap.
    let mut made = Vec::new();
    thread::scope(|scope| {
        let running: Vec<_> = generators.map(|g| scope.spawn(g)).into_iter().collect();
        for r in running {
            made.extend(r.join().expect("a transcript generator panicked"));
        }
    });
    check(DIR, made, "transcripts_udp -p part2");
}
