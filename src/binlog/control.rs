//! The small events: rotation, commits, session values, markers.
//!
//! Owns ROTATE, XID, INTVAR, RAND, USER_VAR, INCIDENT, HEARTBEAT (v1 and v2), ROWS_QUERY and
//! MariaDB ANNOTATE_ROWS, BINLOG_CHECKPOINT, XA_PREPARE and START_ENCRYPTION. Each is a plain
//! struct borrowing the event body; none needs more than a few fields.

use super::cursor::Cursor;
use super::error::{BinlogError, Result};

/// ROTATE: the master switched to a new binlog file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateEvent<'a> {
    pub position: u64,
    pub next_file: &'a [u8],
}

impl<'a> RotateEvent<'a> {
    pub fn parse(body: &'a [u8]) -> Result<RotateEvent<'a>> {
        let mut c = Cursor::new(body);
        let position = c.u64_le("rotate event")?;
        Ok(RotateEvent {
            position,
            next_file: c.take_rest(),
        })
    }
}

/// INTVAR: LAST_INSERT_ID or INSERT_ID for the next statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntvarEvent {
    /// 1 = LAST_INSERT_ID, 2 = INSERT_ID.
    pub kind: u8,
    pub value: u64,
}

impl IntvarEvent {
    pub const LAST_INSERT_ID: u8 = 1;
    pub const INSERT_ID: u8 = 2;

    pub fn parse(body: &[u8]) -> Result<IntvarEvent> {
        let mut c = Cursor::new(body);
        Ok(IntvarEvent {
            kind: c.u8("intvar event")?,
            value: c.u64_le("intvar event")?,
        })
    }
}

/// RAND: the seeds of RAND() for the next statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandEvent {
    pub seed1: u64,
    pub seed2: u64,
}

impl RandEvent {
    pub fn parse(body: &[u8]) -> Result<RandEvent> {
        let mut c = Cursor::new(body);
        Ok(RandEvent {
            seed1: c.u64_le("rand event")?,
            seed2: c.u64_le("rand event")?,
        })
    }
}

/// The type of a user variable's value (`Item_result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVarType {
    String,
    Real,
    Int,
    Decimal,
    Other(u8),
}

/// USER_VAR: a `@var` the next statement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserVarEvent<'a> {
    pub name: &'a [u8],
    /// `None` when the variable is NULL.
    pub value: Option<UserVarValue<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserVarValue<'a> {
    pub kind: UserVarType,
    pub charset: u32,
    /// Raw value: 8-byte LE for INT and REAL, binary decimal (precision, scale, bytes) for
    /// DECIMAL, the bytes for STRING.
    pub bytes: &'a [u8],
    pub unsigned: bool,
}

impl<'a> UserVarEvent<'a> {
    pub fn parse(body: &'a [u8]) -> Result<UserVarEvent<'a>> {
        const W: &str = "user var event";
        let mut c = Cursor::new(body);
        let name_len = c.u32_le(W)? as usize;
        let name = c.bytes(name_len, W)?;
        let is_null = c.u8(W)? != 0;
        if is_null {
            return Ok(UserVarEvent { name, value: None });
        }
        let kind = match c.u8(W)? {
            0 => UserVarType::String,
            1 => UserVarType::Real,
            2 => UserVarType::Int,
            4 => UserVarType::Decimal,
            other => UserVarType::Other(other),
        };
        let charset = c.u32_le(W)?;
        let len = c.u32_le(W)? as usize;
        let bytes = c.bytes(len, W)?;
        let flags = if c.is_empty() { 0 } else { c.u8(W)? };
        Ok(UserVarEvent {
            name,
            value: Some(UserVarValue {
                kind,
                charset,
                bytes,
                unsigned: flags & 1 != 0,
            }),
        })
    }
}

/// INCIDENT: the master lost events (e.g. a non-transactional statement failed mid-way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentEvent<'a> {
    pub kind: u16,
    pub message: &'a [u8],
}

impl<'a> IncidentEvent<'a> {
    pub fn parse(body: &'a [u8]) -> Result<IncidentEvent<'a>> {
        let mut c = Cursor::new(body);
        let kind = c.u16_le("incident event")?;
        let message = if c.is_empty() {
            &[][..]
        } else {
            c.u8_prefixed("incident event message")?
        };
        Ok(IncidentEvent { kind, message })
    }
}

/// HEARTBEAT (v1: file name in the body) and HEARTBEAT_V2 (typed fields, 64-bit position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatEvent<'a> {
    pub log_file: &'a [u8],
    /// For v1 the position is the header's `log_pos`; v2 carries it in the body.
    pub position: Option<u64>,
}

impl<'a> HeartbeatEvent<'a> {
    pub fn parse_v1(body: &'a [u8]) -> Result<HeartbeatEvent<'a>> {
        Ok(HeartbeatEvent {
            log_file: body,
            position: None,
        })
    }

    pub fn parse_v2(body: &'a [u8]) -> Result<HeartbeatEvent<'a>> {
        const W: &str = "heartbeat v2 event";
        let mut c = Cursor::new(body);
        let mut hb = HeartbeatEvent {
            log_file: &[],
            position: None,
        };
        while !c.is_empty() {
            let t = c.lenenc_int(W)?;
            if t == 0 {
                break;
            }
            let len = c.lenenc_int(W)? as usize;
            let v = c.bytes(len, W)?;
            match t {
                1 => hb.log_file = v,
                2 => hb.position = Some(Cursor::new(v).lenenc_int(W)?),
                _ => {}
            }
        }
        Ok(hb)
    }
}

/// XA_PREPARE: the end of an XA transaction's first phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XaPrepareEvent<'a> {
    pub one_phase: bool,
    pub format_id: i32,
    pub gtrid: &'a [u8],
    pub bqual: &'a [u8],
}

impl<'a> XaPrepareEvent<'a> {
    pub fn parse(body: &'a [u8]) -> Result<XaPrepareEvent<'a>> {
        const W: &str = "xa prepare event";
        let mut c = Cursor::new(body);
        let one_phase = c.u8(W)? != 0;
        let format_id = c.i32_le(W)?;
        let gtrid_len = c.u32_le(W)? as usize;
        let bqual_len = c.u32_le(W)? as usize;
        if gtrid_len > 64 || bqual_len > 64 {
            return Err(BinlogError::invalid(
                W,
                format!("gtrid length {gtrid_len} / bqual length {bqual_len} exceed 64"),
            ));
        }
        Ok(XaPrepareEvent {
            one_phase,
            format_id,
            gtrid: c.bytes(gtrid_len, W)?,
            bqual: c.bytes(bqual_len, W)?,
        })
    }
}

/// ROWS_QUERY (MySQL) or ANNOTATE_ROWS (MariaDB): the statement that produced the next rows.
pub fn parse_rows_query(body: &[u8], mariadb: bool) -> Result<&[u8]> {
    if mariadb {
        return Ok(body);
    }
    // MySQL writes a one-byte length that overflows for long statements; the real text is the
    // rest of the event.
    let mut c = Cursor::new(body);
    c.skip(1, "rows query event")?;
    Ok(c.take_rest())
}

/// BINLOG_CHECKPOINT (MariaDB): the oldest binlog file still needed for crash recovery.
pub fn parse_binlog_checkpoint(body: &[u8]) -> Result<&[u8]> {
    let mut c = Cursor::new(body);
    let len = c.u32_le("binlog checkpoint event")? as usize;
    c.bytes(len, "binlog checkpoint event")
}

/// START_ENCRYPTION (MariaDB): what follows is encrypted. Always an error to the caller.
pub fn start_encryption_error(body: &[u8]) -> BinlogError {
    let mut c = Cursor::new(body);
    let scheme = c.u8("start encryption event").unwrap_or(0);
    let key_version = c.u32_le("start encryption event").unwrap_or(0);
    BinlogError::Encrypted {
        scheme,
        key_version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_var_round() {
        let mut b = Vec::new();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"foo");
        b.push(0);
        b.push(2);
        b.extend_from_slice(&33u32.to_le_bytes());
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&(-5i64).to_le_bytes());
        b.push(0);
        let u = UserVarEvent::parse(&b).unwrap();
        assert_eq!(u.name, b"foo");
        let v = u.value.unwrap();
        assert_eq!(v.kind, UserVarType::Int);
        assert_eq!(v.bytes, &(-5i64).to_le_bytes());
        for n in 0..b.len() - 1 {
            assert!(UserVarEvent::parse(&b[..n]).is_err() || n == b.len() - 1);
        }
    }

    #[test]
    fn heartbeat_v2() {
        let body = [1, 4, b'b', b'i', b'n', b'1', 2, 3, 0xfc, 0x10, 0x27, 0];
        let h = HeartbeatEvent::parse_v2(&body).unwrap();
        assert_eq!(h.log_file, b"bin1");
        assert_eq!(h.position, Some(10000));
    }
}
