//! Which cache fills an invalidation spoils.
//!
//! A fill (an origin response on its way into a tier) must not be stored when its path was
//! invalidated while it was in flight: by CreateInvalidation (patterns) or by a successful
//! unsafe request to that path or to the `Location`/`Content-Location` it named (RFC 9111
//! §4.4). Writes to *other* paths must leave the fill alone — a site that takes API writes
//! and serves media from one distribution would otherwise never cache a large object.
//!
//! Every invalidation takes a tick of one clock and is recorded with it: per path for writes,
//! per pattern for CreateInvalidation. A fill remembers the tick it started at ([`Fills::start`])
//! and, once whole, asks [`Fills::still_valid`]. When nothing was invalidated since its start
//! (the common case) that is one atomic load. The records are bounded: past [`MAX_RECORDS`]
//! they are dropped and the floor moves up to the current tick, which spoils every fill
//! older than it — conservative, never wrong.
//!
//! Storing is "insert, then check again, remove if spoiled": an invalidation records before it
//! clears the tiers, so either its clear comes after the insert, or the second check sees it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::distribution::pattern_matches;

/// Records kept (paths plus patterns) before they are folded into the floor.
pub const MAX_RECORDS: usize = 4096;

#[derive(Default)]
pub struct Fills {
    clock: AtomicU64,
    records: Mutex<Records>,
}

#[derive(Default)]
struct Records {
    /// Fills that started before this tick are all spoiled.
    floor: u64,
    /// Path → tick of its last invalidation.
    paths: HashMap<String, u64>,
    /// CreateInvalidation patterns with their tick, oldest first.
    patterns: VecDeque<(u64, String)>,
}

impl Records {
    fn bound(&mut self, tick: u64) {
        if self.paths.len() + self.patterns.len() > MAX_RECORDS {
            self.floor = tick;
            self.paths.clear();
            self.patterns.clear();
        }
    }
}

impl Fills {
    /// The tick a fill starting now carries.
    pub fn start(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Records an invalidation of exact paths (any query string).
    pub fn invalidate_paths<'a>(&self, paths: impl IntoIterator<Item = &'a str>) {
        let mut r = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        for p in paths {
            r.paths.insert(p.to_string(), tick);
        }
        r.bound(tick);
    }

    /// Records an invalidation of CloudFront path patterns (`/images/*`).
    pub fn invalidate_patterns(&self, patterns: &[String]) {
        let mut r = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let tick = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        for p in patterns {
            r.patterns.push_back((tick, p.clone()));
        }
        r.bound(tick);
    }

    /// Whether a fill of `path` that started at `start` may be stored.
    pub fn still_valid(&self, path: &str, start: u64) -> bool {
        if self.clock.load(Ordering::SeqCst) == start {
            return true;
        }
        let r = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if r.floor > start {
            return false;
        }
        if r.paths.get(path).is_some_and(|&t| t > start) {
            return false;
        }
        !r.patterns
            .iter()
            .rev()
            .take_while(|(t, _)| *t > start)
            .any(|(_, p)| pattern_matches(p, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_spoil_their_own_path_only() {
        let f = Fills::default();
        let a = f.start();
        f.invalidate_paths(["/api/items"]);
        assert!(f.still_valid("/media/big.jpg", a));
        assert!(!f.still_valid("/api/items", a));
        // A fill that starts after the write is fine.
        let b = f.start();
        assert!(f.still_valid("/api/items", b));
    }

    #[test]
    fn patterns_spoil_what_they_match() {
        let f = Fills::default();
        let a = f.start();
        f.invalidate_patterns(&["/images/*".to_string()]);
        assert!(!f.still_valid("/images/a.png", a));
        assert!(f.still_valid("/index.html", a));
        f.invalidate_patterns(&["/*".to_string()]);
        assert!(!f.still_valid("/index.html", a));
    }

    #[test]
    fn overflow_spoils_older_fills_conservatively() {
        let f = Fills::default();
        let a = f.start();
        for i in 0..=MAX_RECORDS {
            f.invalidate_paths([format!("/p{i}").as_str()]);
        }
        assert!(!f.still_valid("/unrelated", a));
        let b = f.start();
        assert!(f.still_valid("/unrelated", b));
        f.invalidate_paths(["/x"]);
        assert!(f.still_valid("/unrelated", b));
    }
}
