//! Helpers shared by the integration tests: run the examples (and the Python originals) as real
//! processes, read their output without ever blocking forever, and talk to them over loopback.
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod transcript;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any single step of a test may take before the test fails with a report.
pub const STEP: Duration = Duration::from_secs(20);
/// Read/write timeout for sockets that the tests drive themselves.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The repository root: the folder that holds book.toml (this module is also compiled into the
/// book-tests package, one folder down).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("book.toml").exists())
        .expect("the repository root holds book.toml")
        .to_path_buf()
}

/// A fresh empty directory under the system's temporary directory, removed when dropped.
/// (The examples' tests have no dev-dependency, so this stands in for the tempfile crate.)
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes a [`TempDir`] whose name no other test, and no other run, uses.
pub fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "socket-book-test-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    TempDir(dir)
}

/// A command that runs an example binary that `cargo test` built into target/<profile>/examples.
pub fn example(name: &str) -> Command {
    let exe = std::env::current_exe().expect("path of the test binary");
    // target/<profile>/deps/<test>-<hash>  ->  target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "example binary {} not found: run the tests with `cargo test` (which builds every example) \
         or build them first with `cargo build --examples`",
        path.display()
    );
    let mut cmd = Command::new(path);
    cmd.env_remove("RUST_BACKTRACE");
    cmd
}

/// A command that runs one of the Python originals in examples/python, unbuffered.
///
/// Returns None (after saying so loudly) where there is no python3; where the CI variable is set,
/// a missing python3 fails the test instead.
pub fn python(script: &str) -> Option<Command> {
    let mut cmd = python_plain()?;
    cmd.arg("-u")
        .arg(root().join("examples/python").join(script))
        .env("PYTHONIOENCODING", "utf-8");
    Some(cmd)
}

/// Whether a command-line tool that a test needs is installed. Where it is missing, the test
/// says so loudly; where the CI variable is set, a missing tool fails the test instead.
pub fn tool_available(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required in CI, and it is missing"
        );
        eprintln!("!!! {tool} not found: SKIPPING the part of this test that needs it !!!");
    }
    found
}

/// A plain `python3` command, or None (said loudly) where there is none.
pub fn python_plain() -> Option<Command> {
    tool_available("python3").then(|| Command::new("python3"))
}

/// What a finished process printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "process failed: {self:#?}");
        self
    }

    /// A client ended cleanly, having printed exactly what it was given: every line echoed.
    pub fn assert_echoed(&self, input: &str) {
        self.assert_success();
        assert_eq!(self.stdout, input, "the echo differs: {self:#?}");
    }

    /// The process failed the way the command-line contract says: non-zero exit, one line on
    /// stderr that contains `needle`, and no panic.
    pub fn assert_clean_failure(&self, needle: &str) {
        assert!(!self.status.success(), "expected a failure: {self:#?}");
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "the program panicked: {self:#?}"
        );
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "expected one line on stderr: {self:#?}"
        );
        assert!(
            self.stderr.contains(needle),
            "stderr should mention {needle:?}: {self:#?}"
        );
    }
}

/// A running child process whose stdout arrives line by line and whose stderr is collected.
/// It is killed when dropped, so a failing test never leaves a process behind.
pub struct Proc {
    child: Child,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    /// Spawn `cmd`. With `input`, that is written to its stdin, which is then closed;
    /// without, stdin is empty.
    pub fn spawn(cmd: Command, input: Option<Vec<u8>>) -> Proc {
        let stdin = if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut proc = Proc::spawn_with_stdin(cmd, stdin);
        if let Some(input) = input {
            let mut stdin = proc.child.stdin.take().expect("piped stdin");
            // A separate thread, so that a child that stops reading cannot block the test.
            thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        proc
    }

    /// Spawn `cmd` with the given stdin (e.g. the read end of a pipe that the test writes to,
    /// line by line, as a person types).
    pub fn spawn_with_stdin(mut cmd: Command, stdin: impl Into<Stdio>) -> Proc {
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        drop(cmd); // the parent's copy of a pipe's read end goes with the Command

        let (line_tx, lines) = mpsc::channel();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        thread::spawn(move || {
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdout.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.strip_suffix('\n').unwrap_or(&text);
                        if line_tx.send(text.to_string()).is_err() {
                            break;
                        }
                    }
                }
            }
        });

        let (err_tx, stderr) = mpsc::channel();
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err_pipe.read_to_end(&mut buf);
            let _ = err_tx.send(String::from_utf8_lossy(&buf).into_owned());
        });

        Proc {
            child,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    /// The next line of stdout; fails the test if none comes within [`STEP`].
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(STEP) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => self.fail("no line on stdout in time"),
            Err(RecvTimeoutError::Disconnected) => self.fail("stdout closed early"),
        }
    }

    /// Reads the server's first line and parses the bound address from it.
    pub fn bound_addr(&mut self) -> SocketAddr {
        let line = self.next_line();
        line.parse()
            .unwrap_or_else(|_| self.fail(&format!("first line is not an address: {line:?}")))
    }

    /// Waits, at most [`STEP`], for the process to close its output and exit.
    pub fn finish(mut self) -> Finished {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => self.fail("the process did not end in time"),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let stderr = match self.stderr.recv_timeout(left) {
            Ok(text) => text,
            Err(_) => self.fail("stderr did not close in time"),
        };
        // Both pipes are closed, so the process has exited (or closed them and is about to).
        let status = self.child.wait().expect("wait for child");
        let mut stdout = self.seen.join("\n");
        if !stdout.is_empty() {
            stdout.push('\n');
        }
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    /// Kills the process and fails the test with everything it printed so far.
    pub fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
            self.seen.push(line);
        }
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        panic!(
            "{why}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}",
            self.seen.join("\n")
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to the end with `input` on stdin.
pub fn run(cmd: Command, input: &[u8]) -> Finished {
    Proc::spawn(cmd, Some(input.to_vec())).finish()
}

/// Starts a server command and reads the address it bound from its first line.
pub fn start_server(cmd: Command) -> (Proc, SocketAddr) {
    let mut server = Proc::spawn(cmd, None);
    let addr = server.bound_addr();
    (server, addr)
}

/// Starts the example server `name` bound to `addr` (use port 0), and reads the address it bound.
pub fn start_example(name: &str, addr: &str) -> (Proc, SocketAddr) {
    let mut cmd = example(name);
    cmd.arg(addr);
    start_server(cmd)
}

/// Runs the example client `name` against `server` with `input` on stdin.
pub fn run_example_client(name: &str, server: SocketAddr, input: &[u8]) -> Finished {
    let mut cmd = example(name);
    cmd.arg(server.to_string());
    run(cmd, input)
}

/// Decodes the %XX escapes of a URL path (leaving anything that is not one as it is).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// A TCP connection from the test itself, with every blocking call bounded.
pub fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Sends `data` and reads back exactly as many bytes.
pub fn tcp_roundtrip(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    stream.write_all(data).expect("send to the server");
    let mut reply = vec![0u8; data.len()];
    stream.read_exact(&mut reply).expect("read the echo");
    reply
}

/// A UDP socket for the test itself, on the same loopback family as `server`, with a timeout.
pub fn udp_socket(server: SocketAddr) -> UdpSocket {
    let local = if server.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = UdpSocket::bind(local).expect("bind a test UDP socket");
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    socket
}

/// Sends one datagram and returns the reply, checking that it came from `server`.
pub fn udp_roundtrip(socket: &UdpSocket, server: SocketAddr, data: &[u8]) -> Vec<u8> {
    socket.send_to(data, server).expect("send a datagram");
    let mut buf = vec![0u8; 65536];
    let (n, from) = socket.recv_from(&mut buf).expect("receive the echo");
    assert_eq!(from, server, "reply from the wrong address");
    buf.truncate(n);
    buf
}

// ---------------------------------------------------------------------------------------------
// Programs whose reader goes away (`PROGRAM | head -1`), and the checks that go with them.
// (Added for issue 8, "examples that cannot be broken": the IP programs.)

/// A child whose stdout was read up to its first line and then closed, like `PROGRAM | head -1`.
/// It is killed when dropped, so a failing test never leaves a process behind.
pub struct HeadOne {
    child: Child,
    stderr: Receiver<String>,
    /// Its stderr, once it has closed (the process has ended).
    ended: Option<String>,
}

impl HeadOne {
    /// Spawns `cmd` with `input` on its stdin (then closed; without `input`, stdin is empty),
    /// reads the first line of its stdout (failing the test if none comes within [`STEP`]) and
    /// closes the read end of its stdout before returning it: from then on, every write that the
    /// program makes to its stdout fails with a broken pipe.
    pub fn spawn(mut cmd: Command, input: Option<Vec<u8>>) -> (HeadOne, String) {
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        let stdout = child.stdout.take().expect("piped stdout");
        let (line_tx, line_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            let got = reader.read_until(b'\n', &mut line);
            // Close the pipe *before* the test hears of the line, so that whatever the test does
            // next happens with nobody reading.
            drop(reader);
            let _ = line_tx.send(got.map(|_| line));
        });
        let (err_tx, stderr) = mpsc::channel();
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err_pipe.read_to_end(&mut buf);
            let _ = err_tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        let mut head = HeadOne {
            child,
            stderr,
            ended: None,
        };
        match line_rx.recv_timeout(STEP) {
            Ok(Ok(line)) if line.ends_with(b"\n") => {
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                (head, text)
            }
            other => head.fail(&format!("no first line on stdout in time: {other:?}")),
        }
    }

    /// Waits, at most [`STEP`], for the process to exit. Its stdout is "": nobody read it.
    pub fn finish(mut self) -> Finished {
        let stderr = match self.ended.take() {
            Some(text) => text,
            None => match self.stderr.recv_timeout(STEP) {
                Ok(text) => text,
                Err(_) => self.fail("the process did not end in time"),
            },
        };
        let status = self.child.wait().expect("wait for child");
        Finished {
            status,
            stdout: String::new(),
            stderr,
        }
    }

    /// Whether the process has ended (its stderr closed) within `timeout`. For a server that
    /// must meet its closed stdout: a write can still succeed once if another test's child
    /// briefly holds a copy of the pipe's read end (between its fork and its exec), so such a
    /// test pokes the server again, a bounded number of times, until it ends.
    pub fn ended_within(&mut self, timeout: Duration) -> bool {
        if self.ended.is_none()
            && let Ok(text) = self.stderr.recv_timeout(timeout)
        {
            self.ended = Some(text);
        }
        self.ended.is_some()
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default();
        panic!("{why}\n--- stderr ---\n{stderr}");
    }
}

impl Drop for HeadOne {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to the end with `input` on stdin and a stdout whose reader is already gone,
/// so that the program's very first write to stdout fails with a broken pipe.
pub fn run_with_closed_stdout(mut cmd: Command, input: &[u8]) -> Finished {
    let (reader, writer) = std::io::pipe().expect("create a pipe");
    drop(reader);
    cmd.stdout(writer);
    // Proc pipes stdout itself: spawn by hand, and collect stderr the same bounded way.
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    drop(cmd); // the parent's copy of the pipe's write end
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (err_tx, err_rx) = mpsc::channel();
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        let _ = err_tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    let stderr = match err_rx.recv_timeout(STEP) {
        Ok(text) => text,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not end in time");
        }
    };
    let status = child.wait().expect("wait for child");
    Finished {
        status,
        stdout: String::new(),
        stderr,
    }
}

impl Finished {
    /// The program ended quietly: exit status 0, nothing on stderr (in particular no panic,
    /// which would exit with 101 and say "panicked").
    pub fn assert_quiet(&self) {
        assert!(
            !self.stderr.contains("panicked") && self.status.code() != Some(101),
            "the program panicked: {self:#?}"
        );
        assert_eq!(self.status.code(), Some(0), "expected exit 0: {self:#?}");
        assert_eq!(self.stderr, "", "expected nothing on stderr: {self:#?}");
    }

    /// What a server printed after `prefix` on its lines, joined: the received text as shown.
    pub fn shown_after(&self, prefix: &str) -> String {
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .collect()
    }
}

/// A fake TCP echo server for testing a client whose stdout is closed: it echoes the first
/// `first_len` bytes at once, and anything after them only when the test sends on `go`
/// (so the test can close the client's stdout in between).
pub fn fake_echo_server_that_waits(
    first_len: usize,
) -> (SocketAddr, mpsc::Sender<()>, thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_tx, go_rx) = mpsc::channel();
    let fake = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        conn.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut first = vec![0u8; first_len];
        conn.read_exact(&mut first).unwrap();
        conn.write_all(&first).unwrap();
        go_rx.recv_timeout(STEP).expect("the test says go");
        // From here the client may end at any moment: errors are expected and ignored.
        let mut buf = [0u8; 1024];
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 || conn.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    (addr, go_tx, fake)
}

// ---------------------------------------------------------------------------------------------
// Part II servers that run until stopped, and Part II's Python programs.
// (Added for issue 9, the byte-stream and timeouts chapters: part2/tests/framing.rs.)

impl Proc {
    /// The child's process id, e.g. to read /proc/PID/status.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops a server that serves until stopped (SIGKILL, as a test has no terminal to press
    /// Ctrl-C in) and returns everything it printed: its stdout lines (those already read with
    /// `next_line` included) and its whole stderr.
    pub fn stop(mut self) -> Finished {
        let _ = self.child.kill();
        self.finish()
    }
}

/// A command that runs one of Part II's Python programs, part2/examples/python/SCRIPT,
/// unbuffered and with UTF-8 output; None (said loudly) where there is no python3.
pub fn python_part2(script: &str) -> Option<Command> {
    let mut cmd = python_plain()?;
    cmd.arg("-u")
        .arg(root().join("part2/examples/python").join(script))
        .env("PYTHONIOENCODING", "utf-8");
    Some(cmd)
}

// ---------------------------------------------------------------------------------------------
// The concurrency ladder's Python programs.
// (Added for issue 13, the concurrency ladder: ladder/tests/*.rs.)

/// A command that runs one of the ladder's Python programs, ladder/examples/python/SCRIPT,
/// unbuffered and with UTF-8 output; None (said loudly) where there is no python3.
pub fn python_ladder(script: &str) -> Option<Command> {
    let mut cmd = python_plain()?;
    cmd.arg("-u")
        .arg(root().join("ladder/examples/python").join(script))
        .env("PYTHONIOENCODING", "utf-8");
    Some(cmd)
}

// ---------------------------------------------------------------------------------------------
// Servers whose stdout is blocked (a full pipe nobody reads, like output sent to a paused `less`).
// (Added for issue 13: ladder/tests/shutdown.rs and ladder/tests/chat.rs.)

/// Fills the pipe of `writer` to the brim (64 KiB, the capacity of a Linux pipe, pipe(7)) from
/// a thread, so that a program writing to it blocks until someone reads. Call it while the pipe
/// is empty. The returned channel says when the pipe is full; the thread ends then, or with an
/// error once the read end is dropped.
pub fn fill_pipe(writer: &std::io::PipeWriter) -> Receiver<()> {
    let mut filler = writer.try_clone().expect("a second write end");
    let (full_tx, full) = mpsc::channel();
    thread::spawn(move || {
        if filler.write_all(&[b'.'; 65536]).is_ok() {
            let _ = full_tx.send(());
        }
    });
    full
}

/// Whether a thread of process `pid` sleeps in the kernel's pipe write (anon_pipe_write on recent
/// kernels, pipe_write on older ones): /proc/PID/task/TID/wchan names the kernel function a
/// sleeping thread waits in.
pub fn blocked_in_pipe_write(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("wchan")).is_ok_and(|w| w.contains("pipe_write"))
    })
}

/// Waits, at most [`STEP`], until `what` is true, looking every 10 ms (a test polls a state it
/// cannot be told about, with a deadline; it does not sleep for readiness).
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits, at most [`STEP`], for `child` to exit, and returns how it ended.
pub fn wait_for_exit(child: &mut Child, what: &str) -> ExitStatus {
    let mut status = None;
    wait_until(&format!("{what} exits"), || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    status.expect("an exit status")
}

/// Runs a server (`cmd`, already given its address and options) with its stdout a full pipe, so
/// that its first print blocks; sends SIGTERM and SIGINT once it is blocked, and returns how it
/// ended. Two different signals: the kernel keeps one of each pending, so neither is lost even
/// when both come before the server runs (two SIGTERMs at once could merge into one).
pub fn two_signals_with_stdout_blocked(mut cmd: Command, what: &str) -> ExitStatus {
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    let (reader, writer) = std::io::pipe().expect("a pipe");
    fill_pipe(&writer)
        .recv_timeout(STEP)
        .expect("fill the pipe");
    cmd.stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start the server");
    drop(cmd);
    let pid = child.id();
    wait_until(&format!("{what} blocks on its stdout"), || {
        blocked_in_pipe_write(pid)
    });
    let pid = i32::try_from(pid).unwrap();
    for sig in [SIGTERM, SIGINT] {
        // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { transcript::kill(pid, sig) }, 0);
    }
    let status = wait_for_exit(&mut child, what);
    drop(reader);
    status
}

// ---------------------------------------------------------------------------------------------
// Reading a process's memory from /proc.

/// A field of /proc/PID/status in KiB (e.g. "VmHWM:", the peak resident set size).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}
