//! QUERY events: `StatusVars::parse` on the whole input, and `QueryEvent::parse` /
//! `parse_compressed` with the post-header length taken from the first byte.
#![no_main]

use gapfill::binlog::query::{QueryEvent, StatusVars};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = StatusVars::parse(data);
    if let Some((&phl, body)) = data.split_first() {
        // Servers write 13; the other values reach the short and long post-header branches.
        let phl = [13, 11, 0, 19, 13, 13, 255, 14][(phl & 7) as usize];
        if let Ok(q) = QueryEvent::parse(body, phl) {
            let _ = (q.is_begin(), q.is_commit(), q.is_rollback());
        }
        let _ = QueryEvent::parse_compressed(body, phl);
    }
});
