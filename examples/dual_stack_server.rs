//! 双栈 TCP 回显服务器：一个 IPv6 套接字绑定 `[::]`，关掉 IPV6_V6ONLY 后，
//! IPv4 客户端也能连上来，它的地址显示成 IPv4 映射地址 `[::ffff:127.0.0.1]:端口`。
//!
//! 运行：`cargo run --example dual_stack_server`（默认绑定 [::]:3214，IPV6_V6ONLY 关闭），
//! 或 `cargo run --example dual_stack_server -- [::]:3214 --v6only`（只接受 IPv6 客户端）。
//!
//! 注意：`[::]` 是本机的所有 IPv6 地址（双栈时也包括所有 IPv4 地址），不只是回环地址。

use std::io::{Read, Write};
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use socket2::{Domain, Socket, Type};

const DEFAULT_ADDR: &str = "[::]:3214";

fn main() {
    if let Err(err) = run() {
        eprintln!("错误：{err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let (addr, v6only) = parse_args()?;

    let s = Socket::new(Domain::IPV6, Type::STREAM, None).context("无法创建 IPv6 套接字")?;
    // 必须在 bind 之前设置。不设置时，Linux 用 /proc/sys/net/ipv6/bindv6only 的值（默认 0，即关闭）。
    // Python: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 或 1)
    s.set_only_v6(v6only).context("无法设置 IPV6_V6ONLY")?;
    s.bind(&addr.into()).with_context(|| {
        format!("无法绑定 {addr}（端口可能已被占用：换一个端口，或先结束占用它的程序）")
    })?;
    s.listen(128).context("无法监听")?;
    let local = s.local_addr()?.as_socket().context("不是 IP 地址")?;
    println!("{local}");
    if v6only {
        println!("IPV6_V6ONLY = true：只接受 IPv6 客户端");
    } else {
        println!("IPV6_V6ONLY = false：IPv4 客户端也能连上来");
    }

    let (mut clnt, addr) = s.accept().context("接受连接失败")?;
    let addr = addr.as_socket().context("客户端地址不是 IP 地址")?;
    // IPv4 客户端的地址在 IPv6 套接字上显示为 [::ffff:a.b.c.d]:端口。
    println!("Client Address: {addr}");

    let mut buf = [0u8; 1024];
    loop {
        let n = clnt
            .read(&mut buf)
            .with_context(|| format!("从 {addr} 接收数据失败"))?;
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        println!("Receive Data: {}", String::from_utf8_lossy(data));
        clnt.write_all(data)
            .with_context(|| format!("向 {addr} 发送数据失败"))?;
    }
    Ok(())
}

/// 参数：可选的 IPv6 地址（默认 `[::]:3214`），可选的 `--v6only`。
fn parse_args() -> Result<(SocketAddr, bool)> {
    let mut addr = None;
    let mut v6only = false;
    for arg in std::env::args().skip(1) {
        if arg == "--v6only" {
            v6only = true;
        } else if addr.is_none() {
            let parsed: SocketAddr = arg.parse().with_context(|| {
                format!("无法解析地址 `{arg}`：应写成 [IPv6]:端口，例如 [::]:3214")
            })?;
            if !parsed.is_ipv6() {
                bail!("`{arg}` 不是 IPv6 地址：双栈服务器要绑定 IPv6 地址，例如 [::]:3214");
            }
            addr = Some(parsed);
        } else {
            bail!(
                "参数太多：用法是 `cargo run --example dual_stack_server -- [::]:3214 [--v6only]`"
            );
        }
    }
    let addr = match addr {
        Some(addr) => addr,
        None => DEFAULT_ADDR.parse()?,
    };
    Ok((addr, v6only))
}
