//! The book is built with mdBook's own library, at the version README.md installs, and checked:
//! no warning or error logged, every include resolved, every internal link, anchor and image
//! present, every example and transcript shown by some chapter.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use book_tests::pdf::PDF_NAME;
use mdbook_driver::MDBook;

use support::book::build;
use support::root;

fn html_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The values of every `attr="..."` in an HTML text.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let start = at + needle.len();
            html[start..].find('"').map(|end| &html[start..start + end])
        })
        .collect()
}

/// Undoes the few HTML entities and percent-escapes that mdBook writes into URLs.
fn unescape(url: &str) -> String {
    support::percent_decode(&url.replace("&amp;", "&"))
}

#[test]
fn the_book_builds_without_warnings_and_every_link_resolves() {
    let out = build();
    let dir = out.path();
    let pages = html_files(dir);
    assert!(pages.len() > 5, "too few pages: {pages:?}");

    let mut ids: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        let set = attr_values(&html, "id").into_iter().map(unescape).collect();
        ids.insert(page.clone(), set);
        texts.insert(page.clone(), html);
    }

    let mut broken = Vec::new();
    for (page, html) in &texts {
        let name = page.strip_prefix(dir).unwrap().display().to_string();
        // An include or other mdBook directive that did not resolve stays in the text.
        if html.contains("{{#") {
            broken.push(format!("{name}: an unresolved {{{{#...}}}} directive"));
        }
        // A whole-file include shows anchor comments verbatim: they must not reach the reader.
        if html.contains("ANCHOR:") || html.contains("ANCHOR_END:") {
            broken.push(format!("{name}: an ANCHOR comment is shown to the reader"));
        }
        let mut targets = attr_values(html, "href");
        targets.extend(attr_values(html, "src"));
        for target in targets {
            if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                continue;
            }
            let target = unescape(target);
            let (file, fragment) = match target.split_once('#') {
                Some((f, frag)) => (f, Some(frag)),
                None => (target.as_str(), None),
            };
            let file = file.split('?').next().unwrap();
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let resolved = normalize_path(&resolved);
            // The PDF is put next to the pages when the site is made (tests/pdf.rs checks
            // that the front page's link to it then resolves).
            if resolved == dir.join(PDF_NAME) {
                continue;
            }
            if !resolved.exists() {
                broken.push(format!("{name}: link to missing file {target}"));
                continue;
            }
            if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
                match ids.get(&resolved) {
                    Some(set) if set.contains(fragment) => {}
                    Some(_) => broken.push(format!("{name}: link to missing anchor {target}")),
                    None => {} // not an HTML page (an image, a script): no anchors to check
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

fn normalize_path(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn chapters_text() -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(root().join("book")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            all.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    all
}

/// The files under `dir` (in its subfolders too) whose names end in `.ext`, as paths relative to
/// `dir` with `/` between folders. A missing folder has no files.
fn file_stems(dir: &str, ext: &str) -> Vec<String> {
    let base = root().join(dir);
    let mut names = Vec::new();
    let mut todo = vec![base.clone()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                let relative = path.strip_prefix(&base).unwrap();
                names.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    names.sort();
    names
}

#[test]
fn every_example_transcript_and_image_is_shown_by_a_chapter() {
    let text = chapters_text();
    let mut missing = Vec::new();
    // (folder, extension, how a chapter names a file of it); Python folders are left out of the
    // Rust examples' walk by their extension.
    let wanted = [
        ("examples", "rs", "../examples/"),
        ("examples", "py", "../examples/"),
        ("part2/examples", "rs", "../part2/examples/"),
        ("part2/examples", "py", "../part2/examples/"),
        ("ladder/examples", "rs", "../ladder/examples/"),
        ("ladder/examples", "py", "../ladder/examples/"),
        ("bench/examples", "rs", "../bench/examples/"),
        ("security/examples", "rs", "../security/examples/"),
        ("security/examples", "py", "../security/examples/"),
        ("book/transcripts", "txt", "transcripts/"),
        ("book/images", "svg", "images/"),
    ];
    for (dir, ext, prefix) in wanted {
        for name in file_stems(dir, ext) {
            let path = format!("{prefix}{name}");
            // `{{#include path}}`, `{{#include path:anchor}}`, `{{#rustdoc_include path:anchor}}`,
            // or an image `](path)`.
            let shown = text.match_indices(&path).any(|(at, _)| {
                let before = &text[..at];
                let next = text[at + path.len()..].chars().next();
                let directive = before.ends_with("{{#include ")
                    || before.ends_with("{{#rustdoc_include ")
                    || before.ends_with("](");
                directive && matches!(next, Some('}' | ':' | ')'))
            });
            if !shown {
                missing.push(format!("{dir}/{name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not shown by any chapter:\n{}",
        missing.join("\n")
    );
}

#[test]
fn no_code_is_pasted_into_the_chapters() {
    // Every fenced code block holds an include, or is a plain `sh` block of commands for the
    // reader to type, or a diagram-free text block. Rust and Python code must come from files.
    let mut pasted = Vec::new();
    for entry in std::fs::read_dir(root().join("book")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines().enumerate();
        while let Some((n, line)) = lines.next() {
            let Some(lang) = line.trim_start().strip_prefix("```") else {
                continue;
            };
            let lang = lang.split(',').next().unwrap_or("").trim().to_string();
            let body: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.trim_start().starts_with("```"))
                .collect();
            let included = body.len() == 1
                && (body[0].trim().starts_with("{{#include ")
                    || body[0].trim().starts_with("{{#rustdoc_include "));
            if (lang == "rust" || lang == "python" || lang == "console") && !included {
                pasted.push(format!(
                    "{}:{}: a ```{lang} block must be one {{{{#include}}}}",
                    path.display(),
                    n + 1
                ));
            }
        }
    }
    assert!(pasted.is_empty(), "{}", pasted.join("\n"));
}

#[test]
fn the_configuration_is_what_the_readme_promises() {
    let book = MDBook::load(root()).expect("load the book");
    assert_eq!(book.config.book.language.as_deref(), Some("zh-CN"));
    let runnable: Option<bool> = book.config.get("output.html.playground.runnable").unwrap();
    assert_eq!(
        runnable,
        Some(false),
        "the playground cannot reach a network"
    );
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("cargo install mdbook --locked --version 0.5.4"),
        "README.md must install the mdBook version that the tests build with"
    );
    let manifest = std::fs::read_to_string(root().join("book-tests/Cargo.toml")).unwrap();
    assert!(manifest.contains("mdbook-driver = { version = \"=0.5.4\""));
}

#[test]
fn the_readme_and_the_pages_workflow_make_the_pdf_with_the_same_command() {
    let command = "cargo run -p book-tests --example pdf";
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains(command), "README.md must show `{command}`");
    let workflow = std::fs::read_to_string(root().join(".github/workflows/pages.yml")).unwrap();
    assert!(
        workflow.contains(&format!("run: {command}")),
        "the Pages workflow must run `{command}`"
    );
    // The command writes the site, PDF included, to target/book/ (book.toml's build-dir): that
    // folder is what the workflow publishes.
    let book = MDBook::load(root()).expect("load the book");
    assert_eq!(book.config.build.build_dir, Path::new("target/book"));
    assert!(
        workflow.contains("path: target/book\n"),
        "the Pages workflow must publish target/book"
    );
}

#[test]
fn the_committed_diagrams_are_what_the_script_draws() {
    let Some(mut python) = support::python_plain() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let status = python
        .arg(root().join("tools/draw_diagrams.py"))
        .arg(out.path())
        .status()
        .expect("run tools/draw_diagrams.py");
    assert!(status.success());
    for name in ["tcp-model.svg", "udp-model.svg"] {
        let drawn = std::fs::read_to_string(out.path().join(name)).unwrap();
        let committed = std::fs::read_to_string(root().join("book/images").join(name)).unwrap();
        assert!(
            drawn == committed,
            "book/images/{name} differs from what tools/draw_diagrams.py draws: \
             run `python3 tools/draw_diagrams.py` and commit the result"
        );
    }
}

#[test]
fn the_committed_charts_are_what_the_script_draws_from_the_committed_data() {
    let Some(mut python) = support::python_plain() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let status = python
        .arg(root().join("tools/draw_charts.py"))
        .arg(out.path())
        .arg(root().join("bench/results/ladder.json"))
        .status()
        .expect("run tools/draw_charts.py");
    assert!(status.success());
    for name in ["perf-throughput.svg", "perf-p99.svg", "perf-memory.svg"] {
        let drawn = std::fs::read_to_string(out.path().join(name)).unwrap();
        let committed = std::fs::read_to_string(root().join("book/images").join(name)).unwrap();
        assert!(
            drawn == committed,
            "book/images/{name} differs from what tools/draw_charts.py draws from \
             bench/results/ladder.json: run `python3 tools/draw_charts.py` and commit the result"
        );
    }
}
