//! The event-loop rung: ladder/examples/echo_mio.rs (mio, one thread) and its Python counterpart
//! ladder/examples/python/echo_selectors.py (selectors), run as processes on loopback. Every test
//! runs against both (the Python one is skipped, loudly, where there is no python3).
//!
//! `cargo test -p ladder --test mio` does not rebuild the examples: run `cargo build --examples`
//! first (plain `cargo test` builds them).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Lang {
    Rust,
    Python,
}

const LANGS: [Lang; 2] = [Lang::Rust, Lang::Python];

/// The server's command in `lang`; None where there is no python3 (said loudly).
fn server_cmd(lang: Lang) -> Option<Command> {
    match lang {
        Lang::Rust => Some(example("echo_mio")),
        Lang::Python => python_ladder("echo_selectors.py"),
    }
}

/// Starts the server in `lang` on 127.0.0.1:0 with `args`, and reads the address it bound.
fn start(lang: Lang, args: &[&str]) -> Option<(Proc, SocketAddr)> {
    let mut cmd = server_cmd(lang)?;
    cmd.arg("127.0.0.1:0").args(args);
    Some(start_server(cmd))
}

fn opened(client: &TcpStream) -> String {
    format!("Client Address: {}", client.local_addr().unwrap())
}

fn closed(client: &TcpStream) -> String {
    format!("连接关闭：{}", client.local_addr().unwrap())
}

/// The next `n` lines the server prints, as a set (concurrent clients come in any order).
fn next_lines(server: &mut Proc, n: usize) -> BTreeSet<String> {
    (0..n).map(|_| server.next_line()).collect()
}

/// Reads the server's next line and fails the test unless it is `expected`.
fn expect_line(server: &mut Proc, expected: &str) {
    let line = server.next_line();
    if line != expected {
        server.fail(&format!("expected {expected:?}, got {line:?}"));
    }
}

/// How many threads the process has: the entries of /proc/PID/task.
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("read /proc/PID/task")
        .count()
}

/// The process's resident memory in KiB (VmRSS in /proc/PID/status).
fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// `len` bytes of a pattern that starts at `offset` of an endless stream 0, 1, ..., 250, 0, 1, ...
/// (251 is prime, so a byte shifted or lost anywhere shows).
fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| (i % 251) as u8).collect()
}

/// Raises this test process's own open-file limit to at least `wanted`; false (said loudly, or a
/// failure in CI) where the hard limit does not allow it.
fn raise_own_fd_limit(wanted: u64) -> bool {
    let got = rlimit::increase_nofile_limit(wanted).unwrap_or(0);
    if got < wanted {
        assert!(
            std::env::var_os("CI").is_none(),
            "the open-file limit is {got}, the test needs {wanted}"
        );
        eprintln!("!!! open-file limit {got} < {wanted}: SKIPPING this test !!!");
        return false;
    }
    true
}

#[test]
fn fifty_concurrent_clients_get_exact_echoes_and_one_line_each() {
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        // All 50 connected at the same time, before any of them sends.
        let clients: Vec<TcpStream> = (0..50).map(|_| tcp_connect(addr)).collect();
        let expected: BTreeSet<String> = clients.iter().map(opened).collect();
        assert_eq!(next_lines(&mut server, 50), expected, "{lang:?}");
        let expected_closed: BTreeSet<String> = clients.iter().map(closed).collect();

        let (tx, rx) = mpsc::channel();
        for (i, mut client) in clients.into_iter().enumerate() {
            let tx = tx.clone();
            thread::spawn(move || {
                // Several messages each: text, one byte, every byte value, and one larger than
                // the server's 64 KiB output buffer (partial writes and backpressure).
                let messages = [
                    format!("你好，我是第 {i} 个客户端\n").into_bytes(),
                    vec![b'x'],
                    (0..=255u8).collect(),
                    pattern(i, 100_000),
                    format!("再见 {i}").into_bytes(),
                ];
                for message in messages {
                    let echo = tcp_roundtrip(&mut client, &message);
                    if echo != message {
                        let _ = tx.send(Err(format!("client {i}: the echo differs")));
                        return;
                    }
                }
                let _ = tx.send(Ok(()));
            });
        }
        drop(tx);
        for _ in 0..50 {
            match rx.recv_timeout(STEP) {
                Ok(Ok(())) => {}
                Ok(Err(why)) => server.fail(&why),
                Err(_) => server.fail("a client did not finish in time"),
            }
        }
        assert_eq!(next_lines(&mut server, 50), expected_closed, "{lang:?}");
        assert_eq!(thread_count(server.pid()), 1, "{lang:?}: one thread");
        let out = server.stop();
        // The address, then exactly one line per connection opened and one per closed.
        assert_eq!(out.stdout.lines().count(), 1 + 100, "{lang:?}: {out:#?}");
        assert_eq!(out.stderr, "", "{lang:?}: {out:#?}");
    }
}

#[test]
fn one_thousand_concurrent_connections_are_served_by_one_thread() {
    const N: usize = 1000;
    if !raise_own_fd_limit(N as u64 + 100) {
        return;
    }
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        let started = Instant::now();
        // Connected 100 at a time, each batch accepted before the next: a burst of 1,000 SYNs
        // at once would overflow the listen backlog of 128, and the kernel would drop SYNs that
        // the clients then resend only after 1 s, 3 s, 7 s... (the chapter says so).
        let mut clients: Vec<TcpStream> = Vec::with_capacity(N);
        for _ in 0..N / 100 {
            let batch: Vec<TcpStream> = (0..100).map(|_| tcp_connect(addr)).collect();
            let expected: BTreeSet<String> = batch.iter().map(opened).collect();
            assert_eq!(next_lines(&mut server, 100), expected, "{lang:?}");
            clients.extend(batch);
        }
        // All 1,000 are open at once, and the server has one thread.
        assert_eq!(thread_count(server.pid()), 1, "{lang:?}");
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .write_all(format!("message {i:04}").as_bytes())
                .unwrap();
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let mut echo = [0u8; 12];
            client
                .read_exact(&mut echo)
                .unwrap_or_else(|e| server.fail(&format!("client {i}: {e}")));
            assert_eq!(echo, format!("message {i:04}").as_bytes(), "{lang:?}");
        }
        let expected_closed: BTreeSet<String> = clients.iter().map(closed).collect();
        drop(clients);
        assert_eq!(next_lines(&mut server, N), expected_closed, "{lang:?}");
        let out = server.stop();
        assert_eq!(out.stderr, "", "{lang:?}: {out:#?}");
        eprintln!("{lang:?}: 1,000 connections in {:?}", started.elapsed());
    }
}

#[test]
fn a_silent_client_does_not_delay_another() {
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        // The first client connects, is accepted, and says nothing.
        let mut silent = tcp_connect(addr);
        expect_line(&mut server, &opened(&silent));
        // The second one is served at once: a server that waited for the first would not answer
        // within the read timeout.
        let mut other = tcp_connect(addr);
        other
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        expect_line(&mut server, &opened(&other));
        let started = Instant::now();
        assert_eq!(tcp_roundtrip(&mut other, b"hello"), b"hello");
        assert!(started.elapsed() < Duration::from_secs(3), "{lang:?}");
        // And the silent one is still served when it speaks.
        assert_eq!(tcp_roundtrip(&mut silent, b"at last"), b"at last");
        let out = server.stop();
        assert_eq!(out.stderr, "", "{lang:?}: {out:#?}");
    }
}

#[test]
fn a_client_that_never_reads_is_stopped_and_the_server_stays_small_and_responsive() {
    const LIMIT: usize = 64 << 20;
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        let pid = server.pid();
        let mut warm = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut warm, b"warm up"), b"warm up");
        let before = vm_rss_kib(pid);

        // Send up to 64 MiB and never read: once the server stops reading (its buffer for us is
        // full, and so are the kernel's), a write waits 2 seconds and gives up.
        let mut flood = tcp_connect(addr);
        flood
            .set_write_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut sent = 0;
        while sent < LIMIT {
            match flood.write(&pattern(sent, 64 * 1024)) {
                Ok(n) => sent += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) => server.fail(&format!("flood: {e}")),
            }
        }
        assert!(
            sent < LIMIT,
            "{lang:?}: the server read all 64 MiB from a client that never reads"
        );

        // The server still serves the others at once...
        let mut other = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut other, b"still there?"), b"still there?");
        // ...and it holds at most its 64 KiB for the flooding client: the rest waits in the
        // kernel, so its memory stays small.
        let after = vm_rss_kib(pid);
        assert!(
            after < before + 16 * 1024,
            "{lang:?}: VmRSS grew from {before} KiB to {after} KiB"
        );
        eprintln!(
            "{lang:?}: sent {:.1} MiB before the server stopped reading; VmRSS {before} -> {after} KiB",
            sent as f64 / (1 << 20) as f64
        );

        // When the client reads at last, every byte it sent comes back, in order.
        let mut got = 0;
        let mut buf = vec![0u8; 256 * 1024];
        while got < sent {
            let n = flood
                .read(&mut buf[..(sent - got).min(256 * 1024)])
                .unwrap_or_else(|e| server.fail(&format!("read back: {e}")));
            assert!(n > 0, "{lang:?}: the server closed early");
            assert!(buf[..n] == pattern(got, n)[..], "{lang:?}: at byte {got}");
            got += n;
        }
        let out = server.stop();
        assert_eq!(out.stderr, "", "{lang:?}: {out:#?}");
    }
}

/// A client whose receive side is small (TCP_MAXSEG 536, SO_RCVBUF 4096): the server can push
/// only a little of the echo to it before its writes would block, and keeps the rest in its
/// output buffer.
fn small_receiver(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_tcp_mss(536).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

#[test]
fn a_client_that_half_closes_gets_every_pending_echo_before_the_end() {
    // The client sends, shuts down its sending side, and reads nothing for a moment: the server
    // reads the end of input (0 bytes) while echoes it could not send yet wait in its output
    // buffer. It must send them all, then close. (The pause only makes that situation likely, for
    // some of the sizes; a server that dropped pending echoes at the end of input fails here, and
    // a correct one passes however long the pause turns out to be.)
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        for size in [64 << 10, 96 << 10, 128 << 10, 160 << 10, 192 << 10] {
            let mut client = small_receiver(addr);
            let mut writer = client.try_clone().unwrap();
            let (done_tx, done_rx) = mpsc::channel();
            thread::spawn(move || {
                let sent = writer
                    .write_all(&pattern(0, size))
                    .and_then(|()| writer.shutdown(Shutdown::Write));
                let _ = done_tx.send(sent);
            });
            // The writer finishes when the server and the kernels have taken everything
            // (bounded: if it does not, read anyway).
            if let Ok(sent) = done_rx.recv_timeout(Duration::from_secs(5)) {
                sent.unwrap_or_else(|e| server.fail(&format!("send: {e}")));
            }
            thread::sleep(Duration::from_millis(300));
            let mut echo = Vec::new();
            client
                .read_to_end(&mut echo)
                .unwrap_or_else(|e| server.fail(&format!("read to the end: {e}")));
            assert!(
                echo == pattern(0, size),
                "{lang:?}: sent {size} bytes and half-closed, got {} back",
                echo.len()
            );
            expect_line(&mut server, &opened(&client));
            expect_line(&mut server, &closed(&client));
        }
        let out = server.stop();
        assert_eq!(out.stderr, "", "{lang:?}: {out:#?}");
    }
}

#[test]
fn a_half_closed_client_that_does_not_read_yet_costs_no_cpu() {
    // The server has read the end of input and holds echoes it cannot send: it must wait for
    // "writable" only. (A level-triggered loop that still asked for "readable" would be told,
    // again and again, that the socket is readable: it is at its end. It would spin.) As in the
    // half-close test above, which size leaves echoes pending depends on the kernel's buffers.
    for lang in LANGS {
        let Some((server, addr)) = start(lang, &[]) else {
            continue;
        };
        let pid = server.pid();
        for size in [96 << 10, 160 << 10, 192 << 10] {
            let mut client = small_receiver(addr);
            let mut writer = client.try_clone().unwrap();
            let (done_tx, done_rx) = mpsc::channel();
            thread::spawn(move || {
                let sent = writer
                    .write_all(&pattern(0, size))
                    .and_then(|()| writer.shutdown(Shutdown::Write));
                let _ = done_tx.send(sent);
            });
            let _ = done_rx.recv_timeout(Duration::from_secs(5));
            thread::sleep(Duration::from_millis(300));
            let ticks = cpu_ticks(pid);
            thread::sleep(Duration::from_millis(300));
            let spent = cpu_ticks(pid) - ticks;
            assert!(
                spent < 10,
                "{lang:?}: {size} bytes: {spent} clock ticks of CPU in 0.3 s"
            );
            let mut echo = Vec::new();
            client.read_to_end(&mut echo).unwrap();
            assert!(echo == pattern(0, size), "{lang:?}: {} bytes", echo.len());
        }
        server.stop();
    }
}

#[test]
fn a_client_that_sends_and_closes_at_once_is_closed_and_the_server_goes_on() {
    // The server echoes what it received to a client that is gone: the echo is lost (the
    // client's kernel may answer it with a reset). Either way only that connection ends, with at
    // most one line on stderr, and the server goes on.
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        let mut gone = tcp_connect(addr);
        let (open_line, close_line) = (opened(&gone), closed(&gone));
        let gone_addr = gone.local_addr().unwrap().to_string();
        gone.write_all(b"hello, and goodbye").unwrap();
        drop(gone);
        expect_line(&mut server, &open_line);
        expect_line(&mut server, &close_line);
        let mut other = tcp_connect(addr);
        assert_eq!(tcp_roundtrip(&mut other, b"next"), b"next");
        let out = server.stop();
        assert!(
            out.stderr.lines().count() <= 1 && out.stderr.lines().all(|l| l.contains(&gone_addr)),
            "{lang:?}: {out:#?}"
        );
    }
}

#[test]
fn a_reset_in_the_middle_of_an_echo_closes_only_that_connection() {
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        let mut other = tcp_connect(addr);
        expect_line(&mut server, &opened(&other));
        let mut client = tcp_connect(addr);
        expect_line(&mut server, &opened(&client));
        let client_addr = client.local_addr().unwrap().to_string();
        let close_line = closed(&client);
        // Send 1 MiB, read a little of its echo (the server is in the middle of it), then
        // close with SO_LINGER 0: the kernel sends a reset (RST) instead of a FIN.
        client
            .set_write_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut sent = 0;
        while sent < 1 << 20 {
            match client.write(&pattern(sent, 64 * 1024)) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        let mut first = [0u8; 1000];
        client.read_exact(&mut first).unwrap();
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
        expect_line(&mut server, &close_line);
        // The other client is still served.
        assert_eq!(tcp_roundtrip(&mut other, b"unharmed"), b"unharmed");
        let out = server.stop();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].contains(&client_addr),
            "{lang:?}: one line on stderr about {client_addr}: {out:#?}"
        );
    }
}

/// The bytes that the kernel holds for the socket `local` (connected to `remote`) and that its
/// program has not read yet: the rx_queue column of /proc/net/tcp (IPv4 only).
fn unread_bytes(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("IPv4 only"),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str()) {
            let (_, rx) = fields.get(4)?.split_once(':')?;
            u64::from_str_radix(rx, 16).ok()
        } else {
            None
        }
    })
}

#[test]
fn a_burst_longer_than_one_turn_is_echoed_whole() {
    // The Rust server reads at most 4 times (4 x 64 KiB) from one connection per turn of the
    // loop, then serves the others, and comes back to it in the next turn without waiting for a
    // new event (mio is edge-triggered: no new data, no new event). Here 384 KiB wait in the
    // kernel, all arrived while the server was stopped (SIGSTOP), so no more will come: the
    // server must come back to it by itself. (The Python server is level-triggered and reads
    // once per event; it passes this test the simple way.)
    const BURST: usize = 384 << 10;
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        let mut client = tcp_connect(addr);
        expect_line(&mut server, &opened(&client));
        // A fast warm-up transfer: the kernel grows the server's receive buffer (its window)
        // beyond the burst.
        const WARM: usize = 16 << 20;
        let mut writer = client.try_clone().unwrap();
        let warm = thread::spawn(move || writer.write_all(&pattern(0, WARM)));
        let mut echo = vec![0u8; WARM];
        client
            .read_exact(&mut echo)
            .unwrap_or_else(|e| server.fail(&format!("{lang:?}: read the warm-up echo: {e}")));
        assert!(echo == pattern(0, WARM), "{lang:?}: warm-up echo");
        warm.join().unwrap().unwrap();

        let pid = i32::try_from(server.pid()).unwrap();
        // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { common::transcript::kill(pid, SIGSTOP) }, 0);
        let mut writer = client.try_clone().unwrap();
        let burst = thread::spawn(move || writer.write_all(&pattern(0, BURST)));
        // Bounded: wait until the whole burst sits in the server's kernel buffer, unread.
        let local = client.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while unread_bytes(addr, local) != Some(BURST as u64) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let arrived = unread_bytes(addr, local) == Some(BURST as u64);
        // SAFETY: as above.
        assert_eq!(unsafe { common::transcript::kill(pid, SIGCONT) }, 0);
        if !arrived {
            eprintln!(
                "!!! {lang:?}: the burst did not fit in the server's buffer: this run proves less !!!"
            );
        }
        burst.join().unwrap().unwrap();
        let mut echo = vec![0u8; BURST];
        client
            .read_exact(&mut echo)
            .unwrap_or_else(|e| server.fail(&format!("{lang:?}: read the burst's echo: {e}")));
        assert!(echo == pattern(0, BURST), "{lang:?}: the burst's echo");
        let out = server.stop();
        assert_eq!(out.stderr, "", "{lang:?}: {out:#?}");
    }
}

const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

#[test]
fn clients_that_send_and_read_as_fast_as_they_can_do_not_starve_another() {
    // Two clients keep the server's receive buffers full at all times (each sends 1 MiB blocks
    // from one thread and reads the echo from another). A server that read each of them until
    // WouldBlock would never get to the end, and a third client's echo would wait for seconds:
    // the Rust server reads 4 times from a connection, then serves the others (epoll(7),
    // "Starvation"); the Python server reads once per event anyway.
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut blasters = Vec::new();
        for _ in 0..2 {
            let stream = tcp_connect(addr);
            let mut writer = stream.try_clone().unwrap();
            let mut reader = stream.try_clone().unwrap();
            let (stop_w, stop_r) = (Arc::clone(&stop), Arc::clone(&stop));
            thread::spawn(move || {
                let block = vec![b'x'; 1 << 20];
                while !stop_w.load(Ordering::Relaxed) && writer.write_all(&block).is_ok() {}
            });
            thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                while !stop_r.load(Ordering::Relaxed)
                    && matches!(reader.read(&mut buf), Ok(n) if n > 0)
                {}
            });
            blasters.push(stream);
        }
        let expected: BTreeSet<String> = blasters.iter().map(opened).collect();
        assert_eq!(next_lines(&mut server, 2), expected, "{lang:?}");
        let mut other = tcp_connect(addr);
        let mut worst = Duration::ZERO;
        for i in 0..30 {
            let message = format!("ping {i:02}");
            let started = Instant::now();
            assert_eq!(
                tcp_roundtrip(&mut other, message.as_bytes()),
                message.as_bytes()
            );
            worst = worst.max(started.elapsed());
            thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        for stream in &blasters {
            let _ = stream.shutdown(Shutdown::Both);
        }
        eprintln!("{lang:?}: the worst echo took {worst:?} next to two fast clients");
        assert!(
            worst < Duration::from_secs(1),
            "{lang:?}: an echo took {worst:?} next to two fast clients"
        );
        // (The two fast clients leave in the middle of a transfer: the server may say so.)
        server.stop();
    }
}

#[test]
fn connections_above_max_clients_are_refused_with_one_line_each() {
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &["--max-clients", "2"]) else {
            continue;
        };
        let mut a = tcp_connect(addr);
        expect_line(&mut server, &opened(&a));
        let mut b = tcp_connect(addr);
        expect_line(&mut server, &opened(&b));
        // The third is accepted and closed at once: it reads the end of the stream.
        let mut refused = Vec::new();
        for _ in 0..3 {
            let mut c = tcp_connect(addr);
            let mut buf = [0u8; 16];
            assert_eq!(c.read(&mut buf).unwrap(), 0, "{lang:?}: refused");
            refused.push(c.local_addr().unwrap().to_string());
        }
        // The first two are still served; when one leaves, a new client is accepted.
        assert_eq!(tcp_roundtrip(&mut a, b"a"), b"a");
        assert_eq!(tcp_roundtrip(&mut b, b"b"), b"b");
        let close_a = closed(&a);
        drop(a);
        expect_line(&mut server, &close_a);
        let mut d = tcp_connect(addr);
        expect_line(&mut server, &opened(&d));
        assert_eq!(tcp_roundtrip(&mut d, b"d"), b"d");
        let out = server.stop();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 3, "{lang:?}: one line per refusal: {out:#?}");
        for (line, addr) in lines.iter().zip(&refused) {
            assert!(
                line.contains(addr) && line.contains("--max-clients"),
                "{lang:?}: {out:#?}"
            );
        }
    }
}

#[test]
fn a_low_open_file_limit_is_said_and_the_server_keeps_within_it() {
    // The server's hard limit is 40 open files (like `ulimit -n 40`): 16 are kept for the
    // process itself, so it serves 24 clients and refuses the rest, without failing.
    if !raise_own_fd_limit(200) {
        return;
    }
    for lang in LANGS {
        let Some(mut cmd) = server_cmd(lang) else {
            continue;
        };
        cmd.arg("127.0.0.1:0");
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                cmd.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 40, 40));
            }
        }
        let (server, addr) = start_server(cmd);
        let mut clients: Vec<TcpStream> = (0..30).map(|_| tcp_connect(addr)).collect();
        let mut served = 0;
        for client in &mut clients {
            let mut buf = [0u8; 2];
            client.write_all(b"hi").unwrap();
            match client.read(&mut buf) {
                Ok(2) => served += 1,
                Ok(0) | Err(_) => {}
                Ok(n) => panic!("{lang:?}: {n} bytes"),
            }
        }
        assert_eq!(served, 24, "{lang:?}");
        drop(clients);
        let out = server.stop();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(
            lines.len() == 1 + 6
                && lines[0].contains("打开文件数的上限是 40")
                && lines[0].contains("最多只能同时服务 24 个")
                && lines[1..].iter().all(|l| l.contains("--max-clients")),
            "{lang:?}: {out:#?}"
        );
    }
}

/// The CPU time (user + system) the process has used so far, in clock ticks (/proc/PID/stat).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // The fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th of them.
    let after = &stat[stat.rfind(')').expect("(comm)") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn when_accept_runs_out_of_file_descriptors_the_server_waits_without_spinning_and_recovers() {
    // The server's open-file limit is lowered while it runs (as `prlimit --nofile` would), so
    // that `accept` fails with EMFILE: the new connection stays in the backlog. The server must
    // not spin on it, must keep serving the clients it has, and must accept it once descriptors
    // are available again, without waiting for yet another connection to arrive.
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &[]) else {
            continue;
        };
        let pid = server.pid();
        let mut first = tcp_connect(addr);
        expect_line(&mut server, &opened(&first));
        assert_eq!(tcp_roundtrip(&mut first, b"before"), b"before");

        let (mut soft, mut hard) = (0, 0);
        let target = i32::try_from(pid).unwrap();
        rlimit::prlimit(
            target,
            rlimit::Resource::NOFILE,
            None,
            Some((&mut soft, &mut hard)),
        )
        .unwrap();
        // The lowest free descriptor number: the next one `accept` would get.
        let open: BTreeSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        let next_fd = (0..).find(|n| !open.contains(n)).unwrap();
        rlimit::prlimit(
            target,
            rlimit::Resource::NOFILE,
            Some((next_fd, hard)),
            None,
        )
        .unwrap();

        let ticks = cpu_ticks(pid);
        let mut waiting = tcp_connect(addr);
        waiting.write_all(b"wait for me").unwrap();
        // While it cannot accept, the server still serves the client it has...
        assert_eq!(tcp_roundtrip(&mut first, b"still"), b"still", "{lang:?}");
        // ...and does not spin: half a second later it has used little CPU (a loop that retried
        // accept at once, again and again, would use all of it).
        thread::sleep(Duration::from_millis(500));
        let spent = cpu_ticks(pid) - ticks;
        assert!(spent < 20, "{lang:?}: {spent} clock ticks of CPU in 0.5 s");

        // Descriptors again: the waiting client is accepted and served.
        rlimit::prlimit(target, rlimit::Resource::NOFILE, Some((soft, hard)), None).unwrap();
        expect_line(&mut server, &opened(&waiting));
        let mut echo = [0u8; 11];
        waiting
            .read_exact(&mut echo)
            .unwrap_or_else(|e| server.fail(&format!("{lang:?}: the waiting client: {e}")));
        assert_eq!(&echo, b"wait for me");
        let out = server.stop();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(
            !lines.is_empty()
                && lines.len() <= 2
                && lines.iter().all(|l| l.contains("接受连接失败")),
            "{lang:?}: {out:#?}"
        );
    }
}

#[test]
fn a_huge_max_clients_is_capped_by_the_open_file_limit() {
    for lang in LANGS {
        let Some((mut server, addr)) = start(lang, &["--max-clients", "18446744073709551615"])
        else {
            continue;
        };
        let mut client = tcp_connect(addr);
        expect_line(&mut server, &opened(&client));
        assert_eq!(tcp_roundtrip(&mut client, b"hi"), b"hi");
        let out = server.stop();
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(
            lines.len() == 1 && lines[0].starts_with("注意：打开文件数的上限是"),
            "{lang:?}: {out:#?}"
        );
    }
}

#[test]
fn help_names_every_option_and_its_default() {
    for flag in ["-h", "--help"] {
        let mut cmd = example("echo_mio");
        cmd.arg(flag);
        let out = run(cmd, b"");
        out.assert_success();
        for needle in [
            "用法：echo_mio [地址] [--max-clients 个数]",
            "127.0.0.1:3214",
            "默认 10000",
        ] {
            assert!(out.stdout.contains(needle), "{needle}: {out:#?}");
        }
        assert_eq!(out.stderr, "");
    }
    if let Some(mut cmd) = python_ladder("echo_selectors.py") {
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        assert!(
            out.stdout.contains("--max-clients") && out.stdout.contains("默认 10000"),
            "{out:#?}"
        );
    }
}

#[test]
fn bad_arguments_fail_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "不认识的选项 --bogus"),
        (&["--max-clients"], "--max-clients 后面要写一个个数"),
        (&["--max-clients", "0"], "正整数"),
        (&["--max-clients", "many"], "正整数"),
        (&["localhost:3214"], "无法解析地址"),
        (&["127.0.0.1:0", "127.0.0.1:0"], "参数太多"),
        (&["192.0.2.1:0"], "本机没有这个 IP 地址"),
        (&[&taken], "端口已被占用"),
    ];
    for (args, needle) in cases {
        let mut cmd = example("echo_mio");
        cmd.args(*args);
        run(cmd, b"").assert_clean_failure(needle);
    }
    // The Python server: the address errors are one line too; argparse's own errors end with
    // exit status 2 and no traceback.
    let python_cases: &[(&[&str], &str)] = &[
        (&["no-port"], "无法解析地址"),
        (&["192.0.2.1:0"], "本机没有这个 IP 地址"),
        (&[&taken], "端口已被占用"),
    ];
    for (args, needle) in python_cases {
        let Some(mut cmd) = python_ladder("echo_selectors.py") else {
            return;
        };
        cmd.args(*args);
        run(cmd, b"").assert_clean_failure(needle);
    }
    for args in [&["--bogus"][..], &["--max-clients", "0"]] {
        let Some(mut cmd) = python_ladder("echo_selectors.py") else {
            return;
        };
        cmd.args(args);
        let out = run(cmd, b"");
        assert_eq!(out.status.code(), Some(2), "{out:#?}");
        assert!(!out.stderr.contains("Traceback"), "{out:#?}");
    }
}

#[test]
fn a_closed_stdout_ends_the_server_quietly() {
    for lang in LANGS {
        // Nobody reads from the start: the first line already fails.
        let Some(mut cmd) = server_cmd(lang) else {
            continue;
        };
        cmd.arg("127.0.0.1:0");
        run_with_closed_stdout(cmd, b"").assert_quiet();

        // `echo_mio | head -1`: the address is read, then nobody reads; the next line (a client
        // connects) fails, and the server ends quietly.
        let mut cmd = server_cmd(lang).unwrap();
        cmd.arg("127.0.0.1:0");
        let (head, first) = HeadOne::spawn(cmd, None);
        let addr: SocketAddr = first.parse().expect("the first line is the address");
        let _client = tcp_connect(addr);
        head.finish().assert_quiet();
    }
}
