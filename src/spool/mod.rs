//! The durable buffer of one cluster's binlog stream: the [`Spool`].
//!
//! Capture hands every event it receives from a master to [`Spool::append`]; the spool keeps
//! them on disk in the master's own format, knows which complete transactions it holds, and
//! can prove from where on it holds all of them. A failover fill asks [`Spool::coverage_for`]
//! whether it holds everything the new master lacks, then replays [`Spool::transactions`].
//!
//! # On disk
//!
//! ```text
//! <cluster dir>/
//!   spool.json                  continuity record (continuity.rs), replaced atomically
//!   epoch-0001/                 one epoch per master followed; a failover starts the next
//!     binlog.000012             segments: magic + the master's FORMAT_DESCRIPTION + the
//!     binlog.000013               master's events byte for byte, named after its files
//!     index/binlog.000012.gfi   transaction index of each segment (index.rs), rebuildable
//!   epoch-0002/ ...
//! ```
//!
//! `mysqlbinlog epoch-0001/binlog.*` reads the segments. A segment that starts mid-file (a
//! GTID start) still starts with the magic and the description, then the first event
//! received; positions inside a segment are local, the master's are in the index.
//!
//! # Guarantees
//!
//! * Only complete transactions count as held. On open, the segment being written is
//!   rescanned and cut back to the end of its last complete transaction (torn events,
//!   corrupt events and incomplete transactions go; [`Spool::recovery_report`] says what).
//!   Closed segments are trusted when their index is sealed and intact, else re-indexed.
//! * [`Spool::resume_point`] is right after the last complete transaction held.
//! * Continuity is explicit: the start point, every epoch, every break. Coverage answers from
//!   it and never assumes.
//! * Memory is O(segments): per-segment summaries stay in memory, index records are
//!   streamed from disk.
//!
//! # Durability
//!
//! See [`FsyncPolicy`] for the trade-offs. Segment creation, rotation and epoch changes
//! always fsync the files and their directories; `spool.json` is always replaced atomically.
//!
//! # Protocol with capture
//!
//! Call [`Spool::begin`] at the start of every dump session (first connect and every
//! reconnect), then ask the master for [`Spool::resume_point`], then [`Spool::append`] every
//! event except heartbeats, including ROTATE events (the artificial one that opens a dump
//! names the file; other artificial events are ignored). With semi-sync, call [`Spool::sync`]
//! before acknowledging (with `FsyncPolicy::Always` the commit is already synced when
//! `append` returns). On error 1236 (the master purged what we need) call
//! [`Spool::record_break`], then `begin` again with a new start point.
//!
//! This module does not talk to servers and never decodes rows.

mod append;
pub mod config;
mod continuity;
pub mod coverage;
pub mod error;
mod index;
mod lifecycle;
mod recorder;
pub mod recovery;
pub mod replica_positions;
mod retention;
mod segment;
mod snapshot;
pub mod stream_log;
mod txn_iter;
pub mod types;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::binlog::FormatDescription;
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_gtid::MariadbGtidPos;

pub use config::{FsyncPolicy, MasterInfo, Retention, SpoolConfig};
pub use coverage::{Coverage, Missing, NotCovered};
pub use error::SpoolError;
pub use recovery::Cut;
pub use retention::RetentionReport;
pub use stream_log::{EndCause, Seen, SemiSyncFacts, StreamLog, StreamRecord};
pub use txn_iter::TxnIter;
pub use types::{
    Appended, BreakInfo, EpochStatus, ResumePoint, SpoolStatus, StartPoint, TargetPosition,
    TxnBrief, TxnEnd, TxnGtid, TxnRecord,
};

use continuity::{Continuity, Mode, PointJson, parse_point};
use index::{IndexRecord, IndexWriter};
use recorder::Recorder;
use segment::SegmentWriter;

/// What opening a spool had to repair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments cut back to their last complete transaction (or removed: `to == 0`).
    pub cuts: Vec<Cut>,
    /// Indexes rebuilt from their segment because they were missing, damaged or behind.
    pub rebuilt_indexes: Vec<PathBuf>,
}

/// One segment, summarised in memory.
#[derive(Debug, Clone)]
pub(crate) struct SegmentState {
    pub name: String,
    pub master_file: String,
    pub path: PathBuf,
    pub index_path: PathBuf,
    pub bytes: u64,
    pub index_bytes: u64,
    pub txns: u64,
    pub first: Option<IndexRecord>,
    pub last: Option<IndexRecord>,
}

/// One epoch in memory.
#[derive(Debug, Clone)]
pub(crate) struct EpochState {
    pub id: u32,
    pub dir: PathBuf,
    pub master: MasterInfo,
    pub segments: Vec<SegmentState>,
}

/// The segment being written.
pub(crate) struct Live {
    pub seg: SegmentWriter,
    pub index: IndexWriter,
    pub fde_bytes: Vec<u8>,
    pub fde: FormatDescription,
    pub rec: Recorder,
}

/// The durable buffer of one cluster. See the module docs.
pub struct Spool {
    cfg: SpoolConfig,
    /// `None` until the first `begin` of a fresh spool.
    cont: Option<Continuity>,
    epochs: Vec<EpochState>,
    /// Origin ∪ every MySQL GTID held.
    mysql_executed: GtidSet,
    /// Origin ∪ every MariaDB GTID held.
    mariadb_executed: MariadbGtidPos,
    live: Option<Live>,
    /// A dump session is in progress (`begin` called, no break since).
    begun: bool,
    /// File (and position) named by the last ROTATE, for the next FORMAT_DESCRIPTION.
    pending_rotate: Option<(String, u64)>,
    /// Skip events the spool already holds (a resumed dump re-sends the file's head).
    dedupe: bool,
    last_sync: Instant,
    unsynced: bool,
    /// fdatasyncs of the live segment since this spool was opened.
    fsyncs: u64,
    recovery: RecoveryReport,
    /// Opened with [`Spool::open_read_only`]: every writing call is refused.
    read_only: bool,
    /// How each dump session lived and ended (the writer's; `None` read-only).
    streams: Option<StreamLog>,
    /// A damage break waits for the master to serve the transactions after it again.
    damage_pending: bool,
    /// Held by the writer for as long as the spool is open.
    _lock: Option<snapshot::WriterLock>,
}

/// The FORMAT_DESCRIPTION event a segment starts with, as stored (what a reader of the
/// segment's transactions needs first).
pub fn segment_fde(path: &Path) -> Result<Vec<u8>, SpoolError> {
    segment::read_fde(path).map(|(bytes, _)| bytes)
}

pub(crate) fn epoch_dir(root: &Path, id: u32) -> PathBuf {
    root.join(format!("epoch-{id:04}"))
}

impl Spool {
    /// Open or create the spool in `cfg.dir` to write it. Recovers from a crash: cuts a torn
    /// tail or an incomplete last transaction from the segment being written, rebuilds
    /// missing or damaged indexes, so that only complete transactions count as held. Refused
    /// ([`SpoolError::Locked`]) while another process has it open for writing; readers use
    /// [`Spool::open_read_only`].
    pub fn open(cfg: SpoolConfig) -> Result<Spool, SpoolError> {
        lifecycle::open(cfg)
    }

    /// What `open` repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Where to ask the master to continue: right after the last complete transaction held.
    /// `None` before the first `begin` of a fresh spool.
    pub fn resume_point(&self) -> Option<ResumePoint> {
        let cont = self.cont.as_ref()?;
        Some(match cont.mode {
            Mode::MysqlGtid => ResumePoint::MySqlGtids(self.mysql_executed.clone()),
            Mode::MariadbGtid => ResumePoint::MariaDbGtids(self.mariadb_executed.clone()),
            Mode::Position => {
                let epoch = cont.epochs.last()?;
                let start = parse_point(&epoch.start).ok()?;
                let StartPoint::FilePos { file, pos } = start else {
                    return None;
                };
                let last = self.epochs.last().and_then(|e| {
                    e.segments.iter().rev().find_map(|s| {
                        s.last
                            .as_ref()
                            .map(|l| (s.master_file.clone(), l.master_end))
                    })
                });
                match last {
                    Some((lf, lp))
                        if coverage::cmp_coords(&lf, lp, &file, pos).is_some_and(|o| o.is_ge()) =>
                    {
                        ResumePoint::FilePos { file: lf, pos: lp }
                    }
                    _ => ResumePoint::FilePos { file, pos },
                }
            }
        })
    }

    /// Every transaction held, oldest first, streamed from the indexes. An item is an error
    /// when an index cannot be read (the iteration stops there).
    pub fn transactions(&self) -> TxnIter<'_> {
        TxnIter::new(self)
    }

    /// The transactions held that `target` lacks, in order. Check
    /// [`Spool::coverage_for`] first: this lists what the spool has, not what it may lack.
    pub fn transactions_missing_from<'a>(
        &'a self,
        target: &'a TargetPosition,
    ) -> impl Iterator<Item = Result<TxnRecord, SpoolError>> + 'a {
        self.transactions()
            .filter(move |r| r.as_ref().map_or(true, |t| self.target_lacks(target, t)))
    }

    /// What `gapfill status` shows.
    pub fn status(&self) -> SpoolStatus {
        let brief = |s: &SegmentState, r: &IndexRecord| TxnBrief {
            gtid: r.gtid.clone(),
            master_file: s.master_file.clone(),
            master_start: r.master_start,
            master_end: r.master_end,
            commit_ts_us: r.commit_ts_us,
        };
        let mut epochs = Vec::new();
        for e in &self.epochs {
            let first = e
                .segments
                .iter()
                .find_map(|s| s.first.as_ref().map(|r| brief(s, r)));
            let last = e
                .segments
                .iter()
                .rev()
                .find_map(|s| s.last.as_ref().map(|r| brief(s, r)));
            epochs.push(EpochStatus {
                id: e.id,
                master: e.master.clone(),
                dir: e.dir.clone(),
                segments: e.segments.len(),
                bytes: e.segments.iter().map(|s| s.bytes + s.index_bytes).sum(),
                txns: e.segments.iter().map(|s| s.txns).sum(),
                first,
                last,
            });
        }
        let breaks = self
            .cont
            .as_ref()
            .map(|c| {
                c.breaks
                    .iter()
                    .map(|b| BreakInfo {
                        at: b.at,
                        epoch: b.epoch,
                        reason: b.reason.clone(),
                        held_until: b
                            .held_until
                            .as_ref()
                            .and_then(|p| parse_point(p).ok())
                            .map(|p| continuity::start_to_resume(&p)),
                        resumed_from: b.resumed_from.as_ref().and_then(|p| parse_point(p).ok()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        SpoolStatus {
            dir: self.cfg.dir.clone(),
            mode: self.cont.as_ref().map_or("empty", |c| c.mode.name()),
            origin: self.cont.as_ref().map(|c| c.origin_point().to_string()),
            current_master: self.epochs.last().map(|e| e.master.clone()),
            first: epochs.iter().find_map(|e| e.first.clone()),
            last: epochs.iter().rev().find_map(|e| e.last.clone()),
            txns: epochs.iter().map(|e| e.txns).sum(),
            bytes: epochs.iter().map(|e| e.bytes).sum(),
            segments: epochs.iter().map(|e| e.segments).sum(),
            epochs,
            breaks,
            resume_point: self.resume_point(),
        }
    }

    /// Start point of the epoch `id` as recorded (position mode: where continuity holds from
    /// on that master).
    pub(crate) fn epoch_start(&self, id: u32) -> Option<StartPoint> {
        let c = self.cont.as_ref()?;
        let e = c.epochs.iter().find(|e| e.id == id)?;
        parse_point(&e.start).ok()
    }

    pub(crate) fn point_text(p: &PointJson) -> String {
        parse_point(p).map(|p| p.to_string()).unwrap_or_default()
    }
}

/// Why `alias` cannot name a cluster's spool directory, if it cannot: the one check of
/// cluster aliases (from the configuration, orchestrator's API, the hook's `--cluster`, a
/// peer's request), since an alias becomes a directory name under the spool root.
pub fn check_alias(alias: &str) -> Result<(), String> {
    let why = if alias.is_empty() {
        "it is empty"
    } else if alias.len() > 200 {
        "it is longer than 200 bytes"
    } else if alias.contains(['/', '\\']) {
        "it holds a path separator"
    } else if alias.starts_with('.') {
        "it starts with a dot ('.', '..' and hidden names are refused)"
    } else if alias.starts_with('-') {
        "it starts with '-' (it would read as an option)"
    } else if alias.chars().any(|c| c.is_control()) {
        "it holds a NUL or another control character"
    } else {
        return Ok(());
    };
    Err(format!(
        "cluster alias {alias:?} cannot name a spool directory: {why}; fix the alias \
         (orchestrator's DetectClusterAliasQuery or the [[cluster]] entry)"
    ))
}

/// The directory of the spool of cluster `alias` under `root`, after [`check_alias`].
pub fn cluster_dir(root: &Path, alias: &str) -> Result<PathBuf, String> {
    check_alias(alias)?;
    Ok(root.join(alias))
}

/// The stream record of a spool directory: every recorded dump session, oldest first.
pub fn stream_records(dir: &Path) -> Vec<StreamRecord> {
    StreamLog::read(dir)
}

/// Whether a process holds `dir`'s spool open for writing right now (a daemon or capture).
pub fn writer_alive(dir: &Path) -> bool {
    snapshot::WriterLock::is_held(dir)
}

impl Spool {
    /// A dump session connected to the current epoch's master (call right after
    /// [`Spool::begin`]); `semisync` is what the master said about semi-sync when the session
    /// asked for it; `acks_unsynced`: its acknowledgements go out before an fsync
    /// (`--semi-sync-ack received`). Durable when this returns.
    pub fn stream_begin(
        &mut self,
        semisync: Option<SemiSyncFacts>,
        acks_unsynced: bool,
    ) -> Result<(), SpoolError> {
        self.refuse_if_read_only("stream_begin")?;
        let (epoch, master) = match self.epochs.last() {
            Some(e) => (e.id, e.master.clone()),
            None => {
                return Err(SpoolError::NotBegun {
                    what: "stream_begin",
                });
            }
        };
        let at = match self.resume_point() {
            Some(ResumePoint::FilePos { file, pos }) => (file, pos),
            _ => (String::new(), 0),
        };
        match self.streams.as_mut() {
            Some(s) => s.begin(epoch, &master, semisync, acks_unsynced, at),
            None => Ok(()),
        }
    }

    /// One packet of the session (after [`Spool::append`] for events): the liveness, commit
    /// and semi-sync facts of the stream record, written at most once a second. The first
    /// heartbeat or commit after a damage break closes it: the master served the stream from
    /// the spool's resume point again, so the damage lost nothing.
    pub fn stream_observe(&mut self, seen: Seen<'_>, pos: (&[u8], u64)) -> Result<(), SpoolError> {
        if self.damage_pending && matches!(seen, Seen::Heartbeat | Seen::Commit { .. }) {
            self.damage_pending = false;
            if let Some(resume) = self.resume_point() {
                self.resolve_break(&continuity::resume_to_start(&resume))?;
                tracing::info!(
                    spool = %self.cfg.dir.display(),
                    "spool: the master served the transactions the damage had cut again; the break is closed with nothing lost"
                );
            }
        }
        let Some(s) = self.streams.as_mut() else {
            return Ok(());
        };
        s.observe(seen, pos, stream_log::now_us());
        s.maybe_persist()
    }

    /// A semi-sync acknowledgement went out.
    pub fn stream_acked(&mut self) {
        if let Some(s) = self.streams.as_mut() {
            s.acked();
        }
    }

    /// The session ended; durable when this returns.
    pub fn stream_end(&mut self, cause: EndCause, detail: &str) -> Result<(), SpoolError> {
        match self.streams.as_mut() {
            Some(s) => s.end(cause, detail),
            None => Ok(()),
        }
    }

    /// The latest session (connected or ended).
    pub fn stream_last(&self) -> Option<&StreamRecord> {
        self.streams.as_ref().and_then(|s| s.sessions().back())
    }
}

#[cfg(test)]
mod alias_tests {
    use super::*;

    #[test]
    fn aliases_that_would_escape_or_hide_are_refused() {
        for ok in [
            "main",
            "sandbox97",
            "127.0.0.1:3306",
            "db cluster",
            "a.b",
            "ünï",
        ] {
            assert!(check_alias(ok).is_ok(), "{ok}");
            assert_eq!(
                cluster_dir(Path::new("/s"), ok).unwrap(),
                Path::new("/s").join(ok)
            );
        }
        for bad in [
            "", ".", "..", "../evil", "a/b", "a\\b", ".hidden", "-x", "a\0b", "a\nb", "a\u{7f}",
        ] {
            let e = check_alias(bad).unwrap_err();
            assert!(e.contains("cannot name a spool directory"), "{bad:?}: {e}");
        }
        assert!(check_alias(&"x".repeat(201)).is_err());
    }
}
