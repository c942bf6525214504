//! `BINLOG '<base64>'` statements: original events handed to the target for its own applier,
//! as `mysqlbinlog` does for row events.
//!
//! Used where typed SQL cannot go: MySQL 8.0.21+ logs `CREATE TABLE ... SELECT` atomically as
//! `CREATE TABLE ... START TRANSACTION` followed by the rows, and until that transaction
//! commits the server accepts only BINLOG statements, COMMIT and ROLLBACK (ERROR 3977). Owns
//! recognising that statement and building the BINLOG texts: the FORMAT_DESCRIPTION the events
//! were written under (sent first, so the server reads them), then the TABLE_MAP and rows
//! events, each carrying the checksum trailer the description announces (events that came out
//! of a TRANSACTION_PAYLOAD have none: it is added). Needs `BINLOG_ADMIN` (or SUPER) on the
//! target, as the servers' own tools do.

use base64::Engine as _;

use crate::binlog::FormatDescription;
use crate::binlog::checksum::{ChecksumAlg, compute_crc32};
use crate::binlog::file_writer::format_description_event;
use crate::binlog::header::HEADER_LEN;

/// Whether `query` is MySQL's atomic `CREATE TABLE ... START TRANSACTION` (the CREATE part of
/// a logged `CREATE TABLE ... SELECT`).
pub fn is_atomic_create_select(query: &[u8]) -> bool {
    let q = query.trim_ascii();
    let q = q.strip_suffix(b";").unwrap_or(q).trim_ascii_end();
    const TAIL: &[u8] = b"START TRANSACTION";
    q.len() > TAIL.len()
        && q[..6.min(q.len())].eq_ignore_ascii_case(b"CREATE")
        && q[q.len() - TAIL.len()..].eq_ignore_ascii_case(TAIL)
        && q[..q.len() - TAIL.len()].ends_with(b" ")
}

fn statement(events: &[u8]) -> String {
    let mut s = String::with_capacity(16 + events.len().div_ceil(3) * 4);
    s.push_str("BINLOG '");
    base64::engine::general_purpose::STANDARD.encode_string(events, &mut s);
    s.push('\'');
    s
}

/// `BINLOG '...'` of the FORMAT_DESCRIPTION `fde`.
pub fn format_description_statement(
    fde: &FormatDescription,
    timestamp: u32,
    server_id: u32,
) -> String {
    statement(&format_description_event(fde, timestamp, server_id))
}

/// Events collected for one BINLOG statement.
#[derive(Debug, Default)]
pub struct BinlogEvents {
    bytes: Vec<u8>,
}

impl BinlogEvents {
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Add one event as read (`inner`: it came out of a TRANSACTION_PAYLOAD, without a
    /// checksum trailer); `alg` is the description's checksum algorithm.
    pub fn push(&mut self, event: &[u8], inner: bool, alg: ChecksumAlg) {
        if !inner || alg == ChecksumAlg::Off || event.len() < HEADER_LEN {
            self.bytes.extend_from_slice(event);
            return;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(event);
        let size = (event.len() + alg.trailer_len()) as u32;
        self.bytes[start + 9..start + 13].copy_from_slice(&size.to_le_bytes());
        let crc = compute_crc32(&self.bytes[start..]);
        self.bytes.extend_from_slice(&crc.to_le_bytes());
    }

    /// The statement for the collected events; empties the collection.
    pub fn take_statement(&mut self) -> String {
        let s = statement(&self.bytes);
        self.bytes.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_atomic_create() {
        assert!(is_atomic_create_select(
            b"CREATE TABLE `a`.`b` (\n  `id` int NOT NULL\n) START TRANSACTION"
        ));
        assert!(is_atomic_create_select(
            b" create table t (i int) start transaction ;"
        ));
        assert!(!is_atomic_create_select(b"CREATE TABLE t (i int)"));
        assert!(!is_atomic_create_select(b"START TRANSACTION"));
        assert!(!is_atomic_create_select(
            b"INSERT INTO t VALUES (1) START TRANSACTION"
        ));
        assert!(!is_atomic_create_select(b""));
    }

    #[test]
    fn inner_events_get_their_checksum() {
        let mut ev = vec![0u8; HEADER_LEN + 3];
        ev[9..13].copy_from_slice(&((HEADER_LEN + 3) as u32).to_le_bytes());
        let mut b = BinlogEvents::default();
        b.push(&ev, true, ChecksumAlg::Crc32);
        assert_eq!(b.bytes.len(), HEADER_LEN + 7);
        assert_eq!(
            u32::from_le_bytes(b.bytes[9..13].try_into().unwrap()),
            (HEADER_LEN + 7) as u32
        );
        let crc = compute_crc32(&b.bytes[..HEADER_LEN + 3]);
        assert_eq!(&b.bytes[HEADER_LEN + 3..], crc.to_le_bytes());
        b.push(&ev, false, ChecksumAlg::Crc32);
        assert_eq!(b.bytes.len(), 2 * HEADER_LEN + 10);
        assert!(b.take_statement().starts_with("BINLOG '"));
        assert!(b.is_empty());
    }
}
