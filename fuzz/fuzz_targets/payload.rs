//! Compressed payloads: MySQL's TRANSACTION_PAYLOAD (`TransactionPayload::parse`,
//! `expand_into`, the inner events split and decoded through `EventStream` and rendered) and
//! MariaDB's zlib framing (`mariadb_compressed::decompress`).
//!
//! Input: a mode byte, then bytes. Mode (low 2 bits):
//! 0 the bytes are a TRANSACTION_PAYLOAD body (header fields, then the zstd frame);
//! 1 the bytes are the inner events: the harness zstd-compresses them (or, with bit 2, stores
//!   them uncompressed) into a payload event, so the fuzzer works on the events themselves;
//! 2 the bytes are a MariaDB compressed buffer;
//! 3 MariaDB compress then decompress must give the bytes back.
//! Bits 4-5 pick the description (see `gapfill_fuzz::fde`).
#![no_main]

use gapfill::binlog::event::Event;
use gapfill::binlog::event_type::EventType;
use gapfill::binlog::file_reader::split_events;
use gapfill::binlog::file_writer::build_event;
use gapfill::binlog::header::EventHeader;
use gapfill::binlog::mariadb_compressed::{compress, decompress};
use gapfill::binlog::payload::TransactionPayload;
use gapfill::binlog::stream::EventStream;
use gapfill_fuzz::{decode_and_render, fde};
use libfuzzer_sys::fuzz_target;

fn lenenc(out: &mut Vec<u8>, v: u64) {
    if v < 251 {
        out.push(v as u8);
    } else if v < 1 << 16 {
        out.push(0xfc);
        out.extend_from_slice(&v.to_le_bytes()[..2]);
    } else if v < 1 << 24 {
        out.push(0xfd);
        out.extend_from_slice(&v.to_le_bytes()[..3]);
    } else {
        out.push(0xfe);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn field(out: &mut Vec<u8>, t: u64, v: u64) {
    let mut val = Vec::new();
    lenenc(&mut val, v);
    lenenc(out, t);
    lenenc(out, val.len() as u64);
    out.extend_from_slice(&val);
}

fn payload_event(sel: u8, inner: &[u8]) -> Vec<u8> {
    let stored = sel & 4 != 0;
    let data = if stored {
        inner.to_vec()
    } else {
        zstd::bulk::compress(inner, 1).unwrap_or_default()
    };
    let mut body = Vec::new();
    field(&mut body, 2, if stored { 255 } else { 0 });
    field(&mut body, 3, inner.len() as u64);
    field(&mut body, 1, data.len() as u64);
    body.push(0);
    body.extend_from_slice(&data);
    let header = EventHeader {
        timestamp: 1_700_000_000,
        event_type: EventType::TransactionPayload,
        server_id: 1,
        event_size: 0,
        log_pos: 0,
        flags: 0,
    };
    let mut ev = Vec::new();
    build_event(header, &body, fde(sel >> 4).checksum, &mut ev);
    ev
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let fde = fde(sel >> 4);
    match sel & 3 {
        0 => {
            if let Ok(p) = TransactionPayload::parse(rest) {
                let mut buf = Vec::new();
                if p.expand_into(&mut buf).is_ok() {
                    for ev in split_events(&buf) {
                        let Ok(ev) = ev else { break };
                        let _ = Event::parse_unchecksummed(ev, fde);
                    }
                }
            }
        }
        1 => {
            let ev = payload_event(sel, rest);
            let mut stream = EventStream::new(fde.clone());
            decode_and_render(&mut stream, &ev, false);
        }
        2 => {
            let _ = decompress(rest, "fuzz");
        }
        _ => {
            let c = compress(rest);
            let back = decompress(&c, "fuzz").expect("our own compressed bytes expand");
            assert_eq!(back, rest, "MariaDB compression round trip");
        }
    }
});
