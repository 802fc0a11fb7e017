//! The chat room: `chat_server` (threads), `chat_tokio` (tokio, a broadcast channel) and their
//! Python counterpart `chat_server.py` (asyncio), run as processes on loopback and driven by the
//! test's own connections; and `chat_client`, run against each of them.
//!
//! `cargo test` does not rebuild examples for `--test chat` alone: run `cargo build --examples`
//! first.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::transcript::{SIGINT, kill};
use common::*;

const SIGTERM: i32 = 15;
const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;

/// The three servers of the chapter.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Server {
    Threads,
    Tokio,
    Python,
}

const SERVERS: [Server; 3] = [Server::Threads, Server::Tokio, Server::Python];

impl Server {
    /// The command that runs it (without arguments); None where there is no python3.
    fn command(self) -> Option<Command> {
        match self {
            Server::Threads => Some(example("chat_server")),
            Server::Tokio => Some(example("chat_tokio")),
            Server::Python => python_ladder("chat_server.py"),
        }
    }

    /// Starts it on 127.0.0.1:0 with `args`; None where there is no python3.
    fn start(self, args: &[&str]) -> Option<(Proc, SocketAddr)> {
        let mut cmd = self.command()?;
        cmd.arg("127.0.0.1:0").args(args);
        Some(start_server(cmd))
    }
}

/// What the servers say, byte for byte.
fn welcome(name: &str, online: usize) -> Vec<u8> {
    format!("*** 欢迎来到聊天室！你是 {name}，现在共有 {online} 人在线\n").into_bytes()
}

fn joined(name: &str) -> Vec<u8> {
    format!("*** {name} 加入了聊天室\n").into_bytes()
}

fn left(name: &str) -> Vec<u8> {
    format!("*** {name} 离开了聊天室\n").into_bytes()
}

fn said(name: &str, line: &[u8]) -> Vec<u8> {
    let mut out = format!("{name}: ").into_bytes();
    out.extend_from_slice(line);
    out
}

const STOPPING: &[u8] = "*** 服务器正在关闭\n".as_bytes();

fn too_slow(queue: usize) -> Vec<u8> {
    format!("*** 你跟不上聊天室的速度（落后超过 {queue} 行），服务器断开了你的连接\n").into_bytes()
}

/// Line `n` of a talker, `len` bytes long with its newline: a number, then padding.
fn numbered(n: usize, len: usize) -> Vec<u8> {
    let mut line = format!("第 {n:06} 行 ").into_bytes();
    line.resize(len - 1, b'.');
    line.push(b'\n');
    line
}

/// A chat client driven by the test. Every read is bounded by IO_TIMEOUT.
struct Client {
    reader: BufReader<TcpStream>,
    /// Its address, as the server names it.
    name: String,
}

impl Client {
    fn new(stream: TcpStream) -> Client {
        let name = stream.local_addr().unwrap().to_string();
        Client {
            reader: BufReader::with_capacity(128 * 1024, stream),
            name,
        }
    }

    /// Connects and reads the welcome, which names it and counts `online` people.
    fn join(addr: SocketAddr, online: usize) -> Client {
        let mut client = Client::new(tcp_connect(addr));
        client.expect(&welcome(&client.name.clone(), online));
        client
    }

    /// The next line, with its newline; fails on end of stream, an error or a timeout.
    fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(_) if line.ends_with(b"\n") => line,
            Ok(_) => panic!(
                "{}: the stream ended after {:?}",
                self.name,
                String::from_utf8_lossy(&line)
            ),
            Err(e) => panic!(
                "{}: no line ({e}) after {:?}",
                self.name,
                String::from_utf8_lossy(&line)
            ),
        }
    }

    fn expect(&mut self, want: &[u8]) {
        let got = self.line();
        assert!(
            got == want,
            "{}: expected {:?}, got {:?}",
            self.name,
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(&got)
        );
    }

    fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("send");
    }

    /// The end of the stream must come now, cleanly (a FIN, not a reset), with no more bytes.
    fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "{}: bytes before the end: {:?}",
                self.name,
                String::from_utf8_lossy(&rest)
            ),
            Err(e) => panic!("{}: not a clean end of stream: {e}", self.name),
        }
    }

    /// Leaves as a well-behaved client does: half-close, then read to the server's end of stream.
    fn leave(mut self) {
        self.reader.get_ref().shutdown(Shutdown::Write).unwrap();
        self.expect_eof();
    }
}

/// `n` clients join one after another; each sees the others join after it.
fn join_all(addr: SocketAddr, n: usize) -> Vec<Client> {
    let mut clients: Vec<Client> = Vec::new();
    for k in 0..n {
        let client = Client::join(addr, k + 1);
        for earlier in &mut clients {
            earlier.expect(&joined(&client.name));
        }
        clients.push(client);
    }
    clients
}

/// Reads the server's stdout until `n` more lines that start with `prefix` have come.
fn wait_for_lines(server: &mut Proc, prefix: &str, n: usize) {
    let mut seen = 0;
    while seen < n {
        if server.next_line().starts_with(prefix) {
            seen += 1;
        }
    }
}

fn signal(proc: &Proc, sig: i32) {
    let pid = i32::try_from(proc.pid()).unwrap();
    // SAFETY: kill() only sends a signal to our own child, which has not been waited for.
    assert_eq!(unsafe { kill(pid, sig) }, 0, "send signal {sig}");
}

fn signal_name(sig: i32) -> &'static str {
    if sig == SIGINT { "SIGINT" } else { "SIGTERM" }
}

/// The server's stderr has exactly one line, and it contains `needle`.
fn one_stderr_line(server: Server, out: &Finished, needle: &str) {
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "{server:?}: one line on stderr: {out:#?}"
    );
    assert!(
        out.stderr.contains(needle),
        "{server:?}: stderr should say {needle:?}: {out:#?}"
    );
}

#[test]
fn every_line_reaches_every_other_client_exactly_once() {
    const CLIENTS: usize = 4;
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let clients = join_all(addr, CLIENTS);
        let names: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
        // What each client says: text, bytes that are not UTF-8 (a control sequence, a carriage
        // return, NUL, half of 你), and a line of exactly 1024 bytes, the longest allowed.
        let lines = |i: usize| -> Vec<Vec<u8>> {
            let mut lines: Vec<Vec<u8>> = (0..10)
                .map(|j| format!("客户端 {i} 的第 {j} 行\n").into_bytes())
                .collect();
            lines.push(b"\xff\xfe\x00\x1b[31m red \r\xe4\xbd\n".to_vec());
            let mut longest = vec![b'a' + i as u8; 1023];
            longest.push(b'\n');
            lines.push(longest);
            lines.push("再见\n".as_bytes().to_vec());
            lines
        };
        // Everyone talks at once; each reads what the others say.
        let clients: Vec<Client> = thread::scope(|s| {
            let handles: Vec<_> = clients
                .into_iter()
                .enumerate()
                .map(|(i, mut client)| {
                    let (names, lines) = (&names, &lines);
                    s.spawn(move || {
                        let mut writer = client.reader.get_ref().try_clone().unwrap();
                        let mine = lines(i);
                        let sender = thread::spawn(move || {
                            for line in mine {
                                writer.write_all(&line).unwrap();
                            }
                        });
                        let expected: usize = (0..CLIENTS)
                            .filter(|&k| k != i)
                            .map(|k| lines(k).len())
                            .sum();
                        let got: Vec<Vec<u8>> = (0..expected).map(|_| client.line()).collect();
                        sender.join().unwrap();
                        for (k, name) in names.iter().enumerate() {
                            let prefix = format!("{name}: ").into_bytes();
                            let from: Vec<Vec<u8>> = got
                                .iter()
                                .filter_map(|l| l.strip_prefix(prefix.as_slice()))
                                .map(<[u8]>::to_vec)
                                .collect();
                            let want = if k == i { Vec::new() } else { lines(k) };
                            assert!(
                                from == want,
                                "{server:?}: client {i} got from client {k}: {from:?}"
                            );
                        }
                        client
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // They leave one by one: the others see it, and nothing else came before it.
        let mut clients = clients.into_iter();
        while let Some(leaving) = clients.next() {
            let name = leaving.name.clone();
            leaving.leave();
            let mut rest: Vec<Client> = clients.collect();
            for other in &mut rest {
                other.expect(&left(&name));
            }
            clients = rest.into_iter();
        }
        wait_for_lines(&mut proc, "连接关闭：", CLIENTS);
        let out = proc.stop();
        assert_eq!(out.stderr, "", "{server:?}: {out:#?}");
        for name in &names {
            assert_eq!(
                out.stdout
                    .lines()
                    .filter(|l| *l == format!("Client Address: {name}")
                        || *l == format!("连接关闭：{name}"))
                    .count(),
                2,
                "{server:?}: one line when {name} opened, one when it closed: {out:#?}"
            );
        }
        assert_eq!(
            out.stdout.lines().count(),
            1 + 2 * CLIENTS,
            "{server:?}: nothing per message: {out:#?}"
        );
    }
}

#[test]
fn a_line_longer_than_max_line_disconnects_its_sender_with_a_message() {
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let mut clients = join_all(addr, 2);
        let longest = numbered(1, 1024);
        clients[0].send(&longest);
        let name = clients[0].name.clone();
        clients[1].expect(&said(&name, &longest));
        // 1025 bytes with the newline: one too many.
        clients[0].send(&numbered(2, 1025));
        clients[0].expect("*** 一行超过了 1024 字节的上限，服务器断开了你的连接\n".as_bytes());
        // Then the end of the stream: a FIN, or a reset where the server closed the socket with
        // the rest of the line unread. Either way nothing else.
        let mut rest = Vec::new();
        match clients[0].reader.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "{server:?}: {rest:?}"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{server:?}: {e}"),
        }
        // The others see it leave, and none of the long line; the room goes on.
        clients[1].expect(&left(&name));
        let mut newcomer = Client::join(addr, 2);
        clients[1].expect(&joined(&newcomer.name));
        newcomer.send("我来晚了\n".as_bytes());
        clients[1].expect(&said(&newcomer.name, "我来晚了\n".as_bytes()));
        let newcomer_name = newcomer.name.clone();
        newcomer.leave();
        clients[1].expect(&left(&newcomer_name));
        clients.pop().unwrap().leave();
        wait_for_lines(&mut proc, "连接关闭：", 3);
        let out = proc.stop();
        one_stderr_line(
            server,
            &out,
            &format!("断开 {name}：一行超过了 1024 字节的上限（--max-line）"),
        );
    }
}

#[test]
fn a_client_that_leaves_in_the_middle_of_a_line_is_announced_and_its_half_line_dropped() {
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let mut clients = join_all(addr, 2);
        let name = clients[0].name.clone();
        clients[0].send("半行，没有换行符".as_bytes());
        clients.remove(0).leave();
        clients[0].expect(&left(&name));
        clients.pop().unwrap().leave();
        wait_for_lines(&mut proc, "连接关闭：", 2);
        let out = proc.stop();
        let n = "半行，没有换行符".len();
        one_stderr_line(
            server,
            &out,
            &format!("断开 {name}：对方在一行的中间关闭了连接（最后 {n} 字节没有换行符，丢弃）"),
        );
    }
}

#[test]
fn a_client_that_never_reads_is_disconnected_and_the_room_goes_on() {
    const LINE: usize = 16_000;
    const BATCH: usize = 32; // fewer than the queue: the one who reads never falls behind
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&["--max-line", "65536"]) else {
            continue;
        };
        let rss_before = status_kib(proc.pid(), "VmRSS:");
        // The slow one never reads, not even its welcome.
        let mut talker = Client::join(addr, 1);
        let slow = tcp_connect(addr);
        let slow_name = slow.local_addr().unwrap().to_string();
        talker.expect(&joined(&slow_name));
        let mut reader = Client::join(addr, 3);
        talker.expect(&joined(&reader.name));
        // The talker says BATCH lines at a time; the reader reads each batch before the next.
        // Each batch must arrive (within IO_TIMEOUT a line), however full the slow one's
        // buffers and queue are: the room never waits for it. At some point it is disconnected.
        let mut sent = 0;
        let mut slow_left = false;
        while !slow_left {
            assert!(
                sent < 10_000,
                "{server:?}: {sent} lines and the slow client is still in the room"
            );
            let batch: Vec<u8> = (sent..sent + BATCH)
                .flat_map(|n| numbered(n, LINE))
                .collect();
            talker.send(&batch);
            for n in sent..sent + BATCH {
                let mut got = reader.line();
                if got == left(&slow_name) {
                    slow_left = true;
                    got = reader.line();
                }
                assert!(
                    got == said(&talker.name, &numbered(n, LINE)),
                    "{server:?}: line {n}: {:?}",
                    String::from_utf8_lossy(&got)
                );
            }
            sent += BATCH;
        }
        // Its queue was bounded, so the server's memory was too.
        let grown = status_kib(proc.pid(), "VmRSS:").saturating_sub(rss_before);
        // It can read now: what was written to it before it fell behind, in order, then why.
        let mut slow = Client::new(slow);
        slow.expect(&welcome(&slow_name, 2));
        slow.expect(&joined(&reader.name));
        let mut n = 0;
        loop {
            let got = slow.line();
            if got == too_slow(64) {
                break;
            }
            assert!(
                got == said(&talker.name, &numbered(n, LINE)),
                "{server:?}: the slow client's line {n}: {:?}",
                String::from_utf8_lossy(&got)
            );
            n += 1;
        }
        slow.expect_eof();
        assert!(n < sent, "{server:?}: it got all {sent} lines");
        assert!(
            grown < 20 * 1024,
            "{server:?}: the server grew by {grown} KiB while {sent} lines were sent"
        );
        // The room goes on; the talker, too, saw the slow one leave.
        talker.expect(&left(&slow_name));
        talker.send("还有人吗\n".as_bytes());
        reader.expect(&said(&talker.name, "还有人吗\n".as_bytes()));
        let name = talker.name.clone();
        talker.leave();
        reader.expect(&left(&name));
        reader.leave();
        wait_for_lines(&mut proc, "连接关闭：", 3);
        let out = proc.stop();
        one_stderr_line(server, &out, &format!("断开 {slow_name}：跟不上"));
        assert!(out.stderr.contains("（--queue）"), "{server:?}: {out:#?}");
    }
}

#[test]
fn beyond_max_clients_a_newcomer_is_told_and_closed() {
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&["--max-clients", "2"]) else {
            continue;
        };
        let mut clients = join_all(addr, 2);
        let mut third = Client::new(tcp_connect(addr));
        third.expect("*** 聊天室已满（2 人），请稍后再来\n".as_bytes());
        third.expect_eof();
        let first = clients.remove(0);
        let name = first.name.clone();
        first.leave();
        clients[0].expect(&left(&name));
        // Once the server has closed it, a place is free again.
        while proc.next_line() != format!("连接关闭：{name}") {}
        let fourth = Client::join(addr, 2);
        clients[0].expect(&joined(&fourth.name));
        let name = fourth.name.clone();
        fourth.leave();
        clients[0].expect(&left(&name));
        clients.pop().unwrap().leave();
        wait_for_lines(&mut proc, "连接关闭：", 2);
        let out = proc.stop();
        one_stderr_line(
            server,
            &out,
            &format!("拒绝 {}：已经有 2 个连接（--max-clients）", third.name),
        );
        assert!(
            !out.stdout.contains(&third.name),
            "{server:?}: no line for a refused connection: {out:#?}"
        );
    }
}

/// SIGINT or SIGTERM: one line; queued lines are delivered, then the last line, then a clean end
/// of stream for every client; the server exits 0 well within the grace period.
fn graceful_shutdown(server: Server, sig: i32) {
    // Lines of 64,000 bytes; a queue long enough that nobody is disconnected for being slow.
    let Some((mut proc, addr)) = server.start(&["--max-line", "65536", "--queue", "1000"]) else {
        return;
    };
    let mut clients = join_all(addr, 3);
    // One more client, not reading for now: 6.4 MB pile up for it, more than the kernel's
    // buffers hold (the rest waits in its queue on the server).
    let lagging = tcp_connect(addr);
    let lagging_name = lagging.local_addr().unwrap().to_string();
    for client in &mut clients {
        client.expect(&joined(&lagging_name));
    }
    let talker = clients[0].name.clone();
    // Once the others have them, they have been put in every queue.
    for n in 0..100 {
        clients[0].send(&numbered(n, 64_000));
        for client in &mut clients[1..] {
            client.expect(&said(&talker, &numbered(n, 64_000)));
        }
    }
    wait_for_lines(&mut proc, "Client Address: ", 4);

    let sent_at = Instant::now();
    signal(&proc, sig);
    let name = signal_name(sig);
    assert_eq!(
        proc.next_line(),
        format!("收到 {name}：不再接受新连接，正在关闭 4 个连接"),
        "{server:?}"
    );
    for mut client in clients {
        client.expect(STOPPING);
        client.expect_eof();
    }
    let mut lagging = Client::new(lagging);
    lagging.expect(&welcome(&lagging_name, 4));
    for n in 0..100 {
        lagging.expect(&said(&talker, &numbered(n, 64_000)));
    }
    lagging.expect(STOPPING);
    lagging.expect_eof();

    let out = proc.finish();
    let took = sent_at.elapsed();
    assert!(out.status.success(), "{server:?} {name}: {out:#?}");
    assert!(
        took < Duration::from_secs(5),
        "{server:?} {name}: took {took:?}, longer than the grace period"
    );
    assert_eq!(out.stderr, "", "{server:?} {name}: {out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("收到 "))
        .expect("the line");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("收到 ")).count(),
        1,
        "{server:?}: one line for the signal: {out:#?}"
    );
    assert_eq!(
        lines[at + 1..]
            .iter()
            .filter(|l| l.starts_with("连接关闭："))
            .count(),
        4,
        "{server:?}: then every connection closes: {out:#?}"
    );
}

#[test]
fn sigint_shuts_the_room_down_gracefully() {
    for server in SERVERS {
        graceful_shutdown(server, SIGINT);
    }
}

#[test]
fn sigterm_shuts_the_room_down_gracefully() {
    for server in SERVERS {
        graceful_shutdown(server, SIGTERM);
    }
}

/// A client megabytes behind that keeps talking through the shutdown reads everything queued
/// for it, the last line and a clean end of stream. The server must not close while the client
/// still sends: a socket closed with unread data sends a reset, which throws away what was still
/// in the server's send buffer (the lines, the last line and the FIN).
#[test]
fn a_client_that_keeps_talking_while_far_behind_still_gets_everything_at_shutdown() {
    const LINES: usize = 40; // 40 lines of 64,000 bytes: 2.5 MB behind
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&["--max-line", "65536", "--queue", "1000"])
        else {
            continue;
        };
        let mut others = join_all(addr, 2);
        let behind = tcp_connect(addr);
        let behind_name = behind.local_addr().unwrap().to_string();
        for client in &mut others {
            client.expect(&joined(&behind_name));
        }
        let talker = others[0].name.clone();
        // Once the other one has them, they have been put in every queue.
        for n in 0..LINES {
            others[0].send(&numbered(n, 64_000));
            others[1].expect(&said(&talker, &numbered(n, 64_000)));
        }
        wait_for_lines(&mut proc, "Client Address: ", 3);
        // The one behind says a short line every 5 ms, until it has read the end of the stream
        // (at most 2,000 lines: 10 seconds).
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let chatter = thread::spawn({
            let (mut stream, done) = (behind.try_clone().unwrap(), done.clone());
            move || {
                for _ in 0..2000 {
                    if done.load(std::sync::atomic::Ordering::SeqCst)
                        || stream.write_all("我还在说话\n".as_bytes()).is_err()
                    {
                        break;
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            }
        });
        signal(&proc, SIGINT);
        assert_eq!(
            proc.next_line(),
            "收到 SIGINT：不再接受新连接，正在关闭 3 个连接",
            "{server:?}"
        );
        let mut behind = Client::new(behind);
        behind.expect(&welcome(&behind_name, 3));
        for n in 0..LINES {
            behind.expect(&said(&talker, &numbered(n, 64_000)));
        }
        behind.expect(STOPPING);
        behind.expect_eof();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        chatter.join().unwrap();
        drop(behind);
        // The others hear it talk until the end.
        for mut client in others {
            while client.line() != STOPPING {}
            client.expect_eof();
        }
        let out = proc.finish();
        assert!(out.status.success(), "{server:?}: {out:#?}");
        assert_eq!(out.stderr, "", "{server:?}: {out:#?}");
    }
}

/// A client alone in the room that says 5000 lines at once is not "too slow": the lines it
/// says itself are never queued for it (chat_tokio: the read half gives the write half a turn
/// after each line, so that the write half skips them before they are 1024 lines behind, the
/// channel's capacity).
#[test]
fn a_client_that_says_many_lines_at_once_is_not_too_slow_for_its_own_lines() {
    for server in SERVERS {
        let Some((_proc, addr)) = server.start(&[]) else {
            continue;
        };
        let mut alone = Client::join(addr, 1);
        let burst: Vec<u8> = (0..5000)
            .flat_map(|n| format!("第 {n} 行\n").into_bytes())
            .collect();
        alone.send(&burst);
        // Nothing comes back, not even "too slow": just the end of the stream after it leaves.
        alone.leave();
    }
}

#[test]
fn connections_waiting_in_the_backlog_at_shutdown_are_closed_cleanly_too() {
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let mut member = Client::join(addr, 1);
        proc.next_line(); // its Client Address
        // Stop the server, so that new connections wait in its listening socket's backlog (the
        // kernel completes their handshakes); then the signal; then let it go on.
        signal(&proc, SIGSTOP);
        let mut waiting: Vec<Client> = (0..8)
            .map(|i| {
                let mut client = Client::new(tcp_connect(addr));
                client.send(format!("我在排队 {i}\n").as_bytes());
                client
            })
            .collect();
        signal(&proc, SIGINT);
        signal(&proc, SIGCONT);
        // Whether it accepted them before it saw the signal or after, each ends with the last
        // line and a clean end of stream, never a reset.
        for client in waiting.iter_mut().chain([&mut member]) {
            loop {
                let line = client.line();
                if line == STOPPING {
                    break;
                }
            }
            client.expect_eof();
        }
        let out = proc.finish();
        assert!(out.status.success(), "{server:?}: {out:#?}");
        assert_eq!(out.stderr, "", "{server:?}: {out:#?}");
        assert_eq!(
            out.stdout.matches("连接关闭：").count(),
            9,
            "{server:?}: {out:#?}"
        );
    }
}

/// A server with a client that never reads and has 8 MB waiting for it (more than the kernel's
/// buffers hold, fewer lines than its queue), so that a graceful shutdown cannot finish;
/// and two clients that talk and read, who are done.
fn with_a_stuck_client(server: Server, args: &[&str]) -> Option<(Proc, TcpStream)> {
    let mut all = vec!["--queue", "1000", "--max-line", "65536"];
    all.extend_from_slice(args);
    let (mut proc, addr) = server.start(&all)?;
    let mut talker = Client::join(addr, 1);
    let stuck = tcp_connect(addr);
    talker.expect(&joined(&stuck.local_addr().unwrap().to_string()));
    let mut reader = Client::join(addr, 3);
    talker.expect(&joined(&reader.name));
    for n in 0..130 {
        let line = numbered(n, 64_000);
        talker.send(&line);
        reader.expect(&said(&talker.name, &line));
    }
    wait_for_lines(&mut proc, "Client Address: ", 3);
    signal(&proc, SIGTERM);
    assert_eq!(
        proc.next_line(),
        "收到 SIGTERM：不再接受新连接，正在关闭 3 个连接",
        "{server:?}"
    );
    for mut client in [talker, reader] {
        client.expect(STOPPING);
        client.expect_eof();
    }
    Some((proc, stuck))
}

#[test]
fn a_second_signal_exits_at_once() {
    for server in SERVERS {
        for (sig, code) in [(SIGINT, 130), (SIGTERM, 143)] {
            let Some((proc, _stuck)) = with_a_stuck_client(server, &["--grace", "60"]) else {
                continue;
            };
            let sent_at = Instant::now();
            signal(&proc, sig);
            let out = proc.finish();
            assert!(
                sent_at.elapsed() < Duration::from_secs(3),
                "{server:?}: not at once"
            );
            assert_eq!(out.status.code(), Some(code), "{server:?}: {out:#?}");
            // Every server exits from inside the signal handler, which says nothing (its
            // stdout or stderr could be the very thing that is stuck).
            assert_eq!(out.stderr, "", "{server:?}");
        }
    }
}

#[test]
fn at_the_end_of_the_grace_period_the_rest_is_closed_by_force() {
    for server in SERVERS {
        let Some((proc, _stuck)) = with_a_stuck_client(server, &["--grace", "1"]) else {
            continue;
        };
        let out = proc.finish();
        assert!(out.status.success(), "{server:?}: {out:#?}");
        one_stderr_line(server, &out, "宽限期到了：强行关闭 1 个连接");
        assert_eq!(
            out.stdout.matches("连接关闭：").count(),
            3,
            "{server:?}: {out:#?}"
        );
    }
}

#[test]
fn help_bad_arguments_and_a_closed_stdout() {
    for server in SERVERS {
        let Some(mut cmd) = server.command() else {
            continue;
        };
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        let usage = match server {
            Server::Threads => "用法：chat_server [地址]",
            Server::Tokio => "用法：chat_tokio [地址]",
            Server::Python => "用法：chat_server.py [地址]",
        };
        assert!(out.stdout.starts_with(usage), "{out:#?}");
        for flag in ["--queue", "--max-line", "--max-clients", "--grace"] {
            assert!(out.stdout.contains(flag), "{server:?}: {flag}: {out:#?}");
        }
        assert!(out.stdout.contains("默认 127.0.0.1:3214"), "{out:#?}");
        for (args, needle) in [
            (&["--bogus"][..], "不认识的选项 --bogus"),
            (&["nonsense"], "无法解析地址 `nonsense`"),
            (&["192.0.2.1:0"], "本机没有这个 IP 地址"),
            (&["--queue", "0"], "--queue 要写 1 到 65536 之间的整数"),
            (&["--max-line"], "--max-line 后面要写一个字节数"),
            (&["--grace", "soon"], "--grace 要写 0.1 到 3600 之间的秒数"),
            (&["127.0.0.1:0", "127.0.0.1:1"], "参数太多"),
        ] {
            let mut cmd = server.command().unwrap();
            cmd.args(args);
            run(cmd, b"").assert_clean_failure(needle);
        }
        // Nobody reads even the first line.
        let mut cmd = server.command().unwrap();
        cmd.arg("127.0.0.1:0");
        run_with_closed_stdout(cmd, b"").assert_quiet();
        // The reader goes away after the first line (`| head -1`); the next is for a client.
        let mut cmd = server.command().unwrap();
        cmd.arg("127.0.0.1:0");
        let (mut head, first) = HeadOne::spawn(cmd, None);
        let addr: SocketAddr = first.parse().unwrap();
        for _ in 0..5 {
            let _client = tcp_connect(addr);
            if head.ended_within(Duration::from_secs(2)) {
                break;
            }
        }
        head.finish().assert_quiet();
    }
}

/// chat_client with a pipe for its stdin, so the test types when it wants.
struct Typist {
    proc: Proc,
    stdin: std::io::PipeWriter,
}

impl Typist {
    fn start(addr: SocketAddr) -> Typist {
        let (reader, stdin) = std::io::pipe().unwrap();
        let mut cmd = example("chat_client");
        cmd.arg(addr.to_string());
        let proc = Proc::spawn_with_stdin(cmd, Stdio::from(reader));
        Typist { proc, stdin }
    }

    fn type_line(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }
}

#[test]
fn chat_client_shows_the_room_and_exits_when_the_server_closes() {
    for server in SERVERS {
        let Some((proc, addr)) = server.start(&[]) else {
            continue;
        };
        let mut typist = Typist::start(addr);
        let first = typist.proc.next_line();
        let name = first
            .strip_prefix("*** 欢迎来到聊天室！你是 ")
            .and_then(|rest| rest.split('，').next())
            .unwrap_or_else(|| panic!("{server:?}: {first}"))
            .to_string();
        let mut other = Client::join(addr, 2);
        assert_eq!(
            typist.proc.next_line(),
            format!("*** {} 加入了聊天室", other.name)
        );
        // What others say is shown safely: invalid UTF-8 as �, control characters escaped.
        other.send(b"\xe4\xbd\xa0\xe5\xa5\xbd \x1b[2J\xff\r\n");
        assert_eq!(
            typist.proc.next_line(),
            format!("{}: 你好 \\u{{1b}}[2J\u{fffd}\\r", other.name)
        );
        typist.type_line("大家好");
        other.expect(&said(&name, "大家好\n".as_bytes()));
        // The server shuts down while the client's stdin is still open.
        signal(&proc, SIGINT);
        assert_eq!(typist.proc.next_line(), "*** 服务器正在关闭");
        assert_eq!(typist.proc.next_line(), "服务器关闭了连接");
        let out = typist.proc.finish();
        assert!(out.status.success(), "{server:?}: {out:#?}");
        assert_eq!(out.stderr, "", "{server:?}: {out:#?}");
        other.expect(STOPPING);
        other.expect_eof();
        proc.finish().assert_success();
    }
}

#[test]
fn chat_client_half_closes_at_the_end_of_its_input() {
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let mut other = Client::join(addr, 1);
        // Two lines, the last without its newline (the client adds it), then the end of input.
        let mut cmd = example("chat_client");
        cmd.arg(addr.to_string());
        let mut client = Proc::spawn(cmd, Some("第一行\n第二行".as_bytes().to_vec()));
        let welcome = client.next_line();
        assert!(welcome.ends_with("现在共有 2 人在线"), "{welcome}");
        let name = welcome
            .strip_prefix("*** 欢迎来到聊天室！你是 ")
            .and_then(|rest| rest.split('，').next())
            .unwrap()
            .to_string();
        other.expect(&joined(&name));
        other.expect(&said(&name, "第一行\n".as_bytes()));
        other.expect(&said(&name, "第二行\n".as_bytes()));
        other.expect(&left(&name));
        assert_eq!(client.next_line(), "服务器关闭了连接");
        let out = client.finish();
        assert!(out.status.success(), "{server:?}: {out:#?}");
        assert_eq!(out.stderr, "", "{server:?}: {out:#?}");
        other.leave();
        wait_for_lines(&mut proc, "连接关闭：", 2);
        assert_eq!(proc.stop().stderr, "", "{server:?}");
    }
}

#[test]
fn chat_client_says_when_the_last_line_is_cut_off() {
    // A server that sends a line and a half, then closes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all("*** 完整的一行\n半行".as_bytes()).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest); // until the client closes: no reset
    });
    let mut cmd = example("chat_client");
    cmd.arg(addr.to_string());
    let out = run(cmd, b"");
    out.assert_success();
    assert_eq!(
        out.stdout,
        "*** 完整的一行\n半行（这一行没有收完）\n服务器关闭了连接\n"
    );
    server.join().unwrap();
}

#[test]
fn chat_client_help_bad_arguments_and_a_refused_connection() {
    let mut cmd = example("chat_client");
    cmd.arg("--help");
    let out = run(cmd, b"");
    out.assert_success();
    assert!(
        out.stdout.starts_with("用法：chat_client [地址]"),
        "{out:#?}"
    );
    // A port where nothing listens: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (args, needle) in [
        (vec!["--bogus".to_string()], "不认识的选项 --bogus"),
        (vec!["::1:3214".to_string()], "IPv6 地址要放在方括号里"),
        (vec!["a:1".to_string(), "b:2".to_string()], "参数太多"),
        (vec![format!("127.0.0.1:{port}")], "无法连接 127.0.0.1:"),
    ] {
        let mut cmd = example("chat_client");
        cmd.args(&args);
        run(cmd, b"").assert_clean_failure(needle);
    }
    // A closed stdout: the welcome cannot be printed, and the client ends quietly.
    let (proc, addr) = Server::Threads.start(&[]).unwrap();
    let mut cmd = example("chat_client");
    cmd.arg(addr.to_string());
    run_with_closed_stdout(cmd, b"").assert_quiet();
    drop(proc);
}

/// Three hundred connections arrive at once (a reconnect storm), then all but three leave at
/// once. Each one reads promptly, so none of them may be told it is too slow: a client is too
/// slow only when its writer cannot write (or its queue reaches the hard limit of 16 x --queue),
/// not because hundreds of lines were queued faster than its writer got the CPU (the first
/// version counted queued lines only, and dropped most of them in chat_tokio and
/// chat_server.py, and some in chat_server on a busy machine). Each client sees its welcome with
/// its place in the room, then exactly the joins of those after it; the three that stay hear
/// every one of the others leave.
#[test]
fn a_burst_of_joins_does_not_make_prompt_readers_too_slow() {
    const BURST: usize = 300;
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&[]) else {
            continue;
        };
        let mut clients: Vec<Client> = (0..BURST).map(|_| Client::new(tcp_connect(addr))).collect();
        let names: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
        for (k, client) in clients.iter_mut().enumerate() {
            let expected = std::iter::once(welcome(&names[k], k + 1))
                .chain(names[k + 1..].iter().map(|later| joined(later)));
            for want in expected {
                let got = client.line();
                if got != want {
                    proc.fail(&format!(
                        "{server:?}: client {k} expected {:?}, got {:?}",
                        String::from_utf8_lossy(&want),
                        String::from_utf8_lossy(&got)
                    ));
                }
            }
        }
        wait_for_lines(&mut proc, "Client Address: ", BURST);
        // The last one talks; everyone hears it, and nothing else came before it.
        let last = clients.last_mut().unwrap();
        last.send("大家好\n".as_bytes());
        let speaker = last.name.clone();
        for client in &mut clients[..BURST - 1] {
            client.expect(&said(&speaker, "大家好\n".as_bytes()));
        }
        // Then all but three leave at once: the three hear every one of them leave.
        let leaving: Vec<Client> = clients.drain(3..).collect();
        let mut gone: Vec<Vec<u8>> = leaving.iter().map(|c| left(&c.name)).collect();
        gone.sort();
        for client in leaving {
            client.reader.get_ref().shutdown(Shutdown::Write).unwrap();
        }
        for (k, client) in clients.iter_mut().enumerate() {
            let mut heard: Vec<Vec<u8>> = (0..gone.len()).map(|_| client.line()).collect();
            heard.sort();
            if heard != gone {
                proc.fail(&format!(
                    "{server:?}: client {k} did not hear exactly everyone leave"
                ));
            }
        }
        drop(clients);
        let out = proc.stop();
        assert!(
            !out.stderr.contains("跟不上"),
            "{server:?}: a prompt reader was dropped as too slow: {out:#?}"
        );
    }
}

/// A client that keeps talking after the server's last line and never closes holds the
/// shutdown until the grace period ends; then the server says so in one line and exits 0
/// (chat_server used to close it at the same moment on its own, so that whether the line came
/// was a race). The client itself read everything, the last line and the end of the stream.
#[test]
fn a_client_that_talks_on_after_the_last_line_is_closed_by_force_when_the_grace_ends() {
    for server in SERVERS {
        let Some((mut proc, addr)) = server.start(&["--grace", "1"]) else {
            continue;
        };
        let mut typist = Client::join(addr, 1);
        proc.next_line(); // its Client Address
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let talking = thread::spawn({
            let (mut stream, done) = (typist.reader.get_ref().try_clone().unwrap(), done.clone());
            move || {
                // A line every 20 ms, for at most 10 seconds, until told to stop or cut off.
                for _ in 0..500 {
                    if done.load(std::sync::atomic::Ordering::SeqCst)
                        || stream.write_all("我还没说完\n".as_bytes()).is_err()
                    {
                        break;
                    }
                    thread::sleep(Duration::from_millis(20));
                }
            }
        });
        let sent_at = Instant::now();
        signal(&proc, SIGINT);
        typist.expect(STOPPING);
        typist.expect_eof();
        let out = proc.finish();
        let took = sent_at.elapsed();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        talking.join().unwrap();
        assert!(out.status.success(), "{server:?}: {out:#?}");
        one_stderr_line(server, &out, "宽限期到了：强行关闭 1 个连接");
        assert!(
            took >= Duration::from_millis(900),
            "{server:?}: it did not wait for the grace period: {took:?}"
        );
        assert_eq!(
            out.stdout.matches("连接关闭：").count(),
            1,
            "{server:?}: {out:#?}"
        );
    }
}

/// With its stdout blocked (a full pipe nobody reads), a server cannot print; a second signal
/// still ends it at once (chat_server.py: a handler installed with signal.signal, which Python
/// runs even while the main thread waits in a write, not loop.add_signal_handler, whose
/// handlers wait for the event loop, which is stuck in that write).
#[test]
fn a_second_signal_ends_a_chat_server_whose_stdout_is_blocked() {
    for server in SERVERS {
        let Some(mut cmd) = server.command() else {
            continue;
        };
        cmd.args(["127.0.0.1:0", "--grace", "30"]);
        let status = two_signals_with_stdout_blocked(cmd, &format!("{server:?}"));
        assert!(
            [Some(128 + SIGINT), Some(128 + SIGTERM)].contains(&status.code()),
            "{server:?}: {status:?}"
        );
    }
}

/// Lines from a pipe, read one at a time when the test asks, so that the test decides when
/// nobody reads any more.
struct PipeLines {
    ask: std::sync::mpsc::Sender<()>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl PipeLines {
    fn new(pipe: std::io::PipeReader) -> PipeLines {
        let (ask, asked) = std::sync::mpsc::channel::<()>();
        let (tx, lines) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            for () in asked {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || tx.send(line).is_err() {
                    break;
                }
            }
        });
        PipeLines { ask, lines }
    }

    fn next(&self) -> String {
        self.ask.send(()).unwrap();
        let line = self.lines.recv_timeout(STEP).expect("a line on stdout");
        line.trim_end().to_string()
    }
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The operator's terminal stops taking output (a paused `less`, Ctrl-S): the server blocks on
/// the next line it prints. The room must go on: chat_server prints without holding the room's
/// lock (it used to print "Client Address" holding it, so that one blocked print froze every
/// conversation). chat_server.py cannot: its print blocks its only thread, the event loop.
#[test]
fn with_its_stdout_blocked_the_room_goes_on() {
    for server in [Server::Threads, Server::Tokio] {
        eprintln!("{server:?}");
        let mut cmd = server.command().unwrap();
        let (reader, writer) = std::io::pipe().expect("a pipe");
        let filler = writer.try_clone().unwrap();
        cmd.arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::null());
        let child = KillOnDrop(cmd.spawn().expect("start the server"));
        drop(cmd);
        let stdout = PipeLines::new(reader);
        let addr: SocketAddr = stdout.next().parse().expect("the address");
        let mut a = Client::join(addr, 1);
        let mut b = Client::join(addr, 2);
        a.expect(&joined(&b.name));
        for _ in 0..2 {
            assert!(stdout.next().starts_with("Client Address: "));
        }
        // Nobody reads the server's stdout any more, and it is full.
        fill_pipe(&filler)
            .recv_timeout(STEP)
            .expect("fill the pipe");
        // A newcomer: the server blocks printing its Client Address (chat_server after it has
        // let the newcomer in, chat_tokio before).
        let c = tcp_connect(addr);
        let newcomer = joined(&c.local_addr().unwrap().to_string());
        let pid = child.0.id();
        wait_until(&format!("{server:?} blocks on its stdout"), || {
            blocked_in_pipe_write(pid)
        });
        a.send("还有人在吗\n".as_bytes());
        b.send("在\n".as_bytes());
        let (a_name, b_name) = (a.name.clone(), b.name.clone());
        for (client, other) in [(&mut a, b_name), (&mut b, a_name)] {
            let mut line = client.line();
            if line == newcomer {
                line = client.line();
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            assert!(
                line.starts_with(&format!("{other}: ")),
                "{server:?}: the room stopped: {line:?}"
            );
        }
    }
}

/// A server that accepts and at once resets the connection (SO_LINGER 0, then close): the
/// client must not say "is the server running? is the address right?". Depending on when the
/// reset comes, its non-blocking connect reports it (ECONNRESET) or its first read does.
#[test]
fn chat_client_tells_a_reset_from_a_refused_connection() {
    const TRIES: usize = 5;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let resetter = thread::spawn(move || {
        for _ in 0..TRIES {
            let (conn, _) = listener.accept().unwrap();
            socket2::SockRef::from(&conn)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
    });
    for _ in 0..TRIES {
        let mut cmd = example("chat_client");
        cmd.arg(addr.to_string());
        // Its stdin stays open (a pipe nobody writes to): only the reset ends it.
        let (stdin, keep_open) = std::io::pipe().unwrap();
        let client = Proc::spawn_with_stdin(cmd, stdin);
        let out = client.finish();
        drop(keep_open);
        assert_eq!(out.status.code(), Some(1), "{out:#?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:#?}");
        assert!(
            out.stderr.contains("复位") || out.stderr.contains("reset by peer"),
            "{out:#?}"
        );
        assert!(!out.stderr.contains("服务器启动了吗"), "{out:#?}");
    }
    resetter.join().unwrap();
}
