//! The honest answer to "do you hold every transaction this target lacks?".
//!
//! Owns the coverage rules and the per-transaction "does the target lack it" test:
//!
//! * GTID modes: the spool holds every transaction except those in its origin (the start set,
//!   plus what breaks lost, plus what retention dropped). The target is covered when it
//!   already has the whole origin and no break is open; what it lacks is then exactly the
//!   held transactions it has not executed. Otherwise the answer names what the target lacks
//!   and why the spool cannot supply it (before the capture started, or lost in a break).
//! * Position mode: a position only means something on the master it belongs to. The target
//!   is covered when its coordinates on that master are at or after where continuous capture
//!   (re)started in the epoch following that master, and no break is open there.
//!
//! Coverage speaks only for what the master sent: transactions the master committed but never
//! sent (asynchronous replication) are invisible to any replica, which is what semi-sync with
//! gapfill as the acknowledging replica closes. It does not read segments.

use std::cmp::Ordering;
use std::fmt;

use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::MariadbGtidPos;

use super::continuity::{Mode, PointJson, parse_point};
use super::{Spool, StartPoint, TargetPosition, TxnGtid, TxnRecord};

/// The answer of [`Spool::coverage_for`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// The spool holds every transaction the target lacks (possibly none).
    Covered { missing: Missing },
    /// The target lacks something the spool cannot prove it holds.
    NotCovered(NotCovered),
}

impl Coverage {
    pub fn is_covered(&self) -> bool {
        matches!(self, Coverage::Covered { .. })
    }
}

/// What a covered target lacks, all of it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The held GTIDs the target has not executed (empty: nothing to do).
    MySqlGtids(GtidSet),
    /// Held transactions beyond the target's position in their domain.
    MariaDbAfter(MariadbExecuted),
    /// Held transactions of `master` at or after `file:pos`.
    After {
        master: String,
        file: String,
        pos: u64,
    },
}

/// Why a target is not covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotCovered {
    /// The spool has never started capturing.
    Empty,
    /// The target's position is of another kind than the spool's continuity proof.
    WrongKind { spool: &'static str },
    /// Capture broke and has not restarted: transactions after the break may be missing.
    OpenBreak {
        at: u64,
        reason: String,
        held_until: String,
    },
    /// The target lacks transactions from before the continuity origin (before capture
    /// started, or dropped by retention).
    LacksBeforeOrigin {
        lacking: String,
        origin: String,
        moved_by_retention: bool,
    },
    /// The target lacks transactions lost in a break.
    LostInBreak {
        at: u64,
        reason: String,
        lacking: String,
    },
    /// The spool never followed the master the target's coordinates refer to.
    UnknownMaster { master: String },
    /// The target's coordinates are before where continuous capture of that master started.
    BeforeStart {
        target: String,
        start: String,
        after_break: Option<String>,
    },
    /// The target's file and the spool's start file are not in one sequence.
    Incomparable { target: String, start: String },
}

impl fmt::Display for NotCovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotCovered::Empty => write!(f, "the spool holds nothing yet: capture never started"),
            NotCovered::WrongKind { spool } => write!(
                f,
                "the spool proves continuity by {spool}; ask with the target's position of that kind"
            ),
            NotCovered::OpenBreak {
                at,
                reason,
                held_until,
            } => write!(
                f,
                "capture broke at {at} (unix time) after {held_until} ({reason}) and has not \
                 restarted: transactions after that may be missing"
            ),
            NotCovered::LacksBeforeOrigin {
                lacking,
                origin,
                moved_by_retention,
            } => write!(
                f,
                "the target lacks {lacking}, which is before the spool's continuity origin \
                 {origin}{}: the spool cannot prove it holds them",
                if *moved_by_retention {
                    " (moved forward by retention)"
                } else {
                    " (where capture started)"
                }
            ),
            NotCovered::LostInBreak {
                at,
                reason,
                lacking,
            } => write!(
                f,
                "the target lacks {lacking}, lost in a capture break at {at} (unix time): {reason}"
            ),
            NotCovered::UnknownMaster { master } => {
                write!(
                    f,
                    "the spool never followed {master}: its positions cannot be checked"
                )
            }
            NotCovered::BeforeStart {
                target,
                start,
                after_break,
            } => match after_break {
                Some(r) => write!(
                    f,
                    "the target is at {target}, before {start} where capture restarted after a break ({r})"
                ),
                None => write!(
                    f,
                    "the target is at {target}, before {start} where continuous capture starts"
                ),
            },
            NotCovered::Incomparable { target, start } => write!(
                f,
                "the target's {target} and the spool's start {start} are not in one binlog sequence"
            ),
        }
    }
}

/// Order two binlog coordinates: same file by position, else `base.NNNNNN` names of one
/// base by number. `None` when the files are not in one sequence.
pub(crate) fn cmp_coords(a_file: &str, a_pos: u64, b_file: &str, b_pos: u64) -> Option<Ordering> {
    if a_file == b_file {
        return Some(a_pos.cmp(&b_pos));
    }
    let split = |f: &str| -> Option<(String, u64)> {
        let (base, num) = f.rsplit_once('.')?;
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((base.to_string(), num.parse().ok()?))
    };
    let (ab, an) = split(a_file)?;
    let (bb, bn) = split(b_file)?;
    (ab == bb).then(|| (an, a_pos).cmp(&(bn, b_pos)))
}

/// Whether a target at `target` lacks transaction `t` (for `FilePos`, `epoch` is the epoch
/// following the target's master).
fn lacks(target: &TargetPosition, epoch: Option<u32>, t: &TxnRecord) -> bool {
    match (target, &t.gtid) {
        (TargetPosition::MySqlGtids(s), Some(TxnGtid::MySql(g))) => !s.contains_gtid(g),
        (TargetPosition::MariaDbGtids(p), Some(TxnGtid::MariaDb(g))) => !p.contains(g),
        (TargetPosition::FilePos { file, pos, .. }, _) => {
            epoch == Some(t.epoch)
                && cmp_coords(&t.master_file, t.master_start, file, *pos).is_some_and(|o| o.is_ge())
        }
        _ => false,
    }
}

impl Spool {
    fn epoch_of_master(&self, addr: &str) -> Option<u32> {
        self.epochs
            .iter()
            .rev()
            .find(|e| e.master.addr == addr)
            .map(|e| e.id)
    }

    /// Does the spool hold every transaction `target` lacks? See the module docs.
    pub fn coverage_for(&self, target: &TargetPosition) -> Coverage {
        let not = Coverage::NotCovered;
        let Some(c) = self.cont.as_ref() else {
            return not(NotCovered::Empty);
        };
        let open_break = |epoch: Option<u32>| {
            c.open_break()
                .filter(|b| epoch.is_none_or(|e| b.epoch == e))
                .map(|b| NotCovered::OpenBreak {
                    at: b.at,
                    reason: b.reason.clone(),
                    held_until: b
                        .held_until
                        .as_ref()
                        .map(Spool::point_text)
                        .unwrap_or_default(),
                })
        };
        let retention_moved = c.origin.advanced_by_retention > 0;
        let origin = c.origin_point();
        let lost_in = |p: &Option<PointJson>| p.as_ref().and_then(|p| parse_point(p).ok());
        match (c.mode, target) {
            (Mode::MysqlGtid, TargetPosition::MySqlGtids(t)) => {
                if let Some(b) = open_break(None) {
                    return not(b);
                }
                let StartPoint::MySqlGtids(o) = &origin else {
                    return not(NotCovered::Empty);
                };
                let lacking = o.subtract(t);
                if !lacking.is_empty() {
                    for b in c.breaks.iter().rev() {
                        if let Some(StartPoint::MySqlGtids(l)) = lost_in(&b.lost) {
                            let x = l.intersection(&lacking);
                            if !x.is_empty() {
                                return not(NotCovered::LostInBreak {
                                    at: b.at,
                                    reason: b.reason.clone(),
                                    lacking: x.to_string(),
                                });
                            }
                        }
                    }
                    return not(NotCovered::LacksBeforeOrigin {
                        lacking: lacking.to_string(),
                        origin: o.to_string(),
                        moved_by_retention: retention_moved,
                    });
                }
                Coverage::Covered {
                    missing: Missing::MySqlGtids(self.mysql_executed.subtract(t)),
                }
            }
            (Mode::MariadbGtid, TargetPosition::MariaDbGtids(t)) => {
                if let Some(b) = open_break(None) {
                    return not(b);
                }
                let StartPoint::MariaDbGtids(o) = &origin else {
                    return not(NotCovered::Empty);
                };
                let mut lacking = MariadbGtidPos::new();
                for g in o.iter().filter(|g| !t.contains(g)) {
                    lacking.set(*g);
                }
                if !lacking.is_empty() {
                    for b in c.breaks.iter().rev() {
                        if let Some(StartPoint::MariaDbGtids(l)) = lost_in(&b.lost) {
                            let mut x = MariadbGtidPos::new();
                            for g in l.iter().filter(|g| !t.contains(g)) {
                                x.set(*g);
                            }
                            if !x.is_empty() {
                                return not(NotCovered::LostInBreak {
                                    at: b.at,
                                    reason: b.reason.clone(),
                                    lacking: format!("domain positions up to {x}"),
                                });
                            }
                        }
                    }
                    return not(NotCovered::LacksBeforeOrigin {
                        lacking: format!("domain positions up to {lacking}"),
                        origin: o.to_string(),
                        moved_by_retention: retention_moved,
                    });
                }
                Coverage::Covered {
                    missing: Missing::MariaDbAfter(t.clone()),
                }
            }
            (Mode::Position, TargetPosition::FilePos { master, file, pos }) => {
                let Some(epoch) = self.epoch_of_master(master) else {
                    return not(NotCovered::UnknownMaster {
                        master: master.clone(),
                    });
                };
                if let Some(b) = open_break(Some(epoch)) {
                    return not(b);
                }
                let Some(StartPoint::FilePos { file: sf, pos: sp }) = self.epoch_start(epoch)
                else {
                    return not(NotCovered::Empty);
                };
                let target_text = format!("{file}:{pos}");
                let start_text = format!("{sf}:{sp}");
                match cmp_coords(file, *pos, &sf, sp) {
                    None => not(NotCovered::Incomparable {
                        target: target_text,
                        start: start_text,
                    }),
                    Some(Ordering::Less) => {
                        let after_break = c
                            .breaks
                            .iter()
                            .rev()
                            .find(|b| {
                                b.epoch == epoch
                                    && lost_in(&b.resumed_from)
                                        == Some(StartPoint::FilePos {
                                            file: sf.clone(),
                                            pos: sp,
                                        })
                            })
                            .map(|b| b.reason.clone());
                        not(NotCovered::BeforeStart {
                            target: target_text,
                            start: start_text,
                            after_break,
                        })
                    }
                    Some(_) => Coverage::Covered {
                        missing: Missing::After {
                            master: master.clone(),
                            file: file.clone(),
                            pos: *pos,
                        },
                    },
                }
            }
            (mode, _) => not(NotCovered::WrongKind { spool: mode.name() }),
        }
    }

    /// Whether `target` lacks `t` (see [`Spool::transactions_missing_from`]).
    pub(crate) fn target_lacks(&self, target: &TargetPosition, t: &TxnRecord) -> bool {
        let epoch = match target {
            TargetPosition::FilePos { master, .. } => self.epoch_of_master(master),
            _ => None,
        };
        lacks(target, epoch, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_order_by_file_number_then_position() {
        assert_eq!(
            cmp_coords("b.000002", 4, "b.000001", 900),
            Some(Ordering::Greater)
        );
        assert_eq!(
            cmp_coords("b.000001", 4, "b.000001", 900),
            Some(Ordering::Less)
        );
        assert_eq!(cmp_coords("b.000010", 4, "b.9", 4), Some(Ordering::Greater));
        assert_eq!(cmp_coords("a.000001", 4, "b.000001", 4), None);
        assert_eq!(cmp_coords("x", 4, "y", 4), None);
    }
}
