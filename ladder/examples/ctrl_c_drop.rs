//! 按下 Ctrl-C 时，`Drop` 会不会运行？
//!
//! 运行：`cargo run --example ctrl_c_drop`，等它说“按 Ctrl-C 结束”，按 Ctrl-C：
//! 什么也不打印，进程就没了（shell 看到的退出状态是 130 = 128 + SIGINT 的编号 2）。
//! 再运行 `cargo run --example ctrl_c_drop -- --handle`：这一次它自己处理 SIGINT，
//! main 正常返回，局部变量被丢弃，`Drop` 打印一行。

use std::io::Write;

use anyhow::{Context, Result, bail};
use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;

const USAGE: &str = "用法：ctrl_c_drop [--handle]
演示按下 Ctrl-C 时 Drop 会不会运行：等你按 Ctrl-C。
  --handle    自己处理 SIGINT（用 signal-hook），让 main 正常返回；不加这个选项时，
              SIGINT 按默认的处理方式直接结束进程";

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

// ANCHOR: demo
/// 一个被丢弃时会说一声的值，代表任何要在结束前做的清理：关闭连接、删除套接字文件、写完日志……
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = writeln!(std::io::stdout(), "Drop 运行了：清理完毕");
    }
}

fn run() -> Result<()> {
    let handle = parse_args()?;
    let _cleanup = Cleanup; // run 返回时（不管是正常返回还是 ? 提前返回）被丢弃
    if handle {
        // 装上 SIGINT 的处理函数：信号来了，内核不再结束进程，而是让 signal-hook 记下它。
        let mut signals = Signals::new([SIGINT]).context("无法安装信号处理函数")?;
        say!("按 Ctrl-C 结束（这一次 SIGINT 由程序自己处理）")?;
        signals.forever().next(); // 阻塞，直到收到 SIGINT
        say!("收到 SIGINT：run 正常返回")?;
    } else {
        say!("按 Ctrl-C 结束")?;
        // 什么也不做，一直等。SIGINT 的默认处理方式是结束进程：内核直接收回这个进程，
        // 不会回到这里，也不会展开调用栈，_cleanup 的 Drop 没有机会运行。
        loop {
            std::thread::park();
        }
    }
    Ok(())
}
// ANCHOR_END: demo

/// 读取命令行：`--handle` 时返回 true。
fn parse_args() -> Result<bool> {
    let mut handle = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                say!("{USAGE}")?;
                std::process::exit(0);
            }
            "--handle" => handle = true,
            _ => bail!("不认识的参数 {arg}：用 --help 查看用法"),
        }
    }
    Ok(handle)
}

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}
