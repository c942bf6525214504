//! `/metrics`: the status snapshot in Prometheus text format (version 0.0.4), names
//! `gapfill_…`, one series per cluster labelled `cluster="<alias>"`.
//!
//! Pure rendering from a [`StatusReport`]; it keeps no counters of its own.

use std::fmt::Write;

use super::state::{CaptureState, StatusReport};

/// Escape a label value (`\`, `"` and newlines).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(r: &StatusReport) -> String {
    let mut out = String::with_capacity(4096);
    let mut family =
        |name: &str, kind: &str, help: &str, rows: &mut dyn Iterator<Item = (String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in rows {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        };
    let c = &r.clusters;
    let per = |f: &dyn Fn(&super::state::ClusterStatus) -> Option<f64>| -> Vec<(String, f64)> {
        c.iter()
            .filter_map(|s| f(s).map(|v| (format!("cluster=\"{}\"", label(&s.alias)), v)))
            .collect()
    };
    family(
        "gapfill_up",
        "gauge",
        "1 while the daemon runs.",
        &mut std::iter::once((String::new(), 1.0)),
    );
    family(
        "gapfill_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        &mut std::iter::once((String::new(), r.uptime_seconds as f64)),
    );
    if let Some(ok) = r.discovery.orchestrator_ok {
        family(
            "gapfill_orchestrator_up",
            "gauge",
            "1 when the last refresh from orchestrator's API worked.",
            &mut std::iter::once((String::new(), if ok { 1.0 } else { 0.0 })),
        );
    }
    family(
        "gapfill_clusters",
        "gauge",
        "Clusters followed.",
        &mut std::iter::once((String::new(), c.len() as f64)),
    );
    let states: Vec<(String, f64)> = c
        .iter()
        .flat_map(|s| {
            CaptureState::ALL.iter().map(move |st| {
                (
                    format!("cluster=\"{}\",state=\"{}\"", label(&s.alias), st.name()),
                    if s.state == *st { 1.0 } else { 0.0 },
                )
            })
        })
        .collect();
    family(
        "gapfill_cluster_state",
        "gauge",
        "1 for the capture's current state.",
        &mut states.into_iter(),
    );
    family(
        "gapfill_capture_lag_seconds",
        "gauge",
        "Now minus the timestamp of the last event captured (0 when caught up).",
        &mut per(&|s| s.capture_lag_seconds).into_iter(),
    );
    family(
        "gapfill_captured_bytes_total",
        "counter",
        "Binlog bytes captured since the daemon started.",
        &mut per(&|s| Some(s.bytes_captured as f64)).into_iter(),
    );
    family(
        "gapfill_captured_transactions_total",
        "counter",
        "Transactions captured since the daemon started.",
        &mut per(&|s| Some(s.transactions_captured as f64)).into_iter(),
    );
    family(
        "gapfill_captured_events_total",
        "counter",
        "Binlog events captured since the daemon started.",
        &mut per(&|s| Some(s.events_captured as f64)).into_iter(),
    );
    family(
        "gapfill_reconnects_total",
        "counter",
        "Dump sessions started after the first.",
        &mut per(&|s| Some(s.reconnects as f64)).into_iter(),
    );
    family(
        "gapfill_continuity_breaks",
        "gauge",
        "Continuity breaks recorded in the spool.",
        &mut per(&|s| Some(s.continuity_breaks as f64)).into_iter(),
    );
    family(
        "gapfill_semisync_acks_total",
        "counter",
        "Semi-sync ACKs sent since the daemon started.",
        &mut per(&|s| Some(s.semisync_acks as f64)).into_iter(),
    );
    family(
        "gapfill_zero_loss_guaranteed",
        "gauge",
        "1 while gapfill is the semi-sync acknowledger (AFTER_SYNC) of a master that asks for \
         acknowledgements: no commit can be lost; the reason is in /status.",
        &mut per(&|s| Some(if s.zero_loss() { 1.0 } else { 0.0 })).into_iter(),
    );
    family(
        "gapfill_stream_connected",
        "gauge",
        "1 while the capture's dump session is connected to the master.",
        &mut per(&|s| {
            Some(if s.stream.as_ref().is_some_and(|x| x.end.is_none()) {
                1.0
            } else {
                0.0
            })
        })
        .into_iter(),
    );
    family(
        "gapfill_stream_last_seen_seconds",
        "gauge",
        "Unix time of the last event or heartbeat received from the master.",
        &mut per(&|s| s.stream.as_ref().map(|x| x.last_seen_us() as f64 / 1e6)).into_iter(),
    );
    family(
        "gapfill_spool_bytes",
        "gauge",
        "Bytes of segments and indexes held by the spool.",
        &mut per(&|s| Some(s.bytes_held as f64)).into_iter(),
    );
    family(
        "gapfill_spool_transactions",
        "gauge",
        "Transactions held by the spool.",
        &mut per(&|s| Some(s.transactions_held as f64)).into_iter(),
    );
    family(
        "gapfill_window_seconds",
        "gauge",
        "Commit time span of the transactions held (newest minus oldest).",
        &mut per(&|s| s.window_seconds.map(|w| w as f64)).into_iter(),
    );
    family(
        "gapfill_epoch",
        "gauge",
        "The spool's epoch (masters followed, counting from 1).",
        &mut per(&|s| s.epoch.map(f64::from)).into_iter(),
    );
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::daemon::state::{ClusterStatus, DiscoveryStatus};

    pub(crate) fn sample() -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            uptime_seconds: 42,
            discovery: DiscoveryStatus {
                source: "orchestrator".into(),
                orchestrator_url: Some("http://orc:3000".into()),
                orchestrator_ok: Some(false),
                orchestrator_error: Some("no answer".into()),
                last_refresh_unix: None,
                unsettled: vec!["cluster main: orchestrator names 2 masters (db1:3306, db9:3306); still following db1:3306".into()],
            },
            clusters: vec![ClusterStatus {
                alias: "main\"1".into(),
                master: "db1:3306".into(),
                state: CaptureState::WaitingForFill,
                message: Some("the new master lacks 3 transactions".into()),
                mode: "mysql gtid".into(),
                epoch: Some(2),
                last_gtid: Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:100".into()),
                master_file: Some("binlog.000003".into()),
                master_pos: Some(1234),
                capture_lag_seconds: Some(0.0),
                bytes_held: 1_048_576,
                transactions_held: 100,
                window_oldest_unix: Some(1_700_000_000),
                window_newest_unix: Some(1_700_000_300),
                window_seconds: Some(300),
                semi_sync: true,
                semisync_acks: 7,
                continuity_breaks: 0,
                bytes_captured: 2048,
                transactions_captured: 5,
                events_captured: 20,
                reconnects: 1,
                replicas: vec![],
                stream: None,
                zero_loss_guaranteed: true,
                zero_loss_reason: "x".into(),
                serve: None,
            }],
        }
    }

    #[test]
    fn prometheus_text() {
        let t = render(&sample());
        assert!(
            t.contains("# TYPE gapfill_capture_lag_seconds gauge\n"),
            "{t}"
        );
        assert!(
            t.contains("gapfill_capture_lag_seconds{cluster=\"main\\\"1\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("gapfill_captured_bytes_total{cluster=\"main\\\"1\"} 2048\n"),
            "{t}"
        );
        assert!(
            t.contains(
                "gapfill_cluster_state{cluster=\"main\\\"1\",state=\"waiting-for-fill\"} 1\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("gapfill_cluster_state{cluster=\"main\\\"1\",state=\"capturing\"} 0\n"),
            "{t}"
        );
        assert!(t.contains("gapfill_orchestrator_up 0\n"), "{t}");
        assert!(
            t.contains("gapfill_window_seconds{cluster=\"main\\\"1\"} 300\n"),
            "{t}"
        );
        // Every sample line belongs to a declared family.
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(t.contains(&format!("# TYPE {name} ")), "undeclared {name}");
        }
    }
}
