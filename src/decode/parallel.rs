//! Decoding on several cores: chunks of whole transactions rendered on worker threads,
//! written in file order.
//!
//! Owns cutting a file into chunks and the workers' lifecycle. The calling thread reads the
//! file, asks the [`Framer`] where transactions start (the only place it cuts, so table maps
//! stay with the rows events that use them), and hands each chunk of about 512 KiB to
//! the next worker in turn; each worker decodes its chunk with its own [`Decoder`] started from
//! the description in force there, and the calling thread writes the rendered chunks back in
//! the order it cut them. A chunk carries the top-level TABLE_MAPs in force where it starts, so
//! a rows event on a table mapped in an earlier transaction decodes as it would in one pass. At
//! most [`WINDOW`] chunks per worker are in flight, and a transaction too large for one chunk
//! (64 MiB, see [`ChunkSizes`](super::ChunkSizes)) is rendered on the calling thread as it is read: memory stays bounded.
//! An error in a chunk is reported after every chunk before it and the chunk's own whole
//! events are written: the same output and error as one pass.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::Scope;

use crate::binlog::file_reader::{BinlogFileReader, split_events};
use crate::binlog::framer::{Framer, Kind, inspect};
use crate::binlog::table_map::TableMap;
use crate::binlog::{EventType, FormatDescription};

use super::decoder::{Decoder, TableMaps};
use super::driver::{DecodeOptions, DecodeStats, FLUSH_AT, FileEvents};
use super::error::DecodeError;

/// Chunks in flight per worker.
const WINDOW: usize = 3;

/// The file a chunk comes from, as errors and output name it.
struct FileName {
    path: PathBuf,
    name: String,
}

/// Consecutive whole events of one file and the state in force before the first of them.
struct Chunk {
    file: Arc<FileName>,
    fde: Arc<FormatDescription>,
    tables: Arc<TableMaps>,
    /// File offset of `bytes[0]`.
    offset: u64,
    bytes: Vec<u8>,
}

struct Job {
    chunk: Chunk,
    /// An empty buffer to render into.
    out: Vec<u8>,
}

struct Rendered {
    out: Vec<u8>,
    /// The chunk's input buffer, for reuse.
    input: Vec<u8>,
    stats: DecodeStats,
    error: Option<DecodeError>,
}

/// The workers, and the chunks they have in hand in file order.
pub struct Pool<'a> {
    opts: &'a DecodeOptions,
    jobs: Vec<SyncSender<Job>>,
    results: Vec<Receiver<Rendered>>,
    /// Worker of each chunk in flight, oldest first.
    in_flight: VecDeque<usize>,
    next: usize,
    spare_in: Vec<Vec<u8>>,
    spare_out: Vec<Vec<u8>>,
    abort: Arc<AtomicBool>,
    /// Output rendered on this thread (a transaction too large for a chunk).
    out: Vec<u8>,
}

impl<'a> Pool<'a> {
    /// Start `opts.threads` workers in `scope`.
    pub fn start(scope: &'a Scope<'a, '_>, opts: &'a DecodeOptions) -> Pool<'a> {
        let abort = Arc::new(AtomicBool::new(false));
        let (mut jobs, mut results) = (Vec::new(), Vec::new());
        for _ in 0..opts.threads.max(1) {
            let (job_tx, job_rx) = sync_channel(WINDOW);
            let (done_tx, done_rx) = channel();
            let abort = abort.clone();
            scope.spawn(move || worker(job_rx, done_tx, opts, &abort));
            jobs.push(job_tx);
            results.push(done_rx);
        }
        Pool {
            opts,
            jobs,
            results,
            in_flight: VecDeque::new(),
            next: 0,
            spare_in: Vec::new(),
            spare_out: Vec::new(),
            abort,
            out: Vec::new(),
        }
    }

    /// Decode one file into `sink`: every chunk written before this returns.
    pub fn file<R: Read>(
        &mut self,
        reader: BinlogFileReader<R>,
        sink: &mut dyn Write,
        stats: &mut DecodeStats,
    ) -> Result<(), DecodeError> {
        let Some((mut events, fde)) = FileEvents::open(reader, self.opts)? else {
            return Ok(());
        };
        let file = Arc::new(FileName {
            path: events.path().to_path_buf(),
            name: events.name.clone(),
        });
        let mut cut = Chunker::new(file, fde);
        let mut inline: Option<Decoder> = None;
        let sizes = self.opts.chunks;
        let read = loop {
            let (offset, bytes) = match events.next() {
                Ok(Some(ev)) => ev,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let opens = cut.opens(bytes);
            if let Some(d) = &mut inline {
                if !opens {
                    self.render_inline(d, &cut, offset, bytes, sink, stats)?;
                    cut.observe(bytes);
                    continue;
                }
                inline = None;
                self.flush_inline(sink)?;
            }
            if (opens && cut.len() >= sizes.target) || !cut.continues_at(offset) {
                self.submit_cut(&mut cut, sink, stats)?;
            } else if cut.len() >= sizes.max {
                // One transaction larger than a chunk should be: render it here, as it is read.
                inline = Some(self.start_inline(&mut cut, sink, stats)?);
                let d = inline.as_mut().expect("just set");
                self.render_inline(d, &cut, offset, bytes, sink, stats)?;
                cut.observe(bytes);
                continue;
            }
            let spare = &mut self.spare_in;
            cut.append(offset, bytes, || spare.pop().unwrap_or_default());
            cut.observe(bytes);
        };
        self.flush_inline(sink)?;
        self.submit_cut(&mut cut, sink, stats)?;
        while !self.in_flight.is_empty() {
            self.write_oldest(sink, stats)?;
        }
        read
    }

    fn submit_cut(
        &mut self,
        cut: &mut Chunker,
        sink: &mut dyn Write,
        stats: &mut DecodeStats,
    ) -> Result<(), DecodeError> {
        let Some(chunk) = cut.take() else {
            return Ok(());
        };
        if self.in_flight.len() >= self.jobs.len() * WINDOW {
            self.write_oldest(sink, stats)?;
        }
        let out = self.spare_out.pop().unwrap_or_default();
        let w = self.next;
        self.next = (w + 1) % self.jobs.len();
        self.jobs[w]
            .send(Job { chunk, out })
            .expect("workers outlive the pool");
        self.in_flight.push_back(w);
        Ok(())
    }

    /// Write the oldest chunk in flight (waiting for it), or report its error after its
    /// whole events.
    fn write_oldest(
        &mut self,
        sink: &mut dyn Write,
        stats: &mut DecodeStats,
    ) -> Result<(), DecodeError> {
        let Some(w) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let r = self.results[w].recv().expect("workers outlive the pool");
        sink.write_all(&r.out).map_err(DecodeError::Output)?;
        stats.add(&r.stats);
        if let Some(e) = r.error {
            return Err(e);
        }
        self.spare_out.push(r.out);
        self.spare_in.push(r.input);
        Ok(())
    }

    /// Write everything in flight, then decode the chunk being cut here: the start of a
    /// transaction too large to hold. Returns the decoder to go on with.
    fn start_inline(
        &mut self,
        cut: &mut Chunker,
        sink: &mut dyn Write,
        stats: &mut DecodeStats,
    ) -> Result<Decoder, DecodeError> {
        while !self.in_flight.is_empty() {
            self.write_oldest(sink, stats)?;
        }
        let chunk = cut.take().expect("a chunk too large is not empty");
        let mut d = Decoder::new((*chunk.fde).clone(), self.opts);
        let r = render_chunk(&mut d, &chunk, &mut self.out, stats);
        self.spare_in.push(chunk.bytes);
        if let Err(e) = r {
            self.flush_inline(sink)?;
            return Err(e);
        }
        Ok(d)
    }

    fn render_inline(
        &mut self,
        d: &mut Decoder,
        cut: &Chunker,
        offset: u64,
        bytes: &[u8],
        sink: &mut dyn Write,
        stats: &mut DecodeStats,
    ) -> Result<(), DecodeError> {
        let r = d.event(
            &mut self.out,
            &cut.file.name,
            offset,
            bytes,
            &cut.tables,
            stats,
        );
        if let Err(e) = r {
            self.flush_inline(sink)?;
            return Err(e.in_file(&cut.file.path, offset).into());
        }
        if self.out.len() >= FLUSH_AT {
            self.flush_inline(sink)?;
        }
        Ok(())
    }

    fn flush_inline(&mut self, sink: &mut dyn Write) -> Result<(), DecodeError> {
        sink.write_all(&self.out).map_err(DecodeError::Output)?;
        self.out.clear();
        Ok(())
    }
}

impl Drop for Pool<'_> {
    fn drop(&mut self) {
        // Workers skip what is queued (nobody will read it) and end when their queue closes.
        self.abort.store(true, Ordering::Relaxed);
    }
}

fn worker(jobs: Receiver<Job>, done: Sender<Rendered>, opts: &DecodeOptions, abort: &AtomicBool) {
    let mut decoder: Option<Decoder> = None;
    for Job { chunk, mut out } in jobs {
        if abort.load(Ordering::Relaxed) {
            break;
        }
        let fde = (*chunk.fde).clone();
        let d = match &mut decoder {
            Some(d) => {
                d.restart(fde);
                d
            }
            None => decoder.insert(Decoder::new(fde, opts)),
        };
        out.clear();
        let mut stats = DecodeStats::default();
        let error = render_chunk(d, &chunk, &mut out, &mut stats).err();
        let r = Rendered {
            out,
            input: chunk.bytes,
            stats,
            error,
        };
        if done.send(r).is_err() {
            break;
        }
    }
}

/// Decode and render every event of `chunk` into `out`.
fn render_chunk(
    d: &mut Decoder,
    chunk: &Chunk,
    out: &mut Vec<u8>,
    stats: &mut DecodeStats,
) -> Result<(), DecodeError> {
    let mut offset = chunk.offset;
    for ev in split_events(&chunk.bytes) {
        let ev = ev.map_err(|e| e.in_file(&chunk.file.path, offset))?;
        d.event(out, &chunk.file.name, offset, ev, &chunk.tables, stats)
            .map_err(|e| e.in_file(&chunk.file.path, offset))?;
        offset += ev.len() as u64;
    }
    Ok(())
}

/// Where a file is cut, and what each chunk must start from.
struct Chunker {
    file: Arc<FileName>,
    framer: Framer,
    /// The description and top-level table maps in force after the events observed so far.
    fde: Arc<FormatDescription>,
    tables: Arc<TableMaps>,
    chunk: Option<Chunk>,
}

impl Chunker {
    fn new(file: Arc<FileName>, fde: FormatDescription) -> Chunker {
        Chunker {
            file,
            framer: Framer::default(),
            fde: Arc::new(fde),
            tables: Arc::default(),
            chunk: None,
        }
    }

    /// Input bytes in the chunk being cut.
    fn len(&self) -> usize {
        self.chunk.as_ref().map_or(0, |c| c.bytes.len())
    }

    /// Whether an event at `offset` follows the chunk's last byte (it does not after a jump
    /// to `--start-position`).
    fn continues_at(&self, offset: u64) -> bool {
        self.chunk
            .as_ref()
            .is_none_or(|c| c.offset + c.bytes.len() as u64 == offset)
    }

    /// Whether this event starts a transaction, by the framer's rule. An event the framer
    /// cannot read is not a start (the worker decoding it reports what is wrong).
    fn opens(&mut self, bytes: &[u8]) -> bool {
        match inspect(bytes, Some(&self.fde), false) {
            Ok(facts) => self.framer.step(&facts).opened,
            Err(_) => false,
        }
    }

    fn append(&mut self, offset: u64, bytes: &[u8], buffer: impl FnOnce() -> Vec<u8>) {
        let c = self.chunk.get_or_insert_with(|| {
            let mut b = buffer();
            b.clear();
            Chunk {
                file: self.file.clone(),
                fde: self.fde.clone(),
                tables: self.tables.clone(),
                offset,
                bytes: b,
            }
        });
        c.bytes.extend_from_slice(bytes);
    }

    fn take(&mut self) -> Option<Chunk> {
        self.chunk.take()
    }

    /// Follow the state the next chunk starts from: a FORMAT_DESCRIPTION replaces the
    /// description and forgets the tables (as the event stream does), a TABLE_MAP is kept.
    fn observe(&mut self, bytes: &[u8]) {
        let Ok(h) = crate::binlog::header::EventHeader::parse(bytes) else {
            return;
        };
        match h.event_type {
            EventType::FormatDescription => {
                if let Ok(facts) = inspect(bytes, None, false)
                    && let Kind::FormatDescription(f) = facts.kind
                {
                    self.fde = Arc::new(*f);
                    self.tables = Arc::default();
                }
            }
            EventType::TableMap => {
                let ph = self.fde.post_header_len(h.event_type).unwrap_or(8);
                let body = crate::binlog::event::split_body(bytes, &h, &self.fde);
                if let Ok(tm) = body.and_then(|b| TableMap::parse(b, ph))
                    && self.tables.get(&tm.table_id).is_none_or(|t| **t != *bytes)
                {
                    Arc::make_mut(&mut self.tables).insert(tm.table_id, bytes.into());
                }
            }
            _ => {}
        }
    }
}
