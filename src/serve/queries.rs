//! The text queries a replica's I/O thread sends on connect, answered from what gapfill knows
//! about the served spool ([`SourceFacts`]) and what the replica set in its session
//! ([`SessionVars`]). Pure: query text in, OK / result set / ERR out.
//!
//! Understood: `SET @var = value[, ...]` (user variables: heartbeat period, checksum,
//! replica uuid, MariaDB capability and GTID connect state; `@@global.x` on the right side is
//! evaluated), `SET NAMES` / `SET SESSION` / `SET @@session.x` (accepted, ignored), `SELECT`
//! of `UNIX_TIMESTAMP()`, `VERSION()`, `@@[GLOBAL.|SESSION.]variable` and `@user_variable`
//! (one or more, comma-separated), and `SHOW [GLOBAL] VARIABLES LIKE 'name'`. Anything else
//! is refused with an ERR that names the query. The recorded queries of real replicas are in
//! `tests/fixtures/gapfill/serve/`.

use std::collections::BTreeMap;

use super::wire::{ColumnType, ResultSet, err_packet, ok_packet};

/// What the source says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFacts {
    pub mariadb: bool,
    pub server_id: u32,
    pub server_uuid: String,
    pub version: String,
    /// `CRC32` or `NONE`: the checksum of the spool's events.
    pub binlog_checksum: &'static str,
    /// What the spool holds, as the source's `@@gtid_executed` (MySQL) or
    /// `@@gtid_binlog_pos` / `@@gtid_current_pos` (MariaDB).
    pub gtid_executed: String,
}

/// The replica's session: its user variables (names lowercased, values as text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionVars {
    vars: BTreeMap<String, Option<String>>,
}

impl SessionVars {
    /// A user variable's value (`name` without `@`, any case); `None` when unset or NULL.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.as_deref())
    }

    /// The heartbeat period the replica asked for (`@master_heartbeat_period` or
    /// `@source_heartbeat_period`, nanoseconds); `None` when unset or 0.
    pub fn heartbeat_period(&self) -> Option<std::time::Duration> {
        let ns: u64 = ["source_heartbeat_period", "master_heartbeat_period"]
            .iter()
            .find_map(|n| self.get(n))?
            .trim()
            .parse()
            .ok()?;
        (ns > 0).then(|| std::time::Duration::from_nanos(ns))
    }

    /// The checksum the replica expects (`@source_binlog_checksum` or
    /// `@master_binlog_checksum`), upper-cased; `None` when it never said (a replica that does
    /// not know checksums).
    pub fn checksum(&self) -> Option<String> {
        ["source_binlog_checksum", "master_binlog_checksum"]
            .iter()
            .find_map(|n| self.get(n))
            .map(|v| v.trim().to_ascii_uppercase())
    }

    /// MariaDB: the GTID position to dump from (`@slave_connect_state`).
    pub fn connect_state(&self) -> Option<&str> {
        self.get("slave_connect_state")
    }
}

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Rows(ResultSet),
    Err { code: u16, message: String },
}

impl Answer {
    /// The payloads to send.
    pub fn encode(&self, deprecate_eof: bool) -> Vec<Vec<u8>> {
        match self {
            Answer::Ok => vec![ok_packet()],
            Answer::Rows(rs) => rs.encode(deprecate_eof),
            Answer::Err { code, message } => vec![err_packet(*code, "HY000", message)],
        }
    }
}

/// ER_UNKNOWN_SYSTEM_VARIABLE: what a server says to `SELECT @@no_such_variable`.
pub const ER_UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
/// ER_NOT_SUPPORTED_YET.
pub const ER_NOT_SUPPORTED_YET: u16 = 1235;

fn unsupported(query: &str) -> Answer {
    Answer::Err {
        code: ER_NOT_SUPPORTED_YET,
        message: format!(
            "gapfill serve (a replication source over a spool) does not answer the query: {query}"
        ),
    }
}

/// Answer `query` for a replica whose session is `vars` (updated by SET); `now` is the Unix
/// time for `UNIX_TIMESTAMP()`.
pub fn answer(query: &str, facts: &SourceFacts, vars: &mut SessionVars, now: u64) -> Answer {
    let q = query.trim().trim_end_matches(';').trim();
    let lower = q.to_ascii_lowercase();
    if let Some(rest) = strip_word(q, &lower, "set") {
        return set(q, rest, facts, vars);
    }
    if let Some(rest) = strip_word(q, &lower, "select") {
        return select(q, rest, facts, vars, now);
    }
    if let Some(rest) = strip_word(q, &lower, "show") {
        return show(q, rest, facts);
    }
    unsupported(q)
}

/// `rest` of `q` after a leading keyword (case-insensitive) and whitespace.
fn strip_word<'a>(q: &'a str, lower: &str, word: &str) -> Option<&'a str> {
    let after = lower.strip_prefix(word)?;
    if !after.starts_with(char::is_whitespace) {
        return None;
    }
    Some(q[word.len()..].trim_start())
}

fn set(q: &str, rest: &str, facts: &SourceFacts, vars: &mut SessionVars) -> Answer {
    let lower = rest.to_ascii_lowercase();
    // Session settings a client may send; gapfill's session has no such state.
    if lower.starts_with("names ")
        || lower.starts_with("session ")
        || lower.starts_with("@@session.")
        || lower.starts_with("character set ")
        || lower.starts_with("sql_mode")
        || lower.starts_with("autocommit")
        || lower.starts_with("time_zone")
        || lower.starts_with("wait_timeout")
        || lower.starts_with("net_")
    {
        return Answer::Ok;
    }
    let mut assigned = Vec::new();
    for part in split_top_level(rest) {
        let Some(name) = part.trim().strip_prefix('@') else {
            return unsupported(q);
        };
        if name.starts_with('@') {
            return unsupported(q);
        }
        let Some((name, value)) = name.split_once(":=").or_else(|| name.split_once('=')) else {
            return unsupported(q);
        };
        let name = unquote_ident(name.trim()).to_ascii_lowercase();
        let value = match eval(value.trim(), facts, vars, 0) {
            Ok(v) => v,
            Err(a) => return a,
        };
        assigned.push((name, value));
    }
    for (n, v) in assigned {
        vars.vars.insert(n, v);
    }
    Answer::Ok
}

fn unquote_ident(s: &str) -> &str {
    s.strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .unwrap_or(s)
}

/// Split on commas outside quotes and parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A global variable's value and column type, by lowercased name.
fn global(name: &str, facts: &SourceFacts) -> Option<(Option<String>, ColumnType)> {
    let s = |v: &str| Some((Some(v.to_string()), ColumnType::VarString));
    match name {
        "server_id" => Some((Some(facts.server_id.to_string()), ColumnType::LongLong)),
        "server_uuid" if !facts.mariadb => s(&facts.server_uuid),
        "gtid_mode" if !facts.mariadb => s("ON"),
        "enforce_gtid_consistency" if !facts.mariadb => s("ON"),
        "gtid_executed" if !facts.mariadb => s(&facts.gtid_executed),
        "gtid_binlog_pos" | "gtid_current_pos" if facts.mariadb => s(&facts.gtid_executed),
        "gtid_domain_id" if facts.mariadb => Some((Some("0".into()), ColumnType::LongLong)),
        "gtid_strict_mode" if facts.mariadb => Some((Some("0".into()), ColumnType::LongLong)),
        "binlog_checksum" => s(facts.binlog_checksum),
        "version" => s(&facts.version),
        "version_comment" => s("gapfill serve"),
        "log_bin" => Some((Some("1".into()), ColumnType::LongLong)),
        "binlog_format" => s("ROW"),
        "time_zone" => s("SYSTEM"),
        "system_time_zone" => s("UTC"),
        "collation_server" => s("utf8mb4_general_ci"),
        "character_set_server" => s("utf8mb4"),
        "max_allowed_packet" => Some((Some("1073741824".into()), ColumnType::LongLong)),
        "lower_case_table_names" => Some((Some("0".into()), ColumnType::LongLong)),
        _ => None,
    }
}

/// Evaluate one expression; `Err` is the answer refusing it. `now` only matters for SELECT.
fn eval(
    expr: &str,
    facts: &SourceFacts,
    vars: &SessionVars,
    now: u64,
) -> Result<Option<String>, Answer> {
    eval_typed(expr, facts, vars, now).map(|(v, _)| v)
}

fn eval_typed(
    expr: &str,
    facts: &SourceFacts,
    vars: &SessionVars,
    now: u64,
) -> Result<(Option<String>, ColumnType), Answer> {
    let e = expr.trim();
    let lower = e.to_ascii_lowercase();
    if let Some(var) = lower.strip_prefix("@@") {
        let name = var
            .strip_prefix("global.")
            .or_else(|| var.strip_prefix("session."))
            .unwrap_or(var);
        let name = unquote_ident(name);
        return global(name, facts).ok_or_else(|| Answer::Err {
            code: ER_UNKNOWN_SYSTEM_VARIABLE,
            message: format!("Unknown system variable '{name}': gapfill serve does not answer {e}"),
        });
    }
    if let Some(name) = lower.strip_prefix('@') {
        let v = vars.vars.get(unquote_ident(name)).cloned().flatten();
        return Ok((v, ColumnType::VarString));
    }
    if lower == "unix_timestamp()" {
        return Ok((Some(now.to_string()), ColumnType::LongLong));
    }
    if lower == "version()" {
        return Ok((Some(facts.version.clone()), ColumnType::VarString));
    }
    if lower == "null" {
        return Ok((None, ColumnType::VarString));
    }
    for q in ['\'', '"'] {
        if let Some(inner) = e.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return Ok((Some(inner.replace("\\'", "'")), ColumnType::VarString));
        }
    }
    if !e.is_empty()
        && e.trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return Ok((Some(e.to_string()), ColumnType::LongLong));
    }
    Err(Answer::Err {
        code: ER_NOT_SUPPORTED_YET,
        message: format!("gapfill serve cannot evaluate {e}"),
    })
}

fn select(q: &str, rest: &str, facts: &SourceFacts, vars: &SessionVars, now: u64) -> Answer {
    // `... LIMIT 1` (the mysql client's `select @@version_comment limit 1`): one row anyway.
    let lower = rest.to_ascii_lowercase();
    let rest = match lower.rfind(" limit ") {
        Some(i) if lower[i + 7..].trim().bytes().all(|b| b.is_ascii_digit()) => &rest[..i],
        _ => rest,
    };
    let mut rs = ResultSet {
        columns: Vec::new(),
        rows: vec![Vec::new()],
    };
    for part in split_top_level(rest) {
        let expr = part.trim();
        // `expr AS alias` names the column.
        let (expr, name) = match expr.to_ascii_lowercase().rfind(" as ") {
            Some(i) => (expr[..i].trim(), expr[i + 4..].trim().trim_matches('`')),
            None => (expr, expr),
        };
        match eval_typed(expr, facts, vars, now) {
            Ok((v, ty)) => {
                rs.columns.push((name.to_string(), ty));
                rs.rows[0].push(v);
            }
            Err(Answer::Err { code, message }) => {
                return Answer::Err {
                    code,
                    message: format!("{message} (in: {q})"),
                };
            }
            Err(other) => return other,
        }
    }
    Answer::Rows(rs)
}

fn show(q: &str, rest: &str, facts: &SourceFacts) -> Answer {
    let lower = rest.to_ascii_lowercase();
    let lower = lower
        .strip_prefix("global ")
        .or_else(|| lower.strip_prefix("session "))
        .unwrap_or(&lower);
    let Some(pattern) = lower.strip_prefix("variables like ") else {
        return unsupported(q);
    };
    let name = pattern.trim().trim_matches(|c| c == '\'' || c == '"');
    let mut rs = ResultSet {
        columns: vec![
            ("Variable_name".into(), ColumnType::VarString),
            ("Value".into(), ColumnType::VarString),
        ],
        rows: Vec::new(),
    };
    // Exact names only ('_' matches itself); a pattern with '%' is not answered.
    if name.contains('%') {
        return unsupported(q);
    }
    if let Some((v, _)) = global(name, facts) {
        rs.rows.push(vec![Some(name.to_string()), v]);
    }
    Answer::Rows(rs)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn mysql_facts() -> SourceFacts {
        SourceFacts {
            mariadb: false,
            server_id: 77,
            server_uuid: "8f6c6b2e-0000-4000-8000-000000000077".into(),
            version: "9.7.4-gapfill".into(),
            binlog_checksum: "CRC32",
            gtid_executed: "8f6c6b2e-0000-4000-8000-000000000077:1-5".into(),
        }
    }

    fn rows(a: Answer) -> Vec<Vec<Option<String>>> {
        match a {
            Answer::Rows(rs) => rs.rows,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn set_then_select_user_variables() {
        let f = mysql_facts();
        let mut v = SessionVars::default();
        assert_eq!(
            answer(
                "SET @master_binlog_checksum= @@global.binlog_checksum",
                &f,
                &mut v,
                0
            ),
            Answer::Ok
        );
        assert_eq!(v.checksum().as_deref(), Some("CRC32"));
        assert_eq!(
            rows(answer("SELECT @master_binlog_checksum", &f, &mut v, 0)),
            vec![vec![Some("CRC32".into())]]
        );
        answer("SET @master_heartbeat_period= 30000001024", &f, &mut v, 0);
        assert_eq!(
            v.heartbeat_period(),
            Some(std::time::Duration::from_nanos(30_000_001_024))
        );
        answer("SET @a = 'x,y', @b := 3", &f, &mut v, 0);
        assert_eq!(v.get("A"), Some("x,y"));
        assert_eq!(v.get("b"), Some("3"));
        assert_eq!(
            rows(answer("SELECT @never_set", &f, &mut v, 0)),
            vec![vec![None]]
        );
    }

    #[test]
    fn selects_of_globals_and_functions() {
        let f = mysql_facts();
        let mut v = SessionVars::default();
        assert_eq!(
            rows(answer("SELECT UNIX_TIMESTAMP()", &f, &mut v, 1234)),
            vec![vec![Some("1234".into())]]
        );
        assert_eq!(
            rows(answer("SELECT @@GLOBAL.SERVER_ID", &f, &mut v, 0)),
            vec![vec![Some("77".into())]]
        );
        assert_eq!(
            rows(answer(
                "select @@global.gtid_mode, @@SERVER_UUID",
                &f,
                &mut v,
                0
            )),
            vec![vec![Some("ON".into()), Some(f.server_uuid.clone())]]
        );
        assert_eq!(
            rows(answer("SHOW VARIABLES LIKE 'SERVER_ID'", &f, &mut v, 0)),
            vec![vec![Some("server_id".into()), Some("77".into())]]
        );
        assert_eq!(
            rows(answer("select @@version_comment limit 1", &f, &mut v, 0)),
            vec![vec![Some("gapfill serve".into())]]
        );
        assert_eq!(
            rows(answer("SELECT @@GLOBAL.gtid_executed", &f, &mut v, 0)),
            vec![vec![Some(f.gtid_executed.clone())]]
        );
        assert_eq!(
            rows(answer("SHOW VARIABLES LIKE 'no_such'", &f, &mut v, 0)),
            Vec::<Vec<Option<String>>>::new()
        );
    }

    #[test]
    fn unknown_queries_are_refused_by_name() {
        let f = mysql_facts();
        let mut v = SessionVars::default();
        for q in [
            "SELECT @@GLOBAL.rpl_semi_sync_source_enabled",
            "DROP TABLE t",
            "SELECT * FROM mysql.user",
            "SHOW BINARY LOGS",
        ] {
            let Answer::Err { code, message } = answer(q, &f, &mut v, 0) else {
                panic!("answered {q}");
            };
            assert!(message.contains(q), "{q}: {message}");
            assert!(code == ER_NOT_SUPPORTED_YET || code == ER_UNKNOWN_SYSTEM_VARIABLE);
        }
        let Answer::Err { code, .. } = answer(
            "SELECT @@GLOBAL.rpl_semi_sync_source_enabled",
            &f,
            &mut v,
            0,
        ) else {
            unreachable!()
        };
        assert_eq!(code, ER_UNKNOWN_SYSTEM_VARIABLE);
        // A failed SET changes nothing.
        assert!(matches!(
            answer("SET @x = 1, @y = @@global.nope", &f, &mut v, 0),
            Answer::Err { .. }
        ));
        assert_eq!(v.get("x"), None);
    }

    fn recorded(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect()
    }

    /// Every query a real MySQL 9.7 replica sent on connect is answered, as it expects.
    #[test]
    fn answers_a_recorded_mysql_97_replica() {
        let f = mysql_facts();
        let mut v = SessionVars::default();
        let qs = recorded(include_str!(
            "../../tests/fixtures/gapfill/serve/mysql-9.7.4.txt"
        ));
        assert!(qs.len() >= 8);
        for q in &qs {
            let a = answer(q, &f, &mut v, 1_800_000_000);
            assert!(!matches!(a, Answer::Err { .. }), "{q}: {a:?}");
            for deprecate_eof in [false, true] {
                assert!(!a.encode(deprecate_eof).is_empty());
            }
        }
        assert_eq!(v.checksum().as_deref(), Some("CRC32"));
        assert_eq!(
            v.heartbeat_period(),
            Some(std::time::Duration::from_nanos(30_000_001_024))
        );
        assert_eq!(
            v.get("replica_uuid"),
            Some("5f5ddf09-f145-11f1-a9a5-02fc00000001")
        );
        assert_eq!(
            rows(answer("SELECT @source_binlog_checksum", &f, &mut v, 0)),
            vec![vec![Some("CRC32".into())]]
        );
    }

    /// Every query a real MariaDB 10.11 replica sent on connect is answered.
    #[test]
    fn answers_a_recorded_mariadb_1011_replica() {
        let f = SourceFacts {
            mariadb: true,
            server_id: 11,
            server_uuid: String::new(),
            version: "5.5.5-10.11.14-MariaDB-gapfill".into(),
            binlog_checksum: "CRC32",
            gtid_executed: "0-11-5".into(),
        };
        let mut v = SessionVars::default();
        for q in recorded(include_str!(
            "../../tests/fixtures/gapfill/serve/mariadb-10.11.14.txt"
        )) {
            let a = answer(q, &f, &mut v, 0);
            assert!(!matches!(a, Answer::Err { .. }), "{q}: {a:?}");
        }
        assert_eq!(v.connect_state(), Some(""));
        assert_eq!(v.get("mariadb_slave_capability"), Some("4"));
        assert_eq!(v.get("slave_gtid_strict_mode"), Some("1"));
        assert_eq!(
            rows(answer("SHOW VARIABLES LIKE 'SERVER_ID'", &f, &mut v, 0)),
            vec![vec![Some("server_id".into()), Some("11".into())]]
        );
        assert_eq!(
            rows(answer("SELECT @@GLOBAL.gtid_domain_id", &f, &mut v, 0)),
            vec![vec![Some("0".into())]]
        );
        // MySQL-only variables are unknown to a MariaDB source, as on a real one.
        assert!(matches!(
            answer("SELECT @@GLOBAL.GTID_MODE", &f, &mut v, 0),
            Answer::Err { .. }
        ));
    }
}
