//! TABLE_MAP_EVENT: which table a table id names, its column types and their metadata.
//!
//! Owns the event layout (table id, schema and table names, column types, the per-column
//! metadata block, the nullability bitmap) and every optional metadata field MySQL 8.0+/9.x and
//! MariaDB 10.5+ write (`binlog_row_metadata=MINIMAL|FULL`): signedness, charsets, column names,
//! ENUM/SET values, geometry types, primary key, visibility, VECTOR dimensions. Everything stays
//! a slice of the event; accessors decode on demand. It does not decode row values: compile a
//! [`crate::binlog::row_decoder::RowDecoder`] from the map for that.
//!
//! Facts taken from MySQL's `Table_map_log_event` (`init_*_field`, `table_def`) and
//! `log_event_print_value`:
//! * a column's metadata is a `u16` read per type: one byte (FLOAT, DOUBLE, BLOB, GEOMETRY,
//!   JSON, TIME2/DATETIME2/TIMESTAMP2 fsp, VECTOR), two little-endian bytes (VARCHAR,
//!   VAR_STRING), two bytes high byte first (STRING/ENUM/SET: real type then length; NEWDECIMAL:
//!   precision then scale) or low byte first (BIT: bits % 8 then bytes);
//! * a CHAR column is typed STRING and its metadata carries the real type (STRING, ENUM or SET);
//!   lengths above 255 borrow bits 4-5 of the real type byte, inverted;
//! * SIGNEDNESS has one bit per numeric column (TINYINT..BIGINT, YEAR, DECIMAL, FLOAT, DOUBLE;
//!   MySQL 9.7 and MariaDB 10.11 both give YEAR a bit: a YEAR before a BIGINT moved the BIGINT
//!   onto the next column's bit), most significant bit first; COLUMN_VISIBILITY likewise over
//!   all columns;
//! * character-column charsets (CHAR, VARCHAR, TEXT/BLOB; on MariaDB also GEOMETRY, whose
//!   server code counts it as a blob) and ENUM/SET charsets are two separate lists, each either
//!   "default + exceptions by ordinal" or "one per column".

use super::bitmap::Bitmap;
use super::column_type::ColumnType;
use super::cursor::Cursor;
use super::error::{BinlogError, Result};
use super::format::Flavor;

const W: &str = "table map";

/// Optional metadata field type codes (`enum_optional_metadata_field_type`).
pub mod opt {
    pub const SIGNEDNESS: u8 = 1;
    pub const DEFAULT_CHARSET: u8 = 2;
    pub const COLUMN_CHARSET: u8 = 3;
    pub const COLUMN_NAME: u8 = 4;
    pub const SET_STR_VALUE: u8 = 5;
    pub const ENUM_STR_VALUE: u8 = 6;
    pub const GEOMETRY_TYPE: u8 = 7;
    pub const SIMPLE_PRIMARY_KEY: u8 = 8;
    pub const PRIMARY_KEY_WITH_PREFIX: u8 = 9;
    pub const ENUM_AND_SET_DEFAULT_CHARSET: u8 = 10;
    pub const ENUM_AND_SET_COLUMN_CHARSET: u8 = 11;
    pub const COLUMN_VISIBILITY: u8 = 12;
    pub const VECTOR_DIMENSIONALITY: u8 = 13;
}

/// The raw value of each optional metadata field present in the event (`None` when absent).
/// Kept as slices: most consumers need one or two fields, and only once per table map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptionalMetadata<'a> {
    pub signedness: Option<&'a [u8]>,
    pub default_charset: Option<&'a [u8]>,
    pub column_charset: Option<&'a [u8]>,
    pub column_name: Option<&'a [u8]>,
    pub set_str_value: Option<&'a [u8]>,
    pub enum_str_value: Option<&'a [u8]>,
    pub geometry_type: Option<&'a [u8]>,
    pub simple_primary_key: Option<&'a [u8]>,
    pub primary_key_with_prefix: Option<&'a [u8]>,
    pub enum_and_set_default_charset: Option<&'a [u8]>,
    pub enum_and_set_column_charset: Option<&'a [u8]>,
    pub column_visibility: Option<&'a [u8]>,
    pub vector_dimensionality: Option<&'a [u8]>,
}

/// One column as the table map describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The type byte as written (CHAR, ENUM and SET columns all say `String`).
    pub column_type: ColumnType,
    /// The type after resolving `String` metadata to ENUM/SET/STRING and DATE to NEWDATE.
    pub real_type: ColumnType,
    /// The metadata as MySQL reads it into a `u16` (see the module docs).
    pub meta: u16,
    /// Whether the column is declared NULL-able.
    pub nullable: bool,
}

/// A parsed TABLE_MAP event, borrowing the event bytes.
#[derive(Debug, Clone)]
pub struct TableMap<'a> {
    pub table_id: u64,
    pub flags: u16,
    pub schema: &'a [u8],
    pub table: &'a [u8],
    pub column_count: usize,
    /// One `enum_field_types` byte per column (all validated by [`TableMap::parse`]).
    pub column_types: &'a [u8],
    /// The per-column metadata block (validated to hold exactly what the types need).
    pub metadata: &'a [u8],
    /// Bit `i` set when column `i` is NULL-able.
    pub nullable: Bitmap<'a>,
    /// The optional metadata bytes, as a whole.
    pub optional_raw: &'a [u8],
    pub optional: OptionalMetadata<'a>,
    /// Which server wrote the map. [`TableMap::parse`] cannot know and assumes MySQL; the stream
    /// layer sets this from the FORMAT_DESCRIPTION because MariaDB lists GEOMETRY columns among
    /// the character columns in its charset metadata.
    pub flavor: Flavor,
}

/// Read one column's metadata as MySQL's `table_def` does.
fn read_meta(t: ColumnType, c: &mut Cursor<'_>) -> Result<u16> {
    use ColumnType as T;
    const M: &str = "table map column metadata";
    Ok(match t {
        T::Float
        | T::Double
        | T::Blob
        | T::TinyBlob
        | T::MediumBlob
        | T::LongBlob
        | T::Geometry
        | T::Json
        | T::Timestamp2
        | T::DateTime2
        | T::Time2
        | T::Vector
        | T::BlobCompressed => c.u8(M)? as u16,
        // VAR_STRING only appears for pre-5.0 tables; Field_string writes two bytes for it.
        T::VarChar | T::VarString | T::VarCharCompressed => c.u16_le(M)?,
        T::String | T::Enum | T::Set | T::NewDecimal => {
            let hi = c.u8(M)? as u16;
            (hi << 8) | c.u8(M)? as u16
        }
        T::Bit => {
            let lo = c.u8(M)? as u16;
            lo | (c.u8(M)? as u16) << 8
        }
        T::TypedArray => {
            // Element type, then that type's metadata (VARCHAR elements carry 3 bytes).
            let inner = c.u8(M)?;
            let it = ColumnType::from_u8(inner).ok_or_else(|| {
                BinlogError::invalid(M, format!("typed array of unknown type {inner}"))
            })?;
            if it == T::VarChar {
                c.skip(3, M)?;
                0
            } else if it == T::TypedArray {
                return Err(BinlogError::invalid(M, "nested typed array"));
            } else {
                read_meta(it, c)?
            }
        }
        // The old DECIMAL and the integer and pre-5.6 temporal types carry no metadata.
        _ => 0,
    })
}

/// Resolve the real type and length of a `String`-typed column from its metadata
/// (`log_event_print_value`): returns (real type, length). For STRING the length is the
/// maximum byte length; for ENUM and SET it is the pack length.
pub fn string_real_type(meta: u16) -> Result<(ColumnType, u16)> {
    if meta < 256 {
        return Ok((ColumnType::String, meta));
    }
    let b0 = (meta >> 8) as u8;
    let b1 = meta & 0xff;
    let (real, len) = if b0 & 0x30 != 0x30 {
        // CHAR longer than 255 bytes: bits 4-5 of the length are stored inverted in b0.
        (b0 | 0x30, b1 | ((((b0 & 0x30) ^ 0x30) as u16) << 4))
    } else {
        (b0, b1)
    };
    match ColumnType::from_u8(real) {
        Some(t @ (ColumnType::String | ColumnType::Enum | ColumnType::Set)) => Ok((t, len)),
        _ => Err(BinlogError::invalid(
            "table map column metadata",
            format!("STRING column with metadata {meta:#06x} has real type {real}"),
        )),
    }
}

fn real_type_of(t: ColumnType, meta: u16) -> Result<ColumnType> {
    Ok(match t {
        ColumnType::String => string_real_type(meta)?.0,
        // DATE has not been written since before row-based logging: it is NEWDATE.
        ColumnType::Date => ColumnType::NewDate,
        other => other,
    })
}

/// Numeric columns, which get a SIGNEDNESS bit (what the servers write: YEAR included).
pub fn is_numeric_type(t: ColumnType) -> bool {
    use ColumnType as T;
    matches!(
        t,
        T::Tiny
            | T::Short
            | T::Int24
            | T::Long
            | T::LongLong
            | T::Year
            | T::NewDecimal
            | T::Float
            | T::Double
    )
}

/// Columns listed in DEFAULT_CHARSET/COLUMN_CHARSET, by real type (MySQL's
/// `is_character_type`; MariaDB adds GEOMETRY and its compressed columns).
pub fn is_character_type(real: ColumnType, flavor: Flavor) -> bool {
    use ColumnType as T;
    match real {
        T::String
        | T::VarString
        | T::VarChar
        | T::Blob
        | T::TinyBlob
        | T::MediumBlob
        | T::LongBlob
        // MariaDB's compressed columns (only MariaDB writes these types).
        | T::VarCharCompressed
        | T::BlobCompressed => true,
        T::Geometry => flavor == Flavor::MariaDb,
        _ => false,
    }
}

/// Columns listed in the ENUM_AND_SET charset fields and the ENUM/SET value lists.
pub fn is_enum_or_set_type(real: ColumnType) -> bool {
    matches!(real, ColumnType::Enum | ColumnType::Set)
}

impl<'a> TableMap<'a> {
    /// Parse a TABLE_MAP body (after the common header, checksum removed). `post_header_len`
    /// 6 means a 4-byte table id (MySQL 5.1.4 and earlier), otherwise 6 bytes.
    pub fn parse(body: &'a [u8], post_header_len: u8) -> Result<TableMap<'a>> {
        let mut c = Cursor::new(body);
        let table_id = if post_header_len == 6 {
            c.u32_le(W)? as u64
        } else {
            c.uint_le(6, W)?
        };
        let flags = c.u16_le(W)?;
        if post_header_len > 8 {
            c.skip(post_header_len as usize - 8, W)?; // a newer server's extra post-header
        }
        let schema = c.u8_prefixed("table map schema name")?;
        c.skip(1, "table map schema name NUL")?;
        let table = c.u8_prefixed("table map table name")?;
        c.skip(1, "table map table name NUL")?;
        let n = c.lenenc_int("table map column count")?;
        let column_count = usize::try_from(n)
            .ok()
            .filter(|&n| n <= body.len())
            .ok_or_else(|| BinlogError::invalid(W, format!("column count {n} exceeds event")))?;
        let column_types = c.bytes(column_count, "table map column types")?;
        for (i, &b) in column_types.iter().enumerate() {
            if ColumnType::from_u8(b).is_none() {
                return Err(BinlogError::invalid(
                    W,
                    format!("column {i} has unknown type {b}"),
                ));
            }
        }
        let metadata = c.lenenc_bytes("table map metadata")?;
        let nullable = Bitmap::read(&mut c, column_count, "table map null bitmap")?;
        let optional_raw = c.take_rest();
        let mut map = TableMap {
            table_id,
            flags,
            schema,
            table,
            column_count,
            column_types,
            metadata,
            nullable,
            optional_raw,
            optional: OptionalMetadata::default(),
            flavor: Flavor::MySql,
        };
        map.validate_metadata()?;
        map.optional = parse_optional(optional_raw)?;
        Ok(map)
    }

    /// Walk the metadata block once so that later accessors cannot meet a short block, and
    /// refuse a block whose size disagrees with the types (a sign of misreading the event).
    fn validate_metadata(&self) -> Result<()> {
        let mut c = Cursor::new(self.metadata);
        for (i, t) in self.raw_types().enumerate() {
            let meta = read_meta(t, &mut c)?;
            real_type_of(t, meta)
                .map_err(|e| BinlogError::invalid(W, format!("column {i}: {e}")))?;
        }
        if !c.is_empty() {
            return Err(BinlogError::invalid(
                W,
                format!(
                    "metadata block has {} bytes more than the column types use",
                    c.remaining()
                ),
            ));
        }
        Ok(())
    }

    fn raw_types(&self) -> impl Iterator<Item = ColumnType> + 'a {
        // Validated in parse; unknown bytes cannot occur, `Null` keeps this total.
        self.column_types
            .iter()
            .map(|&b| ColumnType::from_u8(b).unwrap_or(ColumnType::Null))
    }

    /// Every column's type, real type, metadata and nullability, in order.
    pub fn columns(&self) -> impl Iterator<Item = ColumnInfo> + 'a {
        let mut c = Cursor::new(self.metadata);
        let nullable = self.nullable;
        self.raw_types().enumerate().map(move |(i, t)| {
            let meta = read_meta(t, &mut c).unwrap_or(0);
            ColumnInfo {
                column_type: t,
                real_type: real_type_of(t, meta).unwrap_or(t),
                meta,
                nullable: nullable.get(i),
            }
        })
    }

    /// Column `i`, or `None` past the end.
    pub fn column(&self, i: usize) -> Option<ColumnInfo> {
        self.columns().nth(i)
    }

    /// The number of JSON columns, which sizes the PARTIAL_UPDATE_ROWS partial-JSON bitmap.
    pub fn json_column_count(&self) -> usize {
        self.raw_types().filter(|&t| t == ColumnType::Json).count()
    }

    /// Ordinal of column `i` among the columns for which `pred` holds, if it holds for `i`.
    /// Looks at column `i` alone first: renderers ask this for every column of every row,
    /// and the answer is almost always "not such a column".
    fn ordinal(&self, i: usize, pred: impl Fn(ColumnInfo) -> bool) -> Option<usize> {
        if !pred(self.column(i)?) {
            return None;
        }
        Some(self.columns().take(i).filter(|&c| pred(c)).count())
    }

    /// [`TableMap::ordinal`] for a predicate on the type byte alone (no metadata walk).
    fn ordinal_by_type(&self, i: usize, pred: impl Fn(ColumnType) -> bool) -> Option<usize> {
        if !pred(self.raw_types().nth(i)?) {
            return None;
        }
        Some(self.raw_types().take(i).filter(|&t| pred(t)).count())
    }

    /// Whether the map carries SIGNEDNESS (MySQL 8.0.1+ always writes it when a numeric
    /// column exists); without it, integers must be treated as signed.
    pub fn has_signedness(&self) -> bool {
        self.optional.signedness.is_some()
    }

    /// Whether column `i` is a numeric column declared UNSIGNED. `false` for non-numeric
    /// columns and when the map has no SIGNEDNESS field.
    pub fn is_unsigned(&self, i: usize) -> bool {
        let Some(bits) = self.optional.signedness else {
            return false;
        };
        self.ordinal_by_type(i, is_numeric_type)
            .is_some_and(|k| msb_bit(bits, k))
    }

    /// [`TableMap::is_unsigned`] for every column, in one pass.
    pub fn unsigned_flags(&self) -> impl Iterator<Item = bool> + 'a {
        let bits = self.optional.signedness;
        let mut k = 0usize;
        self.columns().map(move |c| {
            if !is_numeric_type(c.column_type) {
                return false;
            }
            k += 1;
            bits.is_some_and(|b| msb_bit(b, k - 1))
        })
    }

    /// The collation id of column `i`: for character columns from DEFAULT_CHARSET or
    /// COLUMN_CHARSET, for ENUM/SET columns from the ENUM_AND_SET fields; `None` for other
    /// columns or when the map does not say (MINIMAL metadata on older servers).
    pub fn charset(&self, i: usize) -> Option<u16> {
        self.charsets().nth(i).flatten()
    }

    /// [`TableMap::charset`] for every column, in one pass.
    pub fn charsets(&self) -> impl Iterator<Item = Option<u16>> + 'a {
        let flavor = self.flavor;
        let mut text = CharsetSeq::new(self.optional.default_charset, self.optional.column_charset);
        let mut enum_set = CharsetSeq::new(
            self.optional.enum_and_set_default_charset,
            self.optional.enum_and_set_column_charset,
        );
        self.columns().map(move |c| {
            if is_character_type(c.real_type, flavor) {
                text.next_charset()
            } else if is_enum_or_set_type(c.real_type) {
                enum_set.next_charset()
            } else {
                None
            }
        })
    }

    /// Column names from COLUMN_NAME (`binlog_row_metadata=FULL`), in column order; empty when
    /// absent. Stops at the first malformed entry.
    pub fn column_names(&self) -> LenencStrs<'a> {
        LenencStrs::new(self.optional.column_name.unwrap_or(&[]))
    }

    /// The name of column `i`, when the map carries names.
    pub fn column_name(&self, i: usize) -> Option<&'a [u8]> {
        self.column_names().nth(i)
    }

    /// The value list of ENUM column `i` (1-based ENUM index `n` is item `n - 1`), when the
    /// map carries ENUM_STR_VALUE.
    pub fn enum_values(&self, i: usize) -> Option<LenencStrs<'a>> {
        let list = self.optional.enum_str_value?;
        let k = self.ordinal(i, |c| c.real_type == ColumnType::Enum)?;
        nth_str_list(list, k)
    }

    /// The member list of SET column `i` (bit `n` of the value is item `n`), when the map
    /// carries SET_STR_VALUE.
    pub fn set_values(&self, i: usize) -> Option<LenencStrs<'a>> {
        let list = self.optional.set_str_value?;
        let k = self.ordinal(i, |c| c.real_type == ColumnType::Set)?;
        nth_str_list(list, k)
    }

    /// The geometry subtype of GEOMETRY column `i` (0 GEOMETRY, 1 POINT, 2 LINESTRING,
    /// 3 POLYGON, 4 MULTIPOINT, 5 MULTILINESTRING, 6 MULTIPOLYGON, 7 GEOMETRYCOLLECTION).
    pub fn geometry_type(&self, i: usize) -> Option<u64> {
        let types = self.optional.geometry_type?;
        nth_lenenc(
            types,
            self.ordinal_by_type(i, |t| t == ColumnType::Geometry)?,
        )
    }

    /// The declared dimension of VECTOR column `i` (MySQL 9.0+).
    pub fn vector_dimension(&self, i: usize) -> Option<u64> {
        let dims = self.optional.vector_dimensionality?;
        nth_lenenc(dims, self.ordinal_by_type(i, |t| t == ColumnType::Vector)?)
    }

    /// Whether column `i` is visible (`false` for INVISIBLE columns), when the map carries
    /// COLUMN_VISIBILITY (MySQL 8.0.23+).
    pub fn is_visible(&self, i: usize) -> Option<bool> {
        let bits = self.optional.column_visibility?;
        (i < self.column_count).then(|| msb_bit(bits, i))
    }

    /// Whether the map says anything about the primary key.
    pub fn has_primary_key(&self) -> bool {
        self.optional.simple_primary_key.is_some()
            || self.optional.primary_key_with_prefix.is_some()
    }

    /// The primary key as (column index, prefix length; 0 = whole column), in key order, from
    /// SIMPLE_PRIMARY_KEY or PRIMARY_KEY_WITH_PREFIX. Empty when absent or the table has none.
    pub fn primary_key(&self) -> PrimaryKeyIter<'a> {
        if let Some(b) = self.optional.simple_primary_key {
            PrimaryKeyIter {
                c: Cursor::new(b),
                with_prefix: false,
            }
        } else {
            PrimaryKeyIter {
                c: Cursor::new(self.optional.primary_key_with_prefix.unwrap_or(&[])),
                with_prefix: true,
            }
        }
    }
}

/// Bit `k` of an MSB-first bitmap (SIGNEDNESS, COLUMN_VISIBILITY).
#[inline]
fn msb_bit(bits: &[u8], k: usize) -> bool {
    bits.get(k / 8).is_some_and(|b| b & (0x80 >> (k % 8)) != 0)
}

fn parse_optional(raw: &[u8]) -> Result<OptionalMetadata<'_>> {
    let mut o = OptionalMetadata::default();
    let mut c = Cursor::new(raw);
    while !c.is_empty() {
        let t = c.u8("table map optional metadata type")?;
        let v = c.lenenc_bytes("table map optional metadata field")?;
        let slot = match t {
            opt::SIGNEDNESS => &mut o.signedness,
            opt::DEFAULT_CHARSET => &mut o.default_charset,
            opt::COLUMN_CHARSET => &mut o.column_charset,
            opt::COLUMN_NAME => &mut o.column_name,
            opt::SET_STR_VALUE => &mut o.set_str_value,
            opt::ENUM_STR_VALUE => &mut o.enum_str_value,
            opt::GEOMETRY_TYPE => &mut o.geometry_type,
            opt::SIMPLE_PRIMARY_KEY => &mut o.simple_primary_key,
            opt::PRIMARY_KEY_WITH_PREFIX => &mut o.primary_key_with_prefix,
            opt::ENUM_AND_SET_DEFAULT_CHARSET => &mut o.enum_and_set_default_charset,
            opt::ENUM_AND_SET_COLUMN_CHARSET => &mut o.enum_and_set_column_charset,
            opt::COLUMN_VISIBILITY => &mut o.column_visibility,
            opt::VECTOR_DIMENSIONALITY => &mut o.vector_dimensionality,
            _ => continue, // a newer field: its length let us skip it
        };
        *slot = Some(v);
    }
    Ok(o)
}

/// The collations of consecutive columns of one charset category, read from either the
/// "default plus exceptions by ordinal" field or the "one per column" field.
struct CharsetSeq<'a> {
    default: Option<u16>,
    /// Next (ordinal, collation) exception of the default form.
    pending: Option<(u64, u16)>,
    c: Cursor<'a>,
    per_column: bool,
    k: u64,
}

impl<'a> CharsetSeq<'a> {
    fn new(default: Option<&'a [u8]>, per_column: Option<&'a [u8]>) -> Self {
        let mut seq = CharsetSeq {
            default: None,
            pending: None,
            c: Cursor::new(&[]),
            per_column: false,
            k: 0,
        };
        if let Some(b) = default {
            seq.c = Cursor::new(b);
            seq.default = seq
                .c
                .lenenc_int("default charset")
                .ok()
                .and_then(|v| u16::try_from(v).ok());
            seq.pending = seq.read_pair();
        } else if let Some(b) = per_column {
            seq.c = Cursor::new(b);
            seq.per_column = true;
        }
        seq
    }

    fn read_pair(&mut self) -> Option<(u64, u16)> {
        if self.c.is_empty() {
            return None;
        }
        let idx = self.c.lenenc_int("charset column").ok()?;
        let cs = self.c.lenenc_int("charset collation").ok()?;
        Some((idx, u16::try_from(cs).ok()?))
    }

    fn next_charset(&mut self) -> Option<u16> {
        let k = self.k;
        self.k += 1;
        if self.per_column {
            if self.c.is_empty() {
                return None;
            }
            return self
                .c
                .lenenc_int("column charset")
                .ok()
                .and_then(|v| u16::try_from(v).ok());
        }
        // Exceptions are written in column order; skip any that are out of order.
        while let Some((idx, cs)) = self.pending {
            if idx > k {
                break;
            }
            self.pending = self.read_pair();
            if idx == k {
                return Some(cs);
            }
        }
        self.default
    }
}

fn nth_lenenc(b: &[u8], k: usize) -> Option<u64> {
    let mut c = Cursor::new(b);
    for _ in 0..k {
        c.lenenc_int("optional metadata").ok()?;
    }
    c.lenenc_int("optional metadata").ok()
}

/// The `k`-th of a sequence of (count, count strings) lists (ENUM_STR_VALUE, SET_STR_VALUE).
fn nth_str_list(b: &[u8], k: usize) -> Option<LenencStrs<'_>> {
    let mut c = Cursor::new(b);
    for _ in 0..k {
        let n = c.lenenc_int("value list").ok()?;
        for _ in 0..n {
            c.lenenc_bytes("value list item").ok()?;
        }
    }
    let n = c.lenenc_int("value list").ok()?;
    let start = c.position();
    for _ in 0..n {
        c.lenenc_bytes("value list item").ok()?;
    }
    Some(LenencStrs::new(&b[start..c.position()]))
}

/// Iterator over length-encoded strings (column names, ENUM/SET values), borrowed from the
/// event. Ends early on malformed bytes.
#[derive(Debug, Clone)]
pub struct LenencStrs<'a> {
    c: Cursor<'a>,
}

impl<'a> LenencStrs<'a> {
    fn new(b: &'a [u8]) -> Self {
        LenencStrs { c: Cursor::new(b) }
    }
}

impl<'a> Iterator for LenencStrs<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.c.is_empty() {
            return None;
        }
        match self.c.lenenc_bytes("length-encoded string") {
            Ok(s) => Some(s),
            Err(_) => {
                self.c.take_rest();
                None
            }
        }
    }
}

/// Iterator over primary key parts: (column index, prefix length).
#[derive(Debug, Clone)]
pub struct PrimaryKeyIter<'a> {
    c: Cursor<'a>,
    with_prefix: bool,
}

impl Iterator for PrimaryKeyIter<'_> {
    type Item = (usize, u64);
    fn next(&mut self) -> Option<(usize, u64)> {
        if self.c.is_empty() {
            return None;
        }
        let col = self.c.lenenc_int("primary key column").ok();
        let prefix = if self.with_prefix {
            self.c.lenenc_int("primary key prefix").ok()
        } else {
            Some(0)
        };
        match (col.and_then(|v| usize::try_from(v).ok()), prefix) {
            (Some(c), Some(p)) => Some((c, p)),
            _ => {
                self.c.take_rest();
                None
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build a TABLE_MAP body (test helper shared with the row decoder tests).
    pub(crate) fn build(types: &[u8], meta: &[u8], nullable: &[u8], optional: &[u8]) -> Vec<u8> {
        let mut b = vec![42, 0, 0, 0, 0, 0, 1, 0];
        b.push(2);
        b.extend_from_slice(b"db\0");
        b.push(1);
        b.extend_from_slice(b"t\0");
        b.push(types.len() as u8);
        b.extend_from_slice(types);
        b.push(meta.len() as u8);
        b.extend_from_slice(meta);
        b.extend_from_slice(nullable);
        b.extend_from_slice(optional);
        b
    }

    fn tlv(t: u8, v: &[u8]) -> Vec<u8> {
        let mut o = vec![t, v.len() as u8];
        o.extend_from_slice(v);
        o
    }

    fn lenenc_strs(items: &[&[u8]]) -> Vec<u8> {
        let mut o = Vec::new();
        for s in items {
            o.push(s.len() as u8);
            o.extend_from_slice(s);
        }
        o
    }

    #[test]
    fn parses_header_types_and_metadata() {
        // INT, VARCHAR(300), CHAR(10) (real STRING), ENUM (1 byte), DECIMAL(10,2), BIT(12),
        // DATETIME2(3), BLOB(2)
        let types = [3, 15, 254, 254, 246, 16, 18, 252];
        let meta = [
            0x2c, 0x01, // varchar 300
            0xfe, 10, // char 10
            0xf7, 1, // enum packlen 1
            10, 2, // decimal
            4, 1, // bit: 4 bits + 1 byte
            3, // datetime2 fsp
            2, // blob
        ];
        let body = build(&types, &meta, &[0b1000_0010], &[]);
        let tm = TableMap::parse(&body, 8).unwrap();
        assert_eq!(tm.table_id, 42);
        assert_eq!(tm.flags, 1);
        assert_eq!(tm.schema, b"db");
        assert_eq!(tm.table, b"t");
        assert_eq!(tm.column_count, 8);
        let cols: Vec<ColumnInfo> = tm.columns().collect();
        assert_eq!(cols[1].meta, 300);
        assert_eq!(cols[2].real_type, ColumnType::String);
        assert_eq!(cols[2].meta, 0xfe0a);
        assert_eq!(cols[3].real_type, ColumnType::Enum);
        assert_eq!(cols[4].meta, (10 << 8) | 2);
        assert_eq!(cols[5].meta, 4 | (1 << 8));
        assert_eq!(cols[6].meta, 3);
        assert!(cols[1].nullable && cols[7].nullable && !cols[0].nullable);
        assert_eq!(tm.column(7).unwrap().real_type, ColumnType::Blob);
        assert!(tm.column(8).is_none());
        assert!(!tm.has_signedness());
        assert!(!tm.is_unsigned(0));
        assert_eq!(tm.charset(1), None);
        assert_eq!(tm.column_names().count(), 0);

        // Old 4-byte table id.
        let mut old = body.clone();
        old.drain(4..6);
        let tm = TableMap::parse(&old, 6).unwrap();
        assert_eq!(tm.table_id, 42);
        assert_eq!(tm.column_count, 8);
    }

    #[test]
    fn long_char_real_type_encoding() {
        // CHAR(255) in utf8mb4: 1020 bytes = 0x3fc; MySQL writes b0 = 0xfe ^ ((0x3fc >> 4) & 0x30)
        let len: u16 = 1020;
        let b0 = 0xfe ^ (((len >> 4) & 0x30) as u8);
        let meta = ((b0 as u16) << 8) | (len & 0xff);
        assert_eq!(string_real_type(meta).unwrap(), (ColumnType::String, 1020));
        for len in [0u16, 1, 255, 256, 511, 512, 767, 768, 1020] {
            let b0 = 0xfe ^ (((len >> 4) & 0x30) as u8);
            let meta = ((b0 as u16) << 8) | (len & 0xff);
            assert_eq!(string_real_type(meta).unwrap(), (ColumnType::String, len));
        }
        assert_eq!(string_real_type(0xf802).unwrap(), (ColumnType::Set, 2));
        assert_eq!(string_real_type(0xf701).unwrap(), (ColumnType::Enum, 1));
        assert_eq!(string_real_type(20).unwrap(), (ColumnType::String, 20));
        assert!(string_real_type(0x0301).is_err()); // real type 0x33 does not exist
    }

    #[test]
    fn year_takes_a_signedness_bit() {
        // id INT, y YEAR, a BIGINT (signed), z BIGINT UNSIGNED, as MySQL 9.7 writes it: YEAR
        // has a bit, set (the server's YEAR is unsigned): id=0, y=1, a=0, z=1.
        let types = [3, 13, 8, 8];
        let body = build(&types, &[], &[0xff], &tlv(opt::SIGNEDNESS, &[0b0101_0000]));
        let tm = TableMap::parse(&body, 8).unwrap();
        assert!(!tm.is_unsigned(2), "the signed BIGINT after a YEAR");
        assert!(tm.is_unsigned(3));
        assert_eq!(
            tm.unsigned_flags().collect::<Vec<_>>(),
            [false, true, false, true]
        );
    }

    #[test]
    fn optional_metadata_full() {
        // id INT UNSIGNED, name VARCHAR(20) utf8mb4, e ENUM('a','b'), s SET('x','y','z'),
        // price DECIMAL(5,2) (signed), n TINYINT UNSIGNED, g POINT, bin VARBINARY(4)
        let types = [3, 15, 254, 254, 246, 1, 255, 15];
        let meta = [80, 0, 0xf7, 1, 0xf8, 1, 5, 2, 4, 4, 0];
        let mut opt_bytes = Vec::new();
        // numeric: id, price, n -> unsigned bits 1,0,1 (MSB first)
        opt_bytes.extend(tlv(opt::SIGNEDNESS, &[0b1010_0000]));
        // character columns: name(255 utf8mb4_0900), bin(63): default 255, exception idx1 -> 63
        opt_bytes.extend(tlv(opt::DEFAULT_CHARSET, &[252, 255, 0, 1, 63]));
        opt_bytes.extend(tlv(
            opt::COLUMN_NAME,
            &lenenc_strs(&[b"id", b"name", b"e", b"s", b"price", b"n", b"g", b"bin"]),
        ));
        let mut sets = vec![3];
        sets.extend(lenenc_strs(&[b"x", b"y", b"z"]));
        opt_bytes.extend(tlv(opt::SET_STR_VALUE, &sets));
        let mut enums = vec![2];
        enums.extend(lenenc_strs(&[b"a", b"b"]));
        opt_bytes.extend(tlv(opt::ENUM_STR_VALUE, &enums));
        opt_bytes.extend(tlv(opt::GEOMETRY_TYPE, &[1]));
        opt_bytes.extend(tlv(opt::SIMPLE_PRIMARY_KEY, &[0]));
        opt_bytes.extend(tlv(opt::ENUM_AND_SET_COLUMN_CHARSET, &[8, 33]));
        opt_bytes.extend(tlv(opt::COLUMN_VISIBILITY, &[0b1111_1110]));
        opt_bytes.extend(tlv(200, &[1, 2, 3])); // unknown: skipped
        let body = build(&types, &meta, &[0xff], &opt_bytes);
        let tm = TableMap::parse(&body, 8).unwrap();
        assert!(tm.is_unsigned(0));
        assert!(!tm.is_unsigned(4));
        assert!(tm.is_unsigned(5));
        assert!(!tm.is_unsigned(1)); // not numeric
        assert_eq!(tm.charset(1), Some(255));
        assert_eq!(tm.charset(7), Some(63));
        assert_eq!(tm.charset(2), Some(8));
        assert_eq!(tm.charset(3), Some(33));
        assert_eq!(tm.charset(0), None);
        assert_eq!(tm.charset(6), None); // GEOMETRY is not a character column on MySQL
        assert_eq!(tm.column_name(4), Some(&b"price"[..]));
        assert_eq!(tm.column_names().count(), 8);
        assert_eq!(
            tm.enum_values(2).unwrap().collect::<Vec<_>>(),
            [&b"a"[..], b"b"]
        );
        assert!(tm.enum_values(3).is_none());
        assert_eq!(tm.set_values(3).unwrap().count(), 3);
        assert_eq!(tm.geometry_type(6), Some(1));
        assert_eq!(tm.geometry_type(5), None);
        assert_eq!(tm.vector_dimension(6), None);
        // The per-column accessors agree with the one-pass iterators.
        for i in 0..10 {
            let flag = tm.unsigned_flags().nth(i).unwrap_or(false);
            assert_eq!(tm.is_unsigned(i), flag, "column {i}");
        }
        assert_eq!(tm.primary_key().collect::<Vec<_>>(), [(0, 0)]);
        assert_eq!(tm.is_visible(0), Some(true));
        assert_eq!(tm.is_visible(7), Some(false));
        assert_eq!(tm.is_visible(8), None);

        // MariaDB counts GEOMETRY as a character column: it takes ordinal 1 (the exception).
        let mut tm = tm;
        tm.flavor = Flavor::MariaDb;
        assert_eq!(tm.charset(6), Some(63));
        assert_eq!(tm.charset(7), Some(255));
    }

    #[test]
    fn pk_with_prefix_and_vector() {
        let types = [15, 242];
        let meta = [10, 0, 4];
        let mut o = tlv(opt::PRIMARY_KEY_WITH_PREFIX, &[0, 5]);
        o.extend(tlv(opt::VECTOR_DIMENSIONALITY, &[3]));
        o.extend(tlv(opt::COLUMN_CHARSET, &[45]));
        let body = build(&types, &meta, &[0], &o);
        let tm = TableMap::parse(&body, 8).unwrap();
        assert_eq!(tm.primary_key().collect::<Vec<_>>(), [(0, 5)]);
        assert_eq!(tm.vector_dimension(1), Some(3));
        assert_eq!(tm.charset(0), Some(45));
    }

    #[test]
    fn rejects_bad_maps_and_never_panics() {
        let body = build(&[3, 15], &[10, 0], &[0], &[]);
        for n in 0..body.len() {
            assert!(TableMap::parse(&body[..n], 8).is_err());
        }
        assert!(TableMap::parse(&build(&[3, 15], &[10, 0, 7], &[0], &[]), 8).is_err());
        assert!(TableMap::parse(&build(&[3, 100], &[], &[0], &[]), 8).is_err());
        assert!(TableMap::parse(&build(&[3], &[], &[0], &[1, 5, 0]), 8).is_err());
    }
}
