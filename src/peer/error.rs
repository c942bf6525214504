//! The one error type of peer exchange.

use std::path::PathBuf;

use crate::apply::ApplyError;
use crate::spool::{NotCovered, SpoolError};

/// Why serving or receiving a peer's transactions failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The spool has no GTIDs to compare or serve by (position mode, or empty).
    #[error("the spool of cluster {cluster} has no GTIDs ({mode}): peers exchange by GTID only")]
    NoGtids { cluster: String, mode: String },
    /// The requested position is not a GTID set / MariaDB position of the spool's flavor.
    #[error("bad position {value:?}: {detail}")]
    BadPosition { value: String, detail: String },
    /// The spool cannot prove it holds everything after the requested position.
    #[error("this spool does not hold every transaction after the requested position: {0}")]
    NotCovered(NotCovered),
    /// The received stream is not what was promised.
    #[error(
        "the stream from peer {peer} does not match its promise: {detail}; it was discarded \
         (the fill goes on without this peer)"
    )]
    Mismatch { peer: String, detail: String },
    /// The received stream disagrees with this node's own spool: a transaction both hold has
    /// other bytes, or it does not continue what this node holds.
    #[error(
        "the stream from peer {peer} does not continue this node's spool: {detail}; it was \
         discarded (the fill goes on without this peer): check that the peer follows the same \
         master of the same cluster"
    )]
    Diverges { peer: String, detail: String },
    /// The received stream could not be read as binlog transactions.
    #[error("the stream from peer {peer} is not valid: {source}")]
    Invalid {
        peer: String,
        #[source]
        source: Box<ApplyError>,
    },
    #[error("peer stream file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
