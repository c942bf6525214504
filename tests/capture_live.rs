//! Live proofs of `gapfill capture` against the real sandbox servers (MySQL 9.7, MariaDB
//! 10.11): the spool's segments are the master's binlog event for event; SIGKILL, a master
//! restart and forced rotations leave the spool continuous (no gap, no duplicate); with
//! semi-sync, every commit a client saw is in the spool even when gapfill is killed right
//! after it.
//!
//! They run the real `gapfill` binary as a child process (credentials through
//! GAPFILL_USER/GAPFILL_PASSWORD in its environment, never argv) and set servers up as root
//! over the unix socket. `#[ignore]`d so a plain `cargo test` passes without servers;
//! `scripts/test` starts the servers, exports `GAPFILL_*` and runs them. Tests that change a
//! master's globals or restart it hold `server_lock()` and restore what they changed.

mod common;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Kind, Server, env, reference_decode, server_lock, wait_timeout};
use gapfill::binlog::gtid_set::GtidSet;
use gapfill::binlog::mariadb_gtid::MariadbGtidPos;
use gapfill::spool::{FsyncPolicy, Retention, Spool, SpoolConfig, TxnGtid};

/// A running `gapfill capture`.
struct CaptureProc {
    child: Child,
    log: PathBuf,
}

fn capture_cmd(server: &Server, dir: &Path, server_id: u32, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gapfill"));
    c.arg("capture")
        .args(["--source", &server.addr])
        .arg("--dir")
        .arg(dir)
        .args(["--server-id", &server_id.to_string()])
        .args(["--progress-interval", "1s", "--heartbeat", "1s"])
        .args(args)
        .env("GAPFILL_USER", env("GAPFILL_TEST_USER"))
        .env("GAPFILL_PASSWORD", env("GAPFILL_TEST_PASSWORD"))
        .env("GAPFILL_LOG", "gapfill=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

impl CaptureProc {
    fn spawn(server: &Server, dir: &Path, server_id: u32, args: &[&str], log: &Path) -> Self {
        let f = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the capture log");
        let child = capture_cmd(server, dir, server_id, args)
            .stderr(Stdio::from(f))
            .spawn()
            .expect("spawn gapfill capture");
        CaptureProc {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL gapfill");
        self.child.wait().expect("reap gapfill");
    }

    /// SIGTERM and wait: a clean stop must exit 0.
    fn term(mut self) -> ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success());
        let status = wait_timeout(&mut self.child, Duration::from_secs(30));
        assert!(
            status.success(),
            "gapfill capture did not stop cleanly on SIGTERM ({status}):\n{}",
            self.log_text()
        );
        status
    }

    fn assert_running(&mut self) {
        if let Some(st) = self.child.try_wait().unwrap() {
            panic!("gapfill capture exited early ({st}):\n{}", self.log_text());
        }
    }
}

impl Drop for CaptureProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(file, pos, Executed_Gtid_Set)` of the master's binlog end, read in one statement.
fn binlog_end(server: &Server) -> (String, u64, String) {
    let q = match server.kind {
        Kind::MySql => "SHOW BINARY LOG STATUS",
        Kind::MariaDb => "SHOW MASTER STATUS",
    };
    let out = server.sql(q);
    let cols: Vec<&str> = out.trim_end_matches('\n').split('\t').collect();
    let gtids = match server.kind {
        Kind::MySql => cols.get(4).copied().unwrap_or("").replace("\\n", ""),
        Kind::MariaDb => server
            .sql("SELECT @@global.gtid_binlog_pos")
            .trim()
            .to_string(),
    };
    (cols[0].to_string(), cols[1].parse().unwrap(), gtids)
}

/// Run a capture to completion: resume the spool and stop at the master's binlog end
/// (`--stop-at`), which proves the spool caught up. Returns that end.
fn catch_up(server: &Server, dir: &Path, server_id: u32, log: &Path) -> (String, u64, String) {
    let end = binlog_end(server);
    let stop = format!("{}:{}", end.0, end.1);
    let f = File::options().create(true).append(true).open(log).unwrap();
    let mut child = capture_cmd(server, dir, server_id, &["--stop-at", &stop])
        .stderr(Stdio::from(f))
        .spawn()
        .expect("spawn gapfill capture");
    let st = wait_timeout(&mut child, Duration::from_secs(120));
    assert!(
        st.success(),
        "catch-up capture to {stop} failed ({st}):\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    end
}

fn open_spool(dir: &Path) -> Spool {
    Spool::open(SpoolConfig {
        dir: dir.to_path_buf(),
        fsync: FsyncPolicy::Never,
        retention: Retention {
            keep: Duration::from_secs(86400 * 365),
            max_bytes: None,
        },
    })
    .unwrap_or_else(|e| panic!("open the spool {}: {e}", dir.display()))
}

fn spool_gtids(dir: &Path) -> Vec<TxnGtid> {
    let spool = open_spool(dir);
    spool
        .transactions()
        .map(|t| {
            t.expect("read the spool index")
                .gtid
                .expect("every transaction has a GTID")
        })
        .collect()
}

fn mysql_origin(dir: &Path) -> GtidSet {
    let spool = open_spool(dir);
    let origin = spool.status().origin.expect("the spool has an origin");
    // "MySQL GTID set '...'"
    let inner = origin
        .split('\'')
        .nth(1)
        .unwrap_or_else(|| panic!("origin {origin:?}"));
    GtidSet::parse(inner).unwrap()
}

/// The spool holds exactly `executed_end - origin`, each once, in the master's order.
fn assert_mysql_continuous(dir: &Path, executed_end: &str) {
    let gtids = spool_gtids(dir);
    let mut seen = HashSet::new();
    let mut held = GtidSet::new();
    for g in &gtids {
        let TxnGtid::MySql(g) = g else {
            panic!("a MariaDB GTID in a MySQL spool: {g}")
        };
        assert!(
            seen.insert(g.clone()),
            "duplicate transaction {g} in the spool"
        );
        held.add(g).unwrap();
    }
    let origin = mysql_origin(dir);
    let expected = GtidSet::parse(executed_end).unwrap().subtract(&origin);
    let missing = expected.subtract(&held);
    let extra = held.subtract(&expected);
    assert!(
        missing.is_empty() && extra.is_empty(),
        "spool of {} transactions: missing {missing}, unexpected {extra} (origin {origin})",
        gtids.len()
    );
    assert!(!held.is_empty(), "the spool holds nothing");
}

/// Every domain's sequence numbers follow the origin's one by one up to `end`, no repeat.
fn assert_mariadb_continuous(dir: &Path, end: &str) {
    let gtids = spool_gtids(dir);
    let spool = open_spool(dir);
    let origin = spool.status().origin.unwrap();
    drop(spool);
    let origin = MariadbGtidPos::parse(origin.split('\'').nth(1).unwrap()).unwrap();
    let end = MariadbGtidPos::parse(end).unwrap();
    let mut last: std::collections::BTreeMap<u32, u64> =
        origin.iter().map(|g| (g.domain, g.seq)).collect();
    for g in &gtids {
        let TxnGtid::MariaDb(g) = g else {
            panic!("a MySQL GTID in a MariaDB spool: {g}")
        };
        let prev = last.entry(g.domain).or_insert(0);
        assert_eq!(
            g.seq,
            *prev + 1,
            "domain {}: after {} the spool holds {g} (gap or duplicate)",
            g.domain,
            prev
        );
        *prev = g.seq;
    }
    for g in end.iter() {
        assert_eq!(
            last.get(&g.domain).copied().unwrap_or(0),
            g.seq,
            "domain {} does not end at the master's {g}",
            g.domain
        );
    }
    assert!(!gtids.is_empty(), "the spool holds nothing");
}

/// The workload SQL of the decode tests, moved to database `db` so that suites running at the
/// same time on the same master do not drop each other's tables.
fn types_workload(kind: Kind, db: &str, dir: &Path) -> PathBuf {
    let name = match kind {
        Kind::MySql => "tests/workload/mysql_types.sql",
        Kind::MariaDb => "tests/workload/mariadb_types.sql",
    };
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap();
    let p = dir.join(format!("{db}.sql"));
    std::fs::write(&p, text.replace("gf_types", db)).unwrap();
    p
}

/// `n` small autocommit transactions on `db.t`, each one its own GTID.
fn inserts(server: &Server, db: &str, n: usize) {
    let mut sql = format!(
        "CREATE DATABASE IF NOT EXISTS {db}; CREATE TABLE IF NOT EXISTS {db}.t \
         (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), n INT);"
    );
    for i in 0..n {
        sql.push_str(&format!(
            "INSERT INTO {db}.t (v, n) VALUES ('{i}-{}', {i});",
            "x".repeat(i % 40)
        ));
    }
    server.sql(&sql);
}

/// Events of a binlog file: `(offset, bytes)`.
fn events(path: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], &[0xfe, b'b', b'i', b'n'], "{}", path.display());
    let mut out = Vec::new();
    let mut at = 4;
    while at + 19 <= b.len() {
        let size = u32::from_le_bytes(b[at + 9..at + 13].try_into().unwrap()) as usize;
        assert!(
            at + size <= b.len(),
            "{}: torn event at {at}",
            path.display()
        );
        out.push(b[at..at + size].to_vec());
        at += size;
    }
    assert_eq!(at, b.len(), "{}: trailing bytes", path.display());
    out
}

/// The segment holds the master's file event for event. The FORMAT_DESCRIPTION may differ in
/// its flags byte (the master clears "binlog in use" when it sends or closes the file).
fn assert_same_events(kind: Kind, segment: &Path, master_file: &Path) -> usize {
    let ours = events(segment);
    let theirs = events(master_file);
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{} has {} events, the master's {} has {}",
        segment.display(),
        ours.len(),
        master_file.display(),
        theirs.len()
    );
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if i == 0 {
            assert_eq!(a[4], 15, "first event is not a FORMAT_DESCRIPTION");
            let mask = |e: &[u8]| {
                let mut e = e[..e.len() - 4].to_vec();
                e[17] &= !1;
                e
            };
            assert_eq!(
                mask(a),
                mask(b),
                "{}: FORMAT_DESCRIPTION differs",
                segment.display()
            );
            continue;
        }
        assert!(
            a == b,
            "{} event {i} (type {}) differs from the master's",
            segment.display(),
            a[4]
        );
    }
    // The server's own decoder reads the segment, and prints the same rows as for its file.
    let rows = |t: &[u8]| -> Vec<Vec<u8>> {
        t.split(|&c| c == b'\n')
            .filter(|l| l.starts_with(b"###"))
            .map(<[u8]>::to_vec)
            .collect()
    };
    let a = reference_decode(kind, segment);
    let b = reference_decode(kind, master_file);
    assert_eq!(
        rows(&a),
        rows(&b),
        "mysqlbinlog prints different rows for {}",
        segment.display()
    );
    ours.len()
}

/// Segments of epoch 1, by name.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("epoch-0001"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn identical_segments(server: Server, server_id: u32, db: &str) {
    let _g = server_lock();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let log = tmp.path().join("capture.log");
    server.sql("FLUSH BINARY LOGS");
    let first = server.current_binlog();
    let start = format!("{first}:4");
    let mut cap = CaptureProc::spawn(&server, &dir, server_id, &["--position", &start], &log);
    server.sql_file(&types_workload(server.kind, db, tmp.path()));
    inserts(&server, db, 300);
    server.sql("FLUSH BINARY LOGS");
    inserts(&server, db, 50);
    server.sql("FLUSH BINARY LOGS");
    cap.assert_running();
    cap.term();
    let (last, _, _) = catch_up(&server, &dir, server_id, &log);
    server.sql(&format!("DROP DATABASE {db}"));
    // Every closed master file in the range has an identical segment.
    let closed: Vec<String> = server
        .sql("SHOW BINARY LOGS")
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .filter(|n| n.as_str() >= first.as_str() && n.as_str() < last.as_str())
        .collect();
    assert!(closed.len() >= 2, "expected rotations, got {closed:?}");
    let segs = segments(&dir);
    let mut compared = 0;
    for name in &closed {
        let seg = segs
            .iter()
            .find(|p| p.file_name().unwrap().to_str() == Some(name))
            .unwrap_or_else(|| panic!("no segment for the master's {name}: {segs:?}"));
        compared += assert_same_events(server.kind, seg, &server.datadir.join(name));
    }
    assert!(compared > 500, "only {compared} events compared");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_segments_are_the_masters_binlog() {
    identical_segments(Server::mysql_master(), 3_000_101, "gf_capture_types");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_segments_are_the_masters_binlog() {
    identical_segments(Server::mariadb_master(), 3_000_102, "gf_capture_types");
}

/// A writer thread commits small transactions while the capture is SIGKILLed and restarted
/// four times; then the disruption (rotations, a master restart) with a capture running;
/// then catch up and check continuity.
fn kill_restart(server: &Server, server_id: u32, db: &str, disrupt: impl FnOnce(&Server)) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let log = tmp.path().join("capture.log");
    let mut cap = CaptureProc::spawn(
        server,
        &dir,
        server_id,
        &["--gtid", "--fsync", "never"],
        &log,
    );
    std::thread::sleep(Duration::from_millis(800));
    cap.assert_running();
    // The writer commits small transactions without pause until the kills are done, so
    // every SIGKILL lands mid-stream.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let s = server.clone();
        let db = db.to_string();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut batches = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || batches < 2 {
                inserts(&s, &db, 300);
                batches += 1;
            }
            batches
        })
    };
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(600));
        cap.assert_running();
        cap.kill9();
        std::thread::sleep(Duration::from_millis(150));
        cap = CaptureProc::spawn(server, &dir, server_id, &["--fsync", "never"], &log);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let batches = writer.join().unwrap();
    assert!(batches >= 2, "only {batches} batches written");
    disrupt(server);
    inserts(server, db, 100);
    cap.assert_running();
    cap.kill9();
    let end = catch_up(server, &dir, server_id, &log);
    server.sql(&format!("DROP DATABASE IF EXISTS {db}"));
    match server.kind {
        Kind::MySql => assert_mysql_continuous(&dir, &end.2),
        Kind::MariaDb => assert_mariadb_continuous(&dir, &end.2),
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("CONTINUITY BREAK"),
        "unexpected continuity break:\n{text}"
    );
    // The master restart was outlived by reconnecting, not by a new process.
    assert!(
        text.contains("reconnecting"),
        "the capture never reconnected:\n{text}"
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_sigkill_rotation_and_restart_keep_the_spool_continuous() {
    let _g = server_lock();
    let m = Server::mysql_master();
    kill_restart(&m, 3_000_201, "gf_capture_kill", |m| {
        // Forced rotations, then a master restart, while a capture is running.
        m.sql("FLUSH BINARY LOGS");
        inserts(m, "gf_capture_kill", 50);
        m.sql("FLUSH BINARY LOGS");
        restart(m, "mysql-master");
        inserts(m, "gf_capture_kill", 50);
    });
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_sigkill_rotation_and_restart_keep_the_spool_continuous() {
    let _g = server_lock();
    let m = Server::mariadb_master();
    kill_restart(&m, 3_000_202, "gf_capture_kill", |m| {
        m.sql("FLUSH BINARY LOGS");
        inserts(m, "gf_capture_kill", 50);
        m.sql("FLUSH BINARY LOGS");
        restart(m, "mariadb-master");
        inserts(m, "gf_capture_kill", 50);
    });
}

/// Restart a sandbox master and wait until it answers again.
fn restart(server: &Server, instance: &str) {
    let sandbox = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox");
    let st = Command::new(sandbox)
        .args(["instance", "restart", instance])
        .stdout(Stdio::null())
        .status()
        .expect("run scripts/sandbox");
    assert!(
        st.success(),
        "scripts/sandbox instance restart {instance} failed"
    );
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(60) {
        if std::panic::catch_unwind(|| server.sql("SELECT 1")).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{instance} did not come back");
}

/// Globals of the semi-sync source, by flavor.
struct SemiSyncNames {
    enabled: &'static str,
    timeout: &'static str,
    wait_point: &'static str,
    clients: &'static str,
    status: &'static str,
    yes_tx: &'static str,
    no_tx: &'static str,
}

fn semisync_names(kind: Kind) -> SemiSyncNames {
    match kind {
        Kind::MySql => SemiSyncNames {
            enabled: "rpl_semi_sync_source_enabled",
            timeout: "rpl_semi_sync_source_timeout",
            wait_point: "rpl_semi_sync_source_wait_point",
            clients: "Rpl_semi_sync_source_clients",
            status: "Rpl_semi_sync_source_status",
            yes_tx: "Rpl_semi_sync_source_yes_tx",
            no_tx: "Rpl_semi_sync_source_no_tx",
        },
        Kind::MariaDb => SemiSyncNames {
            enabled: "rpl_semi_sync_master_enabled",
            timeout: "rpl_semi_sync_master_timeout",
            wait_point: "rpl_semi_sync_master_wait_point",
            clients: "Rpl_semi_sync_master_clients",
            status: "Rpl_semi_sync_master_status",
            yes_tx: "Rpl_semi_sync_master_yes_tx",
            no_tx: "Rpl_semi_sync_master_no_tx",
        },
    }
}

fn global_status(server: &Server, name: &str) -> String {
    let out = server.sql(&format!("SHOW GLOBAL STATUS LIKE '{name}'"));
    out.trim().split('\t').nth(1).unwrap_or("").to_string()
}

fn global_var(server: &Server, name: &str) -> String {
    server
        .sql(&format!("SELECT @@global.{name}"))
        .trim()
        .to_string()
}

/// Puts the semi-sync globals back however the test ends.
struct RestoreGlobals<'a> {
    server: &'a Server,
    sql: String,
}

impl Drop for RestoreGlobals<'_> {
    fn drop(&mut self) {
        self.server.sql(&self.sql);
    }
}

/// Rows of `db.t` whose `v` starts with `token`, decoded from the spool's segments.
fn rows_in_spool(dir: &Path, token: &str) -> usize {
    let mut json = Vec::new();
    let opts = gapfill::decode::DecodeOptions {
        format: gapfill::decode::Format::Json,
        ..Default::default()
    };
    gapfill::decode::decode_files(&segments(dir), &opts, &mut json).expect("decode the spool");
    let needle = format!("\"{token}-");
    let has = |l: &[u8], n: &[u8]| l.windows(n.len()).any(|w| w == n);
    json.split(|&b| b == b'\n')
        .filter(|l| has(l, needle.as_bytes()) && has(l, b"\"row\":"))
        .count()
}

/// The semi-sync ACKs and segment fsyncs of the first progress line that counts at least
/// `acks` ACKs (waiting up to 10 s for it).
fn acks_and_fsyncs(cap: &CaptureProc, acks: u64) -> (u64, u64) {
    let count = |line: &str, what: &str| -> u64 {
        line.split(", ")
            .find_map(|part| part.strip_suffix(what)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let t = Instant::now();
    loop {
        let text = cap.log_text();
        if let Some(line) = text.lines().find(|l| count(l, " semi-sync ACKs") >= acks) {
            return (count(line, " semi-sync ACKs"), count(line, " fsyncs"));
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no progress line with {acks} ACKs:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `fsync`: the capture's `--fsync` (and `--semi-sync-ack`) arguments; a durable semi-sync
/// acknowledgement follows an fsync of what it acknowledges whatever the policy, so both
/// `always` and the default (`interval`) must keep every acknowledged commit; a `received`
/// one follows the write to the spool, which a kill -9 of gapfill must not lose either.
fn semisync(server: Server, server_id: u32, db: &str, fsync: &[&str]) {
    let _g = server_lock();
    let n = semisync_names(server.kind);
    if server.kind == Kind::MySql
        && !server
            .sql("SHOW PLUGINS")
            .lines()
            .any(|l| l.starts_with("rpl_semi_sync_source\t"))
    {
        server.sql("INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so'");
    }
    let restore = RestoreGlobals {
        server: &server,
        sql: format!(
            "SET GLOBAL {} = 0, GLOBAL {} = {}, GLOBAL {} = {}",
            n.enabled,
            n.timeout,
            global_var(&server, n.timeout),
            n.wait_point,
            global_var(&server, n.wait_point)
        ),
    };
    assert_eq!(
        global_status(&server, n.clients),
        "0",
        "another semi-sync replica is connected: gapfill must be the only one"
    );
    // The table first: with semi-sync on and no semi-sync replica yet, a commit would wait
    // for the timeout and switch the master to async.
    server.sql(&format!(
        "CREATE DATABASE IF NOT EXISTS {db}; CREATE TABLE IF NOT EXISTS {db}.t \
         (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), n INT)"
    ));
    server.sql(&format!(
        "SET GLOBAL {} = 30000, GLOBAL {} = AFTER_SYNC, GLOBAL {} = 1",
        n.timeout, n.wait_point, n.enabled
    ));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let log = tmp.path().join("capture.log");
    let mut args = vec!["--gtid", "--semi-sync"];
    args.extend_from_slice(fsync);
    let cap = CaptureProc::spawn(&server, &dir, server_id, &args, &log);
    let t = Instant::now();
    while global_status(&server, n.clients) != "1" || global_status(&server, n.status) != "ON" {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "gapfill never became a semi-sync replica:\n{}",
            cap.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let yes0: u64 = global_status(&server, n.yes_tx).parse().unwrap();
    let no0: u64 = global_status(&server, n.no_tx).parse().unwrap();
    // Each statement is its own commit; the client returns only after gapfill's ACK.
    let token = format!("ss{}", std::process::id());
    let commits = 200;
    let mut sql = String::new();
    for i in 0..commits {
        sql.push_str(&format!(
            "INSERT INTO {db}.t (v, n) VALUES ('{token}-{i}', {i});"
        ));
    }
    server.sql(&sql);
    // What the acknowledgements cost on disk, from gapfill's progress line (every second):
    // a durable ACK follows an fsync of the segment, a `received` one does not.
    let (acks, fsyncs) = acks_and_fsyncs(&cap, commits as u64);
    if fsync.contains(&"received") {
        assert!(
            fsyncs < commits as u64 / 4,
            "{fsyncs} fsyncs for {acks} received ACKs"
        );
    } else {
        assert!(
            fsyncs >= acks,
            "{fsyncs} fsyncs for {acks} durable ACKs:\n{}",
            cap.log_text()
        );
    }
    // Gapfill is killed before it can do anything more.
    cap.kill9();
    let yes = global_status(&server, n.yes_tx).parse::<u64>().unwrap() - yes0;
    let no = global_status(&server, n.no_tx).parse::<u64>().unwrap() - no0;
    assert!(
        yes >= commits as u64,
        "{} rose by {yes}, expected at least {commits}",
        n.yes_tx
    );
    assert_eq!(no, 0, "{} rose: some commits went without ACK", n.no_tx);
    // Everything the client saw committed is in the spool (as left by SIGKILL: recovery on
    // open only cuts what is not a complete transaction).
    let held = rows_in_spool(&dir, &token);
    assert_eq!(
        held, commits,
        "the spool holds {held} of the {commits} acknowledged commits"
    );

    // Without its semi-sync replica the master waits one timeout, then falls back to async.
    server.sql(&format!("SET GLOBAL {} = 2000", n.timeout));
    let t = Instant::now();
    server.sql(&format!(
        "INSERT INTO {db}.t (v, n) VALUES ('{token}-late', -1)"
    ));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "the commit without a semi-sync replica returned after {waited:?}"
    );
    assert_eq!(global_status(&server, n.status), "OFF");
    server.sql(&format!("DROP DATABASE {db}"));
    drop(restore);
    assert_eq!(global_var(&server, n.enabled), "0");
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_semisync_every_acknowledged_commit_is_in_the_spool() {
    semisync(
        Server::mysql_master(),
        3_000_301,
        "gf_capture_ss",
        &["--fsync", "always"],
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_semisync_default_fsync_policy_acknowledges_only_what_is_synced() {
    semisync(
        Server::mysql_master(),
        3_000_303,
        "gf_capture_ss_default",
        &[],
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_semisync_every_acknowledged_commit_is_in_the_spool() {
    semisync(
        Server::mariadb_master(),
        3_000_302,
        "gf_capture_ss",
        &["--fsync", "always"],
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_semisync_default_fsync_policy_acknowledges_only_what_is_synced() {
    semisync(
        Server::mariadb_master(),
        3_000_304,
        "gf_capture_ss_default",
        &[],
    );
}

/// `--semi-sync-ack received` (a stock replica's promise) with `--fsync never`: nothing is
/// fsynced, yet every acknowledged commit was written before its ACK and survives gapfill's
/// crash.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_semisync_ack_received_keeps_every_acknowledged_commit_through_a_crash() {
    semisync(
        Server::mysql_master(),
        3_000_305,
        "gf_capture_ss_received",
        &["--semi-sync-ack", "received", "--fsync", "never"],
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_semisync_ack_received_keeps_every_acknowledged_commit_through_a_crash() {
    semisync(
        Server::mariadb_master(),
        3_000_306,
        "gf_capture_ss_received",
        &["--semi-sync-ack", "received", "--fsync", "never"],
    );
}

/// A start the master cannot serve (error 1236, as after PURGE BINARY LOGS) is a continuity
/// break: recorded in the spool and reported loudly; `--on-break stop` exits 3, the default
/// goes on from the master's current state (a new origin, the break still in the status).
/// A missing file stands in for a purged one so that the shared master keeps its binlogs.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_unservable_start_is_a_recorded_continuity_break() {
    let m = Server::mysql_master();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("capture.log");
    let gone = ["--position", "binlog.999999:4"];

    let dir = tmp.path().join("stop");
    let f = File::create(&log).unwrap();
    let st = capture_cmd(
        &m,
        &dir,
        3_000_401,
        &[&gone[..], &["--on-break", "stop"]].concat(),
    )
    .stderr(Stdio::from(f))
    .status()
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        st.code(),
        Some(3),
        "exit code on a break with --on-break stop:\n{text}"
    );
    assert!(text.contains("CONTINUITY BREAK"), "{text}");
    let status = open_spool(&dir).status();
    assert_eq!(status.breaks.len(), 1, "{status:?}");
    assert!(status.breaks[0].resumed_from.is_none());

    let dir = tmp.path().join("new-origin");
    let (file, pos, _) = binlog_end(&m);
    let stop = format!("{file}:{pos}");
    let f = File::create(&log).unwrap();
    let st = capture_cmd(
        &m,
        &dir,
        3_000_402,
        &[&gone[..], &["--stop-at", &stop]].concat(),
    )
    .stderr(Stdio::from(f))
    .status()
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(st.success(), "capture after a break ({st}):\n{text}");
    assert!(text.contains("CONTINUITY BREAK"), "{text}");
    assert!(
        text.contains("CONTINUITY BREAKS: 1"),
        "the progress line shows the break:\n{text}"
    );
    let status = open_spool(&dir).status();
    assert_eq!(status.breaks.len(), 1, "{status:?}");
    assert!(
        status.breaks[0].resumed_from.is_some(),
        "the break records where capture went on: {status:?}"
    );
}
