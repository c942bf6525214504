//! Following one cluster: capture runs against its current master into `spool_dir/<alias>`,
//! restarted on trouble, moved to the new master after a failover.
//!
//! Owns the follow policy. Each run opens the spool, checks whether a NEW master (another
//! server than the spool's current epoch) already has every GTID the spool holds, and only
//! then captures (`OnBreak::Stop`). Right after a failover the promoted replica lacks the gap
//! until `gapfill fill` has run. The server does not reliably say so: MySQL 9.7 accepts a
//! GTID dump whose set holds GTIDs it lacks (it checks only its own server_uuid's) and just
//! never sends them; MariaDB may refuse with error 1236, and a break recorded then would make
//! the fill refuse (an open break). So the task itself compares the spool's GTIDs with the
//! new master's and waits, showing `waiting-for-fill`, polling; this also keeps the capture
//! from writing the spool while the fill reads it. Once `follow_wait` has passed without a
//! fill it reports an error and follows the new master anyway (the transactions the new
//! master lacks stay in the old epoch). A break the server reports (binlogs purged) is
//! recorded by the capture and the next run starts a new origin.
//! It does not choose masters (see `discovery`) nor record replica positions (`replicas`).

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::capture::start::master_info;
use crate::capture::{
    Capture, CaptureConfig, CaptureError, MasterState, OnBreak, Progress, Shutdown,
};
use crate::protocol::{Backoff, ConnectOptions};
use crate::spool::{ResumePoint, SpoolStatus};

use super::config::{ClusterSpec, DaemonConfig};
use super::state::{CaptureState, Registry};

/// How often a waiting task asks the new master again.
const FILL_POLL: Duration = Duration::from_secs(2);

/// The capture configuration of one cluster's master.
pub fn capture_config(cfg: &DaemonConfig, spec: &ClusterSpec) -> CaptureConfig {
    let mut connect = ConnectOptions::new(
        spec.master.clone(),
        cfg.credentials.user.clone(),
        cfg.credentials.password.clone(),
    );
    connect.tls = cfg.tls_options();
    let mut c = CaptureConfig::new(connect, cfg.spool_dir.join(&spec.alias));
    c.register = cfg.register;
    if let Some(h) = &cfg.report_host {
        c.report_host = h.clone();
    }
    c.report_port = cfg.report_port;
    c.semisync = cfg.semi_sync;
    c.semisync_ack = cfg.semi_sync_ack;
    c.fsync = cfg.fsync;
    c.retention = Some(cfg.retention);
    c.heartbeat_period = cfg.heartbeat;
    c.progress_every = Some(Duration::from_secs(1));
    c.on_break = OnBreak::Stop;
    // Return to this task after a few failed reconnects, so status can say why.
    c.reconnect_max = Duration::from_secs(5);
    c.max_reconnect_attempts = Some(5);
    c
}

/// The transactions the spool holds that `master` lacks, as text, when `master` is another
/// server than the one the spool follows now; `None` when following it can start.
pub fn lacking_on_new_master(status: &SpoolStatus, master: &MasterState) -> Option<String> {
    let prev = status.current_master.as_ref()?;
    if prev.same_server(&master_info(master)) {
        return None;
    }
    match status.resume_point.as_ref()? {
        ResumePoint::MySqlGtids(held) => {
            let has = master.gtid_executed.clone().unwrap_or_default();
            let lacking = held.subtract(&has);
            (!lacking.is_empty()).then(|| format!("{} transactions ({lacking})", lacking.count()))
        }
        ResumePoint::MariaDbGtids(held) => {
            let has = master.gtid_binlog_pos.clone().unwrap_or_default();
            let lacking: Vec<String> = held
                .iter()
                .filter(|g| !has.contains(g))
                .map(|g| g.to_string())
                .collect();
            (!lacking.is_empty()).then(|| format!("GTIDs up to {}", lacking.join(",")))
        }
        ResumePoint::FilePos { .. } => None,
    }
}

/// Whether a break message says the master purged what we need (waiting cannot help).
pub fn is_purge(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("purged") || m.contains("could not find first log file")
}

/// One cluster's follow loop.
pub struct Follower {
    pub cfg: Arc<DaemonConfig>,
    pub alias: String,
    pub spec: watch::Receiver<ClusterSpec>,
    /// Stops the task (daemon shutdown or the cluster forgotten).
    pub stop: Shutdown,
    pub registry: Registry,
}

enum Wake {
    Stop,
    MasterChanged,
    Timeout,
}

impl Follower {
    /// Sleep `d`, waking early on a stop or a change of master.
    async fn pause(&mut self, d: Duration, master: &str) -> Wake {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = stop.requested() => Wake::Stop,
            _ = master_change(&mut self.spec, master) => Wake::MasterChanged,
            _ = tokio::time::sleep(d) => Wake::Timeout,
        }
    }

    pub async fn run(mut self) {
        let alias = self.alias.clone();
        let reg = self.registry.clone();
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let mut waiting_since: Option<(String, Instant)> = None;
        let mut on_break = OnBreak::Stop;
        loop {
            if self.stop.is_requested() {
                break;
            }
            let spec = self.spec.borrow_and_update().clone();
            reg.set_master(&alias, &spec.master);
            let mut cfg = capture_config(&self.cfg, &spec);
            cfg.on_break = on_break;
            let (trigger, shutdown) = Shutdown::new();

            // Will this run start a new epoch on a master that lacks what the spool holds?
            let lacking = {
                let capture = match Capture::open(&cfg, cfg.spool_config(), shutdown.clone()) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(cluster = %alias, error = %e, "cannot open the spool");
                        reg.set_state(&alias, CaptureState::Error, Some(e.to_string()));
                        match self.pause(backoff.next_delay(), &spec.master).await {
                            Wake::Stop => break,
                            _ => continue,
                        }
                    }
                };
                let status = capture.spool().status();
                reg.spool_opened(&alias, &status, &spec.master);
                let moved = status
                    .current_master
                    .as_ref()
                    .is_some_and(|m| m.addr != spec.master);
                if moved && status.mode != "position" {
                    drop(capture);
                    match MasterState::query(&cfg.connect).await {
                        Ok(state) => lacking_on_new_master(&status, &state),
                        // Let the capture run report (and retry) an unreachable master.
                        Err(_) => None,
                    }
                } else {
                    None
                }
            };
            let mut gave_up = false;
            if let Some(what) = lacking {
                let since = match &waiting_since {
                    Some((m, t)) if *m == spec.master => *t,
                    _ => {
                        let now = Instant::now();
                        tracing::warn!(
                            cluster = %alias,
                            master = %spec.master,
                            lacking = %what,
                            "the new master lacks transactions the spool holds: waiting for \
                             gapfill fill to give them to it before following it"
                        );
                        waiting_since = Some((spec.master.clone(), now));
                        now
                    }
                };
                let waited = since.elapsed();
                if waited < self.cfg.follow_wait {
                    reg.set_state(
                        &alias,
                        CaptureState::WaitingForFill,
                        Some(format!(
                            "the new master {} lacks {what} that the spool holds: run `gapfill \
                             fill --cluster {alias}` (waiting {}s of follow_wait {}s)",
                            spec.master,
                            waited.as_secs(),
                            self.cfg.follow_wait.as_secs()
                        )),
                    );
                    match self.pause(FILL_POLL, &spec.master).await {
                        Wake::Stop => break,
                        _ => continue,
                    }
                }
                tracing::error!(
                    cluster = %alias,
                    master = %spec.master,
                    lacking = %what,
                    waited_s = waited.as_secs(),
                    "follow_wait passed without a fill: following the new master anyway; the \
                     transactions it lacks stay in the spool's previous epoch and were NOT given \
                     to it"
                );
                gave_up = true;
            }
            if waiting_since.take().is_some() && !gave_up {
                tracing::info!(cluster = %alias, master = %spec.master, "the new master has every transaction the spool holds: following it");
            }

            // Capture until it ends, a stop, or a new master.
            let capture = match Capture::open(&cfg, cfg.spool_config(), shutdown) {
                Ok(c) => c,
                Err(e) => {
                    reg.set_state(&alias, CaptureState::Error, Some(e.to_string()));
                    match self.pause(backoff.next_delay(), &spec.master).await {
                        Wake::Stop => break,
                        _ => continue,
                    }
                }
            };
            let reg2 = reg.clone();
            let alias2 = alias.clone();
            let mut on_progress = move |p: &Progress| reg2.progress(&alias2, p);
            let started = Instant::now();
            let result = {
                let mut run = pin!(capture.run(&mut on_progress));
                let mut stop = self.stop.clone();
                tokio::select! {
                    r = &mut run => r,
                    _ = stop.requested() => { trigger.trigger(); run.await }
                    _ = master_change(&mut self.spec, &spec.master) => {
                        tracing::info!(cluster = %alias, old = %spec.master, "the cluster has a new master: stopping the capture of the old one");
                        trigger.trigger();
                        run.await
                    }
                }
            };
            if started.elapsed() > Duration::from_secs(60) {
                backoff.reset();
            }
            on_break = OnBreak::Stop;
            match result {
                Ok(summary) => {
                    tracing::info!(cluster = %alias, progress = %summary.progress, "capture stopped");
                    continue;
                }
                Err(CaptureError::ContinuityBreak { message, .. }) => {
                    reg.set_state(
                        &alias,
                        CaptureState::Error,
                        Some(format!(
                            "continuity break: {message}; restarting as a new origin"
                        )),
                    );
                    if !is_purge(&message) {
                        tracing::error!(cluster = %alias, %message, "continuity break that is not a purge: restarting as a new origin anyway");
                    }
                    on_break = OnBreak::NewOrigin;
                }
                Err(e) => {
                    let retryable = matches!(&e, CaptureError::Protocol { source, .. } if crate::capture::run::is_retryable(source));
                    let state = if retryable {
                        CaptureState::Reconnecting
                    } else {
                        CaptureState::Error
                    };
                    tracing::warn!(cluster = %alias, error = %e, "capture ended; retrying");
                    reg.set_state(&alias, state, Some(e.to_string()));
                }
            }
            match self.pause(backoff.next_delay(), &spec.master).await {
                Wake::Stop => break,
                _ => continue,
            }
        }
        reg.set_state(&alias, CaptureState::Stopped, None);
    }
}

/// Resolves when the spec names another master than `current` (or its sender is gone, which
/// only happens at shutdown: then it pends forever and the stop wins).
async fn master_change(rx: &mut watch::Receiver<ClusterSpec>, current: &str) {
    loop {
        if rx.borrow_and_update().master != current {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::Flavor;
    use crate::binlog::gtid_set::GtidSet;
    use crate::binlog::mariadb_gtid::MariadbGtidPos;
    use crate::spool::MasterInfo;

    fn mysql_state(uuid: &str, executed: &str) -> MasterState {
        MasterState {
            addr: "new:3306".into(),
            flavor: Flavor::MySql,
            version: "9.7.4".into(),
            server_id: 3,
            server_uuid: Some(uuid.into()),
            gtid_mode: Some("ON".into()),
            gtid_executed: Some(GtidSet::parse(executed).unwrap()),
            gtid_binlog_pos: None,
            binlog_file: "binlog.000001".into(),
            binlog_pos: 4,
        }
    }

    fn status(master: MasterInfo, resume: ResumePoint) -> SpoolStatus {
        let mut s = super::super::state::tests::empty_status();
        s.mode = "mysql gtid";
        s.current_master = Some(master);
        s.resume_point = Some(resume);
        s
    }

    const OLD: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const NEW: &str = "4e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn a_new_master_lacking_the_gap_is_waited_for() {
        let old = MasterInfo {
            addr: "old:3306".into(),
            server_id: 1,
            server_uuid: Some(OLD.into()),
            flavor: Flavor::MySql,
        };
        let s = status(
            old.clone(),
            ResumePoint::MySqlGtids(GtidSet::parse(&format!("{OLD}:1-100")).unwrap()),
        );
        let lacking = lacking_on_new_master(&s, &mysql_state(NEW, &format!("{OLD}:1-90"))).unwrap();
        assert!(lacking.starts_with("10 transactions"), "{lacking}");
        // Filled (and written to since): follow it.
        assert_eq!(
            lacking_on_new_master(&s, &mysql_state(NEW, &format!("{OLD}:1-100,{NEW}:1-3"))),
            None
        );
        // The same server (a restarted master) never waits: the capture resumes as usual.
        assert_eq!(
            lacking_on_new_master(&s, &mysql_state(OLD, &format!("{OLD}:1-90"))),
            None
        );
    }

    #[test]
    fn mariadb_by_domain() {
        let old = MasterInfo {
            addr: "old:3306".into(),
            server_id: 11,
            server_uuid: None,
            flavor: Flavor::MariaDb,
        };
        let mut s = status(
            old,
            ResumePoint::MariaDbGtids(MariadbGtidPos::parse("0-11-50,1-11-7").unwrap()),
        );
        s.mode = "mariadb gtid";
        let mut m = mysql_state(NEW, "");
        m.flavor = Flavor::MariaDb;
        m.server_uuid = None;
        m.server_id = 12;
        m.gtid_executed = None;
        m.gtid_binlog_pos = Some(MariadbGtidPos::parse("0-11-50,1-11-5").unwrap());
        assert_eq!(lacking_on_new_master(&s, &m).unwrap(), "GTIDs up to 1-11-7");
        m.gtid_binlog_pos = Some(MariadbGtidPos::parse("0-12-51,1-11-7").unwrap());
        assert_eq!(lacking_on_new_master(&s, &m), None);
    }

    #[test]
    fn purges() {
        assert!(is_purge(
            "Cannot replicate because the source purged required binary logs."
        ));
        assert!(!is_purge(
            "The replica has more GTIDs than the source has, using the source's SERVER_UUID."
        ));
    }
}
