//! `nuvem init [DIR]`: a new project from the bundled example (examples/meusite): the
//! manifest, the WebACL, the static site and the Rust API function, ready for `nuvem up`.
//! The files are compiled into the binary, so `init` works wherever nuvem is installed.
//!
//! Must not: overwrite anything. The function's `Cargo.toml` is written for a project of its
//! own (its own `[workspace]`, concrete versions), not the workspace-inherited one of the
//! example, which only builds inside nuvem's source tree.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Where to write the project (created if missing; must not hold a nuvem.toml yet).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

macro_rules! example {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!("../../../examples/meusite/", $path)),
        )
    };
}

/// The example's files, by their path in the project.
const FILES: [(&str, &str); 9] = [
    example!("nuvem.toml"),
    example!("waf.json"),
    example!("site/index.html"),
    example!("site/item.html"),
    example!("site/404.html"),
    example!("site/app.js"),
    example!("site/style.css"),
    example!("function/src/main.rs"),
    ("function/Cargo.toml", FUNCTION_CARGO_TOML),
];

/// The API function's manifest for a standalone project: the versions nuvem's own build of
/// the example uses (Cargo.lock), the same narrow features.
const FUNCTION_CARGO_TOML: &str = r#"[package]
name = "meusite-api"
description = "The site's API function: lists, creates and likes items in the `items` table; hands out presigned upload URLs for the media bucket."
version = "0.1.0"
edition = "2024"
rust-version = "1.85"
publish = false

# A project of its own: `nuvem up` builds it with cargo (release), wherever it lives.
[workspace]

[[bin]]
name = "bootstrap"
path = "src/main.rs"

[dependencies]
lambda_http = { version = "1.3", default-features = false, features = ["apigw_http"] }
aws-sdk-dynamodb = { version = "1.136", default-features = false, features = ["rt-tokio", "behavior-version-latest", "default-https-client"] }
aws-sdk-s3 = { version = "1.157", default-features = false, features = ["rt-tokio", "behavior-version-latest", "default-https-client"] }
aws-credential-types = { version = "1.3", features = ["hardcoded-credentials"] }
tokio = { version = "1.54", default-features = false, features = ["rt-multi-thread", "macros", "net", "sync", "time"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
uuid = { version = "1.29", features = ["v4"] }
"#;

const GITIGNORE: &str = ".nuvem/\nfunction/target/\n";

pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    if dir.join("nuvem.toml").exists() {
        bail!(
            "{} already has a nuvem.toml: nothing written",
            dir.display()
        );
    }
    for (path, _) in FILES {
        let target = dir.join(path);
        if target.exists() {
            bail!("{} exists: nothing written", target.display());
        }
    }
    write(dir, ".gitignore", GITIGNORE, true)?;
    for (path, text) in FILES {
        write(dir, path, text, false)?;
        println!("  wrote {}", dir.join(path).display());
    }
    println!(
        "\nA new site in {}. Next:\n  cd {}\n  nuvem up          (builds the function, deploys, prints the URL to open)\n",
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn write(dir: &Path, path: &str, text: &str, keep_existing: bool) -> anyhow::Result<()> {
    let target = dir.join(path);
    if keep_existing && target.exists() {
        return Ok(());
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the example's site and function is part of a new project, so a file
    /// added to the example cannot be forgotten here.
    #[test]
    fn init_writes_every_file_of_the_example() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/meusite");
        let mut want = Vec::new();
        for sub in ["site", "function/src"] {
            for e in std::fs::read_dir(example.join(sub)).unwrap() {
                want.push(format!(
                    "{sub}/{}",
                    e.unwrap().file_name().to_string_lossy()
                ));
            }
        }
        want.extend(["nuvem.toml", "waf.json", "function/Cargo.toml"].map(String::from));
        want.sort();
        let mut got: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn init_refuses_to_overwrite_and_writes_a_standalone_function() {
        let dir = tempfile::tempdir().unwrap();
        run(InitArgs {
            dir: dir.path().join("site"),
        })
        .unwrap();
        let cargo = std::fs::read_to_string(dir.path().join("site/function/Cargo.toml")).unwrap();
        let parsed: toml::Table = cargo.parse().unwrap();
        assert!(parsed.contains_key("workspace"), "its own workspace");
        assert!(!cargo.contains(".workspace"), "no inherited fields");
        let manifest = std::fs::read_to_string(dir.path().join("site/nuvem.toml")).unwrap();
        crate::config::Manifest::parse(&manifest).unwrap();
        let again = run(InitArgs {
            dir: dir.path().join("site"),
        });
        assert!(format!("{:#}", again.unwrap_err()).contains("already has a nuvem.toml"));
    }
}
