//! The terminal transcripts of the chapter 安全：攻击自己的服务器 (book/transcripts/security/),
//! made by running each attack for real against the naive server and against echo_hardened.
//! After a deliberate change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p security --test transcripts_security
//!
//! and read the diff. Normalized: the server's port is shown as 3214 and the clients' ports as
//! 54321, 54322, ... in the order they first appear; a temporary directory as /tmp. A server's
//! terminal shows its stdout and stderr through one pipe, in the order it wrote them. Control
//! characters that a naive server printed raw are shown in caret notation, as `cat -v` does (ESC
//! as ^[, BEL as ^G), so that the transcript itself stays printable.
//!
//! Needs the Part I and Part II examples (which `cargo test` at the root builds) and python3.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::transcript::{ServerTerminal, check, normalize_clients, shell};
use common::*;

type Made = Vec<(&'static str, String)>;

/// Runs the attack `name` with `args` against `server` (shown as its default, 127.0.0.1:3214)
/// and returns its transcript.
fn attacker(name: &str, server: SocketAddr, args: &[&str]) -> String {
    let mut cmd = example(name);
    cmd.arg(server.to_string()).args(args);
    let out = run(cmd, b"");
    out.assert_success();
    let shown = if args.is_empty() {
        format!("cargo run --example {name}")
    } else {
        format!("cargo run --example {name} -- {}", args.join(" "))
    };
    shell(&shown, &normalize_clients(&out.stdout, server.port()))
}

fn server(shown: &str, name: &str, args: &[&str]) -> ServerTerminal {
    let mut cmd = example(name);
    cmd.arg("127.0.0.1:0").args(args);
    ServerTerminal::start(shown, cmd)
}

/// Control characters in caret notation, as `cat -v` shows them (ESC as ^[, BEL as ^G), so a
/// transcript of what a naive server printed raw stays printable (and every font has the glyphs).
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' => c.to_string(),
            c if (c as u32) < 0x20 => format!("^{}", char::from(c as u8 + 0x40)),
            c => c.to_string(),
        })
        .collect()
}

/// Numbers in a line that starts with `prefix` are different on every run (how many bytes went
/// out before the server hung up, how long it took): shown as N.
fn blur(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with(prefix) {
                let mut out = String::new();
                let mut in_number = false;
                for c in line.chars() {
                    if c.is_ascii_digit() || (in_number && c == '.') {
                        if !in_number {
                            out.push('N');
                        }
                        in_number = true;
                    } else {
                        in_number = false;
                        out.push(c);
                    }
                }
                out
            } else {
                line.to_string()
            }
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn slowloris(made: &mut Made) {
    // Against the iterative server: it serves the silent connection, and nobody else.
    let mut naive = server("cargo run --example echo_iterative", "echo_iterative", &[]);
    let attack = attacker(
        "attack_slowloris",
        naive.addr,
        &["--connections", "1", "--seconds", "2"],
    );
    naive.wait_for("连接关闭");
    made.push(("slowloris_naive_attack", attack));
    made.push(("slowloris_naive_server", naive.transcript()));

    let mut hardened = server(
        "cargo run --example echo_hardened -- --idle 2 --line-deadline 1",
        "echo_hardened",
        &["--idle", "2", "--line-deadline", "1"],
    );
    let silent = attacker(
        "attack_slowloris",
        hardened.addr,
        &["--connections", "1", "--seconds", "3"],
    );
    hardened.wait_for("连接关闭");
    let trickle = attacker(
        "attack_slowloris",
        hardened.addr,
        &["--connections", "1", "--seconds", "3", "--trickle"],
    );
    hardened.wait_for("连接关闭");
    made.push(("slowloris_hardened_attack", format!("{silent}{trickle}")));
    made.push(("slowloris_hardened_server", hardened.transcript()));
}

fn endless_line(made: &mut Made) {
    let mut naive = server(
        "cargo run --example line_echo_server -- --max-line 67108864",
        "line_echo_server",
        &["--max-line", "67108864"],
    );
    let attack = attacker("attack_endless_line", naive.addr, &["--mib", "64"]);
    naive.wait_for("连接关闭");
    // The exact peak differs a little from run to run: the transcript says what is certain.
    let peak_kib = status_kib(naive.pid(), "VmHWM:");
    assert!(peak_kib > 48 * 1024, "VmHWM {peak_kib} KiB");
    let memory = shell(
        "grep VmHWM /proc/$(pgrep -f examples/line_echo_server)/status",
        "VmHWM:\t（超过 48 MiB）\n",
    );
    made.push(("endless_naive_attack", blur(&attack, "一共发出") + &memory));
    made.push(("endless_naive_server", naive.transcript()));

    let mut hardened = server("cargo run --example echo_hardened", "echo_hardened", &[]);
    let attack = attacker("attack_endless_line", hardened.addr, &["--mib", "64"]);
    hardened.wait_for("连接关闭");
    made.push(("endless_hardened_attack", blur(&attack, "一共发出")));
    made.push(("endless_hardened_server", hardened.transcript()));
}

fn flood(made: &mut Made) {
    let naive = server("cargo run --example echo_threads", "echo_threads", &[]);
    let mut text = attacker(
        "attack_flood",
        naive.addr,
        &["--connections", "200", "--seconds", "0"],
    );
    made.push(("flood_naive", std::mem::take(&mut text)));
    drop(naive);

    let hardened = server(
        "cargo run --example echo_hardened -- --max-clients 64",
        "echo_hardened",
        &["--max-clients", "64"],
    );
    let one = attacker("attack_flood", hardened.addr, &["--seconds", "0"]);
    let many = attacker(
        "attack_flood",
        hardened.addr,
        &["--connections", "100", "--sources", "100", "--seconds", "0"],
    );
    made.push(("flood_hardened", format!("{one}{many}")));
}

fn udp(made: &mut Made) {
    let mut naive = server(
        "cargo run --example udp_echo_server",
        "udp_echo_server",
        &[],
    );
    let attack = attacker("attack_udp_true", naive.addr, &[]);
    let status = naive.signal_and_wait(0);
    assert!(
        status.success(),
        "the UDP server ended on its own: {status:?}"
    );
    made.push(("udp_true_naive_attack", attack));
    made.push(("udp_true_naive_server", naive.transcript()));

    let hardened = server("cargo run --example echo_hardened", "echo_hardened", &[]);
    made.push((
        "udp_true_hardened",
        attacker("attack_udp_true", hardened.addr, &[])
            + &attacker("attack_reflect", hardened.addr, &[]),
    ));
    drop(hardened);

    let mut naive = server(
        "cargo run --example udp_echo_server",
        "udp_echo_server",
        &[],
    );
    let attack = attacker("attack_reflect", naive.addr, &["--bytes", "100"]);
    naive.wait_for("Receive String");
    made.push(("reflect_attack", attack));
    made.push(("reflect_server", naive.transcript()));
}

fn escape(made: &mut Made) {
    if let Some(mut python) = python("tcp_echo_server.py") {
        python.arg("127.0.0.1:0");
        let mut naive = ServerTerminal::start(
            "python3 examples/python/tcp_echo_server.py 127.0.0.1:3214",
            python,
        );
        let attack = attacker("attack_escape", naive.addr, &[]);
        let status = naive.signal_and_wait(0);
        assert!(status.success(), "{status:?}");
        made.push(("escape_attack", attack));
        // Python prints the client's address as a tuple: its port as 54321 too.
        let text = naive.transcript();
        let text = match text.split_once("('127.0.0.1', ") {
            Some((head, tail)) => {
                let port = tail.trim_start_matches(|c: char| c.is_ascii_digit());
                format!("{head}('127.0.0.1', 54321{port}")
            }
            None => text,
        };
        made.push(("escape_naive_server", visible(&text)));
    } else {
        made.push(("escape_attack", String::new()));
        made.push(("escape_naive_server", String::new()));
    }
    let mut hardened = server(
        "cargo run --example echo_hardened -- --log-lines",
        "echo_hardened",
        &["--log-lines"],
    );
    let _ = attacker("attack_escape", hardened.addr, &[]);
    hardened.wait_for("连接关闭");
    let text = hardened.transcript();
    assert!(!text.contains('\x1b'), "{text}");
    made.push(("escape_hardened_server", text));
}

fn refuse(made: &mut Made) {
    let mut cmd = example("attack_flood");
    cmd.arg("192.0.2.1:3214");
    let out = run(cmd, b"");
    out.assert_clean_failure("拒绝攻击");
    made.push((
        "refuse_outside",
        shell(
            "cargo run --example attack_flood -- 192.0.2.1:3214",
            &out.stderr,
        ),
    ));
}

/// `pid 4242` shown as `pid 12345`.
fn hide_pids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("pid ") {
        out.push_str(&rest[..at + 4]);
        rest = rest[at + 4..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push_str("12345");
    }
    out + rest
}

/// Part I's unix_echo_server started under umask 000, and a client of another user (nobody)
/// that it serves: the naive side of attack seven. Root only (to switch users).
fn unix_naive(made: &mut Made) {
    use std::os::unix::process::CommandExt;
    unsafe extern "C" {
        fn getuid() -> u32;
        fn umask(mask: u32) -> u32;
    }
    // SAFETY: getuid has no side effects.
    if unsafe { getuid() } != 0 {
        eprintln!("!!! not root: SKIPPING the transcript of another user's client !!!");
        made.push(("unix_naive_server", String::new()));
        made.push(("unix_naive_client", String::new()));
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = dir.path().join("socket-book-echo.sock");
    let shown_path = "/tmp/socket-book-echo.sock";
    let hide = |text: &str| text.replace(&path.display().to_string(), shown_path);
    let mut cmd = example("unix_echo_server");
    cmd.arg(&path);
    // SAFETY: umask is async-signal-safe, as pre_exec requires; it only changes the child's mask.
    unsafe {
        cmd.pre_exec(|| {
            umask(0);
            Ok(())
        });
    }
    let mut server = Proc::spawn(cmd, None);
    server.next_line();
    let mode = Command::new("stat")
        .args(["-c", "%A"])
        .arg(&path)
        .output()
        .expect("run stat");
    let mode = String::from_utf8_lossy(&mode.stdout).into_owned();
    assert!(mode.starts_with("srwxrwxrwx"), "{mode}");
    let mut other = example("unix_echo_client");
    other.arg(&path).uid(65534).gid(65534);
    let out = run(other, b"hello\n");
    out.assert_success();
    let log = server.finish();
    log.assert_success();
    made.push((
        "unix_naive_server",
        hide(&shell(
            &format!("(umask 000; cargo run --example unix_echo_server -- {shown_path})"),
            &log.stdout,
        )),
    ));
    made.push((
        "unix_naive_client",
        hide(
            &(shell(&format!("stat -c %A {shown_path}"), &mode)
                + &shell(
                    &format!("sudo -u nobody target/debug/examples/unix_echo_client {shown_path}"),
                    &format!("hello\n{}", out.stdout),
                )),
        ),
    ));
}

fn unix(made: &mut Made) {
    let dir = tempdir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = dir.path().join("socket-book-guarded.sock");
    let shown_path = "/tmp/socket-book-guarded.sock";
    let hide = |text: &str| text.replace(&path.display().to_string(), shown_path);
    let mut cmd = example("unix_guarded");
    cmd.arg(&path);
    let mut server = Proc::spawn(cmd, None);
    server.next_line();
    server.next_line();
    // The reader's own client: SO_PEERCRED names it.
    let mut client = example("unix_echo_client");
    client.arg(&path);
    let own = run(client, b"hello\n");
    own.assert_success();
    let mut text = shell(
        &format!("cargo run --example unix_echo_client -- {shown_path}"),
        &format!("hello\n{}", own.stdout),
    );
    // Another user, where this runs as root (elsewhere that part is skipped, loudly).
    // SAFETY: getuid has no side effects.
    unsafe extern "C" {
        fn getuid() -> u32;
    }
    if unsafe { getuid() } == 0 {
        use std::os::unix::process::CommandExt;
        let mut other = example("unix_echo_client");
        other.arg(&path).uid(65534).gid(65534);
        let out = run(other, b"hello\n");
        text += &shell(
            &format!("sudo -u nobody target/debug/examples/unix_echo_client {shown_path}"),
            &out.stderr,
        );
    } else {
        eprintln!("!!! not root: SKIPPING the transcript of another user's client !!!");
        made.push(("unix_clients", String::new()));
        made.push(("unix_server", String::new()));
        return;
    }
    while !server.next_line().starts_with("连接关闭") {}
    let log = server.stop();
    // The client's pid differs on every run: shown as 12345.
    let log = hide_pids(&log.stdout);
    made.push(("unix_clients", hide(&text)));
    made.push((
        "unix_server",
        hide(&shell(
            &format!("cargo run --example unix_guarded -- {shown_path}"),
            &log,
        )),
    ));
}

#[test]
fn security_transcripts() {
    let mut made = Made::new();
    slowloris(&mut made);
    endless_line(&mut made);
    flood(&mut made);
    udp(&mut made);
    escape(&mut made);
    refuse(&mut made);
    unix_naive(&mut made);
    unix(&mut made);
    check(
        "transcripts/security",
        made,
        "transcripts_security -p security",
    );
}
