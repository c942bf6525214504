//! Applying one transaction on one session.
//!
//! Owns the walk over a transaction's events and what each becomes on the target: the GTID
//! (`SET GTID_NEXT` or MariaDB's `gtid_domain_id`/`server_id`/`gtid_seq_no`), BEGIN/COMMIT/XA,
//! statement events run with their session context (database, sql_mode, charsets, time zone,
//! timestamp, auto-increment, INTVAR/RAND/USER_VAR, check flags), and rows events turned into
//! batched INSERTs and key-addressed UPDATEs/DELETEs. It also owns the cache of table shapes,
//! invalidated by DDL. It does not decide order or parallelism (see `schedule`, `engine`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mysql_async::Value as Param;

use crate::binlog::control::{IntvarEvent, UserVarEvent, UserVarType, XaPrepareEvent};
use crate::binlog::decimal::write_decimal;
use crate::binlog::event::EventBody;
use crate::binlog::json_binary::write_json_text;
use crate::binlog::json_diff::json_diffs;
use crate::binlog::query::QueryEvent;
use crate::binlog::rows_event::{RowsEvent, flags as rows_flags};
use crate::binlog::stream::{EventStream, MappedTable, expand_rows};
use crate::binlog::value::{Decimal, Value};
use crate::binlog::{Event, EventHeader, EventType, FormatDescription, RowsKind};

use super::binlog_stmt::{BinlogEvents, format_description_statement, is_atomic_create_select};
use super::error::ApplyError;
use super::json_sql::json_expr;
use super::reader::xid_sql;
use super::row_sql::{
    ColumnExpr, DiffShape, RowMatch, SetShape, delete_sql, insert_sql, update_sql,
};
use super::schema::{TableSpec, TargetTable, build_spec, fetch_target_table, quote_ident};
use super::session::{ServerFlavor, Session, StmtError};
use super::touched::{Loc, Touched};
use super::transaction::{Transaction, TxnEvent, TxnGtid, TxnKind};
use super::values::bind;

/// Target table shapes by (schema, table); `None` = the table does not exist.
type TableCache = HashMap<(String, String), Option<Arc<TargetTable>>>;

/// State shared by every worker of a run.
pub struct Shared {
    pub flavor: ServerFlavor,
    /// Only rows of this database's tables and statements run in it.
    pub database: Option<String>,
    /// Target table shapes by (schema, table); `None` = the table does not exist.
    tables: Mutex<TableCache>,
    /// Bumped by every DDL: workers drop their cached specs when it moves.
    schema_generation: AtomicU64,
    /// Collation id -> (charset name, collation name), read from the target.
    pub collations: HashMap<u32, (String, String)>,
    /// Most rows in one multi-row INSERT.
    pub insert_rows: usize,
    /// Most parameter bytes in one multi-row INSERT.
    pub insert_bytes: usize,
    /// Where workers reconnect (MariaDB XA PREPARE).
    pub target: Option<super::session::TargetOptions>,
    /// A survey (see `ApplyOptions::survey`): rows of a table whose shape on the target no
    /// longer matches the event (a later DDL of the gap changed it) are counted as not
    /// verifiable instead of failing.
    pub survey: bool,
}

impl Shared {
    pub fn new(flavor: ServerFlavor, database: Option<String>) -> Shared {
        Shared {
            flavor,
            database,
            tables: Mutex::new(HashMap::new()),
            schema_generation: AtomicU64::new(0),
            collations: HashMap::new(),
            insert_rows: 1000,
            insert_bytes: 4 << 20,
            target: None,
            survey: false,
        }
    }

    /// Forget every table shape (after a DDL).
    pub fn invalidate_schema(&self) {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.schema_generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// What applying one transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxnStats {
    pub rows: u64,
    pub statements: u64,
    /// UPDATE/DELETE rows found by a before image lacking some of the table's columns.
    pub rows_partial_match: u64,
}

/// Something to wait for right before the commit (commit ordering); `Err` aborts.
pub type CommitGate<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ()>> + Send + 'a>>;

/// A worker: a session plus its decoding state and spec cache.
pub struct Applier {
    pub session: Session,
    stream: Option<(Arc<FormatDescription>, EventStream)>,
    specs: HashMap<Vec<u8>, Arc<TableSpec>>,
    specs_generation: u64,
    rows_buf: Vec<u8>,
    /// What this worker's transactions touched, for checking the data after the run
    /// (`None`: not recorded).
    pub touched: Option<Touched>,
}

/// Session settings every row statement runs under: the binlog's TIMESTAMP values are UTC,
/// parameters are sent as binary strings (text columns reinterpret them in their own charset),
/// and an explicit 0 in an AUTO_INCREMENT column stays 0.
/// Strict, so a value the target cannot store exactly is an error rather than a silent change.
const ROW_SQL_MODE: &str = "'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,ALLOW_INVALID_DATES'";
/// The same, not strict, for the two things the server's applier stores that strict mode
/// refuses: a row image that lacks columns (binlog_row_image MINIMAL or NOBLOB), whose missing
/// NOT NULL columns without a default get their implicit default (0, '', the first ENUM
/// member, a zero date; strict: ERROR 1364), and the ENUM error value '' (index 0, which
/// INSERT IGNORE stores for an invalid member; strict: ERROR 1265). A non-strict statement
/// does what the applier does. The image's values are the column's own, so nothing else
/// changes by leaving strict mode.
const ROW_SQL_MODE_RELAXED: &str = "'NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES'";

fn row_sql_mode(relaxed: bool) -> &'static str {
    if relaxed {
        ROW_SQL_MODE_RELAXED
    } else {
        ROW_SQL_MODE
    }
}

/// Whether a value needs [`ROW_SQL_MODE_RELAXED`] to be stored.
fn needs_relaxed(v: &Value<'_>) -> bool {
    matches!(v, Value::Enum(0))
}

const OPTION_AUTO_IS_NULL: u32 = 1 << 14;
const OPTION_NO_FOREIGN_KEY_CHECKS: u32 = 1 << 26;
const OPTION_RELAXED_UNIQUE_CHECKS: u32 = 1 << 27;

struct InsertBatch {
    spec: Option<Arc<TableSpec>>,
    cols: Vec<usize>,
    rows: usize,
    params: Vec<Param>,
    bytes: usize,
    /// Values written as expressions: (row in the batch, expression), in row order.
    exprs: Vec<(usize, ColumnExpr)>,
    /// The batch runs under [`ROW_SQL_MODE_RELAXED`].
    relaxed: bool,
}

/// Bind the before image's WHERE values of a row match onto `params` (a character key
/// column's value twice: collation and bytes); the expressions of JSON values, or the column
/// that failed.
fn bind_where(
    spec: &TableSpec,
    m: RowMatch<'_>,
    before: &[Value<'_>],
    params: &mut Vec<Param>,
) -> Result<Vec<ColumnExpr>, (usize, String)> {
    let mut exprs = Vec::new();
    for (i, repeat) in super::row_sql::where_param_repeats(spec, m) {
        if repeat {
            let p = params.last().cloned().unwrap_or(Param::NULL);
            params.push(p);
        } else if let Some(e) = bind_col(&before[i], spec, i, true, params).map_err(|d| (i, d))? {
            exprs.push(e);
        }
    }
    Ok(exprs)
}

/// Bind column `i`'s value `v` onto `params`: a JSON document holding typed scalars as an
/// expression (returned, its parameters pushed), anything else as one parameter.
fn bind_col(
    v: &Value<'_>,
    spec: &TableSpec,
    i: usize,
    for_where: bool,
    params: &mut Vec<Param>,
) -> Result<Option<ColumnExpr>, String> {
    if let Value::Json(bin) = v
        && let Some(e) = json_expr(bin).map_err(|e| format!("JSON value: {e}"))?
    {
        params.extend(e.params);
        return Ok(Some(ColumnExpr { col: i, sql: e.sql }));
    }
    params.push(bind(v, &spec.columns[i].bind, for_where)?);
    Ok(None)
}

fn param_len(p: &Param) -> usize {
    match p {
        Param::Bytes(b) => b.len() + 4,
        _ => 9,
    }
}

impl Applier {
    pub fn new(session: Session) -> Applier {
        Applier {
            session,
            stream: None,
            specs: HashMap::new(),
            specs_generation: 0,
            rows_buf: Vec::new(),
            touched: None,
        }
    }

    /// Apply `txn`. `gate` is awaited right before the transaction commits. On error the
    /// caller must drop (disconnect) this applier's session: the server rolls back.
    pub async fn apply(
        &mut self,
        txn: &Transaction,
        shared: &Shared,
        gate: Option<CommitGate<'_>>,
    ) -> Result<TxnStats, ApplyError> {
        let stmts_before = self.session.statements;
        self.prepare(txn, shared);
        // The decoded events borrow the stream while the session changes: disjoint borrows.
        let Applier {
            session,
            stream,
            specs,
            touched,
            rows_buf: kept_rows_buf,
            ..
        } = self;
        let mut walk = TxnWalk::new(txn, shared, gate, session, specs, touched);
        walk.identity()?;
        let mut rows_buf = std::mem::take(kept_rows_buf);
        let stream = &mut stream.as_mut().expect("stream set above").1;
        for (ei, e) in txn.events.iter().enumerate() {
            let ev = txn.decode(stream, e)?;
            if walk.collect_for_binlog(stream, &ev, e, &mut rows_buf)? {
                continue;
            }
            match &ev.body {
                EventBody::Query(q) => walk.on_query(q, &ev.header, ei).await?,
                EventBody::Intvar(_) | EventBody::Rand(_) | EventBody::UserVar(_) => {
                    walk.on_variable(&ev.body)
                }
                EventBody::Xid(_) => walk.on_xid().await?,
                EventBody::XaPrepare(x) => walk.on_xa_prepare(x, ei).await?,
                EventBody::Rows(r) => walk.on_rows(stream, &ev, r, (ei, e), &mut rows_buf).await?,
                _ => {}
            }
        }
        let mut stats = walk.finish().await?;
        *kept_rows_buf = rows_buf;
        stats.statements = session.statements - stmts_before;
        Ok(stats)
    }

    /// Get ready for `txn`: drop the cached table specs if a DDL ran since they were built,
    /// and (re)start the event stream when the transaction's format description differs.
    fn prepare(&mut self, txn: &Transaction, shared: &Shared) {
        let generation = shared.schema_generation.load(Ordering::SeqCst);
        if generation != self.specs_generation {
            self.specs.clear();
            self.specs_generation = generation;
        }
        if !self
            .stream
            .as_ref()
            .is_some_and(|(f, _)| Arc::ptr_eq(f, &txn.fde))
        {
            self.stream = Some((
                txn.fde.clone(),
                EventStream::new((*txn.fde).clone()).verify_checksums(false),
            ));
        }
    }
}

/// One transaction's walk over its events: the borrows of the applier it works on (disjoint
/// from the event stream, which the decoded events borrow) and the state carried from event
/// to event.
struct TxnWalk<'w> {
    txn: &'w Transaction,
    shared: &'w Shared,
    session: &'w mut Session,
    specs: &'w mut HashMap<Vec<u8>, Arc<TableSpec>>,
    touched: &'w mut Option<Touched>,
    /// The transaction as errors name it.
    label: String,
    /// Awaited right before the commit; taken by the first commit.
    gate: Option<CommitGate<'w>>,
    /// A BEGIN (or XA START) was opened on the session.
    in_txn: bool,
    /// The transaction was committed (or prepared); nothing is left for [`TxnWalk::finish`].
    ended: bool,
    batch: InsertBatch,
    /// After an atomic `CREATE TABLE ... START TRANSACTION` the rows go to the server as
    /// BINLOG statements of their events (the only statements it then accepts).
    binlog_events: Option<BinlogEvents>,
    /// Every commit also sets `GTID_NEXT` back to AUTOMATIC (a MySQL GTID was set).
    reset_gtid: bool,
    stats: TxnStats,
}

impl<'w> TxnWalk<'w> {
    /// A walk over `txn` in its initial state: nothing opened, nothing batched.
    fn new(
        txn: &'w Transaction,
        shared: &'w Shared,
        gate: Option<CommitGate<'w>>,
        session: &'w mut Session,
        specs: &'w mut HashMap<Vec<u8>, Arc<TableSpec>>,
        touched: &'w mut Option<Touched>,
    ) -> TxnWalk<'w> {
        TxnWalk {
            txn,
            shared,
            session,
            specs,
            touched,
            label: txn.label(),
            gate,
            in_txn: false,
            ended: false,
            batch: InsertBatch {
                spec: None,
                cols: Vec::new(),
                rows: 0,
                params: Vec::new(),
                bytes: 0,
                exprs: Vec::new(),
                relaxed: false,
            },
            binlog_events: None,
            reset_gtid: matches!(txn.gtid, TxnGtid::MySql(_)),
            stats: TxnStats::default(),
        }
    }

    /// The transaction's identity on the target: `SET GTID_NEXT` (MySQL) or the session's
    /// `gtid_domain_id`, `server_id` and `gtid_seq_no` (MariaDB); a GTID of the other flavor
    /// is an error.
    fn identity(&mut self) -> Result<(), ApplyError> {
        let label = &self.label;
        match &self.txn.gtid {
            TxnGtid::MySql(g) => {
                if self.shared.flavor != ServerFlavor::MySql {
                    return Err(ApplyError::Invalid(format!(
                        "transaction {label} has a MySQL GTID but the target is MariaDB"
                    )));
                }
                self.session
                    .queue(format!("SET GTID_NEXT='{g}'").as_bytes());
            }
            TxnGtid::MariaDb(g) => {
                if self.shared.flavor != ServerFlavor::MariaDb {
                    return Err(ApplyError::Invalid(format!(
                        "transaction {label} has a MariaDB GTID but the target is MySQL"
                    )));
                }
                self.session
                    .want("@@session.gtid_domain_id", g.domain.to_string());
                self.session
                    .want("@@session.server_id", g.server.to_string());
                self.session
                    .queue(format!("SET @@session.gtid_seq_no={}", g.seq).as_bytes());
            }
            TxnGtid::None => {}
        }
        Ok(())
    }

    /// Wait for the commit gate (commit ordering): an aborted run, or a later transaction told
    /// to yield to an earlier one, is an error (the caller drops the session: it rolls back).
    async fn pass_gate(&mut self) -> Result<(), ApplyError> {
        match self.gate.take() {
            Some(gate) => gate.await.map_err(|_| aborted(&self.label)),
            None => Ok(()),
        }
    }

    /// After an atomic CREATE ... SELECT: a TABLE_MAP or rows event joins the BINLOG statement
    /// being collected (its rows counted, not checked afterwards) instead of being applied.
    /// Whether the event was taken.
    fn collect_for_binlog(
        &mut self,
        stream: &EventStream,
        ev: &Event<'_>,
        e: &TxnEvent,
        rows_buf: &mut Vec<u8>,
    ) -> Result<bool, ApplyError> {
        let Some(events) = self.binlog_events.as_mut() else {
            return Ok(false);
        };
        if !(ev.header.event_type == EventType::TableMap
            || ev.header.event_type.rows_info().is_some())
        {
            return Ok(false);
        }
        events.push(self.txn.event_bytes(e), e.inner, self.txn.fde.checksum);
        if let EventBody::Rows(r) = &ev.body {
            let n = count_rows(stream, r, ev, rows_buf)
                .map_err(|err| err.in_file(&*self.txn.pos.file, e.offset))?;
            self.stats.rows += n;
            if let Some(t) = self.touched.as_mut() {
                // Applied as a BINLOG statement: not checked afterwards.
                t.rows_without_key += n;
            }
        }
        Ok(true)
    }

    /// A statement event (`header` is its event's): BEGIN, COMMIT and ROLLBACK, or a
    /// statement run with its session context, standalone or inside the transaction.
    async fn on_query(
        &mut self,
        q: &QueryEvent<'_>,
        header: &EventHeader,
        ei: usize,
    ) -> Result<(), ApplyError> {
        let (txn, shared) = (self.txn, self.shared);
        flush_batch(self.session, &mut self.batch, &self.label).await?;
        send_binlog_events(self.session, &mut self.binlog_events)
            .await
            .map_err(|e| stmt_err(&self.label, e))?;
        if self.begin_or_end(q).await? {
            return Ok(());
        }
        if shared
            .database
            .as_deref()
            .is_some_and(|d| d.as_bytes() != q.schema)
        {
            return Ok(());
        }
        if let Some(t) = self.touched.as_mut() {
            t.statement(event_loc(txn, ei), &q.query);
        }
        let xa_start = starts_ci(&q.query, b"XA START") || starts_ci(&q.query, b"XA BEGIN");
        if !self.in_txn && txn.kind != TxnKind::Standalone && !xa_start {
            open_txn(self.session, txn);
            self.in_txn = true;
        }
        if xa_start {
            self.in_txn = true;
        }
        self.enter_context(q, header.timestamp).await?;
        if txn.kind == TxnKind::Standalone {
            self.run_standalone(q).await
        } else {
            self.run_in_txn(q, header).await
        }
    }

    /// A BEGIN (opens the transaction once; XA START as written), or a COMMIT or ROLLBACK
    /// of an open transaction other than an XA one (the commit). Whether `q` was one of them.
    async fn begin_or_end(&mut self, q: &QueryEvent<'_>) -> Result<bool, ApplyError> {
        if q.is_begin() {
            if !self.in_txn {
                // `is_begin` also answers for XA START, which must run as written
                // (XA END and XA PREPARE follow it).
                if starts_ci(&q.query, b"XA ") {
                    self.session.queue(&q.query);
                } else {
                    open_txn(self.session, self.txn);
                }
                self.in_txn = true;
            }
            return Ok(true);
        }
        let end: Option<&[u8]> = if q.is_commit() {
            Some(b"COMMIT")
        } else if q.is_rollback() {
            Some(b"ROLLBACK")
        } else {
            None
        };
        if let Some(end) = end
            && self.in_txn
            && !starts_ci(&q.query, b"XA ")
        {
            self.pass_gate().await?;
            commit(self.session, end, self.reset_gtid)
                .await
                .map_err(|e| stmt_err(&self.label, e))?;
            self.ended = true;
            return Ok(true);
        }
        Ok(false)
    }

    /// The session as statement `q` (event timestamp `ts`) ran on the source (see
    /// `statement_context`), and its default database by `USE` when that changes. A
    /// standalone statement whose database the target lacks runs without one.
    async fn enter_context(&mut self, q: &QueryEvent<'_>, ts: u32) -> Result<(), ApplyError> {
        let Some(db) = statement_context(self.session, self.shared, q, ts) else {
            return Ok(());
        };
        // Its own round trip: a statement that creates or drops the database
        // runs on the source with it as default even when it does not exist.
        let use_sql = format!("USE {db}");
        match self.session.query(use_sql.as_bytes()).await {
            Ok(()) => {}
            Err(e)
                if self.txn.kind == TxnKind::Standalone
                    && matches!(&e.source, mysql_async::Error::Server(se) if se.code == 1049) =>
            {
                tracing::debug!(%db, "default database missing on the target; running the statement without it");
                self.session.want_tracked("USE", "");
                // The failed statement released the GTID: take it again.
                if let TxnGtid::MySql(g) = &self.txn.gtid {
                    self.session
                        .queue(format!("SET GTID_NEXT='{g}'").as_bytes());
                }
            }
            Err(e) => return Err(stmt_err(&self.label, e)),
        }
        Ok(())
    }

    /// A standalone statement (DDL and the like): it is its own commit, behind the gate.
    async fn run_standalone(&mut self, q: &QueryEvent<'_>) -> Result<(), ApplyError> {
        self.pass_gate().await?;
        commit(self.session, &q.query, self.reset_gtid)
            .await
            .map_err(|e| stmt_err(&self.label, e))?;
        self.ended = true;
        self.after_ddl();
        Ok(())
    }

    /// A statement inside the transaction; an atomic CREATE ... SELECT also starts the
    /// collection of its rows as BINLOG statements.
    async fn run_in_txn(
        &mut self,
        q: &QueryEvent<'_>,
        header: &EventHeader,
    ) -> Result<(), ApplyError> {
        let atomic_create = self.atomic_create_prelude(q, header).await?;
        self.session
            .query(&q.query)
            .await
            .map_err(|e| stmt_err(&self.label, e))?;
        if atomic_create {
            self.binlog_events = Some(BinlogEvents::default());
        }
        self.after_ddl();
        Ok(())
    }

    /// For an atomic CREATE ... SELECT (MySQL): the format description the row events are
    /// read under, sent before it. Whether `q` is one.
    async fn atomic_create_prelude(
        &mut self,
        q: &QueryEvent<'_>,
        header: &EventHeader,
    ) -> Result<bool, ApplyError> {
        let atomic_create =
            self.shared.flavor == ServerFlavor::MySql && is_atomic_create_select(&q.query);
        if atomic_create {
            // The description the row events are read under goes first:
            // after the CREATE only BINLOG statements of rows are accepted.
            let fde =
                format_description_statement(&self.txn.fde, header.timestamp, header.server_id);
            self.session
                .query(fde.as_bytes())
                .await
                .map_err(|e| stmt_err(&self.label, e))?;
        }
        Ok(atomic_create)
    }

    /// After a statement of a DDL transaction: every worker's table shapes are stale.
    fn after_ddl(&mut self) {
        if self.txn.is_ddl {
            self.shared.invalidate_schema();
            self.specs.clear();
        }
    }

    /// INTVAR, RAND and USER_VAR events: the variable the next statement reads, queued to
    /// travel with it.
    fn on_variable(&mut self, body: &EventBody<'_>) {
        match body {
            EventBody::Intvar(iv) => {
                let name = if iv.kind == IntvarEvent::LAST_INSERT_ID {
                    "LAST_INSERT_ID"
                } else {
                    "INSERT_ID"
                };
                self.session
                    .queue(format!("SET {name}={}", iv.value).as_bytes());
            }
            EventBody::Rand(r) => {
                self.session.queue(
                    format!("SET @@RAND_SEED1={}, @@RAND_SEED2={}", r.seed1, r.seed2).as_bytes(),
                );
            }
            EventBody::UserVar(u) => {
                let s = user_var_sql(u, self.shared);
                self.session.queue(s.as_bytes());
            }
            _ => {}
        }
    }

    /// The XID event: the commit, or for a one-INSERT transaction free of commit order, the
    /// INSERT under autocommit.
    async fn on_xid(&mut self) -> Result<(), ApplyError> {
        send_binlog_events(self.session, &mut self.binlog_events)
            .await
            .map_err(|e| stmt_err(&self.label, e))?;
        if self.gate.is_none()
            && !self.session.is_dry_run()
            && self.session.begin_is_deferred()
            && self.batch.rows > 0
        {
            // The whole transaction is one INSERT and commit order is free:
            // autocommit commits it, with no BEGIN and COMMIT round trip (dry
            // runs print BEGIN and COMMIT for people).
            self.session.autocommit_instead();
            flush_batch(self.session, &mut self.batch, &self.label).await?;
            if self.reset_gtid {
                // Travels with the next transaction's first statement.
                self.session.queue(b"SET GTID_NEXT='AUTOMATIC'");
            }
            self.ended = true;
            return Ok(());
        }
        flush_batch(self.session, &mut self.batch, &self.label).await?;
        self.pass_gate().await?;
        if !self.in_txn {
            open_txn(self.session, self.txn);
        }
        commit(self.session, b"COMMIT", self.reset_gtid)
            .await
            .map_err(|e| stmt_err(&self.label, e))?;
        self.ended = true;
        Ok(())
    }

    /// The XA_PREPARE event: XA PREPARE (or XA COMMIT ... ONE PHASE) as the commit; on
    /// MariaDB a prepared XA then leaves with its connection.
    async fn on_xa_prepare(&mut self, x: &XaPrepareEvent<'_>, ei: usize) -> Result<(), ApplyError> {
        if !x.one_phase
            && let Some(t) = self.touched.as_mut()
        {
            // Committed or rolled back by a later XA COMMIT/ROLLBACK.
            t.uncertain_txn(event_loc(self.txn, ei));
        }
        flush_batch(self.session, &mut self.batch, &self.label).await?;
        self.pass_gate().await?;
        let sql = xa_prepare_sql(x);
        commit(self.session, sql.as_bytes(), self.reset_gtid)
            .await
            .map_err(|e| stmt_err(&self.label, e))?;
        self.ended = true;
        if self.shared.flavor == ServerFlavor::MariaDb && !x.one_phase {
            // MariaDB keeps a prepared XA attached to its connection until the
            // server has cleaned that connection up; only then can another
            // session commit it.
            let old_id = self.session.conn().map(|c| c.id());
            self.session
                .reconnect(self.shared.target.as_ref())
                .await
                .map_err(|e| stmt_err(&self.label, e))?;
            if let Some(id) = old_id {
                wait_connection_gone(self.session, id)
                    .await
                    .map_err(|e| stmt_err(&self.label, e))?;
            }
        }
        Ok(())
    }

    /// A rows event (event `ei`, `e`, of the transaction): its table's spec, the session
    /// settings of row statements, then its rows (see `apply_rows`). A table outside the
    /// database is skipped; in a survey, so is a table whose shape changed.
    async fn on_rows(
        &mut self,
        stream: &EventStream,
        ev: &Event<'_>,
        r: &RowsEvent<'_>,
        (ei, e): (usize, &TxnEvent),
        rows_buf: &mut Vec<u8>,
    ) -> Result<(), ApplyError> {
        let (txn, shared) = (self.txn, self.shared);
        let at = |err: crate::binlog::BinlogError| err.in_file(&*txn.pos.file, e.offset);
        let mapped = stream.table(r.table_id).map_err(at)?;
        let tm = mapped.table_map();
        if shared
            .database
            .as_deref()
            .is_some_and(|d| d.as_bytes() != tm.schema)
        {
            return Ok(());
        }
        if !self.in_txn {
            open_txn(self.session, txn);
            self.in_txn = true;
        }
        let compressed = ev.header.event_type.rows_info().is_some_and(|i| i.2);
        let rows = expand_rows(r, compressed, rows_buf).map_err(at)?;
        let spec = match table_spec(self.session, shared, self.specs, mapped, &self.label).await {
            Ok(spec) => spec,
            Err(ApplyError::SchemaMismatch { .. }) if shared.survey => {
                let n = count_rows(stream, r, ev, rows_buf).map_err(at)?;
                if let Some(t) = self.touched.as_mut() {
                    t.rows_without_key += n;
                }
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        want_row_settings(self.session, rows.flags);
        apply_rows(
            self.session,
            shared,
            &spec,
            mapped,
            &rows,
            &mut self.batch,
            &self.label,
            &mut self.stats,
            self.touched.as_mut(),
            event_loc(txn, ei),
        )
        .await
    }

    /// The end step: the commit of a transaction no event ended (see the comment inside).
    /// Returns the walk's stats; `statements` is the caller's to fill in.
    async fn finish(mut self) -> Result<TxnStats, ApplyError> {
        if !self.ended {
            // A transaction the reader closed on something this walk did not treat as the
            // end (e.g. a filtered statement): commit what there is.
            flush_batch(self.session, &mut self.batch, &self.label).await?;
            send_binlog_events(self.session, &mut self.binlog_events)
                .await
                .map_err(|e| stmt_err(&self.label, e))?;
            self.pass_gate().await?;
            let st = |e| stmt_err(&self.label, e);
            if self.in_txn {
                commit(self.session, b"COMMIT", self.reset_gtid)
                    .await
                    .map_err(st)?;
            } else if self.reset_gtid {
                // Nothing ran: the GTID still gets its (empty) transaction.
                open_txn(self.session, self.txn);
                commit(self.session, b"COMMIT", self.reset_gtid)
                    .await
                    .map_err(st)?;
            } else {
                self.session.flush().await.map_err(st)?;
            }
        }
        Ok(self.stats)
    }
}

/// The session settings a rows event's statements run under (`flags`: the event's): UTC,
/// binary charsets, [`ROW_SQL_MODE`] (inserts and updates choose theirs, `row_sql_mode`), and
/// the check flags of the statement on the source.
fn want_row_settings(session: &mut Session, flags: u16) {
    // Check flags of the statement on the source.
    session.want("@@session.time_zone", "'+00:00'");
    // Inserts and updates choose theirs (`row_sql_mode`).
    session.want("@@session.sql_mode", ROW_SQL_MODE);
    session.want("@@session.character_set_client", "binary");
    session.want("@@session.collation_connection", "binary");
    session.want(
        "@@session.foreign_key_checks",
        if flags & rows_flags::NO_FOREIGN_KEY_CHECKS != 0 {
            "0"
        } else {
            "1"
        },
    );
    session.want(
        "@@session.unique_checks",
        if flags & rows_flags::RELAXED_UNIQUE_CHECKS != 0 {
            "0"
        } else {
            "1"
        },
    );
}

/// Where event `event` of `txn` is, for what the run records as touched.
fn event_loc(txn: &Transaction, event: usize) -> Loc {
    Loc {
        file: txn.pos.file_index as u32,
        start: txn.pos.start,
        event: event as u32,
        row: 0,
    }
}

/// A failed statement of transaction `label`.
fn stmt_err(label: &str, e: StmtError) -> ApplyError {
    ApplyError::Statement {
        txn: label.to_string(),
        statement: e.statement,
        source: e.source,
    }
}

/// Send the row events collected since an atomic CREATE as one BINLOG statement.
async fn send_binlog_events(
    session: &mut Session,
    events: &mut Option<BinlogEvents>,
) -> Result<(), StmtError> {
    match events {
        Some(e) if !e.is_empty() => session.query(e.take_statement().as_bytes()).await,
        _ => Ok(()),
    }
}

/// The number of rows of a rows event (for the report, when the event itself is applied).
fn count_rows<'a>(
    stream: &EventStream,
    r: &RowsEvent<'a>,
    ev: &crate::binlog::Event<'a>,
    rows_buf: &'a mut Vec<u8>,
) -> crate::binlog::Result<u64> {
    let mapped = stream.table(r.table_id)?;
    let compressed = ev.header.event_type.rows_info().is_some_and(|i| i.2);
    let rows = expand_rows(r, compressed, rows_buf)?;
    let mut it = rows.rows(&mapped.decoder);
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut n = 0;
    while it.next_row(&mut before, &mut after)? {
        n += 1;
    }
    Ok(n)
}

/// After the disconnect, wait (bounded) until the server has finished with connection `id`.
///
/// MariaDB lists a prepared XA in `XA RECOVER` while its connection is still closing, but
/// hands it to another session (`XA COMMIT`) only once that connection's cleanup detached
/// it, which happens before the connection leaves the process list.
async fn wait_connection_gone(session: &mut Session, id: u32) -> Result<(), StmtError> {
    use mysql_async::prelude::Queryable;
    let sql = format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {id}");
    for _ in 0..1000 {
        let Some(conn) = session.conn() else {
            return Ok(());
        };
        let n: Option<i64> = conn
            .query_first(sql.as_str())
            .await
            .map_err(|source| StmtError {
                statement: sql.clone(),
                source,
            })?;
        if n == Some(0) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tracing::warn!(
        connection = id,
        "the connection that prepared an XA transaction is still listed after 10 s; \
         a following XA COMMIT may fail with XAER_NOTA (re-running the replay is safe)"
    );
    Ok(())
}

/// Start the transaction: XA START as written, a plain BEGIN deferred until something is sent.
fn open_txn(session: &mut Session, txn: &Transaction) {
    match &txn.xa_start {
        Some(xa) => session.queue(xa.as_bytes()),
        None => session.defer_begin(),
    }
}

fn aborted(label: &str) -> ApplyError {
    ApplyError::Internal(format!(
        "transaction {label} not committed: another transaction of the run failed"
    ))
}

/// Whether statement `q` starts with `p`, ignoring ASCII case and leading whitespace (the one
/// prefix test of the apply module).
pub(super) fn starts_ci(q: &[u8], p: &[u8]) -> bool {
    let n = q.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let q = &q[n..];
    q.len() >= p.len() && q[..p.len()].eq_ignore_ascii_case(p)
}

async fn commit(session: &mut Session, sql: &[u8], reset_gtid: bool) -> Result<(), StmtError> {
    if reset_gtid {
        let mut q = sql.to_vec();
        q.extend_from_slice(b";\nSET GTID_NEXT='AUTOMATIC'");
        session.query(&q).await
    } else {
        session.query(sql).await
    }
}

fn xa_prepare_sql(x: &XaPrepareEvent<'_>) -> String {
    let xid = xid_sql(x.format_id as i64, x.gtrid, x.bqual);
    if x.one_phase {
        format!("XA COMMIT {xid} ONE PHASE")
    } else {
        format!("XA PREPARE {xid}")
    }
}

/// Set the session up as the statement ran on the source. Returns the database to `USE`
/// when it changes.
fn statement_context(
    session: &mut Session,
    shared: &Shared,
    q: &QueryEvent<'_>,
    ts: u32,
) -> Option<String> {
    let s = &q.status;
    let mut use_db = None;
    if !q.schema.is_empty() {
        let db = String::from_utf8_lossy(q.schema);
        let v = quote_ident(&db);
        if session_db_changed(session, &v) {
            use_db = Some(v);
        }
    }
    let micros = s.microseconds.or(s.hrnow);
    match micros {
        Some(us) => session.queue(format!("SET TIMESTAMP={ts}.{us:06}").as_bytes()),
        None => session.queue(format!("SET TIMESTAMP={ts}").as_bytes()),
    }
    session.want("@@session.pseudo_thread_id", q.thread_id.to_string());
    if let Some(f) = s.flags2 {
        let b = |on: bool| if on { "1" } else { "0" };
        session.want(
            "@@session.foreign_key_checks",
            b(f & OPTION_NO_FOREIGN_KEY_CHECKS == 0),
        );
        session.want(
            "@@session.unique_checks",
            b(f & OPTION_RELAXED_UNIQUE_CHECKS == 0),
        );
        session.want(
            "@@session.sql_auto_is_null",
            b(f & OPTION_AUTO_IS_NULL != 0),
        );
    }
    if let Some(m) = s.sql_mode {
        session.want("@@session.sql_mode", m.to_string());
    }
    let (inc, off) = s.auto_increment.unwrap_or((1, 1));
    session.want("@@session.auto_increment_increment", inc.to_string());
    session.want("@@session.auto_increment_offset", off.to_string());
    if let Some((client, conn, server)) = s.charset {
        session.want("@@session.character_set_client", client.to_string());
        session.want("@@session.collation_connection", conn.to_string());
        session.want("@@session.collation_server", server.to_string());
    }
    match s.time_zone {
        Some(tz) => {
            let mut v = String::new();
            crate::binlog::json_diff::write_sql_quoted(&String::from_utf8_lossy(tz), &mut v);
            session.want("@@session.time_zone", v);
        }
        None => session.want("@@session.time_zone", "'SYSTEM'"),
    }
    session.want(
        "@@session.lc_time_names",
        s.lc_time_names.unwrap_or(0).to_string(),
    );
    match s.charset_database {
        Some(c) => session.want("@@session.collation_database", c.to_string()),
        None => session.want("@@session.collation_database", "DEFAULT"),
    }
    if let Some(e) = s.explicit_defaults_for_timestamp {
        session.want("@@session.explicit_defaults_for_timestamp", e.to_string());
    }
    if shared.flavor == ServerFlavor::MySql {
        if let Some(c) = s.default_collation_for_utf8mb4 {
            session.want("@@session.default_collation_for_utf8mb4", c.to_string());
        }
        if let Some(r) = s.sql_require_primary_key {
            session.want("@@session.sql_require_primary_key", r.to_string());
        }
    }
    use_db
}

/// `USE` is tracked like a variable so it is sent only when the database changes.
fn session_db_changed(session: &mut Session, db: &str) -> bool {
    session.want_tracked("USE", db)
}

fn user_var_sql(u: &UserVarEvent<'_>, shared: &Shared) -> String {
    let name = quote_ident(&String::from_utf8_lossy(u.name));
    let Some(v) = &u.value else {
        return format!("SET @{name}:=NULL");
    };
    let mut s = format!("SET @{name}:=");
    match v.kind {
        UserVarType::String => {
            let hex: String = v.bytes.iter().map(|b| format!("{b:02X}")).collect();
            match shared.collations.get(&v.charset) {
                Some((cs, coll)) => {
                    let _ = write!(s, "_{cs} X'{hex}' COLLATE `{coll}`");
                }
                None => {
                    let _ = write!(s, "X'{hex}'");
                }
            }
        }
        UserVarType::Real => {
            let d = v
                .bytes
                .get(..8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .unwrap_or(0.0);
            let _ = write!(s, "{d:?}");
        }
        UserVarType::Int => {
            let i = v
                .bytes
                .get(..8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .unwrap_or(0);
            if v.unsigned {
                let _ = write!(s, "{}", i as u64);
            } else {
                let _ = write!(s, "{i}");
            }
        }
        UserVarType::Decimal => match v.bytes {
            [p, sc, bin @ ..] => {
                write_decimal(
                    &Decimal {
                        precision: *p,
                        scale: *sc,
                        bin,
                    },
                    &mut s,
                );
            }
            _ => s.push_str("NULL"),
        },
        UserVarType::Other(_) => s.push_str("NULL"),
    }
    s
}

/// The spec of the table a rows event refers to, from the cache or built now.
async fn table_spec(
    session: &mut Session,
    shared: &Shared,
    specs: &mut HashMap<Vec<u8>, Arc<TableSpec>>,
    mapped: &MappedTable,
    label: &str,
) -> Result<Arc<TableSpec>, ApplyError> {
    let tm = mapped.table_map();
    let mut key = Vec::with_capacity(64);
    key.extend_from_slice(tm.schema);
    key.push(0);
    key.extend_from_slice(tm.table);
    key.push(0);
    key.extend_from_slice(tm.column_types);
    key.extend_from_slice(tm.metadata);
    key.extend_from_slice(tm.optional_raw);
    if let Some(s) = specs.get(&key) {
        return Ok(s.clone());
    }
    let schema = String::from_utf8_lossy(tm.schema).into_owned();
    let table = String::from_utf8_lossy(tm.table).into_owned();
    let display = format!("{schema}.{table}");
    let dry_run = session.is_dry_run();
    let target = match session.schema_conn() {
        None => None,
        Some(conn) => {
            let k = (schema.clone(), table.clone());
            let cached = shared
                .tables
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&k)
                .cloned();
            let t = match cached {
                Some(t) => t,
                None => {
                    let t = fetch_target_table(conn, &schema, &table)
                        .await
                        .map_err(|source| ApplyError::Statement {
                            txn: label.to_string(),
                            statement: "SELECT ... FROM information_schema.COLUMNS".into(),
                            source,
                        })?
                        .map(Arc::new);
                    shared
                        .tables
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(k, t.clone());
                    t
                }
            };
            match t {
                Some(t) => Some(t),
                // A dry run prints tables the target does not have yet from the table map.
                None if dry_run => None,
                None => {
                    return Err(ApplyError::SchemaMismatch {
                        txn: label.to_string(),
                        table: display,
                        column: "-".into(),
                        detail: "the table does not exist on the target".into(),
                    });
                }
            }
        }
    };
    let spec = build_spec(&tm, &mapped.decoder, target.as_deref()).map_err(|m| {
        ApplyError::SchemaMismatch {
            txn: label.to_string(),
            table: display,
            column: m.column,
            detail: m.detail,
        }
    })?;
    let spec = Arc::new(spec);
    specs.insert(key, spec.clone());
    Ok(spec)
}

async fn flush_batch(
    session: &mut Session,
    batch: &mut InsertBatch,
    label: &str,
) -> Result<(), ApplyError> {
    if batch.rows == 0 {
        return Ok(());
    }
    let spec = batch.spec.clone().expect("batch has a table");
    let sql = insert_sql(&spec, &batch.cols, batch.rows, &batch.exprs);
    session.want("@@session.sql_mode", row_sql_mode(batch.relaxed));
    batch.exprs.clear();
    let params = std::mem::take(&mut batch.params);
    let rows = batch.rows as u64;
    batch.rows = 0;
    batch.bytes = 0;
    session
        .exec(&sql, params, rows)
        .await
        .map_err(|e| ApplyError::Statement {
            txn: label.to_string(),
            statement: e.statement,
            source: e.source,
        })?;
    Ok(())
}

fn row_err(label: &str, spec: &TableSpec, detail: String) -> ApplyError {
    ApplyError::Row {
        txn: label.to_string(),
        table: spec.display_name(),
        detail,
    }
}

/// What every row of one rows event shares: the columns each image carries and how a row is
/// found on the target.
struct RowsShape {
    /// Stored columns of the before image (for an insert: of the row).
    present_before: Vec<usize>,
    /// Stored columns of the after image of an update.
    present_after: Vec<usize>,
    /// The columns that find a row: the primary key first when the image has it, then every
    /// other column the image holds (a row the target changed since is a conflict, never
    /// overwritten); without the key, every column.
    where_cols: Vec<usize>,
    /// How many of `where_cols` are the primary key (0: none, `LIMIT 1`).
    key: usize,
    /// The before image lacks a stored column (binlog_row_image MINIMAL or NOBLOB): what the
    /// target changed in a missing column cannot be seen.
    partial_before: bool,
}

impl RowsShape {
    fn of(spec: &TableSpec, rows: &RowsEvent<'_>) -> RowsShape {
        let present_before: Vec<usize> = rows
            .columns_before
            .ones()
            .filter(|&i| !spec.columns[i].generated)
            .collect();
        let present_after: Vec<usize> = rows
            .columns_after
            .map(|b| b.ones().filter(|&i| !spec.columns[i].generated).collect())
            .unwrap_or_default();
        let (where_cols, key) = match &spec.primary_key {
            Some(pk) if pk.iter().all(|k| rows.columns_before.get(*k)) => {
                let mut cols = pk.clone();
                cols.extend(present_before.iter().filter(|&&i| !pk.contains(&i)));
                (cols, pk.len())
            }
            _ => (present_before.clone(), 0),
        };
        let partial_before = (0..spec.columns.len())
            .any(|i| !spec.columns[i].generated && !rows.columns_before.get(i));
        RowsShape {
            present_before,
            present_after,
            where_cols,
            key,
            partial_before,
        }
    }

    fn row_match(&self) -> RowMatch<'_> {
        RowMatch {
            cols: &self.where_cols,
            key: self.key,
        }
    }
}

/// The table and transaction a row belongs to, for its statements and their errors.
#[derive(Clone, Copy)]
struct RowCx<'s> {
    spec: &'s Arc<TableSpec>,
    label: &'s str,
}

impl RowCx<'_> {
    fn err(&self, detail: String) -> ApplyError {
        row_err(self.label, self.spec, detail)
    }

    fn col_err(&self, i: usize, detail: String) -> ApplyError {
        self.err(format!("column {}: {detail}", self.spec.columns[i].name))
    }
}

/// Apply every row of one rows event: inserts join the multi-row INSERT batch, updates and
/// deletes run one statement a row, found by key (see [`RowsShape`]).
#[allow(clippy::too_many_arguments)]
async fn apply_rows<'a>(
    session: &mut Session,
    shared: &Shared,
    spec: &Arc<TableSpec>,
    mapped: &MappedTable,
    rows: &RowsEvent<'a>,
    batch: &mut InsertBatch,
    label: &str,
    stats: &mut TxnStats,
    mut touched: Option<&mut Touched>,
    base: Loc,
) -> Result<(), ApplyError> {
    let slot = touched.as_deref_mut().map(|t| t.table_slot(spec, base));
    let mut row_index = 0u32;
    let mut it = rows.rows(spec.decoder(&mapped.decoder));
    let shape = RowsShape::of(spec, rows);
    let cx = RowCx { spec, label };
    let (mut before, mut after): (Vec<Value<'a>>, Vec<Value<'a>>) = (Vec::new(), Vec::new());
    loop {
        let more = it
            .next_row(&mut before, &mut after)
            .map_err(|e| cx.err(e.to_string()))?;
        if !more {
            break;
        }
        stats.rows += 1;
        if let (Some(t), Some(slot)) = (touched.as_deref_mut(), slot) {
            let loc = Loc {
                row: row_index,
                ..base
            };
            t.row(slot, rows, &before, &after, loc);
        }
        row_index = row_index.wrapping_add(1);
        if shared.survey {
            // Only what the rows leave is wanted: no statement is built.
            continue;
        }
        if rows.kind == RowsKind::Write {
            insert_row(session, shared, cx, &shape, batch, &after).await?;
            continue;
        }
        flush_batch(session, batch, label).await?;
        stats.rows_partial_match += shape.partial_before as u64;
        match rows.kind {
            RowsKind::Update | RowsKind::PartialUpdate => {
                update_row(session, cx, &shape, &before, &after).await?
            }
            _ => delete_row(session, cx, &shape, &before).await?,
        }
    }
    Ok(())
}

/// Add the row `after` to the INSERT batch (flushing it first when it holds another table or
/// other columns, after when it is full).
async fn insert_row(
    session: &mut Session,
    shared: &Shared,
    cx: RowCx<'_>,
    shape: &RowsShape,
    batch: &mut InsertBatch,
    after: &[Value<'_>],
) -> Result<(), ApplyError> {
    let spec = cx.spec;
    let same = batch.spec.as_ref().is_some_and(|s| Arc::ptr_eq(s, spec))
        && batch.cols == shape.present_before;
    if !same {
        flush_batch(session, batch, cx.label).await?;
        batch.spec = Some(spec.clone());
        batch.cols = shape.present_before.clone();
        // For an insert, the before bitmap is the image's.
        batch.relaxed = shape.partial_before;
    }
    for &i in &shape.present_before {
        batch.relaxed |= needs_relaxed(&after[i]);
        let from = batch.params.len();
        let e =
            bind_col(&after[i], spec, i, false, &mut batch.params).map_err(|d| cx.col_err(i, d))?;
        batch.bytes += batch.params[from..].iter().map(param_len).sum::<usize>();
        if let Some(e) = e {
            batch.exprs.push((batch.rows, e));
        }
    }
    batch.rows += 1;
    if batch.rows >= shared.insert_rows
        || batch.bytes >= shared.insert_bytes
        || batch.params.len() + shape.present_before.len() > 60_000
    {
        flush_batch(session, batch, cx.label).await?;
    }
    Ok(())
}

/// One UPDATE: the after image's columns set (a partial JSON update as its diffs), the row
/// found by the before image; no row found is a conflict.
async fn update_row(
    session: &mut Session,
    cx: RowCx<'_>,
    shape: &RowsShape,
    before: &[Value<'_>],
    after: &[Value<'_>],
) -> Result<(), ApplyError> {
    let mut params = Vec::with_capacity(shape.present_after.len() + shape.where_cols.len());
    let mut set = Vec::with_capacity(shape.present_after.len());
    let mut relaxed = false;
    for &i in &shape.present_after {
        relaxed |= needs_relaxed(&after[i]);
        set.push(match after[i] {
            Value::JsonDiff(d) => SetShape::JsonDiff(i, json_diff_shapes(cx, d, &mut params)?),
            ref v => {
                match bind_col(v, cx.spec, i, false, &mut params).map_err(|d| cx.col_err(i, d))? {
                    Some(e) => SetShape::Expr(e),
                    None => SetShape::Value(i),
                }
            }
        });
    }
    if set.is_empty() {
        return Ok(());
    }
    let row_match = shape.row_match();
    let where_exprs =
        bind_where(cx.spec, row_match, before, &mut params).map_err(|(i, d)| cx.col_err(i, d))?;
    let sql = update_sql(cx.spec, &set, row_match, &where_exprs);
    session.want("@@session.sql_mode", row_sql_mode(relaxed));
    if run_keyed(session, &sql, params, cx.label).await? == 0 {
        return Err(row_not_found(session, cx.spec, row_match, before, &sql, cx.label).await);
    }
    Ok(())
}

/// A partial JSON update's diffs as JSON_SET/JSON_REPLACE/JSON_REMOVE shapes, their paths and
/// values bound onto `params` (a value holding typed scalars as an expression).
fn json_diff_shapes(
    cx: RowCx<'_>,
    d: &[u8],
    params: &mut Vec<Param>,
) -> Result<Vec<DiffShape>, ApplyError> {
    let mut shapes = Vec::new();
    for diff in json_diffs(d) {
        let diff = diff.map_err(|e| cx.err(e.to_string()))?;
        params.push(Param::Bytes(diff.path.to_vec()));
        let mut value_expr = None;
        if let Some(v) = diff.value {
            match json_expr(v).map_err(|e| cx.err(e.to_string()))? {
                Some(e) => {
                    params.extend(e.params);
                    value_expr = Some(e.sql);
                }
                None => {
                    let mut t = String::new();
                    write_json_text(v, &mut t).map_err(|e| cx.err(e.to_string()))?;
                    params.push(Param::Bytes(t.into_bytes()));
                }
            }
        }
        shapes.push(DiffShape {
            function: diff.function_name(),
            has_value: diff.value.is_some(),
            value_expr,
        });
    }
    Ok(shapes)
}

/// One DELETE of the row the before image finds; no row found is a conflict.
async fn delete_row(
    session: &mut Session,
    cx: RowCx<'_>,
    shape: &RowsShape,
    before: &[Value<'_>],
) -> Result<(), ApplyError> {
    let row_match = shape.row_match();
    let mut params = Vec::with_capacity(shape.where_cols.len());
    let where_exprs =
        bind_where(cx.spec, row_match, before, &mut params).map_err(|(i, d)| cx.col_err(i, d))?;
    let sql = delete_sql(cx.spec, row_match, &where_exprs);
    if run_keyed(session, &sql, params, cx.label).await? == 0 {
        return Err(row_not_found(session, cx.spec, row_match, before, &sql, cx.label).await);
    }
    Ok(())
}

/// Run an UPDATE or DELETE of one row; the number of rows it found.
async fn run_keyed(
    session: &mut Session,
    sql: &str,
    params: Vec<Param>,
    label: &str,
) -> Result<u64, ApplyError> {
    session
        .exec(sql, params, 1)
        .await
        .map_err(|e| ApplyError::Statement {
            txn: label.to_string(),
            statement: e.statement,
            source: e.source,
        })
}

/// The error for a row the target does not have as the before image says, naming what
/// differs: no row with that key, or which columns hold other values (a query run only on
/// this failure path; values themselves are never named).
async fn row_not_found(
    session: &mut Session,
    spec: &TableSpec,
    m: RowMatch<'_>,
    before: &[Value<'_>],
    sql: &str,
    label: &str,
) -> ApplyError {
    let differs = if m.key > 0 && m.cols.len() > m.key {
        let (sql, params) = compare_sql(spec, m, before);
        match params {
            Ok(params) => match session.query_first_row(&sql, params).await {
                Ok(Some(row)) => {
                    let cols: Vec<&str> = m.cols[m.key..]
                        .iter()
                        .zip(row)
                        .filter(|(_, same)| *same != Some(1))
                        .map(|(&i, _)| spec.columns[i].name.as_str())
                        .collect();
                    Some(format!("columns that differ: {}", cols.join(", ")))
                }
                Ok(None) => Some("no row has this primary key".to_string()),
                Err(_) => None,
            },
            Err(_) => None,
        }
    } else {
        None
    };
    ApplyError::RowNotFound {
        txn: label.to_string(),
        table: spec.display_name(),
        statement: super::session::shape(sql.as_bytes()),
        differs: differs.unwrap_or_else(|| "the row is not there".to_string()),
    }
}

/// `SELECT c2 <=> ?, c3 <=> ? FROM t WHERE pk = ?`: which non-key columns of the row with
/// the before image's key equal the before image.
fn compare_sql(
    spec: &TableSpec,
    m: RowMatch<'_>,
    before: &[Value<'_>],
) -> (String, Result<Vec<Param>, String>) {
    let mut sql = String::from("SELECT ");
    let rest = &m.cols[m.key..];
    let mut params = Vec::with_capacity(m.cols.len());
    let mut failed = None;
    for (n, &i) in rest.iter().enumerate() {
        if n > 0 {
            sql.push(',');
        }
        let c = &spec.columns[i];
        match bind_col(&before[i], spec, i, true, &mut params) {
            Ok(e) => super::row_sql::compare_term(
                &c.name,
                &c.style,
                e.as_ref().map(|e| e.sql.as_str()),
                &mut sql,
            ),
            Err(e) => failed = Some(e),
        }
    }
    sql.push_str(" FROM ");
    sql.push_str(&spec.qualified());
    sql.push_str(" WHERE ");
    for (n, &i) in m.cols[..m.key].iter().enumerate() {
        if n > 0 {
            sql.push_str(" AND ");
        }
        sql.push_str(&quote_ident(&spec.columns[i].name));
        sql.push_str("=?");
    }
    for &i in &m.cols[..m.key] {
        match bind(&before[i], &spec.columns[i].bind, true) {
            Ok(p) => params.push(p),
            Err(e) => failed = Some(e),
        }
    }
    (sql, failed.map_or(Ok(params), Err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::control::UserVarValue;

    #[test]
    fn xids_and_user_vars() {
        assert_eq!(xid_sql(1, b"ab", b""), "X'6162',X'',1");
        let mut shared = Shared::new(ServerFlavor::MySql, None);
        shared
            .collations
            .insert(45, ("utf8mb4".into(), "utf8mb4_general_ci".into()));
        let u = UserVarEvent {
            name: b"uv",
            value: Some(UserVarValue {
                kind: UserVarType::String,
                charset: 45,
                bytes: b"hi",
                unsigned: false,
            }),
        };
        assert_eq!(
            user_var_sql(&u, &shared),
            "SET @`uv`:=_utf8mb4 X'6869' COLLATE `utf8mb4_general_ci`"
        );
        let u = UserVarEvent {
            name: b"n",
            value: Some(UserVarValue {
                kind: UserVarType::Int,
                charset: 63,
                bytes: &7i64.to_le_bytes(),
                unsigned: false,
            }),
        };
        assert_eq!(user_var_sql(&u, &shared), "SET @`n`:=7");
        assert_eq!(
            user_var_sql(
                &UserVarEvent {
                    name: b"z",
                    value: None
                },
                &shared
            ),
            "SET @`z`:=NULL"
        );
    }
}
