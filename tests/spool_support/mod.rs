//! Shared by the spool tests: a fake master that produces byte-exact binlog events of either
//! flavor (with correct log_pos and CRC32), and spool helpers. No servers involved.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use gapfill::binlog::checksum::ChecksumAlg;
use gapfill::binlog::file_writer::{build_event, format_description_event};
use gapfill::binlog::gtid_event::{GtidEvent, LogicalClock, MariadbGtidEvent, PreviousGtidsEvent};
use gapfill::binlog::gtid_set::{Gtid, GtidSet};
use gapfill::binlog::header::EventHeader;
use gapfill::binlog::mariadb_gtid::MariadbGtid;
use gapfill::binlog::{EventType, Flavor, FormatDescription};
use gapfill::spool::{Appended, FsyncPolicy, MasterInfo, Retention, Spool, SpoolConfig, TxnRecord};

pub const UUID: &str = "2d63461e-e5ac-11f1-b5bf-02fc00000001";

/// A master writing one binlog at a time.
pub struct FakeMaster {
    pub fde: FormatDescription,
    pub file: String,
    pub pos: u64,
    pub server_id: u32,
    pub ts: u32,
    seq: u64,
    /// Every GTID written so far (PREVIOUS_GTIDS of the next file).
    pub written: GtidSet,
}

impl FakeMaster {
    pub fn mysql(file: &str) -> FakeMaster {
        FakeMaster {
            fde: FormatDescription::synthetic("9.7.4", ChecksumAlg::Crc32),
            file: file.into(),
            pos: 4,
            server_id: 1,
            ts: 1_700_000_000,
            seq: 0,
            written: GtidSet::new(),
        }
    }

    pub fn mariadb(file: &str) -> FakeMaster {
        FakeMaster {
            fde: FormatDescription::synthetic("10.11.19-MariaDB-log", ChecksumAlg::Crc32),
            server_id: 11,
            ..FakeMaster::mysql(file)
        }
    }

    pub fn info(&self, addr: &str) -> MasterInfo {
        MasterInfo {
            addr: addr.into(),
            server_id: self.server_id,
            server_uuid: (self.fde.flavor == Flavor::MySql).then(|| UUID.to_string()),
            flavor: self.fde.flavor,
        }
    }

    fn header(&self, t: EventType, log_pos: u64, flags: u16) -> EventHeader {
        EventHeader {
            timestamp: self.ts,
            event_type: t,
            server_id: self.server_id,
            event_size: 0,
            log_pos: log_pos as u32,
            flags,
        }
    }

    /// A real event at the current position.
    pub fn event(&mut self, t: EventType, body: &[u8]) -> Vec<u8> {
        let size = 19 + body.len() as u64 + 4;
        self.pos += size;
        let mut out = Vec::new();
        build_event(
            self.header(t, self.pos, 0),
            body,
            ChecksumAlg::Crc32,
            &mut out,
        );
        out
    }

    /// The artificial ROTATE a dump starts with, naming the current file and position.
    pub fn fake_rotate(&self) -> Vec<u8> {
        let mut body = self.pos.to_le_bytes().to_vec();
        body.extend_from_slice(self.file.as_bytes());
        let mut out = Vec::new();
        let mut h = self.header(EventType::Rotate, 0, 0x20);
        h.timestamp = 0;
        build_event(h, &body, ChecksumAlg::Crc32, &mut out);
        out
    }

    /// The FORMAT_DESCRIPTION as the file holds it.
    pub fn fde_event(&self) -> Vec<u8> {
        format_description_event(&self.fde, self.ts, self.server_id)
    }

    /// A new file's head: FORMAT_DESCRIPTION and PREVIOUS_GTIDS (MySQL) or GTID_LIST.
    pub fn file_head(&mut self) -> Vec<Vec<u8>> {
        assert_eq!(self.pos, 4);
        let fde = self.fde_event();
        self.pos += fde.len() as u64;
        let marker = match self.fde.flavor {
            Flavor::MySql => {
                let body = PreviousGtidsEvent::encode_body(&self.written);
                self.event(EventType::PreviousGtids, &body)
            }
            Flavor::MariaDb => self.event(EventType::MariadbGtidList, &[0, 0, 0, 0]),
        };
        vec![fde, marker]
    }

    /// What a dump session starting at the current position receives first.
    pub fn session_start(&self) -> Vec<Vec<u8>> {
        let mut fde = self.fde_event();
        if self.pos > 4 + fde.len() as u64 {
            // Mid-file: the master sends the description with log_pos 0.
            fde[13..17].copy_from_slice(&[0; 4]);
            let crc = crc32fast::hash(&fde[..fde.len() - 4]);
            let n = fde.len();
            fde[n - 4..].copy_from_slice(&crc.to_le_bytes());
        }
        vec![self.fake_rotate(), fde]
    }

    /// ROTATE to `next`, then the new file's head (with the dump's artificial ROTATE).
    pub fn rotate_to(&mut self, next: &str) -> Vec<Vec<u8>> {
        let mut body = 4u64.to_le_bytes().to_vec();
        body.extend_from_slice(next.as_bytes());
        let rot = self.event(EventType::Rotate, &body);
        self.file = next.into();
        self.pos = 4;
        let mut out = vec![rot, self.fake_rotate()];
        out.extend(self.file_head());
        out
    }

    pub fn query(&mut self, text: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&7u32.to_le_bytes()); // thread id
        body.extend_from_slice(&0u32.to_le_bytes()); // exec time
        body.push(1); // schema length
        body.extend_from_slice(&0u16.to_le_bytes()); // error code
        body.extend_from_slice(&0u16.to_le_bytes()); // status vars length
        body.extend_from_slice(b"d\0");
        body.extend_from_slice(text.as_bytes());
        self.event(EventType::Query, &body)
    }

    fn rows_like(&mut self, n: usize) -> Vec<u8> {
        // A ROWS_QUERY event: opaque to the spool, like any rows event.
        let mut body = vec![n as u8];
        body.extend(std::iter::repeat_n(b'r', n));
        self.event(EventType::RowsQuery, &body)
    }

    fn mysql_gtid(&mut self, gno: u64, ts_us: u64) -> Vec<u8> {
        let g = Gtid::parse(&format!("{UUID}:{gno}")).unwrap();
        self.written.add(&g).unwrap();
        self.seq += 1;
        let mut e = GtidEvent::for_gtid(&g);
        e.logical_clock = Some(LogicalClock {
            last_committed: self.seq - 1,
            sequence_number: self.seq,
        });
        e.immediate_commit_timestamp = Some(ts_us);
        let body = e.encode_body().unwrap();
        self.event(EventType::Gtid, &body)
    }

    /// GTID, BEGIN, a rows-like event, XID.
    pub fn mysql_txn(&mut self, gno: u64, ts_us: u64) -> Vec<Vec<u8>> {
        self.ts = (ts_us / 1_000_000) as u32;
        let g = self.mysql_gtid(gno, ts_us);
        let b = self.query("BEGIN");
        let r = self.rows_like(20 + (gno % 7) as usize);
        let x = self.event(EventType::Xid, &gno.to_le_bytes());
        vec![g, b, r, x]
    }

    /// GTID, then a DDL statement (implicit commit).
    pub fn mysql_ddl(&mut self, gno: u64, ts_us: u64) -> Vec<Vec<u8>> {
        self.ts = (ts_us / 1_000_000) as u32;
        let g = self.mysql_gtid(gno, ts_us);
        let q = self.query(&format!("CREATE TABLE t{gno} (a int)"));
        vec![g, q]
    }

    /// A MariaDB group: GTID, rows-like, XID (or a standalone DDL).
    pub fn mariadb_txn(&mut self, domain: u32, seq: u64, ddl: bool) -> Vec<Vec<u8>> {
        let g = MariadbGtid::new(domain, self.server_id, seq);
        let flags = if ddl {
            MariadbGtidEvent::FL_STANDALONE | MariadbGtidEvent::FL_DDL
        } else {
            MariadbGtidEvent::FL_TRANSACTIONAL
        };
        let body = MariadbGtidEvent::new(&g, flags).encode_body().unwrap();
        let ge = self.event(EventType::MariadbGtid, &body);
        if ddl {
            let q = self.query("CREATE TABLE m (a int)");
            return vec![ge, q];
        }
        let r = self.rows_like(11);
        let x = self.event(EventType::Xid, &seq.to_le_bytes());
        vec![ge, r, x]
    }
}

pub fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Never,
        retention: Retention {
            keep: Duration::from_secs(3600),
            max_bytes: None,
        },
    }
}

/// Append events, returning how many transactions they completed.
pub fn feed(spool: &mut Spool, events: &[Vec<u8>]) -> usize {
    let mut commits = 0;
    for e in events {
        if let Appended::Commit { .. } = spool.append(e).unwrap() {
            commits += 1;
        }
    }
    commits
}

pub fn txns(spool: &Spool) -> Vec<TxnRecord> {
    spool.transactions().collect::<Result<Vec<_>, _>>().unwrap()
}

/// Copy a directory tree (spools are small in tests).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Transactions with segment paths reduced to `epoch-N/name`, to compare copies of a spool.
pub fn txns_rel(spool: &Spool) -> Vec<TxnRecord> {
    txns(spool)
        .into_iter()
        .map(|mut t| {
            let n = t.segment.components().count();
            t.segment = t.segment.components().skip(n - 2).collect();
            t
        })
        .collect()
}
