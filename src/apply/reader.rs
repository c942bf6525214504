//! Reading binlog files into complete transactions.
//!
//! Owns where a transaction starts and ends: a GTID event (or BEGIN/a statement without one)
//! opens it; XID, COMMIT, ROLLBACK, XA_PREPARE or a statement that commits by itself (DDL, XA
//! COMMIT) closes it. TRANSACTION_PAYLOAD events are expanded into their inner events here, so
//! appliers see plain event sequences. It applies the source filters (start/stop position,
//! include/exclude GTIDs, database) and reports a trailing transaction the files end inside of
//! (a torn or still-written tail) instead of returning it. It does not touch the target.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::binlog::event::EventBody;
use crate::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use crate::binlog::gtid_event::{LogicalClock, MariadbGtidEvent};
use crate::binlog::header::{EventHeader, HEADER_LEN};
use crate::binlog::mariadb_gtid::MariadbGtid;
use crate::binlog::stream::{EventStream, payload_events};
use crate::binlog::{BinlogError, EventType, FormatDescription};

use super::error::ApplyError;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// After a GTID event (or before anything): the next statement decides.
    Start,
    /// Inside BEGIN .. COMMIT.
    Multi,
}

struct Pending {
    gtid: TxnGtid,
    start: u64,
    file_index: usize,
    clock: Option<LogicalClock>,
    commit_id: Option<u64>,
    mode: Mode,
    is_ddl: bool,
    relevant: bool,
    timestamp: u32,
    xa_start: Option<String>,
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
    payload_buf: Vec<u8>,
    scratch: Vec<u8>,
    done_bytes: u64,
    total_bytes: u64,
    progress: Arc<AtomicU64>,
    finished: bool,
    pub stats: ReadStats,
    /// Transactions cut by a server restart (mid-stream) or by the end of the input.
    pub incomplete: Vec<IncompleteTransaction>,
}

enum Step {
    Nothing,
    Complete(Pending, TxnKind),
}

fn starts_ci(q: &[u8], p: &[u8]) -> bool {
    let q = trim_start(q);
    q.len() >= p.len() && q[..p.len()].eq_ignore_ascii_case(p)
}

fn trim_start(q: &[u8]) -> &[u8] {
    let n = q.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &q[n..]
}

fn ends_ci(q: &[u8], p: &[u8]) -> bool {
    let n = q.len()
        - q.iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace() || **b == b';')
            .count();
    let q = &q[..n];
    q.len() >= p.len() && q[q.len() - p.len()..].eq_ignore_ascii_case(p)
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
            payload_buf: Vec::new(),
            scratch: Vec::new(),
            done_bytes: 0,
            total_bytes: total,
            progress: Arc::new(AtomicU64::new(0)),
            finished: false,
            stats: ReadStats::default(),
            incomplete: Vec::new(),
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
        let step = match &ev.body {
            EventBody::FormatDescription(f) => {
                // A description that is not the first event of a file is a server restart:
                // whatever was open was never committed.
                let restart = offset > 4 && f.create_timestamp != 0;
                self.fde = Some(Arc::new((**f).clone()));
                self.epoch += 1;
                if restart && let Some(p) = self.pending.take() {
                    self.report_incomplete(p, "the server restarted inside this transaction");
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
            EventBody::TransactionPayload(p) => {
                let mut buf = std::mem::take(&mut self.payload_buf);
                let mut out = Ok(Step::Nothing);
                for inner in payload_events(p, &mut buf).map_err(at)? {
                    let inner = inner.map_err(at)?;
                    let iev = self
                        .cur
                        .as_mut()
                        .expect("file")
                        .stream
                        .as_mut()
                        .expect("stream")
                        .decode_inner(inner)
                        .map_err(at)?;
                    match self.on_event(&iev.body, inner, offset, true, iev.header.timestamp, &path)
                    {
                        Ok(Step::Nothing) => {}
                        other => {
                            out = other;
                        }
                    }
                }
                self.payload_buf = buf;
                out?
            }
            body => self.on_event(body, ev.raw, offset, false, ev.header.timestamp, &path)?,
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
            mode: Mode::Start,
            is_ddl: false,
            relevant: self.opts.database.is_none(),
            timestamp,
            xa_start: None,
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

    fn on_event(
        &mut self,
        body: &EventBody<'_>,
        raw: &[u8],
        offset: u64,
        inner: bool,
        timestamp: u32,
        path: &Path,
    ) -> Result<Step, ApplyError> {
        match body {
            EventBody::Gtid(g) => {
                if let Some(p) = self.pending.take() {
                    self.report_incomplete(p, "a new transaction began before this one ended");
                }
                let gtid = g.gtid().map_or(TxnGtid::None, TxnGtid::MySql);
                let mut p = self.new_pending(gtid, offset, timestamp);
                p.clock = g.logical_clock;
                self.pending = Some(p);
                Ok(Step::Nothing)
            }
            EventBody::MariadbGtid(g) => {
                if let Some(p) = self.pending.take() {
                    self.report_incomplete(p, "a new transaction began before this one ended");
                }
                let gtid = MariadbGtid {
                    domain: g.domain_id,
                    server: g.server_id,
                    seq: g.seq_no,
                };
                let mut p = self.new_pending(TxnGtid::MariaDb(gtid), offset, timestamp);
                p.commit_id = g.commit_id;
                p.is_ddl = g.is_ddl();
                if !g.is_standalone() {
                    p.mode = Mode::Multi;
                }
                if g.flags2 & MariadbGtidEvent::FL_PREPARED_XA != 0
                    && let Some(x) = &g.xid
                {
                    p.xa_start = Some(format!(
                        "XA START {}",
                        xid_sql(x.format_id as i64, &x.gtrid, &x.bqual)
                    ));
                }
                self.pending = Some(p);
                Ok(Step::Nothing)
            }
            EventBody::Query(q) => {
                let query = q.query.as_ref();
                let relevant = !q.is_begin() && !q.is_commit() && self.db_matches(q.schema);
                let ts = timestamp;
                let p = match self.pending.as_mut() {
                    Some(p) => p,
                    None => {
                        let np = self.new_pending(TxnGtid::None, offset, ts);
                        self.pending.insert(np)
                    }
                };
                push(p, raw, offset, inner);
                if relevant {
                    p.relevant = true;
                }
                match p.mode {
                    Mode::Start => {
                        if q.is_begin()
                            || starts_ci(query, b"XA START")
                            || starts_ci(query, b"XA BEGIN")
                        {
                            p.mode = Mode::Multi;
                            Ok(Step::Nothing)
                        } else if starts_ci(query, b"CREATE")
                            && ends_ci(query, b"START TRANSACTION")
                        {
                            // Atomic CREATE TABLE ... SELECT: rows and an XID follow.
                            p.mode = Mode::Multi;
                            p.is_ddl = true;
                            Ok(Step::Nothing)
                        } else {
                            let xa = starts_ci(query, b"XA ");
                            if !xa {
                                p.is_ddl = true;
                            }
                            let p = self.pending.take().expect("pending");
                            Ok(Step::Complete(p, TxnKind::Standalone))
                        }
                    }
                    Mode::Multi => {
                        if q.is_commit() || q.is_rollback() {
                            let p = self.pending.take().expect("pending");
                            Ok(Step::Complete(p, TxnKind::Transactional))
                        } else {
                            Ok(Step::Nothing)
                        }
                    }
                }
            }
            EventBody::Xid(_) => match self.pending.take() {
                Some(mut p) => {
                    push(&mut p, raw, offset, inner);
                    Ok(Step::Complete(p, TxnKind::Transactional))
                }
                None => {
                    tracing::debug!(
                        offset,
                        "XID without a transaction start (start position inside a transaction?): skipped"
                    );
                    Ok(Step::Nothing)
                }
            },
            EventBody::XaPrepare(_) => match self.pending.take() {
                Some(mut p) => {
                    push(&mut p, raw, offset, inner);
                    Ok(Step::Complete(p, TxnKind::XaPrepare))
                }
                None => Ok(Step::Nothing),
            },
            EventBody::TableMap(tm) => {
                let rel = self.db_matches(tm.schema);
                if let Some(p) = self.pending.as_mut() {
                    push(p, raw, offset, inner);
                    if rel {
                        p.relevant = true;
                    }
                }
                Ok(Step::Nothing)
            }
            EventBody::Rows(_)
            | EventBody::Intvar(_)
            | EventBody::Rand(_)
            | EventBody::UserVar(_)
            | EventBody::RowsQuery(_) => {
                match self.pending.as_mut() {
                    Some(p) => push(p, raw, offset, inner),
                    None if matches!(
                        body,
                        EventBody::Intvar(_) | EventBody::Rand(_) | EventBody::UserVar(_)
                    ) =>
                    {
                        // Statement context before a statement logged without BEGIN/GTID.
                        let mut np = self.new_pending(TxnGtid::None, offset, timestamp);
                        push(&mut np, raw, offset, inner);
                        self.pending = Some(np);
                    }
                    None => {
                        tracing::debug!(
                            offset,
                            "event outside a transaction (start position inside one?): skipped"
                        );
                    }
                }
                Ok(Step::Nothing)
            }
            EventBody::Incident(i) => Err(ApplyError::Incident {
                path: path.to_path_buf(),
                offset,
                message: String::from_utf8_lossy(i.message).into_owned(),
            }),
            _ => Ok(Step::Nothing),
        }
    }

    fn complete(&mut self, p: Pending, kind: TxnKind, name: Arc<str>) -> Option<Transaction> {
        self.stats.transactions += 1;
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
            fde: self
                .fde
                .clone()
                .expect("a FORMAT_DESCRIPTION precedes every transaction"),
            data: p.data,
            events: p.events,
            timestamp: p.timestamp,
            xa_start: p.xa_start,
        })
    }
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
