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
