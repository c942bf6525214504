//! Segment files: plain binlog files holding the master's events byte for byte.
//!
//! Owns writing one segment (magic, the master's FORMAT_DESCRIPTION, then events verbatim,
//! buffered and handed to the kernel at transaction ends), cutting it back, fsync of files and
//! directories, and reading a segment's FORMAT_DESCRIPTION back. The bytes themselves go
//! through [`crate::binlog::file_writer::BinlogFileWriter`], so a segment is a file
//! `mysqlbinlog` reads. It does not know where transactions end or what the index says.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::binlog::FormatDescription;
use crate::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use crate::binlog::file_writer::BinlogFileWriter;
use crate::binlog::header::HEADER_LEN;

use super::error::SpoolError;

/// Buffered bytes beyond this are written out even inside a transaction.
const FLUSH_AT: usize = 1 << 20;

/// The segment being written.
pub(crate) struct SegmentWriter {
    path: PathBuf,
    w: BinlogFileWriter,
    pending: Vec<u8>,
}

impl SegmentWriter {
    /// Create a new segment holding the magic and `fde_event` (the master's bytes).
    pub fn create(path: &Path, fde_event: &[u8]) -> Result<SegmentWriter, SpoolError> {
        let w = BinlogFileWriter::create(path, fde_event).map_err(SpoolError::binlog(path))?;
        Ok(SegmentWriter {
            path: path.to_path_buf(),
            w,
            pending: Vec::with_capacity(64 << 10),
        })
    }

    /// Reopen a segment to append after its first `len` bytes (anything after is cut off).
    pub fn reopen(path: &Path, len: u64) -> Result<SegmentWriter, SpoolError> {
        let w = BinlogFileWriter::append_at(path, len).map_err(SpoolError::binlog(path))?;
        Ok(SegmentWriter {
            path: path.to_path_buf(),
            w,
            pending: Vec::with_capacity(64 << 10),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logical length: bytes in the file plus bytes buffered.
    pub fn len(&self) -> u64 {
        self.w.len() + self.pending.len() as u64
    }

    /// Append one whole event.
    pub fn write(&mut self, event: &[u8]) -> Result<(), SpoolError> {
        self.pending.extend_from_slice(event);
        if self.pending.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Hand buffered bytes to the kernel (survives a process crash, not a power cut).
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        if !self.pending.is_empty() {
            self.w
                .append(&self.pending)
                .map_err(SpoolError::binlog(&self.path))?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Flush and fsync the data.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.flush()?;
        self.w.sync().map_err(SpoolError::binlog(&self.path))
    }

    /// Cut the segment back to `len` bytes (dropping an abandoned transaction).
    pub fn truncate(&mut self, len: u64) -> Result<(), SpoolError> {
        let file_len = self.w.len();
        if len >= file_len {
            self.pending.truncate((len - file_len) as usize);
            return Ok(());
        }
        self.pending.clear();
        self.w =
            BinlogFileWriter::append_at(&self.path, len).map_err(SpoolError::binlog(&self.path))?;
        Ok(())
    }
}

/// fsync a directory, so that files created or renamed in it survive a power cut.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(SpoolError::io("fsync directory", dir))
}

/// The FORMAT_DESCRIPTION a segment starts with: its bytes and its meaning.
pub(crate) fn read_fde(path: &Path) -> Result<(Vec<u8>, FormatDescription), SpoolError> {
    let mut r = BinlogFileReader::open(path).map_err(SpoolError::binlog(path))?;
    let bad = |detail: String| SpoolError::CorruptSegment {
        path: path.to_path_buf(),
        offset: 4,
        detail,
    };
    match r.next_event().map_err(SpoolError::binlog(path))? {
        ReadOutcome::Event { bytes, .. } => {
            if bytes[4] != 15 {
                return Err(bad(format!(
                    "the first event has type {}, not FORMAT_DESCRIPTION",
                    bytes[4]
                )));
            }
            let fde =
                FormatDescription::parse(&bytes[HEADER_LEN..]).map_err(|e| bad(e.to_string()))?;
            Ok((bytes.to_vec(), fde))
        }
        _ => Err(bad(
            "the file ends before its FORMAT_DESCRIPTION is complete".into(),
        )),
    }
}

/// Whether two FORMAT_DESCRIPTION events describe the same file: equal bodies, ignoring the
/// header (the master sends log_pos 0 mid-file, and clears the in-use flag on close) and the
/// CRC that covers it.
pub(crate) fn same_fde(a: &[u8], b: &[u8]) -> bool {
    let body = |e: &[u8]| -> Vec<u8> {
        let end = e.len().saturating_sub(4).max(HEADER_LEN.min(e.len()));
        e.get(HEADER_LEN..end).unwrap_or(&[]).to_vec()
    };
    body(a) == body(b)
}
