//! Building a manifest function from its cargo package at `nuvem up`, like `sam build` or
//! `cargo lambda build` would, so that a user edits Rust code and runs `nuvem up` again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// Builds `package` in release mode and returns the path of the binary it produced. The
/// package is looked for in `dir` and its immediate subfolders (a project from `nuvem init`
/// keeps it in `function/`, a workspace of its own); otherwise cargo finds it in the
/// workspace above `dir`. Cargo decides whether anything needs rebuilding, so a second `up`
/// with no changes costs one no-op cargo run.
pub fn cargo_binary(dir: &Path, package: &str) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    println!("  building function package {package} (cargo build --release)…");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--message-format=json-render-diagnostics",
        "-p",
        package,
    ]);
    if let Some(manifest) = package_manifest(dir, package) {
        cmd.arg("--manifest-path").arg(manifest);
    }
    let out = cmd
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo to build {package} (is cargo installed?)"))?;
    if !out.status.success() {
        bail!("cargo could not build {package} ({})", out.status);
    }
    // The last compiler artifact with an executable is the package's binary.
    let mut executable = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact"
            && msg["package_id"]
                .as_str()
                .is_some_and(|id| id.contains(package))
            && let Some(path) = msg["executable"].as_str()
        {
            executable = Some(PathBuf::from(path));
        }
    }
    let executable =
        executable.with_context(|| format!("cargo built {package} but reported no executable"))?;
    println!(
        "  built {} in {:.1} s",
        executable.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(executable)
}

/// The `Cargo.toml` of `package` in `dir` or one of its immediate subfolders.
fn package_manifest(dir: &Path, package: &str) -> Option<PathBuf> {
    let subfolders = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir());
    std::iter::once(dir.to_path_buf())
        .chain(subfolders)
        .map(|d| d.join("Cargo.toml"))
        .find(|m| {
            std::fs::read_to_string(m)
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(|t| {
                    t.get("package")?
                        .get("name")?
                        .as_str()
                        .map(|n| n == package)
                })
                .unwrap_or(false)
        })
}
