//! Live proofs of `gapfill::serve`: REAL replicas replicate a spool through it.
//!
//! For each flavor: `gapfill capture` follows the sandbox master into a spool from the
//! master's current GTID state on; a workload (every column type, JSON holding a DECIMAL
//! scalar, XA, a MINIMAL-image table, a row event over 16 MiB) runs on the master; the spool
//! catches up (the master's binlog rotates midway: the stream changes file); gapfill serves the spool (TLS on) and the sandbox's standalone target replicates
//! from it on a channel named `gapfill`. A MySQL replica without TLS is refused first (full
//! authentication never takes the password in clear). Then the target lacks GTIDs from before the spool's
//! origin: the replica's I/O thread must stop on error 1236 naming the reason. Then the
//! target is given the origin as already executed (gtid_purged / gtid_slave_pos) and must
//! apply every transaction: `CHECKSUM TABLE` of every table of the workload and the executed
//! GTIDs equal the master's. MySQL replicas authenticate by caching_sha2_password full
//! authentication over TLS; MariaDB replicas by mysql_native_password over TLS.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Kind, Server, binlog_end, env, executed, server_lock, wait_spool_reached};
use gapfill::protocol::Password;
use gapfill::serve::{ServeConfig, TlsFiles};

const DB: &str = "gf_serve";
const USER: &str = "gf_repl";
const PASSWORD: &str = "serve-live-pw";

struct Capture(Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn capture(master: &Server, dir: &Path, log: &Path) -> Capture {
    let f = File::create(log).expect("capture log");
    let child = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .arg("capture")
        .args(["--source", &master.addr, "--gtid"])
        .arg("--dir")
        .arg(dir)
        .args(["--server-id", "4343", "--heartbeat", "1s"])
        .env("GAPFILL_USER", env("GAPFILL_TEST_USER"))
        .env("GAPFILL_PASSWORD", env("GAPFILL_TEST_PASSWORD"))
        .env("GAPFILL_LOG", "gapfill=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(f))
        .spawn()
        .expect("spawn gapfill capture");
    Capture(child)
}

/// A self-signed certificate for gapfill serve.
fn tls_files(dir: &Path) -> TlsFiles {
    let (cert, key) = common::self_signed(dir, "gapfill-serve-live");
    TlsFiles { cert, key }
}

/// `gapfill::serve::Server` on a free port, in its own runtime, until dropped.
struct Serving {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Serving {
    fn start(spool: &Path, tls: TlsFiles, full_auth_only: bool) -> Serving {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("GAPFILL_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("gapfill=info")),
            )
            .with_test_writer()
            .try_init();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut cfg = ServeConfig::new(
            spool.to_path_buf(),
            "127.0.0.1:0".into(),
            USER.into(),
            Password::new(PASSWORD),
        );
        cfg.tls = Some(tls);
        cfg.full_auth_only = full_auth_only;
        cfg.poll_interval = Duration::from_millis(300);
        let server = rt
            .block_on(gapfill::serve::Server::bind(cfg))
            .expect("bind gapfill serve");
        let port = server.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            let _ = server
                .run(async {
                    let _ = rx.await;
                })
                .await;
        });
        Serving {
            port,
            stop: Some(tx),
            rt: Some(rt),
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn workload(kind: Kind) -> String {
    let file = match kind {
        Kind::MySql => "tests/workload/mysql_types.sql",
        Kind::MariaDb => "tests/workload/mariadb_types.sql",
    };
    let types = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .expect("workload file")
        .replace("gf_types", DB);
    let json_decimal = match kind {
        // A JSON opaque DECIMAL scalar (binary JSON keeps its scale).
        Kind::MySql => {
            "INSERT INTO sv_json VALUES (1, CAST(CAST(12.50 AS DECIMAL(6,2)) AS JSON)), \
             (2, JSON_OBJECT('price', CAST(0.10 AS DECIMAL(4,2)), 'n', 3));"
        }
        Kind::MariaDb => {
            "INSERT INTO sv_json VALUES (1, '12.50'), (2, JSON_OBJECT('price', 0.10, 'n', 3));"
        }
    };
    format!(
        "{types}\n\
         USE {DB};\n\
         SET SESSION binlog_row_image = FULL;\n\
         CREATE TABLE sv_json (id INT PRIMARY KEY, j JSON);\n\
         {json_decimal}\n\
         UPDATE sv_json SET j = JSON_SET(j, '$.n', 4) WHERE id = 2;\n\
         CREATE TABLE sv_xa (id INT PRIMARY KEY, v VARCHAR(20));\n\
         XA START 'serve1';\n\
         INSERT INTO sv_xa VALUES (1, 'prepared'), (2, 'then committed');\n\
         XA END 'serve1';\n\
         XA PREPARE 'serve1';\n\
         XA COMMIT 'serve1';\n\
         XA START 'serve2';\n\
         INSERT INTO sv_xa VALUES (3, 'one phase');\n\
         XA END 'serve2';\n\
         XA COMMIT 'serve2' ONE PHASE;\n\
         FLUSH BINARY LOGS;\n\
         CREATE TABLE sv_minimal (id INT PRIMARY KEY, a INT, b VARCHAR(40), c DOUBLE);\n\
         INSERT INTO sv_minimal VALUES (1, 1, 'one', 1.5), (2, 2, 'two', 2.5), (3, 3, 'three', 3.5);\n\
         SET SESSION binlog_row_image = MINIMAL;\n\
         UPDATE sv_minimal SET b = 'TWO' WHERE id = 2;\n\
         UPDATE sv_minimal SET a = a * 10;\n\
         DELETE FROM sv_minimal WHERE id = 3;\n\
         INSERT INTO sv_minimal VALUES (4, 4, 'four', 4.5);\n\
         SET SESSION binlog_row_image = FULL;\n\
         CREATE TABLE sv_big (id INT PRIMARY KEY, b LONGBLOB);\n\
         INSERT INTO sv_big VALUES (1, REPEAT('x', 17 * 1024 * 1024));\n\
         INSERT INTO sv_big VALUES (2, 'small');\n"
    )
}

/// `CHECKSUM TABLE` of every table of the workload's database.
fn checksums(s: &Server) -> Vec<String> {
    let tables: Vec<String> = s
        .sql(&format!(
            "SELECT CONCAT('`{DB}`.`', table_name, '`') FROM information_schema.tables \
             WHERE table_schema = '{DB}' AND table_type = 'BASE TABLE' ORDER BY 1"
        ))
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        tables.len() >= 5,
        "too few tables on {}: {tables:?}",
        s.addr
    );
    s.sql(&format!("CHECKSUM TABLE {}", tables.join(", ")))
        .lines()
        .map(str::to_string)
        .collect()
}

fn replica_status(t: &Server) -> String {
    let q = match t.kind {
        Kind::MySql => "SHOW REPLICA STATUS FOR CHANNEL 'gapfill'",
        Kind::MariaDb => "SHOW SLAVE 'gapfill' STATUS",
    };
    let rows = common::rows_by_name(t, q);
    rows.first()
        .map(|r| {
            ["Last_IO_Error", "Last_SQL_Error", "Last_Error"]
                .iter()
                .filter_map(|k| {
                    r.get(*k)
                        .filter(|v| !v.is_empty())
                        .map(|v| format!("{k}: {v}"))
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

fn start_replica(t: &Server, port: u16) {
    start_replica_tls(t, port, true);
}

fn start_replica_tls(t: &Server, port: u16, tls: bool) {
    let ssl = u8::from(tls);
    let sql = match t.kind {
        Kind::MySql => format!(
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT={port}, \
             SOURCE_USER='{USER}', SOURCE_PASSWORD='{PASSWORD}', SOURCE_AUTO_POSITION=1, \
             SOURCE_SSL={ssl}, GET_SOURCE_PUBLIC_KEY=1, SOURCE_HEARTBEAT_PERIOD=1, SOURCE_CONNECT_RETRY=1, \
             SOURCE_RETRY_COUNT=2 FOR CHANNEL 'gapfill'; \
             START REPLICA FOR CHANNEL 'gapfill'"
        ),
        Kind::MariaDb => format!(
            "CHANGE MASTER 'gapfill' TO MASTER_HOST='127.0.0.1', MASTER_PORT={port}, \
             MASTER_USER='{USER}', MASTER_PASSWORD='{PASSWORD}', MASTER_USE_GTID=slave_pos, \
             MASTER_SSL={ssl}, MASTER_HEARTBEAT_PERIOD=1, MASTER_CONNECT_RETRY=1; \
             START SLAVE 'gapfill'"
        ),
    };
    t.sql(&sql);
}

fn stop_replica(t: &Server) {
    let sql = match t.kind {
        Kind::MySql => {
            "STOP REPLICA FOR CHANNEL 'gapfill'; RESET REPLICA ALL FOR CHANNEL 'gapfill'"
        }
        Kind::MariaDb => "STOP SLAVE 'gapfill'; RESET SLAVE 'gapfill' ALL",
    };
    t.sql(sql);
}

/// The replica's executed GTIDs, comparable with the master's `executed`.
fn replica_executed(t: &Server) -> String {
    match t.kind {
        Kind::MySql => executed(t),
        Kind::MariaDb => t
            .sql("SELECT @@GLOBAL.gtid_slave_pos")
            .replace(['\n', ' '], ""),
    }
}

fn serve_to_a_real_replica(kind: Kind) {
    let _lock = server_lock();
    let (master, target) = match kind {
        Kind::MySql => (Server::mysql_master(), Server::mysql_target()),
        Kind::MariaDb => (Server::mariadb_master(), Server::mariadb_target()),
    };
    target.reset();
    let root = tempfile::tempdir().unwrap();
    let spool = root.path().join("spool");
    // Whatever the master holds now is the spool's origin: the target must get it another way.
    // A fresh topology (another test's reset) has none yet: make one, so the origin is not
    // empty whatever ran before.
    master.sql("CREATE DATABASE IF NOT EXISTS gf_serve_origin; DROP DATABASE gf_serve_origin");
    let origin = executed(&master);
    assert!(!origin.is_empty(), "the sandbox master has no GTIDs");
    let _capture = capture(&master, &spool, &root.path().join("capture.log"));
    // The capture connected once its stream record names the master's end.
    wait_spool_reached(&spool, &master);
    // Room for the 17 MiB row (MariaDB's default is 16 MiB); restored right after.
    let old_packet = master.sql("SELECT @@GLOBAL.max_allowed_packet");
    master.sql("SET GLOBAL max_allowed_packet = 67108864");
    master.sql_text(&workload(kind));
    master.sql(&format!(
        "SET GLOBAL max_allowed_packet = {}",
        old_packet.trim()
    ));
    wait_spool_reached(&spool, &master);
    let end = binlog_end(&master);
    let held = gapfill::spool::Spool::open_read_only(&spool)
        .unwrap()
        .status();
    assert!(
        held.segments >= 2,
        "the workload's FLUSH BINARY LOGS should have made a second segment: {held:?}"
    );

    // The replica user on the target side (replicated accounts are not part of the check).
    let serving = Serving::start(&spool, tls_files(root.path()), kind == Kind::MySql);

    // 0. MySQL: full authentication would send the password in clear without TLS: refused,
    // with a message the replica shows.
    if kind == Kind::MySql {
        start_replica_tls(&target, serving.port, false);
        let t = Instant::now();
        loop {
            let s = replica_status(&target);
            if s.contains("over TLS only") {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "a replica without TLS was not refused clearly: {s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        stop_replica(&target);
    }

    // 1. The target lacks what came before the spool's origin: refused with 1236.
    start_replica(&target, serving.port);
    let t = Instant::now();
    let err = loop {
        let s = replica_status(&target);
        if s.contains("1236") {
            break s;
        }
        assert!(
            s.is_empty() || s.contains("connecting"),
            "expected 1236, the replica says: {s}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no 1236 from gapfill serve for a replica lacking {origin}: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(err.contains("cannot serve"), "{err}");
    assert!(err.contains("lacks") || err.contains("before"), "{err}");
    stop_replica(&target);

    // 2. Given the origin, the replica applies every transaction the spool holds.
    match kind {
        Kind::MySql => target.sql(&format!(
            "RESET BINARY LOGS AND GTIDS; SET GLOBAL gtid_purged = '{origin}'"
        )),
        Kind::MariaDb => target.sql(&format!("SET GLOBAL gtid_slave_pos = '{origin}'")),
    };
    start_replica(&target, serving.port);
    let want = executed(&master);
    let t = Instant::now();
    loop {
        let got = replica_executed(&target);
        if got == want {
            break;
        }
        let s = replica_status(&target);
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the replica of gapfill serve reached {got}, the master {want} (binlog end \
             {end:?}): {s}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(checksums(&target), checksums(&master));
    // Idle: heartbeats keep the replica connected without errors.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(replica_status(&target), "", "errors while idle");
    // A transaction committed after the dump started reaches the replica too.
    master.sql(&format!("INSERT INTO {DB}.sv_xa VALUES (99, 'late')"));
    let want = executed(&master);
    let t = Instant::now();
    while replica_executed(&target) != want {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the late transaction did not arrive: {}",
            replica_status(&target)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(checksums(&target), checksums(&master));
    stop_replica(&target);
    drop(serving);
    let _: PathBuf = spool;
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_replica_replicates_a_spool_through_serve() {
    serve_to_a_real_replica(Kind::MySql);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_replica_replicates_a_spool_through_serve() {
    serve_to_a_real_replica(Kind::MariaDb);
}
