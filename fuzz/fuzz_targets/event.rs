//! One event's bytes under one of four FORMAT_DESCRIPTIONs: `Event::parse`,
//! `Event::parse_unchecksummed`, then the same bytes through `EventStream` and both renderers
//! (TRANSACTION_PAYLOADs expanded, their inner events decoded and rendered too).
//!
//! Input: a selector byte, then the event (header, body, trailer). Selector bits:
//! 0-1 which description (see `gapfill_fuzz::fde`), 2 verify CRC32, 3 fix the header's size
//! to the input length, 4 recompute the CRC32 trailer, 5 decode as an event inside a
//! TRANSACTION_PAYLOAD (no trailer).
#![no_main]

use gapfill::binlog::checksum::ChecksumAlg;
use gapfill::binlog::event::Event;
use gapfill::binlog::stream::EventStream;
use gapfill_fuzz::{decode_and_render, fde, fix_crc, fix_size};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let fde = fde(sel);
    let verify = sel & 0x04 != 0;
    let inner = sel & 0x20 != 0;
    let mut ev = rest.to_vec();
    if sel & 0x08 != 0 {
        fix_size(&mut ev);
    }
    if sel & 0x10 != 0 && !inner && fde.checksum == ChecksumAlg::Crc32 {
        fix_crc(&mut ev);
    }
    let _ = Event::parse(&ev, fde, verify);
    let _ = Event::parse_unchecksummed(&ev, fde);
    let mut stream = EventStream::new(fde.clone()).verify_checksums(verify);
    decode_and_render(&mut stream, &ev, inner);
});
