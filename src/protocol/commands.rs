//! Command payloads a replica sends: COM_QUERY, COM_PING, COM_QUIT, COM_REGISTER_SLAVE,
//! COM_BINLOG_DUMP and COM_BINLOG_DUMP_GTID.
//!
//! Pure encoders returning the payload (the command byte first); framing is `packet`'s job.
//! The GTID set of COM_BINLOG_DUMP_GTID arrives already encoded (MySQL's sid-block layout,
//! produced by the binlog module's GTID set); this file only places it.

use super::error::{ProtocolError, Result};
use super::wire::{put_u16, put_u32, put_u64};

pub const COM_QUIT: u8 = 0x01;
pub const COM_QUERY: u8 = 0x03;
pub const COM_PING: u8 = 0x0e;
pub const COM_BINLOG_DUMP: u8 = 0x12;
pub const COM_REGISTER_SLAVE: u8 = 0x15;
pub const COM_BINLOG_DUMP_GTID: u8 = 0x1e;

/// Dump flag: send EOF at the end of the binlog instead of waiting for new events.
pub const BINLOG_DUMP_NON_BLOCK: u16 = 0x01;
/// COM_BINLOG_DUMP_GTID flag: the file name and position are valid (historical; servers
/// ignore it, and MySQL 8.0.26+ reads the same bit as [`USE_HEARTBEAT_EVENT_V2`]).
pub const BINLOG_THROUGH_POSITION: u16 = 0x02;
/// MySQL 8.0.26+: send HEARTBEAT_LOG_EVENT_V2 (64-bit position) instead of v1. On MariaDB
/// this bit means BINLOG_SEND_ANNOTATE_ROWS_EVENT: MySQL only.
pub const USE_HEARTBEAT_EVENT_V2: u16 = 0x02;
/// MariaDB: send the ANNOTATE_ROWS events (the statement text before its rows events) that
/// the binlog holds; without it the dump thread leaves them out. Same bit as
/// [`USE_HEARTBEAT_EVENT_V2`], which MySQL reads instead.
pub const BINLOG_SEND_ANNOTATE_ROWS_EVENT: u16 = 0x02;
/// COM_BINLOG_DUMP_GTID flag: the GTID set is valid.
pub const BINLOG_THROUGH_GTID: u16 = 0x04;

pub fn com_query(sql: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + sql.len());
    out.push(COM_QUERY);
    out.extend_from_slice(sql.as_bytes());
    out
}

pub fn com_ping() -> Vec<u8> {
    vec![COM_PING]
}

pub fn com_quit() -> Vec<u8> {
    vec![COM_QUIT]
}

/// Fields of COM_REGISTER_SLAVE: what `SHOW REPLICAS` on the master will show for us.
#[derive(Debug, Clone, Default)]
pub struct RegisterReplica<'a> {
    pub server_id: u32,
    /// `report_host`; empty hides the host column.
    pub hostname: &'a [u8],
    /// `report_user`; leave empty (it is shown to anyone who can run SHOW REPLICAS).
    pub user: &'a [u8],
    /// `report_password`; leave empty, it is not a login.
    pub password: &'a [u8],
    pub port: u16,
    pub replication_rank: u32,
    /// Ignored by servers; 0.
    pub master_id: u32,
}

fn u8_len(what: &'static str, b: &[u8]) -> Result<u8> {
    u8::try_from(b.len()).map_err(|_| ProtocolError::Encode {
        what,
        detail: format!("{} bytes, at most 255 fit", b.len()),
    })
}

impl RegisterReplica<'_> {
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out =
            Vec::with_capacity(18 + self.hostname.len() + self.user.len() + self.password.len());
        out.push(COM_REGISTER_SLAVE);
        put_u32(&mut out, self.server_id);
        for (what, field) in [
            ("report host", self.hostname),
            ("report user", self.user),
            ("report password", self.password),
        ] {
            out.push(u8_len(what, field)?);
            out.extend_from_slice(field);
        }
        put_u16(&mut out, self.port);
        put_u32(&mut out, self.replication_rank);
        put_u32(&mut out, self.master_id);
        Ok(out)
    }
}

/// COM_BINLOG_DUMP: stream from `filename` at `pos` (an empty name with MariaDB's
/// `@slave_connect_state` means "from that GTID position"). Positions above 4 GiB need
/// [`com_binlog_dump_gtid`].
pub fn com_binlog_dump(pos: u32, flags: u16, server_id: u32, filename: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(11 + filename.len());
    out.push(COM_BINLOG_DUMP);
    put_u32(&mut out, pos);
    put_u16(&mut out, flags);
    put_u32(&mut out, server_id);
    out.extend_from_slice(filename);
    out
}

/// COM_BINLOG_DUMP_GTID (MySQL): stream everything not in the encoded GTID set `gtid_data`
/// (MySQL's sid-block encoding). [`BINLOG_THROUGH_GTID`] is added when `gtid_data` is not empty.
pub fn com_binlog_dump_gtid(
    flags: u16,
    server_id: u32,
    filename: &[u8],
    pos: u64,
    gtid_data: &[u8],
) -> Result<Vec<u8>> {
    let name_len = u32::try_from(filename.len()).map_err(|_| ProtocolError::Encode {
        what: "binlog file name",
        detail: "longer than 4 GiB".into(),
    })?;
    let data_len = u32::try_from(gtid_data.len()).map_err(|_| ProtocolError::Encode {
        what: "GTID set",
        detail: "encoded set longer than 4 GiB".into(),
    })?;
    let flags = if gtid_data.is_empty() {
        flags
    } else {
        flags | BINLOG_THROUGH_GTID
    };
    let mut out = Vec::with_capacity(27 + filename.len() + gtid_data.len());
    out.push(COM_BINLOG_DUMP_GTID);
    put_u16(&mut out, flags);
    put_u32(&mut out, server_id);
    put_u32(&mut out, name_len);
    out.extend_from_slice(filename);
    put_u64(&mut out, pos);
    put_u32(&mut out, data_len);
    out.extend_from_slice(gtid_data);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// MySQL's sid-block encoding of an untagged GTID set, written here for tests only:
    /// n_sids u64, then per sid: 16-byte uuid, n_intervals u64, [start u64, end-exclusive u64].
    /// One source uuid and its inclusive GTID ranges.
    pub(crate) type UuidRanges<'a> = ([u8; 16], &'a [(u64, u64)]);

    pub(crate) fn encode_gtid_set(sets: &[UuidRanges<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        put_u64(&mut out, sets.len() as u64);
        for (uuid, ranges) in sets {
            out.extend_from_slice(uuid);
            put_u64(&mut out, ranges.len() as u64);
            for (start, end_inclusive) in *ranges {
                put_u64(&mut out, *start);
                put_u64(&mut out, end_inclusive + 1);
            }
        }
        out
    }

    #[test]
    fn query_ping_quit() {
        assert_eq!(com_query("SELECT 1"), b"\x03SELECT 1");
        assert_eq!(com_ping(), [0x0e]);
        assert_eq!(com_quit(), [0x01]);
    }

    #[test]
    fn register_replica_layout() {
        let p = RegisterReplica {
            server_id: 0x0102_0304,
            hostname: b"gf",
            user: b"",
            password: b"",
            port: 3306,
            replication_rank: 0,
            master_id: 0,
        }
        .encode()
        .unwrap();
        assert_eq!(
            p,
            [
                0x15, 4, 3, 2, 1, 2, b'g', b'f', 0, 0, 0xea, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        let long = vec![b'h'; 256];
        let e = RegisterReplica {
            hostname: &long,
            ..Default::default()
        }
        .encode()
        .unwrap_err();
        assert!(e.to_string().contains("report host"));
    }

    #[test]
    fn binlog_dump_layout() {
        let p = com_binlog_dump(4, BINLOG_DUMP_NON_BLOCK, 99, b"binlog.000001");
        let mut expect = vec![0x12, 4, 0, 0, 0, 1, 0, 99, 0, 0, 0];
        expect.extend_from_slice(b"binlog.000001");
        assert_eq!(p, expect);
    }

    #[test]
    fn binlog_dump_gtid_layout() {
        let uuid = [0x11u8; 16];
        let set = encode_gtid_set(&[(uuid, &[(1, 5)])]);
        assert_eq!(set.len(), 8 + 16 + 8 + 16);
        let p = com_binlog_dump_gtid(0, 7, b"", 4, &set).unwrap();
        let mut expect = vec![0x1e, 0x04, 0x00, 7, 0, 0, 0, 0, 0, 0, 0];
        expect.extend_from_slice(&4u64.to_le_bytes());
        expect.extend_from_slice(&(set.len() as u32).to_le_bytes());
        expect.extend_from_slice(&set);
        assert_eq!(p, expect);
        // Interval ends are exclusive on the wire.
        assert_eq!(&set[40..48], &6u64.to_le_bytes());

        let p =
            com_binlog_dump_gtid(BINLOG_THROUGH_POSITION, 7, b"b.1", 5_000_000_000, &[]).unwrap();
        assert_eq!(&p[1..3], &[0x02, 0x00]);
        assert_eq!(&p[7..11], &3u32.to_le_bytes());
        assert_eq!(&p[11..14], b"b.1");
        assert_eq!(&p[14..22], &5_000_000_000u64.to_le_bytes());
        assert_eq!(&p[22..26], &0u32.to_le_bytes());
    }
}
