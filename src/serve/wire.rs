//! Byte-level helpers of the server side: a bounds-checked reader of the replica's packets,
//! the little-endian and length-encoded writers, and the generic OK / ERR / EOF packets and
//! text result sets a server sends. Pure functions, no I/O.

// The bounds-checked reader and the length-encoded writers are the client side's: one owner
// of the wire encoding (a short read converts into `ServeError::Malformed`).
pub(crate) use crate::protocol::wire::{Reader, put_lenenc_bytes, put_lenenc_int};

/// SERVER_STATUS_AUTOCOMMIT: the only status flag gapfill reports.
pub const STATUS_AUTOCOMMIT: u16 = 0x0002;

/// An OK packet (header 0x00).
pub fn ok_packet() -> Vec<u8> {
    ok_with_header(0x00)
}

fn ok_with_header(header: u8) -> Vec<u8> {
    let mut p = vec![header, 0, 0];
    p.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p
}

/// An ERR packet with an SQLSTATE (CLIENT_PROTOCOL_41 is always on).
pub fn err_packet(code: u16, sql_state: &str, message: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    let mut state = [b'H', b'Y', b'0', b'0', b'0'];
    for (d, s) in state.iter_mut().zip(sql_state.bytes()) {
        *d = s;
    }
    p.extend_from_slice(&state);
    // The replica copies the message into a fixed buffer; keep it readable in SHOW REPLICA
    // STATUS (MySQL's own limit is MYSQL_ERRMSG_SIZE, 512).
    let msg = message.as_bytes();
    p.extend_from_slice(&msg[..msg.len().min(500)]);
    p
}

/// The classic EOF packet (header 0xFE, warnings, status).
pub fn eof_packet() -> Vec<u8> {
    let mut p = vec![0xfe, 0, 0];
    p.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
    p
}

/// Column types gapfill's result sets use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// MYSQL_TYPE_LONGLONG, unsigned-agnostic.
    LongLong,
    /// MYSQL_TYPE_VAR_STRING.
    VarString,
}

/// A text result set: column names and types, rows of optional values (NULL is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultSet {
    pub columns: Vec<(String, ColumnType)>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultSet {
    /// One row of one column.
    pub fn single(name: &str, ty: ColumnType, value: Option<String>) -> ResultSet {
        ResultSet {
            columns: vec![(name.to_string(), ty)],
            rows: vec![vec![value]],
        }
    }

    /// The payloads of the result set in order: column count, definitions, the EOF after them
    /// unless `deprecate_eof`, rows, and the terminator (EOF, or the 0xFE-headed OK with
    /// CLIENT_DEPRECATE_EOF).
    pub fn encode(&self, deprecate_eof: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(3 + self.columns.len() + self.rows.len());
        let mut count = Vec::new();
        put_lenenc_int(&mut count, self.columns.len() as u64);
        out.push(count);
        for (name, ty) in &self.columns {
            out.push(column_def(name, *ty));
        }
        if !deprecate_eof {
            out.push(eof_packet());
        }
        for row in &self.rows {
            let mut p = Vec::new();
            for v in row {
                match v {
                    None => p.push(0xfb),
                    Some(s) => put_lenenc_bytes(&mut p, s.as_bytes()),
                }
            }
            out.push(p);
        }
        out.push(if deprecate_eof {
            ok_with_header(0xfe)
        } else {
            eof_packet()
        });
        out
    }
}

/// A Protocol::ColumnDefinition41.
fn column_def(name: &str, ty: ColumnType) -> Vec<u8> {
    let mut p = Vec::new();
    for s in ["def", "", "", "", name, ""] {
        put_lenenc_bytes(&mut p, s.as_bytes());
    }
    put_lenenc_int(&mut p, 0x0c);
    let (charset, len, code, flags, decimals): (u16, u32, u8, u16, u8) = match ty {
        // binary charset, 21 digits, NOT_NULL | BINARY
        ColumnType::LongLong => (63, 21, 0x08, 0x0081, 0),
        // utf8mb4_general_ci
        ColumnType::VarString => (45, 1024, 0xfd, 0, 0x1f),
    };
    p.extend_from_slice(&charset.to_le_bytes());
    p.extend_from_slice(&len.to_le_bytes());
    p.push(code);
    p.extend_from_slice(&flags.to_le_bytes());
    p.push(decimals);
    p.extend_from_slice(&[0, 0]);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::result::{ErrPacket, QueryResponse, QueryResponseParser};

    fn parse(payloads: &[Vec<u8>], deprecate_eof: bool) -> QueryResponse {
        let mut p = QueryResponseParser::new(deprecate_eof);
        for (i, pl) in payloads.iter().enumerate() {
            if let Some(r) = p.feed(pl).unwrap() {
                assert_eq!(i + 1, payloads.len(), "the response ended early");
                return r;
            }
        }
        panic!("the response did not end");
    }

    #[test]
    fn result_sets_parse_with_the_clients_parser_in_both_framings() {
        let rs = ResultSet {
            columns: vec![
                ("Variable_name".into(), ColumnType::VarString),
                ("Value".into(), ColumnType::LongLong),
            ],
            rows: vec![
                vec![Some("server_id".into()), Some("7".into())],
                vec![Some("x".into()), None],
            ],
        };
        for deprecate_eof in [false, true] {
            let enc = rs.encode(deprecate_eof);
            assert_eq!(enc.len(), 1 + 2 + usize::from(!deprecate_eof) + 2 + 1);
            let QueryResponse::ResultSet(set) = parse(&enc, deprecate_eof) else {
                panic!("not a result set");
            };
            assert_eq!(set.columns.len(), 2);
            assert_eq!(set.columns[0].name, "Variable_name");
            assert_eq!(set.rows.len(), 2);
            assert_eq!(set.rows[0][1].as_deref(), Some(&b"7"[..]));
            assert_eq!(set.rows[1][1], None);
        }
    }

    #[test]
    fn ok_err_eof_layouts() {
        assert!(matches!(parse(&[ok_packet()], false), QueryResponse::Ok(_)));
        let e = ErrPacket::parse(&err_packet(1236, "HY000", "no such GTIDs")).unwrap();
        assert_eq!(e.code, 1236);
        assert_eq!(e.sql_state, "HY000");
        assert_eq!(e.message, "no such GTIDs");
        let long = "x".repeat(2000);
        assert!(err_packet(1, "HY000", &long).len() < 520);
        assert_eq!(eof_packet(), vec![0xfe, 0, 0, 2, 0]);
    }

    #[test]
    fn reader_refuses_short_input() {
        let mut r = Reader::new(&[0xfc, 1], "test");
        assert!(r.lenenc_int().is_err());
        let mut r = Reader::new(&[0xff], "test");
        assert!(r.lenenc_int().is_err());
        let mut r = Reader::new(b"ab\0cd", "test");
        assert_eq!(r.nul_or_eof_bytes(), b"ab");
        assert_eq!(r.nul_or_eof_bytes(), b"cd");
        assert_eq!(r.remaining(), 0);
    }
}
