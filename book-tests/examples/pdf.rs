//! The whole book as one PDF, to hand out or print: target/book.pdf.
//!
//!     cargo run -p book-tests --example pdf
//!
//! It builds the book into target/book/ (as `mdbook build` does) and prints its print page with
//! headless Chromium: a title page, a table of contents with page numbers, every chapter, page
//! numbers at the foot, Chinese in Noto Sans CJK, code in a monospace font, diagrams as vectors.
//! A copy goes to target/book/book.pdf, where the book's front page links to it, so that
//! target/book/ is then the whole site that GitHub Pages publishes (.github/workflows/pages.yml).
//!
//! Needs Chromium, the Noto CJK fonts and poppler-utils (for the page numbers of the table of
//! contents); on Debian/Ubuntu: `sudo apt-get install chromium fonts-noto-cjk poppler-utils`.

use std::process::ExitCode;

use book_tests::pdf::{PDF_NAME, make_site};
use book_tests::target_dir;

fn main() -> ExitCode {
    let site = target_dir().join("book");
    let pdf = target_dir().join(PDF_NAME);
    match make_site(&site, &pdf) {
        Ok(printed) => {
            println!(
                "{} ({:.1} MB); the site, with the PDF: {}",
                pdf.display(),
                printed.bytes as f64 / 1e6,
                site.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pdf: {e:#}");
            ExitCode::FAILURE
        }
    }
}
