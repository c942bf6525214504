//! Where transactions start and end in an event stream.
//!
//! Owns the transaction boundary rules, the same ones a MySQL replica's receiver applies
//! (`Transaction_boundary_parser`), extended to MariaDB:
//!
//! * MySQL: GTID / ANONYMOUS_GTID / GTID_TAGGED starts a transaction. It ends at XID, at a
//!   QUERY `COMMIT` / `ROLLBACK` / `XA COMMIT` / `XA ROLLBACK`, at an XA_PREPARE event, at a
//!   TRANSACTION_PAYLOAD (a whole compressed transaction after its GTID), at an INCIDENT, or at
//!   any other QUERY when no `BEGIN` came first (DDL commits implicitly).
//! * MariaDB: the GTID event starts a group and implies `BEGIN`, unless it is flagged
//!   FL_STANDALONE: then the group is one statement and ends with that QUERY. Otherwise the
//!   group ends at XID, QUERY `COMMIT` / `ROLLBACK` / `XA COMMIT` / `XA ROLLBACK`, or XA_PREPARE.
//! * Without GTID events (MySQL 5.5, GTIDs off in 5.6): `BEGIN`, or INTVAR / RAND / USER_VAR
//!   before a statement, starts one; a lone QUERY is a transaction by itself.
//!
//! A new transaction start, a FORMAT_DESCRIPTION, ROTATE, STOP or file marker while a
//! transaction is open means the open one will never complete (the stream restarted): it is
//! reported as abandoned so the caller can cut its bytes. This file is pure: no I/O, no
//! positions; `mod.rs` and `recovery.rs` turn its steps into segment offsets and index records.

use crate::binlog::gtid_event::LogicalClock;

use super::facts::{Facts, Kind, QueryKind};
use super::types::{TxnEnd, TxnGtid};

/// What is known about a transaction while its events arrive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OpenTxn {
    pub gtid: Option<TxnGtid>,
    /// A `BEGIN` (or an implying MariaDB GTID) was seen: statements no longer end it.
    began: bool,
    /// MariaDB FL_STANDALONE: the next statement ends it.
    standalone: bool,
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
pub(crate) struct Done {
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
pub(crate) struct Step {
    /// An open transaction that can no longer complete (its bytes precede this event).
    pub abandoned: Option<OpenTxn>,
    /// This event starts a transaction.
    pub opened: bool,
    /// This event completes a transaction.
    pub done: Option<Done>,
}

/// The boundary state machine of one stream.
#[derive(Debug, Default)]
pub(crate) struct BoundaryTracker {
    open: Option<OpenTxn>,
}

impl BoundaryTracker {
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
            } => {
                step.abandoned = self.open.take();
                step.opened = true;
                self.open = Some(OpenTxn {
                    gtid: Some(TxnGtid::MariaDb(*gtid)),
                    began: !standalone,
                    standalone: *standalone,
                    len: size,
                    events: 1,
                    commit_id: *commit_id,
                    ..OpenTxn::default()
                });
                return step;
            }
            Kind::FormatDescription(_) | Kind::Rotate { .. } | Kind::Stop | Kind::Marker => {
                step.abandoned = self.open.take();
                return step;
            }
            _ => {}
        }
        if self.open.is_none() {
            match facts.kind {
                Kind::Query(QueryKind::Begin) => {
                    step.opened = true;
                    self.open = Some(OpenTxn {
                        began: true,
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
            Kind::Query(QueryKind::Commit | QueryKind::Rollback) => Some(TxnEnd::CommitQuery),
            Kind::Query(QueryKind::XaEnd) => Some(TxnEnd::XaEnd),
            Kind::Query(QueryKind::Statement) if t.standalone || !t.began => {
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
        let mut t = BoundaryTracker::default();
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
    fn restart_mid_transaction_abandons() {
        let r = run(vec![
            mysql_gtid(),
            Kind::Query(QueryKind::Begin),
            mysql_gtid(),
            Kind::Query(QueryKind::Begin),
            Kind::Rotate {
                pos: 4,
                next_file: "b.2".into(),
            },
        ]);
        assert_eq!(r[2], (true, None, true));
        assert!(r[4].2);
    }
}
