//! The machinery that the book's tests and its PDF command share: building the book with mdBook
//! (`build`), serving it on loopback (`server`), driving headless Chromium over the Chrome
//! DevTools Protocol (`browser`), and printing the book to PDF (`pdf`).
//!
//! None of it is part of what a reader compiles for `cargo run --example tcp_echo`: this package
//! is a workspace member of its own.

pub mod browser;
pub mod build;
pub mod pdf;
pub mod server;

/// The examples' test helpers (repository root, processes with bounded waits, percent-decoding),
/// compiled once here for the book's tests too.
#[path = "../../tests/common/mod.rs"]
pub mod common;

pub use common::{Proc, STEP, percent_decode, root, tool_available};

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The folder for everything the book's tools write (`target/` at the repository root, where
/// `mdbook build` puts the book too, whatever CARGO_TARGET_DIR says).
pub fn target_dir() -> PathBuf {
    root().join("target")
}

/// Runs a command-line tool to its end, waiting `limit` at most (then it is killed), and returns
/// what it printed on stdout; a failure carries what it printed on stderr.
pub fn run_tool(mut command: Command, limit: Duration) -> anyhow::Result<String> {
    use std::io::Read;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let name = format!("{command:?}");
    let mut child = command
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {name}: {e}"))?;
    // Both pipes are read to their ends on threads of their own, so that neither fills up.
    let (tx, rx) = mpsc::channel();
    let pipes: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().expect("piped stdout")),
        Box::new(child.stderr.take().expect("piped stderr")),
    ];
    for (n, mut pipe) in pipes.into_iter().enumerate() {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send((n, bytes));
        });
    }
    let deadline = Instant::now() + limit;
    let mut output = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((n, bytes)) => output[n] = bytes,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("{name} did not end within {limit:?}");
            }
        }
    }
    // Both pipes are closed: the process has ended, or is about to.
    let status = child.wait()?;
    let [stdout, stderr] = output.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    anyhow::ensure!(status.success(), "{name} failed ({status}): {stderr}");
    Ok(stdout)
}
