//! The programs of the chapter "再看 UDP：边界、丢失与连接" (book/udp-in-depth.md), run as
//! processes on loopback: the boundaries demo, the receive-buffer demo, the client that matches
//! replies by request ID (against fake servers driven by what they receive, against Part I's echo
//! servers and against the flaky server), the connect demo, and their Python counterparts.
//!
//! The ID client's tests use Part I's `udp_echo_server` too: `cargo test` at the root builds it;
//! with `cargo test -p part2`, build it first (`cargo build --examples`).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;

const BOUNDARIES: &str = "\
发送方发出 3 个数据报：5 字节、0 字节、33 字节
接收方 recv_from 3 次（缓冲区 2048 字节）：
  第 1 次：5 字节 \"hello\"
  第 2 次：0 字节 \"\"
  第 3 次：33 字节 \"边界还在，不会粘在一起\"
比缓冲区长的数据报：发出 3000 字节，接收方的缓冲区只有 1024 字节
  recv_from 得到 1024 字节：其余 1976 字节被丢弃了
  下一次 recv_from 得到 4 字节 \"next\"：是下一个数据报，不是剩下的字节
  recvmsg：得到 1024 字节，标志里有 MSG_TRUNC（数据报被截断了）
  recv 加上 MSG_TRUNC 标志（Linux）：返回 3000，数据报原本的长度
";

// ---------------------------------------------------------------------------------------------
// Datagram boundaries.

#[test]
fn three_datagrams_arrive_as_three_of_the_same_sizes_and_a_long_one_is_cut() {
    let out = run(example("udp_boundaries"), b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    assert_eq!(out.stdout, BOUNDARIES, "{out:#?}");
}

#[test]
fn the_python_boundaries_demo_prints_the_same() {
    let Some(cmd) = python_part2("udp_boundaries.py") else {
        return;
    };
    let out = run(cmd, b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    assert_eq!(out.stdout, BOUNDARIES, "{out:#?}");
}

#[test]
fn python_recv_with_msg_trunc_returns_bytes_as_long_as_the_datagram() {
    // What the chapter warns about: Python's recv(1024, MSG_TRUNC) cuts its own 1024-byte buffer
    // to the returned length, 3000, so the bytes it returns are 3000 long (the tail is memory that
    // the kernel never wrote). recvfrom_into, which the Python demo uses, writes at most 1024.
    let Some(mut cmd) = python_plain() else {
        return;
    };
    cmd.args([
        "-c",
        "import socket\n\
         r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x' * 3000, r.getsockname())\n\
         r.settimeout(10); print(len(r.recv(1024, socket.MSG_TRUNC)))\n",
    ]);
    let out = run(cmd, b"");
    out.assert_success();
    assert_eq!(out.stdout, "3000\n", "{out:#?}");
}

// ---------------------------------------------------------------------------------------------
// The receive buffer, and a burst.

fn proc_setting(name: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
        .expect("a Linux /proc")
        .trim()
        .parse()
        .expect("a number")
}

/// The number right after `prefix` in `line`.
fn number_after(line: &str, prefix: &str) -> usize {
    let rest = &line[line
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} in {line:?}"))
        + prefix.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("a number after {prefix:?} in {line:?}"))
}

/// Checks what udp_rcvbuf (or its Python counterpart) printed against this machine's settings.
fn check_rcvbuf_output(stdout: &str) {
    let default = proc_setting("rmem_default");
    let max = proc_setting("rmem_max");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{stdout}");
    assert_eq!(lines[0], format!("net.core.rmem_default = {default}"));
    assert_eq!(lines[1], format!("net.core.rmem_max = {max}"));
    // man 7 socket: the kernel doubles the value set; rmem_max caps what is asked.
    for (line, want) in lines[2..5].iter().zip([8192, 1 << 20, 16 << 20]) {
        assert_eq!(
            *line,
            format!("SO_RCVBUF：要 {want} 字节，得到 {} 字节", 2 * want.min(max))
        );
    }
    let mut received = Vec::new();
    for (line, rcvbuf, which) in [
        (lines[5], default, "默认".to_string()),
        (
            lines[6],
            2 * (1 << 20usize).min(max),
            "要了 1048576".to_string(),
        ),
    ] {
        assert!(
            line.starts_with(&format!(
                "接收缓冲区 {rcvbuf} 字节（{which}）：发出 150 个，"
            )),
            "{line}"
        );
        let got = number_after(line, "收到 ");
        let lost = number_after(line, "丢失 ");
        assert_eq!(got + lost, 150, "{line}");
        assert!(got > 0, "{line}");
        // The ones that arrive are the first ones, sent while there was room.
        let seqs = if got == 1 {
            "（序号 0）".to_string()
        } else {
            format!("（序号 0～{}）", got - 1)
        };
        assert!(line.contains(&seqs), "{line}");
        received.push(got);
    }
    assert!(received[1] >= received[0], "{stdout}");
    // A 1000-byte datagram takes far less than 4000 bytes of buffer: with that much room for each,
    // the whole burst fits.
    if 2 * (1 << 20usize).min(max) >= 4 * 150 * 1000 {
        assert_eq!(received[1], 150, "{stdout}");
    }
}

#[test]
fn the_kernel_doubles_so_rcvbuf_caps_it_at_rmem_max_and_a_bigger_buffer_loses_less() {
    let out = run(example("udp_rcvbuf"), b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    check_rcvbuf_output(&out.stdout);
}

#[test]
fn the_python_rcvbuf_demo_prints_the_same() {
    let Some(cmd) = python_part2("udp_rcvbuf.py") else {
        return;
    };
    let python = run(cmd, b"");
    python.assert_success();
    assert_eq!(python.stderr, "", "{python:#?}");
    check_rcvbuf_output(&python.stdout);
    let rust = run(example("udp_rcvbuf"), b"");
    assert_eq!(python.stdout, rust.stdout);
}

// ---------------------------------------------------------------------------------------------
// Matching replies to requests with an ID.

/// A datagram from the test that tells a fake server to end.
const STOP: &[u8] = b"the test is over";

/// The request ID at the start of a datagram, if it has 4 bytes.
fn id_of(datagram: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(*datagram.first_chunk::<4>()?))
}

fn with_id(id: u32, body: &[u8]) -> Vec<u8> {
    let mut datagram = id.to_be_bytes().to_vec();
    datagram.extend_from_slice(body);
    datagram
}

/// A fake server with every trouble a UDP client meets, driven only by what it receives:
/// - request 1: the first copy is dropped; every later copy is answered;
/// - request 2: answered twice (a duplicate);
/// - request 3: before the answer come a late reply to request 1 with other text, a reply with
///   ID 3 from another address (a stranger), and a datagram too short to hold an ID;
/// - anything else is echoed.
///
/// It ends on [`STOP`] from `control` (or after [`IO_TIMEOUT`] of silence) and returns how many
/// copies of each request it received.
fn tricky_fake_server(control: SocketAddr) -> (SocketAddr, JoinHandle<BTreeMap<u32, u32>>) {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    fake.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let addr = fake.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut copies = BTreeMap::new();
        let mut buf = [0u8; 2048];
        while let Ok((n, client)) = fake.recv_from(&mut buf) {
            let datagram = &buf[..n];
            if client == control && datagram == STOP {
                break;
            }
            let id = id_of(datagram).expect("every request starts with an ID");
            let seen = copies.entry(id).or_insert(0);
            *seen += 1;
            match (id, *seen) {
                (1, 1) => {} // dropped
                (2, _) => {
                    fake.send_to(datagram, client).unwrap();
                    fake.send_to(datagram, client).unwrap();
                }
                (3, _) => {
                    fake.send_to(&with_id(1, b"a late reply"), client).unwrap();
                    stranger
                        .send_to(&with_id(3, b"from a stranger"), client)
                        .unwrap();
                    fake.send_to(&[0, 3], client).unwrap();
                    fake.send_to(datagram, client).unwrap();
                }
                _ => {
                    fake.send_to(datagram, client).unwrap();
                }
            }
        }
        copies
    });
    (addr, handle)
}

fn stop_fake<T>(control: &UdpSocket, fake: SocketAddr, handle: JoinHandle<T>) -> T {
    control.send_to(STOP, fake).unwrap();
    handle.join().expect("the fake server")
}

/// Runs an ID client (Rust or Python) against the tricky fake server: exactly one correct reply
/// per line, in order, within a bounded time, and every trouble noted on stderr.
fn id_client_survives_loss_late_replies_duplicates_and_strangers(mut client: Command) {
    let control = udp_socket("127.0.0.1:0".parse().unwrap());
    let (addr, handle) = tricky_fake_server(control.local_addr().unwrap());
    client.args(["--timeout", "0.5", "--retries", "5", &addr.to_string()]);
    let started = Instant::now();
    let out = run(client, "one\ntwo\nthree\n".as_bytes());
    let took = started.elapsed();
    let copies = stop_fake(&control, addr, handle);

    out.assert_echoed("one\ntwo\nthree\n");
    for needle in [
        "（编号 1：0.5 秒内没有回复，第 1 次重发）",
        "（收到编号 2 的回复，等的是编号 3：迟到或重复的回复，忽略）",
        "（收到编号 1 的回复，等的是编号 3：迟到或重复的回复，忽略）",
        "不是服务器发的，忽略）",
        "（收到一个只有 2 字节的回复，放不下编号，忽略）",
    ] {
        assert!(
            out.stderr.contains(needle),
            "stderr lacks {needle:?}: {out:#?}"
        );
    }
    assert!(copies[&1] >= 2, "request 1 was not sent again: {copies:?}");
    assert!(
        copies.keys().eq([1, 2, 3].iter()),
        "requests seen: {copies:?}"
    );
    // One timeout of 0.5 s, and no more: the client does not wait for what it already has.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn the_id_client_prints_exactly_one_right_reply_per_line() {
    id_client_survives_loss_late_replies_duplicates_and_strangers(example("udp_id_client"));
}

#[test]
fn the_python_id_client_prints_exactly_one_right_reply_per_line() {
    if let Some(cmd) = python_part2("udp_id_client.py") {
        id_client_survives_loss_late_replies_duplicates_and_strangers(cmd);
    }
}

/// A fake server that never answers and counts the copies of each request it receives.
fn silent_fake_server(control: SocketAddr) -> (SocketAddr, JoinHandle<BTreeMap<u32, u32>>) {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    fake.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let addr = fake.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut copies = BTreeMap::new();
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = fake.recv_from(&mut buf) {
            if from == control && &buf[..n] == STOP {
                break;
            }
            *copies.entry(id_of(&buf[..n]).unwrap()).or_insert(0) += 1;
        }
        copies
    });
    (addr, handle)
}

fn id_client_gives_up_after_its_retries(mut client: Command) {
    let control = udp_socket("127.0.0.1:0".parse().unwrap());
    let (addr, handle) = silent_fake_server(control.local_addr().unwrap());
    client.args(["--timeout", "0.1", "--retries", "2", &addr.to_string()]);
    let out = run(client, b"a\nb\n");
    let copies = stop_fake(&control, addr, handle);
    out.assert_success();
    assert_eq!(out.stdout, "", "{out:#?}");
    assert_eq!(
        copies,
        BTreeMap::from([(1, 3), (2, 3)]),
        "each request sent once and retried twice: {out:#?}"
    );
    for id in [1, 2] {
        assert!(
            out.stderr
                .contains(&format!("（编号 {id}：发了 3 次，都没有收到回复")),
            "{out:#?}"
        );
    }
    assert_eq!(
        out.stderr.matches("秒内没有回复，第 ").count(),
        4,
        "{out:#?}"
    );
}

#[test]
fn the_id_client_gives_up_after_its_retries_and_goes_on() {
    id_client_gives_up_after_its_retries(example("udp_id_client"));
}

#[test]
fn the_python_id_client_gives_up_after_its_retries_and_goes_on() {
    if let Some(cmd) = python_part2("udp_id_client.py") {
        id_client_gives_up_after_its_retries(cmd);
    }
}

const LINES: &str = "hello\n你好，世界\n\nTrue\n";

/// Ends Part I's UDP echo server with the datagram `True`; returns what it printed.
fn stop_echo_server(server: Proc, addr: SocketAddr) -> Finished {
    udp_socket(addr).send_to(b"True", addr).unwrap();
    let out = server.finish();
    out.assert_success();
    out
}

#[test]
fn the_id_client_works_with_part_one_echo_server_because_the_echo_carries_the_id() {
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    let out = run_example_client("udp_id_client", addr, LINES.as_bytes());
    out.assert_echoed(LINES);
    assert_eq!(out.stderr, "", "{out:#?}");
    // The line `True` went with its ID in front, so it did not end the server.
    let out = stop_echo_server(server, addr);
    assert_eq!(
        out.stdout.lines().skip(1).collect::<Vec<_>>(),
        [
            "Receive String: \\0\\0\\0\\u{1}hello",
            "Receive String: \\0\\0\\0\\u{2}你好，世界",
            "Receive String: \\0\\0\\0\\u{3}",
            "Receive String: \\0\\0\\0\\u{4}True",
        ],
        "{out:#?}"
    );
}

#[test]
fn the_python_id_client_works_with_the_rust_echo_server() {
    let Some(mut client) = python_part2("udp_id_client.py") else {
        return;
    };
    let (server, addr) = start_example("udp_echo_server", "127.0.0.1:0");
    client.arg(addr.to_string());
    let out = run(client, LINES.as_bytes());
    out.assert_echoed(LINES);
    assert_eq!(out.stderr, "", "{out:#?}");
    stop_echo_server(server, addr);
}

#[test]
fn the_rust_id_client_works_with_the_python_echo_server() {
    let Some(mut cmd) = python("udp_echo_server.py") else {
        return;
    };
    cmd.arg("127.0.0.1:0");
    let (server, addr) = start_server(cmd);
    let out = run_example_client("udp_id_client", addr, LINES.as_bytes());
    out.assert_echoed(LINES);
    assert_eq!(out.stderr, "", "{out:#?}");
    stop_echo_server(server, addr);
}

// ---------------------------------------------------------------------------------------------
// The flaky server, with both ID clients.

const FLAKY_INPUT: &str = "hello\n你好\n第三行\n";

/// What an ID client says on stderr against the flaky server with FLAKY_INPUT and the default
/// one-second timeout: request 1's first copy is dropped, its second answered twice; request 2 is
/// answered once; request 3's first copy is dropped, its second answered twice.
const FLAKY_NOTES: &str = "\
（编号 1：1 秒内没有回复，第 1 次重发）
（收到编号 1 的回复，等的是编号 2：迟到或重复的回复，忽略）
（编号 3：1 秒内没有回复，第 1 次重发）
";

fn check_flaky_server_log(out: &Finished, client_port: Option<u16>) {
    let lines: Vec<String> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| match l.split_once("，来自 ") {
            Some((head, tail)) => {
                let (from, what) = tail.split_once('，').unwrap();
                if let Some(port) = client_port {
                    assert!(from.ends_with(&format!(":{port}")), "{l}");
                }
                format!("{head}，{what}")
            }
            None => l.to_string(),
        })
        .collect();
    assert_eq!(
        lines,
        [
            "第 1 个数据报：9 字节，丢掉，不回复",
            "第 2 个数据报：9 字节，回复两次",
            "第 3 个数据报：10 字节，回复一次",
            "第 4 个数据报：13 字节，丢掉，不回复",
            "第 5 个数据报：13 字节，回复两次",
        ],
        "{out:#?}"
    );
}

fn id_client_against_flaky_server(server: Command, client: Command) {
    let (server, addr) = start_server(server);
    let mut client = client;
    client.arg(addr.to_string());
    let out = run(client, FLAKY_INPUT.as_bytes());
    out.assert_echoed(FLAKY_INPUT);
    assert_eq!(out.stderr, FLAKY_NOTES, "{out:#?}");
    let log = server.stop();
    check_flaky_server_log(&log, None);
}

fn flaky_rust(addr: &str) -> Command {
    let mut cmd = example("udp_flaky_echo_server");
    cmd.arg(addr);
    cmd
}

#[test]
fn the_flaky_server_drops_and_duplicates_and_the_id_client_copes() {
    id_client_against_flaky_server(flaky_rust("127.0.0.1:0"), example("udp_id_client"));
}

#[test]
fn the_python_id_client_copes_with_the_rust_flaky_server() {
    if let Some(client) = python_part2("udp_id_client.py") {
        id_client_against_flaky_server(flaky_rust("127.0.0.1:0"), client);
    }
}

#[test]
fn the_rust_id_client_copes_with_the_python_flaky_server() {
    if let Some(mut server) = python_part2("udp_flaky_echo_server.py") {
        server.arg("127.0.0.1:0");
        id_client_against_flaky_server(server, example("udp_id_client"));
    }
}

#[test]
fn the_python_id_client_copes_with_the_python_flaky_server() {
    if let (Some(mut server), Some(client)) = (
        python_part2("udp_flaky_echo_server.py"),
        python_part2("udp_id_client.py"),
    ) {
        server.arg("127.0.0.1:0");
        id_client_against_flaky_server(server, client);
    }
}

#[test]
fn the_flaky_server_and_the_id_client_work_over_ipv6() {
    let (server, addr) = start_server(flaky_rust("[::1]:0"));
    assert!(addr.is_ipv6(), "bound {addr}");
    let out = run_example_client("udp_id_client", addr, FLAKY_INPUT.as_bytes());
    out.assert_echoed(FLAKY_INPUT);
    let log = server.stop();
    assert!(log.stdout.contains("来自 [::1]:"), "{log:#?}");
    check_flaky_server_log(&log, None);
}

#[test]
fn the_flaky_server_counts_every_sender_and_echoes_whole_datagrams() {
    let (server, addr) = start_server(flaky_rust("127.0.0.1:0"));
    let a = udp_socket(addr);
    let b = udp_socket(addr);
    let big = vec![b'z'; 3000]; // longer than Part I's 1024-byte buffer: not cut here
    a.send_to(b"dropped", addr).unwrap();
    // The second datagram, from another sender, comes back twice, whole.
    assert_eq!(udp_roundtrip(&b, addr, &big), big);
    let mut buf = [0u8; 4096];
    let (n, _) = b.recv_from(&mut buf).expect("the duplicate");
    assert_eq!(&buf[..n], &big[..]);
    assert_eq!(udp_roundtrip(&a, addr, b"once"), b"once");
    let log = server.stop();
    let port_b = b.local_addr().unwrap().port();
    assert!(
        log.stdout.contains(&format!(
            "第 2 个数据报：3000 字节，来自 127.0.0.1:{port_b}，回复两次"
        )),
        "{log:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// connect on a UDP socket.

#[test]
fn after_connect_strangers_are_filtered_and_a_closed_port_is_refused_while_unconnected_only_times_out()
 {
    let out = run(example("udp_connect"), b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("服务器：127.0.0.1:"), "{out:#?}");
    assert_eq!(
        lines[1..],
        [
            "一、客户端 connect 到服务器，之后收发都不用写地址",
            "   send \"ping\"，recv 收到 \"ping\"",
            "二、一个陌生人往客户端的端口发数据报",
            "   陌生人的 recv：错误 Connection refused (os error 111)",
            "   服务器接着发来 \"pong\"，客户端的 recv：收到 \"pong\"",
            "三、往一个没有人收的端口发数据报",
            "   connect 过的套接字：send 成功；recv：错误 Connection refused (os error 111)",
            "   没有 connect 的套接字：send_to 成功；recv_from：1 秒内什么也没收到，也没有错误",
        ],
        "{out:#?}"
    );
}

#[test]
fn the_python_connect_demo_gets_connection_refused_error() {
    let Some(cmd) = python_part2("udp_connect.py") else {
        return;
    };
    let out = run(cmd, b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    let refused = "错误 ConnectionRefusedError: [Errno 111] Connection refused";
    assert_eq!(out.stdout.matches(refused).count(), 2, "{out:#?}");
    assert!(
        out.stdout.contains("客户端的 recv：收到 \"pong\"\n")
            && out
                .stdout
                .contains("recv_from：1 秒内什么也没收到，也没有错误\n"),
        "{out:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The command line, and programs whose reader goes away.

const DEMOS: [&str; 3] = ["udp_boundaries", "udp_rcvbuf", "udp_connect"];

#[test]
fn every_program_answers_help_on_stdout() {
    for name in DEMOS
        .iter()
        .chain(&["udp_id_client", "udp_flaky_echo_server"])
    {
        for help in ["-h", "--help"] {
            let mut cmd = example(name);
            cmd.arg(help);
            let out = run(cmd, b"");
            out.assert_success();
            assert!(out.stdout.starts_with(&format!("用法：{name}")), "{out:#?}");
            assert_eq!(out.stderr, "", "{out:#?}");
        }
    }
    for script in [
        "udp_boundaries.py",
        "udp_rcvbuf.py",
        "udp_connect.py",
        "udp_id_client.py",
        "udp_flaky_echo_server.py",
    ] {
        let Some(mut cmd) = python_part2(script) else {
            return;
        };
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        assert!(out.stdout.contains(".py"), "{out:#?}");
    }
}

#[test]
fn the_demos_take_no_arguments() {
    for name in DEMOS {
        for args in [
            &["127.0.0.1:0"][..],
            &["-h", "extra"][..],
            &["--verbose"][..],
        ] {
            let mut cmd = example(name);
            cmd.args(args);
            run(cmd, b"").assert_clean_failure("这个演示不接受参数");
        }
    }
}

#[test]
fn the_id_client_rejects_bad_arguments_with_one_line() {
    for (args, needle) in [
        (&["--timeout"][..], "--timeout 后面要跟秒数"),
        (&["--timeout", "0"][..], "--timeout 的值 `0` 不对"),
        (&["--timeout", "-1"][..], "--timeout 的值 `-1` 不对"),
        (&["--timeout", "NaN"][..], "--timeout 的值 `NaN` 不对"),
        (&["--timeout", "inf"][..], "--timeout 的值 `inf` 不对"),
        (&["--retries", "many"][..], "--retries 的值 `many` 不对"),
        (&["--retries"][..], "--retries 后面要跟次数"),
        (&["--verbose"][..], "不认识的选项 --verbose"),
        (&["127.0.0.1:1", "127.0.0.1:2"][..], "参数太多"),
        (&["::1:3214"][..], "IPv6 地址要放在方括号里"),
        (&["127.0.0.1"][..], "无法解析地址 `127.0.0.1`"),
        (&["127.0.0.1:99999"][..], "无法解析地址 `127.0.0.1:99999`"),
    ] {
        let mut cmd = example("udp_id_client");
        cmd.args(args);
        run(cmd, b"hello\n").assert_clean_failure(needle);
    }
}

#[test]
fn the_flaky_server_rejects_bad_addresses_with_one_line() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for (arg, needle) in [
        ("localhost:0".to_string(), "无法解析地址 `localhost:0`"),
        ("--port".to_string(), "不认识的选项 --port"),
        (format!("127.0.0.1:{port}"), "端口已被占用"),
        ("192.0.2.1:0".to_string(), "本机没有这个 IP 地址"),
    ] {
        let mut cmd = example("udp_flaky_echo_server");
        cmd.arg(&arg);
        run(cmd, b"").assert_clean_failure(needle);
    }
}

#[test]
fn the_demos_end_quietly_when_nobody_reads_their_output() {
    // `cargo run --example udp_boundaries | true`: a broken pipe is no reason to panic.
    for name in DEMOS {
        run_with_closed_stdout(example(name), b"").assert_quiet();
    }
    for script in ["udp_boundaries.py", "udp_rcvbuf.py", "udp_connect.py"] {
        if let Some(cmd) = python_part2(script) {
            run_with_closed_stdout(cmd, b"").assert_quiet();
        }
    }
}

/// An echo server in the test, until [`STOP`] from `control`.
fn fake_echo_server(control: SocketAddr) -> (SocketAddr, JoinHandle<()>) {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    fake.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let addr = fake.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = fake.recv_from(&mut buf) {
            if from == control && &buf[..n] == STOP {
                break;
            }
            let _ = fake.send_to(&buf[..n], from);
        }
    });
    (addr, handle)
}

#[test]
fn the_id_client_ends_quietly_when_nobody_reads_its_output() {
    // `udp_id_client | true`: its first reply meets a broken pipe. Before the say! macro, a
    // println! here panicked (exit 101).
    let control = udp_socket("127.0.0.1:0".parse().unwrap());
    let (addr, handle) = fake_echo_server(control.local_addr().unwrap());
    let mut clients = vec![example("udp_id_client")];
    clients.extend(python_part2("udp_id_client.py"));
    for mut client in clients {
        client.arg(addr.to_string());
        run_with_closed_stdout(client, b"one\ntwo\n").assert_quiet();
    }
    stop_fake(&control, addr, handle);
}

/// `SERVER 127.0.0.1:0 | head -1`, then datagrams: the server's next line meets a broken pipe, and
/// it must end quietly. One datagram is enough, except when a process that another test starts at
/// that very moment still holds a copy of the pipe's read end (between its fork and its exec): then
/// that first write succeeds. So the test sends another datagram every 200 ms, at most 50 times,
/// until the server ends.
fn server_ends_quietly_when_nobody_reads(mut cmd: Command) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the server");
    let stdout = child.stdout.take().unwrap();
    let (line_tx, line_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        drop(reader); // nobody reads from here on
        let _ = line_tx.send(line);
    });
    let mut err_pipe = child.stderr.take().unwrap();
    let (err_tx, err_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut text = String::new();
        let _ = err_pipe.read_to_string(&mut text);
        let _ = err_tx.send(text);
    });
    let first = line_rx.recv_timeout(STEP).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("no first line in time")
    });
    let addr: SocketAddr = first
        .trim_end()
        .parse()
        .expect("the first line is the address");
    let socket = udp_socket(addr);
    let mut stderr = None;
    for _ in 0..50 {
        socket.send_to(b"is anybody reading?", addr).unwrap();
        if let Ok(text) = err_rx.recv_timeout(Duration::from_millis(200)) {
            stderr = Some(text);
            break;
        }
    }
    let Some(stderr) = stderr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server went on after its reader had gone");
    };
    let status = child.wait().unwrap();
    Finished {
        status,
        stdout: String::new(),
        stderr,
    }
    .assert_quiet();
}

#[test]
fn the_flaky_server_ends_quietly_when_nobody_reads_its_output() {
    server_ends_quietly_when_nobody_reads(flaky_rust("127.0.0.1:0"));
    if let Some(mut cmd) = python_part2("udp_flaky_echo_server.py") {
        cmd.arg("127.0.0.1:0");
        server_ends_quietly_when_nobody_reads(cmd);
    }
}
