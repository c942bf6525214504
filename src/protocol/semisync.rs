//! The semi-synchronous replication additions to the dump stream, sans-IO.
//!
//! When the replica sets `@rpl_semi_sync_replica=1` (or `@rpl_semi_sync_slave=1`) and the
//! master's semi-sync source is loaded, every event packet carries two extra bytes after the
//! 0x00 OK byte: 0xEF and a flag; flag 1 asks the replica to acknowledge that event. The ACK is
//! a packet of its own: 0xEF, the 8-byte little-endian position, the binlog file name, sent
//! with sequence id 0 and never answered. This file strips the header and encodes the ACK; it
//! does not decide when to ACK (the caller does, after the event is durable).

use super::error::{ProtocolError, Result};

/// First byte of the semi-sync header and of the ACK packet.
pub const SEMI_SYNC_INDICATOR: u8 = 0xef;
/// Flag value asking for an ACK.
pub const SEMI_SYNC_ACK_REQUESTED: u8 = 0x01;

const EVENT_HEADER_LEN: usize = 19;

fn event_size(event: &[u8]) -> Option<usize> {
    event
        .get(9..13)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Whether `data` (an event packet after its 0x00 byte) starts with a semi-sync header.
///
/// A server may or may not add the header (plugin not loaded, MariaDB with the master side
/// off), and an event's first byte (low byte of its timestamp) can itself be 0xEF, so the
/// marker alone is not proof. The header is taken as present when the marker and flag are
/// valid and the event that follows them has an `event_size` equal to the bytes left.
pub fn has_header(data: &[u8]) -> bool {
    data.len() >= 2 + EVENT_HEADER_LEN
        && data[0] == SEMI_SYNC_INDICATOR
        && data[1] <= SEMI_SYNC_ACK_REQUESTED
        && event_size(&data[2..]) == Some(data.len() - 2)
}

/// Split a header known to be present: `(ack_requested, event_bytes)`.
pub fn split_header(data: &[u8]) -> Result<(bool, &[u8])> {
    match data {
        [SEMI_SYNC_INDICATOR, flag @ (0 | 1), rest @ ..] => {
            Ok((*flag == SEMI_SYNC_ACK_REQUESTED, rest))
        }
        _ => Err(ProtocolError::malformed(
            "semi-sync event header",
            format!(
                "expected 0xef followed by flag 0 or 1, got {:02x?}",
                &data[..data.len().min(2)]
            ),
        )),
    }
}

/// The ACK payload for the event ending at `pos` in binlog `file`.
pub fn encode_ack(file: &[u8], pos: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + file.len());
    out.push(SEMI_SYNC_INDICATOR);
    out.extend_from_slice(&pos.to_le_bytes());
    out.extend_from_slice(file);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts0: u8, len: usize) -> Vec<u8> {
        let mut e = vec![0u8; len];
        e[0] = ts0;
        e[4] = 2; // QUERY
        e[9..13].copy_from_slice(&(len as u32).to_le_bytes());
        e
    }

    #[test]
    fn strips_header_and_flag() {
        let mut data = vec![0xef, 0x01];
        data.extend_from_slice(&event(0x10, 40));
        assert!(has_header(&data));
        let (ack, ev) = split_header(&data).unwrap();
        assert!(ack);
        assert_eq!(ev.len(), 40);
        data[1] = 0;
        assert!(!split_header(&data).unwrap().0);
        assert!(split_header(&[0xef, 0x02, 1]).is_err());
        assert!(split_header(&[0x00]).is_err());
    }

    #[test]
    fn event_starting_with_0xef_is_not_a_header() {
        // Timestamp low byte 0xef, second byte 0x01: looks like a header, but the sizes say no.
        let mut e = event(0xef, 40);
        e[1] = 0x01;
        assert!(!has_header(&e));
        // And a real header in front of such an event is still recognised.
        let mut data = vec![0xef, 0x00];
        data.extend_from_slice(&e);
        assert!(has_header(&data));
        assert!(!has_header(&[0xef, 0x01]));
    }

    #[test]
    fn ack_layout() {
        let a = encode_ack(b"binlog.000003", 0x0102_0304_0506);
        let mut expect = vec![0xef, 6, 5, 4, 3, 2, 1, 0, 0];
        expect.extend_from_slice(b"binlog.000003");
        assert_eq!(a, expect);
    }
}
