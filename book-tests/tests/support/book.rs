//! Builds the book with mdBook's own library, at the version README.md installs (the code lives
//! in the library, src/build.rs, which the PDF command shares).

pub use book_tests::build::build;
