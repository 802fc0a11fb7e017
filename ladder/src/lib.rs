//! No code: the concurrency ladder's programs are the examples in examples/, each a whole program
//! a reader opens on its own, and their tests are in tests/.
