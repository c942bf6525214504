//! Text gapfill reads from outside: orchestrator's JSON answers (`/api/clusters-info`,
//! `/api/master/<alias>`, `/api/instance/<host>/<port>`) and the daemon's TOML configuration.
//!
//! Also a peer daemon's JSON answers (its reach, a stream's promise).
//!
//! Input: a selector byte (0: orchestrator JSON, 1: configuration, 2: a peer's JSON), then the
//! text.
#![no_main]

use gapfill::daemon::config::DaemonConfig;
use gapfill::daemon::orchestrator::{parse_clusters_info, parse_instance, parse_master};
use gapfill::peer::{Promise, Reach};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 3 == 2 {
        // A peer daemon's answers: its reach (JSON body) and a stream's promise (a header),
        // then what a fill does with them: compare reaches.
        let theirs: Result<Reach, _> = serde_json::from_slice(rest);
        let _: Result<Promise, _> = serde_json::from_slice(rest);
        if let Ok(r) = theirs {
            let _ = r.beyond(&r);
            let _ = r.beyond(&Reach {
                mode: "mysql gtid".into(),
                ..r.clone()
            });
            let _ = r.beyond(&Reach {
                mode: "mariadb gtid".into(),
                ..r.clone()
            });
        }
    } else if sel & 1 == 0 {
        let _ = parse_clusters_info(rest);
        let _ = parse_master("alias", rest);
        let _ = parse_instance("h:1", rest);
    } else if let Ok(text) = std::str::from_utf8(rest) {
        // Parsed only: files it names are read (never created) when they exist.
        let _ = DaemonConfig::parse(text, std::path::Path::new("/nonexistent/gapfill.toml"));
    }
});
