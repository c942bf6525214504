//! The fill itself: the steps the orchestrator hook runs, in order.
//!
//! Owns the sequence: lock the cluster, open its spool, settle and fence the successor, plan
//! the gap and prove the spool covers it, apply the window guard, replay the gap through the
//! apply engine, verify, open or restore writes, and write the report. Each step's decision
//! lands in the [`FillReport`]; the outcome maps to a documented exit code.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::apply::{
    ApplyOptions, DryRunOutput, Executed, ReadOptions, RunReport, TargetOptions, apply_files,
};
use crate::peer::{Anchor, PeerSet, Pulled, Reach, check_overlap, pull_best};
use crate::spool::{
    FsyncPolicy, Retention, Spool, SpoolConfig, SpoolError, StreamRecord, TargetPosition,
};

use super::channel;
use super::error::FillError;
use super::guard::WindowGuard;
use super::lock::ClusterLock;
use super::plan::GapPlan;
use super::successor::{ReadOnlyState, ReplicaState, Successor};
use super::tail::{TailFacts, TailReport};
use super::via_serve::{self, Decision, Ready, ServeFailed, ServeReport, ServeVia, Via};
use super::witness::{Supply, Witnesses};

/// Exit codes of `gapfill fill`, for orchestrator hook authors.
pub mod exit {
    /// Filled, or nothing was missing.
    pub const OK: u8 = 0;
    /// Bad arguments, configuration, or an unreachable successor: nothing was changed.
    pub const SETUP: u8 = 1;
    /// Refused by the window guard (too old or too large; `--force` overrides), or `--via
    /// serve` cannot work with this successor (the reason says why; nothing was applied).
    pub const REFUSED: u8 = 3;
    /// The spool cannot prove it holds every transaction the successor lacks.
    pub const NOT_COVERED: u8 = 4;
    /// Applying failed part-way; re-running is safe (applied transactions are skipped).
    pub const APPLY_FAILED: u8 = 5;
    /// Another fill of the same cluster is running.
    pub const LOCKED: u8 = 6;
    /// Filled what the spool proves contiguous, but the tail is not proven: transactions the
    /// dead master committed after the capture's end may be missing (the report names the
    /// cause and any witness that holds more).
    pub const TAIL_NOT_PROVEN: u8 = 7;
}

/// What the hook was asked to do.
#[derive(Clone)]
pub struct FillRequest {
    /// The cluster alias (orchestrator's `{failureClusterAlias}`): the spool's directory name.
    pub cluster: String,
    /// The dead master, `host:port`.
    pub failed: String,
    /// The promoted replica, `host:port`.
    pub successor: TargetOptions,
    /// Root of the spools: the cluster's spool is `spool_dir/cluster`.
    pub spool_dir: PathBuf,
    /// orchestrator left the successor read-only with replication configured
    /// (`ApplyMySQLPromotionAfterMasterFailover=false`): stop and reset it, fill, then open writes.
    pub open_writes: bool,
    pub guard: WindowGuard,
    pub force: bool,
    pub dry_run: Option<DryRunOutput>,
    pub wait_timeout: Duration,
    pub parallel: usize,
    /// Where the JSON report goes (default: `fill-<unix time>.json` in the cluster's spool).
    pub report_path: Option<PathBuf>,
    /// For spools captured without GTIDs: where the successor stood on the dead master.
    pub start: Option<(String, u64)>,
    /// Peer daemons whose spools may reach further than this one (none: this spool only).
    pub peers: PeerSet,
    /// Refuse (exit 4, nothing changed) unless the tail is proven.
    pub require_proven_tail: bool,
    /// How long to wait for a capture still connected to the failed master to see it end.
    pub tail_wait: Duration,
    /// orchestrator's API, asked for its last view of the failed master.
    pub orchestrator: Option<crate::daemon::config::OrchestratorApi>,
    /// Replicas of the failed master to ask what they received (besides orchestrator's and
    /// the recorded ones).
    pub witnesses: Vec<String>,
    /// Typed SQL, the successor's own applier replicating from gapfill, or whichever fits.
    pub via: Via,
    /// Where the serve path listens and what it tells the successor.
    pub serve: ServeVia,
}

/// How the fill ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Outcome {
    Filled,
    NothingMissing,
    /// Filled (or nothing was missing) as far as the spool proves, but the tail is not
    /// proven: the dead master may have committed more.
    TailNotProven,
    Refused,
    NotCovered,
    ApplyFailed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Filled | Outcome::NothingMissing => exit::OK,
            Outcome::TailNotProven => exit::TAIL_NOT_PROVEN,
            Outcome::Refused => exit::REFUSED,
            Outcome::NotCovered => exit::NOT_COVERED,
            Outcome::ApplyFailed => exit::APPLY_FAILED,
        }
    }
}

/// Everything a DBA wants to know after a failover fill.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FillReport {
    pub cluster: String,
    pub failed: String,
    pub successor: String,
    pub dry_run: bool,
    pub outcome: Outcome,
    /// Why it refused, was not covered, or failed.
    pub reason: Option<String>,
    pub seconds: f64,
    pub started_unix: u64,
    pub replica_before: Option<ReplicaState>,
    pub read_only_before: Option<ReadOnlyState>,
    pub read_only_after: Option<ReadOnlyState>,
    /// GTIDs the successor wrote itself before the fill (application writes on a successor
    /// opened early): the gap may conflict with them.
    pub successor_own_writes: Option<String>,
    pub plan: Option<GapPlan>,
    pub apply: Option<RunReport>,
    /// MariaDB: `gtid_slave_pos` set to include the filled GTIDs (see
    /// [`Successor::record_slave_pos`]).
    pub gtid_slave_pos_after: Option<String>,
    /// Peers asked and not used, and why (down, slow, nothing beyond this spool).
    pub peers_skipped: Vec<String>,
    /// Did the spool see the dead master's last commit? (see `fill::tail`)
    pub tail: Option<TailReport>,
    /// Asked when the successor has writes of its own: whether the gap finds rows by
    /// partial (MINIMAL/NOBLOB) before images, in which such writes cannot all be seen.
    pub partial_before_images: Option<bool>,
    /// The path that applied the gap (none when nothing was missing) and why.
    pub via: Option<Via>,
    pub via_reason: Option<String>,
    /// The serve path's run (`via` serve, or tried before falling back to SQL).
    pub serve: Option<ServeReport>,
}

impl FillReport {
    /// One line for people (stdout of the hook).
    pub fn summary(&self) -> String {
        let mut s = format!(
            "gapfill fill {} -> {}: {:?}",
            self.cluster, self.successor, self.outcome
        );
        if let Some(a) = &self.apply {
            s.push_str(&format!(
                ", {} transactions applied, {} skipped, {} rows in {:.2} s",
                a.transactions_applied, a.transactions_skipped, a.rows, a.seconds
            ));
            if let Some(l) = &a.last_gtid {
                s.push_str(&format!(", last GTID {l}"));
            }
            if let (Some(n), Some(m)) = (a.rows_verified, a.rows_to_verify) {
                s.push_str(&format!(", rows verified {n}/{m}"));
            }
        } else if let (Some(v), Some(Via::Serve)) = (&self.serve, self.via) {
            s.push_str(&format!(
                ", {} of {} transactions applied by the successor's applier via serve in {:.2} s",
                v.transactions_landed, v.transactions, v.seconds
            ));
            if let (Some(n), Some(m)) = (v.rows_verified, v.rows_to_verify) {
                s.push_str(&format!(", rows verified {n}/{m}"));
            }
        } else if let Some(p) = &self.plan {
            s.push_str(&format!(", gap of {} transactions", p.transactions));
        }
        if let Some(r) = &self.reason {
            s.push_str(": ");
            s.push_str(r);
        }
        s
    }
}

fn check_addr(what: &'static str, v: &str) -> Result<(), FillError> {
    if v.contains('{') {
        return Err(FillError::UnresolvedPlaceholder {
            what,
            value: v.to_string(),
        });
    }
    match v.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(()),
        _ => Err(FillError::BadAddress {
            what,
            value: v.to_string(),
        }),
    }
}

/// Run the fill. `Err` means nothing was attempted on the successor's data (setup failed);
/// every decision after setup is an [`Outcome`] in the report.
pub async fn run(req: FillRequest) -> Result<FillReport, FillError> {
    let started = Instant::now();
    check_request(&req)?;
    let dir =
        crate::spool::cluster_dir(&req.spool_dir, &req.cluster).map_err(FillError::BadCluster)?;
    if !dir.join("spool.json").exists() {
        return Err(FillError::NoSpool {
            cluster: req.cluster.clone(),
            path: dir,
        });
    }
    let _lock = ClusterLock::acquire(&dir, &req.cluster)?;
    let spool = open_spool(&dir)?;
    let mut report = FillReport::new(&req);

    let mut succ = Successor::connect(&req.successor).await?;
    report.replica_before = settle_successor(&req, &mut succ).await?;
    let executed = succ.executed().await?;
    report.successor_own_writes = succ.own_writes(&executed, &spool);
    let start = match &req.start {
        Some(s) => Some(s.clone()),
        None if spool.status().mode == crate::capture::start::MODE_POSITION => {
            recorded_start(&dir, &req.successor.addr, &req.failed)
        }
        None => None,
    };
    let target = match (&start, &executed) {
        (Some((file, pos)), _) => TargetPosition::FilePos {
            master: req.failed.clone(),
            file: file.clone(),
            pos: *pos,
        },
        (None, Executed::MySql(s)) => TargetPosition::MySqlGtids(s.clone()),
        (None, Executed::MariaDb(p)) => TargetPosition::MariaDbGtids(p.clone()),
    };

    let cover = Cover {
        spool: &spool,
        dir: &dir,
        target: &target,
        executed: &executed,
        by_position: start.is_some(),
    };
    let Some(plan) = plan_gap(&req, &cover, &succ, &mut report).await? else {
        return finish(report, &req, &dir, started);
    };
    if let Some(own) = &report.successor_own_writes {
        tracing::warn!(successor = %succ.addr, own, "the successor has transactions of its own: writes accepted before the fill may conflict with the gap");
    }
    report.plan = Some(plan.clone());
    if !tail_allows(&req, &dir, &spool, &plan, &executed, &mut report).await {
        return finish(report, &req, &dir, started);
    }
    if !req.force
        && let Err(refusal) = req.guard.check(&plan)
    {
        report.outcome = Outcome::Refused;
        report.reason = Some(refusal.to_string());
        return finish(report, &req, &dir, started);
    }
    let ready = match choose_path(&req, &cover, &plan, &mut succ, &mut report).await? {
        ApplyPath::Sql => None,
        ApplyPath::Serve(ready) => Some(ready),
        ApplyPath::Stopped => return finish(report, &req, &dir, started),
    };
    // The SQL path finds rows by their before images; the serve path compared the own
    // writes' keys with the gap's instead.
    if ready.is_none()
        && let Some(reason) = partial_images_refusal(&req, &plan, &mut report)?
    {
        report.outcome = Outcome::Refused;
        report.reason = Some(reason);
        return finish(report, &req, &dir, started);
    }
    fence_apply_unfence(&req, &dir, &plan, &mut succ, ready, &mut report).await?;
    finish(report, &req, &dir, started)
}

/// The request's addresses and cluster, before anything is opened: a placeholder orchestrator
/// did not fill in is named.
fn check_request(req: &FillRequest) -> Result<(), FillError> {
    if req.cluster.contains('{') {
        return Err(FillError::UnresolvedPlaceholder {
            what: "--cluster",
            value: req.cluster.clone(),
        });
    }
    check_addr("--failed", &req.failed)?;
    check_addr("--successor", &req.successor.addr)?;
    if let Some(a) = &req.serve.addr {
        check_addr("--serve-addr", a)?;
    }
    if let Some(a) = &req.serve.listen {
        check_addr("--serve-listen", a)?;
    }
    Ok(())
}

impl FillReport {
    /// The report before any step ran.
    fn new(req: &FillRequest) -> FillReport {
        FillReport {
            cluster: req.cluster.clone(),
            failed: req.failed.clone(),
            successor: req.successor.addr.clone(),
            dry_run: req.dry_run.is_some(),
            outcome: Outcome::NothingMissing,
            reason: None,
            seconds: 0.0,
            started_unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            replica_before: None,
            read_only_before: None,
            read_only_after: None,
            successor_own_writes: None,
            plan: None,
            apply: None,
            gtid_slave_pos_after: None,
            peers_skipped: Vec::new(),
            tail: None,
            partial_before_images: None,
            via: None,
            via_reason: None,
            serve: None,
        }
    }
}

/// Bring the successor to rest before its state is read: remove a channel an interrupted fill
/// left, then let its own replication finish (a dry run only reads it). Returns the
/// replication state it had.
async fn settle_successor(
    req: &FillRequest,
    succ: &mut Successor,
) -> Result<Option<ReplicaState>, FillError> {
    if req.dry_run.is_some() {
        return succ.replica_state().await;
    }
    // A fill killed while serving leaves its channel applying what it had received: stop
    // and remove it before anything is read, or the successor's state keeps moving (and
    // settling would wait for a channel whose source is gone).
    let flavor = succ.flavor;
    if channel::remove_channel(succ, flavor).await? {
        tracing::warn!(
            "fill: the successor had a replication channel '{}' left by an interrupted fill; \
             it was stopped and removed (the gap is planned from what it applied)",
            via_serve::CHANNEL
        );
    }
    succ.settle_replication(req.wait_timeout, req.open_writes)
        .await
}

/// What the gap is planned from: this node's spool and the successor's executed state.
struct Cover<'a> {
    spool: &'a Spool,
    dir: &'a Path,
    target: &'a TargetPosition,
    executed: &'a Executed,
    /// The successor is placed by binlog file and position, not by GTIDs.
    by_position: bool,
}

/// " and stays read-only" when the fill would have opened writes: the end of every refusal.
fn stays_read_only(req: &FillRequest) -> &'static str {
    if req.open_writes {
        " and stays read-only"
    } else {
        ""
    }
}

/// The gap: this spool's plan, extended by a peer whose capture got further, or a peer's
/// alone when this spool cannot prove it covers the successor. `None`: nobody can (the
/// report says why, `NotCovered`).
async fn plan_gap(
    req: &FillRequest,
    c: &Cover<'_>,
    succ: &Successor,
    report: &mut FillReport,
) -> Result<Option<GapPlan>, FillError> {
    let local = Reach::of(c.spool);
    let why = match GapPlan::build(c.spool, c.target)? {
        Ok(mut p) => {
            // Another node's capture may have got further than this one.
            if let (false, Some(after)) = (req.peers.addrs.is_empty(), local.executed.as_deref()) {
                // Asked from this spool's last transaction on: the stream must start with its
                // very bytes (the same master's binlog, continuing this spool), which are then
                // cut (applied from this spool).
                let anchor = Anchor::of(c.spool);
                let ask = anchor.as_ref().map_or(after, |a| a.after.as_str());
                let check = |p: &mut Pulled| {
                    check_overlap(&p.peer, &mut p.promise, &p.file, c.spool, anchor.as_ref(), true)
                        .map(|o| tracing::info!(peer = %p.peer, same = o.same, "fill: the peer's stream continues this spool"))
                        .map_err(|e| e.to_string())
                };
                let (pulled, skipped) =
                    pull_best(&req.peers, &req.cluster, &local, ask, c.dir, &check).await;
                report.peers_skipped = skipped;
                if let Some(pulled) = pulled {
                    p.add_peer(&pulled);
                }
            }
            return Ok(Some(p));
        }
        Err(why) => why,
    };
    if req.peers.addrs.is_empty() || c.by_position {
        report.outcome = Outcome::NotCovered;
        report.reason = Some(format!(
            "the spool cannot prove it holds every transaction the successor lacks: {why}; \
             the successor was not changed{}",
            stays_read_only(req)
        ));
        return Ok(None);
    }
    // This spool cannot prove it covers the successor; a peer's may.
    let after = succ.position_for_peers(c.executed);
    // Whatever both hold must be the same bytes.
    let check = |p: &mut Pulled| {
        check_overlap(&p.peer, &mut p.promise, &p.file, c.spool, None, false)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let (pulled, skipped) =
        pull_best(&req.peers, &req.cluster, &local, &after, c.dir, &check).await;
    report.peers_skipped = skipped;
    let Some(pulled) = pulled else {
        report.outcome = Outcome::NotCovered;
        report.reason = Some(format!(
            "the spool cannot prove it holds every transaction the successor lacks: \
             {why}, and no peer could ({}); the successor was not changed{}",
            report.peers_skipped.join("; "),
            stays_read_only(req)
        ));
        return Ok(None);
    };
    tracing::warn!(%why, peer = pulled.peer, "fill: this spool does not cover the gap; a peer's does");
    let mut p = GapPlan::default();
    p.add_peer(&pulled);
    Ok(Some(p))
}

/// Prove the tail (nothing committed after what the spool holds) and record it; `false` when
/// `--require-proven-tail` refuses an unproven one (the report says why).
async fn tail_allows(
    req: &FillRequest,
    dir: &Path,
    spool: &Spool,
    plan: &GapPlan,
    executed: &Executed,
    report: &mut FillReport,
) -> bool {
    let tail = prove_tail(req, dir, spool, plan, executed).await;
    tracing::info!(proof = ?tail.proof, "fill: {}", tail.summary);
    let proven = tail.proof.is_proven();
    report.tail = Some(tail);
    if proven || !req.require_proven_tail {
        return true;
    }
    report.outcome = Outcome::NotCovered;
    report.reason = Some(format!(
        "{}; refused (--require-proven-tail): the successor was not changed{}",
        report.tail.as_ref().map_or("", |t| t.summary.as_str()),
        stays_read_only(req)
    ));
    false
}

/// How the gap is applied.
enum ApplyPath {
    /// The SQL path (also when there is nothing to apply: it then does nothing).
    Sql,
    /// The successor's own applier from `gapfill serve`, set up and ready.
    Serve(Box<Ready>),
    /// Refused, or the own writes conflict with the gap: the report says why.
    Stopped,
}

/// Which path applies the gap (`via_serve::decide`), recorded in the report.
async fn choose_path(
    req: &FillRequest,
    c: &Cover<'_>,
    plan: &GapPlan,
    succ: &mut Successor,
    report: &mut FillReport,
) -> Result<ApplyPath, FillError> {
    if plan.transactions == 0 {
        return Ok(ApplyPath::Sql);
    }
    let inputs = via_serve::Inputs {
        via: req.via,
        serve: &req.serve,
        dry_run: req.dry_run.is_some(),
        spool: c.spool,
        spool_dir: c.dir,
        plan,
        target: c.target,
        own_writes: report.successor_own_writes.as_deref(),
        successor: &req.successor,
        executed: c.executed,
    };
    Ok(match via_serve::decide(inputs, succ).await? {
        Decision::Sql { reason } => {
            (report.via, report.via_reason) = (Some(Via::Sql), Some(reason));
            ApplyPath::Sql
        }
        Decision::Serve { ready, reason } => {
            (report.via, report.via_reason) = (Some(Via::Serve), Some(reason));
            ApplyPath::Serve(ready)
        }
        Decision::Refused { reason } => {
            (report.via, report.via_reason) = (Some(Via::Serve), Some(reason.clone()));
            report.outcome = Outcome::Refused;
            report.reason = Some(reason);
            ApplyPath::Stopped
        }
        Decision::Conflict { reason } => {
            (report.via, report.via_reason) = (
                Some(Via::Serve),
                Some("the successor's own writes were checked against the gap".into()),
            );
            report.outcome = Outcome::ApplyFailed;
            report.reason = Some(reason);
            ApplyPath::Stopped
        }
    })
}

/// Fence the successor (read-only), apply the gap, record what a MariaDB successor now holds,
/// restore or open writes, and judge the tail: the end of a fill that was not refused.
async fn fence_apply_unfence(
    req: &FillRequest,
    dir: &Path,
    plan: &GapPlan,
    succ: &mut Successor,
    ready: Option<Box<Ready>>,
    report: &mut FillReport,
) -> Result<(), FillError> {
    let dry = req.dry_run.is_some();
    // A fill killed while fenced left its memo: fence (again) so the end restores it.
    let memo = dir.join("fill.fence.json");
    let interrupted = succ.fence_memo(&memo).is_some();
    if (plan.transactions > 0 || req.open_writes || interrupted) && !dry {
        report.read_only_before = Some(succ.fence(&memo).await?);
    }
    if plan.transactions > 0 && !apply_gap(req, plan, succ, ready, &memo, report).await? {
        return Ok(());
    }
    if !dry {
        // Also after a re-run that found nothing missing: the interrupted run may have
        // applied the whole gap without getting here.
        let empty = report
            .apply
            .as_ref()
            .map_or(&[][..], |r| &r.gtids_without_effect[..]);
        report.gtid_slave_pos_after = succ.record_slave_pos(empty).await?;
    }
    if !dry && report.read_only_before.is_some() {
        report.read_only_after = Some(succ.unfence(req.open_writes, &memo).await?);
    }
    if let Some(t) = report.tail.as_ref().filter(|t| !t.proof.is_proven()) {
        report.outcome = Outcome::TailNotProven;
        report.reason = Some(tail_not_proven_reason(t, report.plan.as_ref()));
    }
    Ok(())
}

/// Apply the gap through the chosen path: serve (falling back to SQL under `--via auto` when
/// serving failed before anything landed), else SQL. `false`: it did not fill (the report
/// says why).
async fn apply_gap(
    req: &FillRequest,
    plan: &GapPlan,
    succ: &mut Successor,
    ready: Option<Box<Ready>>,
    memo: &Path,
    report: &mut FillReport,
) -> Result<bool, FillError> {
    if let Some(ready) = ready {
        let include = ready.selection();
        let (mut serve, result) = via_serve::run(*ready, succ, req.wait_timeout).await;
        let removed = format!("the channel '{}' was removed", via_serve::CHANNEL);
        let checked = match result {
            Ok(()) => via_serve::verify_rows(&req.successor, plan, include, &mut serve).await,
            Err(_) => Ok(()),
        };
        report.serve = Some(serve);
        match result {
            Ok(()) => {
                if let Err(why) = checked {
                    report.outcome = Outcome::ApplyFailed;
                    report.reason = Some(format!(
                        "via serve: the successor's applier ran the whole gap, but {why}; \
                         {removed} and the successor stays read-only"
                    ));
                    return Ok(false);
                }
                report.outcome = Outcome::Filled;
                return Ok(true);
            }
            Err(ServeFailed::Refused(why)) if req.via == Via::Auto => {
                tracing::warn!(
                    "fill: serving the gap failed before any transaction landed ({why}); filling through SQL"
                );
                report.via = Some(Via::Sql);
                report.via_reason = Some(format!(
                    "auto: serving failed before any transaction landed ({why}); {removed}: \
                     filled through SQL"
                ));
            }
            Err(ServeFailed::Refused(why)) => {
                // Nothing landed: hand back what the fence replaced.
                report.read_only_after = Some(succ.unfence(false, memo).await?);
                report.outcome = Outcome::Refused;
                report.reason = Some(format!(
                    "--via serve: {why}; nothing was applied and {removed} (--via sql or --via \
                     auto fill through SQL)"
                ));
                return Ok(false);
            }
            Err(ServeFailed::Failed(why)) => {
                report.outcome = Outcome::ApplyFailed;
                report.reason = Some(format!(
                    "via serve: {why}; {removed} and the successor stays read-only: once the \
                     cause is fixed, re-running gapfill fill is safe (applied transactions are \
                     skipped)"
                ));
                return Ok(false);
            }
        }
    }
    Ok(apply_sql(req, plan, report).await)
}

/// The SQL path: the apply engine replays the gap with the original GTIDs and verifies it.
async fn apply_sql(req: &FillRequest, plan: &GapPlan, report: &mut FillReport) -> bool {
    let opts = ApplyOptions {
        target: Some(req.successor.clone()),
        dry_run: req.dry_run.clone(),
        parallel: req.parallel,
        read: ReadOptions {
            start_position: plan.start_offset,
            ..ReadOptions::default()
        },
        verify: true,
        ..ApplyOptions::default()
    };
    match apply_files(&plan.files, opts).await {
        Ok(r) => {
            report.outcome = Outcome::Filled;
            report.apply = Some(r);
            true
        }
        Err(failure) => {
            let failure = *failure;
            report.outcome = Outcome::ApplyFailed;
            let last = failure.report.last_applied.as_deref().unwrap_or("none");
            report.reason = Some(if failure.error.is_conflict() {
                format!(
                    "conflict: {}; last transaction applied: {last}; the successor holds data \
                     the gap contradicts{}; nothing was overwritten and the successor stays \
                     read-only; reconcile the rows (`gapfill decode` shows the gap's \
                     transaction), then re-run gapfill fill: it continues from there",
                    failure.error,
                    report
                        .successor_own_writes
                        .as_deref()
                        .map(|own| format!(" (its own writes: {own})"))
                        .unwrap_or_default(),
                )
            } else {
                format!(
                    "{}; last transaction applied: {last}; the successor stays read-only: \
                     re-running gapfill fill is safe (applied transactions are skipped){}",
                    failure.error,
                    if failure.error.rerun_is_safe() {
                        ""
                    } else {
                        ", but this error will repeat until its cause is fixed"
                    }
                )
            });
            report.apply = Some(failure.report);
            false
        }
    }
}

/// With MINIMAL/NOBLOB images an UPDATE or DELETE finds its row by the columns its before
/// image holds: when the successor has writes of its own since the promotion, a change they
/// made to another column of a row the gap changes cannot be seen. Say so, and refuse unless
/// `--force`.
fn partial_images_refusal(
    req: &FillRequest,
    plan: &GapPlan,
    report: &mut FillReport,
) -> Result<Option<String>, FillError> {
    let Some(own) = report.successor_own_writes.clone() else {
        return Ok(None);
    };
    if plan.transactions == 0 {
        return Ok(None);
    }
    let read = ReadOptions {
        start_position: plan.start_offset,
        ..ReadOptions::default()
    };
    let partial = crate::apply::reader::has_partial_before_images(plan.files.clone(), read)
        .map_err(FillError::Apply)?;
    report.partial_before_images = Some(partial);
    if !partial {
        return Ok(None);
    }
    let what = format!(
        "the gap updates or deletes rows by partial before images (binlog_row_image=MINIMAL \
         or NOBLOB) and the successor has writes of its own since its promotion ({own}): a \
         change they made to a column those images lack cannot be seen as a conflict and \
         would be overwritten"
    );
    if req.force {
        tracing::warn!("fill: {what}; applying anyway (--force)");
        return Ok(None);
    }
    Ok(Some(format!(
        "{what}; nothing was changed: check the successor's own writes against the gap \
         (`gapfill decode` shows it), then re-run with --force to apply anyway"
    )))
}

/// The summary of a fill whose tail is not proven: what may be missing, after what, why.
fn tail_not_proven_reason(t: &TailReport, plan: Option<&GapPlan>) -> String {
    let n = t
        .missing_count
        .map_or_else(|| "an unknown number of".to_string(), |n| n.to_string());
    let after = plan
        .and_then(|p| p.last_gtid.clone())
        .or_else(|| {
            t.stream
                .as_ref()
                .and_then(|s| s.last_commit.as_ref())
                .and_then(|c| c.gtid.clone())
        })
        .unwrap_or_else(|| "the spool's last transaction".into());
    let ended = match (t.stream_end_us, t.stream_end) {
        (Some(at), Some(cause)) => format!("{} by {}", super::tail::utc(at), cause.describe()),
        _ => "at an unknown time".into(),
    };
    let failed = t
        .master_failed_us
        .map_or_else(|| "an unknown time".to_string(), super::tail::utc);
    let mut s = format!(
        "filled, tail not proven: {n} transactions of the dead master may be missing after \
         {after}; capture ended at {ended}; master failed at {failed}"
    );
    if let Some(m) = &t.missing {
        s.push_str(&format!("; witnesses hold {m}"));
    }
    s.push_str(&format!(" ({})", t.summary));
    s
}

/// Gather the facts of the tail proof and judge it (see `fill::tail`).
async fn prove_tail(
    req: &FillRequest,
    dir: &Path,
    spool: &Spool,
    plan: &GapPlan,
    executed: &Executed,
) -> TailReport {
    use crate::spool::ResumePoint;
    // A capture still connected may not have seen the master go yet: give it a moment.
    let waited = Instant::now();
    let mut sessions = crate::spool::stream_records(dir);
    let mut writer_alive = crate::spool::writer_alive(dir);
    while writer_alive
        && waited.elapsed() < req.tail_wait
        && super::tail::session_for(&sessions, &req.failed).is_some_and(|s| s.end.is_none())
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sessions = crate::spool::stream_records(dir);
        writer_alive = crate::spool::writer_alive(dir);
    }
    let mut facts = TailFacts {
        failed: req.failed.clone(),
        stream: super::tail::session_for(&sessions, &req.failed).cloned(),
        stream_source: "this node".into(),
        writer_alive,
        last_held: plan.last_gtid.clone(),
        ..TailFacts::default()
    };
    if let Some(s) = &facts.stream
        && s.master != req.failed
    {
        tracing::warn!(recorded = %s.master, failed = %req.failed, "fill: no capture session of the failed master's address recorded; judging the latest session");
    }
    let mut supply = Supply {
        mysql: Default::default(),
        mariadb: Default::default(),
        successor: executed,
        coords: facts
            .stream
            .as_ref()
            .map(|s| (s.master_file.clone(), s.master_pos)),
    };
    match spool.resume_point() {
        Some(ResumePoint::MySqlGtids(s)) => supply.mysql = s,
        Some(ResumePoint::MariaDbGtids(p)) => supply.mariadb = p,
        _ => {}
    }
    if let Some(peer) = &plan.from_peer {
        match executed {
            Executed::MySql(_) => {
                if let Ok(s) = crate::binlog::gtid_set::GtidSet::parse(&peer.gtids) {
                    supply.mysql.union_with(&s);
                }
            }
            Executed::MariaDb(_) => {
                super::witness::add_mariadb_list(&mut supply.mariadb, &peer.gtids)
            }
        }
        let mut streams = peer.streams.clone();
        // The peer's capture may not have seen the master go yet: ask again for a moment.
        let open = |v: &[StreamRecord]| {
            super::tail::session_for(v, &req.failed).is_some_and(|s| s.end.is_none())
        };
        while open(&streams) && waited.elapsed() < req.tail_wait {
            tokio::time::sleep(Duration::from_millis(300)).await;
            match crate::peer::reach(&req.peers, &peer.peer, &req.cluster).await {
                Ok(r) => streams = r.streams,
                Err(e) => {
                    tracing::warn!(peer = %peer.peer, error = %e, "fill: cannot ask the peer how its capture ended");
                    break;
                }
            }
        }
        if let Some(theirs) = super::tail::session_for(&streams, &req.failed) {
            let pick = match &facts.stream {
                Some(mine) => super::tail::better(mine, theirs),
                None => theirs,
            };
            if std::ptr::eq(pick, theirs) {
                facts.stream_source = format!("peer {}", peer.peer);
                facts.stream = Some(theirs.clone());
                // The peer's daemon answered: a session it has not ended is still open.
                facts.writer_alive = true;
            }
        }
    }
    let recorded = crate::spool::replica_positions::recorded_for(dir, &req.failed)
        .unwrap_or_default()
        .into_iter()
        .filter(|(addr, ..)| *addr != req.successor.addr)
        .collect();
    let w = Witnesses {
        failed: &req.failed,
        successor: &req.successor.addr,
        orchestrator: req.orchestrator.as_ref(),
        replicas: &req.witnesses,
        recorded,
        access: &req.successor,
        timeout: Duration::from_secs(5),
    };
    let (views, last_seen) = super::witness::gather(&w, &supply).await;
    facts.witnesses = views;
    facts.master_last_seen_us = last_seen;
    super::tail::judge(&facts)
}

/// The cluster's spool as it is now. Without a writer (no daemon or capture running) it is
/// opened for writing once, which repairs what a crashed capture left (a torn tail, an
/// index behind its segment), and closed again at once; then, or while a writer keeps
/// appending, it is read through a read-only snapshot that never disturbs the writer.
fn open_spool(dir: &Path) -> Result<Spool, FillError> {
    let cfg = SpoolConfig {
        dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Never,
        retention: Retention {
            keep: Duration::from_secs(u32::MAX as u64),
            max_bytes: None,
        },
    };
    match Spool::open(cfg) {
        Ok(repaired) => drop(repaired),
        Err(SpoolError::Locked { holder, .. }) => {
            tracing::info!(dir = %dir.display(), holder, "the spool is being written (daemon or capture running): reading a snapshot");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Spool::open_read_only(dir)?)
}

/// Without GTIDs and without `--start`: where the daemon last saw the successor replicating
/// from the failed master (`replica-positions.json`, see `spool::replica_positions`).
fn recorded_start(dir: &Path, successor: &str, failed: &str) -> Option<(String, u64)> {
    match crate::spool::replica_positions::recorded_position(dir, successor, failed) {
        Ok(Some(p)) => {
            tracing::info!(
                successor,
                failed,
                file = %p.file,
                pos = p.pos,
                recorded_at = p.at,
                "fill: starting from the successor's position the daemon recorded"
            );
            Some((p.file, p.pos))
        }
        Ok(None) => {
            tracing::warn!(
                successor,
                failed,
                "fill: no GTIDs and no recorded position of the successor on the failed master: \
                 give --start FILE:POS"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "fill: cannot read the recorded replica positions");
            None
        }
    }
}

fn finish(
    mut report: FillReport,
    req: &FillRequest,
    dir: &Path,
    started: Instant,
) -> Result<FillReport, FillError> {
    report.seconds = started.elapsed().as_secs_f64();
    let path = req
        .report_path
        .clone()
        .unwrap_or_else(|| dir.join(format!("fill-{}.json", report.started_unix)));
    let json = serde_json::to_string_pretty(&report).unwrap_or_else(|_| "{}".into());
    std::fs::write(&path, json).map_err(|source| FillError::Report {
        path: path.clone(),
        source,
    })?;
    Ok(report)
}
