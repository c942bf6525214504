//! The replication channel `gapfill` on the successor, for `fill --via serve`.
//!
//! Owns the statements the serve path runs on the successor about its channel: the CHANGE
//! and START ... UNTIL statements of each flavor (the CHANGE holds the one-time password: it is
//! built here, shown only redacted), reading the channel's state and errors (`SHOW REPLICA
//! STATUS FOR CHANNEL` / `SHOW SLAVE 'gapfill' STATUS`, MySQL's workers), removing it, and the
//! successor's settings that would make its applier skip events (filters, `*_skip_errors`,
//! `*_exec_mode`) or keep the fill from configuring a channel (privileges). Deciding the path
//! and waiting for the gap are `via_serve`'s.

use mysql_async::Row;
use mysql_async::prelude::Queryable;

use crate::apply::ServerFlavor;
use crate::protocol::Password;

use super::error::FillError;
use super::successor::Successor;

/// The replication channel (MySQL) or connection name (MariaDB) the fill uses.
pub const CHANNEL: &str = "gapfill";

/// The channel's settings.
pub(super) struct Channel<'a> {
    pub(super) flavor: ServerFlavor,
    pub(super) host: &'a str,
    pub(super) port: u16,
    pub(super) user: &'a str,
    pub(super) password: &'a Password,
    pub(super) tls: bool,
    pub(super) use_gtid: Option<&'static str>,
}

impl Channel<'_> {
    /// The CHANGE statement (it holds the password: never log it).
    pub(super) fn change(&self) -> String {
        let ssl = u8::from(self.tls);
        match self.flavor {
            ServerFlavor::MySql => format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST={}, SOURCE_PORT={}, SOURCE_USER={}, \
                 SOURCE_PASSWORD={}, SOURCE_AUTO_POSITION=1, SOURCE_SSL={ssl}, \
                 SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=10, SOURCE_HEARTBEAT_PERIOD=1 \
                 FOR CHANNEL '{CHANNEL}'",
                quote(self.host),
                self.port,
                quote(self.user),
                quote(self.password.expose()),
            ),
            ServerFlavor::MariaDb => format!(
                "CHANGE MASTER '{CHANNEL}' TO MASTER_HOST={}, MASTER_PORT={}, MASTER_USER={}, \
                 MASTER_PASSWORD={}, MASTER_USE_GTID={}, MASTER_SSL={ssl}, \
                 MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1",
                quote(self.host),
                self.port,
                quote(self.user),
                quote(self.password.expose()),
                self.use_gtid.unwrap_or("slave_pos"),
            ),
        }
    }

    /// The CHANGE statement as it may be shown.
    pub(super) fn change_shown(&self) -> String {
        self.change()
            .replace(&quote(self.password.expose()), "'<one-time password>'")
    }

    pub(super) fn start(&self, until: &str) -> String {
        match self.flavor {
            ServerFlavor::MySql => format!(
                "START REPLICA UNTIL SQL_AFTER_GTIDS = {} FOR CHANNEL '{CHANNEL}'",
                quote(until)
            ),
            ServerFlavor::MariaDb => format!(
                "START SLAVE '{CHANNEL}' UNTIL master_gtid_pos = {}",
                quote(until)
            ),
        }
    }
}

fn status_query(flavor: ServerFlavor) -> String {
    match flavor {
        ServerFlavor::MySql => format!("SHOW REPLICA STATUS FOR CHANNEL '{CHANNEL}'"),
        ServerFlavor::MariaDb => format!("SHOW SLAVE '{CHANNEL}' STATUS"),
    }
}

/// The channel as `SHOW REPLICA STATUS FOR CHANNEL` / `SHOW SLAVE 'gapfill' STATUS` shows it.
#[derive(Debug, Default)]
pub(super) struct ChannelStatus {
    pub(super) configured: bool,
    pub(super) io_running: bool,
    pub(super) sql_running: bool,
    pub(super) io_error: Option<String>,
    pub(super) sql_error: Option<String>,
    /// `(column, value)` of every non-empty replication filter.
    pub(super) filters: Vec<(String, String)>,
}

const FILTER_COLUMNS: &[&str] = &[
    "Replicate_Do_DB",
    "Replicate_Ignore_DB",
    "Replicate_Do_Table",
    "Replicate_Ignore_Table",
    "Replicate_Wild_Do_Table",
    "Replicate_Wild_Ignore_Table",
    "Replicate_Rewrite_DB",
    "Replicate_Ignore_Server_Ids",
    "Replicate_Do_Domain_Ids",
    "Replicate_Ignore_Domain_Ids",
];

pub(super) async fn channel_status(
    succ: &mut Successor,
    flavor: ServerFlavor,
) -> Result<Option<ChannelStatus>, FillError> {
    let q = status_query(flavor);
    let addr = succ.addr.clone();
    let row: Option<Row> = succ
        .conn()
        .query_first(&q)
        .await
        .map_err(FillError::on_successor(&addr, &q))?;
    let Some(row) = row else { return Ok(None) };
    let text = |n: &str| -> String {
        row.get_opt::<Option<String>, _>(n)
            .and_then(|r| r.ok())
            .flatten()
            .unwrap_or_default()
    };
    let (io, sql) = match flavor {
        ServerFlavor::MySql => ("Replica_IO_Running", "Replica_SQL_Running"),
        ServerFlavor::MariaDb => ("Slave_IO_Running", "Slave_SQL_Running"),
    };
    let err = |no: &str, msg: &str| {
        let n = text(no);
        (!n.is_empty() && n != "0").then(|| format!("error {n}: {}", text(msg)))
    };
    Ok(Some(ChannelStatus {
        configured: true,
        io_running: text(io) != "No",
        sql_running: text(sql) == "Yes",
        io_error: err("Last_IO_Errno", "Last_IO_Error"),
        sql_error: err("Last_SQL_Errno", "Last_SQL_Error"),
        filters: FILTER_COLUMNS
            .iter()
            .map(|c| (c.to_string(), text(c)))
            .filter(|(_, v)| !v.trim().is_empty())
            .collect(),
    }))
}

pub(super) fn channel_filters(st: Option<&ChannelStatus>) -> Vec<String> {
    st.map(|s| s.filters.iter().map(|(c, v)| format!("{c}: {v}")).collect())
        .unwrap_or_default()
}

/// MySQL: the workers' own messages (the coordinator's only points at them).
pub(super) async fn worker_errors(succ: &mut Successor, flavor: ServerFlavor) -> String {
    if flavor != ServerFlavor::MySql {
        return String::new();
    }
    let q = format!(
        "SELECT LAST_ERROR_NUMBER, LAST_ERROR_MESSAGE FROM \
         performance_schema.replication_applier_status_by_worker \
         WHERE CHANNEL_NAME = '{CHANNEL}' AND LAST_ERROR_NUMBER <> 0"
    );
    let rows: Vec<(u64, String)> = succ.conn().query(&q).await.unwrap_or_default();
    rows.into_iter()
        .map(|(n, m)| format!(" (worker: error {n}: {m})"))
        .collect()
}

/// Stop and forget the channel, when there is one (`true`: there was).
pub async fn remove_channel(succ: &mut Successor, flavor: ServerFlavor) -> Result<bool, FillError> {
    if channel_status(succ, flavor).await.ok().flatten().is_none() {
        // MySQL shows nothing for an unknown channel (or errors); MariaDB errors.
        return Ok(false);
    }
    let stmts = match flavor {
        ServerFlavor::MySql => [
            format!("STOP REPLICA FOR CHANNEL '{CHANNEL}'"),
            format!("RESET REPLICA ALL FOR CHANNEL '{CHANNEL}'"),
        ],
        ServerFlavor::MariaDb => [
            format!("STOP SLAVE '{CHANNEL}'"),
            format!("RESET SLAVE '{CHANNEL}' ALL"),
        ],
    };
    for q in stmts {
        let addr = succ.addr.clone();
        succ.conn()
            .query_drop(&q)
            .await
            .map_err(FillError::on_successor(&addr, &q))?;
    }
    Ok(true)
}

/// Settings that make a replica's applier skip events or errors, as the successor has them
/// globally (a new channel starts with them).
pub(super) async fn skipping_settings(succ: &mut Successor) -> Result<Vec<String>, FillError> {
    let mut out = Vec::new();
    let addr = succ.addr.clone();
    let err = |q: &str| FillError::on_successor(&addr, q);
    match succ.flavor {
        ServerFlavor::MySql => {
            let q = "SELECT FILTER_NAME, FILTER_RULE FROM \
                     performance_schema.replication_applier_global_filters \
                     WHERE FILTER_RULE <> ''";
            let rows: Vec<(String, String)> = succ.conn().query(q).await.map_err(err(q))?;
            out.extend(rows.into_iter().map(|(n, r)| format!("{n}: {r}")));
            let q = "SELECT @@GLOBAL.replica_skip_errors, @@GLOBAL.replica_exec_mode";
            let (skip, mode): (String, String) = succ
                .conn()
                .query_first(q)
                .await
                .map_err(err(q))?
                .unwrap_or_default();
            out.extend(skip_settings("replica", &skip, &mode));
        }
        ServerFlavor::MariaDb => {
            let names = [
                "replicate_do_db",
                "replicate_ignore_db",
                "replicate_do_table",
                "replicate_ignore_table",
                "replicate_wild_do_table",
                "replicate_wild_ignore_table",
            ];
            let q = format!(
                "SELECT {}",
                names
                    .iter()
                    .map(|n| format!("CAST(@@GLOBAL.{n} AS CHAR)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let row: Option<Row> = succ.conn().query_first(&q).await.map_err(err(&q))?;
            if let Some(row) = row {
                for (i, n) in names.iter().enumerate() {
                    let v: Option<String> = row.get_opt(i).and_then(|r| r.ok()).flatten();
                    if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                        out.push(format!("{n}: {v}"));
                    }
                }
            }
            let q = "SELECT @@GLOBAL.slave_skip_errors, @@GLOBAL.slave_exec_mode";
            let (skip, mode): (String, String) = succ
                .conn()
                .query_first(q)
                .await
                .map_err(err(q))?
                .unwrap_or_default();
            out.extend(skip_settings("slave", &skip, &mode));
        }
    }
    Ok(out)
}

/// `*_skip_errors` other than OFF, `*_exec_mode` other than STRICT.
fn skip_settings(prefix: &str, skip: &str, mode: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !skip.trim().is_empty() && !skip.eq_ignore_ascii_case("OFF") {
        out.push(format!("{prefix}_skip_errors: {skip}"));
    }
    if !mode.trim().is_empty() && !mode.eq_ignore_ascii_case("STRICT") {
        out.push(format!("{prefix}_exec_mode: {mode}"));
    }
    out
}

/// The privilege configuring a channel needs, when the account's grants show it lacks it.
pub(super) async fn lacking_privilege(
    succ: &mut Successor,
) -> Result<Option<&'static str>, FillError> {
    let addr = succ.addr.clone();
    let q = "SHOW GRANTS";
    // The rows may hold a password hash: never shown.
    let grants: Vec<String> = succ
        .conn()
        .query(q)
        .await
        .map_err(FillError::on_successor(&addr, q))?;
    Ok(grants_lack(&grants, succ.flavor))
}

/// From `SHOW GRANTS`: `Some(what)` when no global grant allows configuring a replication
/// channel and no role could; `None` when one does (or a role might: the server decides).
fn grants_lack(grants: &[String], flavor: ServerFlavor) -> Option<&'static str> {
    let enough: &[&str] = match flavor {
        ServerFlavor::MySql => &["ALL PRIVILEGES", "SUPER", "REPLICATION_SLAVE_ADMIN"],
        ServerFlavor::MariaDb => &["ALL PRIVILEGES", "SUPER", "REPLICATION SLAVE ADMIN"],
    };
    for g in grants {
        let Some(rest) = g.strip_prefix("GRANT ") else {
            continue;
        };
        let Some((privs, _)) = rest.split_once(" ON ") else {
            // GRANT `role`@`host` TO ...: a role's privileges are not listed here.
            return None;
        };
        if !rest.contains(" ON *.* ") {
            continue;
        }
        if privs
            .split(',')
            .map(|p| p.trim().to_ascii_uppercase())
            .any(|p| enough.contains(&p.as_str()))
        {
            return None;
        }
    }
    Some(match flavor {
        ServerFlavor::MySql => "REPLICATION_SLAVE_ADMIN (or SUPER)",
        ServerFlavor::MariaDb => "REPLICATION SLAVE ADMIN (or SUPER)",
    })
}

/// A string literal for MySQL and MariaDB (NO_BACKSLASH_ESCAPES or not).
pub(super) fn quote(s: &str) -> String {
    if s.contains('\\') {
        // Backslashes mean different things with and without NO_BACKSLASH_ESCAPES: hex.
        let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
        return format!("X'{hex}'");
    }
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(flavor: ServerFlavor, pw: &Password) -> Channel<'_> {
        Channel {
            flavor,
            host: "10.0.0.5",
            port: 33061,
            user: "gapfill_0a0b0c0d",
            password: pw,
            tls: false,
            use_gtid: Some("slave_pos"),
        }
    }

    #[test]
    fn statements_name_the_channel_and_hide_the_password_when_shown() {
        let pw = Password::new("Abc123xyz");
        let my = ch(ServerFlavor::MySql, &pw);
        assert_eq!(
            my.change(),
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.0.0.5', SOURCE_PORT=33061, \
             SOURCE_USER='gapfill_0a0b0c0d', SOURCE_PASSWORD='Abc123xyz', \
             SOURCE_AUTO_POSITION=1, SOURCE_SSL=0, SOURCE_CONNECT_RETRY=1, \
             SOURCE_RETRY_COUNT=10, SOURCE_HEARTBEAT_PERIOD=1 FOR CHANNEL 'gapfill'"
        );
        assert!(!my.change_shown().contains("Abc123xyz"));
        assert!(my.change_shown().contains("<one-time password>"));
        assert_eq!(
            my.start("u:1-3"),
            "START REPLICA UNTIL SQL_AFTER_GTIDS = 'u:1-3' FOR CHANNEL 'gapfill'"
        );
        let ma = Channel {
            tls: true,
            ..ch(ServerFlavor::MariaDb, &pw)
        };
        assert_eq!(
            ma.change(),
            "CHANGE MASTER 'gapfill' TO MASTER_HOST='10.0.0.5', MASTER_PORT=33061, \
             MASTER_USER='gapfill_0a0b0c0d', MASTER_PASSWORD='Abc123xyz', \
             MASTER_USE_GTID=slave_pos, MASTER_SSL=1, MASTER_CONNECT_RETRY=1, \
             MASTER_HEARTBEAT_PERIOD=1"
        );
        assert_eq!(
            ma.start("0-11-9,1-11-4"),
            "START SLAVE 'gapfill' UNTIL master_gtid_pos = '0-11-9,1-11-4'"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a'b"), "'a''b'");
        assert_eq!(quote("a\\b"), "X'615c62'");
    }

    #[test]
    fn grants_that_allow_a_channel() {
        let my = ServerFlavor::MySql;
        let ma = ServerFlavor::MariaDb;
        let g = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            grants_lack(
                &g(&["GRANT ALL PRIVILEGES ON *.* TO `gapfill`@`%` WITH GRANT OPTION"]),
                ma
            ),
            None
        );
        assert_eq!(
            grants_lack(
                &g(&[
                    "GRANT SELECT, REPLICATION SLAVE ON *.* TO `u`@`%`",
                    "GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `u`@`%`"
                ]),
                my
            ),
            None
        );
        // REPLICATION SLAVE is the source side's privilege, not enough on a replica.
        assert!(
            grants_lack(
                &g(&["GRANT SELECT, REPLICATION SLAVE ON *.* TO `u`@`%`"]),
                my
            )
            .is_some()
        );
        // A schema-level ALL is not global.
        assert!(grants_lack(&g(&["GRANT ALL PRIVILEGES ON `db`.* TO `u`@`%`"]), ma).is_some());
        // A role may grant it: the server decides.
        assert_eq!(
            grants_lack(
                &g(&[
                    "GRANT USAGE ON *.* TO `u`@`%`",
                    "GRANT `dba`@`%` TO `u`@`%`"
                ]),
                my
            ),
            None
        );
    }

    #[test]
    fn settings_that_skip() {
        assert!(skip_settings("replica", "OFF", "STRICT").is_empty());
        assert_eq!(
            skip_settings("slave", "1062", "IDEMPOTENT"),
            vec![
                "slave_skip_errors: 1062".to_string(),
                "slave_exec_mode: IDEMPOTENT".to_string()
            ]
        );
    }
}
