//! The decode loop: files in, rendered events out.
//!
//! Owns walking each file from its FORMAT_DESCRIPTION to its end (or `--stop-position`), jumping
//! to `--start-position`, expanding TRANSACTION_PAYLOAD and MariaDB-compressed rows, and handing
//! each event to the chosen renderer. Output is built in a buffer and written in large chunks.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::binlog::event::{Event, EventBody};
use crate::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use crate::binlog::header::{EventHeader, HEADER_LEN};
use crate::binlog::stream::{EventStream, expand_rows, payload_events};
use crate::binlog::{BinlogError, EventType, FormatDescription};

use super::error::DecodeError;
use super::json::JsonRenderer;
use super::text::TextRenderer;

/// Output flavour of `gapfill decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// What to decode and how.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub format: Format,
    /// Skip to this offset after the FORMAT_DESCRIPTION (must be an event boundary).
    pub start_position: Option<u64>,
    /// Stop before the first event at or after this offset.
    pub stop_position: Option<u64>,
    pub verify_checksums: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            format: Format::Text,
            start_position: None,
            stop_position: None,
            verify_checksums: true,
        }
    }
}

/// What a run went through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    pub files: u64,
    pub events: u64,
    pub bytes: u64,
}

const FLUSH_AT: usize = 1 << 20;

enum Renderer {
    Text(TextRenderer),
    Json(JsonRenderer),
}

impl Renderer {
    fn event(
        &mut self,
        out: &mut Vec<u8>,
        file: &str,
        pos: u64,
        ev: &Event<'_>,
        stream: &EventStream,
        rows_buf: &mut Vec<u8>,
    ) -> Result<(), BinlogError> {
        let rows = match &ev.body {
            EventBody::Rows(r) => {
                let compressed = ev.header.event_type.rows_info().is_some_and(|i| i.2);
                Some((
                    stream.table(r.table_id)?,
                    expand_rows(r, compressed, rows_buf)?,
                ))
            }
            _ => None,
        };
        let rows = rows.as_ref().map(|(t, r)| (*t, r));
        match self {
            Renderer::Text(t) => t.event(out, pos, ev, rows),
            Renderer::Json(j) => j.event(out, file, pos, ev, rows),
        }
    }
}

impl Renderer {
    fn new(format: Format) -> Renderer {
        match format {
            Format::Text => Renderer::Text(TextRenderer::default()),
            Format::Json => Renderer::Json(JsonRenderer::default()),
        }
    }
}

/// Decode `paths` in order into `sink`.
pub fn decode_files(
    paths: &[PathBuf],
    opts: &DecodeOptions,
    sink: &mut dyn Write,
) -> Result<DecodeStats, DecodeError> {
    let mut renderer = Renderer::new(opts.format);
    let mut out = Vec::with_capacity(FLUSH_AT * 2);
    let mut stats = DecodeStats::default();
    for path in paths {
        let reader = BinlogFileReader::open(path)?;
        decode_file(reader, opts, &mut renderer, &mut out, sink, &mut stats)?;
        stats.files += 1;
    }
    sink.write_all(&out).map_err(DecodeError::Output)?;
    sink.flush().map_err(DecodeError::Output)?;
    Ok(stats)
}

/// Decode one binlog read from `src` (starting with the magic) into `sink`, exactly as
/// [`decode_files`] decodes a file; `name` stands for the file name in output and errors.
pub fn decode_reader<R: Read>(
    name: impl Into<PathBuf>,
    src: R,
    opts: &DecodeOptions,
    sink: &mut dyn Write,
) -> Result<DecodeStats, DecodeError> {
    let mut renderer = Renderer::new(opts.format);
    let mut out = Vec::new();
    let mut stats = DecodeStats::default();
    let reader = BinlogFileReader::new(name, src)?;
    decode_file(reader, opts, &mut renderer, &mut out, sink, &mut stats)?;
    stats.files += 1;
    sink.write_all(&out).map_err(DecodeError::Output)?;
    sink.flush().map_err(DecodeError::Output)?;
    Ok(stats)
}

fn decode_file<R: Read>(
    mut reader: BinlogFileReader<R>,
    opts: &DecodeOptions,
    renderer: &mut Renderer,
    out: &mut Vec<u8>,
    sink: &mut dyn Write,
    stats: &mut DecodeStats,
) -> Result<(), DecodeError> {
    let path_buf = reader.path().to_path_buf();
    let path: &Path = &path_buf;
    let name = path.display().to_string();
    let mut stream: Option<EventStream> = None;
    let mut payload_buf = Vec::new();
    let mut rows_buf = Vec::new();
    let mut pending_skip = None;
    loop {
        if let Some(to) = pending_skip.take() {
            reader.skip_to(to)?;
        }
        let (offset, bytes) = match reader.next_event()? {
            ReadOutcome::Event { offset, bytes } => (offset, bytes),
            ReadOutcome::End => break,
            ReadOutcome::TornTail { offset, have } => {
                sink.write_all(out).map_err(DecodeError::Output)?;
                out.clear();
                return Err(DecodeError::TornTail {
                    path: path.to_path_buf(),
                    offset,
                    have,
                });
            }
        };
        let at = |e: BinlogError| e.in_file(path, offset);
        let stream = match &mut stream {
            Some(s) => s,
            None => {
                let h = EventHeader::parse(bytes).map_err(at)?;
                if h.event_type != EventType::FormatDescription {
                    return Err(DecodeError::NoFormatDescription {
                        path: path.to_path_buf(),
                        found: h.event_type.name(),
                    });
                }
                let body = bytes.get(HEADER_LEN..).unwrap_or_default();
                let fde = FormatDescription::parse(body).map_err(at)?;
                if let Some(start) = opts.start_position
                    && start > offset
                {
                    pending_skip = Some(start);
                }
                stream.insert(EventStream::new(fde).verify_checksums(opts.verify_checksums))
            }
        };
        if opts.stop_position.is_some_and(|stop| offset >= stop) {
            break;
        }
        let ev = stream.decode(bytes).map_err(at)?;
        stats.events += 1;
        stats.bytes += bytes.len() as u64;
        renderer
            .event(out, &name, offset, &ev, stream, &mut rows_buf)
            .map_err(at)?;
        if let EventBody::TransactionPayload(p) = &ev.body {
            for inner in payload_events(p, &mut payload_buf).map_err(at)? {
                let iev = stream.decode_inner(inner.map_err(at)?).map_err(at)?;
                stats.events += 1;
                renderer
                    .event(out, &name, offset, &iev, stream, &mut rows_buf)
                    .map_err(at)?;
            }
        }
        if out.len() >= FLUSH_AT {
            sink.write_all(out).map_err(DecodeError::Output)?;
            out.clear();
        }
    }
    Ok(())
}
