//! Appending the master's events: the live path.
//!
//! Owns what happens to each event handed to [`Spool::append`]: artificial events (the
//! ROTATE that opens a dump names the next file; the rest are ignored), FORMAT_DESCRIPTION
//! (continue the current segment after a reconnect, or open a segment for a new master file
//! and seal the previous one), skipping what a resumed dump re-sends, cutting an abandoned
//! transaction, storing the bytes, and recording completed transactions in the index and the
//! in-memory summaries. Also the fsync policy. Recovery and epochs are `lifecycle.rs`.

use std::time::Instant;

use crate::binlog::header::HEADER_LEN;
use crate::binlog::{EventType, FormatDescription};

use super::continuity::SegmentJson;
use super::index::{Entry, IndexRecord, IndexWriter};
use super::recorder::Recorder;
use super::segment::{SegmentWriter, fsync_dir, read_fde, same_fde};
use super::types::TxnGtid;
use super::{Appended, FsyncPolicy, Live, SegmentState, Spool, SpoolError};
use crate::binlog::framer::{Kind, inspect};

impl Spool {
    /// Append one event exactly as received from the master (header to CRC32). Returns
    /// [`Appended::Commit`] when it completed a transaction, which the spool now holds.
    /// Nothing is stored when an error is returned.
    pub fn append(&mut self, event: &[u8]) -> Result<Appended, SpoolError> {
        if !self.begun {
            return Err(SpoolError::NotBegun { what: "append" });
        }
        if self.live.is_none() && event.len() >= HEADER_LEN && !matches!(event[4], 4 | 15) {
            return Err(SpoolError::NoFormatDescription {
                event: EventType::from_u8(event[4]).name(),
            });
        }
        let fde = self.live.as_ref().map(|l| &l.fde);
        let facts = inspect(event, fde, true).map_err(|e| SpoolError::BadEvent {
            detail: e.to_string(),
        })?;
        if facts.is_artificial() {
            if let Kind::Rotate { pos, next_file } = facts.kind {
                self.pending_rotate = Some((next_file, pos));
            }
            return Ok(Appended::Partial);
        }
        if let Kind::FormatDescription(d) = facts.kind {
            self.on_format_description(event, *d)?;
            return Ok(Appended::Partial);
        }
        let Some(live) = self.live.as_mut() else {
            return Err(SpoolError::NoFormatDescription {
                event: facts.header.event_type.name(),
            });
        };
        let log_pos = u64::from(facts.header.log_pos);
        if self.dedupe {
            if log_pos != 0 && log_pos <= live.rec.master_pos {
                tracing::trace!(log_pos, "spool: skipping an event already held");
                return Ok(Appended::Partial);
            }
            self.dedupe = false;
        }
        if let Kind::Rotate { pos, next_file } = &facts.kind {
            self.pending_rotate = Some((next_file.clone(), *pos));
        }
        let fed = live.rec.feed(&facts, live.seg.len(), true);
        if let Some(from) = fed.abandoned_from {
            tracing::warn!(
                segment = %live.seg.path().display(),
                from,
                "spool: an incomplete transaction was abandoned by the stream; cutting it"
            );
            live.seg.truncate(from)?;
        }
        live.seg.write(event)?;
        self.unsynced = true;
        let Some(record) = fed.record else {
            return Ok(Appended::Partial);
        };
        live.index.push(&Entry::Txn(record.clone()));
        live.seg.flush()?;
        live.index.flush()?;
        let (seg_len, index_len) = (live.seg.len(), live.index.len());
        let master_file = self.note_commit(&record, seg_len, index_len);
        let durable = self.cfg.fsync == FsyncPolicy::Always;
        if durable {
            self.sync_data()?;
        }
        Ok(Appended::Commit {
            gtid: record.gtid,
            master_file,
            master_end: record.master_end,
            commit_ts_us: record.commit_ts_us,
            durable,
        })
    }

    /// Update the in-memory summaries after a commit; returns the master file.
    fn note_commit(&mut self, r: &IndexRecord, seg_len: u64, index_len: u64) -> String {
        match &r.gtid {
            Some(TxnGtid::MySql(g)) => {
                let _ = self.mysql_executed.add(g);
            }
            Some(TxnGtid::MariaDb(g)) => {
                self.mariadb_executed.update(g);
            }
            None => {}
        }
        let Some(seg) = self.epochs.last_mut().and_then(|e| e.segments.last_mut()) else {
            return String::new();
        };
        seg.txns += 1;
        if seg.first.is_none() {
            seg.first = Some(r.clone());
        }
        seg.last = Some(r.clone());
        seg.bytes = seg_len;
        seg.index_bytes = index_len;
        seg.master_file.clone()
    }

    fn on_format_description(
        &mut self,
        event: &[u8],
        fde: FormatDescription,
    ) -> Result<(), SpoolError> {
        let named = self.pending_rotate.take();
        let live_file = self
            .epochs
            .last()
            .and_then(|e| e.segments.last())
            .map(|s| s.master_file.clone());
        if let (Some(live), Some(live_file)) = (self.live.as_ref(), live_file.as_ref()) {
            let same_name = named.as_ref().is_none_or(|(f, _)| f == live_file);
            if same_name && same_fde(&live.fde_bytes, event) {
                // The dump (re)started inside the file the current segment mirrors.
                self.dedupe = true;
                return Ok(());
            }
        }
        let Some((file, pos)) = named else {
            return Err(SpoolError::UnknownFile);
        };
        // A file this epoch already has: the stream went back, or the master's binlog was
        // reset and reuses the name.
        let mut name = file.clone();
        if let Some(e) = self.epochs.last() {
            if let Some(s) = e.segments.iter().find(|s| s.master_file == file)
                && let Ok((bytes, _)) = read_fde(&s.path)
                && same_fde(&bytes, event)
            {
                return Err(SpoolError::StreamWentBack { file });
            }
            let mut n = 1;
            while e.segments.iter().any(|s| s.name == name) {
                n += 1;
                name = format!("{file}~{n}");
            }
        }
        let header_pos = u64::from(u32::from_le_bytes([
            event[13], event[14], event[15], event[16],
        ]));
        let start_pos = if header_pos != 0 && pos <= 4 {
            header_pos
        } else {
            pos
        };
        self.open_segment(&name, &file, event, fde, start_pos)
    }

    /// Seal the current segment and start a new one for master file `file`.
    fn open_segment(
        &mut self,
        name: &str,
        file: &str,
        fde_event: &[u8],
        fde: FormatDescription,
        master_pos: u64,
    ) -> Result<(), SpoolError> {
        self.close_live()?;
        let Some(epoch) = self.epochs.last_mut() else {
            return Err(SpoolError::NotBegun { what: "append" });
        };
        let path = epoch.dir.join(name);
        let index_dir = epoch.dir.join("index");
        let index_path = index_dir.join(format!("{name}.gfi"));
        std::fs::create_dir_all(&index_dir)
            .map_err(SpoolError::io("create directory", &index_dir))?;
        // List it first: a listed segment that was never created is dropped on open, an
        // unlisted file would be garbage nobody knows about.
        if let Some(c) = self.cont.as_mut() {
            if let Some(ej) = c.epochs.last_mut() {
                ej.segments.push(SegmentJson {
                    name: name.to_string(),
                    master_file: file.to_string(),
                });
            }
            c.save(&self.cfg.dir)?;
        }
        let _ = std::fs::remove_file(&path);
        let mut seg = SegmentWriter::create(&path, fde_event)?;
        seg.sync()?;
        let mut index = IndexWriter::create(&index_path)?;
        index.sync()?;
        fsync_dir(&epoch.dir)?;
        fsync_dir(&index_dir)?;
        tracing::info!(segment = %path.display(), master_file = file, "spool: new segment");
        let fde_end = seg.len();
        epoch.segments.push(SegmentState {
            name: name.to_string(),
            master_file: file.to_string(),
            path,
            index_path,
            bytes: fde_end,
            index_bytes: index.len(),
            txns: 0,
            first: None,
            last: None,
        });
        self.live = Some(Live {
            seg,
            index,
            fde_bytes: fde_event.to_vec(),
            fde,
            rec: Recorder::new(fde_end, master_pos),
        });
        self.dedupe = false;
        debug_assert!(fde_event.len() >= HEADER_LEN);
        Ok(())
    }

    /// Seal and close the segment being written (rotation, epoch change). An incomplete
    /// transaction at its end is cut: it can never complete in this file.
    pub(super) fn close_live(&mut self) -> Result<(), SpoolError> {
        let Some(mut live) = self.live.take() else {
            return Ok(());
        };
        if let Some(from) = live.rec.abandon() {
            tracing::warn!(segment = %live.seg.path().display(), from, "spool: cutting an incomplete transaction at the end of a segment");
            live.seg.truncate(from)?;
        }
        live.seg.sync()?;
        let len = live.seg.len();
        let txns = self
            .epochs
            .last()
            .and_then(|e| e.segments.last())
            .map_or(0, |s| s.txns);
        live.index.push(&Entry::Seal {
            segment_len: len,
            txns,
        });
        live.index.sync()?;
        if let Some(s) = self.epochs.last_mut().and_then(|e| e.segments.last_mut()) {
            s.bytes = len;
            s.index_bytes = live.index.len();
        }
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(())
    }

    /// Make everything appended so far durable: segment data first, then its index. Capture
    /// sends a semi-sync ACK only after this returns.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if let Some(live) = self.live.as_mut() {
            live.seg.sync()?;
            self.fsyncs += 1;
            live.index.sync()?;
        }
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(())
    }

    /// Make the segment's bytes durable, not its index: what a semi-sync acknowledgement and
    /// `FsyncPolicy::Always` promise. The index of the segment being written is always
    /// rebuilt from the segment when the spool opens after a crash, so its durability adds
    /// nothing to the promise (one fsync per commit instead of two).
    pub fn sync_data(&mut self) -> Result<(), SpoolError> {
        if let Some(live) = self.live.as_mut() {
            live.seg.sync()?;
            self.fsyncs += 1;
            live.index.flush()?;
        }
        // What the policies promise is durable now; the index follows at rotation and close.
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(())
    }

    /// How many times the live segment was fsynced since this spool was opened.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs
    }

    /// Hand everything appended so far to the kernel, without an fsync: what a `received`
    /// semi-sync acknowledgement promises (a crash of this process loses none of it).
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        if let Some(live) = self.live.as_mut() {
            live.seg.flush()?;
            live.index.flush()?;
        }
        Ok(())
    }

    /// Sync and close (a clean shutdown). Dropping a spool only flushes to the kernel.
    pub fn close(mut self) -> Result<(), SpoolError> {
        self.sync()
    }

    /// Apply the fsync policy: sync when `Interval(d)` has elapsed since the last sync (or
    /// anything is unsynced under `Always`). Returns whether it synced.
    pub fn maybe_sync(&mut self) -> Result<bool, SpoolError> {
        let due = match self.cfg.fsync {
            FsyncPolicy::Always => self.unsynced,
            FsyncPolicy::Interval(d) => self.unsynced && self.last_sync.elapsed() >= d,
            FsyncPolicy::Never => false,
        };
        if due {
            self.sync()?;
        }
        Ok(due)
    }
}

impl Drop for Spool {
    /// Hand buffered bytes to the kernel so a clean exit loses nothing a process crash would
    /// not; durability is `sync`'s job.
    fn drop(&mut self) {
        if let Some(live) = self.live.as_mut() {
            let _ = live.seg.flush();
            let _ = live.index.flush();
        }
    }
}
