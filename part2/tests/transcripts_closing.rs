//! The terminal transcripts of the chapter 正确地关闭连接 (book/transcripts/closing/), made by
//! running the programs for real. After a deliberate change, regenerate them with
//!
//!     UPDATE_TRANSCRIPTS=1 cargo test -p part2 --test transcripts_closing
//!
//! and read the diff. Normalized: the server's port is shown as 3214 and the clients' ports as
//! 54321, 54322, ... in the order they connected; `ss`'s columns are squeezed to one space and
//! its socket lines sorted (the kernel lists them in hash order). Needs Part I's tcp_echo_server
//! and tcp_echo_client, which `cargo test` at the root builds.

mod closing_support;
#[path = "../../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::process::Command;

use closing_support::*;
use common::transcript::{check, shell};
use common::*;

/// The half-close client copies a file of random bytes through Part I's echo server, exactly:
/// the reader's terminal 2, with the real `head`, `wc` and `cmp` in a temporary directory.
fn half_close_copy() -> Vec<(&'static str, String)> {
    let dir = tempdir();
    let sh = |command: &str| {
        let out = Command::new("sh")
            .args(["-c", command])
            .current_dir(dir.path())
            .output()
            .expect("run sh");
        assert!(out.status.success(), "{command}: {out:?}");
        assert!(out.stderr.is_empty(), "{command}: {out:?}");
        shell(command, &String::from_utf8(out.stdout).unwrap())
    };
    let mut text = sh("head -c 10000000 /dev/urandom > big.bin");
    let copies: [(&str, Option<Command>); 2] = [
        (
            "cargo run --example half_close_client < big.bin > copy.bin",
            Some(example("half_close_client")),
        ),
        (
            "python3 part2/examples/python/half_close_client.py < big.bin > copy2.bin",
            python_part2("half_close_client.py"),
        ),
    ];
    for (shown, client) in copies {
        let Some(mut client) = client else {
            return vec![("half_close_copy", String::new())];
        };
        let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
        client.arg(addr.to_string());
        let output = if shown.contains("copy2") {
            "copy2.bin"
        } else {
            "copy.bin"
        };
        let (status, stderr) = run_with_files(
            client,
            &dir.path().join("big.bin"),
            &dir.path().join(output),
            std::time::Duration::from_secs(60),
        );
        assert!(status.success() && stderr.is_empty(), "{shown}: {stderr}");
        server.finish().assert_success();
        text.push_str(&shell(shown, ""));
    }
    text.push_str(&sh("wc -c big.bin copy.bin copy2.bin"));
    text.push_str(&sh(
        "cmp big.bin copy.bin && cmp big.bin copy2.bin && echo 完全一样",
    ));
    vec![("half_close_copy", text)]
}

/// Typing into the half-close client, line by line as a reader does, then Ctrl-D: both terminals.
fn half_close_typed() -> Vec<(&'static str, String)> {
    let (server, addr) = start_example("tcp_echo_server", "127.0.0.1:0");
    let mut client = {
        let mut cmd = example("half_close_client");
        cmd.arg(addr.to_string());
        Running::spawn(cmd)
    };
    let mut typed = String::new();
    for line in ["hello", "你好，半关闭"] {
        client.type_line(line);
        let echo = client.next_line();
        assert_eq!(echo, line);
        typed.push_str(&format!("{line}\n{echo}\n"));
    }
    client.end_input(); // Ctrl-D
    let (status, _, stderr) = client.finish();
    assert!(status.success() && stderr.is_empty(), "{stderr}");
    let out = server.finish();
    out.assert_success();
    let mut ports = Ports::new(addr.port());
    vec![
        (
            "half_close_server",
            shell(
                "cargo run --example tcp_echo_server",
                &ports.normalize(&out.stdout, ':'),
            ),
        ),
        (
            "half_close_client",
            shell("cargo run --example half_close_client", &typed),
        ),
    ]
}

/// rst_demo in Rust and in Python.
fn rst_demo() -> Vec<(&'static str, String)> {
    let out = run(example("rst_demo"), b"");
    out.assert_success();
    let port = first_port(&out.stdout);
    let rust = shell(
        "cargo run --example rst_demo",
        &Ports::new(port).normalize(&out.stdout, ':'),
    );
    let Some(cmd) = python_part2("rst_demo.py") else {
        return vec![("rst_demo", rust), ("rst_demo_python", String::new())];
    };
    let out = run(cmd, b"");
    out.assert_success();
    let port = first_port(&out.stdout);
    let python = shell(
        "python3 part2/examples/python/rst_demo.py",
        &Ports::new(port).normalize(&out.stdout, ':'),
    );
    vec![("rst_demo", rust), ("rst_demo_python", python)]
}

/// The port of the first `127.0.0.1:PORT` in `text`.
fn first_port(text: &str) -> u16 {
    text.split_once("127.0.0.1:")
        .and_then(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no 127.0.0.1:PORT in {text:?}"))
}

/// Two clients of close_wait_server (each `echo WORD | tcp_echo_client`), then `ss -tan state
/// close-wait` on the server's port. Returns the server's terminal (without its end), the
/// clients' terminal, the running server and the port map.
fn two_clients_then_ss(
    server_shown: &str,
    mut server_cmd: Command,
) -> (String, String, Running, SocketAddr, Ports) {
    server_cmd.arg("127.0.0.1:0");
    let mut server = Running::spawn(server_cmd);
    let addr: SocketAddr = server.next_line().parse().expect("an address first");
    let mut ports = Ports::new(addr.port());
    let mut server_text = format!("{addr}\n");
    let mut clients = String::new();
    for word in ["hello", "world"] {
        let mut cmd = example("tcp_echo_client");
        cmd.arg(addr.to_string());
        let out = run(cmd, format!("{word}\n").as_bytes());
        out.assert_echoed(&format!("{word}\n"));
        clients.push_str(&shell(
            &format!("echo {word} | cargo run --example tcp_echo_client"),
            &out.stdout,
        ));
        // The server logs the connection, then its end (after reading EOF): two lines each.
        for _ in 0..2 {
            server_text.push_str(&server.next_line());
            server_text.push('\n');
        }
    }
    let server_text = shell(server_shown, &ports.normalize(&server_text, ':'));
    let filter = format!("sport = :{}", addr.port());
    clients.push_str(&shell(
        "ss -tan state close-wait 'sport = :3214'",
        &ss(&["-tan", "state", "close-wait", &filter], &mut ports),
    ));
    (server_text, clients, server, addr, ports)
}

/// The server that forgets to close: two CLOSE-WAIT sockets, which go when the server is stopped.
/// Then the fixed server: none. And the half-close client, which waits for the FIN that the
/// forgetful server never sends.
fn close_wait() -> Vec<(&'static str, String)> {
    if !tool_available("ss") {
        return [
            "close_wait_server",
            "close_wait_clients",
            "close_wait_fixed_server",
            "close_wait_fixed_clients",
            "half_close_waits",
        ]
        .into_iter()
        .map(|name| (name, String::new()))
        .collect();
    }
    let shown = "cargo run --example close_wait_server";
    let (mut server_text, clients, mut server, addr, mut ports) =
        two_clients_then_ss(shown, example("close_wait_server"));
    assert_eq!(clients.matches("127.0.0.1:3214 127.0.0.1:5432").count(), 2);
    // Ctrl-C: the process ends, and the kernel closes what the server never closed.
    server.interrupt();
    let (_, _, stderr) = server.finish();
    assert!(stderr.is_empty(), "{stderr}");
    server_text.push_str("^C\n");
    let filter = format!("sport = :{}", addr.port());
    server_text.push_str(&shell(
        "ss -tan state close-wait 'sport = :3214'",
        &ss(&["-tan", "state", "close-wait", &filter], &mut ports),
    ));

    let mut fixed = example("close_wait_server");
    fixed.arg("--fixed");
    let (fixed_server, fixed_clients, server, _, _) =
        two_clients_then_ss("cargo run --example close_wait_server -- --fixed", fixed);
    assert_eq!(fixed_clients.matches("127.0.0.1:3214").count(), 0);
    drop(server);

    vec![
        ("close_wait_server", server_text),
        ("close_wait_clients", clients),
        ("close_wait_fixed_server", fixed_server),
        ("close_wait_fixed_clients", fixed_clients),
        ("half_close_waits", half_close_waits()),
    ]
}

/// `echo hello | half_close_client` against the forgetful server: the echo comes back, and then
/// the client waits for the server's FIN, which never comes, until the reader presses Ctrl-C.
fn half_close_waits() -> String {
    let mut server_cmd = example("close_wait_server");
    server_cmd.arg("127.0.0.1:0");
    let mut server = Proc::spawn(server_cmd, None);
    let addr = server.bound_addr();
    let mut client = {
        let mut cmd = example("half_close_client");
        cmd.arg(addr.to_string());
        Running::spawn(cmd)
    };
    client.type_line("hello");
    client.end_input(); // `echo hello |`: one line, then the end of the input
    assert_eq!(client.next_line(), "hello");
    let _opened = server.next_line();
    assert!(server.next_line().contains("服务器没有关闭这个连接"));
    // Only when its FIN has been acknowledged does nothing more happen: check that, then Ctrl-C.
    let mut ports = Ports::new(addr.port());
    let filter = port_filter(addr.port());
    ss_until(&["-tan", &filter], &mut ports, |text| {
        text.contains("FIN-WAIT-2") && text.contains("CLOSE-WAIT")
    });
    client.interrupt();
    let (status, stdout, stderr) = client.finish();
    assert!(!status.success() && stderr.is_empty(), "{stdout} {stderr}");
    shell(
        "echo hello | cargo run --example half_close_client",
        &format!("{stdout}^C\n"),
    )
}

#[test]
fn transcripts_of_the_closing_chapter_match_what_the_programs_print() {
    let mut made = half_close_copy();
    made.extend(half_close_typed());
    made.extend(rst_demo());
    made.extend(close_wait());
    check("transcripts/closing", made, "transcripts_closing");
}
