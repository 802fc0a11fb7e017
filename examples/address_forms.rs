//! Python 写 `s.bind((HOST, PORT))`，地址是一个元组。Rust 的 `TcpListener::bind` 接受任何实现了
//! `ToSocketAddrs` 的值：字符串 `"IP:端口"`、`SocketAddr`，也包括元组 `(主机, 端口)`。
//! 这个演示用几种写法各绑定一次（端口都是 0，让系统挑），打印绑定到的 IP 或者错误。
//!
//! 运行：`cargo run --example address_forms`（不接受参数）。
//!
//! 最后一种写法照搬了笔记的 `HOST = ''`：在 Python 里空字符串表示 `0.0.0.0`，在 Rust 里它是一个
//! 查不到的主机名，`bind` 返回错误。

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use anyhow::{Result, bail};

const USAGE: &str = "用法：address_forms
用几种写法调用 TcpListener::bind（字符串、SocketAddr、元组），打印绑定到的 IP 或者错误。不接受参数。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

fn main() {
    match run() {
        Ok(()) => {}
        // 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

// ANCHOR: run
fn run() -> Result<()> {
    if !no_arguments()? {
        say!("{USAGE}")?;
        return Ok(());
    }

    // Python: HOST = '127.0.0.1'; PORT = 0
    let host = "127.0.0.1";
    let port = 0;

    // 每一行：写法，和 bind 的结果。
    let tries: [(&str, std::io::Result<TcpListener>); 6] = [
        (
            r#"TcpListener::bind("127.0.0.1:0")"#,
            TcpListener::bind("127.0.0.1:0"),
        ),
        // 和 Python 的 s.bind((HOST, PORT)) 一模一样：一个 (&str, u16) 元组。
        (
            "TcpListener::bind((host, port))",
            TcpListener::bind((host, port)),
        ),
        (
            "TcpListener::bind((Ipv4Addr::LOCALHOST, 0))",
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)),
        ),
        (
            "TcpListener::bind((Ipv6Addr::LOCALHOST, 0))",
            TcpListener::bind((Ipv6Addr::LOCALHOST, 0)),
        ),
        (
            "TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))",
            TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))),
        ),
        // 笔记的 HOST = ''：Rust 把 "" 当作主机名去查，查不到。
        (r#"TcpListener::bind(("", 0))"#, TcpListener::bind(("", 0))),
    ];
    for (form, result) in tries {
        match result.and_then(|listener| listener.local_addr()) {
            Ok(addr) => say!("{form}\n    绑定到了 {}", addr.ip())?,
            Err(err) => say!("{form}\n    错误：{err}")?,
        }
    }
    // Python 的 '' 在 Rust 里要明确写出来：
    say!(
        "Python 的 HOST = '' 在 Rust 里写作 Ipv4Addr::UNSPECIFIED，也就是 {}",
        Ipv4Addr::UNSPECIFIED
    )?;
    Ok(())
}
// ANCHOR_END: run

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}

/// 这个演示不接受参数。没有参数时返回 true；`-h` / `--help` 时返回 false；其他参数都是错误。
fn no_arguments() -> Result<bool> {
    let mut args = std::env::args().skip(1);
    match args.next() {
        None => Ok(true),
        Some(arg) if (arg == "-h" || arg == "--help") && args.next().is_none() => Ok(false),
        Some(arg) => {
            bail!(
                "这个演示不接受参数（收到了 {arg}）：直接运行 `cargo run --example address_forms`"
            )
        }
    }
}
