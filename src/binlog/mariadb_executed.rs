//! What a MariaDB server has executed, as exactly as its variables can say.
//!
//! Owns the "does this server already have GTID d-s-n?" question for MariaDB. A position
//! (`gtid_current_pos`, one GTID per domain) cannot answer it once the server wrote something
//! itself: after a failover the promoted replica's first own write takes the next sequence
//! number of the domain, the same number the dead master's first unreplicated transaction
//! carries, and a position would call that transaction executed. So the answer comes from
//! the binlog state (`gtid_binlog_state`: the last sequence number per domain *and server*)
//! and from what replication applied (`gtid_slave_pos`): `d-s-n` is executed when server
//! `s`'s last GTID in domain `d` reached `n`, or when replication applied `d-s-n` itself or a
//! later sequence number of the domain (strict mode applies a domain in order).
//! Parsing the variables is here; reading them from a server is the caller's business.

use std::fmt;

use super::mariadb_gtid::{MariadbBinlogState, MariadbGtid, MariadbGtidPos};

/// A MariaDB server's executed GTIDs: its binlog state and its replication position.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct MariadbExecuted {
    binlog: MariadbBinlogState,
    replicated: MariadbGtidPos,
}

impl MariadbExecuted {
    pub fn new(binlog: MariadbBinlogState, replicated: MariadbGtidPos) -> MariadbExecuted {
        MariadbExecuted { binlog, replicated }
    }

    /// A server known only by a replication position (e.g. one given by a user).
    pub fn from_replicated(replicated: MariadbGtidPos) -> MariadbExecuted {
        MariadbExecuted {
            binlog: MariadbBinlogState::new(),
            replicated,
        }
    }

    pub fn binlog_state(&self) -> &MariadbBinlogState {
        &self.binlog
    }

    pub fn replicated(&self) -> &MariadbGtidPos {
        &self.replicated
    }

    /// Whether the server has executed `g`. See the module docs.
    pub fn contains(&self, g: &MariadbGtid) -> bool {
        self.binlog
            .seq_of(g.domain, g.server)
            .is_some_and(|seq| seq >= g.seq)
            || self
                .replicated
                .get(g.domain)
                .is_some_and(|r| r.seq > g.seq || r == g)
    }
}

impl fmt::Display for MariadbExecuted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "binlog state '{}', slave position '{}'",
            self.binlog, self.replicated
        )
    }
}

impl fmt::Debug for MariadbExecuted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> MariadbGtid {
        MariadbGtid::parse(s).unwrap()
    }

    fn executed(state: &str, slave: &str) -> MariadbExecuted {
        MariadbExecuted::new(
            MariadbBinlogState::parse(state).unwrap(),
            MariadbGtidPos::parse(slave).unwrap(),
        )
    }

    #[test]
    fn an_own_write_with_the_same_sequence_number_is_not_the_masters() {
        // Replicated up to 0-11-10 from server 11, then wrote 0-12-11 itself.
        let e = executed("0-11-10,0-12-11", "0-11-10");
        assert!(e.contains(&g("0-11-10")));
        assert!(e.contains(&g("0-11-3")));
        assert!(e.contains(&g("0-12-11")));
        assert!(
            !e.contains(&g("0-11-11")),
            "the dead master's 11th is missing"
        );
        assert!(!e.contains(&g("0-11-12")));
        assert!(!e.contains(&g("1-11-1")), "another domain");
    }

    #[test]
    fn replication_applied_earlier_transactions_of_other_servers() {
        // log_slave_updates off: nothing replicated is in the binlog.
        let e = executed("", "0-11-10");
        assert!(e.contains(&g("0-13-7")), "earlier in the domain's stream");
        assert!(e.contains(&g("0-11-10")));
        assert!(
            !e.contains(&g("0-13-10")),
            "same number, another server: not applied"
        );
        assert!(!e.contains(&g("0-11-11")));
    }

    #[test]
    fn empty_has_nothing() {
        let e = MariadbExecuted::default();
        assert!(!e.contains(&g("0-1-1")));
        assert_eq!(e.to_string(), "binlog state '', slave position ''");
    }
}
