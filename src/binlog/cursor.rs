//! A bounds-checked reader over a borrowed byte slice.
//!
//! Every binlog decoder reads through [`Cursor`] so that no index can go out of bounds: each
//! read either returns borrowed bytes or a [`BinlogError::Truncated`] naming the field. It owns
//! no knowledge of the binlog format beyond MySQL's integer encodings.

use super::error::{BinlogError, Result};

/// A position in a borrowed byte slice; reads advance it.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

macro_rules! le_reader {
    ($name:ident, $ty:ty, $n:expr) => {
        #[doc = concat!("Read a little-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $name(&mut self, what: &'static str) -> Result<$ty> {
            let b = self.array::<$n>(what)?;
            Ok(<$ty>::from_le_bytes(b))
        }
    };
}

impl<'a> Cursor<'a> {
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The unread bytes, without consuming them.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consume and return every unread byte.
    #[inline]
    pub fn take_rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }

    #[inline]
    fn truncated(&self, what: &'static str, needed: usize) -> BinlogError {
        BinlogError::Truncated {
            what,
            needed,
            available: self.remaining(),
        }
    }

    /// Borrow the next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(self.truncated(what, n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<()> {
        self.bytes(n, what).map(|_| ())
    }

    #[inline]
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.bytes(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        if self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            self.pos += 1;
            Ok(b)
        } else {
            Err(self.truncated(what, 1))
        }
    }

    le_reader!(u16_le, u16, 2);
    le_reader!(u32_le, u32, 4);
    le_reader!(u64_le, u64, 8);
    le_reader!(i8_le, i8, 1);
    le_reader!(i16_le, i16, 2);
    le_reader!(i32_le, i32, 4);
    le_reader!(i64_le, i64, 8);
    le_reader!(f32_le, f32, 4);
    le_reader!(f64_le, f64, 8);

    /// Read an unsigned little-endian integer of `n` bytes (`n <= 8`), e.g. 3-byte MEDIUMINT
    /// or the 6-byte table id.
    #[inline]
    pub fn uint_le(&mut self, n: usize, what: &'static str) -> Result<u64> {
        debug_assert!(n <= 8);
        let s = self.bytes(n.min(8), what)?;
        let mut v = 0u64;
        for (i, b) in s.iter().enumerate() {
            v |= (*b as u64) << (8 * i);
        }
        Ok(v)
    }

    /// Read an unsigned big-endian integer of `n` bytes (`n <= 8`), as temporal and DECIMAL
    /// columns store them.
    #[inline]
    pub fn uint_be(&mut self, n: usize, what: &'static str) -> Result<u64> {
        debug_assert!(n <= 8);
        let s = self.bytes(n.min(8), what)?;
        let mut v = 0u64;
        for b in s {
            v = (v << 8) | *b as u64;
        }
        Ok(v)
    }

    /// Read MySQL's length-encoded ("packed") integer.
    #[inline]
    pub fn lenenc_int(&mut self, what: &'static str) -> Result<u64> {
        let first = self.u8(what)?;
        match first {
            0..=250 => Ok(first as u64),
            252 => self.uint_le(2, what),
            253 => self.uint_le(3, what),
            254 => self.uint_le(8, what),
            // 251 is NULL in result sets; in binlog packed ints it never appears. 255 is invalid.
            _ => Err(BinlogError::invalid(
                what,
                format!("bad length-encoded integer prefix {first:#04x}"),
            )),
        }
    }

    /// Read a length-encoded integer then that many bytes.
    #[inline]
    pub fn lenenc_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let n = self.lenenc_int(what)?;
        let n = usize::try_from(n).map_err(|_| self.truncated(what, usize::MAX))?;
        self.bytes(n, what)
    }

    /// Read a one-byte length then that many bytes.
    #[inline]
    pub fn u8_prefixed(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let n = self.u8(what)? as usize;
        self.bytes(n, what)
    }

    /// Read bytes up to (not including) a NUL, consuming the NUL.
    #[inline]
    pub fn nul_terminated(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let rest = self.rest();
        match memchr::memchr(0, rest) {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(BinlogError::invalid(what, "missing NUL terminator")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integers_and_reports_truncation() {
        let mut c = Cursor::new(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(c.u16_le("a").unwrap(), 0x0201);
        assert_eq!(c.uint_le(3, "b").unwrap(), 0x050403);
        assert_eq!(c.uint_be(2, "c").unwrap(), 0x0607);
        let err = c.u8("d").unwrap_err();
        assert!(matches!(
            err,
            BinlogError::Truncated {
                what: "d",
                needed: 1,
                available: 0
            }
        ));
    }

    #[test]
    fn lenenc() {
        let mut c = Cursor::new(&[
            0xfa, 0xfc, 0x01, 0x02, 0xfd, 1, 0, 0, 0xfe, 1, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert_eq!(c.lenenc_int("x").unwrap(), 250);
        assert_eq!(c.lenenc_int("x").unwrap(), 0x0201);
        assert_eq!(c.lenenc_int("x").unwrap(), 1);
        assert_eq!(c.lenenc_int("x").unwrap(), 1);
        assert!(Cursor::new(&[0xff]).lenenc_int("x").is_err());
        assert!(Cursor::new(&[0xfe, 1]).lenenc_int("x").is_err());
    }
}
