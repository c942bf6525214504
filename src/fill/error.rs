//! Why a fill could not run to the end.

use std::path::PathBuf;

/// A fill that stopped before applying anything, or the setup around applying.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error(
        "{what} is the literal placeholder {value:?}: orchestrator had no value for it yet. \
         Run gapfill fill from PostMasterFailoverProcesses (or PostFailoverProcesses), \
         where the successor is known"
    )]
    UnresolvedPlaceholder { what: &'static str, value: String },
    #[error("{what} {value:?} is not HOST:PORT")]
    BadAddress { what: &'static str, value: String },
    #[error("--cluster: {0}")]
    BadCluster(String),
    #[error(
        "another gapfill fill for cluster {cluster} holds {path}: wait for it to finish \
         (a second fill would apply the same transactions concurrently)"
    )]
    Locked { cluster: String, path: PathBuf },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no spool for cluster {cluster} at {path}: is the daemon capturing this cluster with this --spool-dir?"
    )]
    NoSpool { cluster: String, path: PathBuf },
    #[error(transparent)]
    Spool(#[from] crate::spool::SpoolError),
    #[error("successor {addr}: {action}: {source}")]
    Successor {
        addr: String,
        action: String,
        source: mysql_async::Error,
    },
    #[error(
        "successor {addr}: its SQL thread did not apply what it had received within {seconds} s \
         ({detail}); raise --wait-timeout or check the replica's SQL thread"
    )]
    SqlThreadTimeout {
        addr: String,
        seconds: u64,
        detail: String,
    },
    #[error("successor {addr}: {detail}")]
    SuccessorState { addr: String, detail: String },
    #[error(transparent)]
    Apply(#[from] crate::apply::ApplyError),
    #[error("writing the report {path}: {source}")]
    Report {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FillError {
    /// For `map_err`: `action` failed on the successor at `addr`.
    pub(crate) fn on_successor(
        addr: &str,
        action: &str,
    ) -> impl FnOnce(mysql_async::Error) -> FillError + use<> {
        let (addr, action) = (addr.to_string(), action.to_string());
        move |source| FillError::Successor {
            addr,
            action,
            source,
        }
    }
}
