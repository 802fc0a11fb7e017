//! Helpers for the tests of the chapters 正确地关闭连接 and 在线路上看见它 (closing.rs,
//! transcripts_closing.rs, transcripts_wire.rs): programs whose stdin stays open while the test
//! looks at the sockets, raw-byte runs through files, `ss` and `tcpdump` with their output
//! normalized (ports, initial sequence numbers, windows, options) and sorted where the kernel's
//! order is a hash order.
#![allow(dead_code)] // each test crate uses a different part of this module

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::transcript::{SIG_DFL, SIGINT, kill, signal};
use crate::common::{STEP, tool_available};

/// `len` bytes that look random (xorshift), so that the copy test has every byte value, invalid
/// UTF-8 everywhere, and no trailing newline.
pub fn random_bytes(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    if out.last() == Some(&b'\n') {
        *out.last_mut().unwrap() = 0xff;
    }
    out
}

/// Runs `cmd` with stdin read from the file `input` and stdout written to the file `output`
/// (raw bytes, no pipe that the test must drain), killed if it takes longer than `limit`.
/// Returns its exit status and what it printed on stderr.
pub fn run_with_files(
    mut cmd: Command,
    input: &Path,
    output: &Path,
    limit: Duration,
) -> (ExitStatus, String) {
    let mut child = cmd
        .stdin(std::fs::File::open(input).expect("open the input file"))
        .stdout(std::fs::File::create(output).expect("create the output file"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut err_pipe = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = err_pipe.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let stderr = match rx.recv_timeout(limit) {
        Ok(text) => text,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
    };
    (child.wait().expect("wait for the child"), stderr)
}

/// A program in a terminal whose input the test types and ends (Ctrl-D) without waiting for the
/// program to end, and which the test can stop with Ctrl-C. Killed when dropped.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Running {
        use std::os::unix::process::CommandExt;
        // SIGINT must do what it does in a terminal, even where the test runs with it ignored.
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
        Running {
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("type a line");
    }

    /// Ctrl-D: the program's input ends; it goes on running.
    pub fn end_input(&mut self) {
        self.stdin = None;
    }

    /// The next line on stdout, within [`STEP`].
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(STEP) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(_) => {
                let _ = self.child.kill();
                panic!("no line in time; so far: {:?}", self.seen)
            }
        }
    }

    /// Ctrl-C.
    pub fn interrupt(&mut self) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { kill(pid, SIGINT) }, 0, "send SIGINT");
    }

    /// Waits (within [`STEP`]) for the program to end: its exit status, stdout and stderr.
    /// Its input stays open unless [`Running::end_input`] closed it.
    pub fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("the program did not end in time: {:?}", self.seen)
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let stderr = self
            .stderr
            .recv_timeout(left)
            .expect("stderr closed in time");
        let status = self.child.wait().expect("wait for the program");
        let stdout = self.seen.iter().map(|l| format!("{l}\n")).collect();
        (status, stdout, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Shown port numbers: the server's port becomes 3214 and each other port, in the order the test
/// registers it (or first meets it), 54321, 54322, ...
pub struct Ports {
    shown: HashMap<u16, u16>,
    next: u16,
}

impl Ports {
    pub fn new(server: u16) -> Ports {
        Ports {
            shown: HashMap::from([(server, 3214)]),
            next: 54321,
        }
    }

    pub fn show(&mut self, port: u16) -> u16 {
        let next = &mut self.next;
        *self.shown.entry(port).or_insert_with(|| {
            *next += 1;
            *next - 1
        })
    }

    /// Replaces the port after every `127.0.0.1` followed by `sep` (`:` in ss, `.` in tcpdump).
    pub fn normalize(&mut self, text: &str, sep: char) -> String {
        let prefix = format!("127.0.0.1{sep}");
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(&prefix) {
            let start = at + prefix.len();
            out.push_str(&rest[..start]);
            let digits = rest[start..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - start);
            match rest[start..start + digits].parse::<u16>() {
                Ok(port) => out.push_str(&self.show(port).to_string()),
                Err(_) => out.push_str(&rest[start..start + digits]),
            }
            rest = &rest[start + digits..];
        }
        out.push_str(rest);
        out
    }
}

/// Runs `ss` with `args` and returns its output: columns squeezed to one space, ports shown
/// through `ports`, the socket lines (not the header) sorted, because ss lists sockets in the
/// order of the kernel's hash tables, which differs from run to run.
pub fn ss(args: &[&str], ports: &mut Ports) -> String {
    let out = Command::new("ss")
        .args(args)
        .output()
        .expect("run `ss` (Debian package iproute2)");
    assert!(out.status.success(), "ss failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text
        .lines()
        .map(|l| ports.normalize(&l.split_whitespace().collect::<Vec<_>>().join(" "), ':'));
    let header = lines.next().unwrap_or_default();
    let mut sockets: Vec<String> = lines.collect();
    sockets.sort();
    std::iter::once(header)
        .chain(sockets)
        .map(|l| l + "\n")
        .collect()
}

/// Runs `ss` until `ready` accepts its (normalized) output, within [`STEP`]: the kernel changes a
/// socket's state when a segment arrives or a timer fires, a moment after what the test waited for.
pub fn ss_until(args: &[&str], ports: &mut Ports, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let text = ss(args, ports);
        if ready(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "ss never showed the expected sockets; last:\n{text}"
        );
    }
}

/// `ss`'s filter for both ends of the connections of one server port.
pub fn port_filter(port: u16) -> String {
    format!("( sport = :{port} or dport = :{port} )")
}

/// An `ss` filter for the listening socket on `server` and its one connection with `client`: what
/// `port_filter(server)` shows when nothing else uses the server's port, without the TIME-WAIT
/// sockets that an earlier test may have left on a port the system hands out again. (A listening
/// socket's peer port is 0.)
pub fn pair_filter(server: u16, client: u16) -> String {
    format!(
        "( sport = :{server} and ( dport = :{client} or dport = :0 ) ) or \
         ( sport = :{client} and dport = :{server} )"
    )
}

/// What a tcpdump could not do: not installed (failure in CI), or no permission to capture.
pub enum NoCapture {
    Missing,
    NotPermitted(String),
}

/// A running `tcpdump -i lo -nn -t --immediate-mode -l port PORT`. Killed when dropped.
pub struct Capture {
    child: Child,
    port: u16,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    pub packets: Vec<String>,
}

impl Capture {
    /// Starts tcpdump on the loopback interface for `port`, and returns once it says it is
    /// listening (its stderr line "listening on lo"): from then on it sees every packet.
    pub fn start(port: u16) -> Result<Capture, NoCapture> {
        if !tool_available("tcpdump") {
            return Err(NoCapture::Missing);
        }
        let mut child = Command::new("tcpdump")
            // -s 128: only the headers (the book prints no payload). tcpdump's ring buffer holds
            // frames of the snapshot length: with the default 262144 bytes it holds about eight,
            // and on lo every packet takes two (one as sent, one as received), so a busy machine
            // drops packets from a burst. -B 8192 (KiB): a bigger ring still.
            .args([
                "-i",
                "lo",
                "-nn",
                "-t",
                "--immediate-mode",
                "-l",
                "-s",
                "128",
            ])
            .args(["-B", "8192", "port"])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        let (line_tx, lines) = mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // stderr: every line as it comes (the "listening on" line), then all of it at the end.
        let (err_tx, stderr) = mpsc::channel();
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        thread::spawn(move || {
            while let Some(Ok(line)) = err_lines.next() {
                if err_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + STEP;
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match stderr.recv_timeout(left) {
                Ok(line) if line.starts_with("listening on lo") => break,
                Ok(line) => said.push(line),
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    let said = said.join("\n");
                    return Err(NoCapture::NotPermitted(said));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    panic!("tcpdump did not start listening in time: {said:?}");
                }
            }
        }
        Ok(Capture {
            child,
            port,
            lines,
            stderr,
            packets: Vec::new(),
        })
    }

    /// Reads packets (within [`STEP`]) until one satisfies `wanted`; returns its index.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> usize {
        if let Some(i) = self.packets.iter().position(|p| wanted(p)) {
            return i;
        }
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.packets.push(line);
                    if wanted(self.packets.last().unwrap()) {
                        return self.packets.len() - 1;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "tcpdump never showed {what}; it showed:\n{}",
                        self.packets.join("\n")
                    );
                }
            }
        }
    }

    /// Ends the capture: sends one UDP datagram to the port as a marker, reads packets until the
    /// marker (so every packet sent before it has been read), stops tcpdump with SIGINT (Ctrl-C),
    /// checks from its statistics that the kernel dropped none, and returns the packets before
    /// the marker.
    pub fn finish(mut self) -> Vec<String> {
        let marker = UdpSocket::bind("127.0.0.1:0").expect("bind the marker socket");
        let to: SocketAddr = ([127, 0, 0, 1], self.port).into();
        marker.send_to(b"marker", to).expect("send the marker");
        let at = self.wait_for("the marker datagram", |p| p.contains(": UDP, length 6"));
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
        unsafe { kill(pid, SIGINT) };
        let deadline = Instant::now() + STEP;
        let mut stats = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => stats.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("tcpdump did not stop in time"),
            }
        }
        let _ = self.child.wait();
        assert!(
            stats.iter().any(|l| l == "0 packets dropped by kernel"),
            "tcpdump lost packets, the capture is incomplete: {stats:?}"
        );
        self.packets.truncate(at);
        std::mem::take(&mut self.packets)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts a capture, or says loudly why there is none: a missing tcpdump fails in CI (in
/// `tool_available`); missing permission (not root, no CAP_NET_RAW) skips that part everywhere.
pub fn capture_or_skip(port: u16) -> Option<Capture> {
    match Capture::start(port) {
        Ok(capture) => Some(capture),
        Err(NoCapture::Missing) => None,
        Err(NoCapture::NotPermitted(said)) => {
            eprintln!(
                "!!! tcpdump may not capture here (it needs root or CAP_NET_RAW): SKIPPING the \
                 capture. It said: {said} !!!"
            );
            None
        }
    }
}

/// tcpdump's lines as the book shows them: ports through `ports`; the random initial sequence
/// numbers of a SYN and a SYN-ACK as x and y (the ACK of a SYN is x+1); the window and the TCP
/// options (MSS, timestamps, window scale: they differ between runs and machines) as `…`.
pub fn normalize_packets(packets: &[String], ports: &mut Ports) -> String {
    let mut out = String::new();
    for packet in packets {
        let mut line = ports.normalize(packet, '.');
        if let Some(at) = line.find(", options [") {
            let end = line[at..]
                .find(']')
                .map(|e| at + e + 1)
                .unwrap_or(line.len());
            line.replace_range(at..end, ", options […]");
        }
        line = replace_number_after(&line, "win ", |_| "…".to_string());
        if line.contains("Flags [S],") {
            line = replace_number_after(&line, "seq ", |_| "x".to_string());
        } else if line.contains("Flags [S.],") {
            line = replace_number_after(&line, "seq ", |_| "y".to_string());
            line = replace_number_after(&line, "ack ", |_| "x+1".to_string());
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Replaces the number right after the first `label` in `line`.
fn replace_number_after(line: &str, label: &str, with: impl Fn(&str) -> String) -> String {
    let Some(at) = line.find(label) else {
        return line.to_string();
    };
    let start = at + label.len();
    let end = line[start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(line.len(), |e| start + e);
    format!(
        "{}{}{}",
        &line[..start],
        with(&line[start..end]),
        &line[end..]
    )
}

/// The TCP flags of one tcpdump line, e.g. "S", "S.", ".", "P.", "F.", "R.".
pub fn flags(packet: &str) -> &str {
    packet
        .split_once("Flags [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map_or("", |(flags, _)| flags)
}

/// Whether a tcpdump line is a packet sent from `port`.
pub fn from_port(packet: &str, port: u16) -> bool {
    packet.starts_with(&format!("IP 127.0.0.1.{port} >"))
}
