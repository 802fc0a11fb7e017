//! Making the book's terminal transcripts: run the programs for real, normalize what differs
//! from run to run (ports, paths, versions), and compare with book/transcripts/. Used by
//! tests/transcripts.rs (Part I) and by the tests of the later parts, each of which owns one
//! folder of transcripts.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use super::*;

pub const SERVER_PORT: &str = "3214";
pub const CLIENT_PORT: &str = "54321";

/// Replaces every port that follows a loopback (or IPv6 any) address, in the forms the programs
/// print: `127.0.0.1:PORT`, `[::1]:PORT`, `[::]:PORT`, `[::ffff:127.0.0.1]:PORT`, and Python's
/// `('127.0.0.1', PORT)`.
pub fn normalize(text: &str, server_port: u16) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, prefix)) = [
        "127.0.0.1:",
        "[::1]:",
        "[::]:",
        "127.0.0.1]:",
        "'127.0.0.1', ",
        "'::1', ",
    ]
    .iter()
    .filter_map(|p| rest.find(p).map(|at| (at, *p)))
    .min()
    {
        let start = at + prefix.len();
        out.push_str(&rest[..start]);
        let digits = rest[start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - start);
        let port = &rest[start..start + digits];
        out.push_str(match port.parse::<u16>() {
            Ok(p) if p == server_port => SERVER_PORT,
            Ok(_) => CLIENT_PORT,
            Err(_) => port,
        });
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
    out
}

/// A transcript of a client typed into a terminal: each line the reader types is echoed by the
/// terminal, followed by what the program prints in answer to it (stdout and stderr, in the order
/// the program wrote them, through one pipe).
pub fn typed_session(mut cmd: Command, typed: &[&str]) -> String {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let input: String = typed.iter().map(|l| format!("{l}\n")).collect();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .expect("start the client");
    drop(cmd); // the parent's copies of the pipe's write end go away with the Command
    let mut stdin = child.stdin.take().unwrap();
    thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(reader)
            .lines()
            .map_while(Result::ok)
            .collect();
        let _ = tx.send(lines);
    });
    let lines = rx.recv_timeout(STEP).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("the client did not finish in time")
    });
    assert!(child.wait().unwrap().success(), "client failed: {lines:?}");
    assert_eq!(
        lines.len(),
        typed.len(),
        "one answer per typed line: {lines:?}"
    );
    typed
        .iter()
        .zip(&lines)
        .map(|(t, a)| format!("{t}\n{a}\n"))
        .collect()
}

pub fn shell(command: &str, output: &str) -> String {
    format!("$ {command}\n{output}")
}

/// A server in one terminal, a client in another: both transcripts.
pub fn two_terminals(
    server: (&str, Command),
    client: (&str, impl FnOnce(SocketAddr) -> Command),
    typed: &[&str],
    stop: impl FnOnce(SocketAddr),
) -> (String, String) {
    let (server_cmd, cmd) = server;
    let (proc, addr) = start_server(cmd);
    let (client_cmd, make_client) = client;
    let client_text = typed_session(make_client(addr), typed);
    stop(addr);
    let out = proc.finish();
    out.assert_success();
    (
        shell(server_cmd, &normalize(&out.stdout, addr.port())),
        shell(client_cmd, &normalize(&client_text, addr.port())),
    )
}

/// The example client `name`, given the server's address as its argument.
pub fn client_of(name: &str) -> impl FnOnce(SocketAddr) -> Command + '_ {
    move |addr| {
        let mut cmd = example(name);
        cmd.arg(addr.to_string());
        cmd
    }
}

pub fn server_on_port_0(name: &str) -> Command {
    let mut cmd = example(name);
    cmd.arg("127.0.0.1:0");
    cmd
}

// Ctrl-C in a terminal sends SIGINT; std can only send SIGKILL. These two come from the C library
// that std already links.
unsafe extern "C" {
    pub fn kill(pid: i32, sig: i32) -> i32;
    pub fn signal(signum: i32, handler: usize) -> usize;
}
pub const SIGINT: i32 = 2;
pub const SIG_DFL: usize = 0;

/// A program in a terminal, stopped by the reader with Ctrl-C. Killed when dropped.
pub struct Terminal {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Terminal {
    pub fn spawn(mut cmd: Command) -> Terminal {
        use std::io::Read;
        use std::os::unix::process::CommandExt;
        // SIGINT must do what it does in a terminal, even where this test runs with it ignored
        // (a background job of a non-interactive shell), which a child would inherit.
        // SAFETY: signal() is async-signal-safe, as pre_exec requires.
        unsafe {
            cmd.pre_exec(|| {
                signal(SIGINT, SIG_DFL);
                Ok(())
            });
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdin = child.stdin.take();
        let (line_tx, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (err_tx, stderr) = mpsc::channel();
        let mut pipe = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        Terminal {
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        std::io::Write::write_all(stdin, format!("{line}\n").as_bytes()).expect("type a line");
    }

    pub fn next_line(&mut self) -> String {
        let line = self
            .lines
            .recv_timeout(STEP)
            .unwrap_or_else(|_| panic!("no line in time; so far: {:?}", self.seen));
        self.seen.push(line.clone());
        line
    }

    /// Ctrl-C: SIGINT, then everything it printed, once it has ended (within STEP).
    pub fn interrupt(mut self) -> (String, String) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { kill(pid, SIGINT) }, 0, "send SIGINT");
        self.finish()
    }

    /// Ctrl-D: close its stdin; then everything it printed, once it has ended (within STEP).
    pub fn end_input(mut self) -> (String, String) {
        self.stdin = None;
        self.finish()
    }

    pub fn finish(&mut self) -> (String, String) {
        let (stdout, stderr, _) = self.finish_with_status();
        (stdout, stderr)
    }

    /// The process id, e.g. to send it a signal other than Ctrl-C's SIGINT.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Like [`Terminal::finish`], and how it ended (e.g. killed by a signal).
    pub fn finish_with_status(&mut self) -> (String, String, std::process::ExitStatus) {
        let deadline = std::time::Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the program did not end in time: {:?}", self.seen)
                }
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let stderr = self
            .stderr
            .recv_timeout(left)
            .expect("stderr closed in time");
        let status = self.child.wait().expect("wait for the program");
        let stdout: String = self.seen.iter().map(|l| format!("{l}\n")).collect();
        (stdout, stderr, status)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Compares each `(name, text)` with book/<dir>/<name>.txt, or writes it there when the
/// UPDATE_TRANSCRIPTS variable is set, and fails on any difference. An empty text could not be
/// made here (a missing tool, said loudly where it was found missing) and is skipped. Every .txt
/// file in that folder must be one of `made`: no stale leftovers. `test` names the test that makes
/// them, for the message.
pub fn check(dir: &str, made: Vec<(&'static str, String)>, test: &str) {
    let dir = root().join("book").join(dir);
    let update = std::env::var_os("UPDATE_TRANSCRIPTS").is_some();
    let mut stale = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (name, text) in made {
        let path = dir.join(format!("{name}.txt"));
        assert!(
            names.insert(format!("{name}.txt")),
            "two transcripts named {name}"
        );
        if text.is_empty() {
            continue;
        }
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old != text {
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else {
                stale.push(format!(
                    "--- {} (in the book)\n{old}--- what the programs print now\n{text}",
                    path.display()
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "transcripts differ from the programs' output; if the change is intended, run \
         `UPDATE_TRANSCRIPTS=1 cargo test --test {test}` and review the diff:\n{}",
        stale.join("\n")
    );
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            path.is_dir() || names.contains(&name),
            "{} is not made by the test {test}: remove it or generate it there",
            path.display()
        );
    }
}

/// Ports as the reader would see them: the server's as 3214, each client's as 54321, 54322, ...
/// in order of first appearance.
pub fn normalize_clients(text: &str, server_port: u16) -> String {
    let mut clients: Vec<u16> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, prefix)) = ["127.0.0.1:", "[::1]:"]
        .iter()
        .filter_map(|p| rest.find(p).map(|at| (at, *p)))
        .min()
    {
        let start = at + prefix.len();
        out.push_str(&rest[..start]);
        let digits = rest[start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - start);
        match rest[start..start + digits].parse::<u16>() {
            Ok(port) if port == server_port => out.push_str("3214"),
            Ok(port) => {
                let n = match clients.iter().position(|&p| p == port) {
                    Some(n) => n,
                    None => {
                        clients.push(port);
                        clients.len() - 1
                    }
                };
                out.push_str(&(54321 + n).to_string());
            }
            Err(_) => out.push_str(&rest[start..start + digits]),
        }
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
    out
}

/// A server in a terminal: stdout and stderr interleaved, as the reader sees them. Killed when
/// dropped (the reader's Ctrl-C).
pub struct ServerTerminal {
    shown: String,
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    pub addr: SocketAddr,
}

impl ServerTerminal {
    /// Starts `cmd` (which binds 127.0.0.1:0) and reads its first line, the bound address;
    /// `shown` is the command the transcript shows.
    pub fn start(shown: &str, mut cmd: Command) -> ServerTerminal {
        let (reader, writer) = std::io::pipe().expect("pipe");
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
        let mut terminal = ServerTerminal {
            shown: shown.to_string(),
            child,
            lines,
            seen: Vec::new(),
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let first = terminal.next_line();
        terminal.addr = first
            .parse()
            .unwrap_or_else(|_| panic!("the first line is not an address: {first:?}"));
        terminal
    }

    pub fn next_line(&mut self) -> String {
        let line = self
            .lines
            .recv_timeout(STEP)
            .unwrap_or_else(|_| panic!("no line in time; so far: {:?}", self.seen));
        self.seen.push(line.clone());
        line
    }

    /// Reads lines until one that starts with `prefix`.
    pub fn wait_for(&mut self, prefix: &str) {
        while !self.next_line().starts_with(prefix) {}
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` (SIGINT: the reader's Ctrl-C, shown as `^C` by [`ctrl_c_in`]), reads what the
    /// server prints until it ends (within STEP), and returns how it ended.
    pub fn signal_and_wait(&mut self, sig: i32) -> std::process::ExitStatus {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { kill(pid, sig) }, 0, "send signal {sig}");
        let deadline = std::time::Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the server did not end in time: {:?}", self.seen)
                }
            }
        }
        self.child.wait().expect("wait for the server")
    }

    /// The transcript so far: the command and everything the server printed.
    pub fn transcript(&self) -> String {
        let printed: String = self.seen.iter().map(|l| format!("{l}\n")).collect();
        shell(&self.shown, &normalize_clients(&printed, self.addr.port()))
    }
}

impl Drop for ServerTerminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `^C` where the reader pressed Ctrl-C in a server's terminal: before the line with which a
/// server that handles SIGINT answers it (`收到 SIGINT：...`), or at the end for one that just dies.
pub fn ctrl_c_in(text: &str) -> String {
    match text.find("收到 SIGINT") {
        Some(at) if at == 0 || text[..at].ends_with('\n') => {
            format!("{}^C\n{}", &text[..at], &text[at..])
        }
        _ => format!("{text}^C\n"),
    }
}
