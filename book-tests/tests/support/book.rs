//! Builds the book with mdBook's own library, at the version README.md installs.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use mdbook_driver::MDBook;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use super::root;

/// Collects every event at WARN or ERROR, with its fields, while the book builds.
#[derive(Clone, Default)]
struct Complaints(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for Complaints {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
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

/// Builds the book into a fresh temporary directory and returns it, failing on any complaint.
pub fn build() -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let mut book = MDBook::load(root()).expect("load the book");
    book.config.build.build_dir = out.path().to_path_buf();
    let complaints = Complaints::default();
    let subscriber = tracing_subscriber::registry().with(complaints.clone());
    let result = tracing::subscriber::with_default(subscriber, || book.build());
    result.expect("build the book");
    let complaints = complaints.0.lock().unwrap();
    assert!(
        complaints.is_empty(),
        "mdBook logged warnings or errors:\n{}",
        complaints.join("\n")
    );
    out
}
