//! The terminal transcripts of the chapters 一次一个, 每个客户端一个线程 and 线程池
//! (book/transcripts/threads/), made by running the programs for real. After a deliberate
//! change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p ladder --test transcripts_threads
//!
//! and read the diff. Normalized: the server's port is shown as 3214 and the clients' ports as
//! 54321, 54322, ... in the order they connected; `ss`'s columns are squeezed to one space and its
//! socket lines sorted. The book's commands name the server's process as `$(pgrep -x NAME)`;
//! the test, which may run several servers of the same name at once, uses its own child's pid.
//!
//! Needs Part I's tcp_echo_client (which `cargo test` at the root builds), `ss` (iproute2) and
//! python3 (for the 100 silent clients); where python3 is missing, the transcripts that need it
//! are skipped, loudly.

#[path = "../../part2/tests/closing_support/mod.rs"]
mod closing_support;
#[path = "../../tests/common/mod.rs"]
mod common;
mod threads_support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use closing_support::{Ports, ss, ss_until};
use common::transcript::{Terminal, check, ctrl_c_in, shell};
use common::*;
use threads_support::*;

/// The Python program that opens 100 connections and keeps them silent until Enter is pressed.
const SILENT: &str = "import socket; s = [socket.create_connection(('127.0.0.1', 3214)) for _ in \
                      range(100)]; input(f'{len(s)} 个连接已建立，按回车关闭它们')";
/// What it prints once every connection is made (its prompt).
const SILENT_READY: &str = "100 个连接已建立，按回车关闭它们";

/// The 100 silent clients of `SILENT`, running.
struct SilentClients {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl SilentClients {
    /// Starts them against `addr` and waits (at most STEP) until all 100 are connected. None
    /// where there is no python3 (said loudly).
    fn start(addr: SocketAddr) -> Option<SilentClients> {
        let program = SILENT.replace("3214", &addr.port().to_string());
        let mut cmd = python_plain()?;
        cmd.args(["-c", &program]).env("PYTHONIOENCODING", "utf-8");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().unwrap();
        // The prompt has no newline: read bytes until it has all come.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 256];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                if seen.ends_with(SILENT_READY.as_bytes()) {
                    let _ = tx.send(());
                }
            }
        });
        let mut clients = SilentClients { child, stdin };
        if rx.recv_timeout(STEP).is_err() {
            let _ = clients.child.kill();
            panic!("the 100 silent clients did not connect in time");
        }
        Some(clients)
    }

    /// Presses Enter: they close their connections and end (within STEP).
    fn release(mut self) {
        let mut stdin = self.stdin.take().unwrap();
        stdin.write_all(b"\n").unwrap();
        drop(stdin);
        let (tx, rx) = mpsc::channel();
        let mut child = self.child;
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx
            .recv_timeout(STEP)
            .expect("the silent clients ended in time");
        assert!(status.unwrap().success());
    }
}

/// The terminal of `SILENT`: its prompt, and the Enter the reader presses.
fn silent_transcript() -> String {
    shell(
        &format!("python3 -c \"{SILENT}\""),
        &format!("{SILENT_READY}\n"),
    )
}

/// Runs `command` in sh and returns its output (stdout, then stderr) as the reader's terminal
/// shows it after `shown`.
fn sh(shown: &str, command: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{command}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    shell(shown, &text)
}

/// `ls /proc/$(pgrep ...)/task | wc -l` for the server whose process is `pid`.
fn thread_count_shown(pid: u32, pgrep: &str) -> String {
    sh(
        &format!("ls /proc/$({pgrep})/task | wc -l"),
        &format!("ls /proc/{pid}/task | wc -l"),
    )
}

/// `echo TEXT | cargo run --example tcp_echo_client` against `addr`: what it prints on stdout and
/// stderr, in order, and whether it succeeded.
fn echo_client(addr: SocketAddr, text: &str) -> (bool, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    let mut cmd = example("tcp_echo_client");
    cmd.arg(addr.to_string())
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer);
    let mut child = cmd.spawn().expect("start tcp_echo_client");
    drop(cmd);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{text}\n").as_bytes()).unwrap();
    drop(stdin);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = { reader }.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let output = rx.recv_timeout(STEP).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("tcp_echo_client did not end in time")
    });
    let ok = child.wait().unwrap().success();
    (
        ok,
        shell(
            &format!("echo {text} | cargo run --example tcp_echo_client"),
            &output,
        ),
    )
}

/// The server's side of the `ss` squeeze: `ss -tln 'sport = :3214'`.
fn listener_ss(addr: SocketAddr) -> String {
    let mut ports = Ports::new(addr.port());
    let filter = format!("sport = :{}", addr.port());
    shell(
        "ss -tln 'sport = :3214'",
        &ss(&["-tln", &filter], &mut ports),
    )
}

/// One client at a time: the second client connects, types, and waits in the backlog (`ss`) until
/// the first one leaves.
fn iterative() -> Vec<(&'static str, String)> {
    let mut server = Terminal::spawn({
        let mut cmd = example(ITERATIVE);
        cmd.arg("127.0.0.1:0");
        cmd
    });
    let addr: SocketAddr = server.next_line().parse().unwrap();
    let client = || {
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        Terminal::spawn(cmd)
    };
    let mut ports = Ports::new(addr.port());

    let mut first = client();
    first.type_line("我是第一个");
    assert_eq!(first.next_line(), "我是第一个");
    let line = server.next_line();
    let first_port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    ports.show(first_port);

    let mut second = client();
    second.type_line("我是第二个");
    // The second connection waits in the listener's accept queue, its 15 bytes (five characters
    // of 3 bytes each: the client sends a line without its newline) unread.
    let filter = format!("sport = :{}", addr.port());
    let ss_text = ss_until(&["-tan", &filter], &mut ports, |text| {
        text.contains("LISTEN 1 ")
            && text.contains("ESTAB 0 0 127.0.0.1:3214 127.0.0.1:54321")
            && text.contains("ESTAB 15 0 127.0.0.1:3214 127.0.0.1:54322")
    });

    let (out, err) = first.end_input(); // Ctrl-D
    assert_eq!(err, "");
    assert_eq!(out, "我是第一个\n");
    assert_eq!(second.next_line(), "我是第二个");
    let (out, err) = second.end_input();
    assert_eq!((out.as_str(), err.as_str()), ("我是第二个\n", ""));
    // The server's lines for both clients: 2 opened, 2 closed.
    let mut seen = 1;
    while seen < 4 {
        server.next_line();
        seen += 1;
    }
    let (stdout, stderr) = server.interrupt(); // Ctrl-C
    assert_eq!(stderr, "");
    let typed = |text: &str| {
        shell(
            "cargo run --example tcp_echo_client",
            &format!("{text}\n{text}\n"),
        )
    };
    vec![
        (
            "iterative_server",
            shell(
                "cargo run --example echo_iterative",
                &(ports.normalize(&stdout, ':') + "^C\n"),
            ),
        ),
        ("iterative_client1", typed("我是第一个")),
        ("iterative_client2", typed("我是第二个")),
        ("iterative_ss", shell("ss -tan 'sport = :3214'", &ss_text)),
    ]
}

/// A thread per client: 100 silent clients make 100 more threads, and another client is served.
fn threads() -> Vec<(&'static str, String)> {
    let names = [
        "silent_clients",
        "threads_idle",
        "threads_busy",
        "threads_after",
        "threads_python",
    ];
    let (mut proc, addr) = Server::rust(THREADS).start(&[]).unwrap();
    let pid = proc.pid();
    let pgrep = "pgrep -x echo_threads";
    let idle = thread_count_shown(pid, pgrep);
    let Some(silent) = SilentClients::start(addr) else {
        return names.iter().map(|n| (*n, String::new())).collect();
    };
    for _ in 0..100 {
        proc.next_line();
    }
    wait_until("101 threads", || thread_count(pid) == 101);
    let (ok, echo) = echo_client(addr, "你好");
    assert!(ok, "{echo}");
    let busy = thread_count_shown(pid, pgrep) + &echo;
    silent.release();
    wait_until("1 thread", || thread_count(pid) == 1);
    let after = thread_count_shown(pid, pgrep);
    drop(proc);

    // The same with the Python server.
    let (mut proc, addr) = Server::python(THREADS).start(&[]).unwrap();
    let pid = proc.pid();
    let silent = SilentClients::start(addr).unwrap();
    for _ in 0..100 {
        proc.next_line();
    }
    wait_until("101 threads", || thread_count(pid) == 101);
    let python = thread_count_shown(pid, "pgrep -f echo_threads.py");
    silent.release();
    drop(proc);

    names
        .into_iter()
        .zip([silent_transcript(), idle, busy, after, python])
        .collect()
}

/// A pool of 4: 100 silent clients, still 5 threads; 79 connections in the backlog; another
/// client waits until it gives up. Then Enter, and it is served.
fn pool() -> Vec<(&'static str, String)> {
    let names = ["pool_busy", "pool_after", "pool_python"];
    let (mut proc, addr) = Server::rust(POOL).start(&[]).unwrap();
    let pid = proc.pid();
    let pgrep = "pgrep -x echo_pool";
    let Some(silent) = SilentClients::start(addr) else {
        return names.iter().map(|n| (*n, String::new())).collect();
    };
    for _ in 0..4 {
        proc.next_line();
    }
    // 4 being served, 16 in the queue, 1 in the acceptor's hands, 79 in the accept queue.
    wait_until("79 in the accept queue", || accept_queue(addr) == 79);
    let mut busy = thread_count_shown(pid, pgrep) + &listener_ss(addr);
    let (ok, echo) = echo_client(addr, "你好");
    assert!(!ok, "the client should give up: {echo}");
    busy.push_str(&echo);
    silent.release();
    let (ok, echo) = echo_client(addr, "你好");
    assert!(ok, "{echo}");
    let after = echo + &thread_count_shown(pid, pgrep);
    drop(proc);

    let (proc, addr) = Server::python(POOL).start(&[]).unwrap();
    let pid = proc.pid();
    let silent = SilentClients::start(addr).unwrap();
    wait_until("79 in the accept queue", || accept_queue(addr) == 79);
    let python = thread_count_shown(pid, "pgrep -f echo_pool.py") + &listener_ss(addr);
    silent.release();
    drop(proc);

    names.into_iter().zip([busy, after, python]).collect()
}

/// The Rust Book's `while let` worker: two workers, one client, and the second client waits.
fn hold_lock() -> Vec<(&'static str, String)> {
    let mut server = Terminal::spawn({
        let mut cmd = example(POOL);
        cmd.args(["127.0.0.1:0", "--workers", "2", "--hold-lock"]);
        cmd
    });
    let addr: SocketAddr = server.next_line().parse().unwrap();
    let mut first = {
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        Terminal::spawn(cmd)
    };
    first.type_line("我是第一个");
    assert_eq!(first.next_line(), "我是第一个");
    let line = server.next_line();
    let mut ports = Ports::new(addr.port());
    ports.show(line.rsplit(':').next().unwrap().parse().unwrap());
    let (ok, waiting) = echo_client(addr, "你好");
    assert!(!ok, "the second client should give up: {waiting}");
    let (out, _) = first.end_input();
    assert_eq!(out, "我是第一个\n");
    // The first client's close, then the second (already gone) is taken and closed.
    for _ in 0..3 {
        server.next_line();
    }
    let (stdout, _stderr) = server.interrupt();
    vec![
        (
            "hold_lock_server",
            shell(
                "cargo run --example echo_pool -- --workers 2 --hold-lock",
                &ctrl_c_in(&ports.normalize(&stdout, ':')),
            ),
        ),
        (
            "hold_lock_client1",
            shell(
                "cargo run --example tcp_echo_client",
                "我是第一个\n我是第一个\n",
            ),
        ),
        ("hold_lock_client2", waiting),
    ]
}

#[test]
fn transcripts_of_the_first_three_rungs() {
    if !tool_available("ss") {
        return;
    }
    // The scenarios that wait for a client's 5-second timeout run side by side.
    let made: Vec<(&'static str, String)> = thread::scope(|s| {
        let jobs = [
            s.spawn(iterative),
            s.spawn(threads),
            s.spawn(pool),
            s.spawn(hold_lock),
        ];
        jobs.into_iter()
            .flat_map(|j| j.join().expect("a scenario failed"))
            .collect()
    });
    check("transcripts/threads", made, "transcripts_threads");
}
