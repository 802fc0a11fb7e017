//! Bad input to the programs: one clear line on stderr, a non-zero exit, never a panic.

mod common;

use std::net::{TcpListener, UdpSocket};

use common::*;

const PROGRAMS: [&str; 5] = [
    "tcp_echo_server",
    "tcp_echo_server_socket2",
    "tcp_echo_client",
    "udp_echo_server",
    "udp_echo_client",
];

/// Every IP program of Part I, with the demos.
const ALL: [&str; 8] = [
    "tcp_echo_server",
    "tcp_echo_server_socket2",
    "dual_stack_server",
    "tcp_echo_client",
    "udp_echo_server",
    "udp_echo_client",
    "tcp_echo",
    "udp_echo",
];

#[test]
fn an_address_that_does_not_parse() {
    for name in PROGRAMS {
        for bad in ["not-an-address", "127.0.0.1", "127.0.0.1:99999", "::1:80"] {
            let mut cmd = example(name);
            cmd.arg(bad);
            run(cmd, b"").assert_clean_failure(&format!("无法解析地址 `{bad}`"));
        }
    }
}

#[test]
fn unbracketed_ipv6_is_rejected_with_a_hint() {
    // `::1:80` is itself a valid IPv6 address; the clients would resolve it as host `::1`,
    // port 80, if they did not refuse it.
    for name in PROGRAMS {
        let mut cmd = example(name);
        cmd.arg("::1:80");
        let out = run(cmd, b"");
        out.assert_clean_failure("无法解析地址 `::1:80`");
        if name.ends_with("client") {
            assert!(out.stderr.contains("方括号"), "{out:#?}");
        }
    }
}

#[test]
fn servers_take_an_ip_address_and_say_so() {
    for name in [
        "tcp_echo_server",
        "tcp_echo_server_socket2",
        "udp_echo_server",
    ] {
        let mut cmd = example(name);
        cmd.arg("localhost:0");
        run(cmd, b"").assert_clean_failure("不接受主机名");
    }
}

#[test]
fn help_prints_the_usage_and_exits_0() {
    // Before: `-h` was taken for an address (or, by the demos, ignored).
    for name in ALL {
        for flag in ["-h", "--help"] {
            let mut cmd = example(name);
            cmd.arg(flag);
            let out = run(cmd, b"");
            out.assert_success();
            assert!(
                out.stdout.starts_with(&format!("用法：{name}")),
                "{name} {flag}: {out:#?}"
            );
            assert_eq!(out.stderr, "", "{name} {flag}: {out:#?}");
        }
    }
}

#[test]
fn an_unknown_option() {
    for name in ALL {
        let mut cmd = example(name);
        cmd.arg("--verbose");
        let needle = if name.ends_with("_echo") {
            "不接受参数"
        } else {
            "不认识的选项 --verbose"
        };
        run(cmd, b"").assert_clean_failure(needle);
    }
}

#[test]
fn too_many_arguments() {
    for name in PROGRAMS {
        let mut cmd = example(name);
        cmd.args(["127.0.0.1:0", "extra"]);
        run(cmd, b"").assert_clean_failure("参数太多");
    }
}

#[test]
fn a_tcp_port_already_in_use() {
    // Before: the hint guessed "端口可能已被占用" whatever the cause; now it names the cause.
    for (name, taken) in [
        ("tcp_echo_server", "127.0.0.1:0"),
        ("tcp_echo_server_socket2", "127.0.0.1:0"),
        ("dual_stack_server", "[::1]:0"),
    ] {
        let taken = TcpListener::bind(taken).unwrap();
        let addr = taken.local_addr().unwrap();
        let mut cmd = example(name);
        cmd.arg(addr.to_string());
        let out = run(cmd, b"");
        out.assert_clean_failure(&format!("无法绑定 {addr}（端口已被占用"));
        assert!(out.stderr.contains("Address already in use"), "{out:#?}");
    }
}

#[test]
fn a_udp_port_already_in_use() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cmd = example("udp_echo_server");
    cmd.arg(addr.to_string());
    run(cmd, b"").assert_clean_failure(&format!("无法绑定 {addr}（端口已被占用"));
}

#[test]
fn an_address_that_is_not_on_this_machine() {
    // 192.0.2.1 and 2001:db8::1 are documentation addresses (RFC 5737, RFC 3849): no machine
    // has them, so bind fails with EADDRNOTAVAIL. No packet is sent. Before: the hint said
    // the port might be in use.
    for (name, addr) in [
        ("tcp_echo_server", "192.0.2.1:0"),
        ("tcp_echo_server_socket2", "192.0.2.1:0"),
        ("udp_echo_server", "192.0.2.1:0"),
        ("dual_stack_server", "[2001:db8::1]:0"),
    ] {
        let mut cmd = example(name);
        cmd.arg(addr);
        let out = run(cmd, b"");
        out.assert_clean_failure(&format!("无法绑定 {addr}（本机没有这个 IP 地址"));
    }
}

#[test]
fn a_refused_connection() {
    // A socket that is bound but not listening holds the port, so no other test can take it,
    // and every connection to it is refused.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut cmd = example("tcp_echo_client");
    cmd.arg(addr.to_string());
    let out = run(cmd, b"hello\n");
    out.assert_clean_failure(&format!("无法连接 {addr}"));
    assert!(out.stderr.contains("Connection refused"), "{out:#?}");
}

#[test]
fn clients_refuse_port_0_with_a_reason() {
    // Port 0 means "any port" only when binding. Before: the UDP client waited for a reply and
    // then failed with `Invalid argument`; the TCP client said the connection was refused.
    for name in ["tcp_echo_client", "udp_echo_client"] {
        let mut cmd = example(name);
        cmd.arg("127.0.0.1:0");
        run(cmd, b"hello\n").assert_clean_failure("端口 0");
    }
}

#[test]
fn the_udp_client_says_why_a_line_is_too_long_for_a_datagram() {
    let server = udp_socket("127.0.0.1:9".parse().unwrap());
    let addr = server.local_addr().unwrap();
    let mut cmd = example("udp_echo_client");
    cmd.arg(addr.to_string());
    let line = format!("{}\n", "a".repeat(70_000));
    run(cmd, line.as_bytes()).assert_clean_failure("一个数据报最多 65507 字节");
}
