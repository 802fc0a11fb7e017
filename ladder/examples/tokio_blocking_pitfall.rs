//! 在异步代码里调用阻塞函数：同一个线程上的其他任务全都停下来。
//!
//! 运行：`cargo run --example tokio_blocking_pitfall`（大约 6 秒）。
//!
//! 做三次实验。每次都开一个只有一个线程的运行时（`current_thread`），里面有一个回显服务器
//! （每个连接一个任务，和 echo_tokio 一样），还有一个要干 2 秒“慢活”的任务。慢活一开始，
//! 另一个普通线程上的客户端就发一条消息，看回显是在慢活结束之前到，还是之后才到：
//!   1. 慢活是 `std::thread::sleep`：阻塞调用，占住了运行时唯一的线程；
//!   2. 慢活是 `tokio::time::sleep(..).await`：异步的等待，等的时候让出线程；
//!   3. 慢活是放进 `tokio::task::spawn_blocking` 的 `std::thread::sleep`：在另一个线程上阻塞。
//!
//! 慢活要 2 秒，而回环地址上的一次回显只要不到一毫秒：结论不靠运气。

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// 慢活要多久。
const SLOW: Duration = Duration::from_secs(2);
/// 客户端最多等多久：比慢活长得多，回显总能等到。
const PATIENCE: Duration = Duration::from_secs(10);

const USAGE: &str = "用法：tokio_blocking_pitfall
演示在异步代码里调用阻塞函数（std::thread::sleep）会让同一个线程上的其他任务全都停下来，
以及两种改法：tokio::time::sleep(..).await 和 tokio::task::spawn_blocking。不需要参数，大约 6 秒。";

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

/// 慢活的三种做法。
#[derive(Clone, Copy)]
enum Slow {
    Blocking,
    AsyncSleep,
    SpawnBlocking,
}

fn run() -> Result<()> {
    match std::env::args().nth(1) {
        None => {}
        Some(arg) if arg == "-h" || arg == "--help" => {
            say!("{USAGE}")?;
            return Ok(());
        }
        Some(arg) => bail!("这个演示不需要参数（收到了 `{arg}`）：直接运行它"),
    }
    let experiments = [
        (
            Slow::Blocking,
            "实验 1：在任务里直接调用 std::thread::sleep（阻塞）",
        ),
        (
            Slow::AsyncSleep,
            "实验 2：改用 tokio::time::sleep(..).await（异步地等）",
        ),
        (
            Slow::SpawnBlocking,
            "实验 3：把 std::thread::sleep 放进 tokio::task::spawn_blocking",
        ),
    ];
    for (i, (slow, title)) in experiments.into_iter().enumerate() {
        if i > 0 {
            say!()?;
        }
        say!("{title}")?;
        let echo_came_first = experiment(slow)?;
        if echo_came_first {
            say!("  结论：回显在慢活结束之前就到了。等待时让出了线程，回显任务照常运行。")?;
        } else {
            say!(
                "  结论：回显等到慢活结束以后才到。阻塞调用占住了运行时唯一的线程，回显任务一直没有机会运行。"
            )?;
        }
    }
    Ok(())
}

/// 做一次实验：回显是否在慢活结束之前就到了。
fn experiment(slow: Slow) -> Result<bool> {
    // 只有一个线程的运行时：所有任务都在这一个线程上轮流运行。
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("无法创建 tokio 运行时")?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("无法绑定 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        tokio::spawn(echo_server(listener));

        let slow_done = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        // 客户端在一个普通的线程上，用阻塞的 std 套接字：它不受运行时卡不卡的影响。
        let client = {
            let slow_done = Arc::clone(&slow_done);
            thread::spawn(move || client(addr, &started_rx, &slow_done))
        };

        tokio::spawn(slow_work(slow, started_tx, slow_done))
            .await
            .context("慢活任务失败")??;
        // 等客户端收到回显。join 是阻塞的，所以放进 spawn_blocking：等的时候运行时照常推进回显任务。
        tokio::task::spawn_blocking(move || client.join())
            .await
            .context("等待客户端线程失败")?
            .map_err(|_| anyhow!("客户端线程失败"))?
    })
}

// ANCHOR: slow
/// 干 2 秒的慢活，开始时通知客户端，结束时记下“已结束”。
async fn slow_work(slow: Slow, started: mpsc::Sender<()>, done: Arc<AtomicBool>) -> Result<()> {
    say!("  慢活：开始，要 {} 秒", SLOW.as_secs())?;
    let _ = started.send(()); // 告诉客户端：现在发
    match slow {
        // 错误的做法：阻塞了当前线程，这 2 秒里这个线程上的任务都不能运行。
        Slow::Blocking => std::thread::sleep(SLOW),
        // 改法一：异步地等。`.await` 让出线程，2 秒后再回来接着运行。
        Slow::AsyncSleep => tokio::time::sleep(SLOW).await,
        // 改法二：阻塞的代码交给专门的线程去跑，这个任务 `.await` 它的结果。
        Slow::SpawnBlocking => tokio::task::spawn_blocking(|| std::thread::sleep(SLOW))
            .await
            .context("spawn_blocking 里的代码失败")?,
    }
    done.store(true, Ordering::SeqCst);
    say!("  慢活：结束")?;
    Ok(())
}
// ANCHOR_END: slow

/// 一个普通线程上的客户端：慢活开始后发出一条消息，返回回显是否在慢活结束之前就到了。
fn client(addr: SocketAddr, started: &mpsc::Receiver<()>, slow_done: &AtomicBool) -> Result<bool> {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, PATIENCE)
        .with_context(|| format!("无法连接 {addr}"))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    started.recv_timeout(PATIENCE).context("慢活一直没有开始")?;
    let message = b"hello";
    stream.write_all(message).context("发送失败")?;
    say!("  客户端：发出 hello")?;
    let mut reply = [0u8; 5];
    stream
        .read_exact(&mut reply)
        .with_context(|| format!("{} 秒内没有收到回显", PATIENCE.as_secs()))?;
    // 先看慢活结束了没有，再打印：打印的顺序就是事情发生的顺序。
    let echo_came_first = !slow_done.load(Ordering::SeqCst);
    if &reply != message {
        bail!("回显不对：{reply:?}");
    }
    say!("  客户端：收到回显 hello")?;
    Ok(echo_came_first)
}

/// 回显服务器，和 echo_tokio 一样：每个连接一个任务。
async fn echo_server(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(echo(stream));
    }
}

/// 收到什么就发回什么，直到对方关闭连接或者出错。
async fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
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
