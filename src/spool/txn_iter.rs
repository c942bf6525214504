//! Streaming every held transaction from the indexes, oldest first.
//!
//! Owns the iteration order (epochs, then segments, then index records) and turning stored
//! records into [`TxnRecord`]s. One index file is open at a time, so memory stays constant
//! whatever the spool's size. It does not filter (coverage.rs does) or read segment bytes.

use super::index::{Entry, IndexReader, ReadEntry};
use super::{Spool, SpoolError, TxnRecord};

/// Iterator over held transactions; see [`Spool::transactions`].
pub struct TxnIter<'a> {
    spool: &'a Spool,
    epoch: usize,
    segment: usize,
    reader: Option<IndexReader>,
    /// Transactions the in-memory summary says the current segment holds; the index is read
    /// no further, so records appended after the iterator started are not half-seen.
    left: u64,
    failed: bool,
}

impl<'a> TxnIter<'a> {
    pub(super) fn new(spool: &'a Spool) -> TxnIter<'a> {
        TxnIter {
            spool,
            epoch: 0,
            segment: 0,
            reader: None,
            left: 0,
            failed: false,
        }
    }

    fn fail(&mut self, e: SpoolError) -> Option<Result<TxnRecord, SpoolError>> {
        self.failed = true;
        Some(Err(e))
    }
}

impl Iterator for TxnIter<'_> {
    type Item = Result<TxnRecord, SpoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let epoch = self.spool.epochs.get(self.epoch)?;
            let Some(seg) = epoch.segments.get(self.segment) else {
                self.epoch += 1;
                self.segment = 0;
                continue;
            };
            if self.reader.is_none() {
                if seg.txns == 0 {
                    self.segment += 1;
                    continue;
                }
                match IndexReader::open(&seg.index_path) {
                    Ok(Some(r)) => {
                        self.reader = Some(r);
                        self.left = seg.txns;
                    }
                    Ok(None) => {
                        return self.fail(SpoolError::CorruptIndex {
                            path: seg.index_path.clone(),
                            offset: 0,
                            detail: "the index disappeared while the spool was open".into(),
                        });
                    }
                    Err(e) => return self.fail(e),
                }
            }
            if self.left == 0 {
                self.reader = None;
                self.segment += 1;
                continue;
            }
            let r = self.reader.as_mut()?;
            match r.next_entry() {
                Ok(ReadEntry::Entry {
                    entry: Entry::Txn(t),
                    ..
                }) => {
                    self.left -= 1;
                    return Some(Ok(TxnRecord {
                        epoch: epoch.id,
                        gtid: t.gtid,
                        master_file: seg.master_file.clone(),
                        master_start: t.master_start,
                        master_end: t.master_end,
                        segment: seg.path.clone(),
                        local_start: t.local_start,
                        local_end: t.local_end,
                        commit_ts_us: t.commit_ts_us,
                        original_commit_ts_us: t.original_commit_ts_us,
                        logical_clock: t.logical_clock,
                        mariadb_commit_id: t.mariadb_commit_id,
                        end: t.end,
                        events: t.events,
                    }));
                }
                Ok(ReadEntry::Entry { .. }) | Ok(ReadEntry::End) => {
                    let path = seg.index_path.clone();
                    let left = self.left;
                    return self.fail(SpoolError::CorruptIndex {
                        path,
                        offset: 0,
                        detail: format!("the index ends {left} transactions early"),
                    });
                }
                Ok(ReadEntry::Damaged { offset, detail }) => {
                    let path = seg.index_path.clone();
                    return self.fail(SpoolError::CorruptIndex {
                        path,
                        offset,
                        detail,
                    });
                }
                Err(e) => return self.fail(e),
            }
        }
    }
}
