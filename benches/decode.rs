//! Decode throughput of the binlog library on a large row-heavy binlog written by MySQL 9.7,
//! against `mysql_common` (the `binlog` feature) on the same bytes.
//!
//! Both sides go "to typed values in memory": every column value of every row image is
//! materialised and touched (`black_box`), nothing is printed. gapfill reads through
//! `BinlogFileReader` + `EventStream` + `RowsEvent::rows(..).next_row(..)` into reused `Vec`s
//! (values borrow the event bytes); mysql_common through `BinlogFile`/`EventStreamReader` and
//! `RowsEventData::rows(table_map)`, which builds a `BinlogRow` of owned `BinlogValue`s per
//! image. Both verify CRC32 and expand TRANSACTION_PAYLOAD events.
//!
//! The file: `$GAPFILL_BENCH_BINLOG`, else whatever `scripts/bench-data` prints (it generates
//! and caches about 220 MB with the sandbox's MySQL 9.7 when missing).
//!
//! Prints criterion's numbers (MB/s via `Throughput::BytesDecimal`) and, at the end, a table
//! with MB/s, rows/s and the gapfill / mysql_common ratio from the medians of this run.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};

use gapfill::binlog::event::EventBody;
use gapfill::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use gapfill::binlog::header::{EventHeader, HEADER_LEN};
use gapfill::binlog::stream::{EventStream, expand_rows, payload_events};
use gapfill::binlog::{FormatDescription, Value};

/// What one pass over the file produced, to check that both sides saw the same rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    events: u64,
    rows: u64,
    values: u64,
}

fn bench_file() -> PathBuf {
    if let Some(p) = std::env::var_os("GAPFILL_BENCH_BINLOG") {
        return PathBuf::from(p);
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(format!("{root}/scripts/bench-data"))
        .current_dir(root)
        .output()
        .expect("run scripts/bench-data");
    assert!(
        out.status.success(),
        "scripts/bench-data failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout);
    let path = path
        .lines()
        .last()
        .expect("bench-data prints a path")
        .trim();
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        PathBuf::from(root).join(path)
    }
}

#[inline]
fn touch(v: &Value<'_>) {
    black_box(v);
}

/// gapfill: the file reader over the in-memory bytes, the event stream, every row decoded.
fn decode_gapfill(file: &[u8]) -> Counts {
    let mut counts = Counts::default();
    let mut reader = BinlogFileReader::new("bench.binlog", file).expect("binlog magic");
    let mut stream: Option<EventStream> = None;
    let mut payload_buf = Vec::new();
    let mut rows_buf = Vec::new();
    let mut before: Vec<Value<'_>> = Vec::new();
    let mut after: Vec<Value<'_>> = Vec::new();
    loop {
        let bytes = match reader.next_event().expect("read event") {
            ReadOutcome::Event { bytes, .. } => bytes,
            ReadOutcome::End => break,
            ReadOutcome::TornTail { offset, .. } => panic!("torn tail at {offset}"),
        };
        let stream = stream.get_or_insert_with(|| {
            let h = EventHeader::parse(bytes).expect("header");
            assert_eq!(h.event_type, gapfill::binlog::EventType::FormatDescription);
            EventStream::new(FormatDescription::parse(&bytes[HEADER_LEN..]).expect("fde"))
        });
        let ev = stream.decode(bytes).expect("decode event");
        counts.events += 1;
        match &ev.body {
            EventBody::Rows(r) => {
                let compressed = ev.header.event_type.rows_info().is_some_and(|i| i.2);
                let r = expand_rows(r, compressed, &mut rows_buf).expect("expand rows");
                let table = stream.table(r.table_id).expect("table map");
                let mut it = r.rows(&table.decoder);
                // The values borrow the event, which lives until the next read: the vectors
                // are reused (their allocation) across events through `reuse`.
                let (mut b, mut a) = (reuse(&mut before), reuse(&mut after));
                while it.next_row(&mut b, &mut a).expect("row") {
                    counts.rows += 1;
                    counts.values += (b.len() + a.len()) as u64;
                    b.iter().chain(a.iter()).for_each(touch);
                }
                before = reuse(&mut b);
                after = reuse(&mut a);
            }
            EventBody::TransactionPayload(p) => {
                for inner in payload_events(p, &mut payload_buf).expect("expand payload") {
                    let iev = stream.decode_inner(inner.expect("inner")).expect("inner");
                    counts.events += 1;
                    if let EventBody::Rows(r) = &iev.body {
                        let table = stream.table(r.table_id).expect("table map");
                        let mut it = r.rows(&table.decoder);
                        let (mut b, mut a) = (reuse(&mut before), reuse(&mut after));
                        while it.next_row(&mut b, &mut a).expect("row") {
                            counts.rows += 1;
                            counts.values += (b.len() + a.len()) as u64;
                            b.iter().chain(a.iter()).for_each(touch);
                        }
                        before = reuse(&mut b);
                        after = reuse(&mut a);
                    }
                }
            }
            _ => {}
        }
    }
    counts
}

/// Move an empty vector's allocation to a vector of values of another lifetime (the values
/// borrow the current event; the allocation outlives it).
fn reuse<'b>(v: &mut Vec<Value<'_>>) -> Vec<Value<'b>> {
    v.clear();
    std::mem::take(v)
        .into_iter()
        .map(|_| unreachable!())
        .collect()
}

/// mysql_common: `BinlogFile` over the same bytes, every row to `BinlogRow`s of `BinlogValue`s.
fn decode_mysql_common(file: &[u8]) -> Counts {
    use mysql_common::binlog::BinlogFile;
    use mysql_common::binlog::EventStreamReader;
    use mysql_common::binlog::consts::BinlogVersion;
    use mysql_common::binlog::events::{Event, EventData};
    use mysql_common::binlog::row::BinlogRow;

    fn rows_of(ev: &Event, reader: &EventStreamReader, counts: &mut Counts) {
        counts.events += 1;
        if let Some(EventData::RowsEvent(re)) = ev.read_data().expect("event data") {
            let tme = reader.get_tme(re.table_id()).expect("table map");
            for row in re.rows(tme) {
                let (before, after) = row.expect("row");
                counts.rows += 1;
                let mut touch = |r: Option<BinlogRow>| {
                    if let Some(r) = r {
                        for i in 0..r.len() {
                            counts.values += 1;
                            black_box(r.as_ref(i));
                        }
                    }
                };
                touch(before);
                touch(after);
            }
        }
    }

    let mut counts = Counts::default();
    let mut bf = BinlogFile::new(BinlogVersion::Version4, file).expect("binlog magic");
    while let Some(ev) = bf.next() {
        let ev = ev.expect("event");
        if let Some(EventData::TransactionPayloadEvent(p)) = ev.read_data().expect("event data") {
            counts.events += 1;
            let mut payload = p.decompressed().expect("payload");
            while let Some(inner) = bf
                .reader_mut()
                .read_decompressed(&mut payload)
                .expect("inner")
            {
                rows_of(&inner, bf.reader(), &mut counts);
            }
            continue;
        }
        rows_of(&ev, bf.reader(), &mut counts);
    }
    counts
}

/// Per-iteration times of every criterion sample, to compute this run's medians.
type Samples = Arc<Mutex<Vec<f64>>>;

fn timed(samples: &Samples, f: impl Fn() -> Counts) -> impl FnMut(u64) -> Duration {
    let samples = samples.clone();
    move |iters| {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let d = t.elapsed();
        samples
            .lock()
            .unwrap()
            .push(d.as_secs_f64() / iters.max(1) as f64);
        d
    }
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    (!v.is_empty()).then(|| v[v.len() / 2])
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();

    let path = bench_file();
    let file = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let file: &[u8] = &file;
    let mb = file.len() as f64 / 1e6;

    let ours = decode_gapfill(file);
    let t = Instant::now();
    let theirs = decode_mysql_common(file);
    let mc_pass = t.elapsed();
    eprintln!(
        "bench file {} ({mb:.1} MB): {} events, {} rows, {} values",
        path.display(),
        ours.events,
        ours.rows,
        ours.values
    );
    assert_eq!(ours.rows, theirs.rows, "both decoders see the same rows");
    assert_eq!(
        ours.values, theirs.values,
        "both decoders see the same values"
    );

    let gf: Samples = Default::default();
    let mc: Samples = Default::default();
    {
        let mut g = c.benchmark_group("decode");
        g.throughput(Throughput::BytesDecimal(file.len() as u64));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("gapfill", |b| {
            b.iter_custom(timed(&gf, || decode_gapfill(file)))
        });
        // mysql_common is an order of magnitude slower: the minimum of 10 samples, one pass
        // each (sized from the pass above so criterion does not warn).
        g.measurement_time(mc_pass.mul_f64(11.0));
        g.bench_function("mysql_common", |b| {
            b.iter_custom(timed(&mc, || decode_mysql_common(file)))
        });
        g.finish();
    }
    c.final_summary();

    let (Some(t_gf), Some(t_mc)) = (median(&gf.lock().unwrap()), median(&mc.lock().unwrap()))
    else {
        return;
    };
    let rows = ours.rows as f64;
    println!();
    println!(
        "decode to typed values, {mb:.1} MB, {} rows, {} values (medians of this run)",
        ours.rows, ours.values
    );
    println!("| decoder | time/pass | MB/s | rows/s |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, t) in [("gapfill", t_gf), ("mysql_common 0.38", t_mc)] {
        println!("| {name} | {:.3} s | {:.0} | {:.0} |", t, mb / t, rows / t);
    }
    println!("ratio gapfill / mysql_common: {:.1}x", t_mc / t_gf);
}
