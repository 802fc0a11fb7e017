//! Graceful shutdown of `echo_pool`, `echo_mio` and `echo_tokio` (the chapter 优雅地停止服务器):
//! on SIGINT or SIGTERM each one stops accepting, echoes what has already arrived (also from
//! clients still waiting in its queue or in the kernel's backlog), ends every connection with a
//! FIN (the client reads EOF, not a reset), prints one line and exits 0; a second signal exits at
//! once; the grace period bounds a connection that cannot be finished. And `ctrl_c_drop`: Drop
//! does not run when SIGINT ends a process, and does when the program handles it.
//!
//! `cargo test --test shutdown` does not rebuild examples: run `cargo build --examples` first.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::time::{Duration, Instant};

use common::transcript::{SIG_DFL, SIGINT, kill, signal};
use common::*;

const SIGTERM: i32 = 15;

/// The three servers that stop gracefully, with the flags that make the pool small enough to
/// have clients waiting in its queue and in the backlog.
const SERVERS: [(&str, &[&str]); 3] = [
    ("echo_pool", &["--workers", "1", "--queue", "1"]),
    ("echo_mio", &[]),
    ("echo_tokio", &[]),
];

fn name_of(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => unreachable!(),
    }
}

/// Starts `name` on 127.0.0.1:0 with `args`, with SIGINT at its default action even where this
/// test runs with it ignored (a background job of a non-interactive shell).
fn start(name: &str, args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = example(name);
    cmd.arg("127.0.0.1:0").args(args);
    default_sigint(&mut cmd);
    start_server(cmd)
}

fn default_sigint(cmd: &mut Command) {
    // SAFETY: signal() is async-signal-safe, as pre_exec requires.
    unsafe {
        cmd.pre_exec(|| {
            signal(SIGINT, SIG_DFL);
            Ok(())
        });
    }
}

fn send_signal(server: &Proc, sig: i32) {
    let pid = i32::try_from(server.pid()).expect("a pid");
    // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
    assert_eq!(unsafe { kill(pid, sig) }, 0, "send signal {sig}");
}

/// Reads until the peer's EOF (bounded by IO_TIMEOUT per read) and returns what came. A reset
/// or a timeout fails the test: a graceful server ends every connection with a FIN.
fn read_to_eof(stream: &mut TcpStream, who: &str) -> Vec<u8> {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => panic!(
                "{who}: {err} after {:?}, instead of EOF",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = tcp_connect(addr);
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Every connection, also those not yet served (the pool's queue and the kernel's backlog), gets
/// what it sent before the signal echoed back, then EOF; the server prints one line about the
/// stop, a close line for each connection, nothing on stderr, and exits 0, well before the grace
/// period (30 s, beyond the bound on finishing: a server that waited for it would fail here).
#[test]
fn a_signal_finishes_every_connection_and_exits_0() {
    for (name, args) in SERVERS {
        for sig in [SIGINT, SIGTERM] {
            let args = [args, &["--grace", "30"]].concat();
            let (mut server, addr) = start(name, &args);
            // The first client is being served: its echo has come back.
            let mut first = connect(addr);
            assert_eq!(tcp_roundtrip(&mut first, b"first"), b"first");
            assert!(server.next_line().starts_with("Client Address: "));
            // Three more: with one worker and a queue of one, the pool serves none of them yet
            // (one waits in the channel, one in the acceptor's hand, one in the backlog).
            let mut others: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
            for (i, other) in others.iter_mut().enumerate() {
                other
                    .write_all(format!("waiting {i} 你好").as_bytes())
                    .unwrap();
            }
            // In flight: sent, not yet read back.
            first.write_all("在路上".as_bytes()).unwrap();

            let sent = Instant::now();
            send_signal(&server, sig);
            // Each client closes as soon as it has read EOF, as a well-behaved client does (the
            // server waits for that, briefly, before it closes its end).
            assert_eq!(read_to_eof(&mut first, name), "在路上".as_bytes(), "{name}");
            drop(first);
            for (i, mut other) in others.into_iter().enumerate() {
                let got = read_to_eof(&mut other, name);
                assert_eq!(got, format!("waiting {i} 你好").as_bytes(), "{name}");
            }
            let done = server.finish();
            assert_eq!(done.status.code(), Some(0), "{name} {sig}: {done:#?}");
            assert!(
                sent.elapsed() < Duration::from_secs(15),
                "{name} should not wait for its grace period: {:?}",
                sent.elapsed()
            );
            assert_eq!(done.stderr, "", "{name} {sig}");
            let lines: Vec<&str> = done.stdout.lines().collect();
            let stops: Vec<&&str> = lines.iter().filter(|l| l.starts_with("收到 ")).collect();
            assert_eq!(stops.len(), 1, "{name}: {done:#?}");
            let open: usize = stops[0]
                .strip_prefix(&format!("收到 {}：不再接受新连接，正在关闭 ", name_of(sig)))
                .and_then(|rest| rest.strip_suffix(" 个连接"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name}: the stop line is {:?}", stops[0]));
            // The event loops take the backlog in before they count; the pool counts what its
            // acceptor has taken when the signal comes (at least the first client).
            if name == "echo_pool" {
                assert!((1..=4).contains(&open), "{name}: {open}");
            } else {
                assert_eq!(open, 4, "{name}");
            }
            let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
            assert_eq!(count("Client Address: "), 4, "{name}: {done:#?}");
            assert_eq!(count("连接关闭："), 4, "{name}: {done:#?}");
            // The door is closed.
            let refused = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{name}");
        }
    }
}

/// The event-loop servers close the listening socket before they print the stop line: from that
/// line on, a new connection is refused, while the old ones are still being finished.
#[test]
fn after_the_stop_line_new_connections_are_refused() {
    for name in ["echo_mio", "echo_tokio"] {
        let (mut server, addr) = start(name, &["--grace", "30"]);
        let stuck = stuck_client(addr);
        assert!(server.next_line().starts_with("Client Address: "));
        send_signal(&server, SIGTERM);
        assert_eq!(
            server.next_line(),
            "收到 SIGTERM：不再接受新连接，正在关闭 1 个连接"
        );
        let refused = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{name}");
        drop(server);
        drop(stuck);
    }
}

/// A client that sends and never reads, with a receive buffer as small as the kernel allows: the
/// server's echo soon fills it, the server stops reading (its output is stuck), its receive
/// buffer fills, and the client's writes stop going anywhere. Returns once a write has made no
/// progress for a whole second, which cannot happen while the server still reads: from then on,
/// the server holds data it cannot echo and cannot finish this connection by itself.
fn stuck_client(addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(1).unwrap(); // the kernel rounds it up to its minimum
    socket.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
    socket
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut stream = TcpStream::from(socket);
    let chunk = vec![b'x'; 64 * 1024];
    // At most 1 GiB: far more than any buffers between the two can hold.
    for _ in 0..16 * 1024 {
        match stream.write(&chunk) {
            Ok(_) => {}
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return stream;
            }
            Err(err) => panic!("flooding the server: {err}"),
        }
    }
    panic!("the server took 1 GiB from a client that never reads");
}

/// A connection that cannot be finished (its client never reads) is cut at the end of the grace
/// period: one line on stderr, and the server still exits 0.
#[test]
fn the_grace_period_bounds_a_connection_that_cannot_finish() {
    for (name, args) in SERVERS {
        let args = [args, &["--grace", "0.5"]].concat();
        let (mut server, addr) = start(name, &args);
        let stuck = stuck_client(addr);
        assert!(server.next_line().starts_with("Client Address: "));
        send_signal(&server, SIGINT);
        let done = server.finish();
        assert_eq!(done.status.code(), Some(0), "{name}: {done:#?}");
        assert!(
            done.stderr.contains("宽限期到了：强行关闭 1 个连接"),
            "{name}: {done:#?}"
        );
        drop(stuck);
    }
}

/// A second signal while the server is stopping ends it at once, with the status a shell shows
/// for a process killed by that signal (128 + its number).
#[test]
fn a_second_signal_exits_at_once() {
    for (name, args) in SERVERS {
        for sig in [SIGINT, SIGTERM] {
            let args = [args, &["--grace", "30"]].concat();
            let (mut server, addr) = start(name, &args);
            let stuck = stuck_client(addr);
            assert!(server.next_line().starts_with("Client Address: "));
            send_signal(&server, sig);
            assert!(server.next_line().starts_with("收到 "), "{name}");
            send_signal(&server, sig);
            let done = server.finish();
            assert_eq!(done.status.code(), Some(128 + sig), "{name}: {done:#?}");
            assert_eq!(done.stderr, "", "{name}");
            drop(stuck);
        }
    }
}

/// `--grace` is checked like every other flag.
#[test]
fn bad_grace_values_are_refused() {
    for (name, _) in SERVERS {
        for bad in ["0", "-1", "abc", "NaN", "3601"] {
            let mut cmd = example(name);
            cmd.args(["127.0.0.1:0", "--grace", bad]);
            let done = run(cmd, b"");
            done.assert_clean_failure("--grace 要写 0.1 到 3600 之间的秒数");
        }
        let mut cmd = example(name);
        cmd.arg("--help");
        let done = run(cmd, b"");
        done.assert_success();
        assert!(done.stdout.contains("--grace 秒"), "{name}: {done:#?}");
    }
}

/// Without a handler, SIGINT ends the process where it stands: no Drop runs, and the status is
/// "killed by signal 2". With signal-hook handling it, run returns and Drop runs.
#[test]
fn drop_runs_only_when_the_program_handles_the_signal() {
    let mut cmd = example("ctrl_c_drop");
    default_sigint(&mut cmd);
    let mut plain = Proc::spawn(cmd, None);
    assert_eq!(plain.next_line(), "按 Ctrl-C 结束");
    send_signal(&plain, SIGINT);
    let done = plain.finish();
    assert_eq!(done.status.signal(), Some(SIGINT), "{done:#?}");
    assert_eq!(done.stdout, "按 Ctrl-C 结束\n");

    let mut cmd = example("ctrl_c_drop");
    cmd.arg("--handle");
    default_sigint(&mut cmd);
    let mut handled = Proc::spawn(cmd, None);
    assert!(handled.next_line().starts_with("按 Ctrl-C 结束"));
    send_signal(&handled, SIGINT);
    let done = handled.finish();
    assert_eq!(done.status.code(), Some(0), "{done:#?}");
    assert!(
        done.stdout
            .ends_with("收到 SIGINT：run 正常返回\nDrop 运行了：清理完毕\n"),
        "{done:#?}"
    );
}

/// A client whose data is still arriving when the server finishes (it sent far more than the
/// server could echo, and only now starts to read): it must read an exact prefix of what it sent,
/// then EOF, never a reset. A server that closed right after its FIN would close with unread data
/// and send RST, which throws away the echo still in its send buffer, and the FIN with it.
#[test]
fn a_client_still_sending_at_the_stop_reads_eof_not_a_reset() {
    for (name, args) in SERVERS {
        let args = [args, &["--grace", "30"]].concat();
        let (mut server, addr) = start(name, &args);
        let mut stuck = stuck_client(addr);
        assert!(server.next_line().starts_with("Client Address: "));
        send_signal(&server, SIGTERM);
        let got = read_to_eof(&mut stuck, name);
        assert!(!got.is_empty(), "{name}: some of the echo came back");
        assert!(got.iter().all(|&b| b == b'x'), "{name}: the echo is exact");
        drop(stuck);
        let done = server.finish();
        assert_eq!(done.status.code(), Some(0), "{name}: {done:#?}");
        assert_eq!(done.stderr, "", "{name}");
    }
}

/// A signal that comes the moment the server has printed its address is handled like any other:
/// the handlers are installed before the address is printed.
#[test]
fn a_signal_right_after_the_address_line_is_not_lost() {
    for (name, args) in SERVERS {
        for _ in 0..20 {
            let (mut server, _addr) = start(name, args);
            send_signal(&server, SIGTERM);
            assert_eq!(
                server.next_line(),
                "收到 SIGTERM：不再接受新连接，正在关闭 0 个连接",
                "{name}"
            );
            let done = server.finish();
            assert_eq!(done.status.code(), Some(0), "{name}: {done:#?}");
        }
    }
}

/// With its stdout blocked (a full pipe nobody reads, like output sent to a paused `less`), a
/// server cannot even print its address, let alone its stop line; a second signal still ends it
/// at once, because the signal handler itself exits.
#[test]
fn a_second_signal_ends_a_server_whose_stdout_is_blocked() {
    for (name, args) in SERVERS {
        let mut cmd = example(name);
        cmd.arg("127.0.0.1:0").args(args).args(["--grace", "30"]);
        default_sigint(&mut cmd);
        let status = two_signals_with_stdout_blocked(cmd, name);
        // Whichever of the two the server takes second ends it, with 128 + its number.
        assert!(
            [Some(128 + SIGINT), Some(128 + SIGTERM)].contains(&status.code()),
            "{name}: {status:?}"
        );
    }
}
