//! MySQL's binary JSON format (`json_binary`) to the exact text MySQL prints for it.
//!
//! Owns the binary layout (small/large objects and arrays with key and value entries, inlined
//! scalars, variable-length string sizes, opaque MySQL-typed scalars) and MySQL's text rules
//! from `Json_wrapper::to_string`: `": "` and `", "` separators, keys in stored order, strings
//! escaped by `double_quote` (`\"`, `\\`, `\b \f \n \r \t`, `\u00xx` for every other byte up
//! to 0x1f), doubles via `my_gcvt` with `.0` appended to integral values, DECIMAL unquoted,
//! DATE/TIME/DATETIME/TIMESTAMP quoted with 6 fraction digits, other opaque values as quoted
//! `base64:typeNN:...` (MySQL's base64 breaks lines every 76 characters). It does not know
//! about rows or diffs (see `json_diff`).
//!
//! Never panics and bounds its work: nesting depth is limited, and every value and every byte
//! of string data may be printed at most once (a valid document never shares storage), so a
//! crafted document whose offsets point back at shared data cannot blow up.

use super::decimal::{decimal_bin_len, write_decimal};
use super::error::{BinlogError, Result};
use super::temporal::{datetime_from_packed, time_from_packed};
use super::value::Decimal;

const W: &str = "binary JSON";

/// Deeper nesting is refused (MySQL itself stops at 100 levels).
pub const MAX_DEPTH: usize = 150;

pub(crate) mod t {
    pub const SMALL_OBJECT: u8 = 0x00;
    pub const LARGE_OBJECT: u8 = 0x01;
    pub const SMALL_ARRAY: u8 = 0x02;
    pub const LARGE_ARRAY: u8 = 0x03;
    pub const LITERAL: u8 = 0x04;
    pub const INT16: u8 = 0x05;
    pub const UINT16: u8 = 0x06;
    pub const INT32: u8 = 0x07;
    pub const UINT32: u8 = 0x08;
    pub const INT64: u8 = 0x09;
    pub const UINT64: u8 = 0x0a;
    pub const DOUBLE: u8 = 0x0b;
    pub const STRING: u8 = 0x0c;
    pub const OPAQUE: u8 = 0x0f;

    pub const LITERAL_NULL: u8 = 0x00;
    pub const LITERAL_TRUE: u8 = 0x01;
    pub const LITERAL_FALSE: u8 = 0x02;
}

/// MySQL column type codes that get special treatment as opaque JSON scalars.
pub(crate) mod field {
    pub const TIMESTAMP: u8 = 7;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const NEWDECIMAL: u8 = 246;
    pub const VAR_STRING: u8 = 253;
}

/// The JSON type of a document's top-level value, as `Json_wrapper::type()` reports it;
/// `mysqlbinlog` picks how to print a partial-update value from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    Object,
    Array,
    Null,
    Boolean,
    Int,
    UInt,
    Double,
    String,
    Decimal,
    Date,
    Time,
    DateTime,
    Timestamp,
    Opaque,
}

/// Append the JSON text of the binary document `bin` to `out`, exactly as MySQL prints it
/// (`SELECT json_col`, `mysqlbinlog -v`). An empty document is JSON `null`, as MySQL reads it.
pub fn write_json_text(bin: &[u8], out: &mut String) -> Result<()> {
    write_json(bin, true, out)
}

/// Like [`write_json_text`] but a top-level string (or temporal, or opaque) is written bare,
/// without JSON quotes or escapes: MySQL's `to_string(json_quoted = false)`, which
/// `mysqlbinlog` uses before SQL-quoting partial-update values.
pub fn write_json_text_unquoted(bin: &[u8], out: &mut String) -> Result<()> {
    write_json(bin, false, out)
}

fn write_json(bin: &[u8], quoted: bool, out: &mut String) -> Result<()> {
    let Some((&ty, data)) = bin.split_first() else {
        out.push_str("null");
        return Ok(());
    };
    let mut w = Writer {
        out,
        nodes_left: bin.len() + 1,
        bytes_left: bin.len(),
    };
    w.value(ty, data, 0, quoted)
}

/// The type of the top-level value of `bin`.
pub fn json_type(bin: &[u8]) -> Result<JsonType> {
    let Some((&ty, data)) = bin.split_first() else {
        return Ok(JsonType::Null);
    };
    Ok(match ty {
        t::SMALL_OBJECT | t::LARGE_OBJECT => JsonType::Object,
        t::SMALL_ARRAY | t::LARGE_ARRAY => JsonType::Array,
        t::LITERAL => match data.first() {
            Some(&t::LITERAL_NULL) => JsonType::Null,
            Some(&t::LITERAL_TRUE) | Some(&t::LITERAL_FALSE) => JsonType::Boolean,
            _ => return Err(BinlogError::invalid(W, "bad literal")),
        },
        t::INT16 | t::INT32 | t::INT64 => JsonType::Int,
        t::UINT16 | t::UINT32 | t::UINT64 => JsonType::UInt,
        t::DOUBLE => JsonType::Double,
        t::STRING => JsonType::String,
        t::OPAQUE => match data.first() {
            Some(&field::NEWDECIMAL) => JsonType::Decimal,
            Some(&field::DATE) => JsonType::Date,
            Some(&field::TIME) => JsonType::Time,
            Some(&field::DATETIME) => JsonType::DateTime,
            Some(&field::TIMESTAMP) => JsonType::Timestamp,
            Some(_) => JsonType::Opaque,
            None => return Err(truncated(1, 0)),
        },
        other => {
            return Err(BinlogError::invalid(
                W,
                format!("unknown type {other:#04x}"),
            ));
        }
    })
}

pub(crate) fn truncated(needed: usize, available: usize) -> BinlogError {
    BinlogError::Truncated {
        what: W,
        needed,
        available,
    }
}

#[inline]
pub(crate) fn get<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N]> {
    b.get(at..at.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| truncated(at.saturating_add(N), b.len()))
}

/// Read an unsigned offset or count of 2 (small) or 4 (large) bytes.
#[inline]
pub(crate) fn uint(b: &[u8], at: usize, large: bool) -> Result<usize> {
    Ok(if large {
        u32::from_le_bytes(get::<4>(b, at)?) as usize
    } else {
        u16::from_le_bytes(get::<2>(b, at)?) as usize
    })
}

/// Read MySQL's variable-length size (7 bits per byte, low first, at most 5 bytes).
pub(crate) fn varlen(b: &[u8]) -> Result<(usize, usize)> {
    let mut v: u64 = 0;
    for i in 0..5 {
        let byte = *b.get(i).ok_or_else(|| truncated(i + 1, b.len()))?;
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            if v > u32::MAX as u64 {
                break;
            }
            return Ok((v as usize, i + 1));
        }
    }
    Err(BinlogError::invalid(W, "variable-length size too long"))
}

/// Whether a value of type `ty` is stored inline in its entry.
#[inline]
pub(crate) fn inlined(ty: u8, large: bool) -> bool {
    match ty {
        t::LITERAL | t::INT16 | t::UINT16 => true,
        t::INT32 | t::UINT32 => large,
        _ => false,
    }
}

struct Writer<'o> {
    out: &'o mut String,
    nodes_left: usize,
    bytes_left: usize,
}

impl Writer<'_> {
    fn spend_bytes(&mut self, n: usize) -> Result<()> {
        self.bytes_left = self.bytes_left.checked_sub(n).ok_or_else(|| {
            BinlogError::invalid(W, "document reuses string data (malformed offsets)")
        })?;
        Ok(())
    }

    /// Write the value of type `ty` whose bytes start at `data` (a stored value, or the inline
    /// slot of an entry). `quoted` is false only for a bare top-level string.
    fn value(&mut self, ty: u8, data: &[u8], depth: usize, quoted: bool) -> Result<()> {
        self.nodes_left = self
            .nodes_left
            .checked_sub(1)
            .ok_or_else(|| BinlogError::invalid(W, "document reuses values (malformed offsets)"))?;
        match ty {
            t::SMALL_OBJECT => self.container(data, false, true, depth),
            t::LARGE_OBJECT => self.container(data, true, true, depth),
            t::SMALL_ARRAY => self.container(data, false, false, depth),
            t::LARGE_ARRAY => self.container(data, true, false, depth),
            t::LITERAL => {
                let s = match data.first() {
                    Some(&t::LITERAL_NULL) => "null",
                    Some(&t::LITERAL_TRUE) => "true",
                    Some(&t::LITERAL_FALSE) => "false",
                    Some(b) => return Err(BinlogError::invalid(W, format!("literal {b:#04x}"))),
                    None => return Err(truncated(1, 0)),
                };
                self.out.push_str(s);
                Ok(())
            }
            t::INT16 => self.int(i16::from_le_bytes(get(data, 0)?) as i64),
            t::UINT16 => self.uint(u16::from_le_bytes(get(data, 0)?) as u64),
            t::INT32 => self.int(i32::from_le_bytes(get(data, 0)?) as i64),
            t::UINT32 => self.uint(u32::from_le_bytes(get(data, 0)?) as u64),
            t::INT64 => self.int(i64::from_le_bytes(get(data, 0)?)),
            t::UINT64 => self.uint(u64::from_le_bytes(get(data, 0)?)),
            t::DOUBLE => {
                write_mysql_double(f64::from_le_bytes(get(data, 0)?), self.out);
                Ok(())
            }
            t::STRING => {
                let (n, used) = varlen(data)?;
                let s = data
                    .get(used..used.saturating_add(n))
                    .ok_or_else(|| truncated(used.saturating_add(n), data.len()))?;
                self.spend_bytes(n)?;
                self.string(s, quoted)
            }
            t::OPAQUE => self.opaque(data, quoted),
            other => Err(BinlogError::invalid(
                W,
                format!("unknown type {other:#04x}"),
            )),
        }
    }

    fn int(&mut self, v: i64) -> Result<()> {
        self.out.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }

    fn uint(&mut self, v: u64) -> Result<()> {
        self.out.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }

    fn string(&mut self, s: &[u8], quoted: bool) -> Result<()> {
        // Short printable ASCII (most keys and many values): valid UTF-8 needing no escape,
        // written byte by byte, cheaper for a few bytes than validating and copying.
        if quoted
            && s.len() <= 16
            && s.iter()
                .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        {
            self.out.reserve(s.len() + 2);
            self.out.push('"');
            s.iter().for_each(|&b| self.out.push(b as char));
            self.out.push('"');
            return Ok(());
        }
        let s = std::str::from_utf8(s)
            .map_err(|e| BinlogError::invalid(W, format!("string is not UTF-8: {e}")))?;
        if quoted {
            double_quote(s, self.out);
        } else {
            self.out.push_str(s);
        }
        Ok(())
    }

    fn container(&mut self, data: &[u8], large: bool, object: bool, depth: usize) -> Result<()> {
        if depth >= MAX_DEPTH {
            return Err(BinlogError::invalid(
                W,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        let os = if large { 4 } else { 2 };
        let count = uint(data, 0, large)?;
        let size = uint(data, os, large)?;
        let data = data
            .get(..size)
            .ok_or_else(|| truncated(size, data.len()))?;
        let key_entry = os + 2;
        let value_entry = 1 + os;
        let keys_at = 2 * os;
        let values_at = count
            .checked_mul(if object { key_entry } else { 0 })
            .and_then(|k| k.checked_add(keys_at))
            .ok_or_else(|| BinlogError::invalid(W, "element count overflows"))?;
        let header_end = count
            .checked_mul(value_entry)
            .and_then(|v| v.checked_add(values_at))
            .ok_or_else(|| BinlogError::invalid(W, "element count overflows"))?;
        if header_end > size {
            return Err(BinlogError::invalid(
                W,
                format!("{count} elements do not fit in {size} bytes"),
            ));
        }
        self.out.push(if object { '{' } else { '[' });
        for i in 0..count {
            if i > 0 {
                self.out.push_str(", ");
            }
            if object {
                let e = keys_at + i * key_entry;
                let key_off = uint(data, e, large)?;
                let key_len = u16::from_le_bytes(get(data, e + os)?) as usize;
                let key = data
                    .get(key_off..key_off + key_len)
                    .ok_or_else(|| truncated(key_off + key_len, data.len()))?;
                self.spend_bytes(key_len)?;
                self.string(key, true)?;
                self.out.push_str(": ");
            }
            let e = values_at + i * value_entry;
            let ty = data[e]; // e < header_end <= size == data.len()
            if inlined(ty, large) {
                self.value(ty, &data[e + 1..e + 1 + os], depth + 1, true)?;
            } else {
                let off = uint(data, e + 1, large)?;
                let v = data
                    .get(off..)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| truncated(off + 1, data.len()))?;
                self.value(ty, v, depth + 1, true)?;
            }
        }
        self.out.push(if object { '}' } else { ']' });
        Ok(())
    }

    fn opaque(&mut self, data: &[u8], quoted: bool) -> Result<()> {
        let (&ftype, rest) = data.split_first().ok_or_else(|| truncated(1, 0))?;
        let (n, used) = varlen(rest)?;
        let payload = rest
            .get(used..used.saturating_add(n))
            .ok_or_else(|| truncated(used.saturating_add(n), rest.len()))?;
        self.spend_bytes(n)?;
        match ftype {
            field::VAR_STRING => self.string(payload, quoted),
            field::NEWDECIMAL => {
                let (&precision, rest) = payload
                    .split_first()
                    .ok_or_else(|| BinlogError::invalid(W, "empty DECIMAL"))?;
                let (&scale, bin) = rest
                    .split_first()
                    .ok_or_else(|| BinlogError::invalid(W, "DECIMAL without scale"))?;
                let d = Decimal {
                    precision,
                    scale,
                    bin,
                };
                if scale > precision || bin.len() != decimal_bin_len(precision, scale) {
                    return Err(BinlogError::invalid(
                        W,
                        format!("DECIMAL({precision},{scale}) with {} bytes", bin.len()),
                    ));
                }
                write_decimal(&d, self.out);
                Ok(())
            }
            field::DATE | field::TIME | field::DATETIME | field::TIMESTAMP => {
                let packed = i64::from_le_bytes(get(payload, 0)?);
                if quoted {
                    self.out.push('"');
                }
                use std::fmt::Write as _;
                let _ = match ftype {
                    field::DATE => write!(self.out, "{}", datetime_from_packed(packed, 0).date),
                    field::TIME => write!(self.out, "{}", time_from_packed(packed, 6)),
                    _ => write!(self.out, "{}", datetime_from_packed(packed, 6)),
                };
                if quoted {
                    self.out.push('"');
                }
                Ok(())
            }
            _ => {
                let mut s = String::with_capacity(16 + n.div_ceil(3) * 4 + n / 57 + 1);
                s.push_str("base64:type");
                s.push_str(itoa::Buffer::new().format(ftype));
                s.push(':');
                mysql_base64(payload, &mut s);
                if quoted {
                    double_quote(&s, self.out);
                } else {
                    self.out.push_str(&s);
                }
                Ok(())
            }
        }
    }
}

/// Append `s` as a JSON string the way MySQL's `double_quote` does: `"` and `\\` escaped,
/// `\b \t \n \f \r` by name, and every other byte up to 0x1f (0x1f included) as `\u00xx`
/// with lower-case hex, so the text is valid JSON the server accepts back.
pub fn double_quote(s: &str, out: &mut String) {
    let bytes = s.as_bytes();
    // Most strings need no escape: one scan, one copy.
    if !bytes.iter().any(|&b| b <= 0x1f || b == b'"' || b == b'\\') {
        out.reserve(bytes.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    out.push('"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]); // i is an ASCII byte, so a char boundary
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// MySQL's `base64_encode`: standard alphabet with padding and a newline every 76 characters.
fn mysql_base64(src: &[u8], out: &mut String) {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut line = 0;
    for chunk in src.chunks(3) {
        if line == 76 {
            out.push('\n');
            line = 0;
        }
        let b0 = chunk[0] as u32;
        let b1 = chunk.get(1).copied().unwrap_or(0) as u32;
        let b2 = chunk.get(2).copied().unwrap_or(0) as u32;
        let c = (b0 << 16) | (b1 << 8) | b2;
        out.push(TABLE[(c >> 18) as usize & 63] as char);
        out.push(TABLE[(c >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            TABLE[(c >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            TABLE[c as usize & 63] as char
        } else {
            '='
        });
        line += 4;
    }
}

/// Append a JSON double as MySQL prints it: `my_gcvt(d, DOUBLE, 34)` (shortest round-trip
/// digits; fixed notation for decimal exponents -14..=15, else `1.5e100` style), then `.0`
/// when the text has neither a point nor an exponent. Infinity and NaN (which valid JSON
/// cannot hold) print `0.0` as `my_gcvt` turns them into `0`.
pub fn write_mysql_double(d: f64, out: &mut String) {
    const MAX_DECPT_FOR_F_FORMAT: i32 = 15; // DBL_DIG
    let start = out.len();
    if !d.is_finite() {
        out.push_str("0.0");
        return;
    }
    let neg = d.is_sign_negative();
    // Shortest round-trip digits and decimal point position from ryu's text.
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(d.abs());
    let (mant, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let int_len = mant.find('.').unwrap_or(mant.len()) as i32;
    let mut digits = [0u8; 40];
    let mut len = 0usize;
    let mut decpt = int_len + exp;
    for &c in mant.as_bytes() {
        if c == b'.' {
            continue;
        }
        if len == 0 && c == b'0' {
            decpt -= 1; // leading zero
            continue;
        }
        if len < digits.len() {
            digits[len] = c;
            len += 1;
        }
    }
    while len > 0 && digits[len - 1] == b'0' {
        len -= 1;
    }
    if len == 0 {
        // Zero: dtoa returns "0" with the point after it.
        digits[0] = b'0';
        len = 1;
        decpt = 1;
    }
    let digits = &digits[..len];
    let len = len as i32;
    let width: i32 = 34 - if d < 0.0 { 1 } else { 0 };
    let exp_len = 1 + (decpt >= 101 || decpt <= -99) as i32 + (decpt >= 11 || decpt <= -9) as i32;
    let have_space = (if decpt <= 0 {
        len - decpt + 2
    } else if decpt < len {
        len + 1
    } else {
        decpt
    }) <= width;
    let force_e = decpt <= 0 && width <= 2 - decpt && width >= 3 + exp_len;
    // my_gcvt's `(decpt >= -1 || (decpt == -2 && (len > 1 || !force_e))) && !force_e`,
    // simplified: under `!force_e` the inner disjunction always holds.
    let f_format = (have_space || (decpt <= width && (decpt >= -1 || decpt == -2) && !force_e))
        && (!have_space
            || (decpt > -MAX_DECPT_FOR_F_FORMAT
                && (decpt <= MAX_DECPT_FOR_F_FORMAT || len > decpt)));
    if neg {
        out.push('-');
    }
    if f_format {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in decpt..0 {
                out.push('0');
            }
            out.push_str(std::str::from_utf8(digits).unwrap_or("0"));
        } else {
            for (i, &c) in digits.iter().enumerate() {
                out.push(c as char);
                if i as i32 + 1 == decpt && (i as i32 + 1) < len {
                    out.push('.');
                }
            }
            for _ in len..decpt {
                out.push('0');
            }
        }
    } else {
        out.push(digits[0] as char);
        if len > 1 {
            out.push('.');
            out.push_str(std::str::from_utf8(&digits[1..]).unwrap_or(""));
        }
        out.push('e');
        let e = decpt - 1;
        if e < 0 {
            out.push('-');
        }
        out.push_str(itoa::Buffer::new().format(e.unsigned_abs()));
    }
    if !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny encoder of MySQL binary JSON for tests (small format unless `large`).
    #[derive(Clone, Debug)]
    pub(crate) enum J {
        Null,
        Bool(bool),
        I16(i16),
        U16(u16),
        I32(i32),
        U32(u32),
        I64(i64),
        U64(u64),
        F(f64),
        S(&'static str),
        Opaque(u8, Vec<u8>),
        Arr(Vec<J>),
        Obj(Vec<(&'static str, J)>),
    }

    fn varlen_enc(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn ty(j: &J, large: bool) -> u8 {
        match j {
            J::Null | J::Bool(_) => t::LITERAL,
            J::I16(_) => t::INT16,
            J::U16(_) => t::UINT16,
            J::I32(_) => t::INT32,
            J::U32(_) => t::UINT32,
            J::I64(_) => t::INT64,
            J::U64(_) => t::UINT64,
            J::F(_) => t::DOUBLE,
            J::S(_) => t::STRING,
            J::Opaque(..) => t::OPAQUE,
            J::Arr(_) => {
                if large {
                    t::LARGE_ARRAY
                } else {
                    t::SMALL_ARRAY
                }
            }
            J::Obj(_) => {
                if large {
                    t::LARGE_OBJECT
                } else {
                    t::SMALL_OBJECT
                }
            }
        }
    }

    fn scalar(j: &J, out: &mut Vec<u8>, large: bool) {
        match j {
            J::Null => out.push(0),
            J::Bool(b) => out.push(if *b { 1 } else { 2 }),
            J::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            J::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            J::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            J::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            J::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            J::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            J::F(v) => out.extend_from_slice(&v.to_le_bytes()),
            J::S(s) => {
                varlen_enc(s.len(), out);
                out.extend_from_slice(s.as_bytes());
            }
            J::Opaque(ft, b) => {
                out.push(*ft);
                varlen_enc(b.len(), out);
                out.extend_from_slice(b);
            }
            J::Arr(items) => container(items.iter().map(|v| (None, v)).collect(), out, large),
            J::Obj(items) => container(
                items.iter().map(|(k, v)| (Some(*k), v)).collect(),
                out,
                large,
            ),
        }
    }

    fn container(items: Vec<(Option<&str>, &J)>, out: &mut Vec<u8>, large: bool) {
        let os = if large { 4 } else { 2 };
        let n = items.len();
        let object = items.first().is_some_and(|(k, _)| k.is_some());
        let header = 2 * os + if object { n * (os + 2) } else { 0 } + n * (1 + os);
        let mut body = vec![0u8; header];
        let put = |b: &mut Vec<u8>, at: usize, v: usize| {
            if large {
                b[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
            } else {
                b[at..at + 2].copy_from_slice(&(v as u16).to_le_bytes());
            }
        };
        put(&mut body, 0, n);
        if object {
            for (i, (k, _)) in items.iter().enumerate() {
                let k = k.unwrap();
                let off = body.len();
                body.extend_from_slice(k.as_bytes());
                let e = 2 * os + i * (os + 2);
                put(&mut body, e, off);
                body[e + os..e + os + 2].copy_from_slice(&(k.len() as u16).to_le_bytes());
            }
        }
        let values_at = 2 * os + if object { n * (os + 2) } else { 0 };
        for (i, (_, v)) in items.iter().enumerate() {
            let e = values_at + i * (1 + os);
            let vt = ty(v, large);
            body[e] = vt;
            if inlined(vt, large) {
                let mut s = Vec::new();
                scalar(v, &mut s, large);
                body[e + 1..e + 1 + s.len()].copy_from_slice(&s);
            } else {
                let off = body.len();
                put(&mut body, e + 1, off);
                scalar(v, &mut body, large);
            }
        }
        let size = body.len();
        put(&mut body, os, size);
        out.extend_from_slice(&body);
    }

    pub(crate) fn doc(j: &J, large: bool) -> Vec<u8> {
        let mut out = vec![ty(j, large)];
        scalar(j, &mut out, large);
        out
    }

    fn text(j: &J, large: bool) -> String {
        let mut s = String::new();
        write_json_text(&doc(j, large), &mut s).unwrap();
        s
    }

    #[test]
    fn objects_arrays_and_scalars() {
        let j = J::Obj(vec![
            ("a", J::I16(1)),
            (
                "b",
                J::Arr(vec![J::I16(1), J::U16(2), J::I32(-3), J::U32(4)]),
            ),
            ("c", J::Obj(vec![])),
            ("d", J::Arr(vec![])),
            ("e", J::Null),
            ("f", J::Bool(true)),
            ("g", J::Bool(false)),
            ("h", J::I64(i64::MIN)),
            ("i", J::U64(u64::MAX)),
            (
                "j",
                J::S("x\"y\\z\n\t\u{1}\u{1e}\u{1f}\u{0}\u{8}\u{c}\r\u{b}é"),
            ),
            ("k", J::F(1.5)),
        ]);
        let want = "{\"a\": 1, \"b\": [1, 2, -3, 4], \"c\": {}, \"d\": [], \"e\": null, \
                    \"f\": true, \"g\": false, \"h\": -9223372036854775808, \
                    \"i\": 18446744073709551615, \"j\": \"x\\\"y\\\\z\\n\\t\\u0001\\u001e\\u001f\\u0000\\b\\f\\r\\u000bé\", \
                    \"k\": 1.5}";
        assert_eq!(text(&j, false), want);
        assert_eq!(text(&j, true), want);
        assert_eq!(text(&J::S("top"), false), "\"top\"");
        let mut s = String::new();
        write_json_text_unquoted(&doc(&J::S("a\"b"), false), &mut s).unwrap();
        assert_eq!(s, "a\"b");
        let mut s = String::new();
        write_json_text(&[], &mut s).unwrap();
        assert_eq!(s, "null");
    }

    #[test]
    fn nesting() {
        let mut j = J::I16(7);
        for _ in 0..50 {
            j = J::Arr(vec![J::Obj(vec![("k", j)])]);
        }
        let s = text(&j, false);
        assert!(s.starts_with("[{\"k\": [{\"k\": "));
        assert_eq!(s, format!("{}7{}", "[{\"k\": ".repeat(50), "}]".repeat(50)));
        // Too deep
        let mut j = J::Null;
        for _ in 0..MAX_DEPTH + 1 {
            j = J::Arr(vec![j]);
        }
        let mut s = String::new();
        assert!(write_json_text(&doc(&j, false), &mut s).is_err());
    }

    #[test]
    fn doubles_like_mysql() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (1e15, "1e15"),
            (1e14, "100000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e17"),
            (1e100, "1e100"),
            (1.5e-7, "0.00000015"),
            (1e-14, "0.00000000000001"),
            (1e-15, "0.000000000000001"),
            (1e-16, "1e-16"),
            (0.1, "0.1"),
            (std::f64::consts::PI, "3.141592653589793"),
            (-2.5e-300, "-2.5e-300"),
            (1.7976931348623157e308, "1.7976931348623157e308"),
        ];
        for &(d, want) in cases {
            let mut s = String::new();
            write_mysql_double(d, &mut s);
            assert_eq!(s, want, "{d:e}");
        }
    }

    #[test]
    fn opaque_scalars() {
        // DECIMAL 1.50 as DECIMAL(3,2)
        let mut dec = vec![3u8, 2];
        dec.extend(crate::binlog::decimal::tests::encode("1.50", 3, 2));
        let j = J::Arr(vec![
            J::Opaque(246, dec),
            J::Opaque(12, {
                // 2020-01-02 03:04:05.123456 packed
                let ymd: i64 = ((2020 * 13 + 1) << 5) | 2;
                let hms: i64 = (3 << 12) | (4 << 6) | 5;
                (((ymd << 17 | hms) << 24) + 123_456).to_le_bytes().to_vec()
            }),
            J::Opaque(10, {
                let ymd: i64 = ((2020 * 13 + 1) << 5) | 2;
                ((ymd << 17) << 24).to_le_bytes().to_vec()
            }),
            J::Opaque(11, {
                let hms: i64 = (12 << 12) | (34 << 6) | 56;
                (-(hms << 24)).to_le_bytes().to_vec()
            }),
            J::Opaque(252, b"hi".to_vec()),
            J::Opaque(253, b"vs".to_vec()),
        ]);
        assert_eq!(
            text(&j, false),
            "[1.50, \"2020-01-02 03:04:05.123456\", \"2020-01-02\", \"-12:34:56.000000\", \
             \"base64:type252:aGk=\", \"vs\"]"
        );
        // Long blobs wrap at 76 base64 characters, escaped as \n inside the JSON string.
        let s = text(&J::Opaque(252, vec![0u8; 60]), false);
        assert_eq!(
            s,
            format!("\"base64:type252:{}\\n{}\"", "A".repeat(76), "AAAA")
        );
    }

    #[test]
    fn json_types() {
        assert_eq!(
            json_type(&doc(&J::Obj(vec![]), false)).unwrap(),
            JsonType::Object
        );
        assert_eq!(json_type(&doc(&J::U64(1), false)).unwrap(), JsonType::UInt);
        assert_eq!(json_type(&doc(&J::Null, false)).unwrap(), JsonType::Null);
        assert_eq!(json_type(&[]).unwrap(), JsonType::Null);
        assert_eq!(
            json_type(&doc(&J::Opaque(12, vec![0; 8]), false)).unwrap(),
            JsonType::DateTime
        );
        assert!(json_type(&[0x42]).is_err());
    }

    #[test]
    fn adversarial_input_never_panics_or_explodes() {
        let j = J::Obj(vec![
            ("a", J::Arr(vec![J::S("xyz"), J::F(2.0), J::I64(5)])),
            ("bb", J::Obj(vec![("c", J::Opaque(252, vec![1, 2, 3]))])),
        ]);
        for large in [false, true] {
            let d = doc(&j, large);
            for n in 0..d.len() {
                let mut s = String::new();
                let _ = write_json_text(&d[..n], &mut s);
            }
            // Flip every byte to every value at a few positions.
            for pos in 0..d.len() {
                for v in [0u8, 1, 2, 3, 0x0c, 0x0f, 0x7f, 0x80, 0xff] {
                    let mut m = d.clone();
                    m[pos] = v;
                    let mut s = String::new();
                    let _ = write_json_text(&m, &mut s);
                }
            }
        }
        // An array whose entries all point at the same nested array: refused, not expanded.
        let mut d = vec![t::SMALL_ARRAY];
        let n = 8u16;
        let header = 4 + 3 * n as usize;
        d.extend_from_slice(&n.to_le_bytes());
        d.extend_from_slice(&((header + 4 + 3 * n as usize) as u16).to_le_bytes());
        for _ in 0..n {
            d.push(t::SMALL_ARRAY);
            d.extend_from_slice(&0u16.to_le_bytes()); // points at itself
        }
        d.extend_from_slice(&[0; 64]);
        let mut s = String::new();
        assert!(write_json_text(&d, &mut s).is_err());
    }
}
