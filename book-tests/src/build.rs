//! Builds the book with mdBook's own library, at the version README.md installs, and fails on
//! any warning or error that mdBook logs while it builds.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, ensure};
use mdbook_driver::MDBook;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};

use crate::root;

/// Collects every event at WARN or ERROR, with its fields, while the book builds.
#[derive(Clone, Default)]
struct Complaints(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for Complaints {
    fn on_event(&self, event: &Event<'_>, _ctx: LayerContext<'_, S>) {
        if *event.metadata().level() > Level::WARN {
            return;
        }
        struct Fields(String);
        impl Visit for Fields {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                let _ = write!(self.0, " {}={value:?}", field.name());
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let line = format!(
            "{} {}:{}",
            event.metadata().level(),
            event.metadata().target(),
            fields.0
        );
        self.0.lock().unwrap().push(line);
    }
}

/// Builds the book into `dir` (what `mdbook build` writes into target/book), failing on any
/// complaint.
pub fn build_into(dir: &Path) -> Result<()> {
    let mut book = MDBook::load(root()).context("load the book")?;
    book.config.build.build_dir = dir.to_path_buf();
    let complaints = Complaints::default();
    let subscriber = tracing_subscriber::registry().with(complaints.clone());
    let result = tracing::subscriber::with_default(subscriber, || book.build());
    result.context("build the book")?;
    let complaints = complaints.0.lock().unwrap();
    ensure!(
        complaints.is_empty(),
        "mdBook logged warnings or errors:\n{}",
        complaints.join("\n")
    );
    Ok(())
}

/// Builds the book into a fresh temporary directory and returns it (for tests: it panics on
/// any complaint).
pub fn build() -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    if let Err(e) = build_into(out.path()) {
        panic!("{e:#}");
    }
    out
}

/// A chapter of the book, as SUMMARY.md lists it.
pub struct Chapter {
    /// Its title in SUMMARY.md (and in the sidebar).
    pub name: String,
    /// Its source, relative to book/, e.g. `tcp-echo.md`.
    pub source: String,
    /// Its Markdown, as mdBook read it (before preprocessing).
    pub markdown: String,
}

impl Chapter {
    /// The page it is built to, e.g. `tcp-echo.html`.
    pub fn page(&self) -> String {
        match self.source.strip_suffix(".md") {
            Some(stem) => format!("{stem}.html"),
            None => self.source.clone(),
        }
    }

    /// The text of its first `# ` heading, the title at the top of its page.
    pub fn heading(&self) -> Option<String> {
        self.markdown
            .lines()
            .find_map(|line| line.strip_prefix("# "))
            .map(|title| title.trim().to_string())
    }
}

/// The chapters of SUMMARY.md in reading order, read by mdBook itself (drafts, part titles and
/// separators left out).
pub fn chapters() -> Result<Vec<Chapter>> {
    let book = MDBook::load(root()).context("load the book")?;
    let chapters: Vec<Chapter> = book
        .book
        .chapters()
        .map(|chapter| Chapter {
            name: chapter.name.clone(),
            source: chapter
                .path
                .as_deref()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default(),
            markdown: chapter.content.clone(),
        })
        .collect();
    ensure!(!chapters.is_empty(), "no chapters in book/SUMMARY.md");
    Ok(chapters)
}
