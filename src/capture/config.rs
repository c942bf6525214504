//! How a capture is configured: which master, where the spool lives, where a fresh spool
//! starts, how this fake replica presents itself, and the reconnect and break policies.
//!
//! Plain data plus small parsers (`FILE:POS`, durations) and the default server id. It does
//! not read credentials (see `credentials`) or talk to anyone.

use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::ConnectOptions;
use crate::spool::{FsyncPolicy, Retention, SpoolConfig};

use super::error::CaptureError;

/// The port a capture reports to the master when none is configured: the daemon's default
/// HTTP port (`[http] listen`), so `SHOW REPLICAS` shows where gapfill answers.
pub const DEFAULT_REPORT_PORT: NonZeroU16 = NonZeroU16::new(7077).unwrap();

/// Where a FRESH spool starts (an existing spool always resumes from what it holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartMode {
    /// GTIDs when the master writes them (MySQL `gtid_mode=ON`, MariaDB always), else the
    /// master's current binlog position. Either way: every transaction after now.
    Auto,
    /// After the master's current GTID state (`@@gtid_executed` / `@@gtid_binlog_pos`);
    /// refused on a MySQL master with `gtid_mode` other than ON.
    Gtid,
    /// After this binlog file and position (which must be a transaction boundary).
    Position { file: String, pos: u64 },
}

/// What to do when the master cannot continue the stream from where the spool ends (it
/// purged the binlogs we need: error 1236).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBreak {
    /// Record the break in the spool (it shows in status and coverage answers refuse to span
    /// it), log it loudly, and keep capturing from the master's current state: a new origin.
    #[default]
    NewOrigin,
    /// Record the break and stop with an error.
    Stop,
}

/// What a semi-sync acknowledgement promises the master about the transaction it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SemiSyncAck {
    /// On the spool's disk: the segment is fsynced before the acknowledgement goes out, so
    /// not even a power cut of this host loses an acknowledged transaction.
    #[default]
    Durable,
    /// Written to the spool (in the operating system's hands): what a stock MySQL replica
    /// promises (`sync_relay_log` > 1). A crash of gapfill loses nothing; a crash of this
    /// host may lose what was not yet fsynced by the `--fsync` policy, and the stream record
    /// then shows the capture ended by a crash, so no fill calls that tail proven.
    Received,
}

impl SemiSyncAck {
    /// The config and command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            SemiSyncAck::Durable => "durable",
            SemiSyncAck::Received => "received",
        }
    }

    /// From the config and command-line spelling.
    pub fn parse(s: &str) -> Option<SemiSyncAck> {
        match s {
            "durable" => Some(SemiSyncAck::Durable),
            "received" => Some(SemiSyncAck::Received),
            _ => None,
        }
    }
}

/// Everything a capture needs.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    pub connect: ConnectOptions,
    /// The spool directory of this master's cluster.
    pub dir: PathBuf,
    pub start: StartMode,
    /// Our replica server id: unique among the master's servers and replicas.
    pub server_id: u32,
    /// MySQL `@replica_uuid`: lets the master drop our zombie dump thread after a crash.
    pub replica_uuid: Option<String>,
    /// Register with the master (COM_REGISTER_SLAVE) so it lists this capture in
    /// `SHOW REPLICAS` / `SHOW SLAVE HOSTS` as `report_host:report_port`. A dump works
    /// without it on MySQL and MariaDB; unregistered, the capture shows only in the process
    /// list (as `Binlog Dump` / `Binlog Dump GTID`).
    pub register: bool,
    /// Shown in the master's `SHOW REPLICAS` (default: this machine's host name).
    pub report_host: String,
    /// Shown in the master's `SHOW REPLICAS` (default [`DEFAULT_REPORT_PORT`], the daemon's
    /// HTTP port). Never 0: orchestrator stops its replica discovery at a row with port 0.
    pub report_port: NonZeroU16,
    /// Ask for semi-sync and ACK flagged events once the spool holds them as `semisync_ack`
    /// says.
    pub semisync: bool,
    pub semisync_ack: SemiSyncAck,
    pub heartbeat_period: Duration,
    pub on_break: OnBreak,
    /// When the spool fsyncs (a durable semi-sync ACK waits for an fsync, whatever this says).
    pub fsync: FsyncPolicy,
    /// How much the spool keeps (`None`: everything, like `mysqlbinlog --stop-never`).
    pub retention: Option<Retention>,
    /// Stop at the end of the master's binlog (a non-blocking dump) instead of following it.
    pub stop_at_end: bool,
    /// Stop once the master's stream reaches this file and position (or a later file).
    pub stop_at: Option<(String, u64)>,
    /// First and largest reconnect delays.
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    /// Give up after this many consecutive failed connection attempts (`None`: never).
    pub max_reconnect_attempts: Option<u32>,
    /// How often to produce a progress report (`None`: never).
    pub progress_every: Option<Duration>,
}

impl CaptureConfig {
    /// Defaults: automatic start, the derived server id, registered as
    /// `<host name>:`[`DEFAULT_REPORT_PORT`], heartbeat 1 s, fsync every second,
    /// keep everything, new origin on a break, reconnect from 250 ms to 30 s forever,
    /// progress every 5 s.
    pub fn new(connect: ConnectOptions, dir: impl Into<PathBuf>) -> CaptureConfig {
        let dir = dir.into();
        let server_id = default_server_id(&dir);
        CaptureConfig {
            replica_uuid: Some(derived_uuid(server_id, &dir)),
            connect,
            dir,
            start: StartMode::Auto,
            server_id,
            register: true,
            report_host: report_host(),
            report_port: DEFAULT_REPORT_PORT,
            semisync: false,
            semisync_ack: SemiSyncAck::Durable,
            heartbeat_period: Duration::from_secs(1),
            on_break: OnBreak::NewOrigin,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            retention: None,
            stop_at_end: false,
            stop_at: None,
            reconnect_initial: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(30),
            max_reconnect_attempts: None,
            progress_every: Some(Duration::from_secs(5)),
        }
    }

    /// The spool's configuration. Without a retention the window is a century: nothing is
    /// ever old enough to drop.
    pub fn spool_config(&self) -> SpoolConfig {
        SpoolConfig {
            dir: self.dir.clone(),
            fsync: self.fsync,
            retention: self.retention.unwrap_or(Retention {
                keep: Duration::from_secs(100 * 365 * 86400),
                max_bytes: None,
            }),
        }
    }

    /// Change the server id (and the uuid derived from it).
    pub fn with_server_id(mut self, server_id: u32) -> CaptureConfig {
        self.server_id = server_id;
        self.replica_uuid = Some(derived_uuid(server_id, &self.dir));
        self
    }
}

/// `FILE:POS`, e.g. `binlog.000012:4`.
pub fn parse_file_pos(s: &str) -> Result<(String, u64), CaptureError> {
    let bad = || CaptureError::BadPosition {
        given: s.to_string(),
    };
    let (file, pos) = s.rsplit_once(':').ok_or_else(bad)?;
    let pos: u64 = pos.parse().map_err(|_| bad())?;
    if file.is_empty() || pos < 4 {
        return Err(bad());
    }
    Ok((file.to_string(), pos))
}

/// `90`, `90s`, `15m`, `24h`, `7d`: a duration in whole units.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

/// This machine's host name, as `report_host` (`gapfill` when it has none).
fn report_host() -> String {
    let h = hostname();
    if h.is_empty() { "gapfill".into() } else { h }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// FNV-1a over the parts (each followed by a 0xff separator): stable across Rust versions
/// and platforms, unlike `DefaultHasher`.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// The server id used when none is given: derived from the host name and the spool
/// directory, in 1_000_000_000..4_000_000_000, so sidecars on different hosts (and captures
/// into different directories) do not collide with each other or with usual small ids.
pub fn default_server_id(dir: &Path) -> u32 {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let h = stable_hash(&[hostname().as_bytes(), abs.as_os_str().as_encoded_bytes()]);
    1_000_000_000 + (h % 3_000_000_000) as u32
}

/// A stable uuid for `@replica_uuid`, from the server id and directory.
fn derived_uuid(server_id: u32, dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let a = stable_hash(&[
        b"gapfill-a",
        &server_id.to_le_bytes(),
        abs.as_os_str().as_encoded_bytes(),
    ]);
    let b = stable_hash(&[
        b"gapfill-b",
        &server_id.to_le_bytes(),
        abs.as_os_str().as_encoded_bytes(),
    ]);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4 layout
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_pos() {
        assert_eq!(
            parse_file_pos("binlog.000012:4").unwrap(),
            ("binlog.000012".to_string(), 4)
        );
        assert_eq!(
            parse_file_pos("/var/log/my:bin.000001:120").unwrap(),
            ("/var/log/my:bin.000001".to_string(), 120)
        );
        for bad in ["binlog.000012", ":4", "f:x", "f:3", "f:-1"] {
            assert!(parse_file_pos(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("h"), None);
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = default_server_id(Path::new("/var/lib/gapfill/c1"));
        assert_eq!(a, default_server_id(Path::new("/var/lib/gapfill/c1")));
        assert_ne!(a, default_server_id(Path::new("/var/lib/gapfill/c2")));
        assert!((1_000_000_000..4_000_000_000).contains(&a));
        let u = derived_uuid(a, Path::new("/x"));
        assert_eq!(u.len(), 36);
        assert_eq!(u, derived_uuid(a, Path::new("/x")));
        assert_ne!(u, derived_uuid(a + 1, Path::new("/x")));
    }
}
