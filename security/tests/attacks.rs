//! Every attack of the chapter 安全：攻击自己的服务器, run as the reader runs it: against the
//! naive server (the attack does what the chapter says) and against echo_hardened (it keeps
//! serving an honest client within a normal latency, its peak memory stays bounded, and it says
//! the documented line on stderr).
//!
//! The honest client connects from 127.0.0.2: on a real network it has an address of its own,
//! and the attacker's address is the one that --max-per-ip limits.
//!
//! Needs the Part I and Part II examples (which `cargo test` at the root builds) and python3.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Socket, Type};

/// An honest echo on loopback takes well under a millisecond; on a busy 2-core machine with the
/// attack running beside it, a few tens. Against the naive servers it takes seconds (or never
/// comes), so this bound tells the two apart without depending on timing luck.
const HONEST_BOUND: Duration = Duration::from_millis(750);
/// Peak resident memory (VmHWM) that echo_hardened must stay under during any attack: its own
/// code and runtime take about 4 MiB here; 512 connections of 4 KiB buffers take 2 MiB more;
/// the naive line server of the endless-line test reaches 64 MiB.
const RSS_BOUND_KIB: u64 = 16 * 1024;

/// Starts echo_hardened on a free port with `args`.
fn hardened(args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = example("echo_hardened");
    cmd.arg("127.0.0.1:0").args(args);
    start_server(cmd)
}

/// An attack program against `target`, with `args`, running in the background.
fn attack(name: &str, target: SocketAddr, args: &[&str]) -> Proc {
    let mut cmd = example(name);
    cmd.arg(target.to_string()).args(args);
    Proc::spawn(cmd, None)
}

/// One honest round trip from 127.0.0.2: connect, send a line, read its echo. How long it took.
fn honest_echo(server: SocketAddr) -> Duration {
    let start = Instant::now();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 0)).into())
        .unwrap();
    socket
        .connect_timeout(&server.into(), IO_TIMEOUT)
        .expect("the honest client connects");
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    assert_eq!(tcp_roundtrip(&mut stream, b"hello\n"), b"hello\n");
    start.elapsed()
}

/// Five honest round trips while an attack runs; each must be within HONEST_BOUND. The slowest.
fn honest_during_attack(server: SocketAddr) -> Duration {
    let slowest = (0..5).map(|_| honest_echo(server)).max().unwrap();
    assert!(
        slowest < HONEST_BOUND,
        "an honest echo took {slowest:?} during the attack"
    );
    eprintln!("honest echo during the attack: slowest of 5 took {slowest:?}");
    slowest
}

fn peak_rss_is_bounded(server: &Proc) {
    let peak = status_kib(server.pid(), "VmHWM:");
    eprintln!("echo_hardened peak RSS (VmHWM): {peak} KiB");
    assert!(peak < RSS_BOUND_KIB, "peak RSS {peak} KiB");
}

/// Reads the server's stdout until `n` lines start with `prefix` (e.g. n connections accepted).
fn wait_for_lines(server: &mut Proc, prefix: &str, n: usize) {
    let mut seen = 0;
    while seen < n {
        if server.next_line().starts_with(prefix) {
            seen += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Slowloris: silent and trickling connections.

#[test]
fn slowloris_holds_the_iterative_server_so_an_honest_client_waits() {
    let (mut server, addr) = start_example("echo_iterative", "127.0.0.1:0");
    let attacker = attack(
        "attack_slowloris",
        addr,
        &["--connections", "1", "--seconds", "2"],
    );
    wait_for_lines(&mut server, "Client Address", 1); // the silent connection is being served
    let waited = honest_echo(addr);
    assert!(
        waited > Duration::from_secs(1),
        "the honest client should wait for the silent one to leave, took {waited:?}"
    );
    let out = attacker.finish();
    out.assert_success();
    assert!(out.stdout.contains("一个也没有关闭"), "{out:?}");
}

#[test]
fn slowloris_against_echo_hardened_is_closed_by_the_idle_timeout() {
    let (mut server, addr) = hardened(&["--idle", "1", "--line-deadline", "1"]);
    let attacker = attack(
        "attack_slowloris",
        addr,
        &["--connections", "50", "--seconds", "3"],
    );
    wait_for_lines(&mut server, "Client Address", 8);
    honest_during_attack(addr);
    let out = attacker.finish();
    out.assert_success();
    assert!(out.stdout.contains("服务器关闭了 50 个"), "{out:?}");
    peak_rss_is_bounded(&server);
    let log = server.stop();
    assert!(log.stderr.contains("1 秒没有收到数据（--idle）"), "{log:?}");
    assert!(
        log.stderr
            .contains("这个 IP 已经有 8 个连接（--max-per-ip）"),
        "{log:?}"
    );
}

#[test]
fn a_trickling_line_is_closed_by_the_line_deadline() {
    let (mut server, addr) = hardened(&["--line-deadline", "1"]);
    let attacker = attack(
        "attack_slowloris",
        addr,
        &["--connections", "4", "--seconds", "3", "--trickle"],
    );
    wait_for_lines(&mut server, "Client Address", 4);
    honest_during_attack(addr);
    let out = attacker.finish();
    out.assert_success();
    assert!(out.stdout.contains("服务器关闭了 4 个"), "{out:?}");
    let log = server.stop();
    assert!(
        log.stderr.contains("一行 1 秒还没收完（--line-deadline）"),
        "{log:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The endless line.

#[test]
fn an_endless_line_fills_a_server_whose_limit_is_too_high() {
    let mut cmd = example("line_echo_server");
    cmd.args(["127.0.0.1:0", "--max-line", "67108864"]);
    let (server, addr) = start_server(cmd);
    let before = status_kib(server.pid(), "VmHWM:");
    let out = attack("attack_endless_line", addr, &["--mib", "64"]).finish();
    out.assert_success();
    let after = status_kib(server.pid(), "VmHWM:");
    eprintln!("line_echo_server --max-line 64 MiB: VmHWM {before} -> {after} KiB");
    assert!(
        after > before + 48 * 1024,
        "the server should have taken the line into memory: VmHWM {before} -> {after} KiB"
    );
}

#[test]
fn an_endless_line_is_cut_at_max_line_by_echo_hardened() {
    let (server, addr) = hardened(&[]);
    let attackers: Vec<Proc> = (0..4)
        .map(|_| {
            attack(
                "attack_endless_line",
                addr,
                &["--mib", "64", "--seconds", "3"],
            )
        })
        .collect();
    honest_during_attack(addr);
    for attacker in attackers {
        let out = attacker.finish();
        out.assert_success();
        assert!(out.stdout.contains("服务器断开了连接"), "{out:?}");
    }
    peak_rss_is_bounded(&server);
    let log = server.stop();
    assert!(
        log.stderr
            .contains("一行超过 4096 字节还没有换行符（--max-line），开头是 \"xxxx"),
        "{log:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The connection flood.

#[test]
fn a_flood_gets_a_thread_each_from_echo_threads() {
    let (server, addr) = start_example("echo_threads", "127.0.0.1:0");
    let attacker = attack(
        "attack_flood",
        addr,
        &["--connections", "200", "--seconds", "3"],
    );
    let mut threads = 0;
    wait_until(
        "echo_threads runs a thread for each of 200 connections",
        || {
            threads = status_kib(server.pid(), "Threads:");
            threads > 200
        },
    );
    let out = attacker.finish();
    out.assert_success();
    assert!(
        out.stdout.contains("服务器回显了 200 个，关闭了 0 个"),
        "{out:?}"
    );
}

#[test]
fn a_flood_from_one_address_meets_max_per_ip() {
    let (mut server, addr) = hardened(&[]);
    let attacker = attack(
        "attack_flood",
        addr,
        &["--connections", "200", "--seconds", "3"],
    );
    wait_for_lines(&mut server, "Client Address", 8);
    honest_during_attack(addr);
    let out = attacker.finish();
    out.assert_success();
    assert!(
        out.stdout.contains("服务器回显了 8 个，关闭了 192 个"),
        "{out:?}"
    );
    peak_rss_is_bounded(&server);
    let log = server.stop();
    let refused = log.stderr.matches("（--max-per-ip）").count();
    assert_eq!(refused, 192, "{log:?}");
}

#[test]
fn a_flood_from_many_addresses_meets_max_clients() {
    let (server, addr) = hardened(&["--max-clients", "64"]);
    let out = attack(
        "attack_flood",
        addr,
        &["--connections", "100", "--sources", "100", "--seconds", "0"],
    )
    .finish();
    out.assert_success();
    assert!(
        out.stdout.contains("服务器回显了 64 个，关闭了 36 个"),
        "{out:?}"
    );
    let log = server.stop();
    assert_eq!(
        log.stderr.matches("（--max-clients）").count(),
        36,
        "{log:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// UDP: the `True` sentinel, and reflection.

fn udp_true_stops(server: Command, what: &str) {
    let (server, addr) = start_server(server);
    let out = attack("attack_udp_true", addr, &[]).finish();
    out.assert_success();
    assert!(
        out.stdout.contains("发送 True 之前：服务器回显了 \"ping\""),
        "{what}: {out:?}"
    );
    assert!(
        out.stdout.contains("发送 True 之后：连接被拒绝"),
        "{what}: {out:?}"
    );
    let ended = server.finish(); // the server has exited on its own
    assert!(ended.status.success(), "{what}: {ended:?}");
}

#[test]
fn the_true_datagram_from_another_process_stops_the_notes_servers() {
    udp_true_stops(server_on_port_0("udp_echo_server"), "udp_echo_server");
    if let Some(mut python) = python("udp_echo_server.py") {
        python.arg("127.0.0.1:0");
        udp_true_stops(python, "udp_echo_server.py");
    }
}

fn server_on_port_0(name: &str) -> Command {
    let mut cmd = example(name);
    cmd.arg("127.0.0.1:0");
    cmd
}

#[test]
fn echo_hardened_offers_no_udp_to_stop_or_reflect() {
    let (server, addr) = hardened(&[]);
    let out = attack("attack_udp_true", addr, &[]).finish();
    out.assert_success();
    assert!(out.stdout.contains("发送 True 之前：连接被拒绝"), "{out:?}");
    // An unconnected UDP socket is not told of the ICMP port unreachable (udp(7)): no answer.
    let out = attack("attack_reflect", addr, &[]).finish();
    out.assert_success();
    assert!(out.stdout.contains("1 秒内没有回答"), "{out:?}");
    honest_echo(addr);
    drop(server);
}

#[test]
fn a_udp_echo_server_replies_to_the_source_address_written_in_the_datagram() {
    let (server, addr) = start_server(server_on_port_0("udp_echo_server"));
    let out = attack("attack_reflect", addr, &["--bytes", "100"]).finish();
    out.assert_success();
    // The source address the program printed is the one the reply went to.
    let me = out
        .stdout
        .split("源地址是 ")
        .nth(1)
        .and_then(|rest| rest.split('（').next())
        .expect("the program names its own address");
    assert!(
        out.stdout
            .contains(&format!("收到 100 字节的回答：{addr} 把它发往 {me}")),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("放大倍数（回答 / 请求）：1.0"),
        "{out:?}"
    );
    drop(server);
}

// ---------------------------------------------------------------------------------------------
// Terminal escapes in the server's log.

const ESC: char = '\x1b';

#[test]
fn the_notes_python_server_prints_the_escapes_raw() {
    let Some(mut python) = python("tcp_echo_server.py") else {
        return;
    };
    python.arg("127.0.0.1:0");
    let (server, addr) = start_server(python);
    attack("attack_escape", addr, &[]).finish().assert_success();
    let out = server.finish(); // one client, then it ends, as in the note
    assert!(out.stdout.contains(&format!("{ESC}[2J")), "{out:?}");
}

#[test]
fn echo_hardened_and_the_rust_port_print_the_escapes_escaped() {
    let (mut server, addr) = hardened(&["--log-lines"]);
    attack("attack_escape", addr, &[]).finish().assert_success();
    wait_for_lines(&mut server, "连接关闭", 1);
    let out = server.stop();
    assert!(!out.stdout.contains(ESC), "{out:?}");
    assert!(out.stdout.contains("hello\\u{1b}[2J"), "{out:?}");

    let (server, addr) = start_server(server_on_port_0("tcp_echo_server"));
    attack("attack_escape", addr, &[]).finish().assert_success();
    let out = server.finish();
    assert!(!out.stdout.contains(ESC), "{out:?}");
    assert!(out.stdout.contains("hello\\u{1b}[2J"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// The attack programs only aim at loopback.

#[test]
fn the_attack_programs_refuse_targets_outside_loopback() {
    for name in [
        "attack_slowloris",
        "attack_endless_line",
        "attack_flood",
        "attack_udp_true",
        "attack_reflect",
        "attack_escape",
    ] {
        for target in [
            "10.0.0.1:80",
            "[2001:db8::1]:7",
            "[::ffff:127.0.0.1]:3214",
            "0.0.0.0:3214",
        ] {
            let mut cmd = example(name);
            cmd.arg(target);
            run(cmd, b"").assert_clean_failure("拒绝攻击");
        }
        let mut cmd = example(name);
        cmd.arg("localhost:3214");
        run(cmd, b"").assert_clean_failure("不接受主机名");
        let mut cmd = example(name);
        cmd.arg("--help");
        let out = run(cmd, b"");
        out.assert_success();
        assert!(out.stdout.starts_with("用法："), "{name} --help: {out:?}");
    }
}

#[test]
fn the_attack_programs_bound_their_counts_and_times() {
    for (name, args) in [
        ("attack_slowloris", ["--connections", "100000"]),
        ("attack_slowloris", ["--seconds", "3601"]),
        ("attack_endless_line", ["--mib", "100000"]),
        ("attack_flood", ["--connections", "5000"]),
        ("attack_flood", ["--sources", "1000"]),
        ("attack_reflect", ["--bytes", "70000"]),
    ] {
        let mut cmd = example(name);
        cmd.args(args);
        run(cmd, b"").assert_clean_failure(args[0]);
    }
}
