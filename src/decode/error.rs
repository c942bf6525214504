//! Why `gapfill decode` stopped.

use std::path::PathBuf;

use crate::binlog::BinlogError;

/// A decode run failed: bad input (with file and offset) or an unwritable output.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Binlog(#[from] BinlogError),
    #[error(
        "{path}: the file ends inside an event at offset {offset} ({have} bytes of it present): \
         the file was cut short (copied while being written, or the server crashed); \
         every event before that offset was decoded"
    )]
    TornTail {
        path: PathBuf,
        offset: u64,
        have: usize,
    },
    #[error("{path}: the first event is {found}, not a FORMAT_DESCRIPTION: not a v4 binlog")]
    NoFormatDescription { path: PathBuf, found: &'static str },
    #[error("writing the output: {0}")]
    Output(#[source] std::io::Error),
}
