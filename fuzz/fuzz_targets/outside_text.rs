//! Text gapfill reads from outside: orchestrator's JSON answers (`/api/clusters-info`,
//! `/api/master/<alias>`, `/api/instance/<host>/<port>`) and the daemon's TOML configuration.
//!
//! Input: a selector byte (0: orchestrator JSON, 1: configuration), then the text.
#![no_main]

use gapfill::daemon::config::DaemonConfig;
use gapfill::daemon::orchestrator::{parse_clusters_info, parse_instance, parse_master};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 1 == 0 {
        let _ = parse_clusters_info(rest);
        let _ = parse_master("alias", rest);
        let _ = parse_instance("h:1", rest);
    } else if let Ok(text) = std::str::from_utf8(rest) {
        // Parsed only: files it names are read (never created) when they exist.
        let _ = DaemonConfig::parse(text, std::path::Path::new("/nonexistent/gapfill.toml"));
    }
});
