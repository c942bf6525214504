//! Streaming reader of binlog files: binlogs, relay logs and `mysqlbinlog --raw` output.
//!
//! Owns the file magic, buffering, and locating each event's bytes; it hands out borrowed
//! slices of its buffer (a lending iterator), so reading a file copies each byte once from the
//! kernel and never again. It does not decode bodies: [`crate::binlog::stream::EventStream`]
//! does, so the same decoding serves files and the replication stream.
//!
//! Errors carry the file name and offset. A file that ends inside an event (a torn tail, as a
//! crash or a live binlog leaves) is reported as [`ReadOutcome::TornTail`] rather than an error,
//! so callers can decide: the decoder reports it, the spool cuts it off.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::BINLOG_MAGIC;
use super::error::{BinlogError, Result};
use super::header::{EventHeader, HEADER_LEN};

/// Initial read buffer; grows to hold the largest event seen. Small enough that the bytes a
/// refill copies are still in the L2 cache when the decoder reads them (4 MiB was not).
const BUF_SIZE: usize = 512 << 10;
/// Events larger than this are treated as corruption (the server's limit is 1 GiB).
pub const MAX_EVENT_SIZE: u32 = 1 << 30;

/// What the reader found at the current position.
#[derive(Debug)]
pub enum ReadOutcome<'a> {
    /// A whole event: its offset in the file and its bytes (header to checksum).
    Event { offset: u64, bytes: &'a [u8] },
    /// The file ended cleanly at an event boundary.
    End,
    /// The file ends inside an event starting at `offset`, with `have` of its bytes present.
    TornTail { offset: u64, have: usize },
}

/// A binlog file opened for sequential reading.
pub struct BinlogFileReader<R = File> {
    path: PathBuf,
    src: R,
    buf: Vec<u8>,
    /// Start and end of unread data in `buf`.
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl BinlogFileReader<File> {
    /// Open a file and check its magic.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let f = File::open(path).map_err(|source| BinlogError::Io {
            action: "open",
            path: path.to_path_buf(),
            source,
        })?;
        Self::new(path, f)
    }
}

impl<R: Read> BinlogFileReader<R> {
    /// Wrap any byte source that starts with the binlog magic.
    pub fn new(path: impl Into<PathBuf>, src: R) -> Result<Self> {
        let mut r = BinlogFileReader {
            path: path.into(),
            src,
            buf: vec![0; BUF_SIZE],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        };
        r.fill(4)?;
        let have = r.end - r.start;
        if have < 4 || r.buf[..4] != BINLOG_MAGIC {
            let found = r.buf[..have.min(4)].to_vec();
            return Err(BinlogError::BadMagic { found }.in_file(&r.path, 0));
        }
        r.start = 4;
        r.offset = 4;
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File offset of the next event.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Ensure at least `n` unread bytes are buffered unless the source ends first.
    fn fill(&mut self, n: usize) -> Result<()> {
        if self.end - self.start >= n || self.eof {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < n {
            if self.end == self.buf.len() {
                // Grow as the bytes arrive, not to the size a (possibly corrupt) header
                // claims: a short file must not make us allocate up to MAX_EVENT_SIZE.
                let want = (self.buf.len().saturating_mul(2).max(BUF_SIZE))
                    .min(n.next_power_of_two())
                    .max(self.end + 1);
                self.buf.resize(want, 0);
            }
            let got =
                self.src
                    .read(&mut self.buf[self.end..])
                    .map_err(|source| BinlogError::Io {
                        action: "read",
                        path: self.path.clone(),
                        source,
                    })?;
            if got == 0 {
                self.eof = true;
                break;
            }
            self.end += got;
        }
        Ok(())
    }

    /// Skip forward to `pos` (an event boundary the caller knows, e.g. `--start-position`).
    pub fn skip_to(&mut self, pos: u64) -> Result<()> {
        if pos < self.offset {
            return Err(BinlogError::invalid(
                "start position",
                format!("{pos} is before the current offset {}", self.offset),
            )
            .in_file(&self.path, self.offset));
        }
        let mut left = pos - self.offset;
        while left > 0 {
            let have = (self.end - self.start) as u64;
            if have == 0 {
                self.fill(1)?;
                if self.end == self.start {
                    return Err(BinlogError::invalid(
                        "start position",
                        format!("{pos} is beyond the end of the file ({})", self.offset),
                    )
                    .in_file(&self.path, self.offset));
                }
                continue;
            }
            let step = have.min(left);
            self.start += step as usize;
            self.offset += step;
            left -= step;
        }
        Ok(())
    }

    /// The next event's bytes, borrowed until the next call.
    pub fn next_event(&mut self) -> Result<ReadOutcome<'_>> {
        self.fill(HEADER_LEN)?;
        let have = self.end - self.start;
        if have == 0 {
            return Ok(ReadOutcome::End);
        }
        if have < HEADER_LEN {
            return Ok(ReadOutcome::TornTail {
                offset: self.offset,
                have,
            });
        }
        let header = EventHeader::parse(&self.buf[self.start..self.end])
            .map_err(|e| e.in_file(&self.path, self.offset))?;
        if header.event_size > MAX_EVENT_SIZE {
            return Err(BinlogError::invalid(
                "event header",
                format!(
                    "event size {} exceeds the 1 GiB limit: corrupt header",
                    header.event_size
                ),
            )
            .in_file(&self.path, self.offset));
        }
        let size = header.event_size as usize;
        self.fill(size)?;
        let have = self.end - self.start;
        if have < size {
            return Ok(ReadOutcome::TornTail {
                offset: self.offset,
                have,
            });
        }
        let at = self.start;
        let offset = self.offset;
        self.start += size;
        self.offset += size as u64;
        Ok(ReadOutcome::Event {
            offset,
            bytes: &self.buf[at..at + size],
        })
    }
}

/// Split a buffer of back-to-back events (an expanded TRANSACTION_PAYLOAD) into event slices.
pub fn split_events(mut buf: &[u8]) -> impl Iterator<Item = Result<&[u8]>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let r = EventHeader::parse(buf).and_then(|h| {
            let size = h.event_size as usize;
            if size > buf.len() {
                Err(BinlogError::Truncated {
                    what: "event inside transaction payload",
                    needed: size,
                    available: buf.len(),
                })
            } else {
                Ok(size)
            }
        });
        match r {
            Ok(size) => {
                let (ev, rest) = buf.split_at(size);
                buf = rest;
                Some(Ok(ev))
            }
            Err(e) => {
                buf = &[];
                Some(Err(e))
            }
        }
    })
}
