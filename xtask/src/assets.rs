//! `build-assets`: the hydrate wasm, its JS glue, the stylesheet and the
//! static files, laid out as cargo-leptos would under `<target>/site`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::{css, util, Paths};

/// Leptos's `HydrationScripts` loads `/pkg/<output-name>.js` and
/// `/pkg/<output-name>_bg.wasm`; the name is `alumia` (workspace metadata).
pub const OUTPUT_NAME: &str = "alumia";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Release-like profile for the wasm only (opt-level "z", lto, panic abort),
/// so the server binary keeps the ordinary release profile.
const WASM_PROFILE: &str = "wasm-release";
/// Older binaryen releases (Debian's 108) produce a wasm whose hydration
/// fails in the browser (`WebAssembly.Table.set(): Argument 1 is invalid`).
const MIN_BINARYEN: u32 = 132;

pub fn build_assets(paths: &Paths, release: bool) -> Result<()> {
    ensure_wasm_target()?;

    // `XTASK_WASM_DEBUG=1` builds the wasm with debug assertions, which
    // turns leptos's hydration panics into messages naming the element.
    let debug = std::env::var_os("XTASK_WASM_DEBUG").is_some_and(|v| v == "1");
    let (profile, profile_dir) = if debug { ("dev", "debug") } else { (WASM_PROFILE, WASM_PROFILE) };
    util::heading(&format!("building the hydrate wasm (-p frontend, profile {profile})"));
    util::run(util::cargo().current_dir(&paths.root).args([
        "build",
        "-p",
        "frontend",
        "--target",
        WASM_TARGET,
        "--profile",
        profile,
    ]))?;
    let wasm = paths.target.join(WASM_TARGET).join(profile_dir).join("frontend.wasm");

    let wasm_opt = if release { find_wasm_opt(&paths.root) } else { None };
    bindgen(paths, &wasm, release, wasm_opt.as_deref())?;

    util::heading("generating CSS (encre-css)");
    let css_path = paths.pkg.join(format!("{OUTPUT_NAME}.css"));
    let stylesheet = css::generate(&paths.root)?;
    let changed = util::write_if_changed(&css_path, stylesheet.as_bytes())?;
    println!("{} ({} bytes{})", css_path.display(), stylesheet.len(), if changed { "" } else { ", unchanged" });

    copy_public(&paths.root.join("public"), &paths.site)?;
    copy_api_viewer(&paths.target, &paths.pkg)?;
    println!("site root: {}", paths.site.display());
    Ok(())
}

pub fn ensure_wasm_target() -> Result<()> {
    if !util::on_path("rustup") {
        // A toolchain not managed by rustup: assume it has the target, and
        // let cargo say so if it does not.
        return Ok(());
    }
    let installed = util::output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    util::heading(&format!("installing the {WASM_TARGET} target"));
    util::run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

/// The loader wasm-split writes for the chunks, and the manifest that maps
/// each split point (lazy page) to the chunk files it needs. Leptos's
/// `HydrationScripts` looks for exactly these names under `pkg/` (when the
/// site is not file-hashed) to preload the current page's chunks.
const SPLIT_LOADER: &str = "__wasm_split.______________________.js";
const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";

/// Split the wasm into the main module and the lazy pages' chunks, run
/// wasm-bindgen on the main one (and wasm-opt on every one when given),
/// unless the outputs are newer than the wasm, this xtask binary, and were
/// made with the same wasm-opt choice (remembered in a stamp file).
fn bindgen(paths: &Paths, wasm: &Path, release: bool, wasm_opt: Option<&Path>) -> Result<()> {
    let js = paths.pkg.join(format!("{OUTPUT_NAME}.js"));
    let bg_wasm = paths.pkg.join(format!("{OUTPUT_NAME}_bg.wasm"));
    let manifest = paths.pkg.join(SPLIT_MANIFEST);
    let stamp = paths.pkg.join(".wasm-build");
    // `XTASK_WASM_NAMES=1` keeps function names through wasm-bindgen and
    // wasm-opt (`-g`), for a size profiler such as twiggy; the served file
    // is then much larger, so never ship it.
    let names = std::env::var_os("XTASK_WASM_NAMES").is_some_and(|v| v == "1");
    let mode = format!(
        "split=1 release={release} names={names} wasm-opt={}\n",
        wasm_opt.map_or("none".to_string(), |tool| tool.display().to_string())
    );
    let exe = std::env::current_exe().ok();
    let mut inputs = vec![wasm];
    inputs.extend(exe.as_deref());
    if util::up_to_date(&[&js, &bg_wasm, &manifest], &inputs)
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == mode)
    {
        println!("\n==> wasm-bindgen: {} is up to date", bg_wasm.display());
        return Ok(());
    }
    std::fs::create_dir_all(&paths.pkg).with_context(|| format!("creating {}", paths.pkg.display()))?;
    // Stale snippets and chunks of an earlier build would otherwise linger.
    let snippets = paths.pkg.join("snippets");
    if snippets.exists() {
        std::fs::remove_dir_all(&snippets).with_context(|| format!("removing {}", snippets.display()))?;
    }
    for old in std::fs::read_dir(&paths.pkg)? {
        let old = old?.path();
        if old.extension().is_some_and(|e| e == "wasm") {
            std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
        }
    }

    util::heading("wasm-split (the lazy pages' chunks)");
    let input = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let main_split = wasm.with_file_name("frontend_split.wasm");
    let main_module = format!("./{OUTPUT_NAME}.js");
    let link_name = format!("./{SPLIT_LOADER}");
    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&input);
        opts.output_dir = &paths.pkg;
        opts.main_out_path = &main_split;
        opts.main_module = &main_module;
        opts.link_name = &link_name;
        opts
    })
    .map_err(|err| anyhow::anyhow!("wasm-split on {}: {err:#}", wasm.display()))?;
    let manifest_json = serde_json::to_string_pretty(&split.prefetch_map)?;
    std::fs::write(&manifest, manifest_json).with_context(|| format!("writing {}", manifest.display()))?;
    println!("{} chunk(s) beside the main module", split.split_modules.len());

    util::heading("wasm-bindgen (--target web)");
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&main_split)
        .web(true)?
        .out_name(OUTPUT_NAME)
        .typescript(false)
        // The chunks link to the main module's exports by their linker
        // names, so those stay, unmangled.
        .keep_lld_exports(true)
        .demangle(false)
        // Function names (half the file) only help reading panics in a
        // debug session; wasm-opt would drop them anyway.
        .remove_name_section(release && !names)
        .generate(&paths.pkg)
        .with_context(|| format!("wasm-bindgen on {}", main_split.display()))?;
    println!("{} ({} bytes)", bg_wasm.display(), file_len(&bg_wasm));

    if let Some(tool) = wasm_opt {
        util::heading("wasm-opt -Oz (the main module and each chunk)");
        let mut modules = vec![bg_wasm.clone()];
        modules.extend(split.split_modules.iter().cloned());
        for module in &modules {
            let optimized = module.with_extension("opt.wasm");
            let mut opt = Command::new(tool);
            // The features rustc's wasm32 target emits, which the chunks
            // (never seen by wasm-bindgen) must be allowed to keep.
            opt.args(["-Oz", "--enable-bulk-memory", "--enable-nontrapping-float-to-int"]);
            if names {
                opt.arg("-g");
            }
            util::run(opt.arg(module).arg("-o").arg(&optimized))?;
            std::fs::rename(&optimized, module).with_context(|| format!("replacing {}", module.display()))?;
        }
        println!("{} ({} bytes)", bg_wasm.display(), file_len(&bg_wasm));
    }
    std::fs::write(&stamp, mode).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(())
}

/// Lines for the end of `run` and `test`: what a first visit downloads —
/// the main wasm module, plus the chunks of the page that needs the most —
/// and the JS glue, gzipped at the best level (about what a server's gzip
/// or a CDN sends) and raw, e.g. `assets: alumia_bg.wasm 312 KB gzipped
/// (1.01 MB raw), alumia.js 9 KB gzipped; pages' chunks 14 files 290 KB
/// gzipped, the largest page adds 61 KB (billing)`. None when the assets
/// were never built.
pub fn size_line(paths: &Paths) -> Option<String> {
    let wasm = std::fs::read(paths.pkg.join(format!("{OUTPUT_NAME}_bg.wasm"))).ok()?;
    let js = std::fs::read(paths.pkg.join(format!("{OUTPUT_NAME}.js"))).ok()?;
    let mut line = format!(
        "assets: {OUTPUT_NAME}_bg.wasm {} gzipped ({} raw), {OUTPUT_NAME}.js {} gzipped",
        human_size(gzip_len(&wasm)),
        human_size(wasm.len() as u64),
        human_size(gzip_len(&js)),
    );
    if let Some(chunks) = chunk_summary(paths) {
        line.push_str("; ");
        line.push_str(&chunks);
    }
    Some(line)
}

/// The lazy pages' chunks: how many, their gzipped total, and which page's
/// chunks (its own and the shared ones it needs) weigh the most.
fn chunk_summary(paths: &Paths) -> Option<String> {
    let manifest = std::fs::read_to_string(paths.pkg.join(SPLIT_MANIFEST)).ok()?;
    let map: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_str(&manifest).ok()?;
    let mut sizes = std::collections::BTreeMap::new();
    for stems in map.values() {
        for stem in stems {
            if !sizes.contains_key(stem) {
                let bytes = std::fs::read(paths.pkg.join(format!("{stem}.wasm"))).ok()?;
                sizes.insert(stem.clone(), gzip_len(&bytes));
            }
        }
    }
    let total: u64 = sizes.values().sum();
    let (page, largest) = map
        .iter()
        .map(|(page, stems)| (page, stems.iter().map(|s| sizes[s]).sum::<u64>()))
        .max_by_key(|(_, size)| *size)?;
    Some(format!(
        "pages' chunks {} files {} gzipped, the largest page adds {} ({})",
        sizes.len(),
        human_size(total),
        human_size(largest),
        page_name(page),
    ))
}

/// `billing` for the split point `__billing_route_view_2381162768346761258`
/// (`app::routes::BillingRoute`'s view).
fn page_name(split: &str) -> &str {
    let name = split.trim_start_matches("__");
    name.find("_route_view").map_or(name, |end| &name[..end])
}

/// The length of `bytes` gzipped at level 9 (as `gzip -9`).
fn gzip_len(bytes: &[u8]) -> u64 {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let gzipped = encoder.write_all(bytes).and_then(|()| encoder.finish()).unwrap_or_default();
    gzipped.len() as u64
}

/// Decimal units, as the size figures in docs/wasm-size.md: `9 KB`, `1.61 MB`.
fn human_size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.2} MB", bytes as f64 / 1e6)
    } else if bytes >= 1_000 {
        format!("{} KB", (bytes + 500) / 1_000)
    } else {
        format!("{bytes} B")
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// npm's `binaryen` (root package.json), installed with `npm ci` when npm is
/// there and it is not. Only a binaryen >= 132 is used; anything going wrong
/// only means the wasm stays unoptimized (larger, still correct).
fn find_wasm_opt(root: &Path) -> Option<PathBuf> {
    let tool = root.join("node_modules/.bin/wasm-opt");
    if !tool.is_file() && root.join("package.json").is_file() && util::on_path("npm") {
        util::heading("installing npm binaryen for wasm-opt (root package.json)");
        let mut npm = Command::new("npm");
        npm.current_dir(root);
        if root.join("package-lock.json").is_file() {
            npm.arg("ci");
        } else {
            npm.arg("install");
        }
        if let Err(err) = util::run(&mut npm) {
            println!("warning: {err:#}; the wasm will not be optimized");
        }
    }
    if !tool.is_file() {
        println!("\nnote: no node_modules/.bin/wasm-opt (npm binaryen); skipping wasm-opt");
        return None;
    }
    let version = binaryen_version(root);
    match version {
        Some(major) if major >= MIN_BINARYEN => Some(tool),
        _ => {
            println!(
                "\nnote: npm binaryen {} is older than {MIN_BINARYEN} (or unknown); skipping wasm-opt",
                version.map_or("?".to_string(), |v| v.to_string())
            );
            None
        }
    }
}

/// The major version in `node_modules/binaryen/package.json`.
fn binaryen_version(root: &Path) -> Option<u32> {
    let manifest = std::fs::read_to_string(root.join("node_modules/binaryen/package.json")).ok()?;
    // `"version": "132.0.0"` — a full JSON parser is not worth a dependency.
    let after = &manifest[manifest.find("\"version\"")? + "\"version\"".len()..];
    let value = after.trim_start().strip_prefix(':')?.trim_start();
    let value = value.strip_prefix('"')?;
    value.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Copy `public/` into the site root (cargo-leptos's `assets-dir`),
/// skipping files whose contents are already there.
fn copy_public(public: &Path, site: &Path) -> Result<()> {
    let files = util::files_with_suffix(public, "")?;
    let mut copied = 0;
    for file in &files {
        let relative = file.strip_prefix(public)?;
        let contents = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        if util::write_if_changed(&site.join(relative), &contents)? {
            copied += 1;
        }
    }
    if !files.is_empty() {
        println!("public/: {} file(s), {copied} copied to {}", files.len(), site.display());
    }
    Ok(())
}

/// The `/api/docs` viewer's script, served from our own `pkg/` (never a
/// CDN). `npm pack` fetches just the published tarball of
/// `@scalar/api-reference` (no dependency tree); its browser bundle is
/// self-contained.
const API_VIEWER: &str = "@scalar/api-reference@1.72.1";

fn copy_api_viewer(target: &Path, pkg: &Path) -> Result<()> {
    let dest = pkg.join("scalar.js");
    let stamp = target.join("api-viewer").join(API_VIEWER.replace(['@', '/'], "_"));
    if dest.is_file() && stamp.is_file() {
        return Ok(());
    }
    if !util::on_path("npm") {
        println!("note: npm not found; /api/docs will only link to /api/v1/openapi.json");
        return Ok(());
    }
    util::heading(&format!("fetching the API viewer ({API_VIEWER}, npm pack)"));
    let dir = target.join("api-viewer");
    std::fs::create_dir_all(&dir)?;
    let packed = util::output(Command::new("npm").current_dir(&dir).args(["pack", API_VIEWER, "--silent"]));
    let tarball = match packed {
        Ok(name) => dir.join(name.trim()),
        Err(err) => {
            println!("note: npm pack failed ({err}); /api/docs will only link to /api/v1/openapi.json");
            return Ok(());
        }
    };
    util::run(
        Command::new("tar").current_dir(&dir).arg("xzf").arg(&tarball).arg("package/dist/browser/standalone.js"),
    )?;
    let bytes = std::fs::read(dir.join("package/dist/browser/standalone.js")).context("reading the viewer bundle")?;
    util::write_if_changed(&dest, &bytes)?;
    std::fs::write(&stamp, API_VIEWER)?;
    println!("{} ({} bytes)", dest.display(), bytes.len());
    Ok(())
}
