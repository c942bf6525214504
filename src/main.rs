//! The `gapfill` command line: thin clap subcommands over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use gapfill::apply::{
    ApplyOptions, GtidSelection, ReadOptions, TargetOptions, apply_files_blocking,
};
use gapfill::capture::{CaptureConfig, CaptureError, OnBreak, StartMode, StopReason};
use gapfill::decode::{DecodeError, DecodeOptions, Format, decode_files};
use gapfill::protocol::{ConnectOptions, TlsMode, TlsOptions};
use gapfill::spool::{FsyncPolicy, Retention};

#[derive(Parser)]
#[command(
    name = "gapfill",
    version,
    about = "Closes the binlog gap on a MySQL/MariaDB failover"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum SslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

/// Exit code of `gapfill capture` when it stopped on a continuity break (`--on-break stop`).
const EXIT_CONTINUITY_BREAK: u8 = 3;

/// Exit code of a replay that failed while applying: re-running it is safe (the same code as
/// `gapfill fill`'s).
const EXIT_APPLY_FAILED: u8 = gapfill::fill::exit::APPLY_FAILED;

/// Where and how to connect to a server gapfill writes to.
#[derive(clap::Args, Clone)]
struct ServerAccess {
    /// A 0600 file with user= and password= lines.
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// orchestrator.conf.json to take MySQLTopologyUser/MySQLTopologyPassword (and, for fill,
    /// SlaveBinLogEnableMaxLagSeconds) from.
    #[arg(long, env = "GAPFILL_ORCHESTRATOR_CONFIG")]
    orchestrator_config: Option<PathBuf>,
    #[command(flatten)]
    ssl: SslArgs,
}

/// TLS to a server, with MySQL client's option names (`mysql --ssl-mode ...`); the older
/// `--tls-*` spellings are accepted, hidden.
#[derive(clap::Args, Clone, Default)]
struct SslArgs {
    /// disabled, preferred, required, verify-ca or verify-identity (default: preferred, or
    /// verify-ca when --ssl-ca is given, as MySQL's client does).
    #[arg(long, alias = "tls-mode", value_enum)]
    ssl_mode: Option<SslMode>,
    /// CA certificate(s) (PEM) to verify the server's certificate.
    #[arg(long, alias = "tls-ca", value_name = "FILE")]
    ssl_ca: Option<PathBuf>,
    /// Client certificate (PEM) for accounts that REQUIRE X509 (with --ssl-key).
    #[arg(long, value_name = "FILE", requires = "ssl_key")]
    ssl_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "ssl_cert")]
    ssl_key: Option<PathBuf>,
    /// Send the password (caching_sha2_password full authentication) inside TLS whose
    /// certificate was not verified (--ssl-mode preferred/required): a man in the middle reads
    /// it. Prefer --ssl-mode verify-ca with --ssl-ca (or, for capture, --server-public-key).
    #[arg(
        long,
        env = "GAPFILL_ALLOW_UNVERIFIED_TLS",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    allow_unverified_tls: bool,
}

impl SslArgs {
    /// TLS from these flags when any is given, else from the daemon's `[capture] ssl_*`
    /// (`gapfill fill --config`), else the defaults: the one place that precedence lives.
    /// `--allow-unverified-tls` adds to the daemon's `allow_unverified_tls`.
    fn tls_or_daemon(&self, daemon: Option<&gapfill::daemon::DaemonConfig>) -> TlsOptions {
        let given = self.ssl_mode.is_some() || self.ssl_ca.is_some() || self.ssl_cert.is_some();
        match daemon {
            Some(c) if !given => {
                let mut t = c.tls_options();
                t.allow_unverified |= self.allow_unverified_tls;
                t
            }
            _ => self.tls(None),
        }
    }

    fn tls(&self, server_name: Option<String>) -> TlsOptions {
        TlsOptions {
            mode: tls_mode(self.ssl_mode, self.ssl_ca.is_some()),
            ca_file: self.ssl_ca.clone(),
            server_name,
            cert_file: self.ssl_cert.clone(),
            key_file: self.ssl_key.clone(),
            allow_unverified: self.allow_unverified_tls,
        }
    }
}

/// The TLS mode of `--ssl-mode` (default: preferred, verify-ca with a CA file).
fn tls_mode(mode: Option<SslMode>, has_ca: bool) -> TlsMode {
    match (mode, has_ca) {
        (Some(SslMode::Disabled), _) => TlsMode::Disabled,
        (Some(SslMode::Preferred), _) => TlsMode::Preferred,
        (Some(SslMode::Required), _) => TlsMode::Required,
        (Some(SslMode::VerifyCa), _) | (None, true) => TlsMode::VerifyCa,
        (Some(SslMode::VerifyIdentity), _) => TlsMode::VerifyIdentity,
        (None, false) => TlsMode::Preferred,
    }
}

impl ServerAccess {
    fn target(&self, addr: String) -> anyhow::Result<TargetOptions> {
        let credentials = gapfill::credentials::resolve(
            self.credentials_file.as_deref(),
            self.orchestrator_config.as_deref(),
        )?;
        Ok(TargetOptions {
            addr,
            credentials,
            tls: self.tls(),
        })
    }

    fn tls(&self) -> TlsOptions {
        self.ssl.tls(None)
    }
}

/// Arguments of `gapfill fill` (the orchestrator hook). Every option also reads orchestrator's
/// hook environment (`ORC_*`), so a bare `gapfill fill` works as PostMasterFailoverProcesses.
#[derive(clap::Args)]
struct FillArgs {
    /// The cluster alias (`{failureClusterAlias}`): the spool directory's name.
    #[arg(long, env = "ORC_FAILURE_CLUSTER_ALIAS")]
    cluster: String,
    /// The dead master, host:port (`{failedHost}:{failedPort}`).
    #[arg(long)]
    failed: Option<String>,
    /// The promoted replica, host:port (`{successorHost}:{successorPort}`).
    #[arg(long)]
    successor: Option<String>,
    /// Root directory of the spools (default: spool_dir of --config, else /var/lib/gapfill).
    #[arg(long, env = "GAPFILL_SPOOL_DIR")]
    spool_dir: Option<PathBuf>,
    /// The daemon's gapfill.toml: spool_dir, max_lag and credentials come from it unless
    /// given here.
    #[arg(long, env = "GAPFILL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// orchestrator left the successor read-only with replication configured
    /// (ApplyMySQLPromotionAfterMasterFailover=false): wait for its SQL thread, stop and reset
    /// replication, fill, then lift read_only.
    #[arg(long)]
    open_writes: bool,
    /// Refuse when the oldest missing transaction is older than this many seconds before the
    /// last captured one (default: SlaveBinLogEnableMaxLagSeconds from --orchestrator-config,
    /// else 300).
    #[arg(long)]
    max_lag: Option<u64>,
    /// Refuse a gap of more transactions than this.
    #[arg(long)]
    max_transactions: Option<u64>,
    /// Refuse a gap of more binlog bytes than this.
    #[arg(long)]
    max_bytes: Option<u64>,
    /// Skip the window guard.
    #[arg(long)]
    force: bool,
    /// Plan and print the SQL; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// How long to wait for the successor's SQL thread to apply what it received; with
    /// --via serve also the longest its applier may go without a transaction of the gap
    /// landing.
    #[arg(long, default_value_t = 60)]
    wait_timeout: u64,
    /// Connections applying independent transactions at once.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Write the JSON report here (default: fill-<time>.json in the cluster's spool).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Spools captured without GTIDs: the successor's position on the dead master, FILE:POS.
    #[arg(long)]
    start: Option<String>,
    /// A peer daemon (host:port of its HTTP endpoint) whose spool may reach further than this
    /// node's; repeat for each (default: [peers] addrs of --config). The furthest one fills
    /// what this spool lacks.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// Seconds to wait for a peer before skipping it (default: [peers] timeout, else 5).
    #[arg(long)]
    peer_timeout: Option<u64>,
    /// Refuse (exit 4, nothing changed) unless the tail is proven: gapfill was the semi-sync
    /// acknowledger, or its capture stream lived until the master failed.
    #[arg(long)]
    require_proven_tail: bool,
    /// Seconds to wait for a capture still connected to the failed master to see it go.
    #[arg(long, default_value_t = 10)]
    tail_wait: u64,
    /// A replica of the failed master to ask what it received (repeat); orchestrator's
    /// replicas of the failed master and those the daemon recorded are asked too.
    #[arg(long = "witness", value_name = "HOST:PORT")]
    witnesses: Vec<String>,
    /// orchestrator's API (http://host:port), asked for its last view of the failed master
    /// (default: [orchestrator] url of --config).
    #[arg(long, value_name = "URL")]
    orchestrator_url: Option<String>,
    /// The CA (PEM) orchestrator's https:// certificate must chain to (default: [orchestrator]
    /// ca_file of --config).
    #[arg(long, value_name = "FILE")]
    orchestrator_ca: Option<PathBuf>,
    /// How the gap is applied: sql (gapfill's typed SQL with the original GTIDs, the default
    /// for now), serve (the successor's own applier replicates the gap from gapfill on a
    /// channel named `gapfill`, UNTIL the gap's GTIDs, then the channel is removed), or auto
    /// (serve when the spool's flavor is the successor's and the successor can connect back,
    /// else sql). Serving, the successor's own writes are first read from its binlog: a row
    /// they share with the gap is exit 5 before anything is applied. The report's `via` and
    /// `via_reason` say which ran and why.
    #[arg(long, value_enum, default_value = "sql")]
    via: ViaArg,
    /// Serve path: what the successor connects to, HOST:PORT (default: this node's address on
    /// the route to the successor, with a free port).
    #[arg(long, value_name = "HOST:PORT")]
    serve_addr: Option<String>,
    /// Serve path: where gapfill listens, HOST:PORT (default: --serve-addr).
    #[arg(long, value_name = "HOST:PORT")]
    serve_listen: Option<String>,
    /// Serve path: PEM certificate chain for TLS (with --serve-tls-key); without them the gap
    /// is served in clear (a warning in the report).
    #[arg(long, value_name = "FILE", requires = "serve_tls_key")]
    serve_tls_cert: Option<PathBuf>,
    /// Serve path: the private key of --serve-tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "serve_tls_cert")]
    serve_tls_key: Option<PathBuf>,
    #[command(flatten)]
    access: ServerAccess,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ViaArg {
    Sql,
    Serve,
    Auto,
}

impl From<ViaArg> for gapfill::fill::Via {
    fn from(v: ViaArg) -> Self {
        match v {
            ViaArg::Sql => gapfill::fill::Via::Sql,
            ViaArg::Serve => gapfill::fill::Via::Serve,
            ViaArg::Auto => gapfill::fill::Via::Auto,
        }
    }
}

/// `host:port` from an option, or from orchestrator's `ORC_<WHO>_HOST`/`ORC_<WHO>_PORT`.
fn addr_or_env(v: Option<String>, who: &str, flag: &str) -> anyhow::Result<String> {
    if let Some(v) = v {
        return Ok(v);
    }
    let host = std::env::var(format!("ORC_{who}_HOST"));
    let port = std::env::var(format!("ORC_{who}_PORT"));
    match (host, port) {
        (Ok(h), Ok(p)) => Ok(format!("{h}:{p}")),
        _ => anyhow::bail!("{flag} HOST:PORT is required (or ORC_{who}_HOST and ORC_{who}_PORT)"),
    }
}

/// The fill's window in seconds: `--max-lag`, else `SlaveBinLogEnableMaxLagSeconds` of
/// `--orchestrator-config`, else `max_lag` of `--config`, else 300 (what gapfill.toml's
/// default is).
fn fill_max_lag(
    cli: Option<u64>,
    daemon: Option<&gapfill::daemon::DaemonConfig>,
    orchestrator_config: Option<&std::path::Path>,
) -> anyhow::Result<u64> {
    if let Some(s) = cli {
        return Ok(s);
    }
    if let Some(p) = orchestrator_config {
        let w = gapfill::daemon::config::orchestrator_window(p).map_err(anyhow::Error::msg)?;
        if let Some(w) = w {
            return Ok(w.as_secs());
        }
    }
    Ok(
        daemon.map_or(gapfill::daemon::config::DEFAULT_MAX_LAG.as_secs(), |c| {
            c.max_lag.as_secs()
        }),
    )
}

/// `gapfill fill`'s arguments as the fill's request.
fn fill_request(a: FillArgs) -> anyhow::Result<gapfill::fill::FillRequest> {
    use gapfill::fill::{FillRequest, ServeVia, WindowGuard};
    let failed = addr_or_env(a.failed, "FAILED", "--failed")?;
    let successor = addr_or_env(a.successor, "SUCCESSOR", "--successor")?;
    let daemon_cfg = a
        .config
        .as_deref()
        .map(gapfill::daemon::DaemonConfig::load)
        .transpose()?;
    for w in daemon_cfg.iter().flat_map(|c| &c.warnings) {
        eprintln!("gapfill fill: warning: {w}");
    }
    let max_lag = fill_max_lag(
        a.max_lag,
        daemon_cfg.as_ref(),
        a.access.orchestrator_config.as_deref(),
    )?;
    let spool_dir = match (a.spool_dir, &daemon_cfg) {
        (Some(d), _) => d,
        (None, Some(c)) => c.spool_dir.clone(),
        (None, None) => PathBuf::from("/var/lib/gapfill"),
    };
    let successor = match &daemon_cfg {
        Some(c)
            if a.access.credentials_file.is_none() && a.access.orchestrator_config.is_none() =>
        {
            TargetOptions {
                addr: successor,
                credentials: c.credentials.clone(),
                tls: a.access.ssl.tls_or_daemon(Some(c)),
            }
        }
        _ => TargetOptions {
            tls: a.access.ssl.tls_or_daemon(daemon_cfg.as_ref()),
            ..a.access.target(successor)?
        },
    };
    let start = match a.start {
        Some(s) => {
            let (f, p) = s
                .rsplit_once(':')
                .and_then(|(f, p)| Some((f.to_string(), p.parse::<u64>().ok()?)))
                .with_context(|| format!("--start {s:?} is not FILE:POS"))?;
            Some((f, p))
        }
        None => None,
    };
    let orchestrator = match (a.orchestrator_url, &daemon_cfg) {
        (Some(url), c) => {
            let mut api = c.as_ref().and_then(|c| c.orchestrator.clone()).unwrap_or(
                gapfill::daemon::config::OrchestratorApi {
                    url: String::new(),
                    user: None,
                    password: None,
                    refresh: std::time::Duration::from_secs(10),
                    timeout: std::time::Duration::from_secs(5),
                    ca_file: None,
                },
            );
            api.url = url.trim_end_matches('/').to_string();
            if a.orchestrator_ca.is_some() {
                api.ca_file = a.orchestrator_ca.clone();
            }
            Some(api)
        }
        (None, Some(c)) => c.orchestrator.clone(),
        (None, None) => None,
    };
    let serve = ServeVia {
        addr: a.serve_addr,
        listen: a.serve_listen,
        tls: match (a.serve_tls_cert, a.serve_tls_key) {
            (Some(cert), Some(key)) => Some(gapfill::serve::TlsFiles { cert, key }),
            _ => None,
        },
    };
    Ok(FillRequest {
        via: a.via.into(),
        serve,
        cluster: a.cluster,
        failed,
        successor,
        spool_dir,
        open_writes: a.open_writes,
        guard: WindowGuard {
            max_lag: std::time::Duration::from_secs(max_lag),
            max_transactions: a.max_transactions,
            max_bytes: a.max_bytes,
        },
        force: a.force,
        dry_run: a.dry_run.then(|| {
            std::sync::Arc::new(std::sync::Mutex::new(Box::new(std::io::BufWriter::new(
                std::io::stdout(),
            ))
                as Box<dyn Write + Send>))
        }),
        wait_timeout: std::time::Duration::from_secs(a.wait_timeout),
        parallel: a.parallel.max(1),
        report_path: a.report,
        start,
        require_proven_tail: a.require_proven_tail,
        tail_wait: std::time::Duration::from_secs(a.tail_wait),
        orchestrator,
        witnesses: a.witnesses,
        peers: gapfill::peer::PeerSet {
            addrs: if a.peers.is_empty() {
                daemon_cfg
                    .as_ref()
                    .map(|c| c.peers.clone())
                    .unwrap_or_default()
            } else {
                a.peers
            },
            token: daemon_cfg.as_ref().and_then(|c| c.http.token.clone()),
            tls: daemon_cfg.as_ref().and_then(|c| c.peer_tls.clone()),
            timeout: match (a.peer_timeout, &daemon_cfg) {
                (Some(s), _) => std::time::Duration::from_secs(s),
                (None, Some(c)) => c.peer_timeout,
                (None, None) => std::time::Duration::from_secs(5),
            },
        },
    })
}

fn run_fill(a: FillArgs) -> anyhow::Result<ExitCode> {
    use gapfill::fill::{FillError, exit};
    let req = fill_request(a)?;
    // One thread drives the successor's connections (see apply_files_blocking).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match rt.block_on(gapfill::fill::run(req)) {
        Ok(report) => {
            println!("{}", report.summary());
            Ok(ExitCode::from(report.outcome.exit_code()))
        }
        Err(e @ FillError::Locked { .. }) => {
            eprintln!("gapfill fill: {e}");
            Ok(ExitCode::from(exit::LOCKED))
        }
        Err(e) => {
            eprintln!("gapfill fill: {e}");
            Ok(ExitCode::from(exit::SETUP))
        }
    }
}

/// Arguments of `gapfill replay`.
#[derive(clap::Args)]
struct ReplayArgs {
    /// Files to replay, in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The server to apply on, host:port.
    #[arg(long, required_unless_present = "dry_run")]
    target: Option<String>,
    /// Start at this offset of the first file.
    #[arg(long)]
    start_position: Option<u64>,
    /// Stop before the first event at or after this offset of the last file.
    #[arg(long)]
    stop_position: Option<u64>,
    /// Only these GTIDs (MySQL set `uuid:1-5`, or MariaDB list `0-1-100`).
    #[arg(long)]
    include_gtids: Option<String>,
    /// Not these GTIDs.
    #[arg(long)]
    exclude_gtids: Option<String>,
    /// Only transactions of this database (rows of its tables, statements run in it).
    #[arg(long)]
    database: Option<String>,
    /// Print the SQL instead of running it (reads the target's GTIDs if it is reachable).
    #[arg(long)]
    dry_run: bool,
    /// Connections applying independent transactions at once (1 = serial).
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Write the run report (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Sources without GTIDs: record and resume progress here.
    #[arg(long)]
    progress_file: Option<PathBuf>,
    #[command(flatten)]
    access: ServerAccess,
    /// Do not check the target after the run (its gtid_executed, and reading back every row
    /// the run touched).
    #[arg(long)]
    no_verify: bool,
    /// Do not verify event CRC32 checksums.
    #[arg(long)]
    no_verify_checksums: bool,
}

/// `gapfill decode`'s workers when `--threads` is not given: one more than the cores, so that a
/// core is not left idle while the reading thread waits for the oldest chunk (measured on the
/// bench file with 2 cores: 1 worker 0.42 s, 2 workers 0.34 s, 3 workers 0.29 s, 4 workers
/// 0.32 s, medians of 7; benches/RESULTS.md).
fn default_decode_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
}

#[derive(Clone, Copy, ValueEnum)]
enum SemiSyncAckArg {
    /// The segment fsynced before the acknowledgement.
    Durable,
    /// Written to the spool, fsynced later by the --fsync policy (a stock replica's promise).
    Received,
}

impl From<SemiSyncAckArg> for gapfill::capture::SemiSyncAck {
    fn from(a: SemiSyncAckArg) -> Self {
        match a {
            SemiSyncAckArg::Durable => gapfill::capture::SemiSyncAck::Durable,
            SemiSyncAckArg::Received => gapfill::capture::SemiSyncAck::Received,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FsyncArg {
    /// fsync every transaction (durable semi-sync ACKs wait for an fsync anyway).
    Always,
    /// fsync at most every --fsync-interval.
    Interval,
    /// Leave it to the kernel (a power cut may lose recent transactions).
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum OnBreakArg {
    /// Record the break and keep capturing from the master's current state.
    NewOrigin,
    /// Record the break and exit with code 3.
    Stop,
}

fn duration_arg(s: &str) -> Result<std::time::Duration, String> {
    gapfill::capture::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration (e.g. 500, 30s, 15m, 24h, 7d)"))
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The spool directory to serve (a cluster's spool, captured with GTIDs).
    #[arg(long, value_name = "DIR")]
    spool: PathBuf,
    /// Where replicas connect, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,
    /// The user replicas connect as (SOURCE_USER / MASTER_USER).
    #[arg(long, value_name = "USER")]
    user: String,
    /// A file whose first line is the password replicas give (mode 0600).
    #[arg(long, value_name = "FILE")]
    password_file: PathBuf,
    /// PEM certificate chain for TLS (with --tls-key); without them TLS is not offered.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The source's @@server_id (default: the spool's master's).
    #[arg(long)]
    server_id: Option<u32>,
    /// The source's @@server_uuid (default: the spool's master's).
    #[arg(long, value_name = "UUID")]
    server_uuid: Option<String>,
    /// caching_sha2_password: skip the fast path and always ask for the password over TLS (as
    /// a server whose cache does not know the account; for tests).
    #[arg(long, hide = true)]
    full_auth_only: bool,
}

/// `gapfill serve`'s arguments as the server's configuration.
fn serve_config(a: ServeArgs) -> anyhow::Result<gapfill::serve::ServeConfig> {
    let password = gapfill::serve::read_password_file(&a.password_file)?;
    let mut cfg = gapfill::serve::ServeConfig::new(a.spool, a.listen, a.user, password);
    cfg.tls = match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => Some(gapfill::serve::TlsFiles { cert, key }),
        _ => None,
    };
    cfg.server_id = a.server_id;
    cfg.server_uuid = a.server_uuid;
    cfg.full_auth_only = a.full_auth_only;
    Ok(cfg)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = serve_config(args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let server = gapfill::serve::Server::bind(cfg.clone()).await?;
        eprintln!(
            "gapfill serve: {} on {} ({}, server id {}, TLS {})",
            cfg.spool.display(),
            server.local_addr()?,
            server.facts().version,
            server.facts().server_id,
            if cfg.tls.is_some() { "on" } else { "off" }
        );
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        server.run(shutdown).await?;
        anyhow::Ok(())
    })?;
    eprintln!("gapfill serve: stopped");
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
struct CaptureArgs {
    /// The master, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    source: String,
    /// The spool directory (created if missing; an existing spool resumes where it ends).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Fresh spool: start after the master's current GTID state (gtid_executed /
    /// gtid_binlog_pos). Default: GTIDs when the master has them, else its current position.
    #[arg(long, conflicts_with = "position")]
    gtid: bool,
    /// Fresh spool: start at this binlog FILE:POS (a transaction boundary).
    #[arg(long, value_name = "FILE:POS")]
    position: Option<String>,
    /// Acknowledge semi-sync events once the spool holds them (see --semi-sync-ack).
    #[arg(long)]
    semi_sync: bool,
    /// What a semi-sync acknowledgement promises: `durable` (the segment fsynced first: not even
    /// a power cut of this host loses an acknowledged transaction) or `received` (written to
    /// the spool, not yet fsynced: a stock replica's promise and its latency).
    #[arg(long, value_enum, default_value = "durable", requires = "semi_sync")]
    semi_sync_ack: SemiSyncAckArg,
    /// Replica server id (default: derived from the host name and --dir).
    #[arg(long)]
    server_id: Option<u32>,
    /// Host name the master shows for this capture in SHOW REPLICAS / SHOW SLAVE HOSTS
    /// (default: this machine's host name).
    #[arg(long, value_name = "HOST")]
    report_host: Option<String>,
    /// Port the master shows for this capture in SHOW REPLICAS (default: 7077, the daemon's
    /// HTTP port; never 0, which stops orchestrator's replica discovery).
    #[arg(long, value_name = "PORT")]
    report_port: Option<std::num::NonZeroU16>,
    /// Do not register with the master (no COM_REGISTER_SLAVE): the capture shows in its
    /// process list only, not in SHOW REPLICAS.
    #[arg(long, conflicts_with_all = ["report_host", "report_port"])]
    no_register: bool,
    #[arg(long, value_enum, default_value = "interval")]
    fsync: FsyncArg,
    #[arg(long, value_parser = duration_arg, default_value = "1s", value_name = "DURATION")]
    fsync_interval: std::time::Duration,
    /// Keep at least this much history and drop older whole segments (default: keep all).
    #[arg(long, value_parser = duration_arg, value_name = "DURATION")]
    retain: Option<std::time::Duration>,
    /// Cap the spool at this many bytes, dropping the oldest segments first.
    #[arg(long, value_name = "BYTES")]
    max_bytes: Option<u64>,
    /// A 0600 file with user= and password= lines (else --orchestrator-config, else
    /// GAPFILL_USER/GAPFILL_PASSWORD).
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    /// orchestrator.conf.json: use its MySQLTopologyUser/MySQLTopologyPassword.
    #[arg(long, env = "GAPFILL_ORCHESTRATOR_CONFIG", value_name = "FILE")]
    orchestrator_config: Option<PathBuf>,
    #[command(flatten)]
    ssl: SslArgs,
    /// Name to verify in the certificate (default: the host of --source).
    #[arg(long, alias = "tls-server-name", value_name = "NAME")]
    ssl_server_name: Option<String>,
    /// The master's RSA public key (PEM), for caching_sha2_password without TLS.
    #[arg(long, value_name = "FILE")]
    server_public_key: Option<PathBuf>,
    /// Fetch the master's RSA public key when needed without TLS (open to a man in the middle).
    #[arg(long)]
    allow_public_key_retrieval: bool,
    /// Heartbeat period asked of the master (a silent master is noticed after twice this).
    #[arg(long, value_parser = duration_arg, default_value = "1s", value_name = "DURATION")]
    heartbeat: std::time::Duration,
    /// What to do when the master purged the binlog the spool needs to continue.
    #[arg(long, value_enum, default_value = "new-origin")]
    on_break: OnBreakArg,
    /// Progress line on stderr every DURATION (0: never).
    #[arg(long, value_parser = duration_arg, default_value = "5s", value_name = "DURATION")]
    progress_interval: std::time::Duration,
    /// Stop at the end of the master's binlog instead of waiting for more.
    #[arg(long)]
    stop_at_end: bool,
    /// Stop once the stream reaches FILE:POS.
    #[arg(long, value_name = "FILE:POS")]
    stop_at: Option<String>,
}

/// Exit code of `gapfill daemon` when its configuration is invalid (every problem is listed).
const EXIT_BAD_CONFIG: u8 = 2;

#[derive(clap::Args)]
struct StatusArgs {
    /// The daemon's [http] listen address.
    #[arg(long, default_value = gapfill::daemon::config::DEFAULT_LISTEN, value_name = "HOST:PORT")]
    addr: String,
    /// Print the daemon's JSON as is.
    #[arg(long)]
    json: bool,
    /// A file holding the daemon's bearer token ([http] token_file).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// https: the CA the daemon's certificate chains to ([http] tls_cert).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// https: a client certificate of the cluster CA, when the daemon requires one
    /// ([http] client_ca), with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// The sidecar: capture every master (static list or orchestrator's API) into one spool per
    /// cluster, follow new masters after failovers, record replica positions, serve /status,
    /// /metrics and /healthz. SIGTERM/SIGINT stop it cleanly (spools synced); SIGHUP re-reads
    /// the cluster list.
    ///
    /// Exit codes: 0 stopped on a signal; 1 failed at run time; 2 invalid configuration (every
    /// problem listed, nothing started).
    Daemon {
        /// The configuration file (see contrib/gapfill.toml).
        #[arg(long, default_value = "/etc/gapfill/gapfill.toml", value_name = "FILE")]
        config: PathBuf,
        /// Validate the configuration and exit.
        #[arg(long)]
        check: bool,
    },
    /// What a running daemon holds per cluster: master, state, position, lag, window.
    Status(StatusArgs),
    /// Capture a master's binlog into a spool as a replica, continuously, until SIGINT/SIGTERM
    /// (like `mysqlbinlog --read-from-remote-server --raw --stop-never`, GTID-continuous).
    /// Exit codes: 0 stopped cleanly, 1 failed, 2 usage, 3 continuity break with
    /// --on-break stop.
    Capture(Box<CaptureArgs>),
    /// The orchestrator hook: replay onto the promoted replica every captured transaction it
    /// lacks, with the original GTIDs, inside the lag window.
    ///
    /// Hook line (PostMasterFailoverProcesses, as in contrib/): /usr/local/bin/gapfill fill
    /// --config /etc/gapfill/gapfill.toml --cluster {failureClusterAlias} --failed
    /// {failedHost}:{failedPort} --successor {successorHost}:{successorPort} --open-writes >>
    /// /var/log/gapfill-fill.log 2>&1
    ///
    /// Exit codes: 0 filled (or nothing missing) and the tail proven (gapfill was the semi-sync
    /// acknowledger, or its stream lived until the master failed, and no witness holds more);
    /// 1 setup failed, nothing changed; 3 refused by the window guard, or partial row images
    /// (MINIMAL/NOBLOB) with the successor's own writes (--force overrides);
    /// 4 the spool does not cover the gap, or the tail is not proven with
    /// --require-proven-tail: nothing changed; 5 apply failed part-way (re-running is safe);
    /// 6 another fill of this cluster is running; 7 filled what the spool proves, but the tail
    /// is not proven: the dead master may have committed more (the report says why).
    Fill(Box<FillArgs>),
    /// Replay binlog, relay-log or spool files onto a server with their original GTIDs.
    ///
    /// Only complete transactions are applied; transactions the target already executed are
    /// skipped, so re-running after any failure finishes the job. Credentials come from
    /// --credentials-file, --orchestrator-config or GAPFILL_USER/GAPFILL_PASSWORD, never argv.
    /// Exit codes: 0 done, 1 bad input or options, 5 apply failed (safe to re-run).
    Replay(Box<ReplayArgs>),
    /// Serve a spool to real replicas as their replication source: a MySQL replica
    /// (SOURCE_AUTO_POSITION=1) or a MariaDB replica (MASTER_USE_GTID=slave_pos) of the spool's
    /// flavor connects to --listen and replicates the transactions it lacks, byte for byte.
    /// Runs until SIGINT/SIGTERM. The password replicas must give is the first line of
    /// --password-file (mode 0600); never on argv.
    Serve(Box<ServeArgs>),
    /// Decode binlog, relay-log or `mysqlbinlog --raw` files for people (text) or tools (json).
    Decode {
        /// Files to decode, in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: OutputFormat,
        /// Start at this event offset (after reading the file's FORMAT_DESCRIPTION).
        #[arg(long)]
        start_position: Option<u64>,
        /// Stop before the first event at or after this offset.
        #[arg(long)]
        stop_position: Option<u64>,
        /// Do not verify event CRC32 checksums.
        #[arg(long)]
        no_verify_checksums: bool,
        /// Threads rendering chunks of transactions in parallel (output unchanged); 1 decodes
        /// on one thread. Default: the available cores plus one (the file is read on another).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
    },
}

fn init_logging(json: bool, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAPFILL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    // Colour only for a person at a terminal: a file or the journal gets plain text.
    let b = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Daemon { config, check } = &cli.command {
        return daemon(config, *check);
    }
    init_logging(false, "warn");
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gapfill: {}", report(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the message before it
/// already includes (many of our errors quote their cause in their own message).
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Capture(args) => capture(*args),
        Command::Serve(args) => serve(*args),
        Command::Daemon { .. } => unreachable!("handled before logging starts"),
        Command::Status(args) => status(args),
        Command::Fill(args) => run_fill(*args),
        Command::Replay(args) => {
            let ReplayArgs {
                files,
                target,
                start_position,
                stop_position,
                include_gtids,
                exclude_gtids,
                database,
                dry_run,
                parallel,
                report,
                progress_file,
                access,
                no_verify,
                no_verify_checksums,
            } = *args;
            let sel = |s: Option<String>| -> anyhow::Result<Option<GtidSelection>> {
                s.map(|s| GtidSelection::parse(&s).map_err(anyhow::Error::msg))
                    .transpose()
            };
            let target = target.map(|addr| access.target(addr)).transpose()?;
            use std::io::IsTerminal;
            let opts = ApplyOptions {
                target,
                dry_run: dry_run.then(|| {
                    std::sync::Arc::new(std::sync::Mutex::new(Box::new(std::io::BufWriter::new(
                        std::io::stdout(),
                    ))
                        as Box<dyn Write + Send>))
                }),
                parallel: parallel.max(1),
                read: ReadOptions {
                    start_position,
                    stop_position,
                    include: sel(include_gtids)?,
                    exclude: sel(exclude_gtids)?,
                    database,
                    skip_checksums: no_verify_checksums,
                },
                progress_file,
                verify: !no_verify,
                show_progress: !dry_run && std::io::stderr().is_terminal(),
                ..ApplyOptions::default()
            };
            let result = apply_files_blocking(&files, opts);
            let rep = match &result {
                Ok(r) => r,
                Err(f) => &f.report,
            };
            if let Some(path) = &report {
                std::fs::write(path, rep.to_json())
                    .with_context(|| format!("writing the report to {}", path.display()))?;
            }
            eprintln!("gapfill replay: {}", rep.summary());
            match result {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(f) => {
                    eprintln!("gapfill replay: {}", f.error);
                    if f.error.rerun_is_safe() {
                        if let Some(last) = &f.report.last_applied {
                            eprintln!("gapfill replay: last applied transaction: {last}");
                        }
                        eprintln!(
                            "gapfill replay: re-running the same command is safe: what landed is skipped"
                        );
                        Ok(ExitCode::from(EXIT_APPLY_FAILED))
                    } else {
                        Ok(ExitCode::from(1))
                    }
                }
            }
        }
        Command::Decode {
            files,
            format,
            start_position,
            stop_position,
            no_verify_checksums,
            threads,
        } => {
            let opts = DecodeOptions {
                format: match format {
                    OutputFormat::Text => Format::Text,
                    OutputFormat::Json => Format::Json,
                },
                start_position,
                stop_position,
                verify_checksums: !no_verify_checksums,
                threads: threads.map_or_else(default_decode_threads, usize::from),
                ..DecodeOptions::default()
            };
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            match decode_files(&files, &opts, &mut lock) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                // A closed pipe (`gapfill decode ... | head`) is not an error.
                Err(DecodeError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    let _ = lock.flush();
                    Err(e).context("decode failed")
                }
            }
        }
    }
}

fn daemon(config: &std::path::Path, check: bool) -> ExitCode {
    let cfg = match gapfill::daemon::DaemonConfig::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gapfill daemon: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    for w in &cfg.warnings {
        eprintln!("gapfill daemon: warning: {}: {w}", config.display());
    }
    if check {
        println!("{}: ok", config.display());
        return ExitCode::SUCCESS;
    }
    init_logging(cfg.log_format == gapfill::daemon::LogFormat::Json, "info");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gapfill daemon: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(gapfill::daemon::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("gapfill daemon: {e}");
            ExitCode::from(1)
        }
    }
}

fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let token = a
        .token_file
        .as_deref()
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("reading the token file {}", p.display()))
                .map(|t| t.lines().next().unwrap_or("").trim().to_string())
        })
        .transpose()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let body = rt
        .block_on(gapfill::daemon::status_table::fetch(
            &a.addr,
            token.as_deref(),
            a.ca.map(|ca| gapfill::protocol::TlsOptions {
                mode: gapfill::protocol::TlsMode::VerifyCa,
                ca_file: Some(ca),
                cert_file: a.cert,
                key_file: a.key,
                ..gapfill::protocol::TlsOptions::default()
            })
            .as_ref(),
        ))
        .with_context(|| {
            format!(
                "is `gapfill daemon` running with [http] listen = {:?}?",
                a.addr
            )
        })?;
    if a.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let report: gapfill::daemon::state::StatusReport =
        serde_json::from_str(&body).context("the daemon's /status answer")?;
    print!(
        "{}",
        gapfill::daemon::status_table::render_table(
            &report,
            gapfill::daemon::status_table::now_unix()
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// The credentials `gapfill capture` connects with (a file, orchestrator's, or the
/// environment).
fn capture_credentials(a: &CaptureArgs) -> anyhow::Result<gapfill::credentials::Credentials> {
    let creds = gapfill::credentials::resolve(
        a.credentials_file.as_deref(),
        a.orchestrator_config.as_deref(),
    )
    .context("credentials for the master")?;
    tracing::info!(user = %creds.user, from = %creds.source, "credentials");
    Ok(creds)
}

/// `gapfill capture`'s arguments as the capture's configuration.
fn capture_config(
    a: CaptureArgs,
    creds: gapfill::credentials::Credentials,
) -> anyhow::Result<CaptureConfig> {
    let mut connect = ConnectOptions::new(a.source.clone(), creds.user, creds.password);
    connect.tls = a.ssl.tls(a.ssl_server_name.clone());
    if let Some(p) = &a.server_public_key {
        connect.server_public_key = Some(
            std::fs::read(p)
                .with_context(|| format!("reading the server public key {}", p.display()))?,
        );
    }
    connect.allow_public_key_retrieval = a.allow_public_key_retrieval;
    let mut cfg = CaptureConfig::new(connect, a.dir);
    if let Some(id) = a.server_id {
        cfg = cfg.with_server_id(id);
    }
    cfg.register = !a.no_register;
    if let Some(h) = a.report_host {
        cfg.report_host = h;
    }
    if let Some(p) = a.report_port {
        cfg.report_port = p;
    }
    cfg.start = match (a.gtid, a.position) {
        (true, _) => StartMode::Gtid,
        (false, Some(p)) => {
            let (file, pos) = gapfill::capture::parse_file_pos(&p)?;
            StartMode::Position { file, pos }
        }
        (false, None) => StartMode::Auto,
    };
    cfg.semisync = a.semi_sync;
    cfg.semisync_ack = a.semi_sync_ack.into();
    cfg.fsync = match a.fsync {
        FsyncArg::Always => FsyncPolicy::Always,
        FsyncArg::Interval => FsyncPolicy::Interval(a.fsync_interval),
        FsyncArg::Never => FsyncPolicy::Never,
    };
    if a.retain.is_some() || a.max_bytes.is_some() {
        cfg.retention = Some(Retention {
            keep: a
                .retain
                .unwrap_or(std::time::Duration::from_secs(100 * 365 * 86400)),
            max_bytes: a.max_bytes,
        });
    }
    cfg.heartbeat_period = a.heartbeat;
    cfg.on_break = match a.on_break {
        OnBreakArg::NewOrigin => OnBreak::NewOrigin,
        OnBreakArg::Stop => OnBreak::Stop,
    };
    cfg.progress_every = (!a.progress_interval.is_zero()).then_some(a.progress_interval);
    cfg.stop_at_end = a.stop_at_end;
    cfg.stop_at = a
        .stop_at
        .as_deref()
        .map(gapfill::capture::parse_file_pos)
        .transpose()?;
    Ok(cfg)
}

fn capture(args: CaptureArgs) -> anyhow::Result<ExitCode> {
    let creds = capture_credentials(&args)?;
    let cfg = capture_config(args, creds)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    eprintln!(
        "gapfill capture: {} -> {} (server id {})",
        cfg.connect.addr,
        cfg.dir.display(),
        cfg.server_id
    );
    let result = rt.block_on(async {
        let shutdown = gapfill::capture::on_signals()?;
        let mut report = |p: &gapfill::capture::Progress| eprintln!("gapfill capture: {p}");
        gapfill::capture::run(&cfg, shutdown, &mut report).await
    });
    match result {
        Ok(summary) => {
            let why = match summary.stop {
                StopReason::Requested => "stop requested",
                StopReason::EndOfBinlog => "end of the master's binlog",
                StopReason::StopPositionReached => "stop position reached",
            };
            eprintln!("gapfill capture: {why}; spool synced. {}", summary.progress);
            if let Some(r) = summary.resume_point {
                eprintln!("gapfill capture: the next capture into this spool continues after {r}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ CaptureError::ContinuityBreak { .. }) => {
            eprintln!("gapfill: {e}");
            Ok(ExitCode::from(EXIT_CONTINUITY_BREAK))
        }
        Err(e) => Err(e).context("capture failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gapfill::credentials::Credentials;
    use gapfill::protocol::Password;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("gapfill").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn creds() -> Credentials {
        Credentials {
            user: "u".into(),
            password: Password::new("p"),
            source: "test".into(),
        }
    }

    fn capture_of(extra: &[&str]) -> CaptureConfig {
        let mut args = vec!["capture", "--source", "db1:3306", "--dir", "/tmp/x"];
        args.extend_from_slice(extra);
        match parse(&args).command {
            Command::Capture(a) => capture_config(*a, creds()).unwrap(),
            _ => unreachable!(),
        }
    }

    fn access_of(cmd: &[&str]) -> TlsOptions {
        match parse(cmd).command {
            Command::Fill(a) => a.access.tls(),
            Command::Replay(a) => a.access.tls(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_command_takes_mysqls_ssl_options() {
        let c = capture_of(&["--ssl-mode", "verify-identity", "--ssl-ca", "/ca.pem"]);
        assert_eq!(c.connect.tls.mode, TlsMode::VerifyIdentity);
        assert_eq!(c.connect.tls.ca_file, Some(PathBuf::from("/ca.pem")));
        let fill = [
            "fill",
            "--cluster",
            "c",
            "--ssl-mode",
            "required",
            "--ssl-ca",
            "/ca.pem",
        ];
        let t = access_of(&fill);
        assert_eq!(t.mode, TlsMode::Required);
        assert_eq!(t.ca_file, Some(PathBuf::from("/ca.pem")));
        let t = access_of(&["replay", "f.bin", "--dry-run", "--ssl-mode", "disabled"]);
        assert_eq!(t.mode, TlsMode::Disabled);
    }

    #[test]
    fn semi_sync_ack_is_durable_unless_asked_and_needs_semi_sync() {
        use gapfill::capture::SemiSyncAck;
        assert_eq!(
            capture_of(&["--semi-sync"]).semisync_ack,
            SemiSyncAck::Durable
        );
        let c = capture_of(&["--semi-sync", "--semi-sync-ack", "received"]);
        assert!(c.semisync);
        assert_eq!(c.semisync_ack, SemiSyncAck::Received);
        for bad in [
            &["--semi-sync-ack", "received"][..],
            &["--semi-sync", "--semi-sync-ack", "fsynced"][..],
        ] {
            let mut args = vec!["gapfill", "capture", "--source", "db1:3306", "--dir", "/x"];
            args.extend_from_slice(bad);
            assert!(Cli::try_parse_from(&args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn client_certificate_and_key_go_together() {
        let c = capture_of(&["--ssl-cert", "/c.pem", "--ssl-key", "/k.pem"]);
        assert_eq!(c.connect.tls.cert_file, Some(PathBuf::from("/c.pem")));
        assert_eq!(c.connect.tls.key_file, Some(PathBuf::from("/k.pem")));
        let t = access_of(&[
            "replay",
            "f.bin",
            "--dry-run",
            "--ssl-cert",
            "/c.pem",
            "--ssl-key",
            "/k.pem",
        ]);
        assert_eq!(t.cert_file, Some(PathBuf::from("/c.pem")));
        for half in [["--ssl-cert", "/c.pem"], ["--ssl-key", "/k.pem"]] {
            let mut args = vec![
                "gapfill", "capture", "--source", "db1:3306", "--dir", "/tmp/x",
            ];
            args.extend_from_slice(&half);
            assert!(
                Cli::try_parse_from(args).is_err(),
                "{half:?} alone accepted"
            );
        }
    }

    #[test]
    fn a_ca_alone_means_verify_ca_and_nothing_means_preferred() {
        assert_eq!(capture_of(&[]).connect.tls.mode, TlsMode::Preferred);
        assert_eq!(
            capture_of(&["--ssl-ca", "/ca.pem"]).connect.tls.mode,
            TlsMode::VerifyCa
        );
        let t = access_of(&["fill", "--cluster", "c", "--ssl-ca", "/ca.pem"]);
        assert_eq!(t.mode, TlsMode::VerifyCa);
        assert_eq!(
            access_of(&["fill", "--cluster", "c"]).mode,
            TlsMode::Preferred
        );
    }

    #[test]
    fn old_tls_spellings_still_parse_but_are_hidden() {
        let c = capture_of(&[
            "--tls-mode",
            "required",
            "--tls-ca",
            "/ca.pem",
            "--tls-server-name",
            "db1.example.com",
        ]);
        assert_eq!(c.connect.tls.mode, TlsMode::Required);
        assert_eq!(c.connect.tls.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(
            c.connect.tls.server_name.as_deref(),
            Some("db1.example.com")
        );
        let t = access_of(&["fill", "--cluster", "c", "--tls-mode", "disabled"]);
        assert_eq!(t.mode, TlsMode::Disabled);
        let help = <Cli as clap::CommandFactory>::command()
            .find_subcommand_mut("capture")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("--ssl-mode") && help.contains("--ssl-ca"),
            "{help}"
        );
        assert!(
            !help.contains("--tls-mode") && !help.contains("--tls-ca"),
            "{help}"
        );
    }

    #[test]
    fn capture_registers_with_a_real_port_or_not_at_all() {
        let c = capture_of(&[]);
        assert!(c.register);
        assert_eq!(c.report_port, gapfill::capture::DEFAULT_REPORT_PORT);
        let c = capture_of(&["--report-host", "orc1", "--report-port", "3307"]);
        assert_eq!(
            (c.report_host.as_str(), c.report_port.get()),
            ("orc1", 3307)
        );
        assert!(!capture_of(&["--no-register"]).register);
        for bad in [
            &["--report-port", "0"][..],
            &["--report-port", "65536"],
            &["--no-register", "--report-port", "3307"],
        ] {
            let mut args = vec![
                "gapfill", "capture", "--source", "db1:3306", "--dir", "/tmp/x",
            ];
            args.extend_from_slice(bad);
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn fill_window_from_orchestrators_config_through_the_cli() {
        let dir = tempfile::tempdir().unwrap();
        let orc = dir.path().join("orchestrator.conf.json");
        std::fs::write(
            &orc,
            r#"{"MySQLTopologyUser":"o","MySQLTopologyPassword":"p","SlaveBinLogEnableMaxLagSeconds":42}"#,
        )
        .unwrap();
        let orc_s = orc.to_str().unwrap();
        let window = |args: &[&str]| match parse(args).command {
            Command::Fill(a) => {
                fill_max_lag(a.max_lag, None, a.access.orchestrator_config.as_deref()).unwrap()
            }
            _ => unreachable!(),
        };
        assert_eq!(
            window(&["fill", "--cluster", "c", "--orchestrator-config", orc_s]),
            42
        );
        assert_eq!(
            window(&[
                "fill",
                "--cluster",
                "c",
                "--orchestrator-config",
                orc_s,
                "--max-lag",
                "7"
            ]),
            7
        );
        assert_eq!(window(&["fill", "--cluster", "c"]), 300);
        // Without the key (or 0): the default, never a window of 0 s.
        std::fs::write(&orc, r#"{"SlaveBinLogEnableMaxLagSeconds":0}"#).unwrap();
        assert_eq!(
            window(&["fill", "--cluster", "c", "--orchestrator-config", orc_s]),
            300
        );
        std::fs::write(&orc, "not json").unwrap();
        assert!(
            matches!(parse(&["fill", "--cluster", "c", "--orchestrator-config", orc_s]).command,
            Command::Fill(a) if fill_max_lag(None, None, a.access.orchestrator_config.as_deref()).is_err())
        );
    }

    #[test]
    fn fill_with_config_takes_the_daemons_tls_unless_flags_say_otherwise() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::write(&creds, "user=u\npassword=p\n").unwrap();
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let cfg = dir.path().join("gapfill.toml");
        std::fs::write(
            &cfg,
            format!(
                "spool_dir = \"{}/spool\"\n[credentials]\nfile = \"{}\"\n\
                 [capture]\nssl_mode = \"verify-ca\"\nssl_ca = \"{}\"\n\
                 [[cluster]]\nalias = \"c\"\nmaster = \"db1:3306\"\n",
                dir.path().display(),
                creds.display(),
                ca.display()
            ),
        )
        .unwrap();
        let req = |extra: &[&str]| {
            let mut args = vec!["fill", "--cluster", "c", "--failed", "db1:3306"];
            args.extend_from_slice(&["--successor", "db2:3306", "--config", cfg.to_str().unwrap()]);
            args.extend_from_slice(extra);
            match parse(&args).command {
                Command::Fill(a) => fill_request(*a).unwrap(),
                _ => unreachable!(),
            }
        };
        let t = req(&[]).successor.tls;
        assert_eq!(t.mode, TlsMode::VerifyCa);
        assert_eq!(t.ca_file.as_deref(), Some(ca.as_path()));
        let t = req(&["--ssl-mode", "disabled"]).successor.tls;
        assert_eq!(t.mode, TlsMode::Disabled);
        assert_eq!(t.ca_file, None);
    }

    #[test]
    fn fill_via_arguments_become_the_request() {
        let req = |extra: &[&str]| {
            let mut args = vec![
                "fill",
                "--cluster",
                "c",
                "--failed",
                "db1:3306",
                "--successor",
                "db2:3306",
            ];
            args.extend_from_slice(extra);
            match parse(&args).command {
                Command::Fill(a) => fill_request(*a),
                _ => unreachable!(),
            }
        };
        // Credentials are read when the request is built: give a real 0600 file.
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::write(&creds, "user=u\npassword=p\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = creds.to_str().unwrap();
        let r = req(&["--credentials-file", c]).unwrap();
        assert_eq!(r.via, gapfill::fill::Via::Sql, "sql is the default");
        assert_eq!(r.serve, gapfill::fill::ServeVia::default());
        let r = req(&[
            "--credentials-file",
            c,
            "--via",
            "auto",
            "--serve-addr",
            "10.0.0.9:33070",
            "--serve-listen",
            "0.0.0.0:33070",
            "--serve-tls-cert",
            "/c.pem",
            "--serve-tls-key",
            "/k.pem",
        ])
        .unwrap();
        assert_eq!(r.via, gapfill::fill::Via::Auto);
        assert_eq!(r.serve.addr.as_deref(), Some("10.0.0.9:33070"));
        assert_eq!(r.serve.listen.as_deref(), Some("0.0.0.0:33070"));
        let tls = r.serve.tls.unwrap();
        assert_eq!(
            (tls.cert, tls.key),
            (PathBuf::from("/c.pem"), PathBuf::from("/k.pem"))
        );
        assert_eq!(
            req(&["--credentials-file", c, "--via", "serve"])
                .unwrap()
                .via,
            gapfill::fill::Via::Serve
        );
        // A certificate without its key, and an unknown path, are refused by the parser.
        for bad in [
            &["fill", "--cluster", "c", "--serve-tls-cert", "/c.pem"][..],
            &["fill", "--cluster", "c", "--via", "binlog"][..],
        ] {
            let mut args = vec!["gapfill"];
            args.extend_from_slice(bad);
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn serve_arguments_become_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        let pw_arg = pw.to_str().unwrap();
        let args = [
            "serve",
            "--spool",
            "/s/main",
            "--listen",
            "127.0.0.1:3307",
            "--user",
            "repl",
            "--password-file",
            pw_arg,
            "--tls-cert",
            "/c.pem",
            "--tls-key",
            "/k.pem",
            "--server-id",
            "9",
        ];
        let Command::Serve(a) = parse(&args).command else {
            unreachable!()
        };
        let cfg = serve_config(*a).unwrap();
        assert_eq!(cfg.spool, PathBuf::from("/s/main"));
        assert_eq!(cfg.listen, "127.0.0.1:3307");
        assert_eq!(cfg.user, "repl");
        assert_eq!(cfg.password.expose(), "s3cret");
        assert_eq!(cfg.server_id, Some(9));
        let tls = cfg.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/c.pem"));
        assert_eq!(tls.key, PathBuf::from("/k.pem"));
        // A cert without its key, and a password file others can read, are refused.
        assert!(
            Cli::try_parse_from([
                "gapfill",
                "serve",
                "--spool",
                "/s",
                "--listen",
                "h:1",
                "--user",
                "u",
                "--password-file",
                pw_arg,
                "--tls-cert",
                "/c.pem"
            ])
            .is_err()
        );
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Command::Serve(a) = parse(&args).command else {
            unreachable!()
        };
        let e = serve_config(*a).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }
}
