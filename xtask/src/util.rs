//! Small process and file helpers shared by the commands.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

/// A `cargo` command: the same cargo that runs us (`$CARGO`), so a toolchain
/// override picked by rustup applies to the nested builds too.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
}

pub fn heading(text: &str) {
    println!("\n==> {text}");
}

/// Describe a command for humans: program and arguments, space-separated.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Run a command with inherited stdio; fail unless it exits 0.
pub fn run(command: &mut Command) -> Result<()> {
    println!("$ {}", describe(command));
    let status = command.status().with_context(|| format!("could not start `{}`", describe(command)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Run a command and capture its stdout; fail unless it exits 0.
pub fn output(command: &mut Command) -> Result<String> {
    let out = command.output().with_context(|| format!("could not start `{}`", describe(command)))?;
    if !out.status.success() {
        bail!("`{}` failed ({}): {}", describe(command), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Is `program` found on PATH?
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Replace this process with `command` (Unix), returning only on failure.
#[cfg(unix)]
pub fn exec(mut command: Command) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let description = describe(&command);
    anyhow::Error::new(command.exec()).context(format!("could not exec `{description}`"))
}

#[cfg(not(unix))]
pub fn exec(mut command: Command) -> anyhow::Error {
    match command.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(err) => anyhow::Error::new(err).context("could not start the server"),
    }
}

pub fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// True when every output exists and is at least as new as every input
/// (a missing input counts as "changed", to stay on the safe side).
pub fn up_to_date(outputs: &[&Path], inputs: &[&Path]) -> bool {
    let mut oldest_output: Option<SystemTime> = None;
    for output in outputs {
        let Some(t) = mtime(output) else {
            return false;
        };
        oldest_output = Some(oldest_output.map_or(t, |o| o.min(t)));
    }
    let Some(oldest_output) = oldest_output else {
        return false;
    };
    inputs.iter().all(|input| mtime(input).is_some_and(|t| t <= oldest_output))
}

/// Write `contents` to `path` unless it already holds exactly that, so
/// unchanged assets keep their mtime (and browsers their caches).
pub fn write_if_changed(path: &Path, contents: &[u8]) -> Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// Every file under `dir` (recursively) whose name ends with `suffix`,
/// sorted so generated output does not depend on directory order.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if path.file_name().and_then(OsStr::to_str).is_some_and(|name| name.ends_with(suffix)) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
