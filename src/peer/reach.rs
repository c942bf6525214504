//! What a spool holds, as a peer advertises it.

use serde::{Deserialize, Serialize};

use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_gtid::MariadbGtidPos;
use crate::spool::{ResumePoint, Spool};

/// How far a spool reaches: everything up to `executed` is held or was before its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    /// `"mysql gtid"`, `"mariadb gtid"`, `"position"` or `"empty"`.
    pub mode: String,
    /// A MySQL GTID set or a MariaDB position (`None` without GTIDs).
    pub executed: Option<String>,
    pub transactions: u64,
    pub last_gtid: Option<String>,
    /// When the master committed the last transaction held, µs since the epoch.
    pub last_commit_us: Option<u64>,
    /// The spool's most recent capture sessions (how each lived and ended), newest last:
    /// the tail proof of a fill that takes this peer's transactions rests on them.
    #[serde(default)]
    pub streams: Vec<crate::spool::StreamRecord>,
}

/// Sessions a reach carries.
const STREAMS_SHOWN: usize = 4;

impl Reach {
    pub fn of(spool: &Spool) -> Reach {
        let st = spool.status();
        let executed = match spool.resume_point() {
            Some(ResumePoint::MySqlGtids(s)) => Some(s.to_string()),
            Some(ResumePoint::MariaDbGtids(p)) => Some(p.to_string()),
            _ => None,
        };
        Reach {
            mode: st.mode.to_string(),
            executed,
            transactions: st.txns,
            last_gtid: st
                .last
                .as_ref()
                .and_then(|t| t.gtid.as_ref())
                .map(|g| g.to_string()),
            last_commit_us: st.last.as_ref().map(|t| t.commit_ts_us),
            streams: {
                let mut all = crate::spool::stream_records(spool.dir());
                let skip = all.len().saturating_sub(STREAMS_SHOWN);
                all.drain(..skip);
                all
            },
        }
    }

    /// How many transactions this reach has that `other` lacks; `None` when the two cannot
    /// be compared (no GTIDs, or different flavors).
    pub fn beyond(&self, other: &Reach) -> Option<u64> {
        let mine = self.executed.as_deref()?;
        let theirs = other.executed.as_deref().unwrap_or("");
        match self.mode.as_str() {
            "mysql gtid" if other.mode == self.mode || other.executed.is_none() => {
                let a = GtidSet::parse(mine).ok()?;
                let b = GtidSet::parse(theirs).ok()?;
                Some(a.subtract(&b).count())
            }
            "mariadb gtid" if other.mode == self.mode || other.executed.is_none() => {
                let a = MariadbGtidPos::parse(mine).ok()?;
                let b = MariadbGtidPos::parse(theirs).ok()?;
                Some(
                    a.iter()
                        .map(|g| g.seq.saturating_sub(b.get(g.domain).map_or(0, |o| o.seq)))
                        .sum(),
                )
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(mode: &str, executed: Option<&str>) -> Reach {
        Reach {
            mode: mode.into(),
            executed: executed.map(str::to_string),
            transactions: 0,
            last_gtid: None,
            last_commit_us: None,
            streams: Vec::new(),
        }
    }

    #[test]
    fn beyond_counts_what_the_other_lacks() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let a = reach("mysql gtid", Some(&format!("{u}:1-120")));
        let b = reach("mysql gtid", Some(&format!("{u}:1-100")));
        assert_eq!(a.beyond(&b), Some(20));
        assert_eq!(b.beyond(&a), Some(0));
        let m1 = reach("mariadb gtid", Some("0-11-50,1-11-7"));
        let m2 = reach("mariadb gtid", Some("0-11-45"));
        assert_eq!(m1.beyond(&m2), Some(12));
        assert_eq!(m1.beyond(&a), None, "flavors differ");
        assert_eq!(reach("position", None).beyond(&b), None);
        assert_eq!(a.beyond(&reach("empty", None)), Some(120));
    }
}
