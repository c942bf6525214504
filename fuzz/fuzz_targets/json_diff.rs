//! PARTIAL_UPDATE_ROWS JSON diff lists: `json_diffs`, `write_json_diff_text` and
//! `write_json_diff_sql` on arbitrary bytes.
#![no_main]

use gapfill::binlog::json_diff::{json_diffs, write_json_diff_sql, write_json_diff_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for d in json_diffs(data) {
        match d {
            Ok(d) => {
                let _ = d.function_name();
            }
            Err(_) => break,
        }
    }
    let mut s = String::new();
    let _ = write_json_diff_text(data, "@1", &mut s);
    s.clear();
    let _ = write_json_diff_sql(data, "`doc`", " ", &mut s);
});
