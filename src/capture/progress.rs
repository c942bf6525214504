//! Progress of a running capture: counters the loop bumps, and periodic reports (events/s,
//! MB/s, the master's file:pos, lag) computed from them.
//!
//! Sans-IO: the loop feeds it and asks for a [`Progress`] when a report is due; printing the
//! report (stderr for `gapfill capture`, a status endpoint for the daemon) is the caller's.

use crate::spool::TxnGtid;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Since the capture started.
    pub elapsed: Duration,
    /// Events appended to the spool (heartbeats and artificial events not counted).
    pub events: u64,
    pub bytes: u64,
    /// Complete transactions appended.
    pub transactions: u64,
    /// Rates over the interval since the previous report.
    pub events_per_sec: f64,
    pub mb_per_sec: f64,
    /// The master's binlog coordinates after the last event received.
    pub master_file: String,
    pub master_pos: u64,
    /// Now minus the timestamp of the last event appended; zero once a heartbeat said the
    /// master has nothing newer; `None` before the first event.
    pub lag: Option<Duration>,
    /// Sessions started after the first one.
    pub reconnects: u64,
    /// Continuity breaks recorded.
    pub breaks: u64,
    /// Semi-sync ACKs sent.
    pub acks: u64,
    /// fdatasyncs of the spool's segment since the capture started (filled in by the capture
    /// loop from the spool).
    pub fsyncs: u64,
    /// The last transaction appended: its GTID and when the master committed it (µs since
    /// the epoch).
    pub last_gtid: Option<String>,
    pub last_commit_us: Option<u64>,
    /// The current (or last) dump session as the spool records it: liveness, semi-sync,
    /// how it ended. Filled in by the capture loop.
    pub stream: Option<crate::spool::StreamRecord>,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.0} ev/s, {:.2} MB/s, at {}:{}, lag ",
            self.events_per_sec, self.mb_per_sec, self.master_file, self.master_pos
        )?;
        match self.lag {
            Some(l) => write!(f, "{}s", l.as_secs())?,
            None => f.write_str("-")?,
        }
        write!(
            f,
            "; {} events, {} transactions, {:.1} MB in {}s",
            self.events,
            self.transactions,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs()
        )?;
        if self.acks > 0 {
            write!(f, ", {} semi-sync ACKs", self.acks)?;
        }
        if self.fsyncs > 0 {
            write!(f, ", {} fsyncs", self.fsyncs)?;
        }
        if self.reconnects > 0 {
            write!(f, ", {} reconnects", self.reconnects)?;
        }
        if self.breaks > 0 {
            write!(f, ", CONTINUITY BREAKS: {}", self.breaks)?;
        }
        Ok(())
    }
}

/// Counters and the rate baseline.
#[derive(Debug, Clone)]
pub struct ProgressMeter {
    started: Instant,
    events: u64,
    bytes: u64,
    transactions: u64,
    reconnects: u64,
    breaks: u64,
    acks: u64,
    master_file: String,
    master_pos: u64,
    last_event_ts: Option<u32>,
    /// Kept as appended (no formatting per transaction); text only in a report.
    last_gtid: Option<TxnGtid>,
    last_commit_us: Option<u64>,
    caught_up: bool,
    last_report: Instant,
    events_at_report: u64,
    bytes_at_report: u64,
}

impl ProgressMeter {
    pub fn new(now: Instant) -> ProgressMeter {
        ProgressMeter {
            started: now,
            events: 0,
            bytes: 0,
            transactions: 0,
            reconnects: 0,
            breaks: 0,
            acks: 0,
            master_file: String::new(),
            master_pos: 0,
            last_event_ts: None,
            last_gtid: None,
            last_commit_us: None,
            caught_up: false,
            last_report: now,
            events_at_report: 0,
            bytes_at_report: 0,
        }
    }

    /// One event appended; `timestamp` is its header timestamp (seconds since the epoch).
    pub fn event(&mut self, len: usize, timestamp: u32) {
        self.events += 1;
        self.bytes += len as u64;
        if timestamp != 0 {
            self.last_event_ts = Some(timestamp);
        }
        self.caught_up = false;
    }

    /// A transaction completed: its GTID (moved in, not copied) and commit time.
    pub fn transaction(&mut self, gtid: Option<TxnGtid>, commit_us: u64) {
        self.transactions += 1;
        if gtid.is_some() {
            self.last_gtid = gtid;
        }
        self.last_commit_us = Some(commit_us);
    }

    /// A heartbeat: the master had nothing newer to send.
    pub fn heartbeat(&mut self) {
        self.caught_up = true;
    }

    pub fn position(&mut self, file: &[u8], pos: u64) {
        if self.master_file.as_bytes() != file {
            self.master_file = String::from_utf8_lossy(file).into_owned();
        }
        self.master_pos = pos;
    }

    pub fn reconnect(&mut self) {
        self.reconnects += 1;
    }

    pub fn continuity_break(&mut self) {
        self.breaks += 1;
    }

    pub fn ack(&mut self) {
        self.acks += 1;
    }

    pub fn totals(&self) -> (u64, u64, u64) {
        (self.events, self.bytes, self.transactions)
    }

    /// Whether `every` has passed since the last report.
    pub fn due(&self, now: Instant, every: Duration) -> bool {
        now.duration_since(self.last_report) >= every
    }

    /// A report, and the start of the next rate interval.
    pub fn report(&mut self, now: Instant, wall: SystemTime) -> Progress {
        let dt = now.duration_since(self.last_report).as_secs_f64();
        let rate = |d: u64| if dt > 0.0 { d as f64 / dt } else { 0.0 };
        let events_per_sec = rate(self.events - self.events_at_report);
        let mb_per_sec = rate(self.bytes - self.bytes_at_report) / 1e6;
        self.last_report = now;
        self.events_at_report = self.events;
        self.bytes_at_report = self.bytes;
        let lag = if self.caught_up {
            Some(Duration::ZERO)
        } else {
            self.last_event_ts.map(|ts| {
                let now_s = wall
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                Duration::from_secs(now_s.saturating_sub(u64::from(ts)))
            })
        };
        Progress {
            elapsed: now.duration_since(self.started),
            events: self.events,
            bytes: self.bytes,
            transactions: self.transactions,
            events_per_sec,
            mb_per_sec,
            master_file: self.master_file.clone(),
            master_pos: self.master_pos,
            lag,
            reconnects: self.reconnects,
            breaks: self.breaks,
            acks: self.acks,
            fsyncs: 0,
            last_gtid: self.last_gtid.as_ref().map(|g| g.to_string()),
            last_commit_us: self.last_commit_us,
            stream: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_lag_and_text() {
        let t0 = Instant::now();
        let mut m = ProgressMeter::new(t0);
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_010);
        assert_eq!(m.report(t0, wall).lag, None);
        for _ in 0..100 {
            m.event(1000, 1_700_000_000);
        }
        m.transaction(None, 1_700_000_000_000_000);
        m.position(b"binlog.000007", 4242);
        let t1 = t0 + Duration::from_secs(2);
        assert!(m.due(t1, Duration::from_secs(2)));
        let p = m.report(t1, wall);
        assert_eq!(p.events_per_sec, 50.0);
        assert_eq!(p.mb_per_sec, 0.05);
        assert_eq!(p.lag, Some(Duration::from_secs(10)));
        let text = p.to_string();
        assert!(text.starts_with("50 ev/s, 0.05 MB/s, at binlog.000007:4242, lag 10s;"));
        assert!(!text.contains("BREAK"));
        m.heartbeat();
        m.continuity_break();
        let p = m.report(t1 + Duration::from_secs(1), wall);
        assert_eq!(p.events_per_sec, 0.0);
        assert_eq!(p.lag, Some(Duration::ZERO));
        assert!(p.to_string().contains("CONTINUITY BREAKS: 1"));
    }
}
