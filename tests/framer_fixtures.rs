//! The one transaction framer, checked over every shipped binlog fixture (MySQL 5.5-9.6,
//! MariaDB 10.5-10.11, compressed transactions, XA, tagged GTIDs): the framer run over the
//! file's events, the spool's index of the same events, and the apply reader's transactions
//! must name the same transactions at the same offsets. Plus the boundary cases the
//! consumers once disagreed on, framed from hand-built events.

use std::path::{Path, PathBuf};

use gapfill::apply::reader::{ReadOptions, TransactionReader};
use gapfill::binlog::file_reader::{BinlogFileReader, ReadOutcome};
use gapfill::binlog::framer::{Framer, Kind, inspect};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        if !dir.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let p = f.path();
            let magic = std::fs::read(&p)
                .map(|b| b.starts_with(b"\xfebin"))
                .unwrap_or(false);
            if magic {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 15, "fixtures missing: {out:?}");
    out
}

/// `(gtid or "anonymous", start offset, end offset)` of every complete transaction, by the
/// framer alone.
fn framed(path: &Path) -> Vec<(String, u64, u64)> {
    framed_and_strays(path).0
}

/// The framed transactions, and the offsets of events that belong to no transaction though
/// they are not file-level events (descriptions, rotations, markers, stops).
fn framed_and_strays(path: &Path) -> (Vec<(String, u64, u64)>, Vec<u64>) {
    let mut strays = Vec::new();
    let mut r = BinlogFileReader::open(path).unwrap();
    let mut fde = None;
    let mut framer = Framer::default();
    let mut start = 0;
    let mut out = Vec::new();
    while let Ok(ReadOutcome::Event { offset, bytes }) = r.next_event() {
        let facts = inspect(bytes, fde.as_ref(), false).unwrap();
        if let Kind::FormatDescription(d) = &facts.kind {
            fde = Some((**d).clone());
            if offset == 4 {
                continue;
            }
        }
        let file_level = matches!(
            facts.kind,
            Kind::FormatDescription(_) | Kind::Rotate { .. } | Kind::Marker | Kind::Stop
        );
        let was_open = framer.is_open();
        let step = framer.step(&facts);
        if step.opened {
            start = offset;
        }
        if !was_open && !step.opened && !file_level {
            strays.push(offset);
        }
        if let Some(done) = step.done {
            let gtid = done
                .txn
                .gtid
                .as_ref()
                .map_or_else(|| "anonymous".to_string(), |g| g.to_string());
            out.push((gtid, start, offset + bytes.len() as u64));
        }
    }
    (out, strays)
}

/// The same, by the apply reader.
fn read(path: &Path) -> Vec<(String, u64, u64)> {
    let mut r = TransactionReader::new(vec![path.to_path_buf()], ReadOptions::default()).unwrap();
    let mut out = Vec::new();
    while let Some(t) = r.next_transaction().unwrap() {
        out.push((t.gtid.to_string(), t.pos.start, t.pos.end));
    }
    out
}

#[test]
fn reader_and_framer_agree_on_every_fixture() {
    let mut total = 0;
    for f in fixtures() {
        let a = framed(&f);
        let b = read(&f);
        assert!(!a.is_empty(), "{}: no transaction framed", f.display());
        assert_eq!(
            a,
            b,
            "{}: the apply reader and the framer differ",
            f.display()
        );
        total += a.len();
    }
    assert!(total > 100, "only {total} transactions in the fixtures");
}

/// Whole binlogs written by real servers: every event is in a transaction or file-level (an
/// event left outside would be bytes a consumer drops: the rows of an atomic CREATE ...
/// SELECT once were).
#[test]
fn whole_server_binlogs_leave_no_event_outside_a_transaction() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gapfill");
    let mut n = 0;
    for f in std::fs::read_dir(dir).unwrap().flatten() {
        let p = f.path();
        // Binlog files only (the folder also holds notes and other fixtures' folders).
        if !std::fs::read(&p).is_ok_and(|b| b.starts_with(b"\xfebin")) {
            continue;
        }
        let (txns, strays) = framed_and_strays(&p);

        assert!(
            strays.is_empty(),
            "{}: events outside any transaction at {strays:?}",
            p.display()
        );
        assert!(!txns.is_empty());
        n += 1;
    }
    assert!(n >= 4, "the boundary fixtures of both servers are missing");
}

#[test]
fn the_spool_indexes_what_the_framer_frames() {
    use gapfill::spool::{FsyncPolicy, MasterInfo, Retention, Spool, SpoolConfig, StartPoint};
    for f in fixtures() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = SpoolConfig {
            dir: tmp.path().to_path_buf(),
            fsync: FsyncPolicy::Never,
            retention: Retention {
                keep: std::time::Duration::from_secs(u32::MAX as u64),
                max_bytes: None,
            },
        };
        let mut s = Spool::open(cfg).unwrap();
        let bytes = std::fs::read(&f).unwrap();
        let flavor = if framed(&f)
            .first()
            .is_some_and(|t| t.0.matches('-').count() == 2 && !t.0.contains(':'))
        {
            gapfill::binlog::Flavor::MariaDb
        } else {
            gapfill::binlog::Flavor::MySql
        };
        let info = MasterInfo {
            addr: "m:1".into(),
            server_id: 1,
            server_uuid: None,
            flavor,
        };
        s.begin(
            &info,
            StartPoint::FilePos {
                file: f.file_name().unwrap().to_string_lossy().into_owned(),
                pos: 4,
            },
        )
        .unwrap();
        let mut r = BinlogFileReader::new("fixture", &bytes[..]).unwrap();
        while let Ok(ReadOutcome::Event { bytes, .. }) = r.next_event() {
            // The spool refuses what a master would never send (fixtures cut by hand end
            // inside a transaction); what it held must match the framer.
            if s.append(bytes).is_err() {
                break;
            }
        }
        let held: Vec<(String, u64)> = s
            .transactions()
            .map(|t| {
                let t = t.unwrap();
                (
                    t.gtid
                        .as_ref()
                        .map_or_else(|| "anonymous".to_string(), |g| g.to_string()),
                    t.master_end,
                )
            })
            .collect();
        let want: Vec<(String, u64)> = framed(&f)
            .into_iter()
            .map(|(g, _, end)| (g, end))
            .take(held.len())
            .collect();
        assert_eq!(held, want, "{}: the spool's index differs", f.display());
    }
}

mod common;

/// Statements whose binlog holds every boundary case, by flavor.
fn boundary_workload(kind: common::Kind) -> &'static str {
    match kind {
        common::Kind::MySql => {
            "CREATE DATABASE fx; USE fx;
             CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
             INSERT INTO t VALUES (1,'a'),(2,'b');
             CREATE TABLE t2 SELECT * FROM t;
             XA START 'x1'; INSERT INTO t VALUES (3,'c'); XA END 'x1'; XA PREPARE 'x1';
             XA COMMIT 'x1';
             XA START 'x2'; INSERT INTO t VALUES (4,'d'); XA END 'x2'; XA PREPARE 'x2';
             XA ROLLBACK 'x2';
             XA BEGIN 'x3'; INSERT INTO t VALUES (5,'e'); XA END 'x3'; XA COMMIT 'x3' ONE PHASE;
             SET SESSION binlog_transaction_compression = ON;
             INSERT INTO t VALUES (6,'f'),(7,'g');
             UPDATE t SET v = 'z' WHERE id > 5;
             SET SESSION binlog_transaction_compression = OFF;
             CREATE TABLE m (id INT PRIMARY KEY) ENGINE=MyISAM;
             INSERT INTO m VALUES (1);
             BEGIN; INSERT INTO t VALUES (8,'h'); DELETE FROM t WHERE id = 1; COMMIT;
             DROP TABLE t2;"
        }
        common::Kind::MariaDb => {
            "CREATE DATABASE fx; USE fx;
             CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
             INSERT INTO t VALUES (1,'a'),(2,'b');
             CREATE TABLE t2 SELECT * FROM t;
             XA START 'x1'; INSERT INTO t VALUES (3,'c'); XA END 'x1'; XA PREPARE 'x1';
             XA COMMIT 'x1';
             XA START 'x2'; INSERT INTO t VALUES (4,'d'); XA END 'x2'; XA PREPARE 'x2';
             XA ROLLBACK 'x2';
             XA BEGIN 'x3'; INSERT INTO t VALUES (5,'e'); XA END 'x3'; XA COMMIT 'x3' ONE PHASE;
             CREATE TABLE m (id INT PRIMARY KEY) ENGINE=MyISAM;
             INSERT INTO m VALUES (1);
             BEGIN; INSERT INTO t VALUES (8,'h'); INSERT INTO m VALUES (2); COMMIT;
             DROP TABLE t2;"
        }
    }
}

/// Each boundary case made by a real server: framer, spool index and reader agree, and the
/// atomic CREATE ... SELECT is one transaction with its rows. With
/// `GAPFILL_WRITE_FIXTURES=1` the binlogs are saved as tests/fixtures/gapfill fixtures.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn real_servers_boundary_cases() {
    let _g = common::server_lock();
    for (server, name) in [
        (common::Server::mysql_target(), "mysql-9.7-boundaries"),
        (common::Server::mariadb_target(), "mariadb-10.11-boundaries"),
    ] {
        server.reset();
        let first = server.current_binlog();
        server.sql_text(boundary_workload(server.kind));
        let tmp = tempfile::tempdir().unwrap();
        let files = server.rotate_and_copy(&first, tmp.path());
        assert_eq!(files.len(), 1);
        let f = &files[0];
        let a = framed(f);
        assert_eq!(a, read(f), "{name}: the apply reader and the framer differ");
        // 3 DDL + 1 insert + CREATE ... SELECT + XA (prepare, commit) x2 + one-phase XA...
        assert!(a.len() >= 12, "{name}: {a:?}");
        if server.kind == common::Kind::MySql {
            let bytes = std::fs::read(f).unwrap();
            let create = a
                .iter()
                .find(|(_, s, e)| {
                    bytes[*s as usize..*e as usize]
                        .windows(17)
                        .any(|w| w == b"START TRANSACTION")
                })
                .expect("the atomic CREATE ... SELECT is framed");
            let inside = &bytes[create.1 as usize..create.2 as usize];
            assert!(
                inside.windows(2).any(|w| w == b"fx") && create.2 - create.1 > 300,
                "{name}: the CREATE ... SELECT transaction lacks its rows: {create:?}"
            );
        }
        if std::env::var_os("GAPFILL_WRITE_FIXTURES").is_some() {
            let dst = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/gapfill")
                .join(format!("{name}.000001"));
            std::fs::copy(f, dst).unwrap();
        }
    }
}
