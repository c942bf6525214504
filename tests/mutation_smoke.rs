//! Always-on fuzz-style smoke test: deterministic mutations of every event of every fixture,
//! fed to every decoder; none may panic (or loop: the run is bounded and each row must consume
//! bytes).
//!
//! Mutations (seeded xorshift, so a failure reproduces): bit flips, truncations, length-field
//! corruption (interesting values written over a u8/u16/u32/lenenc-sized field), splicing in
//! bytes of another event, and overwriting runs of bytes. Each mutated event is parsed under its
//! file's FORMAT_DESCRIPTION and three synthetic ones, decoded through an `EventStream` that
//! holds the file's table maps, rendered as text and JSON, and, for rows and table maps, has
//! every row decoded. Whole files with a mutated event go through `decode_reader` (both formats)
//! and one through `decode_files`. A panic is reported with the input as hex.
//!
//! `GAPFILL_MUTATION_SEED` and `GAPFILL_MUTATION_ROUNDS` change the seed and the number of
//! mutations per event, for longer exploratory runs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use gapfill::binlog::checksum::{ChecksumAlg, compute_crc32};
use gapfill::binlog::event::{Event, EventBody};
use gapfill::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use gapfill::binlog::header::HEADER_LEN;
use gapfill::binlog::row_decoder::RowDecoder;
use gapfill::binlog::rows_event::RowsEvent;
use gapfill::binlog::stream::{EventStream, expand_rows, payload_events};
use gapfill::binlog::table_map::TableMap;
use gapfill::binlog::{BINLOG_MAGIC, EventType, FormatDescription};
use gapfill::decode::json::JsonRenderer;
use gapfill::decode::text::TextRenderer;
use gapfill::decode::{DecodeOptions, Format, decode_files, decode_reader};

/// Events taken from one file (the gzipped Sakila load is 1400 near-identical rows events).
const MAX_EVENTS_PER_FILE: usize = 160;
/// Whole-file inputs are cut to this many bytes (at an event boundary).
const MAX_FILE_BYTES: usize = 48 << 10;
/// Whole-file mutations per fixture.
const FILE_ROUNDS: usize = 12;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("fixtures dir").flatten() {
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

fn load(p: &Path) -> Option<Vec<u8>> {
    let raw = std::fs::read(p).ok()?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out).ok()?;
        out
    } else {
        raw
    };
    bytes.starts_with(&BINLOG_MAGIC).then_some(bytes)
}

struct Fixture {
    name: String,
    fde: FormatDescription,
    events: Vec<Vec<u8>>,
}

fn split(name: String, bytes: &[u8]) -> Option<Fixture> {
    let mut r = BinlogFileReader::new(&name, bytes).ok()?;
    let mut events = Vec::new();
    while let Ok(ReadOutcome::Event { bytes, .. }) = r.next_event() {
        events.push(bytes.to_vec());
        if events.len() == MAX_EVENTS_PER_FILE {
            break;
        }
    }
    let fde = FormatDescription::parse(events.first()?.get(HEADER_LEN..)?).ok()?;
    Some(Fixture { name, fde, events })
}

/// Interesting values for a corrupted length field.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xfa,
    0xfb,
    0xfc,
    0xfe,
    0xff,
    0xffff,
    0xff_ffff,
    0xffff_ffff,
    u64::MAX,
];

/// One mutation of `ev`; `other` supplies bytes to splice in.
fn mutate(rng: &mut Rng, ev: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = ev.to_vec();
    // Mostly leave the common header alone so the body parsers are reached.
    let body_at = if rng.below(4) == 0 {
        0
    } else {
        HEADER_LEN.min(b.len())
    };
    let span = b.len() - body_at;
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(4) {
                if span > 0 {
                    let i = body_at + rng.below(span);
                    b[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            b.truncate(body_at + rng.below(span + 1));
        }
        2 => {
            let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
            let w = [1, 2, 3, 4, 8][rng.below(5)];
            if span >= w {
                let i = body_at + rng.below(span - w + 1);
                b[i..i + w].copy_from_slice(&v[..w]);
            }
        }
        3 => {
            if !other.is_empty() {
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(64));
                let at = body_at + rng.below(span + 1);
                let piece = other[from..from + n].to_vec();
                if rng.below(2) == 0 {
                    b.splice(at..at, piece);
                } else {
                    let end = (at + n).min(b.len());
                    b.splice(at..end, piece);
                }
            }
        }
        4 => {
            if span > 0 {
                let i = body_at + rng.below(span);
                let n = (1 + rng.below(8)).min(b.len() - i);
                let v = rng.next().to_le_bytes();
                for (k, x) in b[i..i + n].iter_mut().enumerate() {
                    *x = v[k % 8];
                }
            }
        }
        _ => {
            // Drop a run from the middle (lengths now disagree with the bytes).
            if span > 1 {
                let i = body_at + rng.below(span);
                let n = 1 + rng.below((b.len() - i).min(16));
                b.drain(i..i + n);
            }
        }
    }
    b
}

/// Make the header's size match and, for a checksummed file, the CRC32 right, so the body
/// parser sees the mutation rather than the size or checksum check.
fn fix_up(b: &mut [u8], checksum: ChecksumAlg) {
    if b.len() >= 13 {
        let n = b.len() as u32;
        b[9..13].copy_from_slice(&n.to_le_bytes());
    }
    if checksum == ChecksumAlg::Crc32 && b.len() >= HEADER_LEN + 4 {
        let n = b.len() - 4;
        let crc = compute_crc32(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
    }
}

/// Render an event as both formats the way the decode loop does.
fn render(stream: &EventStream, ev: &Event<'_>) {
    let mut out = Vec::new();
    let mut rows_buf = Vec::new();
    let rows = match &ev.body {
        EventBody::Rows(r) => {
            let compressed = ev.header.event_type.rows_info().is_some_and(|i| i.2);
            let Ok(t) = stream.table(r.table_id) else {
                return;
            };
            let Ok(r) = expand_rows(r, compressed, &mut rows_buf) else {
                return;
            };
            Some((t, r))
        }
        _ => None,
    };
    let rows = rows.as_ref().map(|(t, r)| (*t, r));
    let _ = TextRenderer::default().event(&mut out, 4, ev, rows);
    let _ = JsonRenderer::default().event(&mut out, "smoke", 4, ev, rows);
}

/// Decode every row of `body` (a rows event body of type `t`) with the table map `tm_body`.
fn decode_rows(fde: &FormatDescription, t: EventType, tm_body: &[u8], body: &[u8]) {
    let Some((kind, version, _)) = t.rows_info() else {
        return;
    };
    let tm_phl = fde.post_header_len(EventType::TableMap).unwrap_or(8);
    let phl = fde
        .post_header_len(t)
        .unwrap_or(if version == 1 { 8 } else { 10 });
    let Ok(tm) = TableMap::parse(tm_body, tm_phl) else {
        return;
    };
    let Ok(dec) = RowDecoder::new(&tm) else {
        return;
    };
    let Ok(rows) = RowsEvent::parse(kind, version, body, phl) else {
        return;
    };
    let mut it = rows.rows(&dec);
    let (mut b, mut a) = (Vec::new(), Vec::new());
    // The checked form: `RowIter` alone loops forever on rows that consume no bytes (open bug
    // in src/binlog/rows_event.rs, see tests/fuzz_regressions.rs).
    while let Ok(true) = it.next_row(&mut b, &mut a) {}
}

/// Body of a whole event under `fde` (no trailer), if its size is sane.
fn body_of<'a>(ev: &'a [u8], fde: &FormatDescription) -> Option<&'a [u8]> {
    let end = ev.len().checked_sub(fde.checksum.trailer_len())?;
    ev.get(HEADER_LEN..end)
}

struct Failures(Vec<String>);

impl Failures {
    fn run(&mut self, what: &str, input: &[u8], f: impl FnOnce()) {
        if catch_unwind(AssertUnwindSafe(f)).is_err() {
            self.0.push(format!("{what}: input {}", hex(input)));
        }
    }
}

#[test]
fn mutated_fixture_events_never_panic() {
    let seed = env_u64("GAPFILL_MUTATION_SEED", 0x5eed_f00d_6a9f_0111);
    let rounds = env_u64("GAPFILL_MUTATION_ROUNDS", 6) as usize;
    let mut rng = Rng(seed | 1);
    let synthetic = [
        FormatDescription::synthetic("9.7.0", ChecksumAlg::Crc32),
        FormatDescription::synthetic("5.7.20-log", ChecksumAlg::Off),
        FormatDescription::synthetic("10.11.6-MariaDB-log", ChecksumAlg::Crc32),
    ];
    let mut fails = Failures(Vec::new());
    let mut inputs = 0usize;
    let mut files = 0usize;
    for path in fixtures() {
        let Some(bytes) = load(&path) else { continue };
        let name = path.display().to_string();
        let Some(fx) = split(name.clone(), &bytes) else {
            continue;
        };
        files += 1;
        // The file's table maps (bodies) and the events inside its transaction payloads.
        let mut stream = EventStream::new(fx.fde.clone()).verify_checksums(false);
        let mut tables: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut inner_events = Vec::new();
        for ev in &fx.events {
            if let Ok(e) = stream.decode(ev) {
                match &e.body {
                    EventBody::TableMap(tm) => {
                        if let Some(b) = body_of(ev, &fx.fde) {
                            tables.push((tm.table_id, b.to_vec()));
                        }
                    }
                    EventBody::TransactionPayload(p) => {
                        let mut buf = Vec::new();
                        if let Ok(evs) = payload_events(p, &mut buf) {
                            inner_events.extend(evs.flatten().map(<[u8]>::to_vec));
                        }
                    }
                    _ => {}
                }
            }
        }
        for e in &inner_events {
            if let Ok(Event {
                body: EventBody::TableMap(tm),
                ..
            }) = stream.decode_inner(e)
                && let Some(b) = e.get(HEADER_LEN..)
            {
                tables.push((tm.table_id, b.to_vec()));
            }
        }
        let all: Vec<(&Vec<u8>, bool)> = fx
            .events
            .iter()
            .map(|e| (e, false))
            .chain(inner_events.iter().map(|e| (e, true)))
            .collect();
        let table_maps: Vec<(&Vec<u8>, bool)> = all
            .iter()
            .copied()
            .filter(|(e, _)| e.get(4) == Some(&EventType::TableMap.code()))
            .collect();
        for (i, &(ev, inner)) in all.iter().enumerate() {
            let other = all[rng.below(all.len())].0;
            let t = EventType::from_u8(ev.get(4).copied().unwrap_or(0));
            for _ in 0..rounds {
                let mut m = mutate(&mut rng, ev, other);
                let checksum = if inner {
                    ChecksumAlg::Off
                } else {
                    fx.fde.checksum
                };
                if rng.below(3) != 0 {
                    fix_up(&mut m, checksum);
                }
                inputs += 1;
                let what = format!("{} event #{i} ({}, inner: {inner})", fx.name, t.name());
                fails.run(&what, &m, || {
                    for fde in std::iter::once(&fx.fde).chain(synthetic.iter()) {
                        let _ = Event::parse(&m, fde, false);
                        let _ = Event::parse(&m, fde, true);
                        let _ = Event::parse_unchecksummed(&m, fde);
                    }
                    // Through a stream holding the file's table maps, then both renderers.
                    let mut s = EventStream::new(fx.fde.clone()).verify_checksums(false);
                    for &(tev, tinner) in &table_maps {
                        let _ = if tinner {
                            s.decode_inner(tev)
                        } else {
                            s.decode(tev)
                        };
                    }
                    let r = if inner {
                        s.decode_inner(&m)
                    } else {
                        s.decode(&m)
                    };
                    if let Ok(e) = r {
                        render(&s, &e);
                    }
                });
                // Rows: the mutated rows body against its table, and the real rows bodies
                // against a mutated table map.
                if t.rows_info().is_some() || t == EventType::TableMap {
                    let fde = &fx.fde;
                    let trailer = if inner { 0 } else { fde.checksum.trailer_len() };
                    let body = m.get(HEADER_LEN..m.len().saturating_sub(trailer));
                    let Some(body) = body else { continue };
                    fails.run(&format!("{what}, rows"), &m, || {
                        if t == EventType::TableMap {
                            for (rev, rinner) in &all {
                                let rt = EventType::from_u8(rev.get(4).copied().unwrap_or(0));
                                let rtr = if *rinner {
                                    0
                                } else {
                                    fde.checksum.trailer_len()
                                };
                                if rt.rows_info().is_some()
                                    && let Some(rb) =
                                        rev.get(HEADER_LEN..rev.len().saturating_sub(rtr))
                                {
                                    decode_rows(fde, rt, body, rb);
                                }
                            }
                        } else {
                            for (_, tm) in &tables {
                                decode_rows(fde, t, tm, body);
                            }
                        }
                    });
                }
            }
        }

        // Whole files with one mutated event, through the full decode loop.
        let mut cut = Vec::from(BINLOG_MAGIC);
        for ev in &fx.events {
            if cut.len() + ev.len() > MAX_FILE_BYTES {
                break;
            }
            cut.extend_from_slice(ev);
        }
        for round in 0..FILE_ROUNDS {
            let mut file = Vec::from(BINLOG_MAGIC);
            let victim = rng.below(fx.events.len());
            for (k, ev) in fx.events.iter().enumerate() {
                if file.len() + ev.len() > MAX_FILE_BYTES {
                    break;
                }
                if k == victim {
                    let mut m = mutate(&mut rng, ev, &cut);
                    if round % 2 == 0 {
                        fix_up(&mut m, fx.fde.checksum);
                    }
                    file.extend_from_slice(&m);
                } else {
                    file.extend_from_slice(ev);
                }
            }
            if round == FILE_ROUNDS - 1 {
                // And a cut anywhere, as a torn tail.
                file.truncate(rng.below(file.len() + 1));
            }
            inputs += 1;
            fails.run(
                &format!("{} whole file round {round}", fx.name),
                &file,
                || {
                    for format in [Format::Text, Format::Json] {
                        for verify in [false, true] {
                            let opts = DecodeOptions {
                                format,
                                verify_checksums: verify,
                                ..DecodeOptions::default()
                            };
                            let _ = decode_reader("smoke.bin", &file[..], &opts, &mut Vec::new());
                        }
                    }
                },
            );
        }
        // One through the file path itself.
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("mutated.bin");
        let mut m = cut.clone();
        let at = rng.below(m.len().saturating_sub(4)) + 4;
        m[at] ^= 0x40;
        std::fs::write(&p, &m).expect("write temp file");
        inputs += 1;
        fails.run(&format!("{} via decode_files", fx.name), &m, || {
            let opts = DecodeOptions {
                verify_checksums: false,
                ..DecodeOptions::default()
            };
            let _ = decode_files(std::slice::from_ref(&p), &opts, &mut Vec::new());
        });
    }
    assert!(files >= 15, "only {files} fixtures found");
    if !fails.0.is_empty() {
        let n = fails.0.len();
        let shown: Vec<&String> = fails.0.iter().take(20).collect();
        panic!(
            "{n} of {inputs} mutated inputs panicked (seed {seed:#x}):\n{}",
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    eprintln!("{inputs} mutated inputs from {files} fixtures, no panic");
}
