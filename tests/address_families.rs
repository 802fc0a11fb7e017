//! Every address family and socket type of the note: socket2 call for call, IPv6 and dual-stack,
//! AF_UNIX streams and datagrams; with the Python versions in both directions.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;

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

fn run_with_path(mut cmd: std::process::Command, path: &Path, input: &str) -> Finished {
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
    let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let payload: Vec<u8> = (0..5000).map(|i| (i % 256) as u8).collect();
    std::io::Write::write_all(&mut stream, &payload).unwrap();
    let mut echoed = vec![0u8; payload.len()];
    std::io::Read::read_exact(&mut stream, &mut echoed).unwrap();
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
fn a_stale_socket_file_is_removed_but_a_live_one_or_a_plain_file_is_not() {
    let dir = tempdir();

    // Stale: a listener that is gone leaves its file behind.
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let server = start_unix("unix_echo_server", &stale);
    let out = run_with_path(example("unix_echo_client"), &stale, "ok\n");
    out.assert_success();
    let out = server.finish();
    out.assert_success();
    assert!(out.stderr.contains("删除上次留下的套接字文件"), "{out:#?}");

    // Live: a second server must not steal the path of a running one. Its probe is a real
    // connection, and this one-client server takes it as its client: it ends, having received
    // nothing, and removes its own file. The book explains this.
    let live = dir.path().join("live.sock");
    let first = start_unix("unix_echo_server", &live);
    let mut cmd = example("unix_echo_server");
    cmd.arg(&live);
    run(cmd, b"").assert_clean_failure("已经有一个服务器在运行");
    let out = first.finish();
    out.assert_success();
    assert!(
        out.stdout.contains("Client Address: （未命名）"),
        "{out:#?}"
    );
    assert!(!out.stdout.contains("Receive Data"), "{out:#?}");
    assert!(!live.exists());

    // A plain file is never deleted.
    let plain = dir.path().join("notes.txt");
    std::fs::write(&plain, "keep me").unwrap();
    let mut cmd = example("unix_echo_server");
    cmd.arg(&plain);
    run(cmd, b"").assert_clean_failure("不是套接字文件");
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "keep me");
}

#[test]
fn unix_client_reports_a_missing_server() {
    let dir = tempdir();
    let path = dir.path().join("nobody.sock");
    run_with_path(example("unix_echo_client"), &path, "hello\n").assert_clean_failure("无法连接");
    run_with_path(example("unix_datagram_client"), &path, "hello\n")
        .assert_clean_failure("无法发往");
}

// ---------------------------------------------------------------- AF_UNIX datagrams

fn stop_datagram_server(server: Proc, path: &Path) -> Finished {
    let probe = UnixDatagram::unbound().unwrap();
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

#[test]
fn unix_datagram_server_removes_a_stale_file() {
    let dir = tempdir();
    let path = dir.path().join("stale-dgram.sock");
    drop(UnixDatagram::bind(&path).unwrap());
    assert!(path.exists());
    let server = start_unix("unix_datagram_server", &path);
    let out = run_with_path(example("unix_datagram_client"), &path, "ok\n");
    assert_eq!(out.stdout, "ok\n");
    let out = stop_datagram_server(server, &path);
    assert!(out.stderr.contains("删除上次留下的套接字文件"), "{out:#?}");
}
