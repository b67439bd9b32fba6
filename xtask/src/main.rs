//! `cargo xtask <command>`: the project's build, run and test driver.
//!
//! It replaces cargo-leptos (which does not install on this toolchain, see
//! ENGINEERING.md §0) with plain cargo invocations plus two library crates:
//! `wasm-bindgen-cli-support` for the JS glue and `encre-css` for the
//! stylesheet. The output layout is cargo-leptos's (`<target>/site/pkg`), so
//! both tools can serve the same site.

mod assets;
mod contract;
mod css;
mod fake_model;
mod test;
mod util;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build-assets [--release]   build the hydrate wasm, its JS glue and the CSS into <target>/site/pkg
                             (--release also shrinks the wasm with npm binaryen's wasm-opt)
  run                        build-assets --release, build the release server, serve http://localhost:3000
  dev                        like run, with a debug server build and without wasm-opt
  test [--no-e2e|--only-e2e] fmt, clippy, Rust tests on SQLite and PostgreSQL, Playwright in Chromium
  help                       this text
";

/// Where things live: the workspace, cargo's target dir and the site the
/// server serves (`ALUMIA_SITE_ROOT`).
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub target: PathBuf,
    pub site: PathBuf,
    pub pkg: PathBuf,
}

impl Paths {
    fn discover() -> Result<Self> {
        // `cargo run` sets CARGO_MANIFEST_DIR at run time too; prefer it over
        // the compile-time value so a moved clone sharing a target dir works.
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| anyhow::anyhow!("xtask manifest dir has no parent"))?;
        if !root.join("Cargo.toml").is_file() {
            bail!("workspace root not found at {}", root.display());
        }
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    // cargo resolves a relative CARGO_TARGET_DIR against the
                    // current directory.
                    std::env::current_dir()?.join(dir)
                }
            }
            _ => root.join("target"),
        };
        let site = target.join("site");
        let pkg = site.join("pkg");
        Ok(Self { root, target, site, pkg })
    }
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, options)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let paths = Paths::discover()?;

    match command.as_str() {
        "build-assets" => {
            let release = parse_flags(&options, &["--release"])?.contains(&"--release");
            assets::build_assets(&paths, release)?;
            if let Some(line) = assets::size_line(&paths) {
                println!("\n{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        "run" => {
            parse_flags(&options, &[])?;
            serve(&paths, true)
        }
        "dev" => {
            parse_flags(&options, &[])?;
            serve(&paths, false)
        }
        "test" => {
            let flags = parse_flags(&options, &["--no-e2e", "--only-e2e"])?;
            let selection = match (flags.contains(&"--no-e2e"), flags.contains(&"--only-e2e")) {
                (true, true) => bail!("--no-e2e and --only-e2e exclude each other"),
                (true, false) => test::Selection::NoE2e,
                (false, true) => test::Selection::OnlyE2e,
                (false, false) => test::Selection::All,
            };
            test::run(&paths, selection)
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("unknown command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Accept only the flags listed; return the ones given.
fn parse_flags<'a>(options: &[&'a str], allowed: &[&str]) -> Result<Vec<&'a str>> {
    for option in options {
        if !allowed.contains(option) {
            bail!("unknown option `{option}`\n\n{USAGE}");
        }
    }
    Ok(options.to_vec())
}

/// `run` and `dev`: build everything, then replace this process with the
/// server so Ctrl-C and signals reach it directly.
fn serve(paths: &Paths, release: bool) -> Result<ExitCode> {
    assets::build_assets(paths, release)?;
    let profile = if release { "release" } else { "debug" };
    util::heading(&format!("building the {profile} server"));
    let mut build = util::cargo();
    build.args(["build", "-p", "server"]);
    if release {
        build.arg("--release");
    }
    util::run(&mut build)?;

    let binary = paths.target.join(profile).join("alumia");
    if let Some(line) = assets::size_line(paths) {
        println!("\n{line}");
    }
    util::heading(&format!("starting {} serve (site root {})", binary.display(), paths.site.display()));
    let mut server = std::process::Command::new(&binary);
    server.arg("serve").current_dir(&paths.root).env("ALUMIA_SITE_ROOT", &paths.site);
    Err(util::exec(server))
}
