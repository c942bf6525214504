//! The transaction index of one segment: `index/<segment>.gfi`.
//!
//! Owns the on-disk record format and its streaming reader and buffered writer. The file is
//! an 8-byte magic followed by append-only records, each `len u32 | body | crc32 u32` (the CRC
//! covers `len` and `body`, little-endian throughout). A body starts with its kind:
//!
//! * `1` transaction: `gtid_kind u8` (0 none; 1 MySQL: `uuid[16], tag_len u8, tag, gno u64`;
//!   2 MariaDB: `domain u32, server u32, seq u64`), `end u8`, `opt u8` (bit 0 logical clock,
//!   bit 1 original commit time, bit 2 MariaDB commit id), `local_start u64, local_end u64,
//!   master_start u64, master_end u64, commit_ts_us u64, events u32`, then the optional
//!   fields in bit order (`last_committed u64, sequence_number u64`; `original_ts u64`;
//!   `commit_id u64`).
//! * `2` seal: `segment_len u64, txns u64`, written when the segment is closed: an index
//!   whose seal matches its segment's length is complete and trusted without a rescan.
//!
//! The index is derived data: `recovery.rs` rebuilds it from the segment whenever it is
//! missing, damaged or disagrees. This file does not decide that, nor where records come from.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::binlog::gtid_event::LogicalClock;
use crate::binlog::gtid_set::{Gtid, Tag, Uuid};
use crate::binlog::mariadb_gtid::MariadbGtid;

use super::error::SpoolError;
use super::types::{TxnEnd, TxnGtid};

/// First bytes of every index file (format version 1).
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"GFIDX01\n";
/// A record body larger than this is damage, not data.
const MAX_BODY: u32 = 4096;
const KIND_TXN: u8 = 1;
const KIND_SEAL: u8 = 2;

/// One transaction as the index stores it (the segment and epoch are implied by the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexRecord {
    pub gtid: Option<TxnGtid>,
    pub end: TxnEnd,
    pub local_start: u64,
    pub local_end: u64,
    pub master_start: u64,
    pub master_end: u64,
    pub commit_ts_us: u64,
    pub events: u32,
    pub logical_clock: Option<LogicalClock>,
    pub original_commit_ts_us: Option<u64>,
    pub mariadb_commit_id: Option<u64>,
}

/// One record of an index file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Txn(IndexRecord),
    Seal { segment_len: u64, txns: u64 },
}

/// Append the framed bytes of `e` to `out`.
pub(crate) fn encode(e: &Entry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    match e {
        Entry::Seal { segment_len, txns } => {
            out.push(KIND_SEAL);
            out.extend_from_slice(&segment_len.to_le_bytes());
            out.extend_from_slice(&txns.to_le_bytes());
        }
        Entry::Txn(r) => {
            out.push(KIND_TXN);
            match &r.gtid {
                None => out.push(0),
                Some(TxnGtid::MySql(g)) => {
                    out.push(1);
                    out.extend_from_slice(&g.uuid.0);
                    let tag = g.tag.as_ref().map(|t| t.as_str().as_bytes()).unwrap_or(&[]);
                    out.push(tag.len() as u8);
                    out.extend_from_slice(tag);
                    out.extend_from_slice(&g.gno.to_le_bytes());
                }
                Some(TxnGtid::MariaDb(g)) => {
                    out.push(2);
                    out.extend_from_slice(&g.domain.to_le_bytes());
                    out.extend_from_slice(&g.server.to_le_bytes());
                    out.extend_from_slice(&g.seq.to_le_bytes());
                }
            }
            out.push(r.end.code());
            let opt = u8::from(r.logical_clock.is_some())
                | u8::from(r.original_commit_ts_us.is_some()) << 1
                | u8::from(r.mariadb_commit_id.is_some()) << 2;
            out.push(opt);
            for v in [
                r.local_start,
                r.local_end,
                r.master_start,
                r.master_end,
                r.commit_ts_us,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&r.events.to_le_bytes());
            if let Some(c) = r.logical_clock {
                out.extend_from_slice(&c.last_committed.to_le_bytes());
                out.extend_from_slice(&c.sequence_number.to_le_bytes());
            }
            if let Some(o) = r.original_commit_ts_us {
                out.extend_from_slice(&o.to_le_bytes());
            }
            if let Some(c) = r.mariadb_commit_id {
                out.extend_from_slice(&c.to_le_bytes());
            }
        }
    }
    let body_len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A little cursor that reports damage as text.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err(format!("record body ends early (needed {n} more bytes)"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

fn decode_body(body: &[u8]) -> Result<Entry, String> {
    let mut b = Body(body);
    let e = match b.u8()? {
        KIND_SEAL => Entry::Seal {
            segment_len: b.u64()?,
            txns: b.u64()?,
        },
        KIND_TXN => {
            let gtid = match b.u8()? {
                0 => None,
                1 => {
                    let mut uuid = [0u8; 16];
                    uuid.copy_from_slice(b.take(16)?);
                    let tl = b.u8()? as usize;
                    let tag = match tl {
                        0 => None,
                        _ => {
                            let t = std::str::from_utf8(b.take(tl)?)
                                .map_err(|_| "tag is not UTF-8".to_string())?;
                            Some(Tag::new(t).map_err(|e| e.to_string())?)
                        }
                    };
                    let gno = b.u64()?;
                    Some(TxnGtid::MySql(Gtid {
                        uuid: Uuid(uuid),
                        tag,
                        gno,
                    }))
                }
                2 => Some(TxnGtid::MariaDb(MariadbGtid::new(
                    b.u32()?,
                    b.u32()?,
                    b.u64()?,
                ))),
                k => return Err(format!("unknown GTID kind {k}")),
            };
            let end_code = b.u8()?;
            let end = TxnEnd::from_code(end_code)
                .ok_or_else(|| format!("unknown end kind {end_code}"))?;
            let opt = b.u8()?;
            let mut r = IndexRecord {
                gtid,
                end,
                local_start: b.u64()?,
                local_end: b.u64()?,
                master_start: b.u64()?,
                master_end: b.u64()?,
                commit_ts_us: b.u64()?,
                events: b.u32()?,
                logical_clock: None,
                original_commit_ts_us: None,
                mariadb_commit_id: None,
            };
            if opt & 1 != 0 {
                r.logical_clock = Some(LogicalClock {
                    last_committed: b.u64()?,
                    sequence_number: b.u64()?,
                });
            }
            if opt & 2 != 0 {
                r.original_commit_ts_us = Some(b.u64()?);
            }
            if opt & 4 != 0 {
                r.mariadb_commit_id = Some(b.u64()?);
            }
            if r.local_end <= r.local_start {
                return Err(format!(
                    "transaction range {}..{} is empty",
                    r.local_start, r.local_end
                ));
            }
            Entry::Txn(r)
        }
        k => return Err(format!("unknown record kind {k}")),
    };
    if !b.0.is_empty() {
        return Err(format!("{} unexpected bytes after the record", b.0.len()));
    }
    Ok(e)
}

/// What the reader found next.
#[derive(Debug)]
pub(crate) enum ReadEntry {
    /// A valid record; `next` is the offset after it.
    Entry { entry: Entry, next: u64 },
    /// Clean end of file.
    End,
    /// A torn or corrupt record at `offset` (everything from there on is untrusted).
    Damaged { offset: u64, detail: String },
}

/// Streams the records of one index file: O(1) memory whatever its size.
pub(crate) struct IndexReader {
    path: PathBuf,
    r: BufReader<File>,
    offset: u64,
    body: Vec<u8>,
}

impl IndexReader {
    /// Open an index; `Ok(None)` when the file does not exist, `Err` only for I/O failures.
    /// A bad magic is reported by the first `next` as damage at offset 0.
    pub fn open(path: &Path) -> Result<Option<IndexReader>, SpoolError> {
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SpoolError::io("open index", path)(e)),
        };
        Ok(Some(IndexReader {
            path: path.to_path_buf(),
            r: BufReader::with_capacity(64 << 10, f),
            offset: 0,
            body: Vec::with_capacity(128),
        }))
    }

    /// Read up to `want` bytes into `self.body`; returns how many the file had.
    fn read_up_to(&mut self, want: usize) -> Result<usize, SpoolError> {
        self.body.resize(want, 0);
        let mut got = 0;
        while got < want {
            match self.r.read(&mut self.body[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SpoolError::io("read index", &self.path)(e)),
            }
        }
        Ok(got)
    }

    pub fn next_entry(&mut self) -> Result<ReadEntry, SpoolError> {
        let at = self.offset;
        if at == 0 {
            if self.read_up_to(8)? < 8 || self.body[..8] != INDEX_MAGIC {
                return Ok(ReadEntry::Damaged {
                    offset: 0,
                    detail: "missing or bad index magic".into(),
                });
            }
            self.offset = 8;
            return self.next_entry();
        }
        match self.read_up_to(4)? {
            0 => return Ok(ReadEntry::End),
            4 => {}
            _ => {
                return Ok(ReadEntry::Damaged {
                    offset: at,
                    detail: "torn record length at the end of the file".into(),
                });
            }
        }
        let len = u32::from_le_bytes([self.body[0], self.body[1], self.body[2], self.body[3]]);
        if len == 0 || len > MAX_BODY {
            return Ok(ReadEntry::Damaged {
                offset: at,
                detail: format!("record length {len} is out of range"),
            });
        }
        let mut framed = Vec::with_capacity(len as usize + 8);
        framed.extend_from_slice(&len.to_le_bytes());
        if self.read_up_to(len as usize + 4)? < len as usize + 4 {
            return Ok(ReadEntry::Damaged {
                offset: at,
                detail: "torn record at the end of the file".into(),
            });
        }
        framed.extend_from_slice(&self.body[..len as usize]);
        let stored = u32::from_le_bytes(
            self.body[len as usize..len as usize + 4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        if crc32fast::hash(&framed) != stored {
            return Ok(ReadEntry::Damaged {
                offset: at,
                detail: "record CRC32 mismatch".into(),
            });
        }
        match decode_body(&framed[4..]) {
            Ok(entry) => {
                self.offset = at + 4 + u64::from(len) + 4;
                Ok(ReadEntry::Entry {
                    entry,
                    next: self.offset,
                })
            }
            Err(detail) => Ok(ReadEntry::Damaged { offset: at, detail }),
        }
    }
}

/// Appends records to one index file, buffered until `flush`/`sync`.
pub(crate) struct IndexWriter {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Bytes in the file plus the buffer.
    len: u64,
}

impl IndexWriter {
    /// Create (or replace) an index file holding only the magic.
    pub fn create(path: &Path) -> Result<IndexWriter, SpoolError> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(SpoolError::io("create index", path))?;
        let mut w = IndexWriter {
            path: path.to_path_buf(),
            file,
            buf: INDEX_MAGIC.to_vec(),
            len: INDEX_MAGIC.len() as u64,
        };
        w.flush()?;
        Ok(w)
    }

    /// Reopen an existing index to append after its first `len` bytes (the rest is cut).
    pub fn append_at(path: &Path, len: u64) -> Result<IndexWriter, SpoolError> {
        let mut file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(SpoolError::io("open index", path))?;
        file.set_len(len)
            .map_err(SpoolError::io("truncate index", path))?;
        file.seek(SeekFrom::Start(len))
            .map_err(SpoolError::io("seek index", path))?;
        Ok(IndexWriter {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(4096),
            len,
        })
    }

    pub fn push(&mut self, e: &Entry) {
        let before = self.buf.len();
        encode(e, &mut self.buf);
        self.len += (self.buf.len() - before) as u64;
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Hand buffered records to the kernel.
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        if !self.buf.is_empty() {
            self.file
                .write_all(&self.buf)
                .map_err(SpoolError::io("write index", &self.path))?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flush and fsync.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.flush()?;
        self.file
            .sync_data()
            .map_err(SpoolError::io("fsync index", &self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(gtid: Option<TxnGtid>) -> IndexRecord {
        IndexRecord {
            gtid,
            end: TxnEnd::Xid,
            local_start: 100,
            local_end: 200,
            master_start: 1000,
            master_end: 1100,
            commit_ts_us: 1_700_000_000_000_000,
            events: 5,
            logical_clock: Some(LogicalClock {
                last_committed: 3,
                sequence_number: 4,
            }),
            original_commit_ts_us: Some(1),
            mariadb_commit_id: None,
        }
    }

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.gfi");
        let g = Gtid::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_1:42").unwrap();
        let entries = vec![
            Entry::Txn(rec(Some(TxnGtid::MySql(g)))),
            Entry::Txn(rec(Some(TxnGtid::MariaDb(MariadbGtid::new(1, 2, 3))))),
            Entry::Txn(IndexRecord {
                logical_clock: None,
                original_commit_ts_us: None,
                mariadb_commit_id: Some(9),
                ..rec(None)
            }),
            Entry::Seal {
                segment_len: 5000,
                txns: 3,
            },
        ];
        let mut w = IndexWriter::create(&p).unwrap();
        for e in &entries {
            w.push(e);
        }
        w.sync().unwrap();
        let mut r = IndexReader::open(&p).unwrap().unwrap();
        for e in &entries {
            match r.next_entry().unwrap() {
                ReadEntry::Entry { entry, .. } => assert_eq!(&entry, e),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(r.next_entry().unwrap(), ReadEntry::End));
        // Every truncation and every flipped byte is End or Damaged, never a panic or a
        // different record.
        let bytes = std::fs::read(&p).unwrap();
        for cut in 0..bytes.len() {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let mut r = IndexReader::open(&p).unwrap().unwrap();
            let mut n = 0;
            while let ReadEntry::Entry { entry, .. } = r.next_entry().unwrap() {
                assert_eq!(entry, entries[n]);
                n += 1;
            }
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            std::fs::write(&p, &b).unwrap();
            let mut r = IndexReader::open(&p).unwrap().unwrap();
            let mut n = 0;
            while let ReadEntry::Entry { entry, .. } = r.next_entry().unwrap() {
                assert_eq!(entry, entries[n], "flip at {i}");
                n += 1;
            }
            assert!(n < entries.len(), "flip at {i} went unnoticed");
        }
    }
}
