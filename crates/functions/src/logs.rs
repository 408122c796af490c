//! Per-function logs: what a function's environments print and the START/END/REPORT lines.
//!
//! Where they go: to a [`LogEmitter`] when the binary wired one (the Logs service: group
//! `/aws/lambda/<name>`, one stream per environment named as Lambda names them,
//! `YYYY/MM/DD/[$LATEST]<32 hex>`, one event per line), else to one append-only file per
//! function under `<data_dir>/logs/<name>.log` (the crate's own tests, or a binary without
//! the Logs service). Must not: fail or slow an invocation because of logs (an emitter
//! returns at once; a file write failure stops that file, reported once through tracing).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where function log lines go, wired by the binary. Implementations must return at once
/// (queue the event; drop it when the queue is full) and never fail.
pub trait LogEmitter: Send + Sync {
    /// One event: a line (with its `\n`) of `stream` in `group`, at `timestamp_ms`.
    fn emit(&self, group: &str, stream: &str, timestamp_ms: i64, message: String);
}

pub struct LogSink {
    function: String,
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
    emitter: Option<Arc<dyn LogEmitter>>,
}

impl LogSink {
    /// A sink for `function`: to `emitter` when there is one (no file), else to the file.
    pub fn open(dir: &Path, function: &str, emitter: Option<Arc<dyn LogEmitter>>) -> Self {
        let path = dir.join(format!("{function}.log"));
        let file = if emitter.is_some() {
            None
        } else {
            std::fs::create_dir_all(dir)
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                })
                .map_err(|e| tracing::warn!(error = %e, path = %path.display(), "lambda: cannot open the function log"))
                .ok()
        };
        Self {
            function: function.to_owned(),
            path,
            file: Mutex::new(file),
            emitter,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log group of the function (`/aws/lambda/<name>`).
    pub fn group(&self) -> String {
        format!("/aws/lambda/{}", self.function)
    }

    /// Appends raw bytes to the function's file (when it has one).
    pub fn write(&self, bytes: &[u8]) {
        if let Ok(mut guard) = self.file.lock()
            && let Some(f) = guard.as_mut()
            && let Err(e) = f.write_all(bytes)
        {
            tracing::warn!(error = %e, path = %self.path.display(), "lambda: function log write failed; logging to it stops");
            *guard = None;
        }
    }

    /// The log of one new environment: its own stream, named for today.
    pub fn environment(self: &Arc<Self>) -> EnvironmentLog {
        EnvironmentLog {
            sink: self.clone(),
            stream: stream_name(now_ms(), &uuid::Uuid::new_v4().simple().to_string()),
            partial: Mutex::new(Vec::new()),
        }
    }
}

/// What one environment writes: lines become events of its stream.
pub struct EnvironmentLog {
    sink: Arc<LogSink>,
    stream: String,
    /// The start of a line the function has not finished printing.
    partial: Mutex<Vec<u8>>,
}

impl EnvironmentLog {
    /// The environment's stream name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// What the function printed: every complete line is an event; the rest waits for its end.
    pub fn output(&self, bytes: &[u8]) {
        self.sink.write(bytes);
        let Some(emitter) = &self.sink.emitter else {
            return;
        };
        let Ok(mut partial) = self.partial.lock() else {
            return;
        };
        partial.extend_from_slice(bytes);
        let Some(end) = partial.iter().rposition(|b| *b == b'\n') else {
            // A line longer than Lambda's limit is cut into events of at most 256 KB.
            if partial.len() >= 256 * 1024 {
                let line = std::mem::take(&mut *partial);
                self.emit(emitter.as_ref(), &line);
            }
            return;
        };
        let rest = partial.split_off(end + 1);
        let complete = std::mem::replace(&mut *partial, rest);
        drop(partial);
        for line in complete.split_inclusive(|b| *b == b'\n') {
            self.emit(emitter.as_ref(), line);
        }
    }

    /// A line nuvem writes itself (START/END/REPORT, several lines at once): after whatever
    /// unfinished line the function left.
    pub fn line(&self, bytes: &[u8]) {
        self.flush();
        self.output(bytes);
    }

    /// Emits the unfinished line, if any.
    pub fn flush(&self) {
        let Some(emitter) = &self.sink.emitter else {
            return;
        };
        let line = self
            .partial
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        if !line.is_empty() {
            self.emit(emitter.as_ref(), &line);
        }
    }

    fn emit(&self, emitter: &dyn LogEmitter, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        emitter.emit(
            &self.sink.group(),
            &self.stream,
            now_ms(),
            String::from_utf8_lossy(line).into_owned(),
        );
    }
}

impl Drop for EnvironmentLog {
    fn drop(&mut self) {
        self.flush();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Lambda's stream name for an environment started at `ms` (UTC): `YYYY/MM/DD/[$LATEST]<id>`.
pub fn stream_name(ms: i64, id: &str) -> String {
    let (y, m, d) = civil(ms.div_euclid(86_400_000));
    format!("{y:04}/{m:02}/{d:02}/[$LATEST]{id}")
}

/// The (year, month, day) of a day number since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<(String, String, String)>>);

    impl LogEmitter for Collect {
        fn emit(&self, group: &str, stream: &str, _ts: i64, message: String) {
            self.0
                .lock()
                .unwrap()
                .push((group.into(), stream.into(), message));
        }
    }

    #[test]
    fn stream_names() {
        #[track_caller]
        fn check(ms: i64, want: &str) {
            assert_eq!(stream_name(ms, "ab"), want);
        }
        check(0, "1970/01/01/[$LATEST]ab");
        check(951_782_400_000, "2000/02/29/[$LATEST]ab");
        check(1_767_225_599_999, "2025/12/31/[$LATEST]ab");
        check(1_767_225_600_000, "2026/01/01/[$LATEST]ab");
    }

    #[test]
    fn lines_become_events() {
        let collect = Arc::new(Collect::default());
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(LogSink::open(dir.path(), "f", Some(collect.clone())));
        let env = sink.environment();
        // `output` chunks are cut anywhere; events are whole lines, nuvem's own lines never
        // glue onto a line the function left unfinished.
        env.output(b"hel");
        env.output(b"lo\nwor");
        env.output(b"ld\nno newline");
        env.line(b"END RequestId: 1\nREPORT RequestId: 1\tDuration: 1 ms\t\n");
        env.output(b"tail");
        drop(env);
        let got = collect.0.lock().unwrap().clone();
        let messages: Vec<&str> = got.iter().map(|e| e.2.as_str()).collect();
        assert_eq!(
            messages,
            [
                "hello\n",
                "world\n",
                "no newline",
                "END RequestId: 1\n",
                "REPORT RequestId: 1\tDuration: 1 ms\t\n",
                "tail"
            ]
        );
        assert!(got.iter().all(|e| e.0 == "/aws/lambda/f"));
        let stream = &got[0].1;
        assert!(got.iter().all(|e| &e.1 == stream));
        assert!(stream.contains("/[$LATEST]") && stream.len() == "2026/01/01/[$LATEST]".len() + 32);
        assert!(
            !dir.path().join("f.log").exists(),
            "no file beside an emitter"
        );
    }
}
