//! 练习的参考答案：用数据文件验证 Little 定律。
//!
//! 闭环里每个连接总有一条消息在路上：N 个连接、每秒回显 X 条，每条平均就要等 N / X 秒。
//! 这个程序从 bench_ladder 写的结果文件里读出每一个闭环的格子，算出 Little 定律预测的平均延迟，
//! 和 echo_bench 量到的平均延迟（`latency_us.mean`）放在一起，再算两者之比。
//!
//! 运行：`cargo run --example ex_performance_little`（读 bench/results/ladder.json），
//! 或者 `cargo run --example ex_performance_little -- 文件` 读另一次运行的结果。

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result, bail};
use serde_json::Value;

const USAGE: &str = "用法：ex_performance_little [结果文件]
从 bench_ladder 写的结果文件（默认 bench/results/ladder.json）读出每个闭环的格子，
比较 Little 定律预测的平均延迟（连接数 ÷ 每秒回显条数）和量到的平均延迟。";

fn main() {
    match run() {
        // 标准输出被关闭了（例如接在 `| head -3` 后面）：没有人在读了，安静地结束。
        Ok(text) => drop(std::io::stdout().write_all(text.as_bytes())),
        Err(err) => {
            eprintln!("错误：{err:#}");
            std::process::exit(1);
        }
    }
}

/// 要打印的全部文字。
fn run() -> Result<String> {
    let mut args = std::env::args().skip(1);
    let path = match (args.next(), args.next()) {
        (Some(a), _) if a == "-h" || a == "--help" => {
            return Ok(format!("{USAGE}\n"));
        }
        (Some(a), _) if a.starts_with('-') => bail!("不认识的选项 {a}：用 --help 查看用法"),
        (Some(_), Some(_)) => bail!("参数太多：只能给一个结果文件"),
        (Some(a), None) => a,
        (None, _) => "bench/results/ladder.json".to_string(),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("无法读取 {path}（在仓库的根目录下运行？）"))?;
    let data: Value = serde_json::from_str(&text).with_context(|| format!("{path} 不是 JSON"))?;
    let Some(cells) = data["cells"].as_array() else {
        bail!("{path} 不是 bench_ladder 写的结果文件：没有 cells");
    };
    let mut out = String::new();
    writeln!(
        out,
        "{:<18} {:>6} {:>6} {:>9} {:>14} {:>14} {:>6}",
        "服务器", "连接", "放法", "msg/s", "预测的平均", "量到的平均", "之比"
    )?;
    // ANCHOR: little
    for cell in cells.iter().filter(|c| c["mode"] == "closed") {
        let bench = &cell["bench"];
        let (Some(n), Some(rate), Some(mean)) = (
            cell["connections"].as_f64(),
            bench["msg_per_s"].as_f64(),
            bench["latency_us"]["mean"].as_f64(),
        ) else {
            continue; // 出错的格子：没有测到回显
        };
        if rate <= 0.0 {
            continue;
        }
        // Little 定律：队伍里平均有 N 条（每个连接一条），每秒走掉 X 条，每条平均等 N / X 秒。
        let predicted = n / rate * 1e6; // 微秒
        writeln!(
            out,
            "{:<18} {:>6} {:>6} {:>9.0} {:>11.1} µs {:>11.1} µs {:>6.3}",
            cell["server"].as_str().unwrap_or("?"),
            n,
            cell["placement"].as_str().unwrap_or("-"),
            rate,
            predicted,
            mean,
            mean / predicted
        )?;
    }
    // ANCHOR_END: little
    Ok(out)
}
