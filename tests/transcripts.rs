//! Every terminal transcript in the book lives in book/transcripts/*.txt and is made here, by
//! running the programs for real. A transcript that no longer matches what the programs print
//! fails the test. After a deliberate change, regenerate them all with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test --test transcripts
//!
//! and read the diff before committing it.
//!
//! Ports are normalized, because the tests bind port 0: the server's port becomes 3214 (what the
//! reader's server binds by default) and a client's ephemeral port becomes 54321. So are the few
//! other things that differ from run to run or machine to machine: temporary directories (shown as
//! /tmp), the repository's own path in Python's tracebacks (shown as SHOWN_ROOT), curl's version,
//! and the padding of `ss`'s columns. The preface tells the reader so, and names the transcripts
//! that read this machine's kernel settings.

mod common;

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::thread;

use common::transcript::{self, *};
use common::*;

fn demo(name: &str) -> String {
    let out = run(example(name), b"");
    out.assert_success();
    // The demos bind 127.0.0.1:0 themselves; their first line names the address they bound.
    let first = out.stdout.lines().next().unwrap_or_default();
    let port: u16 = first
        .split_once("127.0.0.1:")
        .map(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap_or("")
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no 127.0.0.1:PORT on the first line: {first:?}"));
    shell(
        &format!("cargo run --example {name}"),
        &normalize(&out.stdout, port),
    )
}

/// A demo whose output names no port.
fn demo_without_port(name: &str) -> String {
    let out = run(example(name), b"");
    out.assert_success();
    shell(&format!("cargo run --example {name}"), &out.stdout)
}

fn tcp_terminals() -> Vec<(&'static str, String)> {
    let (server, client) = two_terminals(
        (
            "cargo run --example tcp_echo_server",
            server_on_port_0("tcp_echo_server"),
        ),
        (
            "cargo run --example tcp_echo_client",
            client_of("tcp_echo_client"),
        ),
        &["hello", "你好，世界", "TCP 是字节流"],
        |_| {},
    );
    vec![("tcp_server", server), ("tcp_client", client)]
}

fn udp_terminals() -> Vec<(&'static str, String)> {
    let (server, client) = two_terminals(
        (
            "cargo run --example udp_echo_server",
            server_on_port_0("udp_echo_server"),
        ),
        (
            "cargo run --example udp_echo_client",
            client_of("udp_echo_client"),
        ),
        &["hello", "你好，世界", "True", "还在吗？"],
        |_| {},
    );
    vec![("udp_server", server), ("udp_client", client)]
}

fn python_tcp_server() -> Vec<(&'static str, String)> {
    let Some(mut cmd) = python("tcp_echo_server.py") else {
        return vec![("python_tcp_server", String::new())];
    };
    cmd.arg("127.0.0.1:0");
    let (server, _client) = two_terminals(
        (
            "python3 examples/python/tcp_echo_server.py 127.0.0.1:3214",
            cmd,
        ),
        (
            "cargo run --example tcp_echo_client",
            client_of("tcp_echo_client"),
        ),
        &["hello", "你好，世界"],
        |_| {},
    );
    vec![("python_tcp_server", server)]
}

fn python_udp_server() -> Vec<(&'static str, String)> {
    let Some(mut cmd) = python("udp_echo_server.py") else {
        return vec![("python_udp_server", String::new())];
    };
    cmd.arg("127.0.0.1:0");
    let (server, _client) = two_terminals(
        (
            "python3 examples/python/udp_echo_server.py 127.0.0.1:3214",
            cmd,
        ),
        (
            "cargo run --example udp_echo_client",
            client_of("udp_echo_client"),
        ),
        &["hello", "你好，世界"],
        |addr| {
            udp_socket(addr).send_to(b"True", addr).unwrap();
        },
    );
    vec![("python_udp_server", server)]
}

/// What the reader sees when something goes wrong.
fn errors() -> Vec<(&'static str, String)> {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut cmd = example("tcp_echo_server");
    cmd.arg(format!("127.0.0.1:{port}"));
    let in_use = run(cmd, b"");
    assert!(!in_use.status.success());

    let taken_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = taken_udp.local_addr().unwrap().port();
    let mut cmd = example("udp_echo_server");
    cmd.arg(format!("127.0.0.1:{udp_port}"));
    let udp_in_use = run(cmd, b"");
    assert!(!udp_in_use.status.success());

    // Bound but not listening: connections to it are refused.
    let closed = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    closed
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let closed_port = closed.local_addr().unwrap().as_socket().unwrap().port();
    let mut cmd = example("tcp_echo_client");
    cmd.arg(format!("127.0.0.1:{closed_port}"));
    let refused = run(cmd, b"hello\n");
    assert!(!refused.status.success());

    let mut cmd = example("tcp_echo_server");
    cmd.arg("localhost:3214");
    let bad = run(cmd, b"");
    assert!(!bad.status.success());

    vec![
        (
            "error_in_use",
            shell(
                "cargo run --example tcp_echo_server",
                &normalize(&in_use.stderr, port),
            ),
        ),
        (
            "error_udp_in_use",
            shell(
                "cargo run --example udp_echo_server",
                &normalize(&udp_in_use.stderr, udp_port),
            ),
        ),
        (
            "error_refused",
            shell(
                "cargo run --example tcp_echo_client",
                &normalize(&refused.stderr, closed_port),
            ),
        ),
        (
            "error_bad_address",
            shell(
                "cargo run --example tcp_echo_server -- localhost:3214",
                &bad.stderr,
            ),
        ),
    ]
}

/// `ss -ltn` (from iproute2) shows a listening socket's backlog in its Send-Q column.
fn backlog() -> Vec<(&'static str, String)> {
    if !tool_available("ss") {
        return vec![
            ("backlog_rust", String::new()),
            ("backlog_python", String::new()),
        ];
    }
    let python = python("tcp_echo_server.py").map(|mut cmd| {
        cmd.arg("127.0.0.1:0");
        cmd
    });
    let servers = [
        ("backlog_rust", Some(server_on_port_0("tcp_echo_server"))),
        ("backlog_python", python),
    ];
    servers
        .into_iter()
        .map(|(name, cmd)| match cmd {
            // The server is dropped (killed) after ss has looked at it: it never gets a client.
            Some(cmd) => (name, ss_listening(start_server(cmd).1)),
            None => (name, String::new()),
        })
        .collect()
}

/// A browser's request is bytes on a TCP connection: `curl` against the TCP echo server.
fn http_request() -> Vec<(&'static str, String)> {
    if !tool_available("curl") {
        return vec![("http_request", String::new())];
    }
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let curl = Command::new("curl")
        .args(["--silent", "--max-time", "5"])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("run curl");
    // The echo is not an HTTP response, so curl complains: that is the point.
    assert!(
        !curl.status.success(),
        "curl accepted an echo as HTTP: {curl:?}"
    );
    let out = server.finish();
    out.assert_success();
    // The server prints the request on one line, with `\r\n` escaped.
    let text = normalize(&out.stdout, addr.port());
    // curl names its own version in User-Agent; the book shows one version.
    let text = match text.split_once("User-Agent: curl/") {
        Some((before, after)) => {
            let version_end = after
                .find(|c: char| !c.is_ascii_digit() && c != '.')
                .unwrap_or(after.len());
            format!("{before}User-Agent: curl/7.88.1{}", &after[version_end..])
        }
        None => text,
    };
    vec![(
        "http_request",
        shell("cargo run --example tcp_echo_server", &text),
    )]
}

/// The kernel's cap on a listen backlog.
fn somaxconn() -> Vec<(&'static str, String)> {
    let path = "/proc/sys/net/core/somaxconn";
    let Ok(value) = std::fs::read_to_string(path) else {
        eprintln!("!!! {path} not readable (not Linux?): SKIPPING the somaxconn transcript !!!");
        return vec![("somaxconn", String::new())];
    };
    vec![("somaxconn", shell(&format!("cat {path}"), &value))]
}

/// What Linux does when the handshake's last ACK finds the accept queue full (0: drop it; the
/// SYN of a new connection to a full queue is dropped either way).
fn abort_on_overflow() -> Vec<(&'static str, String)> {
    let path = "/proc/sys/net/ipv4/tcp_abort_on_overflow";
    let Ok(value) = std::fs::read_to_string(path) else {
        eprintln!("!!! {path} not readable (not Linux?): SKIPPING this transcript !!!");
        return vec![("tcp_abort_on_overflow", String::new())];
    };
    vec![(
        "tcp_abort_on_overflow",
        shell(&format!("cat {path}"), &value),
    )]
}

/// Where the book says the repository is: Python prints the absolute path of its script in a
/// traceback, and the reader's clone is somewhere else than the test's.
const SHOWN_ROOT: &str = "/home/you/rust-server-socket";

fn shown_paths(text: &str) -> String {
    text.replace(&root().display().to_string(), SHOWN_ROOT)
}

/// The note's Python server dies on a character split across two reads: 400 × 你 is 1200
/// bytes, and its first `recv(1024)` ends in the middle of a character.
fn python_split_char() -> Vec<(&'static str, String)> {
    let Some(mut cmd) = python("tcp_echo_server.py") else {
        return vec![
            ("python_split_char_server", String::new()),
            ("python_split_char_client", String::new()),
        ];
    };
    cmd.arg("127.0.0.1:0");
    let (server, addr) = start_server(cmd);
    let line = format!("{}\n", "你".repeat(400));
    let client = run_example_client("tcp_echo_client", addr, line.as_bytes());
    assert!(!client.status.success(), "{client:#?}");
    let out = server.finish();
    assert!(!out.status.success(), "{out:#?}");
    assert!(out.stderr.contains("UnicodeDecodeError"), "{out:#?}");
    let server_text = format!("{}{}", out.stdout, shown_paths(&out.stderr));
    vec![
        (
            "python_split_char_server",
            shell(
                "python3 examples/python/tcp_echo_server.py 127.0.0.1:3214",
                &normalize(&server_text, addr.port()),
            ),
        ),
        (
            "python_split_char_client",
            shell(
                "python3 -c \"print('你' * 400)\" | cargo run --example tcp_echo_client",
                &normalize(&format!("{}{}", client.stdout, client.stderr), addr.port()),
            ),
        ),
    ]
}

/// `ss -tan state time-wait` for one local port, once the socket is there (within STEP): the
/// client closes after the server died, and then the server's side enters TIME_WAIT.
fn ss_time_wait(port: u16) -> String {
    let filter = format!("sport = :{port}");
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let out = Command::new("ss")
            .args(["-tan", "state", "time-wait", &filter])
            .output()
            .expect("run `ss` (Debian package iproute2)");
        assert!(out.status.success(), "ss failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        if text.lines().count() >= 2 {
            let squeezed: String = text
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
                .collect();
            return shell(
                "ss -tan state time-wait 'sport = :3214'",
                &normalize(&squeezed, port),
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no TIME_WAIT socket on port {port} in time:\n{text}"
        );
    }
}

/// A server with a client connected, stopped with Ctrl-C: the server's side closes first, so it
/// is the side left in TIME_WAIT once the client closes too. Then the same server is started again
/// on the same port. Returns the server terminal's transcript (without the restart) and the port.
fn stopped_first(shown: &str, cmd: Command) -> (String, u16) {
    let mut server = Terminal::spawn(cmd);
    let addr: SocketAddr = server.next_line().parse().expect("an address first");
    let mut client = Terminal::spawn({
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        cmd
    });
    client.type_line("hello");
    assert_eq!(client.next_line(), "hello");
    // The server echoes first and prints after: wait for its line (the note's Python server
    // spells it "Recieve Data") before Ctrl-C, or the echo could beat it.
    while !server.next_line().ends_with("Data: hello") {}
    let (stdout, stderr) = server.interrupt();
    // The client's Ctrl-D: it closes its side, after the server's.
    client.end_input();
    // The terminal echoes ^C; Python's traceback follows it on the same line.
    let after = if stderr.is_empty() { "\n" } else { "" };
    let text = format!("{stdout}^C{after}{}", shown_paths(&stderr));
    (shell(shown, &normalize(&text, addr.port())), addr.port())
}

/// SO_REUSEADDR and TIME_WAIT: the note's Python server cannot be restarted on its port for a
/// minute after it closed a connection first; the Rust server (std sets SO_REUSEADDR) can.
fn time_wait() -> Vec<(&'static str, String)> {
    let Some(mut python_cmd) = python("tcp_echo_server.py").filter(|_| tool_available("ss")) else {
        return vec![
            ("time_wait_python", String::new()),
            ("time_wait_rust", String::new()),
        ];
    };
    python_cmd.arg("127.0.0.1:0");
    let python_shown = "python3 examples/python/tcp_echo_server.py 127.0.0.1:3214";
    let (mut python_text, port) = stopped_first(python_shown, python_cmd);
    python_text.push_str(&ss_time_wait(port));
    let mut again = python("tcp_echo_server.py").unwrap();
    again.arg(format!("127.0.0.1:{port}"));
    let restart = run(again, b"");
    assert!(
        !restart.status.success() && restart.stderr.contains("Address already in use"),
        "the Python server should fail to bind past TIME_WAIT: {restart:#?}"
    );
    python_text.push_str(&shell(
        python_shown,
        &normalize(
            &format!("{}{}", restart.stdout, shown_paths(&restart.stderr)),
            port,
        ),
    ));

    let rust_shown = "cargo run --example tcp_echo_server";
    let (mut rust_text, port) = stopped_first(rust_shown, server_on_port_0("tcp_echo_server"));
    rust_text.push_str(&ss_time_wait(port));
    let (restarted, addr) = start_example("tcp_echo_server", &format!("127.0.0.1:{port}"));
    drop(restarted); // it bound the port again and waits for a client: enough
    rust_text.push_str(&shell(rust_shown, &normalize(&format!("{addr}\n"), port)));

    vec![
        ("time_wait_python", python_text),
        ("time_wait_rust", rust_text),
    ]
}

/// socket2's listen(5) shows as Send-Q 5.
fn backlog_socket2() -> Vec<(&'static str, String)> {
    if !tool_available("ss") {
        return vec![("backlog_socket2", String::new())];
    }
    let (_server, addr) = start_example("tcp_echo_server_socket2", "127.0.0.1:0");
    vec![("backlog_socket2", ss_listening(addr))]
}

/// `ss -ltn` for one listening port, columns squeezed, port normalized.
fn ss_listening(addr: SocketAddr) -> String {
    let filter = format!("sport = :{}", addr.port());
    let out = Command::new("ss")
        .args(["-ltn", &filter])
        .output()
        .expect("run `ss` (Debian package iproute2)");
    assert!(out.status.success(), "ss failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    // ss pads its columns; keep the header and the one listening socket, spaces squeezed.
    let squeezed: String = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    shell(
        "ss -ltn 'sport = :3214'",
        &normalize(&squeezed, addr.port()),
    )
}

/// IPv6 any with IPV6_V6ONLY off and on; the Linux default; the IPv4 port it takes.
fn dual_stack() -> Vec<(&'static str, String)> {
    let v4_client = |addr: SocketAddr| {
        let mut cmd = example("tcp_echo_client");
        cmd.arg(format!("127.0.0.1:{}", addr.port()));
        cmd
    };
    let mut server = example("dual_stack_server");
    server.arg("[::]:0");
    let (server_text, client_text) = two_terminals(
        ("cargo run --example dual_stack_server", server),
        (
            "cargo run --example tcp_echo_client -- 127.0.0.1:3214",
            v4_client,
        ),
        &["hello over IPv4"],
        |_| {},
    );

    let mut cmd = example("dual_stack_server");
    cmd.args(["[::]:0", "--v6only"]);
    let (mut v6only, addr) = start_server(cmd);
    let mode = v6only.next_line();
    let refused = run(v4_client(addr), b"hello\n");
    assert!(!refused.status.success());
    let v6only_text = shell(
        "cargo run --example dual_stack_server -- [::]:3214 --v6only",
        &normalize(&format!("{addr}\n{mode}\n"), addr.port()),
    );
    let refused_text = shell(
        "cargo run --example tcp_echo_client -- 127.0.0.1:3214",
        &normalize(&refused.stderr, addr.port()),
    );
    drop(v6only);

    let path = "/proc/sys/net/ipv6/bindv6only";
    let default = std::fs::read_to_string(path).expect("read bindv6only");
    let (_std_v6, addr) = start_example("tcp_echo_server", "[::]:0");
    let mut cmd = example("tcp_echo_server");
    cmd.arg(format!("127.0.0.1:{}", addr.port()));
    let in_use = run(cmd, b"");
    assert!(!in_use.status.success());
    vec![
        ("dual_stack_server", server_text),
        ("dual_stack_client", client_text),
        ("v6only_server", v6only_text),
        ("v6only_refused", refused_text),
        ("bindv6only", shell(&format!("cat {path}"), &default)),
        (
            "dual_stack_in_use",
            shell(
                "cargo run --example tcp_echo_server -- 127.0.0.1:3214",
                &normalize(&in_use.stderr, addr.port()),
            ),
        ),
    ]
}

/// AF_UNIX: the same two terminals, with a path in place of an address. The tests use a
/// temporary directory; the book shows the default path in /tmp.
fn unix_terminals() -> Vec<(&'static str, String)> {
    let dir = tempdir();
    let tmp = dir.path().display().to_string();
    let shown = |text: &str| text.replace(&tmp, "/tmp");
    let mut all = Vec::new();
    for (server_name, client_name, file, typed, names) in [
        (
            "unix_echo_server",
            "unix_echo_client",
            "socket-book-echo.sock",
            &["hello", "你好，AF_UNIX"][..],
            ("unix_server", "unix_client"),
        ),
        (
            "unix_datagram_server",
            "unix_datagram_client",
            "socket-book-dgram.sock",
            &["hello", "你好，AF_UNIX", "True"][..],
            ("unix_datagram_server", "unix_datagram_client"),
        ),
    ] {
        let path = dir.path().join(file);
        let mut cmd = example(server_name);
        cmd.arg(&path);
        let mut server = Proc::spawn(cmd, None);
        assert_eq!(server.next_line(), path.display().to_string());
        let mut client = example(client_name);
        client.arg(&path);
        let client_text = typed_session(client, typed);
        let out = server.finish();
        out.assert_success();
        let server_text = out.stdout; // includes the first line, read above
        all.push((
            names.0,
            shell(
                &format!("cargo run --example {server_name}"),
                &shown(&server_text),
            ),
        ));
        all.push((
            names.1,
            shell(
                &format!("cargo run --example {client_name}"),
                &shown(&client_text),
            ),
        ));
    }

    // A socket file left behind by a server that was killed: the next server removes it.
    let path = dir.path().join("socket-book-echo.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let mut cmd = example("unix_echo_server");
    cmd.arg(&path);
    let mut server = Proc::spawn(cmd, None);
    server.next_line();
    let mut client = example("unix_echo_client");
    client.arg(&path);
    run(client, b"").assert_success();
    let out = server.finish();
    out.assert_success();
    // The server writes its stderr note before it binds and prints the path.
    let text = format!("{}{}", out.stderr, out.stdout);
    all.push((
        "unix_stale",
        shell("cargo run --example unix_echo_server", &shown(&text)),
    ));
    all
}

fn all_transcripts() -> Vec<(&'static str, String)> {
    type Generator = fn() -> Vec<(&'static str, String)>;
    // The dual-stack transcripts connect an IPv4 client to the port of a v6-only socket, which
    // the system chose free of IPv6 sockets only: they run alone, before the others start
    // listening on 127.0.0.1.
    let mut all = dual_stack();
    let generators: [Generator; 18] = [
        || vec![("tcp_echo", demo("tcp_echo"))],
        || vec![("udp_echo", demo("udp_echo"))],
        || vec![("backlog_full", demo("backlog_full"))],
        || vec![("udp_loss", demo("udp_loss"))],
        || vec![("address_forms", demo_without_port("address_forms"))],
        abort_on_overflow,
        python_split_char,
        time_wait,
        tcp_terminals,
        udp_terminals,
        python_tcp_server,
        python_udp_server,
        errors,
        backlog,
        http_request,
        somaxconn,
        backlog_socket2,
        unix_terminals,
    ];
    // Independent of each other (every server on its own port or path): run them side by side,
    // so that the UDP clients' two-second waits for lost replies overlap.
    thread::scope(|scope| {
        let running: Vec<_> = generators.map(|g| scope.spawn(g)).into_iter().collect();
        for r in running {
            all.extend(r.join().expect("a transcript generator panicked"));
        }
    });
    all
}

#[test]
fn transcripts_in_the_book_match_what_the_programs_print() {
    transcript::check("transcripts", all_transcripts(), "transcripts");
}

#[test]
fn normalize_rewrites_only_ports_after_loopback_addresses() {
    let text = "127.0.0.1:40000\nClient Address: 127.0.0.1:51234\n('127.0.0.1', 51234)\n\
                [::1]:40000 1024 bytes :40000";
    assert_eq!(
        normalize(text, 40000),
        "127.0.0.1:3214\nClient Address: 127.0.0.1:54321\n('127.0.0.1', 54321)\n\
         [::1]:3214 1024 bytes :40000"
    );
}
