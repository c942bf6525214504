//! The values the spool hands out and takes in: start and resume points, transactions, status.
//!
//! Owns these plain data types and their text forms. It holds no logic about when they are
//! produced (see `mod.rs`) or how they are stored (see `index.rs`, `continuity.rs`).

use std::fmt;
use std::path::PathBuf;

use crate::binlog::gtid_event::LogicalClock;
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::MariadbGtidPos;

use super::config::MasterInfo;

/// Where continuous capture of a fresh spool starts: the spool holds every transaction AFTER
/// this point (and proves nothing about what came before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPoint {
    /// The master's `gtid_executed` when capture started.
    MySqlGtids(GtidSet),
    /// The master's `gtid_binlog_pos` / `gtid_current_pos` when capture started.
    MariaDbGtids(MariadbGtidPos),
    /// A position in the master's binlog (servers without GTIDs).
    FilePos { file: String, pos: u64 },
}

/// What the capture client asks the master for, to continue right after the last complete
/// transaction held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumePoint {
    /// Start set ∪ every GTID held: the set for COM_BINLOG_DUMP_GTID.
    MySqlGtids(GtidSet),
    /// `@slave_connect_state` for MariaDB's GTID start.
    MariaDbGtids(MariadbGtidPos),
    /// COM_BINLOG_DUMP coordinates.
    FilePos { file: String, pos: u64 },
}

/// What a target server has executed, for coverage and gap questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetPosition {
    /// The target's `gtid_executed`.
    MySqlGtids(GtidSet),
    /// The target's binlog state and `gtid_slave_pos`.
    MariaDbGtids(MariadbExecuted),
    /// How far the target got in `master`'s binlog (e.g. a replica's `Exec_Master_Log_Pos`
    /// recorded before the failover). `master` is [`MasterInfo::addr`] of that master.
    FilePos {
        master: String,
        file: String,
        pos: u64,
    },
}

pub use crate::binlog::framer::{TxnEnd, TxnGtid};

impl TxnEnd {
    pub(crate) fn code(self) -> u8 {
        match self {
            TxnEnd::Xid => 1,
            TxnEnd::CommitQuery => 2,
            TxnEnd::Statement => 3,
            TxnEnd::XaPrepare => 4,
            TxnEnd::XaEnd => 5,
            TxnEnd::Payload => 6,
            TxnEnd::Incident => 7,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<TxnEnd> {
        Some(match c {
            1 => TxnEnd::Xid,
            2 => TxnEnd::CommitQuery,
            3 => TxnEnd::Statement,
            4 => TxnEnd::XaPrepare,
            5 => TxnEnd::XaEnd,
            6 => TxnEnd::Payload,
            7 => TxnEnd::Incident,
            _ => return None,
        })
    }
}

/// One complete transaction held by the spool: where it came from and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The epoch (master followed) it was captured in.
    pub epoch: u32,
    /// `None` for anonymous transactions (GTIDs off).
    pub gtid: Option<TxnGtid>,
    /// The master's binlog file and the byte range the transaction occupies in it.
    pub master_file: String,
    pub master_start: u64,
    pub master_end: u64,
    /// The segment holding it and its byte range there (read these bytes to replay it).
    pub segment: PathBuf,
    pub local_start: u64,
    pub local_end: u64,
    /// When this master committed it, µs since the epoch (MySQL's immediate commit timestamp,
    /// else the last event's header time).
    pub commit_ts_us: u64,
    /// When the originating server committed it (MySQL 8.0.1+), if it differs.
    pub original_commit_ts_us: Option<u64>,
    /// MySQL's logical clock, for parallel apply.
    pub logical_clock: Option<LogicalClock>,
    /// MariaDB's group-commit id, for parallel apply.
    pub mariadb_commit_id: Option<u64>,
    pub end: TxnEnd,
    /// Number of events (the GTID event included).
    pub events: u32,
}

/// What `append` did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored (or, if already held or artificial, skipped); no transaction completed.
    Partial,
    /// This event completed a transaction; it is now held.
    Commit {
        gtid: Option<TxnGtid>,
        master_file: String,
        /// The master position right after the transaction (what a semi-sync ACK names).
        master_end: u64,
        commit_ts_us: u64,
        /// Whether it is already fsynced (`FsyncPolicy::Always`).
        durable: bool,
    },
}

/// Short description of one transaction for status output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnBrief {
    pub gtid: Option<TxnGtid>,
    pub master_file: String,
    pub master_start: u64,
    pub master_end: u64,
    pub commit_ts_us: u64,
}

/// A recorded continuity break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakInfo {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub epoch: u32,
    pub reason: String,
    /// Where the spool was when continuity broke.
    pub held_until: Option<ResumePoint>,
    /// Where capture restarted after it; `None` while it has not.
    pub resumed_from: Option<StartPoint>,
}

/// One master followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochStatus {
    pub id: u32,
    pub master: MasterInfo,
    pub dir: PathBuf,
    pub segments: usize,
    pub bytes: u64,
    pub txns: u64,
    pub first: Option<TxnBrief>,
    pub last: Option<TxnBrief>,
}

/// What `gapfill status` shows for a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolStatus {
    pub dir: PathBuf,
    /// How continuity is proven: `"mysql gtid"`, `"mariadb gtid"`, `"position"`, or
    /// `"empty"` before the first begin.
    pub mode: &'static str,
    /// The continuity origin: everything after it is held (text form).
    pub origin: Option<String>,
    pub epochs: Vec<EpochStatus>,
    pub current_master: Option<MasterInfo>,
    pub first: Option<TxnBrief>,
    pub last: Option<TxnBrief>,
    pub txns: u64,
    pub bytes: u64,
    pub segments: usize,
    pub breaks: Vec<BreakInfo>,
    pub resume_point: Option<ResumePoint>,
}

impl fmt::Display for TxnGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxnGtid::MySql(g) => write!(f, "{g}"),
            TxnGtid::MariaDb(g) => write!(f, "{g}"),
        }
    }
}

impl fmt::Display for StartPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPoint::MySqlGtids(s) => write!(f, "MySQL GTID set '{s}'"),
            StartPoint::MariaDbGtids(p) => write!(f, "MariaDB GTID position '{p}'"),
            StartPoint::FilePos { file, pos } => write!(f, "{file}:{pos}"),
        }
    }
}

impl fmt::Display for ResumePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumePoint::MySqlGtids(s) => write!(f, "MySQL GTID set '{s}'"),
            ResumePoint::MariaDbGtids(p) => write!(f, "MariaDB GTID position '{p}'"),
            ResumePoint::FilePos { file, pos } => write!(f, "{file}:{pos}"),
        }
    }
}
