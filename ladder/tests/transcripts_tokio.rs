//! The terminal transcripts of the chapter tokio 的任务 (book/transcripts/tokio/), made by running
//! the programs (and, for the compiler's error, the compiler) for real. After a deliberate change,
//! regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p ladder --test transcripts_tokio
//!
//! and read the diff. Normalized: the server's port is shown as 3214 and the clients' ports as
//! 54321, 54322, ... in the order they first appear. A server's terminal shows its stdout and
//! stderr through one pipe, in the order it wrote them, and `^C` where the reader pressed Ctrl-C.
//! The book's commands name the server's process as `$(pgrep -x echo_tokio)`; the test, which may
//! run several servers of that name at once, uses its own child's pid.
//!
//! Needs Part I's tcp_echo_client (which `cargo test` at the root builds), python3 (the asyncio
//! server and the clients that hold many connections; where it is missing, the transcripts that
//! need it are skipped, loudly), `ss` (iproute2) and the rustc that built tokio (for the compiler's
//! error, compiled against the tokio and anyhow in target/).

#[path = "../../part2/tests/closing_support/mod.rs"]
mod closing_support;
#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Instant;

use closing_support::Ports;
use common::transcript::{
    SIG_DFL, SIGINT, Terminal, check, ctrl_c_in, kill, normalize, shell, signal,
};
use common::*;

type Made = Vec<(&'static str, String)>;

/// A server in a terminal: stdout and stderr through one pipe, as the reader sees them; stopped
/// with Ctrl-C. Killed when dropped.
struct Screen {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Screen {
    fn spawn(mut cmd: Command) -> Screen {
        let (reader, writer) = std::io::pipe().expect("pipe");
        // SIGINT must do what it does in a terminal, even where this test runs with it ignored.
        // SAFETY: signal() is async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(|| {
                signal(SIGINT, SIG_DFL);
                Ok(())
            });
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        drop(cmd); // the parent's copies of the pipe's write end go away with the Command
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Screen {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn next_line(&mut self) -> String {
        let line = self
            .lines
            .recv_timeout(STEP)
            .unwrap_or_else(|_| panic!("no line in time; so far: {:?}", self.seen));
        self.seen.push(line.clone());
        line
    }

    /// Reads lines until one that starts with `prefix`, and returns it.
    fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            let line = self.next_line();
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Ctrl-C: everything the server printed, with `^C` where it was pressed.
    fn interrupt(mut self) -> String {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { kill(pid, SIGINT) }, 0, "send SIGINT");
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the server did not end in time"),
            }
        }
        let _ = self.child.wait();
        let text: String = self.seen.iter().map(|l| format!("{l}\n")).collect();
        ctrl_c_in(&text)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn echo_tokio(args: &[&str]) -> Command {
    let mut cmd = example("echo_tokio");
    cmd.arg("127.0.0.1:0").args(args);
    cmd
}

fn echo_client(addr: SocketAddr) -> Terminal {
    let mut cmd = example("tcp_echo_client");
    cmd.arg(addr.to_string());
    Terminal::spawn(cmd)
}

/// The port at the end of a server's line `... 127.0.0.1:PORT`.
fn port_of(line: &str) -> u16 {
    line.rsplit(':').next().unwrap().parse().unwrap()
}

/// Two clients at once: the second is served while the first is still connected.
fn two_clients() -> Made {
    let mut server = Screen::spawn(echo_tokio(&[]));
    let addr: SocketAddr = server.next_line().parse().unwrap();
    let mut ports = Ports::new(addr.port());

    let mut first = echo_client(addr);
    first.type_line("我是第一个");
    assert_eq!(first.next_line(), "我是第一个");
    ports.show(port_of(&server.wait_for("Client Address: ")));

    let mut second = echo_client(addr);
    second.type_line("我是第二个");
    assert_eq!(second.next_line(), "我是第二个");
    ports.show(port_of(&server.wait_for("Client Address: ")));
    let (out, err) = second.end_input(); // Ctrl-D
    assert_eq!((out.as_str(), err.as_str()), ("我是第二个\n", ""));
    server.wait_for("连接关闭：");

    first.type_line("我还在");
    assert_eq!(first.next_line(), "我还在");
    let (out, err) = first.end_input();
    assert_eq!((out.as_str(), err.as_str()), ("我是第一个\n我还在\n", ""));
    server.wait_for("连接关闭：");
    let text = server.interrupt();
    vec![
        (
            "two_clients_server",
            shell(
                "cargo run --example echo_tokio",
                &ports.normalize(&text, ':'),
            ),
        ),
        (
            "two_clients_client1",
            shell(
                "cargo run --example tcp_echo_client",
                "我是第一个\n我是第一个\n我还在\n我还在\n",
            ),
        ),
        (
            "two_clients_client2",
            shell(
                "cargo run --example tcp_echo_client",
                "我是第二个\n我是第二个\n",
            ),
        ),
    ]
}

/// The Python program that opens `n` connections and keeps them silent until Enter is pressed
/// (the same one-liner as in the chapter 每个客户端一个线程).
fn silent_program(n: usize) -> String {
    format!(
        "import socket; s = [socket.create_connection(('127.0.0.1', 3214)) for _ in \
         range({n})]; input(f'{{len(s)}} 个连接已建立，按回车关闭它们')"
    )
}

/// `n` silent clients, running.
struct SilentClients {
    child: Child,
    stdin: Option<ChildStdin>,
    n: usize,
}

impl SilentClients {
    /// Starts them against `addr` and waits (at most STEP) until all are connected. None where
    /// there is no python3 (said loudly).
    fn start(addr: SocketAddr, n: usize) -> Option<SilentClients> {
        let program = silent_program(n).replace("3214", &addr.port().to_string());
        let ready = format!("{n} 个连接已建立，按回车关闭它们");
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
                if seen.ends_with(ready.as_bytes()) {
                    let _ = tx.send(());
                }
            }
        });
        let mut clients = SilentClients { child, stdin, n };
        if rx.recv_timeout(STEP).is_err() {
            let _ = clients.child.kill();
            panic!("the {n} silent clients did not connect in time");
        }
        Some(clients)
    }

    /// The terminal they run in: the command and its prompt.
    fn transcript(&self) -> String {
        shell(
            &format!("python3 -c \"{}\"", silent_program(self.n)),
            &format!("{} 个连接已建立，按回车关闭它们\n", self.n),
        )
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

/// Runs `command` in sh and returns the terminal: `shown`, then its output.
fn sh(shown: &str, command: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", command])
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{command}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    shell(shown, &text)
}

/// `echo TEXT | cargo run --example tcp_echo_client`: its terminal, and whether it succeeded.
fn echo_once(addr: SocketAddr, text: &str) -> (bool, String) {
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

/// A thousand silent clients: still three threads (two workers), and another client is served.
fn thousand() -> Made {
    const N: usize = 1000;
    let names = [
        "thousand_clients",
        "tokio_idle",
        "thousand_rust",
        "thousand_python",
    ];
    let skipped = || names.iter().map(|n| (*n, String::new())).collect();
    let mut cmd = echo_tokio(&[]);
    cmd.env("TOKIO_WORKER_THREADS", "2");
    let (mut proc, addr) = start_server(cmd);
    let pid = proc.pid();
    let threads = || {
        sh(
            "ls /proc/$(pgrep -x echo_tokio)/task | wc -l",
            &format!("ls /proc/{pid}/task | wc -l"),
        )
    };
    let established = |port: u16| {
        sh(
            "ss -Htn state established 'sport = :3214' | wc -l",
            &format!("ss -Htn state established 'sport = :{port}' | wc -l"),
        )
    };
    let idle = threads();
    let Some(silent) = SilentClients::start(addr, N) else {
        return skipped();
    };
    for _ in 0..N {
        proc.next_line();
    }
    let (ok, echo) = echo_once(addr, "你好");
    assert!(ok, "{echo}");
    let rust = threads() + &established(addr.port()) + &echo;
    let clients = silent.transcript();
    silent.release();
    drop(proc);

    let Some(mut cmd) = python_ladder("echo_asyncio.py") else {
        return skipped();
    };
    cmd.arg("127.0.0.1:0");
    let (mut proc, addr) = start_server(cmd);
    let pid = proc.pid();
    let silent = SilentClients::start(addr, N).unwrap();
    for _ in 0..N {
        proc.next_line();
    }
    let python = sh(
        "ls /proc/$(pgrep -f echo_asyncio.py)/task | wc -l",
        &format!("ls /proc/{pid}/task | wc -l"),
    ) + &established(addr.port());
    silent.release();
    drop(proc);
    names
        .into_iter()
        .zip([clients, idle, rust, python])
        .collect()
}

/// The Python one-liner that connects and waits for whatever the server sends first.
const PEEK: &str =
    "import socket; s = socket.create_connection(('127.0.0.1', 3214)); print(s.recv(1024))";

/// `--max-clients 2`: the third connection is accepted and closed at once, with one line on the
/// server's stderr; once a client leaves, the next one is served.
fn max_clients() -> Made {
    let names = ["max_clients_server", "max_clients_client"];
    let Some(mut peek) = python_plain() else {
        return names.iter().map(|n| (*n, String::new())).collect();
    };
    let mut server = Screen::spawn(echo_tokio(&["--max-clients", "2"]));
    let addr: SocketAddr = server.next_line().parse().unwrap();
    let mut ports = Ports::new(addr.port());
    let mut first = echo_client(addr);
    first.type_line("我是第一个");
    assert_eq!(first.next_line(), "我是第一个");
    ports.show(port_of(&server.wait_for("Client Address: ")));
    let mut second = echo_client(addr);
    second.type_line("我是第二个");
    assert_eq!(second.next_line(), "我是第二个");
    ports.show(port_of(&server.wait_for("Client Address: ")));

    let out = peek
        .args(["-c", &PEEK.replace("3214", &addr.port().to_string())])
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{out:?}");
    let mut client = shell(
        &format!("python3 -c \"{PEEK}\""),
        &String::from_utf8(out.stdout).unwrap(),
    );
    assert_eq!(client, format!("$ python3 -c \"{PEEK}\"\nb''\n"));
    let refused = server.wait_for("拒绝 ");
    ports.show(port_of(
        refused["拒绝 ".len()..].split('：').next().unwrap(),
    ));

    let (out, _) = first.end_input();
    assert_eq!(out, "我是第一个\n");
    server.wait_for("连接关闭：");
    let (ok, echo) = echo_once(addr, "你好");
    assert!(ok, "{echo}");
    client.push_str(&echo);
    server.wait_for("连接关闭：");
    let (out, _) = second.end_input();
    assert_eq!(out, "我是第二个\n");
    server.wait_for("连接关闭：");
    let text = server.interrupt();
    vec![
        (
            "max_clients_server",
            shell(
                "cargo run --example echo_tokio -- --max-clients 2",
                &ports.normalize(&text, ':'),
            ),
        ),
        ("max_clients_client", client),
    ]
}

/// A hard limit of 200 open files: the server says what it can do, and serves.
fn low_fd_limit() -> Made {
    let mut cmd = echo_tokio(&[]);
    // SAFETY: setrlimit is a plain system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 200, 200));
    }
    let mut server = Screen::spawn(cmd);
    let note = server.next_line();
    assert!(note.starts_with("注意："), "{note}");
    let addr: SocketAddr = server.next_line().parse().unwrap();
    let text = server.interrupt();
    vec![(
        "low_fd_limit",
        shell(
            "(ulimit -n 200; cargo run --example echo_tokio)",
            &Ports::new(addr.port()).normalize(&text, ':'),
        ),
    )]
}

/// The command-line help.
fn help() -> Made {
    let mut cmd = example("echo_tokio");
    cmd.arg("--help");
    let out = run(cmd, b"");
    out.assert_success();
    vec![(
        "help",
        shell("cargo run --example echo_tokio -- --help", &out.stdout),
    )]
}

/// `ss -ltn` shows a listening socket's backlog in its Send-Q column: tokio's `TcpListener::bind`
/// goes through mio's, which calls `listen(fd, 128)` like the standard library (mio 1.x; mio 0.8
/// used 1024); the asyncio server asks for 1024 itself.
fn backlog() -> Made {
    let ss = |name: &'static str, cmd: Command| {
        let (server, addr) = start_server(cmd);
        let filter = format!("sport = :{}", addr.port());
        let out = Command::new("ss")
            .args(["-ltn", &filter])
            .output()
            .expect("run `ss` (Debian package iproute2)");
        assert!(out.status.success(), "ss failed: {out:?}");
        drop(server); // killed: it never gets a client
        // ss pads its columns; keep the header and the one listening socket, spaces squeezed.
        let squeezed: String = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
            .collect();
        assert_eq!(squeezed.lines().count(), 2, "{squeezed}");
        let text = shell(
            "ss -ltn 'sport = :3214'",
            &normalize(&squeezed, addr.port()),
        );
        (name, text)
    };
    let mut tokio = example("echo_tokio");
    tokio.arg("127.0.0.1:0");
    let mut made = vec![ss("backlog_tokio", tokio)];
    let rust = &made[0].1;
    assert!(rust.contains("\nLISTEN 0 128 127.0.0.1:3214 "), "{rust}");
    match python_ladder("echo_asyncio.py") {
        Some(mut asyncio) => {
            asyncio.arg("127.0.0.1:0");
            made.push(ss("backlog_asyncio", asyncio));
        }
        None => made.push(("backlog_asyncio", String::new())),
    }
    made
}

/// The two pitfall demos, and the asyncio one.
fn pitfalls() -> Made {
    let demo = |name: &str| {
        let out = run(example(name), b"");
        out.assert_success();
        assert_eq!(out.stderr, "");
        shell(&format!("cargo run --example {name}"), &out.stdout)
    };
    let python = match python_ladder("asyncio_blocking_pitfall.py") {
        Some(cmd) => {
            let out = run(cmd, b"");
            out.assert_success();
            shell(
                "python3 ladder/examples/python/asyncio_blocking_pitfall.py",
                &out.stdout,
            )
        }
        None => String::new(),
    };
    vec![
        ("blocking_pitfall", demo("tokio_blocking_pitfall")),
        ("blocking_pitfall_python", python),
        ("mutex_pitfall", demo("tokio_mutex_pitfall")),
    ]
}

/// Experiment 1 of tokio_mutex_pitfall.rs as it is: the guard leaves its scope before `.await`.
const SCOPED: &str = "        {
            let mut guard = counter.lock().unwrap_or_else(PoisonError::into_inner);
            *guard += 1;
        } // 锁在这里放开：guard 离开了它的作用域
        tokio::task::yield_now().await;
";
/// The same without the braces: the guard lives across `.await`.
const HELD: &str = "        let mut guard = counter.lock().unwrap_or_else(PoisonError::into_inner);
        *guard += 1;
        tokio::task::yield_now().await;
";
/// With `drop(guard)` before `.await`, which the compiler does not count (yet).
const DROPPED: &str =
    "        let mut guard = counter.lock().unwrap_or_else(PoisonError::into_inner);
        *guard += 1;
        drop(guard);
        tokio::task::yield_now().await;
";
const PITFALL: &str = "ladder/examples/tokio_mutex_pitfall.rs";

/// The compiler that built the dependencies in target/ (rlibs only load in the same compiler).
fn rustc() -> PathBuf {
    let cargo = Path::new(env!("CARGO"));
    let sibling = cargo.with_file_name(format!("rustc{}", std::env::consts::EXE_SUFFIX));
    if sibling.exists() {
        sibling
    } else {
        PathBuf::from("rustc")
    }
}

/// The rlibs named `lib{krate}-*.rlib` in target/<profile>/deps.
fn rlibs(deps: &Path, krate: &str) -> Vec<PathBuf> {
    let prefix = format!("lib{krate}-");
    let mut found: Vec<PathBuf> = std::fs::read_dir(deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".rlib")
        })
        .collect();
    found.sort();
    found
}

/// Type-checks `source` as ladder/examples/tokio_mutex_pitfall.rs (in a temporary folder, so that
/// the compiler names the file as cargo would), with `--extern` for tokio and anyhow. Returns
/// whether it compiled and what the compiler said.
fn check_source(source: &str, tokio: &Path, anyhow: &Path) -> (bool, String) {
    let dir = tempdir();
    let file = dir.path().join(PITFALL);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, source).unwrap();
    let deps = tokio.parent().unwrap();
    let out = Command::new(rustc())
        .current_dir(dir.path())
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "bin",
            "--emit",
            "metadata",
        ])
        .args(["--crate-name", "tokio_mutex_pitfall", "--color", "never"])
        .arg("-o")
        .arg(dir.path().join("out.rmeta"))
        .arg("--extern")
        .arg(format!("tokio={}", tokio.display()))
        .arg("--extern")
        .arg(format!("anyhow={}", anyhow.display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg(PITFALL)
        .output()
        .expect("run rustc");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The compiler's errors for the two broken versions of experiment 1: its first two parts (the
/// error and the note that points at the guard and the `.await`), not the note that quotes
/// tokio's own source, whose path and lines change with tokio's version.
fn not_send() -> Made {
    let example = std::fs::read_to_string(root().join(PITFALL)).unwrap();
    assert_eq!(
        example.matches(SCOPED).count(),
        1,
        "experiment 1 in {PITFALL} changed: update SCOPED in this test"
    );
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    // The tokio and anyhow that this package's examples use: with several in target/, the pair
    // with which the example as it is compiles.
    let (tokio, anyhow) = rlibs(&deps, "tokio")
        .into_iter()
        .flat_map(|t| {
            rlibs(&deps, "anyhow")
                .into_iter()
                .map(move |a| (t.clone(), a))
        })
        .find(|(t, a)| check_source(&example, t, a).0)
        .expect("the example compiles against a tokio and an anyhow in target/");
    let error = |broken: &str| {
        let (ok, said) = check_source(&example.replace(SCOPED, broken), &tokio, &anyhow);
        assert!(!ok, "the broken version compiled");
        let end = said
            .find("note: required by a bound in `tokio::spawn`")
            .unwrap_or_else(|| panic!("no note on tokio::spawn's bound:\n{said}"));
        let excerpt = said[..end].to_string();
        assert!(
            excerpt.starts_with("error: future cannot be sent between threads safely\n"),
            "{said}"
        );
        excerpt
    };
    vec![("not_send", error(HELD)), ("not_send_drop", error(DROPPED))]
}

#[test]
fn transcripts_of_the_tokio_chapter() {
    if !tool_available("ss") {
        return;
    }
    // The thousand silent clients (python3) inherit this test's open-file limit.
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the fd limit");
    let made: Made = thread::scope(|s| {
        let jobs = [
            s.spawn(two_clients),
            s.spawn(thousand),
            s.spawn(max_clients),
            s.spawn(low_fd_limit),
            s.spawn(help),
            s.spawn(backlog),
            s.spawn(pitfalls),
            s.spawn(not_send),
        ];
        jobs.into_iter()
            .flat_map(|j| j.join().expect("a scenario failed"))
            .collect()
    });
    check("transcripts/tokio", made, "transcripts_tokio");
}
