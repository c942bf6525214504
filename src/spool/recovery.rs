//! Crash recovery of one segment and its index.
//!
//! Owns rescanning a segment into index records (with the same [`Recorder`] live appends use,
//! so a rebuilt index is identical to the one written live), deciding whether an existing
//! index can be trusted, and rebuilding it when it cannot. Two cases:
//!
//! * a closed (sealed) segment is trusted when its index reads back cleanly, every record's
//!   CRC matches and its seal names the segment's exact length; otherwise the index is rebuilt
//!   from the segment, and damage in the segment itself is an error (a closed segment was
//!   fsynced: damage there is not a crash artefact);
//! * the segment being written is always rescanned: a torn event, a corrupt event or an
//!   incomplete transaction at its end is reported as a cut, so the caller truncates it back
//!   to the end of the last complete transaction.
//!
//! It does not decide which segment is which or act on the cut: `mod.rs` does.

use std::path::{Path, PathBuf};

use crate::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_gtid::MariadbGtidPos;

use super::error::SpoolError;
use super::index::{Entry, IndexReader, IndexRecord, IndexWriter, ReadEntry};
use super::recorder::Recorder;
use super::types::TxnGtid;
use crate::binlog::framer::{Kind, inspect};

/// What a pass over one segment learned.
#[derive(Debug, Clone, Default)]
pub(crate) struct SegmentAcc {
    pub txns: u64,
    pub first: Option<IndexRecord>,
    pub last: Option<IndexRecord>,
    pub mysql: GtidSet,
    pub mariadb: MariadbGtidPos,
}

impl SegmentAcc {
    pub fn add(&mut self, r: &IndexRecord) {
        self.txns += 1;
        if self.first.is_none() {
            self.first = Some(r.clone());
        }
        match &r.gtid {
            Some(TxnGtid::MySql(g)) => {
                // A GNO outside 1..2^63 cannot come from a server; ignore rather than fail.
                let _ = self.mysql.add(g);
            }
            Some(TxnGtid::MariaDb(g)) => {
                self.mariadb.update(g);
            }
            None => {}
        }
        self.last = Some(r.clone());
    }
}

/// The end of a segment scan.
#[derive(Debug, Clone)]
pub(crate) struct ScanEnd {
    pub file_len: u64,
    /// Local offset after the last complete transaction (or after the description).
    pub last_txn_end: u64,
    /// Why the valid part ends before the file does: `(offset, what)`.
    pub damage: Option<(u64, String)>,
}

/// A cut made (or to make) by recovery, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub segment: PathBuf,
    /// The segment was cut back to this length...
    pub to: u64,
    /// ...from this length.
    pub from: u64,
    /// What was found after `to`.
    pub reason: String,
}

/// Read a segment from its start, passing each complete transaction to `on_record`.
pub(crate) fn scan_segment(
    path: &Path,
    on_record: &mut dyn FnMut(&IndexRecord) -> Result<(), SpoolError>,
) -> Result<ScanEnd, SpoolError> {
    let file_len = std::fs::metadata(path)
        .map_err(SpoolError::io("stat", path))?
        .len();
    let corrupt = |offset: u64, detail: String| SpoolError::CorruptSegment {
        path: path.to_path_buf(),
        offset,
        detail,
    };
    let mut r = BinlogFileReader::open(path).map_err(|e| corrupt(0, e.to_string()))?;
    let mut fde = match r.next_event() {
        Ok(ReadOutcome::Event { bytes, offset }) => match inspect(bytes, None, false) {
            Ok(f) => match f.kind {
                Kind::FormatDescription(d) => *d,
                _ => {
                    return Err(corrupt(
                        offset,
                        "first event is not a FORMAT_DESCRIPTION".into(),
                    ));
                }
            },
            Err(e) => return Err(corrupt(offset, e.to_string())),
        },
        Ok(_) => return Err(corrupt(4, "no complete FORMAT_DESCRIPTION".into())),
        Err(e) => return Err(corrupt(4, e.to_string())),
    };
    let fde_end = r.offset();
    let mut rec = Recorder::new(fde_end, 0);
    let mut damage = None;
    loop {
        match r.next_event() {
            Ok(ReadOutcome::Event { offset, bytes }) => {
                let facts = match inspect(bytes, Some(&fde), true) {
                    Ok(f) => f,
                    Err(e) => {
                        damage = Some((offset, format!("unreadable event: {e}")));
                        break;
                    }
                };
                if let Kind::FormatDescription(d) = &facts.kind {
                    fde = (**d).clone();
                }
                let fed = rec.feed(&facts, offset, false);
                if let Some(record) = fed.record {
                    on_record(&record)?;
                }
            }
            Ok(ReadOutcome::End) => break,
            Ok(ReadOutcome::TornTail { offset, have }) => {
                damage = Some((offset, format!("torn event ({have} bytes of it present)")));
                break;
            }
            Err(e) => {
                damage = Some((r.offset(), format!("unreadable event: {e}")));
                break;
            }
        }
    }
    if damage.is_none() && rec.in_transaction() {
        damage = Some((rec.last_txn_end, "incomplete transaction".into()));
    }
    Ok(ScanEnd {
        file_len,
        last_txn_end: rec.last_txn_end,
        damage,
    })
}

/// Rebuild `index` from `segment` into a temporary file; returns its path with the scan.
fn rebuild_to_tmp(
    segment: &Path,
    index: &Path,
    acc: &mut SegmentAcc,
) -> Result<(PathBuf, ScanEnd), SpoolError> {
    let tmp = index.with_extension("gfi.tmp");
    let mut w = IndexWriter::create(&tmp)?;
    let end = scan_segment(segment, &mut |r| {
        acc.add(r);
        w.push(&Entry::Txn(r.clone()));
        if w.len() > 1 << 20 {
            w.flush()?;
        }
        Ok(())
    })?;
    w.sync()?;
    Ok((tmp, end))
}

/// Whether two files have identical bytes (streamed).
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(fa), Ok(fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut ra, mut rb) = (
        std::io::BufReader::new(fa).bytes(),
        std::io::BufReader::new(fb).bytes(),
    );
    loop {
        match (ra.next(), rb.next()) {
            (None, None) => return true,
            (Some(Ok(x)), Some(Ok(y))) if x == y => {}
            _ => return false,
        }
    }
}

/// Load a closed segment: trust its sealed index, or rebuild it. Returns what it holds and
/// whether the index was rebuilt.
pub(crate) fn load_sealed(segment: &Path, index: &Path) -> Result<(SegmentAcc, bool), SpoolError> {
    let file_len = std::fs::metadata(segment)
        .map_err(SpoolError::io("stat", segment))?
        .len();
    if let Some(mut r) = IndexReader::open(index)? {
        let mut acc = SegmentAcc::default();
        let mut prev_end = 0;
        let trusted = loop {
            match r.next_entry()? {
                ReadEntry::Entry {
                    entry: Entry::Txn(t),
                    ..
                } => {
                    if t.local_start < prev_end || t.local_end > file_len {
                        break false;
                    }
                    prev_end = t.local_end;
                    acc.add(&t);
                }
                ReadEntry::Entry {
                    entry: Entry::Seal { segment_len, txns },
                    ..
                } => {
                    break segment_len == file_len
                        && txns == acc.txns
                        && matches!(r.next_entry()?, ReadEntry::End);
                }
                ReadEntry::End | ReadEntry::Damaged { .. } => break false,
            }
        };
        if trusted {
            return Ok((acc, false));
        }
    }
    let mut acc = SegmentAcc::default();
    let (tmp, end) = rebuild_to_tmp(segment, index, &mut acc)?;
    if let Some((offset, detail)) = end.damage {
        let _ = std::fs::remove_file(&tmp);
        return Err(SpoolError::CorruptSegment {
            path: segment.to_path_buf(),
            offset,
            detail,
        });
    }
    let mut w = IndexWriter::append_at(&tmp, file_len_of(&tmp)?)?;
    w.push(&Entry::Seal {
        segment_len: file_len,
        txns: acc.txns,
    });
    w.sync()?;
    std::fs::rename(&tmp, index).map_err(SpoolError::io("rename into place", index))?;
    tracing::warn!(segment = %segment.display(), "spool: index was missing or damaged; rebuilt from the segment");
    Ok((acc, true))
}

fn file_len_of(p: &Path) -> Result<u64, SpoolError> {
    Ok(std::fs::metadata(p)
        .map_err(SpoolError::io("stat", p))?
        .len())
}

/// What recovering the segment being written found.
#[derive(Debug)]
pub(crate) struct LiveRecovery {
    pub acc: SegmentAcc,
    pub scan: ScanEnd,
    pub index_rebuilt: bool,
    /// Transactions the old index recorded beyond the cut: `(count, last)`.
    pub cut_held: (u64, Option<IndexRecord>),
}

/// Transactions an index recorded that end after `offset` of its segment: `(count, last)`.
/// Recovery cutting a segment back to `offset` loses exactly these (transactions the
/// spool had received complete), unlike a torn tail, which no index record reaches.
fn indexed_beyond(index: &Path, offset: u64) -> Result<(u64, Option<IndexRecord>), SpoolError> {
    let Some(mut r) = IndexReader::open(index)? else {
        return Ok((0, None));
    };
    let (mut n, mut last) = (0, None);
    loop {
        match r.next_entry()? {
            ReadEntry::Entry {
                entry: Entry::Txn(t),
                ..
            } => {
                if t.local_end > offset {
                    n += 1;
                    last = Some(t);
                }
            }
            ReadEntry::Entry { .. } => {}
            ReadEntry::End | ReadEntry::Damaged { .. } => return Ok((n, last)),
        }
    }
}

/// Recover the segment being written: rescan it, make its index match the scan (rewriting
/// it when it differs), and say where the segment must be cut.
pub(crate) fn recover_live(segment: &Path, index: &Path) -> Result<LiveRecovery, SpoolError> {
    let mut acc = SegmentAcc::default();
    let (tmp, scan) = rebuild_to_tmp(segment, index, &mut acc)?;
    let cut_held = match scan.damage {
        Some(_) => indexed_beyond(index, scan.last_txn_end)?,
        None => (0, None),
    };
    let index_rebuilt = !same_bytes(&tmp, index);
    if index_rebuilt {
        std::fs::rename(&tmp, index).map_err(SpoolError::io("rename into place", index))?;
    } else {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(LiveRecovery {
        acc,
        scan,
        index_rebuilt,
        cut_held,
    })
}
