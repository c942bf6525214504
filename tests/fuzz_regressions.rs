//! Inputs the fuzzers (`fuzz/`) found, kept as tests: each must now be refused with an error,
//! promptly and without allocating what a corrupt length asks for.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use gapfill::binlog::checksum::ChecksumAlg;
use gapfill::binlog::event_type::{EventType, RowsKind};
use gapfill::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use gapfill::binlog::file_writer::{build_event, format_description_event};
use gapfill::binlog::header::EventHeader;
use gapfill::binlog::mariadb_compressed::decompress;
use gapfill::binlog::payload::TransactionPayload;
use gapfill::binlog::row_decoder::RowDecoder;
use gapfill::binlog::rows_event::RowsEvent;
use gapfill::binlog::table_map::TableMap;
use gapfill::binlog::{BINLOG_MAGIC, FormatDescription};
use gapfill::decode::{DecodeOptions, Format, decode_reader};

/// The system allocator, recording the largest single request made by the current thread.
struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to `System`; recording a size allocates nothing.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size());
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note(l.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note(new);
        // SAFETY: as above.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Largest = Largest;

/// Run `f` and return the largest single allocation it made on this thread.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|m| m.set(0));
    f();
    LARGEST.with(|m| m.get())
}

const MIB: usize = 1 << 20;

/// Run `f` on a thread; fail if it has not finished within `secs` (instead of hanging).
fn finishes_within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("did not finish: the decoder loops")
}

fn header(t: EventType) -> EventHeader {
    EventHeader {
        timestamp: 1_700_000_000,
        event_type: t,
        server_id: 1,
        event_size: 0,
        log_pos: 0,
        flags: 0,
    }
}

/// Found by `decode_file`: a header claiming a 1 GiB event in a 23-byte file made the reader
/// grow its buffer to the claimed size (up to 1 GiB) before finding the file short.
/// Fixed in src/binlog/file_reader.rs (`fill` grows with the bytes that arrive).
#[test]
fn reader_does_not_allocate_a_claimed_event_size() {
    let mut file = BINLOG_MAGIC.to_vec();
    file.extend_from_slice(&[0, 0, 0, 0, 15, 1, 0, 0, 0]);
    file.extend_from_slice(&((1u32 << 30) - 1).to_le_bytes());
    file.extend_from_slice(&[0; 6]);
    let max = largest_allocation(|| {
        let mut r = BinlogFileReader::new("claim.bin", &file[..]).unwrap();
        assert!(matches!(
            r.next_event().unwrap(),
            ReadOutcome::TornTail {
                offset: 4,
                have: 19
            }
        ));
    });
    assert!(
        max <= 8 * MIB,
        "reader allocated {max} bytes for a 23-byte file"
    );
}

/// Found by `query_status` (QUERY_COMPRESSED): the MariaDB framing's length (up to 1 GiB) was
/// reserved before decompressing a few bytes. Fixed in src/binlog/mariadb_compressed.rs.
#[test]
fn mariadb_decompress_does_not_reserve_the_claimed_length() {
    // 0x84: zlib, 4 length bytes; claims 0x2b45_6b79 (~725 MB); then not even a zlib stream.
    let src = [0x84, 0x2b, 0x45, 0x6b, 0x79, 0x78, 0x9c, 0x03, 0x00];
    let max = largest_allocation(|| {
        assert!(decompress(&src, "test").is_err());
    });
    assert!(max <= 16 * MIB, "decompress allocated {max} bytes");
}

/// Same pattern in TRANSACTION_PAYLOAD: the header's uncompressed size (up to 2 GiB) was
/// reserved up front, and a frame could expand to 2 GiB whatever the header said.
/// Fixed in src/binlog/payload.rs.
#[test]
fn payload_does_not_reserve_the_claimed_size() {
    let frame = zstd::bulk::compress(&[7u8; 64], 1).unwrap();
    // Fields (type, length, value): COMPRESSION_TYPE = 0 (zstd), UNCOMPRESSED_SIZE =
    // 0x7fff_ffff (an 8-byte packed integer); END_MARK; then the frame.
    let mut body = vec![2, 1, 0];
    body.extend_from_slice(&[3, 9, 0xfe, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
    body.push(0);
    body.extend_from_slice(&frame);
    let p = TransactionPayload::parse(&body).unwrap();
    assert_eq!(p.uncompressed_size, 0x7fff_ffff);
    let max = largest_allocation(|| {
        let mut out = Vec::new();
        assert!(p.expand_into(&mut out).is_err());
    });
    assert!(max <= 16 * MIB, "expand_into allocated {max} bytes");
}

/// One INT column; a TABLE_MAP body (post-header 8).
fn one_int_table_map() -> Vec<u8> {
    let mut tm = vec![1, 0, 0, 0, 0, 0, 0, 0];
    tm.extend_from_slice(&[1, b'd', 0, 1, b't', 0]);
    tm.extend_from_slice(&[1, 3, 0, 1]); // 1 column, LONG, no metadata, nullable
    tm
}

/// A WRITE_ROWS v2 body for table 1 whose column bitmap selects no column, followed by rows
/// data: every row image is then empty and consumes none of it.
fn rows_selecting_no_column() -> Vec<u8> {
    let mut rows = vec![1, 0, 0, 0, 0, 0, 1, 0, 2, 0];
    rows.extend_from_slice(&[1, 0]); // 1 column, none present
    rows.extend_from_slice(&[0xaa, 0xbb]);
    rows
}

/// Found by `rows`: `gapfill decode` printed `### INSERT` lines forever for a rows event whose
/// column bitmap selects no column but which carries rows data. `RowIter` now refuses a row
/// that consumes no bytes (src/binlog/rows_event.rs), so every reader of rows is safe.
#[test]
fn decode_of_rows_consuming_nothing_ends_with_an_error() {
    let fde = FormatDescription::synthetic("9.7.0", ChecksumAlg::Crc32);
    let mut file = BINLOG_MAGIC.to_vec();
    file.extend_from_slice(&format_description_event(&fde, 1_700_000_000, 1));
    build_event(
        header(EventType::TableMap),
        &one_int_table_map(),
        fde.checksum,
        &mut file,
    );
    build_event(
        header(EventType::WriteRows),
        &rows_selecting_no_column(),
        fde.checksum,
        &mut file,
    );
    for format in [Format::Text, Format::Json] {
        let file = file.clone();
        let r = finishes_within(20, move || {
            let opts = DecodeOptions {
                format,
                ..DecodeOptions::default()
            };
            decode_reader("rows.bin", &file[..], &opts, &mut std::io::sink()).map(|_| ())
        });
        let e = r.expect_err("a row image consuming no bytes is an error");
        assert!(e.to_string().contains("takes none of them"), "{e}");
    }
}

/// Found by `rows` (the library side of the case above): `RowIter::next_row` returned
/// `Ok(true)` forever when a row image consumed no bytes (the column bitmap selects no column)
/// and rows data remained, so every caller looping on it hung. Fixed in
/// src/binlog/rows_event.rs: a row that consumes nothing is an error.
#[test]
fn row_iter_ends_on_rows_consuming_nothing() {
    let tm = one_int_table_map();
    let tm = TableMap::parse(&tm, 8).unwrap();
    let dec = RowDecoder::new(&tm).unwrap();
    let body = rows_selecting_no_column();
    let rows = RowsEvent::parse(RowsKind::Write, 2, &body, 10).unwrap();
    let mut it = rows.rows(&dec);
    let (mut b, mut a) = (Vec::new(), Vec::new());
    for _ in 0..1000 {
        match it.next_row(&mut b, &mut a) {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
    }
    panic!("1000 rows out of 2 bytes of rows data: RowIter does not end");
}

/// `decode_reader` reads like `decode_files`: a source handing out one byte per read decodes
/// the same as a whole buffer.
#[test]
fn decode_reader_matches_whole_and_trickled_input() {
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rust_mysql_common/json.binlog.000001");
    let file = std::fs::read(path).unwrap();
    let opts = DecodeOptions {
        format: Format::Json,
        ..DecodeOptions::default()
    };
    let mut whole = Vec::new();
    let a = decode_reader("j.bin", &file[..], &opts, &mut whole).unwrap();
    let mut trickled = Vec::new();
    let b = decode_reader("j.bin", Trickle(&file), &opts, &mut trickled).unwrap();
    assert_eq!(a, b);
    assert_eq!(whole, trickled);
    assert!(a.events > 10);
}
