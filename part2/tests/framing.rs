//! The framing servers and clients of the byte-stream chapter (line_echo_*, frame_echo_*), and
//! their Python counterparts, run as processes on loopback: each server test runs against the Rust
//! server and against the Python one, and the clients run against both servers (interop both ways).
//!
//! Every server here serves until stopped; a test drives it with its own connections, reads the
//! one line per connection that it prints on stdout, and at the end stops it and checks that it
//! printed exactly one line on stderr per connection it had to close, saying why.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::transcript::Terminal;
use common::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    /// A message is a line that ends with `\n`.
    Line,
    /// A message is a 4-byte big-endian length, then that many bytes.
    Frame,
}

use Framing::{Frame, Line};

impl Framing {
    fn name(self) -> &'static str {
        match self {
            Line => "line",
            Frame => "frame",
        }
    }

    /// The option that sets the server's limit.
    fn limit_flag(self) -> &'static str {
        match self {
            Line => "--max-line",
            Frame => "--max-frame",
        }
    }

    /// A message on the wire.
    fn encode(self, payload: &[u8]) -> Vec<u8> {
        match self {
            Line => {
                assert!(!payload.contains(&b'\n'), "a line's payload has no \\n");
                [payload, b"\n"].concat()
            }
            Frame => {
                let len = u32::try_from(payload.len()).unwrap();
                [&len.to_be_bytes()[..], payload].concat()
            }
        }
    }

    /// The longest message that a server started with `limit` (the value of `limit_flag`)
    /// accepts, and one byte too long: --max-line counts the `\n`, --max-frame does not count
    /// the header.
    fn at_limit_and_over(self, limit: usize) -> (Vec<u8>, Vec<u8>) {
        let payload_len = match self {
            Line => limit - 1,
            Frame => limit,
        };
        (
            self.encode(&vec![b'a'; payload_len]),
            self.encode(&vec![b'b'; payload_len + 1]),
        )
    }
}

#[derive(Clone, Copy, Debug)]
enum Lang {
    Rust,
    Python,
}

use Lang::{Python, Rust};

const LANGS: [Lang; 2] = [Rust, Python];

/// The command for the server or client `role` of `framing`, in `lang`; None where python3 is
/// missing (said loudly).
fn program(framing: Framing, role: &str, lang: Lang) -> Option<Command> {
    let name = format!("{}_echo_{role}", framing.name());
    match lang {
        Rust => Some(example(&name)),
        Python => python_part2(&format!("{name}.py")),
    }
}

/// A server under test, started on 127.0.0.1:0 with `args`.
struct Server {
    label: String,
    proc: Proc,
    addr: SocketAddr,
}

impl Server {
    fn start(framing: Framing, lang: Lang, args: &[&str]) -> Option<Server> {
        Self::start_on(framing, lang, "127.0.0.1:0", args)
    }

    fn start_on(framing: Framing, lang: Lang, bind: &str, args: &[&str]) -> Option<Server> {
        let mut cmd = program(framing, "server", lang)?;
        cmd.arg(bind).args(args);
        let (proc, addr) = start_server(cmd);
        Some(Server {
            label: format!("{lang:?} {}_echo_server {args:?}", framing.name()),
            proc,
            addr,
        })
    }

    /// The server's next stdout line must say that it accepted `conn`.
    fn opened(&mut self, conn: &Conn) {
        let line = self.proc.next_line();
        let want = format!("Client Address: {}", conn.local);
        if line != want {
            self.proc
                .fail(&format!("{}: expected {want:?}, got {line:?}", self.label));
        }
    }

    /// The server's next stdout line must say that it closed `conn`.
    fn closed(&mut self, conn: &Conn) {
        let line = self.proc.next_line();
        let want = format!("连接关闭：{}", conn.local);
        if line != want {
            self.proc
                .fail(&format!("{}: expected {want:?}, got {line:?}", self.label));
        }
    }

    /// A client served after whatever happened before: one message, echoed, and a clean close.
    fn serves_the_next_client(&mut self, framing: Framing) {
        let mut conn = Conn::open(framing, self.addr);
        self.opened(&conn);
        conn.send(&framing.encode("下一个".as_bytes()));
        assert_eq!(
            conn.recv().as_deref(),
            Some(&framing.encode("下一个".as_bytes())[..]),
            "{}: the next client's echo",
            self.label
        );
        conn.half_close();
        conn.expect_end();
        self.closed(&conn);
    }

    /// Stops the server and checks its stderr: one line per closed connection, in order, each
    /// naming the client and containing the given words.
    fn stop(self, expected: &[(SocketAddr, &str)]) {
        let label = self.label;
        let out = self.proc.stop();
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("Traceback"),
            "{label}: the server crashed: {out:#?}"
        );
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            expected.len(),
            "{label}: expected one stderr line per closed connection: {out:#?}"
        );
        for (line, (addr, needle)) in lines.iter().zip(expected) {
            assert!(
                line.starts_with(&format!("断开 {addr}：")) && line.contains(needle),
                "{label}: expected a line about {addr} that says {needle:?}, got {line:?}"
            );
        }
    }
}

/// A connection from the test to a server, with every blocking call bounded.
struct Conn {
    framing: Framing,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    local: SocketAddr,
}

impl Conn {
    fn open(framing: Framing, addr: SocketAddr) -> Conn {
        Self::from_stream(framing, tcp_connect(addr))
    }

    fn from_stream(framing: Framing, stream: TcpStream) -> Conn {
        let reader = BufReader::new(stream.try_clone().unwrap());
        let local = stream.local_addr().unwrap();
        Conn {
            framing,
            stream,
            reader,
            local,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to the server");
    }

    fn half_close(&mut self) {
        self.stream.shutdown(Shutdown::Write).unwrap();
    }

    /// One whole echoed message, as it was on the wire; None at the end of the stream.
    fn recv(&mut self) -> Option<Vec<u8>> {
        match self.framing {
            Line => {
                let mut line = Vec::new();
                self.reader
                    .read_until(b'\n', &mut line)
                    .expect("read an echoed line");
                match line.last() {
                    None => None,
                    Some(b'\n') => Some(line),
                    Some(_) => panic!("the server sent half a line: {line:?}"),
                }
            }
            Frame => {
                let mut header = [0u8; 4];
                match self.reader.read(&mut header[..1]).expect("read a header") {
                    0 => return None,
                    _ => self
                        .reader
                        .read_exact(&mut header[1..])
                        .expect("read a header"),
                }
                let len = u32::from_be_bytes(header) as usize;
                let mut frame = header.to_vec();
                frame.resize(4 + len, 0);
                self.reader
                    .read_exact(&mut frame[4..])
                    .expect("read a frame");
                Some(frame)
            }
        }
    }

    /// The server closed the connection without sending anything more: the end of the stream,
    /// or a reset (the server closed with unread data in its receive buffer).
    fn expect_end(&mut self) {
        let mut buf = [0u8; 1];
        match read_retrying(&mut self.reader, &mut buf) {
            Ok(0) => {}
            Err(err) if err.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("expected the server to close the connection, got {other:?}"),
        }
    }

    /// Nothing arrives within a short while: the server has not echoed a partial message.
    fn expect_nothing_yet(&mut self) {
        self.stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1];
        match read_retrying(&mut self.reader, &mut buf) {
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("the server echoed before the message was complete: {other:?}"),
        }
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    }
}

fn both_framings_and_languages(test: impl Fn(Framing, Lang)) {
    for framing in [Line, Frame] {
        for lang in LANGS {
            test(framing, lang);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The servers.

#[test]
fn several_messages_in_one_write_come_back_as_separate_messages() {
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start(framing, lang, &[]) else {
            return;
        };
        let payloads: Vec<&[u8]> = vec![
            b"hello",
            "你好，世界".as_bytes(),
            b"",
            b"\xff\xfe not UTF-8 \x1b[31m\r",
            b"last",
        ];
        let mut conn = Conn::open(framing, server.addr);
        server.opened(&conn);
        let all: Vec<u8> = payloads.iter().flat_map(|p| framing.encode(p)).collect();
        conn.send(&all); // one write
        for payload in &payloads {
            assert_eq!(
                conn.recv(),
                Some(framing.encode(payload)),
                "{}",
                server.label
            );
        }
        conn.half_close();
        conn.expect_end();
        server.closed(&conn);
        server.stop(&[]);
    });
}

#[test]
fn one_message_split_over_many_writes_comes_back_whole() {
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start(framing, lang, &[]) else {
            return;
        };
        let message = framing.encode("你好，世界 hello".as_bytes());
        let mut conn = Conn::open(framing, server.addr);
        conn.stream.set_nodelay(true).unwrap(); // each write its own segment
        server.opened(&conn);
        let (most, last) = message.split_at(message.len() - 1);
        for byte in most {
            // byte by byte: the header, and each Chinese character, split across writes
            conn.send(std::slice::from_ref(byte));
        }
        conn.expect_nothing_yet();
        conn.send(last);
        assert_eq!(conn.recv(), Some(message), "{}", server.label);
        conn.half_close();
        conn.expect_end();
        server.closed(&conn);
        server.stop(&[]);
    });
}

#[test]
fn every_byte_value_and_chinese_text_are_echoed_byte_for_byte() {
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start(framing, lang, &[]) else {
            return;
        };
        let every_byte: Vec<u8> = (0..=255u8)
            .filter(|&b| framing == Frame || b != b'\n')
            .collect();
        let chinese = "字节流没有消息边界。".repeat(1000).into_bytes(); // 30 000 bytes
        let mut conn = Conn::open(framing, server.addr);
        server.opened(&conn);
        for payload in [&every_byte, &chinese] {
            let message = framing.encode(payload);
            conn.send(&message);
            assert_eq!(conn.recv(), Some(message), "{}", server.label);
        }
        conn.half_close();
        conn.expect_end();
        server.closed(&conn);
        server.stop(&[]);
    });
}

#[test]
fn a_message_over_the_limit_closes_that_connection_and_the_next_client_is_served() {
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start(framing, lang, &[framing.limit_flag(), "16"]) else {
            return;
        };
        let (fits, too_long) = framing.at_limit_and_over(16);
        let mut conn = Conn::open(framing, server.addr);
        server.opened(&conn);
        conn.send(&fits);
        assert_eq!(conn.recv(), Some(fits.clone()), "{}", server.label);
        conn.send(&too_long);
        conn.expect_end();
        server.closed(&conn);

        // An endless line (or a huge frame) from the next client: the server reads no more of it
        // than its limit, and closes the connection.
        let mut endless = Conn::open(framing, server.addr);
        server.opened(&endless);
        let flood = match framing {
            Line => vec![b'x'; 1 << 20],
            Frame => framing.encode(&vec![b'x'; 1 << 20]),
        };
        let _ = endless.stream.write_all(&flood); // may fail: the server closes early
        endless.expect_end();
        server.closed(&endless);

        server.serves_the_next_client(framing);
        server.stop(&[(conn.local, "上限"), (endless.local, "上限")]);
    });
}

/// Reads a field like `VmPeak:    12345 kB` from /proc/PID/status, in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_header_announcing_4_gib_is_refused_without_allocating() {
    for lang in LANGS {
        let Some(mut server) = Server::start(Frame, lang, &[]) else {
            continue;
        };
        let mut huge = Conn::open(Frame, server.addr);
        server.opened(&huge);
        huge.send(&[0xff, 0xff, 0xff, 0xff]); // 4 294 967 295 bytes, says the header
        huge.expect_end();
        server.closed(&huge);

        // One byte over the default limit of 1 MiB.
        let mut over = Conn::open(Frame, server.addr);
        server.opened(&over);
        over.send(&(1024 * 1024 + 1u32).to_be_bytes());
        over.expect_end();
        server.closed(&over);

        server.serves_the_next_client(Frame);
        // The largest the server's address space has ever been: a 4 GiB buffer, even one whose
        // pages were never touched (so that it never counted in VmRSS), would show here.
        let peak = proc_status_bytes(server.proc.pid(), "VmPeak:");
        assert!(
            peak < 1 << 30,
            "{}: the server's address space reached {peak} bytes",
            server.label
        );
        server.stop(&[(huge.local, "4294967295"), (over.local, "1048577")]);
    }
}

#[test]
fn the_idle_timeout_closes_a_silent_client_and_the_next_client_is_served() {
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start(framing, lang, &["--idle-timeout", "1"]) else {
            return;
        };
        // A client that connects and says nothing.
        let start = Instant::now();
        let mut silent = Conn::open(framing, server.addr);
        server.opened(&silent);
        silent.expect_end();
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(900),
            "{}: closed after only {waited:?}",
            server.label
        );
        server.closed(&silent);

        // A client that sends half a message and then nothing (slowloris, once).
        let mut half = Conn::open(framing, server.addr);
        server.opened(&half);
        let message = framing.encode(b"half a message");
        half.send(&message[..message.len() / 2]);
        half.expect_end();
        server.closed(&half);

        server.serves_the_next_client(framing);
        server.stop(&[(silent.local, "闲置超时"), (half.local, "闲置超时")]);
    });
}

#[test]
fn a_client_that_never_reads_its_echoes_is_closed_after_the_timeout() {
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start(framing, lang, &["--idle-timeout", "1"]) else {
            return;
        };
        // A small receive buffer, so that the server's echoes pile up in its own send buffer.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket
            .connect_timeout(&server.addr.into(), IO_TIMEOUT)
            .unwrap();
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut conn = Conn::from_stream(framing, stream);
        server.opened(&conn);
        let payload = vec![b'x'; 1020];
        let chunk: Vec<u8> = (0..64).flat_map(|_| framing.encode(&payload)).collect();
        // At most 64 MiB; the writes stop failing or blocking once the server gives up on us.
        for _ in 0..1024 {
            if conn.stream.write_all(&chunk).is_err() {
                break;
            }
        }
        // The server's line on stdout says it closed the connection, without our reading a byte.
        server.closed(&conn);
        server.serves_the_next_client(framing);
        server.stop(&[(conn.local, "发送超时")]);
    });
}

#[test]
fn a_client_that_disconnects_mid_message_is_closed_and_the_next_client_is_served() {
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start(framing, lang, &[]) else {
            return;
        };
        let mut expected = Vec::new();
        let message = framing.encode("没说完的话".as_bytes());
        // Half a message, then the end of the stream (FIN). For frames, also half a header.
        let mut cuts = vec![message.len() - 1];
        if framing == Frame {
            cuts.push(2);
        }
        for cut in cuts {
            let mut conn = Conn::open(framing, server.addr);
            server.opened(&conn);
            conn.send(&message[..cut]);
            conn.half_close();
            conn.expect_end(); // and nothing of the half message was echoed
            server.closed(&conn);
            expected.push((conn.local, "中间"));
        }
        // Half a message, then a reset (RST: SO_LINGER 0 and close).
        let mut conn = Conn::open(framing, server.addr);
        server.opened(&conn);
        conn.send(&message[..message.len() - 1]);
        let local = conn.local;
        socket2::SockRef::from(&conn.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(conn);
        let line = server.proc.next_line();
        assert_eq!(line, format!("连接关闭：{local}"), "{}", server.label);
        expected.push((local, "Connection reset by peer"));

        server.serves_the_next_client(framing);
        server.stop(&expected);
    });
}

#[test]
fn many_clients_one_after_another_one_line_each_when_opened_and_closed() {
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start(framing, lang, &[]) else {
            return;
        };
        for i in 0..30 {
            let mut conn = Conn::open(framing, server.addr);
            server.opened(&conn);
            let message = framing.encode(format!("第 {i} 个客户端").as_bytes());
            conn.send(&message);
            assert_eq!(conn.recv(), Some(message));
            if i % 2 == 0 {
                conn.half_close();
                conn.expect_end();
            } else {
                drop(conn.reader); // close without waiting: the server sees the end of the stream
                let local = conn.local;
                drop(conn.stream);
                let line = server.proc.next_line();
                assert_eq!(line, format!("连接关闭：{local}"), "{}", server.label);
                continue;
            }
            server.closed(&conn);
        }
        server.stop(&[]);
    });
}

#[test]
fn the_servers_listen_on_ipv6_too() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("!!! no IPv6 loopback here: SKIPPING the IPv6 test !!!");
        return;
    }
    both_framings_and_languages(|framing, lang| {
        let Some(mut server) = Server::start_on(framing, lang, "[::1]:0", &[]) else {
            return;
        };
        assert!(server.addr.is_ipv6(), "{}", server.label);
        server.serves_the_next_client(framing);
        server.stop(&[]);
    });
}

// ---------------------------------------------------------------------------------------------
// The clients, against both servers: Rust client to Python server, Python client to Rust server,
// and each with its own.

/// What the clients are given on stdin: several lines in one write (a pipe), Chinese, bytes that
/// are not UTF-8, control characters, an empty line, and a last line without a newline.
const INPUT: &[u8] = b"hello\n\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\n\n\
\xff\xfe\x1b[31m\tend\nno newline";
/// What they print: each echoed message on its own line, bad bytes as U+FFFD, control characters
/// escaped.
const PRINTED: &str = "hello\n你好，世界\n\n\u{fffd}\u{fffd}\\u{1b}[31m\\tend\nno newline\n";

#[test]
fn the_clients_print_each_echoed_message_on_its_own_line_against_both_servers() {
    for framing in [Line, Frame] {
        for server_lang in LANGS {
            let Some(mut server) = Server::start(framing, server_lang, &[]) else {
                continue;
            };
            for client_lang in LANGS {
                let Some(mut client) = program(framing, "client", client_lang) else {
                    continue;
                };
                client.arg(server.addr.to_string());
                let out = run(client, INPUT);
                assert!(
                    out.status.success() && out.stderr.is_empty(),
                    "{client_lang:?} client with {}: {out:#?}",
                    server.label
                );
                assert_eq!(
                    out.stdout, PRINTED,
                    "{client_lang:?} client with {}",
                    server.label
                );
                let opened = server.proc.next_line();
                let closed = server.proc.next_line();
                assert!(
                    opened.starts_with("Client Address: ") && closed.starts_with("连接关闭："),
                    "{}: {opened:?} {closed:?}",
                    server.label
                );
            }
            server.stop(&[]);
        }
    }
}

#[test]
fn the_clients_send_a_long_line_in_pieces_and_print_it_whole() {
    // 40 000 characters, 120 000 bytes: the clients read stdin and send in pieces of at most
    // 8 KiB (the line client) or as one frame (the frame client), and the echo arrives in pieces.
    let long = "长".repeat(40_000);
    let input = format!("{long}\nshort\n");
    for framing in [Line, Frame] {
        for server_lang in LANGS {
            let Some(server) =
                Server::start(framing, server_lang, &[framing.limit_flag(), "200000"])
            else {
                continue;
            };
            for client_lang in LANGS {
                let Some(mut client) = program(framing, "client", client_lang) else {
                    continue;
                };
                client.arg(server.addr.to_string());
                let out = run(client, input.as_bytes());
                assert!(
                    out.status.success() && out.stdout == input,
                    "{client_lang:?} client with {}: status {:?}, stderr {:?}, {} bytes out",
                    server.label,
                    out.status,
                    out.stderr,
                    out.stdout.len()
                );
            }
            server.stop(&[]);
        }
    }
}

#[test]
fn a_client_whose_message_is_over_the_limit_says_the_server_closed_the_connection() {
    for framing in [Line, Frame] {
        for server_lang in LANGS {
            let Some(server) = Server::start(framing, server_lang, &[framing.limit_flag(), "16"])
            else {
                continue;
            };
            for client_lang in LANGS {
                let Some(mut client) = program(framing, "client", client_lang) else {
                    continue;
                };
                client.arg(server.addr.to_string());
                let out = run(
                    client,
                    b"short\nthis line is much longer than sixteen bytes\n",
                );
                // The first line may or may not be echoed before the server closes: it was sent
                // in the same write as the long one, and the server may close with its echo
                // still unread by the client, which then sees a reset.
                assert!(
                    out.stdout.is_empty() || out.stdout == "short\n",
                    "{client_lang:?} client with {}: {out:#?}",
                    server.label
                );
                out.assert_clean_failure("服务器断开了连接");
            }
            let label = server.label.clone();
            let out = server.proc.stop();
            assert_eq!(out.stderr.lines().count(), 2, "{label}: {out:#?}");
        }
    }
}

#[test]
fn a_silent_client_is_closed_by_the_idle_timeout_and_says_so() {
    for framing in [Line, Frame] {
        for server_lang in LANGS {
            let Some(server) = Server::start(framing, server_lang, &["--idle-timeout", "1"]) else {
                continue;
            };
            for client_lang in LANGS {
                let Some(mut client) = program(framing, "client", client_lang) else {
                    continue;
                };
                client.arg(server.addr.to_string());
                // A terminal whose user types nothing: stdin stays open.
                let (stdout, stderr) = Terminal::spawn(client).finish();
                assert_eq!(stdout, "", "{client_lang:?} client with {}", server.label);
                assert_eq!(
                    stderr,
                    format!(
                        "错误：服务器断开了连接（一{}太长？闲置太久？原因在服务器的标准错误上）\n",
                        if framing == Line { "行" } else { "帧" }
                    ),
                    "{client_lang:?} client with {}",
                    server.label
                );
            }
            let label = server.label.clone();
            let out = server.proc.stop();
            assert_eq!(out.stderr.lines().count(), 2, "{label}: {out:#?}");
            assert!(out.stderr.contains("闲置超时"), "{label}: {out:#?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The command line, a closed stdout, and the bind errors (the Rust programs).

const PROGRAMS: [&str; 4] = [
    "line_echo_server",
    "line_echo_client",
    "frame_echo_server",
    "frame_echo_client",
];

#[test]
fn help_names_every_option_and_its_default() {
    for name in PROGRAMS {
        for flag in ["-h", "--help"] {
            let mut cmd = example(name);
            cmd.arg(flag);
            let out = run(cmd, b"");
            out.assert_success();
            assert!(
                out.stdout.starts_with(&format!("用法：{name} [地址]"))
                    && out.stdout.contains("127.0.0.1:3214")
                    && out.stderr.is_empty(),
                "{out:#?}"
            );
            if name.ends_with("server") {
                let limit = if name.starts_with("line") {
                    "--max-line 字节数"
                } else {
                    "--max-frame 字节数"
                };
                for needle in [limit, "--idle-timeout 秒数", "默认 60"] {
                    assert!(out.stdout.contains(needle), "{name}: {needle}: {out:#?}");
                }
            }
        }
    }
    for script in ["line_echo_server.py", "frame_echo_server.py"] {
        let Some(mut cmd) = python_part2(script) else {
            return;
        };
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        assert!(out.stdout.contains("--idle-timeout"), "{out:#?}");
    }
}

#[test]
fn bad_arguments_fail_with_one_line() {
    let cases: &[(&str, &[&str], &str)] = &[
        ("line_echo_server", &["--bogus"], "不认识的选项 --bogus"),
        (
            "line_echo_server",
            &["--max-line"],
            "--max-line 后面要写一个字节数",
        ),
        (
            "line_echo_server",
            &["--max-line", "0"],
            "1 到 67108864 之间的整数",
        ),
        (
            "line_echo_server",
            &["--max-line", "many"],
            "1 到 67108864 之间的整数",
        ),
        (
            "line_echo_server",
            &["--idle-timeout", "0"],
            "0.001 到 86400",
        ),
        (
            "line_echo_server",
            &["--idle-timeout", "-1"],
            "0.001 到 86400",
        ),
        (
            "line_echo_server",
            &["--idle-timeout", "soon"],
            "0.001 到 86400",
        ),
        (
            "line_echo_server",
            &["--idle-timeout", "inf"],
            "0.001 到 86400",
        ),
        ("line_echo_server", &["localhost:3214"], "无法解析地址"),
        (
            "line_echo_server",
            &["127.0.0.1:0", "127.0.0.1:0"],
            "参数太多",
        ),
        ("line_echo_server", &["192.0.2.1:0"], "本机没有这个 IP 地址"),
        (
            "frame_echo_server",
            &["--max-frame", "-1"],
            "0 到 67108864 之间的整数",
        ),
        (
            "frame_echo_server",
            &["--idle-timeout"],
            "--idle-timeout 后面要写一个秒数",
        ),
        (
            "frame_echo_server",
            &["192.0.2.1:0"],
            "本机没有这个 IP 地址",
        ),
        ("line_echo_client", &["--bogus"], "不认识的选项 --bogus"),
        ("line_echo_client", &["::1:3214"], "方括号"),
        ("frame_echo_client", &["a", "b"], "参数太多"),
        ("frame_echo_client", &["no-port"], "无法解析地址"),
    ];
    for (name, args, needle) in cases {
        let mut cmd = example(name);
        cmd.args(*args);
        run(cmd, b"").assert_clean_failure(needle);
    }
}

#[test]
fn a_server_whose_port_is_taken_says_so() {
    for name in ["line_echo_server", "frame_echo_server"] {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut cmd = example(name);
        cmd.arg(taken.local_addr().unwrap().to_string());
        run(cmd, b"").assert_clean_failure("端口已被占用");
    }
}

#[test]
fn a_client_with_no_server_says_so() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for name in ["line_echo_client", "frame_echo_client"] {
        let mut cmd = example(name);
        cmd.arg(port.to_string());
        run(cmd, b"hello\n").assert_clean_failure("无法连接");
    }
}

#[test]
fn the_programs_end_quietly_when_stdout_is_closed() {
    for framing in [Line, Frame] {
        // A server piped into `head -1`: its next line, for the next client, finds no reader.
        let mut cmd = program(framing, "server", Rust).unwrap();
        cmd.arg("127.0.0.1:0");
        let (head, first) = HeadOne::spawn(cmd, None);
        let addr: SocketAddr = first.parse().unwrap();
        let mut conn = Conn::open(framing, addr);
        conn.half_close();
        conn.expect_end();
        head.finish().assert_quiet();

        // A client piped into `head -1`, with a server that works.
        let server = Server::start(framing, Rust, &[]).unwrap();
        let mut cmd = program(framing, "client", Rust).unwrap();
        cmd.arg(server.addr.to_string());
        run_with_closed_stdout(cmd, b"one\ntwo\n").assert_quiet();
        server.proc.stop();
    }
}

#[test]
fn text_sent_to_the_frame_server_is_read_as_a_length() {
    // The byte-stream chapter's troubleshooting: "hell" read as a big-endian length.
    let mut server = Server::start(Frame, Rust, &[]).unwrap();
    let out = run_example_client("line_echo_client", server.addr, b"hello\n");
    out.assert_clean_failure("服务器断开了连接");
    let opened = server.proc.next_line();
    let local = opened.strip_prefix("Client Address: ").unwrap().to_string();
    server.proc.next_line();
    server.stop(&[(
        local.parse().unwrap(),
        "帧头声明的长度 1751477356 字节超过了上限",
    )]);
}

#[test]
fn the_clients_time_out_only_while_waiting_for_an_echo() {
    // Each client in its own thread: every case waits several seconds.
    std::thread::scope(|scope| {
        for framing in [Line, Frame] {
            for lang in LANGS {
                // A server that accepts the connection and then neither reads nor answers: after
                // "hello" the client waits for an echo, and gives up after its 5 seconds.
                scope.spawn(move || {
                    let Some(mut client) = program(framing, "client", lang) else {
                        return;
                    };
                    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    client.arg(listener.local_addr().unwrap().to_string());
                    let proc = Proc::spawn(client, Some(b"hello\n".to_vec()));
                    let (_held, _) = listener.accept().unwrap();
                    let out = proc.finish();
                    out.assert_clean_failure("接收回显失败：等了 5 秒，服务器没有响应");
                });
                // A real server with an idle timeout of 7 seconds, and a user who types nothing:
                // the client's 5 seconds pass without complaint (no echo is due), and it is the
                // server that closes the connection.
                scope.spawn(move || {
                    let Some(mut client) = program(framing, "client", lang) else {
                        return;
                    };
                    let server = Server::start(framing, Rust, &["--idle-timeout", "7"]).unwrap();
                    client.arg(server.addr.to_string());
                    let (stdout, stderr) = Terminal::spawn(client).finish();
                    assert_eq!(stdout, "", "{lang:?} {framing:?} client");
                    assert!(
                        stderr.starts_with("错误：服务器断开了连接"),
                        "{lang:?} {framing:?} client: {stderr:?}"
                    );
                    server.proc.stop();
                });
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Found by a hostile tester after the first version.

#[test]
fn a_header_announcing_60_mib_takes_memory_only_as_the_data_arrives() {
    for lang in LANGS {
        let Some(mut server) = Server::start(
            Frame,
            lang,
            &["--max-frame", "67108864", "--idle-timeout", "1"],
        ) else {
            continue;
        };
        // Within the limit of 64 MiB, so the server starts to read the payload: then silence.
        let mut slow = Conn::open(Frame, server.addr);
        server.opened(&slow);
        slow.send(&(60u32 << 20).to_be_bytes());
        slow.send(b"only a few bytes");
        slow.expect_end();
        server.closed(&slow);
        // The largest the server's address space has ever been: a buffer of the announced size,
        // even one whose pages were never touched, would show here.
        let peak = proc_status_bytes(server.proc.pid(), "VmPeak:");
        assert!(
            peak < 40 << 20,
            "{}: the server's address space reached {peak} bytes",
            server.label
        );
        server.serves_the_next_client(Frame);
        server.stop(&[(slow.local, "闲置超时")]);
    }
}

/// A server for the clients that echoes every byte it reads, and then, when the client has
/// half-closed, keeps the connection open without a word until the test lets it go.
fn echo_but_never_close() -> (SocketAddr, std::thread::JoinHandle<TcpStream>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => conn.write_all(&buf[..n]).unwrap(),
            }
        }
        conn
    });
    (addr, handle)
}

#[test]
fn the_clients_give_up_when_the_server_never_closes_after_the_input_ends() {
    std::thread::scope(|scope| {
        for framing in [Line, Frame] {
            for lang in LANGS {
                for (input, shown) in [(&b"one\ntwo\n"[..], "one\ntwo\n"), (b"", "")] {
                    scope.spawn(move || {
                        let Some(mut client) = program(framing, "client", lang) else {
                            return;
                        };
                        let (addr, server) = echo_but_never_close();
                        client.arg(addr.to_string());
                        let start = Instant::now();
                        let proc = Proc::spawn(client, Some(input.to_vec()));
                        let held = server.join().unwrap();
                        let out = proc.finish();
                        drop(held);
                        out.assert_clean_failure("服务器在 5 秒内没有关闭连接");
                        assert_eq!(out.stdout, shown, "{lang:?} {framing:?} client: {out:#?}");
                        let waited = start.elapsed();
                        assert!(
                            waited >= Duration::from_millis(4500),
                            "{lang:?} {framing:?} client gave up after only {waited:?}"
                        );
                    });
                }
            }
        }
    });
}

#[test]
fn the_frame_client_keeps_half_a_header_across_its_read_timeout() {
    std::thread::scope(|scope| {
        for lang in LANGS {
            scope.spawn(move || {
                let Some(mut client) = program(Frame, "client", lang) else {
                    return;
                };
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                client.arg(listener.local_addr().unwrap().to_string());
                // A user who types nothing: stdin stays open, so no echo is ever due.
                let (stdin, typing) = std::io::pipe().unwrap();
                let proc = Proc::spawn_with_stdin(client, stdin);
                let (mut conn, _) = listener.accept().unwrap();
                let frame = Frame.encode(b"hi");
                conn.write_all(&frame[..2]).unwrap();
                // Longer than the client's read timeout of 5 seconds: it fires mid-header.
                conn.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
                let mut buf = [0u8; 1];
                assert!(
                    conn.read(&mut buf).is_err(),
                    "{lang:?}: the client sent something"
                );
                conn.write_all(&frame[2..]).unwrap();
                drop(conn);
                let out = proc.finish();
                drop(typing);
                assert_eq!(out.stdout, "hi\n", "{lang:?} frame client: {out:#?}");
                out.assert_clean_failure("服务器断开了连接");
            });
        }
    });
}

#[test]
fn the_python_clients_escape_format_characters_like_the_rust_ones() {
    for framing in [Line, Frame] {
        let mut server = Server::start(framing, Rust, &[]).unwrap();
        for lang in LANGS {
            let Some(mut client) = program(framing, "client", lang) else {
                continue;
            };
            client.arg(server.addr.to_string());
            let out = run(client, "a\u{202e}b\u{200b}c\u{3000}d\"'\\\n".as_bytes());
            out.assert_success();
            assert_eq!(
                out.stdout, "a\\u{202e}b\\u{200b}c\\u{3000}d\"'\\\n",
                "{lang:?} {framing:?} client"
            );
            server.proc.next_line();
            server.proc.next_line();
        }
        server.stop(&[]);
    }
}

#[test]
fn the_python_timeouts_demo_ends_quietly_when_stdout_is_closed() {
    let Some(cmd) = python_part2("timeouts.py") else {
        return;
    };
    run_with_closed_stdout(cmd, b"").assert_quiet();
}

#[test]
fn bad_arguments_fail_with_one_line_in_both_languages() {
    let servers: &[(&[&str], &str)] = &[
        (&["--idle-timeout", "inf"], "0.001 到 86400"),
        (&["--idle-timeout", "1e300"], "0.001 到 86400"),
        (&["--idle-timeout", "1e10"], "0.001 到 86400"),
        (&["--idle-timeout", "1e-10"], "0.001 到 86400"),
        (&["--idle-timeout", "nan"], "0.001 到 86400"),
        (
            &["--idle-timeout", "127.0.0.1:0"],
            "--idle-timeout 后面要写一个秒数",
        ),
        (&["abc"], "无法解析地址"),
        (&["127.0.0.1:abc"], "无法解析地址"),
        (&["[::1]"], "无法解析地址"),
        (&["127.0.0.1:99999"], "无法解析地址"),
        (&["-x"], "不认识的选项 -x"),
        (&["192.0.2.1:0"], "本机没有这个 IP 地址"),
    ];
    let frame_only: &[(&[&str], &str)] = &[
        (&["--max-frame", "-1"], "0 到 67108864 之间的整数"),
        (&["--max-frame", "67108865"], "0 到 67108864 之间的整数"),
        (&["--max-frame", "4294967295"], "0 到 67108864 之间的整数"),
        (
            &["--max-frame", "99999999999999999999999"],
            "0 到 67108864 之间的整数",
        ),
    ];
    let clients: &[(&[&str], &str)] = &[
        (&["127.0.0.1:abc"], "无法解析地址"),
        (&["[::1]"], "无法解析地址"),
        (&["127.0.0.1:99999"], "无法解析地址"),
        (&["::1:3214"], "方括号"),
        (&["-x"], "不认识的选项 -x"),
        (&["a:1", "b:2"], "参数太多"),
    ];
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    for framing in [Line, Frame] {
        for lang in LANGS {
            let mut cases: Vec<(Vec<&str>, &str, &str)> = Vec::new();
            for (args, needle) in servers {
                cases.push((args.to_vec(), "server", needle));
            }
            cases.push((vec![taken.as_str()], "server", "端口已被占用"));
            if framing == Frame {
                for (args, needle) in frame_only {
                    cases.push((args.to_vec(), "server", needle));
                }
            }
            for (args, needle) in clients {
                cases.push((args.to_vec(), "client", needle));
            }
            for (args, role, needle) in cases {
                let Some(mut cmd) = program(framing, role, lang) else {
                    return;
                };
                cmd.args(&args);
                let out = run(cmd, b"");
                assert!(
                    !out.stderr.contains("Traceback"),
                    "{lang:?} {framing:?} {role} {args:?}: {out:#?}"
                );
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "{lang:?} {framing:?} {role} {args:?}: {out:#?}"
                );
                out.assert_clean_failure(needle);
            }
        }
    }
}

/// One `read`, repeated when a signal interrupts it (EINTR). A read with a timeout is never
/// restarted by the kernel, even after a stop and continue (signal(7)), so a test whose process
/// is stopped and continued would otherwise see `Interrupted` instead of data or a timeout.
fn read_retrying(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
