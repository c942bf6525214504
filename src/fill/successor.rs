//! Preparing the promoted replica for the fill, and handing it back.
//!
//! Owns the statements a fill runs on the successor besides the transactions themselves:
//! reading what its SQL thread still has to apply and waiting for it, stopping (and with
//! `--open-writes` resetting) replication, fencing writes with `read_only` while the gap is
//! replayed, restoring or opening writes afterwards, and noticing writes the application made
//! before the fill (a successor opened too early). `super_read_only` blocks even our own
//! session, so the fence is `read_only=ON` with `super_read_only=OFF`: application users
//! without SUPER / READ_ONLY ADMIN are refused while gapfill's user writes.

use std::path::Path;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::apply::{Executed, ServerFlavor, TargetOptions, read_executed};
use crate::binlog::mariadb_gtid::MariadbGtidPos;

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
    fn err(&self, action: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> FillError + '_ {
        let action = action.into();
        move |source| FillError::Successor {
            addr: self.addr.clone(),
            action,
            source,
        }
    }

    pub async fn connect(target: &TargetOptions) -> Result<Successor, FillError> {
        let mk = |action: &str| {
            let addr = target.addr.clone();
            let action = action.to_string();
            move |source| FillError::Successor {
                addr,
                action,
                source,
            }
        };
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
        let row: Option<mysql_async::Row> =
            self.conn
                .query_first(q)
                .await
                .map_err(|source| FillError::Successor {
                    addr,
                    action: q.to_string(),
                    source,
                })?;
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

    /// GTIDs the successor wrote itself (its own server uuid, or its server id on MariaDB):
    /// writes the application made on it before the fill, which the gap may conflict with.
    pub fn own_writes(&self, executed: &Executed) -> Option<String> {
        match executed {
            Executed::MySql(set) => {
                let uuid = self.server_uuid.as_deref()?;
                let own: Vec<String> = set
                    .sources()
                    .filter(|(u, _, _)| u.to_string() == uuid)
                    .map(|(u, tag, iv)| {
                        let ranges: Vec<String> = iv
                            .iter()
                            .map(|i| format!("{}-{}", i.start, i.last()))
                            .collect();
                        match tag {
                            Some(t) => format!("{u}:{t}:{}", ranges.join(":")),
                            None => format!("{u}:{}", ranges.join(":")),
                        }
                    })
                    .collect();
                (!own.is_empty()).then(|| own.join(","))
            }
            Executed::MariaDb(e) => {
                let own: Vec<String> = e
                    .binlog_state()
                    .iter()
                    .filter(|g| g.server == self.server_id)
                    .map(|g| g.to_string())
                    .collect();
                (!own.is_empty()).then(|| own.join(","))
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
    /// GTID wins unless the successor wrote it itself.
    pub async fn record_slave_pos(&mut self) -> Result<Option<String>, FillError> {
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
        for g in binlog.iter().filter(|g| g.server != self.server_id) {
            changed |= pos.get(g.domain) != Some(g);
            pos.set(*g);
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
        self.conn
            .query_drop(&q)
            .await
            .map_err(self.err(q.clone()))?;
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
            self.conn
                .query_drop(&q)
                .await
                .map_err(self.err(q.clone()))?;
        }
        Ok(want)
    }
}
