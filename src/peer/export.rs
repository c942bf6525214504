//! The transactions a spool holds after a position, as one binlog stream.
//!
//! Owns choosing the transactions (the spool must prove it holds every one after the
//! position: a peer never serves a stream with a hole) and writing them: the binlog magic,
//! then for each segment they come from its FORMAT_DESCRIPTION, then their bytes exactly as
//! the master wrote them (event checksums included). The [`Promise`] travels ahead of the
//! bytes (HTTP headers) so the receiver can verify what it got.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::MariadbGtidPos;
use crate::spool::segment_fde;
use crate::spool::{Coverage, Spool, TargetPosition, TxnGtid, TxnRecord};

use super::error::PeerError;

/// What a stream holds, known before its bytes are sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise {
    pub transactions: u64,
    /// Exact length of the stream in bytes.
    pub bytes: u64,
    /// The GTIDs of its transactions: a MySQL GTID set, or MariaDB GTIDs comma-separated.
    pub gtids: String,
    /// When the master committed the oldest and the newest of them, µs since the epoch.
    pub first_commit_us: Option<u64>,
    pub last_commit_us: Option<u64>,
}

/// A planned stream: the transactions after a position, ready to write.
pub struct Export {
    pub promise: Promise,
    records: Vec<TxnRecord>,
    fdes: HashMap<PathBuf, Vec<u8>>,
}

impl Export {
    /// The transactions `spool` holds after `after` (a MySQL GTID set or a MariaDB GTID
    /// position, by the spool's mode), refused unless the spool proves it holds them all.
    pub fn plan(spool: &Spool, cluster: &str, after: &str) -> Result<Export, PeerError> {
        let st = spool.status();
        let bad = |detail: String| PeerError::BadPosition {
            value: after.to_string(),
            detail,
        };
        let target = match st.mode {
            "mysql gtid" => TargetPosition::MySqlGtids(
                GtidSet::parse(after.trim()).map_err(|e| bad(e.to_string()))?,
            ),
            "mariadb gtid" => TargetPosition::MariaDbGtids(MariadbExecuted::from_replicated(
                MariadbGtidPos::parse(after.trim()).map_err(|e| bad(e.to_string()))?,
            )),
            mode => {
                return Err(PeerError::NoGtids {
                    cluster: cluster.to_string(),
                    mode: mode.to_string(),
                });
            }
        };
        if let Coverage::NotCovered(why) = spool.coverage_for(&target) {
            return Err(PeerError::NotCovered(why));
        }
        let mut records = Vec::new();
        for r in spool.transactions_missing_from(&target) {
            records.push(r?);
        }
        let mut fdes: HashMap<PathBuf, Vec<u8>> = HashMap::new();
        let mut bytes = 4u64;
        let mut prev: Option<&PathBuf> = None;
        let mut mysql = GtidSet::new();
        let mut mariadb = Vec::new();
        for r in &records {
            if prev != Some(&r.segment) {
                if !fdes.contains_key(&r.segment) {
                    fdes.insert(r.segment.clone(), segment_fde(&r.segment)?);
                }
                bytes += fdes[&r.segment].len() as u64;
                prev = Some(&r.segment);
            }
            bytes += r.local_end - r.local_start;
            match &r.gtid {
                Some(TxnGtid::MySql(g)) => {
                    let _ = mysql.add(g);
                }
                Some(TxnGtid::MariaDb(g)) => mariadb.push(g.to_string()),
                None => {}
            }
        }
        let gtids = if st.mode == "mysql gtid" {
            mysql.to_string()
        } else {
            mariadb.join(",")
        };
        Ok(Export {
            promise: Promise {
                transactions: records.len() as u64,
                bytes,
                gtids,
                first_commit_us: records.first().map(|r| r.commit_ts_us),
                last_commit_us: records.last().map(|r| r.commit_ts_us),
            },
            records,
            fdes,
        })
    }

    /// Write the stream; exactly `promise.bytes` bytes.
    pub fn write_to(&self, out: &mut dyn Write) -> Result<(), PeerError> {
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| PeerError::Io { path, source }
        };
        let out_err = |source| PeerError::Io {
            path: PathBuf::from("(peer stream)"),
            source,
        };
        out.write_all(&crate::binlog::BINLOG_MAGIC)
            .map_err(out_err)?;
        let mut cur: Option<(&PathBuf, File)> = None;
        let mut buf = vec![0u8; 64 * 1024];
        for r in &self.records {
            if cur.as_ref().is_none_or(|(p, _)| *p != &r.segment) {
                out.write_all(&self.fdes[&r.segment]).map_err(out_err)?;
                let f = File::open(&r.segment).map_err(io(&r.segment))?;
                cur = Some((&r.segment, f));
            }
            let Some((path, f)) = cur.as_mut() else {
                continue;
            };
            f.seek(SeekFrom::Start(r.local_start)).map_err(io(path))?;
            let mut left = (r.local_end - r.local_start) as usize;
            while left > 0 {
                let n = left.min(buf.len());
                f.read_exact(&mut buf[..n]).map_err(io(path))?;
                out.write_all(&buf[..n]).map_err(out_err)?;
                left -= n;
            }
        }
        out.flush().map_err(out_err)
    }
}
