//! 拿着 `std::sync::MutexGuard` 跨过 `.await`：为什么编译器不答应，该怎么改，不改会怎样。
//!
//! 运行：`cargo run --example tokio_mutex_pitfall`（大约 1 秒）。
//!
//! 做三次实验：
//!   1. 多个任务共用一个 `std::sync::Mutex`，每次都先放开锁（让 guard 离开它的作用域）再 `.await`。
//!      去掉 guard 外面那对花括号，这个文件就编译不过：拿着 std 的锁的 future 不是 `Send`，
//!      `tokio::spawn` 不收它；在 `.await` 之前 `drop(guard)` 也不行（编译器的原话见本章）。
//!   2. 改用 `tokio::sync::Mutex`：它的锁可以拿着跨过 `.await`，等锁的任务也只是 `.await`，不阻塞线程。
//!   3. 不用 `tokio::spawn`，就没有 `Send` 的要求，拿着 std 的锁跨过 `.await` 能编译；可是两个
//!      future 在同一个线程上轮流运行（`tokio::join!`），第二个在 `lock()` 里阻塞了这个线程，
//!      第一个再也没有机会放开锁：死锁。程序看准死锁发生了，就放弃那个线程，自己结束。

use std::io::Write;
use std::sync::{Arc, PoisonError, mpsc};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// 多少个任务一起加。
const TASKS: u64 = 100;
/// 每个任务加几次。
const ROUNDS: u64 = 100;
/// 看准死锁以后，再等多久确认它没有自己解开。
const CONFIRM: Duration = Duration::from_secs(1);
/// 最多等多久，两个 future 走到会死锁的地方：远远用不了这么久。
const PATIENCE: Duration = Duration::from_secs(10);

const USAGE: &str = "用法：tokio_mutex_pitfall
演示拿着 std::sync::MutexGuard 跨过 .await 的问题：先放开锁再 .await，或者改用 tokio::sync::Mutex；
不用 tokio::spawn 时，拿着 std 的锁 .await 会死锁。不需要参数，大约 1 秒。";

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

fn run() -> Result<()> {
    match std::env::args().nth(1) {
        None => {}
        Some(arg) if arg == "-h" || arg == "--help" => {
            say!("{USAGE}")?;
            return Ok(());
        }
        Some(arg) => bail!("这个演示不需要参数（收到了 `{arg}`）：直接运行它"),
    }
    // 多线程的运行时，和 #[tokio::main] 一样。
    let runtime = tokio::runtime::Runtime::new().context("无法创建 tokio 运行时")?;

    say!("实验 1：std::sync::Mutex，先放开锁，再 .await")?;
    let counter = Arc::new(std::sync::Mutex::new(0));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| tokio::spawn(add_with_std_mutex(Arc::clone(&counter))))
            .collect();
        for task in tasks {
            task.await.context("任务失败")?;
        }
        anyhow::Ok(())
    })?;
    let total = *counter.lock().unwrap_or_else(PoisonError::into_inner);
    say!(
        "  {TASKS} 个任务各加 {ROUNDS} 次，结果 {total}（应为 {}）",
        TASKS * ROUNDS
    )?;

    say!()?;
    say!("实验 2：tokio::sync::Mutex，拿着锁 .await")?;
    let counter = Arc::new(tokio::sync::Mutex::new(0));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| tokio::spawn(add_with_tokio_mutex(Arc::clone(&counter))))
            .collect();
        for task in tasks {
            task.await.context("任务失败")?;
        }
        anyhow::Ok(())
    })?;
    let total = *runtime.block_on(counter.lock());
    say!(
        "  {TASKS} 个任务各加 {ROUNDS} 次，结果 {total}（应为 {}）",
        TASKS * ROUNDS
    )?;

    say!()?;
    say!("实验 3：std::sync::Mutex，拿着锁 .await，两个 future 在同一个线程上（tokio::join!）")?;
    deadlock()
}

// ANCHOR: std-mutex
/// 用 std 的锁加 ROUNDS 次，每次加完都 `.await` 一下，让别的任务运行。
async fn add_with_std_mutex(counter: Arc<std::sync::Mutex<u64>>) {
    for _ in 0..ROUNDS {
        {
            let mut guard = counter.lock().unwrap_or_else(PoisonError::into_inner);
            *guard += 1;
        } // 锁在这里放开：guard 离开了它的作用域
        tokio::task::yield_now().await;
    }
}
// ANCHOR_END: std-mutex

// ANCHOR: tokio-mutex
/// 用 tokio 的锁加 ROUNDS 次：读出来，`.await` 一下，再写回去，整个过程都拿着锁。
async fn add_with_tokio_mutex(counter: Arc<tokio::sync::Mutex<u64>>) {
    for _ in 0..ROUNDS {
        // 锁被别的任务拿着时，lock().await 让出线程，而不是阻塞它。
        let mut guard = counter.lock().await;
        let value = *guard;
        tokio::task::yield_now().await; // 拿着锁 .await：tokio 的锁允许这样做
        *guard = value + 1;
    }
}
// ANCHOR_END: tokio-mutex

/// 实验 3 里两个 future 走到了哪一步。
enum Step {
    /// 任务 n 正要调用 `lock()`。
    Locking(u32),
    /// 任务 n 拿到了锁，正拿着它 `.await`。
    Holding(u32),
}

/// 实验 3：在只有一个线程的运行时里，拿着 std 的锁 `.await`，看准死锁发生，然后放弃那个线程。
fn deadlock() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("无法创建 tokio 运行时")?;
    let (steps_tx, steps) = mpsc::channel();
    // 运行时在一个单独的线程上：它死锁了，主线程还能看着它，说出发生了什么，然后结束整个程序。
    thread::spawn(move || {
        let lock = std::sync::Mutex::new(0);
        // join! 在同一个任务里轮流 poll 两个 future，不需要 Send，所以这段能编译。
        // biased：按写的顺序 poll，先 poll 任务 1。
        runtime.block_on(async {
            tokio::join!(
                biased;
                hold_across_await(1, &lock, steps_tx.clone()),
                hold_across_await(2, &lock, steps_tx.clone()),
            )
        })
    });

    // 任务 1 拿着锁停在 .await 上，任务 2 开始调用 lock()：从这一刻起，任务 2 占着唯一的线程等锁，
    // 任务 1 要等这个线程才能接着运行、放开锁，谁也等不到谁。
    for expected in [Step::Locking(1), Step::Holding(1), Step::Locking(2)] {
        let step = steps
            .recv_timeout(PATIENCE)
            .with_context(|| format!("{} 秒内没有等到下一步", PATIENCE.as_secs()))?;
        match step {
            Step::Locking(n) if matches!(expected, Step::Locking(m) if m == n) => {
                say!("  任务 {n}：调用 lock()")?;
            }
            Step::Holding(n) if matches!(expected, Step::Holding(m) if m == n) => {
                say!("  任务 {n}：拿到了锁，拿着它 .await，让出线程")?;
            }
            _ => bail!("两个任务没有按预期的顺序运行"),
        }
    }
    // 再等一会儿，确认任务 2 真的拿不到锁。
    match steps.recv_timeout(CONFIRM) {
        Ok(_) => say!("  任务 2 拿到了锁：没有死锁")?,
        Err(_) => {
            say!(
                "  又过了 {} 秒，任务 2 还在 lock() 里阻塞着唯一的线程，任务 1 没有机会放开锁：死锁。",
                CONFIRM.as_secs()
            )?;
            say!("  （主线程放弃那个线程，程序结束）")?;
        }
    }
    Ok(())
}

// ANCHOR: deadlock
/// 拿着 std 的锁跨过 `.await`；每走一步，告诉主线程一声。
// clippy 认得这个错误（await_holding_lock），这里是故意的：它正是要演示的东西。
#[allow(clippy::await_holding_lock)]
async fn hold_across_await(n: u32, lock: &std::sync::Mutex<u64>, steps: mpsc::Sender<Step>) {
    let _ = steps.send(Step::Locking(n));
    let mut guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = steps.send(Step::Holding(n));
    tokio::task::yield_now().await; // 让出线程：轮到任务 2
    *guard += 1;
}
// ANCHOR_END: deadlock

/// 标准输出已被关闭：读输出的程序已经退出。
#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("标准输出已被关闭")
    }
}

impl std::error::Error for StdoutClosed {}
