//! How a spool is configured and who it follows.
//!
//! Owns the caller-facing settings ([`SpoolConfig`], [`FsyncPolicy`], [`Retention`]) and the
//! identity of a master ([`MasterInfo`]). It does not act on them: `mod.rs` applies the fsync
//! policy, `retention.rs` the retention, `continuity.rs` the epochs.

use std::path::PathBuf;
use std::time::Duration;

use crate::binlog::Flavor;

/// When the spool makes appended events durable with fsync.
///
/// * `Always`: every completed transaction's segment bytes are fsynced before `append`
///   returns [`crate::spool::Appended::Commit`] (the index is rebuilt from the segment after a
///   crash, so it is synced only at the interval, rotation and close). Costs one fsync per
///   transaction. Not needed for semi-sync: whatever the policy, capture fsyncs the segment
///   before each acknowledgement ([`crate::spool::Spool::sync_data`]).
/// * `Interval(d)`: [`crate::spool::Spool::maybe_sync`] fsyncs when `d` has passed since the
///   last sync. A power cut (not a process crash: written data is in the page cache) can lose
///   up to `d` of transactions; recovery then cuts the spool back to what reached the disk and
///   capture fetches the rest again from the master, if the master still has it.
/// * `Never`: only explicit [`crate::spool::Spool::sync`] calls, segment rotation and epoch
///   changes fsync. Cheapest; after a power cut the kernel decides what survived.
///
/// Whatever the policy, a process crash loses nothing that `append` accepted and flushed to
/// the page cache, and recovery never counts a transaction that is not complete on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    Interval(Duration),
    Never,
}

/// How much binlog the spool keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep at least this much history, measured back from the newest commit held: the
    /// replicas' worst acceptable lag (orchestrator's `SlaveBinLogEnableMaxLagSeconds`) plus
    /// a margin. Only whole segments older than this are dropped.
    pub keep: Duration,
    /// Upper bound on the bytes of segments and indexes; the oldest whole segments go first,
    /// even inside the `keep` window (the continuity origin then moves forward, and coverage
    /// says so). `None`: no cap.
    pub max_bytes: Option<u64>,
}

/// Everything [`crate::spool::Spool::open`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// The cluster's directory (created if missing); one spool per cluster.
    pub dir: PathBuf,
    pub fsync: FsyncPolicy,
    pub retention: Retention,
}

/// The master a spool follows. A different master starts a new epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterInfo {
    /// `host:port` as capture reached it; identifies the master when it has no uuid.
    pub addr: String,
    pub server_id: u32,
    /// `@@server_uuid` (MySQL); MariaDB has none.
    pub server_uuid: Option<String>,
    pub flavor: Flavor,
}

impl MasterInfo {
    /// Whether `other` is the same server: by uuid when both have one, else by address and
    /// server id. A restarted master is the same master; a promoted replica is not.
    pub fn same_server(&self, other: &MasterInfo) -> bool {
        match (&self.server_uuid, &other.server_uuid) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => self.addr == other.addr && self.server_id == other.server_id,
        }
    }
}
