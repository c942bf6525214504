//! Real servers' binlogs replayed event by event into a spool: the segments are the same
//! bytes, decode the same, and the transactions found agree with what the servers announced.
//! The mysqlbinlog check needs the sandbox (`scripts/test`).

#[path = "spool_support/mod.rs"]
mod support;

use std::io::Read;
use std::path::{Path, PathBuf};

use gapfill::binlog::checksum::ChecksumAlg;
use gapfill::binlog::event::{Event, EventBody};
use gapfill::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use gapfill::binlog::file_writer::build_event;
use gapfill::binlog::header::EventHeader;
use gapfill::binlog::{EventType, Flavor, FormatDescription};
use gapfill::decode::{DecodeOptions, decode_files};
use gapfill::spool::{MasterInfo, Spool, StartPoint, TxnRecord};
use support::{config, txns};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every binlog fixture: (file name, bytes). The gzip'd Sakila binlog is expanded.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![fixtures_dir()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("protocol") {
                    stack.push(p);
                }
                continue;
            }
            let mut bytes = std::fs::read(&p).unwrap();
            if p.extension().is_some_and(|x| x == "gz") {
                let mut raw = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut raw)
                    .unwrap();
                bytes = raw;
            }
            if bytes.starts_with(&[0xfe, b'b', b'i', b'n']) {
                let name = p.file_name().unwrap().to_string_lossy().replace(".gz", "");
                out.push((name, bytes));
            }
        }
    }
    out.sort();
    assert!(out.len() >= 15, "fixtures: {}", out.len());
    out
}

/// The events of a binlog image: (offset, bytes).
fn events(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut r = BinlogFileReader::new("fixture", bytes).unwrap();
    let mut out = Vec::new();
    while let ReadOutcome::Event { offset, bytes } = r.next_event().unwrap() {
        out.push((offset, bytes.to_vec()));
    }
    out
}

fn fde_of(bytes: &[u8]) -> FormatDescription {
    let size = u32::from_le_bytes(bytes[13..17].try_into().unwrap()) as usize;
    FormatDescription::parse(&bytes[4 + 19..4 + size]).unwrap()
}

/// The artificial ROTATE a master sends first, naming `file` at `pos`.
fn fake_rotate(file: &str, pos: u64) -> Vec<u8> {
    let mut body = pos.to_le_bytes().to_vec();
    body.extend_from_slice(file.as_bytes());
    let mut out = Vec::new();
    let h = EventHeader {
        timestamp: 0,
        event_type: EventType::Rotate,
        server_id: 1,
        event_size: 0,
        log_pos: 0,
        flags: 0x20,
    };
    build_event(h, &body, ChecksumAlg::Crc32, &mut out);
    out
}

fn master(fde: &FormatDescription) -> MasterInfo {
    MasterInfo {
        addr: "fixture:3306".into(),
        server_id: 1,
        server_uuid: None,
        flavor: fde.flavor,
    }
}

/// Replay `evs` into a fresh spool in `dir` as a dump starting at `file:pos`.
fn replay(dir: &Path, file: &str, pos: u64, fde: &FormatDescription, evs: &[&[u8]]) -> Spool {
    let mut s = Spool::open(config(dir)).unwrap();
    s.begin(
        &master(fde),
        StartPoint::FilePos {
            file: file.into(),
            pos,
        },
    )
    .unwrap();
    s.append(&fake_rotate(file, pos)).unwrap();
    for e in evs {
        if let Err(err) = s.append(e) {
            panic!(
                "{file}: event type {} at log_pos {:?}: {err}",
                e[4],
                &e[13..17]
            );
        }
    }
    s
}

/// Decoded text, or the error with the file's path taken out.
fn decode(p: &Path) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    decode_files(&[p.to_path_buf()], &DecodeOptions::default(), &mut out)
        .map_err(|e| e.to_string().replace(&*p.to_string_lossy(), "FILE"))?;
    Ok(out)
}

fn is_gtid_event(t: u8) -> bool {
    matches!(t, 33 | 34 | 42 | 162)
}

#[test]
fn segments_are_byte_identical_to_the_masters_binlog_and_decode_the_same() {
    let base = tempfile::tempdir().unwrap();
    for (name, bytes) in fixtures() {
        let evs = events(&bytes);
        let fde = fde_of(&bytes);
        let dir = base.path().join(&name);
        let refs: Vec<&[u8]> = evs.iter().map(|(_, e)| &e[..]).collect();
        let s = replay(&dir, &name, 4, &fde, &refs);
        let held = txns(&s);
        let seg = dir.join("epoch-0001").join(&name);
        drop(s);
        assert_eq!(
            std::fs::read(&seg).unwrap(),
            bytes,
            "{name}: segment differs"
        );
        // The fixture files sit next to other files; decode a copy with the same name.
        let orig = base.path().join(format!("{name}.orig"));
        std::fs::write(&orig, &bytes).unwrap();
        assert_eq!(decode(&seg), decode(&orig), "{name}: decodes differently");

        // Transactions: one per GTID event when the server wrote them, each starting with
        // its GTID event and, where the server announced a length, exactly that long.
        let gtid_events = evs.iter().filter(|(_, e)| is_gtid_event(e[4])).count();
        if gtid_events > 0 {
            assert_eq!(held.len(), gtid_events, "{name}");
        } else {
            assert!(!held.is_empty(), "{name}: no transaction found");
        }
        check_lengths(&name, &bytes, &fde, &held);
        for w in held.windows(2) {
            assert!(w[0].local_end <= w[1].local_start, "{name}: overlapping");
        }
    }
}

fn check_lengths(name: &str, bytes: &[u8], fde: &FormatDescription, held: &[TxnRecord]) {
    for t in held {
        let first = &bytes[t.local_start as usize..];
        if !is_gtid_event(first[4]) {
            continue;
        }
        if let Ok(Event {
            body: EventBody::Gtid(g),
            ..
        }) = Event::parse(first, fde, false)
        {
            if let Some(len) = g.transaction_length {
                assert_eq!(len, t.local_end - t.local_start, "{name}: {:?}", t.gtid);
            }
            if let Some(ts) = g.immediate_commit_timestamp {
                assert_eq!(t.commit_ts_us, ts, "{name}");
            }
            assert_eq!(t.logical_clock, g.logical_clock, "{name}");
        }
        assert_eq!(t.master_end - t.master_start, t.local_end - t.local_start);
    }
}

#[test]
fn a_capture_starting_mid_file_holds_magic_description_then_the_rest_verbatim() {
    let base = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (name, bytes) in fixtures() {
        let evs = events(&bytes);
        let fde = fde_of(&bytes);
        let full = {
            let dir = base.path().join(format!("{name}-full"));
            let refs: Vec<&[u8]> = evs.iter().map(|(_, e)| &e[..]).collect();
            txns(&replay(&dir, &name, 4, &fde, &refs))
        };
        if full.len() < 3 {
            continue;
        }
        let k = full.len() / 2;
        let start = full[k].local_start;
        let from = evs.iter().position(|(o, _)| *o == start).unwrap();
        let mut refs: Vec<&[u8]> = vec![&evs[0].1];
        refs.extend(evs[from..].iter().map(|(_, e)| &e[..]));
        let dir = base.path().join(format!("{name}-mid"));
        let s = replay(&dir, &name, start, &fde, &refs);
        let held = txns(&s);
        drop(s);
        let mut want = bytes[..4 + evs[0].1.len()].to_vec();
        want.extend_from_slice(&bytes[start as usize..]);
        let seg = dir.join("epoch-0001").join(&name);
        assert_eq!(std::fs::read(&seg).unwrap(), want, "{name}");
        let shift = start - (4 + evs[0].1.len() as u64);
        assert_eq!(held.len(), full.len() - k, "{name}");
        for (a, b) in held.iter().zip(&full[k..]) {
            assert_eq!(a.gtid, b.gtid);
            assert_eq!(a.master_start, b.master_start);
            assert_eq!(a.local_start + shift, b.local_start);
        }
        let orig = base.path().join(format!("{name}.orig"));
        std::fs::write(&orig, &bytes).unwrap();
        if decode(&orig).is_ok() {
            decode(&seg).unwrap();
        }
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn mariadb_fixture_boundaries() {
    // mariadb-10.11-gtid.000001: ddl 3-7-1..3, InnoDB and MyISAM groups, XA PREPARE ends a
    // group, XA COMMIT is its own standalone group.
    let (name, bytes) = fixtures()
        .into_iter()
        .find(|(n, _)| n == "mariadb-10.11-gtid.000001")
        .unwrap();
    let fde = fde_of(&bytes);
    assert_eq!(fde.flavor, Flavor::MariaDb);
    let evs = events(&bytes);
    let refs: Vec<&[u8]> = evs.iter().map(|(_, e)| &e[..]).collect();
    let dir = tempfile::tempdir().unwrap();
    let s = replay(dir.path(), &name, 4, &fde, &refs);
    let held = txns(&s);
    let ends: Vec<_> = held
        .iter()
        .map(|t| (t.gtid.as_ref().unwrap().to_string(), format!("{:?}", t.end)))
        .collect();
    let want = [
        ("3-7-1", "Statement"),
        ("3-7-2", "Statement"),
        ("3-7-3", "Statement"),
        ("3-7-4", "Xid"),
        ("3-7-5", "CommitQuery"),
        ("3-7-6", "CommitQuery"),
        ("3-7-7", "Xid"),
        ("5-7-1", "Xid"),
        ("3-7-8", "XaPrepare"),
        ("3-7-9", "XaEnd"),
        ("3-7-10", "Xid"),
        ("3-9-11", "Xid"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(ends, want);
}

/// `mysqlbinlog` (MySQL 9.7, from the sandbox) reads segments made from MySQL fixtures.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysqlbinlog_reads_a_segment() {
    let Ok(bin) = std::env::var("GAPFILL_MYSQLBINLOG") else {
        panic!("GAPFILL_MYSQLBINLOG is not set: run scripts/test (it installs mysqlbinlog 9.7)");
    };
    let base = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (name, bytes) in fixtures() {
        let fde = fde_of(&bytes);
        if fde.flavor != Flavor::MySql || fde.version < (8, 0, 0) {
            continue;
        }
        let evs = events(&bytes);
        let refs: Vec<&[u8]> = evs.iter().map(|(_, e)| &e[..]).collect();
        let dir = base.path().join(&name);
        let held = txns(&replay(&dir, &name, 4, &fde, &refs));
        mysqlbinlog_ok(&bin, &name, &dir, &held);
        // As a dump starting at the second transaction delivers it: the description comes
        // with log_pos 0 (and its CRC recomputed), then the events from there on.
        if held.len() >= 2 {
            let start = held[1].local_start;
            let mut fde_ev = evs[0].1.clone();
            fde_ev[13..17].copy_from_slice(&[0; 4]);
            let n = fde_ev.len();
            let crc = gapfill::binlog::checksum::compute_crc32(&fde_ev[..n - 4]);
            fde_ev[n - 4..].copy_from_slice(&crc.to_le_bytes());
            let from = evs.iter().position(|(o, _)| *o == start).unwrap();
            let mut refs: Vec<&[u8]> = vec![&fde_ev];
            refs.extend(evs[from..].iter().map(|(_, e)| &e[..]));
            let dir = base.path().join(format!("{name}-mid"));
            let held = txns(&replay(&dir, &name, start, &fde, &refs));
            mysqlbinlog_ok(&bin, &name, &dir, &held);
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} segments checked");
}

fn mysqlbinlog_ok(bin: &str, name: &str, dir: &Path, held: &[TxnRecord]) {
    {
        let seg = dir.join("epoch-0001").join(name);
        let out = std::process::Command::new(bin)
            .arg("--base64-output=decode-rows")
            .arg("-vv")
            .arg(&seg)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: mysqlbinlog failed: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("End of log file"), "{name}: {stdout}");
        // Every transaction's GTID is there.
        for t in held {
            if let Some(g) = &t.gtid {
                assert!(stdout.contains(&g.to_string()), "{name}: {g} missing");
            }
        }
    }
}
