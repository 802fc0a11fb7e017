//! Every address family and socket type of the note: socket2 call for call, IPv6 and dual-stack,
//! AF_UNIX streams and datagrams; with the Python versions in both directions.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;

use common::*;

const LINES: &str = "hello\n你好，套接字\n";

// ---------------------------------------------------------------- socket2, call for call

#[test]
fn socket2_server_echoes_like_the_std_one() {
    for family in ["127.0.0.1:0", "[::1]:0"] {
        let (server, addr) = start_example("tcp_echo_server_socket2", family);
        let out = run_example_client("tcp_echo_client", addr, LINES.as_bytes());
        out.assert_echoed(LINES);
        let out = server.finish();
        out.assert_success();
        assert!(
            out.stdout.contains("Receive Data: 你好，套接字"),
            "{out:#?}"
        );
    }
}

#[test]
fn socket2_server_echoes_bytes_exactly_and_survives_bad_utf8() {
    let (server, addr) = start_example("tcp_echo_server_socket2", "127.0.0.1:0");
    let mut stream = tcp_connect(addr);
    let bytes: &[u8] = &[0xff, 0x00, 0xfe, b'x'];
    assert_eq!(tcp_roundtrip(&mut stream, bytes), bytes);
    drop(stream);
    server.finish().assert_success();
}

#[test]
fn socket2_server_reports_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cmd = example("tcp_echo_server_socket2");
    cmd.arg(addr.to_string());
    run(cmd, b"").assert_clean_failure(&format!("无法绑定 {addr}"));
}

/// What the book says `TcpListener::bind` does for you, and what a bare socket2 socket lacks.
#[test]
fn std_sets_reuseaddr_and_cloexec_socket2_sets_only_cloexec() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let std_sock = socket2::SockRef::from(&listener);
    assert!(std_sock.reuse_address().unwrap(), "std sets SO_REUSEADDR");
    assert!(is_cloexec(&listener), "std sets close-on-exec");

    let bare = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert!(
        !bare.reuse_address().unwrap(),
        "socket2 leaves SO_REUSEADDR off"
    );
    assert!(is_cloexec(&bare), "socket2 sets close-on-exec too");
}

/// std has `TcpListener::set_only_v6`, deprecated because it comes too late: a `TcpListener` is
/// already bound, and Linux refuses IPV6_V6ONLY on a bound socket with EINVAL. socket2 sets it
/// before `bind`, which is what the book's dual_stack_server does.
#[test]
#[allow(deprecated)]
fn std_set_only_v6_comes_too_late() {
    let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let err = listener
        .set_only_v6(true)
        .expect_err("IPV6_V6ONLY on a bound socket");
    assert_eq!(err.raw_os_error(), Some(22), "EINVAL expected: {err}");

    let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).unwrap();
    socket.set_only_v6(true).unwrap();
    let addr: SocketAddr = "[::1]:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    assert!(socket.only_v6().unwrap());
}

/// Reads the O_CLOEXEC bit of a file descriptor from /proc/self/fdinfo.
fn is_cloexec(fd: &impl std::os::fd::AsRawFd) -> bool {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .expect("a flags line");
    let flags = u32::from_str_radix(flags.trim(), 8).unwrap();
    flags & 0o2000000 != 0
}

// ---------------------------------------------------------------- IPv6 and dual-stack

fn start_dual_stack(v6only: bool) -> (Proc, SocketAddr) {
    let mut cmd = example("dual_stack_server");
    cmd.arg("[::]:0");
    if v6only {
        cmd.arg("--v6only");
    }
    let (mut server, addr) = start_server(cmd);
    let mode = server.next_line();
    assert!(
        mode.starts_with(&format!("IPV6_V6ONLY = {v6only}")),
        "{mode}"
    );
    (server, addr)
}

fn loopback(addr: SocketAddr, v4: bool) -> SocketAddr {
    let ip = if v4 { "127.0.0.1" } else { "::1" };
    SocketAddr::new(ip.parse().unwrap(), addr.port())
}

/// Another IPv4 loopback address (all of 127.0.0.0/8 is loopback on Linux), used where a test
/// needs the IPv4 side of a port that only a v6-only socket holds. The system chose that port
/// free of IPv6 sockets only, so another test may hold the same port on 127.0.0.1; no test
/// uses 127.0.0.2, and none binds the IPv4 wildcard for TCP.
fn other_loopback(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new("127.0.0.2".parse().unwrap(), addr.port())
}

#[test]
fn dual_stack_server_accepts_an_ipv4_client_as_a_mapped_address() {
    let (server, addr) = start_dual_stack(false);
    assert_eq!(addr.ip().to_string(), "::");
    let out = run_example_client("tcp_echo_client", loopback(addr, true), LINES.as_bytes());
    out.assert_echoed(LINES);
    let out = server.finish();
    out.assert_success();
    assert!(
        out.stdout.contains("Client Address: [::ffff:127.0.0.1]:"),
        "{out:#?}"
    );
}

#[test]
fn v6only_server_refuses_an_ipv4_client_and_serves_an_ipv6_one() {
    let (server, addr) = start_dual_stack(true);
    let err = TcpStream::connect_timeout(&other_loopback(addr), IO_TIMEOUT)
        .expect_err("an IPv4 client must not reach a v6-only socket");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    let out = run_example_client("tcp_echo_client", loopback(addr, false), LINES.as_bytes());
    out.assert_success();
    let out = server.finish();
    out.assert_success();
    assert!(out.stdout.contains("Client Address: [::1]:"), "{out:#?}");
}

fn bindv6only() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only")
        .expect("read /proc/sys/net/ipv6/bindv6only")
        .trim()
        .to_string()
}

#[test]
fn with_the_linux_default_a_socket_on_ipv6_any_also_takes_the_ipv4_port() {
    assert_eq!(
        bindv6only(),
        "0",
        "this test and the book assume Linux's default bindv6only = 0"
    );
    // std does not set IPV6_V6ONLY, so the system default applies: dual-stack.
    let (_v6, addr) = start_example("tcp_echo_server", "[::]:0");
    let mut cmd = example("tcp_echo_server");
    cmd.arg(loopback(addr, true).to_string());
    run(cmd, b"").assert_clean_failure("Address already in use");

    // With IPV6_V6ONLY on, the IPv4 port stays free.
    let (_v6only, addr) = start_dual_stack(true);
    let (_v4, v4addr) = start_example("tcp_echo_server", &other_loopback(addr).to_string());
    assert_eq!(v4addr.port(), addr.port());
}

#[test]
fn dual_stack_server_rejects_bad_arguments() {
    for (args, needle) in [
        (&["127.0.0.1:0"][..], "不是 IPv6 地址"),
        (&["nonsense"][..], "无法解析地址"),
        (&["[::]:0", "[::]:0"][..], "参数太多"),
    ] {
        let mut cmd = example("dual_stack_server");
        cmd.args(args);
        run(cmd, b"").assert_clean_failure(needle);
    }
}

// ---------------------------------------------------------------- AF_UNIX streams

fn start_unix(name: &str, path: &Path) -> Proc {
    let mut cmd = example(name);
    cmd.arg(path);
    let mut server = Proc::spawn(cmd, None);
    assert_eq!(server.next_line(), path.display().to_string());
    server
}

fn start_python_unix(script: &str, path: &Path) -> Option<Proc> {
    let mut cmd = python(script)?;
    cmd.arg(path);
    let mut server = Proc::spawn(cmd, None);
    assert_eq!(server.next_line(), path.display().to_string());
    Some(server)
}

fn run_with_path(mut cmd: Command, path: &Path, input: &str) -> Finished {
    cmd.arg(path);
    run(cmd, input.as_bytes())
}

#[test]
fn unix_stream_server_and_client() {
    let dir = tempdir();
    let path = dir.path().join("echo.sock");
    let server = start_unix("unix_echo_server", &path);
    let out = run_with_path(example("unix_echo_client"), &path, LINES);
    out.assert_echoed(LINES);
    let out = server.finish();
    out.assert_success();
    assert!(
        out.stdout.contains("Client Address: （未命名）"),
        "{out:#?}"
    );
    assert!(
        out.stdout.contains("Receive Data: 你好，套接字"),
        "{out:#?}"
    );
    assert!(
        !path.exists(),
        "the server must remove its socket file when it ends"
    );
}

#[test]
fn unix_stream_server_echoes_bytes_exactly() {
    let dir = tempdir();
    let path = dir.path().join("echo.sock");
    let server = start_unix("unix_echo_server", &path);
    let mut stream = unix_connect(&path);
    let payload: Vec<u8> = (0..5000).map(|i| (i % 256) as u8).collect();
    stream.write_all(&payload).unwrap();
    let mut echoed = vec![0u8; payload.len()];
    stream.read_exact(&mut echoed).unwrap();
    assert!(echoed == payload);
    drop(stream);
    server.finish().assert_success();
}

#[test]
fn unix_stream_interop_with_python_both_ways() {
    let dir = tempdir();
    let path = dir.path().join("py.sock");
    let Some(server) = start_python_unix("unix_echo_server.py", &path) else {
        return;
    };
    let out = run_with_path(example("unix_echo_client"), &path, LINES);
    out.assert_echoed(LINES);
    server.finish().assert_success();

    let server = start_unix("unix_echo_server", &path);
    let out = run_with_path(python("unix_echo_client.py").unwrap(), &path, LINES);
    out.assert_echoed(LINES);
    server.finish().assert_success();
}

#[test]
fn unix_client_reports_a_missing_server() {
    let dir = tempdir();
    let path = dir.path().join("nobody.sock");
    run_with_path(example("unix_echo_client"), &path, "hello\n").assert_clean_failure("无法连接");
    // The datagram client fails after it has bound its own path: it still removes its file.
    let mut cmd = example("unix_datagram_client");
    cmd.env("TMPDIR", dir.path());
    run_with_path(cmd, &path, "hello\n").assert_clean_failure("无法连接");
    assert_eq!(client_files(dir.path()), Vec::<PathBuf>::new());
}

/// A test's own AF_UNIX stream connection, with every blocking call bounded.
fn unix_connect(path: &Path) -> UnixStream {
    let stream =
        UnixStream::connect(path).unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

// ---------------------------------------------------------------- AF_UNIX datagrams

fn stop_datagram_server(server: Proc, path: &Path) -> Finished {
    let probe = UnixDatagram::unbound().unwrap();
    probe.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    probe.send_to(b"True", path).unwrap();
    let out = server.finish();
    out.assert_success();
    assert!(
        !path.exists(),
        "the server must remove its socket file when it ends"
    );
    out
}

#[test]
fn unix_datagram_server_and_client() {
    let dir = tempdir();
    let path = dir.path().join("dgram.sock");
    let server = start_unix("unix_datagram_server", &path);
    let out = run_with_path(example("unix_datagram_client"), &path, LINES);
    out.assert_echoed(LINES);
    let out = stop_datagram_server(server, &path);
    assert!(
        out.stdout.contains("Receive String: 你好，套接字"),
        "{out:#?}"
    );
}

#[test]
fn an_unbound_datagram_client_gets_no_reply_and_the_server_goes_on() {
    let dir = tempdir();
    let path = dir.path().join("dgram.sock");
    let mut server = start_unix("unix_datagram_server", &path);
    let unbound = UnixDatagram::unbound().unwrap();
    unbound.send_to(b"who am I?", &path).unwrap();
    assert_eq!(server.next_line(), "Receive String: who am I?");

    // A bound client right after still gets its echo, byte for byte.
    let me = dir.path().join("me.sock");
    let bound = UnixDatagram::bind(&me).unwrap();
    bound.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    for sample in [&b"\xff\x00 bytes"[..], b""] {
        bound.send_to(sample, &path).unwrap();
        let mut buf = [0u8; 64];
        let n = bound.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], sample);
    }
    let out = stop_datagram_server(server, &path);
    assert!(out.stderr.contains("没有回信地址"), "{out:#?}");
}

#[test]
fn unix_datagram_interop_with_python_both_ways() {
    let dir = tempdir();
    let path = dir.path().join("py-dgram.sock");
    let Some(server) = start_python_unix("unix_datagram_server.py", &path) else {
        return;
    };
    let out = run_with_path(example("unix_datagram_client"), &path, LINES);
    out.assert_echoed(LINES);
    stop_datagram_server(server, &path);

    let server = start_unix("unix_datagram_server", &path);
    let out = run_with_path(python("unix_datagram_client.py").unwrap(), &path, LINES);
    out.assert_echoed(LINES);
    stop_datagram_server(server, &path);
}

// ---------------------------------------------------------------- AF_UNIX: the files at the path

/// One of the AF_UNIX programs: a Rust example, or its Python original (`python`).
#[derive(Clone, Copy, Debug)]
struct Unix {
    name: &'static str,
    python: bool,
}

const SERVERS: [Unix; 4] = [
    Unix {
        name: "unix_echo_server",
        python: false,
    },
    Unix {
        name: "unix_datagram_server",
        python: false,
    },
    Unix {
        name: "unix_echo_server",
        python: true,
    },
    Unix {
        name: "unix_datagram_server",
        python: true,
    },
];

const DATAGRAM_CLIENTS: [Unix; 2] = [
    Unix {
        name: "unix_datagram_client",
        python: false,
    },
    Unix {
        name: "unix_datagram_client",
        python: true,
    },
];

impl Unix {
    fn datagram(self) -> bool {
        self.name.contains("datagram")
    }

    /// The command, without arguments; None (said loudly) where python3 is missing.
    fn command(self) -> Option<Command> {
        if self.python {
            python(&format!("{}.py", self.name))
        } else {
            Some(example(self.name))
        }
    }

    /// A file name that tells the programs apart, for paths in one test directory.
    fn tag(self) -> String {
        format!("{}-{}", self.name, if self.python { "py" } else { "rs" })
    }
}

/// Starts an AF_UNIX server on `path` and checks its first line; None where python3 is missing.
fn start_unix_server(server: Unix, path: &Path) -> Option<Proc> {
    let mut cmd = server.command()?;
    cmd.arg(path);
    let mut proc = Proc::spawn(cmd, None);
    assert_eq!(proc.next_line(), path.display().to_string(), "{server:?}");
    Some(proc)
}

/// Ends a server the way the Python original ends: a stream server after its one client
/// closes, a datagram server when it receives `True`.
fn stop_unix_server(server: Unix, proc: Proc, path: &Path) -> Finished {
    if server.datagram() {
        let stop = UnixDatagram::unbound().unwrap();
        stop.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stop.send_to(b"True", path).unwrap();
    } else {
        drop(unix_connect(path));
    }
    let out = proc.finish();
    assert!(out.status.success(), "{server:?} failed: {out:#?}");
    out
}

/// The things other than a socket that a user may have at a path, and how to make each.
const NOT_SOCKETS: [&str; 3] = ["fifo", "regular file", "directory"];

fn make_not_socket(kind: &str, path: &Path) {
    match kind {
        "fifo" => {
            let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
            assert!(status.success(), "mkfifo {}", path.display());
        }
        "regular file" => std::fs::write(path, "keep me").unwrap(),
        "directory" => std::fs::create_dir(path).unwrap(),
        _ => unreachable!(),
    }
}

/// Fails unless `path` still holds the `kind` of file [`make_not_socket`] made.
fn assert_still_there(kind: &str, path: &Path, who: &str) {
    let meta = std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{who} deleted the {kind} at {}: {e}", path.display()));
    let same = match kind {
        "fifo" => meta.file_type().is_fifo(),
        "regular file" => meta.is_file() && std::fs::read_to_string(path).unwrap() == "keep me",
        "directory" => meta.is_dir(),
        _ => unreachable!(),
    };
    assert!(same, "{who} changed the {kind} at {}", path.display());
}

fn inode(path: &Path) -> u64 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
}

/// Leaves a stale socket file at `path`: a socket that was bound there and is gone.
fn make_stale_socket(path: &Path, datagram: bool) {
    if datagram {
        drop(UnixDatagram::bind(path).unwrap());
    } else {
        drop(UnixListener::bind(path).unwrap());
    }
    assert!(
        std::fs::symlink_metadata(path)
            .unwrap()
            .file_type()
            .is_socket()
    );
}

#[test]
fn a_server_deletes_nothing_but_a_stale_socket_file() {
    let dir = tempdir();
    for server in SERVERS {
        // A FIFO, a regular file, a directory: left as they are, and one clear line.
        for kind in NOT_SOCKETS {
            let Some(mut cmd) = server.command() else {
                break;
            };
            let path = dir.path().join(format!("{}-{kind}", server.tag()));
            make_not_socket(kind, &path);
            cmd.arg(&path);
            run(cmd, b"").assert_clean_failure("不是套接字文件");
            assert_still_there(kind, &path, &format!("{server:?}"));
        }

        // A stale socket file: removed (said on stderr), and the server starts.
        let path = dir.path().join(format!("{}-stale.sock", server.tag()));
        make_stale_socket(&path, server.datagram());
        let Some(proc) = start_unix_server(server, &path) else {
            continue;
        };
        let out = stop_unix_server(server, proc, &path);
        assert!(
            out.stderr.contains("删除上次留下的套接字文件"),
            "{server:?}: {out:#?}"
        );
        assert!(!path.exists(), "{server:?} left its socket file behind");
    }
}

/// Server B on the path of a running server A: B fails with one line, and A goes on as if
/// nothing happened. (The old probe connected to A: a stream server took the probe as its one
/// client and ended; a datagram server received an empty datagram.)
#[test]
fn a_second_server_leaves_a_live_one_running_and_untouched() {
    let dir = tempdir();
    for first in SERVERS {
        let path = dir.path().join(format!("{}-live.sock", first.tag()));
        let Some(mut a) = start_unix_server(first, &path) else {
            continue;
        };
        let ours = inode(&path);
        for second in SERVERS {
            let Some(mut cmd) = second.command() else {
                continue;
            };
            cmd.arg(&path);
            let out = run(cmd, b"");
            assert!(
                !out.stderr.contains("Traceback"),
                "{second:?} on {first:?}: {out:#?}"
            );
            out.assert_clean_failure("已经有程序在使用");
            assert_eq!(
                inode(&path),
                ours,
                "{second:?} replaced the socket file of {first:?}"
            );
        }

        // A still serves a client normally, and ends cleanly.
        if first.datagram() {
            let me =
                UnixDatagram::bind(dir.path().join(format!("{}-me.sock", first.tag()))).unwrap();
            me.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            me.send_to(b"after", &path).unwrap();
            let mut buf = [0u8; 64];
            let n = me.recv(&mut buf).expect("the first server answers");
            assert_eq!(&buf[..n], b"after");
            assert_eq!(a.next_line(), "Receive String: after");
            let out = stop_unix_server(first, a, &path);
            // Nothing else reached it: no probe datagram, no note about one.
            assert_eq!(
                out.stdout,
                format!("{}\nReceive String: after\n", path.display()),
                "{first:?}: {out:#?}"
            );
            assert!(!out.stderr.contains("回信地址"), "{first:?}: {out:#?}");
        } else {
            let out = run_with_path(example("unix_echo_client"), &path, LINES);
            out.assert_echoed(LINES);
            let out = a.finish();
            assert!(out.status.success(), "{first:?}: {out:#?}");
            assert_eq!(
                out.stdout.matches("Client Address").count(),
                1,
                "{first:?}: {out:#?}"
            );
            assert!(
                out.stdout.contains("Receive Data: 你好，套接字"),
                "{first:?}: {out:#?}"
            );
        }
        assert!(!path.exists(), "{first:?} removes its file when it ends");
    }
}

/// A server removes its own socket file when it ends, and nothing that took its place.
#[test]
fn a_server_removes_only_its_own_socket_file() {
    let dir = tempdir();
    for server in SERVERS {
        let path = dir.path().join(format!("{}.sock", server.tag()));
        let moved = dir.path().join(format!("{}-moved.sock", server.tag()));
        let Some(proc) = start_unix_server(server, &path) else {
            continue;
        };
        // The user moves the socket away and puts a file of their own at the path.
        std::fs::rename(&path, &moved).unwrap();
        std::fs::write(&path, "keep me").unwrap();
        stop_unix_server(server, proc, &moved);
        assert_still_there("regular file", &path, &format!("{server:?}"));
    }
}

/// A client bound to a path sends 30 datagrams and never reads: its receive queue fills up
/// (Linux's max_dgram_qlen is 10). The server must not wait for it forever: `True` from
/// another client still stops it.
#[test]
fn the_datagram_server_drops_replies_that_nobody_reads_and_still_stops() {
    let dir = tempdir();
    for server in SERVERS.into_iter().filter(|s| s.datagram()) {
        let path = dir.path().join(format!("{}.sock", server.tag()));
        let Some(proc) = start_unix_server(server, &path) else {
            continue;
        };
        let greedy =
            UnixDatagram::bind(dir.path().join(format!("{}-greedy.sock", server.tag()))).unwrap();
        greedy.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        for i in 0..30 {
            if let Err(err) = greedy.send_to(format!("{i}").as_bytes(), &path) {
                let mut proc = proc;
                proc.fail(&format!(
                    "{server:?} stopped receiving at datagram {i} ({err}): stuck on a reply"
                ));
            }
        }
        let out = stop_unix_server(server, proc, &path);
        let received = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("Receive String: "))
            .count();
        assert_eq!(received, 30, "{server:?}: {out:#?}");
        assert!(out.stderr.contains("接收队列满了"), "{server:?}: {out:#?}");
        drop(greedy);
    }
}

/// The datagram client's own socket files in `dir` (its TMPDIR).
fn client_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("socket-book-client-"))
        })
        .collect();
    files.sort();
    files
}

/// A server that never reads: the client's send buffer fills (the kernel charges a datagram to
/// its sender until the receiver reads it), and its next send must time out, not block forever.
#[test]
fn the_datagram_client_gives_up_on_a_server_that_does_not_read() {
    let wmem: usize = std::fs::read_to_string("/proc/sys/net/core/wmem_default")
        .expect("read /proc/sys/net/core/wmem_default")
        .trim()
        .parse()
        .unwrap();
    for client in DATAGRAM_CLIENTS {
        let dir = tempdir();
        let path = dir.path().join("deaf.sock");
        let deaf = UnixDatagram::bind(&path).unwrap();
        let Some(mut cmd) = client.command() else {
            continue;
        };
        cmd.arg(&path).env("TMPDIR", dir.path());
        // One line nearly as big as the send buffer, then one more.
        let mut input = vec![b'x'; wmem - 64];
        input.extend_from_slice(b"\nsecond\n");
        let out = run(cmd, &input);
        assert!(!out.status.success(), "{client:?}: {out:#?}");
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("Traceback"),
            "{client:?}: {out:#?}"
        );
        let last = out.stderr.lines().last().unwrap_or_default();
        assert!(last.contains("仍没有收下数据报"), "{client:?}: {out:#?}");
        assert_eq!(
            client_files(dir.path()),
            Vec::<PathBuf>::new(),
            "{client:?} must remove its own socket file when it fails"
        );
        drop(deaf);
    }
}

/// Runs `client` (already given its arguments) so that its own socket path,
/// TMPDIR/socket-book-client-PID.sock, already holds `prepared`: a shell moves `prepared` there
/// under its own process id, then replaces itself with the client, which keeps that id.
fn with_own_path_taken(client: Command, tmp: &Path, prepared: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"mv -- "$0" "$TMPDIR/socket-book-client-$$.sock" && exec "$@""#)
        .arg(prepared)
        .arg(client.get_program())
        .args(client.get_args());
    for (key, value) in client.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.env("TMPDIR", tmp);
    cmd
}

#[test]
fn the_datagram_client_deletes_nothing_at_its_own_path_but_a_stale_socket_file() {
    for client in DATAGRAM_CLIENTS {
        let dir = tempdir();
        let server_path = dir.path().join("server.sock");
        let server = start_unix("unix_datagram_server", &server_path);
        if client.command().is_none() {
            continue;
        }
        let client_cmd = || {
            let mut cmd = client.command().unwrap();
            cmd.arg(&server_path);
            cmd
        };

        for kind in NOT_SOCKETS {
            let prepared = dir.path().join(format!("prepared-{kind}"));
            make_not_socket(kind, &prepared);
            let out = run(
                with_own_path_taken(client_cmd(), dir.path(), &prepared),
                b"hello\n",
            );
            out.assert_clean_failure("不是套接字文件");
            let files = client_files(dir.path());
            assert_eq!(files.len(), 1, "{client:?}: {files:?}");
            assert_still_there(kind, &files[0], &format!("{client:?}"));
            if kind == "directory" {
                std::fs::remove_dir(&files[0]).unwrap();
            } else {
                std::fs::remove_file(&files[0]).unwrap();
            }
        }

        // A live socket at its path: someone is using it.
        let prepared = dir.path().join("prepared-live.sock");
        let live = UnixDatagram::bind(&prepared).unwrap();
        let out = run(
            with_own_path_taken(client_cmd(), dir.path(), &prepared),
            b"hello\n",
        );
        out.assert_clean_failure("已经有程序在使用");
        let files = client_files(dir.path());
        assert_eq!(files.len(), 1, "{client:?}: {files:?}");
        drop(live);
        std::fs::remove_file(&files[0]).unwrap();

        // A stale socket file: removed, and the client works (and removes its own file).
        let prepared = dir.path().join("prepared-stale.sock");
        make_stale_socket(&prepared, true);
        let out = run(
            with_own_path_taken(client_cmd(), dir.path(), &prepared),
            b"hello\n",
        );
        out.assert_echoed("hello\n");
        assert!(
            out.stderr.contains("删除上次留下的套接字文件"),
            "{client:?}: {out:#?}"
        );
        assert_eq!(client_files(dir.path()), Vec::<PathBuf>::new());

        stop_datagram_server(server, &server_path);
    }
}

// ---------------------------------------------------------------- AF_UNIX: what clients send

/// A single 10 MB line, no newline: the client sends it a piece at a time and reads each
/// piece's echo back before the next. (Written all at once, it filled both directions'
/// buffers: the server blocked writing the echo, the client blocked writing the rest.)
#[test]
fn a_ten_megabyte_line_comes_back_whole() {
    let unit = "0123456789abcdef你好";
    let line = unit.repeat(10 * 1024 * 1024 / unit.len() + 1);
    for client in [
        Unix {
            name: "unix_echo_client",
            python: false,
        },
        Unix {
            name: "unix_echo_client",
            python: true,
        },
    ] {
        let dir = tempdir();
        let path = dir.path().join("big.sock");
        let server = start_unix("unix_echo_server", &path);
        let Some(mut cmd) = client.command() else {
            continue;
        };
        cmd.arg(&path);
        let out = run(cmd, line.as_bytes());
        assert!(
            out.status.success(),
            "{client:?} failed ({} bytes on stdout): {}",
            out.stdout.len(),
            out.stderr
        );
        assert!(
            out.stdout.len() == line.len() + 1 && out.stdout == format!("{line}\n"),
            "{client:?}: the echo differs ({} bytes, expected {})",
            out.stdout.len(),
            line.len() + 1
        );
        let out = server.finish();
        assert!(out.status.success(), "server: {}", out.stderr);
    }
}

#[test]
fn the_stream_server_prints_whole_characters_and_escapes_control_characters() {
    let dir = tempdir();

    // 400 × 你 = 1200 bytes: the server reads 1024, and 1024 is not a multiple of 3.
    let path = dir.path().join("chars.sock");
    let server = start_unix("unix_echo_server", &path);
    let mut stream = unix_connect(&path);
    let text = "你".repeat(400);
    stream.write_all(text.as_bytes()).unwrap();
    let mut echo = vec![0u8; text.len()];
    stream.read_exact(&mut echo).unwrap();
    assert!(echo == text.as_bytes());
    drop(stream);
    let out = server.finish();
    out.assert_success();
    assert!(!out.stdout.contains('\u{fffd}'), "{out:#?}");
    let shown: String = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Receive Data: "))
        .collect();
    assert_eq!(shown, text);

    // A client bound to a path with a newline in its name, sending an ESC sequence and a fake
    // line: everything shows up escaped, on the lines where it belongs.
    let path = dir.path().join("escape.sock");
    let server = start_unix("unix_echo_server", &path);
    let me = dir.path().join("evil\nReceive Data: fake");
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    socket.bind(&socket2::SockAddr::unix(&me).unwrap()).unwrap();
    socket
        .connect(&socket2::SockAddr::unix(&path).unwrap())
        .unwrap();
    let mut stream = UnixStream::from(std::os::fd::OwnedFd::from(socket));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let evil = b"hi\x1b[2J\nClient Address: /fake\n";
    stream.write_all(evil).unwrap();
    let mut echo = vec![0u8; evil.len()];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(echo, evil, "the echo stays raw");
    drop(stream);
    let out = server.finish();
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:#?}");
    assert!(
        lines[1].starts_with("Client Address: ") && lines[1].ends_with(r"evil\nReceive Data: fake"),
        "{out:#?}"
    );
    assert_eq!(
        lines[2],
        r"Receive Data: hi\u{1b}[2J\nClient Address: /fake\n"
    );
    assert!(!out.stdout.contains('\u{1b}'), "{out:#?}");

    // A character cut off by the end of the connection is shown once, as �.
    let path = dir.path().join("cut.sock");
    let server = start_unix("unix_echo_server", &path);
    let mut stream = unix_connect(&path);
    stream.write_all(&"好你".as_bytes()[..5]).unwrap();
    let mut echo = [0u8; 5];
    stream.read_exact(&mut echo).unwrap();
    drop(stream);
    let out = server.finish();
    out.assert_success();
    let shown: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Receive Data: "))
        .collect();
    assert_eq!(shown.concat(), "好\u{fffd}", "{out:#?}");
}

#[test]
fn the_datagram_server_prints_text_and_escapes_control_characters() {
    let dir = tempdir();
    let path = dir.path().join("dgram.sock");
    let mut server = start_unix("unix_datagram_server", &path);
    let me = UnixDatagram::bind(dir.path().join("me.sock")).unwrap();
    me.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let text = "你".repeat(300); // 900 bytes: fits the server's 1024-byte buffer
    for sample in [text.as_bytes(), b"hi\x1b[2J\nReceive String: fake"] {
        me.send_to(sample, &path).unwrap();
        let mut buf = [0u8; 2048];
        let n = me.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], sample, "the echo stays raw");
    }
    assert_eq!(server.next_line(), format!("Receive String: {text}"));
    assert_eq!(
        server.next_line(),
        r"Receive String: hi\u{1b}[2J\nReceive String: fake"
    );
    let out = stop_datagram_server(server, &path);
    assert_eq!(out.stdout.lines().count(), 3, "{out:#?}");
}

// ---------------------------------------------------------------- AF_UNIX: the command line

const RUST_UNIX_PROGRAMS: [&str; 4] = [
    "unix_echo_server",
    "unix_echo_client",
    "unix_datagram_server",
    "unix_datagram_client",
];

#[test]
fn unix_programs_answer_help_and_reject_bad_paths() {
    for name in RUST_UNIX_PROGRAMS {
        for help in ["-h", "--help"] {
            let mut cmd = example(name);
            cmd.arg(help);
            let out = run(cmd, b"");
            out.assert_success();
            assert!(
                out.stdout.starts_with("用法：") && out.stdout.contains("默认"),
                "{name} {help}: {out:#?}"
            );
            assert_eq!(out.stderr, "", "{name} {help}");
        }
        for (arg, needle) in [
            ("", "路径不能是空的"),
            ("-x", "不认识的选项 -x"),
            ("--verbose", "不认识的选项 --verbose"),
        ] {
            let mut cmd = example(name);
            cmd.arg(arg);
            run(cmd, b"hello\n").assert_clean_failure(needle);
        }
        let mut cmd = example(name);
        cmd.args(["a.sock", "b.sock"]);
        run(cmd, b"").assert_clean_failure("参数太多");
    }
    for script in [
        "unix_echo_server.py",
        "unix_echo_client.py",
        "unix_datagram_server.py",
        "unix_datagram_client.py",
    ] {
        let Some(mut cmd) = python(script) else {
            return;
        };
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        assert!(out.stdout.starts_with("用法："), "{script}: {out:#?}");
        for arg in ["", "-x"] {
            let mut cmd = python(script).unwrap();
            cmd.arg(arg);
            run(cmd, b"").assert_clean_failure("用法");
        }
    }
}

/// A child whose stdout the test closes right after the first line, the way `| head -1` does.
struct HeadOne {
    child: Child,
    stdin: Option<ChildStdin>,
    first: Receiver<String>,
    stderr: Receiver<String>,
}

impl HeadOne {
    fn spawn(mut cmd: Command) -> HeadOne {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let stdout = child.stdout.take().unwrap();
        let (tx, first) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            drop(reader); // closes the read end: nobody reads the child's stdout any more
            let _ = tx.send(line.trim_end().to_string());
        });
        let mut err = child.stderr.take().unwrap();
        let (tx, stderr) = mpsc::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        let stdin = child.stdin.take();
        HeadOne {
            child,
            stdin,
            first,
            stderr,
        }
    }

    fn write(&mut self, input: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(input).unwrap();
    }

    /// The first line of stdout, after which stdout is closed.
    fn first_line(&mut self) -> String {
        match self.first.recv_timeout(STEP) {
            Ok(line) => line,
            Err(_) => panic!("no first line in time"),
        }
    }

    /// Closes stdin and waits, at most [`STEP`], for the child to end.
    fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let stderr = self
            .stderr
            .recv_timeout(STEP)
            .unwrap_or_else(|_| panic!("the program did not end in time"));
        (self.child.wait().unwrap(), stderr)
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

fn assert_quiet_end(name: &str, (status, stderr): (ExitStatus, String)) {
    assert!(
        status.success() && stderr.is_empty(),
        "{name} must end quietly on a closed stdout: {status}, stderr: {stderr}"
    );
}

#[test]
fn unix_programs_end_quietly_when_stdout_is_closed() {
    let dir = tempdir();

    // Servers: the reader goes away after the first line; then a client arrives.
    let path = dir.path().join("stream.sock");
    let mut cmd = example("unix_echo_server");
    cmd.arg(&path);
    let mut server = HeadOne::spawn(cmd);
    assert_eq!(server.first_line(), path.display().to_string());
    let mut stream = unix_connect(&path);
    let _ = stream.write_all(b"hello\n");
    assert_quiet_end("unix_echo_server", server.finish());
    assert!(!path.exists(), "unix_echo_server removes its file");

    let path = dir.path().join("dgram.sock");
    let mut cmd = example("unix_datagram_server");
    cmd.arg(&path);
    let mut server = HeadOne::spawn(cmd);
    assert_eq!(server.first_line(), path.display().to_string());
    let unbound = UnixDatagram::unbound().unwrap();
    unbound.send_to(b"hello", &path).unwrap();
    assert_quiet_end("unix_datagram_server", server.finish());
    assert!(!path.exists(), "unix_datagram_server removes its file");

    // Clients: the reader goes away after the first reply; then one more line.
    let path = dir.path().join("stream2.sock");
    let server = start_unix("unix_echo_server", &path);
    let mut cmd = example("unix_echo_client");
    cmd.arg(&path);
    let mut client = HeadOne::spawn(cmd);
    client.write(b"one\n");
    assert_eq!(client.first_line(), "one");
    client.write(b"two\n");
    assert_quiet_end("unix_echo_client", client.finish());
    server.finish().assert_success();

    let path = dir.path().join("dgram2.sock");
    let server = start_unix("unix_datagram_server", &path);
    let mut cmd = example("unix_datagram_client");
    cmd.arg(&path).env("TMPDIR", dir.path());
    let mut client = HeadOne::spawn(cmd);
    client.write(b"one\n");
    assert_eq!(client.first_line(), "one");
    client.write(b"two\n");
    assert_quiet_end("unix_datagram_client", client.finish());
    assert_eq!(client_files(dir.path()), Vec::<PathBuf>::new());
    stop_datagram_server(server, &path);
}

#[test]
fn the_datagram_client_hears_only_its_server_and_escapes_what_it_prints() {
    // A fake server in the test. The client connects its socket to the server's path, so a
    // stranger's datagram to the client's own path is refused by the kernel (EPERM), and a reply
    // that is not this line's (a late one) is skipped. Before: the client printed whatever came,
    // escape sequences included.
    let dir = tempdir();
    let path = dir.path().join("fake.sock");
    let fake = UnixDatagram::bind(&path).unwrap();
    fake.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut cmd = example("unix_datagram_client");
    cmd.arg(&path).env("TMPDIR", dir.path());
    let (reader, writer) = std::io::pipe().unwrap();
    let mut input = writer;
    let mut client = Proc::spawn_with_stdin(cmd, reader);
    input.write_all(b"one\n").unwrap();

    let mut buf = [0u8; 64];
    let (n, from) = fake.recv_from(&mut buf).expect("the client's first line");
    assert_eq!(&buf[..n], b"one");
    let me = from
        .as_pathname()
        .expect("the client bound a path")
        .to_path_buf();
    let stranger = UnixDatagram::unbound().unwrap();
    let refused = stranger.send_to(b"\x1b]0;pwned\x07FAKE", &me);
    assert!(refused.is_err(), "a stranger could send to the client");
    fake.send_to(b"not this line", &me).unwrap();
    fake.send_to(b"one", &me).unwrap();
    assert_eq!(client.next_line(), "one");

    input.write_all(b"two\x1b\n").unwrap();
    let (n, _) = fake.recv_from(&mut buf).expect("the client's second line");
    assert_eq!(&buf[..n], b"two\x1b");
    fake.send_to(b"two\x1b", &me).unwrap();
    assert_eq!(client.next_line(), "two\\u{1b}");
    drop(input);
    let out = client.finish();
    out.assert_success();
    assert!(out.stderr.contains("不是这一行的回复"), "{out:#?}");
}
