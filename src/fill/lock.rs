//! One fill per cluster at a time.
//!
//! Owns the per-cluster lock file. Two fills of one cluster (orchestrator retrying a hook, two
//! raft leaders in a split) would apply the same transactions on two connections; the second
//! must refuse instead. The lock is an advisory file lock the kernel drops when the process
//! dies, so a crashed fill never leaves the cluster locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::FillError;

/// Held while the fill runs; released on drop or process exit.
#[derive(Debug)]
pub struct ClusterLock {
    _file: File,
    pub path: PathBuf,
}

impl ClusterLock {
    pub fn acquire(dir: &Path, cluster: &str) -> Result<ClusterLock, FillError> {
        let path = dir.join("fill.lock");
        let io = |source| FillError::Lock {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(FillError::Locked {
                    cluster: cluster.to_string(),
                    path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        let _ = writeln!(file, "{}", std::process::id());
        Ok(ClusterLock { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let a = ClusterLock::acquire(dir.path(), "c1").unwrap();
        assert!(matches!(
            ClusterLock::acquire(dir.path(), "c1"),
            Err(FillError::Locked { .. })
        ));
        drop(a);
        ClusterLock::acquire(dir.path(), "c1").unwrap();
    }
}
