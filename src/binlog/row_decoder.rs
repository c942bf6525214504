//! A row decoder compiled once from a TABLE_MAP, then run on every row image of that table.
//!
//! Owns the per-column storage formats of row images: integer widths and signedness, DECIMAL
//! sizes, string and blob length prefixes, ENUM/SET/BIT widths, temporal sizes. All metadata
//! interpretation happens in [`RowDecoder::new`]; [`RowDecoder::decode_row`] is a loop over a
//! `Vec` of [`ColumnKind`]s that slices the event bytes into [`Value`]s without hashing or
//! allocating. The decoder owns its data (no borrow of the table map), so the stream layer can
//! cache it by table id across events. It does not know the rows event layout (see
//! `rows_event`) nor how values are printed (see `decimal`, `temporal`, `json_binary`).

use super::bitmap::Bitmap;
use super::column_type::ColumnType;
use super::cursor::Cursor;
use super::decimal::{MAX_PRECISION, decimal_bin_len};
use super::error::{BinlogError, Result};
use super::table_map::{TableMap, string_real_type};
use super::temporal;
use super::value::{Decimal, Value};

/// How one column's value is stored in a row image, with every length precomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// TINYINT: 1 byte.
    Int8 {
        unsigned: bool,
    },
    /// SMALLINT: 2 bytes little-endian.
    Int16 {
        unsigned: bool,
    },
    /// MEDIUMINT: 3 bytes little-endian.
    Int24 {
        unsigned: bool,
    },
    /// INT: 4 bytes little-endian.
    Int32 {
        unsigned: bool,
    },
    /// BIGINT: 8 bytes little-endian.
    Int64 {
        unsigned: bool,
    },
    Float,
    Double,
    /// NEWDECIMAL: `bin_len` bytes of MySQL binary decimal.
    Decimal {
        precision: u8,
        scale: u8,
        bin_len: u8,
    },
    /// YEAR: 1 byte, 0 or year - 1900.
    Year,
    /// DATE/NEWDATE: 3 bytes.
    Date,
    /// Pre-5.6 TIME: 3 bytes.
    Time,
    /// Pre-5.6 DATETIME: 8 bytes.
    DateTime,
    /// Pre-5.6 TIMESTAMP: 4 bytes.
    Timestamp,
    Time2 {
        fsp: u8,
        len: u8,
    },
    DateTime2 {
        fsp: u8,
        len: u8,
    },
    Timestamp2 {
        fsp: u8,
        len: u8,
    },
    /// BIT(bits): `bytes` big-endian bytes.
    Bit {
        bits: u16,
        bytes: u8,
    },
    /// ENUM: the index in 1 or 2 bytes little-endian.
    Enum {
        bytes: u8,
    },
    /// SET: the bitmask in 1-8 bytes little-endian.
    Set {
        bytes: u8,
    },
    /// VARCHAR/VARBINARY (and pre-5.0 VAR_STRING): a 1- or 2-byte length, then the bytes.
    VarChar {
        max_len: u16,
        len_bytes: u8,
    },
    /// CHAR/BINARY (and MariaDB INET4/INET6/UUID): a 1- or 2-byte length, then the bytes.
    /// The server strips trailing pad characters before logging (spaces, or 0x00 for the
    /// binary charset 63), so a BINARY(n) value must be right-padded with 0x00 to `max_len`
    /// bytes before it is compared with stored data.
    Char {
        max_len: u16,
        len_bytes: u8,
    },
    /// TEXT/BLOB: a 1-4 byte length, then the bytes.
    Blob {
        len_bytes: u8,
    },
    /// MariaDB `VARCHAR(n) COMPRESSED`: like VARCHAR (`max_len` counts the header byte), the
    /// bytes being the stored compressed form (see `column_compression`).
    VarCharCompressed {
        max_len: u16,
        len_bytes: u8,
    },
    /// MariaDB `TEXT/BLOB COMPRESSED`: like BLOB, the bytes in the stored compressed form.
    BlobCompressed {
        len_bytes: u8,
    },
    /// JSON (MySQL 5.7+): a 1-4 byte length, then binary JSON (or a diff list when partial).
    Json {
        len_bytes: u8,
    },
    /// GEOMETRY: a 1-4 byte length, then SRID + WKB.
    Geometry {
        len_bytes: u8,
    },
    /// VECTOR (MySQL 9.0+): a 1-4 byte length, then packed f32s.
    Vector {
        len_bytes: u8,
    },
    /// The NULL type: no bytes, always NULL.
    Null,
    /// MariaDB 5.3 TIME(1..6), DATETIME(1..6), TIMESTAMP(1..6) (`temporal::mariadb_hires`):
    /// never compiled from a table map, whose type and metadata are those of the pre-5.6
    /// kinds; [`RowDecoder::with_mariadb_hires`] sets them from the table's definition.
    TimeHires {
        fsp: u8,
    },
    DateTimeHires {
        fsp: u8,
    },
    TimestampHires {
        fsp: u8,
    },
}

/// One compiled column: how to decode it plus what renderers need to describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompiledColumn {
    pub kind: ColumnKind,
    /// The type byte of the table map.
    pub column_type: ColumnType,
    /// The type after resolving CHAR metadata (ENUM/SET/STRING) and DATE to NEWDATE.
    pub real_type: ColumnType,
    /// The table map metadata as MySQL reads it (`meta=` in `mysqlbinlog -vv` comments).
    pub meta: u16,
    pub nullable: bool,
    /// Declared UNSIGNED (from SIGNEDNESS; `false` when unknown).
    pub unsigned: bool,
    /// Collation id from the table map charset metadata, when present.
    pub charset: Option<u16>,
    /// Ordinal among the table's JSON columns (indexes the PARTIAL_UPDATE JSON bitmap).
    pub json_index: Option<u16>,
}

impl CompiledColumn {
    /// The type text `mysqlbinlog -vv` prints in its `/* ... */` column comments
    /// (`log_event_print_value`'s `typestr`), e.g. `INT`, `VARSTRING(80)`, `DECIMAL(10,2)`,
    /// `DATETIME(3)`, `ENUM(1 byte)`.
    pub fn mysqlbinlog_type_name(&self, out: &mut String) {
        // Renderers call this for every value printed: plain pushes, no `fmt` machinery.
        fn num(out: &mut String, n: impl itoa::Integer) {
            out.push_str(itoa::Buffer::new().format(n));
        }
        fn with_fsp(out: &mut String, name: &str, fsp: u8) {
            out.push_str(name);
            out.push('(');
            num(out, fsp);
            out.push(')');
        }
        match self.kind {
            ColumnKind::Int8 { .. } => out.push_str("TINYINT"),
            ColumnKind::Int16 { .. } => out.push_str("SHORTINT"),
            ColumnKind::Int24 { .. } => out.push_str("MEDIUMINT"),
            ColumnKind::Int32 { .. } => out.push_str("INT"),
            ColumnKind::Int64 { .. } => out.push_str("LONGINT"),
            ColumnKind::Float => out.push_str("FLOAT"),
            ColumnKind::Double => out.push_str("DOUBLE"),
            ColumnKind::Decimal {
                precision, scale, ..
            } => {
                out.push_str("DECIMAL(");
                num(out, precision);
                out.push(',');
                num(out, scale);
                out.push(')');
            }
            ColumnKind::Year => out.push_str("YEAR"),
            ColumnKind::Date => out.push_str("DATE"),
            ColumnKind::Time => out.push_str("TIME"),
            ColumnKind::DateTime => out.push_str("DATETIME"),
            ColumnKind::Timestamp => out.push_str("TIMESTAMP"),
            ColumnKind::Time2 { fsp, .. } => with_fsp(out, "TIME", fsp),
            ColumnKind::DateTime2 { fsp, .. } => with_fsp(out, "DATETIME", fsp),
            ColumnKind::Timestamp2 { fsp, .. } => with_fsp(out, "TIMESTAMP", fsp),
            ColumnKind::TimeHires { fsp } => with_fsp(out, "TIME", fsp),
            ColumnKind::DateTimeHires { fsp } => with_fsp(out, "DATETIME", fsp),
            ColumnKind::TimestampHires { fsp } => with_fsp(out, "TIMESTAMP", fsp),
            ColumnKind::Bit { bits, .. } => {
                out.push_str("BIT(");
                num(out, bits);
                out.push(')');
            }
            ColumnKind::Enum { bytes: 1 } => out.push_str("ENUM(1 byte)"),
            ColumnKind::Enum { bytes } => {
                out.push_str("ENUM(");
                num(out, bytes);
                out.push_str(" bytes)");
            }
            ColumnKind::Set { bytes } => {
                out.push_str("SET(");
                num(out, bytes);
                out.push_str(" bytes)");
            }
            ColumnKind::VarChar { max_len, .. } => {
                out.push_str("VARSTRING(");
                num(out, max_len);
                out.push(')');
            }
            ColumnKind::Char { max_len, .. } => {
                out.push_str("STRING(");
                num(out, max_len);
                out.push(')');
            }
            ColumnKind::Blob { len_bytes } => out.push_str(match len_bytes {
                1 => "TINYBLOB/TINYTEXT",
                2 => "BLOB/TEXT",
                3 => "MEDIUMBLOB/MEDIUMTEXT",
                _ => "LONGBLOB/LONGTEXT",
            }),
            // What mariadb-binlog prints for these.
            ColumnKind::VarCharCompressed { max_len, .. } => {
                out.push_str("VARSTRING(");
                num(out, max_len);
                out.push_str(") COMPRESSED");
            }
            ColumnKind::BlobCompressed { len_bytes } => out.push_str(match len_bytes {
                1 => "TINYBLOB/TINYTEXT COMPRESSED",
                2 => "BLOB/TEXT COMPRESSED",
                3 => "MEDIUMBLOB/MEDIUMTEXT COMPRESSED",
                _ => "LONGBLOB/LONGTEXT COMPRESSED",
            }),
            ColumnKind::Json { .. } => out.push_str("JSON"),
            ColumnKind::Geometry { .. } => out.push_str("GEOMETRY"),
            ColumnKind::Vector { .. } => out.push_str("VECTOR"),
            ColumnKind::Null => out.push_str("NULL"),
        }
    }
}

/// The compiled decoder of one table's row images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowDecoder {
    columns: Vec<CompiledColumn>,
    json_columns: usize,
}

fn len_bytes_1_to_4(meta: u16, what: &'static str) -> Result<u8> {
    match meta {
        1..=4 => Ok(meta as u8),
        _ => Err(BinlogError::invalid(
            what,
            format!("length prefix of {meta} bytes (expected 1-4)"),
        )),
    }
}

fn fsp_of(meta: u16, what: &'static str) -> Result<u8> {
    if meta > 6 {
        return Err(BinlogError::invalid(
            what,
            format!("fractional precision {meta} (expected 0-6)"),
        ));
    }
    Ok(meta as u8)
}

fn compile_kind(t: ColumnType, meta: u16, unsigned: bool) -> Result<ColumnKind> {
    use ColumnType as T;
    Ok(match t {
        T::Tiny => ColumnKind::Int8 { unsigned },
        T::Short => ColumnKind::Int16 { unsigned },
        T::Int24 => ColumnKind::Int24 { unsigned },
        T::Long => ColumnKind::Int32 { unsigned },
        T::LongLong => ColumnKind::Int64 { unsigned },
        T::Float => ColumnKind::Float,
        T::Double => ColumnKind::Double,
        T::NewDecimal => {
            let precision = (meta >> 8) as u8;
            let scale = meta as u8;
            if precision > MAX_PRECISION || scale > precision {
                return Err(BinlogError::invalid(
                    "DECIMAL column",
                    format!("precision {precision} scale {scale}"),
                ));
            }
            ColumnKind::Decimal {
                precision,
                scale,
                bin_len: decimal_bin_len(precision, scale) as u8,
            }
        }
        T::Year => ColumnKind::Year,
        T::Date | T::NewDate => ColumnKind::Date,
        T::Time => ColumnKind::Time,
        T::DateTime => ColumnKind::DateTime,
        T::Timestamp => ColumnKind::Timestamp,
        T::Time2 => {
            let fsp = fsp_of(meta, "TIME2 column")?;
            ColumnKind::Time2 {
                fsp,
                len: temporal::time2_len(fsp) as u8,
            }
        }
        T::DateTime2 => {
            let fsp = fsp_of(meta, "DATETIME2 column")?;
            ColumnKind::DateTime2 {
                fsp,
                len: temporal::datetime2_len(fsp) as u8,
            }
        }
        T::Timestamp2 => {
            let fsp = fsp_of(meta, "TIMESTAMP2 column")?;
            ColumnKind::Timestamp2 {
                fsp,
                len: temporal::timestamp2_len(fsp) as u8,
            }
        }
        T::Bit => {
            // meta = bits % 8 | bytes << 8
            let bits = (meta >> 8) * 8 + (meta & 0xff);
            if bits == 0 || bits > 64 {
                return Err(BinlogError::invalid(
                    "BIT column",
                    format!("width {bits} bits (metadata {meta:#06x})"),
                ));
            }
            ColumnKind::Bit {
                bits,
                bytes: bits.div_ceil(8) as u8,
            }
        }
        T::VarChar | T::VarString => ColumnKind::VarChar {
            max_len: meta,
            len_bytes: if meta > 255 { 2 } else { 1 },
        },
        T::String | T::Enum | T::Set => {
            let (real, len) = if t == T::String {
                string_real_type(meta)?
            } else {
                (t, meta & 0xff)
            };
            match real {
                T::Enum => match len {
                    1 | 2 => ColumnKind::Enum { bytes: len as u8 },
                    _ => {
                        return Err(BinlogError::invalid(
                            "ENUM column",
                            format!("pack length {len} (expected 1 or 2)"),
                        ));
                    }
                },
                T::Set => match len {
                    1..=8 => ColumnKind::Set { bytes: len as u8 },
                    _ => {
                        return Err(BinlogError::invalid(
                            "SET column",
                            format!("pack length {len} (expected 1-8)"),
                        ));
                    }
                },
                _ => ColumnKind::Char {
                    max_len: len,
                    len_bytes: if len > 255 { 2 } else { 1 },
                },
            }
        }
        T::Blob | T::TinyBlob | T::MediumBlob | T::LongBlob => ColumnKind::Blob {
            len_bytes: len_bytes_1_to_4(meta, "BLOB column")?,
        },
        T::VarCharCompressed => ColumnKind::VarCharCompressed {
            max_len: meta,
            len_bytes: if meta > 255 { 2 } else { 1 },
        },
        T::BlobCompressed => ColumnKind::BlobCompressed {
            len_bytes: len_bytes_1_to_4(meta, "BLOB COMPRESSED column")?,
        },
        T::Json => ColumnKind::Json {
            len_bytes: len_bytes_1_to_4(meta, "JSON column")?,
        },
        T::Geometry => ColumnKind::Geometry {
            len_bytes: len_bytes_1_to_4(meta, "GEOMETRY column")?,
        },
        T::Vector => ColumnKind::Vector {
            len_bytes: len_bytes_1_to_4(meta, "VECTOR column")?,
        },
        T::Null => ColumnKind::Null,
        T::Decimal | T::TypedArray | T::Invalid | T::Bool => {
            return Err(BinlogError::unsupported(
                "column type",
                format!(
                    "{} ({}) does not occur in row images gapfill can decode",
                    t.name(),
                    t as u8
                ),
            ));
        }
    })
}

#[inline]
fn sext(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

#[inline]
fn le(b: &[u8]) -> u64 {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate() {
        v |= (x as u64) << (8 * i);
    }
    v
}

#[inline]
fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |v, &x| (v << 8) | x as u64)
}

/// Read a 1-4 byte little-endian length, then that many bytes.
#[inline(always)]
fn prefixed<'a>(c: &mut Cursor<'a>, len_bytes: u8, what: &'static str) -> Result<&'a [u8]> {
    let n = match len_bytes {
        1 => c.u8(what)? as usize,
        2 => c.u16_le(what)? as usize,
        _ => le(c.bytes(len_bytes as usize, what)?) as usize,
    };
    c.bytes(n, what)
}

impl ColumnKind {
    /// Decode one non-NULL value of this kind.
    #[inline(always)]
    fn decode<'a>(self, c: &mut Cursor<'a>, partial_json: bool) -> Result<Value<'a>> {
        Ok(match self {
            ColumnKind::Int8 { unsigned } => {
                let v = c.u8("TINYINT value")?;
                if unsigned {
                    Value::UInt(v as u64)
                } else {
                    Value::Int(v as i8 as i64)
                }
            }
            ColumnKind::Int16 { unsigned } => {
                let v = c.u16_le("SMALLINT value")?;
                if unsigned {
                    Value::UInt(v as u64)
                } else {
                    Value::Int(v as i16 as i64)
                }
            }
            ColumnKind::Int24 { unsigned } => {
                let v = le(c.bytes(3, "MEDIUMINT value")?);
                if unsigned {
                    Value::UInt(v)
                } else {
                    Value::Int(sext(v, 24))
                }
            }
            ColumnKind::Int32 { unsigned } => {
                let v = c.u32_le("INT value")?;
                if unsigned {
                    Value::UInt(v as u64)
                } else {
                    Value::Int(v as i32 as i64)
                }
            }
            ColumnKind::Int64 { unsigned } => {
                let v = c.u64_le("BIGINT value")?;
                if unsigned {
                    Value::UInt(v)
                } else {
                    Value::Int(v as i64)
                }
            }
            ColumnKind::Float => Value::Float(c.f32_le("FLOAT value")?),
            ColumnKind::Double => Value::Double(c.f64_le("DOUBLE value")?),
            ColumnKind::Decimal {
                precision,
                scale,
                bin_len,
            } => Value::Decimal(Decimal {
                precision,
                scale,
                bin: c.bytes(bin_len as usize, "DECIMAL value")?,
            }),
            ColumnKind::Year => {
                let v = c.u8("YEAR value")? as u16;
                Value::Year(if v == 0 { 0 } else { 1900 + v })
            }
            ColumnKind::Date => Value::Date(temporal::decode_date(c.bytes(3, "DATE value")?)?),
            ColumnKind::Time => Value::Time(temporal::decode_time_old(c.bytes(3, "TIME value")?)?),
            ColumnKind::DateTime => Value::DateTime(temporal::decode_datetime_old(
                c.bytes(8, "DATETIME value")?,
            )?),
            ColumnKind::Timestamp => Value::Timestamp(temporal::decode_timestamp_old(
                c.bytes(4, "TIMESTAMP value")?,
            )?),
            ColumnKind::TimeHires { fsp } => {
                let n = temporal::mariadb_hires::time_len(fsp) as usize;
                Value::Time(temporal::mariadb_hires::decode_time(
                    c.bytes(n, "TIME value")?,
                    fsp,
                )?)
            }
            ColumnKind::DateTimeHires { fsp } => {
                let n = temporal::mariadb_hires::datetime_len(fsp) as usize;
                Value::DateTime(temporal::mariadb_hires::decode_datetime(
                    c.bytes(n, "DATETIME value")?,
                    fsp,
                )?)
            }
            ColumnKind::TimestampHires { fsp } => {
                let n = temporal::mariadb_hires::timestamp_len(fsp) as usize;
                Value::Timestamp(temporal::mariadb_hires::decode_timestamp(
                    c.bytes(n, "TIMESTAMP value")?,
                    fsp,
                )?)
            }
            ColumnKind::Time2 { fsp, len } => Value::Time(temporal::decode_time2(
                c.bytes(len as usize, "TIME2 value")?,
                fsp,
            )?),
            ColumnKind::DateTime2 { fsp, len } => Value::DateTime(temporal::decode_datetime2(
                c.bytes(len as usize, "DATETIME2 value")?,
                fsp,
            )?),
            ColumnKind::Timestamp2 { fsp, len } => Value::Timestamp(temporal::decode_timestamp2(
                c.bytes(len as usize, "TIMESTAMP2 value")?,
                fsp,
            )?),
            ColumnKind::Bit { bits, bytes } => Value::Bit {
                bits: be(c.bytes(bytes as usize, "BIT value")?),
                width: bits,
            },
            ColumnKind::Enum { bytes } => {
                Value::Enum(le(c.bytes(bytes as usize, "ENUM value")?) as u16)
            }
            ColumnKind::Set { bytes } => Value::Set(le(c.bytes(bytes as usize, "SET value")?)),
            ColumnKind::VarChar { len_bytes, .. } | ColumnKind::Char { len_bytes, .. } => {
                Value::Bytes(prefixed(c, len_bytes, "string value")?)
            }
            ColumnKind::Blob { len_bytes } => Value::Bytes(prefixed(c, len_bytes, "BLOB value")?),
            ColumnKind::VarCharCompressed { len_bytes, .. }
            | ColumnKind::BlobCompressed { len_bytes } => {
                Value::Compressed(prefixed(c, len_bytes, "compressed column value")?)
            }
            ColumnKind::Json { len_bytes } => {
                let b = prefixed(c, len_bytes, "JSON value")?;
                if partial_json {
                    Value::JsonDiff(b)
                } else {
                    Value::Json(b)
                }
            }
            ColumnKind::Geometry { len_bytes } => {
                Value::Geometry(prefixed(c, len_bytes, "GEOMETRY value")?)
            }
            ColumnKind::Vector { len_bytes } => {
                Value::Vector(prefixed(c, len_bytes, "VECTOR value")?)
            }
            ColumnKind::Null => Value::Null,
        })
    }
}

/// Take `n` bytes at `*pos` (the fast path's bounds check).
#[inline(always)]
fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = buf.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(s)
}

#[inline(always)]
fn take_arr<const N: usize>(buf: &[u8], pos: &mut usize) -> Option<[u8; N]> {
    let a = <[u8; N]>::try_from(buf.get(*pos..*pos + N)?).ok()?;
    *pos += N;
    Some(a)
}

/// A 1-4 byte little-endian length, then that many bytes (fast path of [`prefixed`]).
#[inline(always)]
fn take_prefixed<'a>(buf: &'a [u8], pos: &mut usize, len_bytes: u8) -> Option<&'a [u8]> {
    let mut p = *pos;
    let n = match len_bytes {
        1 => take_arr::<1>(buf, &mut p)?[0] as usize,
        2 => u16::from_le_bytes(take_arr(buf, &mut p)?) as usize,
        _ => le(take(buf, &mut p, len_bytes as usize)?) as usize,
    };
    let s = take(buf, &mut p, n)?;
    *pos = p;
    Some(s)
}

impl ColumnKind {
    /// Decode one non-NULL value at `buf[*pos..]` and push it onto `out`, advancing `*pos`.
    /// `None` (with `*pos` and `out` untouched) when the bytes run out or the value is invalid:
    /// the caller then re-reads the column with [`ColumnKind::decode`] for the precise error.
    ///
    /// This is the hot loop of row decoding. Each arm pushes its own value: building a
    /// `Result<Value>` first and pushing it after the match made LLVM assemble the value on
    /// the stack in 16-bit pieces and reload it whole, a store-forwarding stall that cost
    /// about half of the decode time.
    #[inline(always)]
    fn decode_into<'a>(
        self,
        buf: &'a [u8],
        pos: &mut usize,
        partial_json: bool,
        out: &mut Vec<Value<'a>>,
    ) -> Option<()> {
        match self {
            ColumnKind::Int8 { unsigned } => {
                let v = take_arr::<1>(buf, pos)?[0];
                out.push(if unsigned {
                    Value::UInt(v as u64)
                } else {
                    Value::Int(v as i8 as i64)
                });
            }
            ColumnKind::Int16 { unsigned } => {
                let v = u16::from_le_bytes(take_arr(buf, pos)?);
                out.push(if unsigned {
                    Value::UInt(v as u64)
                } else {
                    Value::Int(v as i16 as i64)
                });
            }
            ColumnKind::Int24 { unsigned } => {
                let b = take_arr::<3>(buf, pos)?;
                let v = u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64;
                out.push(if unsigned {
                    Value::UInt(v)
                } else {
                    Value::Int(sext(v, 24))
                });
            }
            ColumnKind::Int32 { unsigned } => {
                let v = u32::from_le_bytes(take_arr(buf, pos)?);
                out.push(if unsigned {
                    Value::UInt(v as u64)
                } else {
                    Value::Int(v as i32 as i64)
                });
            }
            ColumnKind::Int64 { unsigned } => {
                let v = u64::from_le_bytes(take_arr(buf, pos)?);
                out.push(if unsigned {
                    Value::UInt(v)
                } else {
                    Value::Int(v as i64)
                });
            }
            ColumnKind::Float => out.push(Value::Float(f32::from_le_bytes(take_arr(buf, pos)?))),
            ColumnKind::Double => out.push(Value::Double(f64::from_le_bytes(take_arr(buf, pos)?))),
            ColumnKind::Decimal {
                precision,
                scale,
                bin_len,
            } => out.push(Value::Decimal(Decimal {
                precision,
                scale,
                bin: take(buf, pos, bin_len as usize)?,
            })),
            ColumnKind::VarChar { len_bytes, .. }
            | ColumnKind::Char { len_bytes, .. }
            | ColumnKind::Blob { len_bytes } => {
                out.push(Value::Bytes(take_prefixed(buf, pos, len_bytes)?))
            }
            ColumnKind::Json { len_bytes } => {
                let b = take_prefixed(buf, pos, len_bytes)?;
                out.push(if partial_json {
                    Value::JsonDiff(b)
                } else {
                    Value::Json(b)
                });
            }
            // `len` is `datetime2_len(fsp)` / `timestamp2_len(fsp)` (set by `compile_kind`),
            // which the unchecked temporal helpers need. The values are built right in the
            // push: going through `Result<DateTime>` stalled on the struct's byte stores.
            ColumnKind::DateTime2 { fsp, len } => {
                let b = take(buf, pos, len as usize)?;
                let packed = temporal::datetime2_packed(b, fsp);
                out.push(Value::DateTime(temporal::datetime_from_packed(packed, fsp)));
            }
            ColumnKind::Timestamp2 { fsp, len } => {
                let b = take(buf, pos, len as usize)?;
                out.push(Value::Timestamp(temporal::timestamp2(b, fsp)));
            }
            // The rarer kinds share the checked decoder.
            _ => {
                let mut c = Cursor::new(buf.get(*pos..)?);
                let v = self.decode(&mut c, partial_json).ok()?;
                *pos += c.position();
                out.push(v);
            }
        }
        Some(())
    }
}

/// The error of a column the fast path refused: re-read it with the checked decoder.
#[cold]
#[inline(never)]
fn column_error(kind: ColumnKind, rest: &[u8], partial_json: bool) -> BinlogError {
    match kind.decode(&mut Cursor::new(rest), partial_json) {
        Err(e) => e,
        Ok(_) => BinlogError::invalid("row image", "column value refused by the fast decoder"),
    }
}

impl RowDecoder {
    /// Compile the decoder of `map`'s rows: resolve every column's kind, lengths, signedness
    /// and charset once. Fails on column types or metadata that cannot be decoded, so that
    /// the error surfaces at the table map rather than as garbage values.
    pub fn new(map: &TableMap<'_>) -> Result<RowDecoder> {
        let mut columns = Vec::with_capacity(map.column_count);
        let mut json = 0usize;
        let mut unsigned = map.unsigned_flags();
        let mut charsets = map.charsets();
        for (i, info) in map.columns().enumerate() {
            let is_unsigned = unsigned.next().unwrap_or(false);
            let charset = charsets.next().flatten();
            let kind = compile_kind(info.column_type, info.meta, is_unsigned).map_err(|e| {
                BinlogError::invalid(
                    "table map",
                    format!(
                        "`{}`.`{}` column {}: {e}",
                        String::from_utf8_lossy(map.schema),
                        String::from_utf8_lossy(map.table),
                        i + 1
                    ),
                )
            })?;
            let json_index = if info.column_type == ColumnType::Json {
                json += 1;
                Some(u16::try_from(json - 1).unwrap_or(u16::MAX))
            } else {
                None
            };
            columns.push(CompiledColumn {
                kind,
                column_type: info.column_type,
                real_type: info.real_type,
                meta: info.meta,
                nullable: info.nullable,
                unsigned: is_unsigned,
                charset,
                json_index,
            });
        }
        Ok(RowDecoder {
            columns,
            json_columns: json,
        })
    }

    /// This decoder with the pre-5.6 TIME, DATETIME and TIMESTAMP columns to which `fsp`
    /// gives a fractional precision (1-6, from the table's definition) read as MariaDB 5.3
    /// "hires" values; `None` when no column changes. Only a MariaDB table map can hold such
    /// a column (a MySQL table with an old temporal type has no fraction).
    pub fn with_mariadb_hires(&self, fsp: impl Fn(usize) -> Option<u8>) -> Option<RowDecoder> {
        let mut out: Option<RowDecoder> = None;
        for (i, c) in self.columns.iter().enumerate() {
            let Some(f @ 1..=6) = fsp(i) else { continue };
            let kind = match c.kind {
                ColumnKind::Time => ColumnKind::TimeHires { fsp: f },
                ColumnKind::DateTime => ColumnKind::DateTimeHires { fsp: f },
                ColumnKind::Timestamp => ColumnKind::TimestampHires { fsp: f },
                _ => continue,
            };
            out.get_or_insert_with(|| self.clone()).columns[i].kind = kind;
        }
        out
    }

    /// Number of columns of the table; every decoded row has exactly this many values.
    #[inline]
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// The compiled columns, for renderers (type names, meta, signedness, charset).
    #[inline]
    pub fn columns(&self) -> &[CompiledColumn] {
        &self.columns
    }

    /// Number of JSON columns (the width of the PARTIAL_UPDATE JSON bitmap).
    #[inline]
    pub fn json_column_count(&self) -> usize {
        self.json_columns
    }

    /// Decode one row image at `data`: the NULL bitmap (one bit per column present in
    /// `present`), then each present non-NULL value. `out` is cleared and receives exactly
    /// [`RowDecoder::column_count`] values; absent columns get `Value::Null` (consult
    /// `present` to tell absent from NULL). Values borrow the event bytes.
    pub fn decode_row<'a>(
        &self,
        data: &mut Cursor<'a>,
        present: &Bitmap<'_>,
        out: &mut Vec<Value<'a>>,
    ) -> Result<()> {
        let count = self.check_present(present)?;
        self.decode_image(data, present, count, None, out)
    }

    /// Check that `present` covers this table and return how many columns it selects.
    pub(crate) fn check_present(&self, present: &Bitmap<'_>) -> Result<usize> {
        if present.len() != self.columns.len() {
            return Err(BinlogError::invalid(
                "rows event",
                format!(
                    "column bitmap has {} columns, table map has {}",
                    present.len(),
                    self.columns.len()
                ),
            ));
        }
        Ok(present.count_ones())
    }

    /// [`RowDecoder::decode_row`] with the presence count precomputed (once per event) and,
    /// for PARTIAL_UPDATE after images, the bitmap of JSON columns stored as diffs.
    #[inline]
    pub(crate) fn decode_image<'a>(
        &self,
        data: &mut Cursor<'a>,
        present: &Bitmap<'_>,
        present_count: usize,
        partial: Option<Bitmap<'a>>,
        out: &mut Vec<Value<'a>>,
    ) -> Result<()> {
        out.clear();
        out.reserve(self.columns.len());
        let nulls = data.bytes(present_count.div_ceil(8), "row NULL bitmap")?;
        let buf = data.rest();
        let mut pos = 0usize;
        let all_present = present_count == self.columns.len();
        let mut k = 0usize; // index among present columns
        for (i, col) in self.columns.iter().enumerate() {
            if !all_present && !present.get(i) {
                out.push(Value::Null);
                continue;
            }
            // k < present_count, so k / 8 < nulls.len().
            let is_null = (nulls[k >> 3] >> (k & 7)) & 1 != 0;
            k += 1;
            if is_null {
                out.push(Value::Null);
                continue;
            }
            let partial_json = match (partial, col.json_index) {
                (Some(p), Some(j)) => p.get(j as usize),
                _ => false,
            };
            if col
                .kind
                .decode_into(buf, &mut pos, partial_json, out)
                .is_none()
            {
                return Err(column_error(
                    col.kind,
                    buf.get(pos..).unwrap_or_default(),
                    partial_json,
                ));
            }
        }
        data.skip(pos, "row image")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::decimal::tests::encode as enc_decimal;
    use crate::binlog::table_map::tests::build;

    fn decoder(types: &[u8], meta: &[u8], optional: &[u8]) -> RowDecoder {
        let body = build(types, meta, &vec![0xff; types.len().div_ceil(8)], optional);
        let tm = TableMap::parse(&body, 8).unwrap();
        RowDecoder::new(&tm).unwrap()
    }

    fn all(n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n.div_ceil(8)];
        for i in 0..n {
            v[i / 8] |= 1 << (i % 8);
        }
        v
    }

    fn decode<'a>(d: &RowDecoder, row: &'a [u8]) -> Vec<Value<'a>> {
        let bits = all(d.column_count());
        let present = Bitmap::new(&bits, d.column_count());
        let mut out = Vec::new();
        let mut c = Cursor::new(row);
        d.decode_row(&mut c, &present, &mut out).unwrap();
        assert!(c.is_empty(), "row not fully consumed");
        out
    }

    #[test]
    fn integers_sign_extend_and_unsigned() {
        let types = [1, 2, 9, 3, 8];
        let d = decoder(&types, &[], &[]);
        let mut row = vec![0u8]; // null bitmap
        row.push(0xff);
        row.extend_from_slice(&[0xfe, 0xff]);
        row.extend_from_slice(&[0xfd, 0xff, 0xff]);
        row.extend_from_slice(&(-4i32).to_le_bytes());
        row.extend_from_slice(&(-5i64).to_le_bytes());
        assert_eq!(
            decode(&d, &row),
            [
                Value::Int(-1),
                Value::Int(-2),
                Value::Int(-3),
                Value::Int(-4),
                Value::Int(-5)
            ]
        );
        // all unsigned
        let d = decoder(&types, &[], &[1, 1, 0b1111_1000]);
        assert_eq!(
            decode(&d, &row),
            [
                Value::UInt(255),
                Value::UInt(65534),
                Value::UInt(0xff_fffd),
                Value::UInt(0xffff_fffc),
                Value::UInt(u64::MAX - 4)
            ]
        );
        assert!(d.columns()[0].unsigned);
    }

    #[test]
    fn strings_char_over_255_bytes_and_blobs() {
        // VARCHAR(300) -> 2-byte length; CHAR(255) utf8mb4 (1020 bytes) -> 2-byte length;
        // CHAR(10) -> 1 byte; BLOB meta 3; VARCHAR(10)
        let len: u16 = 1020;
        let b0 = 0xfe ^ (((len >> 4) & 0x30) as u8);
        let types = [15, 254, 254, 252, 15];
        let meta = [0x2c, 0x01, b0, (len & 0xff) as u8, 0xfe, 10, 3, 10, 0];
        let d = decoder(&types, &meta, &[]);
        assert_eq!(
            d.columns()[1].kind,
            ColumnKind::Char {
                max_len: 1020,
                len_bytes: 2
            }
        );
        let mut row = vec![0u8];
        row.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
        row.extend_from_slice(&[2, 0, b'x', b'y']);
        row.extend_from_slice(&[1, b'z']);
        row.extend_from_slice(&[2, 0, 0, b'q', b'r']);
        row.extend_from_slice(&[0]);
        let v = decode(&d, &row);
        assert_eq!(
            v,
            [
                Value::Bytes(b"abc"),
                Value::Bytes(b"xy"),
                Value::Bytes(b"z"),
                Value::Bytes(b"qr"),
                Value::Bytes(b"")
            ]
        );
        let mut s = String::new();
        d.columns()[1].mysqlbinlog_type_name(&mut s);
        assert_eq!(s, "STRING(1020)");
    }

    #[test]
    fn bit_enum_set_year_decimal_float() {
        // BIT(1), BIT(64), ENUM 2 bytes, SET 8 bytes (64 members), YEAR, DECIMAL(65,30),
        // DECIMAL(5,0), FLOAT, DOUBLE, NULL type
        let types = [16, 16, 254, 254, 13, 246, 246, 4, 5, 6];
        let meta = [1, 0, 0, 8, 0xf7, 2, 0xf8, 8, 65, 30, 5, 0, 4, 8];
        let d = decoder(&types, &meta, &[]);
        assert_eq!(d.columns()[0].kind, ColumnKind::Bit { bits: 1, bytes: 1 });
        assert_eq!(d.columns()[1].kind, ColumnKind::Bit { bits: 64, bytes: 8 });
        let mut row = vec![0u8, 0];
        row.push(1);
        row.extend_from_slice(&0x8000_0000_0000_0001u64.to_be_bytes());
        row.extend_from_slice(&300u16.to_le_bytes());
        row.extend_from_slice(&u64::MAX.to_le_bytes());
        row.push(120);
        let big = format!("-{}.{}", "1".repeat(35), "2".repeat(30));
        let dec = enc_decimal(&big, 65, 30);
        row.extend_from_slice(&dec);
        let dec0 = enc_decimal("-12345", 5, 0);
        row.extend_from_slice(&dec0);
        row.extend_from_slice(&1.5f32.to_le_bytes());
        row.extend_from_slice(&(-2.25f64).to_le_bytes());
        let v = decode(&d, &row);
        assert_eq!(v[0], Value::Bit { bits: 1, width: 1 });
        assert_eq!(
            v[1],
            Value::Bit {
                bits: 0x8000_0000_0000_0001,
                width: 64
            }
        );
        assert_eq!(v[2], Value::Enum(300));
        assert_eq!(v[3], Value::Set(u64::MAX));
        assert_eq!(v[4], Value::Year(2020));
        match v[5] {
            Value::Decimal(d) => assert_eq!(d.to_string(), big),
            other => panic!("{other:?}"),
        }
        match v[6] {
            Value::Decimal(d) => assert_eq!(d.to_string(), "-12345"),
            other => panic!("{other:?}"),
        }
        assert_eq!(v[7], Value::Float(1.5));
        assert_eq!(v[8], Value::Double(-2.25));
        assert_eq!(v[9], Value::Null);
    }

    #[test]
    fn nulls_and_absent_columns() {
        let d = decoder(&[3, 3, 3, 3], &[], &[]);
        // present: columns 0, 2, 3; column 2 NULL
        let present_bits = [0b1101u8];
        let present = Bitmap::new(&present_bits, 4);
        let mut row = vec![0b010u8];
        row.extend_from_slice(&7i32.to_le_bytes());
        row.extend_from_slice(&9i32.to_le_bytes());
        let mut out = vec![Value::Int(99); 10];
        let mut c = Cursor::new(&row);
        d.decode_row(&mut c, &present, &mut out).unwrap();
        assert_eq!(
            out,
            [Value::Int(7), Value::Null, Value::Null, Value::Int(9)]
        );
        assert!(c.is_empty());
        // wrong bitmap width
        let bad = Bitmap::new(&present_bits, 3);
        assert!(
            d.decode_row(&mut Cursor::new(&row), &bad, &mut out)
                .is_err()
        );
    }

    #[test]
    fn year_zero_and_temporal_kinds() {
        let d = decoder(&[13, 19, 18, 17, 10, 11, 12, 7], &[3, 6, 2], &[]);
        assert_eq!(d.columns()[1].kind, ColumnKind::Time2 { fsp: 3, len: 5 });
        assert_eq!(
            d.columns()[2].kind,
            ColumnKind::DateTime2 { fsp: 6, len: 8 }
        );
        assert_eq!(
            d.columns()[3].kind,
            ColumnKind::Timestamp2 { fsp: 2, len: 5 }
        );
        let mut row = vec![0u8];
        row.push(0);
        row.extend_from_slice(&[0x80, 0, 0, 0, 0]);
        row.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0]);
        row.extend_from_slice(&[0, 0, 0, 1, 0]);
        row.extend_from_slice(&[0, 0, 0]);
        row.extend_from_slice(&[0, 0, 0]);
        row.extend_from_slice(&[0; 8]);
        row.extend_from_slice(&[0; 4]);
        let v = decode(&d, &row);
        assert_eq!(v[0], Value::Year(0));
        match v[2] {
            Value::DateTime(dt) => assert_eq!(dt.to_string(), "0000-00-00 00:00:00.000000"),
            other => panic!("{other:?}"),
        }
        match v[3] {
            Value::Timestamp(ts) => assert_eq!(ts.to_string(), "1.00"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_undecodable_columns() {
        for (types, meta) in [
            (&[246u8][..], &[70u8, 2][..]), // precision 70
            (&[246], &[5, 6]),              // scale > precision
            (&[19], &[7]),                  // fsp 7
            (&[16], &[0, 9]),               // BIT(72)
            (&[252], &[5]),                 // blob length 5
            (&[254], &[0xf7, 3]),           // enum packlen 3
            (&[0], &[]),                    // old DECIMAL
        ] {
            let body = build(types, meta, &[0], &[]);
            let tm = TableMap::parse(&body, 8).unwrap();
            assert!(RowDecoder::new(&tm).is_err(), "{types:?} {meta:?}");
        }
    }

    #[test]
    fn mysqlbinlog_type_names() {
        // TINYINT, DECIMAL(10,2), DATETIME(6), TIME(3), BIT(9), ENUM 2 bytes, SET 8 bytes,
        // VARCHAR(80), CHAR(10), MEDIUMBLOB, JSON, TIMESTAMP(0)
        let types = [1, 246, 18, 19, 16, 254, 254, 15, 254, 252, 245, 17];
        let meta = [
            10, 2, 6, 3, 1, 1, 0xf7, 2, 0xf8, 8, 80, 0, 0xfe, 10, 3, 4, 0,
        ];
        let d = decoder(&types, &meta, &[]);
        let names: Vec<String> = d
            .columns()
            .iter()
            .map(|c| {
                let mut s = String::new();
                c.mysqlbinlog_type_name(&mut s);
                s
            })
            .collect();
        assert_eq!(
            names,
            [
                "TINYINT",
                "DECIMAL(10,2)",
                "DATETIME(6)",
                "TIME(3)",
                "BIT(9)",
                "ENUM(2 bytes)",
                "SET(8 bytes)",
                "VARSTRING(80)",
                "STRING(10)",
                "MEDIUMBLOB/MEDIUMTEXT",
                "JSON",
                "TIMESTAMP(0)"
            ]
        );
    }

    #[test]
    fn fast_path_errors_name_the_column() {
        // INT, VARCHAR(10), DATETIME(6): each cut inside a value reports that value.
        let d = decoder(&[3, 15, 18], &[10, 0, 6], &[]);
        let bits = all(3);
        let present = Bitmap::new(&bits, 3);
        let mut out = Vec::new();
        let mut row = vec![0u8];
        row.extend_from_slice(&1i32.to_le_bytes());
        row.extend_from_slice(&[5, b'h', b'i']);
        let err = d
            .decode_row(&mut Cursor::new(&row), &present, &mut out)
            .unwrap_err();
        assert!(
            matches!(
                err,
                BinlogError::Truncated {
                    what: "string value",
                    needed: 5,
                    available: 2
                }
            ),
            "{err:?}"
        );
        let err = d
            .decode_row(&mut Cursor::new(&row[..3]), &present, &mut Vec::new())
            .unwrap_err();
        assert!(
            matches!(
                err,
                BinlogError::Truncated {
                    what: "INT value",
                    needed: 4,
                    available: 2
                }
            ),
            "{err:?}"
        );
        let mut row = vec![0u8];
        row.extend_from_slice(&1i32.to_le_bytes());
        row.extend_from_slice(&[0]);
        row.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0]);
        let err = d
            .decode_row(&mut Cursor::new(&row), &present, &mut Vec::new())
            .unwrap_err();
        assert!(
            matches!(
                err,
                BinlogError::Truncated {
                    what: "DATETIME2 value",
                    needed: 8,
                    available: 7
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_rows_error() {
        let d = decoder(&[3, 15, 246], &[10, 0, 10, 2], &[]);
        let mut row = vec![0u8];
        row.extend_from_slice(&1i32.to_le_bytes());
        row.extend_from_slice(&[2, b'h', b'i']);
        row.extend_from_slice(&enc_decimal("1.5", 10, 2));
        decode(&d, &row);
        let bits = all(3);
        let present = Bitmap::new(&bits, 3);
        let mut out = Vec::new();
        for n in 0..row.len() {
            assert!(
                d.decode_row(&mut Cursor::new(&row[..n]), &present, &mut out)
                    .is_err()
            );
        }
    }
}
