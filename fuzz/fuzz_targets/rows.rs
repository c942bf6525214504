//! A TABLE_MAP body and a rows event body: `TableMap::parse` (and its metadata accessors),
//! `RowDecoder::new`, `RowsEvent::parse` and every row through `RowIter::next_row`; then both
//! as events through `EventStream` and the text and JSON renderers.
//!
//! Input: a type byte (index into the 13 rows event types, MariaDB-compressed ones included:
//! for those the harness compresses the rows data, so the fuzzer works on plain rows), a
//! description selector (see `gapfill_fuzz::fde`), the table map body length (u16 LE), the
//! table map body, then the rows event body (both without header and checksum).
#![no_main]

use gapfill::binlog::event_type::EventType;
use gapfill::binlog::file_writer::build_event;
use gapfill::binlog::header::EventHeader;
use gapfill::binlog::mariadb_compressed::compress;
use gapfill::binlog::row_decoder::RowDecoder;
use gapfill::binlog::rows_event::RowsEvent;
use gapfill::binlog::stream::EventStream;
use gapfill::binlog::table_map::TableMap;
use gapfill_fuzz::seeds::ROWS_TYPES;
use gapfill_fuzz::{decode_and_render, fde};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [ty, sel, l0, l1, rest @ ..] = data else {
        return;
    };
    let tm_len = (u16::from_le_bytes([*l0, *l1]) as usize).min(rest.len());
    let (tm_body, rows_body) = rest.split_at(tm_len);
    let t = EventType::from_u8(ROWS_TYPES[(*ty % 13) as usize]);
    let Some((kind, version, compressed)) = t.rows_info() else {
        return;
    };
    let fde = fde(*sel);
    let tm_phl = fde.post_header_len(EventType::TableMap).unwrap_or(8);
    let rows_phl = fde
        .post_header_len(t)
        .unwrap_or(if version == 1 { 8 } else { 10 });

    // The decoders directly.
    let mut rows_data_at = None;
    if let Ok(tm) = TableMap::parse(tm_body, tm_phl) {
        let n = tm.column_count.min(64);
        for i in 0..n {
            let _ = tm.column(i);
            let _ = tm.column_name(i);
            let _ = tm.charset(i);
            let _ = tm.is_unsigned(i);
            let _ = tm.enum_values(i).map(|v| v.count());
            let _ = tm.set_values(i).map(|v| v.count());
            let _ = tm.geometry_type(i);
            let _ = tm.vector_dimension(i);
            let _ = tm.is_visible(i);
        }
        let _ = tm.primary_key().take(64).count();
        if let Ok(decoder) = RowDecoder::new(&tm)
            && let Ok(rows) = RowsEvent::parse(kind, version, rows_body, rows_phl)
        {
            rows_data_at = Some(rows_body.len() - rows.rows_data.len());
            let mut it = rows.rows(&decoder);
            let (mut before, mut after) = (Vec::new(), Vec::new());
            while let Ok(true) = it.next_row(&mut before, &mut after) {}
        }
    }

    // The same through the stream and the renderers, as events.
    let header = EventHeader {
        timestamp: 1_700_000_000,
        event_type: EventType::TableMap,
        server_id: 1,
        event_size: 0,
        log_pos: 0,
        flags: 0,
    };
    let mut tm_ev = Vec::new();
    build_event(header, tm_body, fde.checksum, &mut tm_ev);
    let body = match (compressed, rows_data_at) {
        (true, Some(at)) => {
            let mut b = rows_body[..at].to_vec();
            b.extend_from_slice(&compress(&rows_body[at..]));
            b
        }
        _ => rows_body.to_vec(),
    };
    let mut rows_ev = Vec::new();
    let header = EventHeader {
        event_type: t,
        ..header
    };
    build_event(header, &body, fde.checksum, &mut rows_ev);
    let mut stream = EventStream::new(fde.clone());
    decode_and_render(&mut stream, &tm_ev, false);
    decode_and_render(&mut stream, &rows_ev, false);
});
