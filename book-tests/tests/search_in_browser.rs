//! The book's search box, driven in a real browser: headless Chromium (Debian's `chromium`),
//! controlled over the Chrome DevTools Protocol (book-tests/src/browser.rs). It opens the built
//! book, types queries into the search box, and checks that every result points to a page that
//! contains the query, and that the page fetched nothing from the network.

mod support;

use std::path::{Path, PathBuf};

use book_tests::browser::{Browser, browser_command};
use book_tests::server::Server;
use serde_json::json;

use support::book::build;
use support::search::{open_by_key, search};
use support::{percent_decode, tool_available};

/// Opens `url` (which carries `?search=query`) so that the Chinese-search script runs only
/// after mdBook has loaded its index and searched: the order that a fast server can produce
/// and file:// never does. The browser holds the script's request until then.
fn open_with_search_script_last(browser: &mut Browser, url: &str, query: &str) {
    browser
        .call(
            "Fetch.enable",
            json!({"patterns": [{"urlPattern": "*search-cjk*"}]}),
        )
        .unwrap();
    browser.navigate(url).unwrap();
    let paused = browser.wait_for_event("Fetch.requestPaused").unwrap();
    let request_id = paused["params"]["requestId"].clone();
    // mdBook has searched once its header names the query.
    let quoted = serde_json::to_string(query).unwrap();
    browser
        .wait_until(
            &format!("mdBook to search {query:?} by itself"),
            &format!(
                "(h => h && h.textContent.includes({quoted}))\
                 (document.getElementById('mdbook-searchresults-header'))"
            ),
        )
        .unwrap();
    browser
        .call("Fetch.continueRequest", json!({"requestId": request_id}))
        .unwrap();
    browser.call("Fetch.disable", json!({})).unwrap();
    browser.wait_for_event("Page.loadEventFired").unwrap();
}

/// The text of a built page, tags removed and entities undone, as a reader sees it.
fn page_text(book: &Path, href: &str) -> (PathBuf, String) {
    let path = match href.strip_prefix("http://127.0.0.1:") {
        // served: http://127.0.0.1:PORT/page.html -> <book>/page.html
        Some(rest) => {
            let page = &rest[rest.find('/').unwrap() + 1..];
            let page = page.split(['?', '#']).next().unwrap();
            book.join(percent_decode(page))
        }
        None => {
            let path = href
                .strip_prefix("file://")
                .unwrap_or_else(|| panic!("result {href} is not a page of the book"));
            PathBuf::from(percent_decode(path.split(['?', '#']).next().unwrap()))
        }
    };
    assert!(path.starts_with(book), "{href} leads outside the book");
    let html = std::fs::read_to_string(&path).unwrap();
    let main = &html[html.find("<main>").unwrap_or(0)..];
    let mut text = String::new();
    let mut in_tag = false;
    for c in main.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    (path, text)
}

#[test]
fn chinese_and_english_searches_find_the_pages_that_contain_them() {
    if !tool_available(&browser_command()) {
        return;
    }
    let out = build();
    let book = out.path().canonicalize().unwrap();
    let server = Server::start(book.clone()).unwrap();
    let mut browser = Browser::launch().unwrap();
    browser.open(&server.url("index.html")).unwrap();

    // query, a page that must be among the results
    let queries = [
        ("套接字", "socket-module.html"),
        ("回显", "tcp-echo.html"),
        ("监听", "tcp-model.html"),
        ("数据报", "udp-model.html"),
        ("三次握手", "tcp-model.html"),
        ("积压队列 backlog", "socket-module.html"),
        ("TcpListener", "socket-module.html"),
        ("recv_from", "udp-echo.html"),
    ];
    for (query, expected) in queries {
        open_by_key(&mut browser);
        let results = search(&mut browser, query);
        assert!(!results.is_empty(), "no results for {query:?}");
        let mut pages = Vec::new();
        for (href, title, teaser) in &results {
            let (path, text) = page_text(&book, href);
            for term in query.split_whitespace() {
                assert!(
                    text.to_lowercase().contains(&term.to_lowercase()),
                    "{href} is a result for {query:?} but does not contain {term:?}"
                );
            }
            if !query.is_ascii() {
                // Our own results show the match in context: in the text around it, or in the
                // section's title when that is where it matched.
                let first = query.split_whitespace().next().unwrap();
                assert!(
                    teaser.contains(first) || title.contains(first),
                    "result without {first:?} in sight: {title} / {teaser}"
                );
            }
            pages.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        assert!(
            pages.iter().any(|p| p == expected),
            "{query:?} should find {expected}, found {pages:?}"
        );
    }

    // A Chinese phrase that the book does not contain finds nothing, and says so.
    assert!(search(&mut browser, "不存在的词语").is_empty());
    let header = browser
        .eval("document.getElementById('mdbook-searchresults-header').textContent")
        .unwrap();
    assert!(header.as_str().unwrap().contains("没有找到"), "{header}");

    // Following a result opens the page with the query highlighted.
    let results = search(&mut browser, "三次握手");
    let href = results[0].0.clone();
    browser.open(&href).unwrap();
    let marked = browser
        .eval("[...document.querySelectorAll('mark')].map(m => m.textContent)")
        .unwrap();
    assert!(
        marked.as_array().unwrap().iter().any(|m| m == "三次握手"),
        "the query is not highlighted on {href}: {marked}"
    );

    // A search in the address (what the back button and shared links bring) must show its
    // results whether the search index loads before the Chinese-search script runs (as under a
    // fast server) or after it (as from the files of the built book).
    let query = "数据报";
    let quoted = serde_json::to_string(query).unwrap();
    let served = server.url(&format!("index.html?search={query}"));
    let from_files = format!("file://{}/index.html?search={query}", book.display());
    for (url, script_last) in [(&served, true), (&served, false), (&from_files, false)] {
        if script_last {
            open_with_search_script_last(&mut browser, url, query);
        } else {
            browser.open(url).unwrap();
        }
        browser
            .wait_until(
                &format!("results at {url} (search script last: {script_last})"),
                &format!(
                    "document.querySelectorAll('#mdbook-searchresults li').length > 0 && \
                     document.getElementById('mdbook-searchresults-header').textContent.includes({quoted})"
                ),
            )
            .unwrap();
    }

    // Offline: every request stayed with the book, its files or its loopback server.
    assert!(!browser.requested.is_empty(), "no requests were recorded");
    let served = server.url("");
    let remote: Vec<_> = browser
        .requested
        .iter()
        .filter(|u| !u.starts_with("file://") && !u.starts_with("data:") && !u.starts_with(&served))
        .collect();
    assert!(
        remote.is_empty(),
        "the book fetched from elsewhere: {remote:?}"
    );
}
