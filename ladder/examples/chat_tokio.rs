//! 聊天室服务器，tokio 版：每个客户端一个任务，所有的任务共用一个广播通道
//! （`tokio::sync::broadcast`）。一个客户端发来的一行，放进广播通道；每个任务从通道里
//! 取出别人说的话，写给自己的客户端。
//!
//! 运行：`cargo run --example chat_tokio`（默认绑定 127.0.0.1:3214），再在另外两个终端里
//! 各运行一个 `cargo run --example chat_client`。按 Ctrl-C（或者用 kill 发 SIGTERM）优雅地关闭它。
//!
//! 广播通道是一个固定大小的环形缓冲区：发送从不等待，最旧的行被新的行覆盖。一个客户端不读，
//! 写不进去，又落后超过 --queue 行（默认 64），或者落后太多、它还没取的行被覆盖了
//! （接收端收到 `RecvError::Lagged`）：服务器断开它，而不是让整个聊天室等它。
//! 服务器只在连接打开、关闭时各打印一行。

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use signal_hook::consts::{SIGINT, SIGTERM};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";
/// 广播通道能存几行，也就是一个客户端最多能落后几行，可以用 --queue 修改。
const DEFAULT_QUEUE: usize = 64;
/// 一行最长多少字节（含末尾的 `\n`），可以用 --max-line 修改。
const DEFAULT_MAX_LINE: usize = 1024;
/// 最多同时连着多少个客户端，可以用 --max-clients 修改。
const DEFAULT_MAX_CLIENTS: usize = 1000;
/// 收到停止信号以后，最多再等几秒让连接收尾，可以用 --grace 修改。
const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// 停止时，每个连接最多再读这么多行：不陪一个不停发送的客户端一直读下去。
const FINISH_LINES: usize = 64;
/// 写不进去的时候，每隔这么久看一眼：这个客户端落后了多少行？
const TICK: Duration = Duration::from_millis(200);
/// 广播通道的容量是 --queue 的这么多倍（再取到 2 的幂）：写得进去、只是一时没轮到运行的任务
/// （服务器忙不过来，不是客户端不读），可以多落后一些，但也有个头。
const HARD_FACTOR: usize = 16;
/// 跟不上的客户端被断开以后，最多再等这么久，把写了一半的那一行和最后一句话写给它。
const FINAL_LINE_TIMEOUT: Duration = Duration::from_secs(2);
/// 说完最后一句话、半关闭以后，等客户端关闭连接：它安静了这么久还没关闭，就不再等。
const LINGER: Duration = Duration::from_secs(1);
/// 除了客户端的连接，进程自己还要用的文件描述符：标准输入输出、监听套接字、tokio 的 epoll
/// 和唤醒用的描述符、信号用的管道，留足余量。
const SPARE_FDS: u64 = 16;
/// 服务器关闭时，对每个客户端说的最后一句话。
const STOPPING_LINE: &str = "*** 服务器正在关闭\n";

const USAGE: &str =
    "用法：chat_tokio [地址] [--queue 行数] [--max-line 字节数] [--max-clients 个数] [--grace 秒]
聊天室服务器（tokio 版）：每个客户端发来的每一行，都转发给其他所有客户端，前面加上发送者的地址。
每个连接打开、关闭时各打印一行；按 Ctrl-C 或发 SIGTERM 优雅地关闭，再来一次就立即退出。
  地址                  要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，
                        IPv6 写成 [::1]:3214
  --queue 行数          客户端不读（写不进去）时，它最多能落后多少行，1 到 65536，默认 64；
                        落后更多，服务器就断开这个客户端。广播通道能存 16 倍这么多行
                        （向上取到 2 的幂）：写得进去时最多落后这么多
  --max-line 字节数     一行最长多少字节（含末尾的 \\n），1 到 1048576，默认 1024；
                        更长的一行让服务器断开这个客户端
  --max-clients 个数    最多同时连着多少个客户端，1 到 100000，默认 1000；满了以后，新来的连接
                        收到一行“聊天室已满”就被关闭。启动时把打开文件数的软上限提到硬上限
  --grace 秒            收到停止信号以后，最多等几秒让连接收尾（0.1 到 3600，默认 5）；
                        到时候还没关完的连接被强行关闭
环境变量 TOKIO_WORKER_THREADS 设定工作线程的个数，默认是 CPU 的核数。";

/// 像 `println!` 一样打印一行；标准输出被关闭时返回错误 `StdoutClosed`，而不是 panic。
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).map_err(|_| StdoutClosed)
    };
}

// ANCHOR: main
#[tokio::main]
async fn main() {
    // run 放进一个任务里，在 tokio 的工作线程上运行，和所有连接的任务一起排队（见 accept 循环里的
    // yield_now）。`#[tokio::main]` 直接运行的 future 在主线程上，不和它们一起排队。
    let run = tokio::spawn(run())
        .await
        .unwrap_or_else(|panic| Err(anyhow!("{panic}")));
    match run {
        Ok(()) => {}
        // 标准输出被关闭了（例如接在 `| head -1` 后面）：没有人在读了，安静地结束。
        Err(err) if err.is::<StdoutClosed>() => {}
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}
// ANCHOR_END: main

/// 命令行给出的设置。
struct Config {
    addr: SocketAddr,
    queue: usize,
    max_line: usize,
    max_clients: usize,
    grace: Duration,
}

// ANCHOR: types
/// 广播通道里的一条消息：谁发的（连接的编号），和要写给别人的字节（已经加上了发送者的地址）。
/// 通道里存的是 `Arc<Msg>`：每个接收端取到的是同一份字节，转发给 100 个人也只存一份。
struct Msg {
    from: u64,
    bytes: Vec<u8>,
}

type Tx = broadcast::Sender<Arc<Msg>>;
type Rx = broadcast::Receiver<Arc<Msg>>;

/// 所有任务共用的东西。
struct Room {
    /// 一个写不进去（客户端不读）的接收端，最多能落后这么多行（--queue）。
    queue: usize,
    max_line: usize,
    /// 在线（加入了聊天室）的人数，只用在欢迎词里。
    online: AtomicUsize,
    /// 打开着的连接数。改它的时候同时打印那一行（`Client Address`、`连接关闭`、`收到 ...`）：
    /// 收到信号时说的“正在关闭 N 个连接”，和打印出来的行对得上。拿着它打印要 `.await`，
    /// 所以用 tokio 的 Mutex（见 tokio 一章：拿着 std 的 MutexGuard 跨过 `.await`）。
    open: tokio::sync::Mutex<usize>,
    /// 收到第一个停止信号时取消：不再接受新连接，每个连接开始收尾。
    stop: CancellationToken,
    /// 宽限期到了时取消：还没关完的连接被强行关闭。
    force: CancellationToken,
}

impl Room {
    /// 打开着的连接数，拿着它的锁。
    async fn open(&self) -> tokio::sync::MutexGuard<'_, usize> {
        self.open.lock().await
    }
}

/// 一个连接的读、写两半共用的状态。
#[derive(Default)]
struct Conn {
    /// 最后对客户端说的一行：断开它的原因，或者“服务器正在关闭”。第一个原因算数。
    bye: OnceLock<String>,
    /// 写的一半发现它跟不上了。
    slow: AtomicBool,
    /// 读的一半结束了：不会再有这个客户端说的话了。
    done_reading: CancellationToken,
    /// 写的一半断开了它（跟不上）：读的一半不再读了。
    kicked: CancellationToken,
}
// ANCHOR_END: types

async fn run() -> Result<()> {
    let Some(config) = parse_args()? else {
        say!("{USAGE}")?;
        return Ok(());
    };
    let max_clients = raise_fd_limit(config.max_clients)?;

    let listener = TcpListener::bind(config.addr).await.map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {}（{hint}）", config.addr))
    })?;
    // 先装好信号处理，再打印地址：打印之后马上来的 Ctrl-C，也走优雅关闭的路。
    // （unix::signal 在这里就装好了处理函数；tokio::signal::ctrl_c() 要等第一次被 poll 才装。）
    exit_on_second_signal()?;
    let sigint = signal(SignalKind::interrupt()).context("无法设置信号处理")?;
    let sigterm = signal(SignalKind::terminate()).context("无法设置信号处理")?;
    say!("{}", listener.local_addr()?)?;

    // ANCHOR: channel
    // 一个广播通道：每一行只存一份，每个接收端（每个客户端）有自己读到的位置。
    // 容量是 2 的幂：tokio 会把别的数向上取到 2 的幂。
    let capacity = (config.queue * HARD_FACTOR).next_power_of_two();
    let (tx, _) = broadcast::channel::<Arc<Msg>>(capacity);
    // ANCHOR_END: channel
    let room = Arc::new(Room {
        queue: config.queue,
        max_line: config.max_line,
        online: AtomicUsize::new(0),
        open: tokio::sync::Mutex::new(0),
        stop: CancellationToken::new(),
        force: CancellationToken::new(),
    });
    // TaskTracker 记着每个连接的任务：关闭时，等它们全部结束。
    let tracker = TaskTracker::new();
    tokio::spawn(watch_signals(sigint, sigterm, Arc::clone(&room)));

    // ANCHOR: accept
    let mut next_id = 0;
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // 连接在被接受之前就被对方放弃了：不是服务器的问题，等下一个。
                Err(err) if err.kind() == ErrorKind::ConnectionAborted => continue,
                // 别的错误（比如打开的文件太多）：说一行，歇一会儿再接受，免得循环空转。
                Err(err) => {
                    warn(format!("接受连接失败：{err}（100 毫秒后再试）")).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = room.stop.cancelled() => break,
        };
        next_id += 1;
        admit(stream, addr, next_id, &tx, &room, &tracker, max_clients).await?;
        // 让出一下：admit 刚往通道里放了一行“加入了聊天室”，叫醒了每个人的任务，让它们先把这一行
        // 写出去，再接受下一个连接。不让出的话，一下子涌来上千个连接时，accept 一口气成功上千次，
        // 上千行“加入了”塞进通道，读得很及时的客户端也会因为落后太多（Lagged）被断开。
        tokio::task::yield_now().await;
    }
    let deadline = tokio::time::Instant::now() + config.grace;
    // 积压队列里已经完成握手、还没被接受的连接：也接受下来，让它们收到“服务器正在关闭”，
    // 干净地关闭。直接关闭监听套接字的话，它们会被复位（RST）。std 的 accept 直接调用
    // 系统调用，非阻塞的套接字没有连接时马上返回 WouldBlock。
    let listener = listener.into_std()?;
    loop {
        match listener.accept() {
            Ok((stream, addr)) => {
                stream.set_nonblocking(true)?;
                next_id += 1;
                let stream = TcpStream::from_std(stream)?;
                admit(stream, addr, next_id, &tx, &room, &tracker, max_clients).await?;
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == ErrorKind::ConnectionAborted => {}
            Err(err) => {
                warn(format!("接受连接失败：{err}")).await;
                break;
            }
        }
    }
    drop(listener); // 从此新的连接请求被内核拒绝
    // 放下 main 的发送端。每个连接读的一半结束时，也放下自己的发送端；
    // 全部放下以后，接收端取完通道里剩下的行，就收到 Closed。
    drop(tx);
    tracker.close();
    if tokio::time::timeout_at(deadline, tracker.wait())
        .await
        .is_err()
    {
        let open = *room.open().await;
        warn(format!("宽限期到了：强行关闭 {open} 个连接")).await;
        room.force.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await;
    }
    Ok(())
    // ANCHOR_END: accept
}

// ANCHOR: admit
/// 一个刚接受的连接：打印一行，让它加入聊天室，为它开一个任务；聊天室满了，就拒绝它。
async fn admit(
    stream: TcpStream,
    addr: SocketAddr,
    id: u64,
    tx: &Tx,
    room: &Arc<Room>,
    tracker: &TaskTracker,
    max_clients: usize,
) -> Result<()> {
    let mut open = room.open().await;
    if *open >= max_clients {
        warn(format!(
            "拒绝 {addr}：已经有 {max_clients} 个连接（--max-clients）"
        ))
        .await;
        // 告诉它为什么；不等：写不进去就算了（into_std 得到的套接字是非阻塞的）。
        if let Ok(stream) = stream.into_std() {
            let line = format!("*** 聊天室已满（{max_clients} 人），请稍后再来\n");
            let _ = (&stream).write(line.as_bytes());
        }
        return Ok(());
    }
    print(format!("Client Address: {addr}")).await?;
    *open += 1;
    drop(open);
    // TCP_NODELAY：每一行写出去就马上发送，不让 Nagle 算法扣住等确认（聊天是一来一往的；
    // Python 的 asyncio 默认就这样设置）。
    let _ = stream.set_nodelay(true);
    // 先订阅，再告诉其他人它来了：从这一刻起别人说的话，它都收得到；它看到欢迎词的时候，
    // 别人已经知道它来了。服务器正在关闭时不让它加入（welcome 是 None）。
    let rx = tx.subscribe();
    let welcome = (!room.stop.is_cancelled()).then(|| {
        let online = room.online.fetch_add(1, Ordering::SeqCst) + 1;
        let joined = format!("*** {addr} 加入了聊天室\n").into_bytes();
        let _ = tx.send(Arc::new(Msg {
            from: id,
            bytes: joined,
        }));
        format!("*** 欢迎来到聊天室！你是 {addr}，现在共有 {online} 人在线\n")
    });
    let (tx, room) = (tx.clone(), Arc::clone(room));
    tracker.spawn(async move {
        let result = tokio::select! {
            result = serve(stream, addr, id, tx, rx, welcome, &room) => result,
            // 宽限期到了：serve 和它的套接字一起被丢弃，连接随之关闭。
            () = room.force.cancelled() => Ok(()),
        };
        // 这个客户端出了任何问题，都只断开它自己：在标准错误上说一行原因。
        if let Err(why) = result {
            warn(format!("断开 {addr}：{why:#}")).await;
        }
        let mut open = room.open().await;
        if print(format!("连接关闭：{addr}")).await.is_err() {
            std::process::exit(0); // 标准输出被关闭了：安静地结束整个程序
        }
        *open -= 1;
    });
    Ok(())
}
// ANCHOR_END: admit

// ANCHOR: serve
/// 服务一个客户端：读的一半和写的一半，在同一个任务里轮流运行（`tokio::join!`）：
/// 哪一半在等（等数据到达、等发送缓冲区有空位），另一半就接着跑。
async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    id: u64,
    tx: Tx,
    mut rx: Rx,
    welcome: Option<String>,
    room: &Room,
) -> Result<()> {
    let Some(welcome) = welcome else {
        return turn_away(stream).await;
    };
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    let conn = &Conn::default();
    let reading = async {
        let read = read_lines(&mut reader, &tx, id, addr, room, conn).await;
        room.online.fetch_sub(1, Ordering::SeqCst);
        // 正常服务时，告诉其他人它离开了；服务器正在关闭时就不说了。
        if !room.stop.is_cancelled() {
            let left = format!("*** {addr} 离开了聊天室\n").into_bytes();
            let _ = tx.send(Arc::new(Msg {
                from: id,
                bytes: left,
            }));
            // 让出一下，和 accept 循环、read_lines 一样：每往通道里放一行，就让别人先把它写出去。
            tokio::task::yield_now().await;
        }
        drop(tx); // 放下这个连接的发送端
        conn.done_reading.cancel(); // 告诉写的一半：不会再有这个客户端说的话了
        read
    };
    let writing = write_lines(&mut wr, &welcome, &mut rx, id, room, conn);
    let (read, wrote) = tokio::join!(reading, writing);
    // 两半都结束了：最后一句话已经写出，连接已经半关闭。等客户端关闭连接再关闭，见 linger。
    let deadline =
        (!room.stop.is_cancelled()).then(|| tokio::time::Instant::now() + FINAL_LINE_TIMEOUT);
    linger(&mut reader, deadline).await;
    read.and(wrote)
}
// ANCHOR_END: serve

// ANCHOR: linger
/// 半关闭以后，等客户端关闭连接（read 返回 0），这期间它发来的数据只能丢掉。为什么不马上关闭？
/// 关闭时接收缓冲区里有没读的数据，或者关闭以后又来了数据，内核就发 RST（复位），还在发送缓冲区里、
/// 客户端还没读到的行和 FIN 都被扔掉。客户端安静了 LINGER 还没关闭，或者到了 `deadline`，就不再等。
/// 正在关闭时没有 `deadline`：宽限期到了，整个任务被丢弃。
async fn linger<R: AsyncReadExt + Unpin>(reader: &mut R, deadline: Option<tokio::time::Instant>) {
    let mut buf = [0u8; 4096];
    loop {
        let quiet = match deadline {
            Some(deadline) => {
                LINGER.min(deadline.saturating_duration_since(tokio::time::Instant::now()))
            }
            None => LINGER,
        };
        match tokio::time::timeout(quiet, reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return, // 对方关闭了，安静了 LINGER，到了期限，或者连接出了错
        }
    }
}
// ANCHOR_END: linger

// ANCHOR: read
/// 读的一半：一行一行地读客户端发来的消息，放进广播通道，直到客户端离开。
async fn read_lines(
    reader: &mut BufReader<OwnedReadHalf>,
    tx: &Tx,
    id: u64,
    addr: SocketAddr,
    room: &Room,
    conn: &Conn,
) -> Result<()> {
    let mut line = Vec::new();
    let mut shut = false; // 服务器正在关闭：只再读已经到达的行
    let mut late = 0; // 服务器开始停止以后，又读到了几行
    loop {
        let complete = if shut {
            // 1 毫秒内没有读到一整行：已经到达的行都读完了。
            match tokio::time::timeout(
                Duration::from_millis(1),
                read_line(reader, &mut line, room.max_line),
            )
            .await
            {
                Ok(complete) => complete,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                complete = read_line(reader, &mut line, room.max_line) => complete,
                // 服务器要关闭了：不再等新的行，只读已经到达的。
                () = room.stop.cancelled() => {
                    shut = true;
                    continue;
                }
                // 写的一半断开了它：不再读了。
                () = conn.kicked.cancelled() => break,
            }
        };
        if !complete.context("接收数据失败")? {
            break;
        }
        // 被断开以后才读到的行，不再转发。
        if !conn.slow.load(Ordering::SeqCst) {
            let mut bytes = format!("{addr}: ").into_bytes();
            bytes.extend_from_slice(&line); // 原样转发，不管是不是 UTF-8
            // 发送从不等待：通道满了，最旧的一行被覆盖。
            let _ = tx.send(Arc::new(Msg { from: id, bytes }));
            // 让出一下：读的一半和写的一半在同一个任务里。缓冲区里攒着很多行的时候，不让出的话，
            // 读的一半一口气把它们全放进通道，写的一半轮不到去取，接收端就落后于它自己说的话了。
            tokio::task::yield_now().await;
        }
        line.clear();
        if shut {
            late += 1;
            if late == FINISH_LINES {
                break;
            }
        }
    }
    // 没有读到完整的一行：连接结束了（读到 0 字节），或者这一行太长了。
    if conn.slow.load(Ordering::SeqCst) {
        bail!("跟不上：落后超过 {} 行（--queue）", room.queue);
    }
    if shut {
        return Ok(()); // 服务器正在关闭
    }
    if line.len() == room.max_line {
        let _ = conn.bye.set(format!(
            "*** 一行超过了 {} 字节的上限，服务器断开了你的连接\n",
            room.max_line
        ));
        bail!("一行超过了 {} 字节的上限（--max-line）", room.max_line);
    }
    if line.is_empty() {
        return Ok(()); // 对方关闭了连接，正好在两行之间
    }
    bail!(
        "对方在一行的中间关闭了连接（最后 {} 字节没有换行符，丢弃）",
        line.len()
    );
}

/// 读一行，接在 `line` 后面，整行最多 `max_line` 字节。返回 true：读到了完整的一行。
/// 可以放在 `select!` 里：被打断时，已经读到的字节留在 `line` 里，下一次接着读。
async fn read_line(
    reader: &mut BufReader<OwnedReadHalf>,
    line: &mut Vec<u8>,
    max_line: usize,
) -> std::io::Result<bool> {
    // take：这一次最多再读这么多字节。没有换行符的超长行，也撑不大内存。
    let room = max_line.saturating_sub(line.len()) as u64;
    (&mut *reader).take(room).read_until(b'\n', line).await?;
    Ok(line.ends_with(b"\n"))
}
// ANCHOR_END: read

/// 写的一半走到了哪一步。
enum Phase {
    /// 聊天进行中：来一行，写一行。
    Chatting,
    /// 客户端离开了：再写完这么多行（它离开时已经排在通道里的），就结束。
    Leaving(usize),
    /// 服务器正在关闭：写完通道里的每一行，直到通道关闭。
    Stopping,
}

// ANCHOR: write
/// 写的一半：先写欢迎词，再从广播通道里取出别人说的话，写给客户端。
async fn write_lines(
    wr: &mut OwnedWriteHalf,
    welcome: &str,
    rx: &mut Rx,
    id: u64,
    room: &Room,
    conn: &Conn,
) -> Result<()> {
    wr.write_all(welcome.as_bytes())
        .await
        .context("发送数据失败")?;
    let mut phase = Phase::Chatting;
    loop {
        let msg = match phase {
            Phase::Chatting => tokio::select! {
                msg = rx.recv() => msg,
                () = conn.done_reading.cancelled() => {
                    phase = if room.stop.is_cancelled() {
                        Phase::Stopping
                    } else {
                        Phase::Leaving(rx.len())
                    };
                    continue;
                }
            },
            Phase::Leaving(0) => break,
            Phase::Leaving(left) => {
                phase = Phase::Leaving(left - 1);
                rx.recv().await
            }
            // 所有的发送端都放下以后（不会再有新的行了），取完剩下的行，recv 就返回 Closed。
            Phase::Stopping => rx.recv().await,
        };
        match msg {
            Ok(msg) if msg.from == id => {} // 自己说的话，不发回给自己
            Ok(msg) => {
                let unsent = send_line(wr, &msg.bytes, rx, room.queue)
                    .await
                    .context("发送数据失败")?;
                if let Some(rest) = unsent {
                    return kick(wr, rest, room, conn).await;
                }
            }
            // 落后太多：还没取的行已经被新的行覆盖了。
            Err(RecvError::Lagged(_)) => return kick(wr, &[], room, conn).await,
            Err(RecvError::Closed) => break,
        }
    }
    if room.stop.is_cancelled() {
        let _ = conn.bye.set(STOPPING_LINE.to_string());
    }
    if let Some(last) = conn.bye.get() {
        wr.write_all(last.as_bytes())
            .await
            .context("发送数据失败")?;
    }
    let _ = wr.shutdown().await; // 半关闭：客户端读到连接的结尾
    Ok(())
}

/// 把一行写给客户端。写不进去（客户端不读，发送缓冲区满了）的时候，聊天室不等它：
/// 每隔 TICK 看一眼它落后了多少行，落后超过 `queue` 行，就放弃，返回还没写出去的部分。
async fn send_line<'a>(
    wr: &mut OwnedWriteHalf,
    mut bytes: &'a [u8],
    rx: &Rx,
    queue: usize,
) -> std::io::Result<Option<&'a [u8]>> {
    let fell_behind = async {
        loop {
            tokio::time::sleep(TICK).await;
            // len：这个接收端还有多少行没取。
            if rx.len() > queue {
                return;
            }
        }
    };
    tokio::pin!(fell_behind);
    while !bytes.is_empty() {
        tokio::select! {
            // biased：先试着写。多数时候发送缓冲区有空位，一次就写完了，用不着计时器。
            biased;
            written = wr.write(bytes) => match written? {
                0 => return Err(ErrorKind::WriteZero.into()),
                n => bytes = &bytes[n..],
            },
            () = &mut fell_behind => return Ok(Some(bytes)),
        }
    }
    Ok(None)
}
// ANCHOR_END: write

// ANCHOR: kick
/// 客户端跟不上了：断开它。先叫醒读的一半（它会告诉别人这个客户端离开了），
/// 再把写了一半的那一行和最后一句话写给它，最多等 FINAL_LINE_TIMEOUT。
async fn kick(wr: &mut OwnedWriteHalf, rest: &[u8], room: &Room, conn: &Conn) -> Result<()> {
    let _ = conn.bye.set(format!(
        "*** 你跟不上聊天室的速度（落后超过 {} 行），服务器断开了你的连接\n",
        room.queue
    ));
    conn.slow.store(true, Ordering::SeqCst);
    conn.kicked.cancel(); // 读的一半不再读了（它会告诉别人这个客户端离开了）
    let last = conn.bye.get().map_or("", String::as_str);
    let finish = async {
        wr.write_all(rest).await?;
        wr.write_all(last.as_bytes()).await?;
        wr.shutdown().await
    };
    // 写不完也不要紧：读的一半会在标准错误上说明断开的原因。
    let _ = tokio::time::timeout(FINAL_LINE_TIMEOUT, finish).await;
    Ok(())
}
// ANCHOR_END: kick

/// 服务器正在关闭时才轮到的连接：不让它加入聊天室。说最后一句话，半关闭，
/// 再等它关闭连接（见 linger：免得关闭时复位）。
async fn turn_away(mut stream: TcpStream) -> Result<()> {
    stream
        .write_all(STOPPING_LINE.as_bytes())
        .await
        .context("发送数据失败")?;
    let _ = stream.shutdown().await;
    linger(&mut stream, None).await;
    Ok(())
}

// ANCHOR: signals
/// 等信号的任务：第一个 SIGINT（Ctrl-C）或 SIGTERM 开始优雅关闭。第二个信号由
/// `exit_on_second_signal` 装的处理函数处理：立即退出，状态 130 或 143。
async fn watch_signals(mut sigint: Signal, mut sigterm: Signal, room: Arc<Room>) {
    let name = tokio::select! {
        _ = sigint.recv() => "SIGINT",
        _ = sigterm.recv() => "SIGTERM",
    };
    {
        let open = room.open().await;
        let line = format!("收到 {name}：不再接受新连接，正在关闭 {open} 个连接");
        if print(line).await.is_err() {
            std::process::exit(0); // 标准输出被关闭了：安静地结束
        }
    }
    room.stop.cancel();
}
// ANCHOR_END: signals

// ANCHOR: print
/// 在任务里打印一行。`tokio::io::stdout()` 把阻塞的 write 交给 tokio 的阻塞线程池去做：标准输出
/// 堵住了（比如接在一个暂停了的 `less` 后面），等着的只是要打印的这个任务，工作线程照样运行别的任务，
/// 聊天室照常。用 `println!`（或 `say!`）的话，卡住的是工作线程本身：工作线程一共只有几个，
/// 卡住一个，别的任务可能就没人运行了（见 tokio 一章的“在异步代码里调用阻塞函数”）。
async fn print(line: String) -> Result<(), StdoutClosed> {
    let mut stdout = tokio::io::stdout();
    let line = line + "\n";
    stdout
        .write_all(line.as_bytes())
        .await
        .map_err(|_| StdoutClosed)?;
    stdout.flush().await.map_err(|_| StdoutClosed)
}

/// 同上，打印到标准错误；写不出去就算了。
async fn warn(line: String) {
    let mut stderr = tokio::io::stderr();
    let line = line + "\n";
    let _ = stderr.write_all(line.as_bytes()).await;
    let _ = stderr.flush().await;
}
// ANCHOR_END: print

// ANCHOR: second
/// 第二个停止信号：不管程序正在做什么（哪怕卡在写满了的标准输出上），立即退出。
/// 处理函数只做两件异步信号安全的事：给计数器加一；加之前已经不是 0（这是第二个信号），
/// 就调用 `_exit`，退出状态是 128 加信号的编号，和被这个信号结束时 shell 看到的一样。
/// 用一次原子的 `fetch_add`：两个信号同时落在两个线程上，也恰好有一个看到“第二个”。
fn exit_on_second_signal() -> Result<()> {
    let seen = Arc::new(AtomicUsize::new(0));
    for signal in [SIGINT, SIGTERM] {
        let seen = Arc::clone(&seen);
        let action = move || {
            if seen.fetch_add(1, Ordering::SeqCst) > 0 {
                signal_hook::low_level::exit(128 + signal);
            }
        };
        // SAFETY: 处理函数里只有一次原子加法和 _exit，都是异步信号安全的（signal-safety(7)）。
        unsafe { signal_hook::low_level::register(signal, action) }
            .context("无法安装信号处理函数")?;
    }
    Ok(())
}
// ANCHOR_END: second

/// 一个连接就是一个打开的文件（文件描述符）。把打开文件数的软上限提高到硬上限（`ulimit -Hn`），
/// 返回最多能同时连着多少个客户端：硬上限不够 --max-clients 用时，说一行，按硬上限来。
fn raise_fd_limit(max_clients: usize) -> Result<usize> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .context("读取打开文件数的上限失败")?;
    let wanted = max_clients as u64 + SPARE_FDS;
    if limit >= wanted {
        return Ok(max_clients);
    }
    let can = usize::try_from(limit.saturating_sub(SPARE_FDS)).unwrap_or(max_clients);
    if can == 0 {
        bail!("打开文件数的上限只有 {limit}，一个客户端也服务不了：先用 ulimit -n 调高它");
    }
    eprintln!(
        "注意：打开文件数的上限是 {limit}（ulimit -Hn），连着 {max_clients} 个客户端需要 {wanted}；\
         最多只能同时连着 {can} 个"
    );
    Ok(can)
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

/// bind 失败时，按失败的原因给出建议。
fn bind_hint(err: &std::io::Error) -> &'static str {
    match err.kind() {
        ErrorKind::AddrInUse => {
            "端口已被占用：换一个端口，或先结束占用它的程序；刚停掉的服务器留下的 TIME_WAIT 也会占住它，最多一分钟"
        }
        ErrorKind::PermissionDenied => "1024 以下的端口需要管理员权限：换一个 1024 以上的端口",
        ErrorKind::AddrNotAvailable => "本机没有这个 IP 地址：用 127.0.0.1、[::1] 或本机网卡的地址",
        _ => "检查地址是否写对",
    }
}

/// 读取命令行：可选的地址，`--queue`、`--max-line`、`--max-clients`、`--grace`。
/// `-h` / `--help` 时返回 None。
fn parse_args() -> Result<Option<Config>> {
    let mut addr = None;
    let mut queue = DEFAULT_QUEUE;
    let mut max_line = DEFAULT_MAX_LINE;
    let mut max_clients = DEFAULT_MAX_CLIENTS;
    let mut grace = DEFAULT_GRACE;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--queue" => queue = count(args.next(), "--queue", "行数", 65536)?,
            "--max-line" => max_line = count(args.next(), "--max-line", "字节数", 1 << 20)?,
            "--max-clients" => {
                max_clients = count(args.next(), "--max-clients", "个数", 100_000)?;
            }
            "--grace" => grace = seconds(args.next(), "--grace", 0.1, 3600.0)?,
            _ if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
            _ if addr.is_some() => bail!("参数太多：只能给一个地址，例如 127.0.0.1:3214"),
            _ => addr = Some(arg),
        }
    }
    let text = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    // 本例只接受 IP 地址，不接受主机名，这样你确切知道它绑定了哪个地址。
    let addr = text.parse().with_context(|| {
        format!(
            "无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214\
             （本例只接受 IP 地址，不接受主机名）"
        )
    })?;
    Ok(Some(Config {
        addr,
        queue,
        max_line,
        max_clients,
        grace,
    }))
}

/// 选项 `flag` 后面的数：1 到 `max` 之间的整数。
fn count(value: Option<String>, flag: &str, what: &str, max: usize) -> Result<usize> {
    let value = value.with_context(|| format!("{flag} 后面要写一个{what}"))?;
    value
        .parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .with_context(|| format!("{flag} 要写 1 到 {max} 之间的整数，而不是 `{value}`"))
}

/// 选项 `flag` 后面的秒数：`min` 到 `max` 之间，可以有小数。
fn seconds(value: Option<String>, flag: &str, min: f64, max: f64) -> Result<Duration> {
    let value = value.with_context(|| format!("{flag} 后面要写一个秒数"))?;
    value
        .parse::<f64>()
        .ok()
        .filter(|s| (min..=max).contains(s))
        .map(Duration::from_secs_f64)
        .with_context(|| format!("{flag} 要写 {min} 到 {max} 之间的秒数，而不是 `{value}`"))
}
