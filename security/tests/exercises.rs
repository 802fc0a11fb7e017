//! The exercises of the chapter 安全：攻击自己的服务器: each solution does exactly what its
//! exercise asks, and the observation exercise's expected output is a transcript made here.
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p security --test exercises
//!
//! regenerates book/transcripts/exercises/security/.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;

use common::transcript::{check, normalize_clients, shell};
use common::*;

fn hardened(args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = example("echo_hardened");
    cmd.arg("127.0.0.1:0").args(args);
    start_server(cmd)
}

/// Exercise 1 (an observation): a flood from two source addresses against the default limits.
#[test]
fn ex_security_flood_from_two_sources_gets_twice_max_per_ip() {
    let (server, addr) = hardened(&[]);
    let mut cmd = example("attack_flood");
    cmd.arg(addr.to_string())
        .args(["--connections", "20", "--sources", "2", "--seconds", "0"]);
    let out = run(cmd, b"");
    out.assert_success();
    assert!(
        out.stdout.contains("服务器回显了 16 个，关闭了 4 个"),
        "{out:?}"
    );
    drop(server);
    check(
        "transcripts/exercises/security",
        vec![(
            "flood_two_sources",
            shell(
                "cargo run --example attack_flood -- --connections 20 --sources 2 --seconds 0",
                &normalize_clients(&out.stdout, addr.port()),
            ),
        )],
        "exercises -p security",
    );
}

fn python_security(script: &str) -> Option<std::process::Command> {
    let mut cmd = python_plain()?;
    cmd.arg("-u")
        .arg(root().join("security/examples/python").join(script))
        .env("PYTHONIOENCODING", "utf-8");
    Some(cmd)
}

/// Exercise 2: the note's server, printing safely. The same attack against the unmodified note
/// server prints ESC raw (tests/attacks.rs), and \xff crashes it (checked here too).
#[test]
fn ex_security_safe_log_prints_no_escape_and_survives_invalid_utf8() {
    let Some(mut cmd) = python_security("ex_security_safe_log.py") else {
        return;
    };
    cmd.arg("127.0.0.1:0");
    let (server, addr) = start_server(cmd);
    let mut attack = example("attack_escape");
    attack.arg(addr.to_string());
    run(attack, b"").assert_success();
    let out = server.finish();
    out.assert_success();
    assert!(!out.stdout.contains('\x1b'), "{out:?}");
    assert!(out.stdout.contains("hello\\x1b[2J"), "{out:?}");

    for (script, survives) in [
        ("ex_security_safe_log.py", true),
        ("tcp_echo_server.py", false),
    ] {
        let mut cmd = if survives {
            python_security(script).unwrap()
        } else {
            python(script).unwrap()
        };
        cmd.arg("127.0.0.1:0");
        let (server, addr) = start_server(cmd);
        let mut stream = tcp_connect(addr);
        stream.write_all(b"\xff\xfe\n").unwrap();
        // A well-behaved client: half-close, then read the echo to the end before closing.
        // Closing with the echo unread would send a reset, which the server's next recv sees.
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut echo = Vec::new();
        let _ = stream.read_to_end(&mut echo); // the naive server may die before echoing
        drop(stream);
        let out = server.finish();
        assert_eq!(out.status.success(), survives, "{script}: {out:?}");
        if survives {
            assert!(out.stdout.contains("Receive Data: ��\\n"), "{out:?}");
        } else {
            assert!(out.stderr.contains("UnicodeDecodeError"), "{out:?}");
        }
    }
}

/// Exercise 3: the slow reader is closed by echo_hardened's --idle, and kept forever by
/// echo_threads (which has no timeout).
#[test]
fn ex_security_slow_reader_is_closed_by_hardened_and_kept_by_threads() {
    let (server, addr) = hardened(&["--idle", "1"]);
    let mut cmd = example("ex_security_slow_reader");
    cmd.arg(addr.to_string());
    let out = run(cmd, b"");
    out.assert_success();
    // The server's own write stalled a little before ours did: "after" is at most --idle, and
    // not much less (the buffers fill within a few hundred milliseconds on loopback).
    let after: f64 = out
        .stdout
        .split("又过了 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("the server should close the slow reader: {out:?}"));
    assert!((0.2..5.0).contains(&after), "{out:?}");
    let log = server.stop();
    assert!(log.stderr.contains("1 秒没有读走回显（--idle）"), "{log:?}");

    let (server, addr) = start_example("echo_threads", "127.0.0.1:0");
    let mut cmd = example("ex_security_slow_reader");
    cmd.arg(addr.to_string()).args(["--seconds", "2"]);
    let out = run(cmd, b"");
    out.assert_success();
    assert!(out.stdout.contains("2 秒后连接还开着"), "{out:?}");
    drop(server);

    let mut cmd = example("ex_security_slow_reader");
    cmd.arg("192.0.2.1:3214");
    run(cmd, b"").assert_clean_failure("拒绝攻击");
}
