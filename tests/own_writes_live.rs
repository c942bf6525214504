//! Live proof that a fill names as the successor's "own writes" only what it wrote after it
//! stopped replicating from the dead master: the successor was the master in an earlier era
//! (its GTIDs are in every server's executed set, the dead master's included), then a replica
//! again; after the failover it writes one row, and the fill's report names that one GTID,
//! not the earlier era's.
//!
//! Runs the real binary (credentials in its environment) against the sandbox topology;
//! `#[ignore]`d so a plain `cargo test` needs no server.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, Topology, env, executed, sandbox, server_lock, wait_spool_reached};

const ALIAS: &str = "gf-own";

struct Capture(Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn capture(master: &Server, dir: &Path) -> Capture {
    Capture(
        Command::new(env!("CARGO_BIN_EXE_gapfill"))
            .arg("capture")
            .args(["--source", &master.addr])
            .arg("--dir")
            .arg(dir)
            .args(["--server-id", "4343", "--heartbeat", "1s"])
            .env("GAPFILL_USER", env("GAPFILL_TEST_USER"))
            .env("GAPFILL_PASSWORD", env("GAPFILL_TEST_PASSWORD"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn gapfill capture"),
    )
}

/// Run the hook; return its exit code and JSON report.
fn fill(
    root: &Path,
    failed: &Server,
    successor: &Server,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let report = root.join("report.json");
    let _ = std::fs::remove_file(&report);
    let out = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .arg("fill")
        .args(["--cluster", ALIAS, "--failed", &failed.addr])
        .args(["--successor", &successor.addr, "--spool-dir"])
        .arg(root.join("spool"))
        .arg("--report")
        .arg(&report)
        .args(["--tail-wait", "2"])
        .args(extra)
        .env("GAPFILL_USER", env("GAPFILL_TEST_USER"))
        .env("GAPFILL_PASSWORD", env("GAPFILL_TEST_PASSWORD"))
        .stdin(Stdio::null())
        .output()
        .expect("run gapfill fill");
    let v = serde_json::from_str(&std::fs::read_to_string(&report).unwrap_or_default())
        .unwrap_or_else(|_| {
            panic!(
                "no report from gapfill fill (exit {:?}): {}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (out.status.code().unwrap_or(-1), v)
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn port(s: &Server) -> &str {
    s.addr.rsplit_once(':').unwrap().1
}

/// The successor's own GTIDs after promotion, MySQL: it was the master once (its writes
/// replicated to the later master), then a lagging replica; promoted, it writes one row.
fn mysql_scenario() {
    let _t = Topology::fresh();
    let (m, s) = (Server::mysql_master(), Server::mysql_replica2());
    let (user, pw) = (env("GAPFILL_REPL_USER"), env("GAPFILL_REPL_PASSWORD"));
    let uuid = s.sql("SELECT @@server_uuid").trim().to_string();

    // Era 1: the successor-to-be is the master; the later master replicates from it.
    s.sql(
        "STOP REPLICA; SET GLOBAL super_read_only = 0; SET GLOBAL read_only = 0; \
         CREATE DATABASE gf_era; CREATE TABLE gf_era.t (id INT PRIMARY KEY); \
         INSERT INTO gf_era.t VALUES (1); INSERT INTO gf_era.t VALUES (2); \
         INSERT INTO gf_era.t VALUES (3)",
    );
    let era: String = executed(&s);
    m.sql(&format!(
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST = '127.0.0.1', SOURCE_PORT = {}, \
         SOURCE_USER = '{user}', SOURCE_PASSWORD = '{pw}', SOURCE_AUTO_POSITION = 1, \
         GET_SOURCE_PUBLIC_KEY = 1; START REPLICA",
        port(&s)
    ));
    wait_until("the later master to replicate the first era", || {
        executed(&m).contains(&uuid)
    });
    m.sql("STOP REPLICA; RESET REPLICA ALL");
    s.sql("SET GLOBAL read_only = 1; START REPLICA");
    assert!(era.contains(&format!("{uuid}:1-5")), "{era}");

    // Era 2: capture the master; the successor-to-be lags behind it.
    let root = tempfile::tempdir().unwrap();
    let spool = root.path().join("spool").join(ALIAS);
    let _cap = capture(&m, &spool);
    m.sql("CREATE DATABASE gf_own; CREATE TABLE gf_own.t (id INT PRIMARY KEY, v INT)");
    wait_until("the replica to catch up", || executed(&s) == executed(&m));
    s.sql("STOP REPLICA IO_THREAD");
    for i in 1..=20 {
        m.sql(&format!("INSERT INTO gf_own.t VALUES ({i}, {i})"));
        if i == 10 {
            // The gap spans more than a second: a 1 s window refuses it.
            std::thread::sleep(Duration::from_millis(2200));
        }
    }
    wait_spool_reached(&spool, &m);
    sandbox(&["instance", "kill", "mysql-master"]);
    s.sql(
        "STOP REPLICA; RESET REPLICA ALL; SET GLOBAL super_read_only = 0; SET GLOBAL read_only = 0",
    );

    // The window from orchestrator's configuration (and its topology credentials), through
    // the command line: SlaveBinLogEnableMaxLagSeconds = 1 refuses the gap (exit 3).
    let orc = root.path().join("orchestrator.conf.json");
    std::fs::write(
        &orc,
        serde_json::json!({
            "MySQLTopologyUser": env("GAPFILL_TEST_USER"),
            "MySQLTopologyPassword": env("GAPFILL_TEST_PASSWORD"),
            "SlaveBinLogEnableMaxLagSeconds": 1,
        })
        .to_string(),
    )
    .unwrap();
    let (code, r) = fill(
        root.path(),
        &m,
        &s,
        &["--orchestrator-config", orc.to_str().unwrap()],
    );
    assert_eq!(
        code, 3,
        "SlaveBinLogEnableMaxLagSeconds = 1 did not refuse: {r:#}"
    );
    assert_eq!(r["outcome"], "Refused", "{r:#}");
    assert_eq!(s.sql("SELECT COUNT(*) FROM gf_own.t").trim(), "0");

    // Nothing written since the promotion: no own writes (the first era is not one).
    let (_, r) = fill(root.path(), &m, &s, &["--dry-run"]);
    assert!(
        r["successor_own_writes"].is_null(),
        "the first era's GTIDs taken for writes after the promotion: {r:#}"
    );
    // One row after the promotion: exactly its GTID.
    s.sql("INSERT INTO gf_era.t VALUES (4)");
    let (code, r) = fill(root.path(), &m, &s, &[]);
    assert!(matches!(code, 0 | 7), "fill exited {code}: {r:#}");
    assert_eq!(
        r["successor_own_writes"].as_str(),
        Some(format!("{uuid}:6").as_str()),
        "{r:#}"
    );
    assert_eq!(s.sql("SELECT COUNT(*) FROM gf_own.t").trim(), "20");
}

/// The same on MariaDB: the binlog state keeps the last GTID per domain and server, which
/// after the first era is the successor's old write.
fn mariadb_scenario() {
    let _t = Topology::fresh();
    let (m, s) = (Server::mariadb_master(), Server::mariadb_replica());
    let (user, pw) = (env("GAPFILL_REPL_USER"), env("GAPFILL_REPL_PASSWORD"));
    let sid = s.sql("SELECT @@server_id").trim().to_string();

    s.sql(
        "STOP SLAVE; SET GLOBAL read_only = 0; \
         CREATE DATABASE gf_era; CREATE TABLE gf_era.t (id INT PRIMARY KEY); \
         INSERT INTO gf_era.t VALUES (1); INSERT INTO gf_era.t VALUES (2); \
         INSERT INTO gf_era.t VALUES (3)",
    );
    let era = s.sql("SELECT @@GLOBAL.gtid_binlog_pos").trim().to_string();
    m.sql(&format!(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = '{user}', \
         MASTER_PASSWORD = '{pw}', MASTER_USE_GTID = slave_pos; START SLAVE",
        port(&s)
    ));
    wait_until("the later master to replicate the first era", || {
        executed(&m).contains(&era)
    });
    m.sql("STOP SLAVE; RESET SLAVE ALL");
    s.sql("SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos; SET GLOBAL read_only = 1; START SLAVE");

    let root = tempfile::tempdir().unwrap();
    let spool = root.path().join("spool").join(ALIAS);
    let _cap = capture(&m, &spool);
    m.sql("CREATE DATABASE gf_own; CREATE TABLE gf_own.t (id INT PRIMARY KEY, v INT)");
    wait_until("the replica to catch up", || executed(&s) == executed(&m));
    s.sql("STOP SLAVE IO_THREAD");
    for i in 1..=20 {
        m.sql(&format!("INSERT INTO gf_own.t VALUES ({i}, {i})"));
    }
    wait_spool_reached(&spool, &m);
    sandbox(&["instance", "kill", "mariadb-master"]);
    s.sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0");

    let (_, r) = fill(root.path(), &m, &s, &["--dry-run"]);
    assert!(
        r["successor_own_writes"].is_null(),
        "the first era's GTID ({era}) taken for a write after the promotion: {r:#}"
    );
    s.sql("SET SESSION gtid_domain_id = 7; INSERT INTO gf_era.t VALUES (4)");
    let (_, r) = fill(root.path(), &m, &s, &[]);
    assert_eq!(
        r["successor_own_writes"].as_str(),
        Some(format!("7-{sid}-1").as_str()),
        "{r:#}"
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_own_writes_are_those_after_the_promotion() {
    let _g = server_lock();
    mysql_scenario();
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_own_writes_are_those_after_the_promotion() {
    let _g = server_lock();
    mariadb_scenario();
}
