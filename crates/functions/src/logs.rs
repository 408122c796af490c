//! Per-function logs: one append-only file per function under `<data_dir>/logs/<name>.log`,
//! holding what its environments printed and the START/END/REPORT lines, like a CloudWatch
//! log group. Must not: fail an invocation because a log write failed (logs are best effort;
//! the first failure is reported through tracing).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct LogSink {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl LogSink {
    pub fn open(dir: &Path, function: &str) -> Self {
        let path = dir.join(format!("{function}.log"));
        let file = std::fs::create_dir_all(dir)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
            })
            .map_err(|e| tracing::warn!(error = %e, path = %path.display(), "lambda: cannot open the function log"))
            .ok();
        Self {
            path,
            file: Mutex::new(file),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, bytes: &[u8]) {
        if let Ok(mut guard) = self.file.lock()
            && let Some(f) = guard.as_mut()
            && let Err(e) = f.write_all(bytes)
        {
            tracing::warn!(error = %e, path = %self.path.display(), "lambda: function log write failed; logging to it stops");
            *guard = None;
        }
    }
}
