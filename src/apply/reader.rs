//! Reading binlog files into complete transactions.
//!
//! Owns turning the framer's transactions (`binlog::framer`, the one owner of where a
//! transaction starts and ends) into [`Transaction`]s an applier runs: their events' bytes,
//! GTID, kind, DDL flag and XA start. TRANSACTION_PAYLOAD events are expanded into their inner
//! events here, so appliers see plain event sequences. It applies the source filters (start/stop position,
//! include/exclude GTIDs, database) and reports a trailing transaction the files end inside of
//! (a torn or still-written tail) instead of returning it. It does not touch the target.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::binlog::event::EventBody;
use crate::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use crate::binlog::framer::{Facts, Framer, Kind, Step as FramerStep, TxnEnd, inspect};
use crate::binlog::gtid_event::{LogicalClock, MariadbGtidEvent};
use crate::binlog::header::{EventHeader, HEADER_LEN};
use crate::binlog::stream::{EventStream, payload_events};
use crate::binlog::{BinlogError, EventType, FormatDescription};

use super::error::ApplyError;
use super::executor::starts_ci;
use super::transaction::{GtidSelection, SourcePos, Transaction, TxnEvent, TxnGtid, TxnKind};

/// Which part of the files to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Start at this offset of the FIRST file (an event boundary, after its FORMAT_DESCRIPTION).
    pub start_position: Option<u64>,
    /// Stop before the first event at or after this offset of the LAST file.
    pub stop_position: Option<u64>,
    /// Only transactions whose GTID is in this selection.
    pub include: Option<GtidSelection>,
    /// Not the transactions whose GTID is in this selection.
    pub exclude: Option<GtidSelection>,
    /// Only transactions touching this database (rows of its tables, statements run in it).
    pub database: Option<String>,
    /// Verify event CRC32s while reading (the default).
    pub skip_checksums: bool,
}

/// A transaction the input ends inside of (or that a server restart cut): never applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IncompleteTransaction {
    pub file: String,
    pub offset: u64,
    pub gtid: String,
    pub reason: String,
}

/// Counters of what the reader went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub files: u64,
    pub events: u64,
    pub transactions: u64,
    /// Complete transactions left out by the GTID or database filters.
    pub filtered: u64,
}

struct Pending {
    gtid: TxnGtid,
    start: u64,
    file_index: usize,
    clock: Option<LogicalClock>,
    commit_id: Option<u64>,
    is_ddl: bool,
    relevant: bool,
    timestamp: u32,
    xa_start: Option<String>,
    /// A TRANSACTION_PAYLOAD held an XA_PREPARE.
    xa_prepare_inside: bool,
    /// The transaction ends in a two-phase XA_PREPARE (not `XA COMMIT ... ONE PHASE`).
    prepared_xa: bool,
    /// An event that changes something: rows, or a statement other than transaction control.
    effect: bool,
    data: Vec<u8>,
    events: Vec<TxnEvent>,
}

struct FileState {
    path: PathBuf,
    name: Arc<str>,
    reader: BinlogFileReader,
    stream: Option<EventStream>,
    size: u64,
}

/// Reads files in order and yields complete transactions.
pub struct TransactionReader {
    files: Vec<PathBuf>,
    opts: ReadOptions,
    next_file: usize,
    cur: Option<FileState>,
    fde: Option<Arc<FormatDescription>>,
    epoch: u64,
    ordinal: u64,
    pending: Option<Pending>,
    framer: Framer,
    payload_buf: Vec<u8>,
    scratch: Vec<u8>,
    done_bytes: u64,
    total_bytes: u64,
    progress: Arc<AtomicU64>,
    finished: bool,
    pub stats: ReadStats,
    /// Transactions cut by a server restart (mid-stream) or by the end of the input.
    pub incomplete: Vec<IncompleteTransaction>,
    /// MariaDB XIDs (as [`xid_sql`]) prepared by a transaction without effect: their XA
    /// COMMIT / XA ROLLBACK has none either.
    empty_xa: HashSet<String>,
}

enum Step {
    Nothing,
    Complete(Pending, TxnKind),
}

impl TransactionReader {
    pub fn new(files: Vec<PathBuf>, opts: ReadOptions) -> Result<TransactionReader, ApplyError> {
        if files.is_empty() {
            return Err(ApplyError::Invalid("no input files".into()));
        }
        let mut total = 0;
        for f in &files {
            total += std::fs::metadata(f)
                .map_err(|source| BinlogError::Io {
                    action: "stat",
                    path: f.clone(),
                    source,
                })?
                .len();
        }
        Ok(TransactionReader {
            files,
            opts,
            next_file: 0,
            cur: None,
            fde: None,
            epoch: 0,
            ordinal: 0,
            pending: None,
            framer: Framer::default(),
            payload_buf: Vec::new(),
            scratch: Vec::new(),
            done_bytes: 0,
            total_bytes: total,
            progress: Arc::new(AtomicU64::new(0)),
            finished: false,
            stats: ReadStats::default(),
            incomplete: Vec::new(),
            empty_xa: HashSet::new(),
        })
    }

    /// Total bytes of the input files.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Bytes read so far, updated as the reader goes (for progress display on another thread).
    pub fn progress_counter(&self) -> Arc<AtomicU64> {
        self.progress.clone()
    }

    /// The next complete transaction that passes the filters, or `None` at the end.
    pub fn next_transaction(&mut self) -> Result<Option<Transaction>, ApplyError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.cur.is_none() && !self.open_next()? {
                self.finish();
                return Ok(None);
            }
            if let Some(t) = self.step()? {
                return Ok(Some(t));
            }
        }
    }

    fn finish(&mut self) {
        self.finished = true;
        if let Some(p) = self.pending.take() {
            self.report_incomplete(p, "the input ends inside this transaction (not applied)");
        }
    }

    fn report_incomplete(&mut self, p: Pending, reason: &str) {
        let file = self
            .files
            .get(p.file_index)
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        tracing::warn!(file, offset = p.start, gtid = %p.gtid, "incomplete transaction: {reason}");
        self.incomplete.push(IncompleteTransaction {
            file,
            offset: p.start,
            gtid: p.gtid.to_string(),
            reason: reason.to_string(),
        });
    }

    fn open_next(&mut self) -> Result<bool, ApplyError> {
        if let Some(prev) = self.cur.take() {
            self.done_bytes += prev.size;
        }
        let Some(path) = self.files.get(self.next_file).cloned() else {
            return Ok(false);
        };
        self.next_file += 1;
        self.stats.files += 1;
        let reader = BinlogFileReader::open(&path)?;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        self.cur = Some(FileState {
            name: path.display().to_string().into(),
            path,
            reader,
            stream: None,
            size,
        });
        Ok(true)
    }

    fn file_index(&self) -> usize {
        self.next_file - 1
    }

    fn is_last_file(&self) -> bool {
        self.next_file == self.files.len()
    }

    /// Read one event of the current file; return a transaction if it completed one.
    fn step(&mut self) -> Result<Option<Transaction>, ApplyError> {
        let first_file = self.file_index() == 0;
        let last_file = self.is_last_file();
        let cur = self.cur.as_mut().expect("file open");
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let offset = match cur.reader.next_event()? {
            ReadOutcome::Event { offset, bytes } => {
                scratch.extend_from_slice(bytes);
                offset
            }
            ReadOutcome::End => {
                self.scratch = scratch;
                self.cur_done();
                return Ok(None);
            }
            ReadOutcome::TornTail { offset, have } => {
                tracing::warn!(
                    file = %cur.path.display(),
                    offset,
                    have,
                    "file ends inside an event (torn tail): stopping there"
                );
                self.scratch = scratch;
                self.cur_done();
                return Ok(None);
            }
        };
        let r = self.step_event(&scratch, offset, first_file, last_file);
        self.scratch = scratch;
        r
    }

    fn step_event(
        &mut self,
        bytes: &[u8],
        offset: u64,
        first_file: bool,
        last_file: bool,
    ) -> Result<Option<Transaction>, ApplyError> {
        self.progress
            .store(self.done_bytes + offset, Ordering::Relaxed);
        if last_file && self.opts.stop_position.is_some_and(|s| offset >= s) {
            self.cur = None;
            self.next_file = self.files.len();
            return Ok(None);
        }
        let cur = self.cur.as_mut().expect("file open");
        let path = cur.path.clone();
        let name = cur.name.clone();
        let at = |e: BinlogError| e.in_file(&path, offset);
        if cur.stream.is_none() {
            let h = EventHeader::parse(bytes).map_err(at)?;
            if h.event_type != EventType::FormatDescription {
                return Err(ApplyError::NoFormatDescription {
                    path: path.clone(),
                    found: h.event_type.name(),
                });
            }
            let fde = FormatDescription::parse(bytes.get(HEADER_LEN..).unwrap_or_default())
                .map_err(at)?;
            cur.stream = Some(EventStream::new(fde).verify_checksums(!self.opts.skip_checksums));
        }
        let ev = cur
            .stream
            .as_mut()
            .expect("stream")
            .decode(bytes)
            .map_err(at)?;
        self.stats.events += 1;
        let mut skip_to = None;
        // The file's own description is not part of the stream (a relay log may rotate
        // inside a transaction); any later one is, and one written at a server start ends
        // whatever was open.
        let facts = if offset == 4 && matches!(ev.body, EventBody::FormatDescription(_)) {
            None
        } else {
            Some(inspect(bytes, self.fde.as_deref(), false).map_err(at)?)
        };
        let step = match &ev.body {
            EventBody::FormatDescription(f) => {
                self.fde = Some(Arc::new((**f).clone()));
                self.epoch += 1;
                if let Some(facts) = &facts {
                    self.frame(facts);
                }
                if first_file
                    && offset == 4
                    && let Some(s) = self.opts.start_position
                    && s > offset
                {
                    skip_to = Some(s);
                }
                Step::Nothing
            }
            body => {
                let facts = facts.expect("read for every event but the file's own description");
                self.on_event(&facts, body, ev.raw, offset, ev.header.timestamp, &path)?
            }
        };
        if let Some(s) = skip_to {
            self.cur.as_mut().expect("file").reader.skip_to(s)?;
        }
        match step {
            Step::Nothing => Ok(None),
            Step::Complete(p, kind) => Ok(self.complete(p, kind, name)),
        }
    }

    fn cur_done(&mut self) {
        if let Some(c) = self.cur.take() {
            self.done_bytes += c.size;
            self.progress.store(self.done_bytes, Ordering::Relaxed);
        }
    }

    fn new_pending(&self, gtid: TxnGtid, start: u64, timestamp: u32) -> Pending {
        Pending {
            gtid,
            start,
            file_index: self.file_index(),
            clock: None,
            commit_id: None,
            is_ddl: false,
            relevant: self.opts.database.is_none(),
            timestamp,
            xa_start: None,
            xa_prepare_inside: false,
            prepared_xa: false,
            effect: false,
            data: Vec::new(),
            events: Vec::new(),
        }
    }

    fn db_matches(&self, schema: &[u8]) -> bool {
        self.opts
            .database
            .as_deref()
            .is_none_or(|d| d.as_bytes() == schema)
    }

    /// Feed the framer; report what it abandoned. Returns its step.
    fn frame(&mut self, facts: &Facts) -> FramerStep {
        let step = self.framer.step(facts);
        if step.abandoned.is_some()
            && let Some(p) = self.pending.take()
        {
            let reason = match facts.kind {
                Kind::FormatDescription(_) => "the server restarted inside this transaction",
                Kind::Stop => "the server stopped inside this transaction",
                _ => "a new transaction began before this one ended",
            };
            self.report_incomplete(p, reason);
        }
        step
    }

    fn on_event(
        &mut self,
        facts: &Facts,
        body: &EventBody<'_>,
        raw: &[u8],
        offset: u64,
        timestamp: u32,
        path: &Path,
    ) -> Result<Step, ApplyError> {
        if let EventBody::Incident(i) = body {
            return Err(ApplyError::Incident {
                path: path.to_path_buf(),
                offset,
                message: String::from_utf8_lossy(i.message).into_owned(),
            });
        }
        let step = self.frame(facts);
        if step.opened {
            let gtid = match &facts.kind {
                Kind::MySqlGtid { gtid, .. } => gtid.clone().map_or(TxnGtid::None, TxnGtid::MySql),
                Kind::MariaDbGtid { gtid, .. } => TxnGtid::MariaDb(*gtid),
                _ => TxnGtid::None,
            };
            let mut p = self.new_pending(gtid, offset, timestamp);
            match body {
                EventBody::Gtid(g) => p.clock = g.logical_clock,
                EventBody::MariadbGtid(g) => {
                    p.commit_id = g.commit_id;
                    if g.flags2 & MariadbGtidEvent::FL_PREPARED_XA != 0
                        && let Some(x) = &g.xid
                    {
                        p.xa_start = Some(format!(
                            "XA START {}",
                            xid_sql(x.format_id as i64, &x.gtrid, &x.bqual)
                        ));
                    }
                }
                _ => {}
            }
            self.pending = Some(p);
        }
        let in_txn = self.pending.is_some();
        match body {
            // The applier sets the GTID itself; the event is not replayed.
            EventBody::Gtid(_) | EventBody::MariadbGtid(_) => {}
            EventBody::TransactionPayload(pl) if in_txn => {
                let inner_xa = self.expand_payload(pl, offset, path)?;
                if let Some(p) = self.pending.as_mut() {
                    p.xa_prepare_inside = inner_xa;
                    p.effect = true;
                }
            }
            _ if in_txn => {
                let effect = has_effect(body, &mut self.empty_xa);
                let prepared_xa = matches!(body, EventBody::XaPrepare(x) if !x.one_phase);
                let relevant = match body {
                    EventBody::Query(q) => {
                        !q.is_begin() && !q.is_commit() && self.db_matches(q.schema)
                    }
                    EventBody::TableMap(tm) => self.db_matches(tm.schema),
                    _ => false,
                };
                if let Some(p) = self.pending.as_mut() {
                    push(p, raw, offset, false);
                    p.relevant |= relevant;
                    p.effect |= effect;
                    p.prepared_xa |= prepared_xa;
                }
            }
            _ => {
                if !matches!(
                    facts.kind,
                    Kind::Rotate { .. } | Kind::Marker | Kind::FormatDescription(_) | Kind::Stop
                ) {
                    tracing::debug!(
                        offset,
                        "event outside a transaction (start position inside one?): skipped"
                    );
                }
            }
        }
        let Some(done) = step.done else {
            return Ok(Step::Nothing);
        };
        let Some(mut p) = self.pending.take() else {
            return Ok(Step::Nothing);
        };
        p.is_ddl = done.txn.ddl;
        let kind = match done.end {
            TxnEnd::Xid | TxnEnd::CommitQuery => TxnKind::Transactional,
            TxnEnd::XaPrepare => TxnKind::XaPrepare,
            TxnEnd::Statement | TxnEnd::XaEnd => TxnKind::Standalone,
            TxnEnd::Payload if p.xa_prepare_inside => TxnKind::XaPrepare,
            TxnEnd::Payload => TxnKind::Transactional,
            // Refused above.
            TxnEnd::Incident => TxnKind::Standalone,
        };
        Ok(Step::Complete(p, kind))
    }

    /// Add a TRANSACTION_PAYLOAD's inner events to the open transaction; returns whether they
    /// hold an XA_PREPARE.
    fn expand_payload(
        &mut self,
        pl: &crate::binlog::payload::TransactionPayload<'_>,
        offset: u64,
        path: &Path,
    ) -> Result<bool, ApplyError> {
        let at = |e: BinlogError| e.in_file(path, offset);
        let mut buf = std::mem::take(&mut self.payload_buf);
        let mut xa = false;
        let mut result = Ok(());
        for inner in payload_events(pl, &mut buf).map_err(at)? {
            let inner = match inner {
                Ok(i) => i,
                Err(e) => {
                    result = Err(at(e));
                    break;
                }
            };
            let iev = match self
                .cur
                .as_mut()
                .and_then(|c| c.stream.as_mut())
                .expect("a stream reads the payload")
                .decode_inner(inner)
            {
                Ok(e) => e,
                Err(e) => {
                    result = Err(at(e));
                    break;
                }
            };
            let relevant = match &iev.body {
                EventBody::Query(q) => !q.is_begin() && !q.is_commit() && self.db_matches(q.schema),
                EventBody::TableMap(tm) => self.db_matches(tm.schema),
                EventBody::XaPrepare(_) => {
                    xa = true;
                    false
                }
                _ => false,
            };
            let prepared_xa = matches!(&iev.body, EventBody::XaPrepare(x) if !x.one_phase);
            if let Some(p) = self.pending.as_mut() {
                push(p, inner, offset, true);
                p.relevant |= relevant;
                p.prepared_xa |= prepared_xa;
            }
        }
        self.payload_buf = buf;
        result?;
        Ok(xa)
    }

    fn complete(&mut self, p: Pending, kind: TxnKind, name: Arc<str>) -> Option<Transaction> {
        self.stats.transactions += 1;
        let no_effect = matches!(p.gtid, TxnGtid::MariaDb(_)) && !p.effect;
        if no_effect
            && kind == TxnKind::XaPrepare
            && let Some(xid) = p
                .xa_start
                .as_deref()
                .and_then(|x| x.strip_prefix("XA START "))
        {
            self.empty_xa.insert(xid.to_owned());
        }
        let keep = p.relevant
            && self
                .opts
                .include
                .as_ref()
                .is_none_or(|s| s.matches(&p.gtid))
            && !self
                .opts
                .exclude
                .as_ref()
                .is_some_and(|s| s.matches(&p.gtid));
        if !keep {
            self.stats.filtered += 1;
            return None;
        }
        let end = self
            .cur
            .as_ref()
            .map(|c| c.reader.offset())
            .unwrap_or(p.start);
        self.ordinal += 1;
        Some(Transaction {
            ordinal: self.ordinal,
            gtid: p.gtid,
            pos: SourcePos {
                file_index: p.file_index,
                file: name,
                start: p.start,
                end,
            },
            kind,
            clock: p.clock,
            commit_id: p.commit_id,
            epoch: self.epoch,
            is_ddl: p.is_ddl,
            prepared_xa: p.prepared_xa,
            fde: self
                .fde
                .clone()
                .expect("a FORMAT_DESCRIPTION precedes every transaction"),
            data: p.data,
            events: p.events,
            timestamp: p.timestamp,
            xa_start: p.xa_start,
            no_effect,
        })
    }
}

/// Whether an event of a transaction changes anything: a row event, or a statement other than
/// transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, savepoints, `XA START` / `XA END`, and
/// the XA PREPARE event). `XA COMMIT` / `XA ROLLBACK` of an XID in `empty_xa` (prepared with
/// no effect) has none either; the XID is forgotten there.
fn has_effect(body: &EventBody<'_>, empty_xa: &mut HashSet<String>) -> bool {
    match body {
        EventBody::Rows(_) => true,
        EventBody::Query(q) => query_has_effect(&q.query, empty_xa),
        _ => false,
    }
}

fn query_has_effect(sql: &[u8], empty_xa: &mut HashSet<String>) -> bool {
    let sql = sql.trim_ascii_start();
    for end in [&b"XA COMMIT "[..], b"XA ROLLBACK "] {
        if starts_ci(sql, end) {
            let xid = String::from_utf8_lossy(&sql[end.len()..]);
            return !empty_xa.remove(xid.trim());
        }
    }
    // `ROLLBACK TO [SAVEPOINT] x` is covered by `ROLLBACK`.
    let control: [&[u8]; 8] = [
        b"BEGIN",
        b"COMMIT",
        b"ROLLBACK",
        b"SAVEPOINT ",
        b"RELEASE SAVEPOINT ",
        b"XA START ",
        b"XA BEGIN ",
        b"XA END ",
    ];
    !control.iter().any(|c| {
        starts_ci(sql, c)
            && (c.ends_with(b" ") || sql.len() == c.len() || !sql[c.len()].is_ascii_alphanumeric())
    })
}

/// An XID as SQL: `X'gtrid',X'bqual',format_id`.
pub fn xid_sql(format_id: i64, gtrid: &[u8], bqual: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("X'");
    for b in gtrid {
        let _ = write!(s, "{b:02X}");
    }
    s.push_str("',X'");
    for b in bqual {
        let _ = write!(s, "{b:02X}");
    }
    let _ = write!(s, "',{format_id}");
    s
}

fn push(p: &mut Pending, raw: &[u8], offset: u64, inner: bool) {
    let start = p.data.len();
    p.data.extend_from_slice(raw);
    p.events.push(TxnEvent {
        range: start..p.data.len(),
        offset,
        inner,
    });
}

/// Whether any UPDATE or DELETE of the selected transactions finds its row by a partial
/// before image (`binlog_row_image=MINIMAL` or `NOBLOB`): a change the target made to a
/// column the image lacks cannot be seen as a conflict. Reads the files once, no target.
pub fn has_partial_before_images(
    files: Vec<PathBuf>,
    opts: ReadOptions,
) -> Result<bool, ApplyError> {
    use crate::binlog::event::Event;
    use crate::binlog::event_type::RowsKind;
    let mut r = TransactionReader::new(files, opts)?;
    while let Some(t) = r.next_transaction()? {
        for ev in &t.events {
            let bytes = &t.data[ev.range.clone()];
            let parsed = if ev.inner {
                Event::parse_unchecksummed(bytes, &t.fde)
            } else {
                Event::parse(bytes, &t.fde, false)
            };
            if let Ok(e) = parsed
                && let EventBody::Rows(rows) = &e.body
                && matches!(
                    rows.kind,
                    RowsKind::Update | RowsKind::Delete | RowsKind::PartialUpdate
                )
                && !rows.columns_before.all_set()
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod effect_tests {
    use super::*;

    #[test]
    fn transaction_control_has_no_effect() {
        let mut xa = HashSet::new();
        for q in [
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
            "rollback to savepoint `sp1`",
            "SAVEPOINT `sp1`",
            "RELEASE SAVEPOINT sp1",
            "XA END X'786131',X'',1",
            "  XA START 'x'",
        ] {
            assert!(!query_has_effect(q.as_bytes(), &mut xa), "{q}");
        }
        for q in [
            "INSERT INTO t VALUES (1)",
            "COMMITTED_FLAG_TABLE_DROP",
            "BEGINNING",
            "SAVEPOINTS",
            "DROP TABLE t",
            "XA COMMIT X'786131',X'',1",
        ] {
            assert!(query_has_effect(q.as_bytes(), &mut xa), "{q}");
        }
        // The XA COMMIT / ROLLBACK of a branch prepared without effect has none, once.
        xa.insert("X'786133',X'',1".to_owned());
        assert!(!query_has_effect(b"XA COMMIT X'786133',X'',1", &mut xa));
        assert!(query_has_effect(b"XA COMMIT X'786133',X'',1", &mut xa));
        xa.insert("X'786134',X'',1".to_owned());
        assert!(!query_has_effect(b"xa rollback X'786134',X'',1", &mut xa));
    }
}
