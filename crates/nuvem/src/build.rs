//! Building a manifest function from its cargo package at `nuvem up`, like `sam build` or
//! `cargo lambda build` would, so that a user edits Rust code and runs `nuvem up` again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// Builds `package` in release mode from `dir` (cargo finds the workspace above it) and
/// returns the path of the binary it produced. Cargo decides whether anything needs
/// rebuilding, so a second `up` with no changes costs one no-op cargo run.
pub fn cargo_binary(dir: &Path, package: &str) -> anyhow::Result<PathBuf> {
    let started = Instant::now();
    println!("  building function package {package} (cargo build --release)…");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
            "-p",
            package,
        ])
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
