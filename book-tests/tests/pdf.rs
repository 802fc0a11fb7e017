//! The book as a PDF, printed as `cargo run -p book-tests --example pdf` prints it, and read back
//! with poppler's tools (`pdftotext`, `pdffonts`, `pdfimages`): every chapter where the table of
//! contents says, page numbers at the foot, the Chinese text in the Simplified Chinese face of Noto
//! Sans CJK and embedded, code in a monospace font, the diagrams as vectors, no character lost.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use book_tests::browser::{Browser, browser_command};
use book_tests::build::chapters;
use book_tests::pdf::{LONG, PDF_NAME, check_glyphs, fit_to_paper, make_site, squeeze};
use book_tests::run_tool;
use book_tests::server::Server;
use support::{root, tool_available};

/// Runs one of poppler's tools on `pdf` and returns what it printed.
fn poppler(tool: &str, args: &[&str], pdf: &Path) -> String {
    let mut command = Command::new(tool);
    command.args(args).arg(pdf);
    if tool == "pdftotext" {
        command.arg("-");
    }
    run_tool(command, LONG).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The font descriptors of a PDF as Chromium (Skia) writes them, uncompressed:
/// (FontName without its subset tag, FontFamily, Flags).
fn font_descriptors(pdf: &[u8]) -> BTreeSet<(String, String, u32)> {
    let text = String::from_utf8_lossy(pdf);
    let field = |dict: &str, key: &str, end: char| {
        dict.split_once(key)
            .map(|(_, rest)| rest.split(end).next().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    text.split("<</Type /FontDescriptor")
        .skip(1)
        .map(|rest| {
            let dict = rest.split(">>").next().unwrap_or_default();
            let name = field(dict, "/FontName /", '\n');
            let name = name
                .split_once('+')
                .map_or(name.clone(), |(_, n)| n.to_string());
            let family = field(dict, "/FontFamily (", ')');
            let flags = field(dict, "/Flags ", '\n').trim().parse().unwrap_or(0);
            (name, family, flags)
        })
        .collect()
}

/// The text labels of an SVG drawing, entities undone.
fn svg_labels(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let inner = rest.split_once('>')?.1.split("</text>").next()?;
            let label = inner
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            (!label.trim().is_empty()).then_some(label)
        })
        .collect()
}

/// Whether `text` (read back from a PDF) holds `label`. Text in an SVG picture reaches the PDF
/// as glyphs without the characters they stand for, and the reader maps each glyph back to a
/// code point of the font: where Noto CJK draws a radical and an ideograph with one glyph (⼾ and
/// 户, ⽤ and 用), it may say the radical (U+2E80 to U+2FDF). Such a radical matches any ideograph.
fn contains_drawn(text: &[char], label: &str) -> bool {
    let label: Vec<char> = label.chars().collect();
    let radical = |c: char| ('\u{2E80}'..='\u{2FDF}').contains(&c);
    let ideograph = |c: char| ('\u{3400}'..='\u{9FFF}').contains(&c);
    text.windows(label.len()).any(|window| {
        window
            .iter()
            .zip(&label)
            .all(|(&t, &l)| t == l || (radical(t) && ideograph(l)))
    })
}

/// The families that the SVG diagrams name in their `font-family` attributes, squeezed.
fn svg_font_families(svg: &str) -> Vec<String> {
    svg.split("font-family=\"")
        .skip(1)
        .flat_map(|rest| {
            rest.split('"')
                .next()
                .unwrap_or_default()
                .split(',')
                .map(|f| squeeze(f.trim_matches(|c: char| c == '\'' || c.is_whitespace())))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn files_with_extension(dir: &Path, extensions: &[&str]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e.to_lowercase().as_str()))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_pdf_has_every_chapter_page_numbers_a_chinese_font_and_vector_diagrams() {
    if !tool_available(&browser_command())
        || !tool_available("pdftotext")
        || !tool_available("pdftohtml")
    {
        return;
    }
    // What the PDF command makes, in temporary folders instead of target/.
    let site = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join(PDF_NAME);
    let printed = make_site(site.path(), &file).unwrap_or_else(|e| panic!("{e:#}"));
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.len(), printed.bytes);
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");

    // The front page links to the PDF, and in the site the link leads to it.
    let front = std::fs::read_to_string(site.path().join("index.html")).unwrap();
    assert!(
        front.contains(&format!("href=\"{PDF_NAME}\"")),
        "the front page does not link to {PDF_NAME}"
    );
    assert_eq!(
        std::fs::read(site.path().join(PDF_NAME)).unwrap(),
        bytes,
        "the site's copy of the PDF differs"
    );

    // pdftotext -raw keeps the order in which the text was drawn; pages end with a form feed.
    let text = poppler("pdftotext", &["-q", "-raw", "-enc", "UTF-8"], &file);
    let pages: Vec<String> = text
        .split('\u{c}')
        .map(squeeze)
        .filter(|p| !p.is_empty())
        .collect();
    let count = pages.len();
    assert!(count > 20, "only {count} pages");

    // Page numbers at the foot of every page, as "n / total".
    for (i, page) in pages.iter().enumerate() {
        let number = format!("{}/{count}", i + 1);
        assert!(page.contains(&number), "page {} has no {number}", i + 1);
    }

    // Every chapter of SUMMARY.md: in the table of contents with the page it starts on, and its
    // title at the top of that page.
    let chapters = chapters().unwrap();
    let starts = &printed.chapter_pages;
    assert_eq!(starts.len(), chapters.len(), "{starts:?}");
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "chapters out of order: {starts:?}"
    );
    let first = starts[0] as usize;
    assert!(
        first >= 2,
        "no room for a table of contents before page {first}"
    );
    let contents: String = pages[..first - 1].concat();
    for (chapter, &start) in chapters.iter().zip(starts) {
        let entry = format!("{}{start}", squeeze(&chapter.name));
        assert!(
            contents.contains(&entry),
            "the table of contents has no {:?} with page {start}",
            chapter.name
        );
        let heading = chapter
            .heading()
            .unwrap_or_else(|| panic!("{} has no `# ` heading", chapter.source));
        let heading = squeeze(&heading.replace(['`', '*'], ""));
        assert!(
            pages[start as usize - 1].contains(&heading),
            "page {start} does not show the title of {}: {heading}",
            chapter.source
        );
    }

    // Every character that the browser showed is in the PDF's text. (That each one was drawn
    // with a real glyph, not an empty box, print_book checked before printing.)
    let all: String = pages.concat();
    let lost: String = printed
        .characters
        .chars()
        .filter(|c| !all.contains(*c))
        .collect();
    assert!(lost.is_empty(), "characters missing from the PDF: {lost}");

    // Fonts: every one embedded; the Chinese text in Noto Sans CJK, its Simplified Chinese face
    // only (the Japanese one draws some characters differently); code in a monospace font other
    // than the ones that the diagrams ask for.
    let listed = poppler("pdffonts", &[], &file);
    for line in listed.lines().skip(2) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(
            fields.len() >= 7 && fields[fields.len() - 5] == "yes",
            "a font is not embedded: {line}"
        );
    }
    let descriptors = font_descriptors(&bytes);
    let names: Vec<&str> = descriptors.iter().map(|(n, _, _)| n.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("NotoSansCJKsc")),
        "no Noto Sans CJK SC in the PDF: {names:?}"
    );
    let other_faces: Vec<&&str> = names
        .iter()
        .filter(|n| n.contains("CJK") && !n.contains("CJKsc"))
        .collect();
    assert!(
        other_faces.is_empty(),
        "Chinese text set in another face of Noto CJK: {other_faces:?}"
    );
    let images = root().join("book/images");
    let svgs = files_with_extension(&images, &["svg"]);
    let diagram_fonts: BTreeSet<String> = svgs
        .iter()
        .flat_map(|f| svg_font_families(&std::fs::read_to_string(f).unwrap()))
        .collect();
    let code_fonts: Vec<&str> = descriptors
        .iter()
        .filter(|(name, family, flags)| {
            flags & 1 == 1 // FixedPitch
                && !diagram_fonts.contains(&squeeze(family))
                && !diagram_fonts.iter().any(|d| name.starts_with(d.as_str()))
        })
        .map(|(name, _, _)| name.as_str())
        .collect();
    assert!(
        !code_fonts.is_empty(),
        "no monospace font for the code: {descriptors:?}"
    );

    // The diagrams are vectors: their labels are text in the PDF, and no picture in it is a
    // raster image unless the book has raster images.
    assert!(!svgs.is_empty(), "no diagrams in book/images");
    let text: Vec<char> = all.chars().collect();
    for svg in &svgs {
        for label in svg_labels(&std::fs::read_to_string(svg).unwrap()) {
            assert!(
                contains_drawn(&text, &squeeze(&label)),
                "{}: the label {label:?} is not text in the PDF",
                svg.display()
            );
        }
    }
    let rasters =
        files_with_extension(&root().join("book"), &["png", "jpg", "jpeg", "gif", "webp"]);
    let listed = poppler("pdfimages", &["-list"], &file);
    let raster_images = listed.lines().skip(2).count();
    assert!(
        raster_images <= rasters.len(),
        "{raster_images} raster images in the PDF, the book has {}:\n{listed}",
        rasters.len()
    );
}

#[test]
fn the_glyph_check_sees_a_character_that_no_font_has() {
    if !tool_available(&browser_command()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Chinese, Latin, code, and Tangut (U+17000), for which no font on these machines has
    // glyphs: the browser draws an empty box for it.
    std::fs::write(
        dir.path().join("page.html"),
        "<!DOCTYPE html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><body>\
         <p>套接字 socket</p><pre><code>let s = 回显;</code></pre><p>\u{17000}</p></body></html>",
    )
    .unwrap();
    let server = Server::start(dir.path().to_path_buf()).unwrap();
    let mut browser = Browser::launch().unwrap();
    browser.open(&server.url("page.html")).unwrap();
    let glyphs = check_glyphs(&mut browser).unwrap();
    for c in "套接字socketlet=回显;".chars() {
        assert!(glyphs.characters.contains(c), "{c} was not checked");
    }
    assert_eq!(
        glyphs.missing.len(),
        1,
        "exactly the Tangut character should have no glyph (is a Tangut font installed?): {:?}",
        glyphs.missing
    );
    assert!(
        glyphs.missing[0].starts_with('\u{17000}'),
        "{:?}",
        glyphs.missing
    );
}

#[test]
fn on_paper_a_wide_table_is_made_to_fit_and_what_cannot_fit_is_seen() {
    if !tool_available(&browser_command()) {
        return;
    }
    // A table in a wrapper that scrolls (as mdBook wraps tables), too wide for paper until its
    // long name breaks; a long line of code in a block that wraps its lines (as mdBook's print
    // style makes them); and a box that scrolls a picture wider than a page, which nothing makes
    // fit.
    let dir = tempfile::tempdir().unwrap();
    let long = "a_long_name_without_spaces_".repeat(8).replace('_', "x");
    std::fs::write(
        dir.path().join("page.html"),
        format!(
            "<!DOCTYPE html><html><meta charset=\"utf-8\"><body><main>\
             <div class=\"table-wrapper\" style=\"overflow-x: auto\"><table><tr><td>{long}</td>\
             </tr></table></div>\
             <pre style=\"overflow-x: auto; white-space: pre-wrap\"><code>{}</code></pre>\
             <div id=\"wide\" style=\"overflow-x: auto\"><div style=\"width: 900px\">wide</div></div>\
             </main></body></html>",
            "word ".repeat(60)
        ),
    )
    .unwrap();
    let server = Server::start(dir.path().to_path_buf()).unwrap();
    let mut browser = Browser::launch().unwrap();
    browser.open(&server.url("page.html")).unwrap();
    let cut = fit_to_paper(&mut browser).unwrap();
    assert_eq!(cut.len(), 1, "only the wide box cannot fit: {cut:?}");
    assert!(cut[0].starts_with("<div> \"wide\""), "{cut:?}");
}
