//! The one error type of the daemon, [`DaemonError`]: what failed and what to do about it.
//!
//! It wraps the capture, spool and credentials errors rather than repeating them. It does not
//! decide what is retried (the cluster task and discovery decide that).

use std::path::PathBuf;

/// Everything that stops the daemon or one of its parts.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration has problems; every one of them is listed, one per line.
    #[error("{} problem(s) in {}:\n  {}", problems.len(), path.display(), problems.join("\n  "))]
    Config {
        path: PathBuf,
        problems: Vec<String>,
    },

    /// The status/metrics endpoint cannot listen.
    #[error("cannot listen on {addr} ([http] listen): {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },

    /// An HTTP request to orchestrator or to the daemon failed.
    #[error("{url}: {detail}")]
    Http { url: String, detail: String },

    /// An answer that does not have the expected shape.
    #[error("{what}: unexpected answer: {detail}")]
    Parse { what: String, detail: String },

    /// Installing the signal handlers failed.
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),

    /// Reading or writing a file the daemon owns (replica positions).
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Starting the async runtime failed.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
