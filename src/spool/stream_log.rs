//! How each capture stream into the spool lived and ended: `streams.json`.
//!
//! Coverage (`coverage.rs`) proves the spool has no hole between its origin and its end; it
//! cannot see whether its end is the master's end. That is this record's job, the raw facts
//! the tail proof at the hook (`fill::tail`) judges: for each dump session, when it connected,
//! what the master said about semi-sync, the last event and the last heartbeat received, the
//! last commit received (and whether the master asked for its acknowledgement), when the
//! master stopped asking (it fell back to asynchronous replication), and how the session ended:
//! closed or reset by the master, heartbeat timeout, a local stop, a local crash (found by the
//! next writer: a session with no end whose writer is gone), an error or a continuity break.
//!
//! Writes: session start and end are written atomically and fsynced; the liveness fields are
//! written atomically at most once a second by [`StreamLog::maybe_persist`] (after the spool
//! handed its segment bytes to the kernel, so a persisted commit is one the spool holds).
//! It keeps the last [`KEEP`] sessions. It does not decide what the facts prove.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::error::SpoolError;
use super::segment::fsync_dir;

pub(crate) const FILE_NAME: &str = "streams.json";
const FORMAT: u32 = 1;
/// Sessions kept in the record.
const KEEP: usize = 32;
/// Liveness fields reach the disk at most this often.
const PERSIST_EVERY: Duration = Duration::from_secs(1);

/// How a dump session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndCause {
    /// The master closed the connection (EOF, its dump thread ended, server shutdown).
    ClosedByMaster,
    /// The connection was reset (the master's host or process went away abruptly).
    ResetByMaster,
    /// Nothing arrived for longer than the heartbeat timeout: the master stopped answering
    /// (or the network between them broke).
    HeartbeatTimeout,
    /// Stopped here: a signal, the daemon stopping or re-pointing the capture, a stop position.
    LocalStop,
    /// The process writing the spool died with the session open (found by the next writer).
    LocalCrash,
    /// The master could not continue the stream from what the spool holds (error 1236).
    ContinuityBreak,
    /// Any other error (protocol, spool, configuration).
    Error,
}

impl EndCause {
    /// The session ended because of the master's side (it died, closed, or went silent).
    pub fn is_master_side(self) -> bool {
        matches!(
            self,
            EndCause::ClosedByMaster | EndCause::ResetByMaster | EndCause::HeartbeatTimeout
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            EndCause::ClosedByMaster => "closed by the master",
            EndCause::ResetByMaster => "reset by the master",
            EndCause::HeartbeatTimeout => "heartbeat timeout (the master stopped answering)",
            EndCause::LocalStop => "stopped locally (signal or daemon)",
            EndCause::LocalCrash => "the capturing process died (crash or SIGKILL)",
            EndCause::ContinuityBreak => "continuity break (the master purged what was needed)",
            EndCause::Error => "error",
        }
    }
}

/// What the master said about semi-sync when the session started (`None` fields: the
/// server did not say, e.g. the plugin is not installed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemiSyncFacts {
    /// `rpl_semi_sync_source_enabled` / `rpl_semi_sync_master_enabled`.
    pub enabled: Option<bool>,
    /// `AFTER_SYNC` or `AFTER_COMMIT`.
    pub wait_point: Option<String>,
    /// How long the master waits for an acknowledgement before falling back to async.
    pub timeout_ms: Option<u64>,
    /// How many acknowledgements a commit waits for (MySQL; MariaDB waits for one).
    pub wait_for_count: Option<u64>,
    /// Semi-sync replicas connected before this one.
    pub other_clients: Option<u64>,
}

/// The semi-sync state of a session, as the stream showed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SemiSyncSeen {
    pub facts: SemiSyncFacts,
    /// Acknowledgements sent.
    pub acks: u64,
    /// Since when every commit asked for an acknowledgement (`None`: the last one did not).
    pub asking_since_us: Option<u64>,
    /// The first time in this session the master stopped asking after it had asked, or an
    /// acknowledgement went out after the master's timeout: from then it may have committed
    /// without waiting.
    pub fell_back_at_us: Option<u64>,
    pub fallback: Option<String>,
    /// Acknowledgements went out once the events were written to the spool, before an fsync
    /// (`--semi-sync-ack received`); false: after the segment's fsync (records written before
    /// the option existed were all so).
    #[serde(default)]
    pub acks_unsynced: bool,
}

/// The last commit a session received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSeen {
    pub gtid: Option<String>,
    pub master_file: String,
    pub master_end: u64,
    pub commit_ts_us: u64,
    pub received_at_us: u64,
    pub ack_requested: bool,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    pub cause: EndCause,
    pub at_us: u64,
    pub detail: String,
}

/// One dump session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// Counts sessions over the spool's life.
    pub session: u64,
    pub epoch: u32,
    /// The master, `host:port` as capture reached it.
    pub master: String,
    pub server_id: u32,
    pub server_uuid: Option<String>,
    pub connected_at_us: u64,
    pub last_event_at_us: Option<u64>,
    pub last_heartbeat_at_us: Option<u64>,
    /// The master's binlog coordinates after the last event or heartbeat received.
    pub master_file: String,
    pub master_pos: u64,
    pub last_commit: Option<CommitSeen>,
    /// Commits received in this session.
    pub commits: u64,
    /// `Some` when the session asked the master for semi-sync.
    pub semisync: Option<SemiSyncSeen>,
    pub end: Option<StreamEnd>,
}

impl StreamRecord {
    /// The latest sign of life: last event, heartbeat, or the connection itself.
    pub fn last_seen_us(&self) -> u64 {
        self.last_event_at_us
            .max(self.last_heartbeat_at_us)
            .unwrap_or(0)
            .max(self.connected_at_us)
    }

    /// Whether this session makes a loss impossible right now, and why (not): gapfill is
    /// the semi-sync acknowledger of a master that waits AFTER_SYNC for it and asks for
    /// acknowledgements.
    pub fn zero_loss(&self) -> (bool, String) {
        if let Some(end) = &self.end {
            return (
                false,
                format!("the stream is not connected ({})", end.cause.describe()),
            );
        }
        let Some(ss) = &self.semisync else {
            return (
                false,
                "asynchronous capture: transactions the master commits but has not sent yet \
                 can be lost (run with semi-sync)"
                    .into(),
            );
        };
        if ss.facts.enabled == Some(false) {
            return (
                false,
                "semi-sync is not enabled on the master (rpl_semi_sync_source_enabled=OFF)".into(),
            );
        }
        if let Some(wp) = ss.facts.wait_point.as_deref()
            && !wp.eq_ignore_ascii_case("AFTER_SYNC")
        {
            return (
                false,
                format!(
                    "the master waits {wp}: other sessions see a transaction before gapfill \
                     acknowledged it (set rpl_semi_sync_source_wait_point=AFTER_SYNC)"
                ),
            );
        }
        if let Some(why) = self.shared_acker() {
            return (false, why);
        }
        if ss.asking_since_us.is_none() {
            return (
                false,
                match &ss.fallback {
                    Some(f) => format!("the master is not asking for acknowledgements: {f}"),
                    None => "the master has not asked for an acknowledgement yet (catching up, \
                             or no commit since connecting)"
                        .into(),
                },
            );
        }
        let when = if ss.acks_unsynced {
            "once written to the spool, before its fsync (--semi-sync-ack received: a crash of \
             this host together with the master's may lose the last acknowledged commits)"
        } else {
            "once fsynced in the spool"
        };
        (
            true,
            format!("gapfill acknowledges every commit (semi-sync AFTER_SYNC) {when}"),
        )
    }

    /// Why another acknowledger could stand in for gapfill, if it can.
    pub fn shared_acker(&self) -> Option<String> {
        let ss = self.semisync.as_ref()?;
        let others = ss.facts.other_clients.unwrap_or(0);
        let needed = ss.facts.wait_for_count.unwrap_or(1);
        (others >= needed).then(|| {
            format!(
                "{others} other semi-sync replica(s) were connected and the master waits for \
                 {needed} acknowledgement(s): a commit need not wait for gapfill"
            )
        })
    }
}

/// What capture saw in one packet, for [`StreamLog::observe`].
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    Heartbeat,
    /// An event that did not complete a transaction.
    Event,
    /// An event that completed a transaction.
    Commit {
        gtid: Option<&'a str>,
        master_end: u64,
        commit_ts_us: u64,
        ack_requested: bool,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FileJson {
    format: u32,
    sessions: VecDeque<StreamRecord>,
}

/// The record of the spool's sessions, in memory and in `streams.json`.
#[derive(Debug)]
pub struct StreamLog {
    path: PathBuf,
    sessions: VecDeque<StreamRecord>,
    dirty: bool,
    last_persist: Instant,
}

/// `µs since the epoch` as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(us: u64) -> String {
    let secs = (us / 1_000_000) as i64;
    let (y, m, d) = crate::decode::text::civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// µs since the Unix epoch, now.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl StreamLog {
    /// The sessions recorded in `dir` (empty when none were). A damaged file reads as empty
    /// with a warning: it is evidence, never needed to read the spool.
    pub fn read(dir: &Path) -> Vec<StreamRecord> {
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<FileJson>(&bytes) {
                Ok(f) if f.format == FORMAT => f.sessions.into(),
                Ok(f) => {
                    tracing::warn!(path = %path.display(), format = f.format, "spool: stream record of another format ignored");
                    Vec::new()
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "spool: stream record unreadable; ignored");
                    Vec::new()
                }
            },
            Err(_) => Vec::new(),
        }
    }

    /// Load the record for the writer of `dir`. The writer holds the spool's lock, so a
    /// session left without an end belonged to a process that died: it ended by a crash at
    /// its last sign of life.
    pub(crate) fn open_for_writer(dir: &Path) -> Result<StreamLog, SpoolError> {
        let mut log = StreamLog {
            path: dir.join(FILE_NAME),
            sessions: StreamLog::read(dir).into(),
            dirty: false,
            last_persist: Instant::now(),
        };
        if let Some(last) = log.sessions.back_mut()
            && last.end.is_none()
        {
            last.end = Some(StreamEnd {
                cause: EndCause::LocalCrash,
                at_us: last.last_seen_us(),
                detail: "the process capturing this stream stopped without recording an end".into(),
            });
            log.persist(true)?;
        }
        Ok(log)
    }

    pub fn sessions(&self) -> &VecDeque<StreamRecord> {
        &self.sessions
    }

    /// The session being streamed (no end yet).
    pub fn current(&self) -> Option<&StreamRecord> {
        self.sessions.back().filter(|s| s.end.is_none())
    }

    /// A new session connected; durable when this returns.
    pub(crate) fn begin(
        &mut self,
        epoch: u32,
        master: &super::MasterInfo,
        semisync: Option<SemiSyncFacts>,
        acks_unsynced: bool,
        at: (String, u64),
    ) -> Result<(), SpoolError> {
        let now = now_us();
        if let Some(prev) = self.sessions.back_mut()
            && prev.end.is_none()
        {
            prev.end = Some(StreamEnd {
                cause: EndCause::Error,
                at_us: prev.last_seen_us(),
                detail: "a new session began without the previous one recording its end".into(),
            });
        }
        let session = self.sessions.back().map_or(1, |s| s.session + 1);
        self.sessions.push_back(StreamRecord {
            session,
            epoch,
            master: master.addr.clone(),
            server_id: master.server_id,
            server_uuid: master.server_uuid.clone(),
            connected_at_us: now,
            last_event_at_us: None,
            last_heartbeat_at_us: None,
            master_file: at.0,
            master_pos: at.1,
            last_commit: None,
            commits: 0,
            semisync: semisync.map(|facts| SemiSyncSeen {
                facts,
                acks_unsynced,
                ..SemiSyncSeen::default()
            }),
            end: None,
        });
        while self.sessions.len() > KEEP {
            self.sessions.pop_front();
        }
        self.persist(true)
    }

    /// One packet of the current session, at `now_us`; `pos` is the master's coordinates
    /// after it. Memory only: see [`StreamLog::maybe_persist`].
    pub fn observe(&mut self, seen: Seen<'_>, pos: (&[u8], u64), now_us: u64) {
        let Some(s) = self.sessions.back_mut().filter(|s| s.end.is_none()) else {
            return;
        };
        if s.master_file.as_bytes() != pos.0 {
            s.master_file = String::from_utf8_lossy(pos.0).into_owned();
        }
        s.master_pos = pos.1;
        self.dirty = true;
        match seen {
            Seen::Heartbeat => s.last_heartbeat_at_us = Some(now_us),
            Seen::Event => s.last_event_at_us = Some(now_us),
            Seen::Commit {
                gtid,
                master_end,
                commit_ts_us,
                ack_requested,
            } => {
                s.last_event_at_us = Some(now_us);
                s.commits += 1;
                s.last_commit = Some(CommitSeen {
                    gtid: gtid.map(str::to_string),
                    master_file: s.master_file.clone(),
                    master_end,
                    commit_ts_us,
                    received_at_us: now_us,
                    ack_requested,
                });
                if let Some(ss) = s.semisync.as_mut() {
                    semisync_commit(ss, gtid, commit_ts_us, ack_requested, now_us);
                }
            }
        }
    }

    /// An acknowledgement went out for the current session.
    pub fn acked(&mut self) {
        if let Some(ss) = self
            .sessions
            .back_mut()
            .filter(|s| s.end.is_none())
            .and_then(|s| s.semisync.as_mut())
        {
            ss.acks += 1;
        }
    }

    /// Write the liveness fields if a second has passed since the last write. Call after
    /// the spool's bytes reached the kernel.
    pub fn maybe_persist(&mut self) -> Result<(), SpoolError> {
        if self.dirty && self.last_persist.elapsed() >= PERSIST_EVERY {
            self.persist(false)?;
        }
        Ok(())
    }

    /// The current session ended; durable when this returns. Does nothing without one.
    pub fn end(&mut self, cause: EndCause, detail: &str) -> Result<(), SpoolError> {
        let Some(s) = self.sessions.back_mut().filter(|s| s.end.is_none()) else {
            return Ok(());
        };
        s.end = Some(StreamEnd {
            cause,
            at_us: now_us(),
            detail: detail.to_string(),
        });
        self.persist(true)
    }

    /// Replace the file atomically; `durable` also fsyncs it and its directory.
    fn persist(&mut self, durable: bool) -> Result<(), SpoolError> {
        let tmp = self.path.with_extension("json.tmp");
        let file = FileJson {
            format: FORMAT,
            sessions: self.sessions.clone(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| SpoolError::BadContinuity {
            path: self.path.clone(),
            detail: format!("cannot serialise the stream record: {e}"),
        })?;
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(SpoolError::io("create", &tmp))?;
            f.write_all(&text).map_err(SpoolError::io("write", &tmp))?;
            if durable {
                f.sync_all().map_err(SpoolError::io("fsync", &tmp))?;
            }
        }
        std::fs::rename(&tmp, &self.path)
            .map_err(SpoolError::io("rename into place", &self.path))?;
        if durable && let Some(dir) = self.path.parent() {
            fsync_dir(dir)?;
        }
        self.dirty = false;
        self.last_persist = Instant::now();
        Ok(())
    }
}

/// A commit of a semi-sync session: did the master wait for us?
fn semisync_commit(
    ss: &mut SemiSyncSeen,
    gtid: Option<&str>,
    commit_ts_us: u64,
    ack_requested: bool,
    now_us: u64,
) {
    let what = || gtid.map_or_else(|| "a transaction".to_string(), |g| g.to_string());
    if ack_requested {
        if ss.asking_since_us.is_none() {
            ss.asking_since_us = Some(now_us);
        }
        // Received after the master's timeout: it may have given up waiting and committed
        // on without us. The commit time is the master's clock: skew shows as lateness,
        // which errs on the safe side.
        if let Some(t) = ss.facts.timeout_ms
            && commit_ts_us > 0
            && now_us.saturating_sub(commit_ts_us) > t.saturating_mul(1000)
        {
            ss.asking_since_us = None;
            if ss.fell_back_at_us.is_none() {
                ss.fell_back_at_us = Some(now_us);
                ss.fallback = Some(format!(
                    "{} was received {} ms after its commit, past the master's semi-sync \
                     timeout of {t} ms: the master may have committed on without waiting",
                    what(),
                    now_us.saturating_sub(commit_ts_us) / 1000
                ));
            }
        }
    } else if ss.asking_since_us.take().is_some() && ss.fell_back_at_us.is_none() {
        ss.fell_back_at_us = Some(now_us);
        ss.fallback = Some(format!(
            "the master committed {} without asking for an acknowledgement: it fell back to \
             asynchronous replication",
            what()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::Flavor;
    use crate::spool::MasterInfo;

    fn master() -> MasterInfo {
        MasterInfo {
            addr: "m:3306".into(),
            server_id: 1,
            server_uuid: None,
            flavor: Flavor::MySql,
        }
    }

    fn commit(gtid: &str, ts: u64, ack: bool) -> Seen<'_> {
        Seen::Commit {
            gtid: Some(gtid),
            master_end: 100,
            commit_ts_us: ts,
            ack_requested: ack,
        }
    }

    fn facts() -> SemiSyncFacts {
        SemiSyncFacts {
            enabled: Some(true),
            wait_point: Some("AFTER_SYNC".into()),
            timeout_ms: Some(1000),
            wait_for_count: Some(1),
            other_clients: Some(0),
        }
    }

    #[test]
    fn a_crashed_writer_is_found_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = StreamLog::open_for_writer(dir.path()).unwrap();
        log.begin(1, &master(), None, false, ("b.1".into(), 4))
            .unwrap();
        let t = now_us() + 5_000_000;
        log.observe(Seen::Heartbeat, (b"b.1", 500), t);
        log.persist(false).unwrap();
        drop(log);
        // No end recorded: the next writer calls it a crash at the last sign of life.
        let log = StreamLog::open_for_writer(dir.path()).unwrap();
        let end = log.sessions()[0].end.clone().unwrap();
        assert_eq!(end.cause, EndCause::LocalCrash);
        assert_eq!(end.at_us, t);
        assert_eq!(StreamLog::read(dir.path())[0].end, Some(end));
    }

    #[test]
    fn semisync_gauge_and_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = StreamLog::open_for_writer(dir.path()).unwrap();
        log.begin(1, &master(), Some(facts()), false, ("b.1".into(), 4))
            .unwrap();
        // Catching up: no ACK asked yet, no fallback either.
        log.observe(commit("u:1", 1_000_000, false), (b"b.1", 10), 1_000_100);
        let cur = log.current().unwrap();
        assert!(!cur.zero_loss().0);
        assert_eq!(cur.semisync.as_ref().unwrap().fell_back_at_us, None);
        log.observe(commit("u:2", 2_000_000, true), (b"b.1", 20), 2_000_100);
        assert!(log.current().unwrap().zero_loss().0, "asking: guaranteed");
        // The master stops asking: a fallback, sticky for the session.
        log.observe(commit("u:3", 3_000_000, false), (b"b.1", 30), 3_000_100);
        let ss = log.current().unwrap().semisync.clone().unwrap();
        assert_eq!(ss.fell_back_at_us, Some(3_000_100));
        assert!(ss.fallback.unwrap().contains("u:3"));
        assert!(!log.current().unwrap().zero_loss().0);
        log.observe(commit("u:4", 4_000_000, true), (b"b.1", 40), 4_000_100);
        let cur = log.current().unwrap();
        assert!(cur.zero_loss().0, "asking again");
        assert_eq!(
            cur.semisync.as_ref().unwrap().fell_back_at_us,
            Some(3_000_100)
        );
    }

    #[test]
    fn a_late_ack_is_a_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = StreamLog::open_for_writer(dir.path()).unwrap();
        log.begin(1, &master(), Some(facts()), false, ("b.1".into(), 4))
            .unwrap();
        log.observe(commit("u:1", 1_000_000, true), (b"b.1", 10), 1_000_100);
        assert!(log.current().unwrap().zero_loss().0);
        // Received 5 s after its commit with a 1 s timeout (gapfill was paused).
        log.observe(commit("u:2", 2_000_000, true), (b"b.1", 20), 7_000_000);
        let cur = log.current().unwrap();
        assert!(!cur.zero_loss().0);
        assert!(
            cur.semisync
                .as_ref()
                .unwrap()
                .fallback
                .as_ref()
                .unwrap()
                .contains("timeout")
        );
    }

    #[test]
    fn not_guaranteed_without_after_sync_or_alone() {
        let mut r = StreamRecord {
            session: 1,
            epoch: 1,
            master: "m:1".into(),
            server_id: 1,
            server_uuid: None,
            connected_at_us: 1,
            last_event_at_us: None,
            last_heartbeat_at_us: None,
            master_file: String::new(),
            master_pos: 4,
            last_commit: None,
            commits: 0,
            semisync: Some(SemiSyncSeen {
                facts: facts(),
                asking_since_us: Some(5),
                ..SemiSyncSeen::default()
            }),
            end: None,
        };
        assert!(r.zero_loss().0);
        assert!(r.zero_loss().1.ends_with("once fsynced in the spool"));
        r.semisync.as_mut().unwrap().acks_unsynced = true;
        let (guaranteed, why) = r.zero_loss();
        assert!(guaranteed && why.contains("before its fsync"), "{why}");
        r.semisync.as_mut().unwrap().acks_unsynced = false;
        r.semisync.as_mut().unwrap().facts.other_clients = Some(1);
        assert!(r.zero_loss().1.contains("other semi-sync"));
        r.semisync.as_mut().unwrap().facts.wait_for_count = Some(2);
        assert!(
            r.zero_loss().0,
            "two ACKs needed, one other replica: ours is needed"
        );
        r.semisync.as_mut().unwrap().facts.wait_point = Some("AFTER_COMMIT".into());
        assert!(r.zero_loss().1.contains("AFTER_COMMIT"));
        r.semisync = None;
        assert!(r.zero_loss().1.contains("asynchronous"));
        r.end = Some(StreamEnd {
            cause: EndCause::LocalStop,
            at_us: 9,
            detail: String::new(),
        });
        assert!(!r.zero_loss().0);
    }
}
