//! Typed binlog values bound as prepared-statement parameters, and rendered as SQL literals
//! for `--dry-run`.
//!
//! Owns the exact mapping of every column type to what the server stores back unchanged:
//! integers with the target's signedness, DECIMAL as its exact text, temporal values as binary
//! protocol dates and times (TIMESTAMP converted from the binlog's UTC epoch; the session runs
//! with `time_zone='+00:00'`), BIT and SET as integers, ENUM as its index, JSON as text,
//! strings and GEOMETRY/VECTOR as their bytes (BINARY(n) before images padded back to n).
//! It does not know SQL shapes (see `row_sql`) or columns' names (see `schema`).

use crate::binlog::column_compression::{decompress_column, value_limit};
use crate::binlog::row_decoder::ColumnKind;
use crate::binlog::value::{Date, DateTime, Time, Timestamp, Value};
use crate::binlog::{decimal::write_decimal, json_binary::write_json_text};

use mysql_async::Value as Param;

/// What binding needs to know about a column beyond the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindInfo {
    pub kind: ColumnKind,
    /// The target column is UNSIGNED (repairs values decoded signed when the table map had no
    /// signedness metadata).
    pub unsigned: bool,
    /// BINARY(n) and other fixed-length binary types: pad values back to n bytes with 0x00
    /// (the server strips trailing zero bytes before logging).
    pub binary_pad: Option<u16>,
}

/// Turn one decoded value into a parameter. `for_where`: the value finds a row (compared,
/// not written), which changes the binding of large SET values.
pub fn bind(v: &Value<'_>, info: &BindInfo, for_where: bool) -> Result<Param, String> {
    Ok(match *v {
        Value::Null => Param::NULL,
        Value::Int(i) => {
            if info.unsigned && i < 0 {
                Param::UInt(reinterpret_unsigned(i, info.kind))
            } else {
                Param::Int(i)
            }
        }
        Value::UInt(u) => Param::UInt(u),
        Value::Float(f) => Param::Float(f),
        Value::Double(d) => Param::Double(d),
        Value::Decimal(d) => {
            let mut s = String::with_capacity(d.precision as usize + 2);
            write_decimal(&d, &mut s);
            Param::Bytes(s.into_bytes())
        }
        Value::Year(y) => Param::UInt(y as u64),
        Value::Date(d) => date_param(d, 0, 0, 0, 0),
        Value::DateTime(dt) => datetime_param(&dt),
        Value::Time(t) => time_param(&t),
        Value::Timestamp(ts) => timestamp_param(&ts),
        Value::Bit { bits, .. } => Param::UInt(bits),
        Value::Enum(i) => Param::UInt(i as u64),
        // Both servers compare a SET by its value as a *signed* 64-bit integer: a 64-member
        // SET with its last member set only equals the negative number (writes take either).
        Value::Set(s) if for_where && s > i64::MAX as u64 => Param::Int(s as i64),
        Value::Set(s) => Param::UInt(s),
        Value::Bytes(b) => {
            let mut v = b.to_vec();
            if let Some(n) = info.binary_pad
                && v.len() < n as usize
            {
                v.resize(n as usize, 0);
            }
            Param::Bytes(v)
        }
        Value::Json(bin) => {
            let mut s = String::with_capacity(bin.len() + 16);
            write_json_text(bin, &mut s).map_err(|e| format!("JSON value: {e}"))?;
            Param::Bytes(s.into_bytes())
        }
        Value::JsonDiff(_) => {
            return Err("a partial JSON update cannot be bound as a plain value".into());
        }
        Value::Geometry(b) | Value::Vector(b) => Param::Bytes(b.to_vec()),
        Value::Compressed(b) => {
            let mut v = Vec::new();
            decompress_column(b, value_limit(info.kind), &mut v).map_err(|e| e.to_string())?;
            Param::Bytes(v)
        }
    })
}

/// A negative value decoded from an UNSIGNED column of the given width, as its unsigned value.
fn reinterpret_unsigned(i: i64, kind: ColumnKind) -> u64 {
    match kind {
        ColumnKind::Int8 { .. } => i as u8 as u64,
        ColumnKind::Int16 { .. } => i as u16 as u64,
        ColumnKind::Int24 { .. } => (i as u64) & 0xff_ffff,
        ColumnKind::Int32 { .. } => i as u32 as u64,
        _ => i as u64,
    }
}

fn date_param(d: Date, h: u8, mi: u8, s: u8, us: u32) -> Param {
    Param::Date(d.year, d.month, d.day, h, mi, s, us)
}

fn datetime_param(dt: &DateTime) -> Param {
    date_param(dt.date, dt.hour, dt.minute, dt.second, dt.micros)
}

/// TIME travels as text (`-838:59:59.000000`): the binary protocol's day/hour split is
/// refused by some servers for values beyond 24 hours.
fn time_param(t: &Time) -> Param {
    let sign = if t.negative { "-" } else { "" };
    Param::Bytes(
        format!(
            "{sign}{:02}:{:02}:{:02}.{:06}",
            t.hours, t.minutes, t.seconds, t.micros
        )
        .into_bytes(),
    )
}

/// A TIMESTAMP (UTC epoch seconds) as the UTC date-time a `time_zone='+00:00'` session stores
/// it from. Epoch 0 is MySQL's zero timestamp `0000-00-00 00:00:00`.
pub fn timestamp_param(ts: &Timestamp) -> Param {
    if ts.seconds == 0 && ts.micros == 0 {
        return Param::Date(0, 0, 0, 0, 0, 0, 0);
    }
    let (y, m, d, h, mi, s) = civil_from_epoch(ts.seconds as i64);
    Param::Date(y as u16, m, d, h, mi, s, ts.micros)
}

/// Days-from-civil inverse (Howard Hinnant's algorithm): UTC calendar fields of an epoch second.
pub fn civil_from_epoch(secs: i64) -> (i64, u8, u8, u8, u8, u8) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (rem / 3600) as u8,
        ((rem % 3600) / 60) as u8,
        (rem % 60) as u8,
    )
}

/// Render a parameter as a SQL literal (for `--dry-run` output): numbers bare, dates and times
/// quoted, text that is valid UTF-8 without control bytes quoted, anything else as `X'..'`.
pub fn literal(p: &Param, out: &mut String) {
    use std::fmt::Write as _;
    match p {
        Param::NULL => out.push_str("NULL"),
        Param::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Param::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Param::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Param::Double(d) => {
            let _ = write!(out, "{d:?}");
        }
        Param::Date(y, m, d, h, mi, s, us) => {
            let _ = write!(out, "'{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}");
            if *us != 0 {
                let _ = write!(out, ".{us:06}");
            }
            out.push('\'');
        }
        Param::Time(neg, days, h, mi, s, us) => {
            let hours = days * 24 + *h as u32;
            let sign = if *neg { "-" } else { "" };
            let _ = write!(out, "'{sign}{hours:02}:{mi:02}:{s:02}");
            if *us != 0 {
                let _ = write!(out, ".{us:06}");
            }
            out.push('\'');
        }
        Param::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) if !s.bytes().any(|c| c < 0x20 && c != b'\n' && c != b'\t') => {
                crate::binlog::json_diff::write_sql_quoted(s, out)
            }
            _ => {
                out.push_str("X'");
                for byte in b.iter() {
                    let _ = write!(out, "{byte:02X}");
                }
                out.push('\'');
            }
        },
    }
}

/// Replace each `?` placeholder of `sql` (outside quotes and backquotes) with a literal.
pub fn inline_params(sql: &str, params: &[Param]) -> String {
    let mut out = String::with_capacity(sql.len() + params.len() * 8);
    let mut it = params.iter();
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '`' | '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '?' => match it.next() {
                    Some(p) => literal(p, &mut out),
                    None => out.push('?'),
                },
                _ => out.push(c),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::value::Decimal;

    fn info(kind: ColumnKind) -> BindInfo {
        BindInfo {
            kind,
            unsigned: false,
            binary_pad: None,
        }
    }

    #[test]
    fn a_set_with_its_64th_member_is_compared_signed() {
        let i = info(ColumnKind::Int64 { unsigned: true });
        let v = Value::Set(0x8000_0000_0000_0001);
        assert_eq!(
            bind(&v, &i, false).unwrap(),
            Param::UInt(0x8000_0000_0000_0001)
        );
        assert_eq!(
            bind(&v, &i, true).unwrap(),
            Param::Int(-0x7fff_ffff_ffff_ffff)
        );
        assert_eq!(bind(&Value::Set(5), &i, true).unwrap(), Param::UInt(5));
    }

    #[test]
    fn integers_and_signedness() {
        let k = ColumnKind::Int8 { unsigned: false };
        assert_eq!(bind(&Value::Int(-1), &info(k), false), Ok(Param::Int(-1)));
        let u = BindInfo {
            unsigned: true,
            ..info(k)
        };
        assert_eq!(bind(&Value::Int(-1), &u, false), Ok(Param::UInt(255)));
        let u64k = BindInfo {
            unsigned: true,
            ..info(ColumnKind::Int64 { unsigned: false })
        };
        assert_eq!(
            bind(&Value::Int(-1), &u64k, false),
            Ok(Param::UInt(u64::MAX))
        );
        let u24 = BindInfo {
            unsigned: true,
            ..info(ColumnKind::Int24 { unsigned: false })
        };
        assert_eq!(
            bind(&Value::Int(-1), &u24, false),
            Ok(Param::UInt(16_777_215))
        );
    }

    #[test]
    fn decimal_is_exact_text() {
        // DECIMAL(5,2) 123.45: 3 integer digits (2 bytes), 2 fraction digits (1 byte).
        let bin = [0x80, 123, 45];
        let d = Decimal {
            precision: 5,
            scale: 2,
            bin: &bin,
        };
        let p = bind(
            &Value::Decimal(d),
            &info(ColumnKind::Decimal {
                precision: 5,
                scale: 2,
                bin_len: 3,
            }),
            false,
        )
        .unwrap();
        assert_eq!(p, Param::Bytes(b"123.45".to_vec()));
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(
            timestamp_param(&Timestamp {
                seconds: 2_147_483_647,
                micros: 5,
                fsp: 6
            }),
            Param::Date(2038, 1, 19, 3, 14, 7, 5)
        );
        assert_eq!(
            timestamp_param(&Timestamp {
                seconds: 0,
                micros: 0,
                fsp: 0
            }),
            Param::Date(0, 0, 0, 0, 0, 0, 0)
        );
        assert_eq!(civil_from_epoch(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil_from_epoch(1), (1970, 1, 1, 0, 0, 1));
    }

    #[test]
    fn time_with_large_hours() {
        let t = Time {
            negative: true,
            hours: 838,
            minutes: 59,
            seconds: 58,
            micros: 999_000,
            fsp: 3,
        };
        assert_eq!(time_param(&t), Param::Bytes(b"-838:59:58.999000".to_vec()));
        let mut s = String::new();
        literal(&Param::Time(true, 34, 22, 59, 58, 999_000), &mut s);
        assert_eq!(s, "'-838:59:58.999000'");
    }

    #[test]
    fn binary_padding() {
        let i = BindInfo {
            binary_pad: Some(4),
            ..info(ColumnKind::Char {
                max_len: 4,
                len_bytes: 1,
            })
        };
        assert_eq!(
            bind(&Value::Bytes(b"a"), &i, true),
            Ok(Param::Bytes(vec![b'a', 0, 0, 0]))
        );
        assert_eq!(
            bind(&Value::Bytes(b"a"), &i, false),
            Ok(Param::Bytes(vec![b'a', 0, 0, 0]))
        );
    }

    #[test]
    fn literals_and_inlining() {
        let sql = "INSERT INTO `a?b` (`x`) VALUES (?),(?),('?'),(?)";
        let out = inline_params(
            sql,
            &[
                Param::Bytes(b"it's".to_vec()),
                Param::Bytes(vec![0xff, 0]),
                Param::NULL,
            ],
        );
        assert_eq!(
            out,
            "INSERT INTO `a?b` (`x`) VALUES ('it\\'s'),(X'FF00'),('?'),(NULL)"
        );
    }
}
