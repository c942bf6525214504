//! GTID-carrying events of both flavors: decoding and encoding of their bodies.
//!
//! Owns MySQL's GTID (33), ANONYMOUS_GTID (34), GTID_TAGGED (42, MySQL 8.3+) and
//! PREVIOUS_GTIDS (35) events, and MariaDB's GTID (162) and GTID_LIST (163) events. Bodies
//! arrive without the common header and checksum (see `event::split_body`). GTID values and
//! set arithmetic live in `gtid_set` and `mariadb_gtid`; this file only maps bytes to them.
//!
//! Layout facts (MySQL `libs/mysql/binlog/event/control_events.{h,cpp}`,
//! `libs/mysql/serialization/`, MariaDB `sql/log_event.cc`):
//! * untagged GTID: `flags u8, uuid[16], gno i64`, then optional, each present only if the
//!   body is long enough (5.6 stops after gno; 5.7 adds the clock; 8.0 the rest):
//!   `lt_type u8 (=2), last_committed i64, sequence_number i64`, `immediate_commit_ts 7 bytes`
//!   (bit 55 set: `original_commit_ts 7 bytes` follows, else it equals immediate),
//!   `transaction_length` (packed int), `immediate_server_version u32` (bit 31 set:
//!   `original_server_version u32` follows), `commit_group_ticket u64`. An `lt_type` other
//!   than 2 (MySQL 5.7.4 and earlier) means the rest is ignored.
//! * tagged GTID: one serialization-library message: `varlen(format version = 1)`,
//!   `varlen(message size, counted from the version byte)`,
//!   `varlen(last non-ignorable field id + 1)`, then `varlen(field id)` + value for fields
//!   in increasing id order: 0 flags, 1 uuid (16 varlen bytes), 2 gno (zig-zag varlen),
//!   3 tag (varlen length + bytes), 4 last_committed, 5 sequence_number (zig-zag),
//!   6 immediate_commit_ts, 7 original_commit_ts (omitted when equal), 8 transaction_length,
//!   9 immediate_server_version, 10 original_server_version (omitted when equal),
//!   11 commit_group_ticket (omitted when 0). Unknown fields of a newer server are skipped to
//!   the end of the message, unless the header declares them non-ignorable.
//! * MariaDB GTID: `seq_no u64, domain_id u32, flags2 u8`, then `commit_id u64` if
//!   FL_GROUP_COMMIT_ID, then an XID (`format_id u32, gtrid_len u8, bqual_len u8, data`) if
//!   an XA flag is set, then (10.8+) `flags_extra u8` and its fields; short bodies are
//!   zero-padded to 19 bytes, and a zero pad byte reads as `flags_extra = 0`.

use super::cursor::Cursor;
use super::error::{BinlogError, Result};
use super::event_type::EventType;
use super::gtid_set::{
    Gtid, GtidFormat, GtidSet, MAX_GNO, Tag, Uuid, read_varlen_int, read_varlen_uint,
    write_varlen_int, write_varlen_uint,
};
use super::mariadb_gtid::{MariadbBinlogState, MariadbGtid};

/// The server-version value MySQL uses when an event carries none.
pub const UNDEFINED_SERVER_VERSION: u32 = 999_999;

/// The logical clock of a transaction: what a parallel applier may run concurrently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogicalClock {
    pub last_committed: u64,
    pub sequence_number: u64,
}

/// A MySQL GTID, ANONYMOUS_GTID or GTID_TAGGED event: the first event of every transaction
/// when GTIDs are on (anonymous when they are off). Fields after `gno` are `None` when the
/// writing server predates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GtidEvent<'a> {
    /// Which of the three event types this came from / will be written as.
    pub event_type: EventType,
    /// GTID flags; bit 0 ([`GtidEvent::FLAG_MAY_HAVE_SBR`]) means the transaction may contain
    /// statement-based events (always set by 5.6, 5.7.0-5.7.18, 8.0.0-8.0.1).
    pub flags: u8,
    pub uuid: Uuid,
    pub tag: Option<Tag>,
    /// 0 for anonymous transactions.
    pub gno: u64,
    /// MySQL 5.7.6+.
    pub logical_clock: Option<LogicalClock>,
    /// Microseconds since the epoch when the nearest source committed (8.0.1+).
    pub immediate_commit_timestamp: Option<u64>,
    /// Microseconds since the epoch when the originating source committed (8.0.1+).
    pub original_commit_timestamp: Option<u64>,
    /// Bytes of the whole transaction including this event (8.0.2+).
    pub transaction_length: Option<u64>,
    /// `major*10000 + minor*100 + patch` of the nearest source (8.0.14+).
    pub immediate_server_version: Option<u32>,
    /// Same for the originating source (8.0.14+).
    pub original_server_version: Option<u32>,
    /// Binlog group commit ticket (8.0.33+), present only when non-zero.
    pub commit_group_ticket: Option<u64>,
    /// The body this was decoded from (empty for built events).
    pub raw: &'a [u8],
}

mod field {
    pub const FLAGS: u64 = 0;
    pub const UUID: u64 = 1;
    pub const GNO: u64 = 2;
    pub const TAG: u64 = 3;
    pub const LAST_COMMITTED: u64 = 4;
    pub const SEQUENCE_NUMBER: u64 = 5;
    pub const IMMEDIATE_COMMIT_TS: u64 = 6;
    pub const ORIGINAL_COMMIT_TS: u64 = 7;
    pub const TRANSACTION_LENGTH: u64 = 8;
    pub const IMMEDIATE_SERVER_VERSION: u64 = 9;
    pub const ORIGINAL_SERVER_VERSION: u64 = 10;
    pub const COMMIT_GROUP_TICKET: u64 = 11;
}

const SERIALIZATION_FORMAT_VERSION: u64 = 1;
const LOGICAL_TIMESTAMP_TYPECODE: u8 = 2;
const TS_ORIGINAL_FOLLOWS: u64 = 1 << 55;
const SV_ORIGINAL_FOLLOWS: u32 = 1 << 31;

impl<'a> GtidEvent<'a> {
    pub const FLAG_MAY_HAVE_SBR: u8 = 1;

    /// Decode the body of a GTID (33), ANONYMOUS_GTID (34) or GTID_TAGGED (42) event.
    pub fn parse(event_type: EventType, body: &'a [u8]) -> Result<GtidEvent<'a>> {
        match event_type {
            EventType::Gtid | EventType::AnonymousGtid => Self::parse_untagged(event_type, body),
            EventType::GtidTagged => Self::parse_tagged(body),
            other => Err(BinlogError::invalid(
                "GTID event",
                format!("{} is not a GTID event type", other.name()),
            )),
        }
    }

    /// An event for `gtid` with every optional field unset: GTID_TAGGED when the GTID has a
    /// tag, GTID otherwise. Fill the public fields, then [`GtidEvent::encode_body`].
    pub fn for_gtid(gtid: &Gtid) -> GtidEvent<'static> {
        GtidEvent {
            event_type: if gtid.tag.is_some() {
                EventType::GtidTagged
            } else {
                EventType::Gtid
            },
            flags: 0,
            uuid: gtid.uuid,
            tag: gtid.tag.clone(),
            gno: gtid.gno,
            logical_clock: None,
            immediate_commit_timestamp: None,
            original_commit_timestamp: None,
            transaction_length: None,
            immediate_server_version: None,
            original_server_version: None,
            commit_group_ticket: None,
            raw: &[],
        }
    }

    /// An ANONYMOUS_GTID event with every optional field unset.
    pub fn anonymous() -> GtidEvent<'static> {
        GtidEvent {
            event_type: EventType::AnonymousGtid,
            ..GtidEvent::for_gtid(&Gtid {
                uuid: Uuid::default(),
                tag: None,
                gno: 0,
            })
        }
    }

    /// The transaction's GTID; `None` for an anonymous transaction.
    pub fn gtid(&self) -> Option<Gtid> {
        if self.is_anonymous() {
            return None;
        }
        Some(Gtid {
            uuid: self.uuid,
            tag: self.tag.clone(),
            gno: self.gno,
        })
    }

    pub fn is_anonymous(&self) -> bool {
        self.event_type == EventType::AnonymousGtid
    }

    pub fn is_tagged(&self) -> bool {
        self.event_type == EventType::GtidTagged
    }

    /// Whether the transaction may contain statement-based events.
    pub fn may_have_sbr(&self) -> bool {
        self.flags & Self::FLAG_MAY_HAVE_SBR != 0
    }

    fn empty(event_type: EventType, raw: &'a [u8]) -> GtidEvent<'a> {
        GtidEvent {
            raw,
            ..GtidEvent::for_gtid(&Gtid {
                uuid: Uuid::default(),
                tag: None,
                gno: 0,
            })
        }
        .with_type(event_type)
    }

    fn with_type(mut self, t: EventType) -> Self {
        self.event_type = t;
        self
    }

    fn parse_untagged(event_type: EventType, body: &'a [u8]) -> Result<GtidEvent<'a>> {
        const WHAT: &str = "GTID event";
        let mut e = GtidEvent::empty(event_type, body);
        let mut c = Cursor::new(body);
        e.flags = c.u8(WHAT)?;
        e.uuid = Uuid(c.array::<16>(WHAT)?);
        let gno = c.i64_le(WHAT)?;
        match event_type {
            EventType::AnonymousGtid if gno != 0 => {
                return Err(BinlogError::invalid(
                    WHAT,
                    format!("anonymous GTID event with GNO {gno} (must be 0)"),
                ));
            }
            EventType::Gtid if gno < 1 || gno as u64 > MAX_GNO => {
                return Err(BinlogError::invalid(
                    WHAT,
                    format!("GNO {gno} of {} is outside 1..={MAX_GNO}", e.uuid),
                ));
            }
            _ => {}
        }
        e.gno = gno as u64;
        if c.is_empty() {
            return Ok(e); // MySQL 5.6
        }
        if c.u8(WHAT)? != LOGICAL_TIMESTAMP_TYPECODE {
            return Ok(e); // MySQL 5.7.4 and earlier: a different clock, ignored as MySQL does
        }
        e.logical_clock = Some(LogicalClock {
            last_committed: c.u64_le(WHAT)?,
            sequence_number: c.u64_le(WHAT)?,
        });
        if c.remaining() < 7 {
            return Ok(e); // 5.7: no commit timestamps
        }
        let imm = c.uint_le(7, WHAT)?;
        let (imm, orig) = if imm & TS_ORIGINAL_FOLLOWS != 0 {
            (imm & !TS_ORIGINAL_FOLLOWS, c.uint_le(7, WHAT)?)
        } else {
            (imm, imm)
        };
        e.immediate_commit_timestamp = Some(imm);
        e.original_commit_timestamp = Some(orig);
        if c.is_empty() {
            return Ok(e);
        }
        e.transaction_length = Some(c.lenenc_int(WHAT)?);
        if c.remaining() < 4 {
            return Ok(e);
        }
        let imm = c.u32_le(WHAT)?;
        let (imm, orig) = if imm & SV_ORIGINAL_FOLLOWS != 0 {
            (imm & !SV_ORIGINAL_FOLLOWS, c.u32_le(WHAT)?)
        } else {
            (imm, imm)
        };
        e.immediate_server_version = Some(imm);
        e.original_server_version = Some(orig);
        if c.remaining() >= 8 {
            e.commit_group_ticket = Some(c.u64_le(WHAT)?);
        }
        Ok(e)
    }

    fn parse_tagged(body: &'a [u8]) -> Result<GtidEvent<'a>> {
        const WHAT: &str = "GTID_TAGGED event";
        let mut e = GtidEvent::empty(EventType::GtidTagged, body);
        let mut c = Cursor::new(body);
        let version = read_varlen_uint(&mut c, WHAT)?;
        if version != SERIALIZATION_FORMAT_VERSION {
            return Err(BinlogError::unsupported(
                WHAT,
                format!("serialization format version {version} (only 1 is known)"),
            ));
        }
        let size = read_varlen_uint(&mut c, WHAT)?;
        let last_non_ignorable = read_varlen_uint(&mut c, WHAT)?;
        let header = c.position() as u64;
        if size < header {
            return Err(BinlogError::invalid(
                WHAT,
                format!("message size {size} is smaller than its {header}-byte header"),
            ));
        }
        let fields_len = usize::try_from(size - header).unwrap_or(usize::MAX);
        let fields = c.bytes(fields_len, WHAT)?;
        // The header counts one past the last non-ignorable field; any beyond the last field
        // this code knows (11) would change the meaning of the event.
        if last_non_ignorable > field::COMMIT_GROUP_TICKET + 1 {
            return Err(BinlogError::unsupported(
                WHAT,
                format!(
                    "the event has non-ignorable fields up to id {} that this version does not know",
                    last_non_ignorable - 1
                ),
            ));
        }
        let mut f = Cursor::new(fields);
        let mut prev: Option<u64> = None;
        let (mut have_uuid, mut have_gno) = (false, false);
        let (mut orig_ts, mut orig_sv) = (None, None);
        let nonneg = |v: i64, name: &str| -> Result<u64> {
            u64::try_from(v).map_err(|_| BinlogError::invalid(WHAT, format!("negative {name} {v}")))
        };
        while !f.is_empty() {
            let id = read_varlen_uint(&mut f, WHAT)?;
            if prev.is_some_and(|p| id <= p) {
                return Err(BinlogError::invalid(
                    WHAT,
                    format!("field id {id} after field id {prev:?}: ids must increase"),
                ));
            }
            prev = Some(id);
            match id {
                field::FLAGS => {
                    let v = read_varlen_uint(&mut f, WHAT)?;
                    e.flags = u8::try_from(v).map_err(|_| {
                        BinlogError::invalid(WHAT, format!("flags {v} exceed a byte"))
                    })?;
                }
                field::UUID => {
                    for b in e.uuid.0.iter_mut() {
                        let v = read_varlen_uint(&mut f, WHAT)?;
                        *b = u8::try_from(v).map_err(|_| {
                            BinlogError::invalid(WHAT, format!("uuid byte {v} exceeds 255"))
                        })?;
                    }
                    have_uuid = true;
                }
                field::GNO => {
                    e.gno = nonneg(read_varlen_int(&mut f, WHAT)?, "GNO")?;
                    have_gno = true;
                }
                field::TAG => {
                    let len = read_varlen_uint(&mut f, WHAT)?;
                    let raw = f.bytes(usize::try_from(len).unwrap_or(usize::MAX), WHAT)?;
                    e.tag = if raw.is_empty() {
                        None
                    } else {
                        let s = std::str::from_utf8(raw).map_err(|_| {
                            BinlogError::invalid(WHAT, format!("tag bytes {raw:02x?} are not text"))
                        })?;
                        Some(Tag::new(s)?)
                    };
                }
                field::LAST_COMMITTED => {
                    let v = nonneg(read_varlen_int(&mut f, WHAT)?, "last_committed")?;
                    e.logical_clock
                        .get_or_insert(LogicalClock {
                            last_committed: 0,
                            sequence_number: 0,
                        })
                        .last_committed = v;
                }
                field::SEQUENCE_NUMBER => {
                    let v = nonneg(read_varlen_int(&mut f, WHAT)?, "sequence_number")?;
                    e.logical_clock
                        .get_or_insert(LogicalClock {
                            last_committed: 0,
                            sequence_number: 0,
                        })
                        .sequence_number = v;
                }
                field::IMMEDIATE_COMMIT_TS => {
                    e.immediate_commit_timestamp = Some(read_varlen_uint(&mut f, WHAT)?)
                }
                field::ORIGINAL_COMMIT_TS => orig_ts = Some(read_varlen_uint(&mut f, WHAT)?),
                field::TRANSACTION_LENGTH => {
                    e.transaction_length = Some(read_varlen_uint(&mut f, WHAT)?)
                }
                field::IMMEDIATE_SERVER_VERSION => {
                    e.immediate_server_version = Some(read_u32_field(&mut f, WHAT)?)
                }
                field::ORIGINAL_SERVER_VERSION => orig_sv = Some(read_u32_field(&mut f, WHAT)?),
                field::COMMIT_GROUP_TICKET => {
                    e.commit_group_ticket = Some(read_varlen_uint(&mut f, WHAT)?)
                }
                // An ignorable field of a newer server: its size is unknown, so (as MySQL
                // does) skip to the end of the message.
                _ => break,
            }
        }
        if !have_uuid || !have_gno {
            return Err(BinlogError::invalid(
                WHAT,
                "the uuid or gno field is missing",
            ));
        }
        if e.gno == 0 || e.gno > MAX_GNO {
            return Err(BinlogError::invalid(
                WHAT,
                format!("GNO {} is outside 1..={MAX_GNO}", e.gno),
            ));
        }
        e.original_commit_timestamp = orig_ts.or(e.immediate_commit_timestamp);
        e.original_server_version = orig_sv.or(e.immediate_server_version);
        Ok(e)
    }

    /// Encode the body (no header, no checksum) in the format of `event_type`: the fixed
    /// layout for GTID/ANONYMOUS_GTID, the serialization-library message for GTID_TAGGED.
    ///
    /// Untagged: optional fields are written up to the last one set, and each must have
    /// its predecessors set (a clock before timestamps, timestamps before a length, a length
    /// before server versions): a writer that sets a later field alone gets an error rather
    /// than an event older readers would misread. `transaction_length` is taken as given;
    /// MySQL counts this event in it.
    pub fn encode_body(&self) -> Result<Vec<u8>> {
        match self.event_type {
            EventType::Gtid | EventType::AnonymousGtid => self.encode_untagged(),
            EventType::GtidTagged => self.encode_tagged(),
            other => Err(BinlogError::invalid(
                "GTID event",
                format!("cannot encode a GTID as {}", other.name()),
            )),
        }
    }

    fn encode_untagged(&self) -> Result<Vec<u8>> {
        const WHAT: &str = "GTID event";
        if self.tag.is_some() {
            return Err(BinlogError::invalid(
                WHAT,
                "a tagged GTID needs a GTID_TAGGED event",
            ));
        }
        let gno_ok = if self.is_anonymous() {
            self.gno == 0
        } else {
            (1..=MAX_GNO).contains(&self.gno)
        };
        if !gno_ok {
            return Err(BinlogError::invalid(
                WHAT,
                format!("GNO {} is invalid for {}", self.gno, self.event_type.name()),
            ));
        }
        let mut out = Vec::with_capacity(64);
        out.push(self.flags);
        out.extend_from_slice(self.uuid.as_bytes());
        out.extend_from_slice(&self.gno.to_le_bytes());

        let missing = |later: &str, earlier: &str| {
            BinlogError::invalid(WHAT, format!("{later} is set but {earlier} is not"))
        };
        let ts = self.immediate_commit_timestamp;
        let len = self.transaction_length;
        let sv = self.immediate_server_version;
        let ticket = self.commit_group_ticket.filter(|t| *t != 0);
        let Some(lc) = self.logical_clock else {
            if ts.is_some() || len.is_some() || sv.is_some() || ticket.is_some() {
                return Err(missing("a later field", "logical_clock"));
            }
            return Ok(out);
        };
        out.push(LOGICAL_TIMESTAMP_TYPECODE);
        out.extend_from_slice(&lc.last_committed.to_le_bytes());
        out.extend_from_slice(&lc.sequence_number.to_le_bytes());
        let Some(imm) = ts else {
            if len.is_some() || sv.is_some() || ticket.is_some() {
                return Err(missing("a later field", "immediate_commit_timestamp"));
            }
            return Ok(out);
        };
        let orig = self.original_commit_timestamp.unwrap_or(imm);
        if imm >= TS_ORIGINAL_FOLLOWS || orig >= TS_ORIGINAL_FOLLOWS {
            return Err(BinlogError::invalid(
                WHAT,
                "commit timestamps must fit in 55 bits",
            ));
        }
        if orig != imm {
            out.extend_from_slice(&(imm | TS_ORIGINAL_FOLLOWS).to_le_bytes()[..7]);
            out.extend_from_slice(&orig.to_le_bytes()[..7]);
        } else {
            out.extend_from_slice(&imm.to_le_bytes()[..7]);
        }
        let Some(len) = len else {
            if sv.is_some() || ticket.is_some() {
                return Err(missing("a later field", "transaction_length"));
            }
            return Ok(out);
        };
        write_lenenc(&mut out, len);
        let Some(imm) = sv else {
            if ticket.is_some() {
                return Err(missing("commit_group_ticket", "immediate_server_version"));
            }
            return Ok(out);
        };
        let orig = self.original_server_version.unwrap_or(imm);
        if imm >= SV_ORIGINAL_FOLLOWS || orig >= SV_ORIGINAL_FOLLOWS {
            return Err(BinlogError::invalid(
                WHAT,
                "server versions must fit in 31 bits",
            ));
        }
        if orig != imm {
            out.extend_from_slice(&(imm | SV_ORIGINAL_FOLLOWS).to_le_bytes());
            out.extend_from_slice(&orig.to_le_bytes());
        } else {
            out.extend_from_slice(&imm.to_le_bytes());
        }
        if let Some(t) = ticket {
            out.extend_from_slice(&t.to_le_bytes());
        }
        Ok(out)
    }

    /// Writes the fields MySQL writes, with MySQL's defaults for unset ones (clock 0,
    /// timestamps 0, length 0, server version [`UNDEFINED_SERVER_VERSION`]).
    fn encode_tagged(&self) -> Result<Vec<u8>> {
        const WHAT: &str = "GTID_TAGGED event";
        if !(1..=MAX_GNO).contains(&self.gno) {
            return Err(BinlogError::invalid(
                WHAT,
                format!("GNO {} is outside 1..={MAX_GNO}", self.gno),
            ));
        }
        let too_big = |name: &str| BinlogError::invalid(WHAT, format!("{name} exceeds i64::MAX"));
        let signed = |v: u64, name: &str| i64::try_from(v).map_err(|_| too_big(name));
        let lc = self.logical_clock.unwrap_or(LogicalClock {
            last_committed: 0,
            sequence_number: 0,
        });
        let imm_ts = self.immediate_commit_timestamp.unwrap_or(0);
        let orig_ts = self.original_commit_timestamp.unwrap_or(imm_ts);
        let imm_sv = self
            .immediate_server_version
            .unwrap_or(UNDEFINED_SERVER_VERSION);
        let orig_sv = self.original_server_version.unwrap_or(imm_sv);

        let mut fields = Vec::with_capacity(64);
        write_varlen_uint(&mut fields, field::FLAGS);
        write_varlen_uint(&mut fields, self.flags as u64);
        write_varlen_uint(&mut fields, field::UUID);
        for b in self.uuid.as_bytes() {
            write_varlen_uint(&mut fields, *b as u64);
        }
        write_varlen_uint(&mut fields, field::GNO);
        write_varlen_int(&mut fields, signed(self.gno, "GNO")?);
        write_varlen_uint(&mut fields, field::TAG);
        let tag = self.tag.as_ref().map_or("", |t| t.as_str());
        write_varlen_uint(&mut fields, tag.len() as u64);
        fields.extend_from_slice(tag.as_bytes());
        write_varlen_uint(&mut fields, field::LAST_COMMITTED);
        write_varlen_int(&mut fields, signed(lc.last_committed, "last_committed")?);
        write_varlen_uint(&mut fields, field::SEQUENCE_NUMBER);
        write_varlen_int(&mut fields, signed(lc.sequence_number, "sequence_number")?);
        write_varlen_uint(&mut fields, field::IMMEDIATE_COMMIT_TS);
        write_varlen_uint(&mut fields, imm_ts);
        if orig_ts != imm_ts {
            write_varlen_uint(&mut fields, field::ORIGINAL_COMMIT_TS);
            write_varlen_uint(&mut fields, orig_ts);
        }
        write_varlen_uint(&mut fields, field::TRANSACTION_LENGTH);
        write_varlen_uint(&mut fields, self.transaction_length.unwrap_or(0));
        write_varlen_uint(&mut fields, field::IMMEDIATE_SERVER_VERSION);
        write_varlen_uint(&mut fields, imm_sv as u64);
        if orig_sv != imm_sv {
            write_varlen_uint(&mut fields, field::ORIGINAL_SERVER_VERSION);
            write_varlen_uint(&mut fields, orig_sv as u64);
        }
        if let Some(t) = self.commit_group_ticket.filter(|t| *t != 0) {
            write_varlen_uint(&mut fields, field::COMMIT_GROUP_TICKET);
            write_varlen_uint(&mut fields, t);
        }

        // MySQL marks every GTID field ignorable, so "last non-ignorable + 1" is 0.
        let lnif = 0u64;
        let mut head = Vec::new();
        write_varlen_uint(&mut head, SERIALIZATION_FORMAT_VERSION);
        let fixed = head.len() + super::gtid_set::varlen_uint_size(lnif) + fields.len();
        // The size counts its own encoding: iterate to the fixpoint (at most two rounds).
        let mut size = fixed as u64;
        loop {
            let next = (fixed + super::gtid_set::varlen_uint_size(size)) as u64;
            if next == size {
                break;
            }
            size = next;
        }
        write_varlen_uint(&mut head, size);
        write_varlen_uint(&mut head, lnif);
        head.extend_from_slice(&fields);
        Ok(head)
    }
}

fn read_u32_field(c: &mut Cursor<'_>, what: &'static str) -> Result<u32> {
    let v = read_varlen_uint(c, what)?;
    u32::try_from(v)
        .map_err(|_| BinlogError::invalid(what, format!("server version {v} exceeds u32")))
}

/// MySQL's packed ("length-encoded") integer, as `Cursor::lenenc_int` reads it.
fn write_lenenc(out: &mut Vec<u8>, v: u64) {
    if v < 251 {
        out.push(v as u8);
    } else if v < 1 << 16 {
        out.push(0xfc);
        out.extend_from_slice(&v.to_le_bytes()[..2]);
    } else if v < 1 << 24 {
        out.push(0xfd);
        out.extend_from_slice(&v.to_le_bytes()[..3]);
    } else {
        out.push(0xfe);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// PREVIOUS_GTIDS: the GTID set of everything written to binlogs before this file, the start
/// of the spool's continuity proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousGtidsEvent {
    pub gtids: GtidSet,
    /// The encoding found (tagged once the server has executed a tagged GTID).
    pub format: GtidFormat,
}

impl PreviousGtidsEvent {
    pub fn parse(body: &[u8]) -> Result<PreviousGtidsEvent> {
        let gtids = GtidSet::decode_sid_block(body)?;
        let format = match body.get(7) {
            Some(1) => GtidFormat::Tagged,
            _ => GtidFormat::Untagged,
        };
        Ok(PreviousGtidsEvent { gtids, format })
    }

    /// The body MySQL would write for `gtids` (tagged format iff a GTID is tagged).
    pub fn encode_body(gtids: &GtidSet) -> Vec<u8> {
        gtids.encode_sid_block()
    }
}

/// The XID of a MariaDB XA transaction, carried in its GTID event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MariadbXid {
    /// Stored as 4 unsigned bytes (a negative SQL format id reads back as its u32 image).
    pub format_id: u32,
    pub gtrid: Vec<u8>,
    pub bqual: Vec<u8>,
}

/// A MariaDB GTID event: starts every event group (transaction or standalone statement).
/// The server id of the GTID is the event header's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MariadbGtidEvent {
    pub seq_no: u64,
    pub domain_id: u32,
    /// From the event header.
    pub server_id: u32,
    /// The event header flags.
    pub header_flags: u16,
    /// `FL_*` flags.
    pub flags2: u8,
    /// Present iff `FL_GROUP_COMMIT_ID`: groups with the same id were group-committed.
    pub commit_id: Option<u64>,
    /// Present iff `FL_PREPARED_XA` or `FL_COMPLETED_XA`.
    pub xid: Option<MariadbXid>,
    /// `FL_EXTRA_*` flags (MariaDB 10.8+), 0 when absent.
    pub flags_extra: u8,
    /// Present iff `FL_EXTRA_MULTI_ENGINE`: engines beyond the first in the transaction.
    pub extra_engines: Option<u8>,
    /// Present iff `FL_COMMIT_ALTER` or `FL_ROLLBACK_ALTER`: the seq_no of the START ALTER.
    pub sa_seq_no: Option<u64>,
    /// Present iff `FL_EXTRA_THREAD_ID` (MariaDB 11.5+, MDEV-7850) and the bytes are there.
    pub thread_id: Option<u32>,
}

impl MariadbGtidEvent {
    /// No BEGIN...COMMIT follows: the group is one statement (typically DDL).
    pub const FL_STANDALONE: u8 = 1;
    pub const FL_GROUP_COMMIT_ID: u8 = 2;
    pub const FL_TRANSACTIONAL: u8 = 4;
    pub const FL_ALLOW_PARALLEL: u8 = 8;
    pub const FL_WAITED: u8 = 16;
    pub const FL_DDL: u8 = 32;
    pub const FL_PREPARED_XA: u8 = 64;
    pub const FL_COMPLETED_XA: u8 = 128;

    pub const FL_EXTRA_MULTI_ENGINE: u8 = 1;
    pub const FL_START_ALTER: u8 = 2;
    pub const FL_COMMIT_ALTER: u8 = 4;
    pub const FL_ROLLBACK_ALTER: u8 = 8;
    pub const FL_EXTRA_THREAD_ID: u8 = 16;

    /// The body length MariaDB pads short events to (`GTID_HEADER_LEN`).
    pub const MIN_BODY_LEN: usize = 19;

    const MAX_XID_PART: u8 = 64;

    pub fn parse(body: &[u8], server_id: u32, flags: u16) -> Result<MariadbGtidEvent> {
        const WHAT: &str = "MariaDB GTID event";
        if body.len() < Self::MIN_BODY_LEN {
            return Err(BinlogError::Truncated {
                what: WHAT,
                needed: Self::MIN_BODY_LEN,
                available: body.len(),
            });
        }
        let mut c = Cursor::new(body);
        let seq_no = c.u64_le(WHAT)?;
        let domain_id = c.u32_le(WHAT)?;
        let flags2 = c.u8(WHAT)?;
        let commit_id = if flags2 & Self::FL_GROUP_COMMIT_ID != 0 {
            Some(c.u64_le(WHAT)?)
        } else {
            None
        };
        let xid = if flags2 & (Self::FL_PREPARED_XA | Self::FL_COMPLETED_XA) != 0 {
            let format_id = c.u32_le(WHAT)?;
            let gl = c.u8(WHAT)?;
            let bl = c.u8(WHAT)?;
            if gl > Self::MAX_XID_PART || bl > Self::MAX_XID_PART {
                return Err(BinlogError::invalid(
                    WHAT,
                    format!("XID part lengths {gl}/{bl} exceed 64"),
                ));
            }
            Some(MariadbXid {
                format_id,
                gtrid: c.bytes(gl as usize, WHAT)?.to_vec(),
                bqual: c.bytes(bl as usize, WHAT)?.to_vec(),
            })
        } else {
            None
        };
        let mut e = MariadbGtidEvent {
            seq_no,
            domain_id,
            server_id,
            header_flags: flags,
            flags2,
            commit_id,
            xid,
            flags_extra: 0,
            extra_engines: None,
            sa_seq_no: None,
            thread_id: None,
        };
        if !c.is_empty() {
            e.flags_extra = c.u8(WHAT)?;
            if e.flags_extra & Self::FL_EXTRA_MULTI_ENGINE != 0 {
                e.extra_engines = Some(c.u8(WHAT)?);
            }
            if e.flags_extra & (Self::FL_COMMIT_ALTER | Self::FL_ROLLBACK_ALTER) != 0 {
                e.sa_seq_no = Some(c.u64_le(WHAT)?);
            }
            if e.flags_extra & Self::FL_EXTRA_THREAD_ID != 0 && c.remaining() >= 4 {
                e.thread_id = Some(c.u32_le(WHAT)?);
            }
        }
        Ok(e)
    }

    /// A GTID event for `gtid` with the given `flags2`, all optional parts unset
    /// (`commit_id` must be set before encoding if `FL_GROUP_COMMIT_ID` is in the flags).
    pub fn new(gtid: &MariadbGtid, flags2: u8) -> MariadbGtidEvent {
        MariadbGtidEvent {
            seq_no: gtid.seq,
            domain_id: gtid.domain,
            server_id: gtid.server,
            header_flags: 0,
            flags2,
            commit_id: None,
            xid: None,
            flags_extra: 0,
            extra_engines: None,
            sa_seq_no: None,
            thread_id: None,
        }
    }

    pub fn gtid(&self) -> MariadbGtid {
        MariadbGtid {
            domain: self.domain_id,
            server: self.server_id,
            seq: self.seq_no,
        }
    }

    /// No BEGIN..COMMIT follows: the group is a single statement event such as DDL.
    pub fn is_standalone(&self) -> bool {
        self.flags2 & Self::FL_STANDALONE != 0
    }

    pub fn is_ddl(&self) -> bool {
        self.flags2 & Self::FL_DDL != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.flags2 & Self::FL_TRANSACTIONAL != 0
    }

    /// Encode the body as MariaDB writes it (zero-padded to 19 bytes). The optional parts
    /// must agree with the flags that announce them.
    pub fn encode_body(&self) -> Result<Vec<u8>> {
        const WHAT: &str = "MariaDB GTID event";
        let mismatch = |d: &str| BinlogError::invalid(WHAT, d.to_string());
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(&self.seq_no.to_le_bytes());
        out.extend_from_slice(&self.domain_id.to_le_bytes());
        out.push(self.flags2);
        match (self.flags2 & Self::FL_GROUP_COMMIT_ID != 0, self.commit_id) {
            (true, Some(id)) => out.extend_from_slice(&id.to_le_bytes()),
            (false, None) => {}
            _ => {
                return Err(mismatch(
                    "commit_id must be set exactly when FL_GROUP_COMMIT_ID is",
                ));
            }
        }
        let xa = self.flags2 & (Self::FL_PREPARED_XA | Self::FL_COMPLETED_XA) != 0;
        match (xa, &self.xid) {
            (true, Some(x)) => {
                let (Ok(gl), Ok(bl)) = (u8::try_from(x.gtrid.len()), u8::try_from(x.bqual.len()))
                else {
                    return Err(mismatch("XID parts must be at most 64 bytes"));
                };
                if gl > Self::MAX_XID_PART || bl > Self::MAX_XID_PART {
                    return Err(mismatch("XID parts must be at most 64 bytes"));
                }
                out.extend_from_slice(&x.format_id.to_le_bytes());
                out.push(gl);
                out.push(bl);
                out.extend_from_slice(&x.gtrid);
                out.extend_from_slice(&x.bqual);
            }
            (false, None) => {}
            _ => return Err(mismatch("xid must be set exactly when an XA flag is")),
        }
        if self.flags_extra != 0 {
            out.push(self.flags_extra);
            let me = self.flags_extra & Self::FL_EXTRA_MULTI_ENGINE != 0;
            match (me, self.extra_engines) {
                (true, Some(n)) => out.push(n),
                (false, None) => {}
                _ => return Err(mismatch("extra_engines must match FL_EXTRA_MULTI_ENGINE")),
            }
            let alter = self.flags_extra & (Self::FL_COMMIT_ALTER | Self::FL_ROLLBACK_ALTER) != 0;
            match (alter, self.sa_seq_no) {
                (true, Some(s)) => out.extend_from_slice(&s.to_le_bytes()),
                (false, None) => {}
                _ => return Err(mismatch("sa_seq_no must match FL_COMMIT/ROLLBACK_ALTER")),
            }
            let tid = self.flags_extra & Self::FL_EXTRA_THREAD_ID != 0;
            match (tid, self.thread_id) {
                (true, Some(t)) => out.extend_from_slice(&t.to_le_bytes()),
                (false, None) => {}
                _ => return Err(mismatch("thread_id must match FL_EXTRA_THREAD_ID")),
            }
        } else if self.extra_engines.is_some()
            || self.sa_seq_no.is_some()
            || self.thread_id.is_some()
        {
            return Err(mismatch("extra fields are set but flags_extra is 0"));
        }
        if out.len() < Self::MIN_BODY_LEN {
            out.resize(Self::MIN_BODY_LEN, 0);
        }
        Ok(out)
    }
}

/// MariaDB GTID_LIST: the binlog state (last GTID per domain and server) at the start of a
/// binlog file, or sent by the master at a GTID connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MariadbGtidListEvent {
    /// The top 4 bits of the count word (`FLAG_UNTIL_REACHED` 1, `FLAG_IGN_GTIDS` 2).
    pub flags: u8,
    pub gtids: Vec<MariadbGtid>,
}

impl MariadbGtidListEvent {
    pub const FLAG_UNTIL_REACHED: u8 = 1;
    pub const FLAG_IGN_GTIDS: u8 = 2;

    pub fn parse(body: &[u8]) -> Result<MariadbGtidListEvent> {
        const WHAT: &str = "MariaDB GTID_LIST event";
        let mut c = Cursor::new(body);
        let word = c.u32_le(WHAT)?;
        let count = (word & 0x0fff_ffff) as usize;
        if c.remaining() / 16 < count {
            return Err(BinlogError::Truncated {
                what: WHAT,
                needed: count * 16,
                available: c.remaining(),
            });
        }
        let mut gtids = Vec::with_capacity(count);
        for _ in 0..count {
            let domain = c.u32_le(WHAT)?;
            let server = c.u32_le(WHAT)?;
            let seq = c.u64_le(WHAT)?;
            gtids.push(MariadbGtid {
                domain,
                server,
                seq,
            });
        }
        Ok(MariadbGtidListEvent {
            flags: (word >> 28) as u8,
            gtids,
        })
    }

    /// The list as a binlog state.
    pub fn to_binlog_state(&self) -> MariadbBinlogState {
        self.gtids.iter().collect()
    }

    pub fn encode_body(&self) -> Result<Vec<u8>> {
        if self.gtids.len() > 0x0fff_ffff || self.flags > 0xf {
            return Err(BinlogError::invalid(
                "MariaDB GTID_LIST event",
                "more than 2^28-1 entries or flags above 4 bits",
            ));
        }
        let mut out = Vec::with_capacity(4 + 16 * self.gtids.len());
        let word = (self.gtids.len() as u32) | ((self.flags as u32) << 28);
        out.extend_from_slice(&word.to_le_bytes());
        for g in &self.gtids {
            out.extend_from_slice(&g.domain.to_le_bytes());
            out.extend_from_slice(&g.server.to_le_bytes());
            out.extend_from_slice(&g.seq.to_le_bytes());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    fn gtid(s: &str) -> Gtid {
        Gtid::parse(s).unwrap()
    }

    fn full(g: &Gtid) -> GtidEvent<'static> {
        let mut e = GtidEvent::for_gtid(g);
        e.flags = 1;
        e.logical_clock = Some(LogicalClock {
            last_committed: 4,
            sequence_number: 5,
        });
        e.immediate_commit_timestamp = Some(1_700_000_000_000_001);
        e.original_commit_timestamp = Some(1_700_000_000_000_000);
        e.transaction_length = Some(70_000);
        e.immediate_server_version = Some(90_700);
        e.original_server_version = Some(80_036);
        e.commit_group_ticket = Some(3);
        e
    }

    fn reparse<'a>(e: &GtidEvent<'_>, body: &'a [u8]) -> GtidEvent<'a> {
        let mut back = GtidEvent::parse(e.event_type, body).unwrap();
        assert_eq!(back.raw, body);
        back.raw = &[];
        back
    }

    #[test]
    fn untagged_round_trip_at_every_server_generation() {
        let g = gtid(&format!("{U}:42"));
        let e = full(&g);
        let body = e.encode_body().unwrap();
        // flags 1 + uuid 16 + gno 8 + clock 17 + ts 14 + len 4 + versions 8 + ticket 8
        assert_eq!(body.len(), 25 + 17 + 14 + 4 + 8 + 8);
        assert_eq!(reparse(&e, &body), e);
        assert_eq!(e.gtid(), Some(g.clone()));
        assert!(e.may_have_sbr());

        // Older servers: cut the optional tail field by field.
        let mut older = e.clone();
        older.commit_group_ticket = None;
        assert_eq!(reparse(&older, &older.encode_body().unwrap()), older);
        older.original_server_version = None; // equal to immediate: one 4-byte field
        let b = older.encode_body().unwrap();
        let mut expect = older.clone();
        expect.original_server_version = expect.immediate_server_version;
        assert_eq!(reparse(&older, &b), expect);
        older.immediate_server_version = None;
        older.original_server_version = None;
        assert_eq!(reparse(&older, &older.encode_body().unwrap()), older);
        older.transaction_length = None;
        assert_eq!(reparse(&older, &older.encode_body().unwrap()), older);
        older.immediate_commit_timestamp = None;
        older.original_commit_timestamp = None;
        let b57 = older.encode_body().unwrap();
        assert_eq!(b57.len(), 42);
        assert_eq!(reparse(&older, &b57), older);
        older.logical_clock = None;
        let b56 = older.encode_body().unwrap();
        assert_eq!(b56.len(), 25);
        assert_eq!(reparse(&older, &b56), older);

        // 5.7.4 and earlier: another clock type code, the rest ignored.
        let mut old = b57.clone();
        old[25] = 1;
        assert_eq!(
            GtidEvent::parse(EventType::Gtid, &old)
                .unwrap()
                .logical_clock,
            None
        );
        // A short tail after the clock (fewer than 7 bytes) is ignored as MySQL does.
        let mut short = b57.clone();
        short.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            GtidEvent::parse(EventType::Gtid, &short)
                .unwrap()
                .immediate_commit_timestamp,
            None
        );
    }

    #[test]
    fn untagged_rules() {
        let e = full(&gtid(&format!("{U}:1")));
        let body = e.encode_body().unwrap();
        for n in 0..body.len() {
            let r = GtidEvent::parse(EventType::Gtid, &body[..n]);
            // Cutting inside the 25 fixed bytes, the 16 clock bytes or a flagged second
            // timestamp/version is an error; elsewhere the event reads as an older one.
            if n < 25 || (26..42).contains(&n) {
                assert!(r.is_err(), "prefix {n}");
            }
        }
        // GNO rules per type.
        let mut b = body.clone();
        b[17..25].copy_from_slice(&0u64.to_le_bytes());
        assert!(GtidEvent::parse(EventType::Gtid, &b).is_err());
        let anon = GtidEvent::parse(EventType::AnonymousGtid, &b).unwrap();
        assert!(anon.is_anonymous() && anon.gtid().is_none());
        assert!(GtidEvent::parse(EventType::AnonymousGtid, &body).is_err());
        b[17..25].copy_from_slice(&i64::MAX.to_le_bytes());
        assert!(GtidEvent::parse(EventType::Gtid, &b).is_err());
        b[17..25].copy_from_slice(&(-1i64).to_le_bytes());
        assert!(GtidEvent::parse(EventType::Gtid, &b).is_err());
        assert!(GtidEvent::parse(EventType::Xid, &body).is_err());

        // Encoder consistency checks.
        let mut bad = e.clone();
        bad.logical_clock = None;
        assert!(bad.encode_body().is_err());
        let mut bad = e.clone();
        bad.transaction_length = None;
        assert!(bad.encode_body().is_err());
        let mut bad = e.clone();
        bad.immediate_commit_timestamp = Some(1 << 55);
        assert!(bad.encode_body().is_err());
        let mut bad = e.clone();
        bad.immediate_server_version = Some(1 << 31);
        assert!(bad.encode_body().is_err());
        let mut bad = e.clone();
        bad.tag = Some(Tag::new("t").unwrap());
        assert!(bad.encode_body().is_err());
        let mut a = GtidEvent::anonymous();
        assert_eq!(a.encode_body().unwrap().len(), 25);
        a.gno = 3;
        assert!(a.encode_body().is_err());
    }

    #[test]
    fn tagged_round_trip_and_rules() {
        let g = gtid(&format!("{U}:Backup_1:9"));
        let e = full(&g);
        assert_eq!(e.event_type, EventType::GtidTagged);
        let body = e.encode_body().unwrap();
        assert_eq!(body[0], 0x02, "format version 1, varlen-encoded");
        assert_eq!(reparse(&e, &body), e);
        assert_eq!(e.gtid().unwrap().to_string(), format!("{U}:backup_1:9"));

        // Defaults: unset fields come back as MySQL writes them.
        let bare = GtidEvent::for_gtid(&g);
        let bare_body = bare.encode_body().unwrap();
        let back = reparse(&bare, &bare_body);
        assert_eq!(
            back.immediate_server_version,
            Some(UNDEFINED_SERVER_VERSION)
        );
        assert_eq!(back.original_commit_timestamp, Some(0));
        assert_eq!(back.commit_group_ticket, None);

        for n in 0..body.len() {
            assert!(
                GtidEvent::parse(EventType::GtidTagged, &body[..n]).is_err(),
                "{n}"
            );
        }
        // Bytes after the message are ignored (the event may be longer than the message).
        let mut longer = body.clone();
        longer.push(0);
        assert!(GtidEvent::parse(EventType::GtidTagged, &longer).is_ok());

        // Rebuild messages by hand.
        let msg = |lnif: u64, fields: &[u8]| {
            let mut out = vec![0x02];
            let size = 1 + 1 + 1 + fields.len() as u64;
            assert!(size < 128);
            write_varlen_uint(&mut out, size);
            write_varlen_uint(&mut out, lnif);
            out.extend_from_slice(fields);
            out
        };
        let mut base = Vec::new();
        write_varlen_uint(&mut base, field::UUID);
        for b in [7u8; 16] {
            write_varlen_uint(&mut base, b as u64);
        }
        write_varlen_uint(&mut base, field::GNO);
        write_varlen_int(&mut base, 5);
        let ok_body = msg(0, &base);
        let ok = GtidEvent::parse(EventType::GtidTagged, &ok_body).unwrap();
        assert_eq!((ok.gno, ok.tag.clone(), ok.flags), (5, None, 0));
        // An unknown ignorable field stops decoding without error.
        let mut unknown = base.clone();
        write_varlen_uint(&mut unknown, 30);
        unknown.extend_from_slice(&[1, 2, 3]);
        assert!(GtidEvent::parse(EventType::GtidTagged, &msg(0, &unknown)).is_ok());
        // Declared non-ignorable fields beyond id 11 are refused.
        assert!(GtidEvent::parse(EventType::GtidTagged, &msg(12, &base)).is_ok());
        assert!(GtidEvent::parse(EventType::GtidTagged, &msg(13, &base)).is_err());
        // Out-of-order ids, missing gno, negative gno, unknown version.
        let mut swapped = Vec::new();
        write_varlen_uint(&mut swapped, field::GNO);
        write_varlen_int(&mut swapped, 5);
        swapped.extend_from_slice(&base[..17]);
        assert!(GtidEvent::parse(EventType::GtidTagged, &msg(0, &swapped)).is_err());
        assert!(GtidEvent::parse(EventType::GtidTagged, &msg(0, &base[..17])).is_err());
        let mut neg = base[..17].to_vec();
        write_varlen_uint(&mut neg, field::GNO);
        write_varlen_int(&mut neg, -5);
        assert!(GtidEvent::parse(EventType::GtidTagged, &msg(0, &neg)).is_err());
        let mut v2 = msg(0, &base);
        v2[0] = 0x04;
        assert!(matches!(
            GtidEvent::parse(EventType::GtidTagged, &v2),
            Err(BinlogError::Unsupported { .. })
        ));
        // A size smaller than the header, or larger than the body.
        let mut small = msg(0, &base);
        small[1] = 2 << 1;
        assert!(GtidEvent::parse(EventType::GtidTagged, &small).is_err());
        let mut big = msg(0, &base);
        big[1] = 100 << 1;
        assert!(GtidEvent::parse(EventType::GtidTagged, &big).is_err());
    }

    #[test]
    fn previous_gtids() {
        let set = GtidSet::parse(&format!("{U}:1-10:t:1-2")).unwrap();
        let body = PreviousGtidsEvent::encode_body(&set);
        let e = PreviousGtidsEvent::parse(&body).unwrap();
        assert_eq!(e.gtids, set);
        assert_eq!(e.format, GtidFormat::Tagged);
        let e = PreviousGtidsEvent::parse(&0u64.to_le_bytes()).unwrap();
        assert!(e.gtids.is_empty());
        assert_eq!(e.format, GtidFormat::Untagged);
        assert!(PreviousGtidsEvent::parse(&[0; 7]).is_err());
    }

    #[test]
    fn mariadb_gtid_round_trips() {
        type E = MariadbGtidEvent;
        let g = MariadbGtid::new(3, 7, 99);
        let plain = E::new(&g, E::FL_STANDALONE | E::FL_DDL);
        let b = plain.encode_body().unwrap();
        assert_eq!(b.len(), 19);
        let back = E::parse(&b, 7, 0).unwrap();
        assert_eq!(back, plain);
        assert!(back.is_standalone() && back.is_ddl());
        assert_eq!(back.gtid(), g);

        let mut all = E::new(&g, E::FL_GROUP_COMMIT_ID | E::FL_PREPARED_XA);
        all.commit_id = Some(77);
        all.xid = Some(MariadbXid {
            format_id: 1,
            gtrid: b"g".to_vec(),
            bqual: vec![],
        });
        all.flags_extra = E::FL_EXTRA_MULTI_ENGINE | E::FL_ROLLBACK_ALTER | E::FL_EXTRA_THREAD_ID;
        all.extra_engines = Some(1);
        all.sa_seq_no = Some(98);
        all.thread_id = Some(12345);
        let b = all.encode_body().unwrap();
        assert_eq!(E::parse(&b, 7, 0).unwrap(), all);
        for n in 0..b.len() {
            let r = E::parse(&b[..n], 7, 0);
            // A body may legitimately end after the XID (no flags_extra: older servers), and
            // the thread id is read only when present; any other cut is an error.
            if n != 28 && n < b.len() - 4 {
                assert!(r.is_err(), "prefix {n}");
            }
        }
        // Flag/field mismatches are refused by the encoder.
        let mut bad = all.clone();
        bad.commit_id = None;
        assert!(bad.encode_body().is_err());
        let mut bad = all.clone();
        bad.flags_extra = 0;
        assert!(bad.encode_body().is_err());
        let mut bad = all.clone();
        bad.xid.as_mut().unwrap().gtrid = vec![0; 65];
        assert!(bad.encode_body().is_err());
        // XID parts longer than 64 bytes are refused by the parser.
        let mut b = E::new(&g, 0).encode_body().unwrap();
        b.truncate(13);
        b[12] = E::FL_COMPLETED_XA;
        b.extend_from_slice(&[1, 0, 0, 0, 65, 0]);
        b.extend_from_slice(&[0; 65]);
        assert!(E::parse(&b, 7, 0).is_err());
    }

    #[test]
    fn mariadb_gtid_list() {
        let e = MariadbGtidListEvent {
            flags: MariadbGtidListEvent::FLAG_IGN_GTIDS,
            gtids: vec![MariadbGtid::new(5, 7, 1), MariadbGtid::new(3, 7, 10)],
        };
        let b = e.encode_body().unwrap();
        assert_eq!(MariadbGtidListEvent::parse(&b).unwrap(), e);
        assert_eq!(e.to_binlog_state().to_string(), "3-7-10,5-7-1");
        for n in 0..b.len() {
            assert!(MariadbGtidListEvent::parse(&b[..n]).is_err(), "{n}");
        }
        // A count far beyond the body.
        assert!(MariadbGtidListEvent::parse(&[0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
