//! The differential oracle: row values decoded by gapfill and by `mysql_common`, both
//! normalised to one canonical string per value. Shared by the fixture tests and the live
//! tests that decode fresh binlogs from the real servers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use gapfill::binlog::bitmap::Bitmap;
use gapfill::binlog::checksum::ChecksumAlg;
use gapfill::binlog::event::split_body;
use gapfill::binlog::json_binary::write_json_text;
use gapfill::binlog::json_diff::{JsonDiffOp, json_diffs};
use gapfill::binlog::payload::TransactionPayload;
use gapfill::binlog::row_decoder::{ColumnKind, RowDecoder};
use gapfill::binlog::rows_event::RowsEvent;
use gapfill::binlog::table_map::TableMap;
use gapfill::binlog::value::Value;
use gapfill::binlog::{EventHeader, EventType, FormatDescription, RowsKind};

/// Every binlog under `tests/fixtures/` (gzipped ones included; other files, such as recorded
/// protocol packets, are skipped by their magic).
pub fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "gz")
                || std::fs::read(&p).is_ok_and(|b| b.starts_with(b"\xfebin"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn load(p: &Path) -> Vec<u8> {
    let raw = std::fs::read(p).unwrap();
    if p.extension().is_some_and(|x| x == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
}

/// One TABLE_MAP or rows event body as found in a file (inner events of transaction payloads
/// included), with what is needed to parse it.
pub struct RawEvent {
    pub event_type: EventType,
    pub body: Vec<u8>,
    pub post_header_len: Option<u8>,
    pub flavor: gapfill::binlog::Flavor,
}

/// Walk a binlog file with gapfill's header and FORMAT_DESCRIPTION parsers, expanding
/// TRANSACTION_PAYLOAD events, and collect the TABLE_MAP and rows event bodies in order.
pub fn our_events(file: &[u8]) -> Vec<RawEvent> {
    assert_eq!(&file[..4], b"\xfebin", "magic");
    let mut out = Vec::new();
    let mut pos = 4;
    let mut fde: Option<FormatDescription> = None;
    while pos < file.len() {
        let h = EventHeader::parse(&file[pos..]).unwrap();
        let size = h.event_size as usize;
        let ev = &file[pos..pos + size];
        if h.event_type == EventType::FormatDescription {
            fde = Some(FormatDescription::parse(&ev[19..]).unwrap());
            pos += size;
            continue;
        }
        let f = fde.as_ref().expect("FORMAT_DESCRIPTION first");
        let body = split_body(ev, &h, f).unwrap();
        collect(h.event_type, body, f, &mut out);
        if h.event_type == EventType::TransactionPayload {
            let p = TransactionPayload::parse(body).unwrap();
            let mut buf = Vec::new();
            p.expand_into(&mut buf).unwrap();
            let mut inner_fde = f.clone();
            inner_fde.checksum = ChecksumAlg::Off; // no trailers inside the payload
            let mut ip = 0;
            while ip < buf.len() {
                let ih = EventHeader::parse(&buf[ip..]).unwrap();
                let isize = ih.event_size as usize;
                let ibody = split_body(&buf[ip..], &ih, &inner_fde).unwrap();
                collect(ih.event_type, ibody, &inner_fde, &mut out);
                ip += isize;
            }
        }
        pos += size;
    }
    out
}

pub fn collect(t: EventType, body: &[u8], f: &FormatDescription, out: &mut Vec<RawEvent>) {
    if t == EventType::TableMap || t.rows_info().is_some() {
        assert!(
            t.rows_info().is_none_or(|(_, _, compressed)| !compressed),
            "no fixture has MariaDB compressed rows"
        );
        out.push(RawEvent {
            event_type: t,
            body: body.to_vec(),
            post_header_len: f.post_header_len(t),
            flavor: f.flavor,
        });
    }
}

pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Canonical text of a JSON value: keys sorted, integers exact, floats by `{:?}`, and the
/// newlines MySQL's base64 puts in opaque values removed (mysql_common does not add them).
pub fn canon_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Null => out.push_str("null"),
        serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else {
                let _ = write!(out, "{:?}", n.as_f64().unwrap());
            }
        }
        serde_json::Value::String(s) => {
            let s = if s.starts_with("base64:type") {
                s.replace('\n', "")
            } else {
                s.clone()
            };
            out.push_str(&serde_json::to_string(&s).unwrap());
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canon_json(x, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                canon_json(&o[*k], out);
            }
            out.push('}');
        }
    }
}

pub fn our_json(bin: &[u8]) -> String {
    let mut text = String::new();
    write_json_text(bin, &mut text).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("our JSON text is not JSON ({e}): {text}"));
    let mut s = String::new();
    canon_json(&v, &mut s);
    s
}

pub fn ours(v: &Value<'_>, kind: ColumnKind) -> String {
    match *v {
        Value::Null => "NULL".into(),
        Value::Int(i) if matches!(kind, ColumnKind::Int24 { .. }) => {
            format!("int24:{}", i & 0xff_ffff)
        }
        Value::UInt(u) if matches!(kind, ColumnKind::Int24 { .. }) => {
            format!("int24:{}", u & 0xff_ffff)
        }
        Value::Int(i) => format!("int:{i}"),
        Value::UInt(u) => format!("int:{u}"),
        Value::Float(f) => format!("float:{f:?}"),
        Value::Double(d) => format!("double:{d:?}"),
        Value::Decimal(d) => format!("dec:{d}"),
        Value::Year(y) => format!("year:{y}"),
        Value::Date(d) => format!("date:{}-{}-{}", d.year, d.month, d.day),
        Value::Time(t) => format!(
            "time:{}{}:{}:{}.{}",
            if t.negative { "-" } else { "" },
            t.hours,
            t.minutes,
            t.seconds,
            t.micros
        ),
        Value::DateTime(dt) => format!(
            "dt:{}-{}-{} {}:{}:{}.{}",
            dt.date.year, dt.date.month, dt.date.day, dt.hour, dt.minute, dt.second, dt.micros
        ),
        Value::Timestamp(ts) => format!("ts:{}.{}", ts.seconds, ts.micros),
        Value::Bit { bits, .. } => format!("bit:{bits}"),
        Value::Enum(e) => format!("enum:{e}"),
        Value::Set(s) => format!("set:{s}"),
        Value::Bytes(b) | Value::Geometry(b) | Value::Vector(b) | Value::Compressed(b) => {
            format!("bytes:{}", hex(b))
        }
        Value::Json(b) => {
            assert!(matches!(kind, ColumnKind::Json { .. }));
            format!("json:{}", our_json(b))
        }
        Value::JsonDiff(b) => {
            let mut s = String::from("jsondiff:");
            for d in json_diffs(b) {
                let d = d.unwrap();
                let op = match d.op {
                    JsonDiffOp::Replace => "REPLACE",
                    JsonDiffOp::Insert => "INSERT",
                    JsonDiffOp::Remove => "REMOVE",
                };
                let _ = write!(s, "{op}|{}|", String::from_utf8_lossy(d.path));
                if let Some(v) = d.value {
                    s.push_str(&our_json(v));
                }
                s.push(';');
            }
            s
        }
    }
}

mod theirs {
    use super::*;
    use mysql_common::binlog::jsonb::{JsonContainer, JsonDom, JsonNumber, JsonScalar};
    use mysql_common::binlog::jsondiff::JsonDiffOperation;
    use mysql_common::binlog::value::BinlogValue;
    use mysql_common::constants::ColumnType as MyType;
    use mysql_common::value::Value as MyValue;

    fn dom_to_serde(d: JsonDom) -> serde_json::Value {
        match d {
            JsonDom::Container(JsonContainer::Array(a)) => {
                serde_json::Value::Array(a.into_iter().map(dom_to_serde).collect())
            }
            JsonDom::Container(JsonContainer::Object(o)) => serde_json::Value::Object(
                o.into_iter().map(|(k, v)| (k, dom_to_serde(v))).collect(),
            ),
            JsonDom::Scalar(JsonScalar::Number(JsonNumber::Decimal(d))) => {
                // MySQL prints JSON decimals as bare numbers; mysql_common's own conversion
                // makes them strings, so read its text back as a JSON number.
                serde_json::from_str(&d.to_string()).unwrap()
            }
            JsonDom::Scalar(s) => serde_json::Value::from(s),
        }
    }

    fn json(v: mysql_common::binlog::jsonb::Value<'_>) -> String {
        let dom = v.parse().expect("mysql_common parses the JSON");
        let mut s = String::new();
        canon_json(&dom_to_serde(dom), &mut s);
        s
    }

    /// Canonical text of a mysql_common value of a column of real type `t`.
    pub fn canon(t: MyType, v: &BinlogValue<'_>) -> String {
        match v {
            BinlogValue::Jsonb(j) => format!("json:{}", json(j.clone())),
            BinlogValue::JsonDiff(diffs) => {
                let mut s = String::from("jsondiff:");
                for d in diffs {
                    let op = match d.operation() {
                        JsonDiffOperation::REPLACE => "REPLACE",
                        JsonDiffOperation::INSERT => "INSERT",
                        JsonDiffOperation::REMOVE => "REMOVE",
                    };
                    let _ = write!(s, "{op}|{}|", String::from_utf8_lossy(d.path()));
                    if let Some(v) = d.value() {
                        s.push_str(&json(v.clone()));
                    }
                    s.push(';');
                }
                s
            }
            BinlogValue::Value(v) => value(t, v),
        }
    }

    fn value(t: MyType, v: &MyValue) -> String {
        use MyType as T;
        match v {
            MyValue::NULL => "NULL".into(),
            MyValue::Int(i) => match t {
                T::MYSQL_TYPE_ENUM => format!("enum:{i}"),
                // mysql_common applies SIGNEDNESS to MEDIUMINT the wrong way round (a signed
                // -8388608 comes out as 8388608, an unsigned 16777215 as -1; seen on binlogs
                // from MySQL 9.7 and MariaDB 10.11). Compare MEDIUMINT by its 24 stored bits;
                // the sign gapfill gives them is checked against mysqlbinlog's own output.
                T::MYSQL_TYPE_INT24 => format!("int24:{}", i & 0xff_ffff),
                T::MYSQL_TYPE_TIMESTAMP => format!("ts:{i}.0"),
                _ => format!("int:{i}"),
            },
            MyValue::UInt(u) if t == MyType::MYSQL_TYPE_INT24 => format!("int24:{}", u & 0xff_ffff),
            MyValue::UInt(u) => format!("int:{u}"),
            MyValue::Float(f) => format!("float:{f:?}"),
            MyValue::Double(d) => format!("double:{d:?}"),
            MyValue::Date(y, mo, d, h, mi, s, us) => match t {
                T::MYSQL_TYPE_NEWDATE | T::MYSQL_TYPE_DATE => format!("date:{y}-{mo}-{d}"),
                _ => format!("dt:{y}-{mo}-{d} {h}:{mi}:{s}.{us}"),
            },
            MyValue::Time(neg, days, h, m, s, us) => format!(
                "time:{}{}:{m}:{s}.{us}",
                if *neg { "-" } else { "" },
                *days * 24 + *h as u32
            ),
            MyValue::Bytes(b) => match t {
                T::MYSQL_TYPE_NEWDECIMAL => format!("dec:{}", String::from_utf8_lossy(b)),
                // mysql_common prints YEAR as 1900 + byte, so the zero year 0000 comes out as
                // "1900" (mysqlbinlog prints 1900 too); MySQL stores and shows it as 0000.
                T::MYSQL_TYPE_YEAR => match &b[..] {
                    b"1900" => "year:0".into(),
                    y => format!("year:{}", String::from_utf8_lossy(y)),
                },
                T::MYSQL_TYPE_BIT => {
                    format!("bit:{}", b.iter().fold(0u64, |v, &x| (v << 8) | x as u64))
                }
                T::MYSQL_TYPE_SET => format!(
                    "set:{}",
                    b.iter().rev().fold(0u64, |v, &x| (v << 8) | x as u64)
                ),
                T::MYSQL_TYPE_TIMESTAMP2 => {
                    let s = String::from_utf8_lossy(b);
                    let (sec, us) = s.split_once('.').unwrap_or((&s, "0"));
                    format!("ts:{sec}.{}", us.parse::<u32>().unwrap())
                }
                _ => format!("bytes:{}", hex(b)),
            },
        }
    }
}

/// Decode every row of a fixture with gapfill: one line per present column value.
pub fn decode_ours(file: &[u8]) -> (Vec<String>, usize) {
    let mut lines = Vec::new();
    let mut decoders: HashMap<u64, RowDecoder> = HashMap::new();
    let mut rows = 0;
    for (ei, ev) in our_events(file).iter().enumerate() {
        let phl = ev.post_header_len.unwrap_or(8);
        if ev.event_type == EventType::TableMap {
            let mut tm = TableMap::parse(&ev.body, phl).unwrap();
            tm.flavor = ev.flavor;
            decoders.insert(tm.table_id, RowDecoder::new(&tm).unwrap());
            continue;
        }
        let (kind, version, _) = ev.event_type.rows_info().unwrap();
        let re = RowsEvent::parse(kind, version, &ev.body, phl).unwrap();
        let d = &decoders[&re.table_id];
        let mut it = re.rows(d);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let mut r = 0;
        while it.next_row(&mut before, &mut after).unwrap() {
            let images: [(&str, &Vec<Value>, Option<Bitmap>); 2] = match kind {
                RowsKind::Write => [
                    ("after", &after, Some(re.columns_before)),
                    ("", &before, None),
                ],
                RowsKind::Delete => [
                    ("before", &before, Some(re.columns_before)),
                    ("", &after, None),
                ],
                _ => [
                    ("before", &before, Some(re.columns_before)),
                    ("after", &after, re.columns_after),
                ],
            };
            for (name, vals, bits) in images {
                let Some(bits) = bits else { continue };
                assert_eq!(vals.len(), d.column_count());
                for (i, v) in vals.iter().enumerate() {
                    if bits.get(i) {
                        lines.push(format!(
                            "event {ei} row {r} {name} col {i}: {}",
                            ours(v, d.columns()[i].kind)
                        ));
                    }
                }
            }
            r += 1;
            rows += 1;
        }
        assert_eq!(it.remaining(), 0);
    }
    (lines, rows)
}

/// Decode every row of a fixture with mysql_common, in the same line format.
pub fn decode_theirs(file: &[u8]) -> Vec<String> {
    use mysql_common::binlog::BinlogFile;
    use mysql_common::binlog::consts::BinlogVersion;
    use mysql_common::binlog::events::{Event, EventData, RowsEventData};
    use mysql_common::binlog::row::BinlogRow;

    let mut lines = Vec::new();
    let mut ei = 0usize;
    let mut bf = BinlogFile::new(BinlogVersion::Version4, file).unwrap();

    fn rows_of(
        ev: &Event,
        reader: &mysql_common::binlog::EventStreamReader,
        ei: &mut usize,
        lines: &mut Vec<String>,
    ) {
        let data = ev.read_data().unwrap();
        match data {
            Some(EventData::TableMapEvent(_)) => *ei += 1,
            Some(EventData::RowsEvent(re)) => {
                let tme = reader.get_tme(re.table_id()).unwrap();
                let is_write = matches!(
                    re,
                    RowsEventData::WriteRowsEvent(_) | RowsEventData::WriteRowsEventV1(_)
                );
                for (r, row) in re.rows(tme).enumerate() {
                    let (before, after) = row.unwrap_or_else(|e| {
                        panic!("mysql_common cannot decode event {ei} row {r}: {e}")
                    });
                    let mut collected: Vec<(String, mysql_common::constants::ColumnType, String)> =
                        Vec::new();
                    {
                        let mut push = |name: &str, row: Option<BinlogRow>| {
                            let Some(row) = row else { return };
                            let cols: Vec<_> = row.columns_ref().to_vec();
                            for (k, v) in row.unwrap().iter().enumerate() {
                                let t = cols[k].column_type();
                                collected.push((name.to_string(), t, theirs::canon(t, v)));
                            }
                        };
                        push("before", before);
                        push("after", after);
                    }
                    // Column indexes: present columns in order, from the event bitmaps.
                    let before_bits = re.columns_before_image();
                    let after_bits = re.columns_after_image();
                    let mut bi = before_bits.map(|b| b.iter_ones().collect::<Vec<_>>());
                    let mut ai = after_bits.map(|b| b.iter_ones().collect::<Vec<_>>());
                    if is_write {
                        // mysql_common keeps WRITE's single bitmap as the after image.
                        if ai.is_none() {
                            ai = bi.take();
                        }
                    }
                    let (mut nb, mut na) = (0, 0);
                    for (name, _t, s) in collected {
                        let idx = if name == "before" {
                            nb += 1;
                            bi.as_ref().map(|v| v[nb - 1])
                        } else {
                            na += 1;
                            ai.as_ref().or(bi.as_ref()).map(|v| v[na - 1])
                        }
                        .unwrap();
                        lines.push(format!("event {ei} row {r} {name} col {idx}: {s}"));
                    }
                }
                *ei += 1;
            }
            _ => {}
        }
    }

    #[allow(clippy::while_let_on_iterator)]
    while let Some(ev) = bf.next() {
        let ev = ev.unwrap();
        if let Some(EventData::TransactionPayloadEvent(p)) = ev.read_data().unwrap() {
            let mut payload = p.decompressed().unwrap();
            while let Some(inner) = bf.reader_mut().read_decompressed(&mut payload).unwrap() {
                rows_of(&inner, bf.reader(), &mut ei, &mut lines);
            }
            continue;
        }
        rows_of(&ev, bf.reader(), &mut ei, &mut lines);
    }
    lines
}
