//! String quoting as `mysqlbinlog` prints column values.
//!
//! Owns the one escaping rule of `my_b_write_quoted`: `\b \f \n \r \t \\ \'` escaped, other
//! bytes below 0x20 as `\xNN`, everything else (UTF-8 and binary bytes included) written raw.
//! Kept byte-exact so the decode output can be diffed against the reference tool.

/// Append `bytes` quoted with single quotes.
#[inline]
pub fn write_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'\'');
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
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
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
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
