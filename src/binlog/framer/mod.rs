//! The one transaction framer: raw events in, complete transactions out.
//!
//! Every part of gapfill that needs to know where a transaction starts and ends asks this
//! module: the spool's index and recovery, the peer export (through the index), the apply
//! reader, and the replication source. Sans-IO: [`inspect`] reads the role of one event from
//! its bytes ([`role`]), [`Framer::step`] advances the state machine. The rules are those of a
//! MySQL replica's receiver (`Transaction_boundary_parser`), extended to MariaDB:
//!
//! * MySQL: GTID / ANONYMOUS_GTID / GTID_TAGGED starts a transaction. It ends at XID, at a
//!   QUERY `COMMIT` / `ROLLBACK` / `XA COMMIT` / `XA ROLLBACK`, at an XA_PREPARE event, at a
//!   TRANSACTION_PAYLOAD (a whole compressed transaction after its GTID), at an INCIDENT, or at
//!   any other QUERY when no `BEGIN` came first (DDL commits implicitly). `BEGIN`, `XA START` /
//!   `XA BEGIN` and an atomic `CREATE TABLE ... START TRANSACTION` (8.0.21+ `CREATE ... SELECT`,
//!   whose rows and XID follow) open a multi-event transaction.
//! * MariaDB: the GTID event starts a group and implies `BEGIN`, unless it is flagged
//!   FL_STANDALONE: then the group is one statement and ends with that QUERY. Otherwise the
//!   group ends at XID, QUERY `COMMIT` / `ROLLBACK` / `XA COMMIT` / `XA ROLLBACK`, or XA_PREPARE.
//! * Without GTID events (MySQL 5.5, GTIDs off in 5.6): `BEGIN`, or INTVAR / RAND / USER_VAR
//!   before a statement, starts one; a lone QUERY is a transaction by itself.
//!
//! A new transaction start, a FORMAT_DESCRIPTION written at a server start (its `created`
//! time set) or a STOP while a transaction is open means the open one will never complete: it
//! is reported as abandoned so the caller can cut or report its bytes. ROTATE, other
//! FORMAT_DESCRIPTIONs and file markers (PREVIOUS_GTIDS, GTID_LIST, BINLOG_CHECKPOINT) are
//! ignored, as a replica ignores them: a relay log may rotate inside a transaction. No I/O, no
//! positions: callers turn steps into offsets.

mod role;

pub use role::{Facts, Kind, QueryKind, inspect, query_kind};

use crate::binlog::gtid_event::LogicalClock;
use crate::binlog::gtid_set::Gtid;
use crate::binlog::mariadb_gtid::MariadbGtid;

/// The GTID of a transaction, in its flavor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TxnGtid {
    MySql(Gtid),
    MariaDb(MariadbGtid),
}

/// The event that completed a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnEnd {
    /// XID event (a transactional engine committed).
    Xid,
    /// QUERY `COMMIT` (non-transactional engines) or `ROLLBACK` (a logged rollback).
    CommitQuery,
    /// A statement that commits implicitly: DDL, or a MariaDB standalone event group.
    Statement,
    /// XA_PREPARE event: the first phase of an XA transaction.
    XaPrepare,
    /// QUERY `XA COMMIT` / `XA ROLLBACK`: the second phase.
    XaEnd,
    /// TRANSACTION_PAYLOAD: a compressed transaction in one event.
    Payload,
    /// INCIDENT: the master lost events; it ends whatever was open, as replicas treat it.
    Incident,
}

/// What is known about a transaction while its events arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenTxn {
    pub gtid: Option<TxnGtid>,
    /// A `BEGIN` (or an implying MariaDB GTID) was seen: statements no longer end it.
    began: bool,
    /// MariaDB FL_STANDALONE: the next statement ends it.
    standalone: bool,
    /// DDL: MariaDB's FL_DDL, an atomic `CREATE ... START TRANSACTION`, or a statement that
    /// committed by itself.
    pub ddl: bool,
    /// Bytes so far, the opening event included.
    pub len: u64,
    pub events: u32,
    pub clock: Option<LogicalClock>,
    pub immediate_ts: Option<u64>,
    pub original_ts: Option<u64>,
    pub commit_id: Option<u64>,
    /// `transaction_length` announced by a MySQL 8.0.2+ GTID event, checked at the end.
    announced_len: Option<u64>,
}

/// A transaction that just completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub txn: OpenTxn,
    pub end: TxnEnd,
    /// Header timestamp of the completing event (seconds), the commit time when the GTID
    /// event carries none.
    pub end_ts: u32,
}

impl Done {
    /// Commit time in µs: MySQL's immediate commit timestamp, else the completing event's.
    pub fn commit_ts_us(&self) -> u64 {
        self.txn
            .immediate_ts
            .unwrap_or(u64::from(self.end_ts) * 1_000_000)
    }

    /// The original commit time, when the GTID event says it differs from the immediate one.
    pub fn original_ts_us(&self) -> Option<u64> {
        self.txn
            .original_ts
            .filter(|o| Some(*o) != self.txn.immediate_ts)
    }
}

/// What one event did to the transaction state. Apply in field order: cut `abandoned`
/// bytes, note the start if `opened`, store the event, then record `done`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// An open transaction that can no longer complete (its bytes precede this event).
    pub abandoned: Option<OpenTxn>,
    /// This event starts a transaction.
    pub opened: bool,
    /// This event completes a transaction.
    pub done: Option<Done>,
}

/// The framing state machine of one stream.
#[derive(Debug, Default)]
pub struct Framer {
    open: Option<OpenTxn>,
}

impl Framer {
    /// Whether a transaction is open (its bytes are not held yet).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Forget the open transaction (the stream is restarting); returns it.
    pub fn abandon(&mut self) -> Option<OpenTxn> {
        self.open.take()
    }

    /// Feed one event.
    pub fn step(&mut self, facts: &Facts) -> Step {
        let size = u64::from(facts.header.event_size);
        let mut step = Step::default();
        match &facts.kind {
            Kind::MySqlGtid {
                gtid,
                clock,
                immediate_ts,
                original_ts,
                length,
            } => {
                step.abandoned = self.open.take();
                step.opened = true;
                self.open = Some(OpenTxn {
                    gtid: gtid.clone().map(TxnGtid::MySql),
                    len: size,
                    events: 1,
                    clock: *clock,
                    immediate_ts: *immediate_ts,
                    original_ts: *original_ts,
                    announced_len: *length,
                    ..OpenTxn::default()
                });
                return step;
            }
            Kind::MariaDbGtid {
                gtid,
                standalone,
                commit_id,
                ddl,
            } => {
                step.abandoned = self.open.take();
                step.opened = true;
                self.open = Some(OpenTxn {
                    gtid: Some(TxnGtid::MariaDb(*gtid)),
                    began: !standalone,
                    standalone: *standalone,
                    ddl: *ddl,
                    len: size,
                    events: 1,
                    commit_id: *commit_id,
                    ..OpenTxn::default()
                });
                return step;
            }
            Kind::FormatDescription(d) if d.create_timestamp != 0 => {
                step.abandoned = self.open.take();
                return step;
            }
            Kind::Stop => {
                step.abandoned = self.open.take();
                return step;
            }
            Kind::FormatDescription(_) | Kind::Rotate { .. } | Kind::Marker => return step,
            _ => {}
        }
        if self.open.is_none() {
            match facts.kind {
                Kind::Query(q @ (QueryKind::Begin | QueryKind::BeginAtomicDdl)) => {
                    step.opened = true;
                    self.open = Some(OpenTxn {
                        began: true,
                        ddl: q == QueryKind::BeginAtomicDdl,
                        len: size,
                        events: 1,
                        ..OpenTxn::default()
                    });
                    return step;
                }
                Kind::StatementContext => {
                    step.opened = true;
                    self.open = Some(OpenTxn {
                        len: size,
                        events: 1,
                        ..OpenTxn::default()
                    });
                    return step;
                }
                Kind::Query(_) => {
                    // A statement on its own (no GTIDs): a one-event transaction.
                    step.opened = true;
                    step.done = Some(Done {
                        txn: OpenTxn {
                            len: size,
                            events: 1,
                            ddl: true,
                            ..OpenTxn::default()
                        },
                        end: TxnEnd::Statement,
                        end_ts: facts.header.timestamp,
                    });
                    return step;
                }
                _ => {
                    // Outside any transaction (an INCIDENT without GTID, or a stray event):
                    // stored, never held as a transaction.
                    return step;
                }
            }
        }
        let Some(t) = self.open.as_mut() else {
            return step;
        };
        t.len += size;
        t.events += 1;
        let end = match facts.kind {
            Kind::Query(QueryKind::Begin) => {
                t.began = true;
                None
            }
            Kind::Query(QueryKind::BeginAtomicDdl) => {
                t.began = true;
                t.ddl = true;
                None
            }
            Kind::Query(QueryKind::Commit | QueryKind::Rollback) => Some(TxnEnd::CommitQuery),
            Kind::Query(QueryKind::XaEnd) => Some(TxnEnd::XaEnd),
            Kind::Query(QueryKind::Statement) if t.standalone || !t.began => {
                t.ddl = true;
                Some(TxnEnd::Statement)
            }
            Kind::Xid => Some(TxnEnd::Xid),
            Kind::XaPrepare => Some(TxnEnd::XaPrepare),
            Kind::TransactionPayload => Some(TxnEnd::Payload),
            Kind::Incident => Some(TxnEnd::Incident),
            _ => None,
        };
        if let Some(end) = end {
            let txn = self.open.take().unwrap_or_default();
            if txn.announced_len.is_some_and(|a| a != txn.len) {
                tracing::warn!(
                    gtid = ?txn.gtid,
                    announced = ?txn.announced_len,
                    seen = txn.len,
                    "transaction ended by its events at a length other than its GTID event announced"
                );
            }
            step.done = Some(Done {
                txn,
                end,
                end_ts: facts.header.timestamp,
            });
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::EventType;
    use crate::binlog::header::EventHeader;
    use crate::binlog::mariadb_gtid::MariadbGtid;

    fn f(kind: Kind) -> Facts {
        Facts {
            header: EventHeader {
                timestamp: 7,
                event_type: EventType::Query,
                server_id: 1,
                event_size: 30,
                log_pos: 0,
                flags: 0,
            },
            kind,
        }
    }

    fn mysql_gtid() -> Kind {
        Kind::MySqlGtid {
            gtid: None,
            clock: None,
            immediate_ts: Some(5_000_000),
            original_ts: None,
            length: None,
        }
    }

    fn run(kinds: Vec<Kind>) -> Vec<(bool, Option<TxnEnd>, bool)> {
        let mut t = Framer::default();
        kinds
            .into_iter()
            .map(|k| {
                let s = t.step(&f(k));
                (s.opened, s.done.map(|d| d.end), s.abandoned.is_some())
            })
            .collect()
    }

    #[test]
    fn mysql_row_transaction_ends_at_xid() {
        let r = run(vec![
            mysql_gtid(),
            Kind::Query(QueryKind::Begin),
            Kind::Other,
            Kind::Other,
            Kind::Xid,
        ]);
        assert_eq!(r[0], (true, None, false));
        assert_eq!(r[4], (false, Some(TxnEnd::Xid), false));
    }

    #[test]
    fn mysql_ddl_ends_without_begin_and_statements_inside_do_not() {
        let r = run(vec![mysql_gtid(), Kind::Query(QueryKind::Statement)]);
        assert_eq!(r[1].1, Some(TxnEnd::Statement));
        let r = run(vec![
            mysql_gtid(),
            Kind::Query(QueryKind::Begin),
            Kind::Query(QueryKind::Statement),
            Kind::Query(QueryKind::Commit),
        ]);
        assert_eq!(r[2].1, None);
        assert_eq!(r[3].1, Some(TxnEnd::CommitQuery));
    }

    #[test]
    fn xa_and_payload_and_incident() {
        let r = run(vec![
            mysql_gtid(),
            Kind::Query(QueryKind::Begin),
            Kind::Other,
            Kind::Query(QueryKind::Statement), // XA END
            Kind::XaPrepare,
            mysql_gtid(),
            Kind::Query(QueryKind::XaEnd),
            mysql_gtid(),
            Kind::TransactionPayload,
            mysql_gtid(),
            Kind::Incident,
        ]);
        assert_eq!(r[3].1, None);
        assert_eq!(r[4].1, Some(TxnEnd::XaPrepare));
        assert_eq!(r[6].1, Some(TxnEnd::XaEnd));
        assert_eq!(r[8].1, Some(TxnEnd::Payload));
        assert_eq!(r[10].1, Some(TxnEnd::Incident));
    }

    #[test]
    fn mariadb_groups() {
        let g = |standalone| Kind::MariaDbGtid {
            gtid: MariadbGtid::new(0, 1, 1),
            standalone,
            commit_id: None,
            ddl: false,
        };
        let r = run(vec![
            g(true),
            Kind::Query(QueryKind::Statement),
            g(false),
            Kind::Other,
            Kind::Query(QueryKind::Statement),
            Kind::Query(QueryKind::Commit),
        ]);
        assert_eq!(r[1].1, Some(TxnEnd::Statement));
        assert_eq!(r[4].1, None);
        assert_eq!(r[5].1, Some(TxnEnd::CommitQuery));
    }

    #[test]
    fn no_gtid_streams() {
        let r = run(vec![
            Kind::Query(QueryKind::Statement),
            Kind::StatementContext,
            Kind::Query(QueryKind::Statement),
            Kind::Query(QueryKind::Begin),
            Kind::Other,
            Kind::Xid,
        ]);
        assert_eq!(r[0], (true, Some(TxnEnd::Statement), false));
        assert_eq!(r[1], (true, None, false));
        assert_eq!(r[2].1, Some(TxnEnd::Statement));
        assert_eq!(r[3], (true, None, false));
        assert_eq!(r[5].1, Some(TxnEnd::Xid));
    }

    #[test]
    fn restart_mid_transaction_abandons_and_rotation_does_not() {
        let fde = |created: u32| {
            let mut d = crate::binlog::FormatDescription::synthetic(
                "9.7.4",
                crate::binlog::checksum::ChecksumAlg::Crc32,
            );
            d.create_timestamp = created;
            Kind::FormatDescription(Box::new(d))
        };
        let r = run(vec![
            mysql_gtid(),
            Kind::Query(QueryKind::Begin),
            mysql_gtid(),
            Kind::Query(QueryKind::Begin),
            // A relay log rotating inside the transaction: ignored, as replicas do.
            Kind::Rotate {
                pos: 4,
                next_file: "b.2".into(),
            },
            fde(0),
            Kind::Marker,
            Kind::Other,
            // The server started again: the open transaction never completes.
            fde(1_700_000_000),
            mysql_gtid(),
            Kind::Query(QueryKind::Begin),
            Kind::Stop,
        ]);
        assert_eq!(r[2], (true, None, true));
        assert!(!r[4].2 && !r[5].2 && !r[6].2 && !r[7].2);
        assert!(r[8].2, "a server start abandons");
        assert!(r[11].2, "a STOP abandons");
    }

    #[test]
    fn atomic_create_select_and_xa_begin_open_a_transaction() {
        let mut t = Framer::default();
        let steps: Vec<Step> = [
            mysql_gtid(),
            Kind::Query(query_kind(b"CREATE TABLE t2 (a INT) START TRANSACTION")),
            Kind::Other,
            Kind::Other,
            Kind::Xid,
            mysql_gtid(),
            Kind::Query(query_kind(b"XA BEGIN X'01',X'',1")),
            Kind::Other,
            Kind::Query(query_kind(b"XA END X'01',X'',1")),
            Kind::XaPrepare,
        ]
        .into_iter()
        .map(|k| t.step(&f(k)))
        .collect();
        assert!(steps[1].done.is_none(), "the CREATE opens, it does not end");
        let d = steps[4].done.as_ref().expect("the XID ends it");
        assert_eq!((d.end, d.txn.ddl, d.txn.events), (TxnEnd::Xid, true, 5));
        assert!(steps[6].done.is_none() && steps[8].done.is_none());
        assert_eq!(
            steps[9].done.as_ref().map(|d| d.end),
            Some(TxnEnd::XaPrepare)
        );
        assert!(!steps[9].done.as_ref().unwrap().txn.ddl);
    }
}
