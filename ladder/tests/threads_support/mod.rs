//! Helpers for the tests of the first three rungs of the ladder (threads.rs and
//! transcripts_threads.rs): the six servers (echo_iterative, echo_threads, echo_pool, in Rust and
//! in Python), what /proc says about a running server (threads, virtual memory, open files, the
//! listening socket's accept queue), and bounded waits.
#![allow(dead_code)] // each test crate uses a different part of this module

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use std::time::Duration;

use crate::common::{IO_TIMEOUT, Proc, example, python_ladder, start_server};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lang {
    Rust,
    Python,
}

/// One of the servers: `echo_iterative`, `echo_threads` or `echo_pool`, in Rust or in Python.
#[derive(Clone, Copy, Debug)]
pub struct Server {
    pub name: &'static str,
    pub lang: Lang,
}

pub const ITERATIVE: &str = "echo_iterative";
pub const THREADS: &str = "echo_threads";
pub const POOL: &str = "echo_pool";

impl Server {
    pub const fn rust(name: &'static str) -> Server {
        Server {
            name,
            lang: Lang::Rust,
        }
    }

    pub const fn python(name: &'static str) -> Server {
        Server {
            name,
            lang: Lang::Python,
        }
    }

    /// Both versions of a server.
    pub fn both(name: &'static str) -> [Server; 2] {
        [Server::rust(name), Server::python(name)]
    }

    /// All six servers.
    pub fn all() -> Vec<Server> {
        [ITERATIVE, THREADS, POOL]
            .into_iter()
            .flat_map(Server::both)
            .collect()
    }

    /// How many threads this version of `echo_pool` has with `workers` workers: the main thread
    /// and the workers, and in Rust one more, which waits for SIGINT and SIGTERM (the chapter
    /// 优雅地停止服务器; Python runs its signal handlers in the main thread).
    pub fn pool_threads(&self, workers: usize) -> usize {
        match self.lang {
            Lang::Rust => workers + 2,
            Lang::Python => workers + 1,
        }
    }

    /// How a failing test names it.
    pub fn label(&self) -> String {
        match self.lang {
            Lang::Rust => self.name.to_string(),
            Lang::Python => format!("{}.py", self.name),
        }
    }

    /// The command that runs it (no arguments yet); None where there is no python3 (said loudly).
    pub fn command(&self) -> Option<Command> {
        match self.lang {
            Lang::Rust => Some(example(self.name)),
            Lang::Python => python_ladder(&format!("{}.py", self.name)),
        }
    }

    /// Starts it on `addr` (use port 0) with `args`, and reads the address it bound.
    pub fn start_on(&self, addr: &str, args: &[&str]) -> Option<(Proc, SocketAddr)> {
        let mut cmd = self.command()?;
        cmd.arg(addr).args(args);
        Some(start_server(cmd))
    }

    /// Starts it on 127.0.0.1:0 with `args`.
    pub fn start(&self, args: &[&str]) -> Option<(Proc, SocketAddr)> {
        self.start_on("127.0.0.1:0", args)
    }
}

/// How many threads the process `pid` has: the entries of /proc/PID/task.
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/task: {e}"))
        .count()
}

/// How many file descriptors the process `pid` has open: the entries of /proc/PID/fd.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/fd: {e}"))
        .count()
}

/// The open-file limit (RLIMIT_NOFILE) that leaves the process `pid` room for exactly `room`
/// more open files: a new file descriptor takes the lowest free number, and must be below the
/// limit, so the limit is the number just above the `room`-th free number.
pub fn nofile_limit_leaving_room(pid: u32, room: usize) -> u64 {
    let open: std::collections::BTreeSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    (0..)
        .filter(|fd| !open.contains(fd))
        .nth(room - 1)
        .expect("a free number")
        + 1
}

/// The process's virtual memory size in KiB (VmSize in /proc/PID/status): the address space it
/// has reserved.
pub fn vm_size_kib(pid: u32) -> u64 {
    status_kib(pid, "VmSize:")
}

/// The process's resident set size in KiB (VmRSS in /proc/PID/status): the memory it really uses.
pub fn vm_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// How many connections wait in the accept queue (the backlog) of the socket listening on
/// `addr`: the rx_queue column of /proc/net/tcp for a socket in state LISTEN, which `ss -tln`
/// shows as Recv-Q.
pub fn accept_queue(addr: SocketAddr) -> usize {
    let file = if addr.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let table = std::fs::read_to_string(file).unwrap();
    let port = format!(":{:04X}", addr.port());
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st tx_queue:rx_queue ...; st 0A is LISTEN
        if fields.len() > 4 && fields[1].ends_with(&port) && fields[3] == "0A" {
            let rx = fields[4].split(':').nth(1).unwrap();
            return usize::from_str_radix(rx, 16).unwrap();
        }
    }
    panic!("no listening socket on {addr} in {file}");
}

/// `n` clients that connect and then say nothing.
pub fn silent_clients(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| crate::common::tcp_connect(addr)).collect()
}

/// True if no byte arrives on `stream` within `wait` (the read times out). Leaves the stream's
/// read timeout at [`IO_TIMEOUT`].
pub fn nothing_arrives_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    let got = stream.read(&mut byte);
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    match got {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => true,
        other => {
            eprintln!("something arrived: {other:?} {byte:?}");
            false
        }
    }
}

/// Reads the server's next line and checks that it is `expected`.
pub fn expect_line(server: &mut Proc, expected: &str) {
    let line = server.next_line();
    if line != expected {
        server.fail(&format!("expected the line {expected:?}, got {line:?}"));
    }
}

/// The two lines a server prints for a connection.
pub fn opened(addr: SocketAddr) -> String {
    format!("Client Address: {addr}")
}

pub fn closed(addr: SocketAddr) -> String {
    format!("连接关闭：{addr}")
}
