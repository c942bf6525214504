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

/// Exit code of a replay that failed while applying: re-running it is safe.
const EXIT_APPLY_FAILED: u8 = 3;

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
    /// A 0600 file with user= and password= lines.
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// orchestrator.conf.json to take MySQLTopologyUser/MySQLTopologyPassword from.
    #[arg(long)]
    orchestrator_config: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "preferred")]
    ssl_mode: SslMode,
    /// CA certificate (PEM) for verify-ca / verify-identity.
    #[arg(long)]
    ssl_ca: Option<PathBuf>,
    /// Do not check the target's gtid_executed after the run.
    #[arg(long)]
    no_verify: bool,
    /// Do not verify event CRC32 checksums.
    #[arg(long)]
    no_verify_checksums: bool,
}

#[derive(Subcommand)]
enum Command {
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
                credentials_file,
                orchestrator_config,
                ssl_mode,
                ssl_ca,
                no_verify,
                no_verify_checksums,
            } = *args;
            let sel = |s: Option<String>| -> anyhow::Result<Option<GtidSelection>> {
                s.map(|s| GtidSelection::parse(&s).map_err(anyhow::Error::msg))
                    .transpose()
            };
            let target = match target {
                Some(addr) => {
                    let credentials = gapfill::credentials::resolve(
                        credentials_file.as_deref(),
                        orchestrator_config.as_deref(),
                    )?;
                    let mode = match ssl_mode {
                        SslMode::Disabled => TlsMode::Disabled,
                        SslMode::Preferred => TlsMode::Preferred,
                        SslMode::Required => TlsMode::Required,
                        SslMode::VerifyCa => TlsMode::VerifyCa,
                        SslMode::VerifyIdentity => TlsMode::VerifyIdentity,
                    };
                    Some(TargetOptions {
                        addr,
                        credentials,
                        tls: TlsOptions {
                            mode,
                            ca_file: ssl_ca,
                            server_name: None,
                        },
                    })
                }
                None => None,
            };
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
