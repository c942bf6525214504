//! The whole `gapfill decode` loop (`decode::decode_reader`: the file reader, the event stream,
//! payload and MariaDB-compressed rows expansion, the text and JSON renderers) over
//! `\xfebin` + arbitrary bytes.
//!
//! Input: a flags byte, optional 2-byte positions, then the file after its magic. Flags:
//! bit 0 verify CRC32; bit 1 a u16 LE `--start-position` follows; bit 2 a u16 LE
//! `--stop-position` follows; bits 3-5 how many bytes each read of the source returns
//! (all, 1, 3, 19, 64, 4096, 65536, 7); bit 6: also decode on worker threads with tiny chunks
//! (`--threads`, every cut and the large-transaction path exercised) and require the same
//! output and the same error as one thread.
#![no_main]

use gapfill::binlog::BINLOG_MAGIC;
use gapfill::decode::{ChunkSizes, DecodeOptions, Format, decode_reader};
use gapfill_fuzz::Chunked;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let take_u16 = |rest: &mut &[u8]| -> Option<u64> {
        let (a, b) = rest.split_at_checked(2)?;
        *rest = b;
        Some(u16::from_le_bytes([a[0], a[1]]) as u64)
    };
    let mut opts = DecodeOptions {
        verify_checksums: flags & 1 != 0,
        ..DecodeOptions::default()
    };
    if flags & 2 != 0 {
        opts.start_position = take_u16(&mut rest);
    }
    if flags & 4 != 0 {
        opts.stop_position = take_u16(&mut rest);
    }
    let chunk = [usize::MAX, 1, 3, 19, 64, 4096, 65536, 7][((flags >> 3) & 7) as usize];
    let mut file = BINLOG_MAGIC.to_vec();
    file.extend_from_slice(rest);
    let mut out = Vec::new();
    for format in [Format::Text, Format::Json] {
        opts.format = format;
        out.clear();
        let src = Chunked { data: &file, chunk };
        let one = decode_reader("fuzz.bin", src, &opts, &mut out).map_err(|e| e.to_string());
        if flags & 0x40 != 0 {
            let threads = DecodeOptions {
                threads: 2,
                chunks: ChunkSizes {
                    target: 64,
                    max: 1024,
                },
                ..opts.clone()
            };
            let mut par = Vec::new();
            let src = Chunked { data: &file, chunk };
            let two =
                decode_reader("fuzz.bin", src, &threads, &mut par).map_err(|e| e.to_string());
            assert_eq!(
                one.as_ref().err(),
                two.as_ref().err(),
                "one thread and two disagree on the error"
            );
            assert!(out == par, "one thread and two print different bytes");
        }
    }
});
