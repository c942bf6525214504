//! The decode loop: files in, rendered events out.
//!
//! Owns walking each file from its FORMAT_DESCRIPTION to its end (or `--stop-position`),
//! jumping to `--start-position`, and choosing the engine: with one thread each event is
//! decoded and rendered here ([`Decoder`]); with more, [`parallel`](super::parallel) renders
//! chunks of whole transactions on worker threads and writes them in file order. Both give the
//! same bytes, and on bad input the same error after the same output: every whole event before
//! the failing one. Output is built in a buffer and written in large chunks.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use crate::binlog::header::{EventHeader, HEADER_LEN};
use crate::binlog::{BinlogError, EventType, FormatDescription};

use super::decoder::{Decoder, TableMaps};
use super::error::DecodeError;
use super::parallel::Pool;

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
    /// Worker threads rendering chunks of transactions; 1 (the default) decodes on the
    /// calling thread alone. The output is the same either way.
    pub threads: usize,
    /// How files are cut for the workers (with `threads` > 1).
    pub chunks: ChunkSizes,
}

/// How the parallel engine cuts a file. The defaults suit large files; tests make chunks tiny
/// so that every cut and the large-transaction path are exercised on small fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSizes {
    /// Input bytes after which a chunk ends at the next transaction start.
    pub target: usize,
    /// A chunk this large whose transaction goes on is not held: the rest of that
    /// transaction is rendered by the reading thread as it is read, so memory stays bounded.
    pub max: usize,
}

impl Default for ChunkSizes {
    fn default() -> Self {
        ChunkSizes {
            target: 512 << 10,
            max: 64 << 20,
        }
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            format: Format::Text,
            start_position: None,
            stop_position: None,
            verify_checksums: true,
            threads: 1,
            chunks: ChunkSizes::default(),
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

impl DecodeStats {
    pub(super) fn add(&mut self, other: &DecodeStats) {
        self.files += other.files;
        self.events += other.events;
        self.bytes += other.bytes;
    }
}

/// Output is written to the sink when the buffer reaches this size.
pub(super) const FLUSH_AT: usize = 1 << 20;

/// Decode `paths` in order into `sink`.
pub fn decode_files(
    paths: &[PathBuf],
    opts: &DecodeOptions,
    sink: &mut dyn Write,
) -> Result<DecodeStats, DecodeError> {
    let mut files = paths
        .iter()
        .map(|p| BinlogFileReader::open(p).map_err(DecodeError::from));
    decode_all(&mut files, opts, sink)
}

/// Decode one binlog read from `src` (starting with the magic) into `sink`, exactly as
/// [`decode_files`] decodes a file; `name` stands for the file name in output and errors.
pub fn decode_reader<R: Read>(
    name: impl Into<PathBuf>,
    src: R,
    opts: &DecodeOptions,
    sink: &mut dyn Write,
) -> Result<DecodeStats, DecodeError> {
    let reader = BinlogFileReader::new(name, src)?;
    decode_all(&mut std::iter::once(Ok(reader)), opts, sink)
}

type Files<'a, R> = dyn Iterator<Item = Result<BinlogFileReader<R>, DecodeError>> + 'a;

fn decode_all<R: Read>(
    files: &mut Files<'_, R>,
    opts: &DecodeOptions,
    sink: &mut dyn Write,
) -> Result<DecodeStats, DecodeError> {
    let mut stats = DecodeStats::default();
    if opts.threads > 1 {
        std::thread::scope(|scope| {
            let mut pool = Pool::start(scope, opts);
            for reader in files {
                pool.file(reader?, sink, &mut stats)?;
                stats.files += 1;
            }
            Ok::<_, DecodeError>(())
        })?;
    } else {
        let mut out = Vec::with_capacity(FLUSH_AT * 2);
        let each = || {
            for reader in files {
                decode_file(reader?, opts, &mut out, sink, &mut stats)?;
                stats.files += 1;
            }
            Ok::<_, DecodeError>(())
        };
        let r = each();
        // Whatever happened, the whole events rendered before it are printed.
        let w = sink.write_all(&out).map_err(DecodeError::Output);
        r?;
        w?;
    }
    sink.flush().map_err(DecodeError::Output)?;
    Ok(stats)
}

/// Decode one file on this thread, appending to `out` and flushing it to `sink` as it grows.
fn decode_file<R: Read>(
    reader: BinlogFileReader<R>,
    opts: &DecodeOptions,
    out: &mut Vec<u8>,
    sink: &mut dyn Write,
    stats: &mut DecodeStats,
) -> Result<(), DecodeError> {
    let Some((mut events, fde)) = FileEvents::open(reader, opts)? else {
        return Ok(());
    };
    let (path, name) = (events.path.clone(), events.name.clone());
    let mut decoder = Decoder::new(fde, opts);
    let none = TableMaps::new();
    while let Some((offset, bytes)) = events.next()? {
        decoder
            .event(out, &name, offset, bytes, &none, stats)
            .map_err(|e| e.in_file(&path, offset))?;
        if out.len() >= FLUSH_AT {
            sink.write_all(out).map_err(DecodeError::Output)?;
            out.clear();
        }
    }
    Ok(())
}

/// A file's events in decode order: its FORMAT_DESCRIPTION, then the events from
/// `--start-position` up to `--stop-position`. A torn tail is an error here.
pub(super) struct FileEvents<R> {
    reader: BinlogFileReader<R>,
    pub path: PathBuf,
    /// The path as output shows it.
    pub name: String,
    /// The FORMAT_DESCRIPTION's offset and bytes, read by `open`.
    first: (u64, Vec<u8>),
    first_given: bool,
    start: Option<u64>,
    stop: Option<u64>,
    done: bool,
}

impl<R: Read> FileEvents<R> {
    /// Read the first event, which must be a FORMAT_DESCRIPTION, and return its description;
    /// `None` for a file with no event at all.
    pub fn open(
        mut reader: BinlogFileReader<R>,
        opts: &DecodeOptions,
    ) -> Result<Option<(Self, FormatDescription)>, DecodeError> {
        let path = reader.path().to_path_buf();
        let (offset, bytes) = match reader.next_event()? {
            ReadOutcome::Event { offset, bytes } => (offset, bytes.to_vec()),
            ReadOutcome::End => return Ok(None),
            ReadOutcome::TornTail { offset, have } => {
                return Err(DecodeError::TornTail { path, offset, have });
            }
        };
        let at = |e: BinlogError| e.in_file(&path, offset);
        let h = EventHeader::parse(&bytes).map_err(at)?;
        if h.event_type != EventType::FormatDescription {
            return Err(DecodeError::NoFormatDescription {
                path,
                found: h.event_type.name(),
            });
        }
        let fde =
            FormatDescription::parse(bytes.get(HEADER_LEN..).unwrap_or_default()).map_err(at)?;
        let events = FileEvents {
            reader,
            name: path.display().to_string(),
            path,
            first: (offset, bytes),
            first_given: false,
            start: opts.start_position.filter(|&s| s > offset),
            stop: opts.stop_position,
            done: false,
        };
        Ok(Some((events, fde)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next event's offset and bytes; `None` at the end of the file or the stop position.
    pub fn next(&mut self) -> Result<Option<(u64, &[u8])>, DecodeError> {
        if self.done {
            return Ok(None);
        }
        let (offset, bytes) = if !self.first_given {
            self.first_given = true;
            (self.first.0, &self.first.1[..])
        } else {
            if let Some(to) = self.start.take() {
                self.reader.skip_to(to)?;
            }
            match self.reader.next_event()? {
                ReadOutcome::Event { offset, bytes } => (offset, bytes),
                ReadOutcome::End => return Ok(None),
                ReadOutcome::TornTail { offset, have } => {
                    self.done = true;
                    return Err(DecodeError::TornTail {
                        path: self.path.clone(),
                        offset,
                        have,
                    });
                }
            }
        };
        if self.stop.is_some_and(|stop| offset >= stop) {
            self.done = true;
            return Ok(None);
        }
        Ok(Some((offset, bytes)))
    }
}
