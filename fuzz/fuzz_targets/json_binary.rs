//! MySQL's binary JSON: `write_json_text`, `write_json_text_unquoted` and `json_type` on
//! arbitrary bytes (the first byte is the type, as in a JSON column value).
#![no_main]

use gapfill::binlog::json_binary::{json_type, write_json_text, write_json_text_unquoted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = String::new();
    let _ = write_json_text(data, &mut s);
    s.clear();
    let _ = write_json_text_unquoted(data, &mut s);
    let _ = json_type(data);
});
