//! Generic response packets and the text result set of COM_QUERY, sans-IO.
//!
//! OK, ERR and EOF packets, column definitions, and [`QueryResponseParser`], a state machine
//! fed one payload at a time that yields either an OK or a whole [`TextResultSet`] (rows as
//! `Option<Vec<u8>>`, NULL as `None`). Only what the replica setup queries need: no binary
//! protocol, no prepared statements. Both framings are understood: with CLIENT_DEPRECATE_EOF
//! (no EOF after the columns, an 0xFE-headed OK at the end) and without.

use super::error::{ProtocolError, Result};
use super::wire::Reader;

/// SERVER_MORE_RESULTS_EXISTS status flag.
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

/// An OK packet (0x00, or 0xFE ending a result set with CLIENT_DEPRECATE_EOF).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkPacket {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status_flags: u16,
    pub warnings: u16,
    /// Human-readable info (and session-state data when CLIENT_SESSION_TRACK is on), raw.
    pub info: Vec<u8>,
}

impl OkPacket {
    pub fn parse(payload: &[u8]) -> Result<OkPacket> {
        const W: &str = "OK packet";
        let mut r = Reader::new(payload, W);
        let header = r.u8()?;
        if header != 0x00 && header != 0xfe {
            return Err(ProtocolError::malformed(
                W,
                format!("header {header:#04x}, expected 0x00 or 0xfe"),
            ));
        }
        let affected_rows = r.lenenc_int()?;
        let last_insert_id = r.lenenc_int()?;
        let (status_flags, warnings) = if r.remaining() >= 4 {
            (r.u16()?, r.u16()?)
        } else {
            (0, 0)
        };
        Ok(OkPacket {
            affected_rows,
            last_insert_id,
            status_flags,
            warnings,
            info: r.rest().to_vec(),
        })
    }
}

/// An ERR packet (0xFF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    /// Five-character SQLSTATE, or `HY000` when the server sent none (pre-4.1 style).
    pub sql_state: String,
    pub message: String,
}

impl ErrPacket {
    pub fn parse(payload: &[u8]) -> Result<ErrPacket> {
        const W: &str = "ERR packet";
        let mut r = Reader::new(payload, W);
        if r.u8()? != 0xff {
            return Err(ProtocolError::malformed(W, "header is not 0xff"));
        }
        let code = r.u16()?;
        let sql_state = if r.peek() == Some(b'#') && r.remaining() >= 6 {
            r.skip(1)?;
            String::from_utf8_lossy(r.bytes(5)?).into_owned()
        } else {
            "HY000".to_string()
        };
        let message = String::from_utf8_lossy(r.rest()).into_owned();
        Ok(ErrPacket {
            code,
            sql_state,
            message,
        })
    }

    /// The classified [`ProtocolError`] for this ERR.
    pub fn into_error(self) -> ProtocolError {
        ProtocolError::from_server(self.code, &self.sql_state, &self.message)
    }
}

/// Whether `payload` is a classic EOF packet (0xFE, shorter than 9 bytes).
pub fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&0xfe) && payload.len() < 9
}

/// Whether `payload` ends a result set's rows when CLIENT_DEPRECATE_EOF is on (an OK packet
/// with the 0xFE header; a row can start with 0xFE only as a 16 MiB+ string).
pub fn is_result_set_terminator(payload: &[u8], deprecate_eof: bool) -> bool {
    payload.first() == Some(&0xfe)
        && if deprecate_eof {
            payload.len() < 0xff_ffff
        } else {
            payload.len() < 9
        }
}

/// Status flags of a classic EOF packet (0 if absent).
fn eof_status(payload: &[u8]) -> u16 {
    if payload.len() >= 5 {
        u16::from_le_bytes([payload[3], payload[4]])
    } else {
        0
    }
}

/// One column of a result set (ColumnDefinition41).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub charset: u16,
    pub column_length: u32,
    pub column_type: u8,
    pub flags: u16,
    pub decimals: u8,
}

impl Column {
    pub fn parse(payload: &[u8]) -> Result<Column> {
        const W: &str = "column definition";
        let mut r = Reader::new(payload, W);
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let _catalog = r.lenenc_bytes()?;
        let schema = s(r.lenenc_bytes()?);
        let table = s(r.lenenc_bytes()?);
        let _org_table = r.lenenc_bytes()?;
        let name = s(r.lenenc_bytes()?);
        let _org_name = r.lenenc_bytes()?;
        let _fixed_len = r.lenenc_int()?;
        Ok(Column {
            schema,
            table,
            name,
            charset: r.u16()?,
            column_length: r.u32()?,
            column_type: r.u8()?,
            flags: r.u16()?,
            decimals: r.u8()?,
        })
    }
}

/// One row of a text result set; `None` is SQL NULL.
pub type Row = Vec<Option<Vec<u8>>>;

/// A whole text result set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Status flags from the terminating packet.
    pub status_flags: u16,
}

impl TextResultSet {
    /// Index of the column called `name` (ASCII case-insensitive).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// Parse one text-protocol row of `ncols` values.
pub fn parse_text_row(payload: &[u8], ncols: usize) -> Result<Row> {
    let mut r = Reader::new(payload, "text result row");
    let mut row = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        row.push(r.lenenc_bytes_or_null()?.map(<[u8]>::to_vec));
    }
    if !r.is_empty() {
        return Err(ProtocolError::malformed(
            "text result row",
            format!("{} bytes left after {ncols} columns", r.remaining()),
        ));
    }
    Ok(row)
}

/// The whole response to one COM_QUERY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryResponse {
    Ok(OkPacket),
    ResultSet(TextResultSet),
}

impl QueryResponse {
    /// Whether another result follows (multi-results); the caller must read it too.
    pub fn more_results(&self) -> bool {
        let flags = match self {
            QueryResponse::Ok(ok) => ok.status_flags,
            QueryResponse::ResultSet(rs) => rs.status_flags,
        };
        flags & SERVER_MORE_RESULTS_EXISTS != 0
    }
}

#[derive(Debug)]
enum ParseState {
    First,
    Columns { remaining: usize },
    ColumnsEof,
    Rows,
}

/// Sans-IO parser of a COM_QUERY response: feed payloads until it returns `Some`.
#[derive(Debug)]
pub struct QueryResponseParser {
    deprecate_eof: bool,
    state: ParseState,
    set: TextResultSet,
}

impl QueryResponseParser {
    /// `deprecate_eof`: whether CLIENT_DEPRECATE_EOF was negotiated on this connection.
    pub fn new(deprecate_eof: bool) -> QueryResponseParser {
        QueryResponseParser {
            deprecate_eof,
            state: ParseState::First,
            set: TextResultSet::default(),
        }
    }

    /// Feed the next payload; returns the response once complete. An ERR becomes an error.
    pub fn feed(&mut self, payload: &[u8]) -> Result<Option<QueryResponse>> {
        if payload.first() == Some(&0xff) {
            return Err(ErrPacket::parse(payload)?.into_error());
        }
        match self.state {
            ParseState::First => match payload.first() {
                Some(0x00) => Ok(Some(QueryResponse::Ok(OkPacket::parse(payload)?))),
                Some(0xfb) => Err(ProtocolError::Unexpected {
                    context: "LOCAL INFILE request to a replica connection",
                    first: 0xfb,
                    len: payload.len(),
                }),
                Some(_) => {
                    let n = Reader::new(payload, "column count").lenenc_int()?;
                    let n = usize::try_from(n)
                        .ok()
                        .filter(|n| *n > 0 && *n <= 4096)
                        .ok_or_else(|| {
                            ProtocolError::malformed("column count", format!("{n} columns"))
                        })?;
                    self.set.columns.reserve(n);
                    self.state = ParseState::Columns { remaining: n };
                    Ok(None)
                }
                None => Err(ProtocolError::malformed("query response", "empty payload")),
            },
            ParseState::Columns { remaining } => {
                self.set.columns.push(Column::parse(payload)?);
                self.state = match (remaining - 1, self.deprecate_eof) {
                    (0, true) => ParseState::Rows,
                    (0, false) => ParseState::ColumnsEof,
                    (n, _) => ParseState::Columns { remaining: n },
                };
                Ok(None)
            }
            ParseState::ColumnsEof => {
                if !is_eof(payload) {
                    return Err(ProtocolError::Unexpected {
                        context: "after column definitions (expected EOF)",
                        first: payload.first().copied().unwrap_or(0),
                        len: payload.len(),
                    });
                }
                self.state = ParseState::Rows;
                Ok(None)
            }
            ParseState::Rows => {
                if is_result_set_terminator(payload, self.deprecate_eof) {
                    let status = if self.deprecate_eof {
                        OkPacket::parse(payload)?.status_flags
                    } else {
                        eof_status(payload)
                    };
                    let mut set = std::mem::take(&mut self.set);
                    set.status_flags = status;
                    self.state = ParseState::First;
                    return Ok(Some(QueryResponse::ResultSet(set)));
                }
                let row = parse_text_row(payload, self.set.columns.len())?;
                self.set.rows.push(row);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::wire::{put_lenenc_bytes, put_lenenc_int};

    pub(crate) fn column_def(name: &str) -> Vec<u8> {
        let mut p = Vec::new();
        for s in ["def", "", "", "", name, ""] {
            put_lenenc_bytes(&mut p, s.as_bytes());
        }
        put_lenenc_int(&mut p, 0x0c);
        p.extend_from_slice(&45u16.to_le_bytes());
        p.extend_from_slice(&1024u32.to_le_bytes());
        p.push(0xfd);
        p.extend_from_slice(&0u16.to_le_bytes());
        p.push(0x1f);
        p.extend_from_slice(&[0, 0]);
        p
    }

    pub(crate) fn text_row(vals: &[Option<&[u8]>]) -> Vec<u8> {
        let mut p = Vec::new();
        for v in vals {
            match v {
                None => p.push(0xfb),
                Some(b) => put_lenenc_bytes(&mut p, b),
            }
        }
        p
    }

    #[test]
    fn ok_packet() {
        let ok = OkPacket::parse(&[0x00, 0x01, 0xfc, 0x10, 0x27, 0x02, 0x00, 0x03, 0x00]).unwrap();
        assert_eq!(ok.affected_rows, 1);
        assert_eq!(ok.last_insert_id, 10000);
        assert_eq!(ok.status_flags, 2);
        assert_eq!(ok.warnings, 3);
        assert!(OkPacket::parse(&[0x00]).is_err());
    }

    #[test]
    fn err_packet_with_and_without_state() {
        let mut p = vec![0xff, 0xd4, 0x04, b'#'];
        p.extend_from_slice(b"HY000Could not find first log file name in binary log index file");
        let e = ErrPacket::parse(&p).unwrap();
        assert_eq!(e.code, 1236);
        assert_eq!(e.sql_state, "HY000");
        assert!(e.message.starts_with("Could not find"));
        assert!(matches!(
            e.into_error(),
            ProtocolError::ContinuityBreak { code: 1236, .. }
        ));

        let e = ErrPacket::parse(&[0xff, 0x10, 0x04, b'H', b'i']).unwrap();
        assert_eq!(e.code, 1040);
        assert_eq!(e.sql_state, "HY000");
        assert_eq!(e.message, "Hi");
        assert!(ErrPacket::parse(&[0xff, 0x10]).is_err());
    }

    fn run(parser: &mut QueryResponseParser, packets: &[Vec<u8>]) -> QueryResponse {
        let (last, init) = packets.split_last().unwrap();
        for p in init {
            assert!(parser.feed(p).unwrap().is_none());
        }
        parser.feed(last).unwrap().unwrap()
    }

    #[test]
    fn result_set_classic_eof() {
        let packets = vec![
            vec![2],
            column_def("a"),
            column_def("b"),
            vec![0xfe, 0, 0, 0x02, 0],
            text_row(&[Some(b"1"), None]),
            text_row(&[Some(b""), Some(b"xyz")]),
            vec![0xfe, 0, 0, 0x02, 0],
        ];
        let mut p = QueryResponseParser::new(false);
        let QueryResponse::ResultSet(rs) = run(&mut p, &packets) else {
            panic!()
        };
        assert_eq!(rs.columns.len(), 2);
        assert_eq!(rs.columns[1].name, "b");
        assert_eq!(rs.column_index("B"), Some(1));
        assert_eq!(
            rs.rows,
            vec![
                vec![Some(b"1".to_vec()), None],
                vec![Some(Vec::new()), Some(b"xyz".to_vec())]
            ]
        );
        assert_eq!(rs.status_flags, 2);
    }

    #[test]
    fn result_set_deprecate_eof() {
        let packets = vec![
            vec![1],
            column_def("@@server_id"),
            text_row(&[Some(b"1")]),
            vec![0xfe, 0, 0, 0x0a, 0, 0, 0],
        ];
        let mut p = QueryResponseParser::new(true);
        let r = run(&mut p, &packets);
        assert!(r.more_results());
        let QueryResponse::ResultSet(rs) = r else {
            panic!()
        };
        assert_eq!(rs.rows, vec![vec![Some(b"1".to_vec())]]);
    }

    #[test]
    fn ok_and_err_responses() {
        let mut p = QueryResponseParser::new(false);
        assert!(matches!(
            p.feed(&[0, 0, 0, 2, 0, 0, 0]).unwrap(),
            Some(QueryResponse::Ok(_))
        ));
        let mut err = vec![0xff, 0xa9, 0x04, b'#'];
        err.extend_from_slice(b"HY000Unknown system variable 'server_uuid'");
        let e = p.feed(&err).unwrap_err();
        assert_eq!(e.server_code(), Some(1193));
    }

    #[test]
    fn bad_row_is_an_error() {
        let mut p = QueryResponseParser::new(false);
        p.feed(&[1]).unwrap();
        p.feed(&column_def("a")).unwrap();
        p.feed(&[0xfe, 0, 0, 0, 0]).unwrap();
        assert!(p.feed(&[5, b'a']).is_err());
        let mut p = QueryResponseParser::new(false);
        assert!(p.feed(&[0xfc]).is_err());
    }
}
