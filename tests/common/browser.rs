//! A real browser for the end-to-end tests: Debian's headless Chromium driven through
//! chromedriver with fantoccini. Each [`Browser`] starts its own chromedriver on a free port
//! (chromedriver picks it: `--port=0`) with a fresh Chromium profile, and kills both when
//! dropped, even if the test panics.
//!
//! Nothing is downloaded at run time: `scripts/install-browser.sh` installs the Debian
//! packages `chromium` and `chromium-driver`. Set `NEWSREAD_CHROMIUM` / `NEWSREAD_CHROMEDRIVER`
//! to use other binaries. There is no switch to skip them: a machine without a browser
//! fails them, with instructions.
//!
//! Every wait polls a condition with a deadline; nothing sleeps a fixed time and hopes.
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use base64::Engine as _;
use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long any one wait may take. Generous: two cores may be running four browsers.
pub const TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewport {
    /// 390 x 844, a current phone, emulated as a mobile device (touch, meta viewport).
    Phone,
    /// 1366 x 900, a common laptop screen.
    Desktop,
}

impl Viewport {
    pub const ALL: [Viewport; 2] = [Viewport::Phone, Viewport::Desktop];

    pub fn size(self) -> (u32, u32) {
        match self {
            Viewport::Phone => (390, 844),
            Viewport::Desktop => (1366, 900),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Viewport::Phone => "phone",
            Viewport::Desktop => "desktop",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
}

impl Theme {
    pub const ALL: [Theme; 2] = [Theme::Light, Theme::Dark];

    pub fn name(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
}

/// How to start the browser.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub viewport: Viewport,
    pub javascript: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            viewport: Viewport::Desktop,
            javascript: true,
        }
    }
}

fn binary(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A chromedriver process in its own process group; the group (chromedriver and the
/// Chromium it started) is killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver, again if it exits or stays silent: on a machine busy with the
    /// other suites and the Terraform checks, a start now and then never gets going.
    fn start() -> Self {
        const ATTEMPTS: u32 = 3;
        // A start-up wait, not a measurement.
        let wait = TIMEOUT * 2;
        for attempt in 1..=ATTEMPTS {
            match Self::try_start(wait) {
                Ok(driver) => return driver,
                Err(why) if attempt < ATTEMPTS => {
                    eprintln!("chromedriver: {why}; starting it again")
                }
                Err(why) => panic!("chromedriver {why}, {ATTEMPTS} times"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn try_start(wait: Duration) -> Result<Self, String> {
        let path = binary("NEWSREAD_CHROMEDRIVER", "chromedriver");
        let mut cmd = Command::new(&path);
        cmd.arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {path}: {e}. Install the browser with scripts/install-browser.sh \
                 (Debian packages chromium and chromium-driver)"
            )
        });
        // "ChromeDriver was started successfully on port 39421."
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(port) = line
                        .split("started successfully on port ")
                        .nth(1)
                        .and_then(|p| p.trim_end_matches('.').trim().parse::<u16>().ok())
                    {
                        let _ = tx.send(port);
                        sent = true;
                    }
                }
                // Keep draining so chromedriver never blocks on a full pipe.
            }
        });
        // Dropped (its process group killed) unless it reports a port.
        let mut driver = Driver { child, port: 0 };
        match rx.recv_timeout(wait) {
            Ok(port) => {
                driver.port = port;
                Ok(driver)
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("did not report its port within {wait:?}"))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err("exited before reporting its port".to_owned())
            }
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole process group: chromedriver and every Chromium process it started.
        // (Chromium's crashpad handlers run in their own group and exit with the browser.)
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg("--")
                .arg(format!("-{}", self.child.id()))
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Chrome DevTools Protocol command through chromedriver's `goog/cdp/execute` endpoint:
/// colour-scheme and device emulation, and full-page screenshots.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        (
            Method::POST,
            Some(json!({ "cmd": self.cmd, "params": self.params }).to_string()),
        )
    }
}

/// chromedriver's console log (`goog:loggingPrefs` must ask for it).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// What has the keyboard focus, as a person would see it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Focus {
    /// A short description, e.g. `a#skip "Skip to main content"`.
    pub describe: String,
    pub tag: String,
    pub id: String,
    /// Whether the element is inside the viewport.
    pub in_view: bool,
    /// Whether a focus indicator is drawn (an outline or a box shadow).
    pub indicator: bool,
}

pub struct Browser {
    pub client: Client,
    pub base: String,
    pub viewport: Viewport,
    // Dropped after the client: the session is closed (or abandoned) before the kill.
    driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session for the app at `base`.
    pub async fn launch(base: &str, options: Options) -> Browser {
        let driver = Driver::start();
        let profile = tempfile::tempdir().expect("profile dir");
        let (width, height) = options.viewport.size();
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-extensions".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            "--lang=en-US".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if !options.javascript {
            // Belt and braces with the content setting below.
            args.push("--blink-settings=scriptEnabled=false".to_owned());
        }
        let mut prefs = json!({});
        if !options.javascript {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": binary("NEWSREAD_CHROMIUM", "/usr/bin/chromium"),
                "args": args,
                "prefs": prefs,
            }),
        );
        caps.insert("pageLoadStrategy".to_owned(), json!("normal"));
        caps.insert("goog:loggingPrefs".to_owned(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        // Chromium's first start on a loaded machine can be slow: retry the session briefly.
        let deadline = Instant::now() + TIMEOUT;
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&driver.url())
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("browser session not ready yet: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("cannot start a Chromium session through chromedriver: {e}"),
            }
        };
        let browser = Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            viewport: options.viewport,
            driver,
            _profile: profile,
        };
        browser.set_viewport(options.viewport).await;
        browser
    }

    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// Emulates the viewport exactly (and a mobile device for the phone size).
    pub async fn set_viewport(&self, viewport: Viewport) {
        let (width, height) = viewport.size();
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({
                "width": width,
                "height": height,
                "deviceScaleFactor": 1,
                "mobile": viewport == Viewport::Phone,
            }),
        )
        .await;
        self.cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({ "enabled": viewport == Viewport::Phone, "maxTouchPoints": 5 }),
        )
        .await;
    }

    /// `prefers-color-scheme` as the page sees it; returns once colour transitions are done.
    pub async fn set_theme(&self, theme: Theme) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": theme.name() }] }),
        )
        .await;
        self.wait_until("colour transitions to finish", || async {
            let v = self
                .js("return !document.getAnimations || document.getAnimations().every(a => a.playState !== 'running')")
                .await;
            (v == true).then_some(())
        })
        .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    /// The current URL's fragment, if any.
    pub async fn fragment(&self) -> Option<String> {
        let url = self.client.current_url().await.expect("current url");
        url.fragment().map(str::to_owned)
    }

    /// The current path and query, e.g. `/news?cursor=abc`.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Polls `check` until it returns `Some`, failing the test with `what` after [`TIMEOUT`].
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            if Instant::now() > deadline {
                let path = self.path().await;
                panic!("timed out after {TIMEOUT:?} waiting for {what} (at {path})");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for the page at `path` (path and query, or a prefix ending in `*`) to have loaded.
    pub async fn wait_for_path(&self, path: &str) {
        let (prefix, exact) = match path.strip_suffix('*') {
            Some(p) => (p, false),
            None => (path, true),
        };
        self.wait_until(&format!("the page {path}"), || async {
            let now = self.path().await;
            let matches = if exact {
                now == prefix
            } else {
                now.starts_with(prefix)
            };
            (matches && self.ready().await).then_some(())
        })
        .await;
    }

    async fn ready(&self) -> bool {
        self.client
            .execute("return document.readyState", vec![])
            .await
            .is_ok_and(|v| v == "complete")
    }

    /// Waits for an element matching `css` to be present.
    pub async fn find(&self, css: &str) -> Element {
        self.wait_until(&format!("element {css}"), || async {
            self.client.find(Locator::Css(css)).await.ok()
        })
        .await
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    /// Waits for an element matching `css` whose text contains `text`.
    pub async fn find_text(&self, css: &str, text: &str) -> Element {
        self.wait_until(&format!("{css} containing {text:?}"), || async {
            for el in self.find_all(css).await {
                if el.text().await.is_ok_and(|t| t.contains(text)) {
                    return Some(el);
                }
            }
            None
        })
        .await
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// Runs a script and returns its JSON result.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs an asynchronous script; it calls `arguments[arguments.length - 1]` with its result.
    pub async fn js_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("async script failed: {e}\n{script}"))
    }

    /// Clicks an element as a person would: scrolled to the middle of the screen first, so no
    /// sticky bar is in the way.
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})",
                vec![serde_json::to_value(&el).expect("element as JSON")],
            )
            .await
            .expect("scroll into view");
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Types into a field (clearing it first), as a person with a mouse would.
    pub async fn fill(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear field");
        el.send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Presses and releases keys through WebDriver key actions (a real keyboard, no clicks).
    pub async fn press(&self, keys: &[Key]) {
        let mut actions = KeyActions::new("keyboard".to_owned());
        for key in keys {
            let value: char = (*key).into();
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.client
            .perform_actions(actions)
            .await
            .expect("key actions");
    }

    /// Holds `modifier` while pressing `key`, e.g. Control+A.
    pub async fn chord(&self, modifier: Key, key: char) {
        let modifier: char = modifier.into();
        let actions = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: modifier })
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key })
            .then(KeyAction::Up { value: modifier });
        self.client
            .perform_actions(actions)
            .await
            .expect("key actions");
    }

    /// Types text key by key into whatever has the focus.
    pub async fn type_keys(&self, text: &str) {
        let mut actions = KeyActions::new("keyboard".to_owned());
        for value in text.chars() {
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.client
            .perform_actions(actions)
            .await
            .expect("key actions");
    }

    /// The element with the keyboard focus and whether that is visible.
    pub async fn focus(&self) -> Focus {
        let v = self
            .js(r#"
            const el = document.activeElement || document.body;
            const cs = getComputedStyle(el);
            const r = el.getBoundingClientRect();
            const label = (el.innerText || el.value || el.getAttribute('aria-label') || '')
              .trim().split('\n')[0].slice(0, 60);
            const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2;
            const shadow = cs.boxShadow && cs.boxShadow !== 'none';
            return {
              describe: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                (el.name ? '[name=' + el.name + (el.type === 'checkbox' ? '=' + el.value : '') + ']' : '') +
                ' "' + label + '"',
              tag: el.tagName.toLowerCase(),
              id: el.id || '',
              in_view: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 &&
                r.top < innerHeight && r.left < innerWidth && (() => {
                  // Not hidden behind a sticky header or action bar (WCAG 2.4.11).
                  const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
                  const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
                  const top = document.elementFromPoint(x, y);
                  return !!top && (top === el || el.contains(top) || top.contains(el) ||
                    (!!el.labels && Array.from(el.labels).some(l => l.contains(top))));
                })(),
              indicator: el === document.body || outline || !!shadow,
            };
            "#)
            .await;
        serde_json::from_value(v).expect("focus description")
    }

    /// Whether the focused element matches `css`.
    pub async fn focused_matches(&self, css: &str) -> bool {
        self.client
            .execute(
                "return !!document.activeElement && document.activeElement.matches(arguments[0])",
                vec![json!(css)],
            )
            .await
            .is_ok_and(|v| v == true)
    }

    /// Presses Tab until the focused element matches `css`, asserting at every stop that the
    /// focus is visible (scrolled into view and drawn with an indicator). Returns the stops.
    pub async fn tab_to(&self, css: &str) -> Vec<String> {
        let mut stops = Vec::new();
        for _ in 0..80 {
            self.press(&[Key::Tab]).await;
            // Focus moves synchronously, but scrolling it into view may take a frame.
            let focus = self
                .wait_until("the focused element to be in view", || async {
                    let f = self.focus().await;
                    (f.in_view || f.tag == "body").then_some(f)
                })
                .await;
            assert!(
                focus.indicator,
                "focus on {} has no visible indicator",
                focus.describe
            );
            stops.push(focus.describe.clone());
            if self.focused_matches(css).await {
                return stops;
            }
        }
        panic!("Tab never reached {css}; stops: {stops:#?}");
    }

    /// Saves what is on screen right now (e.g. where the keyboard focus is).
    pub async fn screenshot_viewport(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Saves a full-page PNG (capped at `max_height` CSS pixels) under `target/screenshots/`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        self.screenshot_capped(name, 4000).await
    }

    pub async fn screenshot_capped(&self, name: &str, max_height: u32) -> PathBuf {
        // Lazy images below the fold are not needed, but those in view must have settled.
        self.wait_until("images in view to finish loading", || async {
            let v = self
                .js(r#"
                return Array.from(document.images).every(img => {
                  const r = img.getBoundingClientRect();
                  return r.top > innerHeight || img.complete;
                }) && (!document.fonts || document.fonts.status === 'loaded') &&
                  // Colour transitions after a theme switch have finished.
                  (!document.getAnimations || document.getAnimations().every(a => a.playState !== 'running'));
                "#)
                .await;
            (v == true).then_some(())
        })
        .await;
        let (width, _) = self.viewport.size();
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let content_height = metrics["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(900.0);
        let height = content_height.min(f64::from(max_height)).ceil();
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create target/screenshots");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Errors in the browser console since the last call: CSP violations (inline script or
    /// style), failed scripts, and so on. Network errors for images the test breaks on
    /// purpose are left out.
    pub async fn console_errors(&self) -> Vec<String> {
        let v = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("browser log: {e}"));
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .filter_map(|e| e["message"].as_str())
            .filter(|m| !m.contains("Failed to load resource"))
            .map(str::to_owned)
            .collect()
    }

    /// Closes the session politely; the driver is killed on drop either way.
    pub async fn close(self) {
        let Browser { client, driver, .. } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(driver);
    }
}

pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}
