//! The 19-byte common header every v4 binlog event starts with.
//!
//! Owns parsing of that header and nothing else; the body is interpreted by the event modules.

use super::cursor::Cursor;
use super::error::{BinlogError, Result};
use super::event_type::EventType;

/// Length of the v4 common header.
pub const HEADER_LEN: usize = 19;

/// Set on the first FORMAT_DESCRIPTION of a binlog the server has not closed cleanly.
pub const LOG_EVENT_BINLOG_IN_USE_F: u16 = 0x1;
/// Set on events a replica may skip when it does not know their type.
pub const LOG_EVENT_IGNORABLE_F: u16 = 0x80;
/// Set by a replica's SQL thread on events it generated itself (relay-log artefacts).
pub const LOG_EVENT_RELAY_LOG_F: u16 = 0x40;
/// Set on events written as a part of a statement replicated with `sql_log_bin` semantics off.
pub const LOG_EVENT_ARTIFICIAL_F: u16 = 0x20;

/// The common header of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHeader {
    /// Seconds since the epoch when the statement began on the originating server.
    pub timestamp: u32,
    pub event_type: EventType,
    pub server_id: u32,
    /// Total length of the event: header, body and checksum.
    pub event_size: u32,
    /// Position of the next event in the originating server's binlog (0 for artificial events).
    pub log_pos: u32,
    pub flags: u16,
}

impl EventHeader {
    /// Parse the header at the start of `bytes`; checks that `event_size` is at least a header.
    pub fn parse(bytes: &[u8]) -> Result<EventHeader> {
        let mut c = Cursor::new(bytes);
        let timestamp = c.u32_le("event header")?;
        let event_type = EventType::from_u8(c.u8("event header")?);
        let server_id = c.u32_le("event header")?;
        let event_size = c.u32_le("event header")?;
        let log_pos = c.u32_le("event header")?;
        let flags = c.u16_le("event header")?;
        if (event_size as usize) < HEADER_LEN {
            return Err(BinlogError::invalid(
                "event header",
                format!("event size {event_size} is smaller than the 19-byte header"),
            ));
        }
        Ok(EventHeader {
            timestamp,
            event_type,
            server_id,
            event_size,
            log_pos,
            flags,
        })
    }

    /// Whether a replica that does not know this event's type may skip it.
    pub fn is_ignorable(&self) -> bool {
        self.flags & LOG_EVENT_IGNORABLE_F != 0
    }
}
