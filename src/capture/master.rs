//! What the capture needs to know about a master before it starts a fresh spool: its identity,
//! whether it writes GTIDs, and where its binlog ends now ("capture everything after now").
//!
//! One plain (non-dump) connection, a few read-only queries, then closed. It does not start
//! the dump (that is `protocol::session`) and does not choose the start (that is `start`).

use crate::binlog::Flavor;
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_gtid::MariadbGtidPos;
use crate::protocol::{ConnectOptions, Connection, ProtocolError};

use super::error::CaptureError;

/// ER_PARSE_ERROR: `SHOW BINARY LOG STATUS` on a MySQL before 8.2.
const ER_PARSE_ERROR: u16 = 1064;

/// A master's identity and the end of its binlog, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterState {
    pub addr: String,
    pub flavor: Flavor,
    pub version: String,
    pub server_id: u32,
    /// MySQL only.
    pub server_uuid: Option<String>,
    /// MySQL only: `ON`, `OFF`, `ON_PERMISSIVE`, `OFF_PERMISSIVE`.
    pub gtid_mode: Option<String>,
    /// MySQL: `@@gtid_executed` (empty set when GTIDs are off).
    pub gtid_executed: Option<GtidSet>,
    /// MariaDB: `@@gtid_binlog_pos`, the last GTID of each domain in the binlog.
    pub gtid_binlog_pos: Option<MariadbGtidPos>,
    /// The binlog file being written and the position after its last event.
    pub binlog_file: String,
    pub binlog_pos: u64,
}

impl MasterState {
    /// Whether the master writes GTIDs a dump can start from.
    pub fn gtids_on(&self) -> bool {
        match self.flavor {
            Flavor::MariaDb => true,
            Flavor::MySql => self.gtid_mode.as_deref() == Some("ON"),
        }
    }

    /// Connect, read the state, disconnect.
    pub async fn query(opts: &ConnectOptions) -> Result<MasterState, CaptureError> {
        let mut conn = Connection::connect(opts)
            .await
            .map_err(|e| CaptureError::protocol(&opts.addr, e))?;
        let state = MasterState::query_on(&mut conn).await;
        conn.close().await;
        state
    }

    /// Read the state on an open connection.
    pub async fn query_on(conn: &mut Connection) -> Result<MasterState, CaptureError> {
        let addr = conn.addr().to_string();
        let perr = |e| CaptureError::protocol(&addr, e);
        let bad = |what: &'static str, detail: String| CaptureError::MasterState {
            addr: addr.clone(),
            what,
            detail,
        };
        let rs = conn
            .query_rows("SELECT @@version, @@server_id")
            .await
            .map_err(perr)?;
        let row = rs
            .rows
            .first()
            .ok_or_else(|| bad("version", "no row".into()))?;
        let text = |i: usize| {
            row.get(i)
                .and_then(|v| v.as_deref())
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let version = text(0);
        let server_id = text(1)
            .parse()
            .map_err(|_| bad("server id", format!("not a number: {:?}", text(1))))?;
        let flavor = if conn.is_mariadb() || version.contains("MariaDB") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        };
        let mut state = MasterState {
            addr: addr.clone(),
            flavor,
            version,
            server_id,
            server_uuid: None,
            gtid_mode: None,
            gtid_executed: None,
            gtid_binlog_pos: None,
            binlog_file: String::new(),
            binlog_pos: 0,
        };
        // The binlog end and the GTID state are read together so they describe one moment
        // as nearly as the server allows (SHOW ... STATUS carries MySQL's executed set).
        let (file, pos, executed) = binlog_status(conn).await?;
        state.binlog_file = file;
        state.binlog_pos = pos;
        match flavor {
            Flavor::MySql => {
                let rs = conn
                    .query_rows("SELECT @@server_uuid, @@gtid_mode")
                    .await
                    .map_err(perr)?;
                let get = |i: usize| {
                    rs.rows
                        .first()
                        .and_then(|r| r.get(i))
                        .and_then(|v| v.as_deref())
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                };
                state.server_uuid = get(0);
                state.gtid_mode = get(1);
                let executed = match executed {
                    Some(e) => e,
                    None => conn
                        .query_one_string("SELECT @@global.gtid_executed")
                        .await
                        .map_err(perr)?
                        .unwrap_or_default(),
                };
                state.gtid_executed = Some(
                    GtidSet::parse(&executed)
                        .map_err(|e| bad("gtid_executed", format!("{executed:?}: {e}")))?,
                );
            }
            Flavor::MariaDb => {
                let pos = conn
                    .query_one_string("SELECT @@global.gtid_binlog_pos")
                    .await
                    .map_err(perr)?
                    .unwrap_or_default();
                state.gtid_binlog_pos = Some(
                    MariadbGtidPos::parse(&pos)
                        .map_err(|e| bad("gtid_binlog_pos", format!("{pos:?}: {e}")))?,
                );
            }
        }
        Ok(state)
    }
}

/// `(file, position, Executed_Gtid_Set if the server shows it)` from `SHOW BINARY LOG STATUS`
/// (MySQL 8.2+) or `SHOW MASTER STATUS` (older MySQL, MariaDB).
async fn binlog_status(
    conn: &mut Connection,
) -> Result<(String, u64, Option<String>), CaptureError> {
    let addr = conn.addr().to_string();
    let rs = if conn.is_mariadb() {
        conn.query_rows("SHOW MASTER STATUS").await
    } else {
        match conn.query_rows("SHOW BINARY LOG STATUS").await {
            Err(ProtocolError::Server { code, .. }) if code == ER_PARSE_ERROR => {
                conn.query_rows("SHOW MASTER STATUS").await
            }
            r => r,
        }
    }
    .map_err(|e| CaptureError::protocol(&addr, e))?;
    let Some(row) = rs.rows.first() else {
        return Err(CaptureError::NoBinlog { addr });
    };
    let col = |name: &str, fallback: usize| {
        let i = rs.column_index(name).unwrap_or(fallback);
        row.get(i)
            .and_then(|v| v.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let file = col("File", 0).unwrap_or_default();
    let pos_text = col("Position", 1).unwrap_or_default();
    let pos = pos_text.parse().map_err(|_| CaptureError::MasterState {
        addr: addr.clone(),
        what: "binlog position",
        detail: format!("not a number: {pos_text:?}"),
    })?;
    let executed = rs
        .column_index("Executed_Gtid_Set")
        .and_then(|i| row.get(i))
        .and_then(|v| v.as_deref())
        .map(|v| String::from_utf8_lossy(v).into_owned());
    Ok((file, pos, executed))
}

/// What the master says about semi-sync on `conn`, read before this replica registers (so
/// its client count is the other semi-sync replicas). Both flavors' variable names (MySQL
/// 8.0.26+ `source`, older MySQL and MariaDB `master`); a server without the plugin answers
/// with nothing, which leaves every field `None`.
pub async fn semisync_facts(
    conn: &mut Connection,
) -> Result<crate::spool::SemiSyncFacts, CaptureError> {
    let addr = conn.addr().to_string();
    let perr = |e| CaptureError::protocol(&addr, e);
    let mut facts = crate::spool::SemiSyncFacts::default();
    let vars = conn
        .query_rows("SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync_%'")
        .await
        .map_err(perr)?;
    let status = conn
        .query_rows("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%clients'")
        .await
        .map_err(perr)?;
    for row in vars.rows.iter().chain(status.rows.iter()) {
        let cell = |i: usize| {
            row.get(i)
                .and_then(|v| v.as_deref())
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let (name, value) = (cell(0).to_ascii_lowercase(), cell(1));
        let name = name.replace("_source_", "_master_");
        match name.as_str() {
            "rpl_semi_sync_master_enabled" => facts.enabled = Some(value == "ON"),
            "rpl_semi_sync_master_wait_point" => facts.wait_point = Some(value),
            "rpl_semi_sync_master_timeout" => facts.timeout_ms = value.parse().ok(),
            "rpl_semi_sync_master_wait_for_replica_count"
            | "rpl_semi_sync_master_wait_for_slave_count" => {
                facts.wait_for_count = value.parse().ok()
            }
            "rpl_semi_sync_master_clients" => facts.other_clients = value.parse().ok(),
            _ => {}
        }
    }
    Ok(facts)
}
