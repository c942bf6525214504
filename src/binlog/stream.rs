//! Decoding a sequence of events: the state that spans events.
//!
//! [`EventStream`] owns what a reader must remember between events: the FORMAT_DESCRIPTION in
//! force and the TABLE_MAPs seen so far, each compiled once into a [`RowDecoder`] that every
//! rows event of that table reuses. It also expands the two kinds of nested payloads: MySQL's
//! TRANSACTION_PAYLOAD (zstd) and MariaDB's compressed rows events. It is sans-IO: callers hand
//! it the bytes of one event at a time, from a file or from the replication stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{BinlogError, Result};
use super::event::{Event, EventBody};
use super::file_reader::split_events;
use super::format::FormatDescription;
use super::row_decoder::RowDecoder;
use super::rows_event::RowsEvent;
use super::table_map::TableMap;

/// A TABLE_MAP remembered by table id: its own bytes (so names and metadata can be re-read
/// without copying them apart) and its compiled row decoder.
#[derive(Debug)]
pub struct MappedTable {
    body: Box<[u8]>,
    post_header_len: u8,
    flavor: super::format::Flavor,
    /// Distinct for every TABLE_MAP compiled in this process (across streams, so a renderer
    /// that outlives one stream cannot mistake another stream's table for its cached one), so
    /// renderers can cache per-table work and know when a table id was re-mapped. Never 0.
    pub generation: u64,
    pub decoder: RowDecoder,
}

impl MappedTable {
    /// The TABLE_MAP this entry was built from, re-read from its stored bytes.
    pub fn table_map(&self) -> TableMap<'_> {
        let mut tm = TableMap::parse(&self.body, self.post_header_len)
            .expect("stored table map parsed successfully before");
        tm.flavor = self.flavor;
        tm
    }
}

/// Decoding state across the events of one binlog or replication stream.
pub struct EventStream {
    fde: FormatDescription,
    tables: HashMap<u64, MappedTable>,
    verify_checksums: bool,
}

/// The next [`MappedTable::generation`]: process-wide, so generations never repeat.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

impl EventStream {
    /// Start with the description from the file's first event.
    pub fn new(fde: FormatDescription) -> Self {
        EventStream {
            fde,
            tables: HashMap::new(),
            verify_checksums: true,
        }
    }

    /// Skip CRC32 verification (e.g. for events the replication client already verified).
    pub fn verify_checksums(mut self, on: bool) -> Self {
        self.verify_checksums = on;
        self
    }

    pub fn format(&self) -> &FormatDescription {
        &self.fde
    }

    /// Decode one whole event and update the stream state from it.
    pub fn decode<'a>(&mut self, bytes: &'a [u8]) -> Result<Event<'a>> {
        let ev = Event::parse(bytes, &self.fde, self.verify_checksums)?;
        self.observe(&ev, self.fde.checksum.trailer_len())?;
        Ok(ev)
    }

    /// Decode one event found inside an expanded TRANSACTION_PAYLOAD: such events carry no
    /// checksum trailer whatever the description says.
    pub fn decode_inner<'a>(&mut self, bytes: &'a [u8]) -> Result<Event<'a>> {
        let ev = Event::parse_unchecksummed(bytes, &self.fde)?;
        self.observe(&ev, 0)?;
        Ok(ev)
    }

    fn observe(&mut self, ev: &Event<'_>, trailer: usize) -> Result<()> {
        match &ev.body {
            EventBody::FormatDescription(f) => {
                self.fde = (**f).clone();
                // A new description starts a new file or master: old table ids mean nothing.
                self.tables.clear();
            }
            EventBody::TableMap(tm) => {
                let header_len = self.fde.header_len as usize;
                let body = ev
                    .raw
                    .get(header_len..ev.raw.len().saturating_sub(trailer))
                    .unwrap_or_default();
                let post_header_len = self.fde.post_header_len(ev.header.event_type).unwrap_or(8);
                // The server writes the same TABLE_MAP before every statement on the table:
                // when the bytes are those already compiled, keep the compiled decoder (and its
                // generation, so renderers keep their per-table caches too).
                if let Some(t) = self.tables.get(&tm.table_id)
                    && *t.body == *body
                    && t.post_header_len == post_header_len
                    && t.flavor == tm.flavor
                {
                    return Ok(());
                }
                let decoder = RowDecoder::new(tm)?;
                self.tables.insert(
                    tm.table_id,
                    MappedTable {
                        body: body.into(),
                        post_header_len,
                        flavor: tm.flavor,
                        generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
                        decoder,
                    },
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// The table a rows event refers to.
    pub fn table(&self, table_id: u64) -> Result<&MappedTable> {
        self.tables
            .get(&table_id)
            .ok_or(BinlogError::UnknownTable { table_id })
    }

    /// Forget all table maps (the end of a transaction makes them stale for the server too,
    /// but keeping them is harmless; this is for callers that seek).
    pub fn clear_tables(&mut self) {
        self.tables.clear();
    }
}

/// Expand a TRANSACTION_PAYLOAD into `buf`, then yield each inner event's bytes.
pub fn payload_events<'b>(
    payload: &super::payload::TransactionPayload<'_>,
    buf: &'b mut Vec<u8>,
) -> Result<impl Iterator<Item = Result<&'b [u8]>>> {
    payload.expand_into(buf)?;
    Ok(split_events(buf))
}

/// For a MariaDB compressed rows event: expand its rows data into `buf` and return the event
/// reading from it. For any other rows event, return it unchanged.
pub fn expand_rows<'b>(
    rows: &RowsEvent<'b>,
    compressed: bool,
    buf: &'b mut Vec<u8>,
) -> Result<RowsEvent<'b>> {
    if !compressed {
        return Ok(rows.clone());
    }
    super::mariadb_compressed::decompress_into(rows.rows_data, "compressed rows event", buf)?;
    let mut r = rows.clone();
    r.rows_data = buf;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::checksum::ChecksumAlg;
    use crate::binlog::header::HEADER_LEN;
    use crate::binlog::table_map::tests::build;

    fn event(type_code: u8, body: &[u8]) -> Vec<u8> {
        let mut e = vec![0, 0, 0, 0, type_code, 1, 0, 0, 0];
        e.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_le_bytes());
        e.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        e.extend_from_slice(body);
        e
    }

    fn decoder_ptr(s: &EventStream) -> *const u8 {
        s.table(42).unwrap().decoder.columns().as_ptr().cast()
    }

    #[test]
    fn repeated_table_map_keeps_its_compiled_decoder() {
        let mut s = EventStream::new(FormatDescription::synthetic("9.7.0", ChecksumAlg::Off));
        let a = event(19, &build(&[3, 15], &[10, 0], &[0b10], &[]));
        s.decode(&a).unwrap();
        let first = decoder_ptr(&s);
        s.decode(&a.clone()).unwrap();
        assert_eq!(decoder_ptr(&s), first, "same bytes: decoder reused");
        // Same table id, another shape (an ALTER in between): compiled again.
        let b = event(19, &build(&[3, 15, 3], &[10, 0], &[0b110], &[]));
        s.decode(&b).unwrap();
        assert_ne!(decoder_ptr(&s), first);
        assert_eq!(s.table(42).unwrap().decoder.column_count(), 3);
        assert_eq!(s.table(42).unwrap().table_map().column_count, 3);
    }
}
