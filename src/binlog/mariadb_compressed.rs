//! MariaDB's compressed event payloads (`log_bin_compress`).
//!
//! Owns the one framing MariaDB uses for QUERY_COMPRESSED and the *_ROWS_COMPRESSED events: a
//! header byte (`0x80 | lenlen`, algorithm in bits 4-6, 0 = zlib), the uncompressed length in
//! `lenlen` big-endian bytes, then a zlib stream. Callers pick which part of the event is framed.

use std::io::Read;

use super::error::{BinlogError, Result};

/// Largest expansion accepted, so that a corrupt length cannot ask for unbounded memory.
const MAX_UNCOMPRESSED: usize = 1 << 30;
/// Most memory reserved up front on the strength of the header's length alone.
const PREALLOC_LIMIT: usize = 16 << 20;

/// Expand a MariaDB-compressed buffer.
pub fn decompress(src: &[u8], what: &'static str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decompress_into(src, what, &mut out)?;
    Ok(out)
}

/// Expand into `out` (cleared first), reusing its allocation.
pub fn decompress_into(src: &[u8], what: &'static str, out: &mut Vec<u8>) -> Result<()> {
    let Some(&head) = src.first() else {
        return Err(BinlogError::Truncated {
            what,
            needed: 1,
            available: 0,
        });
    };
    if head & 0x80 == 0 {
        return Err(BinlogError::invalid(
            what,
            format!("bad compression header {head:#04x}"),
        ));
    }
    let alg = (head >> 4) & 0x07;
    if alg != 0 {
        return Err(BinlogError::unsupported(
            what,
            format!("compression algorithm {alg}"),
        ));
    }
    let lenlen = (head & 0x07) as usize;
    if lenlen == 0 || lenlen > 4 || src.len() < 1 + lenlen {
        return Err(BinlogError::invalid(
            what,
            format!("bad length size {lenlen}"),
        ));
    }
    let mut len = 0usize;
    for b in &src[1..1 + lenlen] {
        len = (len << 8) | *b as usize;
    }
    if len > MAX_UNCOMPRESSED {
        return Err(BinlogError::invalid(
            what,
            format!("uncompressed length {len} too large"),
        ));
    }
    out.clear();
    // The length is only a claim until the stream backs it: reserve what it can plausibly
    // expand to (deflate's ratio is at most 1032:1) and let the vector grow past that.
    out.reserve(len.min(src.len().saturating_mul(1032)).min(PREALLOC_LIMIT));
    let mut z = flate2::read::ZlibDecoder::new(&src[1 + lenlen..]).take(len as u64 + 1);
    z.read_to_end(out).map_err(|e| BinlogError::Decompress {
        what,
        detail: e.to_string(),
    })?;
    if out.len() != len {
        return Err(BinlogError::Decompress {
            what,
            detail: format!("expanded to {} bytes, header says {len}", out.len()),
        });
    }
    Ok(())
}

/// Compress in MariaDB's framing (used by tests and the file writer).
pub fn compress(src: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let len = src.len();
    let lenlen = if len < 1 << 8 {
        1
    } else if len < 1 << 16 {
        2
    } else if len < 1 << 24 {
        3
    } else {
        4
    };
    let mut out = vec![0x80 | lenlen as u8];
    for i in (0..lenlen).rev() {
        out.push((len >> (8 * i)) as u8);
    }
    let mut z = flate2::write::ZlibEncoder::new(out, flate2::Compression::default());
    z.write_all(src).expect("writing to a Vec cannot fail");
    z.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        for n in [0usize, 5, 300, 70000] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let c = compress(&data);
            assert_eq!(decompress(&c, "t").unwrap(), data);
            for cut in 0..c.len().min(40) {
                let _ = decompress(&c[..cut], "t");
            }
        }
        assert!(decompress(&[0x00, 1], "t").is_err());
        assert!(decompress(&[0x81, 10, 1, 2, 3], "t").is_err());
    }
}
