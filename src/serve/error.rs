//! The one error type of the replication source ([`ServeError`]).

use std::path::PathBuf;

/// Why serving a replica (or starting to) failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A packet from the replica does not have the layout its type requires.
    #[error("malformed {what} from the replica: {detail}")]
    Malformed { what: &'static str, detail: String },

    /// The replica sent a command or query gapfill does not answer.
    #[error("{0}")]
    Unsupported(String),

    /// Authentication failed (wrong user or password, or a refused method).
    #[error("access denied for user '{user}': {detail}")]
    AccessDenied { user: String, detail: String },

    /// The dump cannot be served: the replica asked for what the spool does not hold, or the
    /// spool cannot prove it holds everything after the replica's position.
    #[error("{0}")]
    CannotServe(String),

    /// The spool could not be read.
    #[error("spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),

    /// A configuration value is unusable (TLS files, listen address, spool mode).
    #[error("{0}")]
    Config(String),

    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The network failed or the replica went away.
    #[error("connection with {peer}: {action}: {source}")]
    Io {
        peer: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// Packet framing failed (sequence out of order, oversized payload).
    #[error("{0}")]
    Packet(crate::protocol::ProtocolError),

    /// The TLS handshake with the replica failed.
    #[error("TLS with {peer}: {detail}")]
    Tls { peer: String, detail: String },
}

impl ServeError {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> ServeError {
        ServeError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

/// The shared reader's short reads are the replica's malformed packets; the rest is framing.
impl From<crate::protocol::ProtocolError> for ServeError {
    fn from(e: crate::protocol::ProtocolError) -> ServeError {
        match e {
            crate::protocol::ProtocolError::Malformed { what, detail } => {
                ServeError::Malformed { what, detail }
            }
            other => ServeError::Packet(other),
        }
    }
}

pub type Result<T, E = ServeError> = std::result::Result<T, E>;
