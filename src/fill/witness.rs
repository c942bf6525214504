//! Witnesses of the dead master's last commits, asked at the hook: orchestrator's last view
//! of it (`/api/instance/<host>/<port>`: executed GTIDs, binlog end, last seen), the other
//! replicas' received and executed sets (asked live, and as the daemon last recorded them in
//! `replica-positions.json`), and the replicas named on the command line.
//!
//! Owns asking them and comparing what each holds with what gapfill can supply (the spool,
//! a peer's pulled tail, and what the successor already has). It does not judge the tail
//! (`tail`) and never fails the fill: a witness it cannot ask is noted and skipped.

use std::time::Duration;

use crate::apply::{Executed, TargetOptions};
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_gtid::{MariadbGtid, MariadbGtidPos};
use crate::daemon::config::OrchestratorApi;
use crate::spool::coverage::cmp_coords;
use crate::spool::replica_positions::ReplicaPosition;

use super::tail::WitnessView;

/// What gapfill can supply plus what the successor has: a witness holding more is a loss.
pub struct Supply<'a> {
    /// The spool's resume point and the pulled peer tail (MySQL GTIDs).
    pub mysql: GtidSet,
    /// The same for MariaDB.
    pub mariadb: MariadbGtidPos,
    pub successor: &'a Executed,
    /// The failed master's binlog coordinates the capture reached.
    pub coords: Option<(String, u64)>,
}

impl Supply<'_> {
    /// What `set` (MySQL) holds beyond the supply: `(text, count)`.
    fn beyond_mysql(&self, set: &GtidSet) -> Option<(String, u64)> {
        let mut b = set.subtract(&self.mysql);
        if let Executed::MySql(s) = self.successor {
            b = b.subtract(s);
        }
        let n = b.count();
        (n > 0).then(|| (b.to_string(), n))
    }

    /// What a MariaDB position holds beyond the supply.
    fn beyond_mariadb(&self, pos: &MariadbGtidPos) -> Option<(String, u64)> {
        let mut names = Vec::new();
        let mut n = 0;
        for g in pos.iter() {
            let have = match self.successor {
                Executed::MariaDb(e) => e.contains(g),
                Executed::MySql(_) => false,
            };
            if !self.mariadb.contains(g) && !have {
                let held = self.mariadb.get(g.domain).map_or(0, |h| h.seq);
                n += g.seq.saturating_sub(held);
                names.push(g.to_string());
            }
        }
        (!names.is_empty()).then(|| (format!("up to {}", names.join(",")), n))
    }

    fn view_of(&self, source: String, gtids: &str) -> WitnessView {
        let mut v = WitnessView {
            source,
            ..WitnessView::default()
        };
        let text: String = gtids.split_whitespace().collect();
        if text.is_empty() {
            return v;
        }
        let found = match self.successor {
            Executed::MySql(_) => GtidSet::parse(&text)
                .map(|s| self.beyond_mysql(&s))
                .map_err(|e| e.to_string()),
            Executed::MariaDb(_) => MariadbGtidPos::parse(&text)
                .map(|p| self.beyond_mariadb(&p))
                .map_err(|e| e.to_string()),
        };
        match found {
            Ok(Some((b, n))) => {
                v.beyond = Some(b);
                v.beyond_count = Some(n);
            }
            Ok(None) => {}
            Err(e) => v.error = Some(format!("unreadable GTIDs {text:?}: {e}")),
        }
        v
    }
}

/// Merge MariaDB GTIDs given comma-separated (a peer's promise) into `pos`.
pub fn add_mariadb_list(pos: &mut MariadbGtidPos, list: &str) {
    for g in list
        .split(',')
        .filter_map(|g| MariadbGtid::parse(g.trim()).ok())
    {
        pos.update(&g);
    }
}

/// Who to ask.
pub struct Witnesses<'a> {
    pub failed: &'a str,
    pub successor: &'a str,
    pub orchestrator: Option<&'a OrchestratorApi>,
    /// Replicas named on the command line.
    pub replicas: &'a [String],
    /// The daemon's last record of the failed master's replicas.
    pub recorded: Vec<(String, ReplicaPosition)>,
    /// Credentials and TLS to reach replicas (the successor's).
    pub access: &'a TargetOptions,
    pub timeout: Duration,
}

/// Ask every witness. Returns their views and orchestrator's last sight of the master (µs).
pub async fn gather(w: &Witnesses<'_>, supply: &Supply<'_>) -> (Vec<WitnessView>, Option<u64>) {
    let mut views = Vec::new();
    let mut last_seen = None;
    let mut replicas: Vec<String> = w.replicas.to_vec();
    if let Some(api) = w.orchestrator {
        let mut v = WitnessView {
            source: "orchestrator".into(),
            ..WitnessView::default()
        };
        let asked = match crate::daemon::orchestrator::Client::new(api) {
            Ok(c) => c.instance(w.failed).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match asked {
            Ok(rec) => {
                last_seen = rec.last_seen_unix.map(|s| s * 1_000_000);
                if let Some(set) = &rec.executed_gtid_set {
                    v = supply.view_of(v.source, set);
                }
                if v.beyond.is_none()
                    && let (Some((f, p)), Some((cf, cp))) = (&rec.binlog_end, &supply.coords)
                    && cmp_coords(f, *p, cf, *cp).is_some_and(|o| o.is_gt())
                {
                    v.beyond = Some(format!(
                        "its binlog ended at {f}:{p}, the capture reached {cf}:{cp}"
                    ));
                }
                replicas.extend(rec.replicas);
            }
            Err(e) => v.error = Some(e),
        }
        views.push(v);
    }
    for (addr, rec) in &w.recorded {
        for (what, set) in [
            ("executed", &rec.executed_gtid_set),
            ("received", &rec.retrieved_gtid_set),
        ] {
            if let Some(set) = set {
                let v = supply.view_of(
                    format!("replica {addr} ({what}, as the daemon last recorded)"),
                    set,
                );
                if v.beyond.is_some() || v.error.is_some() {
                    views.push(v);
                }
            }
        }
        replicas.push(addr.clone());
    }
    replicas.sort();
    replicas.dedup();
    replicas.retain(|r| r != w.failed && r != w.successor);
    for addr in replicas {
        let target = TargetOptions {
            addr: addr.clone(),
            ..w.access.clone()
        };
        let source = format!("replica {addr}");
        match tokio::time::timeout(w.timeout, received_by(&target, supply.successor)).await {
            Ok(Ok(sets)) => {
                let mut v = WitnessView {
                    source: source.clone(),
                    ..WitnessView::default()
                };
                for set in sets {
                    let seen = supply.view_of(source.clone(), &set);
                    if seen.beyond.is_some() || seen.error.is_some() {
                        v = seen;
                        break;
                    }
                }
                views.push(v);
            }
            Ok(Err(e)) => views.push(WitnessView {
                source,
                error: Some(e),
                ..WitnessView::default()
            }),
            Err(_) => views.push(WitnessView {
                source,
                error: Some(format!("no answer within {:?}", w.timeout)),
                ..WitnessView::default()
            }),
        }
    }
    (views, last_seen)
}

/// A replica's executed and received GTIDs, as text.
async fn received_by(target: &TargetOptions, like: &Executed) -> Result<Vec<String>, String> {
    use mysql_async::prelude::Queryable;
    let mut conn = target.connect().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let (q, status, col) = match like {
        Executed::MySql(_) => (
            "SELECT CAST(@@GLOBAL.gtid_executed AS CHAR)",
            "SHOW REPLICA STATUS",
            "Retrieved_Gtid_Set",
        ),
        Executed::MariaDb(_) => (
            "SELECT CAST(@@GLOBAL.gtid_current_pos AS CHAR)",
            "SHOW SLAVE STATUS",
            "Gtid_IO_Pos",
        ),
    };
    let executed: Option<String> = conn.query_first(q).await.map_err(|e| e.to_string())?;
    out.extend(executed);
    let rows: Vec<mysql_async::Row> = conn.query(status).await.map_err(|e| e.to_string())?;
    for row in rows {
        if let Some(Ok(Some(v))) = row.get_opt::<Option<String>, _>(col) {
            out.push(v);
        }
    }
    let _ = conn.disconnect().await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::mariadb_executed::MariadbExecuted;

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn mysql_beyond_is_what_neither_the_spool_nor_the_successor_has() {
        let succ = Executed::MySql(GtidSet::parse(&format!("{U}:1-5")).unwrap());
        let s = Supply {
            mysql: GtidSet::parse(&format!("{U}:1-10")).unwrap(),
            mariadb: MariadbGtidPos::new(),
            successor: &succ,
            coords: None,
        };
        let v = s.view_of("w".into(), &format!("{U}:1-10"));
        assert_eq!(v.beyond, None);
        let v = s.view_of("w".into(), &format!("{U}:1-13,\n{U}:20"));
        assert_eq!(v.beyond.as_deref(), Some(format!("{U}:11-13:20").as_str()));
        assert_eq!(v.beyond_count, Some(4));
        assert!(s.view_of("w".into(), "garbage").error.is_some());
        assert_eq!(s.view_of("w".into(), "").beyond, None);
    }

    #[test]
    fn mariadb_beyond_counts_per_domain() {
        let succ = Executed::MariaDb(MariadbExecuted::from_replicated(
            MariadbGtidPos::parse("0-1-5").unwrap(),
        ));
        let mut held = MariadbGtidPos::parse("0-1-8").unwrap();
        add_mariadb_list(&mut held, "0-1-9, 0-1-10");
        let s = Supply {
            mysql: GtidSet::new(),
            mariadb: held,
            successor: &succ,
            coords: None,
        };
        assert_eq!(s.view_of("w".into(), "0-1-10").beyond, None);
        let v = s.view_of("w".into(), "0-1-13,1-1-2");
        assert_eq!(v.beyond_count, Some(5));
        assert!(v.beyond.unwrap().contains("0-1-13"));
    }
}
