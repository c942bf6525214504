//! Temporal column codecs: binlog bytes to [`Date`], [`Time`], [`DateTime`], [`Timestamp`],
//! and their MySQL text.
//!
//! Owns the storage formats of DATE (3 bytes), the pre-5.6 TIME/DATETIME/TIMESTAMP, the 5.6+
//! TIME2/DATETIME2/TIMESTAMP2 with fractional seconds (big-endian, offset-biased, negative TIME
//! fractions stored "reversed") and MySQL's packed 64-bit temporal integers used inside binary
//! JSON. The `Display` impls print what MySQL prints (`my_datetime_to_str`, `my_time_to_str`,
//! `my_timeval_to_str`) with exactly `fsp` fraction digits. It does not read rows; the row
//! decoder hands each function exactly the bytes of one value.

use std::fmt;

use crate::binlog::error::{BinlogError, Result};
use crate::binlog::value::{Date, DateTime, Time, Timestamp};

/// Bytes of the fractional part for a fractional second precision (0-6).
#[inline]
pub fn frac_len(fsp: u8) -> usize {
    (fsp as usize).div_ceil(2)
}

/// Bytes of a TIME2 value of precision `fsp`.
#[inline]
pub fn time2_len(fsp: u8) -> usize {
    3 + frac_len(fsp)
}

/// Bytes of a DATETIME2 value of precision `fsp`.
#[inline]
pub fn datetime2_len(fsp: u8) -> usize {
    5 + frac_len(fsp)
}

/// Bytes of a TIMESTAMP2 value of precision `fsp`.
#[inline]
pub fn timestamp2_len(fsp: u8) -> usize {
    4 + frac_len(fsp)
}

#[inline]
fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |v, &x| (v << 8) | x as u64)
}

/// Sign-extend the low `bits` of `v`.
#[inline]
fn sext(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn need(b: &[u8], n: usize, what: &'static str) -> Result<()> {
    if b.len() < n {
        Err(BinlogError::Truncated {
            what,
            needed: n,
            available: b.len(),
        })
    } else {
        Ok(())
    }
}

/// DATE (NEWDATE): 3 bytes little-endian, `day | month << 5 | year << 9`.
#[inline]
pub fn decode_date(b: &[u8]) -> Result<Date> {
    need(b, 3, "DATE value")?;
    let v = b[0] as u32 | (b[1] as u32) << 8 | (b[2] as u32) << 16;
    Ok(Date {
        year: (v >> 9) as u16,
        month: ((v >> 5) & 15) as u8,
        day: (v & 31) as u8,
    })
}

/// Pre-5.6 TIME: 3 bytes little-endian signed, `hhmmss` as a decimal integer.
#[inline]
pub fn decode_time_old(b: &[u8]) -> Result<Time> {
    need(b, 3, "TIME value")?;
    let v = sext(b[0] as u64 | (b[1] as u64) << 8 | (b[2] as u64) << 16, 24);
    let a = v.unsigned_abs();
    Ok(Time {
        negative: v < 0,
        hours: (a / 10000) as u32,
        minutes: ((a % 10000) / 100) as u8,
        seconds: (a % 100) as u8,
        micros: 0,
        fsp: 0,
    })
}

/// Pre-5.6 DATETIME: 8 bytes little-endian, `yyyymmddhhmmss` as a decimal integer.
#[inline]
pub fn decode_datetime_old(b: &[u8]) -> Result<DateTime> {
    need(b, 8, "DATETIME value")?;
    let v = be(&[b[7], b[6], b[5], b[4], b[3], b[2], b[1], b[0]]);
    let d = v / 1_000_000;
    let t = v % 1_000_000;
    let year = d / 10000;
    if year > 9999 {
        return Err(BinlogError::invalid(
            "DATETIME value",
            format!(
                "{v} is not a yyyymmddhhmmss number (a MariaDB DATETIME(1-6) created with \
                 mysql56_temporal_format=OFF is logged with this type but another length, and \
                 the binlog does not say its precision: `gapfill replay` reads it with the \
                 target's definition; ALTER TABLE ... FORCE converts the table)"
            ),
        ));
    }
    Ok(DateTime {
        date: Date {
            year: year as u16,
            month: ((d % 10000) / 100) as u8,
            day: (d % 100) as u8,
        },
        hour: (t / 10000) as u8,
        minute: ((t % 10000) / 100) as u8,
        second: (t % 100) as u8,
        micros: 0,
        fsp: 0,
    })
}

/// Pre-5.6 TIMESTAMP: 4 bytes little-endian seconds since the epoch.
#[inline]
pub fn decode_timestamp_old(b: &[u8]) -> Result<Timestamp> {
    need(b, 4, "TIMESTAMP value")?;
    Ok(Timestamp {
        seconds: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        micros: 0,
        fsp: 0,
    })
}

/// MariaDB 5.3 "hires" TIME(1..6), DATETIME(1..6) and TIMESTAMP(1..6): the formats MariaDB
/// writes with `mysql56_temporal_format=OFF` (and tables created before 10.1). Their table
/// map type is the pre-5.6 one (TIME, DATETIME, TIMESTAMP) with no metadata, so the binlog does
/// not say the precision: it comes from the table's definition (as the server's applier takes
/// it). Lengths and packing as MariaDB's `Type_handler_*::m_hires_bytes`, `sec_part_shift`.
pub mod mariadb_hires {
    use super::{be, need};
    use crate::binlog::error::{BinlogError, Result};
    use crate::binlog::value::{Date, DateTime, Time, Timestamp};

    const TIME_BYTES: [u8; 7] = [3, 4, 4, 5, 5, 5, 6];
    const DATETIME_BYTES: [u8; 7] = [5, 6, 6, 7, 7, 7, 8];
    const TIMESTAMP_FRAC_BYTES: [u8; 7] = [0, 1, 1, 2, 2, 3, 3];
    /// 838:59:59 in seconds, plus one: the bias of a stored TIME.
    const TIME_ZERO_SECONDS: i64 = 838 * 3600 + 59 * 60 + 59 + 1;

    fn unit(fsp: u8) -> i64 {
        10i64.pow(6 - fsp.min(6) as u32)
    }

    pub fn time_len(fsp: u8) -> u8 {
        TIME_BYTES[fsp.min(6) as usize]
    }

    pub fn datetime_len(fsp: u8) -> u8 {
        DATETIME_BYTES[fsp.min(6) as usize]
    }

    pub fn timestamp_len(fsp: u8) -> u8 {
        4 + TIMESTAMP_FRAC_BYTES[fsp.min(6) as usize]
    }

    /// `packed` = ((((year*13+month)*32+day)*24+hour)*60+minute)*60+second)*10^6+micros.
    struct Parts {
        micros: u32,
        second: u8,
        minute: u8,
        hour: u8,
        day: u8,
        month: u8,
        year: u64,
    }

    fn split(mut packed: u64) -> Parts {
        let mut take = |f: u64| {
            let v = packed % f;
            packed /= f;
            v
        };
        let micros = take(1_000_000) as u32;
        let second = take(60) as u8;
        let minute = take(60) as u8;
        let hour = take(24) as u8;
        let day = take(32) as u8;
        let month = take(13) as u8;
        Parts {
            micros,
            second,
            minute,
            hour,
            day,
            month,
            year: packed,
        }
    }

    pub fn decode_time(b: &[u8], fsp: u8) -> Result<Time> {
        let n = time_len(fsp) as usize;
        need(b, n, "TIME value (MariaDB 5.3 format)")?;
        let zero = TIME_ZERO_SECONDS * 1_000_000 / unit(fsp);
        let v = (be(&b[..n]) as i64 - zero) * unit(fsp);
        let p = split(v.unsigned_abs());
        let hours =
            p.hour as u64 + (p.month as u64 * 32 + p.day as u64) * 24 + p.year * 13 * 32 * 24;
        Ok(Time {
            negative: v < 0,
            hours: u32::try_from(hours).map_err(|_| {
                BinlogError::invalid("TIME value (MariaDB 5.3 format)", "hours out of range")
            })?,
            minutes: p.minute,
            seconds: p.second,
            micros: p.micros,
            fsp,
        })
    }

    pub fn decode_datetime(b: &[u8], fsp: u8) -> Result<DateTime> {
        let n = datetime_len(fsp) as usize;
        need(b, n, "DATETIME value (MariaDB 5.3 format)")?;
        let v = be(&b[..n]).checked_mul(unit(fsp) as u64).ok_or_else(|| {
            BinlogError::invalid("DATETIME value (MariaDB 5.3 format)", "out of range")
        })?;
        let p = split(v);
        if p.year > 9999 {
            return Err(BinlogError::invalid(
                "DATETIME value (MariaDB 5.3 format)",
                format!("year {}", p.year),
            ));
        }
        Ok(DateTime {
            date: Date {
                year: p.year as u16,
                month: p.month,
                day: p.day,
            },
            hour: p.hour,
            minute: p.minute,
            second: p.second,
            micros: p.micros,
            fsp,
        })
    }

    pub fn decode_timestamp(b: &[u8], fsp: u8) -> Result<Timestamp> {
        let n = timestamp_len(fsp) as usize;
        need(b, n, "TIMESTAMP value (MariaDB 5.3 format)")?;
        let micros = be(&b[4..n]) as i64 * unit(fsp);
        if micros >= 1_000_000 {
            return Err(BinlogError::invalid(
                "TIMESTAMP value (MariaDB 5.3 format)",
                format!("fraction {micros} µs"),
            ));
        }
        Ok(Timestamp {
            seconds: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            micros: micros as u32,
            fsp,
        })
    }
}

/// Read the fractional part that follows the integer part of TIMESTAMP2/DATETIME2 as
/// microseconds. The bytes are read signed as MySQL does (only matters for corrupt input).
#[inline(always)]
fn frac_micros(b: &[u8], fsp: u8) -> i64 {
    match fsp {
        1 | 2 => (b[0] as i8 as i64) * 10_000,
        3 | 4 => (i16::from_be_bytes([b[0], b[1]]) as i64) * 100,
        5 | 6 => sext(be(&b[..3]), 24),
        _ => 0,
    }
}

/// TIMESTAMP2 (5.6+): 4 bytes big-endian seconds, then `(fsp + 1) / 2` fraction bytes.
#[inline]
pub fn decode_timestamp2(b: &[u8], fsp: u8) -> Result<Timestamp> {
    need(b, timestamp2_len(fsp), "TIMESTAMP2 value")?;
    Ok(timestamp2(b, fsp))
}

/// TIMESTAMP2 of `b`, which holds at least `timestamp2_len(fsp)` bytes (checked by the
/// callers).
#[inline(always)]
pub(crate) fn timestamp2(b: &[u8], fsp: u8) -> Timestamp {
    Timestamp {
        seconds: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        micros: frac_micros(&b[4..], fsp).clamp(0, 999_999) as u32,
        fsp,
    }
}

/// DATETIME2 (5.6+): 5 bytes big-endian biased by 0x8000000000 holding
/// `(year * 13 + month) << 22 | day << 17 | hour << 12 | minute << 6 | second`, then the
/// fraction (MySQL's `my_datetime_packed_from_binary`).
#[inline]
pub fn decode_datetime2(b: &[u8], fsp: u8) -> Result<DateTime> {
    need(b, datetime2_len(fsp), "DATETIME2 value")?;
    Ok(datetime_from_packed(datetime2_packed(b, fsp), fsp))
}

/// The packed DATETIME integer of a DATETIME2 value; `b` holds at least
/// `datetime2_len(fsp)` bytes (checked by the callers).
#[inline(always)]
pub(crate) fn datetime2_packed(b: &[u8], fsp: u8) -> i64 {
    let int_part = be(&b[..5]) as i64 - 0x80_0000_0000;
    // Wrapping, as the server's C arithmetic does: the smallest integer part with a negative
    // fraction (no server writes it, a corrupt row can hold it) would overflow i64.
    (int_part << 24).wrapping_add(frac_micros(&b[5..], fsp))
}

/// Unpack MySQL's packed DATETIME integer (`TIME_from_longlong_datetime_packed`): the layout
/// DATETIME2 uses in rows and binary JSON uses for DATETIME, TIMESTAMP and DATE scalars.
#[inline(always)]
pub fn datetime_from_packed(packed: i64, fsp: u8) -> DateTime {
    let tmp = packed.unsigned_abs();
    let micros = (tmp % (1 << 24)) as u32;
    let ymdhms = tmp >> 24;
    let ymd = ymdhms >> 17;
    let ym = ymd >> 5;
    let hms = ymdhms % (1 << 17);
    DateTime {
        date: Date {
            year: (ym / 13).min(u16::MAX as u64) as u16,
            month: (ym % 13) as u8,
            day: (ymd % 32) as u8,
        },
        hour: (hms >> 12) as u8,
        minute: ((hms >> 6) % 64) as u8,
        second: (hms % 64) as u8,
        micros,
        fsp,
    }
}

/// TIME2 (5.6+): 3 bytes big-endian biased by 0x800000 holding
/// `hours << 12 | minutes << 6 | seconds`, then the fraction. Negative values with a fraction
/// store the integer part rounded away from zero and the fraction as its complement, so that
/// the bytes sort; this undoes it exactly as MySQL's `my_time_packed_from_binary`.
#[inline]
pub fn decode_time2(b: &[u8], fsp: u8) -> Result<Time> {
    need(b, time2_len(fsp), "TIME2 value")?;
    const INT_OFS: i64 = 0x80_0000;
    let packed: i64 = match fsp {
        1 | 2 => {
            let mut int_part = be(&b[..3]) as i64 - INT_OFS;
            let mut frac = b[3] as i64;
            if int_part < 0 && frac != 0 {
                int_part += 1;
                frac -= 0x100;
            }
            (int_part << 24) + frac * 10_000
        }
        3 | 4 => {
            let mut int_part = be(&b[..3]) as i64 - INT_OFS;
            let mut frac = be(&b[3..5]) as i64;
            if int_part < 0 && frac != 0 {
                int_part += 1;
                frac -= 0x10000;
            }
            (int_part << 24) + frac * 100
        }
        5 | 6 => be(&b[..6]) as i64 - 0x8000_0000_0000,
        _ => (be(&b[..3]) as i64 - INT_OFS) << 24,
    };
    Ok(time_from_packed(packed, fsp))
}

/// Unpack MySQL's packed TIME integer (`TIME_from_longlong_time_packed`), as TIME2 and
/// binary JSON TIME scalars hold it.
pub fn time_from_packed(packed: i64, fsp: u8) -> Time {
    let tmp = packed.unsigned_abs();
    let hms = tmp >> 24;
    Time {
        negative: packed < 0,
        hours: ((hms >> 12) % (1 << 10)) as u32,
        minutes: ((hms >> 6) % (1 << 6)) as u8,
        seconds: (hms % (1 << 6)) as u8,
        micros: (tmp % (1 << 24)) as u32,
        fsp,
    }
}

/// Append `.` and the first `fsp` digits of `micros` (nothing when `fsp` is 0), as MySQL
/// truncates to the declared precision.
fn push_frac(out: &mut impl fmt::Write, micros: u32, fsp: u8) -> fmt::Result {
    if fsp == 0 {
        return Ok(());
    }
    let fsp = fsp.min(6) as u32;
    let v = micros.min(999_999) / 10u32.pow(6 - fsp);
    write!(out, ".{:0width$}", v, width = fsp as usize)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for Time {
    /// `[-]hh:mm:ss[.ffffff]`; hours may have three digits (`-507:48:27`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        write!(
            f,
            "{:02}:{:02}:{:02}",
            self.hours, self.minutes, self.seconds
        )?;
        push_frac(f, self.micros, self.fsp)
    }
}

impl fmt::Display for DateTime {
    /// `yyyy-mm-dd hh:mm:ss[.ffffff]`; zero dates print `0000-00-00 00:00:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:02}:{:02}:{:02}",
            self.date, self.hour, self.minute, self.second
        )?;
        push_frac(f, self.micros, self.fsp)
    }
}

impl fmt::Display for Timestamp {
    /// Seconds since the epoch with `fsp` fraction digits, as `mysqlbinlog` prints TIMESTAMP2
    /// (`my_timeval_to_str`); time-zone free, so SQL generation wraps it in `FROM_UNIXTIME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)?;
        push_frac(f, self.micros, self.fsp)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`; the
/// inverse of `decode::text::civil_from_days`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS[.frac]Z` (what
/// orchestrator's API returns); `None` for anything else.
pub fn parse_rfc3339_utc(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &s[19..];
    let rest = rest
        .strip_prefix('.')
        .map_or(rest, |f| f.trim_start_matches(|c: char| c.is_ascii_digit()));
    if rest != "Z"
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + mi * 60 + se)).ok()
}

#[cfg(test)]
mod civil_tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_the_civil_calendar() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc("2026-11-21T12:47:14Z"),
            Some(1_795_265_234)
        );
        assert_eq!(
            parse_rfc3339_utc("2000-02-29T23:59:59.5Z"),
            Some(951_868_799)
        );
        assert_eq!(parse_rfc3339_utc("2026-11-21 12:47:14"), None);
        assert_eq!(parse_rfc3339_utc("2026-13-21T12:47:14Z"), None);
        for z in [-800_000i64, -1, 0, 59, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = crate::decode::text::civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_53_hires_values() {
        // Bytes of a row MariaDB 10.11 wrote with mysql56_temporal_format=OFF for
        // DATETIME(3) '2020-01-02 03:04:05.678', TIME(2) '-12:34:56.78',
        // TIMESTAMP(4) '2021-02-03 04:05:06.7891' UTC.
        use mariadb_hires as h;
        let dt = h::decode_datetime(&[0x00, 0x42, 0x09, 0x0a, 0x66, 0xc3, 0x2e], 3).unwrap();
        assert_eq!(dt.to_string(), "2020-01-02 03:04:05.678");
        let t = h::decode_time(&[0x11, 0xbb, 0xa5, 0xb2], 2).unwrap();
        assert_eq!(t.to_string(), "-12:34:56.78");
        let ts = h::decode_timestamp(&[0x60, 0x1a, 0x20, 0xf2, 0x1e, 0xd3], 4).unwrap();
        assert_eq!((ts.seconds, ts.micros), (1_612_325_106, 789_100));
        assert_eq!(
            (h::time_len(6), h::datetime_len(1), h::timestamp_len(5)),
            (6, 6, 7)
        );
        // Short or out-of-range input is an error, never a panic.
        assert!(h::decode_datetime(&[0xff; 8], 6).is_err());
        assert!(h::decode_time(&[0x11], 2).is_err());
        assert!(h::decode_timestamp(&[0, 0, 0, 0, 0xff, 0xff], 4).is_err());
        for fsp in 0..=6 {
            for b in [[0u8; 8], [0xff; 8], [0x80; 8]] {
                let _ = h::decode_time(&b, fsp);
                let _ = h::decode_datetime(&b, fsp);
                let _ = h::decode_timestamp(&b, fsp);
            }
        }
    }

    #[test]
    fn extreme_datetime2_bytes_do_not_overflow() {
        // Found by the rows fuzzer: integer part -2^39 and a negative fraction.
        for fsp in 0..=6u8 {
            let mut b = vec![0u8; datetime2_len(fsp)];
            if b.len() > 5 {
                b[5] = 0x80;
            }
            let _ = decode_datetime2(&b, fsp).unwrap();
            b.iter_mut().for_each(|x| *x = 0xff);
            let _ = decode_datetime2(&b, fsp).unwrap();
        }
    }

    /// Encode a TIME2 the way MySQL's `my_time_packed_to_binary` does (test helper).
    fn enc_time2(neg: bool, h: i64, m: i64, s: i64, us: i64, fsp: u8) -> Vec<u8> {
        let hms = (h << 12) | (m << 6) | s;
        let mut packed = (hms << 24) + us;
        if neg {
            packed = -packed;
        }
        let int_part = packed >> 24; // arithmetic, like MY_PACKED_TIME_GET_INT_PART
        let frac = packed % (1 << 24); // C remainder keeps the sign
        let mut out = Vec::new();
        match fsp {
            0 => out.extend_from_slice(&((int_part + 0x800000) as u32).to_be_bytes()[1..]),
            1 | 2 => {
                out.extend_from_slice(&((int_part + 0x800000) as u32).to_be_bytes()[1..]);
                out.push((frac / 10000) as i8 as u8);
            }
            3 | 4 => {
                out.extend_from_slice(&((int_part + 0x800000) as u32).to_be_bytes()[1..]);
                out.extend_from_slice(&((frac / 100) as i16).to_be_bytes());
            }
            _ => out.extend_from_slice(&((packed + 0x8000_0000_0000) as u64).to_be_bytes()[2..]),
        }
        out
    }

    #[test]
    fn time2_round_trips_including_negative_fractions() {
        for fsp in 0..=6u8 {
            for &(neg, h, m, s, us) in &[
                (false, 0, 0, 0, 0),
                (false, 12, 34, 56, 0),
                (true, 507, 48, 27, 0),
                (true, 0, 0, 0, 500_000),
                (true, 1, 2, 3, 10_000),
                (false, 838, 59, 59, 990_000),
                (true, 838, 59, 59, 990_000),
            ] {
                // Only fractions representable at this precision.
                let unit = 10i64.pow(6 - fsp as u32);
                let us = us / unit * unit;
                let bytes = enc_time2(neg, h, m, s, us, fsp);
                assert_eq!(bytes.len(), time2_len(fsp));
                let t = decode_time2(&bytes, fsp).unwrap();
                let is_zero = h == 0 && m == 0 && s == 0 && us == 0;
                assert_eq!(t.negative, neg && !is_zero, "{neg} {h} {us} fsp {fsp}");
                assert_eq!(
                    (t.hours, t.minutes, t.seconds, t.micros),
                    (h as u32, m as u8, s as u8, us as u32)
                );
            }
        }
        let t = decode_time2(&enc_time2(true, 0, 0, 0, 500_000, 1), 1).unwrap();
        assert_eq!(t.to_string(), "-00:00:00.5");
        let t = decode_time2(&enc_time2(true, 507, 48, 27, 0, 0), 0).unwrap();
        assert_eq!(t.to_string(), "-507:48:27");
        let t = decode_time2(&enc_time2(true, 1, 2, 3, 456_700, 4), 4).unwrap();
        assert_eq!(t.to_string(), "-01:02:03.4567");
    }

    #[allow(clippy::too_many_arguments)]
    fn enc_datetime2(
        y: u64,
        mo: u64,
        d: u64,
        h: u64,
        mi: u64,
        s: u64,
        us: u64,
        fsp: u8,
    ) -> Vec<u8> {
        let ymd = ((y * 13 + mo) << 5) | d;
        let hms = (h << 12) | (mi << 6) | s;
        let int_part = ((ymd << 17) | hms) + 0x80_0000_0000;
        let mut out = int_part.to_be_bytes()[3..].to_vec();
        match fsp {
            1 | 2 => out.push((us / 10000) as u8),
            3 | 4 => out.extend_from_slice(&((us / 100) as u16).to_be_bytes()),
            5 | 6 => out.extend_from_slice(&(us as u32).to_be_bytes()[1..]),
            _ => {}
        }
        out
    }

    #[test]
    fn datetime2_every_fsp() {
        let expect = [
            "2020-01-02 03:04:05",
            "2020-01-02 03:04:05.1",
            "2020-01-02 03:04:05.12",
            "2020-01-02 03:04:05.123",
            "2020-01-02 03:04:05.1234",
            "2020-01-02 03:04:05.12345",
            "2020-01-02 03:04:05.123456",
        ];
        for fsp in 0..=6u8 {
            let unit = 10u64.pow(6 - fsp as u32);
            let us = 123_456 / unit * unit;
            let b = enc_datetime2(2020, 1, 2, 3, 4, 5, us, fsp);
            assert_eq!(b.len(), datetime2_len(fsp));
            let dt = decode_datetime2(&b, fsp).unwrap();
            assert_eq!(dt.to_string(), expect[fsp as usize]);
        }
        let zero = enc_datetime2(0, 0, 0, 0, 0, 0, 0, 0);
        assert_eq!(
            decode_datetime2(&zero, 0).unwrap().to_string(),
            "0000-00-00 00:00:00"
        );
        let max = enc_datetime2(9999, 12, 31, 23, 59, 59, 999_999, 6);
        assert_eq!(
            decode_datetime2(&max, 6).unwrap().to_string(),
            "9999-12-31 23:59:59.999999"
        );
    }

    #[test]
    fn timestamp2_and_old_types() {
        let mut b = 1_577_934_245u32.to_be_bytes().to_vec();
        b.extend_from_slice(&(1234u16).to_be_bytes());
        let ts = decode_timestamp2(&b, 4).unwrap();
        assert_eq!(ts.to_string(), "1577934245.1234");
        let ts = decode_timestamp2(&b[..4], 0).unwrap();
        assert_eq!(ts.to_string(), "1577934245");

        // DATE 2020-02-29: 29 | 2 << 5 | 2020 << 9
        let v: u32 = 29 | (2 << 5) | (2020 << 9);
        let d = decode_date(&v.to_le_bytes()[..3]).unwrap();
        assert_eq!(d.to_string(), "2020-02-29");
        assert_eq!(decode_date(&[0, 0, 0]).unwrap().to_string(), "0000-00-00");

        let t = decode_time_old(&(-1_234_556i32).to_le_bytes()[..3]).unwrap();
        assert_eq!(t.to_string(), "-123:45:56");
        let dt = decode_datetime_old(&20200102030405u64.to_le_bytes()).unwrap();
        assert_eq!(dt.to_string(), "2020-01-02 03:04:05");
        assert!(decode_datetime_old(&u64::MAX.to_le_bytes()).is_err());
        let ts = decode_timestamp_old(&7u32.to_le_bytes()).unwrap();
        assert_eq!(ts.to_string(), "7");
    }

    #[test]
    fn short_input_is_an_error() {
        for fsp in 0..=6 {
            assert!(decode_time2(&[0x80, 0, 0][..2], fsp).is_err());
            assert!(decode_datetime2(&[0; 7][..datetime2_len(fsp) - 1], fsp).is_err());
            assert!(decode_timestamp2(&[0; 7][..timestamp2_len(fsp) - 1], fsp).is_err());
        }
        assert!(decode_date(&[0, 0]).is_err());
    }
}
