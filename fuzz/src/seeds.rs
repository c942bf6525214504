//! Seed inputs for every fuzz target, cut from the fixtures in `tests/fixtures` (every event
//! of every file, table maps paired with their rows events, payloads expanded, JSON values and
//! diffs pulled out of decoded rows) plus MariaDB-compressed variants the fixtures lack. They
//! are generated at run time (`gen_seeds`) and never committed.

use std::collections::HashMap;

use gapfill::binlog::FormatDescription;
use gapfill::binlog::event::{Event, EventBody, split_body};
use gapfill::binlog::event_type::EventType;
use gapfill::binlog::file_reader::split_events;
use gapfill::binlog::file_writer::build_event;
use gapfill::binlog::header::EventHeader;
use gapfill::binlog::mariadb_compressed::compress;
use gapfill::binlog::payload::TransactionPayload;
use gapfill::binlog::row_decoder::RowDecoder;
use gapfill::binlog::rows_event::RowsEvent;
use gapfill::binlog::table_map::TableMap;
use gapfill::binlog::value::Value;

use crate::{SplitFile, fde_selector, fixture_files, load_fixture, split_file};

/// Cap on the events taken from one file (the gzipped Sakila load repeats itself).
const MAX_EVENTS_PER_FILE: usize = 300;
/// Cap on a whole-file seed for `decode_file`.
const MAX_FILE_SEED: usize = 64 << 10;

/// The rows event types in the order the `rows` target indexes them.
pub const ROWS_TYPES: [u8; 13] = [30, 31, 32, 39, 23, 24, 25, 166, 167, 168, 169, 170, 171];

/// Seeds by target name.
#[derive(Default)]
pub struct Seeds {
    pub by_target: HashMap<&'static str, Vec<Vec<u8>>>,
}

impl Seeds {
    fn add(&mut self, target: &'static str, seed: Vec<u8>) {
        self.by_target.entry(target).or_default().push(seed);
    }
}

fn with_prefix(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(rest);
    v
}

/// The compressed MariaDB counterpart of a rows or query event type.
fn compressed_type(t: EventType) -> Option<EventType> {
    use EventType as T;
    Some(match t {
        T::Query => T::MariadbQueryCompressed,
        T::WriteRowsV1 => T::MariadbWriteRowsCompressedV1,
        T::UpdateRowsV1 => T::MariadbUpdateRowsCompressedV1,
        T::DeleteRowsV1 => T::MariadbDeleteRowsCompressedV1,
        T::WriteRows => T::MariadbWriteRowsCompressed,
        T::UpdateRows => T::MariadbUpdateRowsCompressed,
        T::DeleteRows => T::MariadbDeleteRowsCompressed,
        _ => return None,
    })
}

/// Rewrite a QUERY or rows event as MariaDB's compressed form (`log_bin_compress`), as a
/// MariaDB 10.2+ server writes it: same post-header, the statement or rows data compressed.
fn compress_event(ev: &Event<'_>, body: &[u8], fde: &FormatDescription) -> Option<Vec<u8>> {
    let t = compressed_type(ev.header.event_type)?;
    let tail_len = match &ev.body {
        EventBody::Query(q) => q.query.len(),
        EventBody::Rows(r) => r.rows_data.len(),
        _ => return None,
    };
    let at = body.len().checked_sub(tail_len)?;
    let mut new_body = body[..at].to_vec();
    new_body.extend_from_slice(&compress(&body[at..]));
    let header = EventHeader {
        event_type: t,
        ..ev.header
    };
    let mut out = Vec::new();
    build_event(header, &new_body, fde.checksum, &mut out);
    Some(out)
}

/// Every event of a file plus the events inside its TRANSACTION_PAYLOADs (flagged `inner`).
struct FlatEvent {
    bytes: Vec<u8>,
    inner: bool,
}

fn flatten(file: &SplitFile) -> Vec<FlatEvent> {
    let mut out = Vec::new();
    for bytes in file.events.iter().take(MAX_EVENTS_PER_FILE) {
        out.push(FlatEvent {
            bytes: bytes.clone(),
            inner: false,
        });
        let Ok(ev) = Event::parse(bytes, &file.fde, false) else {
            continue;
        };
        if let EventBody::TransactionPayload(p) = &ev.body {
            let mut buf = Vec::new();
            if p.expand_into(&mut buf).is_ok() {
                for inner in split_events(&buf).flatten() {
                    out.push(FlatEvent {
                        bytes: inner.to_vec(),
                        inner: true,
                    });
                }
            }
        }
    }
    out
}

fn parse_flat<'a>(e: &'a FlatEvent, fde: &FormatDescription) -> Option<(Event<'a>, &'a [u8])> {
    let ev = if e.inner {
        Event::parse_unchecksummed(&e.bytes, fde).ok()?
    } else {
        Event::parse(&e.bytes, fde, false).ok()?
    };
    let header = EventHeader::parse(&e.bytes).ok()?;
    let body = if e.inner {
        let mut f = fde.clone();
        f.checksum = gapfill::binlog::checksum::ChecksumAlg::Off;
        split_body(&e.bytes, &header, &f).ok()?
    } else {
        split_body(&e.bytes, &header, fde).ok()?
    };
    Some((ev, body))
}

fn file_seeds(s: &mut Seeds, file: &SplitFile) {
    let fde = &file.fde;
    let sel = fde_selector(fde);
    let flat = flatten(file);
    let mut tables: HashMap<u64, Vec<u8>> = HashMap::new();
    // decode_file: the whole file (capped at an event boundary), and windows of it.
    let mut whole = Vec::new();
    for e in &file.events {
        if whole.len() + e.len() > MAX_FILE_SEED {
            break;
        }
        whole.extend_from_slice(e);
    }
    s.add("decode_file", with_prefix(&[0], &whole));
    s.add("framer", with_prefix(&[1], &whole));
    // A peer stream: the whole file, its length promised, 1 or 4 transactions promised.
    s.add("peer_stream", with_prefix(&[0x03], &whole));
    s.add("peer_stream", with_prefix(&[0x09], &whole));
    for (i, chunk) in file.events[1..].chunks(8).take(40).enumerate() {
        let mut seed = vec![if i == 0 { 1 } else { 0 }];
        seed.extend_from_slice(&file.events[0]);
        for e in chunk {
            seed.extend_from_slice(e);
        }
        s.add("decode_file", seed);
    }
    // The first window again, read one byte at a time and with a start position.
    if let Some(first) = file.events.get(1) {
        let mut seed = vec![1 << 3];
        seed.extend_from_slice(&file.events[0]);
        seed.extend_from_slice(first);
        s.add("decode_file", seed);
        let start = (4 + file.events[0].len()) as u16;
        let mut seed = vec![2];
        seed.extend_from_slice(&start.to_le_bytes());
        seed.extend_from_slice(&file.events[0]);
        seed.extend_from_slice(first);
        s.add("decode_file", seed);
    }

    // A MariaDB-compressed rewrite of the file (the fixtures have none).
    let mut compressed_file = file.events[0].clone();

    for e in &flat {
        // event: fix size and CRC so mutations keep reaching the body parser.
        let flags = if e.inner { 0x20 | 0x08 } else { 0x18 };
        s.add("event", with_prefix(&[sel | flags], &e.bytes));
        let Some((ev, body)) = parse_flat(e, fde) else {
            continue;
        };
        if !e.inner {
            if let Some(c) = compress_event(&ev, body, fde) {
                s.add("event", with_prefix(&[sel | 0x18], &c));
                compressed_file.extend_from_slice(&c);
            } else {
                compressed_file.extend_from_slice(&e.bytes);
            }
        }
        match &ev.body {
            EventBody::TableMap(tm) => {
                tables.insert(tm.table_id, body.to_vec());
            }
            EventBody::Rows(r) => {
                if let Some(tm_body) = tables.get(&r.table_id) {
                    rows_seeds(s, sel, ev.header.event_type, tm_body, body, fde);
                    values_seeds(s, tm_body, body, ev.header.event_type, fde);
                }
            }
            EventBody::Query(q) => {
                // query_status: the status block, and the body after a post-header selector 0.
                let status_len = body
                    .get(11..13)
                    .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
                if let Some(st) = body.get(13..13 + status_len) {
                    s.add("query_status", st.to_vec());
                }
                s.add("query_status", with_prefix(&[0], body));
                if let Some(c) = compress_event(&ev, body, fde)
                    && let Ok(h) = EventHeader::parse(&c)
                    && let Ok(cb) = split_body(&c, &h, fde)
                {
                    s.add("query_status", with_prefix(&[0], cb));
                }
                s.add("payload", with_prefix(&[3], &q.query));
                s.add("payload", with_prefix(&[2], &compress(&q.query)));
            }
            EventBody::TransactionPayload(_) => {
                s.add("payload", with_prefix(&[sel << 4], body));
                if let Ok(p) = TransactionPayload::parse(body) {
                    let mut buf = Vec::new();
                    if p.expand_into(&mut buf).is_ok() {
                        s.add("payload", with_prefix(&[1 | (sel << 4)], &buf));
                        s.add("payload", with_prefix(&[1 | 4 | (sel << 4)], &buf));
                    }
                }
            }
            EventBody::Gtid(_) => {
                let k = match ev.header.event_type {
                    EventType::Gtid => 1,
                    EventType::AnonymousGtid => 2,
                    _ => 3,
                };
                s.add("gtid_binary", with_prefix(&[k], body));
            }
            EventBody::PreviousGtids(p) => {
                s.add("gtid_binary", with_prefix(&[0], body));
                s.add("gtid_text", p.gtids.to_string().into_bytes());
                s.add("gtid_text", p.gtids.to_server_string().into_bytes());
            }
            EventBody::MariadbGtidList(l) => {
                s.add("gtid_binary", with_prefix(&[4], body));
                s.add("gtid_text", l.to_binlog_state().to_string().into_bytes());
                s.add(
                    "gtid_text",
                    l.to_binlog_state().to_pos().to_string().into_bytes(),
                );
            }
            EventBody::MariadbGtid(g) => {
                s.add(
                    "gtid_binary",
                    with_prefix(&[4, ev.header.flags as u8], body),
                );
                s.add("gtid_text", g.gtid().to_string().into_bytes());
            }
            _ => {}
        }
    }
    if fde.flavor == gapfill::binlog::Flavor::MariaDb {
        s.add("decode_file", with_prefix(&[0], &compressed_file));
    }
}

fn rows_seeds(
    s: &mut Seeds,
    sel: u8,
    t: EventType,
    tm_body: &[u8],
    rows_body: &[u8],
    fde: &FormatDescription,
) {
    let Some(idx) = ROWS_TYPES.iter().position(|&c| c == t.code()) else {
        return;
    };
    let mut seed = vec![idx as u8, sel];
    seed.extend_from_slice(&(tm_body.len() as u16).to_le_bytes());
    seed.extend_from_slice(tm_body);
    seed.extend_from_slice(rows_body);
    s.add("rows", seed.clone());
    // The MariaDB-compressed counterpart: the harness compresses the rows data itself.
    if fde.flavor == gapfill::binlog::Flavor::MariaDb
        && let Some(c) = compressed_type(t)
        && let Some(ci) = ROWS_TYPES.iter().position(|&x| x == c.code())
    {
        seed[0] = ci as u8;
        s.add("rows", seed);
    }
}

/// JSON documents and diffs found in decoded rows.
fn values_seeds(
    s: &mut Seeds,
    tm_body: &[u8],
    rows_body: &[u8],
    t: EventType,
    fde: &FormatDescription,
) {
    let Some((kind, version, _)) = t.rows_info() else {
        return;
    };
    let tm_phl = fde.post_header_len(EventType::TableMap).unwrap_or(8);
    let phl = fde
        .post_header_len(t)
        .unwrap_or(if version == 1 { 8 } else { 10 });
    let Ok(tm) = TableMap::parse(tm_body, tm_phl) else {
        return;
    };
    let Ok(dec) = RowDecoder::new(&tm) else {
        return;
    };
    let Ok(rows) = RowsEvent::parse(kind, version, rows_body, phl) else {
        return;
    };
    let mut it = rows.rows(&dec);
    let (mut b, mut a) = (Vec::new(), Vec::new());
    while let Ok(true) = it.next_row(&mut b, &mut a) {
        for v in b.iter().chain(a.iter()) {
            match v {
                Value::Json(j) if !j.is_empty() => s.add("json_binary", j.to_vec()),
                Value::JsonDiff(d) => s.add("json_diff", d.to_vec()),
                _ => {}
            }
        }
    }
}

/// Hand-written text seeds for the GTID parsers (both flavors, odd but valid spellings).
const GTID_TEXTS: &[&str] = &[
    "",
    "3E11FA47-71CA-11E1-9E33-C80AA9429562:23",
    "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9:11",
    "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n24da167-0c0c-11e8-8442-00059a3c7b00:1",
    "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_1:1-3:other:7,  ,",
    "3e11fa47-71ca-11e1-9e33-c80aa9429562 : 1 - 9223372036854775806",
    "3e11fa47-71ca-11e1-9e33-c80aa9429562:a:5",
    "0-1-100",
    "0-1-100,1-2-5,\n 2-3-18446744073709551615",
    "0-1-1,0-2-2",
];

/// All seeds, computed from the fixtures.
pub fn all() -> Seeds {
    let mut s = Seeds::default();
    for p in fixture_files() {
        let Some(bytes) = load_fixture(&p) else {
            continue;
        };
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(file) = split_file(&name, &bytes) {
            file_seeds(&mut s, &file);
        }
    }
    for t in GTID_TEXTS {
        s.add("gtid_text", t.as_bytes().to_vec());
    }
    // The magic alone: the smallest valid file.
    s.add("decode_file", vec![0]);
    outside_seeds(&mut s);
    s
}

/// Seeds of the targets whose input comes from servers, orchestrator and operators: recorded
/// server handshakes and heartbeats (packets as sent), orchestrator's real API answers, the
/// example configuration.
fn outside_seeds(s: &mut Seeds) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fixtures = root.join("tests/fixtures");
    if let Ok(dir) = std::fs::read_dir(fixtures.join("protocol")) {
        for f in dir.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "bin")
                && let Ok(payload) = std::fs::read(&p)
            {
                // Recorded as packets (header + payload), as a server sends them.
                for flags in [0u8, 0x08, 0x10 | 0x20] {
                    s.add("wire", with_prefix(&[flags], &payload));
                }
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(fixtures.join("orchestrator/api-samples.json"))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
    {
        for phase in ["pre_failover", "post_failover"] {
            if let Some(m) = v[phase].as_object() {
                for body in m.values() {
                    s.add(
                        "outside_text",
                        with_prefix(&[0], body.to_string().as_bytes()),
                    );
                }
            }
        }
    }
    // The queries real MySQL 9.7 and MariaDB 10.11 replicas sent on connect, as recorded.
    if let Ok(dir) = std::fs::read_dir(fixtures.join("gapfill/serve")) {
        for f in dir.flatten() {
            let p = f.path();
            if let Ok(text) = std::fs::read(&p) {
                let mariadb = p.to_string_lossy().contains("mariadb");
                s.add("serve", with_prefix(&[u8::from(mariadb)], &text));
                s.add("serve", with_prefix(&[u8::from(mariadb) | 2], &text));
            }
        }
    }
    // A peer's reach and a stream's promise, as the daemon answers them.
    for json in [
        r#"{"mode":"mysql gtid","executed":"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-120,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:tag:1-3","transactions":120,"last_gtid":"3e11fa47-71ca-11e1-9e33-c80aa9429562:120","last_commit_us":1765000000000000,"streams":[]}"#,
        r#"{"mode":"mariadb gtid","executed":"0-11-50,1-11-7","transactions":57,"last_gtid":"0-11-50","last_commit_us":null}"#,
        r#"{"transactions":3,"bytes":1024,"gtids":"0-11-48,0-11-49,0-11-50","first_commit_us":1,"last_commit_us":2}"#,
    ] {
        s.add("outside_text", with_prefix(&[2], json.as_bytes()));
    }
    if let Ok(text) = std::fs::read(root.join("contrib/gapfill.toml")) {
        s.add("outside_text", with_prefix(&[1], &text));
    }
}
