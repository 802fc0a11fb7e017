//! Helpers for the book's tests: the process helpers of the examples' tests (tests/common at the
//! repository root, compiled once into this package's library), and building the book.
#![allow(dead_code, unused_imports)] // each test crate uses a different part of this module

pub mod book;

pub use book_tests::common::*;
pub mod search;
