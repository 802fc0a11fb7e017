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

/// The folder for everything the book's tools write (`target/` at the repository root, where
/// `mdbook build` puts the book too, whatever CARGO_TARGET_DIR says).
pub fn target_dir() -> PathBuf {
    root().join("target")
}
