//! MariaDB compressed columns (`TEXT COMPRESSED`, `VARCHAR(n) COMPRESSED`, binlog column types
//! 140 `BLOB_COMPRESSED` and 141 `VARCHAR_COMPRESSED`): the stored value format.
//!
//! Owns the value layout of MariaDB's `field_comp.cc`: an empty value is empty; otherwise one
//! header byte, whose bits 4-7 name the method (0 = stored uncompressed, 8 = zlib), bit 3 says
//! a raw deflate stream (no zlib wrapper, `column_compression_zlib_wrap=OFF`, the default) and
//! bits 0-2 give how many big-endian bytes of original length follow; then the data. The row
//! image carries these stored bytes (`mariadb-binlog -vv` prints them as they are); readers
//! that want the value decompress it here. Never panics; the output is bounded by the stored
//! original length, itself bounded by the caller's limit.

use std::io::Read as _;

use super::error::{BinlogError, Result};
use super::row_decoder::ColumnKind;

const W: &str = "compressed column value";

/// The longest value a compressed column of kind `kind` holds (the cap for
/// [`decompress_column`]); no value is longer than 1 GiB (`max_allowed_packet`'s maximum).
pub fn value_limit(kind: ColumnKind) -> usize {
    const MAX: usize = 1 << 30;
    match kind {
        ColumnKind::VarCharCompressed { max_len, .. } => (max_len as usize).saturating_sub(1),
        ColumnKind::BlobCompressed { len_bytes } if len_bytes < 4 => {
            (1usize << (8 * len_bytes as usize)) - 1
        }
        _ => MAX,
    }
}

/// The value of a compressed column's stored bytes `stored`, appended to `out`. `limit` caps
/// the original length (the column's maximum; anything longer is malformed).
pub fn decompress_column(stored: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<()> {
    let Some((&header, rest)) = stored.split_first() else {
        return Ok(());
    };
    let method = header >> 4;
    if method == 0 {
        // Stored uncompressed (too short to gain, or compression off): the bytes follow.
        if header != 0 {
            return Err(BinlogError::invalid(
                W,
                format!("header {header:#04x} of an uncompressed value"),
            ));
        }
        out.extend_from_slice(rest);
        return Ok(());
    }
    if method != 8 {
        return Err(BinlogError::invalid(
            W,
            format!("unknown compression method {method} (header {header:#04x})"),
        ));
    }
    let raw = header & 0x08 != 0;
    let lenlen = (header & 0x07) as usize;
    if lenlen == 0 || lenlen > 4 {
        return Err(BinlogError::invalid(
            W,
            format!("{lenlen} bytes of original length (header {header:#04x})"),
        ));
    }
    let len_bytes = rest.get(..lenlen).ok_or(BinlogError::Truncated {
        what: W,
        needed: lenlen + 1,
        available: stored.len(),
    })?;
    let len = len_bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    if len > limit {
        return Err(BinlogError::invalid(
            W,
            format!("original length {len} above the column's {limit}"),
        ));
    }
    let data = &rest[lenlen..];
    let start = out.len();
    out.reserve(len);
    let read = if raw {
        flate2::read::DeflateDecoder::new(data)
            .take(len as u64 + 1)
            .read_to_end(out)
    } else {
        flate2::read::ZlibDecoder::new(data)
            .take(len as u64 + 1)
            .read_to_end(out)
    };
    let n = read.map_err(|e| BinlogError::invalid(W, format!("inflate: {e}")))?;
    if n != len {
        out.truncate(start);
        return Err(BinlogError::invalid(
            W,
            format!("inflated to {n} bytes, the header says {len}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn compress(data: &[u8], raw: bool) -> Vec<u8> {
        let lenlen = if data.len() > 255 { 2 } else { 1 };
        let mut v = vec![0x80 | if raw { 8 } else { 0 } | lenlen as u8];
        v.extend_from_slice(&(data.len() as u32).to_be_bytes()[4 - lenlen..]);
        if raw {
            let mut e = flate2::write::DeflateEncoder::new(v, flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            let mut e = flate2::write::ZlibEncoder::new(v, flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }

    #[test]
    fn stored_raw_and_wrapped() {
        let mut out = Vec::new();
        decompress_column(b"", 10, &mut out).unwrap();
        assert!(out.is_empty());
        decompress_column(b"\x00short", 10, &mut out).unwrap();
        assert_eq!(out, b"short");
        let text = "hello ".repeat(50);
        for raw in [true, false] {
            let mut out = Vec::new();
            decompress_column(&compress(text.as_bytes(), raw), 1000, &mut out).unwrap();
            assert_eq!(out, text.as_bytes());
        }
    }

    #[test]
    fn malformed_values_are_errors() {
        let good = compress(&[7u8; 300], true);
        let mut out = Vec::new();
        assert!(
            decompress_column(&good, 299, &mut out).is_err(),
            "over the limit"
        );
        assert!(decompress_column(b"\x01x", 10, &mut out).is_err());
        assert!(decompress_column(b"\x90\x01x", 10, &mut out).is_err());
        assert!(decompress_column(b"\x88", 10, &mut out).is_err());
        for cut in 0..good.len() {
            let mut out = Vec::new();
            let _ = decompress_column(&good[..cut], 1000, &mut out);
        }
        let mut bad = good.clone();
        bad[1] = 0x02; // the length says 0x022c, the data holds 300 bytes
        assert!(decompress_column(&bad, 1000, &mut out).is_err());
    }
}
