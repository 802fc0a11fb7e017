//! The whole book as one PDF, to hand out or print: target/book.pdf.
//!
//!     cargo run -p book-tests --example pdf
//!
//! It builds the book into target/book/ (as `mdbook build` does) and prints its print page with
//! headless Chromium: a title page, a table of contents with page numbers, every chapter, page
//! numbers at the foot, Chinese in Noto Sans CJK, code in a monospace font, diagrams as vectors.
//! A copy goes to target/book/book.pdf, where the book's front page links to it, so that
//! target/book/ is then the whole site that GitHub Pages publishes.
//!
//! Needs Chromium, the Noto CJK fonts and poppler-utils (for the page numbers of the table of
//! contents); on Debian/Ubuntu: `sudo apt-get install chromium fonts-noto-cjk poppler-utils`.

use std::process::ExitCode;

use book_tests::pdf::{PDF_NAME, print_book};
use book_tests::{build::build_into, target_dir};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pdf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let site = target_dir().join("book");
    build_into(&site)?;
    let pdf = target_dir().join(PDF_NAME);
    let printed = print_book(&site, &pdf)?;
    std::fs::copy(&pdf, site.join(PDF_NAME))?;
    println!(
        "{} ({:.1} MB); the site with it: {}",
        pdf.display(),
        printed.bytes as f64 / 1e6,
        site.display()
    );
    Ok(())
}
