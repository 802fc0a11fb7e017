//! The book's search box, driven in a real browser: headless Chromium (Debian's `chromium`),
//! controlled over the Chrome DevTools Protocol. It opens the built book, types queries into the
//! search box, and checks that every result points to a page that contains the query, and that
//! the page fetched nothing from the network.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use support::book::build;
use support::{STEP, percent_decode, tool_available};

/// The browser to drive: Debian's `chromium`, or another Chromium-based one named by CHROMIUM.
fn browser_command() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_string())
}

/// A headless Chromium, killed when dropped.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
    /// Every URL the page asked for.
    requested: Vec<String>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(browser_command())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");

        // Chromium announces its DevTools endpoint on stderr once it listens.
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(STEP) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("chromium did not open its DevTools endpoint in time");
            }
        };
        assert!(
            url.starts_with("ws://127.0.0.1:"),
            "unexpected endpoint {url}"
        );
        let (ws, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
            stream.set_read_timeout(Some(STEP)).unwrap();
        }
        let mut browser = Browser {
            child,
            _profile: profile,
            ws,
            next_id: 0,
            session: None,
            requested: Vec::new(),
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = Some(attached["sessionId"].as_str().unwrap().to_string());
        browser.call("Page.enable", json!({}));
        browser.call("Network.enable", json!({}));
        browser
    }

    /// Sends one DevTools command and returns its result, recording events that pass by.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .expect("send to DevTools");
        let deadline = Instant::now() + STEP;
        loop {
            assert!(Instant::now() < deadline, "no answer to {method} in time");
            let event = self.receive();
            if event["id"] == json!(id) {
                assert!(event.get("error").is_none(), "{method} failed: {event}");
                return event["result"].clone();
            }
        }
    }

    /// Reads one message; notes the URL of every request the page makes.
    fn receive(&mut self) -> Value {
        let message = self.ws.read().expect("read from DevTools (timed out?)");
        let value: Value = match message {
            Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
            _ => Value::Null,
        };
        if value["method"] == "Network.requestWillBeSent"
            && let Some(url) = value["params"]["request"]["url"].as_str()
        {
            self.requested.push(url.to_string());
        }
        value
    }

    fn wait_for_event(&mut self, method: &str) {
        let deadline = Instant::now() + STEP;
        while self.receive()["method"] != method {
            assert!(Instant::now() < deadline, "no {method} in time");
        }
    }

    /// Evaluates an expression in the page; a promise is awaited.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "the page threw: {result}"
        );
        result["result"]["value"].clone()
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for_event("Page.loadEventFired");
    }

    /// Opens `url` (which carries `?search=query`) so that the Chinese-search script runs only
    /// after mdBook has loaded its index and searched: the order that a fast server can produce
    /// and file:// never does. The browser holds the script's request until then.
    fn open_with_search_script_last(&mut self, url: &str, query: &str) {
        self.call(
            "Fetch.enable",
            json!({"patterns": [{"urlPattern": "*search-cjk*"}]}),
        );
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + STEP;
        let request_id = loop {
            assert!(
                Instant::now() < deadline,
                "the search script was never requested"
            );
            let event = self.receive();
            if event["method"] == "Fetch.requestPaused" {
                break event["params"]["requestId"].clone();
            }
        };
        // mdBook has searched once its header names the query.
        let quoted = serde_json::to_string(query).unwrap();
        let searched = self.eval(&format!(
            "new Promise(done => {{ const t0 = Date.now(); (function poll() {{ \
               const h = document.getElementById('mdbook-searchresults-header'); \
               if (h && h.textContent.includes({quoted})) done(true); \
               else if (Date.now() - t0 > 10000) done(false); else setTimeout(poll, 20); }})(); }})"
        ));
        assert_eq!(
            searched,
            json!(true),
            "mdBook did not search {query:?} by itself"
        );
        self.call("Fetch.continueRequest", json!({"requestId": request_id}));
        self.call("Fetch.disable", json!({}));
        self.wait_for_event("Page.loadEventFired");
    }

    fn key(&mut self, kind: &str, key: &str, code: &str, keycode: u32) {
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": keycode}),
        );
    }

    /// Types `query` into the search box the way a reader does: press `s` to open the search,
    /// enter the text (as an input method commits it), release a key.
    fn search(&mut self, query: &str) -> Vec<(String, String, String)> {
        if self
            .eval("document.getElementById('mdbook-search-wrapper').classList.contains('hidden')")
            == json!(true)
        {
            self.key("keyDown", "s", "KeyS", 83);
            self.key("keyUp", "s", "KeyS", 83);
        }
        // Wait, in the page, until the search box has focus and the index has loaded.
        let ready = self.eval(
            "new Promise(done => { const t0 = Date.now(); (function poll() { \
               const bar = document.getElementById('mdbook-searchbar'); \
               if (document.activeElement === bar && window.search && window.search.index) done(true); \
               else if (Date.now() - t0 > 10000) done(false); else setTimeout(poll, 20); })(); })",
        );
        assert_eq!(
            ready,
            json!(true),
            "the search box did not open with its index"
        );
        self.eval("document.getElementById('mdbook-searchbar').select()");
        self.call("Input.insertText", json!({"text": query}));
        self.key("keyUp", "End", "End", 35);
        // Wait until the header names this query, then read the results.
        let quoted = serde_json::to_string(query).unwrap();
        let found = self.eval(&format!(
            "new Promise(done => {{ const t0 = Date.now(); (function poll() {{ \
               const h = document.getElementById('mdbook-searchresults-header').textContent; \
               if (h.includes({quoted})) done([...document.querySelectorAll('#mdbook-searchresults li')] \
                 .map(li => [li.querySelector('a').href, li.querySelector('a').textContent, \
                   li.querySelector('.teaser').textContent])); \
               else if (Date.now() - t0 > 10000) done(null); else setTimeout(poll, 20); }})(); }})"
        ));
        assert!(!found.is_null(), "no results header for {query:?}");
        serde_json::from_value(found).unwrap()
    }
}

/// A static file server on loopback for the built book, as `mdbook serve` serves it. Stopped
/// when dropped.
struct Server {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Server {
    fn start(root: PathBuf) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let root = root.clone();
                    thread::spawn(move || serve_one(stream, &root));
                }
            }
        });
        Server { addr, stop }
    }

    fn url(&self, page: &str) -> String {
        format!("http://{}/{page}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Answers one HTTP request with a file of the book (or 404), then closes the connection.
fn serve_one(mut stream: TcpStream, root: &Path) {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request);
    let target = request.split_whitespace().nth(1).unwrap_or("/");
    let path = percent_decode(target.split(['?', '#']).next().unwrap());
    let mut file = root.join(path.trim_start_matches('/'));
    if file.is_dir() {
        file.push("index.html");
    }
    let reply = match std::fs::read(&file) {
        Ok(body) if !path.contains("..") => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                Some("woff2") => "font/woff2",
                _ => "application/octet-stream",
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            [head.into_bytes(), body].concat()
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&reply);
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
    let server = Server::start(book.clone());
    let mut browser = Browser::launch();
    browser.open(&server.url("index.html"));

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
        let results = browser.search(query);
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
    assert!(browser.search("不存在的词语").is_empty());
    let header = browser.eval("document.getElementById('mdbook-searchresults-header').textContent");
    assert!(header.as_str().unwrap().contains("没有找到"), "{header}");

    // Following a result opens the page with the query highlighted.
    let results = browser.search("三次握手");
    let href = results[0].0.clone();
    browser.open(&href);
    let marked = browser.eval("[...document.querySelectorAll('mark')].map(m => m.textContent)");
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
            browser.open_with_search_script_last(url, query);
        } else {
            browser.open(url);
        }
        let shown = browser.eval(&format!(
            "new Promise(done => {{ const t0 = Date.now(); (function poll() {{ \
               const n = document.querySelectorAll('#mdbook-searchresults li').length; \
               const h = document.getElementById('mdbook-searchresults-header').textContent; \
               if (n > 0 && h.includes({quoted})) done(n); \
               else if (Date.now() - t0 > 10000) done(0); else setTimeout(poll, 20); }})(); }})"
        ));
        assert!(
            shown.as_u64().unwrap_or(0) > 0,
            "no results at {url} (search script last: {script_last})"
        );
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
