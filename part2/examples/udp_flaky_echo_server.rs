//! 故意不可靠的 UDP 回显服务器，用来试验客户端怎样对付丢失和重复：
//! 按收到的顺序，每 3 个数据报里，第 1 个丢掉不回，第 2 个回两次，第 3 个照常回一次。
//!
//! 运行：`cargo run --example udp_flaky_echo_server`（默认绑定 127.0.0.1:3214），
//! 再在另一个终端运行 `cargo run --example udp_id_client`。它一直运行，按 Ctrl-C 结束。
//!
//! 规则是固定的，所以每次运行的结果都一样：真实网络上的丢失和重复是随机的，但客户端要做的事一样。

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};

use anyhow::{Context, Result, bail};

/// 没有给出地址时使用的默认地址：笔记里的端口 3214，只绑定回环地址。
const DEFAULT_ADDR: &str = "127.0.0.1:3214";

const USAGE: &str = "用法：udp_flaky_echo_server [地址]
故意不可靠的 UDP 回显服务器：按收到的顺序，每 3 个数据报里，第 1 个丢掉不回，第 2 个回两次，
第 3 个照常回一次。每收到一个数据报打印一行。一直运行，按 Ctrl-C 结束。
地址是要绑定的 IP:端口，默认 127.0.0.1:3214；127.0.0.1:0 让系统挑一个空闲端口，IPv6 写成 [::1]:3214。";

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
    let Some(addr) = parse_addr()? else {
        say!("{USAGE}")?;
        return Ok(());
    };

    let s = UdpSocket::bind(addr).map_err(|e| {
        let hint = bind_hint(&e);
        anyhow::Error::new(e).context(format!("无法绑定 {addr}（{hint}）"))
    })?;
    say!("{}", s.local_addr()?)?;

    // ANCHOR: rules
    let mut buf = [0u8; 65535]; // 一个 UDP 数据报最多 65507 字节（IPv4）：整个收下，不截断
    let mut count: u64 = 0;
    loop {
        let (n, client) = s.recv_from(&mut buf).context("接收数据报失败")?;
        let data = &buf[..n];
        count += 1;
        // 第 1、4、7……个丢掉；第 2、5、8……个回两次；第 3、6、9……个回一次。
        let copies = match count % 3 {
            1 => 0,
            2 => 2,
            _ => 1,
        };
        for _ in 0..copies {
            if let Err(err) = s.send_to(data, client) {
                // 一个数据报发不出去，不该让服务器停下：说一声，接着收下一个。
                eprintln!("（无法回复 {client}：{err}）");
            }
        }
        let what = match copies {
            0 => "丢掉，不回复",
            2 => "回复两次",
            _ => "回复一次",
        };
        say!("第 {count} 个数据报：{n} 字节，来自 {client}，{what}")?;
    }
    // ANCHOR_END: rules
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
        ErrorKind::AddrInUse => "端口已被占用：换一个端口，或先结束占用它的程序",
        ErrorKind::PermissionDenied => "1024 以下的端口需要管理员权限：换一个 1024 以上的端口",
        ErrorKind::AddrNotAvailable => "本机没有这个 IP 地址：用 127.0.0.1、[::1] 或本机网卡的地址",
        _ => "检查地址是否写对",
    }
}

/// 读取可选的命令行参数：要绑定的地址，形如 `127.0.0.1:3214` 或 `[::1]:0`。
/// `-h` / `--help` 时返回 None。
fn parse_addr() -> Result<Option<SocketAddr>> {
    let mut args = std::env::args().skip(1);
    let text = match args.next() {
        None => DEFAULT_ADDR.to_string(),
        Some(arg) if arg == "-h" || arg == "--help" => return Ok(None),
        Some(arg) if arg.starts_with('-') => bail!("不认识的选项 {arg}：用 --help 查看用法"),
        Some(arg) => arg,
    };
    if args.next().is_some() {
        bail!(
            "参数太多：只需要一个地址，例如 `cargo run --example udp_flaky_echo_server -- 127.0.0.1:3214`"
        );
    }
    let addr = text.parse().with_context(|| {
        format!("无法解析地址 `{text}`：服务器要绑定的地址应写成 IP:端口，例如 127.0.0.1:3214 或 [::1]:3214")
    })?;
    Ok(Some(addr))
}
