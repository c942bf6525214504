//! The one transaction framer (`binlog::framer`: `inspect` then `Framer::step`) over
//! `\xfebin` + arbitrary bytes, as the spool's index and the apply reader drive it.
//!
//! Input: a flags byte (bit 0: verify CRC32), then the file after its magic (the seeds of
//! `decode_file`).
#![no_main]

use gapfill::binlog::BINLOG_MAGIC;
use gapfill::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use gapfill::binlog::framer::{Framer, Kind, inspect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut file = BINLOG_MAGIC.to_vec();
    file.extend_from_slice(rest);
    let Ok(mut r) = BinlogFileReader::new("fuzz", &file[..]) else {
        return;
    };
    let mut fde = None;
    let mut framer = Framer::default();
    let mut events = 0u64;
    while let Ok(ReadOutcome::Event { bytes, .. }) = r.next_event() {
        let Ok(facts) = inspect(bytes, fde.as_ref(), flags & 1 != 0) else {
            continue;
        };
        if let Kind::FormatDescription(d) = &facts.kind {
            fde = Some((**d).clone());
        }
        let step = framer.step(&facts);
        events += 1;
        if let Some(done) = step.done {
            // A transaction never holds more events than were fed.
            assert!(u64::from(done.txn.events) <= events);
        }
    }
});
