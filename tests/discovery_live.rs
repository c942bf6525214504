//! Live proof that `gapfill capture` does not confuse orchestrator's replica discovery: attached
//! to a real master it shows in `SHOW REPLICAS` (MySQL 9.7) / `SHOW SLAVE HOSTS` (MariaDB 10.11)
//! with a host name and a non-zero port, read the way orchestrator reads that result
//! (go/inst/instance_dao.go: a row with an empty `Host` or a `Port` of 0 aborts the discovery
//! of the master's replicas), and with `--no-register` it captures without any row there.
//!
//! Runs the real binary (credentials in its environment, never argv) against the sandbox;
//! `#[ignore]`d so a plain `cargo test` needs no server.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Kind, Server, env, rows_by_name, wait_spool_reached};

/// A running `gapfill capture`, killed when dropped.
struct Capture(Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn capture(server: &Server, dir: &Path, server_id: u32, args: &[&str]) -> Capture {
    let child = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .arg("capture")
        .args(["--source", &server.addr])
        .arg("--dir")
        .arg(dir)
        .args(["--server-id", &server_id.to_string(), "--heartbeat", "1s"])
        .args(args)
        .env("GAPFILL_USER", env("GAPFILL_TEST_USER"))
        .env("GAPFILL_PASSWORD", env("GAPFILL_TEST_PASSWORD"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gapfill capture");
    Capture(child)
}

/// The master's registered replicas, as orchestrator asks for them.
fn replica_hosts(master: &Server) -> Vec<BTreeMap<String, String>> {
    let q = match master.kind {
        Kind::MySql => "SHOW REPLICAS",
        Kind::MariaDb => "SHOW SLAVE HOSTS",
    };
    rows_by_name(master, q)
}

/// orchestrator's parse of one row: `Host` non-empty and `Port` non-zero, else the whole
/// discovery of this master's replicas stops. Returns `host:port`, what
/// `DiscoveryIgnoreReplicaHostnameFilters` is matched against.
fn orchestrator_key(row: &BTreeMap<String, String>) -> Result<String, String> {
    let host = row.get("Host").map(String::as_str).unwrap_or("");
    let port: u32 = row.get("Port").and_then(|p| p.parse().ok()).unwrap_or(0);
    if host.is_empty() || port == 0 {
        return Err(format!(
            "'show slave hosts' returned row with <host,port>: <{host},{port}>"
        ));
    }
    Ok(format!("{host}:{port}"))
}

fn server_id_column(row: &BTreeMap<String, String>) -> Option<u32> {
    row.get("Server_Id")
        .or_else(|| row.get("Server_id"))
        .and_then(|v| v.parse().ok())
}

/// Wait until the master lists `server_id`, then check every row the way orchestrator does
/// and return gapfill's `host:port`.
fn wait_listed(master: &Server, server_id: u32) -> String {
    let t = Instant::now();
    loop {
        let rows = replica_hosts(master);
        if let Some(row) = rows.iter().find(|r| server_id_column(r) == Some(server_id)) {
            for r in &rows {
                orchestrator_key(r).unwrap_or_else(|e| {
                    panic!("orchestrator would stop discovering replicas: {e} (rows: {rows:?})")
                });
            }
            return orchestrator_key(row).unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "server id {server_id} never showed in the master's replica list: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_gone(master: &Server, server_id: u32) {
    let t = Instant::now();
    while replica_hosts(master)
        .iter()
        .any(|r| server_id_column(r) == Some(server_id))
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "server id {server_id} stays listed after its capture ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn discovery(master: Server, base_id: u32) {
    let dir = tempfile::tempdir().unwrap();

    // Given a report host and port: exactly those, and every row parses as orchestrator wants.
    let c = capture(
        &master,
        &dir.path().join("given"),
        base_id,
        &[
            "--report-host",
            "gapfill-sidecar.example.com",
            "--report-port",
            "17077",
        ],
    );
    assert_eq!(
        wait_listed(&master, base_id),
        "gapfill-sidecar.example.com:17077"
    );
    drop(c);
    wait_gone(&master, base_id);

    // The defaults: this machine's host name and the daemon's HTTP port, never port 0.
    let c = capture(&master, &dir.path().join("default"), base_id + 1, &[]);
    let key = wait_listed(&master, base_id + 1);
    let want_host = match hostname() {
        h if h.is_empty() => "gapfill".to_string(),
        h => h,
    };
    assert_eq!(key, format!("{want_host}:7077"));
    drop(c);
    wait_gone(&master, base_id + 1);

    // --no-register: the dump works (the spool receives the master's writes) and the master
    // lists no row for it.
    let spool = dir.path().join("unregistered");
    let _c = capture(&master, &spool, base_id + 2, &["--no-register"]);
    master.sql_text(
        "CREATE DATABASE IF NOT EXISTS gf_discovery;\n\
         CREATE TABLE IF NOT EXISTS gf_discovery.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT);\n\
         INSERT INTO gf_discovery.t (v) VALUES (1);\n",
    );
    wait_spool_reached(&spool, &master);
    let rows = replica_hosts(&master);
    assert!(
        !rows
            .iter()
            .any(|r| server_id_column(r) == Some(base_id + 2)),
        "an unregistered capture is listed: {rows:?}"
    );
    for r in &rows {
        orchestrator_key(r).unwrap();
    }
}

#[test]
#[ignore = "needs the sandbox servers (scripts/test)"]
fn mysql_show_replicas_has_a_discoverable_row() {
    discovery(Server::mysql_master(), 3_100_000);
}

#[test]
#[ignore = "needs the sandbox servers (scripts/test)"]
fn mariadb_show_slave_hosts_has_a_discoverable_row() {
    discovery(Server::mariadb_master(), 3_200_000);
}
