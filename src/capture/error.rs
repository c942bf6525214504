//! The one error type of the capture edge, [`CaptureError`]: what failed and what to do about
//! it. It wraps the protocol and spool errors rather than repeating them; it does not decide
//! which errors are worth a reconnect (that is `run`'s policy).

use std::path::PathBuf;

use crate::protocol::ProtocolError;

/// Everything that stops a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Talking to the master failed in a way a reconnect does not fix (credentials,
    /// privileges, a duplicate server id, a protocol violation).
    #[error("replication from {addr} failed: {source}")]
    Protocol {
        addr: String,
        #[source]
        source: ProtocolError,
    },

    /// The spool failed (its error says which file and what to do).
    #[error("capture into {dir}: {source}")]
    Spool {
        dir: PathBuf,
        #[source]
        source: crate::spool::SpoolError,
    },

    /// Reading the master's current state (binlog position, GTID state) for a fresh start.
    #[error("cannot read the master's state at {addr} ({what}): {detail}")]
    MasterState {
        addr: String,
        what: &'static str,
        detail: String,
    },

    /// `--gtid` against a MySQL master that does not write GTIDs.
    #[error(
        "--gtid needs gtid_mode=ON on the master {addr} (it is {mode}): start with --position \
         FILE:POS, or without either to capture from the master's current position"
    )]
    GtidModeOff { addr: String, mode: String },

    /// The master has binary logging off, so there is nothing to capture.
    #[error(
        "the master {addr} has no binary log (log_bin is OFF): enable log_bin on the master \
         to capture from it"
    )]
    NoBinlog { addr: String },

    /// A `FILE:POS` argument that does not parse.
    #[error("invalid binlog position {given:?}: expected FILE:POS, e.g. binlog.000012:4")]
    BadPosition { given: String },

    /// The master cannot continue the stream from where the spool ends, and the capture was
    /// told to stop rather than start a new origin.
    #[error(
        "continuity broken at {addr}: {message}; the break is recorded in the spool {dir}. \
         The spool cannot cover failovers across this point: restart the capture with \
         --on-break new-origin (or let the daemon do so) to keep capturing from the master's \
         current state"
    )]
    ContinuityBreak {
        addr: String,
        dir: PathBuf,
        message: String,
    },

    /// The master sent an event the capture cannot place (e.g. an event before any
    /// FORMAT_DESCRIPTION).
    #[error("unexpected event from {addr}: {detail}; this is a bug or a non-standard master")]
    Stream { addr: String, detail: String },

    /// Installing the SIGINT/SIGTERM handlers failed.
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

impl CaptureError {
    pub(crate) fn protocol(addr: &str, source: ProtocolError) -> CaptureError {
        CaptureError::Protocol {
            addr: addr.to_string(),
            source,
        }
    }
}
