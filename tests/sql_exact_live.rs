//! The typed SQL path against the servers' own tools, on the real servers: a workload runs on
//! a sandbox master, its binlog is applied to the empty standalone target once with
//! `mysqlbinlog | mysql` (`mariadb-binlog | mariadb`) and once with gapfill's replay, and every
//! table of the workload's database must be equal between the two (CHECKSUM TABLE, every row,
//! and the JSON types of chosen values). One test per bug of issue 9 that the SQL path had.
//!
//! The tests take the server lock and rotate the master's binlog around their workload, so the
//! captured files hold only their own transactions.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{Kind, Server, env, server_lock};
use gapfill::apply::{ApplyOptions, RunReport, TargetOptions, apply_files_blocking};
use gapfill::credentials::Credentials;
use gapfill::decode::{DecodeOptions, decode_files};
use gapfill::protocol::{Password, TlsOptions};

/// A workload's binlog files.
struct Captured {
    _dir: tempfile::TempDir,
    files: Vec<PathBuf>,
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{:x}", n & 0xff_ffff_ffff)
}

/// Run `sql` on `m` with the global settings `globals` (restored to `restore` after) and
/// return the binlog files it wrote.
fn capture(m: &Server, globals: &str, restore: &str, sql: &str) -> Captured {
    if !globals.is_empty() {
        m.sql(globals);
    }
    m.sql("FLUSH BINARY LOGS");
    let first = m.current_binlog();
    m.sql_text(sql);
    if !restore.is_empty() {
        m.sql(restore);
    }
    let dir = tempfile::tempdir().unwrap();
    let files = m.rotate_and_copy(&first, dir.path());
    Captured { _dir: dir, files }
}

fn target_options(server: &Server) -> TargetOptions {
    TargetOptions {
        addr: server.addr.clone(),
        credentials: Credentials {
            user: env("GAPFILL_TEST_USER"),
            password: Password::new(env("GAPFILL_TEST_PASSWORD")),
            source: "test".into(),
        },
        tls: TlsOptions::default(),
    }
}

/// gapfill replay of every transaction of the files onto `t`.
fn gapfill_replay(t: &Server, c: &Captured) -> Result<RunReport, String> {
    let o = ApplyOptions {
        target: Some(target_options(t)),
        parallel: 2,
        ..ApplyOptions::default()
    };
    apply_files_blocking(&c.files, o)
        .map_err(|f| format!("{}\nreport: {}", f.error, f.report.to_json()))
}

/// The SQL gapfill would run, from a dry run without a server.
#[allow(dead_code)]
fn dry_run_text(c: &Captured) -> String {
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
    let buf = Buf::default();
    let o = ApplyOptions {
        dry_run: Some(Arc::new(Mutex::new(Box::new(buf.clone())))),
        parallel: 1,
        ..ApplyOptions::default()
    };
    apply_files_blocking(&c.files, o).expect("dry run");
    String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned()
}

/// The server's own tool: `mysqlbinlog FILES | mysql` (or the MariaDB pair) onto `t`.
fn reference_replay(t: &Server, c: &Captured) {
    let (tool, client) = match t.kind {
        Kind::MySql => (env("GAPFILL_MYSQLBINLOG"), env("GAPFILL_MYSQL_CLIENT")),
        Kind::MariaDb => (env("GAPFILL_MARIADB_BINLOG"), env("GAPFILL_MARIADB_CLIENT")),
    };
    let mut dump = Command::new(tool);
    if t.kind == Kind::MariaDb {
        dump.arg("--no-defaults");
    }
    let out = dump.args(&c.files).output().expect("run the binlog tool");
    assert!(
        out.status.success(),
        "binlog tool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cl = Command::new(client);
    if t.kind == Kind::MariaDb {
        cl.arg("--no-defaults");
    }
    let mut child = cl
        .arg("-uroot")
        .arg("-S")
        .arg(&t.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the client");
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&out.stdout)
            .expect("pipe the binlog");
    }
    let r = child.wait_with_output().unwrap();
    assert!(
        r.status.success(),
        "the server's own tool failed to apply: {}",
        String::from_utf8_lossy(&r.stderr)
    );
}

/// What a database holds: per table its checksum and all rows, plus the extra queries.
fn snapshot(s: &Server, db: &str, extra: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let tables: Vec<String> = s
        .sql(&format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' \
             AND table_type = 'BASE TABLE' ORDER BY 1"
        ))
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!tables.is_empty(), "no tables in {db} on {}", s.addr);
    for t in &tables {
        out.insert(
            format!("checksum {t}"),
            s.sql(&format!("CHECKSUM TABLE `{db}`.`{t}`")),
        );
        out.insert(
            format!("rows {t}"),
            s.sql(&format!("SELECT * FROM `{db}`.`{t}` ORDER BY 1")),
        );
    }
    for q in extra {
        out.insert(q.clone(), s.sql(q));
    }
    out
}

/// Apply the capture both ways onto the empty target and compare. Returns gapfill's report.
fn differential(t: &Server, c: &Captured, db: &str, extra: &[String]) -> RunReport {
    t.reset();
    reference_replay(t, c);
    let want = snapshot(t, db, extra);
    t.reset();
    let report = gapfill_replay(t, c).unwrap_or_else(|e| panic!("gapfill replay failed: {e}"));
    let got = snapshot(t, db, extra);
    for (k, w) in &want {
        assert_eq!(
            got.get(k),
            Some(w),
            "{k}: gapfill differs from the server's tool"
        );
    }
    assert_eq!(got.len(), want.len());
    report
}

/// `###` lines of gapfill's text decode and of the server's `-vv` decode.
fn row_lines_both(kind: Kind, c: &Captured) -> (Vec<String>, Vec<String>) {
    let mut ours = Vec::new();
    decode_files(&c.files, &DecodeOptions::default(), &mut ours).expect("gapfill decode");
    let mut theirs = Vec::new();
    for f in &c.files {
        theirs.extend(common::reference_decode(kind, f));
    }
    let lines = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| l.starts_with("###"))
            .map(str::to_string)
            .collect()
    };
    (lines(&ours), lines(&theirs))
}

// ---------------------------------------------------------------------------------------------
// 1. JSON strings with control characters.

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn json_control_characters_decode_and_apply_like_mysql() {
    let _g = server_lock();
    let m = Server::mysql_master();
    let t = Server::mysql_target();
    let db = unique("gf_jc_");
    // Every byte below 0x20, alone and inside text, in keys, values and arrays.
    let mut all = String::from("CONCAT('");
    all.push_str("a'");
    for b in 0..0x20 {
        all.push_str(&format!(", CHAR({b} USING utf8mb4)"));
    }
    all.push_str(", 'z')");
    let mut sql = format!(
        "CREATE DATABASE {db};\nCREATE TABLE {db}.j (id INT PRIMARY KEY, j JSON);\n\
         INSERT INTO {db}.j VALUES (1, JSON_OBJECT('s', {all}));\n\
         INSERT INTO {db}.j VALUES (2, JSON_ARRAY({all}, CHAR(31 USING utf8mb4)));\n\
         INSERT INTO {db}.j VALUES (3, JSON_OBJECT(CONCAT('k', CHAR(31 USING utf8mb4)), 1));\n"
    );
    for b in 0..0x20 {
        sql.push_str(&format!(
            "INSERT INTO {db}.j VALUES ({}, JSON_OBJECT('c', CHAR({b} USING utf8mb4)));\n",
            100 + b
        ));
    }
    sql.push_str(&format!(
        "UPDATE {db}.j SET j = JSON_ARRAY(j) WHERE id = 1;\n"
    ));
    let c = capture(&m, "", "", &sql);
    let (ours, theirs) = row_lines_both(Kind::MySql, &c);
    assert!(theirs.iter().any(|l| l.contains("\\\\u001f")), "{theirs:?}");
    assert_eq!(ours, theirs, "gapfill decode vs mysqlbinlog -vv");
    differential(&t, &c, &db, &[]);
}
