//! The binlog dump, sans-IO: parsing COM_BINLOG_DUMP_GTID (MySQL) and COM_BINLOG_DUMP with
//! `@slave_connect_state` (MariaDB's GTID start), choosing what to send ([`DumpPlan`]), and
//! building the events the source makes itself: the artificial ROTATE that names the file,
//! the FORMAT_DESCRIPTION as served, PREVIOUS_GTIDS and HEARTBEAT.
//!
//! The plan is a list of [`Piece`]s: events built here, and spans of segment bytes (whole
//! transactions exactly as the spool holds them, checksums included) that the edge reads and
//! cuts into events with [`split_events`]. The spool must prove it holds every transaction
//! after the replica's position ([`Spool::coverage_for`]); if it cannot, the dump is refused
//! with error 1236, as a real source refuses a replica asking for purged transactions.
//! Deciding what a failover's gap is belongs to fill, not here.

use std::path::PathBuf;

use crate::binlog::FormatDescription;
use crate::binlog::checksum::{CHECKSUM_LEN, ChecksumAlg, compute_crc32};
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::header::{HEADER_LEN, LOG_EVENT_ARTIFICIAL_F, LOG_EVENT_BINLOG_IN_USE_F};
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::MariadbGtidPos;
use crate::spool::{Coverage, Spool, TargetPosition, TxnGtid, TxnRecord, segment_fde};

use super::error::{Result, ServeError};
use super::wire::Reader;

pub const COM_BINLOG_DUMP: u8 = 0x12;
pub const COM_BINLOG_DUMP_GTID: u8 = 0x1e;
/// BINLOG_DUMP_NON_BLOCK: end the stream (EOF packet) at the end instead of waiting.
pub const DUMP_NON_BLOCK: u16 = 0x01;

/// ER_MASTER_FATAL_ERROR_READING_BINLOG: what a source says when it cannot serve a position.
pub const ER_SOURCE_FATAL_READING_BINLOG: u16 = 1236;

const ROTATE_EVENT: u8 = 4;
const HEARTBEAT_LOG_EVENT: u8 = 27;
const PREVIOUS_GTIDS_LOG_EVENT: u8 = 35;

/// The replica's dump request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpRequest {
    /// COM_BINLOG_DUMP_GTID: start after the replica's executed GTID set.
    MySqlGtid {
        flags: u16,
        server_id: u32,
        file: String,
        pos: u64,
        gtids: GtidSet,
    },
    /// COM_BINLOG_DUMP: a file and position (MariaDB then uses `@slave_connect_state`).
    FilePos {
        flags: u16,
        server_id: u32,
        file: String,
        pos: u32,
    },
}

impl DumpRequest {
    pub fn parse(payload: &[u8]) -> Result<DumpRequest> {
        match payload.first() {
            Some(&COM_BINLOG_DUMP_GTID) => {
                const W: &str = "COM_BINLOG_DUMP_GTID";
                let mut r = Reader::new(&payload[1..], W);
                let flags = r.u16()?;
                let server_id = r.u32()?;
                let n = r.u32()? as usize;
                let file = String::from_utf8_lossy(r.bytes(n)?).into_owned();
                let pos = r.u64()?;
                // The server reads the set whatever the flags say (MySQL 9.7 replicas send
                // flags 0x02 with a set), so the data decides.
                let gtids = if r.remaining() >= 4 {
                    let n = r.u32()? as usize;
                    GtidSet::decode_sid_block(r.bytes(n)?)
                        .map_err(|e| ServeError::malformed(W, format!("GTID set: {e}")))?
                } else {
                    GtidSet::new()
                };
                Ok(DumpRequest::MySqlGtid {
                    flags,
                    server_id,
                    file,
                    pos,
                    gtids,
                })
            }
            Some(&COM_BINLOG_DUMP) => {
                const W: &str = "COM_BINLOG_DUMP";
                let mut r = Reader::new(&payload[1..], W);
                let pos = r.u32()?;
                let flags = r.u16()?;
                let server_id = r.u32()?;
                let file = String::from_utf8_lossy(r.rest()).into_owned();
                Ok(DumpRequest::FilePos {
                    flags,
                    server_id,
                    file,
                    pos,
                })
            }
            _ => Err(ServeError::malformed("binlog dump", "not a dump command")),
        }
    }

    pub fn non_blocking(&self) -> bool {
        let flags = match self {
            DumpRequest::MySqlGtid { flags, .. } | DumpRequest::FilePos { flags, .. } => *flags,
        };
        flags & DUMP_NON_BLOCK != 0
    }
}

/// Which transactions the replica lacks, from its request and session: the MySQL GTID set,
/// or MariaDB's `@slave_connect_state`. Position dumps are refused: gapfill serves by GTID.
pub fn target_of(
    req: &DumpRequest,
    spool_mode: &str,
    connect_state: Option<&str>,
) -> Result<TargetPosition> {
    let refuse = |m: String| Err(ServeError::CannotServe(m));
    match (req, spool_mode) {
        (DumpRequest::MySqlGtid { gtids, .. }, "mysql gtid") => {
            Ok(TargetPosition::MySqlGtids(gtids.clone()))
        }
        (DumpRequest::FilePos { .. }, "mariadb gtid") => match connect_state {
            Some(s) => MariadbGtidPos::parse(s.trim())
                .map(|p| TargetPosition::MariaDbGtids(MariadbExecuted::from_replicated(p)))
                .map_err(|e| {
                    ServeError::CannotServe(format!(
                        "gapfill serve: cannot read the replica's @slave_connect_state '{s}': {e}"
                    ))
                }),
            None => refuse(
                "gapfill serve sends transactions by GTID only: configure the replica with \
                 MASTER_USE_GTID=slave_pos (or current_pos)"
                    .into(),
            ),
        },
        (DumpRequest::FilePos { .. }, "mysql gtid") => refuse(
            "gapfill serve sends transactions by GTID only: configure the replica with \
             SOURCE_AUTO_POSITION=1"
                .into(),
        ),
        (DumpRequest::MySqlGtid { .. }, "mariadb gtid") => {
            refuse("the spool holds a MariaDB binlog; a MySQL replica cannot replicate it".into())
        }
        (_, mode) => refuse(format!(
            "gapfill serve needs a spool captured with GTIDs; this spool's mode is '{mode}'"
        )),
    }
}

/// One part of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// An event built by the source (artificial ROTATE, served FDE, PREVIOUS_GTIDS).
    Event(Vec<u8>),
    /// Whole events of a segment, bytes `start..end`, sent as stored.
    Span {
        segment: PathBuf,
        start: u64,
        end: u64,
    },
}

/// What the dump sends, in order, and where it leaves the replica.
#[derive(Debug, Clone)]
pub struct DumpPlan {
    pub pieces: Vec<Piece>,
    pub transactions: usize,
    /// The master file and end position of the last transaction sent (or held): what the
    /// heartbeats name.
    pub file: String,
    pub pos: u64,
    /// The checksum of the last FORMAT_DESCRIPTION sent (heartbeats carry one if CRC32).
    pub checksum: ChecksumAlg,
    /// The segment the stream is in after the plan (whose FORMAT_DESCRIPTION the replica
    /// has): a later plan continuing there needs no ROTATE.
    pub segment: Option<PathBuf>,
    /// The replica's position after the plan is sent (to plan what came after).
    pub after: TargetPosition,
}

/// Whether a replica that said `replica_checksum` (`@source_binlog_checksum`, upper case;
/// `None`: it never said) can read events checksummed with `alg`.
fn replica_reads(replica_checksum: Option<&str>, alg: ChecksumAlg) -> bool {
    alg == ChecksumAlg::Off || replica_checksum == Some("CRC32")
}

fn fde_alg(fde: &[u8]) -> Result<ChecksumAlg> {
    let body = fde.get(HEADER_LEN..).unwrap_or_default();
    FormatDescription::parse(body)
        .map(|d| d.checksum)
        .map_err(|e| ServeError::CannotServe(format!("the spool's FORMAT_DESCRIPTION: {e}")))
}

impl DumpPlan {
    /// Plan the stream for a replica at `target`. `first` says whether this is the start of
    /// the dump (then it opens with the artificial ROTATE and the FORMAT_DESCRIPTION even when
    /// nothing is missing); later calls plan only what came after an earlier plan's `after`,
    /// continuing in `cur` (file, checksum) when the segment did not change.
    pub fn build(
        spool: &Spool,
        target: &TargetPosition,
        server_id: u32,
        replica_checksum: Option<&str>,
        cont: Option<(&PathBuf, ChecksumAlg)>,
    ) -> Result<DumpPlan> {
        if let Coverage::NotCovered(why) = spool.coverage_for(target) {
            return Err(ServeError::CannotServe(format!(
                "gapfill serve: the spool cannot serve this replica: {why}"
            )));
        }
        let mut after = target.clone();
        let mut pieces = Vec::new();
        let mut last: Option<TxnRecord> = None;
        let mut sent = 0usize;
        let mut cur_seg: Option<PathBuf> = cont.map(|(p, _)| p.clone());
        let mut alg = match cont {
            Some((_, a)) => a,
            None if replica_checksum == Some("CRC32") => ChecksumAlg::Crc32,
            None => ChecksumAlg::Off,
        };
        let open = |r: &TxnRecord,
                    pieces: &mut Vec<Piece>,
                    alg: &mut ChecksumAlg,
                    after: &TargetPosition|
         -> Result<()> {
            let fde = segment_fde(&r.segment)?;
            let fde_checksum = fde_alg(&fde)?;
            if !replica_reads(replica_checksum, fde_checksum) {
                return Err(ServeError::CannotServe(format!(
                    "gapfill serve: the spool's events carry CRC32 checksums and the replica \
                     did not ask for them (@source_binlog_checksum is {}); a replica must \
                     set it to the source's @@global.binlog_checksum",
                    replica_checksum.unwrap_or("unset")
                )));
            }
            pieces.push(Piece::Event(fake_rotate(server_id, &r.master_file, *alg)));
            pieces.push(Piece::Event(served_fde(&fde, fde_checksum)));
            *alg = fde_checksum;
            if let TargetPosition::MySqlGtids(set) = after {
                pieces.push(Piece::Event(previous_gtids(server_id, set, *alg)));
            }
            Ok(())
        };
        for r in spool.transactions() {
            let r = r?;
            if !spool.target_lacks(target, &r) {
                last = Some(r);
                continue;
            }
            if cur_seg.as_ref() != Some(&r.segment) {
                open(&r, &mut pieces, &mut alg, &after)?;
                cur_seg = Some(r.segment.clone());
            }
            match pieces.last_mut() {
                Some(Piece::Span { segment, end, .. })
                    if *segment == r.segment && *end == r.local_start =>
                {
                    *end = r.local_end;
                }
                _ => pieces.push(Piece::Span {
                    segment: r.segment.clone(),
                    start: r.local_start,
                    end: r.local_end,
                }),
            }
            match (&mut after, &r.gtid) {
                (TargetPosition::MySqlGtids(s), Some(TxnGtid::MySql(g))) => {
                    let _ = s.add(g);
                }
                (TargetPosition::MariaDbGtids(m), Some(TxnGtid::MariaDb(g))) => {
                    let mut p = m.replicated().clone();
                    p.update(g);
                    *m = MariadbExecuted::from_replicated(p);
                }
                _ => {}
            }
            sent += 1;
            last = Some(r);
        }
        let Some(last) = last else {
            return Err(ServeError::CannotServe(
                "gapfill serve: the spool holds no transaction yet".into(),
            ));
        };
        if cur_seg.is_none() {
            // Nothing missing: name the newest file so heartbeats match it.
            open(&last, &mut pieces, &mut alg, &after)?;
            cur_seg = Some(last.segment.clone());
        }
        Ok(DumpPlan {
            pieces,
            transactions: sent,
            file: last.master_file.clone(),
            pos: last.master_end,
            checksum: alg,
            segment: cur_seg,
            after,
        })
    }
}

/// Build an event: header (timestamp, type, server id, size, log_pos, flags), body, and a
/// CRC32 trailer when `alg` says so.
pub fn build_event(
    timestamp: u32,
    type_code: u8,
    server_id: u32,
    log_pos: u32,
    flags: u16,
    body: &[u8],
    alg: ChecksumAlg,
) -> Vec<u8> {
    let len = HEADER_LEN + body.len() + alg.trailer_len();
    let mut e = Vec::with_capacity(len);
    e.extend_from_slice(&timestamp.to_le_bytes());
    e.push(type_code);
    e.extend_from_slice(&server_id.to_le_bytes());
    e.extend_from_slice(&(len as u32).to_le_bytes());
    e.extend_from_slice(&log_pos.to_le_bytes());
    e.extend_from_slice(&flags.to_le_bytes());
    e.extend_from_slice(body);
    if alg == ChecksumAlg::Crc32 {
        let crc = compute_crc32(&e);
        e.extend_from_slice(&crc.to_le_bytes());
    }
    e
}

/// The artificial ROTATE that opens a dump (and every change of file): timestamp 0, log_pos
/// 0, LOG_EVENT_ARTIFICIAL_F, position 4 in `file`.
pub fn fake_rotate(server_id: u32, file: &str, alg: ChecksumAlg) -> Vec<u8> {
    let mut body = 4u64.to_le_bytes().to_vec();
    body.extend_from_slice(file.as_bytes());
    build_event(
        0,
        ROTATE_EVENT,
        server_id,
        0,
        LOG_EVENT_ARTIFICIAL_F,
        &body,
        alg,
    )
}

/// The segment's FORMAT_DESCRIPTION as a source sends it when the dump does not start at the
/// file's head: log_pos 0 (the replica must not move its position), `created` 0 (the master
/// did not restart: the replica keeps its temporary tables), "in use" cleared, checksum
/// recomputed.
pub fn served_fde(stored: &[u8], alg: ChecksumAlg) -> Vec<u8> {
    let mut e = stored.to_vec();
    if e.len() < HEADER_LEN + 2 + 50 + 4 {
        return e;
    }
    e[13..17].copy_from_slice(&0u32.to_le_bytes());
    let flags = u16::from_le_bytes([e[17], e[18]]) & !LOG_EVENT_BINLOG_IN_USE_F;
    e[17..19].copy_from_slice(&flags.to_le_bytes());
    let created = HEADER_LEN + 2 + 50;
    e[created..created + 4].copy_from_slice(&0u32.to_le_bytes());
    if alg == ChecksumAlg::Crc32 && e.len() >= HEADER_LEN + CHECKSUM_LEN {
        let n = e.len() - CHECKSUM_LEN;
        let crc = compute_crc32(&e[..n]);
        e[n..].copy_from_slice(&crc.to_le_bytes());
    }
    e
}

/// PREVIOUS_GTIDS with `set` (the replica's position when the stream starts).
pub fn previous_gtids(server_id: u32, set: &GtidSet, alg: ChecksumAlg) -> Vec<u8> {
    build_event(
        0,
        PREVIOUS_GTIDS_LOG_EVENT,
        server_id,
        0,
        0,
        &set.encode_sid_block(),
        alg,
    )
}

/// HEARTBEAT_LOG_EVENT: the source is alive and at `pos` of `file` (the replica checks both
/// against what it received).
pub fn heartbeat(server_id: u32, file: &str, pos: u64, alg: ChecksumAlg) -> Vec<u8> {
    build_event(
        0,
        HEARTBEAT_LOG_EVENT,
        server_id,
        u32::try_from(pos).unwrap_or(u32::MAX),
        LOG_EVENT_ARTIFICIAL_F,
        file.as_bytes(),
        alg,
    )
}

/// Cut a run of whole events into events (by each header's size). A torn or nonsense size is
/// an error: the spool's index promised whole events.
pub fn split_events(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < HEADER_LEN {
            return Err(ServeError::CannotServe(format!(
                "gapfill serve: the spool holds a torn event ({} bytes left)",
                rest.len()
            )));
        }
        let size = u32::from_le_bytes([rest[9], rest[10], rest[11], rest[12]]) as usize;
        if size < HEADER_LEN || size > rest.len() {
            return Err(ServeError::CannotServe(format!(
                "gapfill serve: the spool holds an event of size {size} with {} bytes left",
                rest.len()
            )));
        }
        out.push(&rest[..size]);
        rest = &rest[size..];
    }
    Ok(out)
}

/// The payload of one event packet: 0x00 then the event.
pub fn event_payload(event: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(1 + event.len());
    p.push(0);
    p.extend_from_slice(event);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::checksum::verify_crc32;
    use crate::binlog::gtid_set::GtidSet;
    use crate::protocol::commands::com_binlog_dump;
    use crate::protocol::commands::com_binlog_dump_gtid;

    const FORMAT_DESCRIPTION_EVENT: u8 = 15;

    #[test]
    fn parses_the_clients_dump_requests() {
        let set = GtidSet::parse("11111111-1111-1111-1111-111111111111:1-5:7").unwrap();
        let p = com_binlog_dump_gtid(0, 9, b"", 4, &set.encode_sid_block()).unwrap();
        let DumpRequest::MySqlGtid {
            server_id, gtids, ..
        } = DumpRequest::parse(&p).unwrap()
        else {
            panic!()
        };
        assert_eq!(server_id, 9);
        assert_eq!(gtids, set);
        let p = com_binlog_dump(325, 0, 12, b"binlog.000001");
        assert_eq!(
            DumpRequest::parse(&p).unwrap(),
            DumpRequest::FilePos {
                flags: 0,
                server_id: 12,
                file: "binlog.000001".into(),
                pos: 325
            }
        );
        assert!(DumpRequest::parse(&p[..5]).is_err());
        assert!(DumpRequest::parse(&[0x1e, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    /// Recorded: the COM_BINLOG_DUMP_GTID of a real MySQL 9.7.4 replica whose gtid_executed
    /// was `5f424fbb-f145-11f1-b761-02fc00000001:1-143:gapfill_tag:1-2` (flags 0x0002, the
    /// tagged sid-block format).
    #[test]
    fn parses_a_recorded_mysql_97_request_with_tagged_gtids() {
        let mut p = vec![
            30, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 101, 0, 0, 0,
        ];
        let set =
            GtidSet::parse("5f424fbb-f145-11f1-b761-02fc00000001:1-143:gapfill_tag:1-2").unwrap();
        let block = set.encode_sid_block();
        assert_eq!(block.len(), 101);
        // The recorded bytes start like this block.
        assert_eq!(
            &block[..16],
            &[1, 2, 0, 0, 0, 0, 0, 1, 95, 66, 79, 187, 241, 69, 17, 241]
        );
        p.extend_from_slice(&block);
        let DumpRequest::MySqlGtid { flags, gtids, .. } = DumpRequest::parse(&p).unwrap() else {
            panic!()
        };
        assert_eq!(flags, 2);
        assert_eq!(gtids, set);
    }

    #[test]
    fn targets_by_flavor() {
        let mysql = DumpRequest::MySqlGtid {
            flags: 4,
            server_id: 1,
            file: String::new(),
            pos: 4,
            gtids: GtidSet::new(),
        };
        let pos = DumpRequest::FilePos {
            flags: 0,
            server_id: 1,
            file: "binlog.000001".into(),
            pos: 4,
        };
        assert!(target_of(&mysql, "mysql gtid", None).is_ok());
        assert!(target_of(&pos, "mariadb gtid", Some("0-1-5")).is_ok());
        assert!(target_of(&pos, "mariadb gtid", Some("")).is_ok());
        for (req, mode, state, want) in [
            (&pos, "mariadb gtid", None, "MASTER_USE_GTID"),
            (&pos, "mysql gtid", None, "SOURCE_AUTO_POSITION"),
            (&mysql, "mariadb gtid", None, "MariaDB"),
            (&mysql, "position", None, "with GTIDs"),
            (&pos, "mariadb gtid", Some("junk"), "slave_connect_state"),
        ] {
            let e = target_of(req, mode, state).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn synthetic_events_are_well_formed() {
        let r = fake_rotate(7, "binlog.000003", ChecksumAlg::Crc32);
        verify_crc32(&r).unwrap();
        assert_eq!(r[4], ROTATE_EVENT);
        assert_eq!(&r[13..17], &[0, 0, 0, 0]);
        assert_eq!(u16::from_le_bytes([r[17], r[18]]), LOG_EVENT_ARTIFICIAL_F);
        assert_eq!(&r[19..27], &4u64.to_le_bytes());
        assert_eq!(&r[27..r.len() - 4], b"binlog.000003");
        let r = fake_rotate(7, "b.1", ChecksumAlg::Off);
        assert_eq!(r.len(), 19 + 8 + 3);

        let h = heartbeat(7, "binlog.000003", 1234, ChecksumAlg::Crc32);
        verify_crc32(&h).unwrap();
        assert_eq!(h[4], HEARTBEAT_LOG_EVENT);
        assert_eq!(&h[13..17], &1234u32.to_le_bytes());

        let set = GtidSet::parse("11111111-1111-1111-1111-111111111111:1-5").unwrap();
        let p = previous_gtids(7, &set, ChecksumAlg::Crc32);
        verify_crc32(&p).unwrap();
        assert_eq!(GtidSet::decode_sid_block(&p[19..p.len() - 4]).unwrap(), set);

        let events = [r.clone(), h.clone(), p.clone()].concat();
        assert_eq!(split_events(&events).unwrap(), vec![&r[..], &h[..], &p[..]]);
        assert!(split_events(&events[..events.len() - 1]).is_err());
        assert_eq!(event_payload(&r)[0], 0);
    }

    #[test]
    fn served_fde_is_rechecksummed_with_position_and_creation_cleared() {
        let fde = crate::binlog::FormatDescription::synthetic("9.7.4-2", ChecksumAlg::Crc32);
        let mut body = fde.encode_body();
        body[2 + 50..2 + 54].copy_from_slice(&1_700_000_000u32.to_le_bytes());
        let mut stored = build_event(
            1_700_000_000,
            FORMAT_DESCRIPTION_EVENT,
            1,
            126,
            LOG_EVENT_BINLOG_IN_USE_F,
            &body,
            ChecksumAlg::Crc32,
        );
        // The server sets "in use" after computing the CRC; keep the stored bytes as-is.
        stored[17] |= 1;
        assert_eq!(fde_alg(&stored).unwrap(), ChecksumAlg::Crc32);
        let s = served_fde(&stored, ChecksumAlg::Crc32);
        verify_crc32(&s).unwrap();
        assert_eq!(&s[13..17], &[0, 0, 0, 0]);
        assert_eq!(s[17] & 1, 0);
        assert_eq!(&s[19 + 52..19 + 56], &[0, 0, 0, 0]);
        assert_eq!(s.len(), stored.len());
    }

    #[test]
    fn checksum_agreement() {
        assert!(replica_reads(Some("CRC32"), ChecksumAlg::Crc32));
        assert!(replica_reads(Some("CRC32"), ChecksumAlg::Off));
        assert!(replica_reads(None, ChecksumAlg::Off));
        assert!(!replica_reads(None, ChecksumAlg::Crc32));
        assert!(!replica_reads(Some("NONE"), ChecksumAlg::Crc32));
    }
}
