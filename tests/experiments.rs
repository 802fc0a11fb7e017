//! The experiments that back the book's corrections to the note: a full backlog on Linux makes
//! `connect` wait and time out (it is not refused), and UDP loses datagrams on loopback when the
//! receiver's buffer is full. Each runs as the reader runs it, `cargo run --example NAME`.

mod common;

use common::*;

/// The lines of `stdout` that contain `needle`.
fn count(stdout: &str, needle: &str) -> usize {
    stdout.lines().filter(|l| l.contains(needle)).count()
}

/// The number that follows `label` on the line that starts with it, e.g. "丢失：93 个".
fn number_after(stdout: &str, label: &str) -> usize {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no line starting with {label:?} in:\n{stdout}"));
    line.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in:\n{stdout}"))
}

#[test]
#[cfg(target_os = "linux")]
fn a_full_backlog_makes_connect_time_out_on_linux_and_admits_backlog_plus_one() {
    // listen(2), five clients with a 1 s connect timeout: Linux queues 3 (n + 1) and drops the
    // SYNs of the other two, which time out. (If a full queue refused connections, the last two
    // would say 被拒绝; if the queue held exactly n, only two would connect.)
    let out = run(example("backlog_full"), b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("监听 127.0.0.1:") && first.contains("backlog 为 2"),
        "the first line names the listening address and the backlog: {out:#?}"
    );
    assert_eq!(count(&out.stdout, "连接成功"), 3, "{out:#?}");
    assert_eq!(count(&out.stdout, "（超时）"), 2, "{out:#?}");
    assert_eq!(count(&out.stdout, "连接被拒绝"), 0, "{out:#?}");
    assert!(
        out.stdout
            .ends_with("结果：3 个连上，2 个超时，0 个被拒绝\n"),
        "{out:#?}"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn udp_loses_datagrams_on_loopback_when_the_receive_buffer_is_full() {
    // Run it three times: the count must be the same every time (the book shows one run), and
    // some datagrams must be lost every time, with no error anywhere.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let out = run(example("udp_loss"), b"");
        out.assert_success();
        assert_eq!(out.stderr, "", "{out:#?}");
        assert!(
            out.stdout.starts_with("接收方：127.0.0.1:"),
            "the first line names the receiver: {out:#?}"
        );
        let received = number_after(&out.stdout, "接收方：收到 ");
        let lost = number_after(&out.stdout, "丢失：");
        assert_eq!(received + lost, 100, "{out:#?}");
        assert!(lost > 0, "nothing was lost: {out:#?}");
        assert!(received > 0, "nothing arrived at all: {out:#?}");
        // The datagrams that arrive are the first ones, sent while there was room.
        assert!(
            out.stdout.contains(&format!("序号 0～{}\n", received - 1)),
            "{out:#?}"
        );
        seen.push(received);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "the number received changed between runs: {seen:?}"
    );
}

#[test]
fn addresses_are_tuples_too_but_an_empty_host_is_not_0_0_0_0() {
    // Python's s.bind((HOST, PORT)) ports to TcpListener::bind((host, port)); Python's HOST = ''
    // does not: Rust looks "" up as a host name, and finds nothing.
    let out = run(example("address_forms"), b"");
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let result_of = |form: &str| {
        let at = lines
            .iter()
            .position(|l| *l == form)
            .unwrap_or_else(|| panic!("{form} is not shown: {out:#?}"));
        lines[at + 1].trim()
    };
    assert_eq!(
        result_of("TcpListener::bind((host, port))"),
        "绑定到了 127.0.0.1"
    );
    assert_eq!(
        result_of("TcpListener::bind((Ipv4Addr::LOCALHOST, 0))"),
        "绑定到了 127.0.0.1"
    );
    assert_eq!(
        result_of("TcpListener::bind((Ipv6Addr::LOCALHOST, 0))"),
        "绑定到了 ::1"
    );
    assert!(
        result_of(r#"TcpListener::bind(("", 0))"#).starts_with("错误："),
        "{out:#?}"
    );
}

#[test]
fn the_experiments_answer_help_and_reject_arguments() {
    for name in ["backlog_full", "udp_loss", "address_forms"] {
        for help in ["-h", "--help"] {
            let mut cmd = example(name);
            cmd.arg(help);
            let out = run(cmd, b"");
            out.assert_success();
            assert!(
                out.stdout.starts_with(&format!("用法：{name}\n")),
                "{out:#?}"
            );
        }
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
fn the_experiments_end_quietly_when_nobody_reads_their_output() {
    // `cargo run --example udp_loss | true`: a broken pipe is no reason to panic.
    for name in ["backlog_full", "udp_loss", "address_forms"] {
        run_with_closed_stdout(example(name), b"").assert_quiet();
    }
}
