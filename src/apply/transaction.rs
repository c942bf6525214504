//! A complete transaction read from a binlog: its identity, its place in the source, its
//! logical clock, and the bytes of its events.
//!
//! Owns the data that travels from the reader to the appliers: an owned copy of every event of
//! one transaction (TRANSACTION_PAYLOAD already expanded into its inner events), so a worker
//! decodes it with its own [`crate::binlog::stream::EventStream`] on another task. It does not
//! decide where a transaction ends (see `reader`) nor how it is applied (see `executor`).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use crate::binlog::FormatDescription;
use crate::binlog::error::BinlogError;
use crate::binlog::event::Event;
use crate::binlog::gtid_event::LogicalClock;
use crate::binlog::gtid_set::{Gtid, GtidSet};
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::{MariadbGtid, MariadbGtidPos};
use crate::binlog::stream::EventStream;

/// The identity a transaction is replayed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnGtid {
    /// No GTID (MySQL anonymous transactions, old binlogs): the target assigns one.
    None,
    MySql(Gtid),
    MariaDb(MariadbGtid),
}

impl fmt::Display for TxnGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxnGtid::None => f.write_str("anonymous"),
            TxnGtid::MySql(g) => write!(f, "{g}"),
            TxnGtid::MariaDb(g) => write!(f, "{g}"),
        }
    }
}

/// Where a transaction is in the source files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePos {
    /// Index of the file in the run's list.
    pub file_index: usize,
    /// The file's path as given (for messages and the progress file).
    pub file: Arc<str>,
    /// Offset of the transaction's first event (its GTID event when it has one).
    pub start: u64,
    /// Offset just after its last event: where a resumed replay continues.
    pub end: u64,
}

/// One event of a transaction, as bytes inside [`Transaction::data`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEvent {
    pub range: Range<usize>,
    /// Offset in the source file (for inner events of a payload: the payload event's offset).
    pub offset: u64,
    /// The event came out of a TRANSACTION_PAYLOAD: no checksum trailer.
    pub inner: bool,
}

/// How the transaction is shaped, which decides how it is wrapped and scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnKind {
    /// BEGIN (or an implicit begin after a MariaDB GTID) .. XID or COMMIT.
    Transactional,
    /// XA START .. XA END, XA PREPARE (the group ends in an XA_PREPARE event).
    XaPrepare,
    /// One statement that commits by itself: DDL, XA COMMIT/ROLLBACK, or a non-transactional
    /// statement logged alone.
    Standalone,
}

/// A complete transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// 1-based position in the run's reading order (scheduling and commit ordering use it).
    pub ordinal: u64,
    pub gtid: TxnGtid,
    pub pos: SourcePos,
    pub kind: TxnKind,
    /// MySQL's logical clock, when the GTID event has one.
    pub clock: Option<LogicalClock>,
    /// MariaDB's group commit id, when the GTID event has one.
    pub commit_id: Option<u64>,
    /// Increments at every FORMAT_DESCRIPTION: logical clocks restart there.
    pub epoch: u64,
    /// The transaction changes schema (DDL): nothing may run beside it, and cached table
    /// shapes are stale after it.
    pub is_ddl: bool,
    /// A two-phase XA PREPARE: its row locks stay held after it is applied, until its XA
    /// COMMIT or ROLLBACK (a later transaction). Nothing before it may still be running when
    /// it starts (an earlier transaction blocked on those locks would wait for an XA COMMIT
    /// that waits for it), and nothing after it starts before it is prepared.
    pub prepared_xa: bool,
    /// The description the events were written under.
    pub fde: Arc<FormatDescription>,
    pub data: Vec<u8>,
    pub events: Vec<TxnEvent>,
    /// Header timestamp of the first event (seconds since the epoch).
    pub timestamp: u32,
    /// MariaDB XA: the GTID event stands for `XA START <xid>` (there is no statement for it).
    pub xa_start: Option<String>,
    /// MariaDB: the transaction changes nothing (only transaction control: a SAVEPOINT whose
    /// work was rolled back, an XA whose statements all failed on the source, or the XA COMMIT
    /// of such an XA). It is not applied: MariaDB does not binlog an empty transaction, so its
    /// GTID cannot be recorded by running it (an empty prepared XA is even forgotten by the
    /// server, and its XA COMMIT fails with XA_RBROLLBACK). The run reports its GTID; a fill
    /// records it in `gtid_slave_pos`, as the server's replica does.
    pub no_effect: bool,
}

impl Transaction {
    /// How the transaction is named in messages: its GTID, or file:pos without one.
    pub fn label(&self) -> String {
        match &self.gtid {
            TxnGtid::None => format!("{}:{}", self.pos.file, self.pos.start),
            g => format!("{g} ({}:{})", self.pos.file, self.pos.start),
        }
    }

    /// Bytes of the transaction's events.
    pub fn bytes(&self) -> u64 {
        self.data.len() as u64
    }

    pub fn event_bytes(&self, e: &TxnEvent) -> &[u8] {
        &self.data[e.range.clone()]
    }

    /// Decode event `e` with `stream` (an event out of a TRANSACTION_PAYLOAD has no checksum
    /// trailer); an error names the file and the event's offset.
    pub fn decode<'t>(
        &'t self,
        stream: &mut EventStream,
        e: &TxnEvent,
    ) -> Result<Event<'t>, BinlogError> {
        let bytes = self.event_bytes(e);
        if e.inner {
            stream.decode_inner(bytes)
        } else {
            stream.decode(bytes)
        }
        .map_err(|err| err.in_file(&*self.pos.file, e.offset))
    }
}

/// GTIDs a target has executed, in either flavor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    MySql(GtidSet),
    MariaDb(MariadbExecuted),
}

impl Executed {
    pub fn contains(&self, g: &TxnGtid) -> bool {
        match (self, g) {
            (Executed::MySql(s), TxnGtid::MySql(g)) => s.contains_gtid(g),
            (Executed::MariaDb(p), TxnGtid::MariaDb(g)) => p.contains(g),
            _ => false,
        }
    }
}

impl fmt::Display for Executed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Executed::MySql(s) => write!(f, "{s}"),
            Executed::MariaDb(p) => write!(f, "{p}"),
        }
    }
}

/// A GTID selection given by a user (`--include-gtids`, `--exclude-gtids`): a MySQL GTID set
/// (`uuid[:tag]:ranges`) or a MariaDB position list (`domain-server-seq,...`, meaning every
/// transaction of the domain up to seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtidSelection {
    MySql(GtidSet),
    MariaDb(MariadbGtidPos),
}

impl GtidSelection {
    pub fn parse(s: &str) -> Result<GtidSelection, String> {
        let t = s.trim();
        match GtidSet::parse(t) {
            Ok(set) => Ok(GtidSelection::MySql(set)),
            Err(my) => match MariadbGtidPos::parse(t) {
                Ok(p) => Ok(GtidSelection::MariaDb(p)),
                Err(ma) => Err(format!(
                    "{s:?} is neither a MySQL GTID set ({my}) nor a MariaDB GTID list ({ma})"
                )),
            },
        }
    }

    /// Whether the selection names this transaction (anonymous ones never match).
    pub fn matches(&self, g: &TxnGtid) -> bool {
        match (self, g) {
            (GtidSelection::MySql(s), TxnGtid::MySql(g)) => s.contains_gtid(g),
            (GtidSelection::MariaDb(p), TxnGtid::MariaDb(g)) => p.contains(g),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections() {
        let s = GtidSelection::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5").unwrap();
        let g = Gtid::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:3").unwrap();
        assert!(s.matches(&TxnGtid::MySql(g.clone())));
        assert!(!s.matches(&TxnGtid::None));
        let g6 = Gtid::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:6").unwrap();
        assert!(!s.matches(&TxnGtid::MySql(g6)));
        let m = GtidSelection::parse("0-11-100").unwrap();
        let mg = MariadbGtid::parse("0-12-100").unwrap();
        assert!(m.matches(&TxnGtid::MariaDb(mg)));
        assert!(!m.matches(&TxnGtid::MariaDb(MariadbGtid::parse("0-11-101").unwrap())));
        assert!(!m.matches(&TxnGtid::MySql(g)));
        assert!(GtidSelection::parse("garbage").is_err());
    }
}
