//! Typed column values, borrowed from the event bytes.
//!
//! [`Value`] is what the row decoder produces for one column of one row image. It is `Copy`
//! and never owns heap memory: strings, blobs, JSON, DECIMAL digits and geometry stay slices of
//! the event buffer, so decoding a row allocates nothing. Interpreting those slices as text
//! (DECIMAL digits, binary JSON) is done on demand by the codecs in `decimal`, `json_binary`
//! and `json_diff`. [`OwnedValue`] is the same value detached from the event, for callers that
//! keep rows: its bytes copied, DECIMAL as its exact text.

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

/// A [`Value`] that owns its data, to keep past the event it was decoded from
/// ([`Value::to_owned_value`]). Byte values are copied as stored (JSON stays MySQL's binary
/// document, rendered on demand by `json_binary`); DECIMAL becomes its exact text, the form
/// callers compare and print.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Exact text: `-`, integer digits, and `scale` digits after a point (`-12.50`).
    Decimal(String),
    Year(u16),
    Date(Date),
    Time(Time),
    DateTime(DateTime),
    Timestamp(Timestamp),
    Bit {
        bits: u64,
        width: u16,
    },
    Enum(u16),
    Set(u64),
    Bytes(Vec<u8>),
    Compressed(Vec<u8>),
    Json(Vec<u8>),
    JsonDiff(Vec<u8>),
    Geometry(Vec<u8>),
    Vector(Vec<u8>),
}

impl Value<'_> {
    /// This value detached from the event bytes: one allocation for a byte or DECIMAL value,
    /// none for the others.
    pub fn to_owned_value(&self) -> OwnedValue {
        match *self {
            Value::Null => OwnedValue::Null,
            Value::Int(v) => OwnedValue::Int(v),
            Value::UInt(v) => OwnedValue::UInt(v),
            Value::Float(v) => OwnedValue::Float(v),
            Value::Double(v) => OwnedValue::Double(v),
            Value::Decimal(d) => {
                let mut s = String::with_capacity(d.precision as usize + 2);
                super::decimal::write_decimal(&d, &mut s);
                OwnedValue::Decimal(s)
            }
            Value::Year(v) => OwnedValue::Year(v),
            Value::Date(v) => OwnedValue::Date(v),
            Value::Time(v) => OwnedValue::Time(v),
            Value::DateTime(v) => OwnedValue::DateTime(v),
            Value::Timestamp(v) => OwnedValue::Timestamp(v),
            Value::Bit { bits, width } => OwnedValue::Bit { bits, width },
            Value::Enum(v) => OwnedValue::Enum(v),
            Value::Set(v) => OwnedValue::Set(v),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::Compressed(b) => OwnedValue::Compressed(b.to_vec()),
            Value::Json(b) => OwnedValue::Json(b.to_vec()),
            Value::JsonDiff(b) => OwnedValue::JsonDiff(b.to_vec()),
            Value::Geometry(b) => OwnedValue::Geometry(b.to_vec()),
            Value::Vector(b) => OwnedValue::Vector(b.to_vec()),
        }
    }
}

/// A row image detached from its event, kept in two allocations however many columns it has:
/// the values, and one buffer holding every byte value (strings, JSON documents, DECIMAL
/// digits, ...) copied. [`OwnedRow::get`] gives each back as the [`Value`] it was.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRow {
    values: Box<[Slot]>,
    data: Box<[u8]>,
}

/// A value of an [`OwnedRow`]: itself, or where its bytes are in the row's buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Plain(Value<'static>),
    Bytes(Value<'static>, u32, u32),
}

impl OwnedRow {
    /// Copy `image` (one row image, as the row decoder filled it).
    pub fn new(image: &[Value<'_>]) -> OwnedRow {
        let len = image.iter().map(|v| v.bytes().map_or(0, <[u8]>::len)).sum();
        let mut data = Vec::with_capacity(len);
        let values = image
            .iter()
            .map(|v| match v.bytes() {
                None => Slot::Plain(v.with_bytes(&[])),
                Some(b) => {
                    let at = data.len() as u32;
                    data.extend_from_slice(b);
                    Slot::Bytes(v.with_bytes(&[]), at, b.len() as u32)
                }
            })
            .collect();
        OwnedRow {
            values,
            data: data.into_boxed_slice(),
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The `i`th value, borrowing this row.
    pub fn get(&self, i: usize) -> Option<Value<'_>> {
        Some(match *self.values.get(i)? {
            Slot::Plain(v) => v,
            Slot::Bytes(v, at, len) => v.with_bytes(&self.data[at as usize..][..len as usize]),
        })
    }
}

impl<'a> Value<'a> {
    /// The bytes a value borrows, for the kinds that borrow.
    fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Decimal(d) => Some(d.bin),
            Value::Bytes(b)
            | Value::Compressed(b)
            | Value::Json(b)
            | Value::JsonDiff(b)
            | Value::Geometry(b)
            | Value::Vector(b) => Some(b),
            _ => None,
        }
    }

    /// The same value borrowing `b` instead (unchanged for kinds that borrow nothing).
    fn with_bytes<'b>(&self, b: &'b [u8]) -> Value<'b> {
        match *self {
            Value::Null => Value::Null,
            Value::Int(v) => Value::Int(v),
            Value::UInt(v) => Value::UInt(v),
            Value::Float(v) => Value::Float(v),
            Value::Double(v) => Value::Double(v),
            Value::Decimal(d) => Value::Decimal(Decimal {
                precision: d.precision,
                scale: d.scale,
                bin: b,
            }),
            Value::Year(v) => Value::Year(v),
            Value::Date(v) => Value::Date(v),
            Value::Time(v) => Value::Time(v),
            Value::DateTime(v) => Value::DateTime(v),
            Value::Timestamp(v) => Value::Timestamp(v),
            Value::Bit { bits, width } => Value::Bit { bits, width },
            Value::Enum(v) => Value::Enum(v),
            Value::Set(v) => Value::Set(v),
            Value::Bytes(_) => Value::Bytes(b),
            Value::Compressed(_) => Value::Compressed(b),
            Value::Json(_) => Value::Json(b),
            Value::JsonDiff(_) => Value::JsonDiff(b),
            Value::Geometry(_) => Value::Geometry(b),
            Value::Vector(_) => Value::Vector(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_values_keep_what_the_borrowed_ones_say() {
        // DECIMAL(5,2) -0.50: sign bit cleared, bytes inverted (MySQL's binary decimal).
        let bin = [0x7f, 0xff, 0xcd];
        let d = Value::Decimal(Decimal {
            precision: 5,
            scale: 2,
            bin: &bin,
        });
        assert_eq!(d.to_owned_value(), OwnedValue::Decimal("-0.50".into()));
        assert_eq!(
            Value::Bytes(b"abc").to_owned_value(),
            OwnedValue::Bytes(b"abc".to_vec())
        );
        assert_eq!(Value::Int(-3).to_owned_value(), OwnedValue::Int(-3));
        let image = [
            Value::Int(7),
            d,
            Value::Null,
            Value::Json(b"\x04\x01"),
            Value::Bytes(b""),
        ];
        let row = OwnedRow::new(&image);
        assert_eq!(row.len(), image.len());
        for (i, v) in image.iter().enumerate() {
            assert_eq!(row.get(i).as_ref(), Some(v));
        }
        assert_eq!(row.get(image.len()), None);
    }
}
