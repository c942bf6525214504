//! Preparing the promoted replica for the fill, and handing it back.
//!
//! Owns the statements a fill runs on the successor besides the transactions themselves:
//! reading what its SQL thread still has to apply and waiting for it, stopping (and with
//! `--open-writes` resetting) replication, fencing writes with `read_only` while the gap is
//! replayed, restoring or opening writes afterwards, and noticing writes the application made
//! before the fill (a successor opened too early). `super_read_only` blocks even our own
//! session (on MySQL only replication threads pass it), so the fence is `read_only=ON` with
//! `super_read_only=OFF`: on MySQL accounts without CONNECTION_ADMIN / SUPER are refused, on
//! MariaDB 10.11 (no `super_read_only`) every account without READ ONLY ADMIN, SUPER
//! included; gapfill's user writes. The state found before is restored exactly
//! (tests/fence_live.rs).

use std::path::Path;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use std::collections::BTreeMap;

use crate::apply::{Executed, ServerFlavor, TargetOptions, read_executed};
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::{MariadbGtid, MariadbGtidPos};
use crate::spool::{ResumePoint, Spool, TxnGtid};

use super::error::FillError;

/// The successor's write-fence state before the fill touched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReadOnlyState {
    pub read_only: bool,
    pub super_read_only: bool,
}

/// A connection to the successor with what the fill learnt about it.
pub struct Successor {
    pub addr: String,
    pub flavor: ServerFlavor,
    pub server_uuid: Option<String>,
    pub server_id: u32,
    conn: Conn,
    saved: Option<ReadOnlyState>,
}

/// Where the successor's replication stood.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaState {
    pub io_running: bool,
    pub sql_running: bool,
    pub read_file: String,
    pub read_pos: u64,
    pub exec_file: String,
    pub exec_pos: u64,
}

impl ReplicaState {
    fn caught_up(&self) -> bool {
        self.read_file == self.exec_file && self.read_pos == self.exec_pos
    }
}

impl Successor {
    fn err(&self, action: &str) -> impl FnOnce(mysql_async::Error) -> FillError + use<> {
        FillError::on_successor(&self.addr, action)
    }

    pub async fn connect(target: &TargetOptions) -> Result<Successor, FillError> {
        let mk = |action: &str| FillError::on_successor(&target.addr, action);
        let mut conn = target.connect().await.map_err(mk("connect"))?;
        let (version, server_id): (String, u32) = conn
            .query_first("SELECT @@version, @@server_id")
            .await
            .map_err(mk("read @@version"))?
            .unwrap_or_default();
        let flavor = if version.contains("MariaDB") {
            ServerFlavor::MariaDb
        } else {
            ServerFlavor::MySql
        };
        let server_uuid = match flavor {
            ServerFlavor::MySql => conn
                .query_first("SELECT @@server_uuid")
                .await
                .map_err(mk("read @@server_uuid"))?,
            ServerFlavor::MariaDb => None,
        };
        Ok(Successor {
            addr: target.addr.clone(),
            flavor,
            server_uuid,
            server_id,
            conn,
            saved: None,
        })
    }

    /// The fill's connection to the successor (for the serve path's channel statements).
    pub(crate) fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Replication as the successor reports it, `None` when none is configured (orchestrator
    /// already ran `RESET REPLICA ALL`).
    pub async fn replica_state(&mut self) -> Result<Option<ReplicaState>, FillError> {
        let (q, names) = match self.flavor {
            ServerFlavor::MySql => (
                "SHOW REPLICA STATUS",
                [
                    "Replica_IO_Running",
                    "Replica_SQL_Running",
                    "Source_Log_File",
                    "Read_Source_Log_Pos",
                    "Relay_Source_Log_File",
                    "Exec_Source_Log_Pos",
                ],
            ),
            ServerFlavor::MariaDb => (
                "SHOW SLAVE STATUS",
                [
                    "Slave_IO_Running",
                    "Slave_SQL_Running",
                    "Master_Log_File",
                    "Read_Master_Log_Pos",
                    "Relay_Master_Log_File",
                    "Exec_Master_Log_Pos",
                ],
            ),
        };
        let addr = self.addr.clone();
        let row: Option<mysql_async::Row> = self
            .conn
            .query_first(q)
            .await
            .map_err(FillError::on_successor(&addr, q))?;
        let Some(row) = row else { return Ok(None) };
        let text = |n: &str| -> String {
            row.get_opt::<Option<String>, _>(n)
                .and_then(|r| r.ok())
                .flatten()
                .unwrap_or_default()
        };
        let num = |n: &str| text(n).parse::<u64>().unwrap_or(0);
        Ok(Some(ReplicaState {
            io_running: text(names[0]) == "Yes",
            sql_running: text(names[1]) == "Yes",
            read_file: text(names[2]),
            read_pos: num(names[3]),
            exec_file: text(names[4]),
            exec_pos: num(names[5]),
        }))
    }

    /// Let a running SQL thread apply everything the replica received, then stop
    /// replication (and with `reset` forget it, as orchestrator's promotion would).
    pub async fn settle_replication(
        &mut self,
        timeout: Duration,
        reset: bool,
    ) -> Result<Option<ReplicaState>, FillError> {
        let Some(mut st) = self.replica_state().await? else {
            return Ok(None);
        };
        // The master is dead: the IO thread has nothing more to fetch.
        let stop_io = match self.flavor {
            ServerFlavor::MySql => "STOP REPLICA IO_THREAD",
            ServerFlavor::MariaDb => "STOP SLAVE IO_THREAD",
        };
        self.conn
            .query_drop(stop_io)
            .await
            .map_err(self.err(stop_io))?;
        let start = Instant::now();
        while st.sql_running && !st.caught_up() {
            if start.elapsed() > timeout {
                return Err(FillError::SqlThreadTimeout {
                    addr: self.addr.clone(),
                    seconds: timeout.as_secs(),
                    detail: format!(
                        "read up to {}:{}, executed up to {}:{}",
                        st.read_file, st.read_pos, st.exec_file, st.exec_pos
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            st = self.replica_state().await?.unwrap_or_default();
        }
        let (stop, reset_all) = match self.flavor {
            ServerFlavor::MySql => ("STOP REPLICA", "RESET REPLICA ALL"),
            ServerFlavor::MariaDb => ("STOP SLAVE", "RESET SLAVE ALL"),
        };
        self.conn.query_drop(stop).await.map_err(self.err(stop))?;
        if reset {
            self.conn
                .query_drop(reset_all)
                .await
                .map_err(self.err(reset_all))?;
        }
        Ok(Some(st))
    }

    /// What the successor has executed.
    pub async fn executed(&mut self) -> Result<Executed, FillError> {
        Ok(read_executed(&mut self.conn, self.flavor, &self.addr).await?)
    }

    /// What the successor executed, as the position a peer is asked to continue after: a
    /// MySQL GTID set, or for MariaDB the replication position with the binlog state's
    /// entries of other servers (its own writes would hide the gap's sequence numbers).
    pub fn position_for_peers(&self, executed: &Executed) -> String {
        match executed {
            Executed::MySql(s) => s.to_string(),
            Executed::MariaDb(e) => {
                let mut pos = e.replicated().clone();
                for g in e
                    .binlog_state()
                    .iter()
                    .filter(|g| g.server != self.server_id)
                {
                    pos.update(&g);
                }
                pos.to_string()
            }
        }
    }

    /// GTIDs the successor wrote itself after it stopped replicating from the dead master:
    /// writes the application made on it before the fill (or errant ones made while it was a
    /// replica), which the gap may conflict with. Its own GTIDs from an earlier time as a
    /// master are not counted: the dead master carried them, so the spool knows them (see
    /// [`own_writes_mysql`] and [`own_writes_mariadb`]). `None`: none.
    pub fn own_writes(&self, executed: &Executed, spool: &Spool) -> Option<String> {
        match executed {
            Executed::MySql(set) => {
                let uuid = self.server_uuid.as_deref()?;
                let known = match spool.resume_point() {
                    Some(ResumePoint::MySqlGtids(k)) => k,
                    _ => GtidSet::new(),
                };
                own_writes_mysql(set, uuid, &known)
            }
            Executed::MariaDb(e) => {
                let known = DeadMasterKnew::mariadb(spool, self.server_id);
                own_writes_mariadb(e, self.server_id, &known)
            }
        }
    }

    /// Refuse application writes while the gap is replayed (see the module docs).
    ///
    /// The state before the fence is also kept in `memo` until [`Successor::unfence`]
    /// succeeds: a fill killed while fenced leaves the successor read-only, and the re-run
    /// must hand back what orchestrator left, not the fence it finds.
    pub async fn fence(&mut self, memo: &Path) -> Result<ReadOnlyState, FillError> {
        let saved = match self.fence_memo(memo) {
            Some(s) => s,
            None => {
                let s = self.read_only_state().await?;
                let json = serde_json::json!({
                    "successor": self.addr,
                    "read_only": s.read_only,
                    "super_read_only": s.super_read_only,
                });
                std::fs::write(memo, json.to_string()).map_err(|e| FillError::SuccessorState {
                    addr: self.addr.clone(),
                    detail: format!("cannot record the write fence in {}: {e}", memo.display()),
                })?;
                s
            }
        };
        if self.flavor == ServerFlavor::MySql {
            let q = "SET GLOBAL super_read_only = OFF";
            self.conn.query_drop(q).await.map_err(self.err(q))?;
        }
        let q = "SET GLOBAL read_only = ON";
        self.conn.query_drop(q).await.map_err(self.err(q))?;
        self.saved = Some(saved);
        Ok(saved)
    }

    /// MariaDB: record the filled GTIDs in `gtid_slave_pos`, as the replica's SQL thread would
    /// have. They carry the dead master's server id, so without this `gtid_current_pos` stays
    /// at what replication last applied and a later `MASTER_USE_GTID=current_pos` (or a
    /// re-run reading it) would start from before the gap. For each domain, the binlog's last
    /// GTID wins unless the successor wrote it itself (then the domain keeps its position, or
    /// takes that own GTID when it had none). `without_effect`: GTIDs of the gap the apply
    /// could not record (MariaDB does not binlog an empty transaction), taken when later than
    /// the binlog's. A domain's position never moves back.
    pub async fn record_slave_pos(
        &mut self,
        without_effect: &[MariadbGtid],
    ) -> Result<Option<String>, FillError> {
        if self.flavor != ServerFlavor::MariaDb {
            return Ok(None);
        }
        let q =
            "SELECT CAST(@@GLOBAL.gtid_binlog_pos AS CHAR), CAST(@@GLOBAL.gtid_slave_pos AS CHAR)";
        let (binlog, slave): (Option<String>, Option<String>) = self
            .conn
            .query_first(q)
            .await
            .map_err(self.err(q))?
            .unwrap_or_default();
        let parse = |s: Option<String>| MariadbGtidPos::parse(s.unwrap_or_default().trim());
        let (Ok(binlog), Ok(mut pos)) = (parse(binlog), parse(slave)) else {
            return Ok(None);
        };
        let mut changed = false;
        // A domain never moves back: the server's own applier (the serve path) records a
        // transaction without effect in gtid_slave_pos past the binlog's last GTID.
        for g in binlog
            .iter()
            .filter(|g| g.server != self.server_id)
            .chain(without_effect)
        {
            if pos.get(g.domain).is_none_or(|p| p.seq < g.seq) {
                pos.set(*g);
                changed = true;
            }
        }
        // A domain only the successor wrote in (an own write after the promotion in a new
        // domain) must be named too: the server refuses a gtid_slave_pos lacking a domain its
        // binlog holds (ERROR 1948).
        if changed {
            for g in binlog.iter() {
                if pos.get(g.domain).is_none() {
                    pos.set(*g);
                }
            }
        }
        if !changed {
            return Ok(None);
        }
        let text = pos
            .iter()
            .map(|g| g.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let q = format!("SET GLOBAL gtid_slave_pos = '{text}'");
        self.conn.query_drop(&q).await.map_err(self.err(&q))?;
        Ok(Some(text))
    }

    /// The state an earlier, interrupted fill of this successor fenced.
    pub fn fence_memo(&self, memo: &Path) -> Option<ReadOnlyState> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(memo).ok()?).ok()?;
        if v["successor"].as_str() != Some(self.addr.as_str()) {
            return None;
        }
        Some(ReadOnlyState {
            read_only: v["read_only"].as_bool()?,
            super_read_only: v["super_read_only"].as_bool()?,
        })
    }

    async fn read_only_state(&mut self) -> Result<ReadOnlyState, FillError> {
        let q = match self.flavor {
            ServerFlavor::MySql => "SELECT @@global.read_only, @@global.super_read_only",
            ServerFlavor::MariaDb => "SELECT @@global.read_only, 0",
        };
        let (read_only, super_read_only): (u8, u8) = self
            .conn
            .query_first(q)
            .await
            .map_err(self.err(q))?
            .unwrap_or_default();
        Ok(ReadOnlyState {
            read_only: read_only != 0,
            super_read_only: super_read_only != 0,
        })
    }

    /// After the fill: open writes (`--open-writes`), or put back what the fence replaced;
    /// then forget the fence memo.
    pub async fn unfence(
        &mut self,
        open_writes: bool,
        memo: &Path,
    ) -> Result<ReadOnlyState, FillError> {
        let want = self.unfence_inner(open_writes).await?;
        let _ = std::fs::remove_file(memo);
        Ok(want)
    }

    async fn unfence_inner(&mut self, open_writes: bool) -> Result<ReadOnlyState, FillError> {
        let want = if open_writes {
            ReadOnlyState {
                read_only: false,
                super_read_only: false,
            }
        } else {
            match self.saved {
                Some(s) => s,
                None => return self.read_only_state().await,
            }
        };
        let mut stmts = vec![format!(
            "SET GLOBAL read_only = {}",
            if want.read_only { "ON" } else { "OFF" }
        )];
        if self.flavor == ServerFlavor::MySql && want.super_read_only {
            stmts.push("SET GLOBAL super_read_only = ON".into());
        }
        for q in stmts {
            self.conn.query_drop(&q).await.map_err(self.err(&q))?;
        }
        Ok(want)
    }
}

/// MySQL: the successor's own GTIDs (`uuid`) the dead master never had. `known` is what the
/// spool knows the dead master executed: its GTID state at the spool's origin and every
/// transaction captured since. The successor's writes from an earlier time as a master
/// reached the dead master by replication and are in `known`; whatever it wrote after it
/// stopped replicating (after the promotion, or errant writes as a replica) is not. A set
/// difference, not "above the highest known GNO": the server hands out the lowest free GNO,
/// so a write after the promotion can fill a hole below it.
pub fn own_writes_mysql(executed: &GtidSet, uuid: &str, known: &GtidSet) -> Option<String> {
    let own: Vec<String> = executed
        .subtract(known)
        .sources()
        .filter(|(u, _, _)| u.to_string() == uuid)
        .map(|(u, tag, iv)| {
            let ranges: Vec<String> = iv
                .iter()
                .map(|i| {
                    if i.len() == 1 {
                        i.start.to_string()
                    } else {
                        format!("{}-{}", i.start, i.last())
                    }
                })
                .collect();
            match tag {
                Some(t) => format!("{u}:{t}:{}", ranges.join(":")),
                None => format!("{u}:{}", ranges.join(":")),
            }
        })
        .collect();
    (!own.is_empty()).then(|| own.join(","))
}

/// MariaDB: per replication domain, the highest sequence number at or below which every
/// GTID of the successor's server id is older than the dead master's last transaction the
/// successor may have written: the dead master's position in that domain where the spool
/// starts, and the highest GTID of the successor's server id the dead master's stream carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadMasterKnew {
    pub below: BTreeMap<u32, u64>,
}

impl DeadMasterKnew {
    /// From the spool of the dead master: for each domain, the sequence number before its
    /// first held transaction (its position there when the spool started; MariaDB numbers a
    /// domain's transactions in order), or the resume position for a domain with none held,
    /// raised to the highest GTID of `server_id` held.
    pub fn mariadb(spool: &Spool, server_id: u32) -> DeadMasterKnew {
        let mut first: BTreeMap<u32, u64> = BTreeMap::new();
        let mut own: BTreeMap<u32, u64> = BTreeMap::new();
        for t in spool.transactions() {
            let Ok(t) = t else { break };
            if let Some(TxnGtid::MariaDb(g)) = t.gtid {
                first.entry(g.domain).or_insert(g.seq.saturating_sub(1));
                if g.server == server_id {
                    let e = own.entry(g.domain).or_insert(0);
                    *e = (*e).max(g.seq);
                }
            }
        }
        if let Some(ResumePoint::MariaDbGtids(pos)) = spool.resume_point() {
            for g in pos.iter() {
                first.entry(g.domain).or_insert(g.seq);
            }
        }
        for (d, s) in own {
            let e = first.entry(d).or_insert(0);
            *e = (*e).max(s);
        }
        DeadMasterKnew { below: first }
    }
}

/// MariaDB: the successor's own GTIDs (`server_id`) in its binlog state that are newer than
/// anything the dead master knew in their domain ([`DeadMasterKnew`]). The binlog state keeps
/// only the last GTID per domain and server, so this names that last one.
pub fn own_writes_mariadb(
    executed: &MariadbExecuted,
    server_id: u32,
    known: &DeadMasterKnew,
) -> Option<String> {
    let own: Vec<String> = executed
        .binlog_state()
        .iter()
        .filter(|g| g.server == server_id)
        .filter(|g| g.seq > known.below.get(&g.domain).copied().unwrap_or(0))
        .map(|g| g.to_string())
        .collect();
    (!own.is_empty()).then(|| own.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::mariadb_gtid::MariadbBinlogState;

    const S: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const M: &str = "4e11fa47-71ca-11e1-9e33-c80aa9429562";

    fn set(s: &str) -> GtidSet {
        GtidSet::parse(s).unwrap()
    }

    #[test]
    fn mysql_counts_only_what_the_dead_master_never_had() {
        // The successor was the master once (S:1-3347, replicated to M), then M's replica;
        // after the promotion it wrote S:3348.
        let executed = set(&format!("{S}:1-3348,{M}:1-100"));
        let known = set(&format!("{S}:1-3347,{M}:1-120"));
        assert_eq!(
            own_writes_mysql(&executed, S, &known).as_deref(),
            Some(format!("{S}:3348").as_str())
        );
        // Nothing of its own since: nothing.
        let executed = set(&format!("{S}:1-3347,{M}:1-100"));
        assert_eq!(own_writes_mysql(&executed, S, &known), None);
        // A write that filled a hole below the highest known GNO still counts.
        let known = set(&format!("{S}:1-10:12-20,{M}:1-120"));
        let executed = set(&format!("{S}:1-20,{M}:1-100"));
        assert_eq!(
            own_writes_mysql(&executed, S, &known).as_deref(),
            Some(format!("{S}:11").as_str())
        );
        // An empty spool knows nothing: every own GTID counts (as ranges).
        assert_eq!(
            own_writes_mysql(&executed, S, &GtidSet::new()).as_deref(),
            Some(format!("{S}:1-20").as_str())
        );
    }

    #[test]
    fn mariadb_counts_only_what_is_newer_than_the_dead_master_knew() {
        let exec = |state: &str| {
            MariadbExecuted::new(
                MariadbBinlogState::parse(state).unwrap(),
                MariadbGtidPos::parse("0-11-90").unwrap(),
            )
        };
        // The dead master's stream carried the successor's (server 12) writes up to 0-12-40
        // and the spool started at seq 30 in domain 0.
        let known = DeadMasterKnew {
            below: BTreeMap::from([(0, 40)]),
        };
        assert_eq!(
            own_writes_mariadb(&exec("0-11-90,0-12-40"), 12, &known),
            None
        );
        // Written after the promotion while behind the dead master (its seq 91 is below the
        // dead master's last, 100): counted.
        assert_eq!(
            own_writes_mariadb(&exec("0-11-90,0-12-91"), 12, &known).as_deref(),
            Some("0-12-91")
        );
        // Another domain nobody knew: counted.
        assert_eq!(
            own_writes_mariadb(&exec("0-11-90,0-12-40,1-12-3"), 12, &known).as_deref(),
            Some("1-12-3")
        );
    }
}
