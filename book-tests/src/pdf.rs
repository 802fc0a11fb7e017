//! The whole book as one PDF: headless Chromium prints mdBook's print page (print.html) with
//! `Page.printToPDF`. Before printing, a title page and a table of contents (the sidebar's
//! entries, with page numbers) are put in front of the first chapter; the PDF also gets an
//! outline (bookmarks) of the headings. Chinese is set in Noto Sans CJK (Debian's
//! `fonts-noto-cjk`), code in mdBook's monospace font, and SVG diagrams stay vectors.
//!
//! Page numbers in the table of contents take two prints: the first tells on which page each
//! chapter starts (read from its outline by `pdftohtml` of poppler-utils), the second prints them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::server::Server;

/// The longest that one step over the whole book may take (printing it, looking at each of its
/// characters, reading it back): seconds on an idle machine, much longer on a busy one.
pub const LONG: Duration = Duration::from_secs(180);

/// The PDF's file name, in target/ and next to the pages of the published book (the front page
/// links to it there).
pub const PDF_NAME: &str = "book.pdf";

/// A4 paper; the margins leave room for the page number at the foot.
fn print_settings() -> Value {
    json!({
        "paperWidth": 8.27,
        "paperHeight": 11.69,
        "marginTop": 0.6,
        "marginBottom": 0.75,
        "marginLeft": 0.6,
        "marginRight": 0.6,
        "printBackground": true,
        "displayHeaderFooter": true,
        "headerTemplate": "<span></span>",
        "footerTemplate": "<div style=\"width: 100%; text-align: center; font-size: 9px; \
            color: #555; font-family: 'Noto Sans CJK SC', sans-serif;\">\
            <span class=\"pageNumber\"></span> / <span class=\"totalPages\"></span></div>",
        "generateTaggedPDF": true,
        "generateDocumentOutline": true,
    })
}

/// What printing produced.
pub struct Printed {
    pub bytes: usize,
    /// The page on which each chapter starts, in SUMMARY.md's order (empty without pdftohtml).
    pub chapter_pages: Vec<u32>,
    /// Every character that the print page shows (spaces and control characters aside), once.
    pub characters: String,
}

/// Makes what GitHub Pages publishes: the book built into `site` (as `mdbook build` builds it),
/// printed to the PDF file `pdf`, and a copy of that next to the pages (`site`/book.pdf), where
/// the front page links to it.
pub fn make_site(site: &Path, pdf: &Path) -> Result<Printed> {
    crate::build::build_into(site)?;
    let printed = print_book(site, pdf)?;
    std::fs::copy(pdf, site.join(PDF_NAME))
        .with_context(|| format!("copy the PDF into {}", site.display()))?;
    Ok(printed)
}

/// Prints the book built in `book_dir` to the PDF file `out`.
pub fn print_book(book_dir: &Path, out: &Path) -> Result<Printed> {
    let server = Server::start(book_dir.to_path_buf())?;
    let mut browser = Browser::launch()?;
    // print.html opens the print dialog by itself once it has loaded; here the DevTools protocol
    // prints, and a dialog in the way would make it fail ("Page is already being printed").
    browser.before_every_page("window.print = () => {};")?;
    browser.open(&server.url("print.html"))?;
    browser.eval("document.fonts.ready.then(() => true)")?;
    // Paper cannot fold: the exercises' solutions (<details>, closed on screen) are printed open.
    browser.eval("document.querySelectorAll('details').forEach(d => { d.open = true; }); true")?;
    browser.wait_until(
        "the images of print.html",
        "[...document.images].every(i => i.complete)",
    )?;
    let problems = browser.take_problems();
    ensure!(
        problems.is_empty(),
        "print.html did not load cleanly:\n{}",
        problems.join("\n")
    );

    let glyphs = check_glyphs(&mut browser)?;
    let missing = glyphs.missing;
    ensure!(
        missing.is_empty(),
        "no installed font has these characters, so the PDF would show empty boxes \
         (on Debian/Ubuntu: apt-get install fonts-noto-cjk):\n{}",
        missing.join("\n")
    );

    let prepared = browser.eval_within(PREPARE_JS, LONG)?;
    if let Some(error) = prepared["error"].as_str() {
        bail!("cannot lay out the table of contents: {error}");
    }
    let headings: Vec<String> = serde_json::from_value(prepared["headings"].clone())?;
    let clipped = fit_to_paper(&mut browser)?;
    ensure!(
        clipped.is_empty(),
        "on paper, these would be cut off at the right edge of the page:\n{}",
        clipped.join("\n")
    );

    let mut pdf = browser.print_to_pdf(print_settings())?;
    let mut chapter_pages = Vec::new();
    if !tool_found("pdftohtml") {
        eprintln!(
            "!!! pdftohtml (poppler-utils) not found: the table of contents has no page numbers !!!"
        );
    } else {
        // Print again with the page numbers, until they stay put (once, unless filling them
        // in moved a chapter to another page).
        let mut pages = chapter_starts(&pdf, &headings)?;
        for _ in 0..3 {
            browser.eval(&format!("window.pdfSetPages({})", json!(pages)))?;
            pdf = browser.print_to_pdf(print_settings())?;
            let printed = chapter_starts(&pdf, &headings)?;
            if printed == pages {
                break;
            }
            pages = printed;
        }
        chapter_pages = pages;
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &pdf).with_context(|| format!("write {}", out.display()))?;
    Ok(Printed {
        bytes: pdf.len(),
        chapter_pages,
        characters: glyphs.characters,
    })
}

fn tool_found(tool: &str) -> bool {
    Command::new(tool)
        .arg("-v")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// The page on which each chapter starts: the first outline entry, after the previous
/// chapter's, whose title is that chapter's first heading.
fn chapter_starts(pdf: &[u8], headings: &[String]) -> Result<Vec<u32>> {
    let outline = outline(pdf)?;
    let mut pages = Vec::new();
    let mut from = 0;
    for heading in headings {
        let wanted = squeeze(heading);
        let Some(at) = outline[from..]
            .iter()
            .position(|(t, _)| squeeze(t) == wanted)
        else {
            bail!("the PDF's outline has no entry {heading:?} (in order)");
        };
        pages.push(outline[from + at].1);
        from += at + 1;
    }
    Ok(pages)
}

/// The PDF's outline (bookmarks), flattened in reading order: (title, page), as `pdftohtml -xml`
/// reads it.
pub fn outline(pdf: &[u8]) -> Result<Vec<(String, u32)>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("book.pdf");
    std::fs::write(&file, pdf)?;
    let mut command = Command::new("pdftohtml");
    command
        .args(["-xml", "-i", "-q", "-stdout", "-l", "1"])
        .arg(&file);
    let xml = crate::run_tool(command, LONG)?;
    let mut items = Vec::new();
    for piece in xml.split("<item page=\"").skip(1) {
        let Some((page, rest)) = piece.split_once("\">") else {
            continue;
        };
        let title = rest.split('<').next().unwrap_or_default();
        items.push((unescape_xml(title), page.parse()?));
    }
    ensure!(!items.is_empty(), "the PDF has no outline");
    Ok(items)
}

fn unescape_xml(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A title without its spaces, to compare titles that went through different tools.
pub fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The width of the text on the page in CSS pixels: A4 (8.27 in) less the margins, at 96 to the
/// inch, as Chromium lays out a page for printing.
const PAPER_TEXT_WIDTH: u32 = ((8.27 - 0.6 - 0.6) * 96.0) as u32;

/// Lays the open page out as for printing, on the width of the text of a page, and makes it fit
/// where it can: a table still wider than the page after the breaks that [`PREPARE_JS`] allows
/// may break its cells' words anywhere. Returns what would still be cut off on paper: a box of
/// the content that scrolls sideways (a code block, a table's wrapper) but has more than it
/// shows, or a picture, table or code block past the right edge. A screen scrolls them; paper
/// cuts them off.
pub fn fit_to_paper(browser: &mut Browser) -> Result<Vec<String>> {
    browser.call("Emulation.setEmulatedMedia", json!({"media": "print"}))?;
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": PAPER_TEXT_WIDTH, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
    )?;
    let found = browser
        .eval_within(FIT_TABLES_JS, LONG)
        .and_then(|_| browser.eval_within(CLIPPED_JS, LONG));
    browser.call("Emulation.setEmulatedMedia", json!({"media": ""}))?;
    browser.call("Emulation.clearDeviceMetricsOverride", json!({}))?;
    Ok(serde_json::from_value(found?)?)
}

const FIT_TABLES_JS: &str = r#"(() => {
  const main = document.querySelector('main') || document.body;
  const right = main.getBoundingClientRect().right;
  for (const table of main.querySelectorAll('table')) {
    if (table.getBoundingClientRect().right > right + 1) {
      for (const cell of table.querySelectorAll('td, th, td code, th code')) {
        cell.style.overflowWrap = 'anywhere';
      }
    }
  }
  return true;
})()"#;

const CLIPPED_JS: &str = r#"(() => {
  const main = document.querySelector('main') || document.body;
  const right = main.getBoundingClientRect().right;
  const describe = e => {
    const text = (e.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60);
    return `<${e.tagName.toLowerCase()}${e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : ''}> "${text}"`;
  };
  const cut = [];
  for (const e of main.querySelectorAll('*')) {
    if (cut.length >= 20 || e.getClientRects().length === 0) continue;
    const style = getComputedStyle(e);
    if (style.overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1) {
      cut.push(`${describe(e)}: ${e.scrollWidth}px of content in ${e.clientWidth}px`);
    } else if (e.matches('img, svg, table, pre, video') && e.getBoundingClientRect().right > right + 1) {
      cut.push(`${describe(e)}: reaches ${Math.round(e.getBoundingClientRect().right - right)}px past the page`);
    }
  }
  return cut;
})()"#;

/// What [`check_glyphs`] found.
pub struct Glyphs {
    /// The characters that no installed font can draw, each with the font it was asked in: the
    /// browser shows (and prints) an empty box, "tofu", for them.
    pub missing: Vec<String>,
    /// Every character that the page shows (spaces and control characters aside), once.
    pub characters: String,
}

/// Checks that every character of the open page has a glyph: draws each distinct character of
/// the page's text on a canvas, in the font of the element around it, and compares the picture
/// with the one drawn for code points that no font has.
pub fn check_glyphs(browser: &mut Browser) -> Result<Glyphs> {
    let found = browser.eval_within(GLYPHS_JS, LONG)?;
    Ok(Glyphs {
        missing: serde_json::from_value(found["missing"].clone())?,
        characters: found["characters"]
            .as_str()
            .context("no characters")?
            .to_string(),
    })
}

const GLYPHS_JS: &str = r#"(() => {
  const skip = /[\p{White_Space}\p{Cc}\p{Cf}\p{Z}]/u;
  const fonts = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, element = node.parentElement;
    if (!element || element.closest('script, style, noscript, title')) continue;
    if (element.getClientRects().length === 0) continue;
    const style = getComputedStyle(element);
    if (style.visibility === 'hidden') continue;
    const font = `${style.fontStyle} ${style.fontWeight} 40px ${style.fontFamily}`;
    if (!fonts.has(font)) fonts.set(font, new Set());
    for (const c of node.data) if (!skip.test(c)) fonts.get(font).add(c);
  }
  const size = 64, canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const shape = (font, c) => {
    ctx.clearRect(0, 0, size, size);
    ctx.font = font;
    ctx.textBaseline = 'top';
    ctx.fillText(c, 8, 8);
    const data = ctx.getImageData(0, 0, size, size).data;
    let h = 0;
    for (let i = 3; i < data.length; i += 4) h = (Math.imul(h, 31) + data[i]) | 0;
    return h;
  };
  const missing = [], all = new Set();
  for (const [font, chars] of fonts) {
    // Unassigned and private code points: what "no glyph" looks like in this font.
    const tofu = new Set(['\u0378', '\u{10FFFD}', '\u{E01EF}'].map(c => shape(font, c)));
    for (const c of chars) {
      all.add(c);
      if (tofu.has(shape(font, c))) {
        const code = c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
        missing.push(`${c} (U+${code}) in ${font}`);
      }
    }
  }
  return { missing, characters: [...all].join('') };
})()"#;

/// Puts a title page and a table of contents in front of print.html's first chapter, and
/// defines `window.pdfSetPages(pages)` to fill in the page numbers. Returns the first heading
/// of each chapter (how the PDF's outline names it), or an error.
const PREPARE_JS: &str = r##"(() => {
  const main = document.querySelector('main');
  const sidebar = document.querySelector('#mdbook-sidebar ol.chapter');
  if (!main || !sidebar) return { error: 'print.html has no <main> or no sidebar' };

  // print.html holds every chapter in order, with a page break before each one but the first.
  const isBreak = e => e.tagName === 'DIV' && e.style.breakBefore === 'page';
  const starts = [main.firstElementChild];
  for (const e of main.children) if (isBreak(e)) starts.push(e.nextElementSibling);
  const chapters = starts.map((start, i) => {
    let heading = null;
    for (let e = start; e && !isBreak(e) && !heading; e = e.nextElementSibling) {
      heading = e.matches('h1, h2, h3, h4, h5, h6') ? e : e.querySelector('h1, h2, h3, h4, h5, h6');
    }
    if (!heading) return null;
    if (!heading.id) heading.id = `pdf-chapter-${i + 1}`;
    return { id: heading.id, heading: heading.textContent.trim() };
  });
  const links = [...sidebar.querySelectorAll('a[href]')];
  if (chapters.includes(null)) return { error: 'a chapter has no heading' };
  if (links.length !== chapters.length) {
    return { error: `${links.length} sidebar entries but ${chapters.length} chapters` };
  }

  const esc = t => t.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  let rows = '', n = 0;
  for (const item of sidebar.querySelectorAll('li.part-title, li.spacer, a[href]')) {
    if (item.matches('li.part-title')) {
      rows += `<li class="pdf-toc-part">${esc(item.textContent.trim())}</li>`;
    } else if (item.matches('li.spacer')) {
      rows += '<li class="pdf-toc-spacer"></li>';
    } else {
      let level = 0;
      for (let e = item.parentElement; e && e !== sidebar; e = e.parentElement) {
        if (e.matches('ol.section')) level++;
      }
      const number = item.querySelector('strong');
      const name = [...item.childNodes].filter(c => c !== number).map(c => c.textContent).join('').trim();
      const chapter = chapters[n++];
      rows += `<li class="pdf-toc-row" style="padding-left: ${level * 1.8}em">` +
        `<a href="#${encodeURIComponent(chapter.id)}"><span class="pdf-toc-number">${number ? esc(number.textContent.trim()) : ''}</span>` +
        `<span class="pdf-toc-name">${esc(name)}</span><span class="pdf-toc-dots"></span>` +
        `<span class="pdf-toc-page"></span></a></li>`;
    }
  }
  const description = document.querySelector('meta[name="description"]');
  const front = document.createElement('section');
  front.id = 'pdf-front';
  // "书名：副标题" on two lines.
  const colon = document.title.indexOf('：');
  const title = colon > 0 ? document.title.slice(0, colon) : document.title;
  const subtitle = colon > 0 ? document.title.slice(colon + 1) : '';
  front.innerHTML =
    `<div class="pdf-title-page"><div class="pdf-title">${esc(title)}</div>` +
    (subtitle ? `<div class="pdf-subtitle">${esc(subtitle)}</div>` : '') +
    (description ? `<p class="pdf-description">${esc(description.content)}</p>` : '') + '</div>' +
    `<nav class="pdf-toc"><div class="pdf-toc-title">目录</div><ol>${rows}</ol></nav>`;
  main.prepend(front);

  const style = document.createElement('style');
  style.textContent = `
    .pdf-title-page { break-after: page; padding-top: 70mm; text-align: center; }
    .pdf-title { font-size: 2.2em; font-weight: bold; line-height: 1.4; }
    .pdf-subtitle { font-size: 1.5em; margin-top: 0.6em; }
    .pdf-description { margin: 2em auto 0; max-width: 32em; color: #555; }
    .pdf-toc { break-after: page; }
    .pdf-toc-title { font-size: 1.6em; font-weight: bold; margin: 0 0 1em; }
    .pdf-toc ol { list-style: none; margin: 0; padding: 0; }
    .pdf-toc-part { font-weight: bold; margin: 1em 0 0.3em; }
    .pdf-toc-spacer { border-top: 1px solid #ccc; margin: 0.8em 0; }
    .pdf-toc-row a, .pdf-toc-row a:visited { display: flex; align-items: baseline; color: inherit; padding: 0.15em 0; }
    .pdf-toc-number { min-width: 2.6em; }
    .pdf-toc-dots { flex: 1; border-bottom: 1px dotted #999; margin: 0 0.5em; }
    .pdf-toc-page { min-width: 2em; text-align: right; }
    main img { break-inside: avoid; }
    /* A screen scrolls a wide table; paper would cut it off. So the table takes the width of the
       page, and the code in its cells may break after / _ . , ( : (marked below) and at spaces. */
    .table-wrapper { overflow-x: visible; }
    main table { width: 100%; }
    main td, main th { overflow-wrap: break-word; }
    main td code, main th code { white-space: normal; }
    /* mdBook's print style wraps code lines at spaces; a longer word than a line breaks too. */
    main pre, main pre code { overflow-wrap: anywhere; }
  `;
  document.head.append(style);

  // Places where code in a table may break: after a path's slash, a name's underscore or dot,
  // an argument's comma or parenthesis, a path's colon.
  for (const code of main.querySelectorAll('td code, th code')) {
    const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    const texts = [];
    while (walker.nextNode()) texts.push(walker.currentNode);
    for (const text of texts) {
      const pieces = text.data.split(/(?<=[\/_.,(:])/);
      if (pieces.length < 2) continue;
      const fragment = document.createDocumentFragment();
      pieces.forEach((piece, i) => {
        if (i > 0) fragment.append(document.createElement('wbr'));
        fragment.append(piece);
      });
      text.replaceWith(fragment);
    }
  }

  window.pdfSetPages = pages => {
    document.querySelectorAll('.pdf-toc-page').forEach((e, i) => { e.textContent = String(pages[i]); });
    return true;
  };
  return { headings: chapters.map(c => c.heading) };
})()"##;
