//! No code: this package holds the tests in tests/ that build and check the book.
