//! Turning a segment's events into index records: local offsets and master positions.
//!
//! Owns the bookkeeping shared by live appends and recovery scans, so both produce identical
//! records: the boundary tracker, the master position (from each event's `log_pos`, 64-bit
//! even when a huge transaction pushes a file past 4 GiB), and where the open transaction
//! started locally and on the master. It does not touch files: the caller writes or reads the
//! bytes and, when told an open transaction was abandoned, decides whether to cut it.

use super::index::IndexRecord;
use crate::binlog::framer::Facts;
use crate::binlog::framer::Framer;

/// Per-segment record builder.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    tracker: Framer,
    /// Master position right after the last event fed.
    pub master_pos: u64,
    txn_local_start: u64,
    txn_master_start: u64,
    /// Local offset right after the last complete transaction (or after the description when
    /// there is none): the point recovery cuts back to.
    pub last_txn_end: u64,
}

/// What feeding one event produced.
#[derive(Debug, Default)]
pub(crate) struct Fed {
    /// The open transaction was abandoned; its bytes start at this local offset.
    pub abandoned_from: Option<u64>,
    /// The event completed this transaction.
    pub record: Option<IndexRecord>,
}

/// The 64-bit master position after an event whose header says `log_pos` (32 bits, 0 when
/// the event carries none), given the position before it.
pub(crate) fn advance(before: u64, log_pos: u32) -> u64 {
    if log_pos == 0 {
        return before;
    }
    let mut p = (before & !0xffff_ffff) | u64::from(log_pos);
    if p < before && before - p > 1 << 31 {
        p += 1 << 32;
    }
    p
}

impl Recorder {
    /// A recorder for a segment whose FORMAT_DESCRIPTION ends at local offset `fde_end`,
    /// positioned at `master_pos` in the master's file.
    pub fn new(fde_end: u64, master_pos: u64) -> Recorder {
        Recorder {
            master_pos,
            last_txn_end: fde_end,
            txn_local_start: fde_end,
            ..Recorder::default()
        }
    }

    /// A recorder continuing after a complete transaction ending at local `at`, master `pos`.
    pub fn resume(at: u64, pos: u64) -> Recorder {
        Recorder::new(at, pos)
    }

    pub fn in_transaction(&self) -> bool {
        self.tracker.is_open()
    }

    /// Forget an open transaction; returns the local offset its bytes start at.
    pub fn abandon(&mut self) -> Option<u64> {
        self.tracker.abandon().map(|_| self.txn_local_start)
    }

    /// Feed one event stored at local offset `at` (after the caller cut an abandoned
    /// transaction, if it does: `cut` says whether it will, which moves `at` back).
    pub fn feed(&mut self, facts: &Facts, mut at: u64, cut: bool) -> Fed {
        let size = u64::from(facts.header.event_size);
        let step = self.tracker.step(facts);
        let mut fed = Fed::default();
        if step.abandoned.is_some() {
            fed.abandoned_from = Some(self.txn_local_start);
            if cut {
                at = self.txn_local_start;
            }
        }
        let after = advance(self.master_pos, facts.header.log_pos);
        if step.opened {
            self.txn_local_start = at;
            self.txn_master_start = if facts.header.log_pos == 0 {
                self.master_pos
            } else {
                after.saturating_sub(size)
            };
        }
        self.master_pos = after;
        let end = at + size;
        if let Some(done) = step.done {
            fed.record = Some(IndexRecord {
                gtid: done.txn.gtid.clone(),
                end: done.end,
                local_start: self.txn_local_start,
                local_end: end,
                master_start: self.txn_master_start,
                master_end: after,
                commit_ts_us: done.commit_ts_us(),
                events: done.txn.events,
                logical_clock: done.txn.clock,
                original_commit_ts_us: done.original_ts_us(),
                mariadb_commit_id: done.txn.commit_id,
            });
            self.last_txn_end = end;
        }
        fed
    }
}

#[cfg(test)]
mod tests {
    use super::advance;

    #[test]
    fn positions_are_64_bit() {
        assert_eq!(advance(100, 0), 100);
        assert_eq!(advance(100, 250), 250);
        assert_eq!(advance(0xffff_ff00, 0x10), 0x1_0000_0010);
        assert_eq!(advance(0x1_0000_0010, 0x20), 0x1_0000_0020);
    }
}
