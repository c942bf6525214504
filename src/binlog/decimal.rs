//! MySQL's binary DECIMAL format: its size and its exact text.
//!
//! Owns the layout rules of `decimal2bin` (9 digits per 4 big-endian bytes, a shorter leading and
//! trailing group, the sign in the top bit, negatives stored inverted) and the text MySQL prints
//! for a value (`decimal2string`: no leading zeros, exactly `scale` fraction digits). It does
//! not read rows (the row decoder slices the bytes with [`decimal_bin_len`]) and never goes
//! through floating point.

use std::fmt;

use crate::binlog::value::Decimal;

/// Bytes needed for a group of 0..=9 leftover digits.
const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
const DIGITS_PER_GROUP: usize = 9;

/// Largest precision MySQL and MariaDB accept for DECIMAL.
pub const MAX_PRECISION: u8 = 65;
/// Largest scale MySQL and MariaDB accept for DECIMAL.
pub const MAX_SCALE: u8 = 30;

/// Size in bytes of a DECIMAL(precision, scale) value in a row image.
///
/// The row decoder calls this once per column when it is compiled, so that decoding a row only
/// slices bytes. `scale > precision` is not a valid column; it is computed as if the integer
/// part were empty.
pub fn decimal_bin_len(precision: u8, scale: u8) -> usize {
    let intg = precision.saturating_sub(scale) as usize;
    let frac = scale as usize;
    (intg / DIGITS_PER_GROUP) * 4
        + DIG2BYTES[intg % DIGITS_PER_GROUP]
        + (frac / DIGITS_PER_GROUP) * 4
        + DIG2BYTES[frac % DIGITS_PER_GROUP]
}

/// Reads the groups of a binary decimal with the sign applied, so callers see plain digits.
struct Groups<'a> {
    bin: &'a [u8],
    pos: usize,
    /// 0xff for negative values (stored bit-inverted), 0 otherwise.
    mask: u8,
}

impl<'a> Groups<'a> {
    fn new(bin: &'a [u8]) -> Self {
        let negative = bin.first().is_some_and(|b| b & 0x80 == 0);
        Groups {
            bin,
            pos: 0,
            mask: if negative { 0xff } else { 0 },
        }
    }

    fn negative(&self) -> bool {
        self.mask != 0
    }

    /// Read a big-endian group of `n` bytes. Missing bytes (a `Decimal` built by hand with the
    /// wrong length) read as zero digits rather than panicking.
    #[inline]
    fn take(&mut self, n: usize) -> u32 {
        let mut v = 0u32;
        for _ in 0..n {
            let mut b = self.bin.get(self.pos).copied().unwrap_or(self.mask) ^ self.mask;
            if self.pos == 0 {
                b ^= 0x80; // the sign bit
            }
            v = (v << 8) | b as u32;
            self.pos += 1;
        }
        v
    }
}

/// Append `v` as exactly `width` decimal digits (zero-padded). Values wider than `width`
/// (corrupt groups) print all their digits rather than being cut.
#[inline]
fn push_padded(out: &mut String, v: u32, width: usize) {
    let mut buf = itoa::Buffer::new();
    let s = buf.format(v);
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(s);
}

/// Append the exact text of `d` to `out`, as MySQL's `decimal2string` prints it: an optional
/// `-`, the integer part without leading zeros (`0` when empty), and when `scale > 0` a point
/// and exactly `scale` digits. `DECIMAL(5,2)` -0.5 prints `-0.50`.
///
/// Allocates nothing besides growing `out`; used by the renderer and SQL generation on every
/// DECIMAL value.
pub fn write_decimal(d: &Decimal, out: &mut String) {
    let precision = d.precision as usize;
    let scale = (d.scale as usize).min(precision);
    let intg = precision - scale;
    let mut g = Groups::new(d.bin);
    if g.negative() {
        out.push('-');
    }

    // Integer part: a leading group of intg % 9 digits, then full groups of 9.
    let lead_digits = intg % DIGITS_PER_GROUP;
    let mut started = false;
    if lead_digits > 0 {
        let v = g.take(DIG2BYTES[lead_digits]);
        if v != 0 {
            push_padded(out, v, 0);
            started = true;
        }
    }
    for _ in 0..intg / DIGITS_PER_GROUP {
        let v = g.take(4);
        if started {
            push_padded(out, v, DIGITS_PER_GROUP);
        } else if v != 0 {
            push_padded(out, v, 0);
            started = true;
        }
    }
    if !started {
        out.push('0');
    }

    if scale > 0 {
        out.push('.');
        for _ in 0..scale / DIGITS_PER_GROUP {
            let v = g.take(4);
            push_padded(out, v, DIGITS_PER_GROUP);
        }
        let trail_digits = scale % DIGITS_PER_GROUP;
        if trail_digits > 0 {
            let v = g.take(DIG2BYTES[trail_digits]);
            push_padded(out, v, trail_digits);
        }
    }
}

impl fmt::Display for Decimal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(self.precision as usize + 3);
        write_decimal(self, &mut s);
        f.write_str(&s)
    }
}

impl Decimal<'_> {
    /// Whether the bytes are a well-formed value of this precision and scale: the right length
    /// and no group above its digit count (MySQL's `bin2decimal` rejects those too).
    pub fn is_valid(&self) -> bool {
        if self.precision > MAX_PRECISION
            || self.scale > self.precision
            || self.bin.len() != decimal_bin_len(self.precision, self.scale)
        {
            return false;
        }
        let intg = (self.precision - self.scale) as usize;
        let scale = self.scale as usize;
        let mut g = Groups::new(self.bin);
        let fits = |v: u32, digits: usize| (v as u64) < 10u64.pow(digits as u32);
        let lead = intg % DIGITS_PER_GROUP;
        if lead > 0 && !fits(g.take(DIG2BYTES[lead]), lead) {
            return false;
        }
        for _ in 0..intg / DIGITS_PER_GROUP + scale / DIGITS_PER_GROUP {
            if !fits(g.take(4), DIGITS_PER_GROUP) {
                return false;
            }
        }
        let trail = scale % DIGITS_PER_GROUP;
        trail == 0 || fits(g.take(DIG2BYTES[trail]), trail)
    }

    /// The value times `10^scale` as an integer, e.g. `-0.50` in DECIMAL(5,2) is `-50`.
    ///
    /// Cheap exact arithmetic for callers that compare or convert values; `None` when the value
    /// does not fit in an `i128` (more than 38 digits) or the bytes are malformed.
    pub fn to_i128_scaled(&self) -> Option<i128> {
        if !self.is_valid() {
            return None;
        }
        let intg = (self.precision - self.scale) as usize;
        let scale = self.scale as usize;
        let mut g = Groups::new(self.bin);
        let mut acc: i128 = 0;
        let mut push = |v: u32, digits: usize| -> Option<()> {
            acc = acc
                .checked_mul(10i128.pow(digits as u32))?
                .checked_add(v as i128)?;
            Some(())
        };
        let lead = intg % DIGITS_PER_GROUP;
        if lead > 0 {
            push(g.take(DIG2BYTES[lead]), lead)?;
        }
        for _ in 0..intg / DIGITS_PER_GROUP + scale / DIGITS_PER_GROUP {
            push(g.take(4), DIGITS_PER_GROUP)?;
        }
        let trail = scale % DIGITS_PER_GROUP;
        if trail > 0 {
            push(g.take(DIG2BYTES[trail]), trail)?;
        }
        Some(if g.negative() { -acc } else { acc })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Encode a decimal string the way MySQL's `decimal2bin` does (test helper).
    pub(crate) fn encode(text: &str, precision: u8, scale: u8) -> Vec<u8> {
        let negative = text.starts_with('-');
        let t = text.trim_start_matches('-');
        let (ip, fp) = t.split_once('.').unwrap_or((t, ""));
        let intg = (precision - scale) as usize;
        let scale = scale as usize;
        let ip = ip.trim_start_matches('0');
        let ip = format!("{ip:0>intg$}");
        let fp = format!("{fp:0<scale$}");
        assert_eq!(ip.len(), intg, "integer part too long");
        let mut out = Vec::new();
        let mut put = |digits: &str, nbytes: usize| {
            let v: u32 = if digits.is_empty() {
                0
            } else {
                digits.parse().unwrap()
            };
            for i in (0..nbytes).rev() {
                out.push((v >> (8 * i)) as u8);
            }
        };
        let lead = intg % 9;
        put(&ip[..lead], DIG2BYTES[lead]);
        for i in 0..intg / 9 {
            put(&ip[lead + 9 * i..lead + 9 * i + 9], 4);
        }
        for i in 0..scale / 9 {
            put(&fp[9 * i..9 * i + 9], 4);
        }
        let trail = scale % 9;
        put(&fp[scale - trail..], DIG2BYTES[trail]);
        if let Some(b) = out.first_mut() {
            *b ^= 0x80;
        }
        if negative {
            for b in &mut out {
                *b = !*b;
            }
        }
        out
    }

    fn text(bin: &[u8], precision: u8, scale: u8) -> String {
        Decimal {
            precision,
            scale,
            bin,
        }
        .to_string()
    }

    fn roundtrip(s: &str, p: u8, sc: u8, expect: &str) {
        let bin = encode(s, p, sc);
        assert_eq!(bin.len(), decimal_bin_len(p, sc), "{s}");
        assert_eq!(text(&bin, p, sc), expect, "{s} as DECIMAL({p},{sc})");
        let d = Decimal {
            precision: p,
            scale: sc,
            bin: &bin,
        };
        assert!(d.is_valid());
    }

    #[test]
    fn bin_len_matches_mysql() {
        assert_eq!(decimal_bin_len(10, 2), 5); // 8 int digits: 4 bytes, 2 frac: 1 byte
        assert_eq!(decimal_bin_len(14, 4), 7); // 10 int digits: 4+1, 4 frac: 2
        assert_eq!(decimal_bin_len(65, 30), 30);
        assert_eq!(decimal_bin_len(65, 0), 29); // 7 groups of 9 + 2 digits
        assert_eq!(decimal_bin_len(1, 0), 1);
        assert_eq!(decimal_bin_len(9, 9), 4);
    }

    #[test]
    fn texts() {
        roundtrip("-0.5", 5, 2, "-0.50");
        roundtrip("123.45", 10, 4, "123.4500");
        roundtrip("0", 10, 2, "0.00");
        roundtrip("0", 5, 0, "0");
        roundtrip("-7", 5, 0, "-7");
        roundtrip("1234567890.12", 14, 2, "1234567890.12");
        roundtrip("-1234567890.123456789", 20, 9, "-1234567890.123456789");
        roundtrip("0.000000001", 10, 9, "0.000000001");
        roundtrip("100000000", 9, 0, "100000000");
        roundtrip("1000000000", 10, 0, "1000000000");
        let big = "9".repeat(65);
        roundtrip(&big, 65, 0, &big);
        let s = format!("-{}.{}", "9".repeat(35), "9".repeat(30));
        roundtrip(&s, 65, 30, &s);
        roundtrip("0.1", 1, 1, "0.1");
    }

    #[test]
    fn scaled_integer() {
        let bin = encode("-0.5", 5, 2);
        let d = Decimal {
            precision: 5,
            scale: 2,
            bin: &bin,
        };
        assert_eq!(d.to_i128_scaled(), Some(-50));
        let big = encode(&"9".repeat(65), 65, 0);
        let d = Decimal {
            precision: 65,
            scale: 0,
            bin: &big,
        };
        assert_eq!(d.to_i128_scaled(), None);
    }

    #[test]
    fn malformed_never_panics() {
        for len in 0..8 {
            let bin = vec![0x7fu8; len];
            let d = Decimal {
                precision: 10,
                scale: 3,
                bin: &bin,
            };
            let _ = d.to_string();
            assert!(!d.is_valid() || len == decimal_bin_len(10, 3));
        }
        // Group above 999999999 is invalid but still prints.
        let d = Decimal {
            precision: 9,
            scale: 0,
            bin: &[0xff, 0xff, 0xff, 0xff],
        };
        assert!(!d.is_valid());
        let _ = d.to_string();
        let d = Decimal {
            precision: 200,
            scale: 250,
            bin: &[],
        };
        let _ = d.to_string();
    }
}
