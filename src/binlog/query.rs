//! QUERY_EVENT and MariaDB's QUERY_COMPRESSED_EVENT: a statement with its session context.
//!
//! Owns the post-header and every status variable MySQL 5.6-9.x and MariaDB 10.x-11.x write
//! (sql_mode, charsets, time zone, auto-increment, microseconds, DDL xid, ...). Applying a
//! statement faithfully needs all of them, so unknown status codes stop parsing with the rest kept
//! raw rather than guessed at.

use std::borrow::Cow;

use super::cursor::Cursor;
use super::error::{BinlogError, Result};

/// A statement event.
#[derive(Debug, Clone)]
pub struct QueryEvent<'a> {
    pub thread_id: u32,
    /// Seconds the statement took on the master.
    pub exec_time: u32,
    pub error_code: u16,
    /// The default database when the statement ran (may be empty).
    pub schema: &'a [u8],
    pub status: StatusVars<'a>,
    /// The statement text; owned only when MariaDB compressed it.
    pub query: Cow<'a, [u8]>,
}

/// Session context carried in a QUERY event's status-variable block.
#[derive(Debug, Clone, Default)]
pub struct StatusVars<'a> {
    /// OPTION_AUTO_IS_NULL, OPTION_NOT_AUTOCOMMIT, OPTION_NO_FOREIGN_KEY_CHECKS,
    /// OPTION_RELAXED_UNIQUE_CHECKS bits of the session.
    pub flags2: Option<u32>,
    pub sql_mode: Option<u64>,
    pub catalog: Option<&'a [u8]>,
    /// (auto_increment_increment, auto_increment_offset)
    pub auto_increment: Option<(u16, u16)>,
    /// (character_set_client, collation_connection, collation_server) as collation ids.
    pub charset: Option<(u16, u16, u16)>,
    pub time_zone: Option<&'a [u8]>,
    pub lc_time_names: Option<u16>,
    pub charset_database: Option<u16>,
    pub table_map_for_update: Option<u64>,
    pub master_data_written: Option<u32>,
    /// (user, host) of the definer that invoked a stored routine.
    pub invoker: Option<(&'a [u8], &'a [u8])>,
    /// Databases a statement touched: NUL-separated names (None if over the limit).
    pub updated_db_names: Option<(u8, &'a [u8])>,
    /// Microseconds part of the statement start time.
    pub microseconds: Option<u32>,
    pub explicit_defaults_for_timestamp: Option<u8>,
    /// Set when a DDL was logged with an XID (atomic DDL, MySQL 8.0).
    pub ddl_xid: Option<u64>,
    pub default_collation_for_utf8mb4: Option<u16>,
    pub sql_require_primary_key: Option<u8>,
    pub default_table_encryption: Option<u8>,
    /// MariaDB: microseconds of the statement time (Q_HRNOW).
    pub hrnow: Option<u32>,
    /// MariaDB: XID of a DDL.
    pub mariadb_xid: Option<u64>,
    /// MariaDB 10.8+: extra GTID flags (two-phase ALTER markers).
    pub gtid_flags3: Option<u8>,
    /// MariaDB: the seq_no of the START ALTER a COMMIT/ROLLBACK ALTER completes.
    pub start_alter_seq_no: Option<u64>,
    /// MariaDB 11: character_set_collations mapping, raw.
    pub character_set_collations: Option<&'a [u8]>,
    /// Status bytes from an unknown code onward, left unparsed.
    pub unknown: Option<&'a [u8]>,
}

/// Status variable codes (`Query_event_status_vars` in the MySQL source).
mod code {
    pub const FLAGS2: u8 = 0;
    pub const SQL_MODE: u8 = 1;
    pub const CATALOG: u8 = 2;
    pub const AUTO_INCREMENT: u8 = 3;
    pub const CHARSET: u8 = 4;
    pub const TIME_ZONE: u8 = 5;
    pub const CATALOG_NZ: u8 = 6;
    pub const LC_TIME_NAMES: u8 = 7;
    pub const CHARSET_DATABASE: u8 = 8;
    pub const TABLE_MAP_FOR_UPDATE: u8 = 9;
    pub const MASTER_DATA_WRITTEN: u8 = 10;
    pub const INVOKER: u8 = 11;
    pub const UPDATED_DB_NAMES: u8 = 12;
    pub const MICROSECONDS: u8 = 13;
    pub const COMMIT_TS: u8 = 14;
    pub const COMMIT_TS2: u8 = 15;
    pub const EXPLICIT_DEFAULTS_FOR_TIMESTAMP: u8 = 16;
    pub const DDL_LOGGED_WITH_XID: u8 = 17;
    pub const DEFAULT_COLLATION_FOR_UTF8MB4: u8 = 18;
    pub const SQL_REQUIRE_PRIMARY_KEY: u8 = 19;
    pub const DEFAULT_TABLE_ENCRYPTION: u8 = 20;
    pub const HRNOW: u8 = 128;
    pub const XID: u8 = 129;
    pub const GTID_FLAGS3: u8 = 130;
    pub const CHARACTER_SET_COLLATIONS: u8 = 131;
}

/// Above this many databases the server writes this marker instead of the names.
const OVER_MAX_DBS_IN_EVENT_MTS: u8 = 254;

impl<'a> QueryEvent<'a> {
    /// Parse a QUERY body (after the common header, without checksum).
    pub fn parse(body: &'a [u8], post_header_len: u8) -> Result<QueryEvent<'a>> {
        let (ev, query) = Self::parse_parts(body, post_header_len)?;
        Ok(QueryEvent {
            query: Cow::Borrowed(query),
            ..ev
        })
    }

    /// Parse a MariaDB QUERY_COMPRESSED body: the same layout with the statement compressed.
    pub fn parse_compressed(body: &'a [u8], post_header_len: u8) -> Result<QueryEvent<'a>> {
        let (ev, compressed) = Self::parse_parts(body, post_header_len)?;
        let query = super::mariadb_compressed::decompress(compressed, "compressed query")?;
        Ok(QueryEvent {
            query: Cow::Owned(query),
            ..ev
        })
    }

    fn parse_parts(body: &'a [u8], post_header_len: u8) -> Result<(QueryEvent<'a>, &'a [u8])> {
        let mut c = Cursor::new(body);
        let thread_id = c.u32_le("query event post-header")?;
        let exec_time = c.u32_le("query event post-header")?;
        let schema_len = c.u8("query event post-header")? as usize;
        let error_code = c.u16_le("query event post-header")?;
        let status_len = if post_header_len >= 13 {
            c.u16_le("query event post-header")? as usize
        } else {
            0
        };
        if post_header_len > 13 {
            c.skip(post_header_len as usize - 13, "query event post-header")?;
        }
        let status_bytes = c.bytes(status_len, "query event status variables")?;
        let status = StatusVars::parse(status_bytes)?;
        let schema = c.bytes(schema_len, "query event schema")?;
        c.skip(1, "query event schema terminator")?;
        let query = c.take_rest();
        Ok((
            QueryEvent {
                thread_id,
                exec_time,
                error_code,
                schema,
                status,
                query: Cow::Borrowed(&[]),
            },
            query,
        ))
    }

    /// Whether the statement begins a transaction (`BEGIN`), as servers log row transactions.
    pub fn is_begin(&self) -> bool {
        self.query.as_ref() == b"BEGIN" || starts_with_ci(&self.query, b"XA START")
    }

    /// Whether the statement ends a transaction (`COMMIT`, `ROLLBACK`, or an XA end).
    pub fn is_commit(&self) -> bool {
        let q = self.query.as_ref();
        q == b"COMMIT" || starts_with_ci(q, b"XA COMMIT")
    }

    pub fn is_rollback(&self) -> bool {
        let q = self.query.as_ref();
        q == b"ROLLBACK" || starts_with_ci(q, b"XA ROLLBACK")
    }
}

/// Whether `s` starts with `prefix`, ignoring ASCII case.
pub(crate) fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

impl<'a> StatusVars<'a> {
    /// Parse a status-variable block.
    pub fn parse(bytes: &'a [u8]) -> Result<StatusVars<'a>> {
        let mut s = StatusVars::default();
        let mut c = Cursor::new(bytes);
        const W: &str = "query status variable";
        while !c.is_empty() {
            let at = c.rest();
            let code = c.u8(W)?;
            match code {
                code::FLAGS2 => s.flags2 = Some(c.u32_le(W)?),
                code::SQL_MODE => s.sql_mode = Some(c.u64_le(W)?),
                code::CATALOG => {
                    s.catalog = Some(c.u8_prefixed(W)?);
                    c.skip(1, W)?;
                }
                code::AUTO_INCREMENT => s.auto_increment = Some((c.u16_le(W)?, c.u16_le(W)?)),
                code::CHARSET => {
                    s.charset = Some((c.u16_le(W)?, c.u16_le(W)?, c.u16_le(W)?));
                }
                code::TIME_ZONE => s.time_zone = Some(c.u8_prefixed(W)?),
                code::CATALOG_NZ => s.catalog = Some(c.u8_prefixed(W)?),
                code::LC_TIME_NAMES => s.lc_time_names = Some(c.u16_le(W)?),
                code::CHARSET_DATABASE => s.charset_database = Some(c.u16_le(W)?),
                code::TABLE_MAP_FOR_UPDATE => s.table_map_for_update = Some(c.u64_le(W)?),
                code::MASTER_DATA_WRITTEN => s.master_data_written = Some(c.u32_le(W)?),
                code::INVOKER => {
                    let user = c.u8_prefixed(W)?;
                    let host = c.u8_prefixed(W)?;
                    s.invoker = Some((user, host));
                }
                code::UPDATED_DB_NAMES => {
                    let count = c.u8(W)?;
                    if count == OVER_MAX_DBS_IN_EVENT_MTS {
                        s.updated_db_names = Some((count, &[]));
                    } else {
                        let start = c.rest();
                        for _ in 0..count {
                            c.nul_terminated(W)?;
                        }
                        let used = start.len() - c.remaining();
                        s.updated_db_names = Some((count, &start[..used]));
                    }
                }
                code::MICROSECONDS => s.microseconds = Some(c.uint_le(3, W)? as u32),
                code::COMMIT_TS | code::COMMIT_TS2 => {
                    // Never written by a released server; no defined length to skip.
                    s.unknown = Some(at);
                    break;
                }
                code::EXPLICIT_DEFAULTS_FOR_TIMESTAMP => {
                    s.explicit_defaults_for_timestamp = Some(c.u8(W)?)
                }
                code::DDL_LOGGED_WITH_XID => s.ddl_xid = Some(c.u64_le(W)?),
                code::DEFAULT_COLLATION_FOR_UTF8MB4 => {
                    s.default_collation_for_utf8mb4 = Some(c.u16_le(W)?)
                }
                code::SQL_REQUIRE_PRIMARY_KEY => s.sql_require_primary_key = Some(c.u8(W)?),
                code::DEFAULT_TABLE_ENCRYPTION => s.default_table_encryption = Some(c.u8(W)?),
                code::HRNOW => s.hrnow = Some(c.uint_le(3, W)? as u32),
                code::XID => s.mariadb_xid = Some(c.u64_le(W)?),
                code::GTID_FLAGS3 => {
                    let flags = c.u8(W)?;
                    s.gtid_flags3 = Some(flags);
                    // FL_COMMIT_ALTER_E1 | FL_ROLLBACK_ALTER_E1: the START ALTER's seq_no follows.
                    if flags & (4 | 8) != 0 {
                        s.start_alter_seq_no = Some(c.u64_le(W)?);
                    }
                }
                code::CHARACTER_SET_COLLATIONS => {
                    let start = c.rest();
                    let n = c.u8(W)? as usize;
                    c.skip(n * 4, W)?;
                    let used = start.len() - c.remaining();
                    s.character_set_collations = Some(&start[..used]);
                }
                _ => {
                    s.unknown = Some(at);
                    break;
                }
            }
        }
        if s.unknown.is_some() && s.flags2.is_none() && s.sql_mode.is_none() {
            // Nothing recognisable at all: more likely corruption than a new server.
            return Err(BinlogError::invalid(
                "query status variables",
                format!("unknown status code {:#04x} at the start", bytes[0]),
            ));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_vars() {
        let mut b = vec![code::FLAGS2, 0, 0, 0, 0];
        b.push(code::SQL_MODE);
        b.extend_from_slice(&0x4000_0000u64.to_le_bytes());
        b.extend_from_slice(&[code::CATALOG_NZ, 3, b's', b't', b'd']);
        b.extend_from_slice(&[code::CHARSET, 33, 0, 255, 0, 8, 0]);
        b.extend_from_slice(&[code::TIME_ZONE, 6, b'+', b'0', b'0', b':', b'0', b'0']);
        b.extend_from_slice(&[code::UPDATED_DB_NAMES, 2, b'a', 0, b'b', b'c', 0]);
        b.extend_from_slice(&[code::MICROSECONDS, 1, 2, 3]);
        let s = StatusVars::parse(&b).unwrap();
        assert_eq!(s.flags2, Some(0));
        assert_eq!(s.sql_mode, Some(0x4000_0000));
        assert_eq!(s.catalog, Some(&b"std"[..]));
        assert_eq!(s.charset, Some((33, 255, 8)));
        assert_eq!(s.time_zone, Some(&b"+00:00"[..]));
        assert_eq!(s.updated_db_names, Some((2, &b"a\0bc\0"[..])));
        assert_eq!(s.microseconds, Some(0x030201));
        assert!(s.unknown.is_none());
        // MariaDB's COMMIT ALTER: flags3 with FL_COMMIT_ALTER_E1, then the START ALTER seq_no.
        let mut m = vec![code::GTID_FLAGS3, 4];
        m.extend_from_slice(&77u64.to_le_bytes());
        m.extend_from_slice(&[code::HRNOW, 1, 0, 0]);
        let v = StatusVars::parse(&m).unwrap();
        assert_eq!(
            (v.gtid_flags3, v.start_alter_seq_no, v.hrnow),
            (Some(4), Some(77), Some(1))
        );
        // Every truncation is an error, never a panic.
        for n in 0..b.len() {
            let _ = StatusVars::parse(&b[..n]);
        }
    }
}
