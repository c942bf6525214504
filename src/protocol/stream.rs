//! The binlog dump response, sans-IO: one payload in, one [`DumpPacket`] out, plus a
//! [`PositionTracker`] that follows the master's binlog coordinates through the stream.
//!
//! Each payload of a dump response is 0x00 then one whole event (with a semi-sync header in
//! between when negotiated), an EOF packet (0xFE) at the end of a non-blocking dump, or an ERR
//! (0xFF; 1236 means the master cannot serve what we asked: a continuity break). Events are
//! handed out as raw bytes (`bytes::Bytes`, no copy); decoding them is the binlog module's job.
//! Only the few fixed header fields needed to track coordinates and recognise heartbeats are
//! read here.

use bytes::Bytes;

use super::error::{ProtocolError, Result};
use super::result::{ErrPacket, is_eof};
use super::semisync;
use super::wire::Reader;

/// Length of the v4 event header.
pub const EVENT_HEADER_LEN: usize = 19;
/// ROTATE_EVENT type code.
pub const ROTATE_EVENT: u8 = 4;
/// FORMAT_DESCRIPTION_EVENT type code.
pub const FORMAT_DESCRIPTION_EVENT: u8 = 15;
/// HEARTBEAT_LOG_EVENT (v1: file name in the body, position in the header).
pub const HEARTBEAT_EVENT: u8 = 27;
/// HEARTBEAT_LOG_EVENT_V2 (MySQL 8.0.26+: typed fields, 64-bit position).
pub const HEARTBEAT_EVENT_V2: u8 = 41;
/// LOG_EVENT_ARTIFICIAL_F: the event was made up by the dump thread, not read from the file.
pub const LOG_EVENT_ARTIFICIAL_F: u16 = 0x20;

/// One event from the dump stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPacket {
    /// The whole event: 19-byte header, body, and CRC32 when checksums are on.
    pub event: Bytes,
    /// The master asked for a semi-sync ACK of this event.
    pub ack_requested: bool,
}

impl EventPacket {
    fn u32_at(&self, at: usize) -> u32 {
        let b = &self.event[at..at + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn timestamp(&self) -> u32 {
        self.u32_at(0)
    }

    pub fn event_type(&self) -> u8 {
        self.event[4]
    }

    pub fn server_id(&self) -> u32 {
        self.u32_at(5)
    }

    /// The position just after this event in the master's binlog (0 for some artificial ones).
    pub fn log_pos(&self) -> u32 {
        self.u32_at(13)
    }

    pub fn flags(&self) -> u16 {
        u16::from_le_bytes([self.event[17], self.event[18]])
    }

    /// A heartbeat (v1 or v2): a keep-alive, never part of the binlog file.
    pub fn is_heartbeat(&self) -> bool {
        matches!(self.event_type(), HEARTBEAT_EVENT | HEARTBEAT_EVENT_V2)
    }

    /// Made up by the master's dump thread (the ROTATE at the start of a dump, for example):
    /// not at this place in the master's binlog file.
    pub fn is_artificial(&self) -> bool {
        self.flags() & LOG_EVENT_ARTIFICIAL_F != 0
    }

    /// The event without its trailing CRC32, when the last four bytes are a valid CRC32 of
    /// the rest (checksums can be on or off per binlog file, and the artificial ROTATE follows
    /// the connection's setting, so the bytes themselves are the reliable witness).
    pub fn without_checksum(&self) -> &[u8] {
        let e = &self.event[..];
        if e.len() >= EVENT_HEADER_LEN + 4 {
            let (data, crc) = e.split_at(e.len() - 4);
            if crc32fast::hash(data).to_le_bytes() == crc {
                return data;
            }
        }
        e
    }
}

/// What one dump-response payload was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpPacket {
    Event(EventPacket),
    /// End of the binlog in a non-blocking dump.
    Eof,
}

/// Decoder of dump-response payloads.
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpDecoder {
    semisync: bool,
}

impl DumpDecoder {
    /// `semisync`: the session asked for semi-sync headers (they are detected per packet).
    pub fn new(semisync: bool) -> DumpDecoder {
        DumpDecoder { semisync }
    }

    pub fn decode(&self, payload: Bytes) -> Result<DumpPacket> {
        match payload.first() {
            Some(0x00) => {}
            Some(0xff) => return Err(ErrPacket::parse(&payload)?.into_error()),
            Some(0xfe) if is_eof(&payload) => return Ok(DumpPacket::Eof),
            other => {
                return Err(ProtocolError::Unexpected {
                    context: "in the binlog dump stream",
                    first: other.copied().unwrap_or(0),
                    len: payload.len(),
                });
            }
        }
        let data = &payload[1..];
        let (ack_requested, skip) = if self.semisync && semisync::has_header(data) {
            (data[1] == semisync::SEMI_SYNC_ACK_REQUESTED, 3)
        } else {
            (false, 1)
        };
        let event = payload.slice(skip..);
        if event.len() < EVENT_HEADER_LEN {
            return Err(ProtocolError::malformed(
                "binlog event packet",
                format!("{} bytes, shorter than the event header", event.len()),
            ));
        }
        let size = u32::from_le_bytes([event[9], event[10], event[11], event[12]]) as usize;
        if size != event.len() {
            return Err(ProtocolError::malformed(
                "binlog event packet",
                format!(
                    "event_size says {size} bytes but the packet holds {} (type {})",
                    event.len(),
                    event[4]
                ),
            ));
        }
        Ok(DumpPacket::Event(EventPacket {
            event,
            ack_requested,
        }))
    }
}

/// The master's binlog coordinates as the stream goes by: the file from ROTATE and heartbeat
/// events, the position from each event's `log_pos`. Gives the coordinates for a semi-sync
/// ACK and for a reconnect by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PositionTracker {
    file: Vec<u8>,
    pos: u64,
}

impl PositionTracker {
    /// Start from the coordinates the dump was requested at (empty file when starting by GTID).
    pub fn new(file: &[u8], pos: u64) -> PositionTracker {
        PositionTracker {
            file: file.to_vec(),
            pos,
        }
    }

    pub fn file(&self) -> &[u8] {
        &self.file
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Update from one event. Malformed ROTATE or heartbeat bodies are errors.
    pub fn observe(&mut self, ev: &EventPacket) -> Result<()> {
        let e = ev.without_checksum();
        let body = &e[EVENT_HEADER_LEN..];
        match ev.event_type() {
            ROTATE_EVENT => {
                let mut r = Reader::new(body, "ROTATE event");
                self.pos = r.u64()?;
                self.file = r.rest().to_vec();
            }
            HEARTBEAT_EVENT => {
                if !body.is_empty() {
                    self.file = body.to_vec();
                }
                if ev.log_pos() != 0 {
                    self.pos = u64::from(ev.log_pos());
                }
            }
            HEARTBEAT_EVENT_V2 => {
                let mut r = Reader::new(body, "HEARTBEAT_V2 event");
                while !r.is_empty() {
                    let t = r.lenenc_int()?;
                    if t == 0 {
                        break;
                    }
                    let v = r.lenenc_bytes()?;
                    match t {
                        1 => self.file = v.to_vec(),
                        2 => self.pos = Reader::new(v, "HEARTBEAT_V2 position").lenenc_int()?,
                        _ => {}
                    }
                }
            }
            // The FORMAT_DESCRIPTION sent when a dump starts mid-file comes from the file's
            // head: its log_pos (0, or 127 through COM_BINLOG_DUMP_GTID) says nothing about
            // where the stream is.
            FORMAT_DESCRIPTION_EVENT => {}
            // Artificial events count when they carry a position: MariaDB's GTID start sends
            // an artificial GTID_LIST whose log_pos is where streaming resumes.
            _ => {
                if ev.log_pos() != 0 {
                    self.pos = u64::from(ev.log_pos());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build an event with a CRC32 when `checksum`.
    pub(crate) fn make_event(
        type_code: u8,
        log_pos: u32,
        flags: u16,
        body: &[u8],
        checksum: bool,
    ) -> Vec<u8> {
        let len = EVENT_HEADER_LEN + body.len() + if checksum { 4 } else { 0 };
        let mut e = Vec::with_capacity(len);
        e.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        e.push(type_code);
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&(len as u32).to_le_bytes());
        e.extend_from_slice(&log_pos.to_le_bytes());
        e.extend_from_slice(&flags.to_le_bytes());
        e.extend_from_slice(body);
        if checksum {
            let crc = crc32fast::hash(&e);
            e.extend_from_slice(&crc.to_le_bytes());
        }
        e
    }

    fn packet(prefix: &[u8], event: &[u8]) -> Bytes {
        let mut p = prefix.to_vec();
        p.extend_from_slice(event);
        Bytes::from(p)
    }

    fn event_of(p: DumpPacket) -> EventPacket {
        match p {
            DumpPacket::Event(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_event() {
        let ev = make_event(2, 500, 0, b"query body", true);
        let d = DumpDecoder::new(false);
        let e = event_of(d.decode(packet(&[0], &ev)).unwrap());
        assert_eq!(e.event.as_ref(), ev.as_slice());
        assert!(!e.ack_requested);
        assert_eq!(e.event_type(), 2);
        assert_eq!(e.log_pos(), 500);
        assert_eq!(e.server_id(), 1);
        assert_eq!(e.timestamp(), 1_700_000_000);
        assert_eq!(e.without_checksum().len(), ev.len() - 4);
    }

    #[test]
    fn semisync_event() {
        let ev = make_event(16, 900, 0, &[1, 0, 0, 0, 0, 0, 0, 0], true);
        let d = DumpDecoder::new(true);
        let e = event_of(d.decode(packet(&[0, 0xef, 1], &ev)).unwrap());
        assert!(e.ack_requested);
        assert_eq!(e.event.as_ref(), ev.as_slice());
        let e = event_of(d.decode(packet(&[0, 0xef, 0], &ev)).unwrap());
        assert!(!e.ack_requested);
        // Semi-sync requested but the server sent no header.
        let e = event_of(d.decode(packet(&[0], &ev)).unwrap());
        assert_eq!(e.event.as_ref(), ev.as_slice());
        // Not requested: a header is a size mismatch, not silently stripped.
        assert!(
            DumpDecoder::new(false)
                .decode(packet(&[0, 0xef, 1], &ev))
                .is_err()
        );
    }

    #[test]
    fn eof_err_and_garbage() {
        let d = DumpDecoder::new(false);
        assert_eq!(
            d.decode(Bytes::from_static(&[0xfe, 0, 0, 2, 0])).unwrap(),
            DumpPacket::Eof
        );
        let mut err = vec![0xff, 0xd4, 0x04, b'#'];
        err.extend_from_slice(b"HY000Could not find first log file name in binary log index file");
        assert!(matches!(
            d.decode(Bytes::from(err)),
            Err(ProtocolError::ContinuityBreak { code: 1236, .. })
        ));
        assert!(d.decode(Bytes::from_static(&[0x00, 1, 2])).is_err());
        assert!(d.decode(Bytes::from_static(&[0x07])).is_err());
        assert!(d.decode(Bytes::new()).is_err());
    }

    #[test]
    fn recorded_heartbeats() {
        // Recorded from the sandbox servers; see tests/fixtures/protocol/README.md.
        let v2: &[u8] =
            include_bytes!("../../tests/fixtures/protocol/heartbeat_v2_mysql_9.7.4.bin");
        let v1: &[u8] =
            include_bytes!("../../tests/fixtures/protocol/heartbeat_v1_mariadb_10.11.19.bin");
        let d = DumpDecoder::new(false);
        let mut t = PositionTracker::new(b"", 4);
        let ev = event_of(d.decode(packet(&[0], v2)).unwrap());
        assert_eq!(ev.event_type(), HEARTBEAT_EVENT_V2);
        assert!(ev.is_heartbeat());
        assert_eq!(ev.without_checksum().len(), v2.len() - 4, "CRC32 verified");
        t.observe(&ev).unwrap();
        assert_eq!((t.file(), t.pos()), (&b"binlog.000017"[..], 83_921_177));
        let ev = event_of(d.decode(packet(&[0], v1)).unwrap());
        assert_eq!(ev.event_type(), HEARTBEAT_EVENT);
        assert_eq!(ev.server_id(), 11);
        t.observe(&ev).unwrap();
        assert_eq!((t.file(), t.pos()), (&b"binlog.000011"[..], 83_904_256));
    }

    #[test]
    fn tracks_rotate_heartbeats_and_positions() {
        let mut t = PositionTracker::new(b"", 4);
        let d = DumpDecoder::new(false);
        let mut rotate_body = 4u64.to_le_bytes().to_vec();
        rotate_body.extend_from_slice(b"binlog.000007");
        // Artificial rotate with checksum, then a real event without.
        let ev = event_of(
            d.decode(packet(
                &[0],
                &make_event(ROTATE_EVENT, 0, LOG_EVENT_ARTIFICIAL_F, &rotate_body, true),
            ))
            .unwrap(),
        );
        assert!(ev.is_artificial());
        t.observe(&ev).unwrap();
        assert_eq!((t.file(), t.pos()), (&b"binlog.000007"[..], 4));
        let ev = event_of(
            d.decode(packet(&[0], &make_event(2, 1234, 0, b"x", false)))
                .unwrap(),
        );
        t.observe(&ev).unwrap();
        assert_eq!(t.pos(), 1234);
        // Heartbeat v1 (MariaDB and older MySQL).
        let ev = event_of(
            d.decode(packet(
                &[0],
                &make_event(HEARTBEAT_EVENT, 2000, 0, b"binlog.000008", true),
            ))
            .unwrap(),
        );
        assert!(ev.is_heartbeat());
        t.observe(&ev).unwrap();
        assert_eq!((t.file(), t.pos()), (&b"binlog.000008"[..], 2000));
        // Heartbeat v2: file (1), position (2), end (0).
        let mut body = vec![1, 13];
        body.extend_from_slice(b"binlog.000009");
        body.extend_from_slice(&[2, 3, 0xfc, 0x10, 0x27, 0]);
        let ev = event_of(
            d.decode(packet(
                &[0],
                &make_event(HEARTBEAT_EVENT_V2, 0, 0, &body, true),
            ))
            .unwrap(),
        );
        t.observe(&ev).unwrap();
        assert_eq!((t.file(), t.pos()), (&b"binlog.000009"[..], 10000));
        // FORMAT_DESCRIPTION does not move the position; an artificial event with a
        // position (MariaDB's GTID_LIST after a GTID start) does.
        let ev = event_of(
            d.decode(packet(
                &[0],
                &make_event(FORMAT_DESCRIPTION_EVENT, 127, 0, b"fde", true),
            ))
            .unwrap(),
        );
        t.observe(&ev).unwrap();
        assert_eq!(t.pos(), 10000);
        let ev = event_of(
            d.decode(packet(
                &[0],
                &make_event(163, 20000, LOG_EVENT_ARTIFICIAL_F, &[0; 4], true),
            ))
            .unwrap(),
        );
        t.observe(&ev).unwrap();
        assert_eq!(t.pos(), 20000);
        // Truncated rotate.
        let ev = event_of(
            d.decode(packet(
                &[0],
                &make_event(ROTATE_EVENT, 0, 0, &[1, 2], false),
            ))
            .unwrap(),
        );
        assert!(t.observe(&ev).is_err());
    }
}
