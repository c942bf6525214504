//! `gapfill replay --dry-run` over the shipped binlog fixtures, without servers: every
//! transaction becomes SQL with values inlined, GTIDs are kept, and a file cut inside a
//! transaction yields that transaction as incomplete instead of applying it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gapfill::apply::{ApplyOptions, ReadOptions, TransactionReader, apply_files_blocking};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p)
}

fn dry_run(files: &[PathBuf]) -> (gapfill::apply::RunReport, String) {
    let buf = Buf::default();
    let opts = ApplyOptions {
        dry_run: Some(Arc::new(Mutex::new(Box::new(buf.clone())))),
        ..ApplyOptions::default()
    };
    let r = apply_files_blocking(files, opts).unwrap_or_else(|f| panic!("{}", f.error));
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (r, text)
}

#[test]
fn fixtures_become_sql() {
    for (f, gtid) in [
        (
            "rust_mysql_common/binlog_transaction_with_GTID_TAG.000001",
            Some("SET GTID_NEXT='"),
        ),
        ("rust_mysql_common/transaction_compression.000001", None),
        ("rust_mysql_common/vector.binlog", None),
        (
            "rust_mysql_common/mariadb-bin.000001",
            Some("SET @@session.gtid_seq_no="),
        ),
        (
            "gapfill/mariadb-10.11-gtid.000001",
            Some("SET @@session.gtid_seq_no="),
        ),
        ("mysql-binlog-connector-java/mysql-bin.checksum-crc32", None),
    ] {
        let (r, text) = dry_run(&[fixture(f)]);
        assert!(r.transactions_applied > 0, "{f}: nothing printed");
        assert!(r.incomplete.is_empty(), "{f}: {:?}", r.incomplete);
        assert!(
            !text.contains("(?") && !text.contains("=?"),
            "{f}: placeholder left:\n{text}"
        );
        if let Some(g) = gtid {
            assert!(text.contains(g), "{f}: no GTID statement:\n{text}");
        }
        assert!(text.contains("COMMIT"), "{f}:\n{text}");
    }
}

#[test]
fn cut_file_reports_the_incomplete_transaction() {
    let src = fixture("mysql-binlog-connector-java/mysql-bin.checksum-crc32");
    let bytes = std::fs::read(&src).unwrap();
    // Read all transactions, then cut the file in the middle of the last one.
    let mut reader = TransactionReader::new(vec![src.clone()], ReadOptions::default()).unwrap();
    let mut last = None;
    let mut n = 0;
    while let Some(t) = reader.next_transaction().unwrap() {
        n += 1;
        last = Some((t.pos.start, t.pos.end));
    }
    let (start, end) = last.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.000001");
    std::fs::write(&cut, &bytes[..((start + end) / 2) as usize]).unwrap();
    let (r, _) = dry_run(&[cut]);
    assert_eq!(r.transactions_applied, n - 1);
    assert_eq!(r.incomplete.len(), 1, "{:?}", r.incomplete);
    assert_eq!(r.incomplete[0].offset, start);
}

#[test]
fn positions_and_filters() {
    let src = fixture("mysql-binlog-connector-java/mysql-bin.checksum-crc32");
    let mut reader = TransactionReader::new(vec![src.clone()], ReadOptions::default()).unwrap();
    let mut all = Vec::new();
    while let Some(t) = reader.next_transaction().unwrap() {
        all.push((t.pos.start, t.pos.end));
    }
    assert!(all.len() > 10);
    let (s, _) = all[5];
    let (e, _) = all[9];
    let mut reader = TransactionReader::new(
        vec![src],
        ReadOptions {
            start_position: Some(s),
            stop_position: Some(e),
            ..ReadOptions::default()
        },
    )
    .unwrap();
    let mut got = Vec::new();
    while let Some(t) = reader.next_transaction().unwrap() {
        got.push((t.pos.start, t.pos.end));
    }
    assert_eq!(got, all[5..9].to_vec());
}
