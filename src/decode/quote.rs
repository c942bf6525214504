//! String quoting as `mysqlbinlog` prints column values.
//!
//! Owns the one escaping rule of `my_b_write_quoted`: `\b \f \n \r \t \\ \'` escaped, other
//! bytes below 0x20 as `\xNN`, everything else (UTF-8 and binary bytes included) written raw.
//! Kept byte-exact so the decode output can be diffed against the reference tool.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `x` is below `n` (`n <= 128`), eight bytes at a time.
#[inline]
fn has_less(x: u64, n: u8) -> bool {
    x.wrapping_sub(LO * n as u64) & !x & HI != 0
}

/// Whether any byte of `x` equals `b`.
#[inline]
fn has_byte(x: u64, b: u8) -> bool {
    let y = x ^ (LO * b as u64);
    y.wrapping_sub(LO) & !y & HI != 0
}

/// Length of the leading run of `bytes` that needs no escaping, scanned a word at a time
/// (most column values need none).
#[inline]
fn plain_prefix(bytes: &[u8], mariadb: bool) -> usize {
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        let x = u64::from_le_bytes(w);
        if has_less(x, 0x20) || (!mariadb && (has_byte(x, b'\'') || has_byte(x, b'\\'))) {
            break;
        }
        i += 8;
    }
    i
}

/// Append `bytes` quoted with single quotes.
#[inline]
pub fn write_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'\'');
    let skip = plain_prefix(bytes, false);
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate().skip(skip) {
        if b >= 0x20 && b != b'\\' && b != b'\'' {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        match b {
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\'"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'x',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
            }
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'\'');
}

/// Append `bytes` quoted as `mariadb-binlog` does: every byte below 0x20 as `\xNN`, quotes and
/// backslashes left as they are.
#[inline]
pub fn write_quoted_mariadb(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() + 2);
    out.push(b'\'');
    let skip = plain_prefix(bytes, true);
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate().skip(skip) {
        if b >= 0x20 {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        out.extend_from_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'\'');
}

/// Append an identifier in backquotes, doubling any backquote inside.
pub fn write_identifier(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'`');
    for &b in name {
        if b == b'`' {
            out.push(b'`');
        }
        out.push(b);
    }
    out.push(b'`');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_scan_agrees_with_bytewise() {
        // Every byte value at every position of a 19-byte string, both styles.
        for pos in 0..19 {
            for b in 0..=255u8 {
                let mut s = vec![b'a'; 19];
                s[pos] = b;
                let mut fast = Vec::new();
                write_quoted(&mut fast, &s);
                let mut slow = vec![b'\''];
                for &c in &s {
                    let mut one = Vec::new();
                    write_quoted(&mut one, &[c]);
                    slow.extend_from_slice(&one[1..one.len() - 1]);
                }
                slow.push(b'\'');
                assert_eq!(fast, slow, "byte {b:#x} at {pos}");
                let mut m = Vec::new();
                write_quoted_mariadb(&mut m, &s);
                let expect_plain = b >= 0x20;
                assert_eq!(
                    m.len() == s.len() + 2,
                    expect_plain,
                    "mariadb byte {b:#x} at {pos}"
                );
            }
        }
    }

    #[test]
    fn escapes_like_mysqlbinlog() {
        let mut o = Vec::new();
        write_quoted(&mut o, b"a'b\\c\n\t\x00\x1f\x7f\xe4\xb8\xad\x08\x0c\r");
        assert_eq!(
            o,
            b"'a\\'b\\\\c\\n\\t\\x00\\x1f\x7f\xe4\xb8\xad\\b\\f\\r'".to_vec()
        );
        let mut o = Vec::new();
        write_quoted_mariadb(&mut o, b"q'uo\\te\t\n");
        assert_eq!(o, b"'q'uo\\te\\x09\\x0a'".to_vec());
        let mut o = Vec::new();
        write_identifier(&mut o, b"we`ird");
        assert_eq!(o, b"`we``ird`");
    }
}
