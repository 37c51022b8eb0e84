//! A real browser for the tests: Debian's `chromium`, headless, driven over
//! WebDriver by Debian's `chromedriver` (package `chromium-driver`).
//!
//! Why WebDriver, through the `fantoccini` crate, rather than the DevTools
//! protocol (`chromiumoxide`): Debian builds chromium-driver from the same
//! source as chromium, so the driver always speaks the browser's version,
//! and WebDriver is a W3C standard that does not change under us; a CDP
//! crate compiles bindings generated from one revision of Chrome's protocol
//! (about 6 MB of source) and must follow Chrome's changes. fantoccini is
//! small, async on the Tokio and hyper 1 the workspace already has, and
//! kept up (it follows the WebDriver specification and hyper's releases).
//! Through chromedriver it also has what a failure report needs: a
//! screenshot, and the browser's console log (chromedriver's `se/log`).
//!
//! Nothing here waits on luck: chromedriver listens on a port the OS picks,
//! read from the kernel like the services'; every wait is for a condition,
//! with a deadline; chromedriver, the browser and its profile are gone when
//! the test ends, passed or failed.

use std::{
    future::Future,
    panic::resume_unwind,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use fantoccini::{
    Client, ClientBuilder, Locator,
    actions::{InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction},
    key::Key,
    wd::WebDriverCompatibleCommand,
};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{Program, Service};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a test waits for.
pub const PAGE_LIMIT: Duration = Duration::from_secs(20);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(25);

/// A window the size of a laptop's, and one of a phone's.
pub const DESKTOP: (u32, u32) = (1000, 900);
pub const PHONE: (u32, u32) = (360, 740);

/// Installs Debian's Chromium and its driver the first time a test needs
/// them and they are missing (as root, with apt-get: what `.ci/run` does),
/// so that `cargo test` alone runs the browser tests on a fresh machine.
/// Where that cannot be done, fails the test saying what to install.
fn install_once() {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let installed = INSTALLED.get_or_init(|| {
        if [CHROMIUM, CHROMEDRIVER]
            .iter()
            .all(|binary| Path::new(binary).exists())
        {
            return Ok(());
        }
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|id| id.stdout.trim_ascii() == b"0");
        if !root {
            return Err("not root, so not installing them".into());
        }
        eprintln!("installing Debian's chromium and chromium-driver for the browser tests");
        let status = std::process::Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y -qq chromium chromium-driver >/dev/null",
            ])
            .status()
            .map_err(|error| error.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("apt-get {status}"))
        }
    });
    if let Err(why) = installed {
        panic!(
            "{CHROMIUM} or {CHROMEDRIVER} is missing ({why}): the browser tests need \
             Debian's Chromium and its driver: apt-get install -y chromium chromium-driver"
        );
    }
}

/// chromedriver, and the headless Chromium of its one session.
pub struct Browser {
    driver: Service,
    tab: Tab,
    profile: Profile,
}

/// The browser's profile directory, removed when dropped: at the end, or
/// when the browser could not be started.
struct Profile(PathBuf);

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a test drives: the browser's one tab.
#[derive(Clone)]
pub struct Tab {
    pub client: Client,
}

/// Runs `test` in a fresh browser of `window` size, and gives what it
/// gives. If it fails, a screenshot, the console log and the page's DOM are
/// saved under `target/browser-artifacts/<name>/`, their paths printed, and
/// the test fails with its own message.
pub async fn in_browser<T, F, Fut>(name: &str, window: (u32, u32), test: F) -> T
where
    F: FnOnce(Tab) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let browser = Browser::start(window).await;
    let outcome = tokio::spawn(test(browser.tab.clone())).await;
    if outcome.is_err() {
        browser.save_artifacts(name).await;
    }
    browser.close().await;
    outcome.unwrap_or_else(|failure| match failure.try_into_panic() {
        Ok(panic) => resume_unwind(panic),
        Err(failure) => panic!("{name}: {failure}"),
    })
}

impl Browser {
    /// Starts chromedriver, and through it a headless Chromium with a
    /// profile of its own and a window of `width` × `height`.
    pub async fn start((width, height): (u32, u32)) -> Browser {
        install_once();
        let profile = fresh_profile();
        let program = Program::System {
            path: CHROMEDRIVER.into(),
            args: vec!["--port=0".into()],
        };
        let env = [
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            ("HOME".to_owned(), profile.0.display().to_string()),
        ];
        let driver = Service::start("chromedriver", &program, &env).await;
        let flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ];
        let mut args: Vec<String> = flags.iter().map(|flag| flag.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.0.display()));
        args.push(format!("--window-size={width},{height}"));
        // Chromium keeps a window at least 500 px wide: the page's size is
        // set as DevTools' device mode sets it, exactly, for a phone too.
        let screen = json!({ "width": width, "height": height, "pixelRatio": 1, "touch": false });
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "mobileEmulation": { "deviceMetrics": screen },
            },
            // Keeps the console, for the report of a failed test.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "no browser session from chromedriver: {error}: {:#?}",
                    driver.logs()
                )
            });
        Browser {
            driver,
            tab: Tab { client },
            profile,
        }
    }

    /// The browser's tab.
    pub fn tab(&self) -> Tab {
        self.tab.clone()
    }

    /// Saves what the tab shows, its console log and its DOM under
    /// `target/browser-artifacts/<name>/`, and prints where.
    pub async fn save_artifacts(&self, name: &str) {
        let dir = artifacts_dir().join(name);
        if let Err(error) = std::fs::create_dir_all(&dir) {
            eprintln!(
                "cannot save the browser's artifacts in {}: {error}",
                dir.display()
            );
            return;
        }
        let tab = &self.tab;
        let saved = [
            (
                "screenshot.png",
                tab.client.screenshot().await.map_err(|e| e.to_string()),
            ),
            (
                "console.log",
                tab.console_log()
                    .await
                    .map(|lines| lines.join("\n").into_bytes()),
            ),
            (
                "page.html",
                tab.client
                    .source()
                    .await
                    .map(String::into_bytes)
                    .map_err(|e| e.to_string()),
            ),
        ];
        for (file, content) in saved {
            let path = dir.join(file);
            match content.map(|bytes| std::fs::write(&path, bytes)) {
                Ok(Ok(())) => eprintln!("browser artifact: {}", path.display()),
                Ok(Err(error)) => eprintln!("cannot write {}: {error}", path.display()),
                Err(error) => eprintln!("no {file} from the browser: {error}"),
            }
        }
    }

    /// Ends the session (chromedriver quits the browser), then stops
    /// chromedriver and removes the profile.
    pub async fn close(self) {
        let _ = tokio::time::timeout(PAGE_LIMIT, self.tab.client.close()).await;
        drop(self.driver);
        drop(self.profile);
    }
}

impl Tab {
    /// Opens `url` and waits until it has loaded.
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("opening {url}: {error}"));
    }

    /// Clicks the element `css` selects, as a person would (WebDriver's
    /// click: the element must be visible and enabled).
    pub async fn click(&self, css: &str) {
        self.element(css)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("clicking {css}: {error}"));
    }

    /// Replaces what the field `css` holds with `text`, typed.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.element(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Presses and releases `key` on the keyboard, wherever the focus is.
    pub async fn press(&self, key: Key) {
        let key = char::from(key);
        let press = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(press)
            .await
            .unwrap_or_else(|error| panic!("pressing {key:?}: {error}"));
    }

    /// Clicks the left mouse button at `(x, y)` of the page's viewport.
    pub async fn click_at(&self, x: f64, y: f64) {
        let click = MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo {
                duration: None,
                x,
                y,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.client
            .perform_actions(click)
            .await
            .unwrap_or_else(|error| panic!("clicking at ({x}, {y}): {error}"));
    }

    /// The element `css` selects, or a failed test.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css}: {error}"))
    }

    /// What `script` (a function body) returns, read as `T`.
    pub async fn eval<T: DeserializeOwned>(&self, script: &str) -> T {
        let value = self
            .client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("running {script}: {error}"));
        serde_json::from_value(value.clone())
            .unwrap_or_else(|error| panic!("{script} gave {value}: {error}"))
    }

    /// Waits until `check` gives something, at most [`PAGE_LIMIT`]; fails
    /// the test, naming `what`, if it does not.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + PAGE_LIMIT;
        loop {
            if let Some(found) = check().await {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "waited {PAGE_LIMIT:?} for {what}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The browser's console since the last call: one line per message,
    /// with its level and source (`console-api`, `javascript`, `network`).
    pub async fn console_log(&self) -> Result<Vec<String>, String> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .map_err(|error| error.to_string())?;
        let entries = entries.as_array().cloned().unwrap_or_default();
        Ok(entries
            .iter()
            .map(|entry| {
                format!(
                    "{} {} {}",
                    entry["level"].as_str().unwrap_or("?"),
                    entry["source"].as_str().unwrap_or("?"),
                    entry["message"].as_str().unwrap_or("?"),
                )
            })
            .collect())
    }
}

/// chromedriver's log of the browser's console (not in the W3C
/// specification; chromedriver keeps it from Selenium's protocol).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// `target/browser-artifacts`, beside the test binaries.
fn artifacts_dir() -> PathBuf {
    // A test runs from <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps/<test>");
    target.join("browser-artifacts")
}

/// An empty directory for one browser's profile.
fn fresh_profile() -> Profile {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "e2e-chromium-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a profile directory");
    Profile(dir)
}
