//! One binlog event, decoded from its bytes.
//!
//! Owns the dispatch from event type to body parser and checksum verification. It keeps no
//! state between events: which FORMAT_DESCRIPTION applies and which table ids are mapped is the
//! job of [`crate::binlog::stream::EventStream`].

use super::checksum::{ChecksumAlg, verify_crc32};
use super::control::{
    HeartbeatEvent, IncidentEvent, IntvarEvent, RandEvent, RotateEvent, UserVarEvent,
    XaPrepareEvent, parse_binlog_checkpoint, parse_rows_query, start_encryption_error,
};
use super::error::{BinlogError, Result};
use super::event_type::EventType;
use super::format::{Flavor, FormatDescription};
use super::gtid_event::{GtidEvent, MariadbGtidEvent, MariadbGtidListEvent, PreviousGtidsEvent};
use super::header::{EventHeader, HEADER_LEN};
use super::payload::TransactionPayload;
use super::query::QueryEvent;
use super::rows_event::RowsEvent;
use super::table_map::TableMap;

/// An event: its header, its raw bytes, and its decoded body.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub header: EventHeader,
    /// The whole event as stored: header, body and checksum trailer.
    pub raw: &'a [u8],
    pub body: EventBody<'a>,
}

/// The decoded body of an event, by type.
#[derive(Debug, Clone)]
pub enum EventBody<'a> {
    FormatDescription(Box<FormatDescription>),
    Query(QueryEvent<'a>),
    Rotate(RotateEvent<'a>),
    Stop,
    Xid(u64),
    Intvar(IntvarEvent),
    Rand(RandEvent),
    UserVar(UserVarEvent<'a>),
    TableMap(TableMap<'a>),
    /// Any rows event. For MariaDB's compressed rows events the rows data is still compressed;
    /// [`crate::binlog::stream::EventStream`] expands it.
    Rows(RowsEvent<'a>),
    /// ROWS_QUERY (MySQL) or ANNOTATE_ROWS (MariaDB): the statement text behind the next rows.
    RowsQuery(&'a [u8]),
    /// GTID, ANONYMOUS_GTID or GTID_TAGGED (MySQL).
    Gtid(GtidEvent<'a>),
    PreviousGtids(PreviousGtidsEvent),
    MariadbGtid(MariadbGtidEvent),
    MariadbGtidList(MariadbGtidListEvent),
    BinlogCheckpoint(&'a [u8]),
    XaPrepare(XaPrepareEvent<'a>),
    TransactionPayload(TransactionPayload<'a>),
    Heartbeat(HeartbeatEvent<'a>),
    Incident(IncidentEvent<'a>),
    /// An event type gapfill reads past without interpreting (e.g. group replication's
    /// VIEW_CHANGE, LOAD DATA blocks, ignorable events of newer servers). The body is kept.
    Other(&'a [u8]),
}

/// The body of an event without header and checksum trailer, checking sizes.
pub fn split_body<'a>(
    bytes: &'a [u8],
    header: &EventHeader,
    fde: &FormatDescription,
) -> Result<&'a [u8]> {
    split_body_with(bytes, header, fde, fde.checksum)
}

/// As [`split_body`], with the checksum algorithm given explicitly (events inside a
/// TRANSACTION_PAYLOAD have no trailer whatever the description says).
pub fn split_body_with<'a>(
    bytes: &'a [u8],
    header: &EventHeader,
    fde: &FormatDescription,
    checksum: ChecksumAlg,
) -> Result<&'a [u8]> {
    let size = header.event_size as usize;
    if bytes.len() < size {
        return Err(BinlogError::Truncated {
            what: "event",
            needed: size,
            available: bytes.len(),
        });
    }
    let header_len = (fde.header_len as usize).max(HEADER_LEN);
    let trailer = if header.event_type == EventType::FormatDescription {
        0 // the FORMAT_DESCRIPTION parser locates its own trailer
    } else {
        checksum.trailer_len()
    };
    if size < header_len + trailer {
        return Err(BinlogError::invalid(
            "event",
            format!(
                "{} event of {size} bytes cannot hold a {header_len}-byte header and {trailer}-byte checksum",
                header.event_type.name()
            ),
        ));
    }
    Ok(&bytes[header_len..size - trailer])
}

impl<'a> Event<'a> {
    /// Decode one event from the start of `bytes` under `fde`, verifying its CRC32 when
    /// `verify` is set and the description declares checksums.
    pub fn parse(bytes: &'a [u8], fde: &FormatDescription, verify: bool) -> Result<Event<'a>> {
        Self::parse_with(bytes, fde, fde.checksum, verify)
    }

    /// Decode an event from inside a TRANSACTION_PAYLOAD: no checksum trailer.
    pub fn parse_unchecksummed(bytes: &'a [u8], fde: &FormatDescription) -> Result<Event<'a>> {
        Self::parse_with(bytes, fde, ChecksumAlg::Off, false)
    }

    fn parse_with(
        bytes: &'a [u8],
        fde: &FormatDescription,
        checksum: ChecksumAlg,
        verify: bool,
    ) -> Result<Event<'a>> {
        let header = EventHeader::parse(bytes)?;
        let body = split_body_with(bytes, &header, fde, checksum)?;
        let raw = &bytes[..header.event_size as usize];
        if verify
            && fde.checksum == ChecksumAlg::Crc32
            && header.event_type != EventType::FormatDescription
        {
            verify_crc32(raw)?;
        }
        let body = parse_body(&header, body, fde, verify)?;
        Ok(Event { header, raw, body })
    }
}

fn post_header(fde: &FormatDescription, t: EventType, default: u8) -> u8 {
    fde.post_header_len(t).unwrap_or(default)
}

/// Decode an event body (after the common header, without trailer) of the given header.
pub fn parse_body<'a>(
    header: &EventHeader,
    body: &'a [u8],
    fde: &FormatDescription,
    verify: bool,
) -> Result<EventBody<'a>> {
    use EventType as T;
    let t = header.event_type;
    Ok(match t {
        T::FormatDescription => {
            let f = FormatDescription::parse(body)?;
            if verify && f.checksum == ChecksumAlg::Crc32 {
                // The trailer belongs to the event itself: verify against the header too.
                let mut whole = Vec::with_capacity(HEADER_LEN + body.len());
                whole.extend_from_slice(&header_bytes(header));
                whole.extend_from_slice(body);
                verify_crc32(&whole)?;
            }
            EventBody::FormatDescription(Box::new(f))
        }
        T::Query => EventBody::Query(QueryEvent::parse(body, post_header(fde, t, 13))?),
        T::MariadbQueryCompressed => {
            EventBody::Query(QueryEvent::parse_compressed(body, post_header(fde, t, 13))?)
        }
        T::Rotate => EventBody::Rotate(RotateEvent::parse(body)?),
        T::Stop => EventBody::Stop,
        T::Xid => {
            let mut c = super::cursor::Cursor::new(body);
            EventBody::Xid(c.u64_le("xid event")?)
        }
        T::Intvar => EventBody::Intvar(IntvarEvent::parse(body)?),
        T::Rand => EventBody::Rand(RandEvent::parse(body)?),
        T::UserVar => EventBody::UserVar(UserVarEvent::parse(body)?),
        T::TableMap => {
            let mut tm = TableMap::parse(body, post_header(fde, t, 8))?;
            // Which columns carry a charset differs by flavor (MariaDB counts GEOMETRY).
            tm.flavor = fde.flavor;
            EventBody::TableMap(tm)
        }
        T::RowsQuery => EventBody::RowsQuery(parse_rows_query(body, false)?),
        T::MariadbAnnotateRows => EventBody::RowsQuery(parse_rows_query(body, true)?),
        T::Gtid | T::AnonymousGtid | T::GtidTagged => EventBody::Gtid(GtidEvent::parse(t, body)?),
        T::PreviousGtids => EventBody::PreviousGtids(PreviousGtidsEvent::parse(body)?),
        T::MariadbGtid => EventBody::MariadbGtid(MariadbGtidEvent::parse(
            body,
            header.server_id,
            header.flags,
        )?),
        T::MariadbGtidList => EventBody::MariadbGtidList(MariadbGtidListEvent::parse(body)?),
        T::MariadbBinlogCheckpoint => EventBody::BinlogCheckpoint(parse_binlog_checkpoint(body)?),
        T::MariadbStartEncryption => return Err(start_encryption_error(body)),
        T::XaPrepare => EventBody::XaPrepare(XaPrepareEvent::parse(body)?),
        T::TransactionPayload => EventBody::TransactionPayload(TransactionPayload::parse(body)?),
        T::Heartbeat => EventBody::Heartbeat(HeartbeatEvent::parse_v1(body)?),
        T::HeartbeatV2 => EventBody::Heartbeat(HeartbeatEvent::parse_v2(body)?),
        T::Incident => EventBody::Incident(IncidentEvent::parse(body)?),
        _ => match t.rows_info() {
            Some((kind, version, _compressed)) => {
                let default = if version == 1 { 8 } else { 10 };
                EventBody::Rows(RowsEvent::parse(
                    kind,
                    version,
                    body,
                    post_header(fde, t, default),
                )?)
            }
            None => {
                if matches!(
                    t,
                    T::PreGaWriteRows | T::PreGaUpdateRows | T::PreGaDeleteRows
                ) || (matches!(t, T::StartV3) && fde.flavor == Flavor::MySql)
                {
                    return Err(BinlogError::unsupported(
                        "event",
                        format!("{} (written by MySQL 5.1 betas and earlier)", t.name()),
                    ));
                }
                EventBody::Other(body)
            }
        },
    })
}

/// Re-encode a header (used to checksum a FORMAT_DESCRIPTION whose bytes were split).
pub fn header_bytes(h: &EventHeader) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..4].copy_from_slice(&h.timestamp.to_le_bytes());
    b[4] = h.event_type.code();
    b[5..9].copy_from_slice(&h.server_id.to_le_bytes());
    b[9..13].copy_from_slice(&h.event_size.to_le_bytes());
    b[13..17].copy_from_slice(&h.log_pos.to_le_bytes());
    b[17..19].copy_from_slice(&h.flags.to_le_bytes());
    b
}
