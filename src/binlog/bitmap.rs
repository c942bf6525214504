//! A borrowed bit array in the binlog's LSB-first layout.
//!
//! Owns [`Bitmap`]: the column-presence bitmaps of rows events, the NULL bitmaps of row images,
//! the TABLE_MAP nullability bitmap and the PARTIAL_UPDATE JSON bitmap all store bit `i` in
//! byte `i / 8` at position `i % 8` (least significant first). It does not know what the bits
//! mean. TABLE_MAP's optional SIGNEDNESS and COLUMN_VISIBILITY fields are MSB-first and are
//! read by `table_map` itself.

use super::cursor::Cursor;
use super::error::Result;

/// `len` bits borrowed from event bytes; bit `i` is `bytes[i / 8] >> (i % 8) & 1`.
///
/// Zero-copy so that reading a rows event allocates nothing; bits past `len` (the padding of
/// the last byte) are ignored by every method.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Bitmap<'a> {
    bytes: &'a [u8],
    len: usize,
}

impl<'a> Bitmap<'a> {
    /// Wrap `bytes` as a bitmap of `len` bits. `len` is clamped to the bits `bytes` holds so
    /// that no accessor can read out of bounds.
    #[inline]
    pub fn new(bytes: &'a [u8], len: usize) -> Self {
        Bitmap {
            bytes,
            len: len.min(bytes.len().saturating_mul(8)),
        }
    }

    /// Read a bitmap of `len` bits (`(len + 7) / 8` bytes) from `c`.
    #[inline]
    pub fn read(c: &mut Cursor<'a>, len: usize, what: &'static str) -> Result<Self> {
        let bytes = c.bytes(len.div_ceil(8), what)?;
        Ok(Bitmap { bytes, len })
    }

    /// Number of bits.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The underlying bytes (including the padding bits of the last byte).
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Bit `i`; `false` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        if i >= self.len {
            return false;
        }
        // `len <= bytes.len() * 8` is an invariant, so this index is in bounds.
        (self.bytes[i >> 3] >> (i & 7)) & 1 != 0
    }

    /// How many of the `len` bits are set.
    pub fn count_ones(&self) -> usize {
        let full = self.len / 8;
        let mut n: usize = self.bytes[..full]
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum();
        let rem = self.len % 8;
        if rem != 0 {
            n += (self.bytes[full] & ((1u8 << rem) - 1)).count_ones() as usize;
        }
        n
    }

    /// Whether all `len` bits are set (the common full row image), which lets the row decoder
    /// skip per-column presence checks.
    pub fn all_set(&self) -> bool {
        self.count_ones() == self.len
    }

    /// Every bit in order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + 'a {
        let b = *self;
        (0..b.len).map(move |i| b.get(i))
    }

    /// Indexes of the set bits, in increasing order.
    pub fn ones(&self) -> impl Iterator<Item = usize> + 'a {
        let b = *self;
        (0..b.len).filter(move |&i| b.get(i))
    }
}

impl std::fmt::Debug for Bitmap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitmap(")?;
        for bit in self.iter() {
            f.write_str(if bit { "1" } else { "0" })?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_lsb_first_and_padding_is_ignored() {
        let b = Bitmap::new(&[0b1000_0101, 0xff], 10);
        let bits: Vec<bool> = b.iter().collect();
        assert_eq!(
            bits,
            [
                true, false, true, false, false, false, false, true, true, true
            ]
        );
        assert_eq!(b.count_ones(), 5);
        assert!(!b.get(10));
        assert!(!b.get(usize::MAX));
        assert_eq!(b.ones().collect::<Vec<_>>(), [0, 2, 7, 8, 9]);
        assert!(!b.all_set());
        assert!(Bitmap::new(&[0xff, 0x03], 10).all_set());
    }

    #[test]
    fn new_clamps_len() {
        let b = Bitmap::new(&[0xff], 100);
        assert_eq!(b.len(), 8);
        assert_eq!(b.count_ones(), 8);
    }

    #[test]
    fn read_consumes_whole_bytes() {
        let mut c = Cursor::new(&[1, 2, 3]);
        let b = Bitmap::read(&mut c, 9, "x").unwrap();
        assert_eq!(b.len(), 9);
        assert_eq!(c.remaining(), 1);
        assert!(Bitmap::read(&mut c, 9, "x").is_err());
    }
}
