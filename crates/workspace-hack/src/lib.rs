//! A workspace hack: no code, only dependencies with features.
//!
//! Cargo resolves features per build: `cargo build --release -p nuvem` and the
//! `cargo run --release -p meusite-api` that `nuvem up` runs for the example site's function
//! would otherwise compile the crates they share (`tokio`, `serde`, `hyper`, `rustls`, `syn`, …)
//! twice, each time with the features only its own graph asks for. Both packages depend on this
//! crate, which asks for the union, so the function's first build reuses what nuvem's build left
//! in the same target directory.
//!
//! Kept by hand: `Cargo.toml` lists, for every crate the two graphs share, the features either
//! side enables (target side under `[dependencies]`, build scripts and proc macros under
//! `[build-dependencies]`). After changing either package's dependencies, compare the two unit
//! graphs (`RUSTC_BOOTSTRAP=1 cargo build --release -p <pkg> --unit-graph -Z unstable-options`)
//! and add what differs; a stale list only costs build time, never correctness.
