//! For tuning: prints, for each line of stdin (a decoded value), the built-in patterns it
//! matches, libinjection's verdicts and the families the detectors report.
//!
//!     printf '%s\n' "admin' or 1=1--" | cargo run --release -p nuvem-waf --example explain

use std::io::BufRead;

fn main() -> std::io::Result<()> {
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        println!("{line:?}\n    {}", nuvem_waf::explain(line.as_bytes()));
    }
    Ok(())
}
