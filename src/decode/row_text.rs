//! Column values printed exactly as `mysqlbinlog -vv` prints them in `###` row lines.
//!
//! Owns the reference tool's conventions, quirks included, so that `gapfill decode` output can be
//! diffed line for line against it: integers signed with the unsigned reading in parentheses when
//! negative, FLOAT as `%-20g`, DATE with colons, DATETIME2 quoted but TIMESTAMP2 as epoch seconds,
//! SET and BIT as bit strings, VECTOR as `%.5e` lists, partial JSON as `JSON_REPLACE(...)` calls.
//! Where `mysqlbinlog` cannot print a type (GEOMETRY) we print the bytes quoted.

use crate::binlog::json_binary::write_json_text_unquoted;
use crate::binlog::json_diff::write_json_diff_text;
use crate::binlog::row_decoder::{ColumnKind, CompiledColumn};
use crate::binlog::value::{Date, DateTime, Time, Value};
use crate::binlog::{BinlogError, decimal::write_decimal};

use super::float_format::{write_e, write_g};
use super::quote::{write_quoted, write_quoted_mariadb};

/// Whose conventions to follow: the two tools differ in how they escape strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    MySql,
    MariaDb,
}

/// Printing state: the style, and scratch space so printing values allocates nothing per row.
#[derive(Default)]
pub struct Scratch {
    pub style: Style,
    text: String,
    name: String,
}

impl Scratch {
    fn quoted(&self, out: &mut Vec<u8>, b: &[u8]) {
        match self.style {
            Style::MySql => write_quoted(out, b),
            Style::MariaDb => write_quoted_mariadb(out, b),
        }
    }
}

fn int_width(kind: &ColumnKind) -> u32 {
    match kind {
        ColumnKind::Int8 { .. } => 8,
        ColumnKind::Int16 { .. } => 16,
        ColumnKind::Int24 { .. } => 24,
        ColumnKind::Int32 { .. } => 32,
        _ => 64,
    }
}

pub(crate) fn push_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Append the first `len` bytes of `buf` with one copy of the whole array (a fixed-size copy
/// the compiler inlines, where a copy of `len` bytes would be a call), then cut the rest.
#[inline]
pub(crate) fn push_prefix<const N: usize>(out: &mut Vec<u8>, buf: &[u8; N], len: usize) {
    out.extend_from_slice(buf);
    out.truncate(out.len() - (N - len.min(N)));
}

/// The two decimal digits of `v` (below 100).
#[inline]
fn two(v: u32) -> [u8; 2] {
    [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]
}

/// At least two digits, zero-padded.
pub(crate) fn push_2(out: &mut Vec<u8>, v: u32) {
    if v < 100 {
        out.extend_from_slice(&two(v));
    } else {
        push_int(out, v);
    }
}

/// At least four digits, zero-padded.
pub(crate) fn push_4(out: &mut Vec<u8>, v: u32) {
    if v < 10_000 {
        let [a, b] = two(v / 100);
        let [c, d] = two(v % 100);
        out.extend_from_slice(&[a, b, c, d]);
    } else {
        push_int(out, v);
    }
}

/// `.` and the first `fsp` of the six microsecond digits (nothing when `fsp` is 0).
pub fn push_frac(out: &mut Vec<u8>, micros: u32, fsp: u8) {
    if fsp == 0 {
        return;
    }
    let mut digits = [b'0'; 6];
    let mut m = micros % 1_000_000;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    out.push(b'.');
    out.extend_from_slice(&digits[..(fsp as usize).min(6)]);
}

/// `[-]HH:MM:SS` (hours at least two digits) and, when `frac`, the declared fraction digits.
pub(crate) fn push_time(out: &mut Vec<u8>, t: &Time, frac: bool) {
    if t.negative {
        out.push(b'-');
    }
    push_2(out, t.hours);
    out.push(b':');
    push_2(out, t.minutes as u32);
    out.push(b':');
    push_2(out, t.seconds as u32);
    if frac {
        push_frac(out, t.micros, t.fsp);
    }
}

/// `YYYY-MM-DD HH:MM:SS` and, when `frac`, the declared fraction digits.
pub(crate) fn push_datetime(out: &mut Vec<u8>, dt: &DateTime, frac: bool) {
    let d = &dt.date;
    let (y, m, day) = (d.year as u32, d.month as u32, d.day as u32);
    let (h, mi, sec) = (dt.hour as u32, dt.minute as u32, dt.second as u32);
    if y >= 10_000 || m.max(day).max(h).max(mi).max(sec) >= 100 {
        // Out of range for the fixed layout (damaged data): field by field.
        push_date(out, d, b'-');
        out.push(b' ');
        push_2(out, h);
        out.push(b':');
        push_2(out, mi);
        out.push(b':');
        push_2(out, sec);
        if frac {
            push_frac(out, dt.micros, dt.fsp);
        }
        return;
    }
    // The usual case, built in place and appended with one fixed-size copy.
    let mut b = *b"0000-00-00 00:00:00.000000";
    b[..2].copy_from_slice(&two(y / 100));
    b[2..4].copy_from_slice(&two(y % 100));
    b[5..7].copy_from_slice(&two(m));
    b[8..10].copy_from_slice(&two(day));
    b[11..13].copy_from_slice(&two(h));
    b[14..16].copy_from_slice(&two(mi));
    b[17..19].copy_from_slice(&two(sec));
    let mut len = 19;
    if frac && dt.fsp > 0 {
        let us = dt.micros % 1_000_000;
        b[20..22].copy_from_slice(&two(us / 10_000));
        b[22..24].copy_from_slice(&two(us / 100 % 100));
        b[24..26].copy_from_slice(&two(us % 100));
        len = 20 + (dt.fsp as usize).min(6);
    }
    push_prefix(out, &b, len);
}

pub(crate) fn push_date(out: &mut Vec<u8>, d: &Date, sep: u8) {
    push_4(out, d.year as u32);
    out.push(sep);
    push_2(out, d.month as u32);
    out.push(sep);
    push_2(out, d.day as u32);
}

fn push_bits(out: &mut Vec<u8>, value: u64, nbits: u32) {
    out.extend_from_slice(b"b'");
    for i in (0..nbits).rev() {
        out.push(if (value >> i) & 1 == 1 { b'1' } else { b'0' });
    }
    out.push(b'\'');
}

/// Print one value the way `log_event_print_value` does. `column_name` is the `@N` used by
/// partial JSON updates.
pub fn write_value(
    out: &mut Vec<u8>,
    col: &CompiledColumn,
    value: &Value<'_>,
    column_name: &str,
    scratch: &mut Scratch,
) -> Result<(), BinlogError> {
    match *value {
        Value::Null => out.extend_from_slice(b"NULL"),
        Value::Int(i) => {
            push_int(out, i);
            if i < 0 {
                let w = int_width(&col.kind);
                let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
                out.extend_from_slice(b" (");
                push_int(out, (i as u64) & mask);
                out.push(b')');
            }
        }
        Value::UInt(u) => {
            // mysqlbinlog ignores SIGNEDNESS metadata: it prints the signed reading first.
            let w = int_width(&col.kind);
            let signed = if w == 64 {
                u as i64
            } else {
                ((u << (64 - w)) as i64) >> (64 - w)
            };
            push_int(out, signed);
            if signed < 0 {
                out.extend_from_slice(b" (");
                push_int(out, u);
                out.push(b')');
            }
        }
        Value::Float(f) => write_g(out, f as f64, 6, 20),
        Value::Double(d) => write_g(out, d, 20, 0),
        Value::Decimal(d) => {
            scratch.text.clear();
            write_decimal(&d, &mut scratch.text);
            out.extend_from_slice(scratch.text.as_bytes());
        }
        Value::Year(y) => push_4(out, if y == 0 { 1900 } else { y as u32 }),
        Value::Date(d) => {
            out.push(b'\'');
            push_date(out, &d, b':');
            out.push(b'\'');
        }
        Value::Time(t) => {
            out.push(b'\'');
            push_time(out, &t, matches!(col.kind, ColumnKind::Time2 { .. }));
            out.push(b'\'');
        }
        Value::DateTime(dt) => {
            // Old DATETIME prints unquoted, DATETIME2 quoted with its fraction.
            let v2 = matches!(col.kind, ColumnKind::DateTime2 { .. });
            if v2 {
                out.push(b'\'');
            }
            push_datetime(out, &dt, v2);
            if v2 {
                out.push(b'\'');
            }
        }
        Value::Timestamp(ts) => {
            push_int(out, ts.seconds);
            if matches!(col.kind, ColumnKind::Timestamp2 { .. }) {
                push_frac(out, ts.micros, ts.fsp);
            }
        }
        Value::Bit { bits, width } => push_bits(out, bits, width as u32),
        Value::Enum(n) => push_int(out, n),
        Value::Set(mask) => {
            // Printed over the stored little-endian bytes, each byte most significant bit first.
            let bytes = match col.kind {
                ColumnKind::Set { bytes } => bytes as u32,
                _ => 8,
            };
            out.extend_from_slice(b"b'");
            for byte in 0..bytes {
                let b = (mask >> (byte * 8)) as u8;
                for bit in (0..8).rev() {
                    out.push(if (b >> bit) & 1 == 1 { b'1' } else { b'0' });
                }
            }
            out.push(b'\'');
        }
        // mariadb-binlog prints a compressed column's stored bytes as they are.
        Value::Bytes(b) | Value::Geometry(b) | Value::Compressed(b) => scratch.quoted(out, b),
        Value::Json(j) => {
            scratch.text.clear();
            // Like the server's `Json_wrapper::to_string(.., json_quoted=false)`: a top-level
            // string scalar prints without its JSON quotes.
            write_json_text_unquoted(j, &mut scratch.text)?;
            let text = std::mem::take(&mut scratch.text);
            scratch.quoted(out, text.as_bytes());
            scratch.text = text;
        }
        Value::JsonDiff(d) => {
            scratch.text.clear();
            scratch.name.clear();
            scratch.name.push_str(column_name);
            write_json_diff_text(d, &scratch.name, &mut scratch.text)?;
            out.extend_from_slice(scratch.text.as_bytes());
        }
        Value::Vector(v) => {
            out.push(b'[');
            for (i, c) in v.chunks_exact(4).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let f = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                write_e(out, f as f64, 5);
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// The `/* TYPE meta=M nullable=N is_null=I */` comment `mysqlbinlog -vv` adds to each value.
pub fn write_type_comment(
    out: &mut Vec<u8>,
    col: &CompiledColumn,
    vector_dims: Option<u64>,
    is_null: bool,
    scratch: &mut Scratch,
) {
    out.extend_from_slice(b" /* ");
    scratch.name.clear();
    if let (ColumnKind::Vector { .. }, Some(d)) = (col.kind, vector_dims) {
        scratch.name.push_str("VECTOR(");
        scratch.name.push_str(itoa::Buffer::new().format(d));
        scratch.name.push(')');
    } else {
        col.mysqlbinlog_type_name(&mut scratch.name);
    }
    out.extend_from_slice(scratch.name.as_bytes());
    out.extend_from_slice(b" meta=");
    push_int(out, col.meta);
    out.extend_from_slice(b" nullable=");
    out.push(if col.nullable { b'1' } else { b'0' });
    out.extend_from_slice(b" is_null=");
    out.push(if is_null { b'1' } else { b'0' });
    out.extend_from_slice(b" */");
}
