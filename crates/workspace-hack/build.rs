// Cargo resolves `[build-dependencies]` (host-side features) only for a package with a build
// script: this one exists so that the host-side entries in Cargo.toml take effect.
fn main() {}
