//! What the daemon knows about each cluster right now: the registry the cluster tasks write
//! and the HTTP endpoints read, and the JSON shape of `/status`.
//!
//! Cluster tasks feed it from the capture's progress reports and the spool status they read
//! when they open the spool; nothing here opens a spool or talks to a server. Reads take a
//! snapshot under a short lock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::capture::Progress;
use crate::spool::SpoolStatus;

/// What a cluster's capture is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureState {
    /// Opening the spool, connecting for the first time.
    Starting,
    Capturing,
    /// The master is not answering; the capture retries with back-off.
    Reconnecting,
    /// A new master lacks transactions the spool holds: `gapfill fill` has not given them to
    /// it yet, so the capture cannot continue by GTID.
    WaitingForFill,
    /// Something a retry alone may not fix (see the message); the task keeps retrying.
    Error,
    Stopped,
}

impl CaptureState {
    pub fn name(self) -> &'static str {
        match self {
            CaptureState::Starting => "starting",
            CaptureState::Capturing => "capturing",
            CaptureState::Reconnecting => "reconnecting",
            CaptureState::WaitingForFill => "waiting-for-fill",
            CaptureState::Error => "error",
            CaptureState::Stopped => "stopped",
        }
    }

    pub const ALL: [CaptureState; 6] = [
        CaptureState::Starting,
        CaptureState::Capturing,
        CaptureState::Reconnecting,
        CaptureState::WaitingForFill,
        CaptureState::Error,
        CaptureState::Stopped,
    ];
}

/// A replica of the cluster and its last recorded position (see `replicas`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaBrief {
    pub replica: String,
    /// `None` when the last attempt succeeded (or the replica is no longer listed and only
    /// its record is shown).
    pub error: Option<String>,
    /// What `replica-positions.json` holds for it: where it last stood on its source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<crate::spool::replica_positions::ReplicaPosition>,
}

/// One cluster as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub alias: String,
    pub master: String,
    pub state: CaptureState,
    pub message: Option<String>,
    /// How the spool proves continuity: "mysql gtid", "mariadb gtid", "position", "empty".
    pub mode: String,
    pub epoch: Option<u32>,
    /// The last transaction held when the spool was opened (the capture does not report
    /// GTIDs as it goes).
    pub last_gtid: Option<String>,
    /// The master's binlog coordinates after the last event received.
    pub master_file: Option<String>,
    pub master_pos: Option<u64>,
    pub capture_lag_seconds: Option<f64>,
    pub bytes_held: u64,
    pub transactions_held: u64,
    /// Commit time of the oldest and newest transaction held, unix seconds.
    pub window_oldest_unix: Option<u64>,
    pub window_newest_unix: Option<u64>,
    pub window_seconds: Option<u64>,
    pub semi_sync: bool,
    pub semisync_acks: u64,
    /// Breaks recorded in the spool.
    pub continuity_breaks: u64,
    /// Since the daemon started.
    pub bytes_captured: u64,
    pub transactions_captured: u64,
    pub events_captured: u64,
    pub reconnects: u64,
    pub replicas: Vec<ReplicaBrief>,
    /// The capture session as the spool records it: connected since, last event and
    /// heartbeat, semi-sync, how it ended.
    #[serde(default)]
    pub stream: Option<crate::spool::StreamRecord>,
    /// 1 only while gapfill is the semi-sync acknowledger (AFTER_SYNC) of a master that asks
    /// for acknowledgements: no commit can be lost now. `zero_loss_reason` says why (not).
    #[serde(default)]
    pub zero_loss_guaranteed: bool,
    #[serde(default)]
    pub zero_loss_reason: String,
    /// `[serve]`: where this cluster's spool is served to replicas, or why not yet.
    #[serde(default)]
    pub serve: Option<String>,
}

/// Where the cluster list comes from and whether that source answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DiscoveryStatus {
    /// "static", "orchestrator" or "static+orchestrator".
    pub source: String,
    pub orchestrator_url: Option<String>,
    /// Whether the last refresh from orchestrator worked.
    pub orchestrator_ok: Option<bool>,
    pub orchestrator_error: Option<String>,
    pub last_refresh_unix: Option<u64>,
    /// Questions orchestrator's answers leave open (two masters for one alias, a new master
    /// not confirmed yet); the current master is held meanwhile.
    #[serde(default)]
    pub unsettled: Vec<String>,
}

/// The whole `/status` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub uptime_seconds: u64,
    pub discovery: DiscoveryStatus,
    pub clusters: Vec<ClusterStatus>,
}

struct Entry {
    status: ClusterStatus,
    last_progress: Option<Instant>,
    /// Counters of earlier capture runs (a run's progress starts from zero).
    carry: (u64, u64, u64, u64, u64),
    /// Held at the start of the current run.
    base_held: (u64, u64),
    /// The epoch the current run starts once it streams (a new master: one more).
    pending_epoch: Option<u32>,
}

struct Inner {
    clusters: BTreeMap<String, Entry>,
    discovery: DiscoveryStatus,
}

/// Shared between the cluster tasks, discovery and the HTTP server. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
    started: Instant,
    /// A capture with no progress report for this long shows as reconnecting.
    stall_after: Duration,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Registry {
    pub fn new(stall_after: Duration) -> Registry {
        Registry {
            inner: Arc::new(Mutex::new(Inner {
                clusters: BTreeMap::new(),
                discovery: DiscoveryStatus::default(),
            })),
            started: Instant::now(),
            stall_after,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    fn with_cluster(&self, alias: &str, f: impl FnOnce(&mut Entry)) {
        self.with(|i| {
            if let Some(e) = i.clusters.get_mut(alias) {
                f(e)
            }
        })
    }

    /// A cluster starts being followed.
    pub fn add(&self, alias: &str, master: &str, semi_sync: bool) {
        self.with(|i| {
            let e = i
                .clusters
                .entry(alias.to_string())
                .or_insert_with(|| Entry {
                    status: ClusterStatus {
                        alias: alias.to_string(),
                        master: master.to_string(),
                        state: CaptureState::Starting,
                        message: None,
                        mode: "empty".into(),
                        epoch: None,
                        last_gtid: None,
                        master_file: None,
                        master_pos: None,
                        capture_lag_seconds: None,
                        bytes_held: 0,
                        transactions_held: 0,
                        window_oldest_unix: None,
                        window_newest_unix: None,
                        window_seconds: None,
                        semi_sync,
                        semisync_acks: 0,
                        continuity_breaks: 0,
                        bytes_captured: 0,
                        transactions_captured: 0,
                        events_captured: 0,
                        reconnects: 0,
                        replicas: Vec::new(),
                        stream: None,
                        zero_loss_guaranteed: false,
                        zero_loss_reason: "not capturing yet".into(),
                        serve: None,
                    },
                    last_progress: None,
                    carry: (0, 0, 0, 0, 0),
                    base_held: (0, 0),
                    pending_epoch: None,
                });
            e.status.master = master.to_string();
        })
    }

    pub fn remove(&self, alias: &str) {
        self.with(|i| i.clusters.remove(alias));
    }

    pub fn set_state(&self, alias: &str, state: CaptureState, message: Option<String>) {
        self.with_cluster(alias, |e| {
            e.status.state = state;
            e.status.message = message;
            if state != CaptureState::Capturing {
                e.last_progress = None;
            }
        });
    }

    /// What `[serve]` does for the cluster (listening where, or waiting for what).
    pub fn set_serve(&self, alias: &str, what: String) {
        self.with_cluster(alias, |e| e.status.serve = Some(what));
    }

    pub fn set_master(&self, alias: &str, master: &str) {
        self.with_cluster(alias, |e| e.status.master = master.to_string());
    }

    /// What the spool held when a capture run opened it; counters of the previous run are
    /// carried over. `master`: the address this run follows (another one starts an epoch).
    pub fn spool_opened(&self, alias: &str, s: &SpoolStatus, master: &str) {
        self.with_cluster(alias, |e| {
            let last = s.epochs.last().map(|e| e.id);
            e.pending_epoch = match (&s.current_master, last) {
                (Some(m), Some(id)) if m.addr != master => Some(id + 1),
                (None, _) => Some(1),
                _ => None,
            };
            let st = &mut e.status;
            e.carry = (
                st.bytes_captured,
                st.transactions_captured,
                st.events_captured,
                st.reconnects,
                st.semisync_acks,
            );
            e.base_held = (s.bytes, s.txns);
            st.mode = s.mode.to_string();
            st.epoch = s.epochs.last().map(|e| e.id);
            st.last_gtid = s
                .last
                .as_ref()
                .and_then(|t| t.gtid.as_ref())
                .map(|g| g.to_string());
            if let Some(l) = &s.last {
                st.master_file = Some(l.master_file.clone());
                st.master_pos = Some(l.master_end);
            }
            st.bytes_held = s.bytes;
            st.transactions_held = s.txns;
            st.window_oldest_unix = s.first.as_ref().map(|t| t.commit_ts_us / 1_000_000);
            st.window_newest_unix = s.last.as_ref().map(|t| t.commit_ts_us / 1_000_000);
            st.window_seconds = match (st.window_oldest_unix, st.window_newest_unix) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            };
            st.continuity_breaks = s.breaks.len() as u64;
        });
    }

    /// A progress report of the running capture.
    pub fn progress(&self, alias: &str, p: &Progress) {
        self.with_cluster(alias, |e| {
            e.last_progress = Some(Instant::now());
            if let Some(id) = e.pending_epoch.take() {
                e.status.epoch = Some(id);
            }
            let st = &mut e.status;
            let (b, t, ev, r, a) = e.carry;
            st.state = CaptureState::Capturing;
            st.message = None;
            st.bytes_captured = b + p.bytes;
            st.transactions_captured = t + p.transactions;
            st.events_captured = ev + p.events;
            st.reconnects = r + p.reconnects;
            st.semisync_acks = a + p.acks;
            st.bytes_held = e.base_held.0 + p.bytes;
            st.transactions_held = e.base_held.1 + p.transactions;
            st.capture_lag_seconds = p.lag.map(|l| l.as_secs_f64());
            if !p.master_file.is_empty() {
                st.master_file = Some(p.master_file.clone());
                st.master_pos = Some(p.master_pos);
            }
            if p.last_gtid.is_some() {
                st.last_gtid = p.last_gtid.clone();
            }
            if let Some(stream) = &p.stream {
                (st.zero_loss_guaranteed, st.zero_loss_reason) = stream.zero_loss();
                st.stream = Some(stream.clone());
            }
            if p.transactions > 0 || p.lag == Some(Duration::ZERO) {
                // Caught up or moving: the newest commit is now minus the lag.
                let newest = unix_now().saturating_sub(p.lag.map_or(0, |l| l.as_secs()));
                if p.transactions > 0 {
                    st.window_newest_unix = Some(newest);
                    st.window_oldest_unix.get_or_insert(newest);
                }
            }
            st.window_seconds = match (st.window_oldest_unix, st.window_newest_unix) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            };
        });
    }

    /// A capture run ended and recorded breaks (or the spool was reopened).
    pub fn set_breaks(&self, alias: &str, n: u64) {
        self.with_cluster(alias, |e| e.status.continuity_breaks = n);
    }

    pub fn replicas(&self, alias: &str, list: Vec<ReplicaBrief>) {
        self.with_cluster(alias, |e| e.status.replicas = list);
    }

    pub fn discovery(&self, f: impl FnOnce(&mut DiscoveryStatus)) {
        self.with(|i| f(&mut i.discovery));
    }

    /// The `/status` answer, with stalled captures shown as reconnecting.
    pub fn snapshot(&self) -> StatusReport {
        let stall = self.stall_after;
        self.with(|i| StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_seconds: self.started.elapsed().as_secs(),
            discovery: i.discovery.clone(),
            clusters: i
                .clusters
                .values()
                .map(|e| {
                    let mut s = e.status.clone();
                    if s.state == CaptureState::Capturing
                        && e.last_progress.is_some_and(|t| t.elapsed() > stall)
                    {
                        s.state = CaptureState::Reconnecting;
                        s.message = Some(format!(
                            "no event or heartbeat from the master for {}s",
                            e.last_progress.map_or(0, |t| t.elapsed().as_secs())
                        ));
                    }
                    s
                })
                .collect(),
        })
    }
}

impl ClusterStatus {
    /// The live guarantee, only while capturing (a stopped or failing capture guarantees
    /// nothing whatever its last session said).
    pub fn zero_loss(&self) -> bool {
        self.zero_loss_guaranteed && self.state == CaptureState::Capturing
    }

    /// Whether `/healthz` counts this cluster as healthy.
    pub fn healthy(&self) -> bool {
        matches!(self.state, CaptureState::Capturing | CaptureState::Starting)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn progress_counts_carry_over_runs_and_stalls_show() {
        let r = Registry::new(Duration::from_millis(50));
        r.add("c1", "m:3306", false);
        let mut p = Progress {
            elapsed: Duration::from_secs(1),
            events: 10,
            bytes: 1000,
            transactions: 2,
            events_per_sec: 0.0,
            mb_per_sec: 0.0,
            master_file: "binlog.000001".into(),
            master_pos: 500,
            lag: Some(Duration::ZERO),
            reconnects: 1,
            breaks: 0,
            acks: 0,
            fsyncs: 0,
            last_gtid: Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:7".into()),
            last_commit_us: Some(1_700_000_000_000_000),
            stream: None,
        };
        r.progress("c1", &p);
        let s = &r.snapshot().clusters[0];
        assert_eq!(s.state, CaptureState::Capturing);
        assert_eq!(
            s.last_gtid.as_deref(),
            Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:7"),
            "the status names the last transaction captured"
        );
        assert_eq!((s.bytes_captured, s.transactions_captured), (1000, 2));
        // A new run starts its counters at zero: the registry carries the old ones.
        r.set_state("c1", CaptureState::Reconnecting, Some("x".into()));
        r.spool_opened("c1", &empty_status(), "m:3306");
        p.bytes = 10;
        p.transactions = 1;
        p.reconnects = 0;
        r.progress("c1", &p);
        let s = &r.snapshot().clusters[0];
        assert_eq!(
            (s.bytes_captured, s.transactions_captured, s.reconnects),
            (1010, 3, 1)
        );
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(r.snapshot().clusters[0].state, CaptureState::Reconnecting);
    }

    pub(crate) fn empty_status() -> SpoolStatus {
        SpoolStatus {
            dir: "/x".into(),
            mode: "empty",
            origin: None,
            epochs: vec![],
            current_master: None,
            first: None,
            last: None,
            txns: 0,
            bytes: 0,
            segments: 0,
            breaks: vec![],
            resume_point: None,
        }
    }
}
