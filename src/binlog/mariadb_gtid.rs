//! MariaDB GTIDs (`domain-server-seq`) and the two kinds of GTID lists MariaDB keeps.
//!
//! Owns [`MariadbGtid`], [`MariadbGtidPos`] (a replication position: at most one GTID per
//! domain, as in `@@gtid_slave_pos` and `@@gtid_current_pos`) and [`MariadbBinlogState`] (the
//! last GTID per (domain, server), as in `@@gtid_binlog_state` and GTID_LIST events), with
//! their text forms and the "does the target already have this transaction" test the gap
//! computation needs.
//!
//! MariaDB's semantics differ from MySQL's sets: a position `0-1-100` means "every event group
//! of domain 0 up to sequence number 100 has been applied", whatever server wrote it, because
//! sequence numbers grow monotonically per domain (guaranteed with `gtid_strict_mode=ON`).
//! There are no holes to describe, so there is no interval arithmetic here.
//!
//! It does not decode events (see `gtid_event`) and knows nothing of MySQL GTIDs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::error::{BinlogError, Result};

/// One MariaDB GTID: replication domain, originating server id, sequence number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MariadbGtid {
    pub domain: u32,
    pub server: u32,
    pub seq: u64,
}

impl MariadbGtid {
    pub const fn new(domain: u32, server: u32, seq: u64) -> MariadbGtid {
        MariadbGtid {
            domain,
            server,
            seq,
        }
    }

    /// Parse `domain-server-seq` (decimal, whitespace around it allowed).
    pub fn parse(s: &str) -> Result<MariadbGtid> {
        let t = s.trim();
        let bad = |d: String| BinlogError::invalid("MariaDB GTID", format!("{s:?}: {d}"));
        let mut parts = t.split('-');
        let (Some(d), Some(sv), Some(q), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected domain-server-seq, e.g. 0-1-100".into()));
        };
        let num = |p: &str, name: &str, max: u64| -> Result<u64> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("{name} {p:?} is not a decimal number")));
            }
            p.parse::<u64>()
                .ok()
                .filter(|v| *v <= max)
                .ok_or_else(|| bad(format!("{name} {p} exceeds {max}")))
        };
        Ok(MariadbGtid {
            domain: num(d, "domain id", u32::MAX as u64)? as u32,
            server: num(sv, "server id", u32::MAX as u64)? as u32,
            seq: num(q, "sequence number", u64::MAX)?,
        })
    }
}

impl fmt::Display for MariadbGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl FromStr for MariadbGtid {
    type Err = BinlogError;
    fn from_str(s: &str) -> Result<MariadbGtid> {
        MariadbGtid::parse(s)
    }
}

/// Split a comma-separated list, allowing whitespace/newlines and empty entries.
fn parse_list(s: &str) -> Result<Vec<MariadbGtid>> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(MariadbGtid::parse)
        .collect()
}

fn write_list<'a>(
    f: &mut fmt::Formatter<'_>,
    it: impl Iterator<Item = &'a MariadbGtid>,
) -> fmt::Result {
    for (i, g) in it.enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{g}")?;
    }
    Ok(())
}

/// A replication position: at most one GTID per domain (`@@gtid_slave_pos`,
/// `@@gtid_current_pos`, `MASTER_USE_GTID=slave_pos`). A transaction is "in" the position when
/// its domain's entry has a sequence number at least as large.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct MariadbGtidPos {
    by_domain: BTreeMap<u32, MariadbGtid>,
}

impl MariadbGtidPos {
    pub fn new() -> MariadbGtidPos {
        MariadbGtidPos::default()
    }

    /// Parse a comma-separated list such as `0-1-100,1-2-5`. Two entries for one domain are an
    /// error, as the server refuses them (`ER_DUPLICATE_GTID_DOMAIN`).
    pub fn parse(s: &str) -> Result<MariadbGtidPos> {
        let mut p = MariadbGtidPos::new();
        for g in parse_list(s)? {
            if let Some(prev) = p.by_domain.insert(g.domain, g) {
                return Err(BinlogError::invalid(
                    "MariaDB GTID position",
                    format!(
                        "{s:?} has two entries for domain {}: {prev} and {g}",
                        g.domain
                    ),
                ));
            }
        }
        Ok(p)
    }

    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_domain.len()
    }

    /// The entry of one domain.
    pub fn get(&self, domain: u32) -> Option<&MariadbGtid> {
        self.by_domain.get(&domain)
    }

    /// Entries in domain order.
    pub fn iter(&self) -> impl Iterator<Item = &MariadbGtid> + '_ {
        self.by_domain.values()
    }

    /// Whether a server at this position has applied `gtid`: its domain is present with a
    /// sequence number `>= gtid.seq`. The server id does not matter (strict-mode semantics).
    pub fn contains(&self, gtid: &MariadbGtid) -> bool {
        self.by_domain
            .get(&gtid.domain)
            .is_some_and(|g| g.seq >= gtid.seq)
    }

    /// Record that `gtid` was applied: its domain advances to it unless the position is
    /// already further. Returns whether the position changed.
    pub fn update(&mut self, gtid: &MariadbGtid) -> bool {
        match self.by_domain.get(&gtid.domain) {
            Some(cur) if cur.seq >= gtid.seq => false,
            _ => {
                self.by_domain.insert(gtid.domain, *gtid);
                true
            }
        }
    }

    /// Replace a domain's entry unconditionally (what `SET GLOBAL gtid_slave_pos` does).
    pub fn set(&mut self, gtid: MariadbGtid) {
        self.by_domain.insert(gtid.domain, gtid);
    }

    /// Per domain, the further of the two positions.
    pub fn union(&self, other: &MariadbGtidPos) -> MariadbGtidPos {
        let mut out = self.clone();
        for g in other.iter() {
            out.update(g);
        }
        out
    }
}

impl fmt::Display for MariadbGtidPos {
    /// Canonical form: sorted by domain, joined by `,`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_list(f, self.iter())
    }
}

impl fmt::Debug for MariadbGtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MariadbGtidPos({self})")
    }
}

impl FromStr for MariadbGtidPos {
    type Err = BinlogError;
    fn from_str(s: &str) -> Result<MariadbGtidPos> {
        MariadbGtidPos::parse(s)
    }
}

impl From<&MariadbBinlogState> for MariadbGtidPos {
    fn from(s: &MariadbBinlogState) -> MariadbGtidPos {
        s.to_pos()
    }
}

/// A binlog state: the last GTID per (domain, server) (`@@gtid_binlog_state`, the body of a
/// GTID_LIST event). Several servers may appear in one domain (e.g. after a failover); the
/// domain's position is its entry with the highest sequence number.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct MariadbBinlogState {
    by_source: BTreeMap<(u32, u32), u64>,
}

impl MariadbBinlogState {
    pub fn new() -> MariadbBinlogState {
        MariadbBinlogState::default()
    }

    /// Parse a comma-separated list; two entries for one (domain, server) are an error.
    pub fn parse(s: &str) -> Result<MariadbBinlogState> {
        let mut st = MariadbBinlogState::new();
        for g in parse_list(s)? {
            if st.by_source.insert((g.domain, g.server), g.seq).is_some() {
                return Err(BinlogError::invalid(
                    "MariaDB binlog state",
                    format!(
                        "{s:?} has two entries for domain {} server {}",
                        g.domain, g.server
                    ),
                ));
            }
        }
        Ok(st)
    }

    pub fn is_empty(&self) -> bool {
        self.by_source.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_source.len()
    }

    /// Entries ordered by domain, then sequence number, then server: within a domain the
    /// most recent GTID comes last, as MariaDB prints it.
    pub fn iter(&self) -> impl Iterator<Item = MariadbGtid> + '_ {
        let mut v: Vec<MariadbGtid> = self
            .by_source
            .iter()
            .map(|(&(domain, server), &seq)| MariadbGtid {
                domain,
                server,
                seq,
            })
            .collect();
        v.sort_by_key(|g| (g.domain, g.seq, g.server));
        v.into_iter()
    }

    /// The last sequence number `server` wrote in `domain`.
    pub fn seq_of(&self, domain: u32, server: u32) -> Option<u64> {
        self.by_source.get(&(domain, server)).copied()
    }

    /// Record a binlogged GTID: it becomes the last one of its (domain, server).
    pub fn update(&mut self, gtid: &MariadbGtid) {
        self.by_source.insert((gtid.domain, gtid.server), gtid.seq);
    }

    /// The position this state implies: per domain, the entry with the highest sequence
    /// number.
    pub fn to_pos(&self) -> MariadbGtidPos {
        let mut p = MariadbGtidPos::new();
        for g in self.iter() {
            p.update(&g);
        }
        p
    }

    /// Whether the server that wrote this state has `gtid` (strict-mode semantics: its
    /// domain reached `gtid.seq`).
    pub fn contains(&self, gtid: &MariadbGtid) -> bool {
        self.by_source
            .range((gtid.domain, 0)..=(gtid.domain, u32::MAX))
            .any(|(_, &seq)| seq >= gtid.seq)
    }

    /// Per (domain, server), the higher sequence number of the two states.
    pub fn union(&self, other: &MariadbBinlogState) -> MariadbBinlogState {
        let mut out = self.clone();
        for (k, &seq) in &other.by_source {
            let e = out.by_source.entry(*k).or_insert(seq);
            *e = (*e).max(seq);
        }
        out
    }
}

impl fmt::Display for MariadbBinlogState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<MariadbGtid> = self.iter().collect();
        write_list(f, v.iter())
    }
}

impl fmt::Debug for MariadbBinlogState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MariadbBinlogState({self})")
    }
}

impl FromStr for MariadbBinlogState {
    type Err = BinlogError;
    fn from_str(s: &str) -> Result<MariadbBinlogState> {
        MariadbBinlogState::parse(s)
    }
}

impl<'a> FromIterator<&'a MariadbGtid> for MariadbBinlogState {
    fn from_iter<I: IntoIterator<Item = &'a MariadbGtid>>(iter: I) -> MariadbBinlogState {
        let mut st = MariadbBinlogState::new();
        for g in iter {
            st.update(g);
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_parse_print() {
        let g = MariadbGtid::parse(" 0-1-100 ").unwrap();
        assert_eq!(g, MariadbGtid::new(0, 1, 100));
        assert_eq!(g.to_string(), "0-1-100");
        assert_eq!(
            "4294967295-4294967295-18446744073709551615"
                .parse::<MariadbGtid>()
                .unwrap()
                .to_string(),
            "4294967295-4294967295-18446744073709551615"
        );
        for bad in [
            "",
            "0-1",
            "0-1-2-3",
            "a-1-2",
            "0--1",
            "4294967296-1-1",
            "0-1-+5",
            "0-1-1.5",
        ] {
            assert!(MariadbGtid::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn position_semantics() {
        let p = MariadbGtidPos::parse("1-2-5,\n 0-1-100,").unwrap();
        assert_eq!(p.to_string(), "0-1-100,1-2-5");
        assert!(p.contains(&MariadbGtid::new(0, 9, 100)));
        assert!(p.contains(&MariadbGtid::new(0, 1, 1)));
        assert!(!p.contains(&MariadbGtid::new(0, 1, 101)));
        assert!(!p.contains(&MariadbGtid::new(2, 1, 1)));
        assert!(MariadbGtidPos::parse("0-1-1,0-2-2").is_err());
        assert!(MariadbGtidPos::parse("").unwrap().is_empty());

        let mut q = p.clone();
        assert!(q.update(&MariadbGtid::new(0, 3, 101)));
        assert!(!q.update(&MariadbGtid::new(0, 1, 50)));
        assert!(q.update(&MariadbGtid::new(7, 1, 1)));
        assert_eq!(q.to_string(), "0-3-101,1-2-5,7-1-1");
        let u = p.union(&MariadbGtidPos::parse("0-1-90,1-3-6").unwrap());
        assert_eq!(u.to_string(), "0-1-100,1-3-6");
    }

    #[test]
    fn binlog_state_semantics() {
        let s = MariadbBinlogState::parse("0-2-200,0-1-100,1-1-7").unwrap();
        assert_eq!(s.to_string(), "0-1-100,0-2-200,1-1-7");
        assert_eq!(s.to_pos().to_string(), "0-2-200,1-1-7");
        assert!(s.contains(&MariadbGtid::new(0, 1, 150)));
        assert!(!s.contains(&MariadbGtid::new(0, 1, 201)));
        assert!(MariadbBinlogState::parse("0-1-1,0-1-2").is_err());
        let mut t = s.clone();
        t.update(&MariadbGtid::new(0, 1, 300));
        assert_eq!(t.to_string(), "0-2-200,0-1-300,1-1-7");
        let u = s.union(&MariadbBinlogState::parse("0-1-50,2-1-1").unwrap());
        assert_eq!(u.to_string(), "0-1-100,0-2-200,1-1-7,2-1-1");
    }
}
