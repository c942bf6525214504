//! The tail proof: did the spool see the dead master's last commit?
//!
//! Coverage proves the spool has no hole from its origin to its end; this proves (or says it
//! cannot) that its end is the master's end. Owns the judgement, a pure function of facts
//! gathered elsewhere: the stream record of the session that followed the failed master
//! (`spool::stream_log`), whether a process still writes the spool, orchestrator's last view
//! of the master and what witnesses hold beyond what gapfill can supply (`witness`). One of:
//!
//! * [`TailProof::SemiSync`]: gapfill was the semi-sync acknowledger (AFTER_SYNC, its
//!   acknowledgement needed), the master asked for every commit's acknowledgement and never
//!   fell back while the stream lived, and the stream ended with the master: no client was
//!   told of a commit gapfill does not hold;
//! * [`TailProof::LiveStream`]: the stream was connected until the master closed it or
//!   stopped answering at its failure: best effort, what the master's dump thread had not
//!   sent yet can be missing;
//! * [`TailProof::NotProven`]: the stream had ended before (a local stop, a crash, an error),
//!   orchestrator saw the master alive after the stream ended, the master fell back to async
//!   while gapfill was its semi-sync acknowledger, or a witness holds transactions gapfill
//!   cannot supply (named).

use serde::Serialize;

use crate::spool::{EndCause, StreamRecord};

/// Slack between orchestrator's second-resolution `LastSeenTimestamp` and the stream's end.
const LAST_SEEN_SLACK_US: u64 = 2_000_000;

/// Which proof holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TailProof {
    SemiSync,
    LiveStream,
    NotProven,
}

impl TailProof {
    pub fn is_proven(self) -> bool {
        self != TailProof::NotProven
    }
}

/// What one witness showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WitnessView {
    /// `orchestrator`, `replica host:port`, `peer host:port`.
    pub source: String,
    /// Transactions (GTIDs) or a binlog end it holds that gapfill cannot supply.
    pub beyond: Option<String>,
    /// How many transactions `beyond` names, when countable.
    pub beyond_count: Option<u64>,
    /// Could not be asked, and why.
    pub error: Option<String>,
}

/// The facts the judgement needs.
#[derive(Debug, Clone, Default)]
pub struct TailFacts {
    /// The failed master, `host:port`.
    pub failed: String,
    /// The session that followed the failed master, the best of this node's and the peer's
    /// whose transactions were pulled; `None`: no record.
    pub stream: Option<StreamRecord>,
    /// Where the stream record came from (`this node` or `peer H:P`).
    pub stream_source: String,
    /// A process writes this node's spool now (daemon or capture running).
    pub writer_alive: bool,
    /// orchestrator's `LastSeenTimestamp` of the failed master, µs.
    pub master_last_seen_us: Option<u64>,
    pub witnesses: Vec<WitnessView>,
    /// The last transaction gapfill can supply (spool or peer), for the message.
    pub last_held: Option<String>,
}

/// The tail proof as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TailReport {
    pub proof: TailProof,
    /// One sentence for people.
    pub summary: String,
    /// Why the stronger proofs do not hold.
    pub notes: Vec<String>,
    pub stream_source: String,
    pub stream: Option<StreamRecord>,
    /// When the stream ended (µs) and how.
    pub stream_end_us: Option<u64>,
    pub stream_end: Option<EndCause>,
    /// When the master failed, as far as anyone saw (µs): orchestrator's last sight of it,
    /// else the stream's end when the master ended it.
    pub master_failed_us: Option<u64>,
    pub witnesses: Vec<WitnessView>,
    /// Transactions a witness holds beyond what gapfill can supply.
    pub missing: Option<String>,
    pub missing_count: Option<u64>,
}

pub use crate::spool::stream_log::utc;

/// Judge the tail. Pure: the same facts always give the same answer.
pub fn judge(f: &TailFacts) -> TailReport {
    let mut notes = Vec::new();
    let mut report = TailReport {
        proof: TailProof::NotProven,
        summary: String::new(),
        notes: Vec::new(),
        stream_source: f.stream_source.clone(),
        stream: f.stream.clone(),
        stream_end_us: None,
        stream_end: None,
        master_failed_us: f.master_last_seen_us,
        witnesses: f.witnesses.clone(),
        missing: None,
        missing_count: None,
    };
    let beyond: Vec<&WitnessView> = f.witnesses.iter().filter(|w| w.beyond.is_some()).collect();
    if !beyond.is_empty() {
        report.missing = Some(
            beyond
                .iter()
                .map(|w| format!("{} ({})", w.beyond.as_deref().unwrap_or(""), w.source))
                .collect::<Vec<_>>()
                .join("; "),
        );
        report.missing_count = beyond.iter().filter_map(|w| w.beyond_count).max();
    }
    let Some(s) = &f.stream else {
        report.summary = format!(
            "tail not proven: no record of how the capture of {} ended (a spool written by an \
             older gapfill, or never streamed)",
            f.failed
        );
        report.notes = notes;
        return with_witnesses(report, &beyond);
    };
    let (cause, end_us, detail) = match &s.end {
        Some(e) => (e.cause, e.at_us, e.detail.clone()),
        None if f.writer_alive => {
            report.summary = format!(
                "tail not proven: the capture is still connected to {} (last sign of life {}): \
                 the master may still be committing",
                f.failed,
                utc(s.last_seen_us())
            );
            report.notes = notes;
            return with_witnesses(report, &beyond);
        }
        None => (
            EndCause::LocalCrash,
            s.last_seen_us(),
            "the capturing process died without recording an end".to_string(),
        ),
    };
    report.stream_end_us = Some(end_us);
    report.stream_end = Some(cause);
    if cause.is_master_side() && report.master_failed_us.is_none() {
        report.master_failed_us = Some(end_us);
    }
    let failed_at = report
        .master_failed_us
        .map_or_else(|| "an unknown time".to_string(), utc);
    if !cause.is_master_side() {
        report.summary = format!(
            "tail not proven: capture ended at {} by {} ({detail}) before the master failed \
             (at {failed_at}): what it committed after that is not held",
            utc(end_us),
            cause.describe()
        );
        report.notes = notes;
        return with_witnesses(report, &beyond);
    }
    if let Some(seen) = f.master_last_seen_us
        && seen > end_us + LAST_SEEN_SLACK_US
    {
        report.summary = format!(
            "tail not proven: orchestrator saw {} alive at {}, {} s after the capture's stream \
             ended ({}, {}): a partition or a stall, not the master's failure",
            f.failed,
            utc(seen),
            (seen - end_us) / 1_000_000,
            utc(end_us),
            cause.describe()
        );
        report.notes = notes;
        return with_witnesses(report, &beyond);
    }
    if let Some(why) = s.semisync.as_ref().and_then(|x| x.fallback.as_ref()) {
        report.summary = format!(
            "tail not proven: gapfill was to acknowledge {} by semi-sync, but {why}: commits \
             after that did not wait for gapfill",
            f.failed
        );
        report.notes = notes;
        return with_witnesses(report, &beyond);
    }
    let semisync = semisync_proof(s, &mut notes);
    report.proof = if semisync {
        TailProof::SemiSync
    } else {
        TailProof::LiveStream
    };
    report.summary = match report.proof {
        TailProof::SemiSync => format!(
            "tail proven (semi-sync): every commit of {} waited for gapfill's acknowledgement \
             ({} acknowledged in the last session) until the stream ended at {} ({})",
            f.failed,
            s.semisync.as_ref().map_or(0, |x| x.acks),
            utc(end_us),
            cause.describe()
        ),
        _ => format!(
            "tail proven (live stream, best effort): the capture stayed connected to {} until \
             it ended at {} ({}); transactions the master committed but its dump thread had \
             not sent yet would be missing",
            f.failed,
            utc(end_us),
            cause.describe()
        ),
    };
    report.notes = notes;
    with_witnesses(report, &beyond)
}

/// A witness beyond what gapfill holds overrides any proof.
fn with_witnesses(mut r: TailReport, beyond: &[&WitnessView]) -> TailReport {
    if beyond.is_empty() {
        return r;
    }
    if r.proof.is_proven() {
        r.notes.push(format!("would have been: {}", r.summary));
    }
    r.proof = TailProof::NotProven;
    r.summary = format!(
        "tail not proven: {} holds transactions of the dead master that gapfill cannot supply: \
         {}",
        beyond
            .iter()
            .map(|w| w.source.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        r.missing.as_deref().unwrap_or("")
    );
    r
}

/// Whether the session proves semi-sync; notes say why not.
fn semisync_proof(s: &StreamRecord, notes: &mut Vec<String>) -> bool {
    let Some(ss) = &s.semisync else {
        notes.push("asynchronous capture (no semi-sync)".into());
        return false;
    };
    let mut ok = true;
    if ss.facts.enabled != Some(true) {
        notes.push("semi-sync was not enabled on the master".into());
        ok = false;
    }
    match ss.facts.wait_point.as_deref() {
        Some(wp) if wp.eq_ignore_ascii_case("AFTER_SYNC") => {}
        Some(wp) => {
            notes.push(format!("the master waited {wp}, not AFTER_SYNC"));
            ok = false;
        }
        None => {
            notes.push("the master's semi-sync wait point is unknown".into());
            ok = false;
        }
    }
    if let Some(why) = s.shared_acker() {
        notes.push(why);
        ok = false;
    }
    if let Some(f) = &ss.fallback {
        notes.push(f.clone());
        ok = false;
    } else if ss.asking_since_us.is_none() {
        notes.push(
            "the master never asked this session for an acknowledgement (it had not caught up, \
             or committed nothing)"
                .into(),
        );
        ok = false;
    }
    ok
}

/// Pick the session that followed `failed`: the latest one reached at that address, else
/// the latest one of all (noted by the caller).
pub fn session_for<'a>(sessions: &'a [StreamRecord], failed: &str) -> Option<&'a StreamRecord> {
    sessions
        .iter()
        .rev()
        .find(|s| s.master == failed)
        .or_else(|| sessions.last())
}

/// Which of two sessions speaks better for the tail: one ended by the master over one that
/// was not, then the later end.
pub fn better<'a>(a: &'a StreamRecord, b: &'a StreamRecord) -> &'a StreamRecord {
    let rank = |s: &StreamRecord| {
        (
            s.end.as_ref().is_some_and(|e| e.cause.is_master_side()),
            s.end.as_ref().map_or(s.last_seen_us(), |e| e.at_us),
        )
    };
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::stream_log::{SemiSyncFacts, SemiSyncSeen, StreamEnd};

    fn stream(end: Option<(EndCause, u64)>) -> StreamRecord {
        StreamRecord {
            session: 3,
            epoch: 1,
            master: "m:3306".into(),
            server_id: 1,
            server_uuid: None,
            connected_at_us: 1_000_000,
            last_event_at_us: Some(9_000_000),
            last_heartbeat_at_us: Some(9_500_000),
            master_file: "binlog.000001".into(),
            master_pos: 5000,
            last_commit: None,
            commits: 10,
            semisync: None,
            end: end.map(|(cause, at_us)| StreamEnd {
                cause,
                at_us,
                detail: "d".into(),
            }),
        }
    }

    fn facts(s: Option<StreamRecord>) -> TailFacts {
        TailFacts {
            failed: "m:3306".into(),
            stream: s,
            stream_source: "this node".into(),
            ..TailFacts::default()
        }
    }

    fn semisync(asking: bool, fallback: Option<&str>) -> Option<SemiSyncSeen> {
        Some(SemiSyncSeen {
            facts: SemiSyncFacts {
                enabled: Some(true),
                wait_point: Some("AFTER_SYNC".into()),
                timeout_ms: Some(10_000),
                wait_for_count: Some(1),
                other_clients: Some(0),
            },
            acks: 5,
            asking_since_us: asking.then_some(2_000_000),
            fell_back_at_us: fallback.map(|_| 3_000_000),
            fallback: fallback.map(str::to_string),
            acks_unsynced: false,
        })
    }

    #[test]
    fn a_stream_the_master_ended_is_a_live_stream_proof() {
        for cause in [
            EndCause::ClosedByMaster,
            EndCause::ResetByMaster,
            EndCause::HeartbeatTimeout,
        ] {
            let r = judge(&facts(Some(stream(Some((cause, 10_000_000))))));
            assert_eq!(r.proof, TailProof::LiveStream, "{cause:?}: {}", r.summary);
            assert_eq!(r.master_failed_us, Some(10_000_000));
            assert!(r.summary.contains("best effort"));
        }
    }

    #[test]
    fn a_local_end_is_not_proven() {
        for cause in [
            EndCause::LocalStop,
            EndCause::LocalCrash,
            EndCause::Error,
            EndCause::ContinuityBreak,
        ] {
            let r = judge(&facts(Some(stream(Some((cause, 10_000_000))))));
            assert_eq!(r.proof, TailProof::NotProven, "{cause:?}");
            assert!(r.summary.contains("capture ended at"), "{}", r.summary);
        }
        // No end and nobody writing: the writer died.
        let r = judge(&facts(Some(stream(None))));
        assert_eq!(r.proof, TailProof::NotProven);
        assert_eq!(r.stream_end, Some(EndCause::LocalCrash));
        assert_eq!(r.stream_end_us, Some(9_500_000));
        // No end and the writer alive: still connected, the master may still commit.
        let mut f = facts(Some(stream(None)));
        f.writer_alive = true;
        let r = judge(&f);
        assert_eq!(r.proof, TailProof::NotProven);
        assert!(r.summary.contains("still connected"));
        assert_eq!(judge(&facts(None)).proof, TailProof::NotProven);
    }

    #[test]
    fn semisync_proof_needs_every_condition() {
        let mut s = stream(Some((EndCause::ClosedByMaster, 10_000_000)));
        s.semisync = semisync(true, None);
        let r = judge(&facts(Some(s.clone())));
        assert_eq!(r.proof, TailProof::SemiSync, "{r:?}");
        // The master fell back during the session: commits after it did not wait.
        s.semisync = semisync(false, Some("the master committed u:7 without asking"));
        let r = judge(&facts(Some(s.clone())));
        assert_eq!(r.proof, TailProof::NotProven);
        assert!(r.summary.contains("u:7"), "{}", r.summary);
        // AFTER_COMMIT.
        s.semisync = semisync(true, None);
        s.semisync.as_mut().unwrap().facts.wait_point = Some("AFTER_COMMIT".into());
        assert_eq!(judge(&facts(Some(s.clone()))).proof, TailProof::LiveStream);
        // Another acker could stand in.
        s.semisync = semisync(true, None);
        s.semisync.as_mut().unwrap().facts.other_clients = Some(1);
        assert_eq!(judge(&facts(Some(s.clone()))).proof, TailProof::LiveStream);
        // Semi-sync but the stream ended locally: not proven at all.
        s.semisync = semisync(true, None);
        s.end.as_mut().unwrap().cause = EndCause::LocalStop;
        assert_eq!(judge(&facts(Some(s))).proof, TailProof::NotProven);
    }

    #[test]
    fn orchestrator_seeing_the_master_later_is_a_partition() {
        let mut f = facts(Some(stream(Some((EndCause::HeartbeatTimeout, 10_000_000)))));
        f.master_last_seen_us = Some(11_000_000);
        assert_eq!(judge(&f).proof, TailProof::LiveStream, "within the slack");
        f.master_last_seen_us = Some(30_000_000);
        let r = judge(&f);
        assert_eq!(r.proof, TailProof::NotProven);
        assert!(r.summary.contains("alive"), "{}", r.summary);
        assert_eq!(r.master_failed_us, Some(30_000_000));
    }

    #[test]
    fn a_witness_beyond_overrides_every_proof() {
        let mut s = stream(Some((EndCause::ClosedByMaster, 10_000_000)));
        s.semisync = semisync(true, None);
        let mut f = facts(Some(s));
        f.witnesses = vec![
            WitnessView {
                source: "replica r:1".into(),
                error: Some("unreachable".into()),
                ..WitnessView::default()
            },
            WitnessView {
                source: "orchestrator".into(),
                beyond: Some("u:11-12".into()),
                beyond_count: Some(2),
                error: None,
            },
        ];
        let r = judge(&f);
        assert_eq!(r.proof, TailProof::NotProven);
        assert_eq!(r.missing_count, Some(2));
        assert!(r.summary.contains("u:11-12"), "{}", r.summary);
        assert!(r.notes.iter().any(|n| n.contains("semi-sync")));
    }

    #[test]
    fn the_session_of_the_failed_master_and_the_better_of_two() {
        let mut a = stream(Some((EndCause::LocalStop, 5_000_000)));
        let mut b = stream(Some((EndCause::ClosedByMaster, 4_000_000)));
        b.master = "other:1".into();
        let all = [a.clone(), b.clone()];
        assert_eq!(session_for(&all, "m:3306").unwrap().end, a.end);
        assert_eq!(session_for(&all, "x:9").unwrap().master, "other:1");
        assert_eq!(better(&a, &b).end, b.end, "the master's end wins");
        a.end.as_mut().unwrap().cause = EndCause::ResetByMaster;
        assert_eq!(better(&a, &b).end, a.end, "then the later end");
        assert_eq!(utc(1_795_265_234_000_000), "2026-11-21 12:47:14 UTC");
    }
}
