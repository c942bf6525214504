//! `gapfill::serve` end to end without real servers: spools written by the fake master of
//! `spool_support`, served over TCP/TLS, read by gapfill's own replica client. Checks the
//! stream event for event (artificial ROTATE, FORMAT_DESCRIPTION as served, PREVIOUS_GTIDS,
//! the transactions byte for byte, a file change, heartbeats), the 1236 refusals, and
//! authentication (caching_sha2 fast path and full authentication over TLS, refusals).
//! The live counterpart with real replicas is tests/serve_live.rs.

#[path = "spool_support/mod.rs"]
mod spool_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gapfill::binlog::checksum::verify_crc32;
use gapfill::binlog::gtid_set::GtidSet;
use gapfill::protocol::{
    ConnectOptions, Password, ProtocolError, ReplicaOptions, ReplicaSession, StartPosition,
    TlsMode, TlsOptions,
};
use gapfill::serve::{ServeConfig, Server, TlsFiles};
use gapfill::spool::{Spool, StartPoint};
use spool_support::{FakeMaster, UUID, config, feed, txns};

fn set(s: &str) -> GtidSet {
    GtidSet::parse(s).unwrap()
}

/// Origin 1-100, gnos 101..=110, binlog.000007 then binlog.000008 from 106 on.
fn mysql_spool(dir: &Path) -> Spool {
    mysql_spool_and_master(dir).0
}

fn mysql_spool_and_master(dir: &Path) -> (Spool, FakeMaster) {
    let mut m = FakeMaster::mysql("binlog.000007");
    m.written = set(&format!("{UUID}:1-100"));
    m.file_head();
    let mut s = Spool::open(config(dir)).unwrap();
    s.begin(
        &m.info("db1:3306"),
        StartPoint::MySqlGtids(set(&format!("{UUID}:1-100"))),
    )
    .unwrap();
    feed(&mut s, &m.session_start());
    for g in 101..=110 {
        if g == 106 {
            feed(&mut s, &m.rotate_to("binlog.000008"));
        }
        feed(&mut s, &m.mysql_txn(g, 1_700_000_000_000_000 + g));
    }
    s.sync().unwrap();
    (s, m)
}

fn mariadb_spool(dir: &Path) -> Spool {
    let mut m = FakeMaster::mariadb("binlog.000003");
    m.file_head();
    let mut s = Spool::open(config(dir)).unwrap();
    s.begin(
        &m.info("db2:3306"),
        StartPoint::MariaDbGtids(
            gapfill::binlog::mariadb_gtid::MariadbGtidPos::parse("0-11-10").unwrap(),
        ),
    )
    .unwrap();
    feed(&mut s, &m.session_start());
    for seq in 11..=15 {
        feed(&mut s, &m.mariadb_txn(0, seq, seq == 13));
    }
    s.sync().unwrap();
    s
}

fn tls_files(dir: &Path) -> TlsFiles {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=gapfill-serve-test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl")
        .status
        .success();
    assert!(ok, "openssl req failed");
    TlsFiles { cert, key }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Serve `spool` on a free port for the runtime's lifetime; returns the address.
fn serve(rt: &tokio::runtime::Runtime, spool: &Path, tls: Option<TlsFiles>, full: bool) -> String {
    let mut cfg = ServeConfig::new(
        spool.to_path_buf(),
        "127.0.0.1:0".into(),
        "repl".into(),
        Password::new("pw-1"),
    );
    cfg.tls = tls;
    cfg.full_auth_only = full;
    cfg.poll_interval = Duration::from_millis(100);
    let server = rt.block_on(Server::bind(cfg)).unwrap();
    let addr = server.local_addr().unwrap().to_string();
    rt.spawn(server.run(std::future::pending()));
    addr
}

fn connect(addr: &str, password: &str, tls: TlsMode) -> ConnectOptions {
    let mut o = ConnectOptions::new(addr.to_string(), "repl", Password::new(password));
    o.tls = TlsOptions::with_mode(tls);
    o.io_timeout = Duration::from_secs(5);
    // The fake's certificate is generated for the test: nothing to verify it against.
    o.tls.allow_unverified = true;
    o
}

fn replica(start: StartPosition, non_blocking: bool) -> ReplicaOptions {
    let mut r = ReplicaOptions::new(777);
    r.start = start;
    r.non_blocking = non_blocking;
    r.heartbeat_period = Duration::from_millis(300);
    r.report_port = 3306;
    r
}

/// Every event of a non-blocking dump.
fn dump_all(
    rt: &tokio::runtime::Runtime,
    conn: &ConnectOptions,
    opts: &ReplicaOptions,
) -> Result<Vec<Vec<u8>>, ProtocolError> {
    rt.block_on(async {
        let mut s = ReplicaSession::start(conn, opts).await?;
        let mut out = Vec::new();
        loop {
            match s.next_event().await {
                Ok(e) => out.push(e.event.to_vec()),
                Err(ProtocolError::EndOfBinlog) => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    })
}

fn gtid_start(s: &str) -> StartPosition {
    StartPosition::MySqlGtid {
        encoded_set: set(s).encode_sid_block(),
    }
}

#[test]
fn mysql_dump_sends_what_the_replica_lacks_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let spool = mysql_spool(&dir.path().join("spool"));
    let rt = runtime();
    let addr = serve(
        &rt,
        &dir.path().join("spool"),
        Some(tls_files(dir.path())),
        false,
    );
    let conn = connect(&addr, "pw-1", TlsMode::Required);
    let events = dump_all(
        &rt,
        &conn,
        &replica(gtid_start(&format!("{UUID}:1-103")), true),
    )
    .unwrap();
    let types: Vec<u8> = events.iter().map(|e| e[4]).collect();
    // ROTATE, FDE, PREVIOUS_GTIDS, 104 and 105 (GTID BEGIN rows XID), then the next file.
    let txn = [33u8, 2, 29, 16];
    let mut want = vec![4u8, 15, 35];
    want.extend(txn.iter().chain(txn.iter()));
    want.extend([4, 15, 35]);
    for _ in 106..=110 {
        want.extend(txn);
    }
    assert_eq!(types, want);
    for e in &events {
        verify_crc32(e).unwrap();
    }
    assert_eq!(&events[0][27..events[0].len() - 4], b"binlog.000007");
    assert_eq!(u16::from_le_bytes([events[0][17], events[0][18]]), 0x20);
    let second_rotate = 3 + 8;
    assert_eq!(
        &events[second_rotate][27..events[second_rotate].len() - 4],
        b"binlog.000008"
    );
    // The transactions are the spool's bytes.
    let held = txns(&spool);
    let mut sent = Vec::new();
    for r in held.iter().filter(|r| r.master_start > 0).skip(3) {
        let bytes = std::fs::read(&r.segment).unwrap();
        sent.push(bytes[r.local_start as usize..r.local_end as usize].to_vec());
    }
    let streamed: Vec<u8> = events
        .iter()
        .filter(|e| ![4u8, 15, 35].contains(&e[4]))
        .flatten()
        .copied()
        .collect();
    assert_eq!(streamed, sent.concat());

    // Up to date: the head only (rotate to the newest file), then the end.
    let events = dump_all(
        &rt,
        &conn,
        &replica(gtid_start(&format!("{UUID}:1-110")), true),
    )
    .unwrap();
    assert_eq!(
        events.iter().map(|e| e[4]).collect::<Vec<_>>(),
        vec![4, 15, 35]
    );
    assert_eq!(&events[0][27..events[0].len() - 4], b"binlog.000008");
}

#[test]
fn a_replica_asking_for_what_the_spool_lacks_gets_1236() {
    let dir = tempfile::tempdir().unwrap();
    let _spool = mysql_spool(&dir.path().join("spool"));
    let rt = runtime();
    let addr = serve(&rt, &dir.path().join("spool"), None, false);
    let conn = connect(&addr, "pw-1", TlsMode::Disabled);
    let e = dump_all(
        &rt,
        &conn,
        &replica(gtid_start(&format!("{UUID}:1-50")), true),
    )
    .unwrap_err();
    assert_eq!(e.server_code(), Some(1236), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("cannot serve") && msg.contains(":51-100"),
        "{msg}"
    );
    // A position dump is refused too: gapfill serves by GTID only.
    let pos = StartPosition::FilePos {
        file: b"binlog.000007".to_vec(),
        pos: 4,
    };
    let e = dump_all(&rt, &conn, &replica(pos, true)).unwrap_err();
    assert_eq!(e.server_code(), Some(1236));
    assert!(e.to_string().contains("SOURCE_AUTO_POSITION=1"), "{e}");
}

#[test]
fn idle_dump_sends_heartbeats_naming_the_file_then_new_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, mut master) = mysql_spool_and_master(&dir.path().join("spool"));
    let rt = runtime();
    let addr = serve(&rt, &dir.path().join("spool"), None, false);
    let conn = connect(&addr, "pw-1", TlsMode::Disabled);
    let opts = replica(gtid_start(&format!("{UUID}:1-110")), false);
    let late = master.mysql_txn(111, 1_700_000_000_000_111);
    rt.block_on(async {
        let mut s = ReplicaSession::start(&conn, &opts).await.unwrap();
        let mut beats = 0;
        while beats < 2 {
            let e = tokio::time::timeout(Duration::from_secs(5), s.next_event())
                .await
                .expect("a heartbeat in time")
                .unwrap();
            if e.is_heartbeat() {
                assert_eq!(&e.event[19..e.event.len() - 4], b"binlog.000008");
                assert!(e.log_pos() > 4);
                beats += 1;
            }
        }
        // The capture appends a transaction: the idle dump sends it, byte for byte.
        feed(&mut spool, &late);
        spool.sync().unwrap();
        let mut got = Vec::new();
        while got.len() < late.len() {
            let e = tokio::time::timeout(Duration::from_secs(5), s.next_event())
                .await
                .expect("the late transaction in time")
                .unwrap();
            if !e.is_heartbeat() {
                got.push(e.event.to_vec());
            }
        }
        assert_eq!(got, late);
    });
}

#[test]
fn authentication_paths() {
    let dir = tempfile::tempdir().unwrap();
    let _spool = mysql_spool(&dir.path().join("spool"));
    let rt = runtime();
    let tls = tls_files(dir.path());
    let fast = serve(&rt, &dir.path().join("spool"), Some(tls.clone()), false);
    let full = serve(&rt, &dir.path().join("spool"), Some(tls), true);
    let q = |addr: &str, pw: &str, mode: TlsMode| {
        rt.block_on(async {
            let mut c = gapfill::protocol::Connection::connect(&connect(addr, pw, mode)).await?;
            c.query("SELECT @@GLOBAL.SERVER_ID").await
        })
    };
    // Fast path over plain TCP and TLS; full authentication over TLS.
    q(&fast, "pw-1", TlsMode::Disabled).unwrap();
    q(&fast, "pw-1", TlsMode::Required).unwrap();
    q(&full, "pw-1", TlsMode::Required).unwrap();
    // Wrong password: denied on every path.
    for (addr, mode) in [
        (&fast, TlsMode::Disabled),
        (&fast, TlsMode::Required),
        (&full, TlsMode::Required),
    ] {
        let e = q(addr, "nope", mode).unwrap_err();
        assert!(e.to_string().contains("ccess denied"), "{e}");
    }
    // Full authentication without TLS: the password is never accepted in clear.
    let e = q(&full, "pw-1", TlsMode::Disabled).unwrap_err();
    assert!(
        e.to_string().to_lowercase().contains("tls") || e.to_string().contains("secure"),
        "{e}"
    );
}

#[test]
fn mariadb_dump_from_the_connect_state() {
    let dir = tempfile::tempdir().unwrap();
    let _spool = mariadb_spool(&dir.path().join("spool"));
    let rt = runtime();
    let addr = serve(&rt, &dir.path().join("spool"), None, false);
    let conn = connect(&addr, "pw-1", TlsMode::Disabled);
    let start = StartPosition::MariaDbGtid {
        state: "0-11-12".into(),
    };
    let events = dump_all(&rt, &conn, &replica(start, true)).unwrap();
    let types: Vec<u8> = events.iter().map(|e| e[4]).collect();
    // ROTATE, FDE, then 13 (standalone DDL: GTID, QUERY), 14 and 15 (GTID, rows, XID).
    assert_eq!(types, vec![4, 15, 162, 2, 162, 29, 16, 162, 29, 16]);
    let e = dump_all(
        &rt,
        &conn,
        &replica(
            StartPosition::MariaDbGtid {
                state: "0-11-5".into(),
            },
            true,
        ),
    )
    .unwrap_err();
    assert_eq!(e.server_code(), Some(1236), "{e}");
}

#[test]
fn a_replica_that_cannot_read_checksums_is_refused_when_the_spool_has_them() {
    use gapfill::serve::dump::DumpPlan;
    use gapfill::spool::TargetPosition;
    let dir = tempfile::tempdir().unwrap();
    let spool = mysql_spool(&dir.path().join("spool"));
    let target = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-103")));
    for said in [None, Some("NONE")] {
        let e = DumpPlan::build(&spool, &target, 1, said, None).expect_err("refused");
        assert!(e.to_string().contains("CRC32"), "{e}");
    }
    let p = DumpPlan::build(&spool, &target, 1, Some("CRC32"), None).unwrap();
    assert_eq!(p.transactions, 7);
    assert_eq!(p.file, "binlog.000008");
}
