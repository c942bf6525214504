//! Writer of valid binlog files.
//!
//! Owns producing bytes `mysqlbinlog` and the server accept: the magic, a FORMAT_DESCRIPTION,
//! then events appended verbatim (as the master sent them) or built here with a correct header
//! and CRC32. It does not decide what to write or when to sync; callers (the spool) do.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::BINLOG_MAGIC;
use super::checksum::{ChecksumAlg, compute_crc32};
use super::error::{BinlogError, Result};
use super::event::header_bytes;
use super::event_type::EventType;
use super::format::FormatDescription;
use super::header::{EventHeader, HEADER_LEN};

/// Build a whole event from a header template (its `event_size` is ignored) and body, filling in
/// size and checksum.
pub fn build_event(template: EventHeader, body: &[u8], checksum: ChecksumAlg, out: &mut Vec<u8>) {
    let size = HEADER_LEN + body.len() + checksum.trailer_len();
    let header = EventHeader {
        event_size: size as u32,
        ..template
    };
    let start = out.len();
    out.extend_from_slice(&header_bytes(&header));
    out.extend_from_slice(body);
    if checksum == ChecksumAlg::Crc32 {
        let crc = compute_crc32(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }
}

/// The bytes of a FORMAT_DESCRIPTION event for `fde`.
pub fn format_description_event(
    fde: &FormatDescription,
    timestamp: u32,
    server_id: u32,
) -> Vec<u8> {
    let mut body = fde.encode_body();
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + 4);
    // The description itself always carries the 4-byte trailer after its algorithm byte.
    if fde.checksum == ChecksumAlg::Off {
        body.extend_from_slice(&[0; 4]);
    }
    let template = EventHeader {
        timestamp,
        event_type: EventType::FormatDescription,
        server_id,
        event_size: 0,
        log_pos: (4 + HEADER_LEN + body.len() + fde.checksum.trailer_len()) as u32,
        flags: 0,
    };
    build_event(template, &body, fde.checksum, &mut out);
    out
}

/// A binlog file being written.
pub struct BinlogFileWriter {
    path: PathBuf,
    file: File,
    len: u64,
}

impl BinlogFileWriter {
    /// Create a new file with the magic and `fde_event` (the exact bytes of a FORMAT_DESCRIPTION
    /// event, usually the master's own).
    pub fn create(path: impl AsRef<Path>, fde_event: &[u8]) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| BinlogError::Io {
                action: "create",
                path: path.clone(),
                source,
            })?;
        let mut w = BinlogFileWriter { path, file, len: 0 };
        w.write_raw(&BINLOG_MAGIC)?;
        w.write_raw(fde_event)?;
        Ok(w)
    }

    /// Reopen an existing file for appending at `len` (everything after it is cut off, e.g. a
    /// torn tail found by the reader).
    pub fn append_at(path: impl AsRef<Path>, len: u64) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let io = |action| {
            let p = path.clone();
            move |source| BinlogError::Io {
                action,
                path: p,
                source,
            }
        };
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io("open for append"))?;
        file.set_len(len).map_err(io("truncate"))?;
        let mut file = file;
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(len))
            .map_err(io("seek"))?;
        Ok(BinlogFileWriter { path, file, len })
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|source| BinlogError::Io {
                action: "write",
                path: self.path.clone(),
                source,
            })?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Append whole events (one or several back to back) verbatim.
    pub fn append(&mut self, events: &[u8]) -> Result<u64> {
        let at = self.len;
        self.write_raw(events)?;
        Ok(at)
    }

    /// Make everything written so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|source| BinlogError::Io {
            action: "fsync",
            path: self.path.clone(),
            source,
        })
    }

    /// Bytes in the file, magic included.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::Event;
    use super::super::file_reader::{BinlogFileReader, ReadOutcome};
    use super::*;

    #[test]
    fn written_file_reads_back_with_valid_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.000001");
        let fde = FormatDescription::synthetic("9.7.0", ChecksumAlg::Crc32);
        let fde_ev = format_description_event(&fde, 1, 7);
        let mut w = BinlogFileWriter::create(&p, &fde_ev).unwrap();
        let mut ev = Vec::new();
        let template = EventHeader {
            timestamp: 2,
            event_type: EventType::Xid,
            server_id: 7,
            event_size: 0,
            log_pos: 0,
            flags: 0,
        };
        build_event(template, &42u64.to_le_bytes(), ChecksumAlg::Crc32, &mut ev);
        w.append(&ev).unwrap();
        w.sync().unwrap();
        let mut r = BinlogFileReader::open(&p).unwrap();
        let mut n = 0;
        while let ReadOutcome::Event { bytes, .. } = r.next_event().unwrap() {
            let e = Event::parse(bytes, &fde, true).unwrap();
            n += 1;
            if let super::super::EventBody::Xid(x) = e.body {
                assert_eq!(x, 42);
            }
        }
        assert_eq!(n, 2);
        // A torn tail is reported, not an error.
        let len = std::fs::metadata(&p).unwrap().len();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 3).unwrap();
        let mut r = BinlogFileReader::open(&p).unwrap();
        assert!(matches!(r.next_event().unwrap(), ReadOutcome::Event { .. }));
        assert!(
            matches!(r.next_event().unwrap(), ReadOutcome::TornTail { have, .. } if have == ev.len() - 3)
        );
    }
}
