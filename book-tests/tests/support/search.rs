//! mdBook's search box, used as a reader uses it: open it (a key on a desktop, a tap on a phone),
//! type a query as an input method commits it, read the results.

use book_tests::browser::Browser;
use serde_json::json;

/// Opens the search box with the `s` key, unless it is open already.
pub fn open_by_key(browser: &mut Browser) {
    if hidden(browser) {
        browser.key("s", "KeyS", 83).unwrap();
    }
}

/// Opens the search box by tapping the magnifier in the menu bar, as on a phone.
pub fn open_by_tap(browser: &mut Browser) {
    if hidden(browser) {
        browser.tap("#mdbook-search-toggle").unwrap();
    }
}

fn hidden(browser: &mut Browser) -> bool {
    browser
        .eval("document.getElementById('mdbook-search-wrapper').classList.contains('hidden')")
        .unwrap()
        == json!(true)
}

/// Types `query` into the open search box and returns the results: (link, title, teaser).
pub fn search(browser: &mut Browser, query: &str) -> Vec<(String, String, String)> {
    // Wait, in the page, until the search box has focus and the index has loaded.
    browser
        .wait_until(
            "the search box to open with its index",
            "document.activeElement === document.getElementById('mdbook-searchbar') \
             && window.search && window.search.index",
        )
        .unwrap();
    browser
        .eval("document.getElementById('mdbook-searchbar').select()")
        .unwrap();
    browser.type_text(query).unwrap();
    browser
        .call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": "End", "code": "End", "windowsVirtualKeyCode": 35}),
        )
        .unwrap();
    // Wait until the results header names this query, then read the results.
    let quoted = serde_json::to_string(query).unwrap();
    browser
        .wait_until(
            &format!("results for {query:?}"),
            &format!(
                "document.getElementById('mdbook-searchresults-header').textContent.includes({quoted})"
            ),
        )
        .unwrap();
    let found = browser
        .eval(
            "[...document.querySelectorAll('#mdbook-searchresults li')] \
             .map(li => [li.querySelector('a').href, li.querySelector('a').textContent, \
               li.querySelector('.teaser').textContent])",
        )
        .unwrap();
    serde_json::from_value(found).unwrap()
}
