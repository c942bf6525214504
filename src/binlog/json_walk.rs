//! A typed walk over MySQL's binary JSON: every container, key and scalar of a document, in
//! stored order, with opaque scalars kept as their MySQL type (DECIMAL with its precision and
//! scale, DATE/TIME/DATETIME/TIMESTAMP as packed values, other opaque bytes with their field
//! type).
//!
//! Owns only the traversal; what to do with the values is the visitor's (the apply engine
//! rebuilds documents holding typed scalars as SQL expressions from it). Bounded like the text
//! writer in `json_binary`: nesting depth is limited and every value and byte of string data
//! is visited at most once, so a crafted document cannot blow up; never panics.

use super::decimal::decimal_bin_len;
use super::error::{BinlogError, Result};
use super::json_binary::{MAX_DEPTH, field, get, inlined, t, truncated, uint, varlen};
use super::value::Decimal;

const W: &str = "binary JSON";

/// One scalar of a document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JsonScalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    /// UTF-8 text (also an opaque VAR_STRING, which MySQL prints as a string).
    String(&'a [u8]),
    Decimal(Decimal<'a>),
    /// A packed DATE (`datetime_from_packed`).
    Date(i64),
    /// A packed TIME (`time_from_packed`).
    Time(i64),
    /// A packed DATETIME.
    DateTime(i64),
    /// A packed TIMESTAMP (as a DATETIME).
    Timestamp(i64),
    /// Any other opaque value: its MySQL field type and bytes.
    Opaque {
        field_type: u8,
        data: &'a [u8],
    },
}

impl JsonScalar<'_> {
    /// A scalar whose MySQL type JSON text cannot carry: text re-parses DECIMAL as DOUBLE,
    /// temporal values and binary data as strings, and an integer by its magnitude alone
    /// (MySQL's parser makes a non-negative number up to 2^32-1 an INTEGER and a larger one
    /// an UNSIGNED INTEGER, checked on MySQL 9.7), so a signed integer above 2^32-1 and an
    /// unsigned one up to 2^32-1 come back with the other type.
    pub fn text_loses_type(&self) -> bool {
        match *self {
            JsonScalar::Int(i) => i > u32::MAX as i64,
            JsonScalar::UInt(u) => u <= u32::MAX as u64,
            JsonScalar::Decimal(_)
            | JsonScalar::Date(_)
            | JsonScalar::Time(_)
            | JsonScalar::DateTime(_)
            | JsonScalar::Timestamp(_)
            | JsonScalar::Opaque { .. } => true,
            JsonScalar::Null
            | JsonScalar::Bool(_)
            | JsonScalar::Double(_)
            | JsonScalar::String(_) => false,
        }
    }
}

/// What a walk reports, in document order.
pub trait JsonVisitor<'a> {
    /// An object (`object`) or array of `count` members starts.
    fn begin(&mut self, object: bool, count: usize) -> Result<()>;
    /// The key of the next object member.
    fn key(&mut self, key: &'a [u8]) -> Result<()>;
    fn scalar(&mut self, v: JsonScalar<'a>) -> Result<()>;
    /// The innermost open container ends.
    fn end(&mut self, object: bool) -> Result<()>;
}

/// Walk the binary document `bin` (an empty document is JSON `null`).
pub fn walk_json<'a>(bin: &'a [u8], v: &mut impl JsonVisitor<'a>) -> Result<()> {
    let Some((&ty, data)) = bin.split_first() else {
        return v.scalar(JsonScalar::Null);
    };
    let mut w = Walker {
        v,
        nodes_left: bin.len() + 1,
        bytes_left: bin.len(),
    };
    w.value(ty, data, 0)
}

/// Whether `bin` holds a scalar whose type JSON text loses ([`JsonScalar::text_loses_type`]).
pub fn text_loses_types(bin: &[u8]) -> Result<bool> {
    struct Find(bool);
    impl<'a> JsonVisitor<'a> for Find {
        fn begin(&mut self, _: bool, _: usize) -> Result<()> {
            Ok(())
        }
        fn key(&mut self, _: &'a [u8]) -> Result<()> {
            Ok(())
        }
        fn scalar(&mut self, v: JsonScalar<'a>) -> Result<()> {
            self.0 |= v.text_loses_type();
            Ok(())
        }
        fn end(&mut self, _: bool) -> Result<()> {
            Ok(())
        }
    }
    // Only opaque values and integers stored as INT64 or unsigned can lose their type: a
    // document without any of those type bytes has none.
    if !bin
        .iter()
        .any(|&b| matches!(b, t::OPAQUE | t::INT64 | t::UINT16 | t::UINT32 | t::UINT64))
    {
        return Ok(false);
    }
    let mut f = Find(false);
    walk_json(bin, &mut f)?;
    Ok(f.0)
}

struct Walker<'v, V> {
    v: &'v mut V,
    nodes_left: usize,
    bytes_left: usize,
}

impl<'a, V: JsonVisitor<'a>> Walker<'_, V> {
    fn spend_bytes(&mut self, n: usize) -> Result<()> {
        self.bytes_left = self.bytes_left.checked_sub(n).ok_or_else(|| {
            BinlogError::invalid(W, "document reuses string data (malformed offsets)")
        })?;
        Ok(())
    }

    fn value(&mut self, ty: u8, data: &'a [u8], depth: usize) -> Result<()> {
        self.nodes_left = self
            .nodes_left
            .checked_sub(1)
            .ok_or_else(|| BinlogError::invalid(W, "document reuses values (malformed offsets)"))?;
        let s = match ty {
            t::SMALL_OBJECT => return self.container(data, false, true, depth),
            t::LARGE_OBJECT => return self.container(data, true, true, depth),
            t::SMALL_ARRAY => return self.container(data, false, false, depth),
            t::LARGE_ARRAY => return self.container(data, true, false, depth),
            t::LITERAL => match data.first() {
                Some(&t::LITERAL_NULL) => JsonScalar::Null,
                Some(&t::LITERAL_TRUE) => JsonScalar::Bool(true),
                Some(&t::LITERAL_FALSE) => JsonScalar::Bool(false),
                Some(b) => return Err(BinlogError::invalid(W, format!("literal {b:#04x}"))),
                None => return Err(truncated(1, 0)),
            },
            t::INT16 => JsonScalar::Int(i16::from_le_bytes(get(data, 0)?) as i64),
            t::UINT16 => JsonScalar::UInt(u16::from_le_bytes(get(data, 0)?) as u64),
            t::INT32 => JsonScalar::Int(i32::from_le_bytes(get(data, 0)?) as i64),
            t::UINT32 => JsonScalar::UInt(u32::from_le_bytes(get(data, 0)?) as u64),
            t::INT64 => JsonScalar::Int(i64::from_le_bytes(get(data, 0)?)),
            t::UINT64 => JsonScalar::UInt(u64::from_le_bytes(get(data, 0)?)),
            t::DOUBLE => JsonScalar::Double(f64::from_le_bytes(get(data, 0)?)),
            t::STRING => {
                let (n, used) = varlen(data)?;
                let s = data
                    .get(used..used.saturating_add(n))
                    .ok_or_else(|| truncated(used.saturating_add(n), data.len()))?;
                self.spend_bytes(n)?;
                JsonScalar::String(s)
            }
            t::OPAQUE => self.opaque(data)?,
            other => {
                return Err(BinlogError::invalid(
                    W,
                    format!("unknown type {other:#04x}"),
                ));
            }
        };
        self.v.scalar(s)
    }

    fn opaque(&mut self, data: &'a [u8]) -> Result<JsonScalar<'a>> {
        let (&ftype, rest) = data.split_first().ok_or_else(|| truncated(1, 0))?;
        let (n, used) = varlen(rest)?;
        let payload = rest
            .get(used..used.saturating_add(n))
            .ok_or_else(|| truncated(used.saturating_add(n), rest.len()))?;
        self.spend_bytes(n)?;
        Ok(match ftype {
            field::VAR_STRING => JsonScalar::String(payload),
            field::NEWDECIMAL => {
                let (&precision, rest) = payload
                    .split_first()
                    .ok_or_else(|| BinlogError::invalid(W, "empty DECIMAL"))?;
                let (&scale, bin) = rest
                    .split_first()
                    .ok_or_else(|| BinlogError::invalid(W, "DECIMAL without scale"))?;
                if scale > precision || bin.len() != decimal_bin_len(precision, scale) {
                    return Err(BinlogError::invalid(
                        W,
                        format!("DECIMAL({precision},{scale}) with {} bytes", bin.len()),
                    ));
                }
                JsonScalar::Decimal(Decimal {
                    precision,
                    scale,
                    bin,
                })
            }
            field::DATE => JsonScalar::Date(i64::from_le_bytes(get(payload, 0)?)),
            field::TIME => JsonScalar::Time(i64::from_le_bytes(get(payload, 0)?)),
            field::DATETIME => JsonScalar::DateTime(i64::from_le_bytes(get(payload, 0)?)),
            field::TIMESTAMP => JsonScalar::Timestamp(i64::from_le_bytes(get(payload, 0)?)),
            _ => JsonScalar::Opaque {
                field_type: ftype,
                data: payload,
            },
        })
    }

    fn container(&mut self, data: &'a [u8], large: bool, object: bool, depth: usize) -> Result<()> {
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
        self.v.begin(object, count)?;
        for i in 0..count {
            if object {
                let e = keys_at + i * key_entry;
                let key_off = uint(data, e, large)?;
                let key_len = u16::from_le_bytes(get(data, e + os)?) as usize;
                let key = data
                    .get(key_off..key_off.saturating_add(key_len))
                    .ok_or_else(|| truncated(key_off.saturating_add(key_len), data.len()))?;
                self.spend_bytes(key_len)?;
                self.v.key(key)?;
            }
            let e = values_at + i * value_entry;
            let ty = *data.get(e).ok_or_else(|| truncated(e + 1, data.len()))?;
            if inlined(ty, large) {
                let slot = data
                    .get(e + 1..e + 1 + os)
                    .ok_or_else(|| truncated(e + 1 + os, data.len()))?;
                self.value(ty, slot, depth + 1)?;
            } else {
                let off = uint(data, e + 1, large)?;
                let v = data
                    .get(off..)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| truncated(off + 1, data.len()))?;
                self.value(ty, v, depth + 1)?;
            }
        }
        self.v.end(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::json_binary::tests::{J, doc};

    #[derive(Default)]
    struct Log(Vec<String>);
    impl<'a> JsonVisitor<'a> for Log {
        fn begin(&mut self, object: bool, count: usize) -> Result<()> {
            self.0.push(format!("begin {object} {count}"));
            Ok(())
        }
        fn key(&mut self, key: &'a [u8]) -> Result<()> {
            self.0.push(format!("key {}", String::from_utf8_lossy(key)));
            Ok(())
        }
        fn scalar(&mut self, v: JsonScalar<'a>) -> Result<()> {
            self.0.push(format!("{v:?}"));
            Ok(())
        }
        fn end(&mut self, object: bool) -> Result<()> {
            self.0.push(format!("end {object}"));
            Ok(())
        }
    }

    #[test]
    fn walks_in_stored_order() {
        for large in [false, true] {
            let j = J::Obj(vec![
                ("a", J::I16(-1)),
                (
                    "b",
                    J::Arr(vec![J::U32(7), J::Null, J::Bool(true), J::S("x")]),
                ),
                ("c", J::F(1.5)),
            ]);
            let bin = doc(&j, large);
            let mut log = Log::default();
            walk_json(&bin, &mut log).unwrap();
            assert_eq!(
                log.0,
                [
                    "begin true 3",
                    "key a",
                    "Int(-1)",
                    "key b",
                    "begin false 4",
                    "UInt(7)",
                    "Null",
                    "Bool(true)",
                    "String([120])",
                    "end false",
                    "key c",
                    "Double(1.5)",
                    "end true"
                ]
            );
            // The unsigned 7 would come back from text as a signed INTEGER.
            assert!(text_loses_types(&bin).unwrap());
        }
    }

    #[test]
    fn integers_lose_their_type_in_text_by_magnitude() {
        // What MySQL 9.7's JSON_TYPE(CAST('<n>' AS JSON)) says: up to 2^32-1 INTEGER, above
        // UNSIGNED INTEGER, negative INTEGER.
        let keeps = [
            J::I16(-1),
            J::I32(i32::MIN),
            J::I64(u32::MAX as i64),
            J::I64(i64::MIN),
            J::U64(u32::MAX as u64 + 1),
            J::U64(u64::MAX),
            J::F(1.0),
        ];
        for j in keeps {
            let bin = doc(&J::Arr(vec![j.clone()]), false);
            assert!(!text_loses_types(&bin).unwrap(), "{j:?}");
        }
        let loses = [
            J::I64(u32::MAX as i64 + 1),
            J::I64(6_187_030_318_205_200_171),
            J::U16(0),
            J::U32(u32::MAX),
            J::U64(5),
        ];
        for j in loses {
            let bin = doc(&J::Obj(vec![("k", j.clone())]), false);
            assert!(text_loses_types(&bin).unwrap(), "{j:?}");
        }
    }

    #[test]
    fn finds_typed_opaque_scalars_and_never_panics() {
        // DECIMAL(6,4) 0.2500: precision, scale, then the decimal's bytes.
        let dec = J::Opaque(246, vec![6, 4, 0x80, 0x09, 0xc4]);
        let bin = doc(&J::Arr(vec![J::I16(1), dec]), false);
        assert!(text_loses_types(&bin).unwrap());
        let mut log = Log::default();
        walk_json(&bin, &mut log).unwrap();
        assert!(log.0[2].starts_with("Decimal(Decimal { precision: 6, scale: 4"));
        // A VAR_STRING opaque is a string: nothing typed.
        let s = doc(&J::Opaque(253, b"ab".to_vec()), false);
        assert!(!text_loses_types(&s).unwrap());
        for cut in 0..bin.len() {
            let _ = walk_json(&bin[..cut], &mut Log::default());
            let _ = text_loses_types(&bin[..cut]);
        }
    }
}
