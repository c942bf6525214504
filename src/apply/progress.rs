//! The progress file of a position-based replay (sources without GTIDs).
//!
//! Owns recording, after each commit, the source file and offset up to which everything is
//! applied (written to a temporary file, fsynced, renamed), and reading it back so a re-run
//! skips what landed. With GTIDs the target's executed set is the record instead.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ApplyError;

/// Everything up to `pos` of `file` is applied on `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub target: String,
    /// The file's name (last path component), so the record survives moving the files.
    pub file: String,
    pub pos: u64,
}

fn err(path: &Path, detail: impl ToString) -> ApplyError {
    ApplyError::Progress {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    }
}

/// The last path component of a source file.
pub fn file_name(f: &str) -> String {
    Path::new(f)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| f.to_string())
}

impl Progress {
    pub fn load(path: &Path) -> Result<Option<Progress>, ApplyError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| err(path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(path, e)),
        }
    }

    /// Write durably: temporary file, fsync, rename, fsync of the directory.
    pub fn store(&self, path: &Path) -> Result<(), ApplyError> {
        let tmp: PathBuf = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| err(&tmp, e))?;
        f.write_all(
            serde_json::to_string(self)
                .map_err(|e| err(path, e))?
                .as_bytes(),
        )
        .map_err(|e| err(&tmp, e))?;
        f.sync_all().map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| err(path, e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Whether a transaction ending at `end` of `file` (index `file_index` among `files`) is
    /// covered by this record.
    pub fn covers(&self, files: &[String], file_index: usize, end: u64) -> bool {
        let Some(rec) = files.iter().position(|f| file_name(f) == self.file) else {
            return false;
        };
        file_index < rec || (file_index == rec && end <= self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_cover() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("progress.json");
        assert_eq!(Progress::load(&p).unwrap(), None);
        let pr = Progress {
            target: "h:1".into(),
            file: "binlog.000002".into(),
            pos: 500,
        };
        pr.store(&p).unwrap();
        assert_eq!(Progress::load(&p).unwrap(), Some(pr.clone()));
        let files = vec![
            "/a/binlog.000001".to_string(),
            "/a/binlog.000002".to_string(),
        ];
        assert!(pr.covers(&files, 0, 99_999));
        assert!(pr.covers(&files, 1, 500));
        assert!(!pr.covers(&files, 1, 501));
        assert!(!pr.covers(&["x".to_string()], 0, 1));
    }
}
