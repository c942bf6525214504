//! Typed column values, borrowed from the event bytes.
//!
//! [`Value`] is what the row decoder produces for one column of one row image. It is `Copy`
//! and never owns heap memory: strings, blobs, JSON, DECIMAL digits and geometry stay slices of
//! the event buffer, so decoding a row allocates nothing. Interpreting those slices as text
//! (DECIMAL digits, binary JSON) is done on demand by the codecs in `decimal`, `json_binary`
//! and `json_diff`.

/// An exact DECIMAL as MySQL stores it: `precision` digits, `scale` of them after the point,
/// packed in MySQL's binary decimal format. Render it with its `Display` impl (exact, no float).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal<'a> {
    pub precision: u8,
    pub scale: u8,
    pub bin: &'a [u8],
}

/// A DATE (or the date part of a DATETIME). Zero dates (`0000-00-00`) are representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// A TIME value: a signed duration up to 838:59:59.999999 (hours may exceed 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    pub negative: bool,
    pub hours: u32,
    pub minutes: u8,
    pub seconds: u8,
    pub micros: u32,
    /// Fractional second precision declared on the column (0-6); governs how many digits print.
    pub fsp: u8,
}

/// A DATETIME value, with its declared fractional precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub micros: u32,
    pub fsp: u8,
}

/// A TIMESTAMP: seconds since the Unix epoch in UTC, as the binlog stores it (time-zone free).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    pub seconds: u32,
    pub micros: u32,
    pub fsp: u8,
}

/// One column's value in one row image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    /// TINYINT..BIGINT declared signed (or of unknown signedness: the binlog default).
    Int(i64),
    /// TINYINT..BIGINT declared UNSIGNED (known from TABLE_MAP signedness metadata).
    UInt(u64),
    Float(f32),
    Double(f64),
    Decimal(Decimal<'a>),
    /// YEAR; 0 means `0000`, otherwise the full year (1901-2155).
    Year(u16),
    Date(Date),
    Time(Time),
    DateTime(DateTime),
    Timestamp(Timestamp),
    /// BIT(width): the bits as an integer, `width` in bits (1-64).
    Bit {
        bits: u64,
        width: u16,
    },
    /// ENUM: the 1-based index into the column's values (0 = the empty error value).
    Enum(u16),
    /// SET: bitmask over the column's values.
    Set(u64),
    /// CHAR/VARCHAR/BINARY/VARBINARY/TEXT/BLOB bytes as stored. Whether they are text (and in
    /// which charset) or binary is a property of the column, known from TABLE_MAP metadata.
    Bytes(&'a [u8]),
    /// A MariaDB compressed column's stored bytes (header, then zlib data or the bytes
    /// themselves); `column_compression::decompress_column` gives the value.
    Compressed(&'a [u8]),
    /// JSON in MySQL's binary format (full image). Empty means JSON null was not stored: the
    /// server writes a zero-length value for an empty JSON document.
    Json(&'a [u8]),
    /// A partial JSON update (PARTIAL_UPDATE_ROWS after image): the encoded list of diffs.
    JsonDiff(&'a [u8]),
    /// GEOMETRY: 4-byte SRID followed by WKB.
    Geometry(&'a [u8]),
    /// VECTOR: packed little-endian f32 values.
    Vector(&'a [u8]),
}

impl Value<'_> {
    #[inline]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}
