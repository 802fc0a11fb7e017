//! A headless Chromium (Debian's `chromium`, or the browser that CHROMIUM names), driven over the
//! Chrome DevTools Protocol: JSON commands and events on one WebSocket.
//!
//! Hand-written on purpose, on `tungstenite` and `serde_json`: the tests need a dozen commands
//! (navigate, evaluate, emulate a phone, tap, type, screenshot, print), and the maintained client
//! crates generate Rust types for the whole protocol, which costs about a minute of compiling on
//! two cores, in every cold `cargo test` and again in `cargo clippy`. Measured from clean, on two
//! cores, `cargo build -p book-tests --tests`: 66 s as it is, 120 s with chromiumoxide 0.9, 134 s
//! with headless_chrome 1.0. Every wait here is bounded.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use crate::STEP;

/// The browser to drive: Debian's `chromium`, or another Chromium-based one named by CHROMIUM.
pub fn browser_command() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_string())
}

/// The five themes of mdBook, as its theme menu names them.
pub const THEMES: [&str; 5] = ["light", "rust", "coal", "navy", "ayu"];

/// A phone's screen, in CSS pixels: the width of the smaller common phones.
pub const PHONE_WIDTH: u32 = 375;
const PHONE_HEIGHT: u32 = 812;
const DESKTOP: (u32, u32) = (1280, 900);

/// How long a page may take to compute something that it is asked to wait for, in the page.
const PAGE_WAIT_MS: u64 = 10_000;

/// A headless Chromium with one page, killed when dropped.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
    /// Every URL the page asked for, in order.
    pub requested: Vec<String>,
    /// What went wrong since the last [`Browser::take_problems`]: errors on the console,
    /// uncaught exceptions, requests that failed or were answered with an error status.
    problems: Vec<String>,
    /// The URL of each request in flight, by its id, to name the URL of a failure.
    urls: HashMap<String, String>,
    /// Events that arrived while waiting for something else, for a later `wait_for_event`.
    backlog: VecDeque<Value>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts the browser with an empty profile and opens one blank page, at a desktop size.
    pub fn launch() -> Result<Browser> {
        let profile = tempfile::tempdir()?;
        let mut child = Command::new(browser_command())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                // Without these, Chromium tries to reach Google's servers at every start.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--lang=zh-CN",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "start {}: install Chromium (Debian/Ubuntu: apt-get install chromium), \
                     or name another Chromium-based browser in CHROMIUM",
                    browser_command()
                )
            })?;

        // Chromium announces its DevTools endpoint on stderr once it listens. The thread goes
        // on reading stderr to its end, so that the pipe never fills.
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
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
                let _ = child.wait();
                bail!(
                    "{} did not open its DevTools endpoint in time",
                    browser_command()
                );
            }
        };
        let mut browser = Browser {
            child,
            _profile: profile,
            // Replaced below; a Browser exists from here on so that Drop kills the process.
            ws: connect(&url)?,
            next_id: 0,
            session: None,
            requested: Vec::new(),
            problems: Vec::new(),
            urls: HashMap::new(),
            backlog: VecDeque::new(),
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}))?;
        let target_id = target["targetId"]
            .as_str()
            .context("no targetId")?
            .to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        )?;
        let session = attached["sessionId"].as_str().context("no sessionId")?;
        browser.session = Some(session.to_string());
        for domain in ["Page", "Network", "Runtime", "Log"] {
            browser.call(&format!("{domain}.enable"), json!({}))?;
        }
        Ok(browser)
    }

    /// Sends one DevTools command and returns its result, recording the events that pass by.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.call_within(method, params, STEP)
    }

    /// [`Browser::call`] for a command that may take longer than one step (printing a book).
    pub fn call_within(&mut self, method: &str, params: Value, limit: Duration) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.ws
            .send(Message::text(message.to_string()))
            .with_context(|| format!("send {method} to DevTools"))?;
        let deadline = Instant::now() + limit;
        loop {
            let Some(reply) = self.receive(deadline)? else {
                bail!("no answer to {method} within {limit:?}");
            };
            if reply["id"] == json!(id) {
                if let Some(error) = reply.get("error") {
                    bail!("{method} failed: {error}");
                }
                return Ok(reply["result"].clone());
            }
            if reply.get("method").is_some() {
                self.remember(reply);
            }
        }
    }

    /// Reads one message, waiting until `deadline` at most (None when it passes). Notes every
    /// request the page makes and every problem it reports.
    fn receive(&mut self, deadline: Instant) -> Result<Option<Value>> {
        let message = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if let MaybeTlsStream::Plain(stream) = self.ws.get_ref() {
                stream.set_read_timeout(Some(left))?;
            }
            match self.ws.read() {
                Ok(message) => break message,
                // A signal arrived during the read. With a read timeout set on the socket, Linux
                // never restarts the call, whatever the handler's SA_RESTART (signal(7)); tungstenite
                // keeps what it has read so far, so reading again is safe.
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(anyhow!(e).context("read from DevTools")),
            }
        };
        let value: Value = match message {
            Message::Text(text) => serde_json::from_str(text.as_str())?,
            _ => Value::Null,
        };
        self.note(&value);
        Ok(Some(value))
    }

    /// Records what an event says about the page's requests and errors.
    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        let request_url = |urls: &HashMap<String, String>| {
            let id = params["requestId"].as_str().unwrap_or_default();
            urls.get(id)
                .cloned()
                .unwrap_or_else(|| format!("request {id}"))
        };
        match event["method"].as_str().unwrap_or_default() {
            "Network.requestWillBeSent" => {
                if let (Some(id), Some(url)) = (
                    params["requestId"].as_str(),
                    params["request"]["url"].as_str(),
                ) {
                    self.requested.push(url.to_string());
                    self.urls.insert(id.to_string(), url.to_string());
                }
            }
            "Network.responseReceived" => {
                let status = params["response"]["status"].as_u64().unwrap_or(0);
                if status >= 400 {
                    let url = params["response"]["url"].as_str().unwrap_or_default();
                    self.problems.push(format!("HTTP {status} for {url}"));
                }
            }
            // A request that the page itself gave up on (a navigation away) is no failure.
            "Network.loadingFailed" if params["canceled"] != json!(true) => {
                let url = request_url(&self.urls);
                let why = params["blockedReason"]
                    .as_str()
                    .or(params["errorText"].as_str())
                    .unwrap_or("failed");
                self.problems.push(format!("request failed ({why}): {url}"));
            }
            "Runtime.consoleAPICalled"
                if matches!(params["type"].as_str(), Some("error" | "assert")) =>
            {
                let text: Vec<String> = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|arg| {
                        arg["value"]
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| arg["description"].as_str().map(str::to_string))
                            .unwrap_or_else(|| arg["value"].to_string())
                    })
                    .collect();
                let kind = params["type"].as_str().unwrap_or_default();
                self.problems
                    .push(format!("console.{kind}: {}", text.join(" ")));
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"]
                    .as_str()
                    .or(details["text"].as_str())
                    .unwrap_or_default();
                let url = details["url"].as_str().unwrap_or_default();
                self.problems
                    .push(format!("uncaught exception at {url}: {text}"));
            }
            "Log.entryAdded" if params["entry"]["level"] == "error" => {
                let entry = &params["entry"];
                self.problems.push(format!(
                    "browser log ({}): {} {}",
                    entry["source"].as_str().unwrap_or_default(),
                    entry["text"].as_str().unwrap_or_default(),
                    entry["url"].as_str().unwrap_or_default()
                ));
            }
            _ => {}
        }
    }

    /// Keeps an event that nobody waited for yet (the newest few hundred).
    fn remember(&mut self, event: Value) {
        if self.backlog.len() >= 256 {
            self.backlog.pop_front();
        }
        self.backlog.push_back(event);
    }

    /// Waits for an event (or takes it from those that arrived earlier) and returns it.
    pub fn wait_for_event(&mut self, method: &str) -> Result<Value> {
        if let Some(at) = self.backlog.iter().position(|e| e["method"] == method) {
            return Ok(self.backlog.remove(at).expect("position is in range"));
        }
        let deadline = Instant::now() + STEP;
        loop {
            let Some(event) = self.receive(deadline)? else {
                bail!("no {method} in time");
            };
            if event["method"] == method {
                return Ok(event);
            }
            if event.get("method").is_some() {
                self.remember(event);
            }
        }
    }

    /// Takes the problems recorded so far (console errors, exceptions, failed requests).
    pub fn take_problems(&mut self) -> Vec<String> {
        std::mem::take(&mut self.problems)
    }

    /// Evaluates an expression in the page and returns its value; a promise is awaited.
    pub fn eval(&mut self, expression: &str) -> Result<Value> {
        self.eval_within(expression, STEP)
    }

    /// [`Browser::eval`] for a script that may take longer than one step (one that looks at
    /// every character of the whole book).
    pub fn eval_within(&mut self, expression: &str, limit: Duration) -> Result<Value> {
        let result = self.call_within(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            limit,
        )?;
        if let Some(details) = result.get("exceptionDetails") {
            bail!(
                "the page threw: {}\nwhile evaluating: {expression}",
                details["exception"]["description"]
                    .as_str()
                    .unwrap_or(&details.to_string())
            );
        }
        Ok(result["result"]["value"].clone())
    }

    /// Waits, in the page, until `expression` has a truthy value, and returns that value.
    /// `what` names the wait in the error when it does not come within ten seconds.
    pub fn wait_until(&mut self, what: &str, expression: &str) -> Result<Value> {
        let value = self.eval(&format!(
            "new Promise(done => {{ const t0 = Date.now(); (function poll() {{ \
               const v = ({expression}); \
               if (v) done(v); else if (Date.now() - t0 > {PAGE_WAIT_MS}) done(null); \
               else setTimeout(poll, 10); }})(); }})"
        ))?;
        ensure!(!value.is_null(), "timed out waiting for {what}");
        Ok(value)
    }

    /// Opens `url` and waits for its load event.
    pub fn open(&mut self, url: &str) -> Result<()> {
        self.navigate(url)?;
        self.wait_for_event("Page.loadEventFired")?;
        Ok(())
    }

    /// Starts opening `url`, without waiting for it to load (`Page.loadEventFired` then tells).
    pub fn navigate(&mut self, url: &str) -> Result<()> {
        self.backlog
            .retain(|e| e["method"] != "Page.loadEventFired");
        let navigated = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(error) = navigated["errorText"].as_str() {
            bail!("cannot open {url}: {error}");
        }
        Ok(())
    }

    /// Runs `script` in every page opened from now on, before the page's own scripts.
    pub fn before_every_page(&mut self, script: &str) -> Result<String> {
        let added = self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": script}),
        )?;
        Ok(added["identifier"].as_str().unwrap_or_default().to_string())
    }

    /// Undoes one [`Browser::before_every_page`].
    pub fn forget_script(&mut self, identifier: &str) -> Result<()> {
        self.call(
            "Page.removeScriptToEvaluateOnNewDocument",
            json!({"identifier": identifier}),
        )?;
        Ok(())
    }

    /// Makes the page a phone's screen: 375 CSS pixels wide, a touch screen, two device
    /// pixels to a CSS pixel, and the page's own `<meta name="viewport">` obeyed.
    pub fn phone(&mut self) -> Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": PHONE_WIDTH, "height": PHONE_HEIGHT, "deviceScaleFactor": 2,
                   "mobile": true}),
        )?;
        self.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": true, "maxTouchPoints": 5}),
        )?;
        Ok(())
    }

    /// Back to a desktop window.
    pub fn desktop(&mut self) -> Result<()> {
        self.call("Emulation.clearDeviceMetricsOverride", json!({}))?;
        self.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": false}),
        )?;
        Ok(())
    }

    /// Taps the middle of the element that `selector` finds, as a finger does, once it is
    /// visible on the screen (a menu may still be opening). What the tap does happens after this returns:
    /// the browser turns the touch into a click by itself.
    pub fn tap(&mut self, selector: &str) -> Result<()> {
        let quoted = serde_json::to_string(selector)?;
        let centre = self
            .wait_until(
                &format!("{selector} to be visible"),
                &format!(
                    "(e => {{ if (!e) return null; const r = e.getBoundingClientRect(); \
                       const x = r.x + r.width / 2, y = r.y + r.height / 2; \
                       return r.width > 0 && r.height > 0 && x >= 0 && y >= 0 && x < innerWidth \
                         && y < innerHeight ? [x, y] : null; }})\
                     (document.querySelector({quoted}))"
                ),
            )
            .with_context(|| format!("nothing visible to tap at {selector}"))?;
        let (Some(x), Some(y)) = (centre[0].as_f64(), centre[1].as_f64()) else {
            bail!("no place to tap at {selector}: {centre}");
        };
        for kind in ["touchStart", "touchEnd"] {
            let points = if kind == "touchStart" {
                json!([{"x": x, "y": y}])
            } else {
                json!([])
            };
            self.call(
                "Input.dispatchTouchEvent",
                json!({"type": kind, "touchPoints": points}),
            )?;
        }
        Ok(())
    }

    /// Presses and releases a key.
    pub fn key(&mut self, key: &str, code: &str, keycode: u32) -> Result<()> {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": keycode}),
            )?;
        }
        Ok(())
    }

    /// Types text into the focused element, as an input method commits it.
    pub fn type_text(&mut self, text: &str) -> Result<()> {
        self.call("Input.insertText", json!({"text": text}))?;
        Ok(())
    }

    /// Writes what the screen shows to a PNG file.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        let png = decode(&shot["data"])?;
        std::fs::write(path, png).with_context(|| format!("write {}", path.display()))
    }

    /// Prints the page to PDF with `Page.printToPDF` and these settings, and returns the file.
    pub fn print_to_pdf(&mut self, mut settings: Value) -> Result<Vec<u8>> {
        // A stream, read in pieces: a whole book in one WebSocket message would be too big.
        settings["transferMode"] = json!("ReturnAsStream");
        let printed = self.call_within("Page.printToPDF", settings, crate::pdf::LONG)?;
        let handle = printed["stream"]
            .as_str()
            .context("printToPDF returned no stream")?
            .to_string();
        let mut pdf = Vec::new();
        loop {
            let chunk = self.call("IO.read", json!({"handle": handle, "size": 1 << 20}))?;
            let data = chunk["data"].as_str().unwrap_or_default();
            if chunk["base64Encoded"] == json!(true) {
                pdf.extend(decode(&chunk["data"])?);
            } else {
                pdf.extend(data.as_bytes());
            }
            if chunk["eof"] == json!(true) {
                break;
            }
        }
        self.call("IO.close", json!({"handle": handle}))?;
        Ok(pdf)
    }
}

fn connect(url: &str) -> Result<WebSocket<MaybeTlsStream<TcpStream>>> {
    ensure!(
        url.starts_with("ws://127.0.0.1:"),
        "unexpected DevTools endpoint {url}"
    );
    let (ws, _) = tungstenite::connect(url).context("connect to DevTools")?;
    Ok(ws)
}

fn decode(data: &Value) -> Result<Vec<u8>> {
    let text = data.as_str().context("no data")?;
    Ok(base64::engine::general_purpose::STANDARD.decode(text)?)
}
