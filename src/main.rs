//! The `gapfill` command line: thin clap subcommands over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use gapfill::apply::{
    ApplyOptions, GtidSelection, ReadOptions, TargetOptions, apply_files_blocking,
};
use gapfill::decode::{DecodeError, DecodeOptions, Format, decode_files};
use gapfill::protocol::{TlsMode, TlsOptions};

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
    #[arg(long, value_enum, default_value = "preferred")]
    ssl_mode: SslMode,
    /// CA certificate (PEM) for verify-ca / verify-identity.
    #[arg(long)]
    ssl_ca: Option<PathBuf>,
}

impl ServerAccess {
    fn target(&self, addr: String) -> anyhow::Result<TargetOptions> {
        let credentials = gapfill::credentials::resolve(
            self.credentials_file.as_deref(),
            self.orchestrator_config.as_deref(),
        )?;
        let mode = match self.ssl_mode {
            SslMode::Disabled => TlsMode::Disabled,
            SslMode::Preferred => TlsMode::Preferred,
            SslMode::Required => TlsMode::Required,
            SslMode::VerifyCa => TlsMode::VerifyCa,
            SslMode::VerifyIdentity => TlsMode::VerifyIdentity,
        };
        Ok(TargetOptions {
            addr,
            credentials,
            tls: TlsOptions {
                mode,
                ca_file: self.ssl_ca.clone(),
                server_name: None,
            },
        })
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
    /// Root directory of the spools (the daemon's spool_dir).
    #[arg(long, env = "GAPFILL_SPOOL_DIR", default_value = "/var/lib/gapfill")]
    spool_dir: PathBuf,
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
    /// How long to wait for the successor's SQL thread to apply what it received.
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
    #[command(flatten)]
    access: ServerAccess,
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

fn orchestrator_max_lag(path: Option<&std::path::Path>) -> anyhow::Result<Option<u64>> {
    let Some(p) = path else { return Ok(None) };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
    Ok(v.get("SlaveBinLogEnableMaxLagSeconds")
        .and_then(|x| x.as_u64()))
}

fn run_fill(a: FillArgs) -> anyhow::Result<ExitCode> {
    use gapfill::fill::{FillError, FillRequest, WindowGuard, exit};
    let failed = addr_or_env(a.failed, "FAILED", "--failed")?;
    let successor = addr_or_env(a.successor, "SUCCESSOR", "--successor")?;
    let max_lag = match a.max_lag {
        Some(s) => s,
        None => orchestrator_max_lag(a.access.orchestrator_config.as_deref())?.unwrap_or(300),
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
    let req = FillRequest {
        cluster: a.cluster,
        failed,
        successor: a.access.target(successor)?,
        spool_dir: a.spool_dir,
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
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
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
    /// Do not check the target's gtid_executed after the run.
    #[arg(long)]
    no_verify: bool,
    /// Do not verify event CRC32 checksums.
    #[arg(long)]
    no_verify_checksums: bool,
}

#[derive(Subcommand)]
enum Command {
    /// The orchestrator hook: replay onto the promoted replica every captured transaction it
    /// lacks, with the original GTIDs, inside the lag window.
    ///
    /// Hook line (PostMasterFailoverProcesses): gapfill fill --cluster {failureClusterAlias}
    /// --failed {failedHost}:{failedPort} --successor {successorHost}:{successorPort}
    ///
    /// Exit codes: 0 filled or nothing missing; 1 setup failed, nothing changed; 3 refused by
    /// the window guard (--force overrides); 4 the spool does not cover the gap; 5 apply failed
    /// part-way (re-running is safe); 6 another fill of this cluster is running.
    Fill(Box<FillArgs>),
    /// Replay binlog, relay-log or spool files onto a server with their original GTIDs.
    ///
    /// Only complete transactions are applied; transactions the target already executed are
    /// skipped, so re-running after any failure finishes the job. Credentials come from
    /// --credentials-file, --orchestrator-config or GAPFILL_USER/GAPFILL_PASSWORD, never argv.
    /// Exit codes: 0 done, 1 bad input or options, 3 apply failed (safe to re-run).
    Replay(Box<ReplayArgs>),
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
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GAPFILL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
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
        } => {
            let opts = DecodeOptions {
                format: match format {
                    OutputFormat::Text => Format::Text,
                    OutputFormat::Json => Format::Json,
                },
                start_position,
                stop_position,
                verify_checksums: !no_verify_checksums,
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
