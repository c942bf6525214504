//! Primitive wire types of the client/server protocol: fixed little-endian integers,
//! length-encoded integers and strings, NUL-terminated strings.
//!
//! A bounds-checked [`Reader`] over one payload and small `put_*` writers over `Vec<u8>`.
//! It owns no message layouts (those live in the files named after them) and never panics on
//! short input: a short read is [`ProtocolError::Malformed`].

use super::error::{ProtocolError, Result};

/// A cursor over one packet payload. Every read names the structure being read so a short
/// packet produces a useful error.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, what }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(ProtocolError::malformed(
                self.what,
                format!(
                    "needed {n} more bytes at offset {}, {} available",
                    self.pos,
                    self.remaining()
                ),
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24(&mut self) -> Result<u32> {
        let b = self.bytes(3)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length-encoded integer; `None` for the NULL marker 0xFB.
    pub(crate) fn lenenc_int_or_null(&mut self) -> Result<Option<u64>> {
        let first = self.u8()?;
        Ok(Some(match first {
            0..=0xfa => u64::from(first),
            0xfb => return Ok(None),
            0xfc => u64::from(self.u16()?),
            0xfd => u64::from(self.u24()?),
            0xfe => self.u64()?,
            0xff => {
                return Err(ProtocolError::malformed(
                    self.what,
                    format!(
                        "0xff is not a length-encoded integer (offset {})",
                        self.pos - 1
                    ),
                ));
            }
        }))
    }

    pub(crate) fn lenenc_int(&mut self) -> Result<u64> {
        self.lenenc_int_or_null()?.ok_or_else(|| {
            ProtocolError::malformed(self.what, "unexpected NULL length-encoded integer")
        })
    }

    /// A length-encoded string; `None` for NULL.
    pub(crate) fn lenenc_bytes_or_null(&mut self) -> Result<Option<&'a [u8]>> {
        match self.lenenc_int_or_null()? {
            None => Ok(None),
            Some(n) => {
                let n = usize::try_from(n).map_err(|_| {
                    ProtocolError::malformed(self.what, format!("length {n} too large"))
                })?;
                self.bytes(n).map(Some)
            }
        }
    }

    pub(crate) fn lenenc_bytes(&mut self) -> Result<&'a [u8]> {
        self.lenenc_bytes_or_null()?
            .ok_or_else(|| ProtocolError::malformed(self.what, "unexpected NULL string"))
    }

    /// Bytes up to (not including) the next NUL, which is consumed. Without a NUL, an error.
    pub(crate) fn nul_bytes(&mut self) -> Result<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        match memchr::memchr(0, rest) {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(ProtocolError::malformed(
                self.what,
                format!("missing NUL terminator after offset {}", self.pos),
            )),
        }
    }

    /// Bytes up to the next NUL (consumed) or the end of the payload.
    pub(crate) fn nul_or_eof_bytes(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        match memchr::memchr(0, rest) {
            Some(i) => {
                self.pos += i + 1;
                &rest[..i]
            }
            None => self.rest(),
        }
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_lenenc_int(out: &mut Vec<u8>, v: u64) {
    if v < 0xfb {
        out.push(v as u8);
    } else if v <= 0xffff {
        out.push(0xfc);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v <= 0xff_ffff {
        out.push(0xfd);
        out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
    } else {
        out.push(0xfe);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

pub(crate) fn put_lenenc_bytes(out: &mut Vec<u8>, v: &[u8]) {
    put_lenenc_int(out, v.len() as u64);
    out.extend_from_slice(v);
}

pub(crate) fn put_nul_bytes(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(v);
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trip() {
        for v in [
            0u64,
            1,
            250,
            251,
            252,
            0xffff,
            0x1_0000,
            0xff_ffff,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, v);
            let mut r = Reader::new(&out, "test");
            assert_eq!(r.lenenc_int().unwrap(), v, "{v}");
            assert!(r.is_empty());
        }
    }

    #[test]
    fn null_and_short_reads() {
        let mut r = Reader::new(&[0xfb], "test");
        assert_eq!(r.lenenc_bytes_or_null().unwrap(), None);
        let mut r = Reader::new(&[0x05, b'a'], "test");
        assert!(r.lenenc_bytes().is_err());
        let mut r = Reader::new(&[0xff], "test");
        assert!(r.lenenc_int().is_err());
        let mut r = Reader::new(b"abc", "test");
        assert!(r.nul_bytes().is_err());
        let mut r = Reader::new(b"abc", "test");
        assert_eq!(r.nul_or_eof_bytes(), b"abc");
        let mut r = Reader::new(&[1, 2], "test");
        assert!(r.u32().is_err());
    }
}
