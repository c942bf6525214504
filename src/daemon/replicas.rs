//! Where each replica of a cluster stood on its master, recorded every few seconds into
//! `spool_dir/<alias>/replica-positions.json`, so a fill without GTIDs knows the successor's
//! position on the dead master even though orchestrator reset its replication before the hook.
//!
//! Owns the polling task (`SHOW REPLICA STATUS`, falling back to `SHOW SLAVE STATUS`); the
//! file's format and reading it are `spool::replica_positions`. A replica's
//! entry is replaced only by a successful read that shows a configured source, so the last
//! position seen before the promotion survives the `RESET REPLICA ALL`. It does not capture.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;
use tokio::sync::watch;

use crate::apply::TargetOptions;
use crate::capture::Shutdown;

use crate::spool::replica_positions::{FILE_NAME, RecordedPositions, ReplicaPosition, save};

use super::config::{ClusterSpec, DaemonConfig};
use super::state::{Registry, ReplicaBrief};

fn column(row: &mysql_async::Row, names: &[&str]) -> Option<String> {
    let cols = row.columns_ref();
    for n in names {
        if let Some(i) = cols.iter().position(|c| c.name_str() == *n) {
            return match row.as_ref(i)? {
                mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                mysql_async::Value::Int(v) => Some(v.to_string()),
                mysql_async::Value::UInt(v) => Some(v.to_string()),
                _ => None,
            };
        }
    }
    None
}

/// A replica status row → its position (`None` when replication is not configured).
fn position_from(row: &mysql_async::Row) -> Option<ReplicaPosition> {
    let host = column(row, &["Source_Host", "Master_Host"]).filter(|h| !h.is_empty())?;
    let port = column(row, &["Source_Port", "Master_Port"])?;
    let file = column(row, &["Relay_Source_Log_File", "Relay_Master_Log_File"])
        .filter(|f| !f.is_empty())?;
    let pos = column(row, &["Exec_Source_Log_Pos", "Exec_Master_Log_Pos"])?
        .parse()
        .ok()?;
    let gtid = |names: &[&str]| {
        column(row, names)
            .map(|s| s.replace(['\n', ' '], ""))
            .filter(|s| !s.is_empty())
    };
    Some(ReplicaPosition {
        source: format!("{host}:{port}"),
        file,
        pos,
        executed_gtid_set: gtid(&["Executed_Gtid_Set", "Gtid_IO_Pos"]),
        retrieved_gtid_set: gtid(&["Retrieved_Gtid_Set"]),
        at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    })
}

async fn read_replica(conn: &mut mysql_async::Conn) -> Result<Option<ReplicaPosition>, String> {
    let rows: Vec<mysql_async::Row> = match conn.query("SHOW REPLICA STATUS").await {
        Ok(r) => r,
        Err(_) => conn
            .query("SHOW SLAVE STATUS")
            .await
            .map_err(|e| e.to_string())?,
    };
    Ok(rows.first().and_then(position_from))
}

/// What status shows: every listed replica with its last error and record, then every other
/// replica the file still records (e.g. the successor, recorded before its promotion).
fn briefs(
    listed: &[String],
    all: &RecordedPositions,
    mut errors: BTreeMap<String, String>,
) -> Vec<ReplicaBrief> {
    let mut out: Vec<ReplicaBrief> = listed
        .iter()
        .map(|r| ReplicaBrief {
            replica: r.clone(),
            error: errors.remove(r),
            recorded: all.replicas.get(r).cloned(),
        })
        .collect();
    out.extend(
        all.replicas
            .iter()
            .filter(|(r, _)| !listed.contains(r))
            .map(|(r, p)| ReplicaBrief {
                replica: r.clone(),
                error: None,
                recorded: Some(p.clone()),
            }),
    );
    out
}

/// The polling task of one cluster.
pub struct Recorder {
    pub cfg: Arc<DaemonConfig>,
    pub alias: String,
    pub spec: watch::Receiver<ClusterSpec>,
    pub stop: Shutdown,
    pub registry: Registry,
}

impl Recorder {
    pub async fn run(mut self) {
        if self.cfg.replica_interval.is_zero() {
            return;
        }
        let dir: PathBuf = self.cfg.spool_dir.join(&self.alias);
        let path = dir.join(FILE_NAME);
        let mut all: RecordedPositions = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        // What earlier runs recorded shows at once, before the first (slow) poll.
        let listed = self.spec.borrow().replicas.clone();
        self.registry
            .replicas(&self.alias, briefs(&listed, &all, BTreeMap::new()));
        let mut conns: BTreeMap<String, mysql_async::Conn> = BTreeMap::new();
        let mut tick = tokio::time::interval(self.cfg.replica_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = stop.requested() => break,
                _ = tick.tick() => {}
            }
            let replicas = self.spec.borrow_and_update().replicas.clone();
            conns.retain(|r, _| replicas.contains(r));
            let mut errors = BTreeMap::new();
            let mut changed = false;
            for r in &replicas {
                match self.poll_one(&mut conns, r).await {
                    Ok(Some(p)) => {
                        let old = all.replicas.get(r);
                        if old.is_none_or(|o| {
                            (&o.source, &o.file, o.pos) != (&p.source, &p.file, p.pos)
                                || o.executed_gtid_set != p.executed_gtid_set
                        }) {
                            changed = true;
                        }
                        all.replicas.insert(r.clone(), p);
                    }
                    // Replication not configured (e.g. just promoted): keep the last position.
                    Ok(None) => {}
                    Err(e) => {
                        errors.insert(r.clone(), e);
                    }
                }
            }
            if changed
                && dir.exists()
                && let Err(e) = save(&path, &all)
            {
                tracing::warn!(cluster = %self.alias, error = %e, "cannot record replica positions");
            }
            self.registry
                .replicas(&self.alias, briefs(&replicas, &all, errors));
        }
        for (_, c) in conns {
            let _ = c.disconnect().await;
        }
    }

    async fn poll_one(
        &self,
        conns: &mut BTreeMap<String, mysql_async::Conn>,
        replica: &str,
    ) -> Result<Option<ReplicaPosition>, String> {
        let timeout = Duration::from_secs(5).min(self.cfg.replica_interval * 3);
        if !conns.contains_key(replica) {
            let target = TargetOptions {
                addr: replica.to_string(),
                credentials: self.cfg.credentials.clone(),
                tls: self.cfg.tls_options(),
            };
            let conn = tokio::time::timeout(timeout, target.connect())
                .await
                .map_err(|_| format!("no answer from {replica} within {timeout:?}"))?
                .map_err(|e| format!("cannot connect to {replica}: {e}"))?;
            conns.insert(replica.to_string(), conn);
        }
        let Some(conn) = conns.get_mut(replica) else {
            return Ok(None);
        };
        match tokio::time::timeout(timeout, read_replica(conn)).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => {
                conns.remove(replica);
                Err(format!("{replica}: {e}"))
            }
            Err(_) => {
                conns.remove(replica);
                Err(format!("{replica}: no answer within {timeout:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(source: &str, pos: u64) -> ReplicaPosition {
        ReplicaPosition {
            source: source.into(),
            file: "binlog.000001".into(),
            pos,
            executed_gtid_set: None,
            retrieved_gtid_set: None,
            at: 1,
        }
    }

    #[test]
    fn status_shows_every_recorded_replica() {
        let mut all = RecordedPositions::default();
        all.replicas.insert("r1:3306".into(), pos("m:3306", 400));
        all.replicas.insert("old:3306".into(), pos("m0:3306", 90));
        let listed = vec!["r1:3306".to_string(), "r2:3306".to_string()];
        let errors = BTreeMap::from([("r2:3306".to_string(), "cannot connect".to_string())]);
        let b = briefs(&listed, &all, errors);
        assert_eq!(b.len(), 3, "{b:?}");
        assert_eq!(b[0].replica, "r1:3306");
        assert_eq!(b[0].recorded.as_ref().map(|p| p.pos), Some(400));
        assert_eq!(b[0].error, None);
        assert_eq!(b[1].replica, "r2:3306");
        assert_eq!(b[1].error.as_deref(), Some("cannot connect"));
        assert_eq!(b[1].recorded, None);
        assert_eq!(b[2].replica, "old:3306");
        assert_eq!(
            b[2].recorded.as_ref().map(|p| p.source.as_str()),
            Some("m0:3306")
        );
        // Nothing listed, nothing polled yet: the file's records still show.
        assert_eq!(briefs(&[], &all, BTreeMap::new()).len(), 2);
    }
}
