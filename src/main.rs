//! The `gapfill` command line: thin clap subcommands over the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use gapfill::decode::{DecodeError, DecodeOptions, Format, decode_files};

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

#[derive(Subcommand)]
enum Command {
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
