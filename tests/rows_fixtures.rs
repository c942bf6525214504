//! Row decoding against real binlogs: every value of every rows event of every fixture in
//! `tests/fixtures/` is decoded by gapfill and by `mysql_common` (the differential oracle), both
//! are normalised to a canonical string per value, and any difference fails the test. Where
//! `mysql_common` is known to differ from what MySQL itself does, the normalisation documents
//! it (see `theirs`).
//!
//! Also: every prefix of every TABLE_MAP and rows event body is fed to the parsers, which must
//! return `Ok` or `Err` but never panic; and the JSON fixtures are checked against the text
//! MySQL prints for them.

mod common;

use common::oracle::*;
use std::collections::HashMap;
use std::path::Path;

use gapfill::binlog::EventType;
use gapfill::binlog::column_type::ColumnType;
use gapfill::binlog::json_binary::write_json_text;
use gapfill::binlog::json_diff::write_json_diff_text;
use gapfill::binlog::row_decoder::RowDecoder;
use gapfill::binlog::rows_event::RowsEvent;
use gapfill::binlog::table_map::TableMap;
use gapfill::binlog::value::Value;

#[test]
fn differential_against_mysql_common() {
    let mut total_rows = 0;
    let mut total_values = 0;
    let mut failures = Vec::new();
    for path in fixtures() {
        let file = load(&path);
        let (ours, rows) = decode_ours(&file);
        let theirs = decode_theirs(&file);
        total_rows += rows;
        total_values += ours.len();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if ours.len() != theirs.len() {
            failures.push(format!(
                "{name}: {} values ours, {} theirs",
                ours.len(),
                theirs.len()
            ));
        }
        for (a, b) in ours.iter().zip(&theirs) {
            if a != b {
                failures.push(format!("{name}:\n  ours:   {a}\n  theirs: {b}"));
            }
        }
        eprintln!("{name}: {rows} rows, {} values", ours.len());
    }
    eprintln!("total: {total_rows} rows, {total_values} values compared");
    assert!(total_rows > 1500, "fixtures decoded only {total_rows} rows");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}

#[test]
fn every_prefix_of_every_event_body_is_safe() {
    for path in fixtures() {
        let file = load(&path);
        let events = our_events(&file);
        // The Sakila load is 1.4 MB of rows: there every prefix of every TABLE_MAP and of the
        // first 20 rows events is checked, then 200 prefixes of every 10th event.
        let big = file.len() > 1 << 20;
        let mut decoders: HashMap<u64, RowDecoder> = HashMap::new();
        let mut rows_seen = 0usize;
        for ev in &events {
            let phl = ev.post_header_len.unwrap_or(8);
            if ev.event_type == EventType::TableMap {
                for n in 0..ev.body.len() {
                    if let Ok(tm) = TableMap::parse(&ev.body[..n], phl) {
                        let _ = RowDecoder::new(&tm);
                        let _ = tm.column_names().count();
                        let _ = tm.primary_key().count();
                        for i in 0..tm.column_count {
                            let _ = (tm.charset(i), tm.is_unsigned(i), tm.is_visible(i));
                            let _ = (tm.enum_values(i), tm.set_values(i), tm.geometry_type(i));
                        }
                    }
                }
                let tm = TableMap::parse(&ev.body, phl).unwrap();
                decoders.insert(tm.table_id, RowDecoder::new(&tm).unwrap());
                continue;
            }
            rows_seen += 1;
            let step = if !big || rows_seen <= 20 {
                1
            } else if rows_seen.is_multiple_of(10) {
                (ev.body.len() / 200).max(1)
            } else {
                continue;
            };
            let (kind, version, _) = ev.event_type.rows_info().unwrap();
            let full = RowsEvent::parse(kind, version, &ev.body, phl).unwrap();
            let d = &decoders[&full.table_id];
            for n in (0..ev.body.len()).step_by(step) {
                if let Ok(re) = RowsEvent::parse(kind, version, &ev.body[..n], phl) {
                    let mut it = re.rows(d);
                    let (mut b, mut a) = (Vec::new(), Vec::new());
                    while let Ok(true) = it.next_row(&mut b, &mut a) {
                        for v in b.iter().chain(a.iter()) {
                            render_value(v);
                        }
                    }
                }
            }
        }
    }
}

/// Render a value with the text codecs; they may fail on cut data but must not panic.
fn render_value(v: &Value<'_>) {
    let mut s = String::new();
    match v {
        Value::Decimal(d) => s.push_str(&d.to_string()),
        Value::Json(b) => {
            let _ = write_json_text(b, &mut s);
        }
        Value::JsonDiff(b) => {
            let _ = write_json_diff_text(b, "@1", &mut s);
        }
        Value::Date(d) => s.push_str(&d.to_string()),
        Value::Time(t) => s.push_str(&t.to_string()),
        Value::DateTime(t) => s.push_str(&t.to_string()),
        Value::Timestamp(t) => s.push_str(&t.to_string()),
        _ => {}
    }
}

/// The table maps of the fixtures expose their optional metadata.
#[test]
fn table_map_optional_metadata_from_fixtures() {
    let mut seen_names = 0;
    let mut seen_unsigned = 0;
    for path in fixtures() {
        let file = load(&path);
        for ev in our_events(&file) {
            if ev.event_type != EventType::TableMap {
                continue;
            }
            let mut tm = TableMap::parse(&ev.body, ev.post_header_len.unwrap_or(8)).unwrap();
            tm.flavor = ev.flavor;
            let names: Vec<&[u8]> = tm.column_names().collect();
            if !names.is_empty() {
                assert_eq!(names.len(), tm.column_count, "{path:?}");
                seen_names += 1;
            }
            for (i, c) in tm.columns().enumerate() {
                if tm.is_unsigned(i) {
                    seen_unsigned += 1;
                    assert!(matches!(
                        c.column_type,
                        ColumnType::Tiny
                            | ColumnType::Short
                            | ColumnType::Int24
                            | ColumnType::Long
                            | ColumnType::LongLong
                            | ColumnType::NewDecimal
                            | ColumnType::Float
                            | ColumnType::Double
                    ));
                }
                if c.real_type == ColumnType::Enum && tm.optional.enum_str_value.is_some() {
                    assert!(tm.enum_values(i).unwrap().count() > 0);
                }
            }
            let name = path.file_name().unwrap().to_string_lossy();
            if name == "mariadb-bin.000001" {
                // mysql_common's own test: toddy_test.outbox(id, topic, event_type, event,
                // created), utf8mb4_general_ci text columns, a binary BLOB, PK on id.
                assert_eq!(tm.schema, b"toddy_test");
                assert_eq!(tm.table, b"outbox");
                assert_eq!(
                    names,
                    [&b"id"[..], b"topic", b"event_type", b"event", b"created"]
                );
                assert_eq!(tm.charset(1), Some(45));
                assert_eq!(tm.charset(2), Some(45));
                assert_eq!(tm.charset(3), Some(63));
                assert_eq!(tm.charset(0), None);
                assert_eq!(tm.primary_key().collect::<Vec<_>>(), [(0, 0)]);
            }
            if name == "binlog-invisible-columns.000001" {
                assert!(tm.optional.column_visibility.is_some());
            }
        }
    }
    assert!(
        seen_names > 0 && seen_unsigned > 0,
        "{seen_names} {seen_unsigned}"
    );
}

/// All JSON values (full documents and partial-update diffs) of a fixture rendered as
/// `mysqlbinlog -v` prints them.
fn json_texts(file: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut decoders: HashMap<u64, RowDecoder> = HashMap::new();
    for ev in our_events(file) {
        let phl = ev.post_header_len.unwrap_or(8);
        if ev.event_type == EventType::TableMap {
            let tm = TableMap::parse(&ev.body, phl).unwrap();
            decoders.insert(tm.table_id, RowDecoder::new(&tm).unwrap());
            continue;
        }
        let (kind, version, _) = ev.event_type.rows_info().unwrap();
        let re = RowsEvent::parse(kind, version, &ev.body, phl).unwrap();
        let mut it = re.rows(&decoders[&re.table_id]);
        let (mut b, mut a) = (Vec::new(), Vec::new());
        while it.next_row(&mut b, &mut a).unwrap() {
            for (i, v) in a.iter().enumerate() {
                let mut s = String::new();
                match v {
                    Value::Json(j) => write_json_text(j, &mut s).unwrap(),
                    Value::JsonDiff(d) => {
                        write_json_diff_text(d, &format!("@{}", i + 1), &mut s).unwrap()
                    }
                    _ => continue,
                }
                out.push(s);
            }
        }
    }
    out
}

/// The exact text MySQL gives these documents (`SELECT`, `mysqlbinlog -v`): `": "` and `", "`
/// separators, keys in binary order, opaque DATE/DATETIME/TIME quoted (six fraction digits
/// for the latter two), DECIMAL bare with its scale, other opaque types as base64.
#[test]
fn json_fixtures_print_like_mysql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rust_mysql_common");
    let opaque = json_texts(&load(&root.join("json-opaque.binlog")));
    assert_eq!(
        opaque,
        [
            r#"{"a": "base64:type15:VQ=="}"#,
            r#"{"b": "2012-03-18"}"#,
            r#"{"c": "2012-03-18 11:30:45.000000"}"#,
            r#"{"c": "87:31:46.654321"}"#,
            r#"{"d": 123.456}"#,
            r#"{"e": 9.00}"#, // an opaque DECIMAL(3,2): MySQL keeps its scale
            r#"{"e": [0, 1, true, false]}"#,
            r#"{"e": null}"#,
        ]
    );
    let json = json_texts(&load(&root.join("json.binlog.000001")));
    assert_eq!(
        json[0],
        r#"{"age": 24, "data": "xxxxxxxxxx", "name": "Joe"}"#
    );
    let diffs: Vec<&String> = json.iter().filter(|s| s.starts_with("JSON_")).collect();
    assert_eq!(diffs.len(), 6);
    assert_eq!(diffs[0], "JSON_REPLACE(@2, '$.age', 26)");
    assert_eq!(diffs[1], "JSON_REPLACE(@2, '$.age', 34)");
}
