//! Opening a spool to read while another process may be writing it.
//!
//! Owns [`Spool::open_read_only`] and the writer's lock. The capture (or daemon) that appends
//! to a spool holds an exclusive lock on `spool.lock` for as long as it has the spool open;
//! a second writer is refused instead of interleaving appends. A reader, such as the fill
//! hook running while the daemon keeps capturing, does not repair anything: it takes what
//! the indexes say was complete when it opened, and ignores what follows (a record the
//! writer is halfway through, an index entry whose bytes are not in the segment yet). It
//! never writes, so it never disturbs the writer. Recovery that rewrites files stays in
//! `lifecycle.rs`, for the writer.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_gtid::MariadbGtidPos;

use super::continuity::{Continuity, master_info, parse_point};
use super::index::{Entry, IndexReader, ReadEntry};
use super::recovery::SegmentAcc;
use super::{
    EpochState, FsyncPolicy, RecoveryReport, Retention, SegmentState, Spool, SpoolConfig,
    SpoolError, StartPoint, epoch_dir,
};

/// The exclusive lock of the process writing a spool; dropped (or the process gone), the
/// kernel releases it.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

impl WriterLock {
    pub(crate) fn path(dir: &Path) -> PathBuf {
        dir.join("spool.lock")
    }

    /// Whether another process holds the lock now (taken and released at once otherwise).
    pub(crate) fn is_held(dir: &Path) -> bool {
        let Ok(file) = OpenOptions::new()
            .read(true)
            .write(true)
            .open(WriterLock::path(dir))
        else {
            return false;
        };
        matches!(file.try_lock(), Err(TryLockError::WouldBlock))
    }

    /// Take the lock or say who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<WriterLock, SpoolError> {
        let path = WriterLock::path(dir);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(SpoolError::io("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(SpoolError::Locked {
                    dir: dir.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(SpoolError::io("lock", &path)(e)),
        }
        file.set_len(0).map_err(SpoolError::io("truncate", &path))?;
        let _ = writeln!(file, "pid {}", std::process::id());
        Ok(WriterLock { _file: file })
    }
}

impl Spool {
    /// A spool holding nothing yet: the writer's (with its lock) or a reader's (without).
    pub(crate) fn empty(cfg: SpoolConfig, lock: Option<WriterLock>) -> Spool {
        Spool {
            cfg,
            cont: None,
            epochs: Vec::new(),
            mysql_executed: GtidSet::new(),
            mariadb_executed: MariadbGtidPos::new(),
            live: None,
            begun: false,
            pending_rotate: None,
            dedupe: false,
            last_sync: Instant::now(),
            unsynced: false,
            fsyncs: 0,
            recovery: RecoveryReport::default(),
            read_only: lock.is_none(),
            streams: None,
            damage_pending: false,
            _lock: lock,
        }
    }

    /// Open a spool for reading only, beside a writer that may be appending to it: a
    /// consistent view of the transactions complete when it opened. Nothing is repaired or
    /// written; a damaged index of a closed segment is an error (the writer's next open
    /// rebuilds it). A directory without a spool reads as an empty spool.
    pub fn open_read_only(dir: &Path) -> Result<Spool, SpoolError> {
        let cfg = SpoolConfig {
            dir: dir.to_path_buf(),
            fsync: FsyncPolicy::Never,
            retention: Retention {
                keep: Duration::MAX,
                max_bytes: None,
            },
        };
        let mut spool = Spool::empty(cfg, None);
        if !dir.is_dir() {
            return Ok(spool);
        }
        let Some(cont) = Continuity::load(dir)? else {
            return Ok(spool);
        };
        match parse_point(&cont.origin.start) {
            Ok(StartPoint::MySqlGtids(s)) => spool.mysql_executed = s,
            Ok(StartPoint::MariaDbGtids(p)) => spool.mariadb_executed = p,
            _ => {}
        }
        let n_epochs = cont.epochs.len();
        for (ei, ej) in cont.epochs.iter().enumerate() {
            let edir = epoch_dir(dir, ej.id);
            let mut state = EpochState {
                id: ej.id,
                dir: edir.clone(),
                master: master_info(&ej.master),
                segments: Vec::new(),
            };
            let n_segs = ej.segments.len();
            for (si, sj) in ej.segments.iter().enumerate() {
                let path = edir.join(&sj.name);
                let index_path = edir.join("index").join(format!("{}.gfi", sj.name));
                let is_live = ei + 1 == n_epochs && si + 1 == n_segs;
                let bytes = match std::fs::metadata(&path) {
                    Ok(m) => m.len(),
                    // Listed, not created yet (or just cut away by the writer).
                    Err(_) if is_live => continue,
                    Err(_) => return Err(SpoolError::MissingSegment { path }),
                };
                let acc = read_index(&index_path, bytes, is_live)?;
                spool.mysql_executed.union_with(&acc.mysql);
                spool.mariadb_executed = spool.mariadb_executed.union(&acc.mariadb);
                state.segments.push(SegmentState {
                    name: sj.name.clone(),
                    master_file: sj.master_file.clone(),
                    bytes,
                    index_bytes: std::fs::metadata(&index_path).map_or(0, |m| m.len()),
                    path,
                    index_path,
                    txns: acc.txns,
                    first: acc.first,
                    last: acc.last,
                });
            }
            spool.epochs.push(state);
        }
        spool.cont = Some(cont);
        Ok(spool)
    }

    /// Whether this spool was opened with [`Spool::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub(crate) fn refuse_if_read_only(&self, what: &'static str) -> Result<(), SpoolError> {
        if self.read_only {
            return Err(SpoolError::ReadOnly {
                dir: self.cfg.dir.clone(),
                what,
            });
        }
        Ok(())
    }
}

/// The complete transactions an index lists whose bytes are in the segment's first
/// `segment_len` bytes. For the segment being written, a torn or missing tail is where the
/// writer is; for a closed one it is damage.
fn read_index(index: &Path, segment_len: u64, live: bool) -> Result<SegmentAcc, SpoolError> {
    let mut acc = SegmentAcc::default();
    let Some(mut r) = IndexReader::open(index)? else {
        if live {
            return Ok(acc);
        }
        return Err(SpoolError::CorruptIndex {
            path: index.to_path_buf(),
            offset: 0,
            detail: "the index of a closed segment is missing".into(),
        });
    };
    loop {
        match r.next_entry()? {
            ReadEntry::Entry {
                entry: Entry::Txn(t),
                ..
            } => {
                if t.local_end > segment_len {
                    return Ok(acc);
                }
                acc.add(&t);
            }
            ReadEntry::Entry { .. } | ReadEntry::End => return Ok(acc),
            ReadEntry::Damaged { .. } if live => return Ok(acc),
            ReadEntry::Damaged { offset, detail } => {
                return Err(SpoolError::CorruptIndex {
                    path: index.to_path_buf(),
                    offset,
                    detail,
                });
            }
        }
    }
}
