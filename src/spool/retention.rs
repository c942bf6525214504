//! Dropping old segments, and moving the continuity origin honestly when it happens.
//!
//! Owns the retention rule: keep at least `keep` of history measured back from the newest
//! commit held (or from now, if the newest commit claims to be in the future), drop only
//! whole segments, oldest first, never the segment being written, and drop more (still
//! oldest first) while the bytes held exceed `max_bytes`. Every dropped transaction joins the
//! origin (GTID modes) or moves the epoch's start past it (position mode), so coverage never
//! claims what is gone. `spool.json` is rewritten before any file is deleted: a crash in
//! between leaves unlisted files, never a listed hole.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::continuity::{Mode, parse_point, start_json, unix_secs};
use super::coverage::cmp_coords;
use super::index::{Entry, IndexReader, ReadEntry};
use super::segment::fsync_dir;
use super::types::TxnGtid;
use super::{EpochState, Spool, SpoolError, StartPoint};

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub dropped_segments: Vec<PathBuf>,
    pub dropped_txns: u64,
    pub dropped_bytes: u64,
    /// The continuity origin after the pass, when it moved (text form).
    pub new_origin: Option<String>,
    /// Bytes (segments and indexes) held after the pass.
    pub bytes_held: u64,
    /// Still above `max_bytes`: only the segment being written is left.
    pub over_cap: bool,
}

/// How many segments, counted from the oldest across epochs, to drop.
pub(crate) fn plan(
    epochs: &[EpochState],
    keep: Duration,
    max_bytes: Option<u64>,
    now_us: u64,
) -> usize {
    let segs: Vec<_> = epochs.iter().flat_map(|e| e.segments.iter()).collect();
    let droppable = segs.len().saturating_sub(1); // never the segment being written
    let newest = segs
        .iter()
        .filter_map(|s| s.last.as_ref())
        .map(|l| l.commit_ts_us)
        .max();
    let by_time = match newest {
        None => 0,
        Some(newest) => {
            let cutoff = newest.min(now_us).saturating_sub(keep.as_micros() as u64);
            segs.iter()
                .take(droppable)
                .take_while(|s| s.last.as_ref().is_none_or(|l| l.commit_ts_us < cutoff))
                .count()
        }
    };
    let mut by_bytes = 0;
    if let Some(max) = max_bytes {
        let mut total: u64 = segs.iter().map(|s| s.bytes + s.index_bytes).sum();
        while total > max && by_bytes < droppable {
            total -= segs[by_bytes].bytes + segs[by_bytes].index_bytes;
            by_bytes += 1;
        }
    }
    by_time.max(by_bytes)
}

impl Spool {
    /// Drop whole segments outside the retention window or over the byte cap, moving the
    /// continuity origin past every transaction dropped.
    pub fn enforce_retention(&mut self, now: SystemTime) -> Result<RetentionReport, SpoolError> {
        self.refuse_if_read_only("enforce_retention")?;
        let now_us = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let r = self.cfg.retention;
        let n = plan(&self.epochs, r.keep, r.max_bytes, now_us);
        let mut report = RetentionReport::default();
        if n > 0 {
            self.drop_oldest(n, unix_secs(now), &mut report)?;
        }
        report.bytes_held = self
            .epochs
            .iter()
            .flat_map(|e| e.segments.iter())
            .map(|s| s.bytes + s.index_bytes)
            .sum();
        report.over_cap = r.max_bytes.is_some_and(|m| report.bytes_held > m);
        if report.over_cap {
            tracing::warn!(held = report.bytes_held, cap = ?r.max_bytes, "spool: above the byte cap, but only the segment being written is left");
        }
        Ok(report)
    }

    fn drop_oldest(
        &mut self,
        n: usize,
        now: u64,
        report: &mut RetentionReport,
    ) -> Result<(), SpoolError> {
        let Some(mode) = self.cont.as_ref().map(|c| c.mode) else {
            return Ok(());
        };
        let mut origin =
            self.cont
                .as_ref()
                .map(|c| c.origin_point())
                .unwrap_or(StartPoint::FilePos {
                    file: String::new(),
                    pos: 0,
                });
        // Per epoch id: the last dropped transaction's (file, end).
        let mut epoch_moves: Vec<(u32, String, u64)> = Vec::new();
        let mut victims = Vec::new();
        let mut left = n;
        for e in &self.epochs {
            for s in &e.segments {
                if left == 0 {
                    break;
                }
                left -= 1;
                victims.push((e.id, s.clone()));
            }
        }
        for (epoch, s) in &victims {
            report.dropped_txns += s.txns;
            report.dropped_bytes += s.bytes + s.index_bytes;
            if s.txns == 0 {
                continue;
            }
            let Some(mut r) = IndexReader::open(&s.index_path)? else {
                return Err(SpoolError::CorruptIndex {
                    path: s.index_path.clone(),
                    offset: 0,
                    detail: "missing while retention needs it to move the origin".into(),
                });
            };
            loop {
                match r.next_entry()? {
                    ReadEntry::Entry {
                        entry: Entry::Txn(t),
                        ..
                    } => match (&mut origin, &t.gtid) {
                        (StartPoint::MySqlGtids(o), Some(TxnGtid::MySql(g))) => {
                            let _ = o.add(g);
                        }
                        (StartPoint::MariaDbGtids(o), Some(TxnGtid::MariaDb(g))) => {
                            o.update(g);
                        }
                        _ => {}
                    },
                    ReadEntry::Entry { .. } | ReadEntry::End => break,
                    ReadEntry::Damaged { offset, detail } => {
                        return Err(SpoolError::CorruptIndex {
                            path: s.index_path.clone(),
                            offset,
                            detail,
                        });
                    }
                }
            }
            if let Some(l) = &s.last {
                epoch_moves.retain(|m| m.0 != *epoch);
                epoch_moves.push((*epoch, s.master_file.clone(), l.master_end));
            }
        }
        // Record first, delete after.
        let last_epoch = self.epochs.last().map(|e| e.id);
        if let Some(c) = self.cont.as_mut() {
            for (epoch, file, end) in &epoch_moves {
                if let Some(ej) = c.epochs.iter_mut().find(|e| e.id == *epoch) {
                    let later = match parse_point(&ej.start) {
                        Ok(StartPoint::FilePos { file: f, pos }) => {
                            cmp_coords(file, *end, &f, pos).is_none_or(|o| o.is_gt())
                        }
                        _ => true,
                    };
                    if mode == Mode::Position && later {
                        ej.start = start_json(&StartPoint::FilePos {
                            file: file.clone(),
                            pos: *end,
                        });
                    }
                }
            }
            let mut left = n;
            for ej in c.epochs.iter_mut() {
                let k = left.min(ej.segments.len());
                ej.segments.drain(..k);
                left -= k;
            }
            c.epochs
                .retain(|e| !e.segments.is_empty() || Some(e.id) == last_epoch);
            if mode == Mode::Position {
                if let Some(first) = c.epochs.first() {
                    c.origin.start = first.start.clone();
                    c.origin.epoch = first.id;
                }
            } else {
                c.origin.start = start_json(&origin);
            }
            if report.dropped_txns > 0 {
                c.origin.advanced_by_retention += 1;
                c.origin.last_advanced_at = Some(now);
                report.new_origin = Some(c.origin_point().to_string());
            }
            c.save(&self.cfg.dir)?;
        }
        for (_, s) in &victims {
            let _ = std::fs::remove_file(&s.path);
            let _ = std::fs::remove_file(&s.index_path);
            report.dropped_segments.push(s.path.clone());
        }
        let mut left = n;
        for e in self.epochs.iter_mut() {
            let k = left.min(e.segments.len());
            e.segments.drain(..k);
            left -= k;
            if k > 0 {
                fsync_dir(&e.dir)?;
            }
        }
        let mut gone = Vec::new();
        self.epochs.retain(|e| {
            let keep = !e.segments.is_empty() || Some(e.id) == last_epoch;
            if !keep {
                gone.push(e.dir.clone());
            }
            keep
        });
        for d in gone {
            let _ = std::fs::remove_dir_all(&d);
        }
        if !report.dropped_segments.is_empty() {
            fsync_dir(&self.cfg.dir)?;
        }
        tracing::info!(
            segments = report.dropped_segments.len(),
            txns = report.dropped_txns,
            bytes = report.dropped_bytes,
            origin = ?report.new_origin,
            "spool: retention dropped old segments"
        );
        Ok(())
    }
}
