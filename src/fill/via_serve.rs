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
//! replication threads write through `read_only`), nor speak the protocol (`serve`). Rows are
//! not read back on this path: the report says `rows_verified: null` and why.
//!
//! The one-time password never reaches a log, an error message, or any argv: it goes to the
//! server inside `ServeConfig` and to the successor inside the CHANGE statement over the fill's
//! own connection (MySQL and MariaDB cannot bind parameters there, so it is a quoted literal
//! of letters and digits; the statement's error messages are scrubbed of it).

use std::time::{Duration, Instant};

use mysql_async::Row;
use mysql_async::prelude::Queryable;
use rand::Rng;

use crate::apply::{Executed, ServerFlavor};
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_executed::MariadbExecuted;
use crate::binlog::mariadb_gtid::{MariadbGtid, MariadbGtidPos};
use crate::capture::start::{MODE_MARIADB_GTID, MODE_MYSQL_GTID};
use crate::protocol::Password;
use crate::serve::{ServeConfig, Server, TlsFiles};
use crate::spool::{Coverage, Spool, TargetPosition, TxnGtid};

use super::error::FillError;
use super::plan::GapPlan;
use super::successor::Successor;

/// The replication channel (MySQL) or connection name (MariaDB) the fill uses.
pub const CHANNEL: &str = "gapfill";

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
    /// Always `None`: rows are not read back on this path (see `verification`).
    pub rows_verified: Option<u64>,
    /// What was checked after the channel finished.
    pub verification: String,
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
        return Ok(no(format!(
            "the spool is in mode '{mode}' and the successor is {what}: serving needs a spool \
             captured with GTIDs of the successor's flavor"
        )));
    }
    if let Some(p) = &inp.plan.from_peer {
        return Ok(no(format!(
            "{} transactions of the gap come from peer {}; serve serves this node's spool only",
            p.transactions, p.peer
        )));
    }
    if let Some(own) = inp.own_writes {
        return Ok(no(format!(
            "the successor has writes of its own ({own}): the SQL path checks every row \
             against them, the successor's applier would not"
        )));
    }
    let gap = match GapGtids::collect(inp.spool, inp.target) {
        Ok(g) if g.len() == inp.plan.transactions => g,
        Ok(g) => {
            return Ok(no(format!(
                "the spool now names {} transactions missing, the plan {}",
                g.len(),
                inp.plan.transactions
            )));
        }
        Err(e) => return Ok(no(e)),
    };
    let skipping = skipping_settings(succ).await?;
    if !skipping.is_empty() {
        return Ok(no(format!(
            "the successor's replication settings would skip events of the gap ({}); its \
             applier must apply all of them",
            skipping.join("; ")
        )));
    }
    if let Some(missing) = lacking_privilege(succ).await? {
        return Ok(no(format!(
            "the successor's account lacks {missing}, which configuring a replication channel \
             needs"
        )));
    }
    let use_gtid = match succ.flavor {
        ServerFlavor::MySql => None,
        ServerFlavor::MariaDb => match mariadb_use_gtid(succ, inp.spool, &gap).await? {
            Ok(u) => Some(u),
            Err(why) => return Ok(no(why)),
        },
    };
    let (advertised, how) = match &inp.serve.addr {
        Some(a) => (a.clone(), "given by --serve-addr"),
        None => match route_to(&succ.addr).await {
            Ok(ip) => (
                join_host_port(&ip.to_string(), 0),
                "this node's address on the route to the successor",
            ),
            Err(e) => {
                return Ok(no(format!(
                    "no --serve-addr and no route back from the successor to derive one ({e})"
                )));
            }
        },
    };
    let Some((host, port)) = split_host_port(&advertised) else {
        return Ok(no(format!("--serve-addr {advertised:?} is not HOST:PORT")));
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
        Err(e) => return Ok(no(format!("cannot serve the spool on {listen}: {e}"))),
    };
    let bound = server.local_addr().map_err(|e| FillError::SuccessorState {
        addr: succ.addr.clone(),
        detail: format!("the serve listener on {listen}: {e}"),
    })?;
    let port = if port == 0 { bound.port() } else { port };
    let advertised = join_host_port(&host, port);
    let mut warnings = Vec::new();
    if inp.serve.tls.is_none() {
        warnings.push(
            "served without TLS (no --serve-tls-cert/--serve-tls-key): the gap's rows cross \
             the network in clear (the one-time password does not: the successor proves it \
             by scramble)"
                .to_string(),
        );
    }
    let reason = match via {
        Via::Serve => format!("--via serve, the successor connects to {advertised} ({how})"),
        _ => format!(
            "auto: the spool's flavor is the successor's and it connects to {advertised} ({how})"
        ),
    };
    let report = ServeReport {
        listen: bound.to_string(),
        advertised,
        tls: inp.serve.tls.is_some(),
        channel: CHANNEL,
        use_gtid,
        gtids: gap.text(),
        until: gap.until(),
        transactions: gap.len(),
        verification: "not run yet".into(),
        warnings,
        ..ServeReport::default()
    };
    Ok(Decision::Serve {
        ready: Box::new(Ready {
            server,
            flavor: succ.flavor,
            host,
            port,
            user,
            password,
            gap,
            use_gtid,
            report,
        }),
        reason,
    })
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
                    "the successor's executed GTIDs hold all {} GTIDs of the gap; rows not \
                     read back (the serve path does not run the SQL path's verify)",
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

/// The channel's settings.
struct Channel<'a> {
    flavor: ServerFlavor,
    host: &'a str,
    port: u16,
    user: &'a str,
    password: &'a Password,
    tls: bool,
    use_gtid: Option<&'static str>,
}

impl Channel<'_> {
    /// The CHANGE statement (it holds the password: never log it).
    fn change(&self) -> String {
        let ssl = u8::from(self.tls);
        match self.flavor {
            ServerFlavor::MySql => format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST={}, SOURCE_PORT={}, SOURCE_USER={}, \
                 SOURCE_PASSWORD={}, SOURCE_AUTO_POSITION=1, SOURCE_SSL={ssl}, \
                 SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=10, SOURCE_HEARTBEAT_PERIOD=1 \
                 FOR CHANNEL '{CHANNEL}'",
                quote(self.host),
                self.port,
                quote(self.user),
                quote(self.password.expose()),
            ),
            ServerFlavor::MariaDb => format!(
                "CHANGE MASTER '{CHANNEL}' TO MASTER_HOST={}, MASTER_PORT={}, MASTER_USER={}, \
                 MASTER_PASSWORD={}, MASTER_USE_GTID={}, MASTER_SSL={ssl}, \
                 MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1",
                quote(self.host),
                self.port,
                quote(self.user),
                quote(self.password.expose()),
                self.use_gtid.unwrap_or("slave_pos"),
            ),
        }
    }

    /// The CHANGE statement as it may be shown.
    fn change_shown(&self) -> String {
        self.change()
            .replace(&quote(self.password.expose()), "'<one-time password>'")
    }

    fn start(&self, until: &str) -> String {
        match self.flavor {
            ServerFlavor::MySql => format!(
                "START REPLICA UNTIL SQL_AFTER_GTIDS = {} FOR CHANNEL '{CHANNEL}'",
                quote(until)
            ),
            ServerFlavor::MariaDb => format!(
                "START SLAVE '{CHANNEL}' UNTIL master_gtid_pos = {}",
                quote(until)
            ),
        }
    }
}

fn status_query(flavor: ServerFlavor) -> String {
    match flavor {
        ServerFlavor::MySql => format!("SHOW REPLICA STATUS FOR CHANNEL '{CHANNEL}'"),
        ServerFlavor::MariaDb => format!("SHOW SLAVE '{CHANNEL}' STATUS"),
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
        ServeFailed::Failed(
            FillError::Successor {
                addr: addr.clone(),
                action: start.clone(),
                source,
            }
            .to_string(),
        )
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

/// The channel as `SHOW REPLICA STATUS FOR CHANNEL` / `SHOW SLAVE 'gapfill' STATUS` shows it.
#[derive(Debug, Default)]
struct ChannelStatus {
    configured: bool,
    io_running: bool,
    sql_running: bool,
    io_error: Option<String>,
    sql_error: Option<String>,
    /// `(column, value)` of every non-empty replication filter.
    filters: Vec<(String, String)>,
}

const FILTER_COLUMNS: &[&str] = &[
    "Replicate_Do_DB",
    "Replicate_Ignore_DB",
    "Replicate_Do_Table",
    "Replicate_Ignore_Table",
    "Replicate_Wild_Do_Table",
    "Replicate_Wild_Ignore_Table",
    "Replicate_Rewrite_DB",
    "Replicate_Ignore_Server_Ids",
    "Replicate_Do_Domain_Ids",
    "Replicate_Ignore_Domain_Ids",
];

async fn channel_status(
    succ: &mut Successor,
    flavor: ServerFlavor,
) -> Result<Option<ChannelStatus>, FillError> {
    let q = status_query(flavor);
    let addr = succ.addr.clone();
    let row: Option<Row> =
        succ.conn()
            .query_first(&q)
            .await
            .map_err(|source| FillError::Successor {
                addr,
                action: q.clone(),
                source,
            })?;
    let Some(row) = row else { return Ok(None) };
    let text = |n: &str| -> String {
        row.get_opt::<Option<String>, _>(n)
            .and_then(|r| r.ok())
            .flatten()
            .unwrap_or_default()
    };
    let (io, sql) = match flavor {
        ServerFlavor::MySql => ("Replica_IO_Running", "Replica_SQL_Running"),
        ServerFlavor::MariaDb => ("Slave_IO_Running", "Slave_SQL_Running"),
    };
    let err = |no: &str, msg: &str| {
        let n = text(no);
        (!n.is_empty() && n != "0").then(|| format!("error {n}: {}", text(msg)))
    };
    Ok(Some(ChannelStatus {
        configured: true,
        io_running: text(io) != "No",
        sql_running: text(sql) == "Yes",
        io_error: err("Last_IO_Errno", "Last_IO_Error"),
        sql_error: err("Last_SQL_Errno", "Last_SQL_Error"),
        filters: FILTER_COLUMNS
            .iter()
            .map(|c| (c.to_string(), text(c)))
            .filter(|(_, v)| !v.trim().is_empty())
            .collect(),
    }))
}

fn channel_filters(st: Option<&ChannelStatus>) -> Vec<String> {
    st.map(|s| s.filters.iter().map(|(c, v)| format!("{c}: {v}")).collect())
        .unwrap_or_default()
}

/// MySQL: the workers' own messages (the coordinator's only points at them).
async fn worker_errors(succ: &mut Successor, flavor: ServerFlavor) -> String {
    if flavor != ServerFlavor::MySql {
        return String::new();
    }
    let q = format!(
        "SELECT LAST_ERROR_NUMBER, LAST_ERROR_MESSAGE FROM \
         performance_schema.replication_applier_status_by_worker \
         WHERE CHANNEL_NAME = '{CHANNEL}' AND LAST_ERROR_NUMBER <> 0"
    );
    let rows: Vec<(u64, String)> = succ.conn().query(&q).await.unwrap_or_default();
    rows.into_iter()
        .map(|(n, m)| format!(" (worker: error {n}: {m})"))
        .collect()
}

/// Stop and forget the channel, when there is one.
pub async fn remove_channel(succ: &mut Successor, flavor: ServerFlavor) -> Result<(), FillError> {
    if channel_status(succ, flavor).await.ok().flatten().is_none() {
        // MySQL shows nothing for an unknown channel (or errors); MariaDB errors.
        return Ok(());
    }
    let stmts = match flavor {
        ServerFlavor::MySql => [
            format!("STOP REPLICA FOR CHANNEL '{CHANNEL}'"),
            format!("RESET REPLICA ALL FOR CHANNEL '{CHANNEL}'"),
        ],
        ServerFlavor::MariaDb => [
            format!("STOP SLAVE '{CHANNEL}'"),
            format!("RESET SLAVE '{CHANNEL}' ALL"),
        ],
    };
    for q in stmts {
        let addr = succ.addr.clone();
        succ.conn()
            .query_drop(&q)
            .await
            .map_err(|source| FillError::Successor {
                addr,
                action: q.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Settings that make a replica's applier skip events or errors, as the successor has them
/// globally (a new channel starts with them).
async fn skipping_settings(succ: &mut Successor) -> Result<Vec<String>, FillError> {
    let mut out = Vec::new();
    let addr = succ.addr.clone();
    let err = |q: &str| {
        let addr = addr.clone();
        let q = q.to_string();
        move |source| FillError::Successor {
            addr,
            action: q,
            source,
        }
    };
    match succ.flavor {
        ServerFlavor::MySql => {
            let q = "SELECT FILTER_NAME, FILTER_RULE FROM \
                     performance_schema.replication_applier_global_filters \
                     WHERE FILTER_RULE <> ''";
            let rows: Vec<(String, String)> = succ.conn().query(q).await.map_err(err(q))?;
            out.extend(rows.into_iter().map(|(n, r)| format!("{n}: {r}")));
            let q = "SELECT @@GLOBAL.replica_skip_errors, @@GLOBAL.replica_exec_mode";
            let (skip, mode): (String, String) = succ
                .conn()
                .query_first(q)
                .await
                .map_err(err(q))?
                .unwrap_or_default();
            out.extend(skip_settings("replica", &skip, &mode));
        }
        ServerFlavor::MariaDb => {
            let names = [
                "replicate_do_db",
                "replicate_ignore_db",
                "replicate_do_table",
                "replicate_ignore_table",
                "replicate_wild_do_table",
                "replicate_wild_ignore_table",
            ];
            let q = format!(
                "SELECT {}",
                names
                    .iter()
                    .map(|n| format!("CAST(@@GLOBAL.{n} AS CHAR)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let row: Option<Row> = succ.conn().query_first(&q).await.map_err(err(&q))?;
            if let Some(row) = row {
                for (i, n) in names.iter().enumerate() {
                    let v: Option<String> = row.get_opt(i).and_then(|r| r.ok()).flatten();
                    if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
                        out.push(format!("{n}: {v}"));
                    }
                }
            }
            let q = "SELECT @@GLOBAL.slave_skip_errors, @@GLOBAL.slave_exec_mode";
            let (skip, mode): (String, String) = succ
                .conn()
                .query_first(q)
                .await
                .map_err(err(q))?
                .unwrap_or_default();
            out.extend(skip_settings("slave", &skip, &mode));
        }
    }
    Ok(out)
}

/// `*_skip_errors` other than OFF, `*_exec_mode` other than STRICT.
fn skip_settings(prefix: &str, skip: &str, mode: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !skip.trim().is_empty() && !skip.eq_ignore_ascii_case("OFF") {
        out.push(format!("{prefix}_skip_errors: {skip}"));
    }
    if !mode.trim().is_empty() && !mode.eq_ignore_ascii_case("STRICT") {
        out.push(format!("{prefix}_exec_mode: {mode}"));
    }
    out
}

/// The privilege configuring a channel needs, when the account's grants show it lacks it.
async fn lacking_privilege(succ: &mut Successor) -> Result<Option<&'static str>, FillError> {
    let addr = succ.addr.clone();
    let q = "SHOW GRANTS";
    // The rows may hold a password hash: never shown.
    let grants: Vec<String> =
        succ.conn()
            .query(q)
            .await
            .map_err(|source| FillError::Successor {
                addr,
                action: q.into(),
                source,
            })?;
    Ok(grants_lack(&grants, succ.flavor))
}

/// From `SHOW GRANTS`: `Some(what)` when no global grant allows configuring a replication
/// channel and no role could; `None` when one does (or a role might: the server decides).
fn grants_lack(grants: &[String], flavor: ServerFlavor) -> Option<&'static str> {
    let enough: &[&str] = match flavor {
        ServerFlavor::MySql => &["ALL PRIVILEGES", "SUPER", "REPLICATION_SLAVE_ADMIN"],
        ServerFlavor::MariaDb => &["ALL PRIVILEGES", "SUPER", "REPLICATION SLAVE ADMIN"],
    };
    for g in grants {
        let Some(rest) = g.strip_prefix("GRANT ") else {
            continue;
        };
        let Some((privs, _)) = rest.split_once(" ON ") else {
            // GRANT `role`@`host` TO ...: a role's privileges are not listed here.
            return None;
        };
        if !rest.contains(" ON *.* ") {
            continue;
        }
        if privs
            .split(',')
            .map(|p| p.trim().to_ascii_uppercase())
            .any(|p| enough.contains(&p.as_str()))
        {
            return None;
        }
    }
    Some(match flavor {
        ServerFlavor::MySql => "REPLICATION_SLAVE_ADMIN (or SUPER)",
        ServerFlavor::MariaDb => "REPLICATION SLAVE ADMIN (or SUPER)",
    })
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
        .map_err(|source| FillError::Successor {
            addr,
            action: q.into(),
            source,
        })?
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

/// A string literal for MySQL and MariaDB (NO_BACKSLASH_ESCAPES or not).
fn quote(s: &str) -> String {
    if s.contains('\\') {
        // Backslashes mean different things with and without NO_BACKSLASH_ESCAPES: hex.
        let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
        return format!("X'{hex}'");
    }
    format!("'{}'", s.replace('\'', "''"))
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

    fn ch(flavor: ServerFlavor, pw: &Password) -> Channel<'_> {
        Channel {
            flavor,
            host: "10.0.0.5",
            port: 33061,
            user: "gapfill_0a0b0c0d",
            password: pw,
            tls: false,
            use_gtid: Some("slave_pos"),
        }
    }

    #[test]
    fn statements_name_the_channel_and_hide_the_password_when_shown() {
        let pw = Password::new("Abc123xyz");
        let my = ch(ServerFlavor::MySql, &pw);
        assert_eq!(
            my.change(),
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.0.0.5', SOURCE_PORT=33061, \
             SOURCE_USER='gapfill_0a0b0c0d', SOURCE_PASSWORD='Abc123xyz', \
             SOURCE_AUTO_POSITION=1, SOURCE_SSL=0, SOURCE_CONNECT_RETRY=1, \
             SOURCE_RETRY_COUNT=10, SOURCE_HEARTBEAT_PERIOD=1 FOR CHANNEL 'gapfill'"
        );
        assert!(!my.change_shown().contains("Abc123xyz"));
        assert!(my.change_shown().contains("<one-time password>"));
        assert_eq!(
            my.start("u:1-3"),
            "START REPLICA UNTIL SQL_AFTER_GTIDS = 'u:1-3' FOR CHANNEL 'gapfill'"
        );
        let ma = Channel {
            tls: true,
            ..ch(ServerFlavor::MariaDb, &pw)
        };
        assert_eq!(
            ma.change(),
            "CHANGE MASTER 'gapfill' TO MASTER_HOST='10.0.0.5', MASTER_PORT=33061, \
             MASTER_USER='gapfill_0a0b0c0d', MASTER_PASSWORD='Abc123xyz', \
             MASTER_USE_GTID=slave_pos, MASTER_SSL=1, MASTER_CONNECT_RETRY=1, \
             MASTER_HEARTBEAT_PERIOD=1"
        );
        assert_eq!(
            ma.start("0-11-9,1-11-4"),
            "START SLAVE 'gapfill' UNTIL master_gtid_pos = '0-11-9,1-11-4'"
        );
    }

    #[test]
    fn quoting_and_one_time_passwords() {
        assert_eq!(quote("a'b"), "'a''b'");
        assert_eq!(quote("a\\b"), "X'615c62'");
        let p = one_time_password();
        assert_eq!(p.len(), 32);
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(p, one_time_password());
    }

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
    fn grants_that_allow_a_channel() {
        let my = ServerFlavor::MySql;
        let ma = ServerFlavor::MariaDb;
        let g = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            grants_lack(
                &g(&["GRANT ALL PRIVILEGES ON *.* TO `gapfill`@`%` WITH GRANT OPTION"]),
                ma
            ),
            None
        );
        assert_eq!(
            grants_lack(
                &g(&[
                    "GRANT SELECT, REPLICATION SLAVE ON *.* TO `u`@`%`",
                    "GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `u`@`%`"
                ]),
                my
            ),
            None
        );
        // REPLICATION SLAVE is the source side's privilege, not enough on a replica.
        assert!(
            grants_lack(
                &g(&["GRANT SELECT, REPLICATION SLAVE ON *.* TO `u`@`%`"]),
                my
            )
            .is_some()
        );
        // A schema-level ALL is not global.
        assert!(grants_lack(&g(&["GRANT ALL PRIVILEGES ON `db`.* TO `u`@`%`"]), ma).is_some());
        // A role may grant it: the server decides.
        assert_eq!(
            grants_lack(
                &g(&[
                    "GRANT USAGE ON *.* TO `u`@`%`",
                    "GRANT `dba`@`%` TO `u`@`%`"
                ]),
                my
            ),
            None
        );
    }

    #[test]
    fn settings_that_skip() {
        assert!(skip_settings("replica", "OFF", "STRICT").is_empty());
        assert_eq!(
            skip_settings("slave", "1062", "IDEMPOTENT"),
            vec![
                "slave_skip_errors: 1062".to_string(),
                "slave_exec_mode: IDEMPOTENT".to_string()
            ]
        );
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
