//! The role of one raw event in a transaction, read from the fewest bytes that say it.
//!
//! Owns reading the event kinds that matter for framing and storage: FORMAT_DESCRIPTION (how
//! to read the rest; whether it marks a server start), ROTATE (file names), GTID events of both
//! flavors (GTID, commit time, logical clock, announced length, MariaDB flags), QUERY (BEGIN /
//! XA START / an atomic `CREATE ... START TRANSACTION` / COMMIT / ROLLBACK / XA COMMIT / other
//! statements) and the events that end transactions. Everything else is "some event". It never
//! decodes rows. It does not decide where transactions end (the [`Framer`](super::Framer)
//! does).

use crate::binlog::checksum::{ChecksumAlg, verify_crc32};
use crate::binlog::control::RotateEvent;
use crate::binlog::event::split_body;
use crate::binlog::gtid_event::{GtidEvent, LogicalClock, MariadbGtidEvent};
use crate::binlog::gtid_set::Gtid;
use crate::binlog::header::{EventHeader, HEADER_LEN, LOG_EVENT_ARTIFICIAL_F};
use crate::binlog::mariadb_compressed::decompress;
use crate::binlog::mariadb_gtid::MariadbGtid;
use crate::binlog::query::starts_with_ci;
use crate::binlog::{BinlogError, EventType, FormatDescription};

/// The facts about one event.
#[derive(Debug, Clone)]
pub struct Facts {
    pub header: EventHeader,
    pub kind: Kind,
}

/// The roles an event can play for the spool.
#[derive(Debug, Clone)]
pub enum Kind {
    FormatDescription(Box<FormatDescription>),
    Rotate {
        pos: u64,
        next_file: String,
    },
    /// GTID, ANONYMOUS_GTID or GTID_TAGGED.
    MySqlGtid {
        gtid: Option<Gtid>,
        clock: Option<LogicalClock>,
        immediate_ts: Option<u64>,
        original_ts: Option<u64>,
        /// `transaction_length`: bytes of the whole transaction, this event included.
        length: Option<u64>,
    },
    MariaDbGtid {
        gtid: MariadbGtid,
        standalone: bool,
        commit_id: Option<u64>,
        /// FL_DDL: the group is DDL.
        ddl: bool,
    },
    Query(QueryKind),
    Xid,
    XaPrepare,
    TransactionPayload,
    /// INTVAR, RAND, USER_VAR: context for the next statement.
    StatementContext,
    Incident,
    Stop,
    /// PREVIOUS_GTIDS, GTID_LIST, BINLOG_CHECKPOINT: file-level bookkeeping between transactions.
    Marker,
    /// Anything else (rows, table maps, rows queries, unknown types).
    Other,
}

/// What a QUERY statement means for transaction boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `BEGIN` or `XA START ...` / `XA BEGIN ...`.
    Begin,
    /// An atomic `CREATE TABLE ... SELECT` (MySQL 8.0.21+ logs it as `CREATE TABLE ...
    /// START TRANSACTION`): it opens a transaction that its rows and an XID complete.
    BeginAtomicDdl,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK` (a logged rollback of non-transactional changes).
    Rollback,
    /// `XA COMMIT ...` or `XA ROLLBACK ...`.
    XaEnd,
    /// Anything else: DDL, or a statement inside a transaction.
    Statement,
}

impl Facts {
    pub fn is_artificial(&self) -> bool {
        self.header.flags & LOG_EVENT_ARTIFICIAL_F != 0
    }
}

fn ends_with_ci(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn strip_semicolons(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace() || **b == b';')
        .count();
    &s[..s.len() - n]
}

/// Classify a statement's text.
pub fn query_kind(text: &[u8]) -> QueryKind {
    let t = text.trim_ascii();
    if t.eq_ignore_ascii_case(b"BEGIN")
        || starts_with_ci(t, b"XA START")
        || starts_with_ci(t, b"XA BEGIN")
    {
        QueryKind::Begin
    } else if starts_with_ci(t, b"CREATE")
        && ends_with_ci(strip_semicolons(t), b"START TRANSACTION")
    {
        QueryKind::BeginAtomicDdl
    } else if t.eq_ignore_ascii_case(b"COMMIT") {
        QueryKind::Commit
    } else if t.eq_ignore_ascii_case(b"ROLLBACK") {
        QueryKind::Rollback
    } else if starts_with_ci(t, b"XA COMMIT") || starts_with_ci(t, b"XA ROLLBACK") {
        QueryKind::XaEnd
    } else {
        QueryKind::Statement
    }
}

/// The statement text of a QUERY body, found by lengths alone: the spool needs only the
/// text, and must store events whose status variables a newer server extended.
fn query_text(body: &[u8], post_header_len: u8) -> Result<&[u8], BinlogError> {
    let ph = usize::from(post_header_len.max(11));
    let short = || BinlogError::Truncated {
        what: "query event",
        needed: ph,
        available: body.len(),
    };
    let head = body.get(..ph).ok_or_else(short)?;
    let schema_len = usize::from(head[8]);
    let status_len = if ph >= 13 {
        usize::from(u16::from_le_bytes([head[11], head[12]]))
    } else {
        0
    };
    let start = ph + status_len + schema_len + 1;
    body.get(start..).ok_or(BinlogError::Truncated {
        what: "query event",
        needed: start,
        available: body.len(),
    })
}

/// The body of a ROTATE whose checksum setting is unknown (the artificial ROTATE that opens a
/// dump follows the connection's checksum setting, not a file's): the trailer is stripped when
/// it is a valid CRC32 of the rest.
fn rotate_body(bytes: &[u8]) -> &[u8] {
    if bytes.len() >= HEADER_LEN + 8 + 4 {
        let (data, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(data).to_le_bytes() == crc {
            return &data[HEADER_LEN..];
        }
    }
    &bytes[HEADER_LEN..]
}

/// Read the facts of one whole event (`bytes` is exactly the event). `fde` is the description
/// in force (`None` before the first one; only FORMAT_DESCRIPTION and ROTATE can be read
/// then). With `verify`, a CRC32 trailer the description announces is checked.
pub fn inspect(
    bytes: &[u8],
    fde: Option<&FormatDescription>,
    verify: bool,
) -> Result<Facts, BinlogError> {
    let header = EventHeader::parse(bytes)?;
    if header.event_size as usize != bytes.len() {
        return Err(BinlogError::invalid(
            "event",
            format!(
                "{} event says {} bytes but {} were given",
                header.event_type.name(),
                header.event_size,
                bytes.len()
            ),
        ));
    }
    let t = header.event_type;
    if t == EventType::FormatDescription {
        // Not CRC-checked: the master rewrites the header of the description it sends mid-file
        // (log_pos 0), and a damaged description fails to parse anyway.
        let f = FormatDescription::parse(&bytes[HEADER_LEN..])?;
        return Ok(Facts {
            header,
            kind: Kind::FormatDescription(Box::new(f)),
        });
    }
    let Some(fde) = fde else {
        if t == EventType::Rotate {
            let r = RotateEvent::parse(rotate_body(bytes))?;
            return Ok(Facts {
                header,
                kind: rotate_kind(&r),
            });
        }
        return Err(BinlogError::invalid(
            "event",
            format!("{} event before any FORMAT_DESCRIPTION", t.name()),
        ));
    };
    if verify && fde.checksum == ChecksumAlg::Crc32 && !header_is_artificial(&header) {
        verify_crc32(bytes)?;
    }
    let body = if t == EventType::Rotate && header_is_artificial(&header) {
        rotate_body(bytes)
    } else {
        split_body(bytes, &header, fde)?
    };
    let kind = match t {
        EventType::Rotate => rotate_kind(&RotateEvent::parse(body)?),
        EventType::Gtid | EventType::AnonymousGtid | EventType::GtidTagged => {
            let g = GtidEvent::parse(t, body)?;
            Kind::MySqlGtid {
                gtid: g.gtid(),
                clock: g.logical_clock,
                immediate_ts: g.immediate_commit_timestamp,
                original_ts: g.original_commit_timestamp,
                length: g.transaction_length.filter(|&l| l > 0),
            }
        }
        EventType::MariadbGtid => {
            let g = MariadbGtidEvent::parse(body, header.server_id, header.flags)?;
            Kind::MariaDbGtid {
                gtid: g.gtid(),
                standalone: g.is_standalone(),
                commit_id: g.commit_id,
                ddl: g.is_ddl(),
            }
        }
        EventType::Query => {
            let ph = fde.post_header_len(t).unwrap_or(13);
            Kind::Query(query_kind(query_text(body, ph)?))
        }
        EventType::MariadbQueryCompressed => {
            let ph = fde.post_header_len(t).unwrap_or(13);
            let text = decompress(query_text(body, ph)?, "compressed query")?;
            Kind::Query(query_kind(&text))
        }
        EventType::Xid => Kind::Xid,
        EventType::XaPrepare => Kind::XaPrepare,
        EventType::TransactionPayload => Kind::TransactionPayload,
        EventType::Intvar | EventType::Rand | EventType::UserVar => Kind::StatementContext,
        EventType::Incident => Kind::Incident,
        EventType::Stop => Kind::Stop,
        EventType::PreviousGtids
        | EventType::MariadbGtidList
        | EventType::MariadbBinlogCheckpoint => Kind::Marker,
        _ => Kind::Other,
    };
    Ok(Facts { header, kind })
}

fn header_is_artificial(h: &EventHeader) -> bool {
    h.flags & LOG_EVENT_ARTIFICIAL_F != 0
}

fn rotate_kind(r: &RotateEvent<'_>) -> Kind {
    Kind::Rotate {
        pos: r.position,
        next_file: String::from_utf8_lossy(r.next_file).into_owned(),
    }
}
