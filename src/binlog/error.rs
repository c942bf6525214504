//! The one error type of the binlog format layer.
//!
//! Every decoder in `binlog/` returns [`BinlogError`]; none of them panics on any input. Errors
//! carry enough context (what was being read, where) for a DBA to find the bad bytes; the file
//! reader adds the file name and offset with [`BinlogError::InFile`].

use std::path::PathBuf;

/// Why bytes could not be read as a binlog.
#[derive(Debug, thiserror::Error)]
pub enum BinlogError {
    /// The input ended before a field was complete: a torn file tail or a cut packet.
    #[error("truncated {what}: needed {needed} bytes, {available} available")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// The bytes are present but do not form a valid value of the named structure.
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// A well-formed construct this version of gapfill does not handle.
    #[error("unsupported {what}: {detail}")]
    Unsupported { what: &'static str, detail: String },
    /// The file does not start with the binlog magic `\xfebin`.
    #[error("not a binlog file: bad magic {found:02x?} (expected fe 62 69 6e)")]
    BadMagic { found: Vec<u8> },
    /// The CRC32 stored in the event does not match its bytes: the event is corrupt.
    #[error("CRC32 mismatch in {event} event: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        event: &'static str,
        stored: u32,
        computed: u32,
    },
    /// The binlog is encrypted (START_ENCRYPTION_EVENT); gapfill does not hold the keys.
    #[error(
        "binlog is encrypted (START_ENCRYPTION_EVENT, scheme {scheme}, key version {key_version}); \
         encrypted binlogs are out of scope: decrypt with the server's tools first"
    )]
    Encrypted { scheme: u8, key_version: u32 },
    /// A rows event names a table id no TABLE_MAP has introduced.
    #[error("rows event for table id {table_id} without a preceding TABLE_MAP event")]
    UnknownTable { table_id: u64 },
    /// A compressed payload could not be expanded.
    #[error("cannot decompress {what}: {detail}")]
    Decompress { what: &'static str, detail: String },
    /// Reading or writing the file itself failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An error located in a file, so the reader can be pointed at the bad event.
    #[error("{path} at offset {offset}: {source}")]
    InFile {
        path: PathBuf,
        offset: u64,
        #[source]
        source: Box<BinlogError>,
    },
}

impl BinlogError {
    /// Shorthand for [`BinlogError::Invalid`] with a formatted detail.
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        BinlogError::Invalid {
            what,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`BinlogError::Unsupported`].
    pub fn unsupported(what: &'static str, detail: impl Into<String>) -> Self {
        BinlogError::Unsupported {
            what,
            detail: detail.into(),
        }
    }

    /// Attach a file and offset unless the error already has them.
    pub fn in_file(self, path: impl Into<PathBuf>, offset: u64) -> Self {
        match self {
            e @ BinlogError::InFile { .. } | e @ BinlogError::Io { .. } => e,
            other => BinlogError::InFile {
                path: path.into(),
                offset,
                source: Box::new(other),
            },
        }
    }
}

/// Result alias for the binlog layer.
pub type Result<T, E = BinlogError> = std::result::Result<T, E>;
