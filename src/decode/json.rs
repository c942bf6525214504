//! The JSON form of `gapfill decode`: one object per line, per event and per row, for tools.
//!
//! Owns the mapping from typed values to JSON: integers as numbers (unsigned ones correct, unlike
//! the text form which mimics mysqlbinlog), DECIMAL as strings (exact), temporal values as their
//! SQL text, character columns as strings, binary ones as `{"hex": ...}`, JSON columns embedded as
//! JSON, ENUM and SET by name when the table map carries the names.

use crate::binlog::event::{Event, EventBody};
use crate::binlog::event_type::RowsKind;
use crate::binlog::json_binary::write_json_text;
use crate::binlog::json_diff::write_json_diff_text;
use crate::binlog::row_decoder::CompiledColumn;
use crate::binlog::rows_event::RowsEvent;
use crate::binlog::stream::MappedTable;
use crate::binlog::table_map::TableMap;
use crate::binlog::value::{Date, Value};
use crate::binlog::{BinlogError, decimal::write_decimal};

use super::row_text::next_row_checked;

/// Collation id of the `binary` pseudo-charset.
const BINARY_COLLATION: u16 = 63;

/// Renders events as JSON lines into a byte buffer the caller flushes.
#[derive(Default)]
pub struct JsonRenderer {
    text: String,
}

fn push_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
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

fn push_hex(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(b.len() * 2);
    for x in b {
        out.push(HEX[(x >> 4) as usize]);
        out.push(HEX[(x & 15) as usize]);
    }
}

fn push_date(out: &mut Vec<u8>, d: &Date) {
    out.extend_from_slice(format!("{:04}-{:02}-{:02}", d.year, d.month, d.day).as_bytes());
}

fn push_frac(out: &mut Vec<u8>, micros: u32, fsp: u8) {
    if fsp > 0 {
        let s = format!(".{micros:06}");
        out.extend_from_slice(&s.as_bytes()[..1 + (fsp as usize).min(6)]);
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
        out.extend_from_slice(b",\"pos\":");
        push_int(out, pos);
        out.extend_from_slice(b",\"type\":\"");
        out.extend_from_slice(ev.header.event_type.name().as_bytes());
        out.extend_from_slice(b"\",\"timestamp\":");
        push_int(out, ev.header.timestamp);
        out.extend_from_slice(b",\"server_id\":");
        push_int(out, ev.header.server_id);
        out.extend_from_slice(b",\"end_log_pos\":");
        push_int(out, ev.header.log_pos);
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
                out.extend_from_slice(b",\"server_version\":");
                write_json_str(out, f.server_version.as_bytes());
                out.extend_from_slice(b",\"checksum\":");
                out.extend_from_slice(match f.checksum {
                    crate::binlog::checksum::ChecksumAlg::Crc32 => b"\"crc32\"",
                    crate::binlog::checksum::ChecksumAlg::Off => b"\"none\"",
                });
            }
            EventBody::PreviousGtids(p) => {
                out.extend_from_slice(b",\"gtids\":");
                write_json_str(out, p.gtids.to_string().as_bytes());
            }
            EventBody::Gtid(g) => {
                out.extend_from_slice(b",\"gtid\":");
                match g.gtid() {
                    Some(x) => write_json_str(out, x.to_string().as_bytes()),
                    None => out.extend_from_slice(b"null"),
                }
                if let Some(lc) = &g.logical_clock {
                    out.extend_from_slice(b",\"last_committed\":");
                    push_int(out, lc.last_committed);
                    out.extend_from_slice(b",\"sequence_number\":");
                    push_int(out, lc.sequence_number);
                }
                if let Some(ts) = g.original_commit_timestamp {
                    out.extend_from_slice(b",\"original_commit_timestamp\":");
                    push_int(out, ts);
                }
                if let Some(ts) = g.immediate_commit_timestamp {
                    out.extend_from_slice(b",\"immediate_commit_timestamp\":");
                    push_int(out, ts);
                }
                if let Some(l) = g.transaction_length {
                    out.extend_from_slice(b",\"transaction_length\":");
                    push_int(out, l);
                }
            }
            EventBody::MariadbGtid(g) => {
                out.extend_from_slice(b",\"gtid\":");
                write_json_str(out, g.gtid().to_string().as_bytes());
                out.extend_from_slice(b",\"standalone\":");
                out.extend_from_slice(if g.is_standalone() { b"true" } else { b"false" });
                if let Some(c) = g.commit_id {
                    out.extend_from_slice(b",\"commit_id\":");
                    push_int(out, c);
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
                out.extend_from_slice(b",\"thread_id\":");
                push_int(out, q.thread_id);
                out.extend_from_slice(b",\"exec_time\":");
                push_int(out, q.exec_time);
                out.extend_from_slice(b",\"error_code\":");
                push_int(out, q.error_code);
                out.extend_from_slice(b",\"schema\":");
                write_json_str(out, q.schema);
                if let Some(m) = q.status.sql_mode {
                    out.extend_from_slice(b",\"sql_mode\":");
                    push_int(out, m);
                }
                out.extend_from_slice(b",\"query\":");
                write_json_str(out, &q.query);
            }
            EventBody::Xid(x) => {
                out.extend_from_slice(b",\"xid\":");
                push_int(out, *x);
            }
            EventBody::Rotate(r) => {
                out.extend_from_slice(b",\"next_file\":");
                write_json_str(out, r.next_file);
                out.extend_from_slice(b",\"position\":");
                push_int(out, r.position);
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
                out.extend_from_slice(b",\"seed1\":");
                push_int(out, r.seed1);
                out.extend_from_slice(b",\"seed2\":");
                push_int(out, r.seed2);
            }
            EventBody::UserVar(u) => {
                out.extend_from_slice(b",\"name\":");
                write_json_str(out, u.name);
                out.extend_from_slice(b",\"value\":");
                match &u.value {
                    None => out.extend_from_slice(b"null"),
                    Some(v) => write_json_str(out, v.bytes),
                }
            }
            EventBody::RowsQuery(q) => {
                out.extend_from_slice(b",\"query\":");
                write_json_str(out, q);
            }
            EventBody::TableMap(tm) => {
                out.extend_from_slice(b",\"table_id\":");
                push_int(out, tm.table_id);
                out.extend_from_slice(b",\"schema\":");
                write_json_str(out, tm.schema);
                out.extend_from_slice(b",\"table\":");
                write_json_str(out, tm.table);
            }
            EventBody::XaPrepare(x) => {
                out.extend_from_slice(b",\"one_phase\":");
                out.extend_from_slice(if x.one_phase { b"true" } else { b"false" });
                out.extend_from_slice(b",\"format_id\":");
                push_int(out, x.format_id);
                out.extend_from_slice(b",\"gtrid\":");
                write_json_str(out, x.gtrid);
                out.extend_from_slice(b",\"bqual\":");
                write_json_str(out, x.bqual);
            }
            EventBody::TransactionPayload(p) => {
                out.extend_from_slice(b",\"payload_size\":");
                push_int(out, p.payload.len());
                out.extend_from_slice(b",\"uncompressed_size\":");
                push_int(out, p.uncompressed_size);
            }
            EventBody::Rows(r) => {
                out.extend_from_slice(b",\"table_id\":");
                push_int(out, r.table_id);
                out.extend_from_slice(b",\"flags\":");
                push_int(out, r.flags);
            }
            EventBody::Incident(i) => {
                out.extend_from_slice(b",\"incident\":");
                push_int(out, i.kind);
                out.extend_from_slice(b",\"message\":");
                write_json_str(out, i.message);
            }
            EventBody::BinlogCheckpoint(f) => {
                out.extend_from_slice(b",\"file\":");
                write_json_str(out, f);
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
        let tm = table.table_map();
        let cols = table.decoder.columns();
        let op: &[u8] = match rows.kind {
            RowsKind::Write => b"insert",
            RowsKind::Delete => b"delete",
            RowsKind::Update | RowsKind::PartialUpdate => b"update",
        };
        let mut before = Vec::with_capacity(cols.len());
        let mut after = Vec::with_capacity(cols.len());
        let mut it = rows.rows(&table.decoder);
        let after_present = rows.columns_after.as_ref().unwrap_or(&rows.columns_before);
        while next_row_checked(&mut it, &mut before, &mut after)? {
            out.extend_from_slice(b"{\"file\":");
            write_json_str(out, file.as_bytes());
            out.extend_from_slice(b",\"pos\":");
            push_int(out, pos);
            out.extend_from_slice(b",\"row\":\"");
            out.extend_from_slice(op);
            out.extend_from_slice(b"\",\"schema\":");
            write_json_str(out, tm.schema);
            out.extend_from_slice(b",\"table\":");
            write_json_str(out, tm.table);
            if rows.kind != RowsKind::Write {
                out.extend_from_slice(b",\"before\":");
                self.image(out, cols, &tm, &before, &rows.columns_before)?;
            }
            if rows.kind != RowsKind::Delete {
                out.extend_from_slice(b",\"after\":");
                self.image(out, cols, &tm, &after, after_present)?;
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
        tm: &TableMap<'_>,
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
            match tm.column_name(i) {
                Some(n) => write_json_str(out, n),
                None => out.extend_from_slice(format!("\"@{}\"", i + 1).as_bytes()),
            }
            out.push(b':');
            self.value(out, col, tm, i, v)?;
        }
        out.push(b'}');
        Ok(())
    }

    fn value(
        &mut self,
        out: &mut Vec<u8>,
        col: &CompiledColumn,
        tm: &TableMap<'_>,
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
                push_date(out, &d);
                out.push(b'"');
            }
            Value::Time(t) => {
                out.push(b'"');
                if t.negative {
                    out.push(b'-');
                }
                out.extend_from_slice(
                    format!("{:02}:{:02}:{:02}", t.hours, t.minutes, t.seconds).as_bytes(),
                );
                push_frac(out, t.micros, t.fsp);
                out.push(b'"');
            }
            Value::DateTime(dt) => {
                out.push(b'"');
                push_date(out, &dt.date);
                out.extend_from_slice(
                    format!(" {:02}:{:02}:{:02}", dt.hour, dt.minute, dt.second).as_bytes(),
                );
                push_frac(out, dt.micros, dt.fsp);
                out.push(b'"');
            }
            Value::Timestamp(ts) => {
                // Seconds since the epoch, exact: a JSON number written as text, never a float.
                push_int(out, ts.seconds);
                push_frac(out, ts.micros, ts.fsp);
            }
            Value::Bit { bits, .. } => push_int(out, bits),
            Value::Enum(n) => match tm
                .enum_values(i)
                .and_then(|mut it| if n == 0 { None } else { it.nth(n as usize - 1) })
            {
                Some(name) => write_json_str(out, name),
                None => push_int(out, n),
            },
            Value::Set(mask) => match tm.set_values(i) {
                Some(names) => {
                    out.push(b'[');
                    let mut first = true;
                    for (bit, name) in names.enumerate() {
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
                None => push_int(out, mask),
            },
            Value::Bytes(b) => {
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
                let name = format!("@{}", i + 1);
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
