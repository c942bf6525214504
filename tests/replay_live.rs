//! Replay against the real servers: workloads covering every column type run on the sandbox
//! masters, their binlog files are replayed onto an empty standalone target with gapfill, and
//! every table (CHECKSUM TABLE and full contents) and the executed GTIDs must equal the
//! master's. Also: replaying twice, failing mid-way and re-running, dry runs, parallel versus
//! serial apply, and a schema mismatch.
//!
//! Other tests use the masters at the same time, so each run writes its own database and
//! marks its transactions with its own GTID tags (MySQL) or domain (MariaDB), and replays only
//! those (`--include-gtids`).

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::{Kind, Server, env, server_lock};
use gapfill::apply::{
    ApplyError, ApplyOptions, GtidSelection, ReadOptions, RunReport, TargetOptions,
    apply_files_blocking,
};
use gapfill::binlog::gtid_set::GtidSet;
use gapfill::credentials::Credentials;
use gapfill::protocol::{Password, TlsOptions};

/// A captured workload: the binlog files and the GTIDs it wrote.
struct Captured {
    _dir: tempfile::TempDir,
    files: Vec<PathBuf>,
    include: String,
    db: String,
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{:x}",
        (n ^ (std::process::id() as u128) << 20) & 0xff_ffff_ffff
    )
}

fn workload_text(file: &str, db: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(path)
        .expect("workload file")
        .replace("gf_types", db)
}

/// Run `sql` on the MySQL master with every transaction tagged, and capture its binlogs.
fn capture_mysql(metadata: &str, sql_for: impl Fn(&str) -> String) -> Captured {
    let m = Server::mysql_master();
    let db = unique("gf_rt_");
    let tag_a = unique("gfa_");
    let tag_b = unique("gfb_");
    let body = sql_for(&db)
        .replace(
            "SET gtid_next = 'AUTOMATIC:gapfill_tag';",
            &format!("SET gtid_next = 'AUTOMATIC:{tag_b}';"),
        )
        .replace(
            "SET gtid_next = 'AUTOMATIC';",
            &format!("SET gtid_next = 'AUTOMATIC:{tag_a}';"),
        );
    let sql = format!("SET gtid_next = 'AUTOMATIC:{tag_a}';\n{body}");
    m.sql(&format!("SET GLOBAL binlog_row_metadata = {metadata}"));
    m.sql("FLUSH BINARY LOGS");
    let first = m.current_binlog();
    m.sql_text(&sql);
    let dir = tempfile::tempdir().unwrap();
    let files = m.rotate_and_copy(&first, dir.path());
    let executed = GtidSet::parse(
        &m.sql("SELECT @@GLOBAL.gtid_executed")
            .replace(['\n', ' '], ""),
    )
    .expect("master gtid_executed");
    let mut parts = Vec::new();
    for (uuid, tag, ivs) in executed.sources() {
        if let Some(t) = tag
            && (t.as_str() == tag_a || t.as_str() == tag_b)
        {
            for iv in ivs {
                parts.push(format!("{uuid}:{t}:{}-{}", iv.start, iv.last()));
            }
        }
    }
    assert!(!parts.is_empty(), "the workload wrote no tagged GTIDs");
    Captured {
        _dir: dir,
        files,
        include: parts.join(","),
        db,
    }
}

const MARIADB_DOMAIN: u32 = 77;

/// Run `sql` on the MariaDB master in its own GTID domain and capture its binlogs.
fn capture_mariadb(metadata: &str, compress: &str, sql_for: impl Fn(&str) -> String) -> Captured {
    let m = Server::mariadb_master();
    let db = unique("gf_rt_");
    let sql = format!(
        "SET SESSION gtid_domain_id = {MARIADB_DOMAIN};\n{}",
        sql_for(&db)
    );
    m.sql(&format!(
        "SET GLOBAL binlog_row_metadata = {metadata}, GLOBAL log_bin_compress = {compress}, \
         GLOBAL log_bin_compress_min_len = 10"
    ));
    m.sql("FLUSH BINARY LOGS");
    let first = m.current_binlog();
    m.sql_text(&sql);
    m.sql("SET GLOBAL binlog_row_metadata = MINIMAL, GLOBAL log_bin_compress = OFF");
    let dir = tempfile::tempdir().unwrap();
    let files = m.rotate_and_copy(&first, dir.path());
    let include = domain_pos(&m);
    Captured {
        _dir: dir,
        files,
        include,
        db,
    }
}

/// The master's last GTID in the tests' domain (what `--include-gtids` selects).
fn domain_pos(m: &Server) -> String {
    m.sql("SELECT @@GLOBAL.gtid_binlog_pos")
        .trim()
        .split(',')
        .find(|g| g.starts_with(&format!("{MARIADB_DOMAIN}-")))
        .expect("the workload wrote GTIDs in its domain")
        .to_string()
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

fn options(target: &Server, c: &Captured, parallel: usize) -> ApplyOptions {
    ApplyOptions {
        target: Some(target_options(target)),
        parallel,
        read: ReadOptions {
            include: Some(GtidSelection::parse(&c.include).unwrap()),
            ..ReadOptions::default()
        },
        ..ApplyOptions::default()
    }
}

fn replay(target: &Server, c: &Captured, parallel: usize) -> RunReport {
    match apply_files_blocking(&c.files, options(target, c, parallel)) {
        Ok(r) => r,
        Err(f) => panic!("replay failed: {}\nreport: {}", f.error, f.report.to_json()),
    }
}

fn tables(server: &Server, db: &str) -> Vec<String> {
    server
        .sql(&format!("SHOW TABLES FROM `{db}`"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every table of `db` has the same checksum and contents on both servers.
fn assert_same_data(master: &Server, target: &Server, db: &str) {
    let names = tables(master, db);
    assert!(!names.is_empty(), "no tables in {db}");
    assert_eq!(names, tables(target, db), "table lists differ");
    for t in &names {
        let q = format!("CHECKSUM TABLE `{db}`.`{t}`");
        let a = master.sql(&q);
        let b = target.sql(&q);
        let rows = format!("SELECT * FROM `{db}`.`{t}` ORDER BY 1, 2");
        let (ra, rb) = (master.sql(&rows), target.sql(&rows));
        assert_eq!(ra, rb, "contents of {db}.{t} differ");
        assert_eq!(a, b, "CHECKSUM TABLE {db}.{t} differs");
    }
}

fn assert_same_gtids(master: &Server, target: &Server, c: &Captured) {
    match master.kind {
        Kind::MySql => {
            let t = GtidSet::parse(
                &target
                    .sql("SELECT @@GLOBAL.gtid_executed")
                    .replace(['\n', ' '], ""),
            )
            .unwrap();
            let want = GtidSet::parse(&c.include).unwrap();
            assert_eq!(t, want, "target gtid_executed vs the workload's GTIDs");
        }
        Kind::MariaDb => {
            let t = target.sql("SELECT @@GLOBAL.gtid_binlog_pos");
            assert_eq!(
                t.trim(),
                c.include,
                "target gtid_binlog_pos vs the master's domain"
            );
        }
    }
}

fn mysql_types(db: &str) -> String {
    workload_text("tests/workload/mysql_types.sql", db)
}

fn mariadb_types(db: &str) -> String {
    workload_text("tests/workload/mariadb_types.sql", db)
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_every_type_replays_exactly() {
    let _g = server_lock();
    let m = Server::mysql_master();
    let t = Server::mysql_target();
    for metadata in ["MINIMAL", "FULL"] {
        let c = capture_mysql(metadata, mysql_types);
        t.reset();
        let r = replay(&t, &c, 4);
        assert!(r.transactions_applied > 40, "{}", r.to_json());
        assert_eq!(r.verified, Some(true));
        eprintln!("{metadata}: {}", r.summary());
        assert!(r.rows_to_verify > Some(20), "{}", r.to_json());
        assert_eq!(r.rows_verified, r.rows_to_verify);
        assert!(r.incomplete.is_empty());
        assert_same_data(&m, &t, &c.db);
        assert_same_gtids(&m, &t, &c);
        // (3) a second run applies nothing and changes nothing.
        let again = replay(&t, &c, 4);
        assert_eq!(again.transactions_applied, 0, "{}", again.to_json());
        assert_eq!(again.transactions_skipped, r.transactions_applied);
        assert_same_data(&m, &t, &c.db);
    }
    m.sql("SET GLOBAL binlog_row_metadata = MINIMAL");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_every_type_replays_exactly() {
    let _g = server_lock();
    let m = Server::mariadb_master();
    let t = Server::mariadb_target();
    for (metadata, compress) in [("NO_LOG", "OFF"), ("MINIMAL", "OFF"), ("FULL", "ON")] {
        let c = capture_mariadb(metadata, compress, mariadb_types);
        t.reset();
        let r = replay(&t, &c, 4);
        assert!(r.transactions_applied > 20, "{}", r.to_json());
        assert_eq!(r.verified, Some(true));
        eprintln!("{metadata}/{compress}: {}", r.summary());
        assert!(r.rows_to_verify > Some(10), "{}", r.to_json());
        assert_eq!(r.rows_verified, r.rows_to_verify);
        assert_same_data(&m, &t, &c.db);
        assert_same_gtids(&m, &t, &c);
        let again = replay(&t, &c, 4);
        assert_eq!(again.transactions_applied, 0, "{}", again.to_json());
        assert_same_data(&m, &t, &c.db);
    }
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn failure_mid_way_then_rerun_completes() {
    let _g = server_lock();
    let m = Server::mysql_master();
    let t = Server::mysql_target();
    let c = capture_mysql("MINIMAL", mysql_types);
    t.reset();
    for k in [10, 25] {
        let mut o = options(&t, &c, 4);
        o.fail_after = Some(k);
        let f = apply_files_blocking(&c.files, o).expect_err("the hook fails the run");
        assert!(matches!(f.error, ApplyError::Injected(_)), "{}", f.error);
        assert!(f.error.rerun_is_safe());
    }
    let r = replay(&t, &c, 4);
    assert!(r.transactions_skipped >= 25, "{}", r.to_json());
    assert_same_data(&m, &t, &c.db);
    assert_same_gtids(&m, &t, &c);
}

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

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn dry_run_prints_sql_and_changes_nothing() {
    let _g = server_lock();
    let t = Server::mysql_target();
    let c = capture_mysql("FULL", mysql_types);
    t.reset();
    let buf = Buf::default();
    let mut o = options(&t, &c, 4);
    o.dry_run = Some(Arc::new(Mutex::new(Box::new(buf.clone()))));
    let r = apply_files_blocking(&c.files, o).expect("dry run");
    assert!(r.dry_run && r.transactions_applied > 40);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    assert!(text.contains("SET GTID_NEXT='"), "{text}");
    assert!(
        text.contains(&format!("INSERT INTO `{}`.`ints`", c.db)),
        "{text}"
    );
    assert!(text.contains("UPDATE ") && text.contains("DELETE FROM "));
    assert!(
        !text.contains("VALUES (?"),
        "placeholders left in the output"
    );
    assert_eq!(t.sql("SELECT @@GLOBAL.gtid_executed").trim(), "");
    assert_eq!(
        t.sql(&format!("SHOW DATABASES LIKE '{}'", c.db)).trim(),
        "",
        "the dry run created the database"
    );
}

/// Many small independent transactions over several tables.
fn independent_workload(db: &str) -> String {
    let mut s = format!("DROP DATABASE IF EXISTS {db};\nCREATE DATABASE {db};\nUSE {db};\n");
    for t in 0..8 {
        s.push_str(&format!(
            "CREATE TABLE t{t} (id INT PRIMARY KEY, v INT, s VARCHAR(40), d DECIMAL(12,3));\n"
        ));
    }
    for i in 0..3000 {
        let t = i % 8;
        s.push_str(&format!(
            "INSERT INTO t{t} VALUES ({i}, {}, 'row {i}', {i}.125);\n",
            i * 7
        ));
        if i % 5 == 4 {
            s.push_str(&format!(
                "UPDATE t{t} SET v = v + 1 WHERE id = {};\n",
                i - 8
            ));
        }
        if i % 11 == 10 {
            s.push_str(&format!("DELETE FROM t{t} WHERE id = {};\n", i - 16));
        }
    }
    s
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn parallel_equals_serial() {
    let _g = server_lock();
    let m = Server::mysql_master();
    let t = Server::mysql_target();
    let c = capture_mysql("MINIMAL", independent_workload);
    let mut timings = Vec::new();
    for parallel in [1, 4] {
        t.reset();
        let r = replay(&t, &c, parallel);
        assert!(r.transactions_applied > 3000);
        timings.push((parallel, r.transactions_applied, r.seconds));
        assert_same_data(&m, &t, &c.db);
        assert_same_gtids(&m, &t, &c);
    }
    for (p, n, s) in timings {
        eprintln!(
            "parallel {p}: {n} transactions in {s:.2}s ({:.0}/s)",
            n as f64 / s
        );
    }
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn schema_mismatch_names_table_and_column() {
    let _g = server_lock();
    let t = Server::mysql_target();
    let c = capture_mysql("FULL", |db| {
        format!(
            "DROP DATABASE IF EXISTS {db};\nCREATE DATABASE {db};\n\
             CREATE TABLE {db}.m (id INT PRIMARY KEY, a INT);\n\
             INSERT INTO {db}.m VALUES (1, 5), (2, 6);\n"
        )
    });
    t.reset();
    // The target has the table with another type for `a`; replay only the INSERT.
    t.sql(&format!(
        "CREATE DATABASE {0}; CREATE TABLE {0}.m (id INT PRIMARY KEY, a VARCHAR(10))",
        c.db
    ));
    let before = t.sql("SELECT @@GLOBAL.gtid_executed");
    let set = GtidSet::parse(&c.include).unwrap();
    let last = set.iter().last().unwrap();
    let mut o = options(&t, &c, 1);
    o.read.include = Some(GtidSelection::parse(&last.to_string()).unwrap());
    let f = apply_files_blocking(&c.files, o).expect_err("mismatch");
    match &f.error {
        ApplyError::SchemaMismatch { table, column, .. } => {
            assert_eq!(table, &format!("{}.m", c.db));
            assert_eq!(column, "a");
        }
        e => panic!("expected a schema mismatch, got {e}"),
    }
    let msg = f.error.to_string();
    assert!(msg.contains("INT") && msg.contains("varchar"), "{msg}");
    assert_eq!(
        t.sql(&format!("SELECT COUNT(*) FROM {}.m", c.db)).trim(),
        "0"
    );
    assert_eq!(t.sql("SELECT @@GLOBAL.gtid_executed"), before);
}

/// Two transactions MariaDB committed in one group (so the replay runs them side by side and
/// commits them in order) that lock each other out on the target only: the later one's
/// next-key lock on a secondary index (a table without a primary key is matched through it)
/// covers the gap the earlier one's update moves a row into; on the source the earlier one had
/// moved it before the later one ran. The later one waits for its commit turn holding that
/// lock, the earlier one's lock wait times out: the later one must yield (roll back, run again
/// after it), as MariaDB's own parallel applier does. Before that, all ten retries timed out
/// the same way and the replay failed.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_commit_order_lock_cycle_is_broken_by_yielding() {
    let _g = server_lock();
    let m = Server::mariadb_master();
    let t = Server::mariadb_target();
    let db = unique("gf_cyc_");
    m.sql(&format!(
        "SET SESSION gtid_domain_id = {MARIADB_DOMAIN}; CREATE DATABASE {db}; \
         CREATE TABLE {db}.t (id INT NOT NULL, k INT NOT NULL, KEY (k)) ENGINE=InnoDB; \
         CREATE TABLE {db}.big (id INT PRIMARY KEY, pad VARCHAR(100)) ENGINE=InnoDB; \
         INSERT INTO {db}.t VALUES (1, 10), (2, 20), (3, 30), (4, 40)"
    ));
    m.sql("FLUSH BINARY LOGS");
    let first = m.current_binlog();
    // Both commits wait for each other (up to 20 s) and are written as one group; put back
    // whatever happens.
    struct Restore(Server);
    impl Drop for Restore {
        fn drop(&mut self) {
            self.0.sql(
                "SET GLOBAL binlog_commit_wait_count = 0, GLOBAL binlog_commit_wait_usec = 100000",
            );
        }
    }
    let restore = Restore(m.clone());
    m.sql("SET GLOBAL binlog_commit_wait_count = 2, GLOBAL binlog_commit_wait_usec = 20000000");
    let earlier = {
        let (m, db) = (m.clone(), db.clone());
        std::thread::spawn(move || {
            m.sql(&format!(
                "SET SESSION gtid_domain_id = {MARIADB_DOMAIN}; BEGIN; \
                 INSERT INTO {db}.big SELECT seq, REPEAT('x', 100) FROM {db}.seq_1_to_30000; \
                 UPDATE {db}.t SET k = 35 WHERE k = 10; COMMIT"
            ))
        })
    };
    // The earlier one is waiting in its commit when the later one runs.
    std::thread::sleep(std::time::Duration::from_secs(3));
    m.sql(&format!(
        "SET SESSION gtid_domain_id = {MARIADB_DOMAIN}; UPDATE {db}.t SET id = 33 WHERE k = 40"
    ));
    earlier.join().expect("the earlier transaction");
    drop(restore);
    let dir = tempfile::tempdir().unwrap();
    let files = m.rotate_and_copy(&first, dir.path());
    let include = domain_pos(&m);
    // The two share a commit id: the replay runs them together.
    let decoded = String::from_utf8(common::reference_decode(Kind::MariaDb, &files[0])).unwrap();
    let cids: Vec<&str> = decoded
        .lines()
        .filter_map(|l| l.split("cid=").nth(1))
        .map(|c| c.split_whitespace().next().unwrap_or(""))
        .collect();
    assert!(
        cids.len() == 2 && cids[0] == cids[1],
        "the two transactions were not committed as one group (cid {cids:?}):\n{}",
        decoded
            .lines()
            .filter(|l| l.contains("GTID"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let c = Captured {
        _dir: dir,
        files,
        include,
        db: db.clone(),
    };
    // Everything before the group is on the target already; a short lock wait keeps the test
    // short (the cycle is the same with the default 50 s).
    t.reset();
    t.sql(&format!(
        "CREATE DATABASE {db}; \
         CREATE TABLE {db}.t (id INT NOT NULL, k INT NOT NULL, KEY (k)) ENGINE=InnoDB; \
         CREATE TABLE {db}.big (id INT PRIMARY KEY, pad VARCHAR(100)) ENGINE=InnoDB; \
         INSERT INTO {db}.t VALUES (1, 10), (2, 20), (3, 30), (4, 40); \
         SET GLOBAL innodb_lock_wait_timeout = 2"
    ));
    let r = apply_files_blocking(&c.files, options(&t, &c, 4));
    t.sql("SET GLOBAL innodb_lock_wait_timeout = 50");
    let r = match r {
        Ok(r) => r,
        Err(f) => panic!("replay failed: {}\nreport: {}", f.error, f.report.to_json()),
    };
    assert_eq!(r.transactions_applied, 2, "{}", r.to_json());
    // The cycle happened (the earlier one's lock wait timed out) and was broken by the later
    // one yielding.
    assert!(
        r.lock_retries >= 1 && r.lock_yields >= 1,
        "no lock cycle on the target: {}",
        r.to_json()
    );
    assert_same_data(&m, &t, &db);
}
