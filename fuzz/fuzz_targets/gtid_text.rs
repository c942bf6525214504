//! The GTID text parsers of both flavors on arbitrary text: MySQL `GtidSet::parse` and
//! `Gtid::parse`, MariaDB `MariadbGtid::parse`, `MariadbGtidPos::parse` and
//! `MariadbBinlogState::parse`. Whatever parses must print to text that parses back to the
//! same value (both printed forms of a MySQL set: canonical and `@@gtid_executed`'s).
#![no_main]

use gapfill::binlog::gtid_set::{Gtid, GtidSet};
use gapfill::binlog::mariadb_gtid::{MariadbBinlogState, MariadbGtid, MariadbGtidPos};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();
    if let Ok(set) = GtidSet::parse(s) {
        for text in [set.to_string(), set.to_server_string()] {
            let back = GtidSet::parse(&text)
                .unwrap_or_else(|e| panic!("{s:?} printed as {text:?} does not parse: {e}"));
            assert_eq!(back, set, "{s:?} printed as {text:?}");
        }
        let _ = set.count();
    }
    if let Ok(g) = Gtid::parse(s) {
        let text = g.to_string();
        let back = Gtid::parse(&text)
            .unwrap_or_else(|e| panic!("{s:?} printed as {text:?} does not parse: {e}"));
        assert_eq!(back, g, "{s:?} printed as {text:?}");
    }
    if let Ok(g) = MariadbGtid::parse(s) {
        let text = g.to_string();
        let back = MariadbGtid::parse(&text)
            .unwrap_or_else(|e| panic!("{s:?} printed as {text:?} does not parse: {e}"));
        assert_eq!(back, g, "{s:?} printed as {text:?}");
    }
    if let Ok(p) = MariadbGtidPos::parse(s) {
        let text = p.to_string();
        let back = MariadbGtidPos::parse(&text)
            .unwrap_or_else(|e| panic!("{s:?} printed as {text:?} does not parse: {e}"));
        assert!(back == p, "{s:?} printed as {text:?} reads back as {back}");
    }
    if let Ok(st) = MariadbBinlogState::parse(s) {
        let text = st.to_string();
        let back = MariadbBinlogState::parse(&text)
            .unwrap_or_else(|e| panic!("{s:?} printed as {text:?} does not parse: {e}"));
        assert!(back == st, "{s:?} printed as {text:?} reads back as {back}");
    }
});
