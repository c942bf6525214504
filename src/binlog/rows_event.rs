//! Rows events (WRITE/UPDATE/DELETE v1 and v2, PARTIAL_UPDATE_ROWS) and iteration over their
//! row images.
//!
//! Owns the event layout: table id, flags, the v2 extra data, the column count, the column
//! presence bitmaps (one, or two for updates), and the rows data, which is a sequence of row
//! images: before/after for updates, with PARTIAL_UPDATE_ROWS after images preceded by their
//! value options and the bitmap of JSON columns stored as diffs. Decoding the values of one
//! image is the job of [`RowDecoder`]; MariaDB's compressed variants are expanded by the
//! stream layer, which then builds an event over the expanded bytes with
//! [`RowsEvent::with_rows_data`].

use super::bitmap::Bitmap;
use super::cursor::Cursor;
use super::error::{BinlogError, Result};
use super::event_type::RowsKind;
use super::row_decoder::RowDecoder;
use super::value::Value;

const W: &str = "rows event";

/// Flag bits of a rows event.
pub mod flags {
    /// Last rows event of the statement: table maps may be released after it.
    pub const STMT_END: u16 = 0x0001;
    /// The statement ran with `foreign_key_checks=0`.
    pub const NO_FOREIGN_KEY_CHECKS: u16 = 0x0002;
    /// The statement ran with `unique_checks=0`.
    pub const RELAXED_UNIQUE_CHECKS: u16 = 0x0004;
    /// Every column is in the image (`binlog_row_image=FULL`).
    pub const COMPLETE_ROWS: u16 = 0x0008;
    /// MariaDB: the statement ran with `check_constraint_checks=0`.
    pub const MARIADB_NO_CHECK_CONSTRAINT_CHECKS: u16 = 0x0080;
}

/// Bit of a PARTIAL_UPDATE_ROWS after image's value options: JSON columns flagged in the
/// following bitmap hold a diff list instead of a full document.
pub const PARTIAL_JSON_UPDATES: u64 = 1;

/// A parsed rows event, borrowing the event bytes.
#[derive(Debug, Clone)]
pub struct RowsEvent<'a> {
    pub kind: RowsKind,
    /// Row format version: 1 (MySQL 5.1-5.5 and MariaDB) or 2 (MySQL 5.6+).
    pub version: u8,
    pub table_id: u64,
    pub flags: u16,
    /// v2 extra row info without its length: typed items, e.g. NDB info (type 0) or the
    /// partition id(s) of the row (type 1, MySQL 8.0.16+). Empty for v1. The JSON partial
    /// update option is not here: it is per row, in each PARTIAL_UPDATE_ROWS after image.
    pub extra: &'a [u8],
    pub column_count: usize,
    /// Columns present in the first image of each row: the before image of UPDATE and DELETE,
    /// the inserted row of WRITE.
    pub columns_before: Bitmap<'a>,
    /// Columns present in the after image (UPDATE and PARTIAL_UPDATE only).
    pub columns_after: Option<Bitmap<'a>>,
    /// The row images. Replaceable: the stream layer decompresses MariaDB's compressed rows.
    pub rows_data: &'a [u8],
}

impl<'a> RowsEvent<'a> {
    /// Parse a rows event body (after the common header, checksum removed). `post_header_len`
    /// is the FORMAT_DESCRIPTION's value for the type: 6 (4-byte table id), 8 (v1) or 10 (v2,
    /// followed by the extra data length).
    pub fn parse(
        kind: RowsKind,
        version: u8,
        body: &'a [u8],
        post_header_len: u8,
    ) -> Result<RowsEvent<'a>> {
        let mut c = Cursor::new(body);
        let table_id = if post_header_len == 6 {
            c.u32_le(W)? as u64
        } else {
            c.uint_le(6, W)?
        };
        let flags = c.u16_le(W)?;
        let mut extra: &[u8] = &[];
        if version >= 2 {
            let len = c.u16_le("rows event extra data length")? as usize;
            if len < 2 {
                return Err(BinlogError::invalid(
                    W,
                    format!("extra data length {len} is below its own 2 bytes"),
                ));
            }
            extra = c.bytes(len - 2, "rows event extra data")?;
        }
        let n = c.lenenc_int("rows event column count")?;
        let column_count = usize::try_from(n)
            .ok()
            .filter(|&n| n <= body.len().saturating_mul(8))
            .ok_or_else(|| BinlogError::invalid(W, format!("column count {n} exceeds event")))?;
        let columns_before = Bitmap::read(&mut c, column_count, "rows event column bitmap")?;
        let columns_after = match kind {
            RowsKind::Update | RowsKind::PartialUpdate => Some(Bitmap::read(
                &mut c,
                column_count,
                "rows event after-image column bitmap",
            )?),
            RowsKind::Write | RowsKind::Delete => None,
        };
        Ok(RowsEvent {
            kind,
            version,
            table_id,
            flags,
            extra,
            column_count,
            columns_before,
            columns_after,
            rows_data: c.take_rest(),
        })
    }

    /// The same event over other rows bytes (e.g. MariaDB rows data after decompression).
    pub fn with_rows_data<'b>(&self, rows_data: &'b [u8]) -> RowsEvent<'b>
    where
        'a: 'b,
    {
        RowsEvent {
            kind: self.kind,
            version: self.version,
            table_id: self.table_id,
            flags: self.flags,
            extra: self.extra,
            column_count: self.column_count,
            columns_before: self.columns_before,
            columns_after: self.columns_after,
            rows_data,
        }
    }

    /// Whether this is the statement's last rows event.
    pub fn is_stmt_end(&self) -> bool {
        self.flags & flags::STMT_END != 0
    }

    /// Iterate the rows with a decoder compiled from this table's TABLE_MAP.
    pub fn rows<'d>(&self, decoder: &'d RowDecoder) -> RowIter<'a, 'd> {
        let before_count = self.columns_before.count_ones();
        let after_count = self.columns_after.map_or(0, |b| b.count_ones());
        RowIter {
            kind: self.kind,
            decoder,
            c: Cursor::new(self.rows_data),
            before: self.columns_before,
            before_count,
            after: self.columns_after.unwrap_or(self.columns_before),
            after_count,
            column_count: self.column_count,
            failed: false,
        }
    }
}

/// Lending iterator over the rows of one event: the caller owns and reuses the value vectors,
/// so iterating allocates nothing after the first row.
#[derive(Debug, Clone)]
pub struct RowIter<'a, 'd> {
    kind: RowsKind,
    decoder: &'d RowDecoder,
    c: Cursor<'a>,
    before: Bitmap<'a>,
    before_count: usize,
    after: Bitmap<'a>,
    after_count: usize,
    column_count: usize,
    failed: bool,
}

impl<'a> RowIter<'a, '_> {
    /// Decode the next row into `before` and `after` (each cleared first). WRITE fills only
    /// `after`, DELETE only `before`, UPDATE and PARTIAL_UPDATE both. Returns `Ok(false)` at the
    /// end of the event. After an error the iterator is finished.
    pub fn next_row(
        &mut self,
        before: &mut Vec<Value<'a>>,
        after: &mut Vec<Value<'a>>,
    ) -> Result<bool> {
        before.clear();
        after.clear();
        if self.failed || self.c.is_empty() {
            return Ok(false);
        }
        let left = self.c.remaining();
        let r = self.decode(before, after).and_then(|()| {
            // A column bitmap selecting no column makes every image empty: rows data left over
            // would then yield empty rows forever.
            if self.c.remaining() == left {
                Err(BinlogError::invalid(
                    W,
                    format!("{left} bytes of rows data left, but a row image takes none of them"),
                ))
            } else {
                Ok(())
            }
        });
        if r.is_err() {
            self.failed = true;
        }
        r.map(|()| true)
    }

    /// Bytes of the rows data not yet consumed.
    pub fn remaining(&self) -> usize {
        self.c.remaining()
    }

    fn decode(&mut self, before: &mut Vec<Value<'a>>, after: &mut Vec<Value<'a>>) -> Result<()> {
        let d = self.decoder;
        if self.column_count != d.column_count() {
            return Err(BinlogError::invalid(
                W,
                format!(
                    "event has {} columns, its table map has {}",
                    self.column_count,
                    d.column_count()
                ),
            ));
        }
        match self.kind {
            RowsKind::Write => {
                d.decode_image(&mut self.c, &self.before, self.before_count, None, after)
            }
            RowsKind::Delete => {
                d.decode_image(&mut self.c, &self.before, self.before_count, None, before)
            }
            RowsKind::Update => {
                d.decode_image(&mut self.c, &self.before, self.before_count, None, before)?;
                d.decode_image(&mut self.c, &self.after, self.after_count, None, after)
            }
            RowsKind::PartialUpdate => {
                d.decode_image(&mut self.c, &self.before, self.before_count, None, before)?;
                let options = self.c.lenenc_int("partial update value options")?;
                let partial = if options & PARTIAL_JSON_UPDATES != 0 {
                    Some(Bitmap::read(
                        &mut self.c,
                        d.json_column_count(),
                        "partial update JSON bitmap",
                    )?)
                } else {
                    None
                };
                d.decode_image(&mut self.c, &self.after, self.after_count, partial, after)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::table_map::{TableMap, tests::build};

    fn decoder(types: &[u8], meta: &[u8]) -> RowDecoder {
        let body = build(types, meta, &[0xff], &[]);
        RowDecoder::new(&TableMap::parse(&body, 8).unwrap()).unwrap()
    }

    fn header(v2: bool, kind: RowsKind, ncols: u8) -> Vec<u8> {
        let mut b = vec![7, 0, 0, 0, 0, 0, 1, 0];
        if v2 {
            b.extend_from_slice(&[4, 0, 0xaa, 0xbb]);
        }
        b.push(ncols);
        b.push(0xff);
        if matches!(kind, RowsKind::Update | RowsKind::PartialUpdate) {
            b.push(0xff);
        }
        b
    }

    #[test]
    fn write_v2_two_rows() {
        let d = decoder(&[3, 15], &[10, 0]);
        let mut b = header(true, RowsKind::Write, 2);
        b.extend_from_slice(&[0, 1, 0, 0, 0, 2, b'h', b'i']);
        b.extend_from_slice(&[0b10, 2, 0, 0, 0]);
        let ev = RowsEvent::parse(RowsKind::Write, 2, &b, 10).unwrap();
        assert_eq!(ev.table_id, 7);
        assert!(ev.is_stmt_end());
        assert_eq!(ev.extra, &[0xaa, 0xbb]);
        assert_eq!(ev.column_count, 2);
        assert!(ev.columns_after.is_none());
        let mut it = ev.rows(&d);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        assert!(it.next_row(&mut before, &mut after).unwrap());
        assert!(before.is_empty());
        assert_eq!(after, [Value::Int(1), Value::Bytes(b"hi")]);
        assert!(it.next_row(&mut before, &mut after).unwrap());
        assert_eq!(after, [Value::Int(2), Value::Null]);
        assert!(!it.next_row(&mut before, &mut after).unwrap());
        assert!(after.is_empty());
    }

    #[test]
    fn update_v1_and_delete() {
        let d = decoder(&[1], &[]);
        let mut b = header(false, RowsKind::Update, 1);
        b.extend_from_slice(&[0, 5, 0, 6]);
        let ev = RowsEvent::parse(RowsKind::Update, 1, &b, 8).unwrap();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let mut it = ev.rows(&d);
        assert!(it.next_row(&mut before, &mut after).unwrap());
        assert_eq!((before[0], after[0]), (Value::Int(5), Value::Int(6)));

        let mut b = header(false, RowsKind::Delete, 1);
        b.extend_from_slice(&[0, 5]);
        let ev = RowsEvent::parse(RowsKind::Delete, 1, &b, 8).unwrap();
        let mut it = ev.rows(&d);
        assert!(it.next_row(&mut before, &mut after).unwrap());
        assert_eq!(before, [Value::Int(5)]);
        assert!(after.is_empty());

        // A decoder for another table shape is refused.
        let other = decoder(&[1, 1], &[]);
        assert!(ev.rows(&other).next_row(&mut before, &mut after).is_err());

        // with_rows_data swaps the images
        let data = [0u8, 9];
        let ev2 = ev.with_rows_data(&data);
        let mut it = ev2.rows(&d);
        assert!(it.next_row(&mut before, &mut after).unwrap());
        assert_eq!(before, [Value::Int(9)]);
    }

    #[test]
    fn partial_update_json_diff() {
        // INT, JSON, JSON
        let d = decoder(&[3, 245, 245], &[4, 4]);
        let mut b = header(true, RowsKind::PartialUpdate, 3);
        // before: id=1, j1 = {} (small object, 0 elems), j2 NULL
        b.push(0b100);
        b.extend_from_slice(&1i32.to_le_bytes());
        let empty_obj = [0u8, 0, 0, 4, 0];
        b.extend_from_slice(&(empty_obj.len() as u32).to_le_bytes());
        b.extend_from_slice(&empty_obj);
        // value options: partial json; bitmap: json #0 partial
        b.push(1);
        b.push(0b01);
        // after: id=1, j1 diff, j2 NULL
        b.push(0b100);
        b.extend_from_slice(&1i32.to_le_bytes());
        let diff = [0u8, 3, b'$', b'.', b'a', 3, 5, 7, 0]; // REPLACE $.a int16 7
        b.extend_from_slice(&(diff.len() as u32).to_le_bytes());
        b.extend_from_slice(&diff);
        let ev = RowsEvent::parse(RowsKind::PartialUpdate, 2, &b, 10).unwrap();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let mut it = ev.rows(&d);
        assert!(it.next_row(&mut before, &mut after).unwrap());
        assert_eq!(before[1], Value::Json(&empty_obj));
        assert_eq!(before[2], Value::Null);
        assert_eq!(after[1], Value::JsonDiff(&diff));
        assert!(!it.next_row(&mut before, &mut after).unwrap());
    }

    #[test]
    fn truncation_never_panics() {
        let d = decoder(&[3, 15], &[10, 0]);
        let mut b = header(true, RowsKind::Update, 2);
        b.extend_from_slice(&[0, 1, 0, 0, 0, 2, b'h', b'i', 0, 1, 0, 0, 0, 0]);
        for n in 0..b.len() {
            if let Ok(ev) = RowsEvent::parse(RowsKind::Update, 2, &b[..n], 10) {
                let mut it = ev.rows(&d);
                let (mut x, mut y) = (Vec::new(), Vec::new());
                while let Ok(true) = it.next_row(&mut x, &mut y) {}
            }
            let _ = RowsEvent::parse(RowsKind::PartialUpdate, 2, &b[..n], 10);
        }
        assert!(RowsEvent::parse(RowsKind::Write, 2, &[1, 0, 0, 0, 0, 0, 0, 0, 1, 0], 10).is_err());
    }
}
