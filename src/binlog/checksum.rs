//! Binlog event checksums.
//!
//! Owns the checksum algorithm byte and CRC32 verification. Events carry a 4-byte CRC32 trailer
//! when the format description says so; the FORMAT_DESCRIPTION itself is checksummed with its
//! "binlog in use" flag cleared, because the server sets that flag after computing the CRC.

use super::error::{BinlogError, Result};
use super::event_type::EventType;
use super::header::LOG_EVENT_BINLOG_IN_USE_F;

/// Length of the CRC32 trailer.
pub const CHECKSUM_LEN: usize = 4;

/// The checksum algorithm a binlog declares in its FORMAT_DESCRIPTION.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlg {
    Off,
    Crc32,
}

impl ChecksumAlg {
    pub fn from_u8(b: u8) -> Result<ChecksumAlg> {
        match b {
            0 => Ok(ChecksumAlg::Off),
            1 => Ok(ChecksumAlg::Crc32),
            other => Err(BinlogError::unsupported(
                "binlog checksum algorithm",
                format!("code {other} (only NONE=0 and CRC32=1 exist)"),
            )),
        }
    }

    /// Trailer length that follows each event body.
    pub fn trailer_len(self) -> usize {
        match self {
            ChecksumAlg::Off => 0,
            ChecksumAlg::Crc32 => CHECKSUM_LEN,
        }
    }
}

/// Verify the CRC32 trailer of a whole event (`event` includes header and trailer).
pub fn verify_crc32(event: &[u8]) -> Result<()> {
    if event.len() < 19 + CHECKSUM_LEN {
        return Err(BinlogError::Truncated {
            what: "event checksum",
            needed: 19 + CHECKSUM_LEN,
            available: event.len(),
        });
    }
    let (data, tail) = event.split_at(event.len() - CHECKSUM_LEN);
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let computed = compute_crc32(data);
    if stored == computed {
        return Ok(());
    }
    Err(BinlogError::Checksum {
        event: EventType::from_u8(event[4]).name(),
        stored,
        computed,
    })
}

/// CRC32 of an event's bytes (without its trailer), clearing the in-use flag of a
/// FORMAT_DESCRIPTION as the server does when it computes the checksum.
pub fn compute_crc32(data: &[u8]) -> u32 {
    if data.len() >= 19 && data[4] == 15 && data[17] & (LOG_EVENT_BINLOG_IN_USE_F as u8) != 0 {
        let mut h = crc32fast::Hasher::new();
        h.update(&data[..17]);
        h.update(&[data[17] & !(LOG_EVENT_BINLOG_IN_USE_F as u8)]);
        h.update(&data[18..]);
        h.finalize()
    } else {
        crc32fast::hash(data)
    }
}
