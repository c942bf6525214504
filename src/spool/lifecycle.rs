//! Opening a spool, starting dump sessions and epochs, recording breaks.
//!
//! Owns the order of recovery on open (continuity record, then every segment: closed ones
//! checked or re-indexed, the one being written rescanned and cut), cutting the tail back to
//! the last complete transaction at the start of each dump session, the choice between
//! continuing an epoch and starting one, and the bookkeeping of breaks. Per-segment recovery
//! is `recovery.rs`; event handling is `append.rs`.

use std::time::SystemTime;

use crate::binlog::Flavor;
use crate::binlog::mariadb_gtid::MariadbGtidPos;

use super::continuity::{
    BreakJson, Continuity, EpochJson, Mode, master_info, master_json, parse_point, resume_json,
    start_json, unix_secs,
};
use super::index::{Entry, IndexReader, IndexWriter, ReadEntry};
use super::recorder::Recorder;
use super::recovery::{Cut, load_sealed, recover_live};
use super::segment::{SegmentWriter, fsync_dir, read_fde};
use super::snapshot::WriterLock;
use super::stream_log::StreamLog;
use super::{
    EpochState, Live, MasterInfo, SegmentState, Spool, SpoolConfig, SpoolError, StartPoint,
    epoch_dir,
};

fn file_len(p: &std::path::Path) -> Result<u64, SpoolError> {
    Ok(std::fs::metadata(p)
        .map_err(SpoolError::io("stat", p))?
        .len())
}

pub(super) fn open(cfg: SpoolConfig) -> Result<Spool, SpoolError> {
    std::fs::create_dir_all(&cfg.dir).map_err(SpoolError::io("create directory", &cfg.dir))?;
    let lock = WriterLock::acquire(&cfg.dir)?;
    let streams = StreamLog::open_for_writer(&cfg.dir)?;
    let cont = Continuity::load(&cfg.dir)?;
    let mut spool = Spool::empty(cfg, Some(lock));
    spool.streams = Some(streams);
    let Some(mut cont) = cont else {
        let has_epochs = std::fs::read_dir(&spool.cfg.dir)
            .map_err(SpoolError::io("list", &spool.cfg.dir))?
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("epoch-"));
        if has_epochs {
            return Err(SpoolError::MissingContinuity {
                dir: spool.cfg.dir.clone(),
            });
        }
        return Ok(spool);
    };
    match parse_point(&cont.origin.start) {
        Ok(StartPoint::MySqlGtids(s)) => spool.mysql_executed = s,
        Ok(StartPoint::MariaDbGtids(p)) => spool.mariadb_executed = p,
        _ => {}
    }
    let mut changed = false;
    // Damage that cut transactions the spool had received (not a torn tail).
    let mut damaged: Option<String> = None;
    let n_epochs = cont.epochs.len();
    for (ei, ej) in cont.epochs.iter_mut().enumerate() {
        let dir = epoch_dir(&spool.cfg.dir, ej.id);
        let mut state = EpochState {
            id: ej.id,
            dir: dir.clone(),
            master: master_info(&ej.master),
            segments: Vec::new(),
        };
        let n_segs = ej.segments.len();
        let mut keep = Vec::with_capacity(n_segs);
        for (si, sj) in ej.segments.iter().enumerate() {
            let path = dir.join(&sj.name);
            let index_path = dir.join("index").join(format!("{}.gfi", sj.name));
            let is_live = ei + 1 == n_epochs && si + 1 == n_segs;
            if !path.exists() {
                if is_live {
                    // Listed in spool.json, not created yet when the process stopped.
                    tracing::info!(segment = %path.display(), "spool: dropping a segment that was never created");
                    changed = true;
                    continue;
                }
                return Err(SpoolError::MissingSegment { path });
            }
            let acc = if is_live {
                let r = recover_live(&path, &index_path)?;
                let beyond = r.cut_held.clone();
                if r.index_rebuilt {
                    spool.recovery.rebuilt_indexes.push(index_path.clone());
                }
                if let Some((offset, what)) = &r.scan.damage {
                    tracing::warn!(
                        segment = %path.display(),
                        offset,
                        what = %what,
                        cut_to = r.scan.last_txn_end,
                        "spool: cutting the segment back to its last complete transaction"
                    );
                    spool.recovery.cuts.push(Cut {
                        segment: path.clone(),
                        to: r.scan.last_txn_end,
                        from: r.scan.file_len,
                        reason: format!("{what} at offset {offset}"),
                    });
                    if let (n @ 1.., last) = beyond {
                        damaged = Some(format!(
                            "segment {} damaged ({what} at offset {offset}): {n} complete \
                             transaction(s) received up to {} are no longer held",
                            path.display(),
                            last.as_ref()
                                .and_then(|l| l.gtid.as_ref())
                                .map_or_else(|| "the segment's end".to_string(), |g| g.to_string())
                        ));
                    }
                }
                r.acc
            } else {
                let (acc, rebuilt) = load_sealed(&path, &index_path)?;
                if rebuilt {
                    spool.recovery.rebuilt_indexes.push(index_path.clone());
                }
                acc
            };
            spool.mysql_executed.union_with(&acc.mysql);
            spool.mariadb_executed = spool.mariadb_executed.union(&acc.mariadb);
            state.segments.push(SegmentState {
                name: sj.name.clone(),
                master_file: sj.master_file.clone(),
                bytes: file_len(&path)?,
                index_bytes: file_len(&index_path).unwrap_or(0),
                path,
                index_path,
                txns: acc.txns,
                first: acc.first,
                last: acc.last,
            });
            keep.push(sj.clone());
        }
        ej.segments = keep;
        spool.epochs.push(state);
    }
    let _ = std::fs::remove_file(spool.cfg.dir.join("spool.json.tmp"));
    if changed {
        cont.save(&spool.cfg.dir)?;
    }
    spool.cont = Some(cont);
    spool.cut_back_to_last_txn()?;
    if damaged.is_none() {
        damaged = spool.received_but_not_held();
    }
    if let Some(reason) = damaged {
        tracing::error!(spool = %spool.cfg.dir.display(), %reason, "spool: CONTINUITY BREAK: transactions the capture had received were lost to damage; a fill cannot cover them until capture fetches them again from the master (or a peer supplies them)");
        spool.push_break(reason, unix_secs(SystemTime::now()), true)?;
    }
    Ok(spool)
}

/// Bytes of an index up to (not including) its seal: where appends continue.
fn index_len_without_seal(path: &std::path::Path) -> Result<u64, SpoolError> {
    let Some(mut r) = IndexReader::open(path)? else {
        return Ok(0);
    };
    let mut end = super::index::INDEX_MAGIC.len() as u64;
    loop {
        match r.next_entry()? {
            ReadEntry::Entry {
                entry: Entry::Txn(_),
                next,
                ..
            } => end = next,
            _ => return Ok(end),
        }
    }
}

impl Spool {
    /// Make the tail of the current epoch end right after its last complete transaction:
    /// drop an open transaction, trailing segments that hold no transaction, and trailing
    /// events; reopen the segment holding the last transaction for appending.
    pub(super) fn cut_back_to_last_txn(&mut self) -> Result<(), SpoolError> {
        if let Some(mut live) = self.live.take() {
            live.seg.flush()?;
            live.index.flush()?;
        }
        let Some(epoch) = self.epochs.last_mut() else {
            return Ok(());
        };
        if epoch.segments.is_empty() {
            return Ok(());
        }
        let keep = epoch.segments.iter().rposition(|s| s.txns > 0).unwrap_or(0);
        let mut removed = false;
        while epoch.segments.len() > keep + 1 {
            let Some(s) = epoch.segments.pop() else {
                break;
            };
            tracing::info!(segment = %s.path.display(), "spool: removing a trailing segment without complete transactions");
            self.recovery.cuts.push(Cut {
                segment: s.path.clone(),
                to: 0,
                from: s.bytes,
                reason: "no complete transaction after the last one held".into(),
            });
            let _ = std::fs::remove_file(&s.path);
            let _ = std::fs::remove_file(&s.index_path);
            removed = true;
        }
        if removed {
            fsync_dir(&epoch.dir)?;
            if let Some(c) = self.cont.as_mut() {
                if let Some(ej) = c.epochs.last_mut() {
                    ej.segments.truncate(keep + 1);
                }
                c.save(&self.cfg.dir)?;
            }
        }
        let seg = &mut epoch.segments[keep];
        let (fde_bytes, fde) = read_fde(&seg.path)?;
        let fde_end = 4 + fde_bytes.len() as u64;
        let (len, master_pos) = match &seg.last {
            Some(l) => (l.local_end, l.master_end),
            None => (fde_end, 0),
        };
        let writer = SegmentWriter::reopen(&seg.path, len)?;
        let index_len = index_len_without_seal(&seg.index_path)?;
        let index = if index_len == 0 {
            IndexWriter::create(&seg.index_path)?
        } else {
            IndexWriter::append_at(&seg.index_path, index_len)?
        };
        seg.bytes = len;
        seg.index_bytes = index.len();
        self.live = Some(Live {
            seg: writer,
            index,
            fde_bytes,
            fde,
            rec: Recorder::resume(len, master_pos),
        });
        Ok(())
    }

    /// Begin following `master` for one dump session. See the module docs for the protocol.
    ///
    /// * A fresh spool records `start` as its continuity origin.
    /// * The same master as the current epoch: the session continues the epoch from
    ///   [`Spool::resume_point`]; `start` is used only to close an open break.
    /// * Another master (a failover): a new epoch. With GTIDs it continues from the resume
    ///   point (continuity by GTID); by position, positions of the old master mean nothing
    ///   on the new one, so a break is recorded and the epoch starts at `start`.
    pub fn begin(&mut self, master: &MasterInfo, start: StartPoint) -> Result<(), SpoolError> {
        self.begin_inner(master, start, false)
    }

    /// As [`Spool::begin`], but always starts a new epoch (e.g. after `RESET MASTER`).
    pub fn begin_new_epoch(
        &mut self,
        master: &MasterInfo,
        start: StartPoint,
    ) -> Result<(), SpoolError> {
        self.begin_inner(master, start, true)
    }

    fn begin_inner(
        &mut self,
        master: &MasterInfo,
        start: StartPoint,
        force_new: bool,
    ) -> Result<(), SpoolError> {
        self.refuse_if_read_only("begin")?;
        let now = unix_secs(SystemTime::now());
        let mode = Mode::of(&start);
        let flavor_ok = match mode {
            Mode::MysqlGtid => master.flavor == Flavor::MySql,
            Mode::MariadbGtid => master.flavor == Flavor::MariaDb,
            Mode::Position => true,
        };
        if !flavor_ok {
            return Err(SpoolError::ModeMismatch {
                given: start.to_string(),
                mode: format!("the master's flavor ({:?})", master.flavor),
            });
        }
        self.dedupe = true;
        let Some(cont) = self.cont.as_ref() else {
            let cont = Continuity::new(mode, &start, now);
            match &start {
                StartPoint::MySqlGtids(s) => self.mysql_executed = s.clone(),
                StartPoint::MariaDbGtids(p) => self.mariadb_executed = p.clone(),
                StartPoint::FilePos { .. } => {}
            }
            self.cont = Some(cont);
            self.new_epoch(master, start_json(&start), now)?;
            tracing::info!(origin = %start, master = %master.addr, "spool: continuity starts");
            self.start_session();
            return Ok(());
        };
        if cont.mode != mode {
            return Err(SpoolError::ModeMismatch {
                given: start.to_string(),
                mode: cont.mode.name().into(),
            });
        }
        let same = !force_new
            && self
                .epochs
                .last()
                .is_some_and(|e| e.master.same_server(master));
        if same {
            self.cut_back_to_last_txn()?;
            let open = self.cont.as_ref().and_then(|c| c.open_break());
            if open.is_some_and(|b| b.damage) {
                // Ask the master for what the damage cut; the break closes, with nothing
                // lost, once it serves the stream from there ([`Spool::stream_observe`]).
                self.damage_pending = true;
            } else if open.is_some() {
                self.resolve_break(&start)?;
                if mode == Mode::Position {
                    self.set_epoch_start(&start)?;
                }
            }
            if let Some(e) = self.epochs.last_mut() {
                e.master = master.clone();
            }
            if let Some(c) = self.cont.as_mut() {
                let mj = master_json(master);
                if c.epochs.last().is_some_and(|ej| ej.master != mj) {
                    if let Some(ej) = c.epochs.last_mut() {
                        ej.master = mj;
                    }
                    c.save(&self.cfg.dir)?;
                }
            }
        } else {
            self.close_live()?;
            if mode == Mode::Position {
                if self.cont.as_ref().is_some_and(|c| c.open_break().is_none()) {
                    let old = self.epochs.last().map(|e| e.master.addr.clone());
                    self.push_break(
                        format!(
                            "master changed from {} to {} without GTIDs: positions do not carry over",
                            old.unwrap_or_default(),
                            master.addr
                        ),
                        now,
                        false,
                    )?;
                }
                self.resolve_break(&start)?;
                self.new_epoch(master, start_json(&start), now)?;
            } else {
                if self.cont.as_ref().is_some_and(|c| c.open_break().is_some()) {
                    self.resolve_break(&start)?;
                }
                let from = self
                    .resume_point()
                    .map(|r| resume_json(&r))
                    .unwrap_or(start_json(&start));
                self.new_epoch(master, from, now)?;
            }
            tracing::info!(master = %master.addr, epoch = self.epochs.last().map_or(0, |e| e.id), "spool: new epoch");
        }
        self.start_session();
        Ok(())
    }

    /// The session asks the master for the resume point: by position, that names the file the
    /// first FORMAT_DESCRIPTION belongs to, even if capture filters the artificial ROTATE.
    fn start_session(&mut self) {
        self.pending_rotate = match self.resume_point() {
            Some(super::ResumePoint::FilePos { file, pos }) => Some((file, pos)),
            _ => None,
        };
        self.dedupe = true;
        self.begun = true;
    }

    fn new_epoch(
        &mut self,
        master: &MasterInfo,
        start: super::continuity::PointJson,
        now: u64,
    ) -> Result<(), SpoolError> {
        let id = self.epochs.last().map_or(1, |e| e.id + 1);
        let dir = epoch_dir(&self.cfg.dir, id);
        std::fs::create_dir_all(dir.join("index"))
            .map_err(SpoolError::io("create directory", &dir))?;
        fsync_dir(&dir)?;
        fsync_dir(&self.cfg.dir)?;
        let Some(cont) = self.cont.as_mut() else {
            return Ok(());
        };
        cont.epochs.push(EpochJson {
            id,
            master: master_json(master),
            started_at: now,
            start,
            segments: Vec::new(),
        });
        if self.epochs.is_empty() {
            cont.origin.epoch = id;
        }
        cont.save(&self.cfg.dir)?;
        self.epochs.push(EpochState {
            id,
            dir,
            master: master.clone(),
            segments: Vec::new(),
        });
        Ok(())
    }

    fn set_epoch_start(&mut self, start: &StartPoint) -> Result<(), SpoolError> {
        if let Some(c) = self.cont.as_mut() {
            if let Some(e) = c.epochs.last_mut() {
                e.start = start_json(start);
            }
            c.save(&self.cfg.dir)?;
        }
        Ok(())
    }

    /// Record that continuity broke (e.g. the master purged binlogs the spool needed, error
    /// 1236). The dump session ends; the next `begin` says where capture restarted, and what
    /// lies between is recorded as lost.
    pub fn record_break(&mut self, reason: &str) -> Result<(), SpoolError> {
        self.refuse_if_read_only("record_break")?;
        if self.cont.is_none() {
            return Err(SpoolError::NotBegun {
                what: "record_break",
            });
        }
        self.sync()?;
        self.push_break(reason.to_string(), unix_secs(SystemTime::now()), false)?;
        self.begun = false;
        Ok(())
    }

    /// Open a break (or, when one is open, add this reason to it: a damage break the master
    /// then cannot serve again becomes an ordinary break).
    pub(super) fn push_break(
        &mut self,
        reason: String,
        now: u64,
        damage: bool,
    ) -> Result<(), SpoolError> {
        let held_until = self.resume_point().map(|r| resume_json(&r));
        let epoch = self.epochs.last().map_or(0, |e| e.id);
        tracing::warn!(reason = %reason, epoch, "spool: continuity break recorded");
        self.damage_pending = false;
        let Some(c) = self.cont.as_mut() else {
            return Ok(());
        };
        match c.breaks.last_mut().filter(|b| b.resumed_from.is_none()) {
            Some(open) => {
                open.reason = format!("{}; then {reason}", open.reason);
                open.damage &= damage;
            }
            None => c.breaks.push(BreakJson {
                at: now,
                epoch,
                reason,
                held_until,
                resumed_from: None,
                lost: None,
                damage,
            }),
        }
        c.save(&self.cfg.dir)
    }

    /// The stream record says the current epoch's last session received a commit beyond
    /// what the spool holds after recovery: describe the loss.
    fn received_but_not_held(&self) -> Option<String> {
        let epoch = self.epochs.last()?;
        let rec = self.streams.as_ref()?.sessions().back()?;
        let seen = rec.last_commit.as_ref()?;
        if rec.epoch != epoch.id {
            return None;
        }
        let held = epoch.segments.iter().rev().find_map(|s| {
            s.last
                .as_ref()
                .map(|l| (s.master_file.as_str(), l.master_end))
        });
        let beyond = match held {
            Some((f, p)) => super::coverage::cmp_coords(&seen.master_file, seen.master_end, f, p)
                .is_some_and(|o| o.is_gt()),
            None => true,
        };
        beyond.then(|| {
            format!(
                "the capture received transactions up to {} ({}:{}) that the spool no longer \
                 holds (lost from its segment after they were received)",
                seen.gtid.as_deref().unwrap_or("a transaction"),
                seen.master_file,
                seen.master_end
            )
        })
    }

    /// Close the open break: capture restarted at `start`. In GTID modes whatever `start`
    /// has that the spool does not is lost, and joins the origin (the set assumed unheld).
    pub(super) fn resolve_break(&mut self, start: &StartPoint) -> Result<(), SpoolError> {
        let lost = match start {
            StartPoint::MySqlGtids(s) => {
                let lost = s.subtract(&self.mysql_executed);
                self.mysql_executed.union_with(s);
                Some(StartPoint::MySqlGtids(lost))
            }
            StartPoint::MariaDbGtids(p) => {
                let mut lost = MariadbGtidPos::new();
                for g in p.iter() {
                    if !self.mariadb_executed.contains(g) {
                        lost.set(*g);
                    }
                }
                self.mariadb_executed = self.mariadb_executed.union(p);
                Some(StartPoint::MariaDbGtids(lost))
            }
            StartPoint::FilePos { .. } => None,
        };
        let Some(c) = self.cont.as_mut() else {
            return Ok(());
        };
        match (&lost, parse_point(&c.origin.start)) {
            (Some(StartPoint::MySqlGtids(l)), Ok(StartPoint::MySqlGtids(o))) => {
                c.origin.start = start_json(&StartPoint::MySqlGtids(o.union(l)));
            }
            (Some(StartPoint::MariaDbGtids(l)), Ok(StartPoint::MariaDbGtids(o))) => {
                c.origin.start = start_json(&StartPoint::MariaDbGtids(o.union(l)));
            }
            _ => {}
        }
        if let Some(b) = c.breaks.last_mut() {
            b.resumed_from = Some(start_json(start));
            b.lost = lost.as_ref().map(start_json);
        }
        c.save(&self.cfg.dir)
    }
}
