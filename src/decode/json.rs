//! The JSON form of `gapfill decode`: one object per line, per event and per row, for tools.
//!
//! Owns the mapping from typed values to JSON: integers as numbers (unsigned ones correct, unlike
//! the text form which mimics mysqlbinlog), DECIMAL as strings (exact), temporal values as their
//! SQL text, character columns as strings, binary ones as `{"hex": ...}`, JSON columns embedded as
//! JSON, ENUM and SET by name when the table map carries the names.

use crate::binlog::column_compression::{decompress_column, value_limit};
use crate::binlog::event::{Event, EventBody};
use crate::binlog::event_type::RowsKind;
use crate::binlog::json_binary::write_json_text;
use crate::binlog::json_diff::write_json_diff_text;
use crate::binlog::row_decoder::CompiledColumn;
use crate::binlog::rows_event::RowsEvent;
use crate::binlog::stream::MappedTable;
use crate::binlog::value::Value;
use crate::binlog::{BinlogError, decimal::write_decimal};

use super::row_text::{push_date, push_datetime, push_frac, push_int, push_time};

/// Collation id of the `binary` pseudo-charset.
const BINARY_COLLATION: u16 = 63;

/// Renders events as JSON lines into a byte buffer the caller flushes.
#[derive(Default)]
pub struct JsonRenderer {
    text: String,
    /// A decompressed MariaDB compressed-column value.
    inflated: Vec<u8>,
    table: TableJson,
}

/// What a table's row objects repeat, built once per TABLE_MAP: the JSON keys of its columns
/// and the names of its ENUM and SET members.
#[derive(Default)]
struct TableJson {
    generation: u64,
    /// `,"schema":"db","table":"t"`
    names: Vec<u8>,
    /// Per column: `"name":` (or `"@N":` without column-name metadata).
    keys: Vec<Vec<u8>>,
    /// Per column: ENUM or SET member names, empty when unknown.
    members: Vec<Vec<Vec<u8>>>,
}

impl TableJson {
    fn new(table: &MappedTable) -> TableJson {
        let tm = table.table_map();
        let mut names = b",\"schema\":".to_vec();
        write_json_str(&mut names, tm.schema);
        names.extend_from_slice(b",\"table\":");
        write_json_str(&mut names, tm.table);
        let n = table.decoder.column_count();
        let mut keys = Vec::with_capacity(n);
        let mut members = Vec::with_capacity(n);
        let mut col_names = tm.column_names();
        for i in 0..n {
            let mut k = Vec::new();
            match col_names.next() {
                Some(name) => write_json_str(&mut k, name),
                None => {
                    k.extend_from_slice(b"\"@");
                    push_int(&mut k, i + 1);
                    k.push(b'"');
                }
            }
            k.push(b':');
            keys.push(k);
            let m: Vec<Vec<u8>> = match tm.enum_values(i).or_else(|| tm.set_values(i)) {
                Some(it) => it.map(|v| v.to_vec()).collect(),
                None => Vec::new(),
            };
            members.push(m);
        }
        TableJson {
            generation: table.generation,
            names,
            keys,
            members,
        }
    }
}

/// Append `s` as a JSON string; invalid UTF-8 bytes become U+FFFD.
pub fn write_json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    match std::str::from_utf8(s) {
        Ok(t) => escape_into(out, t),
        Err(_) => escape_into(out, &String::from_utf8_lossy(s)),
    }
    out.push(b'"');
}

fn escape_into(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        out.extend_from_slice(&b[run..i]);
        run = i + 1;
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
        }
    }
    out.extend_from_slice(&b[run..]);
}

/// `,"key":N`
fn field_int(out: &mut Vec<u8>, key: &str, v: impl itoa::Integer) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    push_int(out, v);
}

/// `,"key":"text"`
fn field_str(out: &mut Vec<u8>, key: &str, v: &[u8]) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    write_json_str(out, v);
}

fn push_hex(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() * 2);
    for x in b {
        out.push(HEX[(x >> 4) as usize]);
        out.push(HEX[(x & 15) as usize]);
    }
}

fn push_float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format(v).as_bytes());
    } else {
        write_json_str(out, v.to_string().as_bytes());
    }
}

impl JsonRenderer {
    fn event_head(out: &mut Vec<u8>, file: &str, pos: u64, ev: &Event<'_>) {
        out.extend_from_slice(b"{\"file\":");
        write_json_str(out, file.as_bytes());
        field_int(out, "pos", pos);
        out.extend_from_slice(b",\"type\":\"");
        out.extend_from_slice(ev.header.event_type.name().as_bytes());
        out.extend_from_slice(b"\",\"timestamp\":");
        push_int(out, ev.header.timestamp);
        field_int(out, "server_id", ev.header.server_id);
        field_int(out, "end_log_pos", ev.header.log_pos);
    }

    /// Render one event (and, for rows events, one line per row).
    pub fn event(
        &mut self,
        out: &mut Vec<u8>,
        file: &str,
        pos: u64,
        ev: &Event<'_>,
        rows: Option<(&MappedTable, &RowsEvent<'_>)>,
    ) -> Result<(), BinlogError> {
        Self::event_head(out, file, pos, ev);
        match &ev.body {
            EventBody::FormatDescription(f) => {
                field_str(out, "server_version", f.server_version.as_bytes());
                out.extend_from_slice(b",\"checksum\":");
                out.extend_from_slice(match f.checksum {
                    crate::binlog::checksum::ChecksumAlg::Crc32 => b"\"crc32\"",
                    crate::binlog::checksum::ChecksumAlg::Off => b"\"none\"",
                });
            }
            EventBody::PreviousGtids(p) => {
                field_str(out, "gtids", p.gtids.to_string().as_bytes());
            }
            EventBody::Gtid(g) => {
                out.extend_from_slice(b",\"gtid\":");
                match g.gtid() {
                    Some(x) => write_json_str(out, x.to_string().as_bytes()),
                    None => out.extend_from_slice(b"null"),
                }
                if let Some(lc) = &g.logical_clock {
                    field_int(out, "last_committed", lc.last_committed);
                    field_int(out, "sequence_number", lc.sequence_number);
                }
                if let Some(ts) = g.original_commit_timestamp {
                    field_int(out, "original_commit_timestamp", ts);
                }
                if let Some(ts) = g.immediate_commit_timestamp {
                    field_int(out, "immediate_commit_timestamp", ts);
                }
                if let Some(l) = g.transaction_length {
                    field_int(out, "transaction_length", l);
                }
            }
            EventBody::MariadbGtid(g) => {
                field_str(out, "gtid", g.gtid().to_string().as_bytes());
                out.extend_from_slice(b",\"standalone\":");
                out.extend_from_slice(if g.is_standalone() { b"true" } else { b"false" });
                if let Some(c) = g.commit_id {
                    field_int(out, "commit_id", c);
                }
            }
            EventBody::MariadbGtidList(l) => {
                out.extend_from_slice(b",\"gtids\":[");
                for (i, g) in l.gtids.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_str(out, g.to_string().as_bytes());
                }
                out.push(b']');
            }
            EventBody::Query(q) => {
                field_int(out, "thread_id", q.thread_id);
                field_int(out, "exec_time", q.exec_time);
                field_int(out, "error_code", q.error_code);
                field_str(out, "schema", q.schema);
                if let Some(m) = q.status.sql_mode {
                    field_int(out, "sql_mode", m);
                }
                field_str(out, "query", &q.query);
            }
            EventBody::Xid(x) => {
                field_int(out, "xid", *x);
            }
            EventBody::Rotate(r) => {
                field_str(out, "next_file", r.next_file);
                field_int(out, "position", r.position);
            }
            EventBody::Intvar(i) => {
                out.extend_from_slice(if i.kind == 1 {
                    b",\"last_insert_id\":"
                } else {
                    b",\"insert_id\":"
                });
                push_int(out, i.value);
            }
            EventBody::Rand(r) => {
                field_int(out, "seed1", r.seed1);
                field_int(out, "seed2", r.seed2);
            }
            EventBody::UserVar(u) => {
                field_str(out, "name", u.name);
                out.extend_from_slice(b",\"value\":");
                match &u.value {
                    None => out.extend_from_slice(b"null"),
                    Some(v) => write_json_str(out, v.bytes),
                }
            }
            EventBody::RowsQuery(q) => {
                field_str(out, "query", q);
            }
            EventBody::TableMap(tm) => {
                field_int(out, "table_id", tm.table_id);
                field_str(out, "schema", tm.schema);
                field_str(out, "table", tm.table);
            }
            EventBody::XaPrepare(x) => {
                out.extend_from_slice(b",\"one_phase\":");
                out.extend_from_slice(if x.one_phase { b"true" } else { b"false" });
                field_int(out, "format_id", x.format_id);
                field_str(out, "gtrid", x.gtrid);
                field_str(out, "bqual", x.bqual);
            }
            EventBody::TransactionPayload(p) => {
                field_int(out, "payload_size", p.payload.len());
                field_int(out, "uncompressed_size", p.uncompressed_size);
            }
            EventBody::Rows(r) => {
                field_int(out, "table_id", r.table_id);
                field_int(out, "flags", r.flags);
            }
            EventBody::Incident(i) => {
                field_int(out, "incident", i.kind);
                field_str(out, "message", i.message);
            }
            EventBody::BinlogCheckpoint(f) => {
                field_str(out, "file", f);
            }
            EventBody::Heartbeat(_) | EventBody::Stop | EventBody::Other(_) => {}
        }
        out.extend_from_slice(b"}\n");
        if let Some((table, r)) = rows {
            self.rows(out, file, pos, table, r)?;
        }
        Ok(())
    }

    fn rows(
        &mut self,
        out: &mut Vec<u8>,
        file: &str,
        pos: u64,
        table: &MappedTable,
        rows: &RowsEvent<'_>,
    ) -> Result<(), BinlogError> {
        if self.table.generation != table.generation || self.table.keys.is_empty() {
            self.table = TableJson::new(table);
        }
        let cols = table.decoder.columns();
        let op: &[u8] = match rows.kind {
            RowsKind::Write => b"insert",
            RowsKind::Delete => b"delete",
            RowsKind::Update | RowsKind::PartialUpdate => b"update",
        };
        let mut head = b"{\"file\":".to_vec();
        write_json_str(&mut head, file.as_bytes());
        head.extend_from_slice(b",\"pos\":");
        push_int(&mut head, pos);
        head.extend_from_slice(b",\"row\":\"");
        head.extend_from_slice(op);
        head.push(b'"');
        head.extend_from_slice(&self.table.names);
        let mut before = Vec::with_capacity(cols.len());
        let mut after = Vec::with_capacity(cols.len());
        let mut it = rows.rows(&table.decoder);
        let after_present = rows.columns_after.as_ref().unwrap_or(&rows.columns_before);
        while it.next_row(&mut before, &mut after)? {
            out.extend_from_slice(&head);
            if rows.kind != RowsKind::Write {
                out.extend_from_slice(b",\"before\":");
                self.image(out, cols, &before, &rows.columns_before)?;
            }
            if rows.kind != RowsKind::Delete {
                out.extend_from_slice(b",\"after\":");
                self.image(out, cols, &after, after_present)?;
            }
            out.extend_from_slice(b"}\n");
        }
        Ok(())
    }

    /// An image as an object keyed by column name (or `@N` without names); absent columns of a
    /// MINIMAL image are left out.
    fn image(
        &mut self,
        out: &mut Vec<u8>,
        cols: &[CompiledColumn],
        values: &[Value<'_>],
        present: &crate::binlog::bitmap::Bitmap<'_>,
    ) -> Result<(), BinlogError> {
        out.push(b'{');
        let mut first = true;
        for (i, (col, v)) in cols.iter().zip(values).enumerate() {
            if !present.get(i) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&self.table.keys[i]);
            self.value(out, col, i, v)?;
        }
        out.push(b'}');
        Ok(())
    }

    fn value(
        &mut self,
        out: &mut Vec<u8>,
        col: &CompiledColumn,
        i: usize,
        v: &Value<'_>,
    ) -> Result<(), BinlogError> {
        match *v {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Int(x) => push_int(out, x),
            Value::UInt(x) => push_int(out, x),
            Value::Float(f) if f.is_finite() => {
                out.extend_from_slice(ryu::Buffer::new().format(f).as_bytes())
            }
            Value::Float(f) => push_float(out, f as f64),
            Value::Double(d) => push_float(out, d),
            Value::Decimal(d) => {
                self.text.clear();
                write_decimal(&d, &mut self.text);
                write_json_str(out, self.text.as_bytes());
            }
            Value::Year(y) => push_int(out, y),
            Value::Date(d) => {
                out.push(b'"');
                push_date(out, &d, b'-');
                out.push(b'"');
            }
            Value::Time(t) => {
                out.push(b'"');
                push_time(out, &t, true);
                out.push(b'"');
            }
            Value::DateTime(dt) => {
                out.push(b'"');
                push_datetime(out, &dt, true);
                out.push(b'"');
            }
            Value::Timestamp(ts) => {
                // Seconds since the epoch, exact: a JSON number written as text, never a float.
                push_int(out, ts.seconds);
                push_frac(out, ts.micros, ts.fsp);
            }
            Value::Bit { bits, .. } => push_int(out, bits),
            Value::Enum(n) => match self.table.members[i].get((n as usize).wrapping_sub(1)) {
                Some(name) => write_json_str(out, name),
                None => push_int(out, n),
            },
            Value::Set(mask) => match &self.table.members[i] {
                names if !names.is_empty() => {
                    out.push(b'[');
                    let mut first = true;
                    for (bit, name) in names.iter().enumerate() {
                        if bit < 64 && mask & (1 << bit) != 0 {
                            if !first {
                                out.push(b',');
                            }
                            first = false;
                            write_json_str(out, name);
                        }
                    }
                    out.push(b']');
                }
                _ => push_int(out, mask),
            },
            Value::Bytes(b) => bytes_value(out, col, b),
            // The value, decompressed (the text form prints the stored bytes).
            Value::Compressed(b) => {
                self.inflated.clear();
                decompress_column(b, value_limit(col.kind), &mut self.inflated)?;
                bytes_value(out, col, &self.inflated);
            }
            Value::Json(j) => {
                self.text.clear();
                write_json_text(j, &mut self.text)?;
                out.extend_from_slice(if self.text.is_empty() {
                    b"null"
                } else {
                    self.text.as_bytes()
                });
            }
            Value::JsonDiff(d) => {
                self.text.clear();
                let key = &self.table.keys[i];
                // The diff names the column as its key without quotes and colon.
                let name = String::from_utf8_lossy(&key[1..key.len() - 2]).into_owned();
                write_json_diff_text(d, &name, &mut self.text)?;
                out.extend_from_slice(b"{\"json_diff\":");
                write_json_str(out, self.text.as_bytes());
                out.push(b'}');
            }
            Value::Geometry(g) => {
                out.extend_from_slice(b"{\"srid\":");
                let srid = g
                    .get(..4)
                    .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
                push_int(out, srid.unwrap_or(0));
                out.extend_from_slice(b",\"wkb_hex\":\"");
                push_hex(out, g.get(4..).unwrap_or_default());
                out.extend_from_slice(b"\"}");
            }
            Value::Vector(vb) => {
                out.push(b'[');
                for (k, c) in vb.chunks_exact(4).enumerate() {
                    if k > 0 {
                        out.push(b',');
                    }
                    push_float(out, f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64);
                }
                out.push(b']');
            }
        }
        Ok(())
    }
}

/// A string column's bytes: JSON text, or `{"hex": ...}` for binary data.
fn bytes_value(out: &mut Vec<u8>, col: &CompiledColumn, b: &[u8]) {
    // Without charset metadata, bytes that are not UTF-8 cannot be text we can show.
    let binary = match col.charset {
        Some(c) => c == BINARY_COLLATION,
        None => std::str::from_utf8(b).is_err(),
    };
    if binary {
        out.extend_from_slice(b"{\"hex\":\"");
        push_hex(out, b);
        out.extend_from_slice(b"\"}");
    } else {
        write_json_str(out, b);
    }
}
