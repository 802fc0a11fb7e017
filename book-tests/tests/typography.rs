//! Chinese typography, checked with `autocorrect` (the linter trpl-zh-cn uses) over the text of
//! every chapter as the reader sees it, not over its Markdown source.
//!
//! Why not lint the source: in Markdown, a link's brackets stand between its text and the words
//! around it, so `在[Python 的 socket 模块与 Rust](x.md)一章` looks fine to a Markdown linter, while
//! the reader sees "在Python 的 socket 模块与 Rust一章", with two spaces missing. So each paragraph,
//! heading, list item and table cell is rendered to plain text first (link text and inline code
//! as the words they show; code blocks and HTML left out), and that text is what gets linted.

mod support;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use support::root;

/// The text blocks of a chapter as a reader sees them, each with the source line it starts on.
fn rendered_blocks(markdown: &str) -> Vec<(usize, String)> {
    let line_of = |offset: usize| markdown[..offset].matches('\n').count() + 1;
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut in_code_block = false;
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_GFM);
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(_)) => in_code_block = true,
            Event::End(TagEnd::CodeBlock) => in_code_block = false,
            Event::Start(Tag::Paragraph | Tag::Heading { .. } | Tag::Item | Tag::TableCell) => {
                if let Some(block) = current.take().filter(|(_, t)| !t.trim().is_empty()) {
                    blocks.push(block);
                }
                current = Some((line_of(range.start), String::new()));
            }
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableCell,
            ) => {
                if let Some(block) = current.take().filter(|(_, t)| !t.trim().is_empty()) {
                    blocks.push(block);
                }
            }
            Event::Text(text) if !in_code_block => {
                if let Some((_, block)) = current.as_mut() {
                    block.push_str(&text);
                }
            }
            // Inline code is a name, shown in its own font: only the spaces around it matter, so
            // the linter sees a plain Latin word in its place (its own punctuation is code's).
            Event::Code(_) => {
                if let Some((_, block)) = current.as_mut() {
                    block.push_str("code");
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, block)) = current.as_mut() {
                    block.push(' ');
                }
            }
            _ => {}
        }
    }
    blocks
}

/// What autocorrect would change in `text`: None when nothing.
///
/// One rule is off: `halfwidth-punctuation` turns Chinese punctuation into ASCII when it stands
/// between Latin words, as in `a`、`b`, where the book rightly uses Chinese punctuation.
fn complaint(text: &str) -> Option<String> {
    static CONFIG: std::sync::Once = std::sync::Once::new();
    CONFIG.call_once(|| {
        autocorrect::config::load("rules:\n  halfwidth-punctuation: 0\n")
            .expect("autocorrect configuration");
    });
    let fixed = autocorrect::format(text);
    (fixed != text).then(|| format!("  reads as: {text}\n    should: {fixed}"))
}

#[test]
fn the_linter_sees_a_missing_space_around_link_text() {
    // The reason this test renders first: the source passes, the rendered text does not.
    let source = "在[Python 的 socket 模块与 Rust](x.md)一章";
    let lint = autocorrect::lint_for(source, "markdown");
    assert!(
        lint.lines.is_empty(),
        "the Markdown linter now sees it: {}",
        lint.to_json()
    );
    let blocks = rendered_blocks(source);
    assert_eq!(
        blocks,
        [(1, "在Python 的 socket 模块与 Rust一章".to_string())]
    );
    assert!(complaint("在 Python 的 socket 模块与 Rust 一章").is_none());
    assert!(complaint(&blocks[0].1).is_some());
    // Inline code counts as the words it shows.
    assert!(complaint(&rendered_blocks("使用`TcpListener`监听")[0].1).is_some());
    assert!(complaint(&rendered_blocks("使用 `TcpListener` 监听")[0].1).is_none());
}

#[test]
fn every_chapter_follows_chinese_typography() {
    let mut found = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("book")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") || path.ends_with("SUMMARY.md") {
            continue;
        }
        let markdown = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (line, text) in rendered_blocks(&markdown) {
            checked += 1;
            if let Some(why) = complaint(&text) {
                let source = markdown.lines().nth(line - 1).unwrap_or_default();
                found.push(format!("book/{name}:{line}: {source}\n{why}"));
            }
        }
    }
    assert!(checked > 100, "too few text blocks checked: {checked}");
    assert!(
        found.is_empty(),
        "{} text blocks break Chinese typography (autocorrect):\n{}",
        found.len(),
        found.join("\n")
    );
}
