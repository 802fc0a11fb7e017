//! The one-command demos: they exit 0 and show both sides of the conversation.

mod common;

use common::*;

fn check_demo(name: &str, messages: &[&str], server_says: &str) {
    let out = run(example(name), b"");
    out.assert_success();
    assert_eq!(out.stderr, "", "{out:#?}");
    for message in messages {
        let echoed = format!("发送 {message:?}，收到回显 {message:?}");
        assert!(out.stdout.contains(&echoed), "missing {echoed:?}: {out:#?}");
        let received = format!("{server_says}: {message}");
        assert!(
            out.stdout.contains(&received),
            "missing {received:?}: {out:#?}"
        );
    }
    assert!(
        out.stdout.ends_with("全部收到回显\n"),
        "the demo should end with its summary: {out:#?}"
    );
}

#[test]
fn tcp_demo() {
    check_demo(
        "tcp_echo",
        &["Hello, socket!", "你好，套接字！", "再见"],
        "Receive Data",
    );
}

#[test]
fn udp_demo() {
    check_demo(
        "udp_echo",
        &["Hello, datagram!", "你好，数据报！", "再见"],
        "Receive String",
    );
}

#[test]
fn demos_reject_arguments() {
    // Before: the demos ignored their arguments.
    for name in ["tcp_echo", "udp_echo"] {
        for args in [&["127.0.0.1:0"][..], &["-h", "extra"][..]] {
            let mut cmd = example(name);
            cmd.args(args);
            run(cmd, b"").assert_clean_failure("这个演示不接受参数");
        }
    }
}

#[test]
fn demos_end_quietly_when_nobody_reads_their_output() {
    // `cargo run --example tcp_echo | true`: the reader is gone before the first line.
    // Before: the first `println!` panicked on the broken pipe (exit 101).
    for name in ["tcp_echo", "udp_echo"] {
        run_with_closed_stdout(example(name), b"").assert_quiet();
    }
}
