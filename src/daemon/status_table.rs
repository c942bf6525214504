//! `gapfill status`: fetch a running daemon's `/status` and print it as a table for people
//! (or the JSON as is).
//!
//! Rendering is pure ([`render_table`]); [`fetch`] is one GET. It reads no spool.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::DaemonError;
use super::http_client;
use super::state::StatusReport;

/// The daemon's `/status` body, as text.
pub async fn fetch(
    addr: &str,
    token: Option<&str>,
    tls: Option<&crate::protocol::TlsOptions>,
) -> Result<String, DaemonError> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let (status, body) = http_client::get(
        addr,
        "/status",
        auth.as_deref(),
        tls,
        Duration::from_secs(5),
    )
    .await?;
    if status != 200 {
        return Err(DaemonError::Http {
            url: format!("http://{addr}/status"),
            detail: format!(
                "HTTP {status}{}",
                if status == 401 {
                    " (give --token-file)"
                } else {
                    ""
                }
            ),
        });
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn age(unix: Option<u64>, now: u64) -> String {
    match unix {
        Some(t) => human(now.saturating_sub(t)),
        None => "-".into(),
    }
}

fn human(s: u64) -> String {
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn bytes(b: u64) -> String {
    match b {
        0..1024 => format!("{b}B"),
        1024..1_048_576 => format!("{:.1}K", b as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.1}M", b as f64 / 1_048_576.0),
        _ => format!("{:.1}G", b as f64 / 1_073_741_824.0),
    }
}

/// The table: one line per cluster, then the messages of clusters that have one.
pub fn render_table(r: &StatusReport, now_unix: u64) -> String {
    let head = [
        "CLUSTER", "MASTER", "STATE", "EPOCH", "POSITION", "LAG", "HELD", "TXNS", "WINDOW",
        "NEWEST", "BREAKS",
    ];
    let mut rows: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    for c in &r.clusters {
        rows.push(vec![
            c.alias.clone(),
            c.master.clone(),
            c.state.name().to_string(),
            c.epoch.map_or("-".into(), |e| e.to_string()),
            match (&c.master_file, c.master_pos) {
                (Some(f), Some(p)) => format!("{f}:{p}"),
                _ => "-".into(),
            },
            c.capture_lag_seconds
                .map_or("-".into(), |l| human(l.round() as u64)),
            bytes(c.bytes_held),
            c.transactions_held.to_string(),
            c.window_seconds.map_or("-".into(), human),
            age(c.window_newest_unix, now_unix),
            c.continuity_breaks.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..head.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    for c in &r.clusters {
        if let Some(m) = &c.message {
            let _ = writeln!(out, "{}: {m}", c.alias);
        }
        if let Some(g) = &c.last_gtid {
            let _ = writeln!(out, "{}: last GTID captured {g}", c.alias);
        }
        if let Some(s) = &c.stream {
            let line = match &s.end {
                None => format!(
                    "stream connected since {}, last event or heartbeat {}",
                    crate::spool::stream_log::utc(s.connected_at_us),
                    age(Some(s.last_seen_us() / 1_000_000), now_unix)
                ),
                Some(e) => format!(
                    "stream ended {} ({}): {}",
                    crate::spool::stream_log::utc(e.at_us),
                    e.cause.describe(),
                    e.detail
                ),
            };
            let _ = writeln!(out, "{}: {line}", c.alias);
        }
        let _ = writeln!(
            out,
            "{}: zero loss {}: {}",
            c.alias,
            if c.zero_loss() {
                "GUARANTEED"
            } else {
                "not guaranteed"
            },
            c.zero_loss_reason
        );
        if let Some(s) = &c.serve {
            let _ = writeln!(out, "{}: {s}", c.alias);
        }
        for rep in c.replicas.iter().filter(|r| r.error.is_some()) {
            let _ = writeln!(
                out,
                "{}: replica {}: {}",
                c.alias,
                rep.replica,
                rep.error.as_deref().unwrap_or("")
            );
        }
    }
    match (r.discovery.orchestrator_ok, &r.discovery.orchestrator_url) {
        (Some(false), Some(u)) => {
            let _ = writeln!(
                out,
                "orchestrator {u} UNREACHABLE ({}): following the last known clusters",
                r.discovery.orchestrator_error.as_deref().unwrap_or("")
            );
        }
        (Some(true), Some(u)) => {
            let _ = writeln!(
                out,
                "orchestrator {u}: ok, refreshed {} ago",
                age(r.discovery.last_refresh_unix, now_unix)
            );
        }
        _ => {}
    }
    for q in &r.discovery.unsettled {
        let _ = writeln!(out, "UNSETTLED {q}");
    }
    let _ = writeln!(out, "gapfill {} up {}", r.version, human(r.uptime_seconds));
    out
}

/// Seconds since the epoch, for [`render_table`].
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_for_people() {
        let r = crate::daemon::metrics::tests::sample();
        let t = render_table(&r, 1_700_000_310);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("CLUSTER  "), "{t}");
        assert!(lines[0].contains("STATE"));
        let row = lines[1];
        for cell in [
            "main\"1",
            "db1:3306",
            "waiting-for-fill",
            "binlog.000003:1234",
            "1.0M",
            "100",
            "5m",
            "10s",
        ] {
            assert!(row.contains(cell), "{cell} missing in {row:?}");
        }
        // Columns line up.
        assert_eq!(lines[0].find("MASTER"), row.find("db1:3306"));
        assert!(t.contains("main\"1: the new master lacks 3 transactions"));
        assert!(
            t.contains("UNSETTLED cluster main: orchestrator names 2 masters"),
            "{t}"
        );
        assert!(
            t.contains("orchestrator http://orc:3000 UNREACHABLE (no answer)"),
            "{t}"
        );
    }
}
