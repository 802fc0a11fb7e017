//! Every page of the built book, opened in headless Chromium as readers open it: on a phone
//! (375 CSS pixels wide) in each of mdBook's five themes, and on a desktop. On each page: no
//! error on the console, no request that failed, every image loaded with a size, and, on the
//! phone, nothing wider than the screen (code blocks and tables scroll inside themselves). Then
//! the search on the phone, by tapping. Screenshots of a few pages go to target/screenshots/ for a
//! person to look at.
//!
//! The pages are the HTML files that mdBook wrote, so a new chapter is checked without a change
//! here.

mod support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use book_tests::browser::{Browser, PHONE_WIDTH, THEMES, browser_command};
use book_tests::build::chapters;
use book_tests::server::Server;
use book_tests::target_dir;
use serde_json::{Value, json};

use support::book::build;
use support::search::{open_by_tap, search};
use support::tool_available;

/// Looks at the open page and reports what is wrong with it: images that did not load or have
/// no size, and text or boxes that reach past the right edge of the screen without a box around
/// them that scrolls or clips (as a code block does), and a page that scrolls sideways.
const CHECK_PAGE_JS: &str = r#"(() => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  const describe = e => {
    const text = (e.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60);
    return `<${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : ''}> "${text}"`;
  };
  for (const img of document.images) {
    const name = img.getAttribute('src');
    if (!img.complete || img.naturalWidth === 0 || img.naturalHeight === 0) {
      problems.push(`image not loaded: ${name}`);
    } else if (img.getClientRects().length > 0) {
      const r = img.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) problems.push(`image shown with no size: ${name}`);
    }
  }
  // Text may reach past the screen only inside a box of the page's content that scrolls or clips
  // sideways and itself fits on the screen: a code block, a table's wrapper. The boxes around
  // <main> (mdBook's .content scrolls, its body container clips) do not count: text that needs
  // them is too wide.
  const main = document.querySelector('main');
  const contained = new Map();
  const isContained = e => {
    if (!e || e === document.body || e === document.documentElement || e.contains(main)) return false;
    if (contained.has(e)) return contained.get(e);
    const result = (getComputedStyle(e).overflowX !== 'visible'
      && e.getBoundingClientRect().right <= width + 1) || isContained(e.parentElement);
    contained.set(e, result);
    return result;
  };
  // The boxes around <main> that scroll sideways would let the reader drag the whole text.
  for (let e = main; e && e !== document.documentElement; e = e.parentElement) {
    const style = getComputedStyle(e);
    if (style.overflowX !== 'visible' && style.overflowX !== 'clip' && style.overflowX !== 'hidden'
        && e.scrollWidth > e.clientWidth + 1) {
      problems.push(`${describe(e).split('>')[0]}> scrolls sideways: ${e.scrollWidth}px of content in ${e.clientWidth}px`);
    }
  }
  const reported = new Set();
  const report = (e, what) => {
    if (reported.size < 10 && !reported.has(e)) {
      reported.add(e);
      problems.push(`${what} reaches ${what === 'text' ? 'past' : 'beyond'} the screen (${width}px): ${describe(e)}`);
    }
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.data.trim()) continue;
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      if (r.width > 0 && r.right > width + 1 && !isContained(node.parentElement)) {
        report(node.parentElement, 'text');
        break;
      }
    }
  }
  for (const e of document.body.querySelectorAll('img, svg, table, pre, video, iframe, input')) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1 && !isContained(e.parentElement)) report(e, 'a box');
  }
  if (document.documentElement.scrollWidth > width + 1) {
    problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth}px wide on a ${width}px screen`);
  }
  return {
    width,
    // Only pages with a theme menu have themes (toc.html is the sidebar for browsers without
    // JavaScript, and themes need it).
    theme: document.getElementById('mdbook-theme-toggle')
      ? [...document.documentElement.classList].join(' ') : null,
    images: document.images.length,
    problems,
  };
})()"#;

/// Opens `url`, waits for its fonts, and returns what [`CHECK_PAGE_JS`] and the browser found
/// wrong (console errors, failed requests).
fn check(browser: &mut Browser, url: &str) -> (Value, Vec<String>) {
    browser.open(url).unwrap();
    browser
        .eval("document.fonts.ready.then(() => true)")
        .unwrap();
    examine(browser)
}

/// What [`CHECK_PAGE_JS`] and the browser find wrong with the open page as it is now.
fn examine(browser: &mut Browser) -> (Value, Vec<String>) {
    let found = browser.eval(CHECK_PAGE_JS).unwrap();
    let mut problems: Vec<String> = serde_json::from_value(found["problems"].clone()).unwrap();
    // A page that names no icon makes the browser ask for /favicon.ico by itself; of the book's
    // pages only toc.html names none, and it is shown in a frame, where no icon is asked for.
    problems.extend(
        browser
            .take_problems()
            .into_iter()
            .filter(|p| !p.contains("/favicon.ico")),
    );
    (found, problems)
}

/// Every HTML page that mdBook wrote, in reading order first (as SUMMARY.md lists them), then
/// the others (the index, the print page, the 404 page, the table of contents for browsers
/// without JavaScript).
fn pages(book: &Path) -> Vec<String> {
    let mut pages: Vec<String> = chapters().unwrap().iter().map(|c| c.page()).collect();
    let mut others = Vec::new();
    let mut todo = vec![book.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                let page = path
                    .strip_prefix(book)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if !pages.contains(&page) {
                    others.push(page);
                }
            }
        }
    }
    for page in &pages {
        assert!(
            book.join(page).exists(),
            "SUMMARY.md lists {page}, mdBook did not write it"
        );
    }
    others.sort();
    pages.extend(others);
    pages
}

/// Where the screenshots go: target/screenshots/, without the page screenshots of an earlier
/// run (a page may be gone since).
fn screenshot_dir() -> PathBuf {
    let dir = target_dir().join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("phone-") || name.starts_with("desktop-") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    dir
}

/// The pages to photograph: the front page, the first page with a picture, the first with a
/// table, the first with a code block (in reading order), each scrolled to that thing.
fn pages_to_photograph(book: &Path, pages: &[String]) -> Vec<(String, &'static str)> {
    let mut chosen: Vec<(String, &'static str)> = vec![("index.html".to_string(), "h1")];
    for (needle, selector) in [
        ("<img ", "main img"),
        ("<table", "main table"),
        ("<pre>", "main pre"),
    ] {
        if let Some(page) = pages.iter().find(|p| {
            p.as_str() != "print.html"
                && !chosen.iter().any(|(c, _)| c == *p)
                && std::fs::read_to_string(book.join(p)).is_ok_and(|html| html.contains(needle))
        }) {
            chosen.push((page.clone(), selector));
        }
    }
    chosen
}

fn photograph(browser: &mut Browser, dir: &Path, name: &str, selector: &str) {
    let quoted = serde_json::to_string(selector).unwrap();
    // Scrolled to the thing, below the menu bar; nothing focused (a focused button is drawn
    // highlighted).
    browser
        .eval(&format!(
            "(e => {{ document.activeElement.blur(); \
               if (e) window.scrollTo(0, e.getBoundingClientRect().top + scrollY - 70); \
               return true; }})(document.querySelector({quoted}))"
        ))
        .unwrap();
    browser
        .screenshot(&dir.join(format!("{name}.png")))
        .unwrap();
    // Back to the top, where the menu bar is.
    browser.eval("window.scrollTo(0, 0); true").unwrap();
}

/// Chooses a theme as a reader does on a phone: tap the brush in the menu bar, tap the theme,
/// tap the brush again to close the menu (choosing leaves it open).
fn choose_theme(browser: &mut Browser, theme: &str) {
    let menu_open = "document.getElementById('mdbook-theme-list').style.display === 'block'";
    browser.tap("#mdbook-theme-toggle").unwrap();
    browser
        .wait_until("the theme menu to open", menu_open)
        .unwrap();
    browser.tap(&format!("#mdbook-theme-{theme}")).unwrap();
    // mdBook switches the code's colours by disabling and enabling stylesheets; an enabled one
    // is fetched again, and until it arrives code blocks do not scroll inside themselves.
    browser
        .wait_until(
            &format!("the {theme} theme with its stylesheets"),
            &format!(
                "document.documentElement.classList.contains('{theme}') && \
                 [...document.querySelectorAll('link[rel=stylesheet]')].every(l => l.disabled || l.sheet)"
            ),
        )
        .unwrap();
    browser.tap("#mdbook-theme-toggle").unwrap();
    browser
        .wait_until("the theme menu to close", &format!("!({menu_open})"))
        .unwrap();
}

/// Two browsers share the pages, every other page each: opening pages keeps a core busy, and the
/// machines this runs on have two.
const BROWSERS: usize = 2;

#[test]
fn every_page_in_every_theme_on_a_phone_and_on_a_desktop() {
    if !tool_available(&browser_command()) {
        return;
    }
    let started = Instant::now();
    let out = build();
    let book = out.path().canonicalize().unwrap();
    let pages = pages(&book);
    let photos = pages_to_photograph(&book, &pages);
    let shots = screenshot_dir();
    let server = Server::start(book.clone()).unwrap();
    let shares: Vec<Vec<String>> = (0..BROWSERS)
        .map(|n| pages.iter().skip(n).step_by(BROWSERS).cloned().collect())
        .collect();
    let wrong: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .iter()
            .map(|share| scope.spawn(|| look_at(&server, share, &photos, &shots)))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))
            })
            .collect()
    });
    assert!(
        wrong.is_empty(),
        "{} problems:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!(
        "checked {} pages x ({} themes on a phone + a desktop) in {:.1?}; screenshots in {}",
        pages.len(),
        THEMES.len(),
        started.elapsed(),
        shots.display()
    );
}

/// Opens each of `pages` in a browser of its own, on a phone in every theme and on a desktop,
/// photographs the ones in `photos`, and returns what is wrong.
fn look_at(
    server: &Server,
    pages: &[String],
    photos: &[(String, &'static str)],
    shots: &Path,
) -> Vec<String> {
    let mut browser = Browser::launch().unwrap();
    let mut wrong = Vec::new();

    // On a phone, each page is opened once and shown in all five themes, chosen in the theme
    // menu as a reader chooses one. mdBook remembers the last choice, so the next page opens in
    // it: over the pages, every theme is also the one a page opens in.
    browser.phone().unwrap();
    for page in pages {
        let (found, problems) = check(&mut browser, &server.url(page));
        assert_eq!(
            found["width"],
            json!(PHONE_WIDTH),
            "{page} is not laid out for a phone"
        );
        let Some(opened_in) = found["theme"].as_str().map(str::to_string) else {
            // No theme menu: one look is all there is.
            wrong.extend(problems.iter().map(|p| format!("{page} (phone): {p}")));
            continue;
        };
        let first = THEMES
            .iter()
            .position(|t| opened_in.split(' ').any(|c| c == *t))
            .unwrap_or_else(|| panic!("{page} opened in no theme: {opened_in}"));
        let mut problems = problems;
        for step in 0..THEMES.len() {
            let theme = THEMES[(first + step) % THEMES.len()];
            if step > 0 {
                choose_theme(&mut browser, theme);
                let found;
                (found, problems) = examine(&mut browser);
                assert!(
                    found["theme"]
                        .as_str()
                        .unwrap()
                        .split(' ')
                        .any(|c| c == theme),
                    "{page} did not change to the {theme} theme: {}",
                    found["theme"]
                );
            }
            wrong.extend(
                problems
                    .iter()
                    .map(|p| format!("{page} (phone, {theme}): {p}")),
            );
            if let Some((_, selector)) = photos.iter().find(|(p, _)| p == page) {
                let name = format!("phone-{theme}-{}", page.trim_end_matches(".html"));
                photograph(&mut browser, shots, &name, selector);
            }
        }
    }

    browser.desktop().unwrap();
    browser.open(&server.url("index.html")).unwrap();
    browser
        .eval("localStorage.removeItem('mdbook-theme'); true")
        .unwrap();
    for page in pages {
        let (_, problems) = check(&mut browser, &server.url(page));
        wrong.extend(problems.iter().map(|p| format!("{page} (desktop): {p}")));
        if let Some((_, selector)) = photos.iter().find(|(p, _)| p == page) {
            let name = format!("desktop-{}", page.trim_end_matches(".html"));
            photograph(&mut browser, shots, &name, selector);
        }
    }

    // Every page, every request: nothing left the loopback server.
    let served = server.url("");
    let remote: Vec<&String> = browser
        .requested
        .iter()
        .filter(|u| !u.starts_with(&served) && !u.starts_with("data:"))
        .collect();
    assert!(remote.is_empty(), "requests beyond the book: {remote:?}");
    wrong
}

#[test]
fn the_search_works_on_a_phone() {
    if !tool_available(&browser_command()) {
        return;
    }
    let out = build();
    let book = out.path().canonicalize().unwrap();
    let server = Server::start(book).unwrap();
    let mut browser = Browser::launch().unwrap();
    browser.phone().unwrap();
    browser.open(&server.url("index.html")).unwrap();

    open_by_tap(&mut browser);
    let results = search(&mut browser, "三次握手");
    assert!(!results.is_empty(), "no results for 三次握手 on a phone");
    // The results fit on the screen.
    let (found, problems) = (
        browser.eval(CHECK_PAGE_JS).unwrap(),
        browser.take_problems(),
    );
    let mut wrong: Vec<String> = serde_json::from_value(found["problems"].clone()).unwrap();
    wrong.extend(problems);
    assert!(
        wrong.is_empty(),
        "the results on a phone:\n{}",
        wrong.join("\n")
    );
    let shots = target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    browser
        .screenshot(&shots.join("search-on-a-phone.png"))
        .unwrap();

    // Tapping the first result opens its page with the query marked.
    browser.tap("#mdbook-searchresults li a").unwrap();
    browser.wait_for_event("Page.loadEventFired").unwrap();
    let marked = browser
        .wait_until(
            "the query marked on the result's page",
            "[...document.querySelectorAll('mark')].some(m => m.textContent === '三次握手')",
        )
        .unwrap();
    assert_eq!(marked, json!(true));
    let page = browser.eval("location.pathname").unwrap();
    assert_eq!(
        page,
        json!(format!(
            "/{}",
            results[0]
                .0
                .rsplit('/')
                .next()
                .unwrap()
                .split(['?', '#'])
                .next()
                .unwrap()
        ))
    );
}

#[test]
fn the_page_check_sees_what_it_looks_for() {
    if !tool_available(&browser_command()) {
        return;
    }
    // A page with everything wrong that the checks look for, and the same things done right.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("page.html"),
        r#"<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>
<div class="content" style="overflow-y: auto"><main>
<p id="long">averyveryveryveryveryveryveryveryveryveryveryveryverylongwordthatcannotbreak</p>
<pre style="overflow-x: auto"><code>a code line that is much wider than any phone screen, and scrolls inside its box</code></pre>
<img id="missing" src="missing.svg" alt="">
<img id="good" src="good.svg" alt="">
</main></div>
<script>console.error('something broke');</script>
</body></html>"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("good.svg"),
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#,
    )
    .unwrap();
    let server = Server::start(dir.path().to_path_buf()).unwrap();
    let mut browser = Browser::launch().unwrap();
    browser.phone().unwrap();
    let (_, problems) = check(&mut browser, &server.url("page.html"));
    let all = problems.join("\n");
    for expected in [
        "image not loaded: missing.svg",
        "text reaches past the screen (375px): <p#long>",
        "<div.content> scrolls sideways",
        "console.error: something broke",
        "HTTP 404 for",
    ] {
        assert!(all.contains(expected), "not seen: {expected}\nin:\n{all}");
    }
    assert!(!all.contains("good.svg"), "{all}");
    assert!(!all.contains("<pre") && !all.contains("<code"), "{all}");
}
