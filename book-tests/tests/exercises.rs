//! The exercises (issue 12): every chapter that has programs ends with `## 练习`, 2 to 5 exercises
//! in one format, each with a folded solution that is a tested program or a checked transcript;
//! every solution program is run by a test of its package and shown by a chapter; and the page
//! book/exercises.md (附录 C：练习一览) is generated from the chapters.
//!
//! The format, as a chapter writes it:
//!
//! ```text
//! ## 练习
//!
//! ### 练习 1：标题（★）
//!
//! 题目……先预测，再运行……
//!
//! <details>
//! <summary>参考答案</summary>
//!
//! 解释……（an include of ../examples/ex_<chapter>_<slug>.rs, or of
//! transcripts/exercises/<chapter>/NAME.txt）
//!
//! </details>
//! ```
//!
//! `UPDATE_TRANSCRIPTS=1 cargo test -p book-tests --test exercises` rewrites book/exercises.md.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use book_tests::build::{Chapter, chapters};
use support::book::build;
use support::root;

/// The exercise page, relative to book/.
const PAGE: &str = "exercises.md";
/// Where the transcripts of observation exercises live, relative to book/.
const TRANSCRIPTS: &str = "transcripts/exercises/";
/// The packages whose examples/ may hold solutions, relative to the repository root.
const PACKAGES: [&str; 5] = [".", "part2", "ladder", "bench", "security"];
const DIFFICULTIES: [&str; 3] = ["（★）", "（★★）", "（★★★）"];

#[derive(Debug, PartialEq)]
enum Kind {
    /// Its solution includes at least one `ex_*` program.
    Code,
    /// Its solution includes a transcript under transcripts/exercises/ and no program.
    Observation,
}

#[derive(Debug)]
struct Exercise {
    number: usize,
    /// The title as written (Markdown), without number and difficulty.
    title: String,
    /// `★`, `★★` or `★★★`.
    stars: String,
    /// The heading's HTML id, as mdBook makes it.
    id: String,
    /// The text between the heading and `<details>`.
    task: String,
    /// The files its solution includes, as written (relative to book/).
    includes: Vec<String>,
    kind: Option<Kind>,
}

/// The paths of every `{{#include PATH}}`, `{{#include PATH:anchor}}` and
/// `{{#rustdoc_include PATH:anchor}}` in `text`.
fn includes(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for directive in ["{{#include ", "{{#rustdoc_include "] {
        for (at, _) in text.match_indices(directive) {
            let rest = &text[at + directive.len()..];
            let Some(end) = rest.find("}}") else { continue };
            let path = rest[..end].trim();
            let path = path.split(':').next().unwrap_or(path).trim();
            paths.push(path.to_string());
        }
    }
    paths
}

/// The folder of the package whose program `path` (relative to book/) is, e.g. `../part2/examples/`
/// for `../part2/examples/python/x.py`; None if it is no program.
fn program_folder(path: &str) -> Option<String> {
    let at = path.find("examples/")?;
    Some(path[..at + "examples/".len()].to_string())
}

/// The file name of a path.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_solution(path: &str) -> bool {
    program_folder(path).is_some() && file_name(path).starts_with("ex_")
}

/// A chapter has programs if it includes a file from an examples/ folder.
fn has_programs(chapter: &Chapter) -> bool {
    includes(&chapter.markdown)
        .iter()
        .any(|p| program_folder(p).is_some())
}

fn stem(chapter: &Chapter) -> &str {
    chapter
        .source
        .strip_suffix(".md")
        .unwrap_or(&chapter.source)
}

/// The heading's text as the reader sees it (code spans without backticks, emphasis without
/// stars), the way mdBook reads it to make the id.
fn plain_text(markdown: &str) -> String {
    use pulldown_cmark::{Event, Parser};
    Parser::new(markdown)
        .filter_map(|event| match event {
            Event::Text(t) | Event::Code(t) => Some(t.to_string()),
            _ => None,
        })
        .collect()
}

/// mdBook's heading id (mdbook-html's `id_from_content`).
fn heading_id(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c)
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// Parses `### 练习 N：标题（★）` into (N, 标题, stars).
fn parse_heading(heading: &str) -> Option<(usize, String, String)> {
    let rest = heading.strip_prefix("练习 ")?;
    let (number, rest) = rest.split_once('：')?;
    let number = number.parse().ok()?;
    let difficulty = DIFFICULTIES.iter().find(|d| rest.ends_with(*d))?;
    let title = rest.strip_suffix(difficulty)?.trim();
    if title.is_empty() {
        return None;
    }
    let stars = difficulty
        .trim_matches(|c| c == '（' || c == '）')
        .to_string();
    Some((number, title.to_string(), stars))
}

/// The chapter's exercises, and what is wrong with them (empty when all is well).
fn exercises_of(chapter: &Chapter) -> (Vec<Exercise>, Vec<String>) {
    let mut problems = Vec::new();
    let lines: Vec<&str> = chapter.markdown.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == "## 练习") else {
        problems.push("no `## 练习` section".to_string());
        return (Vec::new(), problems);
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("# ") || l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let section = &lines[start + 1..end];
    let headings: Vec<usize> = (0..section.len())
        .filter(|&i| section[i].starts_with("### "))
        .collect();

    let stem = stem(chapter);
    let solution_prefix = format!("ex_{}_", stem.replace('-', "_"));
    // The folders of the chapter's own programs: its solutions live in the same package.
    let folders: BTreeSet<String> = includes(&chapter.markdown)
        .iter()
        .filter(|p| !is_solution(p))
        .filter_map(|p| program_folder(p))
        .collect();

    let mut exercises = Vec::new();
    for (k, &h) in headings.iter().enumerate() {
        let heading = section[h].trim_start_matches("### ").trim_end();
        let body = &section[h + 1..headings.get(k + 1).copied().unwrap_or(section.len())];
        let Some((number, title, stars)) = parse_heading(heading) else {
            problems.push(format!(
                "heading `### {heading}` is not `### 练习 N：标题（★）` (difficulty （★）, （★★） or （★★★））"
            ));
            continue;
        };
        let name = format!("练习 {number}");
        if number != k + 1 {
            problems.push(format!("{name}: numbered {number}, expected {}", k + 1));
        }
        let mut exercise = Exercise {
            number,
            id: heading_id(&plain_text(heading)),
            title,
            stars,
            task: String::new(),
            includes: Vec::new(),
            kind: None,
        };

        // The folded solution: blank, <details>, <summary>参考答案</summary>, blank, ..., blank,
        // </details>, then only blank lines.
        let opens: Vec<usize> = (0..body.len())
            .filter(|&i| body[i].contains("<details"))
            .collect();
        let closes: Vec<usize> = (0..body.len())
            .filter(|&i| body[i].contains("</details"))
            .collect();
        let (&[open], &[close]) = (opens.as_slice(), closes.as_slice()) else {
            problems.push(format!(
                "{name}: needs exactly one <details> ... </details> (its solution), found {} and {}",
                opens.len(),
                closes.len()
            ));
            exercises.push(exercise);
            continue;
        };
        let blank = |i: usize| body.get(i).is_none_or(|l| l.trim().is_empty());
        let layout_ok = open > 0
            && blank(open - 1)
            && body[open].trim_end() == "<details>"
            && body.get(open + 1).map(|l| l.trim_end()) == Some("<summary>参考答案</summary>")
            && open + 2 < close
            && blank(open + 2)
            && blank(close - 1)
            && body[close].trim_end() == "</details>"
            && (close + 1..body.len()).all(blank);
        if !layout_ok {
            problems.push(format!(
                "{name}: the solution must be laid out as: blank line, `<details>`, \
                 `<summary>参考答案</summary>`, blank line, the solution, blank line, `</details>`, \
                 and nothing after it (mdBook renders the Markdown inside only with those blank lines)"
            ));
        }
        exercise.task = body[..open].join("\n").trim().to_string();
        if exercise.task.is_empty() {
            problems.push(format!("{name}: no task before the solution"));
        }
        let solution = body[open..=close].join("\n");
        exercise.includes = includes(&solution);

        let programs: Vec<&String> = exercise
            .includes
            .iter()
            .filter(|p| is_solution(p))
            .collect();
        let transcripts: Vec<&String> = exercise
            .includes
            .iter()
            .filter(|p| p.starts_with(TRANSCRIPTS))
            .collect();
        for path in &programs {
            let file = file_name(path);
            if !file.starts_with(&solution_prefix)
                || !(file.ends_with(".rs") || file.ends_with(".py"))
            {
                problems.push(format!(
                    "{name}: solution {path} should be named {solution_prefix}<slug>.rs (or .py)"
                ));
            }
            let folder = program_folder(path).unwrap();
            if !folders.contains(&folder) {
                problems.push(format!(
                    "{name}: solution {path} is not in the examples/ folder of the chapter's \
                     programs ({})",
                    folders.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let transcript_folder = format!("{TRANSCRIPTS}{stem}/");
        for path in &transcripts {
            if !path.starts_with(&transcript_folder) || !path.ends_with(".txt") {
                problems.push(format!(
                    "{name}: transcript {path} should be {transcript_folder}NAME.txt"
                ));
            }
        }
        for path in programs.iter().chain(&transcripts) {
            if !root().join("book").join(path).is_file() {
                problems.push(format!("{name}: includes {path}, which does not exist"));
            }
        }
        exercise.kind = if !programs.is_empty() {
            Some(Kind::Code)
        } else if !transcripts.is_empty() {
            Some(Kind::Observation)
        } else {
            problems.push(format!(
                "{name}: its solution includes no tested answer: a code exercise includes a \
                 program {solution_prefix}<slug>.rs, an observation exercise a transcript \
                 {transcript_folder}NAME.txt"
            ));
            None
        };
        exercises.push(exercise);
    }

    if !(2..=5).contains(&exercises.len()) {
        problems.push(format!(
            "has {} exercises (`### 练习 N：标题（★）` headings) under `## 练习`, needs 2 to 5",
            exercises.len()
        ));
    }
    if !exercises.is_empty() && !exercises.iter().any(|e| e.task.contains("预测")) {
        problems.push(
            "no exercise asks the reader to predict (the word 预测 in a task) before running"
                .to_string(),
        );
    }
    (exercises, problems)
}

/// The chapters to look at: every chapter with programs, and any other with a `## 练习` section.
fn chapters_with_exercises() -> Vec<Chapter> {
    chapters()
        .expect("read book/SUMMARY.md")
        .into_iter()
        .filter(|c| has_programs(c) || c.markdown.lines().any(|l| l.trim_end() == "## 练习"))
        .collect()
}

#[test]
fn every_chapter_with_programs_ends_with_exercises_in_the_format() {
    let mut report = Vec::new();
    for chapter in chapters_with_exercises() {
        let (_, problems) = exercises_of(&chapter);
        if !problems.is_empty() {
            report.push(format!(
                "{} ({}):\n  - {}",
                chapter.source,
                chapter.name,
                problems.join("\n  - ")
            ));
        }
    }
    assert!(
        report.is_empty(),
        "exercises missing or not in the format of book-tests/tests/exercises.rs, by chapter:\n{}",
        report.join("\n")
    );
}

/// The files under `dir` (not in subfolders) whose names start with `ex_` and end in `.ext`.
fn solution_files(dir: &Path, ext: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ex_") && n.ends_with(&format!(".{ext}")))
        .collect();
    names.sort();
    names
}

/// The text of every .rs file under `dir`, subfolders included.
fn test_sources(dir: &Path) -> String {
    let mut text = String::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&path).unwrap());
                text.push('\n');
            }
        }
    }
    text
}

/// Whether `name` occurs in `text` as a whole word (`ex_a` does not count inside `ex_ab`).
fn names(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let before = text[..at].chars().next_back().is_none_or(|c| !word(c));
        let after = text[at + name.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        before && after
    })
}

#[test]
fn every_solution_is_run_by_a_test_and_shown_under_an_exercise() {
    // Everything the exercises include, relative to the repository root.
    let mut shown = BTreeSet::new();
    for chapter in chapters_with_exercises() {
        for exercise in exercises_of(&chapter).0 {
            for path in exercise.includes {
                let full = normalize(&format!("book/{path}"));
                shown.insert(full);
            }
        }
    }
    let mut problems = Vec::new();
    for package in PACKAGES {
        let base = root().join(package);
        let tests = test_sources(&base.join("tests"));
        let prefix = if package == "." {
            String::new()
        } else {
            format!("{package}/")
        };
        let files = solution_files(&base.join("examples"), "rs")
            .into_iter()
            .map(|n| {
                (
                    format!("{prefix}examples/{n}"),
                    n.trim_end_matches(".rs").to_string(),
                )
            })
            .chain(
                solution_files(&base.join("examples/python"), "py")
                    .into_iter()
                    .map(|n| (format!("{prefix}examples/python/{n}"), n)),
            );
        for (path, name) in files {
            if !names(&tests, &name) {
                problems.push(format!(
                    "{path}: no test in {prefix}tests/ names `{name}`, so `cargo test` does not run it"
                ));
            }
            if !shown.contains(&path) {
                problems.push(format!(
                    "{path}: no exercise's solution (<details> under `### 练习 N`) includes it"
                ));
            }
        }
    }
    // Every observation transcript is shown under an exercise and made by some test.
    let mut all_tests = String::new();
    for package in PACKAGES {
        all_tests.push_str(&test_sources(&root().join(package).join("tests")));
    }
    let transcripts = root().join("book").join(TRANSCRIPTS);
    if let Ok(folders) = std::fs::read_dir(&transcripts) {
        for folder in folders {
            let folder = folder.unwrap().path();
            let chapter = folder.file_name().unwrap().to_string_lossy().into_owned();
            let made = all_tests.contains(&format!("exercises/{chapter}\""));
            for file in std::fs::read_dir(&folder).into_iter().flatten() {
                let file = file.unwrap().file_name().to_string_lossy().into_owned();
                let path = format!("book/{TRANSCRIPTS}{chapter}/{file}");
                if !shown.contains(&path) {
                    problems.push(format!("{path}: no exercise's solution includes it"));
                }
                if !made {
                    problems.push(format!(
                        "{path}: no test makes the folder \"exercises/{chapter}\" (transcript::check)"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `a/../b/./c` as `b/c`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// book/exercises.md, made from the chapters.
fn exercise_page() -> String {
    let mut page = String::from(
        "# 附录 C：练习一览\n\n\
         <!-- 这一页由 book-tests/tests/exercises.rs 从各章生成，不要手改：\
         UPDATE_TRANSCRIPTS=1 cargo test -p book-tests --test exercises -->\n\n\
         每一章的最后都有 2 到 5 道练习，从“改一行，先预测”到“写一个小程序”。\
         参考答案折叠在题目下面，点开“参考答案”才看得到。\n\n\
         - **代码题**的答案是一个真正的程序，用 `cargo run --example ex_...` 运行；\
         `cargo test` 也运行它，并检查题目要求的行为。\n\
         - **观察题**的答案是一段终端记录，由测试重新生成、核对。\n\n\
         难度：★ 改一行，或先预测再运行；★★ 改几处；★★★ 写一个小程序。\n",
    );
    let mut total = 0;
    for chapter in chapters_with_exercises() {
        let (exercises, _) = exercises_of(&chapter);
        if exercises.is_empty() {
            continue;
        }
        page.push_str(&format!(
            "\n## [{}]({})\n\n| 练习 | 难度 | 类型 |\n| --- | --- | --- |\n",
            chapter.name, chapter.source
        ));
        for e in &exercises {
            total += 1;
            let kind = match e.kind {
                Some(Kind::Code) => "代码",
                Some(Kind::Observation) => "观察",
                None => "（还没有答案）",
            };
            page.push_str(&format!(
                "| [练习 {}：{}]({}#{}) | {} | {} |\n",
                e.number,
                e.title.replace('|', "\\|"),
                chapter.source,
                e.id,
                e.stars,
                kind
            ));
        }
    }
    page.push_str(&format!("\n一共 {total} 道练习。\n"));
    page
}

#[test]
fn the_exercise_page_lists_every_exercise() {
    let path = root().join("book").join(PAGE);
    let made = exercise_page();
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if old != made {
        if std::env::var_os("UPDATE_TRANSCRIPTS").is_some() {
            std::fs::write(&path, &made).unwrap();
        } else {
            panic!(
                "book/{PAGE} differs from what the chapters' exercises make; run \
                 `UPDATE_TRANSCRIPTS=1 cargo test -p book-tests --test exercises` and review the \
                 diff:\n--- in the book\n{old}--- made from the chapters\n{made}"
            );
        }
    }
    let summary = std::fs::read_to_string(root().join("book/SUMMARY.md")).unwrap();
    assert!(
        summary.contains(&format!("- [附录 C：练习一览]({PAGE})")),
        "book/SUMMARY.md lists no `- [附录 C：练习一览]({PAGE})`"
    );
}

#[test]
fn solutions_are_folded_and_rendered_in_the_built_book() {
    let out = build();
    let mut problems = Vec::new();
    for chapter in chapters_with_exercises() {
        let (exercises, _) = exercises_of(&chapter);
        if exercises.is_empty() {
            continue;
        }
        let page = out.path().join(chapter.page());
        let html = std::fs::read_to_string(&page).unwrap();
        for e in &exercises {
            let id = format!("id=\"{}\"", e.id);
            let Some(at) = html.find(&id) else {
                problems.push(format!(
                    "{}: no heading {id} for 练习 {}",
                    chapter.page(),
                    e.number
                ));
                continue;
            };
            // The exercise's <details>: the first one after its heading.
            let rest = &html[at..];
            let Some(open) = rest.find("<details>") else {
                problems.push(format!(
                    "{}: 练习 {} has no <details>",
                    chapter.page(),
                    e.number
                ));
                continue;
            };
            let Some(close) = rest[open..].find("</details>") else {
                problems.push(format!(
                    "{}: 练习 {}: <details> not closed",
                    chapter.page(),
                    e.number
                ));
                continue;
            };
            let details = &rest[open..open + close];
            let name = format!("{} 练习 {}", chapter.page(), e.number);
            if !details.contains("<summary>参考答案</summary>") {
                problems.push(format!("{name}: no <summary>参考答案</summary>"));
            }
            // Rendered, not raw Markdown: paragraphs and code blocks, no fences or directives.
            if details.contains("```") || details.contains("{{#") {
                problems.push(format!("{name}: raw Markdown inside <details>"));
            }
            // Without the blank line after <summary>, the first paragraph stays raw text in the
            // HTML block (no <p>): what follows </summary> must be an element.
            let after_summary = details
                .split_once("</summary>")
                .map_or("", |(_, rest)| rest.trim_start());
            if !after_summary.starts_with('<') {
                problems.push(format!(
                    "{name}: the text after <summary> is not rendered as Markdown (a blank line missing?)"
                ));
            }
            if !details.contains("<p>") {
                problems.push(format!("{name}: no rendered paragraph inside <details>"));
            }
            if !e.includes.is_empty() && !details.contains("<pre>") {
                problems.push(format!(
                    "{name}: its solution's listing is not rendered as code"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_format_checker_finds_what_a_broken_chapter_lacks() {
    // A chapter with programs whose exercises break each rule once: the checker must name each.
    let markdown = "# 章\n\n{{#rustdoc_include ../examples/tcp_echo_server.rs:run}}\n\n## 练习\n\n\
        ### 练习 1：没有难度\n\n题目。\n\n<details>\n<summary>参考答案</summary>\n\n答案。\n\n</details>\n\n\
        ### 练习 3：编号不对（★）\n\n题目。\n<details>\n<summary>参考答案</summary>\n答案。\n</details>\n\n\
        ### 练习 3：没有答案文件（★★）\n\n题目。\n\n<details>\n<summary>参考答案</summary>\n\n答案。\n\n</details>\n\n\
        ### 练习 4：名字不对（★★★）\n\n题目。\n\n<details>\n<summary>参考答案</summary>\n\n\
        ```rust\n{{#rustdoc_include ../examples/ex_other_thing.rs:main}}\n```\n\n</details>\n";
    let chapter = Chapter {
        name: "章".to_string(),
        source: "tcp-echo.md".to_string(),
        markdown: markdown.to_string(),
    };
    let (exercises, problems) = exercises_of(&chapter);
    let text = problems.join("\n");
    for needle in [
        "heading `### 练习 1：没有难度`",
        "练习 3: numbered 3, expected 2",
        "练习 3: the solution must be laid out",
        "练习 3: its solution includes no tested answer",
        "ex_other_thing.rs should be named ex_tcp_echo_<slug>.rs",
        "ex_other_thing.rs, which does not exist",
        "no exercise asks the reader to predict",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    assert_eq!(exercises.len(), 3, "{exercises:?}");
    // A chapter with programs and no exercises at all.
    let bare = Chapter {
        markdown: "# 章\n\n{{#include ../examples/python/tcp_echo_server.py}}\n".to_string(),
        ..chapter
    };
    assert!(has_programs(&bare));
    assert_eq!(exercises_of(&bare).1, ["no `## 练习` section"]);
    // Ids as mdBook makes them for Chinese headings with code.
    assert_eq!(
        heading_id(&plain_text("练习 2：用 `read_exact` 读满（★★）")),
        "练习-2用-read_exact-读满"
    );
}
