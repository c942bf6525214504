//! What the successor lacks, as a plan: the gap.
//!
//! Owns turning the spool's answer (coverage, then the transactions the target lacks) into a
//! [`GapPlan`]: how many transactions and bytes, which GTIDs, how old the oldest is, and which
//! segment files (from which offset) the apply engine must read. It does no I/O on servers.

use std::path::PathBuf;

use crate::peer::Pulled;
use crate::spool::{Coverage, NotCovered, Spool, SpoolError, TargetPosition, TxnRecord};

/// The transactions a successor lacks, summarised, and where to read them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GapPlan {
    pub transactions: u64,
    pub bytes: u64,
    pub first_gtid: Option<String>,
    pub last_gtid: Option<String>,
    /// Commit time (µs since the epoch) of the oldest and newest missing transaction.
    pub oldest_commit_us: Option<u64>,
    pub newest_commit_us: Option<u64>,
    /// Commit time of the newest transaction the spool holds at all: the window is measured
    /// against it (the last thing the dead master was seen to commit).
    pub last_captured_us: Option<u64>,
    /// Segments to read, in order, and the offset of the first missing transaction in the
    /// first of them.
    pub files: Vec<PathBuf>,
    pub start_offset: Option<u64>,
    /// Masters (epochs) the missing transactions were captured from.
    pub masters: Vec<String>,
    /// Transactions pulled from a peer daemon's spool (the last file of `files`).
    pub from_peer: Option<PeerPart>,
}

/// The part of the gap a peer supplied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PeerPart {
    pub peer: String,
    pub transactions: u64,
    pub gtids: String,
    /// The peer's recent capture sessions (for the tail proof; in the report's `tail`).
    #[serde(skip)]
    pub streams: Vec<crate::spool::StreamRecord>,
}

impl GapPlan {
    /// Plan the gap for `target`, or say why the spool cannot prove it holds all of it.
    pub fn build(
        spool: &Spool,
        target: &TargetPosition,
    ) -> Result<Result<GapPlan, NotCovered>, SpoolError> {
        if let Coverage::NotCovered(why) = spool.coverage_for(target) {
            return Ok(Err(why));
        }
        let status = spool.status();
        let mut plan = GapPlan {
            last_captured_us: status.last.as_ref().map(|t| t.commit_ts_us),
            ..GapPlan::default()
        };
        for t in spool.transactions_missing_from(target) {
            plan.add(&t?, &status);
        }
        Ok(Ok(plan))
    }

    fn add(&mut self, t: &TxnRecord, status: &crate::spool::SpoolStatus) {
        if self.transactions == 0 {
            self.start_offset = Some(t.local_start);
            self.first_gtid = t.gtid.as_ref().map(|g| g.to_string());
            self.oldest_commit_us = Some(t.commit_ts_us);
        }
        self.transactions += 1;
        self.bytes += t.local_end - t.local_start;
        self.last_gtid = t.gtid.as_ref().map(|g| g.to_string());
        self.oldest_commit_us = self.oldest_commit_us.map(|o| o.min(t.commit_ts_us));
        self.newest_commit_us = Some(
            self.newest_commit_us
                .map_or(t.commit_ts_us, |n| n.max(t.commit_ts_us)),
        );
        if self.files.last() != Some(&t.segment) {
            self.files.push(t.segment.clone());
        }
        if let Some(e) = status.epochs.iter().find(|e| e.id == t.epoch)
            && !self.masters.contains(&e.master.addr)
        {
            self.masters.push(e.master.addr.clone());
        }
    }

    /// Add what a peer supplied beyond this spool (its stream is read after the segments).
    pub fn add_peer(&mut self, pulled: &Pulled) {
        let p = &pulled.promise;
        if p.transactions == 0 {
            return;
        }
        if self.transactions == 0 {
            self.oldest_commit_us = p.first_commit_us;
        }
        self.transactions += p.transactions;
        self.bytes += p.bytes;
        let min = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let max = |a: Option<u64>, b: Option<u64>| a.max(b);
        self.oldest_commit_us = min(self.oldest_commit_us, p.first_commit_us);
        self.newest_commit_us = max(self.newest_commit_us, p.last_commit_us);
        self.last_captured_us = max(self.last_captured_us, p.last_commit_us);
        self.files.push(pulled.file.clone());
        self.from_peer = Some(PeerPart {
            peer: pulled.peer.clone(),
            transactions: p.transactions,
            gtids: p.gtids.clone(),
            streams: pulled.reach.streams.clone(),
        });
    }

    /// How far behind the last captured commit the oldest missing one is, in seconds.
    pub fn lag_seconds(&self) -> Option<f64> {
        let (old, last) = (self.oldest_commit_us?, self.last_captured_us?);
        Some(last.saturating_sub(old) as f64 / 1e6)
    }
}
