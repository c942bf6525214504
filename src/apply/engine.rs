//! Running a replay: files in, effects on the target and a report out.
//!
//! Owns the run: connecting the workers, reading what the target already executed, the reader
//! thread, dispatching transactions to workers as their dependencies allow (see `schedule`),
//! skipping what the target has (GTIDs, or the progress file without GTIDs), stopping cleanly
//! on the first failure, verifying the target's executed GTIDs and data afterwards (see
//! `verify`), the progress line on
//! a terminal, and the report. `gapfill replay` calls [`apply_files`]; `gapfill fill` calls it
//! with the spool's segment files and the gap's GTIDs as the include filter.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a transaction that hit a deadlock or lock wait timeout runs again (MySQL's
/// replica_transaction_retries defaults to 10).
const LOCK_RETRIES: u32 = 10;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::header::HEADER_LEN;
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::{MariadbBinlogState, MariadbGtidPos};
use crate::binlog::{Flavor, FormatDescription};

use super::error::ApplyError;
use super::executor::{Applier, CommitGate, Shared, TxnStats};
use super::progress::{Progress, file_name};
use super::reader::{IncompleteTransaction, ReadOptions, ReadStats, TransactionReader};
use super::report::RunReport;
use super::schedule::{CommitTracker, NotYourTurn, Scheduler};
use super::session::{ServerFlavor, Session, TargetOptions, detect_flavor};
use super::touched::Touched;
use super::transaction::{Executed, Transaction, TxnGtid};
use super::verify::verify_data;

/// Where dry-run SQL goes.
pub type DryRunOutput = Arc<Mutex<Box<dyn Write + Send>>>;

/// How to run.
#[derive(Clone)]
pub struct ApplyOptions {
    /// The server to apply on. Required unless `dry_run` is set; with `dry_run` it is only read
    /// (executed GTIDs, table shapes are not read) when reachable.
    pub target: Option<TargetOptions>,
    /// Print the SQL instead of running it.
    pub dry_run: Option<DryRunOutput>,
    /// Worker connections (1 = serial).
    pub parallel: usize,
    pub read: ReadOptions,
    /// Position-based sources record their progress here after each commit, and resume from it.
    pub progress_file: Option<PathBuf>,
    /// Check the target after the run: its executed GTIDs, and the data of every row the
    /// applied transactions wrote or deleted (read back by primary key, see `verify`).
    pub verify: bool,
    /// A progress line on stderr.
    pub show_progress: bool,
    /// Test hook: fail as if the process died after this many transactions were dispatched.
    pub fail_after: Option<u64>,
    /// Most rows per multi-row INSERT.
    pub insert_rows: usize,
    /// Check only: the target already holds these transactions (its own replication applier
    /// ran them, the serve path). Nothing is sent; the transactions are walked as a dry run
    /// would (the target's table shapes, nothing skipped as executed) to learn the rows they
    /// leave, then the target's GTIDs and data are verified as after a run. Needs `target`
    /// and `verify`; `dry_run` must be `None`.
    pub survey: bool,
    /// With `survey` and without `verify`: record the rows for a conflict check
    /// ([`Touched::for_conflicts`]) and hand them back ([`survey_rows`]).
    pub conflict_keys: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            target: None,
            dry_run: None,
            parallel: 4,
            read: ReadOptions::default(),
            progress_file: None,
            verify: true,
            show_progress: false,
            fail_after: None,
            insert_rows: 1000,
            survey: false,
            conflict_keys: false,
        }
    }
}

/// A run that stopped on an error, with what it did before.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct ApplyFailure {
    pub report: RunReport,
    #[source]
    pub error: ApplyError,
}

enum ReaderMsg {
    Txn(Box<Transaction>),
    Done(ReadStats, Vec<IncompleteTransaction>),
    Failed(ApplyError),
}

fn target_err(target: &str, statement: &str, source: mysql_async::Error) -> ApplyError {
    ApplyError::Target {
        target: target.to_string(),
        statement: statement.to_string(),
        source,
    }
}

/// What the target has executed.
pub async fn read_executed(
    conn: &mut mysql_async::Conn,
    flavor: ServerFlavor,
    target: &str,
) -> Result<Executed, ApplyError> {
    use mysql_async::prelude::Queryable;
    match flavor {
        ServerFlavor::MySql => {
            let q = "SELECT CAST(@@GLOBAL.gtid_executed AS CHAR)";
            let s: Option<String> = conn
                .query_first(q)
                .await
                .map_err(|e| target_err(target, q, e))?;
            let s: String = s.unwrap_or_default().split_whitespace().collect();
            let set = GtidSet::parse(&s)
                .map_err(|e| ApplyError::Invalid(format!("{target}: gtid_executed {s:?}: {e}")))?;
            Ok(Executed::MySql(set))
        }
        ServerFlavor::MariaDb => {
            let q = "SELECT CAST(@@GLOBAL.gtid_binlog_state AS CHAR), CAST(@@GLOBAL.gtid_slave_pos AS CHAR)";
            let r: Option<(Option<String>, Option<String>)> = conn
                .query_first(q)
                .await
                .map_err(|e| target_err(target, q, e))?;
            let (state, slave) = r.unwrap_or_default();
            let invalid = |what: &str, s: &str, e: crate::binlog::BinlogError| {
                ApplyError::Invalid(format!("{target}: {what} {s:?}: {e}"))
            };
            let state = state.unwrap_or_default();
            let state = MariadbBinlogState::parse(state.trim())
                .map_err(|e| invalid("gtid_binlog_state", &state, e))?;
            let slave = slave.unwrap_or_default();
            let slave = MariadbGtidPos::parse(slave.trim())
                .map_err(|e| invalid("gtid_slave_pos", &slave, e))?;
            Ok(Executed::MariaDb(MariadbExecuted::new(state, slave)))
        }
    }
}

async fn read_collations(
    conn: &mut mysql_async::Conn,
) -> Result<HashMap<u32, (String, String)>, mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    let rows: Vec<(u32, String, String)> = conn
        .query(
            "SELECT ID, CAST(CHARACTER_SET_NAME AS CHAR), CAST(COLLATION_NAME AS CHAR) \
             FROM information_schema.COLLATIONS WHERE ID IS NOT NULL",
        )
        .await?;
    Ok(rows.into_iter().map(|(i, c, n)| (i, (c, n))).collect())
}

/// The flavor the first file was written by.
fn source_flavor(path: &Path) -> Result<ServerFlavor, ApplyError> {
    let mut r = BinlogFileReader::open(path)?;
    if let ReadOutcome::Event { offset, bytes } = r.next_event()? {
        let fde = FormatDescription::parse(bytes.get(HEADER_LEN..).unwrap_or_default())
            .map_err(|e| e.in_file(path, offset))?;
        return Ok(match fde.flavor {
            Flavor::MariaDb => ServerFlavor::MariaDb,
            _ => ServerFlavor::MySql,
        });
    }
    Ok(ServerFlavor::MySql)
}

/// Run [`apply_files`] on a runtime of its own.
pub fn apply_files_blocking(
    files: &[PathBuf],
    opts: ApplyOptions,
) -> Result<RunReport, Box<ApplyFailure>> {
    // One thread drives every connection: the work is waiting on the target, and handing
    // wake-ups between worker threads cost more CPU than the apply itself (measured).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Box::new(ApplyFailure {
                report: RunReport::default(),
                error: ApplyError::Internal(format!("cannot start the runtime: {e}")),
            })
        })?;
    rt.block_on(apply_files(files, opts))
}

struct Counters {
    applied: AtomicU64,
}

/// Replay `files` (binlogs, relay logs or spool segments, in order) as `opts` says.
pub async fn apply_files(
    files: &[PathBuf],
    opts: ApplyOptions,
) -> Result<RunReport, Box<ApplyFailure>> {
    let started = Instant::now();
    let mut report = RunReport {
        target: opts.target.as_ref().map(|t| t.addr.clone()),
        dry_run: opts.dry_run.is_some(),
        parallel: if opts.dry_run.is_some() {
            1
        } else {
            opts.parallel.max(1)
        },
        files: files.iter().map(|f| f.display().to_string()).collect(),
        ..RunReport::default()
    };
    let r = run(files, &opts, &mut report, started).await.map(|_| ());
    report.seconds = started.elapsed().as_secs_f64();
    report.transactions_per_second = if report.seconds > 0.0 {
        report.transactions_applied as f64 / report.seconds
    } else {
        0.0
    };
    match r {
        Ok(()) => Ok(report),
        Err(error) => {
            report.errors.push(error.to_string());
            tracing::error!(%error, "apply failed");
            Err(Box::new(ApplyFailure { report, error }))
        }
    }
}

/// The rows `files`' transactions touch, as keys for a conflict check
/// ([`Touched::for_conflicts`]): the transactions walked on `target`'s table shapes as a dry
/// run would, nothing sent, nothing skipped as executed (see `ApplyOptions::survey`).
pub async fn survey_rows(
    files: &[PathBuf],
    target: TargetOptions,
    read: ReadOptions,
) -> Result<(Touched, RunReport), Box<ApplyFailure>> {
    let opts = ApplyOptions {
        target: Some(target),
        parallel: 1,
        read,
        verify: false,
        survey: true,
        conflict_keys: true,
        ..ApplyOptions::default()
    };
    let mut report = RunReport::default();
    match run(files, &opts, &mut report, Instant::now()).await {
        Ok(touched) => Ok((touched.unwrap_or_default(), report)),
        Err(error) => Err(Box::new(ApplyFailure { report, error })),
    }
}

/// The walk and, with `opts.verify`, the check; the rows touched when the check did not take
/// them (a survey without verification).
async fn run(
    files: &[PathBuf],
    opts: &ApplyOptions,
    report: &mut RunReport,
    started: Instant,
) -> Result<Option<Touched>, ApplyError> {
    // A survey prints to nowhere: the walk is a dry run's, the checks a run's.
    let survey = opts.survey && opts.dry_run.is_none() && opts.target.is_some();
    let print: Option<DryRunOutput> = opts.dry_run.clone().or_else(|| {
        survey.then(|| {
            Arc::new(Mutex::new(
                Box::new(std::io::sink()) as Box<dyn Write + Send>
            ))
        })
    });
    let dry = opts.dry_run.clone();
    let label = opts
        .target
        .as_ref()
        .map(|t| t.addr.clone())
        .unwrap_or_else(|| "(dry run)".into());
    // Control connection: flavor, executed GTIDs, collations.
    let mut control = None;
    if let Some(t) = &opts.target {
        match t.connect().await {
            Ok(c) => control = Some(c),
            Err(source) if dry.is_none() => {
                return Err(ApplyError::Connect {
                    target: t.addr.clone(),
                    source,
                });
            }
            Err(e) => {
                tracing::warn!(target = %t.addr, error = %e, "dry run: target not reachable; printing every transaction");
            }
        }
    } else if dry.is_none() {
        return Err(ApplyError::Invalid(
            "no target given (and not a dry run)".into(),
        ));
    }
    let first = files
        .first()
        .ok_or_else(|| ApplyError::Invalid("no input files".into()))?;
    let flavor = match control.as_mut() {
        Some(c) => detect_flavor(c)
            .await
            .map_err(|e| target_err(&label, "SELECT @@version", e))?,
        None => source_flavor(first)?,
    };
    let mut shared = Shared::new(flavor, opts.read.database.clone());
    shared.insert_rows = opts.insert_rows.max(1);
    shared.target = opts.target.clone().filter(|_| print.is_none());
    shared.survey = survey;
    let mut executed = None;
    if let Some(c) = control.as_mut() {
        executed = Some(read_executed(c, flavor, &label).await?);
        shared.collations = read_collations(c)
            .await
            .map_err(|e| target_err(&label, "SELECT ... FROM information_schema.COLLATIONS", e))?;
        tracing::info!(target = %label, executed = %executed.as_ref().expect("set"), "target state read");
    }
    let shared = Arc::new(shared);
    let mut free = workers(
        opts,
        print.as_ref(),
        control.is_some(),
        flavor,
        survey,
        report.parallel,
    )
    .await?;
    let progress_rec = match &opts.progress_file {
        Some(p) => Progress::load(p)?,
        None => None,
    };
    let file_names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    // Commit order is kept where the target needs it: MariaDB's strict GTID order per
    // domain, and a progress file that must describe a prefix.
    let ordered = flavor == ServerFlavor::MariaDb || opts.progress_file.is_some();
    // Reader thread.
    let reader = TransactionReader::new(files.to_vec(), opts.read.clone())?;
    let total_bytes = reader.total_bytes().max(1);
    let read_counter = reader.progress_counter();
    let (tx, mut rx) = mpsc::channel::<ReaderMsg>(64);
    let reader_thread = spawn_reader(reader, tx)?;
    // Progress line.
    let counters = Arc::new(Counters {
        applied: AtomicU64::new(0),
    });
    let stop_progress = Arc::new(AtomicBool::new(false));
    let progress_task = opts.show_progress.then(|| {
        spawn_progress(
            counters.clone(),
            stop_progress.clone(),
            read_counter.clone(),
            total_bytes,
            started,
        )
    });

    let tracker = Arc::new(CommitTracker::new());
    let mut sched = Scheduler::new();
    let mut joins: JoinSet<(Option<Applier>, TxnDone)> = JoinSet::new();
    let mut first_error: Option<ApplyError> = None;
    let mut dispatched = 0u64;
    let mut touched_mysql = GtidSet::new();
    let mut touched_mariadb: Vec<crate::binlog::mariadb_gtid::MariadbGtid> = Vec::new();
    let progress_path = opts.progress_file.clone().map(Arc::new);

    while let Some(msg) = rx.recv().await {
        let t = match msg {
            ReaderMsg::Txn(t) => t,
            ReaderMsg::Done(stats, incomplete) => {
                report.transactions_filtered = stats.filtered;
                report.incomplete = incomplete;
                break;
            }
            ReaderMsg::Failed(e) => {
                first_error.get_or_insert(e);
                break;
            }
        };
        report.transactions_read += 1;
        let dep = sched.dependency(&t);
        let already = !survey && executed.as_ref().is_some_and(|x| x.contains(&t.gtid))
            || (t.gtid == TxnGtid::None
                && progress_rec
                    .as_ref()
                    .is_some_and(|p| p.covers(&file_names, t.pos.file_index, t.pos.end)));
        if already {
            report.transactions_skipped += 1;
            record_gtid(&t.gtid, &mut touched_mysql, &mut touched_mariadb);
            tracker.done(t.ordinal);
            continue;
        }
        if t.no_effect {
            // MariaDB would not binlog it: reported, never counted as missing (see
            // `Transaction::no_effect`).
            if let TxnGtid::MariaDb(g) = t.gtid {
                report.gtids_without_effect.push(g);
            }
            tracker.done(t.ordinal);
            continue;
        }
        if opts.fail_after.is_some_and(|k| dispatched >= k) {
            first_error.get_or_insert(ApplyError::Injected(dispatched));
            break;
        }
        // A free worker.
        while free.is_empty() {
            let Some(j) = joins.join_next().await else {
                break;
            };
            finish(
                j,
                report,
                &mut free,
                &mut first_error,
                &tracker,
                &counters,
                &mut touched_mysql,
                &mut touched_mariadb,
            );
        }
        if first_error.is_some() {
            break;
        }
        let Some(applier) = free.pop() else {
            first_error.get_or_insert(ApplyError::Internal("no worker left".into()));
            break;
        };
        dispatched += 1;
        joins.spawn(run_one(Job {
            t,
            applier,
            dep,
            ordered,
            flavor,
            shared: shared.clone(),
            tracker: tracker.clone(),
            progress_path: progress_path.clone(),
            target_label: label.clone(),
        }));
    }
    drop(rx);
    while let Some(j) = joins.join_next().await {
        finish(
            j,
            report,
            &mut free,
            &mut first_error,
            &tracker,
            &counters,
            &mut touched_mysql,
            &mut touched_mariadb,
        );
    }
    let _ = reader_thread.join();
    stop_progress.store(true, Ordering::Relaxed);
    if let Some(p) = progress_task {
        let _ = p.await;
    }
    let mut touched = Touched::new();
    for a in free.iter_mut() {
        report.statements += a.session.statements;
        if let Some(t) = a.touched.take() {
            touched.merge(t);
        }
    }
    for a in free {
        if let super::session::Sink::Live(c) = a.session.sink {
            let _ = c.disconnect().await;
        }
    }
    if let Some(out) = &dry {
        let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
        o.flush().map_err(ApplyError::Output)?;
    }
    let mut left = Some(touched);
    if opts.verify
        && dry.is_none()
        && let Some(c) = control.as_mut()
    {
        let touched = left.take().unwrap_or_default();
        let gtids = (&touched_mysql, touched_mariadb.as_slice());
        let check = CheckAfter {
            flavor,
            label: &label,
            files,
            read: &opts.read,
        };
        if let Err(e) = check
            .run(c, gtids, touched, report, first_error.is_none())
            .await?
        {
            first_error = Some(e);
        }
    }
    if let Some(c) = control {
        let _ = c.disconnect().await;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(left),
    }
}

/// The check after a run: every applied GTID executed on the target, then every row the run
/// left read back (see `verify`).
struct CheckAfter<'a> {
    flavor: ServerFlavor,
    label: &'a str,
    files: &'a [PathBuf],
    read: &'a ReadOptions,
}

impl CheckAfter<'_> {
    /// `Ok(Err(e))`: the run fails with `e` (a GTID missing, a row that differs); the rows
    /// are read only when `rows` (the run had no error before).
    async fn run(
        &self,
        c: &mut mysql_async::Conn,
        (applied_mysql, applied_mariadb): (&GtidSet, &[crate::binlog::mariadb_gtid::MariadbGtid]),
        touched: Touched,
        report: &mut RunReport,
        rows: bool,
    ) -> Result<Result<(), ApplyError>, ApplyError> {
        let label = self.label;
        let after = read_executed(c, self.flavor, label).await?;
        report.gtid_executed_after = Some(after.to_string());
        let missing = match &after {
            Executed::MySql(s) => {
                let m = applied_mysql.subtract(s);
                (!m.is_empty()).then(|| m.to_string())
            }
            Executed::MariaDb(p) => {
                let m: Vec<String> = applied_mariadb
                    .iter()
                    .filter(|g| !p.contains(g))
                    .map(|g| g.to_string())
                    .collect();
                (!m.is_empty()).then(|| m.join(","))
            }
        };
        report.verified = Some(missing.is_none());
        if let Some(m) = missing {
            return Ok(if rows {
                Err(ApplyError::Verification { missing: m })
            } else {
                Ok(())
            });
        }
        if !rows {
            return Ok(Ok(()));
        }
        let check = verify_data(c, label, self.files, self.read, touched).await?;
        report.rows_to_verify = Some(check.to_verify);
        report.rows_verified = Some(check.verified);
        report.rows_not_verifiable = Some(check.not_verifiable);
        report.rows_image_inconsistent = check.image_inconsistent;
        if let Some(first) = &check.first_inconsistent {
            tracing::warn!(
                rows = check.image_inconsistent,
                first = %first,
                "rows whose binlog image is inconsistent: a generated column does not follow \
                 from the image's other columns (the source changed a column the image lacks; \
                 MariaDB logs a REPLACE under binlog_row_image NOBLOB/MINIMAL without the \
                 columns it reset): these rows may differ from the source's"
            );
        }
        report.first_image_inconsistent = check.first_inconsistent;
        let Some(first) = check.first else {
            return Ok(Ok(()));
        };
        report.verified = Some(false);
        let more = if check.mismatches > 1 {
            format!(
                " (and {} more of {} rows checked)",
                check.mismatches - 1,
                check.to_verify
            )
        } else {
            String::new()
        };
        Ok(Err(ApplyError::DataMismatch { first, more }))
    }
}

/// The workers: one printing session for a dry run or a survey (reading table shapes from the
/// target when it is reachable), else `parallel` connections to the target; each records what
/// it touches when the run is checked.
async fn workers(
    opts: &ApplyOptions,
    print: Option<&DryRunOutput>,
    reachable: bool,
    flavor: ServerFlavor,
    survey: bool,
    parallel: usize,
) -> Result<Vec<Applier>, ApplyError> {
    let mut free: Vec<Applier> = Vec::with_capacity(parallel);
    match print {
        Some(out) => {
            // Table shapes come from the target when it is reachable, so the dry run prints
            // what a run would send (generated columns left out, the target's signedness).
            let schema = match (&opts.target, reachable) {
                (Some(t), true) => t.connect().await.ok(),
                _ => None,
            };
            let mut a = Applier::new(Session::print(out.clone(), schema, flavor));
            if survey {
                a.touched = Some(if opts.conflict_keys {
                    Touched::for_conflicts()
                } else {
                    Touched::new()
                });
            }
            free.push(a)
        }
        None => {
            let t = opts
                .target
                .as_ref()
                .ok_or_else(|| ApplyError::Invalid("no target given".into()))?;
            for _ in 0..parallel {
                let conn = t.connect().await.map_err(|source| ApplyError::Connect {
                    target: t.addr.clone(),
                    source,
                })?;
                let mut a = Applier::new(Session::live(conn, flavor));
                if opts.verify {
                    a.touched = Some(Touched::new());
                }
                free.push(a);
            }
        }
    }
    Ok(free)
}

/// One transaction dispatched to a worker: everything it needs, owned.
struct Job {
    t: Box<Transaction>,
    applier: Applier,
    /// The ordinal every earlier transaction it depends on is below.
    dep: u64,
    /// Commit in the source's order (MariaDB, a progress file).
    ordered: bool,
    flavor: ServerFlavor,
    shared: Arc<Shared>,
    tracker: Arc<CommitTracker>,
    progress_path: Option<Arc<PathBuf>>,
    target_label: String,
}

/// Apply one transaction once its dependencies committed (and, `ordered`, every earlier one),
/// retrying a deadlock or lock wait timeout on a new connection as the server's applier does;
/// record a position-based source's progress. The worker comes back unless it failed.
///
/// `ordered`: a transaction waiting for its turn to commit still holds its locks, so an earlier
/// one that needs them waits for a commit that waits for it; the server sees no deadlock and
/// the earlier one's lock wait times out. Before it runs again it asks the later ones to yield
/// (`CommitTracker::ask_to_yield`): each rolls back (its connection dropped) and starts again
/// once every transaction before it has committed.
async fn run_one(job: Job) -> (Option<Applier>, TxnDone) {
    let Job {
        t,
        mut applier,
        dep,
        ordered,
        flavor,
        shared,
        tracker,
        progress_path,
        target_label,
    } = job;
    let ord = t.ordinal;
    let done = TxnDone {
        gtid: t.gtid.clone(),
        label: t.label(),
        bytes: t.bytes(),
        result: Ok(TxnStats::default()),
        retries: 0,
        yields: 0,
    };
    if tracker.wait_prefix(dep).await.is_err() {
        return (
            None,
            TxnDone {
                result: Err(None),
                ..done
            },
        );
    }
    let (mut attempt, mut yields) = (0u32, 0u32);
    let r = loop {
        // Set when this attempt rolled back for an earlier transaction (ordered commits only).
        let yielded = ordered.then(|| Arc::new(AtomicBool::new(false)));
        let gate: Option<CommitGate<'_>> = yielded.clone().map(|flag| {
            let tr = tracker.clone();
            Box::pin(async move {
                tr.wait_turn(ord).await.map_err(|why| {
                    flag.store(why == NotYourTurn::Yield, Ordering::SeqCst);
                })
            }) as CommitGate<'_>
        });
        let r = applier.apply(&t, &shared, gate).await;
        let Some(target) = shared.target.as_ref() else {
            break r;
        };
        if r.is_err() && yielded.is_some_and(|f| f.load(Ordering::SeqCst)) {
            // Rolled back for an earlier transaction: again, after everything before it.
            tracing::info!(txn = %t.label(), "rolled back to release locks an earlier transaction waits for; running it again after that one");
            applier.session = match target.connect().await {
                Ok(conn) => Session::live(conn, flavor),
                Err(_) => break r,
            };
            if tracker.wait_prefix(ord - 1).await.is_err() {
                break r;
            }
            yields += 1;
            continue;
        }
        // A deadlock or lock wait timeout between transactions applied side by side:
        // retry on a new connection (the old one is dropped and the server rolls
        // back what it held), as the server's applier does (replica_transaction_retries).
        if !matches!(&r, Err(e) if e.is_lock_conflict()) || attempt >= LOCK_RETRIES {
            break r;
        }
        attempt += 1;
        tracing::warn!(
            txn = %t.label(),
            attempt,
            "deadlock or lock wait timeout on the target: retrying the transaction on a new connection"
        );
        if ordered {
            tracker.ask_to_yield(ord);
        }
        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
        match target.connect().await {
            Ok(conn) => applier.session = Session::live(conn, flavor),
            Err(_) => break r,
        }
    };
    let done = TxnDone {
        retries: attempt,
        yields,
        ..done
    };
    match r {
        Ok(stats) => {
            if let (Some(p), TxnGtid::None) = (&progress_path, &t.gtid) {
                let rec = Progress {
                    target: target_label,
                    file: file_name(&t.pos.file),
                    pos: t.pos.end,
                };
                if let Err(e) = rec.store(p) {
                    tracker.abort();
                    return (
                        None,
                        TxnDone {
                            result: Err(Some(e)),
                            ..done
                        },
                    );
                }
            }
            tracker.done(ord);
            (
                Some(applier),
                TxnDone {
                    result: Ok(stats),
                    ..done
                },
            )
        }
        Err(e) => {
            tracker.abort();
            // The session is dropped: the server rolls back what it had started.
            (
                None,
                TxnDone {
                    result: Err(Some(e)),
                    ..done
                },
            )
        }
    }
}

/// The reader thread: transactions of the files in order, then what it skipped or found
/// incomplete, or the error that stopped it.
fn spawn_reader(
    mut reader: TransactionReader,
    tx: mpsc::Sender<ReaderMsg>,
) -> Result<std::thread::JoinHandle<()>, ApplyError> {
    std::thread::Builder::new()
        .name("gapfill-reader".into())
        .spawn(move || {
            loop {
                match reader.next_transaction() {
                    Ok(Some(t)) => {
                        if tx.blocking_send(ReaderMsg::Txn(Box::new(t))).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {
                        let _ = tx.blocking_send(ReaderMsg::Done(
                            reader.stats.clone(),
                            std::mem::take(&mut reader.incomplete),
                        ));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(ReaderMsg::Failed(e));
                        return;
                    }
                }
            }
        })
        .map_err(|e| ApplyError::Internal(format!("cannot start the reader thread: {e}")))
}

/// The progress line on stderr, every 250 ms until `stop`.
fn spawn_progress(
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    read_counter: Arc<AtomicU64>,
    total_bytes: u64,
    started: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut printed = false;
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let n = counters.applied.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let pct = read_counter.load(Ordering::Relaxed) as f64 * 100.0 / total_bytes as f64;
            eprint!(
                "\r{n} transactions, {:.0}/s, {:.1}% read   ",
                n as f64 / secs,
                pct.min(100.0)
            );
            printed = true;
        }
        if printed {
            eprintln!();
        }
    })
}

struct TxnDone {
    gtid: TxnGtid,
    label: String,
    bytes: u64,
    /// `Err(None)`: not run because the run was aborted.
    result: Result<TxnStats, Option<ApplyError>>,
    /// Runs again after a deadlock or lock wait timeout.
    retries: u32,
    /// Runs again after rolling back for an earlier transaction (`CommitTracker::ask_to_yield`).
    yields: u32,
}

fn record_gtid(
    g: &TxnGtid,
    mysql: &mut GtidSet,
    mariadb: &mut Vec<crate::binlog::mariadb_gtid::MariadbGtid>,
) {
    match g {
        TxnGtid::MySql(g) => {
            let _ = mysql.add(g);
        }
        TxnGtid::MariaDb(g) => mariadb.push(*g),
        TxnGtid::None => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    j: Result<(Option<Applier>, TxnDone), tokio::task::JoinError>,
    report: &mut RunReport,
    free: &mut Vec<Applier>,
    first_error: &mut Option<ApplyError>,
    tracker: &CommitTracker,
    counters: &Counters,
    touched_mysql: &mut GtidSet,
    touched_mariadb: &mut Vec<crate::binlog::mariadb_gtid::MariadbGtid>,
) {
    let (applier, done) = match j {
        Ok(v) => v,
        Err(e) => {
            tracker.abort();
            first_error.get_or_insert(ApplyError::Internal(format!("worker panicked: {e}")));
            return;
        }
    };
    report.lock_retries += u64::from(done.retries);
    report.lock_yields += u64::from(done.yields);
    match done.result {
        Ok(stats) => {
            report.transactions_applied += 1;
            counters.applied.fetch_add(1, Ordering::Relaxed);
            report.rows += stats.rows;
            report.rows_matched_by_partial_image += stats.rows_partial_match;
            report.bytes += done.bytes;
            if done.gtid != TxnGtid::None {
                let g = done.gtid.to_string();
                if report.first_gtid.is_none() {
                    report.first_gtid = Some(g.clone());
                }
                report.last_gtid = Some(g);
            }
            report.last_applied = Some(done.label);
            record_gtid(&done.gtid, touched_mysql, touched_mariadb);
        }
        Err(Some(e)) => {
            tracker.abort();
            if first_error.is_none() {
                *first_error = Some(e);
            } else {
                report.errors.push(e.to_string());
            }
        }
        Err(None) => {}
    }
    if let Some(a) = applier {
        if done_ok(first_error) {
            free.push(a);
        } else {
            report.statements += a.session.statements;
            free.push(a);
        }
    }
}

fn done_ok(e: &Option<ApplyError>) -> bool {
    e.is_none()
}
