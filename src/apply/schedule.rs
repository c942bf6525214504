//! Which transactions may run at the same time, and waiting for the ones that must come first.
//!
//! Owns the dependency rule of parallel apply. Every transaction gets a reading-order ordinal;
//! its dependency is an ordinal prefix that must have committed before it starts:
//! - MySQL logical clocks: everything up to the transaction whose `sequence_number` is the
//!   largest `<= last_committed` (clocks restart at each FORMAT_DESCRIPTION, so a new file
//!   first waits for all of the previous ones);
//! - MariaDB group commit ids: transactions of one commit group run together, each group after
//!   everything before it;
//! - no clock, or DDL: everything before (and nothing after a DDL starts before it commits);
//! - a two-phase XA PREPARE, like DDL: its locks outlive it until its XA COMMIT/ROLLBACK, so
//!   an earlier transaction still running beside it could wait on them for an XA COMMIT that
//!   waits for that transaction (found by the differential tester, MySQL seed 763: a
//!   gap lock of a unique key the source never saw taken, since there the two did not overlap).
//!
//! [`CommitTracker`] records commits out of order and publishes the committed prefix that
//! workers wait on. Where commits keep the source's order, it also carries a request to yield:
//! a transaction that waited out a lock held by a later one (which waits for it to commit: a
//! cycle the server cannot see) asks every later transaction waiting for its turn to roll back
//! and start again after it, as the servers' own appliers do with a commit order deadlock. It
//! does not run anything (see `engine`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use tokio::sync::watch;

use super::transaction::Transaction;

/// Computes each transaction's dependency prefix, in reading order.
#[derive(Debug, Default)]
pub struct Scheduler {
    epoch: Option<u64>,
    epoch_start: u64,
    seqs: BTreeMap<u64, u64>,
    barrier: u64,
    last_commit_id: Option<u64>,
    group_dep: u64,
}

impl Scheduler {
    pub fn new() -> Scheduler {
        Scheduler::default()
    }

    /// The ordinal prefix `t` must wait for. Call for every transaction in order, including
    /// ones that will be skipped.
    pub fn dependency(&mut self, t: &Transaction) -> u64 {
        let ord = t.ordinal;
        let prev = ord - 1;
        if self.epoch != Some(t.epoch) {
            self.epoch = Some(t.epoch);
            self.epoch_start = prev;
            self.seqs.clear();
            self.last_commit_id = None;
        }
        let mut dep = if let Some(c) = t.clock {
            let d = self
                .seqs
                .range(..=c.last_committed)
                .next_back()
                .map_or(self.epoch_start, |(_, &o)| o);
            self.seqs.insert(c.sequence_number, ord);
            d
        } else if let Some(id) = t.commit_id {
            if self.last_commit_id != Some(id) {
                self.group_dep = prev;
                self.last_commit_id = Some(id);
            }
            self.group_dep
        } else {
            self.last_commit_id = None;
            prev
        };
        dep = dep.max(self.epoch_start).max(self.barrier).min(prev);
        if t.is_ddl || t.prepared_xa {
            dep = prev;
            self.barrier = ord;
            self.last_commit_id = None;
        }
        dep
    }
}

/// What workers watch: the committed prefix, whether the run was aborted, and the ordinal
/// that asked the later ones to yield (`u64::MAX`: none).
#[derive(Debug, Clone, Copy)]
struct Watched {
    prefix: u64,
    aborted: bool,
    yield_to: u64,
}

impl Watched {
    /// Whether the transaction at `ordinal` must roll back: an earlier one that has not
    /// committed asked.
    fn must_yield(&self, ordinal: u64) -> bool {
        self.yield_to < ordinal && self.prefix < self.yield_to
    }
}

/// Committed ordinals, and the prefix of them that is complete.
#[derive(Debug)]
pub struct CommitTracker {
    done: Mutex<BTreeSet<u64>>,
    tx: watch::Sender<Watched>,
}

impl Default for CommitTracker {
    fn default() -> Self {
        CommitTracker {
            done: Mutex::new(BTreeSet::new()),
            tx: watch::channel(Watched {
                prefix: 0,
                aborted: false,
                yield_to: u64::MAX,
            })
            .0,
        }
    }
}

/// The run was aborted while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

/// Why waiting for a turn to commit ended without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotYourTurn {
    /// The run was aborted.
    Aborted,
    /// An earlier transaction needs this one's locks: roll back, start again after it.
    Yield,
}

impl CommitTracker {
    pub fn new() -> CommitTracker {
        CommitTracker::default()
    }

    /// Record that `ordinal` committed (or was skipped).
    pub fn done(&self, ordinal: u64) {
        let mut set = self.done.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(ordinal);
        let mut prefix = self.tx.borrow().prefix;
        while set.remove(&(prefix + 1)) {
            prefix += 1;
        }
        self.tx.send_modify(|s| s.prefix = prefix);
    }

    /// Every ordinal up to this one is done.
    pub fn prefix(&self) -> u64 {
        self.tx.borrow().prefix
    }

    /// Stop every waiter (a transaction failed).
    pub fn abort(&self) {
        self.tx.send_modify(|s| s.aborted = true);
    }

    /// The transaction at `ordinal` waited out a lock: every later transaction waiting for its
    /// turn (see [`CommitTracker::wait_turn`]) rolls back, until `ordinal` has committed.
    pub fn ask_to_yield(&self, ordinal: u64) {
        self.tx.send_modify(|s| {
            s.yield_to = if s.prefix >= s.yield_to {
                ordinal
            } else {
                s.yield_to.min(ordinal)
            }
        });
    }

    /// Wait until every ordinal `<= n` is done.
    pub async fn wait_prefix(&self, n: u64) -> Result<(), Aborted> {
        let mut rx = self.tx.subscribe();
        let r = rx.wait_for(|s| s.prefix >= n || s.aborted).await;
        match r {
            Ok(v) if v.prefix >= n => Ok(()),
            _ => Err(Aborted),
        }
    }

    /// The commit turn of the transaction at `ordinal`: wait until every earlier one is done,
    /// unless an earlier one asks it to yield.
    pub async fn wait_turn(&self, ordinal: u64) -> Result<(), NotYourTurn> {
        let n = ordinal - 1;
        let mut rx = self.tx.subscribe();
        let r = rx
            .wait_for(|s| s.prefix >= n || s.aborted || s.must_yield(ordinal))
            .await;
        match r {
            Ok(v) if v.prefix >= n => Ok(()),
            Ok(v) if !v.aborted => Err(NotYourTurn::Yield),
            _ => Err(NotYourTurn::Aborted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::transaction::{SourcePos, TxnGtid, TxnKind};
    use crate::binlog::FormatDescription;
    use crate::binlog::checksum::ChecksumAlg;
    use crate::binlog::gtid_event::LogicalClock;
    use std::sync::Arc;

    fn txn(
        ordinal: u64,
        epoch: u64,
        clock: Option<(u64, u64)>,
        commit_id: Option<u64>,
        ddl: bool,
    ) -> Transaction {
        Transaction {
            ordinal,
            gtid: TxnGtid::None,
            pos: SourcePos {
                file_index: 0,
                file: "f".into(),
                start: 0,
                end: 0,
            },
            kind: TxnKind::Transactional,
            clock: clock.map(|(l, s)| LogicalClock {
                last_committed: l,
                sequence_number: s,
            }),
            commit_id,
            epoch,
            is_ddl: ddl,
            prepared_xa: false,
            fde: Arc::new(FormatDescription::synthetic("9.7.4", ChecksumAlg::Off)),
            data: vec![],
            events: vec![],
            timestamp: 0,
            xa_start: None,
            no_effect: false,
        }
    }

    #[test]
    fn mysql_clocks() {
        let mut s = Scheduler::new();
        // seq 1..4: 1 and 2 independent (last_committed 0), 3 depends on 2, 4 on 1.
        assert_eq!(s.dependency(&txn(1, 1, Some((0, 1)), None, false)), 0);
        assert_eq!(s.dependency(&txn(2, 1, Some((0, 2)), None, false)), 0);
        assert_eq!(s.dependency(&txn(3, 1, Some((2, 3)), None, false)), 2);
        assert_eq!(s.dependency(&txn(4, 1, Some((1, 4)), None, false)), 1);
        // DDL waits for all; the next waits for the DDL even if its clock says less.
        assert_eq!(s.dependency(&txn(5, 1, Some((4, 5)), None, true)), 4);
        assert_eq!(s.dependency(&txn(6, 1, Some((1, 6)), None, false)), 5);
        // A new file: clocks restart; everything of the old file comes first.
        assert_eq!(s.dependency(&txn(7, 2, Some((0, 1)), None, false)), 6);
        assert_eq!(s.dependency(&txn(8, 2, Some((0, 2)), None, false)), 6);
        assert_eq!(s.dependency(&txn(9, 2, Some((1, 3)), None, false)), 7);
        // No clock: serial.
        assert_eq!(s.dependency(&txn(10, 2, None, None, false)), 9);
    }

    #[test]
    fn prepared_xa_runs_alone() {
        // Seed 763's clocks: seq 23 and the XA PREPARE (seq 26) both last_committed 22; the
        // XA ROLLBACK (seq 27) after the PREPARE.
        let mut s = Scheduler::new();
        assert_eq!(s.dependency(&txn(1, 1, Some((21, 22)), None, false)), 0);
        assert_eq!(s.dependency(&txn(2, 1, Some((22, 23)), None, false)), 1);
        assert_eq!(s.dependency(&txn(3, 1, Some((22, 24)), None, false)), 1);
        let mut xa = txn(4, 1, Some((22, 26)), None, false);
        xa.prepared_xa = true;
        // Without the flag it would start beside 2 and 3 (dependency 1).
        assert_eq!(s.dependency(&xa), 3);
        // What follows starts once the XA is prepared, whatever its clock says.
        assert_eq!(s.dependency(&txn(5, 1, Some((22, 27)), None, false)), 4);
        // A one-phase XA (or any other) is scheduled by its clock.
        assert_eq!(s.dependency(&txn(6, 1, Some((27, 28)), None, false)), 5);
        assert_eq!(s.dependency(&txn(7, 1, Some((27, 29)), None, false)), 5);
    }

    #[test]
    fn start_mid_file() {
        let mut s = Scheduler::new();
        // The first transaction read has seq 100: earlier ones are not in the input.
        assert_eq!(s.dependency(&txn(1, 1, Some((98, 100)), None, false)), 0);
        assert_eq!(s.dependency(&txn(2, 1, Some((99, 101)), None, false)), 0);
        assert_eq!(s.dependency(&txn(3, 1, Some((100, 102)), None, false)), 1);
    }

    #[test]
    fn mariadb_groups() {
        let mut s = Scheduler::new();
        assert_eq!(s.dependency(&txn(1, 1, None, Some(7), false)), 0);
        assert_eq!(s.dependency(&txn(2, 1, None, Some(7), false)), 0);
        assert_eq!(s.dependency(&txn(3, 1, None, Some(9), false)), 2);
        assert_eq!(s.dependency(&txn(4, 1, None, Some(9), false)), 2);
        assert_eq!(s.dependency(&txn(5, 1, None, None, false)), 4);
        assert_eq!(s.dependency(&txn(6, 1, None, Some(9), false)), 5);
    }

    #[tokio::test]
    async fn tracker_prefix() {
        let t = Arc::new(CommitTracker::new());
        t.done(2);
        assert_eq!(t.prefix(), 0);
        let t2 = t.clone();
        let w = tokio::spawn(async move { t2.wait_prefix(3).await });
        t.done(1);
        assert_eq!(t.prefix(), 2);
        t.done(3);
        assert_eq!(w.await.unwrap(), Ok(()));
        let t3 = t.clone();
        let w = tokio::spawn(async move { t3.wait_prefix(10).await });
        t.abort();
        assert_eq!(w.await.unwrap(), Err(Aborted));
    }

    #[tokio::test]
    async fn later_turns_yield_to_an_earlier_transaction_until_it_commits() {
        let t = Arc::new(CommitTracker::new());
        t.done(1);
        // 3 and 4 wait for their turn; 2 runs.
        let (t3, t4) = (t.clone(), t.clone());
        let w3 = tokio::spawn(async move { t3.wait_turn(3).await });
        let w4 = tokio::spawn(async move { t4.wait_turn(4).await });
        tokio::task::yield_now().await;
        // 2 waited out a lock: both later ones yield, an earlier one would not.
        t.ask_to_yield(2);
        assert_eq!(w3.await.unwrap(), Err(NotYourTurn::Yield));
        assert_eq!(w4.await.unwrap(), Err(NotYourTurn::Yield));
        assert_eq!(t.wait_turn(2).await, Ok(()));
        // Until 2 commits, a later turn yields at once; after, turns are taken in order.
        assert_eq!(t.wait_turn(3).await, Err(NotYourTurn::Yield));
        t.done(2);
        assert_eq!(t.wait_turn(3).await, Ok(()));
        let t4 = t.clone();
        let w4 = tokio::spawn(async move { t4.wait_turn(4).await });
        tokio::task::yield_now().await;
        // A request from 5 does not concern 4; one from 3 (the first since 2 committed) does.
        t.ask_to_yield(5);
        t.done(3);
        assert_eq!(w4.await.unwrap(), Ok(()));
        t.ask_to_yield(4);
        assert_eq!(t.wait_turn(6).await, Err(NotYourTurn::Yield));
        t.abort();
        assert_eq!(t.wait_turn(9).await, Err(NotYourTurn::Aborted));
    }
}
