//! `gapfill fill --via serve|sql|auto`: the gap handed to the successor's own applier.
//!
//! Owns choosing the path ([`decide`], before the fence: every refusal here changes nothing)
//! and the serve path itself ([`run`], after the plan, window guard, tail proof and fence):
//! gapfill's replication source (`serve::Server`) over the cluster's spool with a one-time
//! account, the successor's replication channel `gapfill` (MySQL `CHANGE REPLICATION SOURCE
//! ... FOR CHANNEL 'gapfill'` + `START REPLICA UNTIL SQL_AFTER_GTIDS`; MariaDB `CHANGE MASTER
//! 'gapfill'` + `START SLAVE UNTIL master_gtid_pos`), waiting for it while watching its
//! errors, removing the channel whatever happened, and checking that the successor's executed
//! GTIDs hold every GTID of the gap.
//!
//! It does not decide what the gap is (`plan`), fence or unfence the successor (`successor`;
//! replication threads write through `read_only`), build the channel's statements or read
//! its state (`channel`), nor speak the protocol (`serve`). Rows are
//! not read back on this path: the report says `rows_verified: null` and why.
//!
//! The one-time password never reaches a log, an error message, or any argv: it goes to the
//! server inside `ServeConfig` and to the successor inside the CHANGE statement over the fill's
//! own connection (MySQL and MariaDB cannot bind parameters there, so it is a quoted literal
//! of letters and digits; the statement's error messages are scrubbed of it).

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use rand::Rng;

use crate::apply::{
    ApplyOptions, Executed, GtidSelection, ReadOptions, ServerFlavor, TargetOptions, apply_files,
};
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::{MariadbGtid, MariadbGtidPos};
use crate::capture::start::{MODE_MARIADB_GTID, MODE_MYSQL_GTID};
use crate::protocol::Password;
use crate::serve::{ServeConfig, Server, TlsFiles};
use crate::spool::{Coverage, Spool, TargetPosition, TxnGtid};

use super::channel::{
    Channel, channel_filters, channel_status, lacking_privilege, remove_channel, skipping_settings,
    worker_errors,
};
use super::error::FillError;
use super::own_writes::{self, Verdict};
use super::plan::GapPlan;
use super::successor::Successor;

pub use super::channel::CHANNEL;

/// How `gapfill fill` applies the gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// Typed SQL with the original GTIDs (the apply engine).
    #[default]
    Sql,
    /// The successor's own applier, replicating from gapfill on the channel `gapfill`.
    Serve,
    /// Serve when the spool's flavor is the successor's and the successor can reach this
    /// node; otherwise SQL.
    Auto,
}

/// Where the serve path listens and what it tells the successor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeVia {
    /// `--serve-addr HOST:PORT`: what the successor connects to (default: this node's
    /// address on the route to the successor, any free port).
    pub addr: Option<String>,
    /// `--serve-listen HOST:PORT` (default: `--serve-addr`).
    pub listen: Option<String>,
    pub tls: Option<TlsFiles>,
}

/// The serve path's part of the report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServeReport {
    pub listen: String,
    /// What the successor was told to connect to.
    pub advertised: String,
    pub tls: bool,
    pub channel: &'static str,
    /// MariaDB: `MASTER_USE_GTID` (the position the successor's request starts from).
    pub use_gtid: Option<&'static str>,
    /// The gap's GTIDs (the `UNTIL` of MySQL; MariaDB's is their last per domain).
    pub gtids: String,
    pub until: String,
    pub transactions: u64,
    /// Transactions of the gap the successor had executed when the wait ended.
    pub transactions_landed: u64,
    pub seconds: f64,
    /// After the channel finished, every row the gap wrote or deleted read back from the
    /// successor and compared with the gap's last image (`None` when the check did not run).
    pub rows_to_verify: Option<u64>,
    pub rows_verified: Option<u64>,
    /// Row changes that could not be checked (see `RunReport::rows_not_verifiable`).
    pub rows_not_verifiable: Option<u64>,
    /// What was checked after the channel finished.
    pub verification: String,
    /// How long reading the rows back took.
    pub verification_seconds: f64,
    pub warnings: Vec<String>,
    /// Removing the channel failed (the next fill removes a leftover one first).
    pub cleanup_error: Option<String>,
}

/// The GTIDs of the gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapGtids {
    MySql(GtidSet),
    MariaDb(Vec<MariadbGtid>),
}

impl GapGtids {
    /// The GTIDs of every transaction `spool` holds that `target` lacks.
    pub fn collect(spool: &Spool, target: &TargetPosition) -> Result<GapGtids, String> {
        let mut mysql = GtidSet::new();
        let mut mariadb = Vec::new();
        for t in spool.transactions_missing_from(target) {
            let t = t.map_err(|e| e.to_string())?;
            match t.gtid {
                Some(TxnGtid::MySql(g)) => mysql.add(&g).map_err(|e| e.to_string())?,
                Some(TxnGtid::MariaDb(g)) => mariadb.push(g),
                None => return Err("a transaction of the gap has no GTID".into()),
            }
        }
        match (mysql.is_empty(), mariadb.is_empty()) {
            (_, true) => Ok(GapGtids::MySql(mysql)),
            (true, false) => Ok(GapGtids::MariaDb(mariadb)),
            (false, false) => Err("the gap mixes MySQL and MariaDB GTIDs".into()),
        }
    }

    /// The gap as a read filter: MySQL's GTID set; MariaDB's gap is every transaction from the
    /// plan's start (a domain commits in order), so no filter.
    pub fn selection(&self) -> Option<GtidSelection> {
        match self {
            GapGtids::MySql(s) => Some(GtidSelection::MySql(s.clone())),
            GapGtids::MariaDb(_) => None,
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            GapGtids::MySql(s) => s.count(),
            GapGtids::MariaDb(v) => v.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The GTIDs as text (MariaDB: a list, with runs of consecutive sequence numbers of one
    /// domain and server as `first..last`).
    pub fn text(&self) -> String {
        match self {
            GapGtids::MySql(s) => s.to_string(),
            GapGtids::MariaDb(v) => mariadb_runs(v.iter()),
        }
    }

    /// Where the successor's applier stops: the set itself (MySQL `SQL_AFTER_GTIDS`), or the
    /// last GTID per domain (MariaDB `master_gtid_pos`).
    pub fn until(&self) -> String {
        match self {
            GapGtids::MySql(s) => s.to_string(),
            GapGtids::MariaDb(v) => {
                let mut pos = MariadbGtidPos::new();
                for g in v {
                    pos.set(*g);
                }
                pos.to_string()
            }
        }
    }

    /// The GTIDs of the gap `executed` lacks: how many, and as text.
    pub fn missing_from(&self, executed: &Executed) -> (u64, String) {
        match (self, executed) {
            (GapGtids::MySql(s), Executed::MySql(e)) => {
                let m = s.subtract(e);
                (m.count(), m.to_string())
            }
            (GapGtids::MariaDb(v), Executed::MariaDb(e)) => {
                let m: Vec<&MariadbGtid> = v.iter().filter(|g| !e.contains(g)).collect();
                (m.len() as u64, mariadb_runs(m.into_iter()))
            }
            _ => (self.len(), self.text()),
        }
    }
}

/// MariaDB GTIDs in order, runs of consecutive sequence numbers of one domain and server
/// written `d-s-first..d-s-last`.
fn mariadb_runs<'a>(gtids: impl Iterator<Item = &'a MariadbGtid>) -> String {
    let mut runs: Vec<(MariadbGtid, MariadbGtid)> = Vec::new();
    for g in gtids {
        match runs.last_mut() {
            Some((_, last))
                if last.domain == g.domain && last.server == g.server && last.seq + 1 == g.seq =>
            {
                *last = *g
            }
            _ => runs.push((*g, *g)),
        }
    }
    runs.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}..{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Everything the serve path needs, settled before the fence: the bound server, the one-time
/// account and the gap's GTIDs.
pub struct Ready {
    server: Server,
    flavor: ServerFlavor,
    host: String,
    port: u16,
    user: String,
    password: Password,
    gap: GapGtids,
    use_gtid: Option<&'static str>,
    report: ServeReport,
}

/// The path chosen.
pub enum Decision {
    Sql {
        reason: String,
    },
    Serve {
        ready: Box<Ready>,
        reason: String,
    },
    /// `--via serve` cannot work here; nothing was changed.
    Refused {
        reason: String,
    },
    /// The successor's own writes and the gap change the same row: nothing may be applied
    /// (whichever path), nothing was changed.
    Conflict {
        reason: String,
    },
}

/// What [`decide`] looks at besides the successor.
pub struct Inputs<'a> {
    pub via: Via,
    pub serve: &'a ServeVia,
    pub dry_run: bool,
    pub spool: &'a Spool,
    pub spool_dir: &'a std::path::Path,
    pub plan: &'a GapPlan,
    pub target: &'a TargetPosition,
    pub own_writes: Option<&'a str>,
    /// The successor as the fill reaches it, and what it had executed (for the own writes'
    /// conflict check).
    pub successor: &'a TargetOptions,
    pub executed: &'a Executed,
}

/// Choose SQL or serve. Only reads the successor; binds the listener when serving.
pub async fn decide(inp: Inputs<'_>, succ: &mut Successor) -> Result<Decision, FillError> {
    let via = inp.via;
    if via == Via::Sql {
        return Ok(Decision::Sql {
            reason: "--via sql (the default)".into(),
        });
    }
    let no = |why: String| match via {
        Via::Serve => Decision::Refused {
            reason: format!(
                "--via serve: {why}; nothing was changed (--via sql or --via auto fill through SQL)"
            ),
        },
        _ => Decision::Sql {
            reason: format!("auto: {why}: filled through SQL"),
        },
    };
    if inp.dry_run {
        return Ok(Decision::Sql {
            reason: "dry run: prints the SQL path's statements".into(),
        });
    }
    let gap = match servable_gap(&inp, succ).await? {
        Ok(gap) => gap,
        Err(why) => return Ok(no(why)),
    };
    // Writes the successor accepted since its promotion: the successor's applier would
    // overwrite any row they share with the gap, so no row may be shared.
    let own_check = match own_writes_verdict(&inp, succ, &gap).await {
        OwnWrites::Clear(summary) => summary,
        OwnWrites::Conflict(reason) => return Ok(Decision::Conflict { reason }),
        OwnWrites::Unknown(why) => return Ok(no(why)),
    };
    let use_gtid = match succ.flavor {
        ServerFlavor::MySql => None,
        ServerFlavor::MariaDb => match mariadb_use_gtid(succ, inp.spool, &gap).await? {
            Ok(u) => Some(u),
            Err(why) => return Ok(no(why)),
        },
    };
    let bound = match bind_listener(&inp, succ).await? {
        Ok(b) => b,
        Err(why) => return Ok(no(why)),
    };
    let mut warnings = Vec::new();
    if inp.serve.tls.is_none() {
        warnings.push(
            "served without TLS (no --serve-tls-cert/--serve-tls-key): the gap's rows cross \
             the network in clear (the one-time password does not: the successor proves it \
             by scramble)"
                .to_string(),
        );
    }
    let advertised = join_host_port(&bound.host, bound.port);
    let how = bound.how;
    let mut reason = match via {
        Via::Serve => format!("--via serve, the successor connects to {advertised} ({how})"),
        _ => format!(
            "auto: the spool's flavor is the successor's and it connects to {advertised} ({how})"
        ),
    };
    if let Some(c) = own_check {
        reason.push_str(&format!("; {c}"));
    }
    let report = ServeReport {
        listen: bound.local.to_string(),
        advertised,
        tls: inp.serve.tls.is_some(),
        channel: CHANNEL,
        use_gtid,
        gtids: gap.text(),
        until: gap.until(),
        transactions: gap.len(),
        verification: "not run yet".into(),
        rows_to_verify: None,
        rows_not_verifiable: None,
        warnings,
        ..ServeReport::default()
    };
    Ok(Decision::Serve {
        ready: Box::new(Ready {
            server: bound.server,
            flavor: succ.flavor,
            host: bound.host,
            port: bound.port,
            user: bound.user,
            password: bound.password,
            gap,
            use_gtid,
            report,
        }),
        reason,
    })
}

/// The gap's GTIDs when the successor's own applier can take it from this node's spool: the
/// spool's flavor is the successor's, no peer supplies part of it, the spool still names the
/// plan's transactions, no replication setting would skip an event, and the account may
/// configure a channel. `Err`: why not.
async fn servable_gap(
    inp: &Inputs<'_>,
    succ: &mut Successor,
) -> Result<Result<GapGtids, String>, FillError> {
    let mode = inp.spool.status().mode;
    let flavor_ok = matches!(
        (mode, succ.flavor),
        (MODE_MYSQL_GTID, ServerFlavor::MySql) | (MODE_MARIADB_GTID, ServerFlavor::MariaDb)
    );
    if !flavor_ok {
        let what = match succ.flavor {
            ServerFlavor::MySql => "MySQL",
            ServerFlavor::MariaDb => "MariaDB",
        };
        return Ok(Err(format!(
            "the spool is in mode '{mode}' and the successor is {what}: serving needs a spool \
             captured with GTIDs of the successor's flavor"
        )));
    }
    if let Some(p) = &inp.plan.from_peer {
        return Ok(Err(format!(
            "{} transactions of the gap come from peer {}; serve serves this node's spool only",
            p.transactions, p.peer
        )));
    }
    let gap = match GapGtids::collect(inp.spool, inp.target) {
        Ok(g) if g.len() == inp.plan.transactions => g,
        Ok(g) => {
            return Ok(Err(format!(
                "the spool now names {} transactions missing, the plan {}",
                g.len(),
                inp.plan.transactions
            )));
        }
        Err(e) => return Ok(Err(e)),
    };
    let skipping = skipping_settings(succ).await?;
    if !skipping.is_empty() {
        return Ok(Err(format!(
            "the successor's replication settings would skip events of the gap ({}); its \
             applier must apply all of them",
            skipping.join("; ")
        )));
    }
    if let Some(missing) = lacking_privilege(succ).await? {
        return Ok(Err(format!(
            "the successor's account lacks {missing}, which configuring a replication channel \
             needs"
        )));
    }
    Ok(Ok(gap))
}

/// The successor's own writes against the gap, for the serve path.
enum OwnWrites {
    /// No row in common: what the report says of them (`None`: there are none).
    Clear(Option<String>),
    /// A row both touch: nothing may be applied.
    Conflict(String),
    /// Why serving cannot go on (the SQL path compares every row).
    Unknown(String),
}

/// The successor's own writes against the gap's rows (`own_writes::check`).
async fn own_writes_verdict(inp: &Inputs<'_>, succ: &Successor, gap: &GapGtids) -> OwnWrites {
    let Some(own) = inp.own_writes else {
        return OwnWrites::Clear(None);
    };
    let gap_read = ReadOptions {
        start_position: inp.plan.start_offset,
        include: gap.selection(),
        ..ReadOptions::default()
    };
    let verdict = own_writes::check(
        inp.successor,
        succ.flavor,
        inp.executed,
        own,
        own_writes::Gap {
            files: &inp.plan.files,
            read: gap_read,
        },
        inp.spool_dir,
    )
    .await;
    match verdict {
        Verdict::Clear(summary) => {
            tracing::info!(own, "fill: {summary}");
            OwnWrites::Clear(Some(format!(
                "the successor has writes of its own ({own}): {summary}"
            )))
        }
        Verdict::Conflict(reason) => OwnWrites::Conflict(reason),
        Verdict::Unknown(why) => OwnWrites::Unknown(format!(
            "the successor has writes of its own ({own}) and {why}; the SQL path compares \
             every row against them"
        )),
    }
}

/// The serve listener, bound, and the one-time account the successor will log in with.
struct Bound {
    server: Server,
    local: std::net::SocketAddr,
    /// What the successor is told to connect to, and where that address came from.
    host: String,
    port: u16,
    how: &'static str,
    user: String,
    password: Password,
}

/// Bind the serve listener (`--serve-listen`, else the advertised address) and pick the
/// address the successor connects to (`--serve-addr`, else this node's address on the route
/// to it). `Err`: why serving cannot go on.
async fn bind_listener(
    inp: &Inputs<'_>,
    succ: &Successor,
) -> Result<Result<Bound, String>, FillError> {
    let (advertised, how) = match &inp.serve.addr {
        Some(a) => (a.clone(), "given by --serve-addr"),
        None => match route_to(&succ.addr).await {
            Ok(ip) => (
                join_host_port(&ip.to_string(), 0),
                "this node's address on the route to the successor",
            ),
            Err(e) => {
                return Ok(Err(format!(
                    "no --serve-addr and no route back from the successor to derive one ({e})"
                )));
            }
        },
    };
    let Some((host, port)) = split_host_port(&advertised) else {
        return Ok(Err(format!("--serve-addr {advertised:?} is not HOST:PORT")));
    };
    let listen = inp
        .serve
        .listen
        .clone()
        .unwrap_or_else(|| advertised.clone());
    let user = format!("gapfill_{:08x}", rand::thread_rng().r#gen::<u32>());
    let password = Password::new(one_time_password());
    let mut cfg = ServeConfig::new(
        inp.spool_dir.to_path_buf(),
        listen.clone(),
        user.clone(),
        password.clone(),
    );
    cfg.tls = inp.serve.tls.clone();
    cfg.poll_interval = Duration::from_millis(200);
    let server = match Server::bind(cfg).await {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("cannot serve the spool on {listen}: {e}"))),
    };
    let local = server.local_addr().map_err(|e| FillError::SuccessorState {
        addr: succ.addr.clone(),
        detail: format!("the serve listener on {listen}: {e}"),
    })?;
    let port = if port == 0 { local.port() } else { port };
    Ok(Ok(Bound {
        server,
        local,
        host,
        port,
        how,
        user,
        password,
    }))
}

/// Why the serve path stopped.
#[derive(Debug)]
pub enum ServeFailed {
    /// Nothing of the gap was applied and the channel is gone: the SQL path may run instead.
    Refused(String),
    /// The successor's applier stopped on an error, or the wait ran out; the channel is gone.
    Failed(String),
}

/// Run the serve path: the channel, the wait, the cleanup (always), the check of the GTIDs.
pub async fn run(
    ready: Ready,
    succ: &mut Successor,
    wait: Duration,
) -> (ServeReport, Result<(), ServeFailed>) {
    let started = Instant::now();
    let Ready {
        server,
        flavor,
        host,
        port,
        user,
        password,
        gap,
        use_gtid,
        mut report,
    } = ready;
    for w in &report.warnings {
        tracing::warn!("fill via serve: {w}");
    }
    tracing::info!(
        listen = %report.listen,
        advertised = %report.advertised,
        tls = report.tls,
        transactions = gap.len(),
        "fill via serve: the successor replicates the gap from gapfill on channel '{CHANNEL}'"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let ch = Channel {
        flavor,
        host: &host,
        port,
        user: &user,
        password: &password,
        tls: report.tls,
        use_gtid,
    };
    let mut result = drive(&ch, &gap, succ, wait, &mut report).await;
    if let Err(e) = remove_channel(succ, flavor).await {
        report.cleanup_error = Some(e.to_string());
        tracing::warn!(error = %e, "fill via serve: could not remove the channel '{CHANNEL}'");
        if result.is_ok() {
            result = Err(ServeFailed::Failed(format!(
                "removing the channel '{CHANNEL}' failed: {e}"
            )));
        }
    }
    let _ = stop.send(());
    let _ = serving.await;
    // The data, not "no error": every GTID of the gap is executed on the successor.
    match succ.executed().await {
        Ok(after) => {
            let (n, missing) = gap.missing_from(&after);
            report.transactions_landed = gap.len() - n;
            if n == 0 {
                report.verification = format!(
                    "the successor's executed GTIDs hold all {} GTIDs of the gap",
                    gap.len()
                );
            } else {
                report.verification = format!(
                    "the successor lacks {n} GTIDs of the gap: {}",
                    brief(&missing)
                );
                if result.is_ok() {
                    result = Err(ServeFailed::Failed(format!(
                        "the successor's applier finished, but it lacks {n} GTIDs of the gap: {}",
                        brief(&missing)
                    )));
                }
            }
        }
        Err(e) => {
            report.verification = format!("cannot read the successor's executed GTIDs: {e}");
            if result.is_ok() {
                result = Err(ServeFailed::Failed(report.verification.clone()));
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    (report, result)
}

impl Ready {
    /// The transactions of the gap as a read filter (see [`GapGtids::selection`]).
    pub fn selection(&self) -> Option<GtidSelection> {
        self.gap.selection()
    }
}

/// The data after the successor's applier ran the gap: the gap's transactions walked without
/// sending anything (see `ApplyOptions::survey`), every row they left read back from the
/// successor and compared with its last image, the gap's GTIDs checked again. `Err`: what
/// differs (table, key, column), or why the check could not run.
pub async fn verify_rows(
    successor: &TargetOptions,
    plan: &GapPlan,
    include: Option<GtidSelection>,
    report: &mut ServeReport,
) -> Result<(), String> {
    let opts = ApplyOptions {
        target: Some(successor.clone()),
        parallel: 1,
        read: ReadOptions {
            start_position: plan.start_offset,
            include,
            ..ReadOptions::default()
        },
        verify: true,
        survey: true,
        ..ApplyOptions::default()
    };
    let started = Instant::now();
    let r = apply_files(&plan.files, opts).await;
    report.verification_seconds = started.elapsed().as_secs_f64();
    match r {
        Ok(r) => {
            report.rows_to_verify = r.rows_to_verify;
            report.rows_verified = r.rows_verified;
            report.rows_not_verifiable = r.rows_not_verifiable;
            if let (Some(n), Some(m)) = (r.rows_verified, r.rows_to_verify) {
                report
                    .verification
                    .push_str(&format!("; rows verified {n}/{m}"));
            }
            if let Some(k) = r.rows_not_verifiable.filter(|k| *k > 0) {
                report.verification.push_str(&format!(
                    "; {k} row change(s) not verifiable (no primary key, or changed by a later \
                     statement, savepoint rollback or XA)"
                ));
            }
            Ok(())
        }
        Err(f) => {
            report.rows_to_verify = f.report.rows_to_verify;
            report.rows_verified = f.report.rows_verified;
            report.rows_not_verifiable = f.report.rows_not_verifiable;
            report.verification = format!("reading the rows back: {}", f.error);
            Err(f.error.to_string())
        }
    }
}

/// Configure and start the channel, wait for the gap, watch for errors.
async fn drive(
    ch: &Channel<'_>,
    gap: &GapGtids,
    succ: &mut Successor,
    wait: Duration,
    report: &mut ServeReport,
) -> Result<(), ServeFailed> {
    let failed = |e: FillError| ServeFailed::Failed(e.to_string());
    // A fill killed mid-way left its channel: start clean.
    remove_channel(succ, ch.flavor).await.map_err(failed)?;
    let change = ch.change();
    let addr = succ.addr.clone();
    if let Err(e) = succ.conn().query_drop(&change).await {
        let msg = e
            .to_string()
            .replace(ch.password.expose(), "<one-time password>");
        return Err(ServeFailed::Refused(format!(
            "successor {addr}: {}: {msg}",
            ch.change_shown()
        )));
    }
    // The channel as the server configured it: filters from option files apply per channel.
    let st = channel_status(succ, ch.flavor).await.map_err(failed)?;
    let filters = channel_filters(st.as_ref());
    if !filters.is_empty() {
        return Err(ServeFailed::Refused(format!(
            "replication filters on the successor would skip events of the gap ({})",
            filters.join("; ")
        )));
    }
    let start = ch.start(&gap.until());
    succ.conn().query_drop(&start).await.map_err(|source| {
        ServeFailed::Failed(FillError::on_successor(&addr, &start)(source).to_string())
    })?;
    let total = gap.len();
    let mut landed = 0u64;
    let mut last_progress = Instant::now();
    let mut last_log = Instant::now();
    let mut io_error_since: Option<Instant> = None;
    loop {
        let executed = succ.executed().await.map_err(failed)?;
        let (missing, _) = gap.missing_from(&executed);
        let now_landed = total - missing;
        if now_landed != landed {
            landed = now_landed;
            last_progress = Instant::now();
        }
        report.transactions_landed = landed;
        if missing == 0 {
            tracing::info!(
                transactions = total,
                "fill via serve: the successor applied the whole gap"
            );
            return Ok(());
        }
        let st = channel_status(succ, ch.flavor)
            .await
            .map_err(failed)?
            .unwrap_or_default();
        if let Some(e) = st.sql_error.as_ref() {
            let workers = worker_errors(succ, ch.flavor).await;
            return Err(ServeFailed::Failed(format!(
                "the successor's applier stopped: {e}{workers}; {landed} of {total} transactions \
                 of the gap applied"
            )));
        }
        if let Some(e) = st.io_error.as_ref() {
            let since = *io_error_since.get_or_insert_with(Instant::now);
            if !st.io_running || since.elapsed() > Duration::from_secs(5) {
                let what = format!(
                    "the successor's replication I/O thread cannot read from gapfill at {}: {e}",
                    report.advertised
                );
                return Err(if landed == 0 {
                    ServeFailed::Refused(what)
                } else {
                    ServeFailed::Failed(format!(
                        "{what}; {landed} of {total} transactions of the gap applied"
                    ))
                });
            }
        } else {
            io_error_since = None;
        }
        if !st.sql_running && st.configured {
            // UNTIL reached, or stopped without an error: read once more, then judge.
            let executed = succ.executed().await.map_err(failed)?;
            let (missing, text) = gap.missing_from(&executed);
            if missing == 0 {
                report.transactions_landed = total;
                return Ok(());
            }
            return Err(ServeFailed::Failed(format!(
                "the successor's SQL thread stopped with {missing} GTIDs of the gap not applied: {}",
                brief(&text)
            )));
        }
        if last_progress.elapsed() > wait {
            return Err(ServeFailed::Failed(format!(
                "no transaction of the gap landed within {} s (--wait-timeout); {landed} of \
                 {total} applied (I/O thread {}, SQL thread {})",
                wait.as_secs(),
                if st.io_running { "running" } else { "stopped" },
                if st.sql_running { "running" } else { "stopped" },
            )));
        }
        if last_log.elapsed() > Duration::from_secs(2) {
            tracing::info!(
                landed,
                total,
                "fill via serve: {landed} of {total} transactions of the gap applied"
            );
            last_log = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// MariaDB: which position the successor's request starts from. The server decides what it
/// sends (`gtid_slave_pos` or `gtid_current_pos`), so each is checked against the spool as
/// `serve` will answer it: the one whose missing transactions are exactly the gap wins.
async fn mariadb_use_gtid(
    succ: &mut Successor,
    spool: &Spool,
    gap: &GapGtids,
) -> Result<Result<&'static str, String>, FillError> {
    let q = "SELECT CAST(@@GLOBAL.gtid_slave_pos AS CHAR), CAST(@@GLOBAL.gtid_current_pos AS CHAR)";
    let addr = succ.addr.clone();
    let (slave, current): (Option<String>, Option<String>) = succ
        .conn()
        .query_first(q)
        .await
        .map_err(FillError::on_successor(&addr, q))?
        .unwrap_or_default();
    let mut tried = Vec::new();
    for (name, text) in [("slave_pos", slave), ("current_pos", current)] {
        let text = text.unwrap_or_default();
        let verdict = match MariadbGtidPos::parse(text.trim()) {
            Err(e) => format!("cannot parse it: {e}"),
            Ok(pos) => {
                let target = TargetPosition::MariaDbGtids(MariadbExecuted::from_replicated(pos));
                match spool.coverage_for(&target) {
                    Coverage::NotCovered(why) => format!("the spool does not cover it: {why}"),
                    _ => match GapGtids::collect(spool, &target) {
                        Ok(g) if &g == gap => return Ok(Ok(name)),
                        Ok(g) => format!("it would receive {} transactions, not the gap", g.len()),
                        Err(e) => e,
                    },
                }
            }
        };
        tried.push(format!("gtid_{name} '{}': {verdict}", text.trim()));
    }
    Ok(Err(format!(
        "no GTID position of the successor starts exactly at the gap ({})",
        tried.join("; ")
    )))
}

/// This node's IP address on the route to `addr` (what the successor can connect back to).
async fn route_to(addr: &str) -> std::io::Result<std::net::IpAddr> {
    let s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    Ok(s.local_addr()?.ip())
}

fn split_host_port(a: &str) -> Option<(String, u16)> {
    let (h, p) = a.rsplit_once(':')?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h.is_empty() {
        return None;
    }
    Some((h.to_string(), p.parse().ok()?))
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// 32 letters and digits: nothing to escape in a statement.
fn one_time_password() -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// At most a few hundred characters of a GTID list.
fn brief(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_string();
    }
    let cut = s
        .char_indices()
        .take_while(|(i, _)| *i < MAX)
        .last()
        .map_or(0, |(i, _)| i);
    format!("{}... ({} characters)", &s[..cut], s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_until_is_the_last_gtid_per_domain() {
        let g = |s: &str| MariadbGtid::parse(s).unwrap();
        let gap = GapGtids::MariaDb(vec![g("0-11-5"), g("1-11-2"), g("0-11-6"), g("1-11-3")]);
        assert_eq!(gap.until(), "0-11-6,1-11-3");
        assert_eq!(gap.len(), 4);
        assert_eq!(gap.text(), "0-11-5,1-11-2,0-11-6,1-11-3");
        let run = GapGtids::MariaDb(vec![g("0-11-5"), g("0-11-6"), g("0-11-7"), g("0-12-8")]);
        assert_eq!(run.text(), "0-11-5..0-11-7,0-12-8");
        let executed = Executed::MariaDb(MariadbExecuted::from_replicated(
            MariadbGtidPos::parse("0-11-6,1-11-2").unwrap(),
        ));
        assert_eq!(gap.missing_from(&executed), (1, "1-11-3".to_string()));
    }

    #[test]
    fn mysql_missing_is_a_set_difference() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let gap = GapGtids::MySql(GtidSet::parse(&format!("{u}:5-9")).unwrap());
        assert_eq!(gap.until(), format!("{u}:5-9"));
        let e = Executed::MySql(GtidSet::parse(&format!("{u}:1-7")).unwrap());
        assert_eq!(gap.missing_from(&e), (2, format!("{u}:8-9")));
    }

    #[test]
    fn one_time_passwords_are_random_letters_and_digits() {
        let p = one_time_password();
        assert_eq!(p.len(), 32);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(p, one_time_password());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            split_host_port("10.1.2.3:3307"),
            Some(("10.1.2.3".into(), 3307))
        );
        assert_eq!(split_host_port("[::1]:0"), Some(("::1".into(), 0)));
        assert_eq!(split_host_port(":3307"), None);
        assert_eq!(join_host_port("::1", 5), "[::1]:5");
        assert_eq!(join_host_port("db1", 5), "db1:5");
        assert!(brief(&"x".repeat(1000)).ends_with("(1000 characters)"));
    }
}
