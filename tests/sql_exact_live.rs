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
use gapfill::apply::{ApplyError, ApplyOptions, RunReport, TargetOptions, apply_files_blocking};
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
        // The sandbox's self-generated certificates (see scripts/sandbox).
        tls: TlsOptions {
            allow_unverified: true,
            ..TlsOptions::default()
        },
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

/// The SQL a dry run against `t` prints.
fn dry_run_text(t: &Server, c: &Captured) -> String {
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
        target: Some(target_options(t)),
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
        let cols = s.sql(&format!(
            "SELECT GROUP_CONCAT(CONCAT('`', column_name, '`') ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_schema = '{db}' AND table_name = '{t}'"
        ));
        let virtual_cols = s.sql(&format!(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = '{db}' \
             AND table_name = '{t}' AND extra LIKE '%VIRTUAL%'"
        ));
        // MariaDB 10.11's CHECKSUM TABLE of a table with VIRTUAL columns depends on the
        // order the rows were written in (the same rows give other sums): rows only there.
        if s.kind == Kind::MySql || virtual_cols.trim() == "0" {
            out.insert(
                format!("checksum {t}"),
                s.sql(&format!("CHECKSUM TABLE `{db}`.`{t}`")),
            );
        }
        // Every column, invisible ones included (`SELECT *` leaves them out).
        out.insert(
            format!("rows {t}"),
            s.sql(&format!(
                "SELECT {} FROM `{db}`.`{t}` ORDER BY 1",
                cols.trim()
            )),
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
    let mut diffs = String::new();
    for (k, w) in &want {
        let g = got.get(k).map(String::as_str).unwrap_or("(missing)");
        if g != w {
            diffs.push_str(&format!(
                "{k}:\n  the server's tool:\n{w}\n  gapfill:\n{g}\n"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "gapfill differs from the server's tool:\n{diffs}"
    );
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

// ---------------------------------------------------------------------------------------------
// 2. Signedness with generated and invisible columns, in every image/metadata combination.

/// Tables whose numeric columns sit around generated and invisible ones; extreme values.
fn generated_workload(kind: Kind, db: &str, image: &str) -> String {
    let mut s = format!("SET SESSION binlog_row_image = {image};\n");
    s.push_str(&generated_ddl(kind, db));
    s.push_str(&generated_dml());
    s
}

/// The database and tables of [`generated_workload`].
fn generated_ddl(kind: Kind, db: &str) -> String {
    let inv = "INVISIBLE";
    let stored = match kind {
        Kind::MySql => "STORED",
        Kind::MariaDb => "PERSISTENT",
    };
    format!(
        "CREATE DATABASE {db};\nUSE {db};\n\
         CREATE TABLE g1 (id INT PRIMARY KEY, vu BIGINT UNSIGNED AS (id + 1) VIRTUAL, \
         a BIGINT, b BIGINT UNSIGNED, v2 BIGINT AS (a) VIRTUAL, c TINYINT, \
         s INT AS (id * 2) {stored}, d MEDIUMINT, e DECIMAL(10,2), f TINYINT UNSIGNED);\n\
         CREATE TABLE g2 (id INT PRIMARY KEY, h1 INT UNSIGNED {inv}, c10_int MEDIUMINT, \
         h2 SMALLINT {inv} DEFAULT -7, u SMALLINT UNSIGNED, v MEDIUMINT AS (c10_int) VIRTUAL, \
         t VARCHAR(10), w BIGINT);\n\
         CREATE TABLE g3 (v1 INT AS (k + 1) VIRTUAL, k INT NOT NULL, yr YEAR, x BIGINT, \
         y BIGINT UNSIGNED, PRIMARY KEY (k));\n\
         CREATE TABLE g4 (id INT PRIMARY KEY, u1 MEDIUMINT UNSIGNED {inv} DEFAULT 16777215, \
         c10_int MEDIUMINT {inv} DEFAULT -8388608, g BIGINT AS (id - 100) VIRTUAL, \
         u2 INT UNSIGNED DEFAULT 4294967295, n MEDIUMINT DEFAULT -1, \
         big BIGINT UNSIGNED DEFAULT 18446744073709551615);\n"
    )
}

/// The rows of [`generated_workload`].
fn generated_dml() -> String {
    let mut s = String::new();
    for i in 1..=4i64 {
        // Defaults for every column but the key, then some given.
        s.push_str(&format!("INSERT INTO g4 (id) VALUES ({i});\n"));
        s.push_str(&format!(
            "INSERT INTO g4 (id, c10_int, n) VALUES ({}, {}, {});\n",
            10 + i,
            -8388000 - i,
            -7 * i
        ));
    }
    s.push_str(
        "UPDATE g4 SET c10_int = -3 WHERE id = 1;\nUPDATE g4 SET n = -8388608, u1 = 1 WHERE id = 11;\n\
         UPDATE g4 SET big = 9223372036854775809 WHERE id = 12;\nDELETE FROM g4 WHERE id = 13;\n",
    );
    for i in 1..=6i64 {
        s.push_str(&format!(
            "INSERT INTO g1 (id, a, b, c, d, e, f) VALUES ({i}, {}, {}, {}, {}, -{i}.25, {});\n",
            -6911977517443139901i64 + i,
            18446744073709551615u64 - i as u64,
            -128 + i,
            -8388608 + i,
            255 - i
        ));
        s.push_str(&format!(
            "INSERT INTO g2 (id, h1, c10_int, h2, u, t, w) VALUES ({i}, {}, {}, {}, {}, 'r{i}', {});\n",
            4294967295u64 - i as u64,
            -8388608 + i,
            -32768 + i,
            65535 - i,
            i64::MIN + i
        ));
        s.push_str(&format!(
            "INSERT INTO g3 (k, yr, x, y) VALUES ({i}, {}, {}, {});\n",
            1990 + i,
            -i * 1_000_000_000_000,
            u64::MAX - i as u64
        ));
    }
    s.push_str(
        "UPDATE g1 SET a = a - 1, c = -100 WHERE id = 2;\n\
         UPDATE g1 SET d = -1, f = 250 WHERE id = 3;\n\
         UPDATE g2 SET c10_int = -5, h2 = -30000 WHERE id = 2;\n\
         UPDATE g2 SET h1 = 4000000000 WHERE id = 3;\n\
         UPDATE g3 SET x = -1, y = 18446744073709551000 WHERE k = 2;\n\
         UPDATE g3 SET k = 60 WHERE k = 3;\n\
         DELETE FROM g1 WHERE id = 4;\nDELETE FROM g2 WHERE id = 4;\nDELETE FROM g3 WHERE k = 4;\n\
         BEGIN;\nINSERT INTO g1 (id, a, b, c, d, e, f) VALUES (50, -1, 18446744073709551615, -1, -1, -0.01, 255);\n\
         UPDATE g1 SET b = 9223372036854775808 WHERE id = 50;\nCOMMIT;\n",
    );
    s
}

fn invisible_select(db: &str) -> Vec<String> {
    vec![
        format!("SELECT id, h1, h2 FROM `{db}`.g2 ORDER BY id"),
        format!("SELECT id, u1, c10_int FROM `{db}`.g4 ORDER BY id"),
    ]
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_signedness_with_generated_and_invisible_columns() {
    let _g = server_lock();
    let m = Server::mysql_master();
    let t = Server::mysql_target();
    for metadata in ["MINIMAL", "FULL"] {
        for image in ["FULL", "MINIMAL", "NOBLOB"] {
            let db = unique("gf_gen_");
            let c = capture(
                &m,
                &format!("SET GLOBAL binlog_row_metadata = {metadata}"),
                "SET GLOBAL binlog_row_metadata = MINIMAL",
                &generated_workload(Kind::MySql, &db, image),
            );
            eprintln!("metadata {metadata}, image {image}");
            differential(&t, &c, &db, &invisible_select(&db));
            // A dry run against a target that has the tables (and none of the transactions).
            t.reset();
            t.sql_text(&format!(
                "SET sql_log_bin = 0;\n{}",
                generated_ddl(Kind::MySql, &db)
            ));
            let dry = dry_run_text(&t, &c);
            assert!(
                dry.contains(&format!(
                    "INSERT INTO `{db}`.`g1` (`id`,`a`,`b`,`c`,`d`,`e`,`f`)"
                )),
                "{dry}"
            );
            for generated in ["`vu`", "`v2`", "`s`", "`v`", "`v1`"] {
                assert!(
                    !dry.lines()
                        .any(|l| (l.starts_with("INSERT") || l.starts_with("UPDATE"))
                            && l.contains(generated)),
                    "metadata {metadata}, image {image}: the dry run writes generated \
                     column {generated}:\n{dry}"
                );
            }
        }
    }
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_signedness_with_generated_and_invisible_columns() {
    let _g = server_lock();
    let m = Server::mariadb_master();
    let t = Server::mariadb_target();
    for metadata in ["NO_LOG", "MINIMAL", "FULL"] {
        for image in ["FULL", "MINIMAL", "NOBLOB"] {
            let db = unique("gf_gen_");
            let c = capture(
                &m,
                &format!("SET GLOBAL binlog_row_metadata = {metadata}"),
                "SET GLOBAL binlog_row_metadata = MINIMAL",
                &generated_workload(Kind::MariaDb, &db, image),
            );
            eprintln!("metadata {metadata}, image {image}");
            differential(&t, &c, &db, &invisible_select(&db));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. JSON opaque scalars keep their MySQL type.

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn json_opaque_scalars_keep_their_type() {
    let _g = server_lock();
    let m = Server::mysql_master();
    let t = Server::mysql_target();
    let db = unique("gf_jo_");
    let doc = |score: &str| {
        format!(
            "JSON_OBJECT('score', CAST({score} AS DECIMAL(6,4)), 'd', CAST('2024-02-29' AS DATE), \
             't', CAST('-838:59:58.5' AS TIME(1)), 'dt', CAST('2024-01-02 03:04:05.678' AS DATETIME(3)), \
             'nested', JSON_ARRAY(1, -2, 18446744073709551615, 1.5e300, 'x', NULL, TRUE, FALSE, \
             CAST(-123456789.123456789 AS DECIMAL(30,9)), JSON_OBJECT('k\\'ey', CAST(0.5 AS DECIMAL(3,2)))), \
             'plain', 'text')"
        )
    };
    let sql = format!(
        "CREATE DATABASE {db};\nCREATE TABLE {db}.j (id INT PRIMARY KEY, j JSON, n INT);\n\
         CREATE TABLE {db}.nokey (j JSON, n INT);\n\
         INSERT INTO {db}.j VALUES (1, {}, 0), (2, {}, 0), (3, '{{\"a\": 0.2500}}', 0), \
         (4, CAST(CAST(0.25 AS DECIMAL(6,4)) AS JSON), 0), (5, JSON_ARRAY(CAST(X'DEADBEEF' AS BINARY)), 0), \
         (6, JSON_ARRAY(CAST('2020-01-01' AS DATE)), 0);\n\
         INSERT INTO {db}.nokey VALUES ({}, 1);\n\
         UPDATE {db}.j SET n = 1 WHERE id IN (1, 4, 6);\n\
         UPDATE {db}.nokey SET n = 2;\n\
         UPDATE {db}.j SET j = {} WHERE id = 3;\n\
         SET SESSION binlog_row_value_options = PARTIAL_JSON;\n\
         UPDATE {db}.j SET j = JSON_SET(j, '$.score', CAST(1.1 AS DECIMAL(5,3)), '$.new', CAST('2000-01-01' AS DATE)) WHERE id = 2;\n\
         SET SESSION binlog_row_value_options = '';\n\
         DELETE FROM {db}.j WHERE id = 5;\n",
        doc("0.25"),
        doc("-99.9999"),
        doc("0.1"),
        doc("12.0001"),
    );
    let c = capture(&m, "", "", &sql);
    let types = |table: &str| {
        format!(
            "SELECT j, JSON_TYPE(j), JSON_TYPE(j->'$.score'), JSON_TYPE(j->'$.d'), JSON_TYPE(j->'$.t'), \
             JSON_TYPE(j->'$.dt'), JSON_TYPE(j->'$.nested[8]'), JSON_TYPE(j->'$.nested[2]'), \
             JSON_TYPE(j->'$.nested[9].\"k''ey\"'), JSON_TYPE(j->'$.new'), JSON_TYPE(j->'$[0]'), \
             JSON_TYPE(j->'$.a') FROM `{db}`.{table} ORDER BY n, CAST(j AS CHAR)"
        )
    };
    let extra = vec![types("j"), types("nokey")];
    let r = differential(&t, &c, &db, &extra);
    assert!(r.rows >= 12, "{}", r.to_json());
    // The reference really holds typed values (so the comparison above can fail).
    let landed = t.sql(&format!(
        "SELECT JSON_TYPE(j->'$.score') FROM `{db}`.j WHERE id = 1"
    ));
    assert_eq!(landed.trim(), "DECIMAL");
}

// ---------------------------------------------------------------------------------------------
// 4. Conflicts are compared byte-exactly; partial before images are reported.

fn conflict_setup(db: &str) -> String {
    format!(
        "CREATE DATABASE {db};\nUSE {db};\n\
         CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) COLLATE utf8mb4_general_ci, \
         c CHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci, w INT);\n\
         CREATE TABLE k (k VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, x INT);\n\
         INSERT INTO t VALUES (1, 'abc', 'x', 0), (2, 'abc', 'pad', 0), (3, 'same', 'y', 0);\n\
         INSERT INTO k VALUES ('key1', 0);\n"
    )
}

fn conflict_gap(db: &str, image: &str, n: u32) -> String {
    format!(
        "SET SESSION binlog_row_image = {image};\nUSE {db};\n\
         UPDATE t SET w = {n} + 1 WHERE id = 1;\nUPDATE t SET w = {n} + 2 WHERE id = 2;\n\
         UPDATE k SET x = {n} + 1 WHERE k = 'key1';\nUPDATE t SET w = {n} + 3 WHERE id = 3;\n\
         INSERT INTO t VALUES ({n} + 10, 'ins', 'i', 0);\nDELETE FROM t WHERE id = {n} + 10;\n"
    )
}

fn conflicts_are_byte_exact(m: Server, t: Server) {
    let db = unique("gf_cf_");
    let setup = capture(&m, "", "", &conflict_setup(&db));
    let gap = capture(&m, "", "", &conflict_gap(&db, "FULL", 0));
    // What the application did on the successor before the fill, and what must stay.
    let cases = [
        (
            "UPDATE t SET v = 'ABC' WHERE id = 1",
            "SELECT v, w FROM t WHERE id = 1",
            "ABC\t0",
            "v",
        ),
        (
            "UPDATE t SET v = 'abc ' WHERE id = 2",
            "SELECT CONCAT(v, '|'), w FROM t WHERE id = 2",
            "abc |\t0",
            "v",
        ),
        (
            "UPDATE k SET k = 'KEY1'",
            "SELECT k, x FROM k",
            "KEY1\t0",
            "",
        ),
        (
            "UPDATE t SET c = 'Y' WHERE id = 3",
            "SELECT c, w FROM t WHERE id = 3",
            "Y\t0",
            "c",
        ),
    ];
    for (write, check, want, column) in cases {
        t.reset();
        gapfill_replay(&t, &setup).expect("setup replays");
        t.sql(&format!("SET sql_log_bin = 0; USE {db}; {write}"));
        let err = match apply_files_blocking(
            &gap.files,
            ApplyOptions {
                target: Some(target_options(&t)),
                parallel: 1,
                ..ApplyOptions::default()
            },
        ) {
            Ok(r) => panic!("{write}: the gap overwrote it: {}", r.to_json()),
            Err(f) => f.error,
        };
        match &err {
            ApplyError::RowNotFound { differs, .. } => {
                assert!(differs.contains(column), "{write}: {differs}")
            }
            e => panic!("{write}: expected a conflict, got {e}"),
        }
        assert_eq!(
            t.sql(&format!("USE {db}; {check}")).trim_end_matches('\n'),
            want,
            "{write}: the successor's value was changed"
        );
    }
    // Without the successor's writes the gap lands, every row compared in full.
    t.reset();
    gapfill_replay(&t, &setup).unwrap();
    let r = gapfill_replay(&t, &gap).unwrap();
    assert_eq!(r.rows_matched_by_partial_image, 0, "{}", r.to_json());
    assert!(r.conflicts_fully_checked());
    // A MINIMAL image finds rows by key only: the report says so.
    let minimal = capture(&m, "", "", &conflict_gap(&db, "MINIMAL", 100));
    t.reset();
    gapfill_replay(&t, &setup).unwrap();
    let r = gapfill_replay(&t, &minimal).unwrap();
    assert_eq!(r.rows_matched_by_partial_image, 5, "{}", r.to_json());
    assert!(!r.conflicts_fully_checked());
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_conflicts_are_byte_exact() {
    let _g = server_lock();
    conflicts_are_byte_exact(Server::mysql_master(), Server::mysql_target());
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_conflicts_are_byte_exact() {
    let _g = server_lock();
    conflicts_are_byte_exact(Server::mariadb_master(), Server::mariadb_target());
}

// ---------------------------------------------------------------------------------------------
// 5. MariaDB compressed columns.

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_compressed_columns_decode_and_replay() {
    let _g = server_lock();
    let m = Server::mariadb_master();
    let t = Server::mariadb_target();
    for (metadata, wrap) in [("MINIMAL", "OFF"), ("FULL", "ON"), ("NO_LOG", "OFF")] {
        let db = unique("gf_cz_");
        let sql = format!(
            "SET SESSION column_compression_zlib_wrap = {wrap};\nCREATE DATABASE {db};\nUSE {db};\n\
             CREATE TABLE t (id INT PRIMARY KEY, v TEXT COMPRESSED, b VARCHAR(100) COMPRESSED, \
             vb VARBINARY(300) COMPRESSED, bl MEDIUMBLOB COMPRESSED, \
             l1 VARCHAR(300) CHARACTER SET latin1 COMPRESSED, tail VARCHAR(10) CHARACTER SET utf8mb4, \
             tb VARBINARY(10));\n\
             INSERT INTO t VALUES (1, REPEAT('hello ', 50), 'short', REPEAT(X'00FF', 60), '', 'x', 'é', X'00'),\n\
             (2, NULL, REPEAT('ab', 50), 'b', REPEAT('z', 100000), REPEAT(_latin1 X'E9', 100), 'ü', X'FF'),\n\
             (3, 'a', '', NULL, 'q', '', NULL, NULL), (4, REPEAT('中文', 2000), 'Abc ', X'', X'00', 'y', 't', X'01');\n\
             UPDATE t SET b = 'new', v = CONCAT(v, '!') WHERE id = 1;\n\
             UPDATE t SET bl = REPEAT('y', 5000) WHERE id = 2;\n\
             UPDATE t SET tail = 'u' WHERE id = 4;\n\
             DELETE FROM t WHERE id = 3;\n"
        );
        let c = capture(
            &m,
            &format!("SET GLOBAL binlog_row_metadata = {metadata}"),
            "SET GLOBAL binlog_row_metadata = MINIMAL",
            &sql,
        );
        eprintln!("metadata {metadata}, zlib wrap {wrap}");
        // The text form equals mariadb-binlog -vv (which prints the stored bytes).
        let (ours, theirs) = row_lines_both(Kind::MariaDb, &c);
        assert!(
            theirs.iter().any(|l| l.contains("COMPRESSED")),
            "{theirs:?}"
        );
        assert_eq!(ours, theirs, "gapfill decode vs mariadb-binlog -vv");
        // The JSON form carries the values decompressed.
        let mut json = Vec::new();
        let opts = DecodeOptions {
            format: gapfill::decode::Format::Json,
            ..DecodeOptions::default()
        };
        decode_files(&c.files, &opts, &mut json).expect("json decode");
        let json = String::from_utf8(json).unwrap();
        assert!(json.contains(&"hello ".repeat(50)), "decompressed TEXT");
        // A BLOB is binary: hex, or text where the map carries no charsets.
        assert!(
            json.contains(&"7a".repeat(100000)) || json.contains(&"z".repeat(100000)),
            "decompressed MEDIUMBLOB"
        );
        differential(&t, &c, &db, &[]);
    }
}

// ---------------------------------------------------------------------------------------------
// 6. MySQL's atomic CREATE TABLE ... SELECT.

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_atomic_create_table_select() {
    let _g = server_lock();
    let m = Server::mysql_master();
    let t = Server::mysql_target();
    for compression in ["OFF", "ON"] {
        let db = unique("gf_ctas_");
        let sql = format!(
            "SET SESSION binlog_transaction_compression = {compression};\n\
             CREATE DATABASE {db};\nUSE {db};\n\
             CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10), j JSON, d DECIMAL(6,4));\n\
             INSERT INTO a VALUES (1, 'x', JSON_OBJECT('s', CAST(0.5 AS DECIMAL(6,4))), 1.5), \
             (2, 'Y ', NULL, -2.25), (3, NULL, '[1]', 0);\n\
             CREATE TABLE b SELECT * FROM a;\n\
             CREATE TABLE c (PRIMARY KEY (id)) SELECT id, v FROM a WHERE id >= 2;\n\
             CREATE TABLE e SELECT * FROM a WHERE id > 100;\n\
             CREATE TABLE f (k INT AUTO_INCREMENT PRIMARY KEY) SELECT v FROM a;\n\
             INSERT INTO b VALUES (4, 'after', NULL, 4);\nUPDATE c SET v = 'upd' WHERE id = 2;\n"
        );
        let c = capture(&m, "", "", &sql);
        eprintln!("transaction compression {compression}");
        let r = differential(&t, &c, &db, &[]);
        assert!(r.rows >= 11, "{}", r.to_json());
        // The dry run prints what a run sends.
        t.reset();
        let dry = dry_run_text(&t, &c);
        assert!(dry.contains("START TRANSACTION;\nBINLOG '"), "{dry}");
    }
}
