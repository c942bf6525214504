//! Rows events (STUB: to be replaced by the row-decoding work).
use super::error::Result;
use super::event_type::RowsKind;

#[derive(Debug, Clone)]
pub struct RowsEvent<'a> {
    pub kind: RowsKind,
    pub version: u8,
    pub table_id: u64,
    pub flags: u16,
    pub rows_data: &'a [u8],
}

impl<'a> RowsEvent<'a> {
    pub fn parse(
        kind: RowsKind,
        version: u8,
        body: &'a [u8],
        post_header_len: u8,
    ) -> Result<RowsEvent<'a>> {
        let _ = (kind, version, body, post_header_len);
        todo!()
    }
}
