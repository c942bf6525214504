//! The seeded generator of the differential tester: server options, a random schema and a
//! random workload, all a pure function of `(flavor, seed)`: the same seed gives the same
//! SQL script on every machine (a SplitMix64 of our own, no library whose stream may change).

use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MySql,
    MariaDb,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MySql => "mysql",
            Flavor::MariaDb => "mariadb",
        }
    }

    pub fn parse(s: &str) -> Option<Flavor> {
        match s {
            "mysql" => Some(Flavor::MySql),
            "mariadb" => Some(Flavor::MariaDb),
            _ => None,
        }
    }
}

/// SplitMix64: small, fast, and its stream is fixed forever.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (self.next_u64() as u128 % span) as i128) as i64
    }

    pub fn usize(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as i64, hi as i64) as usize
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------------
// Server options.

/// The binlog settings of one run.
#[derive(Debug, Clone)]
pub struct Options {
    pub row_image: &'static str,
    pub row_metadata: &'static str,
    pub checksum: &'static str,
    pub time_zone: &'static str,
    /// MySQL: binlog_transaction_compression.
    pub trx_compression: bool,
    /// MySQL: binlog_row_value_options=PARTIAL_JSON.
    pub partial_json: bool,
    /// MySQL: binlog_rows_query_log_events.
    pub rows_query: bool,
    /// MariaDB: binlog_annotate_row_events.
    pub annotate: bool,
    /// MariaDB: log_bin_compress (compressed query and rows events).
    pub event_compression: bool,
    /// MariaDB: COMPRESSED columns in the schema.
    pub compressed_columns: bool,
    /// MariaDB: mysql56_temporal_format=OFF (old TIME/DATETIME/TIMESTAMP formats).
    pub old_temporal: bool,
}

impl Options {
    pub fn generate(flavor: Flavor, rng: &mut Rng) -> Options {
        let row_image = *rng.pick(&["FULL", "FULL", "MINIMAL", "NOBLOB"]);
        let row_metadata = match flavor {
            Flavor::MySql => *rng.pick(&["MINIMAL", "FULL", "FULL"]),
            Flavor::MariaDb => *rng.pick(&["NO_LOG", "MINIMAL", "FULL", "FULL"]),
        };
        let checksum = *rng.pick(&["CRC32", "CRC32", "NONE"]);
        let time_zone = *rng.pick(&["+00:00", "SYSTEM", "+05:30", "-08:00"]);
        let my = flavor == Flavor::MySql;
        let ma = flavor == Flavor::MariaDb;
        Options {
            row_image,
            row_metadata,
            checksum,
            time_zone,
            trx_compression: my && rng.chance(35),
            partial_json: my && rng.chance(50),
            rows_query: my && rng.chance(25),
            annotate: ma && rng.chance(60),
            event_compression: ma && rng.chance(30),
            compressed_columns: ma && rng.chance(40),
            old_temporal: ma && rng.chance(20),
        }
    }

    /// Global settings, run on their own connection before the workload.
    pub fn globals_sql(&self, flavor: Flavor) -> String {
        let mut s = format!(
            "SET GLOBAL binlog_row_metadata = {}; SET GLOBAL binlog_checksum = {};",
            self.row_metadata, self.checksum
        );
        if flavor == Flavor::MariaDb {
            write!(
                s,
                " SET GLOBAL log_bin_compress = {}; SET GLOBAL log_bin_compress_min_len = 10; \
                 SET GLOBAL mysql56_temporal_format = {};",
                on(self.event_compression),
                on(!self.old_temporal)
            )
            .unwrap();
        }
        s
    }

    /// Session settings at the top of the workload script.
    pub fn session_sql(&self, flavor: Flavor) -> String {
        let mut s = format!(
            "SET SESSION binlog_row_image = {};\nSET SESSION time_zone = '{}';\n",
            self.row_image, self.time_zone
        );
        match flavor {
            Flavor::MySql => {
                writeln!(
                    s,
                    "SET SESSION binlog_transaction_compression = {};\n\
                     SET SESSION binlog_row_value_options = '{}';\n\
                     SET SESSION binlog_rows_query_log_events = {};",
                    on(self.trx_compression),
                    if self.partial_json {
                        "PARTIAL_JSON"
                    } else {
                        ""
                    },
                    on(self.rows_query)
                )
                .unwrap();
            }
            Flavor::MariaDb => {
                writeln!(
                    s,
                    "SET SESSION binlog_annotate_row_events = {};",
                    on(self.annotate)
                )
                .unwrap();
            }
        }
        s
    }

    pub fn describe(&self, flavor: Flavor) -> String {
        let mut s = format!(
            "row_image={} row_metadata={} checksum={} tz={}",
            self.row_image, self.row_metadata, self.checksum, self.time_zone
        );
        match flavor {
            Flavor::MySql => write!(
                s,
                " trx_compression={} partial_json={} rows_query={}",
                self.trx_compression, self.partial_json, self.rows_query
            ),
            Flavor::MariaDb => write!(
                s,
                " annotate={} log_bin_compress={} compressed_columns={} old_temporal={}",
                self.annotate, self.event_compression, self.compressed_columns, self.old_temporal
            ),
        }
        .unwrap();
        s
    }
}

fn on(b: bool) -> &'static str {
    if b { "ON" } else { "OFF" }
}

// ---------------------------------------------------------------------------------------------
// Column types.

pub struct Charset {
    pub name: &'static str,
    /// Characters every value of this charset is made of.
    pool: &'static [&'static str],
    mysql: &'static [&'static str],
    mariadb: &'static [&'static str],
    max_bytes: usize,
}

const ASCII_POOL: &[&str] = &[
    "a", "b", "c", "A", "B", "Z", "0", "9", " ", "_", "-", "'", "\\", "\"", "%", "\t", "\n", "\0",
    "\u{1f}", "x", "y",
];
const LATIN1_POOL: &[&str] = &[
    "a", "b", "A", "Z", "0", " ", "'", "\\", "\t", "\0", "é", "É", "ü", "ß", "ñ", "¿", "Æ", "ø",
    "å", "x",
];
const BMP_POOL: &[&str] = &[
    "a", "b", "A", "Z", "0", " ", "'", "\\", "\n", "\0", "é", "ß", "€", "Ж", "ш", "あ", "漢", "ü",
    "\u{1f}", "x",
];
const FULL_POOL: &[&str] = &[
    "a", "b", "A", "Z", "0", " ", "'", "\\", "\n", "\0", "é", "ß", "€", "Ж", "あ", "漢", "😀",
    "🐬", "\u{1f}", "x",
];
const CYR_POOL: &[&str] = &["a", "b", "A", "0", " ", "'", "Ж", "ш", "Ю", "я", "д", "x"];

pub const CHARSETS: &[Charset] = &[
    Charset {
        name: "utf8mb4",
        pool: FULL_POOL,
        mysql: &[
            "utf8mb4_0900_ai_ci",
            "utf8mb4_0900_as_cs",
            "utf8mb4_0900_bin",
            "utf8mb4_bin",
            "utf8mb4_general_ci",
            "utf8mb4_unicode_ci",
        ],
        mariadb: &[
            "utf8mb4_general_ci",
            "utf8mb4_bin",
            "utf8mb4_unicode_ci",
            "utf8mb4_unicode_520_ci",
            "utf8mb4_uca1400_ai_ci",
            "utf8mb4_nopad_bin",
        ],
        max_bytes: 4,
    },
    Charset {
        name: "latin1",
        pool: LATIN1_POOL,
        mysql: &["latin1_swedish_ci", "latin1_bin", "latin1_german2_ci"],
        mariadb: &["latin1_swedish_ci", "latin1_bin", "latin1_german2_ci"],
        max_bytes: 1,
    },
    Charset {
        name: "ascii",
        pool: ASCII_POOL,
        mysql: &["ascii_general_ci", "ascii_bin"],
        mariadb: &["ascii_general_ci", "ascii_bin"],
        max_bytes: 1,
    },
    Charset {
        name: "utf8mb3",
        pool: BMP_POOL,
        mysql: &["utf8mb3_general_ci", "utf8mb3_bin", "utf8mb3_unicode_ci"],
        mariadb: &["utf8mb3_general_ci", "utf8mb3_bin", "utf8mb3_unicode_ci"],
        max_bytes: 3,
    },
    Charset {
        name: "utf16",
        pool: FULL_POOL,
        mysql: &["utf16_general_ci", "utf16_bin"],
        mariadb: &["utf16_general_ci", "utf16_bin"],
        max_bytes: 4,
    },
    Charset {
        name: "ucs2",
        pool: BMP_POOL,
        mysql: &["ucs2_general_ci", "ucs2_bin"],
        mariadb: &["ucs2_general_ci", "ucs2_bin"],
        max_bytes: 2,
    },
    Charset {
        name: "utf32",
        pool: FULL_POOL,
        mysql: &["utf32_general_ci", "utf32_bin"],
        mariadb: &["utf32_general_ci", "utf32_bin"],
        max_bytes: 4,
    },
    Charset {
        name: "cp1251",
        pool: CYR_POOL,
        mysql: &["cp1251_general_ci", "cp1251_bin"],
        mariadb: &["cp1251_general_ci", "cp1251_bin"],
        max_bytes: 1,
    },
];

#[derive(Debug, Clone)]
pub enum StrKind {
    Char(u16),
    VarChar(u16),
    /// 0 TINYTEXT, 1 TEXT, 2 MEDIUMTEXT, 3 LONGTEXT
    Text(u8),
}

#[derive(Debug, Clone)]
pub enum BinKind {
    Binary(u16),
    VarBinary(u16),
    /// 0 TINYBLOB .. 3 LONGBLOB
    Blob(u8),
}

#[derive(Debug, Clone)]
pub enum Ty {
    Int {
        bytes: u8,
        unsigned: bool,
    },
    Decimal {
        p: u8,
        s: u8,
    },
    Float,
    Double,
    Date,
    Time(u8),
    DateTime(u8),
    Timestamp(u8),
    Year,
    Str {
        kind: StrKind,
        cs: usize,
        coll: &'static str,
        compressed: bool,
    },
    Bin {
        kind: BinKind,
        compressed: bool,
    },
    Enum(Vec<&'static str>),
    Set(Vec<&'static str>),
    Bit(u8),
    Json,
}

impl Ty {
    pub fn sql(&self, flavor: Flavor) -> String {
        match self {
            Ty::Int { bytes, unsigned } => {
                let n = match bytes {
                    1 => "TINYINT",
                    2 => "SMALLINT",
                    3 => "MEDIUMINT",
                    4 => "INT",
                    _ => "BIGINT",
                };
                format!("{n}{}", if *unsigned { " UNSIGNED" } else { "" })
            }
            Ty::Decimal { p, s } => format!("DECIMAL({p},{s})"),
            Ty::Float => "FLOAT".into(),
            Ty::Double => "DOUBLE".into(),
            Ty::Date => "DATE".into(),
            Ty::Time(n) => format!("TIME({n})"),
            Ty::DateTime(n) => format!("DATETIME({n})"),
            Ty::Timestamp(n) => format!("TIMESTAMP({n}) NULL"),
            Ty::Year => "YEAR".into(),
            Ty::Str {
                kind,
                cs,
                coll,
                compressed,
            } => {
                let k = match kind {
                    StrKind::Char(n) => format!("CHAR({n})"),
                    StrKind::VarChar(n) => format!("VARCHAR({n})"),
                    StrKind::Text(l) => {
                        ["TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT"][*l as usize].to_string()
                    }
                };
                let c = if *compressed { " COMPRESSED" } else { "" };
                format!("{k}{c} CHARACTER SET {} COLLATE {coll}", CHARSETS[*cs].name)
            }
            Ty::Bin { kind, compressed } => {
                let k = match kind {
                    BinKind::Binary(n) => format!("BINARY({n})"),
                    BinKind::VarBinary(n) => format!("VARBINARY({n})"),
                    BinKind::Blob(l) => {
                        ["TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB"][*l as usize].to_string()
                    }
                };
                format!("{k}{}", if *compressed { " COMPRESSED" } else { "" })
            }
            Ty::Enum(ls) => format!("ENUM({})", quoted_list(ls)),
            Ty::Set(ls) => format!("SET({})", quoted_list(ls)),
            Ty::Bit(n) => format!("BIT({n})"),
            Ty::Json => match flavor {
                Flavor::MySql => "JSON".into(),
                Flavor::MariaDb => "JSON".into(),
            },
        }
    }

    /// May be (part of) a primary or unique key without a prefix length.
    fn keyable(&self) -> bool {
        match self {
            Ty::Int { .. }
            | Ty::Decimal { .. }
            | Ty::Date
            | Ty::Time(_)
            | Ty::DateTime(_)
            | Ty::Year
            | Ty::Enum(_)
            | Ty::Bit(_) => true,
            Ty::Str {
                kind: StrKind::Char(n) | StrKind::VarChar(n),
                compressed: false,
                ..
            } => *n <= 64,
            Ty::Bin {
                kind: BinKind::Binary(n) | BinKind::VarBinary(n),
                compressed: false,
            } => *n <= 64,
            _ => false,
        }
    }

    fn is_blobish(&self) -> bool {
        matches!(
            self,
            Ty::Json
                | Ty::Str {
                    kind: StrKind::Text(_),
                    ..
                }
                | Ty::Bin {
                    kind: BinKind::Blob(_),
                    ..
                }
        )
    }
}

fn quoted_list(ls: &[&str]) -> String {
    ls.iter()
        .map(|l| format!("'{l}'"))
        .collect::<Vec<_>>()
        .join(",")
}

fn random_type(flavor: Flavor, opts: &Options, rng: &mut Rng) -> Ty {
    let compressible = flavor == Flavor::MariaDb && opts.compressed_columns;
    match rng.below(20) {
        0..=2 => Ty::Int {
            bytes: *rng.pick(&[1, 2, 3, 4, 8]),
            unsigned: rng.chance(40),
        },
        3 => {
            let p = *rng.pick(&[1u8, 4, 6, 9, 10, 18, 19, 20, 30, 38, 50, 64]);
            let s = rng.range(0, p.min(30) as i64) as u8;
            Ty::Decimal { p, s }
        }
        4 => {
            if rng.chance(50) {
                Ty::Float
            } else {
                Ty::Double
            }
        }
        5 => match rng.below(5) {
            0 => Ty::Date,
            1 => Ty::Time(rng.range(0, 6) as u8),
            2 => Ty::DateTime(rng.range(0, 6) as u8),
            3 => Ty::Timestamp(rng.range(0, 6) as u8),
            _ => Ty::Year,
        },
        6..=10 => {
            let cs = rng.below(CHARSETS.len() as u64) as usize;
            let c = &CHARSETS[cs];
            let coll = match flavor {
                Flavor::MySql => *rng.pick(c.mysql),
                Flavor::MariaDb => *rng.pick(c.mariadb),
            };
            let kind = match rng.below(6) {
                0 | 1 => StrKind::Char(*rng.pick(&[1u16, 4, 10, 32, 64, 255])),
                2 | 3 => StrKind::VarChar(*rng.pick(&[1u16, 8, 32, 64, 255, 300])),
                _ => StrKind::Text(rng.range(0, 3) as u8),
            };
            let compressed = compressible
                && matches!(kind, StrKind::VarChar(_) | StrKind::Text(_))
                && rng.chance(50);
            Ty::Str {
                kind,
                cs,
                coll,
                compressed,
            }
        }
        11..=13 => {
            let kind = match rng.below(4) {
                0 => BinKind::Binary(*rng.pick(&[1u16, 4, 16, 32])),
                1 => BinKind::VarBinary(*rng.pick(&[1u16, 16, 64, 255, 300])),
                _ => BinKind::Blob(rng.range(0, 3) as u8),
            };
            let compressed = compressible
                && matches!(kind, BinKind::VarBinary(_) | BinKind::Blob(_))
                && rng.chance(50);
            Ty::Bin { kind, compressed }
        }
        14 => Ty::Enum(labels(rng)),
        15 => Ty::Set(labels(rng)),
        16 => Ty::Bit(rng.range(1, 64) as u8),
        _ => Ty::Json,
    }
}

fn labels(rng: &mut Rng) -> Vec<&'static str> {
    const L: &[&str] = &[
        "a",
        "b",
        "c d",
        "Z",
        "x-y",
        "long label",
        "e",
        "f",
        "0",
        "q",
    ];
    let n = rng.usize(1, 8);
    let mut v: Vec<&'static str> = Vec::new();
    while v.len() < n {
        let l = *rng.pick(L);
        if !v.contains(&l) {
            v.push(l);
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Values: SQL expressions that the server turns into a value of the column's type.

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        write!(s, "{x:02X}").unwrap();
    }
    s
}

fn text_literal(s: &str) -> String {
    if s.is_empty() {
        "''".into()
    } else {
        format!("_utf8mb4 X'{}'", hex(s.as_bytes()))
    }
}

fn random_text(rng: &mut Rng, pool: &[&str], max_chars: usize) -> String {
    let n = match rng.below(10) {
        0 => 0,
        1..=6 => rng.usize(1, max_chars.min(12)),
        _ => rng.usize(1, max_chars),
    };
    let mut s = String::new();
    for _ in 0..n {
        let ch: &&str = rng.pick(pool);
        s.push_str(ch);
    }
    if n > 0 && rng.chance(10) {
        s.pop();
        s.push(' ');
    }
    s
}

fn int_value(rng: &mut Rng, bytes: u8, unsigned: bool) -> String {
    let bits = bytes as u32 * 8;
    if unsigned {
        let max: u64 = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let v = match rng.below(6) {
            0 => max,
            1 => 0,
            2 => max / 2 + 1,
            3 => rng.below(100),
            _ => rng.next_u64() & max,
        };
        v.to_string()
    } else {
        let max: i64 = if bits == 64 {
            i64::MAX
        } else {
            (1i64 << (bits - 1)) - 1
        };
        let min = -max - 1;
        let v = match rng.below(7) {
            0 => max,
            1 => min,
            2 => -1,
            3 => rng.range(-100, 100),
            _ => rng.range(min, max),
        };
        v.to_string()
    }
}

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect()
}

fn decimal_value(rng: &mut Rng, p: u8, s: u8) -> String {
    let ip = (p - s) as usize;
    let ilen = match rng.below(4) {
        0 => ip,
        _ => rng.usize(0, ip),
    };
    let mut int = digits(rng, ilen);
    if int.is_empty() {
        int = "0".into();
    }
    let sign = if rng.chance(30) { "-" } else { "" };
    if s == 0 {
        format!("{sign}{int}")
    } else {
        let flen = if rng.chance(30) {
            s as usize
        } else {
            rng.usize(1, s as usize)
        };
        format!("{sign}{int}.{}", digits(rng, flen))
    }
}

fn frac(rng: &mut Rng, n: u8) -> String {
    if n == 0 || rng.chance(20) {
        String::new()
    } else {
        format!(".{}", digits(rng, n as usize))
    }
}

fn date_parts(rng: &mut Rng, lo: i64, hi: i64) -> (i64, i64, i64) {
    let y = rng.range(lo, hi);
    let m = rng.range(1, 12);
    let d = rng.range(1, 28);
    (y, m, d)
}

pub fn float_literal(rng: &mut Rng, single: bool) -> String {
    let special = [
        "0",
        "-0e0",
        "1.5",
        "-2.25",
        "3.4028234e38",
        "1.17549435e-38",
        "0.1",
        "123456789",
        "1e-7",
        "-1e10",
    ];
    if rng.chance(40) {
        return rng.pick(&special).to_string();
    }
    let mant = rng.range(-999_999_999, 999_999_999);
    let exp = if single {
        rng.range(-30, 30)
    } else {
        rng.range(-300, 300)
    };
    format!("{mant}e{exp}")
}

impl Ty {
    /// A random SQL expression of a value of this type.
    pub fn value(&self, flavor: Flavor, rng: &mut Rng) -> String {
        match self {
            Ty::Int { bytes, unsigned } => int_value(rng, *bytes, *unsigned),
            Ty::Decimal { p, s } => decimal_value(rng, *p, *s),
            Ty::Float => float_literal(rng, true),
            Ty::Double => float_literal(rng, false),
            Ty::Date => {
                let (y, m, d) = date_parts(rng, 1000, 9999);
                format!("'{y:04}-{m:02}-{d:02}'")
            }
            Ty::Time(n) => {
                let h = if rng.chance(20) {
                    rng.range(-838, 838)
                } else {
                    rng.range(0, 23)
                };
                let f = if h.abs() == 838 {
                    String::new()
                } else {
                    frac(rng, *n)
                };
                format!("'{h}:{:02}:{:02}{f}'", rng.range(0, 59), rng.range(0, 59))
            }
            Ty::DateTime(n) => {
                let (y, m, d) = date_parts(rng, 1000, 9999);
                format!(
                    "'{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{}'",
                    rng.range(0, 23),
                    rng.range(0, 59),
                    rng.range(0, 59),
                    frac(rng, *n)
                )
            }
            Ty::Timestamp(n) => {
                // Inside the range in every session time zone.
                let (y, m, d) = date_parts(rng, 1971, 2037);
                format!(
                    "'{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{}'",
                    rng.range(0, 23),
                    rng.range(0, 59),
                    rng.range(0, 59),
                    frac(rng, *n)
                )
            }
            Ty::Year => {
                if rng.chance(10) {
                    "0".into()
                } else {
                    rng.range(1901, 2155).to_string()
                }
            }
            Ty::Str { kind, cs, .. } => {
                let c = &CHARSETS[*cs];
                let max = match kind {
                    StrKind::Char(n) | StrKind::VarChar(n) => *n as usize,
                    StrKind::Text(0) => 255 / c.max_bytes,
                    StrKind::Text(_) => {
                        if rng.chance(5) {
                            5000
                        } else {
                            300
                        }
                    }
                };
                text_literal(&random_text(rng, c.pool, max))
            }
            Ty::Bin { kind, .. } => {
                let max = match kind {
                    BinKind::Binary(n) | BinKind::VarBinary(n) => *n as usize,
                    BinKind::Blob(0) => 255,
                    BinKind::Blob(_) => {
                        if rng.chance(5) {
                            70_000
                        } else {
                            300
                        }
                    }
                };
                let n = match rng.below(8) {
                    0 => 0,
                    1..=5 => rng.usize(1, max.min(16)),
                    _ => rng.usize(1, max),
                };
                // Repetitive bytes sometimes, so compression has something to do.
                let b: Vec<u8> = if rng.chance(30) {
                    let x = rng.below(256) as u8;
                    vec![x; n]
                } else {
                    (0..n).map(|_| rng.below(256) as u8).collect()
                };
                if b.is_empty() {
                    "''".into()
                } else {
                    format!("X'{}'", hex(&b))
                }
            }
            Ty::Enum(ls) => format!("'{}'", rng.pick(ls)),
            Ty::Set(ls) => {
                let mut chosen = Vec::new();
                for l in ls {
                    if rng.chance(40) {
                        chosen.push(*l);
                    }
                }
                format!("'{}'", chosen.join(","))
            }
            Ty::Bit(n) => {
                let mask = if *n == 64 { u64::MAX } else { (1u64 << n) - 1 };
                let v = match rng.below(4) {
                    0 => mask,
                    1 => 0,
                    _ => rng.next_u64() & mask,
                };
                if rng.chance(50) {
                    format!("b'{v:b}'")
                } else {
                    v.to_string()
                }
            }
            Ty::Json => json_doc(flavor, rng),
        }
    }
}

/// A JSON document expression.
pub fn json_doc(flavor: Flavor, rng: &mut Rng) -> String {
    if rng.chance(15) {
        let text = *rng.pick(&[
            r#"{"k0": 1, "k1": [1, 2.5, "x"], "k2": {"k0": null}}"#,
            r#"[]"#,
            r#"{}"#,
            r#"{"k0": "a\u001fb", "k1": -0.0, "k2": 1e300}"#,
            r#"[true, false, null, 18446744073709551615, -9223372036854775808]"#,
            r#""just a string""#,
            r#"{"k0": {"k1": {"k2": [1, {"k0": "deep"}]}}}"#,
        ]);
        return match flavor {
            Flavor::MySql => format!("CAST({} AS JSON)", text_literal(text)),
            Flavor::MariaDb => text_literal(text),
        };
    }
    json_value(flavor, rng, 0, true)
}

fn json_value(flavor: Flavor, rng: &mut Rng, depth: u32, container: bool) -> String {
    let k = if container || (depth < 3 && rng.chance(30)) {
        rng.below(2)
    } else {
        2 + rng.below(7)
    };
    match k {
        0 => {
            let n = rng.usize(0, 4);
            let mut parts = Vec::new();
            for i in 0..n {
                let key = if rng.chance(85) {
                    format!("'k{}'", (i as u64 + rng.below(3)) % 5)
                } else {
                    text_literal(&random_text(rng, FULL_POOL, 6))
                };
                parts.push(format!(
                    "{key}, {}",
                    json_value(flavor, rng, depth + 1, false)
                ));
            }
            format!("JSON_OBJECT({})", parts.join(", "))
        }
        1 => {
            let n = rng.usize(0, 4);
            let parts: Vec<String> = (0..n)
                .map(|_| json_value(flavor, rng, depth + 1, false))
                .collect();
            format!("JSON_ARRAY({})", parts.join(", "))
        }
        2 | 3 => text_literal(&random_text(rng, FULL_POOL, 20)),
        4 => match rng.below(4) {
            0 => rng.range(i64::MIN, i64::MAX).to_string(),
            1 => "18446744073709551615".into(),
            _ => rng.range(-1000, 1000).to_string(),
        },
        5 => float_literal(rng, false),
        6 => match (flavor, rng.below(3)) {
            (Flavor::MySql, 0) => "CAST('true' AS JSON)".into(),
            (Flavor::MySql, 1) => "CAST('false' AS JSON)".into(),
            (Flavor::MariaDb, 0) => "JSON_EXTRACT('[true]', '$[0]')".into(),
            (Flavor::MariaDb, 1) => "JSON_EXTRACT('[false]', '$[0]')".into(),
            _ => "NULL".into(),
        },
        _ => {
            // Opaque scalars (typed on MySQL): DECIMAL with its scale, temporal types, binary.
            match rng.below(6) {
                0 | 1 => {
                    let p = rng.range(2, 20) as u8;
                    let s = rng.range(0, (p - 1).min(8) as i64) as u8;
                    format!(
                        "CAST({} AS DECIMAL({p},{s}))",
                        decimal_value(rng, p - 1, s.min(p - 2))
                    )
                }
                2 => format!("CAST({} AS DATE)", Ty::Date.value(flavor, rng)),
                3 => format!("CAST({} AS TIME(3))", Ty::Time(3).value(flavor, rng)),
                4 => format!(
                    "CAST({} AS DATETIME(6))",
                    Ty::DateTime(6).value(flavor, rng)
                ),
                _ => {
                    if flavor == Flavor::MySql {
                        format!("CAST(X'{}' AS BINARY)", hex(&[0, 0xff, 0x1f, 0x80]))
                    } else {
                        "'bin'".into()
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema.

#[derive(Debug, Clone)]
pub struct Col {
    pub name: String,
    pub ty: Ty,
    pub nullable: bool,
    pub invisible: bool,
    /// (expression, STORED)
    pub generated: Option<(String, bool)>,
    /// Values drawn for keys and lookups (collisions on purpose).
    pub pool: Vec<String>,
}

impl Col {
    fn ddl(&self, flavor: Flavor) -> String {
        let mut s = format!("`{}` {}", self.name, self.ty.sql(flavor));
        if let Some((e, stored)) = &self.generated {
            write!(
                s,
                " AS ({e}) {}",
                if *stored { "STORED" } else { "VIRTUAL" }
            )
            .unwrap();
        } else if matches!(self.ty, Ty::Timestamp(_)) {
            // `TIMESTAMP(n) NULL` is in the type.
        } else if !self.nullable {
            s.push_str(" NOT NULL");
        } else {
            s.push_str(" NULL");
        }
        if self.invisible {
            s.push_str(" INVISIBLE");
        }
        s
    }

    pub fn writable(&self) -> bool {
        self.generated.is_none()
    }

    fn value(&self, flavor: Flavor, rng: &mut Rng) -> String {
        if self.nullable && rng.chance(8) {
            return "NULL".into();
        }
        if !self.pool.is_empty() && rng.chance(85) {
            return rng.pick(&self.pool).clone();
        }
        self.ty.value(flavor, rng)
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub cols: Vec<Col>,
    /// Names of the primary key columns.
    pub pk: Vec<String>,
    pub unique: Vec<String>,
}

impl Table {
    fn col(&self, name: &str) -> &Col {
        self.cols.iter().find(|c| c.name == name).expect("column")
    }

    fn ddl(&self, flavor: Flavor) -> String {
        let mut parts: Vec<String> = self.cols.iter().map(|c| c.ddl(flavor)).collect();
        if !self.pk.is_empty() {
            parts.push(format!("PRIMARY KEY ({})", backticks(&self.pk)));
        }
        if !self.unique.is_empty() {
            parts.push(format!("UNIQUE KEY uk ({})", backticks(&self.unique)));
        }
        format!(
            "CREATE TABLE `{}` (\n  {}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            self.name,
            parts.join(",\n  ")
        )
    }

    /// Columns a lookup predicate uses: the key, else pooled columns, else any plain one.
    fn lookup_cols(&self) -> Vec<&Col> {
        if !self.pk.is_empty() {
            return self.pk.iter().map(|n| self.col(n)).collect();
        }
        let pooled: Vec<&Col> = self
            .cols
            .iter()
            .filter(|c| !c.pool.is_empty() && c.writable())
            .collect();
        if !pooled.is_empty() {
            return pooled;
        }
        self.cols
            .iter()
            .filter(|c| c.ty.keyable() && c.writable())
            .take(1)
            .collect()
    }
}

fn backticks(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn make_pool(flavor: Flavor, ty: &Ty, rng: &mut Rng) -> Vec<String> {
    let n = rng.usize(4, 14);
    let mut v: Vec<String> = Vec::new();
    for _ in 0..n * 3 {
        if v.len() >= n {
            break;
        }
        let x = ty.value(flavor, rng);
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

fn generated_for(base: &Col, flavor: Flavor, rng: &mut Rng) -> Option<(String, Ty)> {
    let c = format!("`{}`", base.name);
    match &base.ty {
        Ty::Int { .. } => Some((
            format!("({c} DIV 3)"),
            Ty::Int {
                bytes: 8,
                unsigned: false,
            },
        )),
        Ty::Decimal { p, s } if *p < 64 => {
            Some((format!("({c} * 2)"), Ty::Decimal { p: p + 1, s: *s }))
        }
        Ty::Str {
            cs,
            coll,
            compressed: false,
            ..
        } => {
            if rng.chance(50) {
                Some((
                    format!("LEFT({c}, 3)"),
                    Ty::Str {
                        kind: StrKind::VarChar(12),
                        cs: *cs,
                        coll,
                        compressed: false,
                    },
                ))
            } else {
                Some((
                    format!("CHAR_LENGTH({c})"),
                    Ty::Int {
                        bytes: 4,
                        unsigned: false,
                    },
                ))
            }
        }
        Ty::Date | Ty::DateTime(_) => Some((
            format!("YEAR({c})"),
            Ty::Int {
                bytes: 4,
                unsigned: false,
            },
        )),
        Ty::Json => {
            if flavor == Flavor::MySql && rng.chance(50) {
                Some((format!("JSON_EXTRACT({c}, '$.k0')"), Ty::Json))
            } else {
                Some((
                    format!("JSON_LENGTH({c})"),
                    Ty::Int {
                        bytes: 4,
                        unsigned: false,
                    },
                ))
            }
        }
        Ty::Bin {
            compressed: false, ..
        } => Some((
            format!("LENGTH({c})"),
            Ty::Int {
                bytes: 4,
                unsigned: false,
            },
        )),
        _ => None,
    }
}

fn random_table(name: String, flavor: Flavor, opts: &Options, rng: &mut Rng) -> Table {
    let ncols = rng.usize(2, 10);
    let mut cols: Vec<Col> = Vec::new();
    for i in 0..ncols {
        let ty = random_type(flavor, opts, rng);
        cols.push(Col {
            name: format!("c{i}"),
            ty,
            nullable: rng.chance(60),
            invisible: false,
            generated: None,
            pool: Vec::new(),
        });
    }
    // The primary key: none, one column, or several.
    let keyable: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].ty.keyable()).collect();
    let mut pk = Vec::new();
    let shape = rng.below(10);
    if shape >= 2 || keyable.is_empty() {
        // Make sure there is a good key column: an integer id, sometimes.
        if keyable.is_empty() || rng.chance(40) {
            cols.insert(
                0,
                Col {
                    name: "id".into(),
                    ty: Ty::Int {
                        bytes: *rng.pick(&[1, 2, 4, 8]),
                        unsigned: rng.chance(50),
                    },
                    nullable: false,
                    invisible: false,
                    generated: None,
                    pool: Vec::new(),
                },
            );
        }
    }
    let keyable: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].ty.keyable()).collect();
    if shape >= 2 && !keyable.is_empty() {
        let n = if shape >= 7 {
            rng.usize(2, 3).min(keyable.len())
        } else {
            1
        };
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < n {
            let i = *rng.pick(&keyable);
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        for &i in &chosen {
            cols[i].nullable = false;
            pk.push(cols[i].name.clone());
        }
    }
    // Pools: every key column, and some others for lookups.
    for c in cols.iter_mut() {
        let in_pk = pk.contains(&c.name);
        if in_pk || (c.ty.keyable() && rng.chance(40)) {
            c.pool = make_pool(flavor, &c.ty, rng);
        }
    }
    // A unique key sometimes, so INSERT IGNORE/REPLACE/upserts hit a second key.
    let mut unique = Vec::new();
    let cand: Vec<String> = cols
        .iter()
        .filter(|c| c.ty.keyable() && !pk.contains(&c.name) && !c.pool.is_empty())
        .map(|c| c.name.clone())
        .collect();
    if !cand.is_empty() && rng.chance(25) {
        unique.push(rng.pick(&cand).clone());
    }
    // Invisible columns (never in the key).
    for c in cols.iter_mut() {
        if !pk.contains(&c.name) && c.nullable && rng.chance(12) {
            c.invisible = true;
        }
    }
    if cols.iter().all(|c| c.invisible) {
        cols[0].invisible = false;
    }
    // Generated columns computed from base columns.
    let ngen = if rng.chance(45) { rng.usize(1, 2) } else { 0 };
    for g in 0..ngen {
        let bases: Vec<usize> = (0..cols.len())
            .filter(|&i| cols[i].generated.is_none())
            .collect();
        let b = *rng.pick(&bases);
        if let Some((expr, ty)) = generated_for(&cols[b], flavor, rng) {
            let stored = rng.chance(40) && !(flavor == Flavor::MariaDb && ty.is_blobish());
            cols.push(Col {
                name: format!("g{g}"),
                ty,
                nullable: true,
                invisible: rng.chance(15),
                generated: Some((expr, stored)),
                pool: Vec::new(),
            });
        }
    }
    Table {
        name,
        cols,
        pk,
        unique,
    }
}

// ---------------------------------------------------------------------------------------------
// Workload.

/// What one seed runs.
pub struct Workload {
    pub flavor: Flavor,
    pub seed: u64,
    pub options: Options,
    /// The script run on the source (session settings first).
    pub sql: String,
    pub db: &'static str,
}

pub const DB: &str = "dt";

struct Gen<'a> {
    flavor: Flavor,
    opts: &'a Options,
    rng: Rng,
    tables: Vec<Table>,
    next_table: u32,
    next_col: u32,
    xid: u32,
    out: String,
}

pub fn generate(flavor: Flavor, seed: u64) -> Workload {
    let mut rng = Rng::new(seed ^ if flavor == Flavor::MySql { 0 } else { 0x5eed });
    let options = Options::generate(flavor, &mut rng);
    let mut g = Gen {
        flavor,
        opts: &options,
        rng,
        tables: Vec::new(),
        next_table: 0,
        next_col: 100,
        xid: 0,
        out: String::new(),
    };
    g.out.push_str(&options.session_sql(flavor));
    writeln!(g.out, "CREATE DATABASE `{DB}`;\nUSE `{DB}`;").unwrap();
    let ntables = g.rng.usize(1, 4);
    for _ in 0..ntables {
        g.create_table();
    }
    // Fill every table first.
    for ti in 0..g.tables.len() {
        for _ in 0..g.rng.usize(1, 3) {
            let s = g.insert(ti, "INSERT IGNORE");
            g.stmt(&s);
        }
    }
    let ntx = g.rng.usize(25, 70);
    for _ in 0..ntx {
        g.transaction();
    }
    let sql = std::mem::take(&mut g.out);
    Workload {
        flavor,
        seed,
        options,
        sql,
        db: DB,
    }
}

impl Gen<'_> {
    fn stmt(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push_str(";\n");
    }

    fn create_table(&mut self) {
        let name = format!("t{}", self.next_table);
        self.next_table += 1;
        let t = random_table(name, self.flavor, self.opts, &mut self.rng);
        let ddl = t.ddl(self.flavor);
        self.stmt(&ddl);
        self.tables.push(t);
    }

    fn pick_table(&mut self) -> usize {
        self.rng.below(self.tables.len() as u64) as usize
    }

    fn row(&mut self, t: &Table, cols: &[usize]) -> String {
        let vals: Vec<String> = cols
            .iter()
            .map(|&i| t.cols[i].value(self.flavor, &mut self.rng))
            .collect();
        format!("({})", vals.join(", "))
    }

    /// The columns an INSERT names: every NOT NULL one and some nullable ones, in random order.
    fn insert_cols(&mut self, t: &Table) -> Vec<usize> {
        let mut cols: Vec<usize> = (0..t.cols.len())
            .filter(|&i| {
                let c = &t.cols[i];
                c.writable() && (!c.nullable || self.rng.chance(80))
            })
            .collect();
        if cols.is_empty() {
            // Every writable column is nullable and none was chosen: name the first one.
            if let Some(i) = (0..t.cols.len()).find(|&i| t.cols[i].writable()) {
                cols.push(i);
            }
        }
        // Shuffle.
        for i in (1..cols.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            cols.swap(i, j);
        }
        cols
    }

    fn insert(&mut self, ti: usize, verb: &str) -> String {
        let t = self.tables[ti].clone();
        let cols = self.insert_cols(&t);
        let n = self.rng.usize(1, 6);
        let rows: Vec<String> = (0..n).map(|_| self.row(&t, &cols)).collect();
        let names: Vec<String> = cols.iter().map(|&i| t.cols[i].name.clone()).collect();
        format!(
            "{verb} INTO `{}` ({}) VALUES {}",
            t.name,
            backticks(&names),
            rows.join(", ")
        )
    }

    fn upsert(&mut self, ti: usize) -> String {
        let t = self.tables[ti].clone();
        let cols = self.insert_cols(&t);
        let n = self.rng.usize(1, 4);
        let rows: Vec<String> = (0..n).map(|_| self.row(&t, &cols)).collect();
        let names: Vec<String> = cols.iter().map(|&i| t.cols[i].name.clone()).collect();
        let mut sets = Vec::new();
        for &i in &cols {
            let c = &t.cols[i];
            if self.rng.chance(50) {
                let v = if self.rng.chance(50) {
                    match self.flavor {
                        Flavor::MySql => format!("new.`{}`", c.name),
                        Flavor::MariaDb => format!("VALUES(`{}`)", c.name),
                    }
                } else {
                    c.value(self.flavor, &mut self.rng)
                };
                sets.push(format!("`{}` = {v}", c.name));
            }
        }
        if sets.is_empty() {
            let c = &t.cols[cols[0]];
            sets.push(format!("`{0}` = `{1}`.`{0}`", c.name, t.name));
        }
        let alias = if self.flavor == Flavor::MySql {
            " AS new"
        } else {
            ""
        };
        format!(
            "INSERT INTO `{}` ({}) VALUES {}{alias} ON DUPLICATE KEY UPDATE {}",
            t.name,
            backticks(&names),
            rows.join(", "),
            sets.join(", ")
        )
    }

    /// A WHERE clause: a point lookup or a range.
    fn predicate(&mut self, t: &Table, point: bool) -> String {
        let cols = t.lookup_cols();
        if cols.is_empty() {
            return "1 = 1".into();
        }
        if point {
            let conds: Vec<String> = cols
                .iter()
                .map(|c| {
                    let v = if c.pool.is_empty() {
                        c.ty.value(self.flavor, &mut self.rng)
                    } else {
                        self.rng.pick(&c.pool).clone()
                    };
                    format!("`{}` = {v}", c.name)
                })
                .collect();
            return conds.join(" AND ");
        }
        let c = cols[self.rng.below(cols.len() as u64) as usize];
        let shape = self.rng.below(4);
        let mut v = || {
            if c.pool.is_empty() {
                c.ty.value(self.flavor, &mut self.rng)
            } else {
                self.rng.pick(&c.pool).clone()
            }
        };
        match shape {
            0 => format!("`{}` >= {}", c.name, v()),
            1 => format!("`{}` < {}", c.name, v()),
            2 => format!("`{}` BETWEEN {} AND {}", c.name, v(), v()),
            _ => format!("`{}` IN ({}, {}, {})", c.name, v(), v(), v()),
        }
    }

    fn order_limit(&mut self, t: &Table) -> String {
        if !t.pk.is_empty() && self.rng.chance(30) {
            format!(
                " ORDER BY {} LIMIT {}",
                backticks(&t.pk),
                self.rng.usize(1, 4)
            )
        } else {
            String::new()
        }
    }

    fn update(&mut self, ti: usize) -> String {
        let t = self.tables[ti].clone();
        let writable: Vec<usize> = (0..t.cols.len())
            .filter(|&i| t.cols[i].writable() && !t.pk.contains(&t.cols[i].name))
            .collect();
        let mut sets = Vec::new();
        if !writable.is_empty() {
            for _ in 0..self.rng.usize(1, 3) {
                let c = &t.cols[*self.rng.pick(&writable)];
                let v = if matches!(c.ty, Ty::Int { .. }) && self.rng.chance(15) {
                    format!("`{}` DIV 2", c.name)
                } else {
                    c.value(self.flavor, &mut self.rng)
                };
                sets.push(format!("`{}` = {v}", c.name));
            }
        } else if let Some(k) = t.pk.first() {
            let v = t.col(k).value(self.flavor, &mut self.rng);
            sets.push(format!("`{k}` = {v}"));
        } else {
            return self.insert(ti, "INSERT IGNORE");
        }
        let point = self.rng.chance(60);
        let pred = self.predicate(&t, point);
        let ol = if point {
            String::new()
        } else {
            self.order_limit(&t)
        };
        format!(
            "UPDATE `{}` SET {} WHERE {pred}{ol}",
            t.name,
            sets.join(", ")
        )
    }

    fn pk_change(&mut self, ti: usize) -> String {
        let t = self.tables[ti].clone();
        if t.pk.is_empty() {
            return self.update(ti);
        }
        let k = self.rng.pick(&t.pk).clone();
        let v = t.col(&k).value(self.flavor, &mut self.rng);
        let pred = self.predicate(&t, true);
        format!("UPDATE `{}` SET `{k}` = {v} WHERE {pred}", t.name)
    }

    fn delete(&mut self, ti: usize) -> String {
        let t = self.tables[ti].clone();
        let point = self.rng.chance(70);
        let pred = self.predicate(&t, point);
        let ol = if point {
            String::new()
        } else {
            self.order_limit(&t)
        };
        format!("DELETE FROM `{}` WHERE {pred}{ol}", t.name)
    }

    fn json_update(&mut self, ti: usize) -> Option<String> {
        let t = self.tables[ti].clone();
        let js: Vec<&Col> = t
            .cols
            .iter()
            .filter(|c| matches!(c.ty, Ty::Json) && c.writable())
            .collect();
        if js.is_empty() {
            return None;
        }
        let c = js[self.rng.below(js.len() as u64) as usize].name.clone();
        let path = *self
            .rng
            .pick(&["$.k0", "$.k1", "$.k2", "$[0]", "$.k0.k1", "$.new", "$[1]"]);
        let val = json_value(self.flavor, &mut self.rng, 2, false);
        let f = match self.rng.below(5) {
            0 | 1 => format!("JSON_SET(`{c}`, '{path}', {val})"),
            2 => format!("JSON_REPLACE(`{c}`, '{path}', {val})"),
            3 => format!("JSON_REMOVE(`{c}`, '{path}')"),
            _ => {
                let val2 = json_value(self.flavor, &mut self.rng, 2, false);
                format!("JSON_SET(`{c}`, '{path}', {val}, '$.k1', {val2})")
            }
        };
        let point = self.rng.chance(50);
        let pred = self.predicate(&t, point);
        Some(format!("UPDATE `{}` SET `{c}` = {f} WHERE {pred}", t.name))
    }

    fn dml(&mut self) -> String {
        let ti = self.pick_table();
        match self.rng.below(20) {
            0..=3 => self.insert(ti, "INSERT"),
            4 | 5 => self.insert(ti, "INSERT IGNORE"),
            6 => self.insert(ti, "REPLACE"),
            7 | 8 => self.upsert(ti),
            9..=11 => self.update(ti),
            12 => self.pk_change(ti),
            13 | 14 => self.delete(ti),
            _ => match self.json_update(ti) {
                Some(s) => s,
                None => self.update(ti),
            },
        }
    }

    fn dmls(&mut self, lo: usize, hi: usize) {
        for _ in 0..self.rng.usize(lo, hi) {
            let s = self.dml();
            self.stmt(&s);
        }
    }

    fn transaction(&mut self) {
        match self.rng.below(20) {
            0..=4 => {
                let s = self.dml();
                self.stmt(&s);
            }
            5..=10 => {
                self.stmt("BEGIN");
                self.dmls(1, 6);
                self.stmt("COMMIT");
            }
            11 => {
                self.stmt("BEGIN");
                self.dmls(1, 3);
                self.stmt("ROLLBACK");
            }
            12 | 13 => {
                self.stmt("BEGIN");
                self.dmls(0, 3);
                self.stmt("SAVEPOINT sp1");
                self.dmls(1, 3);
                if self.rng.chance(70) {
                    self.stmt("ROLLBACK TO SAVEPOINT sp1");
                } else {
                    self.stmt("RELEASE SAVEPOINT sp1");
                }
                self.dmls(0, 2);
                self.stmt("COMMIT");
            }
            14 | 15 => {
                self.xid += 1;
                let x = format!("'xa{}'", self.xid);
                self.stmt(&format!("XA START {x}"));
                self.dmls(1, 4);
                self.stmt(&format!("XA END {x}"));
                match self.rng.below(3) {
                    0 => self.stmt(&format!("XA COMMIT {x} ONE PHASE")),
                    1 => {
                        self.stmt(&format!("XA PREPARE {x}"));
                        self.stmt(&format!("XA ROLLBACK {x}"));
                    }
                    _ => {
                        self.stmt(&format!("XA PREPARE {x}"));
                        self.stmt(&format!("XA COMMIT {x}"));
                    }
                }
            }
            _ => {
                if self.rng.chance(40) {
                    self.ddl();
                } else {
                    let s = self.dml();
                    self.stmt(&s);
                }
            }
        }
    }

    fn referenced(t: &Table, name: &str) -> bool {
        t.cols.iter().any(|c| {
            c.generated
                .as_ref()
                .is_some_and(|(e, _)| e.contains(&format!("`{name}`")))
        })
    }

    fn ddl(&mut self) {
        let ti = self.pick_table();
        match self.rng.below(9) {
            0 => self.create_table(),
            1 | 2 => {
                // ADD COLUMN, anywhere.
                let ty = random_type(self.flavor, self.opts, &mut self.rng);
                let name = format!("c{}", self.next_col);
                self.next_col += 1;
                let col = Col {
                    name: name.clone(),
                    ty,
                    nullable: true,
                    invisible: self.rng.chance(20),
                    generated: None,
                    pool: Vec::new(),
                };
                let t = &mut self.tables[ti];
                let (pos, at) = match self.rng.below(3) {
                    0 => (" FIRST".to_string(), 0),
                    1 => {
                        let i = self.rng.below(t.cols.len() as u64) as usize;
                        (format!(" AFTER `{}`", t.cols[i].name), i + 1)
                    }
                    _ => (String::new(), t.cols.len()),
                };
                let s = format!(
                    "ALTER TABLE `{}` ADD COLUMN {}{pos}",
                    t.name,
                    col.ddl(self.flavor)
                );
                t.cols.insert(at, col);
                self.stmt(&s);
            }
            3 => {
                // DROP COLUMN: not in a key, not used by a generated column.
                let t = self.tables[ti].clone();
                let cand: Vec<usize> = (0..t.cols.len())
                    .filter(|&i| {
                        let c = &t.cols[i];
                        !t.pk.contains(&c.name)
                            && !t.unique.contains(&c.name)
                            && !Self::referenced(&t, &c.name)
                    })
                    .collect();
                if t.cols.len() > 2 && !cand.is_empty() {
                    let i = *self.rng.pick(&cand);
                    self.stmt(&format!(
                        "ALTER TABLE `{}` DROP COLUMN `{}`",
                        t.name, t.cols[i].name
                    ));
                    self.tables[ti].cols.remove(i);
                }
            }
            4 => {
                // Widen an integer or a VARCHAR.
                let t = self.tables[ti].clone();
                for (i, c) in t.cols.iter().enumerate() {
                    if !c.writable() || Self::referenced(&t, &c.name) {
                        continue;
                    }
                    let new = match &c.ty {
                        Ty::Int { bytes, unsigned } if *bytes < 8 => Ty::Int {
                            bytes: 8,
                            unsigned: *unsigned,
                        },
                        Ty::Str {
                            kind: StrKind::VarChar(n),
                            cs,
                            coll,
                            compressed,
                        } if *n < 300 => Ty::Str {
                            kind: StrKind::VarChar(300),
                            cs: *cs,
                            coll,
                            compressed: *compressed,
                        },
                        _ => continue,
                    };
                    let mut nc = c.clone();
                    nc.ty = new;
                    self.stmt(&format!(
                        "ALTER TABLE `{}` MODIFY COLUMN {}",
                        t.name,
                        nc.ddl(self.flavor)
                    ));
                    self.tables[ti].cols[i] = nc;
                    break;
                }
            }
            5 => {
                let t = self.tables[ti].name.clone();
                self.stmt(&format!("TRUNCATE TABLE `{t}`"));
            }
            6 => {
                let new = format!("t{}", self.next_table);
                self.next_table += 1;
                let old = std::mem::replace(&mut self.tables[ti].name, new.clone());
                self.stmt(&format!("RENAME TABLE `{old}` TO `{new}`"));
            }
            7 if self.flavor == Flavor::MariaDb => {
                // Not CREATE TABLE ... SELECT: MariaDB logs it as one GTID (CREATE + rows),
                // which `mariadb-binlog | mariadb` splits into two under gtid_strict_mode
                // (ERROR 1950 at the next GTID): the reference cannot apply it.
                self.create_table();
            }
            7 => {
                // CREATE TABLE ... SELECT (MySQL: atomic, logged with START TRANSACTION).
                let t = self.tables[ti].clone();
                let vis: Vec<Col> = t
                    .cols
                    .iter()
                    .filter(|c| !c.invisible)
                    .map(|c| Col {
                        generated: None,
                        nullable: true,
                        pool: Vec::new(),
                        ..c.clone()
                    })
                    .collect();
                if vis.is_empty() {
                    return;
                }
                let name = format!("t{}", self.next_table);
                self.next_table += 1;
                let names: Vec<String> = vis.iter().map(|c| c.name.clone()).collect();
                self.stmt(&format!(
                    "CREATE TABLE `{name}` SELECT {} FROM `{}`",
                    backticks(&names),
                    t.name
                ));
                self.tables.push(Table {
                    name,
                    cols: vis,
                    pk: Vec::new(),
                    unique: Vec::new(),
                });
            }
            _ => {
                if self.tables.len() > 1 {
                    let t = self.tables.remove(ti);
                    self.stmt(&format!("DROP TABLE `{}`", t.name));
                } else {
                    self.create_table();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_script() {
        for f in [Flavor::MySql, Flavor::MariaDb] {
            assert_eq!(generate(f, 7).sql, generate(f, 7).sql);
            assert_ne!(generate(f, 7).sql, generate(f, 8).sql);
        }
    }
}
