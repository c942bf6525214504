//! The `gapfill` command line: thin clap subcommands over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use gapfill::capture::{CaptureConfig, CaptureError, OnBreak, StartMode, StopReason};
use gapfill::decode::{DecodeError, DecodeOptions, Format, decode_files};
use gapfill::protocol::{ConnectOptions, TlsMode, TlsOptions};
use gapfill::spool::{FsyncPolicy, Retention};

/// Exit code of `gapfill capture` when it stopped on a continuity break (`--on-break stop`).
const EXIT_CONTINUITY_BREAK: u8 = 3;

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
enum FsyncArg {
    /// fsync every transaction (semi-sync ACKs always wait for an fsync anyway).
    Always,
    /// fsync at most every --fsync-interval.
    Interval,
    /// Leave it to the kernel (a power cut may lose recent transactions).
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum TlsModeArg {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
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
    /// Acknowledge semi-sync events once they are fsynced in the spool.
    #[arg(long)]
    semi_sync: bool,
    /// Replica server id (default: derived from the host name and --dir).
    #[arg(long)]
    server_id: Option<u32>,
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
    #[arg(long, value_name = "FILE")]
    orchestrator_config: Option<PathBuf>,
    /// TLS mode, as MySQL's --ssl-mode (default: preferred; verify-ca when --tls-ca is given).
    #[arg(long, value_enum)]
    tls_mode: Option<TlsModeArg>,
    /// CA certificate(s) (PEM) to verify the master's certificate.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Name to verify in the certificate (default: the host of --source).
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
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

#[derive(Subcommand)]
enum Command {
    /// Capture a master's binlog into a spool as a replica, continuously, until SIGINT/SIGTERM
    /// (like `mysqlbinlog --read-from-remote-server --raw --stop-never`, GTID-continuous).
    /// Exit codes: 0 stopped cleanly, 1 failed, 2 usage, 3 continuity break with
    /// --on-break stop.
    Capture(Box<CaptureArgs>),
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
            eprintln!("gapfill: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Capture(args) => capture(*args),
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

fn capture_config(a: CaptureArgs) -> anyhow::Result<CaptureConfig> {
    let creds = gapfill::credentials::resolve(
        a.credentials_file.as_deref(),
        a.orchestrator_config.as_deref(),
    )
    .context("credentials for the master")?;
    tracing::info!(user = %creds.user, from = %creds.source, "credentials");
    let mut connect = ConnectOptions::new(a.source.clone(), creds.user, creds.password);
    let mode = match (a.tls_mode, &a.tls_ca) {
        (Some(m), _) => match m {
            TlsModeArg::Disabled => TlsMode::Disabled,
            TlsModeArg::Preferred => TlsMode::Preferred,
            TlsModeArg::Required => TlsMode::Required,
            TlsModeArg::VerifyCa => TlsMode::VerifyCa,
            TlsModeArg::VerifyIdentity => TlsMode::VerifyIdentity,
        },
        (None, Some(_)) => TlsMode::VerifyCa,
        (None, None) => TlsMode::Preferred,
    };
    connect.tls = TlsOptions {
        mode,
        ca_file: a.tls_ca,
        server_name: a.tls_server_name,
    };
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
    cfg.start = match (a.gtid, a.position) {
        (true, _) => StartMode::Gtid,
        (false, Some(p)) => {
            let (file, pos) = gapfill::capture::parse_file_pos(&p)?;
            StartMode::Position { file, pos }
        }
        (false, None) => StartMode::Auto,
    };
    cfg.semisync = a.semi_sync;
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
    let cfg = capture_config(args)?;
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
