//! The one error type of the spool.
//!
//! Owns the wording of every spool failure: each message says what failed (which file, which
//! offset) and what the operator should do about it. It does not decide when to fail; the
//! modules that detect a problem do.

use std::path::PathBuf;

use crate::binlog::BinlogError;

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The file system refused an operation.
    #[error(
        "spool: cannot {action} {path}: {source}; check free space, permissions and the disk, then restart capture"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A segment file could not be read or written as a binlog.
    #[error("spool segment {path}: {source}")]
    Binlog {
        path: PathBuf,
        #[source]
        source: BinlogError,
    },
    /// A closed segment is damaged; recovery only cuts the segment being written.
    #[error(
        "spool segment {path} is corrupt at offset {offset}: {detail}; this segment was closed, so \
         recovery will not cut it: restore it from a backup, or move the cluster directory aside \
         and let capture start a fresh spool (its continuity proof starts anew)"
    )]
    CorruptSegment {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    /// An index became unreadable while the spool was open.
    #[error(
        "spool index {path} is damaged at offset {offset}: {detail}; reopen the spool \
         (Spool::open rebuilds damaged indexes from their segments)"
    )]
    CorruptIndex {
        path: PathBuf,
        offset: u64,
        detail: String,
    },
    /// The daemon's record of replica positions cannot be read.
    #[error("{path} is unreadable: {detail}; give the successor's position with --start FILE:POS")]
    ReplicaPositions { path: PathBuf, detail: String },
    /// Another process is writing this spool.
    #[error(
        "spool {dir} is being written by another process ({holder}); one capture per spool: stop \
         the other `gapfill capture`/`gapfill daemon` for this cluster, or read it with \
         Spool::open_read_only"
    )]
    Locked { dir: PathBuf, holder: String },
    /// A writing call on a spool opened read-only.
    #[error("spool {dir} was opened read-only: {what} is not allowed")]
    ReadOnly { dir: PathBuf, what: &'static str },
    /// An event handed to `append` is malformed.
    #[error(
        "spool: the master sent a malformed event ({detail}); nothing was written: capture \
         reconnects and fetches it again from where the spool ends; if it repeats, check the \
         network path to the master (a proxy rewriting packets?)"
    )]
    BadEvent { detail: String },
    /// `spool.json` cannot be read.
    #[error(
        "spool continuity record {path} is unreadable: {detail}; it is the proof of what the spool \
         holds, so gapfill will not guess: restore it, or move the cluster directory aside and \
         start a fresh spool"
    )]
    BadContinuity { path: PathBuf, detail: String },
    /// Segments exist but `spool.json` does not.
    #[error(
        "spool {dir} has epoch directories but no spool.json: where continuous capture started is \
         unknown; move the directory aside and start a fresh spool"
    )]
    MissingContinuity { dir: PathBuf },
    /// A closed segment listed in `spool.json` is gone.
    #[error(
        "spool segment {path} is listed in spool.json but missing (deleted by hand?); the spool \
         can no longer prove continuity: move the cluster directory aside and start a fresh spool"
    )]
    MissingSegment { path: PathBuf },
    /// `append` or `record_break` before `begin`.
    #[error(
        "spool: {what} before a capture session began (a gapfill bug: please report it with \
         the log); restart the capture, it resumes where the spool ends"
    )]
    NotBegun { what: &'static str },
    /// An event arrived before the FORMAT_DESCRIPTION that says how to read it.
    #[error(
        "spool: {event} event arrived before any FORMAT_DESCRIPTION; a dump session starts with \
         ROTATE then FORMAT_DESCRIPTION: pass every event except heartbeats to append"
    )]
    NoFormatDescription { event: &'static str },
    /// A FORMAT_DESCRIPTION arrived but nothing named the master's file.
    #[error(
        "spool: a FORMAT_DESCRIPTION arrived but no ROTATE named the master's binlog file; pass \
         ROTATE events to append, including the master's artificial one at the start of a dump"
    )]
    UnknownFile,
    /// `begin` was given a start point of another kind than the spool's.
    #[error(
        "spool: start point {given} does not fit this spool, which proves continuity by {mode}; \
         start capture the same way, or use a new spool directory"
    )]
    ModeMismatch { given: String, mode: String },
    /// The stream jumped back to a file that is an earlier segment of this epoch.
    #[error(
        "spool: the master's stream went back to {file}, a binlog file this spool already holds \
         past: the server at this address changed or reset its binlog; capture reconnects and \
         resumes where the spool ends; if it repeats, check which server the cluster's address \
         reaches (gapfill status shows the master and any unsettled question)"
    )]
    StreamWentBack { file: String },
}

impl SpoolError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SpoolError {
        let path = path.into();
        move |source| SpoolError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn binlog(path: impl Into<PathBuf>) -> impl FnOnce(BinlogError) -> SpoolError {
        let path = path.into();
        move |source| SpoolError::Binlog { path, source }
    }
}
