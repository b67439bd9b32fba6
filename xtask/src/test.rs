//! `test`: everything CI checks, in order, stopping at the first failure.
//!
//! fmt → clippy (server+xtask, then the wasm frontend on its own so app's
//! `ssr` and `hydrate` features are never unified) → the server's and the
//! app's tests (cargo-nextest, else `cargo test`) on SQLite → the same on
//! PostgreSQL → schemathesis → Playwright against a real server.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{assets, util, Paths};

/// The config file of the e2e and contract servers: one provider with
/// two models, one the other's fast sibling.
/// The browser tests' and the contract run's providers: `e2e` at
/// `{base_url}`, a stand-in model (`fake_model`) started beside the server.
const E2E_CONFIG: &str = r#"
[[providers]]
id = "e2e"
kind = "openai"
base_url = "{base_url}"

[[providers.models]]
id = "large"
name = "E2E Large"
context_window = 128000
input_credits_per_mtok = 200
output_credits_per_mtok = 800
fast_sibling = "small"

[[providers.models]]
id = "small"
name = "E2E Small"
input_credits_per_mtok = 0.4
output_credits_per_mtok = 1.6
"#;

/// Starts the stand-in model and answers the config file's text naming
/// it, and its base URL.
pub(crate) fn e2e_config() -> Result<(String, String)> {
    let base_url = crate::fake_model::start().context("starting the stand-in model provider")?;
    Ok((E2E_CONFIG.replace("{base_url}", &base_url), base_url))
}

const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const CHROMIUM: &str = "/usr/bin/chromium";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    All,
    NoE2e,
    OnlyE2e,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    NotRun,
    Passed,
    Failed,
    Skipped,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::NotRun => "not-run",
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        })
    }
}

struct Summary {
    sqlite: Outcome,
    postgres: Outcome,
    contract: Outcome,
    /// schemathesis's own summary line.
    contract_line: String,
    browser: Outcome,
    /// Whether this run built the served assets (the browser step does).
    assets_built: bool,
}

impl Summary {
    fn print(&self, paths: &Paths) {
        println!("\n==> summary");
        println!("backends: sqlite={} postgres={}", self.sqlite, self.postgres);
        if self.contract_line.is_empty() {
            println!("api contract: {}", self.contract);
        } else {
            println!("api contract: {} (schemathesis: {})", self.contract, self.contract_line);
        }
        println!("browser: {}", self.browser);
        // The browser step builds the served assets; without it, whatever an
        // earlier build left is reported as such.
        match assets::size_line(paths) {
            Some(line) if !self.assets_built => println!("{line} (an earlier build)"),
            Some(line) => println!("{line}"),
            None => println!("assets: not built"),
        }
    }
}

/// Numbered headings: `==> [3/7] cargo test -p server (SQLite)`.
struct Steps {
    done: usize,
    total: usize,
}

impl Steps {
    fn next(&mut self, title: &str) {
        self.done += 1;
        util::heading(&format!("[{}/{}] {title}", self.done, self.total));
    }
}

pub fn run(paths: &Paths, selection: Selection) -> Result<ExitCode> {
    let mut summary = Summary {
        sqlite: Outcome::NotRun,
        postgres: Outcome::NotRun,
        contract: Outcome::NotRun,
        contract_line: String::new(),
        browser: Outcome::NotRun,
        assets_built: false,
    };
    let result = run_steps(paths, selection, &mut summary);
    summary.print(paths);
    match result {
        Ok(()) => {
            println!("\nall checks passed");
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("\nFAILED: {err:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run_steps(paths: &Paths, selection: Selection, summary: &mut Summary) -> Result<()> {
    let rust = selection != Selection::OnlyE2e;
    let e2e = selection != Selection::NoE2e;
    if !rust {
        summary.sqlite = Outcome::Skipped;
        summary.postgres = Outcome::Skipped;
        summary.contract = Outcome::Skipped;
    }
    if !e2e {
        summary.browser = Outcome::Skipped;
    }
    let mut steps = Steps { done: 0, total: if rust { 6 } else { 0 } + if e2e { 1 } else { 0 } };

    if rust {
        steps.next("cargo fmt --all --check");
        util::run(util::cargo().current_dir(&paths.root).args(["fmt", "--all", "--check"]))
            .context("formatting differs: run `cargo fmt --all`")?;

        steps.next("cargo clippy (server, app with ssr, xtask; all targets)");
        util::run(util::cargo().current_dir(&paths.root).args([
            "clippy",
            "-p",
            "server",
            "-p",
            "app",
            "-p",
            "xtask",
            "--features",
            "app/ssr",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;

        steps.next("cargo clippy (frontend, wasm32)");
        assets::ensure_wasm_target()?;
        util::run(util::cargo().current_dir(&paths.root).args([
            "clippy",
            "-p",
            "frontend",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ]))?;

        steps.next("tests of server and app (SQLite)");
        let mut sqlite = server_tests(paths);
        sqlite.env_remove("ALUMIA_TEST_DB").env_remove("TEST_DATABASE_URL");
        summary.sqlite = Outcome::Failed;
        util::run(&mut sqlite)?;
        summary.sqlite = Outcome::Passed;

        steps.next("tests of server and app (PostgreSQL)");
        summary.postgres = Outcome::Failed;
        match postgres_url()? {
            Some(url) => {
                println!("TEST_DATABASE_URL={url}");
                let mut postgres = server_tests(paths);
                postgres.env_remove("ALUMIA_TEST_DB").env("TEST_DATABASE_URL", &url);
                util::run(&mut postgres)?;
                summary.postgres = Outcome::Passed;
            }
            None => {
                summary.postgres = Outcome::Skipped;
                println!(
                    "SKIPPED PostgreSQL pass: no server on 127.0.0.1:5432 \
                     (and TEST_DATABASE_URL is not set)"
                );
            }
        }

        steps.next("/api/v1 contract: schemathesis against a real server (SQLite)");
        summary.contract = Outcome::Failed;
        let binary = server_binary(paths)?;
        summary.contract_line = crate::contract::run(paths, &binary)?;
        summary.contract = Outcome::Passed;
    }

    if e2e {
        steps.next("end-to-end: Playwright in Chromium (SQLite)");
        summary.browser = Outcome::Failed;
        end_to_end(paths, &mut summary.assets_built)?;
        summary.browser = Outcome::Passed;
    }
    Ok(())
}

fn server_tests(paths: &Paths) -> Command {
    let mut command = util::cargo();
    command.current_dir(&paths.root);
    // The app's unit tests run with the same features as the server's build.
    if nextest_installed() {
        // Each test in a process of its own, and a hung one killed and
        // named (`.config/nextest.toml`) rather than holding the run.
        command.args(["nextest", "run", "-p", "server", "-p", "app", "--features", "app/ssr"]);
        if std::env::var_os("CI").is_some() {
            command.args(["--profile", "ci"]);
        }
    } else {
        // `--tests`: unit and integration tests, no doctests (there are
        // none, and compiling them would cost a rebuild of the library).
        println!("cargo-nextest is not installed (`cargo install cargo-nextest --locked`): running `cargo test`");
        command.args(["test", "-p", "server", "-p", "app", "--features", "app/ssr", "--tests"]);
    }
    command
}

fn nextest_installed() -> bool {
    util::cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The PostgreSQL URL for the second pass, or None to skip it (an error in
/// CI, where skipping would hide a whole backend).
fn postgres_url() -> Result<Option<String>> {
    if let Some(url) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        return Ok(Some(url));
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], 5432));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() {
        return Ok(Some(DEFAULT_TEST_DATABASE_URL.to_string()));
    }
    if in_ci() {
        bail!(
            "PostgreSQL is not reachable on 127.0.0.1:5432 and CI is set: \
             start it (e.g. `pg_ctlcluster <version> main start`) or set TEST_DATABASE_URL"
        );
    }
    Ok(None)
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

fn end_to_end(paths: &Paths, assets_built: &mut bool) -> Result<()> {
    ensure_chromium()?;

    let e2e_dir = paths.root.join("end2end");
    let mut npm = Command::new("npm");
    npm.current_dir(&e2e_dir)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .arg(if e2e_dir.join("package-lock.json").is_file() { "ci" } else { "install" });
    util::run(&mut npm).context("installing the Playwright npm packages failed")?;

    // The assets `cargo xtask run` serves, wasm-opt included: an optimizer
    // can break hydration (Debian's binaryen 108 did), so test what ships.
    assets::build_assets(paths, true)?;
    *assets_built = true;

    let binary = server_binary(paths)?;
    let scratch = Scratch::new("e2e")?;
    let xdg = scratch.path.join("xdg-config");
    std::fs::create_dir_all(&xdg)?;
    let data_dir = scratch.path.join("data");
    // Models for the agents pages and the lab: the stand-in model, whose
    // URL the tests also get (an org's own provider key points there).
    let config = scratch.path.join("alumia.toml");
    let (config_text, model_url) = e2e_config()?;
    std::fs::write(&config, config_text)?;
    let (mut server, base_url, log_path) = start_server(&binary, &scratch, paths, |command| {
        // Short, so a test can wait for a step-up to expire (security.spec.ts).
        command.env("ALUMIA_STEP_UP_SECONDS", "30");
        command.env("ALUMIA_CONFIG", &config);
    })?;

    util::heading("npx playwright test");
    let mut playwright = Command::new("npx");
    playwright
        .current_dir(&e2e_dir)
        .args(["playwright", "test"])
        .env("BASE_URL", &base_url)
        .env("E2E_MODEL_URL", &model_url)
        // For tests that act as the operator (`alumia admin …`) on the
        // server's own database.
        .env("ALUMIA_BIN", &binary)
        .env("ALUMIA_DATA_DIR", &data_dir)
        // For tests that start a server of their own (payments.spec.ts,
        // with a stand-in Stripe).
        .env("ALUMIA_SITE_ROOT", &paths.site)
        .env("XDG_CONFIG_HOME", &xdg)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
    // While working on one page: `E2E_ONLY=canvas cargo xtask test --only-e2e`
    // runs the spec files whose names match.
    if let Ok(only) = std::env::var("E2E_ONLY") {
        playwright.args(only.split_whitespace());
    }
    let result = util::run(&mut playwright);
    server.stop();
    if result.is_err() {
        print_log(&log_path);
        println!(
            "screenshots: {}; traces: {}",
            e2e_dir.join("screenshots").display(),
            e2e_dir.join("test-results").display()
        );
        scratch.keep();
    } else {
        println!("screenshots: {}", e2e_dir.join("screenshots").display());
    }
    result
}

/// Starts `alumia serve` on SQLite in `scratch/data` on a free port, with
/// rate limits off, and waits until `/readyz` answers. `configure` adds
/// settings of the caller's. Answers the server (stopped when dropped), its
/// base URL and its log file.
pub(crate) fn start_server(
    binary: &Path,
    scratch: &Scratch,
    paths: &Paths,
    configure: impl FnOnce(&mut Command),
) -> Result<(Server, String, PathBuf)> {
    let port = free_port()?;
    let base_url = format!("http://localhost:{port}");
    let data_dir = scratch.path.join("data");
    let log_path = scratch.path.join("server.log");
    let log = std::fs::File::create(&log_path)?;

    util::heading(&format!("starting {} serve on {base_url}", binary.display()));
    println!("data dir {}, log {}", data_dir.display(), log_path.display());
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .current_dir(&scratch.path)
        .env_remove("DATABASE_URL")
        .env_remove("ALUMIA_CONFIG")
        .env_remove("ALUMIA_ENV")
        .env("ALUMIA_DATA_DIR", &data_dir)
        .env("ALUMIA_ADDR", format!("127.0.0.1:{port}"))
        .env("ALUMIA_PUBLIC_URL", &base_url)
        .env("ALUMIA_SITE_ROOT", &paths.site)
        .env("DISABLE_RATE_LIMIT", "1")
        // No model discovery: what the pages show must not depend on
        // whether this machine runs an Ollama.
        .env("ALUMIA_OLLAMA_URL", "off")
        // The log goes to a file that is printed on failure: no ANSI colours.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    configure(&mut command);
    let child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
    let mut server = Server { child };
    if let Err(err) = wait_ready(&mut server.child, port) {
        print_log(&log_path);
        return Err(err);
    }
    println!("server ready");
    Ok((server, base_url, log_path))
}

/// The debug `alumia` binary, as cargo reports it (never a stale file).
///
/// `cargo test -p server` builds it, with the dev-dependencies' features,
/// when the package has integration tests; asking that same command again
/// is then a no-op. A plain `cargo build` would resolve features without
/// dev-dependencies and relink, so it is only the fallback.
pub(crate) fn server_binary(paths: &Paths) -> Result<PathBuf> {
    util::heading("the debug server binary");
    let attempts: [&[&str]; 2] = [&["test", "-p", "server", "--no-run"], &["build", "-p", "server"]];
    for args in attempts {
        let mut cargo = util::cargo();
        cargo
            .current_dir(&paths.root)
            .args(args)
            .arg("--message-format=json-render-diagnostics")
            .stderr(Stdio::inherit());
        println!("$ {}", util::describe(&cargo));
        let messages = util::output(&mut cargo)?;
        if let Some(binary) = bin_artifact(&messages, "alumia") {
            println!("{}", binary.display());
            return Ok(binary);
        }
    }
    bail!("cargo built no `alumia` binary")
}

/// The executable of the (non-test) bin target `name` in cargo's JSON messages.
fn bin_artifact(messages: &str, name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["target"]["name"] == name && m["profile"]["test"] == false)
        .filter(|m| m["target"]["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "bin")))
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// Debian's Chromium (Playwright is told not to download its own).
fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).is_file() {
        return Ok(());
    }
    let root = util::output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0");
    if !(root && util::on_path("apt-get")) {
        bail!(
            "{CHROMIUM} is missing: install Debian's `chromium` package \
             (`sudo apt-get install -y chromium`) and run again"
        );
    }
    util::heading("installing Chromium (apt-get install -y chromium)");
    util::run(Command::new("apt-get").arg("update").env("DEBIAN_FRONTEND", "noninteractive"))?;
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !Path::new(CHROMIUM).is_file() {
        bail!("apt-get installed chromium but {CHROMIUM} is still missing");
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    // Bind to port 0, read what the kernel picked, release it for the server.
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Poll `GET /readyz` until it answers 200, the server exits, or time is up.
fn wait_ready(child: &mut Child, port: u16) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited before it was ready ({status})");
        }
        match readyz_status(port) {
            Ok(200) => return Ok(()),
            Ok(_) | Err(_) if started.elapsed() < READY_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(250));
            }
            Ok(status) => bail!("GET /readyz still answers {status} after {}s", READY_TIMEOUT.as_secs()),
            Err(err) => bail!("GET /readyz did not answer within {}s: {err}", READY_TIMEOUT.as_secs()),
        }
    }
}

/// A bare HTTP/1.1 request, enough for a health check without pulling an
/// HTTP client into xtask.
fn readyz_status(port: u16) -> Result<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET /readyz HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        let n = stream.read(&mut head[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let line = String::from_utf8_lossy(&head[..len]);
    // "HTTP/1.1 200 OK"
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("unexpected answer: {line:?}"))
}

pub(crate) fn print_log(path: &Path) {
    println!("\n----- server log ({}) -----", path.display());
    match std::fs::read_to_string(path) {
        Ok(log) => print!("{log}"),
        Err(err) => println!("(could not read it: {err})"),
    }
    println!("----- end of server log -----");
}

/// The server under test; stopped on every path out, panics included.
pub(crate) struct Server {
    child: Child,
}

impl Server {
    pub(crate) fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM first for a graceful shutdown, SIGKILL if it lingers.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh temporary directory (data dir, log, browser config), removed
/// afterwards unless a failure asks to keep it for inspection.
pub(crate) struct Scratch {
    pub(crate) path: PathBuf,
    keep: bool,
}

impl Scratch {
    pub(crate) fn new(purpose: &str) -> Result<Self> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!("alumia-{purpose}-{}-{nanos:09}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, keep: false })
    }

    pub(crate) fn keep(mut self) {
        println!("kept {} for inspection", self.path.display());
        self.keep = true;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bin_artifact_in_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"server"},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"alumia"},"profile":{"test":true},"executable":"/t/debug/deps/alumia-0123"}
{"reason":"compiler-artifact","target":{"kind":["bin"],"crate_types":["bin"],"name":"alumia"},"profile":{"test":false},"filenames":["/t/debug/alumia"],"executable":"/t/debug/alumia","fresh":true}
{"reason":"build-finished","success":true}"#;
        assert_eq!(bin_artifact(messages, "alumia"), Some(PathBuf::from("/t/debug/alumia")));
        assert_eq!(bin_artifact(messages, "other"), None);
    }
}
