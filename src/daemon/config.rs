//! The daemon's configuration file (`gapfill.toml`): what it reads, the defaults, and the
//! validation that reports every problem at once, with the file and key, before anything runs.
//!
//! It resolves what can be checked up front (credentials, token and password files, the
//! orchestrator configuration's window) so a bad file fails at start, not at the first
//! failover. It does not connect anywhere and never prints a secret.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::capture::{SemiSyncAck, parse_duration};
use crate::credentials::Credentials;
use crate::protocol::{Password, TlsMode};
use crate::spool::{FsyncPolicy, Retention};

use super::error::DaemonError;

/// Default status/metrics address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7077";
/// Default window when neither the file nor orchestrator's configuration gives one.
pub const DEFAULT_MAX_LAG: Duration = Duration::from_secs(300);

/// One cluster to follow, as the config or orchestrator names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// orchestrator's cluster alias: the spool directory's name and the hook's `--cluster`.
    pub alias: String,
    /// `host:port` of the current master.
    pub master: String,
    /// `host:port` of its replicas (whose positions are recorded for fills without GTIDs).
    pub replicas: Vec<String>,
}

/// Where orchestrator's API is and how to log in.
#[derive(Debug, Clone)]
pub struct OrchestratorApi {
    /// `http://host:port` plus an optional path prefix, without a trailing slash.
    pub url: String,
    pub user: Option<String>,
    pub password: Option<Password>,
    pub refresh: Duration,
    pub timeout: Duration,
    /// PEM CA certificate(s) orchestrator's `https://` certificate must chain to.
    pub ca_file: Option<PathBuf>,
}

/// How people log in to the status endpoint and what it answers.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Bearer token required on every request (from `token_file`); `None`: open.
    pub token: Option<Password>,
    /// `tls_cert` + `tls_key`: the endpoint speaks https; with `client_ca`, every client
    /// (the other nodes' daemons and fills) must present a certificate chaining to it.
    pub tls: Option<HttpTls>,
}

/// `[http] tls_cert`, `tls_key`, `client_ca`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub path: PathBuf,
    pub spool_dir: PathBuf,
    /// The lag window a fill accepts (also how long the spool keeps by default).
    pub max_lag: Duration,
    /// After a failover, how long to wait for `gapfill fill` to give the new master the
    /// transactions the spool holds before reporting an error.
    pub follow_wait: Duration,
    pub retention: Retention,
    pub fsync: FsyncPolicy,
    pub semi_sync: bool,
    /// `semi_sync_ack`: what an acknowledgement promises (durable by default).
    pub semi_sync_ack: SemiSyncAck,
    pub heartbeat: Duration,
    pub tls: TlsMode,
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (`ssl_cert`, `ssl_key`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Register with each master (`[capture] register`, default true).
    pub register: bool,
    /// `[capture] allow_unverified_tls`: send caching_sha2_password's full-authentication
    /// password inside TLS whose certificate was not verified (see
    /// `ConnectOptions::allow_unverified_tls`; default false).
    pub allow_unverified_tls: bool,
    /// `report_host` shown in the masters' `SHOW REPLICAS` (default: the host name).
    pub report_host: Option<String>,
    /// `report_port` shown there (default: the port of `[http] listen`).
    pub report_port: NonZeroU16,
    pub credentials: Credentials,
    /// Where the credentials come from, for `gapfill fill --config`.
    pub credentials_file: Option<PathBuf>,
    pub orchestrator_config: Option<PathBuf>,
    pub clusters: Vec<ClusterSpec>,
    pub orchestrator: Option<OrchestratorApi>,
    /// How often replicas' positions are recorded (zero: never).
    pub replica_interval: Duration,
    pub http: HttpConfig,
    /// Other orchestrator nodes' daemons (`host:port` of their HTTP endpoint), which a fill
    /// asks for what this node's spool lacks; they share `[http] token_file`.
    pub peers: Vec<String>,
    /// How long a fill waits for a peer before skipping it.
    pub peer_timeout: Duration,
    /// `[peers] ca_file` (+ `cert_file`, `key_file`): the peers speak https; their
    /// certificates must chain to the cluster CA, and this node presents its own.
    pub peer_tls: Option<crate::protocol::TlsOptions>,
    pub log_format: LogFormat,
    /// `[serve]`: clusters whose spool this daemon serves to replicas, as a binlog server.
    pub serve: Option<ServeSettings>,
    /// What is accepted but should change (old key names), one line each: print them.
    pub warnings: Vec<String>,
}

/// `[serve]`: the daemon as a replication source over its spools, so a lagging or new
/// replica can catch up from gapfill as from a binlog server (`gapfill serve` per cluster).
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The account replicas give (`user`); its password from `password_file` (0600).
    pub user: String,
    pub password: Password,
    /// `tls_cert` + `tls_key` (PEM): required when a listen address is not loopback.
    pub tls: Option<crate::serve::TlsFiles>,
    /// `[serve.listen]`: cluster alias -> `IP:port`, one listener per cluster.
    pub listen: Vec<(String, SocketAddr)>,
}

impl DaemonConfig {
    /// TLS to the masters and replicas, from `[capture] ssl_*`.
    pub fn tls_options(&self) -> crate::protocol::TlsOptions {
        crate::protocol::TlsOptions {
            mode: self.tls,
            ca_file: self.tls_ca.clone(),
            server_name: None,
            cert_file: self.tls_cert.clone(),
            key_file: self.tls_key.clone(),
            allow_unverified: self.allow_unverified_tls,
        }
    }
}

/// Reads one table, remembering which keys were read so the rest can be reported unknown.
struct Section<'a> {
    table: Option<&'a toml::Table>,
    prefix: String,
    seen: Vec<&'static str>,
}

struct Problems {
    list: Vec<String>,
}

impl Problems {
    fn add(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.list.push(format!("{key}: {msg}"));
    }
}

impl<'a> Section<'a> {
    fn new(table: Option<&'a toml::Table>, prefix: &str) -> Section<'a> {
        Section {
            table,
            prefix: prefix.to_string(),
            seen: Vec::new(),
        }
    }

    fn key(&self, k: &str) -> String {
        if self.prefix.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.prefix)
        }
    }

    fn get(&mut self, k: &'static str) -> Option<&'a toml::Value> {
        self.seen.push(k);
        self.table.and_then(|t| t.get(k))
    }

    fn string(&mut self, k: &'static str, p: &mut Problems) -> Option<String> {
        match self.get(k)? {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                p.add(
                    &self.key(k),
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// A list of `"host:port"` (empty when absent).
    fn addr_list(&mut self, k: &'static str, p: &mut Problems) -> Vec<String> {
        let key = self.key(k);
        match self.get(k) {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v.as_str() {
                    Some(r) if valid_addr(r) => Some(r.to_string()),
                    _ => {
                        p.add(&key, format!("{v} is not \"host:port\""));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                p.add(&key, "expected a list of \"host:port\"");
                Vec::new()
            }
        }
    }

    fn boolean(&mut self, k: &'static str, p: &mut Problems) -> Option<bool> {
        match self.get(k)? {
            toml::Value::Boolean(b) => Some(*b),
            other => {
                p.add(
                    &self.key(k),
                    format!("expected true or false, found {}", other.type_str()),
                );
                None
            }
        }
    }

    /// `"30s"`, `"15m"`, `"24h"`, `"7d"` or a number of seconds.
    fn duration(&mut self, k: &'static str, p: &mut Problems) -> Option<Duration> {
        match self.get(k)? {
            toml::Value::Integer(n) if *n >= 0 => Some(Duration::from_secs(*n as u64)),
            toml::Value::String(s) => parse_duration(s).or_else(|| {
                p.add(
                    &self.key(k),
                    format!("{s:?} is not a duration (e.g. 30s, 15m, 24h, 7d)"),
                );
                None
            }),
            other => {
                p.add(
                    &self.key(k),
                    format!("expected a duration such as \"30s\", found {other}"),
                );
                None
            }
        }
    }

    /// A byte count: a number, or `"512M"`, `"10G"`, `"1T"` (powers of 1024).
    fn bytes(&mut self, k: &'static str, p: &mut Problems) -> Option<u64> {
        match self.get(k)? {
            toml::Value::Integer(n) if *n > 0 => Some(*n as u64),
            toml::Value::String(s) => parse_bytes(s).or_else(|| {
                p.add(
                    &self.key(k),
                    format!("{s:?} is not a size (e.g. 512M, 10G)"),
                );
                None
            }),
            other => {
                p.add(
                    &self.key(k),
                    format!("expected a size such as \"10G\", found {other}"),
                );
                None
            }
        }
    }

    fn path(&mut self, k: &'static str, p: &mut Problems) -> Option<PathBuf> {
        self.string(k, p).map(PathBuf::from)
    }

    /// Report keys nobody read (typos).
    fn finish(self, p: &mut Problems) {
        let Some(t) = self.table else { return };
        for k in t.keys() {
            if !self.seen.contains(&k.as_str()) {
                p.add(&self.key(k), "unknown key");
            }
        }
    }
}

/// `512M`, `10G`, `1T`, `1000` (bytes).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&b| b > 0)
}

/// Whether `s` is `host:port` with a non-empty host and a port number.
pub fn valid_addr(s: &str) -> bool {
    matches!(s.rsplit_once(':'), Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// A secret from a file (first line, trimmed): it must not be readable by group or others.
fn secret_file(path: &Path) -> Result<Password, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by group or others (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Password::new(line))
}

/// A key given under its new name or its old one (accepted with a warning), not both.
fn renamed<T>(
    new: Option<T>,
    old: Option<T>,
    new_key: &str,
    old_key: &str,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<T> {
    match (new, old) {
        (Some(_), Some(_)) => {
            p.add(
                old_key,
                format!("is the old name of {new_key}: give only {new_key}"),
            );
            None
        }
        (None, Some(v)) => {
            warnings.push(format!(
                "{old_key} is deprecated: rename it {new_key} (MySQL's option name)"
            ));
            Some(v)
        }
        (new, None) => new,
    }
}

/// Whether `dir` is a directory or could be created as one, without creating anything
/// (`--check` changes nothing): the nearest existing ancestor must be a directory.
fn creatable_dir(dir: &Path) -> Result<(), String> {
    let mut at = Some(dir);
    while let Some(d) = at {
        match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) if d == dir => return Err(format!("{} is not a directory", dir.display())),
            Ok(_) => {
                return Err(format!(
                    "cannot create {}: {} is not a directory",
                    dir.display(),
                    d.display()
                ));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                at = d.parent()
            }
            Err(e) => return Err(format!("cannot read {}: {e}", d.display())),
        }
    }
    Ok(())
}

/// The lag window from an orchestrator configuration: `SlaveBinLogEnableMaxLagSeconds`.
pub fn orchestrator_window(path: &Path) -> Result<Option<Duration>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    Ok(v.get("SlaveBinLogEnableMaxLagSeconds")
        .and_then(|x| x.as_u64())
        .filter(|&s| s > 0)
        .map(Duration::from_secs))
}

fn table<'a>(v: Option<&'a toml::Value>, key: &str, p: &mut Problems) -> Option<&'a toml::Table> {
    match v {
        None => None,
        Some(toml::Value::Table(t)) => Some(t),
        Some(_) => {
            p.add(key, "expected a table ([section])");
            None
        }
    }
}

impl DaemonConfig {
    /// Read and validate `path`; every problem found is in the error.
    pub fn load(path: &Path) -> Result<DaemonConfig, DaemonError> {
        let text = std::fs::read_to_string(path).map_err(|e| DaemonError::Config {
            path: path.to_path_buf(),
            problems: vec![format!("cannot read the file: {e}")],
        })?;
        DaemonConfig::parse(&text, path)
    }

    /// Validate `text` as the content of `path`: each section is read by its own function,
    /// every problem of every section is collected, and the whole list is the error.
    pub fn parse(text: &str, path: &Path) -> Result<DaemonConfig, DaemonError> {
        let fail = |problems| DaemonError::Config {
            path: path.to_path_buf(),
            problems,
        };
        let root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| fail(vec![format!("not valid TOML: {e}")]))?;
        let mut p = Problems { list: Vec::new() };
        let mut warnings = Vec::new();
        let mut top = Section::new(Some(&root), "");

        let general = read_general(&mut top, &mut p);
        let creds = read_credentials(&mut top, &mut p);
        // Precedence of the window: the file's max_lag, then orchestrator's
        // SlaveBinLogEnableMaxLagSeconds, then the default.
        let max_lag = general
            .max_lag
            .or(creds.orchestrator_window)
            .unwrap_or(DEFAULT_MAX_LAG);
        let retention = read_retention(&mut top, max_lag, &mut p);
        let capture = read_capture(&mut top, &mut p, &mut warnings);
        let clusters = read_clusters(top.get("cluster"), &mut p);
        let orchestrator = table(top.get("orchestrator"), "orchestrator", &mut p)
            .and_then(|t| read_orchestrator(t, &mut p));
        if clusters.is_empty() && top.get("orchestrator").is_none() {
            p.add(
                "cluster",
                "nothing to follow: add [[cluster]] entries (alias, master) or an [orchestrator] url",
            );
        }
        let mut rps = Section::new(table(top.get("replicas"), "replicas", &mut p), "replicas");
        let replica_interval = rps
            .duration("interval", &mut p)
            .unwrap_or(Duration::from_secs(2));
        rps.finish(&mut p);
        let http = read_http(&mut top, &mut p);
        let peers = read_peers(&mut top, &mut p);
        let serve = parse_serve(table(top.get("serve"), "serve", &mut p), &mut p);

        top.finish(&mut p);
        if !p.list.is_empty() {
            return Err(fail(p.list));
        }
        let (Some(credentials), Some(http)) = (creds.credentials, http) else {
            return Err(fail(vec!["internal: incomplete configuration".into()]));
        };
        let report_port = capture
            .report_port
            .or_else(|| NonZeroU16::new(http.listen.port()))
            .unwrap_or(crate::capture::DEFAULT_REPORT_PORT);
        let CaptureSection { tls, .. } = capture;
        Ok(DaemonConfig {
            path: path.to_path_buf(),
            spool_dir: general.spool_dir,
            max_lag,
            follow_wait: general.follow_wait,
            retention,
            fsync: capture.fsync,
            semi_sync: capture.semi_sync,
            semi_sync_ack: capture.semi_sync_ack,
            heartbeat: capture.heartbeat,
            tls: tls.mode,
            tls_ca: tls.ca,
            tls_cert: tls.cert,
            tls_key: tls.key,
            register: capture.register,
            allow_unverified_tls: capture.allow_unverified_tls,
            report_host: capture.report_host,
            report_port,
            credentials,
            credentials_file: creds.file,
            orchestrator_config: creds.orchestrator_config,
            clusters,
            orchestrator,
            replica_interval,
            http,
            peers: peers.addrs,
            peer_timeout: peers.timeout,
            peer_tls: peers.tls,
            log_format: general.log_format,
            serve,
            warnings,
        })
    }
}

/// The top-level keys.
struct General {
    spool_dir: PathBuf,
    /// `max_lag` as the file gives it (the window's precedence is `parse`'s).
    max_lag: Option<Duration>,
    follow_wait: Duration,
    log_format: LogFormat,
}

/// `spool_dir`, `max_lag`, `follow_wait`, `log_format`.
fn read_general(top: &mut Section<'_>, p: &mut Problems) -> General {
    let spool_dir = top.path("spool_dir", p).unwrap_or_else(|| {
        p.add(
            "spool_dir",
            "required: the directory that holds one spool per cluster",
        );
        PathBuf::new()
    });
    if !spool_dir.as_os_str().is_empty()
        && let Err(e) = creatable_dir(&spool_dir)
    {
        p.add("spool_dir", e);
    }
    let max_lag = top.duration("max_lag", p);
    let follow_wait = top
        .duration("follow_wait", p)
        .unwrap_or(Duration::from_secs(600));
    let log_format = match top.string("log_format", p).as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            p.add(
                "log_format",
                format!("{other:?}: expected \"text\" or \"json\""),
            );
            LogFormat::Text
        }
    };
    General {
        spool_dir,
        max_lag,
        follow_wait,
        log_format,
    }
}

/// `[credentials]`, resolved.
struct CredentialsSection {
    /// `None` only with a problem reported.
    credentials: Option<Credentials>,
    file: Option<PathBuf>,
    orchestrator_config: Option<PathBuf>,
    /// `SlaveBinLogEnableMaxLagSeconds` of `orchestrator_config`.
    orchestrator_window: Option<Duration>,
}

/// `[credentials] file`, `orchestrator_config`: the accounts, and orchestrator's window.
fn read_credentials(top: &mut Section<'_>, p: &mut Problems) -> CredentialsSection {
    let mut cs = Section::new(
        table(top.get("credentials"), "credentials", p),
        "credentials",
    );
    let file = cs.path("file", p);
    let orchestrator_config = cs.path("orchestrator_config", p);
    cs.finish(p);
    // One problem per unreadable file: the credentials and the window both read it.
    let orchestrator_unreadable = orchestrator_config.as_ref().and_then(|o| {
        std::fs::metadata(o)
            .err()
            .map(|e| format!("cannot read {}: {e}", o.display()))
    });
    if let Some(e) = &orchestrator_unreadable {
        p.add("credentials.orchestrator_config", e);
    }
    let credentials =
        match crate::credentials::resolve(file.as_deref(), orchestrator_config.as_deref()) {
            Ok(c) => Some(c),
            Err(_) if file.is_none() && orchestrator_unreadable.is_some() => None,
            Err(e) => {
                let key = if file.is_some() {
                    "credentials.file"
                } else {
                    "credentials"
                };
                p.add(key, e);
                None
            }
        };
    let orchestrator_window = match &orchestrator_config {
        Some(_) if orchestrator_unreadable.is_some() => None,
        Some(o) => orchestrator_window(o).unwrap_or_else(|e| {
            p.add("credentials.orchestrator_config", e);
            None
        }),
        None => None,
    };
    CredentialsSection {
        credentials,
        file,
        orchestrator_config,
        orchestrator_window,
    }
}

/// `[retention] keep` (default twice the window, never shorter than it), `max_bytes`.
fn read_retention(top: &mut Section<'_>, max_lag: Duration, p: &mut Problems) -> Retention {
    let mut rs = Section::new(table(top.get("retention"), "retention", p), "retention");
    let keep = rs.duration("keep", p).unwrap_or(max_lag * 2);
    let max_bytes = rs.bytes("max_bytes", p);
    rs.finish(p);
    if keep < max_lag {
        p.add(
            "retention.keep",
            format!(
                "{}s is shorter than the window max_lag ({}s): a fill inside the window could \
                 find its gap dropped",
                keep.as_secs(),
                max_lag.as_secs()
            ),
        );
    }
    Retention { keep, max_bytes }
}

/// `[capture]`.
struct CaptureSection {
    fsync: FsyncPolicy,
    semi_sync: bool,
    semi_sync_ack: SemiSyncAck,
    heartbeat: Duration,
    tls: CaptureTls,
    register: bool,
    allow_unverified_tls: bool,
    report_host: Option<String>,
    /// As given; `parse` defaults it to the HTTP port.
    report_port: Option<NonZeroU16>,
}

/// `[capture] ssl_mode`, `ssl_ca`, `ssl_cert`, `ssl_key`.
struct CaptureTls {
    mode: TlsMode,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// `[capture]`: the durability of the spool, semi-sync, heartbeats, TLS, registration.
fn read_capture(
    top: &mut Section<'_>,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> CaptureSection {
    let mut ks = Section::new(table(top.get("capture"), "capture", p), "capture");
    let fsync_interval = ks
        .duration("fsync_interval", p)
        .unwrap_or(Duration::from_secs(1));
    let fsync = match ks.string("fsync", p).as_deref() {
        None | Some("interval") => FsyncPolicy::Interval(fsync_interval),
        Some("always") => FsyncPolicy::Always,
        Some("never") => FsyncPolicy::Never,
        Some(other) => {
            p.add(
                "capture.fsync",
                format!("{other:?}: expected \"always\", \"interval\" or \"never\""),
            );
            FsyncPolicy::Always
        }
    };
    let semi_sync = ks.boolean("semi_sync", p).unwrap_or(false);
    let semi_sync_ack = match ks.string("semi_sync_ack", p) {
        None => SemiSyncAck::Durable,
        Some(s) => SemiSyncAck::parse(&s).unwrap_or_else(|| {
            p.add(
                "capture.semi_sync_ack",
                format!("{s:?}: expected \"durable\" or \"received\""),
            );
            SemiSyncAck::Durable
        }),
    };
    let heartbeat = ks
        .duration("heartbeat", p)
        .unwrap_or(Duration::from_secs(1));
    if heartbeat.is_zero() {
        p.add("capture.heartbeat", "must be at least 1s");
    }
    let tls = read_capture_tls(&mut ks, p, warnings);
    let register = ks.boolean("register", p).unwrap_or(true);
    let allow_unverified_tls = ks.boolean("allow_unverified_tls", p).unwrap_or(false);
    let report_host = ks.string("report_host", p);
    if let Some(h) = &report_host
        && (h.is_empty() || h.len() > 255 || h.contains(char::is_whitespace))
    {
        p.add(
            "capture.report_host",
            format!("{h:?}: expected a host name (1-255 characters, no spaces)"),
        );
    }
    let report_port = read_report_port(&mut ks, p);
    ks.finish(p);
    CaptureSection {
        fsync,
        semi_sync,
        semi_sync_ack,
        heartbeat,
        tls,
        register,
        allow_unverified_tls,
        report_host,
        report_port,
    }
}

/// `ssl_mode` (old name `tls_mode`), `ssl_ca` (`tls_ca`), `ssl_cert`, `ssl_key`; a CA without
/// a mode means `verify-ca`.
fn read_capture_tls(
    ks: &mut Section<'_>,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> CaptureTls {
    let ca = {
        let new = ks.path("ssl_ca", p);
        let old = ks.path("tls_ca", p);
        renamed(new, old, "capture.ssl_ca", "capture.tls_ca", p, warnings)
    };
    let mode = {
        let new = ks.string("ssl_mode", p);
        let old = ks.string("tls_mode", p);
        renamed(
            new,
            old,
            "capture.ssl_mode",
            "capture.tls_mode",
            p,
            warnings,
        )
    };
    let mode = match mode.as_deref() {
        None if ca.is_some() => TlsMode::VerifyCa,
        None | Some("preferred") => TlsMode::Preferred,
        Some("disabled") => TlsMode::Disabled,
        Some("required") => TlsMode::Required,
        Some("verify-ca") => TlsMode::VerifyCa,
        Some("verify-identity") => TlsMode::VerifyIdentity,
        Some(other) => {
            p.add(
                "capture.ssl_mode",
                format!(
                    "{other:?}: expected disabled, preferred, required, verify-ca or verify-identity"
                ),
            );
            TlsMode::Preferred
        }
    };
    if let Some(ca) = &ca
        && !ca.exists()
    {
        p.add("capture.ssl_ca", format!("{} does not exist", ca.display()));
    }
    let cert = ks.path("ssl_cert", p);
    let key = ks.path("ssl_key", p);
    match (&cert, &key) {
        (Some(_), None) => p.add(
            "capture.ssl_key",
            "required with ssl_cert (its private key)",
        ),
        (None, Some(_)) => p.add(
            "capture.ssl_cert",
            "required with ssl_key (the certificate)",
        ),
        _ => {}
    }
    for (k, f) in [("capture.ssl_cert", &cert), ("capture.ssl_key", &key)] {
        if let Some(f) = f
            && !f.exists()
        {
            p.add(k, format!("{} does not exist", f.display()));
        }
    }
    CaptureTls {
        mode,
        ca,
        cert,
        key,
    }
}

/// `[capture] report_port`: 1-65535 (orchestrator stops discovering at a replica on port 0).
fn read_report_port(ks: &mut Section<'_>, p: &mut Problems) -> Option<NonZeroU16> {
    match ks.get("report_port")? {
        toml::Value::Integer(n) => {
            let port = u16::try_from(*n).ok().and_then(NonZeroU16::new);
            if port.is_none() {
                p.add(
                    "capture.report_port",
                    format!(
                        "{n}: expected a port 1-65535 (orchestrator stops its replica \
                         discovery at a replica reporting port 0)"
                    ),
                );
            }
            port
        }
        other => {
            p.add(
                "capture.report_port",
                format!("expected a port number, found {}", other.type_str()),
            );
            None
        }
    }
}

/// `[[cluster]]`: alias (checked by `spool::check_alias`, unique), master, replicas.
fn read_clusters(v: Option<&toml::Value>, p: &mut Problems) -> Vec<ClusterSpec> {
    let mut clusters = Vec::new();
    let items = match v {
        None => return clusters,
        Some(toml::Value::Array(items)) => items,
        Some(_) => {
            p.add("cluster", "expected [[cluster]] tables");
            return clusters;
        }
    };
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("cluster[{i}]");
        let toml::Value::Table(t) = item else {
            p.add(&prefix, "expected a table ([[cluster]])");
            continue;
        };
        let mut s = Section::new(Some(t), &prefix);
        let alias = s.string("alias", p);
        let master = s.string("master", p);
        let replicas = s.addr_list("replicas", p);
        s.finish(p);
        match &alias {
            None => p.add(
                &format!("{prefix}.alias"),
                "required (orchestrator's cluster alias)",
            ),
            Some(a) if let Err(why) = crate::spool::check_alias(a) => {
                p.add(&format!("{prefix}.alias"), why)
            }
            Some(a) if clusters.iter().any(|c: &ClusterSpec| &c.alias == a) => {
                p.add(&format!("{prefix}.alias"), format!("{a:?} is listed twice"))
            }
            _ => {}
        }
        match &master {
            None => p.add(&format!("{prefix}.master"), "required: \"host:port\""),
            Some(m) if !valid_addr(m) => p.add(
                &format!("{prefix}.master"),
                format!("{m:?} is not \"host:port\""),
            ),
            _ => {}
        }
        if let (Some(alias), Some(master)) = (alias, master) {
            clusters.push(ClusterSpec {
                alias,
                master,
                replicas,
            });
        }
    }
    clusters
}

/// `[orchestrator]`: url (https needs `ca_file`), basic auth, refresh, timeout.
fn read_orchestrator(t: &toml::Table, p: &mut Problems) -> Option<OrchestratorApi> {
    let mut s = Section::new(Some(t), "orchestrator");
    let url = s.string("url", p);
    let user = s.string("user", p);
    let password_file = s.path("password_file", p);
    let password_env = s.string("password_env", p);
    let ca_file = s.path("ca_file", p);
    let refresh = s.duration("refresh", p).unwrap_or(Duration::from_secs(30));
    let timeout = s.duration("timeout", p).unwrap_or(Duration::from_secs(5));
    s.finish(p);
    if refresh.is_zero() {
        p.add("orchestrator.refresh", "must be at least 1s");
    }
    if timeout.is_zero() {
        p.add("orchestrator.timeout", "must be at least 1s");
    }
    let password = orchestrator_password(password_file.as_deref(), password_env.as_deref(), p);
    if password.is_some() && user.is_none() {
        p.add(
            "orchestrator.user",
            "required when a password is given (basic auth)",
        );
    }
    let Some(u) = url else {
        p.add(
            "orchestrator.url",
            "required, e.g. \"http://127.0.0.1:3000\"",
        );
        return None;
    };
    match super::http_client::split_url(&u) {
        Ok(parsed) if parsed.https && ca_file.is_none() => {
            p.add(
                "orchestrator.ca_file",
                "required with an https:// url: the PEM file of the CA that signed \
                 orchestrator's certificate",
            );
            None
        }
        Ok(_) => Some(OrchestratorApi {
            url: u.trim_end_matches('/').to_string(),
            user,
            password,
            refresh,
            timeout,
            ca_file,
        }),
        Err(e) => {
            p.add("orchestrator.url", e);
            None
        }
    }
}

/// `[orchestrator] password_file` (0600) or `password_env`, not both.
fn orchestrator_password(
    file: Option<&Path>,
    env: Option<&str>,
    p: &mut Problems,
) -> Option<Password> {
    match (file, env) {
        (Some(_), Some(_)) => {
            p.add(
                "orchestrator.password_file",
                "give password_file or password_env, not both",
            );
            None
        }
        (Some(f), None) => secret_file(f)
            .map_err(|e| p.add("orchestrator.password_file", e))
            .ok(),
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Some(Password::new(v)),
            _ => {
                p.add(
                    "orchestrator.password_env",
                    format!("the environment variable {var} is not set"),
                );
                None
            }
        },
        (None, None) => None,
    }
}

/// `[http]`: listen, token_file, TLS; a listen address others can reach must ask who is
/// calling. `None` only with a problem reported.
fn read_http(top: &mut Section<'_>, p: &mut Problems) -> Option<HttpConfig> {
    let mut hs = Section::new(table(top.get("http"), "http", p), "http");
    let listen_text = hs
        .string("listen", p)
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = listen_text.parse::<SocketAddr>().ok();
    if listen.is_none() {
        p.add(
            "http.listen",
            format!("{listen_text:?} is not an IP:port address, e.g. 127.0.0.1:7077"),
        );
    }
    let token_file = hs.path("token_file", p);
    let token = token_file
        .as_ref()
        .and_then(|f| secret_file(f).map_err(|e| p.add("http.token_file", e)).ok());
    let tls = http_tls(&mut hs, p);
    // Peers pull transactions a fill applies to a new master: an endpoint others can
    // reach must ask who is calling.
    let client_certs = tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    if let Some(addr) = &listen
        && !addr.ip().is_loopback()
        && token_file.is_none()
        && !client_certs
    {
        p.add(
            "http.token_file",
            format!(
                "required when http.listen ({addr}) is not a loopback address (or \
                 http.client_ca with tls_cert and tls_key): anyone who reaches it could \
                 read the spools and feed a fill through the peer endpoints; create a 0600 \
                 file with a long random token and name it here (the other nodes' daemons \
                 share it), and prefer TLS with client certificates of a cluster CA"
            ),
        );
    }
    hs.finish(p);
    Some(HttpConfig {
        listen: listen?,
        token,
        tls,
    })
}

/// `[peers]`.
struct PeersSection {
    addrs: Vec<String>,
    timeout: Duration,
    tls: Option<crate::protocol::TlsOptions>,
}

/// `[peers] addrs`, `timeout`, and their TLS (`peer_tls`).
fn read_peers(top: &mut Section<'_>, p: &mut Problems) -> PeersSection {
    let mut ps = Section::new(table(top.get("peers"), "peers", p), "peers");
    let addrs = ps.addr_list("addrs", p);
    let timeout = ps.duration("timeout", p).unwrap_or(Duration::from_secs(5));
    let tls = peer_tls(&mut ps, p);
    ps.finish(p);
    PeersSection {
        addrs,
        timeout,
        tls,
    }
}

/// Files that must be readable, each a problem under its key otherwise.
fn readable(files: &[(&str, &Path)], p: &mut Problems) {
    for (k, f) in files {
        if let Err(e) = std::fs::metadata(f) {
            p.add(k, format!("cannot read {}: {e}", f.display()));
        }
    }
}

/// `[http] tls_cert`, `tls_key`, `client_ca`.
fn http_tls(hs: &mut Section<'_>, p: &mut Problems) -> Option<HttpTls> {
    let cert = hs.path("tls_cert", p);
    let key = hs.path("tls_key", p);
    let client_ca = hs.path("client_ca", p);
    match (cert, key) {
        (Some(cert), Some(key)) => {
            readable(&[("http.tls_cert", &cert), ("http.tls_key", &key)], p);
            if let Some(ca) = &client_ca {
                readable(&[("http.client_ca", ca)], p);
            }
            Some(HttpTls {
                cert,
                key,
                client_ca,
            })
        }
        (None, None) => {
            if client_ca.is_some() {
                p.add("http.client_ca", "needs http.tls_cert and http.tls_key");
            }
            None
        }
        (Some(_), None) => {
            p.add("http.tls_key", "required with http.tls_cert");
            None
        }
        (None, Some(_)) => {
            p.add("http.tls_cert", "required with http.tls_key");
            None
        }
    }
}

/// `[peers] ca_file`, `cert_file`, `key_file`: how this node's fills reach the peers.
fn peer_tls(ps: &mut Section<'_>, p: &mut Problems) -> Option<crate::protocol::TlsOptions> {
    let ca = ps.path("ca_file", p);
    let cert = ps.path("cert_file", p);
    let key = ps.path("key_file", p);
    if cert.is_some() != key.is_some() {
        p.add("peers.cert_file", "cert_file and key_file go together");
    }
    let Some(ca) = ca else {
        if cert.is_some() {
            p.add(
                "peers.ca_file",
                "required with peers.cert_file: the CA of the peers' certificates",
            );
        }
        return None;
    };
    readable(&[("peers.ca_file", &ca)], p);
    for (k, f) in [("peers.cert_file", &cert), ("peers.key_file", &key)] {
        if let Some(f) = f {
            readable(&[(k, f)], p);
        }
    }
    Some(crate::protocol::TlsOptions {
        // The cluster CA is the authentication: peers are often named by IP address.
        mode: crate::protocol::TlsMode::VerifyCa,
        ca_file: Some(ca),
        cert_file: cert,
        key_file: key,
        ..crate::protocol::TlsOptions::default()
    })
}

/// `[serve]` (see [`ServeSettings`]); `None` without the table or with problems (reported).
fn parse_serve(t: Option<&toml::Table>, p: &mut Problems) -> Option<ServeSettings> {
    let t = t?;
    let mut ss = Section::new(Some(t), "serve");
    let user = ss.string("user", p);
    let password_file = ss.path("password_file", p);
    let cert = ss.path("tls_cert", p);
    let key = ss.path("tls_key", p);
    let listen_table = table(ss.get("listen"), "serve.listen", p);
    ss.finish(p);
    let mut listen: Vec<(String, SocketAddr)> = Vec::new();
    for (alias, v) in listen_table.into_iter().flatten() {
        let key = format!("serve.listen.{alias}");
        if let Err(why) = crate::spool::check_alias(alias) {
            p.add(&key, why);
            continue;
        }
        match v.as_str().map(|a| (a, a.parse::<SocketAddr>())) {
            Some((_, Ok(addr))) => {
                if let Some((other, _)) = listen.iter().find(|(_, a)| *a == addr) {
                    p.add(
                        &key,
                        format!("{addr} is already the listen address of {other}"),
                    );
                } else {
                    listen.push((alias.clone(), addr));
                }
            }
            Some((a, Err(_))) => p.add(
                &key,
                format!("{a:?} is not an IP:port address, e.g. 127.0.0.1:3307"),
            ),
            None => p.add(&key, "expected \"IP:port\""),
        }
    }
    if listen.is_empty() {
        p.add(
            "serve.listen",
            "required in [serve]: one `alias = \"IP:port\"` per cluster whose spool is served",
        );
    }
    let user = user.filter(|u| !u.is_empty()).or_else(|| {
        p.add(
            "serve.user",
            "required in [serve]: the user replicas connect as",
        );
        None
    });
    let password = match password_file {
        Some(f) => secret_file(&f)
            .map_err(|e| p.add("serve.password_file", e))
            .ok(),
        None => {
            p.add(
                "serve.password_file",
                "required in [serve]: a 0600 file whose first line is the password replicas give",
            );
            None
        }
    };
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => {
            readable(&[("serve.tls_cert", &cert), ("serve.tls_key", &key)], p);
            Some(crate::serve::TlsFiles { cert, key })
        }
        (None, None) => None,
        (Some(_), None) => {
            p.add("serve.tls_key", "required with serve.tls_cert");
            None
        }
        (None, Some(_)) => {
            p.add("serve.tls_cert", "required with serve.tls_key");
            None
        }
    };
    if tls.is_none()
        && let Some((alias, addr)) = listen.iter().find(|(_, a)| !a.ip().is_loopback())
    {
        p.add(
            &format!("serve.listen.{alias}"),
            format!(
                "{addr} is not a loopback address: replicas there would receive the spool's \
                 transactions in clear; set serve.tls_cert and serve.tls_key (PEM), or listen on \
                 127.0.0.1"
            ),
        );
    }
    Some(ServeSettings {
        user: user?,
        password: password?,
        tls,
        listen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_file(dir: &Path, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    #[test]
    fn a_good_file_with_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let creds = private_file(dir.path(), "creds", "user=gapfill\npassword=s3cret\n");
        let text = format!(
            "spool_dir = \"{}/spool\"\n[credentials]\nfile = \"{}\"\n\
             [[cluster]]\nalias = \"main\"\nmaster = \"db1:3306\"\nreplicas = [\"db2:3306\"]\n",
            dir.path().display(),
            creds.display()
        );
        let c = DaemonConfig::parse(&text, Path::new("g.toml")).unwrap();
        assert_eq!(c.max_lag, DEFAULT_MAX_LAG);
        assert_eq!(c.retention.keep, DEFAULT_MAX_LAG * 2);
        assert_eq!(c.http.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.clusters[0].replicas, vec!["db2:3306".to_string()]);
        assert_eq!(c.fsync, FsyncPolicy::Interval(Duration::from_secs(1)));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "a secret in Debug output"
        );
    }

    #[test]
    fn window_from_orchestrator_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let orc = dir.path().join("orchestrator.conf.json");
        std::fs::write(
            &orc,
            r#"{"MySQLTopologyUser":"orc","MySQLTopologyPassword":"pw","SlaveBinLogEnableMaxLagSeconds":120}"#,
        )
        .unwrap();
        let text = format!(
            "spool_dir = \"{}\"\n[credentials]\norchestrator_config = \"{}\"\n\
             [orchestrator]\nurl = \"http://127.0.0.1:3000/\"\n",
            dir.path().display(),
            orc.display()
        );
        let c = DaemonConfig::parse(&text, Path::new("g.toml")).unwrap();
        assert_eq!(c.max_lag, Duration::from_secs(120));
        assert_eq!(c.credentials.user, "orc");
        assert_eq!(c.orchestrator.unwrap().url, "http://127.0.0.1:3000");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open-creds");
        std::fs::write(&open, "user=a\npassword=b\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = format!(
            "spool_dir = \"{}\"\nmax_lag = \"5 minutes\"\nlog_format = \"xml\"\nfsync = \"always\"\n\
             [credentials]\nfile = \"{}\"\n\
             [[cluster]]\nalias = \"a/b\"\nmaster = \"db1\"\n\
             [[cluster]]\nmaster = \"db2:3306\"\n\
             [http]\nlisten = \"localhost\"\n\
             [orchestrator]\nurl = \"https://orc:3000\"\npassword_env = \"GAPFILL_TEST_UNSET_VARIABLE\"\n",
            dir.path().display(),
            open.display()
        );
        let err = DaemonConfig::parse(&text, Path::new("/etc/gapfill/gapfill.toml")).unwrap_err();
        let DaemonError::Config { path, problems } = &err else {
            panic!("{err}")
        };
        assert_eq!(path, Path::new("/etc/gapfill/gapfill.toml"));
        let want = [
            "max_lag: ",
            "log_format: ",
            "fsync: unknown key",
            "credentials.file: ",
            "cluster[0].alias: ",
            "cluster[0].master: ",
            "cluster[1].alias: required",
            "http.listen: ",
            "orchestrator.ca_file: required with an https:// url",
            "orchestrator.password_env: ",
        ];
        for w in want {
            assert!(
                problems.iter().any(|p| p.starts_with(w)),
                "missing a problem starting {w:?} in:\n{err}"
            );
        }
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn http_tls_and_peer_tls() {
        let dir = tempfile::tempdir().unwrap();
        let creds = private_file(dir.path(), "creds", "user=gapfill\npassword=s3cret\n");
        let pem = |n: &str| {
            let p = dir.path().join(n);
            std::fs::write(&p, "x").unwrap();
            p.display().to_string()
        };
        let (cert, key, ca) = (pem("cert.pem"), pem("key.pem"), pem("ca.pem"));
        let base = format!(
            "spool_dir = \"{}/spool\"\n[credentials]\nfile = \"{}\"\n\
             [[cluster]]\nalias = \"main\"\nmaster = \"db1:3306\"\n",
            dir.path().display(),
            creds.display()
        );
        let parse =
            |extra: &str| DaemonConfig::parse(&format!("{base}{extra}"), Path::new("g.toml"));
        // Client certificates of the cluster CA authenticate a non-loopback endpoint.
        let c = parse(&format!(
            "[http]\nlisten = \"0.0.0.0:7077\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n\
             client_ca = \"{ca}\"\n[peers]\naddrs = [\"orc2:7077\"]\nca_file = \"{ca}\"\n\
             cert_file = \"{cert}\"\nkey_file = \"{key}\"\n"
        ))
        .unwrap();
        let t = c.http.tls.expect("[http] TLS");
        assert_eq!(t.client_ca.as_deref(), Some(Path::new(&ca)));
        let p = c.peer_tls.expect("[peers] TLS");
        assert_eq!(p.mode, crate::protocol::TlsMode::VerifyCa);
        assert_eq!(p.cert_file.as_deref(), Some(Path::new(&cert)));
        // TLS without client certificates is not authentication: the token is still needed.
        let e = parse(&format!(
            "[http]\nlisten = \"0.0.0.0:7077\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("http.token_file: required"), "{e}");
        let e = parse(&format!(
            "[http]\nclient_ca = \"{ca}\"\n[peers]\ncert_file = \"{cert}\"\n"
        ))
        .unwrap_err()
        .to_string();
        for want in [
            "http.client_ca: needs http.tls_cert",
            "peers.cert_file: cert_file and key_file go together",
            "peers.ca_file: required with peers.cert_file",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
    }

    #[test]
    fn serve_section() {
        let dir = tempfile::tempdir().unwrap();
        let creds = private_file(dir.path(), "creds", "user=gapfill\npassword=s3cret\n");
        let pw = private_file(dir.path(), "serve-pw", "replica-pw\n");
        let base = format!(
            "spool_dir = \"{}/spool\"\n[credentials]\nfile = \"{}\"\n\
             [[cluster]]\nalias = \"main\"\nmaster = \"db1:3306\"\n",
            dir.path().display(),
            creds.display()
        );
        let parse =
            |extra: &str| DaemonConfig::parse(&format!("{base}{extra}"), Path::new("g.toml"));
        assert!(parse("").unwrap().serve.is_none());
        let c = parse(&format!(
            "[serve]\nuser = \"repl\"\npassword_file = \"{}\"\n\
             [serve.listen]\nmain = \"127.0.0.1:3307\"\nother = \"127.0.0.1:3308\"\n",
            pw.display()
        ))
        .unwrap();
        let s = c.serve.expect("[serve]");
        assert_eq!(s.user, "repl");
        assert_eq!(s.password.expose(), "replica-pw");
        assert!(s.tls.is_none());
        assert_eq!(
            s.listen,
            vec![
                ("main".to_string(), "127.0.0.1:3307".parse().unwrap()),
                ("other".to_string(), "127.0.0.1:3308".parse().unwrap()),
            ]
        );
        // Every problem at once: no password file, a bad alias, a shared address, a
        // non-loopback address without TLS, a key nobody reads.
        let e = parse(
            "[serve]\nuser = \"repl\"\nlisten_on = 1\n\
             [serve.listen]\n\"../x\" = \"127.0.0.1:3307\"\na = \"0.0.0.0:3307\"\n\
             b = \"0.0.0.0:3307\"\nc = \"db1\"\n",
        )
        .unwrap_err()
        .to_string();
        for want in [
            "serve.password_file: required",
            "serve.listen.../x: ",
            "serve.listen.b: 0.0.0.0:3307 is already the listen address of a",
            "serve.listen.c: \"db1\" is not an IP:port",
            "serve.listen.a: 0.0.0.0:3307 is not a loopback address",
            "serve.listen_on: unknown key",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        let e = parse("[serve]\nuser = \"repl\"\n").unwrap_err().to_string();
        assert!(e.contains("serve.listen: required"), "{e}");
    }

    #[test]
    fn report_port_defaults_to_the_http_port_and_is_never_zero() {
        let dir = tempfile::tempdir().unwrap();
        let creds = private_file(dir.path(), "creds", "user=gapfill\npassword=s3cret\n");
        let base = format!(
            "spool_dir = \"{}/spool\"\n[credentials]\nfile = \"{}\"\n\
             [[cluster]]\nalias = \"main\"\nmaster = \"db1:3306\"\n",
            dir.path().display(),
            creds.display()
        );
        let c = DaemonConfig::parse(&base, Path::new("g.toml")).unwrap();
        assert!(c.register);
        assert_eq!(c.report_host, None);
        assert_eq!(c.report_port.get(), 7077);
        let c = DaemonConfig::parse(
            &format!("{base}[http]\nlisten = \"127.0.0.2:8123\"\n"),
            Path::new("g.toml"),
        )
        .unwrap();
        assert_eq!(c.report_port.get(), 8123);
        // Not loopback: refused without a token, accepted with one.
        let e = DaemonConfig::parse(
            &format!("{base}[http]\nlisten = \"0.0.0.0:8123\"\n"),
            Path::new("g.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("http.token_file: required when http.listen"),
            "{e}"
        );
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret-token\n").unwrap();
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let c = DaemonConfig::parse(
            &format!(
                "{base}[http]\nlisten = \"0.0.0.0:8123\"\ntoken_file = \"{}\"\n",
                token.display()
            ),
            Path::new("g.toml"),
        )
        .unwrap();
        assert!(c.http.token.is_some());
        let c = DaemonConfig::parse(
            &format!(
                "{base}[capture]\nreport_host = \"orc1.example.com\"\nreport_port = 3307\nregister = false\n"
            ),
            Path::new("g.toml"),
        )
        .unwrap();
        assert!(!c.register);
        assert_eq!(c.report_host.as_deref(), Some("orc1.example.com"));
        assert_eq!(c.report_port.get(), 3307);
        for bad in [
            "report_port = 0",
            "report_port = 70000",
            "report_port = \"x\"",
            "report_host = \"\"",
        ] {
            let err =
                DaemonConfig::parse(&format!("{base}[capture]\n{bad}\n"), Path::new("g.toml"))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("capture.report_"), "{bad}: {err}");
        }
        assert_eq!(
            DaemonConfig::parse(&base, Path::new("g.toml"))
                .unwrap()
                .semi_sync_ack,
            SemiSyncAck::Durable
        );
        let c = DaemonConfig::parse(
            &format!("{base}[capture]\nsemi_sync = true\nsemi_sync_ack = \"received\"\n"),
            Path::new("g.toml"),
        )
        .unwrap();
        assert_eq!(c.semi_sync_ack, SemiSyncAck::Received);
        let err = DaemonConfig::parse(
            &format!("{base}[capture]\nsemi_sync_ack = \"fsynced\"\n"),
            Path::new("g.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("capture.semi_sync_ack") && err.contains("\"durable\" or \"received\""),
            "{err}"
        );
    }

    #[test]
    fn ssl_keys_as_mysql_names_them_old_tls_keys_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let creds = private_file(dir.path(), "creds", "user=gapfill\npassword=s3cret\n");
        let ca = private_file(dir.path(), "ca.pem", "x");
        let base = format!(
            "spool_dir = \"{}/spool\"\n[credentials]\nfile = \"{}\"\n\
             [[cluster]]\nalias = \"main\"\nmaster = \"db1:3306\"\n[capture]\n",
            dir.path().display(),
            creds.display()
        );
        let ca = ca.display();
        let c = DaemonConfig::parse(
            &format!("{base}ssl_mode = \"required\"\nssl_ca = \"{ca}\"\n"),
            Path::new("g.toml"),
        )
        .unwrap();
        assert_eq!(c.tls, TlsMode::Required);
        assert!(c.tls_ca.is_some());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = DaemonConfig::parse(&format!("{base}ssl_ca = \"{ca}\"\n"), Path::new("g.toml"))
            .unwrap();
        assert_eq!(c.tls, TlsMode::VerifyCa);
        let c = DaemonConfig::parse(
            &format!("{base}tls_mode = \"disabled\"\ntls_ca = \"{ca}\"\n"),
            Path::new("g.toml"),
        )
        .unwrap();
        assert_eq!(c.tls, TlsMode::Disabled);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("capture.ssl_"), "{:?}", c.warnings);
        let c = DaemonConfig::parse(
            &format!("{base}ssl_cert = \"{ca}\"\nssl_key = \"{ca}\"\n"),
            Path::new("g.toml"),
        )
        .unwrap();
        assert!(c.tls_options().cert_file.is_some() && c.tls_options().key_file.is_some());
        let err = DaemonConfig::parse(&format!("{base}ssl_cert = \"{ca}\"\n"), Path::new("g.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("capture.ssl_key: required"), "{err}");
        let err = DaemonConfig::parse(
            &format!("{base}tls_mode = \"disabled\"\nssl_mode = \"required\"\n"),
            Path::new("g.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("capture.tls_mode: is the old name of capture.ssl_mode"),
            "{err}"
        );
    }

    #[test]
    fn toml_syntax_error_names_the_line() {
        let err = DaemonConfig::parse("spool_dir = \n", Path::new("g.toml")).unwrap_err();
        assert!(err.to_string().contains("not valid TOML"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("10G"), Some(10 << 30));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("1000"), Some(1000));
        assert_eq!(parse_bytes("1X"), None);
        assert_eq!(parse_bytes("0"), None);
    }
}
