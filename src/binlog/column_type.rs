//! Column type codes as they appear in TABLE_MAP events.
//!
//! Owns the mapping between the wire byte (`enum_field_types`) and [`ColumnType`], and the
//! per-column metadata that TABLE_MAP carries for each type. It does not decode values; that is
//! the row decoder's job.

/// The type byte of a column in a TABLE_MAP event (`enum_field_types` in the MySQL source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ColumnType {
    Decimal = 0,
    Tiny = 1,
    Short = 2,
    Long = 3,
    Float = 4,
    Double = 5,
    Null = 6,
    Timestamp = 7,
    LongLong = 8,
    Int24 = 9,
    Date = 10,
    Time = 11,
    DateTime = 12,
    Year = 13,
    NewDate = 14,
    VarChar = 15,
    Bit = 16,
    Timestamp2 = 17,
    DateTime2 = 18,
    Time2 = 19,
    TypedArray = 20,
    /// MariaDB `TEXT/BLOB COMPRESSED` (`MYSQL_TYPE_BLOB_COMPRESSED`).
    BlobCompressed = 140,
    /// MariaDB `VARCHAR(n) COMPRESSED` (`MYSQL_TYPE_VARCHAR_COMPRESSED`).
    VarCharCompressed = 141,
    Vector = 242,
    Invalid = 243,
    Bool = 244,
    Json = 245,
    NewDecimal = 246,
    Enum = 247,
    Set = 248,
    TinyBlob = 249,
    MediumBlob = 250,
    LongBlob = 251,
    Blob = 252,
    VarString = 253,
    String = 254,
    Geometry = 255,
}

impl ColumnType {
    /// Map the wire byte to a type; `None` for bytes no server writes.
    pub fn from_u8(b: u8) -> Option<ColumnType> {
        use ColumnType::*;
        Some(match b {
            0 => Decimal,
            1 => Tiny,
            2 => Short,
            3 => Long,
            4 => Float,
            5 => Double,
            6 => Null,
            7 => Timestamp,
            8 => LongLong,
            9 => Int24,
            10 => Date,
            11 => Time,
            12 => DateTime,
            13 => Year,
            14 => NewDate,
            15 => VarChar,
            16 => Bit,
            17 => Timestamp2,
            18 => DateTime2,
            19 => Time2,
            20 => TypedArray,
            140 => BlobCompressed,
            141 => VarCharCompressed,
            242 => Vector,
            243 => Invalid,
            244 => Bool,
            245 => Json,
            246 => NewDecimal,
            247 => Enum,
            248 => Set,
            249 => TinyBlob,
            250 => MediumBlob,
            251 => LongBlob,
            252 => Blob,
            253 => VarString,
            254 => String,
            255 => Geometry,
            _ => return None,
        })
    }

    /// The name `mysqlbinlog -vv` prints in its `/* TYPE meta=... */` comments, before any
    /// refinement by metadata (e.g. a `String` column may really be ENUM or SET).
    pub fn name(self) -> &'static str {
        use ColumnType::*;
        match self {
            Decimal => "DECIMAL",
            Tiny => "TINYINT",
            Short => "SHORTINT",
            Long => "INT",
            Float => "FLOAT",
            Double => "DOUBLE",
            Null => "NULL",
            Timestamp => "TIMESTAMP",
            LongLong => "LONGINT",
            Int24 => "MEDIUMINT",
            Date => "DATE",
            Time => "TIME",
            DateTime => "DATETIME",
            Year => "YEAR",
            NewDate => "NEWDATE",
            VarChar => "VARCHAR",
            Bit => "BIT",
            Timestamp2 => "TIMESTAMP",
            DateTime2 => "DATETIME",
            Time2 => "TIME",
            TypedArray => "TYPED_ARRAY",
            VarCharCompressed => "VARSTRING COMPRESSED",
            BlobCompressed => "BLOB COMPRESSED",
            Vector => "VECTOR",
            Invalid => "INVALID",
            Bool => "BOOL",
            Json => "JSON",
            NewDecimal => "DECIMAL",
            Enum => "ENUM",
            Set => "SET",
            TinyBlob => "TINYBLOB",
            MediumBlob => "MEDIUMBLOB",
            LongBlob => "LONGBLOB",
            Blob => "BLOB",
            VarString => "VARSTRING",
            String => "STRING",
            Geometry => "GEOMETRY",
        }
    }

    /// How many bytes of TABLE_MAP metadata this type carries per column.
    pub fn metadata_len(self) -> usize {
        use ColumnType::*;
        match self {
            Float | Double | Blob | TinyBlob | MediumBlob | LongBlob | Geometry | Json
            | Timestamp2 | DateTime2 | Time2 | Vector | BlobCompressed => 1,
            VarChar | VarString | VarCharCompressed | String | NewDecimal | Bit | Set | Enum
            | Decimal => 2,
            TypedArray => 0,
            _ => 0,
        }
    }
}
