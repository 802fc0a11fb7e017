//! Helpers for the book's tests: the process helpers of the examples' tests (tests/common at the
//! repository root), and building the book with mdBook.
#![allow(dead_code, unused_imports)] // each test crate uses a different part of this module

pub mod book;
#[path = "../../../tests/common/mod.rs"]
mod common;

pub use common::*;
