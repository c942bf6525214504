//! One stream of events decoded and rendered: the state the sequential loop keeps for a file
//! and each worker keeps for a chunk of it.
//!
//! Owns turning one event's bytes into rendered output: decoding it through an
//! [`EventStream`], expanding TRANSACTION_PAYLOAD and MariaDB-compressed rows, and handing it to
//! the chosen renderer. An event that fails leaves nothing of itself in the output, so the output
//! before an error is always whole events, whichever path produced it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::binlog::event::{Event, EventBody};
use crate::binlog::stream::{EventStream, expand_rows, payload_events};
use crate::binlog::{BinlogError, Flavor, FormatDescription};

use super::driver::{DecodeOptions, DecodeStats, Format};
use super::json::JsonRenderer;
use super::text::TextRenderer;

/// The TABLE_MAP events (whole, as in the file) in force where a chunk starts, by table id:
/// what the sequential path's stream would still know when a rows event names a table its own
/// chunk never mapped (servers map every table in the transaction that uses it, so this is
/// only read for unusual files).
pub type TableMaps = HashMap<u64, Arc<[u8]>>;

enum Renderer {
    Text(TextRenderer),
    Json(JsonRenderer),
}

impl Renderer {
    fn new(format: Format) -> Renderer {
        match format {
            Format::Text => Renderer::Text(TextRenderer::default()),
            Format::Json => Renderer::Json(JsonRenderer::default()),
        }
    }

    /// What a FORMAT_DESCRIPTION of `flavor` sets: the text form escapes strings per flavor.
    fn set_flavor(&mut self, flavor: Flavor) {
        if let Renderer::Text(t) = self {
            t.set_flavor(flavor);
        }
    }

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

/// Decoding and rendering state of one run of consecutive events.
pub struct Decoder {
    stream: EventStream,
    renderer: Renderer,
    verify_checksums: bool,
    payload_buf: Vec<u8>,
    rows_buf: Vec<u8>,
}

impl Decoder {
    /// Start where `fde` is the description in force.
    pub fn new(fde: FormatDescription, opts: &DecodeOptions) -> Decoder {
        let mut renderer = Renderer::new(opts.format);
        renderer.set_flavor(fde.flavor);
        Decoder {
            stream: EventStream::new(fde).verify_checksums(opts.verify_checksums),
            renderer,
            verify_checksums: opts.verify_checksums,
            payload_buf: Vec::new(),
            rows_buf: Vec::new(),
        }
    }

    /// Start again (keeping buffers and renderer caches) where `fde` is the description in
    /// force and no table is mapped.
    pub fn restart(&mut self, fde: FormatDescription) {
        self.renderer.set_flavor(fde.flavor);
        self.stream = EventStream::new(fde).verify_checksums(self.verify_checksums);
    }

    /// Decode and render the event at `offset`. On error the output is as it was before.
    pub fn event(
        &mut self,
        out: &mut Vec<u8>,
        file: &str,
        offset: u64,
        bytes: &[u8],
        inherited: &TableMaps,
        stats: &mut DecodeStats,
    ) -> Result<(), BinlogError> {
        let mark = out.len();
        let r = self.render(out, file, offset, bytes, inherited, stats);
        if r.is_err() {
            out.truncate(mark);
        }
        r
    }

    fn render(
        &mut self,
        out: &mut Vec<u8>,
        file: &str,
        offset: u64,
        bytes: &[u8],
        inherited: &TableMaps,
        stats: &mut DecodeStats,
    ) -> Result<(), BinlogError> {
        let ev = self.stream.decode(bytes)?;
        stats.events += 1;
        stats.bytes += bytes.len() as u64;
        adopt(&mut self.stream, &ev, inherited)?;
        self.renderer
            .event(out, file, offset, &ev, &self.stream, &mut self.rows_buf)?;
        if let EventBody::TransactionPayload(p) = &ev.body {
            for inner in payload_events(p, &mut self.payload_buf)? {
                let iev = self.stream.decode_inner(inner?)?;
                stats.events += 1;
                adopt(&mut self.stream, &iev, inherited)?;
                self.renderer
                    .event(out, file, offset, &iev, &self.stream, &mut self.rows_buf)?;
            }
        }
        Ok(())
    }
}

/// A rows event on a table this run never mapped: take the mapping in force where the run
/// started, as the sequential stream would have it.
fn adopt(
    stream: &mut EventStream,
    ev: &Event<'_>,
    inherited: &TableMaps,
) -> Result<(), BinlogError> {
    if let EventBody::Rows(r) = &ev.body
        && stream.table(r.table_id).is_err()
        && let Some(tm) = inherited.get(&r.table_id)
    {
        stream.decode(tm)?;
    }
    Ok(())
}
