//! `verified` means the data, on the real servers: after a replay the target's rows are read
//! back by primary key and compared with the binlog's last images.
//!
//! - A generated workload (inserts, updates, deletes, primary key changes, a composite key
//!   with a character column, DECIMAL, JSON, temporal values with fractions, BIT, SET, ENUM,
//!   BINARY, FLOAT, a stored generated column, a table without a primary key) with FULL and
//!   MINIMAL row images: `rows verified n/n` where n is the number of keys the test itself
//!   counted as touched.
//! - A target that changes a row behind the replay's back (a trigger on another table the
//!   gap writes later), brings a deleted row back, computes a generated column differently
//!   or stores a DECIMAL with another scale: verification fails naming table, key, column and
//!   both values; the CLI exits 5.
//! - The cost: the same replay with and without verification.
//!
//! Tables are created on the master before the captured files begin (logged, so the
//! sandbox's replicas have them too) and on the target by the test, so the captured binlog
//! holds only the rows and the target can differ from the master.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::{Kind, Server, env, server_lock};
use gapfill::apply::{
    ApplyError, ApplyOptions, GtidSelection, ReadOptions, RunReport, TargetOptions,
    apply_files_blocking,
};
use gapfill::binlog::gtid_set::GtidSet;
use gapfill::credentials::Credentials;
use gapfill::protocol::{Password, TlsOptions};

struct Captured {
    _dir: tempfile::TempDir,
    files: Vec<PathBuf>,
    include: String,
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

const MARIADB_DOMAIN: u32 = 78;

/// Run `sql` on the master (MySQL: every transaction tagged; MariaDB: its own domain) and
/// capture the binlog files it wrote.
fn capture(m: &Server, sql: &str) -> Captured {
    m.sql("FLUSH BINARY LOGS");
    let first = m.current_binlog();
    let dir = tempfile::tempdir().unwrap();
    match m.kind {
        Kind::MySql => {
            let tag = unique("gfv_");
            m.sql_text(&format!("SET gtid_next = 'AUTOMATIC:{tag}';\n{sql}"));
            let files = m.rotate_and_copy(&first, dir.path());
            let executed = GtidSet::parse(
                &m.sql("SELECT @@GLOBAL.gtid_executed")
                    .replace(['\n', ' '], ""),
            )
            .unwrap();
            let mut parts = Vec::new();
            for (uuid, t, ivs) in executed.sources() {
                if t.is_some_and(|t| t.as_str() == tag) {
                    for iv in ivs {
                        parts.push(format!("{uuid}:{tag}:{}-{}", iv.start, iv.last()));
                    }
                }
            }
            assert!(!parts.is_empty(), "the workload wrote no tagged GTIDs");
            Captured {
                _dir: dir,
                files,
                include: parts.join(","),
            }
        }
        Kind::MariaDb => {
            m.sql_text(&format!(
                "SET SESSION gtid_domain_id = {MARIADB_DOMAIN};\n{sql}"
            ));
            let files = m.rotate_and_copy(&first, dir.path());
            let include = m
                .sql("SELECT @@GLOBAL.gtid_binlog_pos")
                .trim()
                .split(',')
                .find(|g| g.starts_with(&format!("{MARIADB_DOMAIN}-")))
                .expect("GTIDs in the test's domain")
                .to_string();
            Captured {
                _dir: dir,
                files,
                include,
            }
        }
    }
}

fn options(target: &Server, c: &Captured, verify: bool) -> ApplyOptions {
    ApplyOptions {
        target: Some(TargetOptions {
            addr: target.addr.clone(),
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
        }),
        parallel: 4,
        read: ReadOptions {
            include: Some(GtidSelection::parse(&c.include).unwrap()),
            ..ReadOptions::default()
        },
        verify,
        ..ApplyOptions::default()
    }
}

/// The tables, as the master has them (`g` and `d` as given).
fn tables_sql(db: &str, g_expr: &str, d_type: &str) -> String {
    format!(
        "CREATE DATABASE {db};
USE {db};
CREATE TABLE a (id INT PRIMARY KEY,
  v VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci,
  d {d_type}, j JSON, t DATETIME(6), tm TIME(3), b BIT(5), s SET('x','y','z'),
  e ENUM('p','q'), bin BINARY(4), f FLOAT, g INT AS ({g_expr}) STORED);
CREATE TABLE k2 (a INT, b VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci,
  v INT, PRIMARY KEY (a, b));
CREATE TABLE u (id INT PRIMARY KEY);
CREATE TABLE np (x INT, y INT);
"
    )
}

/// Set the tables up on the master without logging them.
/// The tables on the master, logged (before the captured files begin) so that the sandbox's
/// replicas, which apply everything the master writes, have them too.
fn master_tables(m: &Server, db: &str) {
    m.sql_text(&tables_sql(db, "id * 2", "DECIMAL(10,4)"));
}

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A workload of `txns` transactions and the keys it touches, counted here: `(table, key)`.
fn workload(
    kind: Kind,
    db: &str,
    txns: usize,
    seed: u64,
    keys: u64,
) -> (String, BTreeSet<(String, String)>, u64) {
    let mut r = Lcg(seed);
    let mut sql = format!("USE {db};\n");
    let mut a: BTreeSet<u64> = BTreeSet::new();
    let mut k2: BTreeSet<(u64, String)> = BTreeSet::new();
    let mut touched = BTreeSet::new();
    let mut np_rows = 0u64;
    let json = |n: u64| match kind {
        Kind::MySql => {
            format!("JSON_OBJECT('n', {n}, 'd', CAST('{n}.2500' AS DECIMAL(12,4)), 's', 'x\\ty')")
        }
        Kind::MariaDb => format!("'{{\"n\": {n}, \"d\": {n}.2500}}'"),
    };
    for _ in 0..txns {
        sql.push_str("BEGIN;\n");
        for _ in 0..1 + r.next(3) {
            let id = 1 + r.next(keys);
            match r.next(10) {
                0..=3 if !a.contains(&id) => {
                    let n = r.next(100_000);
                    sql.push_str(&format!(
                        "INSERT INTO a (id, v, d, j, t, tm, b, s, e, bin, f) VALUES ({id}, \
                         'v{n} ', {n}.{:04}, {}, '2024-01-0{} 10:11:12.{:06}', '-{}:01:02.5', \
                         b'1{:04b}', 'x,z', 'q', 'ab', {}.5);\n",
                        n % 10_000,
                        json(n),
                        1 + n % 9,
                        n,
                        n % 800,
                        n % 16,
                        n % 1000,
                    ));
                    a.insert(id);
                    touched.insert(("a".to_string(), id.to_string()));
                }
                4..=5 if a.contains(&id) => {
                    let n = r.next(100_000);
                    sql.push_str(&format!(
                        "UPDATE a SET v = 'U{n}', d = -{n}.0001, j = {}, s = 'y', e = 'p', \
                         bin = 'xyz', b = b'0{:04b}', tm = NULL WHERE id = {id};\n",
                        json(n),
                        n % 16
                    ));
                    touched.insert(("a".to_string(), id.to_string()));
                }
                6 if a.contains(&id) => {
                    sql.push_str(&format!("DELETE FROM a WHERE id = {id};\n"));
                    a.remove(&id);
                    touched.insert(("a".to_string(), id.to_string()));
                }
                7 if a.contains(&id) => {
                    let to = keys + 1 + r.next(keys);
                    if !a.contains(&to) {
                        sql.push_str(&format!("UPDATE a SET id = {to} WHERE id = {id};\n"));
                        a.remove(&id);
                        a.insert(to);
                        touched.insert(("a".to_string(), id.to_string()));
                        touched.insert(("a".to_string(), to.to_string()));
                    }
                }
                8 => {
                    let b = ["k", "Kx", "é", "a b"][r.next(4) as usize].to_string();
                    let key = (id % 20, b.clone());
                    if k2.contains(&key) {
                        if r.next(2) == 0 {
                            sql.push_str(&format!(
                                "DELETE FROM k2 WHERE a = {} AND b = '{b}';\n",
                                key.0
                            ));
                            k2.remove(&key);
                        } else {
                            sql.push_str(&format!(
                                "UPDATE k2 SET v = v + 1 WHERE a = {} AND b = '{b}';\n",
                                key.0
                            ));
                        }
                    } else {
                        sql.push_str(&format!(
                            "INSERT INTO k2 VALUES ({}, '{b}', {id});\n",
                            key.0
                        ));
                        k2.insert(key.clone());
                    }
                    touched.insert(("k2".to_string(), format!("{}/{b}", key.0)));
                }
                _ => {
                    sql.push_str(&format!("INSERT INTO np VALUES ({id}, {id});\n"));
                    np_rows += 1;
                }
            }
        }
        sql.push_str("COMMIT;\n");
    }
    (sql, touched, np_rows)
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_rows_verified_equal_rows_touched() {
    let _g = server_lock();
    rows_verified_equal_rows_touched(&Server::mysql_master(), &Server::mysql_target());
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_rows_verified_equal_rows_touched() {
    let _g = server_lock();
    rows_verified_equal_rows_touched(&Server::mariadb_master(), &Server::mariadb_target());
}

fn rows_verified_equal_rows_touched(m: &Server, t: &Server) {
    t.reset();
    for (image, seed) in [("FULL", 7), ("MINIMAL", 11)] {
        let db = unique("gf_ver_");
        master_tables(m, &db);
        t.sql_text(&tables_sql(&db, "id * 2", "DECIMAL(10,4)"));
        let (body, touched, np_rows) = workload(m.kind, &db, 300, seed, 150);
        let c = capture(
            m,
            &format!("SET SESSION binlog_row_image = {image};\n{body}"),
        );
        let r = match apply_files_blocking(&c.files, options(t, &c, true)) {
            Ok(r) => r,
            Err(f) => panic!(
                "{image}: replay failed: {}\n{}",
                f.error,
                f.report.to_json()
            ),
        };
        eprintln!("{:?} {image}: {}", m.kind, r.summary());
        let n = touched.len() as u64;
        assert!(n > 100, "the workload touched only {n} keys");
        assert_eq!(r.rows_to_verify, Some(n), "{}", r.to_json());
        assert_eq!(r.rows_verified, Some(n), "{}", r.to_json());
        assert_eq!(r.rows_not_verifiable, Some(np_rows), "{}", r.to_json());
        assert_eq!(r.verified, Some(true));
        assert!(r.summary().contains(&format!("rows verified {n}/{n}")));
    }
}

struct Case {
    name: &'static str,
    /// The target's `g` expression and `d` type.
    g_expr: &'static str,
    d_type: &'static str,
    /// Extra DDL on the target only (`{db}` replaced).
    target_extra: &'static str,
    workload: &'static str,
    /// Every string the error must name.
    expect: &'static [&'static str],
    /// MySQL only (MariaDB's JSON is text: no scalar types to lose).
    mysql_only: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "changed after it landed",
        g_expr: "id * 2",
        d_type: "DECIMAL(10,4)",
        target_extra: "CREATE TRIGGER {db}.tg AFTER INSERT ON {db}.u FOR EACH ROW \
                       UPDATE {db}.a SET v = 'tampered' WHERE id = NEW.id;",
        workload: "INSERT INTO a (id, v) VALUES (1, 'orig');
                   INSERT INTO a (id, v) VALUES (5, 'other');
                   INSERT INTO u VALUES (1);",
        expect: &[
            ".a, key id=1",
            "column v is 'tampered' on the target",
            "has 'orig'",
        ],
        mysql_only: false,
    },
    Case {
        name: "deleted row reappears",
        g_expr: "id * 2",
        d_type: "DECIMAL(10,4)",
        target_extra: "CREATE TRIGGER {db}.tg AFTER INSERT ON {db}.u FOR EACH ROW \
                       INSERT INTO {db}.a (id, v) VALUES (NEW.id, 'back');",
        workload: "INSERT INTO a (id, v) VALUES (2, 'gone soon');
                   DELETE FROM a WHERE id = 2;
                   INSERT INTO u VALUES (2);",
        expect: &[".a, key id=2", "deleted this row last"],
        mysql_only: false,
    },
    Case {
        name: "generated column computed differently",
        g_expr: "id * 3",
        d_type: "DECIMAL(10,4)",
        target_extra: "",
        workload: "INSERT INTO a (id, v) VALUES (3, 'gen');",
        expect: &[".a, key id=3", "column g is 9 on the target", "has 6"],
        mysql_only: false,
    },
    Case {
        name: "DECIMAL of another scale",
        g_expr: "id * 2",
        d_type: "DECIMAL(10,2)",
        target_extra: "",
        workload: "INSERT INTO a (id, d) VALUES (4, 1.2345);",
        expect: &[
            ".a, key id=4",
            "column d is '1.23' on the target",
            "has '1.2345'",
        ],
        mysql_only: false,
    },
    Case {
        // The text of a DATE scalar is a string's: only comparing as JSON sees the type.
        name: "JSON DATE scalar turned into a string of the same text",
        g_expr: "id * 2",
        d_type: "DECIMAL(10,4)",
        // Before the insert (MySQL skips an UPDATE to a JSON value equal as JSON).
        target_extra: "CREATE TRIGGER {db}.tg BEFORE INSERT ON {db}.a FOR EACH ROW \
                       SET NEW.j = JSON_SET(NEW.j, '$.day', '2024-01-02');",
        workload: "INSERT INTO a (id, j) VALUES (6, JSON_OBJECT('d', CAST('1.2500' AS DECIMAL(10,4)), \
                   'day', CAST('2024-01-02' AS DATE)));",
        expect: &[".a, key id=6", "column j"],
        mysql_only: true,
    },
    Case {
        // A DECIMAL scalar's scale: the documents are equal as JSON, not as text.
        name: "JSON DECIMAL scalar of another scale",
        g_expr: "id * 2",
        d_type: "DECIMAL(10,4)",
        target_extra: "CREATE TRIGGER {db}.tg BEFORE INSERT ON {db}.a FOR EACH ROW \
                       SET NEW.j = JSON_OBJECT('d', CAST('1.25' AS DECIMAL(10,2)));",
        workload: "INSERT INTO a (id, j) VALUES (7, JSON_OBJECT('d', CAST('1.2500' AS DECIMAL(10,4))));",
        expect: &[".a, key id=7", "column j is '{\"d\": 1.25}' on the target"],
        mysql_only: false,
    },
];

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_differences_are_named() {
    let _g = server_lock();
    differences_are_named(&Server::mysql_master(), &Server::mysql_target());
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_differences_are_named() {
    let _g = server_lock();
    differences_are_named(&Server::mariadb_master(), &Server::mariadb_target());
}

fn differences_are_named(m: &Server, t: &Server) {
    t.reset();
    for (n, case) in CASES.iter().enumerate() {
        if case.mysql_only && m.kind != common::Kind::MySql {
            continue;
        }
        let db = unique("gf_vd_");
        master_tables(m, &db);
        t.sql_text(&format!(
            "{}\n{}",
            tables_sql(&db, case.g_expr, case.d_type),
            case.target_extra.replace("{db}", &db)
        ));
        let c = capture(m, &format!("USE {db};\n{}", case.workload));
        if n == 0 {
            // The CLI: exit 5, the difference on stderr.
            let out = Command::new(env!("CARGO_BIN_EXE_gapfill"))
                .args(["replay", "--target", &t.addr, "--include-gtids", &c.include])
                .args(&c.files)
                .env("GAPFILL_USER", env("GAPFILL_TEST_USER"))
                .env("GAPFILL_PASSWORD", env("GAPFILL_TEST_PASSWORD"))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(5), "{}: {err}", case.name);
            for e in case.expect {
                assert!(err.contains(e), "{}: {e:?} not in {err}", case.name);
            }
            assert!(err.contains("rows verified 2/3"), "{}: {err}", case.name);
            continue;
        }
        let f = match apply_files_blocking(&c.files, options(t, &c, true)) {
            Ok(r) => panic!(
                "{}: verified a differing target: {}",
                case.name,
                r.summary()
            ),
            Err(f) => f,
        };
        let msg = f.error.to_string();
        eprintln!("{:?} {}: {msg}", m.kind, case.name);
        assert!(
            matches!(f.error, ApplyError::DataMismatch { .. }),
            "{}: {msg}",
            case.name
        );
        for e in case.expect {
            assert!(msg.contains(e), "{}: {e:?} not in {msg}", case.name);
        }
        assert!(msg.contains(&db), "{msg}");
        assert_eq!(f.report.verified, Some(false));
        assert!(f.report.rows_verified < f.report.rows_to_verify);
    }
}

/// The same replay with and without verification, on a fresh target each time, twice each
/// (alternating); the faster run of each.
fn timed(m: &Server, t: &Server, txns: usize) -> (RunReport, RunReport) {
    let db = unique("gf_vc_");
    master_tables(m, &db);
    let (body, touched, _) = workload(m.kind, &db, txns, 3, 4000);
    let c = capture(m, &body);
    let mut best: [Option<RunReport>; 2] = [None, None];
    for verify in [false, true, false, true] {
        t.reset();
        t.sql_text(&tables_sql(&db, "id * 2", "DECIMAL(10,4)"));
        let r = apply_files_blocking(&c.files, options(t, &c, verify))
            .unwrap_or_else(|f| panic!("{}", f.error));
        if verify {
            assert_eq!(r.rows_verified, Some(touched.len() as u64));
        }
        let slot = &mut best[verify as usize];
        if slot.as_ref().is_none_or(|b| r.seconds < b.seconds) {
            *slot = Some(r);
        }
    }
    let [without, with] = best;
    (without.unwrap(), with.unwrap())
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn verification_cost() {
    let _g = server_lock();
    for (m, t) in [
        (Server::mysql_master(), Server::mysql_target()),
        (Server::mariadb_master(), Server::mariadb_target()),
    ] {
        let (without, with) = timed(&m, &t, 3000);
        assert_eq!(without.transactions_applied, with.transactions_applied);
        assert_eq!(with.rows_verified, with.rows_to_verify);
        eprintln!(
            "{:?}: {} transactions, {} rows: {:.2} s without verification, {:.2} s with \
             ({} rows verified): ratio {:.2}",
            m.kind,
            with.transactions_applied,
            with.rows,
            without.seconds,
            with.seconds,
            with.rows_verified.unwrap_or(0),
            with.seconds / without.seconds
        );
    }
}
