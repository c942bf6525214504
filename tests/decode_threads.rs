//! `gapfill decode` on several threads prints exactly what one thread prints: on every shipped
//! binlog fixture, in both formats, with start and stop positions, with chunks cut as small as
//! possible (a cut at every transaction start, and transactions rendered on the reading
//! thread), and on damaged copies (a flipped byte, a torn tail): the same error after the same
//! output.

use std::io::Read;
use std::path::{Path, PathBuf};

use gapfill::binlog::BINLOG_MAGIC;
use gapfill::decode::{ChunkSizes, DecodeOptions, Format, decode_files, decode_reader};

/// Every binlog under tests/fixtures (gzipped ones unpacked), by path.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    paths.sort();
    let mut files = Vec::new();
    for p in paths {
        let mut bytes = std::fs::read(&p).unwrap();
        if p.extension().is_some_and(|e| e == "gz") {
            let mut raw = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut raw)
                .unwrap();
            bytes = raw;
        }
        if bytes.starts_with(&BINLOG_MAGIC) {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            files.push((name, bytes));
        }
    }
    assert!(files.len() >= 15, "fixtures found: {}", files.len());
    files
}

/// Output and error (as text) of one decode.
fn run(name: &str, bytes: &[u8], opts: &DecodeOptions) -> (Vec<u8>, Option<String>) {
    let mut out = Vec::new();
    let r = decode_reader(name, bytes, opts, &mut out);
    (out, r.err().map(|e| e.to_string()))
}

/// Chunkings that exercise every path: one chunk, a cut at every transaction start, and every
/// transaction's events after its first rendered on the reading thread.
const CHUNKINGS: &[ChunkSizes] = &[
    ChunkSizes {
        target: 2 << 20,
        max: 64 << 20,
    },
    ChunkSizes {
        target: 1,
        max: usize::MAX,
    },
    ChunkSizes { target: 1, max: 1 },
    ChunkSizes {
        target: 700,
        max: 3000,
    },
];

/// One thread and several agree on `bytes` under `base` options, for every chunking.
fn same_on_threads(name: &str, bytes: &[u8], base: &DecodeOptions) -> (Vec<u8>, Option<String>) {
    let one = run(
        name,
        bytes,
        &DecodeOptions {
            threads: 1,
            ..base.clone()
        },
    );
    for &chunks in CHUNKINGS {
        for threads in [2, 3] {
            let opts = DecodeOptions {
                threads,
                chunks,
                ..base.clone()
            };
            let many = run(name, bytes, &opts);
            assert_eq!(
                one.1, many.1,
                "{name}: error with {threads} threads, {chunks:?}, {base:?}"
            );
            if one.0 != many.0 {
                let at = one.0.iter().zip(&many.0).position(|(a, b)| a != b);
                panic!(
                    "{name}: output differs with {threads} threads, {chunks:?}, {base:?}: \
                     lengths {} and {}, first difference at byte {at:?}",
                    one.0.len(),
                    many.0.len()
                );
            }
        }
    }
    one
}

/// Offsets of the events a decode printed (`# at` lines of the text form).
fn event_offsets(text: &[u8]) -> Vec<u64> {
    let mut v: Vec<u64> = String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| l.strip_prefix("# at ")?.parse().ok())
        .collect();
    v.dedup();
    v
}

#[test]
fn every_fixture_decodes_the_same_on_one_and_several_threads() {
    for (name, bytes) in fixtures() {
        for format in [Format::Text, Format::Json] {
            let base = DecodeOptions {
                format,
                ..DecodeOptions::default()
            };
            let (out, err) = same_on_threads(&name, &bytes, &base);
            assert!(err.is_none(), "{name}: {err:?}");
            assert!(!out.is_empty());
        }
    }
}

#[test]
fn start_and_stop_positions_agree() {
    for (name, bytes) in fixtures() {
        let (text, _) = run(&name, &bytes, &DecodeOptions::default());
        let at = event_offsets(&text);
        if at.len() < 6 {
            continue;
        }
        let (third, mid, late) = (at[2], at[at.len() / 2], at[at.len() - 2]);
        for (start, stop) in [
            (Some(third), None),
            (None, Some(mid)),
            (Some(third), Some(late)),
            (Some(mid), Some(mid + 1)),
            (None, Some(4)),
        ] {
            let base = DecodeOptions {
                start_position: start,
                stop_position: stop,
                ..DecodeOptions::default()
            };
            same_on_threads(&name, &bytes, &base);
        }
    }
}

#[test]
fn damaged_files_fail_at_the_same_event_with_the_same_output() {
    for (name, bytes) in fixtures() {
        let (text, _) = run(&name, &bytes, &DecodeOptions::default());
        let at = event_offsets(&text);
        let checksummed = {
            let (_, err) = run(
                &name,
                &flip(&bytes, bytes.len() - 2),
                &DecodeOptions::default(),
            );
            err.is_some()
        };
        // A byte flipped inside a dozen events spread over the file, and the file cut there.
        let step = (at.len() / 12).max(1);
        for (k, &offset) in at.iter().enumerate().skip(1).step_by(step) {
            let inside = offset as usize + 20;
            if inside >= bytes.len() {
                continue;
            }
            let (_, err) = same_on_threads(&name, &flip(&bytes, inside), &DecodeOptions::default());
            assert!(
                err.is_some() || !checksummed,
                "{name}: flipped byte {inside} (event {k}) went unnoticed"
            );
            let (out, err) = same_on_threads(&name, &bytes[..inside], &DecodeOptions::default());
            let err = err.unwrap_or_default();
            assert!(
                err.contains("ends inside an event"),
                "{name}: cut at {inside}: {err}"
            );
            assert!(
                event_offsets(&out).len() >= k.min(1),
                "{name}: events before the tear printed"
            );
        }
    }
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 0x40;
    b
}

#[test]
fn several_files_in_one_run_print_as_each_alone() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rust_mysql_common");
    // Each file maps one table: a renderer caching per table must not carry one file's table
    // into the next.
    let files = [
        dir.join("time_issue.000001"),
        dir.join("minimal_row_metadata.000001"),
        dir.join("mysql_type_bit.000001"),
    ];
    for format in [Format::Text, Format::Json] {
        let mut alone = Vec::new();
        for f in &files {
            let opts = DecodeOptions {
                format,
                ..DecodeOptions::default()
            };
            decode_files(std::slice::from_ref(f), &opts, &mut alone).unwrap();
        }
        for threads in [1, 2] {
            let opts = DecodeOptions {
                format,
                threads,
                ..DecodeOptions::default()
            };
            let mut together = Vec::new();
            decode_files(&files, &opts, &mut together).unwrap();
            assert!(
                together == alone,
                "{format:?}, {threads} threads: files decoded together differ from each alone"
            );
        }
    }
}
