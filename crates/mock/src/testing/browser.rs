//! A real browser for tests: headless Chromium, run once per page, its
//! DOM read after the page's scripts ran.
//!
//! Where Chromium is missing, [`Chromium::find`] prints one line and
//! returns `None` so the test can skip, except under CI (`CI` set), where
//! it fails: CI installs it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// An installed headless Chromium.
#[derive(Debug)]
pub struct Chromium {
    binary: PathBuf,
}

const NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

impl Chromium {
    /// The installed browser; `None` (with one printed line) when there
    /// is none and this is not CI.
    pub fn find() -> Option<Chromium> {
        let found = NAMES.iter().find_map(|name| {
            let works = Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            works.then(|| Chromium {
                binary: PathBuf::from(name),
            })
        });
        if found.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromium is not installed, and CI must run the browser tests (apt-get install -y chromium)"
            );
            println!("skipped: chromium is not installed (apt-get install -y chromium)");
        }
        found
    }

    fn command(&self, budget: Duration) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
            ])
            .args([
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--virtual-time-budget={}", budget.as_millis()))
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// The DOM of `url` once its scripts had `budget` of (virtual) time.
    pub fn dump_dom(&self, url: &str, budget: Duration) -> String {
        let output = self
            .command(budget)
            .arg("--dump-dom")
            .arg(url)
            .output()
            .expect("chromium runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// A PNG of `url` at `width`×`height`, written to `path`.
    pub fn screenshot(&self, url: &str, path: &std::path::Path, width: u32, height: u32) -> bool {
        self.command(Duration::from_secs(5))
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--screenshot={}", path.display()))
            .arg(url)
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}
