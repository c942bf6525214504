//! TABLE_MAP_EVENT (STUB: to be replaced by the row-decoding work).
use super::error::Result;

#[derive(Debug, Clone)]
pub struct TableMap<'a> {
    pub table_id: u64,
    pub flags: u16,
    pub schema: &'a [u8],
    pub table: &'a [u8],
}

impl<'a> TableMap<'a> {
    pub fn parse(body: &'a [u8], post_header_len: u8) -> Result<TableMap<'a>> {
        let _ = (body, post_header_len);
        todo!()
    }
}
