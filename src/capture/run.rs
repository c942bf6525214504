//! The capture loop: sessions against one master, events into the spool, until stopped.
//!
//! Each session: connect, read the master's state on that connection, [`Spool::begin`] (a
//! fresh spool records its origin; an existing one cuts back to its last complete
//! transaction), ask the master for [`Spool::resume_point`], stream. Every event except
//! heartbeats goes to [`Spool::append`] (it skips the artificial ones after reading the file
//! name from the first ROTATE, opens segments at each FORMAT_DESCRIPTION, and drops what a
//! resumed dump re-sends). Semi-sync ACKs go out only after the spool has synced the event.
//!
//! Policy, in one place: transient faults (network, heartbeat timeout, master shutting down or
//! restarting) reconnect with back-off and resume with no gap and no duplicate; a purged
//! binlog (error 1236) is recorded with [`Spool::record_break`] and, by default, capture goes
//! on from the master's current state as a new origin ([`OnBreak`]); anything else (bad
//! credentials, missing privileges, a duplicate server id, a spool that cannot write) stops
//! with an error. A stop request syncs the spool before returning.
//!
//! Spool calls are synchronous file I/O made from the task: a few microseconds per append, an
//! fsync per commit with `FsyncPolicy::Always`.

use std::time::{Duration, Instant, SystemTime};

use crate::protocol::error::ProtocolError;
use crate::protocol::{Backoff, Connection, EventPacket, ReplicaOptions, ReplicaSession};
use crate::spool::{
    Appended, EndCause, ResumePoint, Seen, SemiSyncFacts, Spool, SpoolConfig, SpoolError,
};

use super::config::{CaptureConfig, OnBreak, SemiSyncAck, StartMode};
use super::error::CaptureError;
use super::master::{MasterState, semisync_facts};
use super::progress::{Progress, ProgressMeter};
use super::shutdown::Shutdown;
use super::start::{cmp_coords, dump_start, fresh_start, master_info, restart_point};

/// Why a capture ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT/SIGTERM or the daemon asked.
    Requested,
    /// The end of the master's binlog (`stop_at_end`).
    EndOfBinlog,
    /// The configured stop position was reached.
    StopPositionReached,
}

/// What a finished capture did.
#[derive(Debug, Clone)]
pub struct CaptureSummary {
    pub stop: StopReason,
    /// The last progress report (totals over the whole run).
    pub progress: Progress,
    /// Where the next capture into this spool will continue.
    pub resume_point: Option<ResumePoint>,
}

/// A session's end, as the reconnect policy sees it.
enum SessionEnd {
    Stop(StopReason),
    /// Reconnect after a back-off. `healthy`: the session ran long enough to reset it.
    Retry {
        error: CaptureError,
        healthy: bool,
    },
    /// The master cannot continue from where the spool ends.
    Break {
        message: String,
    },
    Fatal(CaptureError),
}

/// Server errors that a reconnect can outlive: the master shutting down or restarting, too
/// many connections, our connection killed.
const TRANSIENT_SERVER_CODES: &[u16] = &[
    1040, // ER_CON_COUNT_ERROR
    1053, // ER_SERVER_SHUTDOWN
    1317, // ER_QUERY_INTERRUPTED
    1927, // ER_CONNECTION_KILLED (MariaDB)
    3169, // ER_SESSION_WAS_KILLED
    4031, // ER_CLIENT_INTERACTION_TIMEOUT
];

/// Whether a reconnect may help.
pub fn is_retryable(e: &ProtocolError) -> bool {
    e.is_transient()
        || matches!(e, ProtocolError::Server { code, .. } if TRANSIENT_SERVER_CODES.contains(code))
}

fn classify(addr: &str, e: ProtocolError, healthy: bool) -> SessionEnd {
    match e {
        ProtocolError::ContinuityBreak { message, .. } => SessionEnd::Break { message },
        e if is_retryable(&e) => SessionEnd::Retry {
            error: CaptureError::protocol(addr, e),
            healthy,
        },
        e => SessionEnd::Fatal(CaptureError::protocol(addr, e)),
    }
}

fn capture_error_end(e: CaptureError) -> SessionEnd {
    match e {
        CaptureError::Protocol { addr, source } => classify(&addr, source, false),
        e => SessionEnd::Fatal(e),
    }
}

/// How a session's end reads in the stream record.
fn end_cause(end: &SessionEnd) -> (EndCause, String) {
    match end {
        SessionEnd::Stop(StopReason::Requested) => (
            EndCause::LocalStop,
            "stop requested (signal or daemon)".into(),
        ),
        SessionEnd::Stop(r) => (EndCause::LocalStop, format!("{r:?}")),
        SessionEnd::Break { message } => (EndCause::ContinuityBreak, message.clone()),
        SessionEnd::Fatal(e) => (EndCause::Error, e.to_string()),
        SessionEnd::Retry { error, .. } => match error {
            CaptureError::Protocol { source, .. } => (protocol_end(source), error.to_string()),
            e => (EndCause::Error, e.to_string()),
        },
    }
}

/// Which side ended a stream that failed with `e`.
fn protocol_end(e: &ProtocolError) -> EndCause {
    use std::io::ErrorKind;
    match e {
        ProtocolError::HeartbeatTimeout { .. } => EndCause::HeartbeatTimeout,
        ProtocolError::ConnectionClosed { .. } | ProtocolError::EndOfBinlog => {
            EndCause::ClosedByMaster
        }
        ProtocolError::Io { source, .. } => match source.kind() {
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                EndCause::ResetByMaster
            }
            ErrorKind::UnexpectedEof => EndCause::ClosedByMaster,
            _ => EndCause::Error,
        },
        ProtocolError::Server { code, .. } if TRANSIENT_SERVER_CODES.contains(code) => {
            EndCause::ClosedByMaster
        }
        _ => EndCause::Error,
    }
}

/// Why semi-sync as configured on the master cannot make gapfill a zero-loss witness.
fn semisync_warning(f: &SemiSyncFacts) -> Option<String> {
    if f.enabled == Some(false) || f.enabled.is_none() {
        return Some(
            "semi-sync is not enabled on the master (install the plugin and set \
             rpl_semi_sync_source_enabled=ON)"
                .into(),
        );
    }
    match f.wait_point.as_deref() {
        Some(wp) if !wp.eq_ignore_ascii_case("AFTER_SYNC") => Some(format!(
            "the master waits {wp}; set rpl_semi_sync_source_wait_point=AFTER_SYNC"
        )),
        _ => None,
    }
}

/// The capture of one master into one spool. Create with [`Capture::open`], then
/// [`Capture::run`].
pub struct Capture<'a> {
    cfg: &'a CaptureConfig,
    spool: Spool,
    meter: ProgressMeter,
    shutdown: Shutdown,
    sessions: u64,
    last_retention: Instant,
    /// A semi-sync acknowledgement owed: `(file, position, already durable)`.
    pending_ack: Option<(Vec<u8>, u64, bool)>,
}

impl<'a> Capture<'a> {
    /// Open (and recover) the spool.
    pub fn open(
        cfg: &'a CaptureConfig,
        spool_cfg: SpoolConfig,
        shutdown: Shutdown,
    ) -> Result<Capture<'a>, CaptureError> {
        let dir = spool_cfg.dir.clone();
        let spool = Spool::open(spool_cfg).map_err(|source| CaptureError::Spool {
            dir: dir.clone(),
            source,
        })?;
        let rec = spool.recovery_report();
        for cut in &rec.cuts {
            tracing::warn!(
                segment = %cut.segment.display(),
                from = cut.from,
                to = cut.to,
                reason = %cut.reason,
                "capture: the spool was cut back to its last complete transaction (the rest is fetched again)"
            );
        }
        for idx in &rec.rebuilt_indexes {
            tracing::info!(index = %idx.display(), "capture: spool index rebuilt from its segment");
        }
        let now = Instant::now();
        Ok(Capture {
            cfg,
            spool,
            meter: ProgressMeter::new(now),
            shutdown,
            sessions: 0,
            last_retention: now,
            pending_ack: None,
        })
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    fn spool_err(&self, source: SpoolError) -> CaptureError {
        CaptureError::Spool {
            dir: self.spool.dir().to_path_buf(),
            source,
        }
    }

    /// Capture until stopped; `on_progress` gets a report every `cfg.progress_every`.
    pub async fn run(
        mut self,
        on_progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<CaptureSummary, CaptureError> {
        let cfg = self.cfg;
        let mut backoff = Backoff::new(cfg.reconnect_initial, cfg.reconnect_max);
        let mut failures = 0u32;
        loop {
            if self.shutdown.is_requested() {
                return self.finish(StopReason::Requested);
            }
            match self.session(on_progress).await {
                SessionEnd::Stop(reason) => return self.finish(reason),
                SessionEnd::Retry { error, healthy } => {
                    if healthy {
                        backoff.reset();
                        failures = 0;
                    }
                    failures += 1;
                    if cfg.max_reconnect_attempts.is_some_and(|max| failures > max) {
                        let _ = self.spool.sync();
                        return Err(error);
                    }
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        error = %error,
                        retry_in = ?delay,
                        attempt = failures,
                        "capture: connection to the master lost; reconnecting"
                    );
                    let mut shutdown = self.shutdown.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.requested() => return self.finish(StopReason::Requested),
                    }
                }
                SessionEnd::Break { message } => {
                    self.spool
                        .record_break(&message)
                        .map_err(|e| self.spool_err(e))?;
                    self.meter.continuity_break();
                    tracing::error!(
                        master = %cfg.connect.addr,
                        reason = %message,
                        spool = %self.spool.dir().display(),
                        "CONTINUITY BREAK: the master no longer has the binlog the spool needs \
                         to continue; transactions between the spool's end and the restart are \
                         NOT held and failovers cannot be filled across this point (recorded in \
                         the spool status)"
                    );
                    match cfg.on_break {
                        OnBreak::Stop => {
                            return Err(CaptureError::ContinuityBreak {
                                addr: cfg.connect.addr.clone(),
                                dir: self.spool.dir().to_path_buf(),
                                message,
                            });
                        }
                        OnBreak::NewOrigin => {
                            tracing::warn!(
                                "capture: continuing from the master's current state (a new origin)"
                            );
                            backoff.reset();
                            failures = 0;
                        }
                    }
                }
                SessionEnd::Fatal(e) => {
                    let _ = self.spool.sync();
                    return Err(e);
                }
            }
        }
    }

    fn finish(mut self, stop: StopReason) -> Result<CaptureSummary, CaptureError> {
        self.spool.sync().map_err(|e| self.spool_err(e))?;
        let progress = self.progress(Instant::now());
        tracing::info!(?stop, %progress, "capture: stopped; spool synced");
        Ok(CaptureSummary {
            stop,
            progress,
            resume_point: self.spool.resume_point(),
        })
    }

    /// Connect, read the master's state, begin the spool session and start the dump.
    async fn start_session(&mut self) -> Result<ReplicaSession, SessionEnd> {
        let cfg = self.cfg;
        let addr = cfg.connect.addr.as_str();
        let mut conn = Connection::connect(&cfg.connect)
            .await
            .map_err(|e| classify(addr, e, false))?;
        let state = match MasterState::query_on(&mut conn).await {
            Ok(s) => s,
            Err(e) => {
                conn.close().await;
                return Err(capture_error_end(e));
            }
        };
        let semisync = if cfg.semisync {
            match semisync_facts(&mut conn).await {
                Ok(f) => Some(f),
                Err(e) => {
                    conn.close().await;
                    return Err(capture_error_end(e));
                }
            }
        } else {
            None
        };
        let status = self.spool.status();
        if status.mode != "empty" && cfg.start != StartMode::Auto && self.sessions == 0 {
            tracing::warn!(
                spool = %self.spool.dir().display(),
                "capture: the spool already holds a capture: it resumes where it ends, the given \
                 start (--gtid/--position) applies to a fresh spool only"
            );
        }
        let start = if status.mode == "empty" {
            fresh_start(&cfg.start, &state)
        } else {
            restart_point(status.mode, &state)
        }
        .map_err(SessionEnd::Fatal)?;
        let master = master_info(&state);
        if let Some(prev) = &status.current_master
            && !prev.same_server(&master)
        {
            tracing::warn!(
                previous = %prev.addr,
                previous_uuid = ?prev.server_uuid,
                master = %master.addr,
                uuid = ?master.server_uuid,
                "capture: a different server answers at this address (failover?): the spool starts a new epoch"
            );
        }
        self.spool
            .begin(&master, start)
            .map_err(|e| SessionEnd::Fatal(self.spool_err(e)))?;
        let resume = self.spool.resume_point().ok_or_else(|| {
            SessionEnd::Fatal(self.spool_err(SpoolError::NotBegun {
                what: "resume_point",
            }))
        })?;
        let mut opts = ReplicaOptions::new(cfg.server_id);
        opts.replica_uuid = cfg.replica_uuid.clone();
        opts.register = cfg.register;
        opts.report_host = cfg.report_host.clone();
        opts.report_port = cfg.report_port.get();
        opts.heartbeat_period = cfg.heartbeat_period;
        opts.semisync = cfg.semisync;
        opts.non_blocking = cfg.stop_at_end;
        opts.mariadb_annotate_rows = true;
        opts.start = dump_start(&resume);
        let session = ReplicaSession::start_on(conn, &opts)
            .await
            .map_err(|e| classify(addr, e, false))?;
        if let Some(f) = &semisync
            && let Some(why) = semisync_warning(f)
        {
            tracing::warn!(master = %addr, "capture: semi-sync cannot make this capture a zero-loss witness: {why}");
        }
        self.spool
            .stream_begin(semisync, cfg.semisync_ack == SemiSyncAck::Received)
            .map_err(|e| SessionEnd::Fatal(self.spool_err(e)))?;
        tracing::info!(
            master = %addr,
            version = %state.version,
            server_id = state.server_id,
            from = %resume,
            semisync = cfg.semisync,
            semisync_ack = cfg.semisync_ack.name(),
            "capture: streaming"
        );
        Ok(session)
    }

    async fn session(&mut self, on_progress: &mut (dyn FnMut(&Progress) + Send)) -> SessionEnd {
        let mut shutdown = self.shutdown.clone();
        let started = tokio::select! {
            r = self.start_session() => r,
            _ = shutdown.requested() => return SessionEnd::Stop(StopReason::Requested),
        };
        let mut session = match started {
            Ok(s) => s,
            Err(end) => return end,
        };
        if self.sessions > 0 {
            self.meter.reconnect();
        }
        // An acknowledgement owed to an ended session is moot: the master re-sends.
        self.pending_ack = None;
        self.sessions += 1;
        let began = Instant::now();
        let end = self.stream(&mut session, &mut shutdown, on_progress).await;
        session.close().await;
        let (cause, detail) = end_cause(&end);
        if let Err(e) = self.spool.stream_end(cause, &detail) {
            tracing::warn!(error = %e, "capture: cannot record how the stream ended");
        }
        let report = self.progress(Instant::now());
        on_progress(&report);
        match end {
            SessionEnd::Retry { error, .. } => SessionEnd::Retry {
                error,
                healthy: began.elapsed() >= Duration::from_secs(10),
            },
            end => end,
        }
    }

    async fn stream(
        &mut self,
        session: &mut ReplicaSession,
        shutdown: &mut Shutdown,
        on_progress: &mut (dyn FnMut(&Progress) + Send),
    ) -> SessionEnd {
        let addr = self.cfg.connect.addr.clone();
        loop {
            let next = tokio::select! {
                biased;
                _ = shutdown.requested() => return SessionEnd::Stop(StopReason::Requested),
                r = session.next_event() => r,
            };
            let ev = match next {
                Ok(ev) => ev,
                Err(ProtocolError::EndOfBinlog) if self.cfg.stop_at_end => {
                    return SessionEnd::Stop(StopReason::EndOfBinlog);
                }
                // A blocking dump ends with EOF only when the master ends it (shutdown, or
                // the dump thread killed): reconnect.
                Err(e @ ProtocolError::EndOfBinlog) => {
                    return SessionEnd::Retry {
                        error: CaptureError::protocol(&addr, e),
                        healthy: false,
                    };
                }
                Err(e) => return classify(&addr, e, false),
            };
            if let Err(end) = self.handle(session, &ev).await {
                return end;
            }
            if let Err(end) = self.maybe_enforce_retention() {
                return end;
            }
            if let Some(every) = self.cfg.progress_every {
                let now = Instant::now();
                if self.meter.due(now, every) {
                    let report = self.progress(now);
                    on_progress(&report);
                }
            }
            if let Some((file, pos)) = &self.cfg.stop_at {
                let (f, p) = session.position();
                if cmp_coords(f, p, file.as_bytes(), *pos).is_some_and(|o| o.is_ge()) {
                    return SessionEnd::Stop(StopReason::StopPositionReached);
                }
            }
        }
    }

    /// One event: into the spool, fsync policy, semi-sync ACK, counters.
    async fn handle(
        &mut self,
        session: &mut ReplicaSession,
        ev: &EventPacket,
    ) -> Result<(), SessionEnd> {
        let spool_end = |s: &Self, e: SpoolError| match e {
            // The spool refused a malformed event and stored nothing: fetch it again.
            e @ SpoolError::BadEvent { .. } => SessionEnd::Retry {
                error: s.spool_err(e),
                healthy: false,
            },
            e => SessionEnd::Fatal(s.spool_err(e)),
        };
        let (file, pos) = session.position();
        self.meter.position(file, pos);
        if ev.is_heartbeat() {
            self.meter.heartbeat();
            self.spool.maybe_sync().map_err(|e| spool_end(self, e))?;
            self.spool
                .stream_observe(Seen::Heartbeat, (file, pos))
                .map_err(|e| spool_end(self, e))?;
            return Ok(());
        }
        let appended = self
            .spool
            .append(&ev.event)
            .map_err(|e| spool_end(self, e))?;
        if !ev.is_artificial() {
            self.meter.event(ev.event.len(), ev.timestamp());
        }
        let (file, pos) = session.position();
        let durable = match appended {
            Appended::Commit {
                durable,
                gtid,
                commit_ts_us,
                master_end,
                ..
            } => {
                let text = gtid.as_ref().map(|g| g.to_string());
                self.spool
                    .stream_observe(
                        Seen::Commit {
                            gtid: text.as_deref(),
                            master_end,
                            commit_ts_us,
                            ack_requested: ev.ack_requested,
                        },
                        (file, pos),
                    )
                    .map_err(|e| spool_end(self, e))?;
                self.meter.transaction(gtid, commit_ts_us);
                if !durable {
                    self.spool.maybe_sync().map_err(|e| spool_end(self, e))?;
                }
                durable
            }
            Appended::Partial => {
                if !ev.is_artificial() {
                    self.spool
                        .stream_observe(Seen::Event, (file, pos))
                        .map_err(|e| spool_end(self, e))?;
                }
                false
            }
        };
        if ev.ack_requested {
            let (file, pos) = session.position();
            self.pending_ack = Some((file.to_vec(), pos, durable));
        }
        // Acknowledge once no further event is already here: commits that arrived together
        // share one fsync and one acknowledgement of the last one's position (the master
        // releases every commit up to it).
        if self.pending_ack.is_some() && !session.has_buffered_event() {
            self.acknowledge(session).await?;
        }
        Ok(())
    }

    /// A progress report: the meter's counters, the session as the spool records it, its
    /// fsyncs.
    fn progress(&mut self, now: Instant) -> Progress {
        let mut p = self.meter.report(now, SystemTime::now());
        p.stream = self.spool.stream_last().cloned();
        p.fsyncs = self.spool.fsyncs();
        p
    }

    /// Make the segment durable (unless the acknowledgement promises only that the spool
    /// received it), then acknowledge the last position that asked.
    async fn acknowledge(&mut self, session: &mut ReplicaSession) -> Result<(), SessionEnd> {
        let Some((file, pos, durable)) = self.pending_ack.take() else {
            return Ok(());
        };
        let held = match self.cfg.semisync_ack {
            SemiSyncAck::Durable if !durable => self.spool.sync_data(),
            SemiSyncAck::Durable => Ok(()),
            // Commits are handed to the kernel as they are appended; an event that is not one
            // may still sit in the segment's buffer.
            SemiSyncAck::Received => self.spool.flush(),
        };
        held.map_err(|e| SessionEnd::Fatal(self.spool_err(e)))?;
        session
            .send_semisync_ack(&file, pos)
            .await
            .map_err(|e| classify(&self.cfg.connect.addr, e, false))?;
        self.meter.ack();
        self.spool.stream_acked();
        Ok(())
    }

    /// Drop whole segments older than the retention window, at most once a minute.
    fn maybe_enforce_retention(&mut self) -> Result<(), SessionEnd> {
        if self.cfg.retention.is_none() || self.last_retention.elapsed() < Duration::from_secs(60) {
            return Ok(());
        }
        self.last_retention = Instant::now();
        match self.spool.enforce_retention(SystemTime::now()) {
            Ok(report) => {
                tracing::debug!(?report, "capture: retention applied");
                Ok(())
            }
            Err(e) => Err(SessionEnd::Fatal(self.spool_err(e))),
        }
    }
}

/// Open the spool and capture until stopped: the whole of `gapfill capture`.
pub async fn run(
    cfg: &CaptureConfig,
    shutdown: Shutdown,
    on_progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<CaptureSummary, CaptureError> {
    Capture::open(cfg, cfg.spool_config(), shutdown)?
        .run(on_progress)
        .await
}
