//! Browser tests: Berth driven through a real headless Chromium over WebDriver (fantoccini),
//! so htmx, `berth.js` and the plain-form fallbacks run as they do for a customer.
//!
//! The plumbing comes first and is meant to be reused by browser tests of other features:
//! [`Tools::find_or_skip`] finds Chromium and chromedriver (a test without them is skipped,
//! or fails when `CI=true`), [`Tools::start`] starts chromedriver and a browser session, and
//! [`Browser`]'s `wait_*` helpers poll every 100 ms for up to 10 s instead of sleeping.

mod passkeys;

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value as Json, json};

use crate::helpers::{PASSWORD, TestApp};

mod dashboard;
mod shell;
mod totp;

/// How long a `wait_*` helper waits before the test fails.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// How often it looks again.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Where Debian's `chromium` and `chromium-driver` packages put them.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The Chromium flags every session uses (plus a fresh `--user-data-dir`).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
];

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// The browser and its WebDriver server, as found on this machine.
pub(crate) struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Tools {
    /// Chromium and chromedriver, or `None` after a loud message on stderr when either is
    /// missing. With `CI=true` a missing browser fails the test instead: CI must run it.
    pub(crate) fn find_or_skip() -> Option<Self> {
        let chromium = find_program(CHROMIUM, &["chromium", "chromium-browser"]);
        let chromedriver = find_program(CHROMEDRIVER, &["chromedriver"]);
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Some(Self { chromium, chromedriver }),
            (chromium, chromedriver) => {
                let missing: Vec<&str> = [(chromium.is_none(), CHROMIUM), (chromedriver.is_none(), CHROMEDRIVER)]
                    .into_iter()
                    .filter_map(|(missing, path)| missing.then_some(path))
                    .collect();
                let why = format!(
                    "{} not found (nor on PATH); install chromium chromium-driver \
                     (Debian: apt-get install chromium chromium-driver)",
                    missing.join(" and ")
                );
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("browser test cannot run in CI: {why}");
                }
                // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
                let bar = "!".repeat(78);
                let _ = writeln!(std::io::stderr(), "\n{bar}\nSKIPPING browser test: {why}\n{bar}\n");
                None
            }
        }
    }

    /// Starts chromedriver on a free port and a fresh headless Chromium session in it, for
    /// the Berth at `base` (e.g. `http://127.0.0.1:1234`).
    pub(crate) async fn start(&self, base: &str) -> Browser {
        let n = SESSIONS.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("berth-browser-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("profile")).expect("the browser's temp folder can be created");
        let mut driver = Driver { child: None, dir };
        let url = driver.start(&self.chromedriver).await;

        let mut chrome_args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        chrome_args.push(format!("--user-data-dir={}", driver.dir.join("profile").display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        // The console and failed loads, for `Browser::console_errors`.
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": self.chromium.display().to_string(), "args": chrome_args }),
        );
        let client = ClientBuilder::rustls()
            .expect("rustls for the WebDriver client (are CA certificates installed?)")
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium did not start through chromedriver: {e}\n{}",
                    driver.log_tail()
                )
            });
        client.set_window_size(1280, 1000).await.expect("window size");
        Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            driver,
        }
    }
}

fn find_program(default: &str, names: &[&str]) -> Option<PathBuf> {
    let default = Path::new(default);
    if default.is_file() {
        return Some(default.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|p| p.is_file())
}

/// A running chromedriver (in its own process group, with the Chromium it starts) and the
/// temp folder holding the browser profile and the driver's log. Dropping it, also while a
/// test panics, kills the whole group and deletes the folder.
struct Driver {
    child: Option<Child>,
    dir: PathBuf,
}

impl Driver {
    /// Starts chromedriver on a free port; returns its URL once it answers `/status`.
    async fn start(&mut self, chromedriver: &Path) -> String {
        for _attempt in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = fs::File::create(self.log_path()).expect("chromedriver log file");
            // Chromium's own temp files, crash reports and caches go into the folder too.
            let (tmp, home) = (self.dir.join("tmp"), self.dir.join("home"));
            fs::create_dir_all(&tmp)
                .and_then(|()| fs::create_dir_all(&home))
                .expect("browser temp folders");
            let child = Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .env("TMPDIR", &tmp)
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", home.join(".config"))
                .env("XDG_CACHE_HOME", home.join(".cache"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file handle"))
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
            self.child = Some(child);
            let url = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::new();
            let deadline = Instant::now() + TIMEOUT;
            while Instant::now() < deadline {
                if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    eprintln!("chromedriver exited ({status}) on port {port}:\n{}", self.log_tail());
                    break;
                }
                let ready = match http.get(format!("{url}/status")).send().await {
                    Ok(resp) => resp
                        .json::<Json>()
                        .await
                        .is_ok_and(|s| s["value"]["ready"] == json!(true)),
                    Err(_) => false,
                };
                if ready {
                    return url;
                }
                tokio::time::sleep(POLL).await;
            }
            self.kill();
        }
        panic!("chromedriver did not become ready:\n{}", self.log_tail());
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("chromedriver.log")
    }

    /// The end of chromedriver's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        format!("--- chromedriver log (end) ---\n{}", &log[start..])
    }

    /// Kills chromedriver and everything in its process group (Chromium and its helpers).
    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let group = child.id() as libc::pid_t;
        // SAFETY: signals the process group of a child we started with `process_group(0)`.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = child.wait();
        // Chromium's processes are not our children; give them a moment to go away.
        let deadline = Instant::now() + Duration::from_secs(2);
        while group_is_alive(group) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether a process of the group `group` still runs. Zombies do not count: Chromium's
/// orphans are reparented to PID 1, which may be slow (or never) to reap them.
fn group_is_alive(group: libc::pid_t) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        // SAFETY: signal 0 only checks whether the group exists.
        return unsafe { libc::kill(-group, 0) } == 0;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces, so read after the last ')'.
        let mut fields = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or("")
            .split_whitespace();
        let (state, pgrp) = (fields.next(), fields.nth(1));
        state != Some("Z") && pgrp.and_then(|p| p.parse::<libc::pid_t>().ok()) == Some(group)
    })
}

impl Drop for Driver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        self.kill();
        for _ in 0..20 {
            match fs::remove_dir_all(&self.dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => std::thread::sleep(Duration::from_millis(50)),
                _ => break,
            }
        }
    }
}

/// One browser session against one Berth. Paths given to its helpers are relative to `base`;
/// selectors are CSS. Every helper fails the test (with the page's URL and text) on timeout.
pub(crate) struct Browser {
    pub(crate) client: Client,
    pub(crate) base: String,
    // Declared last so it is dropped after `client`.
    driver: Driver,
}

impl Browser {
    /// Ends the session cleanly, stops chromedriver and deletes the profile.
    pub(crate) async fn close(self) {
        let Browser { client, driver, .. } = self;
        if let Err(e) = client.close().await {
            eprintln!("closing the browser session: {e}");
        }
        drop(driver);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn goto(&self, path: &str) {
        let url = self.url(path);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Reloads the page (a full navigation, not htmx).
    pub(crate) async fn reload(&self) {
        self.client.refresh().await.expect("page reload");
    }

    /// The current URL's path.
    pub(crate) async fn path(&self) -> String {
        self.client.current_url().await.expect("current URL").path().to_owned()
    }

    /// Runs `script` in the page (`return …` to get a value back).
    pub(crate) async fn js(&self, script: &str) -> Json {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script:?} failed: {e}"))
    }

    /// Polls `attempt` every [`POLL`] until it gives `Some`, for at most [`TIMEOUT`]. Errors
    /// (an element not there yet, a stale one after a swap, a page still loading) count as
    /// "not yet"; the last one is reported if time runs out.
    pub(crate) async fn eventually<T>(
        &self,
        what: &str,
        attempt: impl AsyncFnMut() -> Result<Option<T>, CmdError>,
    ) -> T {
        self.eventually_within(TIMEOUT, what, attempt).await
    }

    /// [`Browser::eventually`], waiting up to `timeout`.
    pub(crate) async fn eventually_within<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut attempt: impl AsyncFnMut() -> Result<Option<T>, CmdError>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match attempt().await {
                Ok(Some(value)) => return value,
                Ok(None) => String::from("condition not met"),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what} ({last})\n{}",
                    self.describe().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Where the browser is and what the page says, for failure messages.
    pub(crate) async fn describe(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("? ({e})"));
        let text = self
            .client
            .execute(
                "return document.body ? document.body.innerText : document.documentElement.outerHTML",
                vec![],
            )
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|e| format!("? ({e})"));
        let text: String = text.chars().take(3000).collect();
        format!("--- browser at {url} ---\n{text}\n---")
    }

    /// The first element matching `css`, once there is one.
    pub(crate) async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let client = &self.client;
        self.eventually(&format!("an element {css}"), async || {
            match client.find(Locator::Css(css)).await {
                Ok(element) => Ok(Some(element)),
                Err(e) if e.is_no_such_element() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// An element matching `css` whose visible text contains `text`.
    pub(crate) async fn wait_for_text(&self, css: &str, text: &str) -> fantoccini::elements::Element {
        let client = &self.client;
        self.eventually(&format!("an element {css} containing {text:?}"), async || {
            for element in client.find_all(Locator::Css(css)).await? {
                if element.text().await?.contains(text) {
                    return Ok(Some(element));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Until nothing matches `css`.
    pub(crate) async fn wait_until_gone(&self, css: &str) {
        let client = &self.client;
        self.eventually(&format!("no element {css}"), async || {
            Ok(client.find_all(Locator::Css(css)).await?.is_empty().then_some(()))
        })
        .await
    }

    /// Until the current URL's path is `path` and the page has loaded.
    pub(crate) async fn wait_for_path(&self, path: &str) {
        let client = &self.client;
        self.eventually(&format!("the path {path}"), async || {
            let here = client.current_url().await?;
            let state = client.execute("return document.readyState", vec![]).await?;
            Ok((here.path() == path && state == json!("complete")).then_some(()))
        })
        .await
    }

    /// Until the attribute `name` of the first element matching `css` is `value`.
    pub(crate) async fn wait_for_attr(&self, css: &str, name: &str, value: &str) {
        let client = &self.client;
        self.eventually(&format!("{css} with {name}={value:?}"), async || {
            let element = client.find(Locator::Css(css)).await?;
            Ok((element.attr(name).await?.as_deref() == Some(value)).then_some(()))
        })
        .await
    }

    /// Until `script` (an expression) evaluates to `expected`.
    pub(crate) async fn wait_for_js(&self, script: &str, expected: Json) {
        let client = &self.client;
        let code = format!("return ({script});");
        self.eventually(&format!("{script} to be {expected}"), async || {
            Ok((client.execute(&code, vec![]).await? == expected).then_some(()))
        })
        .await
    }

    /// The current value (the DOM property, i.e. what the field shows) of the field `css`.
    pub(crate) async fn value(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        element.prop("value").await.expect("value property").unwrap_or_default()
    }

    /// Types `text` into the field `css` the way a user does, after clearing it (again from
    /// the start if a swap replaced the field meanwhile).
    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let client = &self.client;
        self.eventually(&format!("typing into {css}"), async || {
            let element = match client.find(Locator::Css(css)).await {
                Ok(element) => element,
                Err(e) if e.is_no_such_element() => return Ok(None),
                Err(e) => return Err(e),
            };
            element.clear().await?;
            element.send_keys(text).await?;
            Ok(Some(()))
        })
        .await
    }

    /// Clicks the element `css`, retrying while it is not clickable yet (covered by something,
    /// not yet interactable, or replaced by a swap).
    pub(crate) async fn click(&self, css: &str) {
        let client = &self.client;
        self.eventually(&format!("a clickable {css}"), async || {
            let element = match client.find(Locator::Css(css)).await {
                Ok(element) => element,
                Err(e) if e.is_no_such_element() => return Ok(None),
                Err(e) => return Err(e),
            };
            match element.click().await {
                Ok(()) => Ok(Some(())),
                Err(CmdError::Standard(w))
                    if matches!(
                        w.error,
                        ErrorStatus::ElementClickIntercepted
                            | ErrorStatus::ElementNotInteractable
                            | ErrorStatus::StaleElementReference
                    ) =>
                {
                    Err(CmdError::Standard(w))
                }
                Err(e) => panic!("clicking {css} failed: {e}\n{}", self.describe().await),
            }
        })
        .await
    }

    /// Signs in through the sign-in form (does not wait for where it lands).
    pub(crate) async fn sign_in(&self, username: &str, password: &str) {
        self.goto("/login").await;
        self.fill("#login-username", username).await;
        self.fill("#login-password", password).await;
        self.click(r#"form[action="/login"] button[type="submit"]"#).await;
    }

    /// What the browser logged as an error (the console's errors, uncaught exceptions and
    /// failed loads, such as a 404 for a favicon) since the last call: chromedriver's log
    /// of type `browser` (`POST /session/{id}/se/log`), which it empties when read.
    pub(crate) async fn console_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("chromedriver's browser log: {e}"));
        let entries = log.get("value").unwrap_or(&log);
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == json!("SEVERE"))
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Dismisses every toast with its close button and waits until they are gone.
    pub(crate) async fn dismiss_toasts(&self) {
        let client = &self.client;
        self.eventually("all toasts dismissed", async || {
            let buttons = client
                .find_all(Locator::Css("#toasts .toast button[data-dismiss]"))
                .await?;
            if buttons.is_empty() {
                return Ok(Some(()));
            }
            for button in buttons {
                // A toast may expire by itself meanwhile; the next round looks again.
                let _ = button.click().await;
            }
            Ok(None)
        })
        .await
    }
}

/// `POST /session/{id}/se/log` with `{"type": "browser"}`: chromedriver's browser log.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        let session = session_id.expect("a WebDriver session");
        base_url.join(&format!("session/{session}/se/log"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

// ---- helpers the browser tests share -------------------------------------------------

/// Set in the page before htmx requests; still there afterwards only if htmx swapped a
/// fragment instead of the browser loading a new page.
pub(crate) const MARKER: &str = "window.__berth_marker = 42;";

/// The visible text of the first element matching `css`, trimmed.
pub(crate) async fn text(browser: &Browser, css: &str) -> String {
    let element = browser.wait_for(css).await;
    element
        .text()
        .await
        .unwrap_or_else(|e| panic!("text of {css}: {e}"))
        .trim()
        .to_owned()
}

/// The attribute `name` of the first element matching `css`.
pub(crate) async fn attr(browser: &Browser, css: &str, name: &str) -> Option<String> {
    let element = browser.wait_for(css).await;
    element
        .attr(name)
        .await
        .unwrap_or_else(|e| panic!("attribute {name} of {css}: {e}"))
}

/// How many elements match `css` right now.
pub(crate) async fn count(browser: &Browser, css: &str) -> usize {
    browser
        .client
        .find_all(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("finding {css}: {e}"))
        .len()
}

/// Asserts the page was not reloaded since [`MARKER`] was set: htmx swapped a fragment.
pub(crate) async fn assert_not_reloaded(browser: &Browser, when: &str) {
    assert_eq!(
        browser.js("return window.__berth_marker;").await,
        json!(42),
        "{when}: htmx must swap in place, not load a new page\n{}",
        browser.describe().await
    );
    assert_eq!(
        browser
            .js(
                "return [document.querySelectorAll('#main').length, document.querySelectorAll('body > header').length];"
            )
            .await,
        json!([1, 1]),
        "{when}: a fragment, not a whole page, was swapped in"
    );
}

/// Waits for a toast containing `message`, then dismisses every toast so that the next step
/// cannot be satisfied by an old one.
pub(crate) async fn toast(browser: &Browser, message: &str) {
    browser.wait_for_text("#toasts .toast", message).await;
    browser.dismiss_toasts().await;
}

/// Chooses the option with `value` in the select `css`.
pub(crate) async fn choose(browser: &Browser, css: &str, value: &str) {
    let element = browser.wait_for(css).await;
    element
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choosing {value} in {css}: {e}"));
}

#[tokio::test]
async fn settings_and_password_in_a_real_browser() {
    let Some(tools) = Tools::find_or_skip() else { return };
    let started = Instant::now();
    let app = TestApp::spawn().await;
    app.create_customer("browser-user").await;
    let browser = tools.start(&app.base).await;

    // Sign in through the form and land on the dashboard.
    browser.sign_in("browser-user", PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("h1", "Welcome").await;
    browser.wait_for_text("#signed-in-as", "browser-user").await;

    // Settings: an invalid value is refused inline, by an htmx swap of #main (no reload).
    const FIELD: &str = "#setting-items_per_page";
    const SAVE: &str = r#"form[action="/settings"] button[type="submit"]"#;
    browser.goto("/settings").await;
    browser.wait_for_path("/settings").await;
    assert_eq!(browser.value(FIELD).await, "25", "the default rows per page");
    assert_eq!(
        browser.wait_for(FIELD).await.attr("name").await.unwrap().as_deref(),
        Some("settings[items_per_page]")
    );
    browser.wait_for_js("typeof htmx", json!("object")).await;
    browser.js("window.__berth_marker = 42;").await;

    browser.fill(FIELD, "5000").await;
    browser.click(SAVE).await;
    let message = browser.wait_for("#setting-items_per_page-error").await;
    let message = message.text().await.unwrap();
    assert!(message.contains("10 to 200"), "field message: {message:?}");
    browser.wait_for_attr(FIELD, "aria-invalid", "true").await;
    let described = browser
        .wait_for(FIELD)
        .await
        .attr("aria-describedby")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        described
            .split_whitespace()
            .any(|id| id == "setting-items_per_page-error"),
        "aria-describedby: {described:?}"
    );
    assert_eq!(browser.value(FIELD).await, "5000", "the typed value is kept");
    assert_eq!(
        browser.js("return window.__berth_marker;").await,
        json!(42),
        "htmx must swap #main, not reload the page"
    );
    browser
        .wait_for_js(
            "document.activeElement && document.activeElement.id",
            json!("setting-items_per_page"),
        )
        .await;
    assert_eq!(browser.path().await, "/settings");

    // A valid value is saved, with a toast, still without a reload.
    browser.fill(FIELD, "50").await;
    browser.click(SAVE).await;
    browser.wait_for_text("#toasts .toast", "Settings saved.").await;
    browser.wait_until_gone("#setting-items_per_page-error").await;
    assert_eq!(
        browser.js("return window.__berth_marker;").await,
        json!(42),
        "htmx must swap #main, not reload the page"
    );
    browser.reload().await;
    browser.wait_for_path("/settings").await;
    assert_eq!(
        browser.js("return window.__berth_marker === undefined;").await,
        json!(true),
        "reloaded"
    );
    assert_eq!(browser.value(FIELD).await, "50", "the saved value after a reload");

    // Change the password; the account page has several current_password fields.
    const NEW_PASSWORD: &str = "a brand new browser password";
    const PASSWORD_FORM: &str = r#"form[action="/account/password"]"#;
    browser.goto("/account").await;
    browser.wait_for_path("/account").await;
    browser
        .fill(&format!(r#"{PASSWORD_FORM} [name="current_password"]"#), PASSWORD)
        .await;
    browser
        .fill(&format!(r#"{PASSWORD_FORM} [name="password"]"#), NEW_PASSWORD)
        .await;
    browser
        .fill(&format!(r#"{PASSWORD_FORM} [name="password_confirm"]"#), NEW_PASSWORD)
        .await;
    browser
        .click(&format!(r#"{PASSWORD_FORM} button[type="submit"]"#))
        .await;
    browser.wait_for_text("#toasts .toast", "Password changed").await;

    // Sign out (the toast sits over the header, so dismiss it like a user would).
    browser.dismiss_toasts().await;
    browser.click(r#"form.signout button[type="submit"]"#).await;
    browser.wait_for_path("/login").await;
    browser.wait_for("#login-username").await;

    // The old password no longer works; the new one does.
    browser.sign_in("browser-user", PASSWORD).await;
    browser.wait_for("#login-error").await;
    assert_eq!(browser.path().await, "/login");
    browser.sign_in("browser-user", NEW_PASSWORD).await;
    browser.wait_for_path("/").await;
    browser.wait_for_text("#signed-in-as", "browser-user").await;

    browser.close().await;
    eprintln!("browser test took {:.1?}", started.elapsed());
}
