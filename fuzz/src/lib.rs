//! Helpers shared by the fuzz targets and the seed generator.
//!
//! Owns the FORMAT_DESCRIPTIONs the targets decode under, the "fix-ups" that let a mutated
//! event keep a consistent size and CRC32 (so the fuzzer reaches body parsers instead of
//! dying at the size or checksum check), the render step every decoded event goes through
//! (text and JSON, as `gapfill decode` does), and splitting fixture files into events.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gapfill::binlog::checksum::{ChecksumAlg, compute_crc32};
use gapfill::binlog::event::{Event, EventBody};
use gapfill::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use gapfill::binlog::header::HEADER_LEN;
use gapfill::binlog::stream::{EventStream, expand_rows, payload_events};
use gapfill::binlog::{EventType, Flavor, FormatDescription};
use gapfill::decode::json::JsonRenderer;
use gapfill::decode::text::TextRenderer;

pub mod seeds;

/// The descriptions the `event` and `rows` targets pick from with the low two bits of their
/// selector byte: MySQL 8/9 with CRC32, MySQL 5.7 without checksums, MariaDB 10.11 with CRC32,
/// MariaDB 10.5 without checksums.
pub fn fde(selector: u8) -> &'static FormatDescription {
    static FDES: OnceLock<[FormatDescription; 4]> = OnceLock::new();
    let all = FDES.get_or_init(|| {
        [
            FormatDescription::synthetic("9.7.0", ChecksumAlg::Crc32),
            FormatDescription::synthetic("5.7.20-log", ChecksumAlg::Off),
            FormatDescription::synthetic("10.11.6-MariaDB-log", ChecksumAlg::Crc32),
            FormatDescription::synthetic("10.5.15-MariaDB-log", ChecksumAlg::Off),
        ]
    });
    &all[(selector & 3) as usize]
}

/// The selector of [`fde`] closest to a real file's description.
pub fn fde_selector(real: &FormatDescription) -> u8 {
    match (real.flavor, real.checksum) {
        (Flavor::MySql, ChecksumAlg::Crc32) => 0,
        (Flavor::MySql, ChecksumAlg::Off) => 1,
        (Flavor::MariaDb, ChecksumAlg::Crc32) => 2,
        (Flavor::MariaDb, ChecksumAlg::Off) => 3,
    }
}

/// Make the header's `event_size` match the bytes given.
pub fn fix_size(ev: &mut [u8]) {
    if ev.len() >= 13 {
        let n = u32::try_from(ev.len()).unwrap_or(u32::MAX);
        ev[9..13].copy_from_slice(&n.to_le_bytes());
    }
}

/// Recompute the CRC32 trailer (the last four bytes) of a whole event.
pub fn fix_crc(ev: &mut [u8]) {
    if ev.len() >= HEADER_LEN + 4 {
        let n = ev.len() - 4;
        let crc = compute_crc32(&ev[..n]);
        ev[n..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Render one decoded event as both `gapfill decode` formats, as the decode loop does: rows
/// events with their mapped table (MariaDB-compressed rows expanded first).
pub fn render(stream: &EventStream, ev: &Event<'_>, rows_buf: &mut Vec<u8>) {
    let mut out = Vec::new();
    let rows = match &ev.body {
        EventBody::Rows(r) => {
            let compressed = ev.header.event_type.rows_info().is_some_and(|i| i.2);
            let Ok(table) = stream.table(r.table_id) else {
                return;
            };
            // The stored table map must re-read: the renderers rely on it.
            let _ = table.table_map();
            match expand_rows(r, compressed, rows_buf) {
                Ok(r) => Some((table, r)),
                Err(_) => return,
            }
        }
        _ => None,
    };
    let rows = rows.as_ref().map(|(t, r)| (*t, r));
    let _ = TextRenderer::default().event(&mut out, 4, ev, rows);
    out.clear();
    let _ = JsonRenderer::default().event(&mut out, "fuzz.bin", 4, ev, rows);
}

/// Decode one event through an [`EventStream`] (updating its table maps), render it, and do
/// the same for every event inside it if it is a TRANSACTION_PAYLOAD.
pub fn decode_and_render(stream: &mut EventStream, bytes: &[u8], inner: bool) {
    let mut rows_buf = Vec::new();
    let ev = if inner {
        stream.decode_inner(bytes)
    } else {
        stream.decode(bytes)
    };
    let Ok(ev) = ev else { return };
    if let EventBody::TableMap(tm) = &ev.body
        && let Ok(t) = stream.table(tm.table_id)
    {
        let _ = t.table_map();
    }
    render(stream, &ev, &mut rows_buf);
    if let EventBody::TransactionPayload(p) = &ev.body {
        let mut buf = Vec::new();
        let Ok(events) = payload_events(p, &mut buf) else {
            return;
        };
        for inner in events {
            let Ok(inner) = inner else { break };
            let Ok(iev) = stream.decode_inner(inner) else {
                break;
            };
            render(stream, &iev, &mut rows_buf);
        }
    }
}

/// Every binlog fixture under `tests/fixtures` (gzipped ones included), sorted.
pub fn fixture_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_none_or(|x| x != "md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A fixture's bytes, gunzipped if needed; `None` if it is not a binlog.
pub fn load_fixture(p: &Path) -> Option<Vec<u8>> {
    let raw = std::fs::read(p).ok()?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out).ok()?;
        out
    } else {
        raw
    };
    bytes
        .starts_with(&gapfill::binlog::BINLOG_MAGIC)
        .then_some(bytes)
}

/// A fixture split into events: its own description and each event's bytes (FDE first).
pub struct SplitFile {
    pub name: String,
    pub fde: FormatDescription,
    pub events: Vec<Vec<u8>>,
}

/// Split a binlog's bytes into whole events (stopping at the first unreadable one).
pub fn split_file(name: &str, bytes: &[u8]) -> Option<SplitFile> {
    let mut r = BinlogFileReader::new(name, bytes).ok()?;
    let mut events = Vec::new();
    while let Ok(ReadOutcome::Event { bytes, .. }) = r.next_event() {
        events.push(bytes.to_vec());
    }
    let first = events.first()?;
    if first.get(4) != Some(&EventType::FormatDescription.code()) {
        return None;
    }
    let fde = FormatDescription::parse(first.get(HEADER_LEN..)?).ok()?;
    Some(SplitFile {
        name: name.to_string(),
        fde,
        events,
    })
}

/// A byte source that hands out at most `chunk` bytes per read, to exercise the file reader's
/// buffering the way a pipe or a slow disk would.
pub struct Chunked<'a> {
    pub data: &'a [u8],
    pub chunk: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
