//! The `/api/v1` contract step of `test`: schemathesis (pinned, in a
//! virtualenv under the target dir) against a real debug server on SQLite
//! with a bootstrapped org and API key: every check, the coverage, fuzzing
//! and stateful phases, the document's OpenAPI links for real ids. Zero
//! failures or the step fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::test::{print_log, start_server, Scratch};
use crate::{util, Paths};

/// The schemathesis release the check is pinned to.
const SCHEMATHESIS: &str = "4.32.5";
/// Hypothesis examples per operation in the fuzzing phase: ~30 s here.
const MAX_EXAMPLES: &str = "100";
/// A fixed seed, so a red run is reproducible; `ALUMIA_CONTRACT_SEED`
/// overrides it (explore with other seeds locally).
const DEFAULT_SEED: &str = "20261201";

/// Runs the check; answers schemathesis's summary line.
pub fn run(paths: &Paths, binary: &Path) -> Result<String> {
    let tool = ensure_schemathesis(paths)?;
    let scratch = Scratch::new("contract")?;
    let data_dir = scratch.path.join("data");

    util::heading("bootstrapping an org and an owner's API key");
    let admin = |args: &[&str]| {
        let mut command = Command::new(binary);
        command
            .arg("admin")
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("ALUMIA_CONFIG")
            .env("ALUMIA_DATA_DIR", &data_dir)
            .stderr(Stdio::null());
        util::output(&mut command)
    };
    admin(&["create-user", "--email", "contract@example.com", "--password", "contract password 1", "--org", "acme"])?;
    let key = admin(&["mint-key", "--org", "acme", "--email", "contract@example.com", "--name", "contract"])?;
    let key = key.trim().to_string();
    if !key.starts_with("alm_") {
        bail!("mint-key printed no key");
    }

    // The e2e provider, so agents can be created and the stateful phase
    // reaches /agents/{id} with real ids.
    let config = scratch.path.join("alumia.toml");
    std::fs::write(&config, crate::test::e2e_config()?.0)?;
    let (mut server, base_url, log_path) = start_server(binary, &scratch, paths, |command| {
        command.env("ALUMIA_CONFIG", &config);
    })?;
    let seed = std::env::var("ALUMIA_CONTRACT_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_string());
    let mut command = Command::new(&tool);
    command
        .arg("--config-file")
        .arg(paths.root.join("xtask/schemathesis.toml"))
        .arg("run")
        .arg(format!("{base_url}/api/v1/openapi.json"))
        .args(["--url", &base_url])
        .args(["--checks", "all"])
        .args(["--phases", "coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--workers", "2"])
        .args(["--seed", &seed])
        .args(["--request-timeout", "10"])
        // An endless event stream: nothing to read to its end (the Rust
        // tests read it; README lists the exclusion).
        .args(["--exclude-path", "/api/v1/notifications/stream"])
        .env("ALUMIA_CONTRACT_KEY", &key)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdout(Stdio::piped());
    println!("$ {}", util::describe(&command));
    let summary = stream(&mut command);
    server.stop();
    match summary {
        Ok(line) => Ok(line),
        Err(err) => {
            print_log(&log_path);
            scratch.keep();
            Err(err)
        }
    }
}

/// Runs `command`, echoing its output; answers its summary ("2693
/// generated, 2693 passed, 36 skipped; 1 warning in 32.22s"), failing when
/// it fails.
fn stream(command: &mut Command) -> Result<String> {
    let mut child = command.spawn().context("starting schemathesis")?;
    let (mut cases, mut last) = (String::new(), String::new());
    let mut after_cases = false;
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line?;
        println!("{line}");
        let trimmed = line.trim();
        if after_cases && !trimmed.is_empty() {
            // "2693 generated, 2693 passed, 36 skipped"
            cases = trimmed.to_string();
        }
        after_cases = trimmed == "Test cases:";
        if trimmed.starts_with("===") && trimmed.ends_with("===") {
            last = trimmed.trim_matches('=').trim().to_string();
        }
    }
    let summary = [cases, last].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("; ");
    let status = child.wait()?;
    if !status.success() {
        bail!("schemathesis found contract failures ({summary}); reproduce with ALUMIA_CONTRACT_SEED and the `st replay` lines above");
    }
    Ok(summary)
}

/// The interpreter the virtualenv is made with: the newest of 3.13 and
/// 3.12 that runs (directly, or as a pyenv version), else `python3`.
/// CPython before 3.13 can fail `ast.parse` with "AST constructor recursion
/// depth mismatch" (gh-106905) when Hypothesis describes one of
/// schemathesis's filters, which ends the run with a runtime error that is
/// no finding about the API.
fn python() -> Command {
    let runs = |command: &mut Command| command.arg("--version").output().is_ok_and(|o| o.status.success());
    for name in ["python3.13", "python3.12"] {
        if runs(&mut Command::new(name)) {
            return Command::new(name);
        }
    }
    if util::on_path("pyenv") {
        let installed = util::output(Command::new("pyenv").args(["versions", "--bare"])).unwrap_or_default();
        for minor in ["3.13", "3.12"] {
            let prefix = format!("{minor}.");
            let Some(version) = installed.lines().map(str::trim).rfind(|v| v.starts_with(&prefix)) else {
                continue;
            };
            let with_pyenv = || {
                let mut command = Command::new(format!("python{minor}"));
                command.env("PYENV_VERSION", version);
                command
            };
            if runs(&mut with_pyenv()) {
                return with_pyenv();
            }
        }
    }
    Command::new(if util::on_path("python3") { "python3" } else { "python" })
}

/// `<target>/schemathesis-venv-2/bin/schemathesis` at the pinned version,
/// installed with pip on first use (the `-2`: made with `python()`, not
/// the interpreter an older venv has).
fn ensure_schemathesis(paths: &Paths) -> Result<PathBuf> {
    let venv = paths.target.join("schemathesis-venv-2");
    let tool = venv.join("bin/schemathesis");
    let version = || util::output(Command::new(&tool).arg("--version")).unwrap_or_default();
    if version().contains(SCHEMATHESIS) {
        return Ok(tool);
    }
    util::heading(&format!("installing schemathesis {SCHEMATHESIS} into {}", venv.display()));
    util::run(python().args(["-m", "venv", "--clear"]).arg(&venv))
        .context("creating the schemathesis virtualenv (needs python3 with venv)")?;
    util::run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={SCHEMATHESIS}")),
    )
    .context("installing schemathesis with pip")?;
    if !version().contains(SCHEMATHESIS) {
        bail!("{} does not report version {SCHEMATHESIS}", tool.display());
    }
    Ok(tool)
}
