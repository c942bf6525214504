//! `gapfill decode` as a user runs it: output on good files, and on bad input a clear error
//! naming the file and offset, a non-zero exit, and never a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn decode(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .arg("decode")
        .args(args)
        .output()
        .expect("run gapfill");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const FIXTURE: &str = "rust_mysql_common/mysql-enum-string-set.000001";

#[test]
fn decodes_text_and_json() {
    let f = fixture(FIXTURE);
    let (ok, out, err) = decode(&[f.as_os_str()]);
    assert!(ok, "{err}");
    assert!(out.contains("### INSERT INTO `mysql`.`t`"));
    assert!(out.contains("SET @@SESSION.GTID_NEXT= '93e95066-a2f4-11ec-9b69-9657f0ae95e2:3'"));
    let (ok, out, err) = decode(&["--format".as_ref(), "json".as_ref(), f.as_os_str()]);
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .filter(|v: &serde_json::Value| v.get("row").is_some())
        .collect();
    assert!(!rows.is_empty());
    assert_eq!(rows[0]["row"], "insert");
    assert_eq!(rows[0]["table"], "t");
}

#[test]
fn start_and_stop_positions_select_events() {
    let f = fixture(FIXTURE);
    let (ok, out, _) = decode(&[
        "--start-position".as_ref(),
        "946".as_ref(),
        "--stop-position".as_ref(),
        "1529".as_ref(),
        f.as_os_str(),
    ]);
    assert!(ok);
    let ats: Vec<&str> = out.lines().filter(|l| l.starts_with("# at ")).collect();
    // The format description is always read, then 946 (TABLE_MAP) and 1077 (WRITE_ROWS).
    assert_eq!(ats, ["# at 4", "# at 946", "# at 1077"]);
}

#[test]
fn corrupt_byte_is_a_checksum_error_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(fixture(FIXTURE)).unwrap();
    bytes[1100] ^= 0x40; // inside the WRITE_ROWS event at 1077
    let p = dir.path().join("corrupt.000001");
    std::fs::write(&p, &bytes).unwrap();
    let (ok, _, err) = decode(&[p.as_os_str()]);
    assert!(!ok);
    assert!(err.contains("corrupt.000001 at offset 1077"), "{err}");
    assert!(err.contains("CRC32 mismatch"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn truncated_file_reports_the_torn_event() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture(FIXTURE)).unwrap();
    let p = dir.path().join("torn.000001");
    std::fs::write(&p, &bytes[..1200]).unwrap();
    let (ok, out, err) = decode(&[p.as_os_str()]);
    assert!(!ok);
    assert!(
        err.contains("torn.000001: the file ends inside an event at offset 1077"),
        "{err}"
    );
    // Everything before the torn event was still printed.
    assert!(out.contains("# at 946"));
}

#[test]
fn not_a_binlog_and_missing_file_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.txt");
    std::fs::write(&p, b"hello world").unwrap();
    let (ok, _, err) = decode(&[p.as_os_str()]);
    assert!(!ok);
    assert!(err.contains("not a binlog file"), "{err}");
    let (ok, _, err) = decode(&[dir.path().join("nope").as_os_str()]);
    assert!(!ok);
    assert!(err.contains("open") && err.contains("nope"), "{err}");
}
