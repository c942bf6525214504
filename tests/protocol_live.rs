//! Live tests of `gapfill::protocol` against the real sandbox servers (MySQL 9.7 and MariaDB
//! 10.11). They are `#[ignore]`d so a plain `cargo test` passes without servers; `scripts/test`
//! starts the servers, exports the `GAPFILL_*` variables and runs them with
//! `--include-ignored`. A missing variable is a failure, not a skip.
//!
//! Every test uses its own database (`gf_proto_*`), accounts (`gf_proto_*`) and replica
//! server id, so they can run in parallel with each other and with other suites.

use std::time::{Duration, Instant};

use gapfill::protocol::auth::Password;
use gapfill::protocol::connection::{ConnectOptions, Connection};
use gapfill::protocol::error::ProtocolError;
use gapfill::protocol::session::{ReplicaOptions, ReplicaSession, StartPosition};
use gapfill::protocol::stream::{EventPacket, FORMAT_DESCRIPTION_EVENT, ROTATE_EVENT};
use gapfill::protocol::tls::{TlsMode, TlsOptions};

const QUERY_EVENT: u8 = 2;
const XID_EVENT: u8 = 16;
const TABLE_MAP_EVENT: u8 = 19;
const WRITE_ROWS_EVENT_V2: u8 = 30;
const WRITE_ROWS_EVENT_V1: u8 = 23;
const GTID_EVENT: u8 = 33;
const MARIADB_GTID_EVENT: u8 = 162;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test (it starts the servers and sets GAPFILL_*)")
    })
}

fn mysql() -> String {
    env("GAPFILL_MYSQL_MASTER")
}

fn mariadb() -> String {
    env("GAPFILL_MARIADB_MASTER")
}

fn opts(addr: &str) -> ConnectOptions {
    let mut o = ConnectOptions::new(
        addr,
        env("GAPFILL_TEST_USER"),
        Password::new(env("GAPFILL_TEST_PASSWORD")),
    );
    o.io_timeout = Duration::from_secs(30);
    // The sandbox's certificates are self-generated (see scripts/sandbox); the refusal without
    // this is checked in mysql_full_auth_over_tls.
    o.tls.allow_unverified = true;
    o
}

/// TLS in `mode`, accepting the sandbox's self-generated certificates.
fn tls_accepting(mode: TlsMode) -> TlsOptions {
    TlsOptions {
        allow_unverified: true,
        ..TlsOptions::with_mode(mode)
    }
}

fn opts_as(addr: &str, user: &str, password: &str) -> ConnectOptions {
    let mut o = ConnectOptions::new(addr, user, Password::new(password));
    o.io_timeout = Duration::from_secs(30);
    o
}

async fn admin(addr: &str) -> Connection {
    Connection::connect(&opts(addr))
        .await
        .unwrap_or_else(|e| panic!("admin connection to {addr}: {e}"))
}

/// `(file, position)` of the master's binlog end.
async fn binlog_end(conn: &mut Connection) -> (Vec<u8>, u64) {
    let sql = if conn.is_mariadb() {
        "SHOW MASTER STATUS"
    } else {
        "SHOW BINARY LOG STATUS"
    };
    let rs = conn.query_rows(sql).await.unwrap();
    let row = &rs.rows[0];
    let file = row[0].clone().unwrap();
    let pos = String::from_utf8(row[1].clone().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    (file, pos)
}

async fn first_binlog(conn: &mut Connection) -> Vec<u8> {
    let rs = conn.query_rows("SHOW BINARY LOGS").await.unwrap();
    rs.rows[0][0].clone().unwrap()
}

async fn fresh_db(conn: &mut Connection, db: &str) {
    conn.execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    conn.execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
}

fn replica(server_id: u32, start: StartPosition) -> ReplicaOptions {
    let mut r = ReplicaOptions::new(server_id);
    r.report_host = "gapfill-proto-test".into();
    r.heartbeat_period = Duration::from_secs(1);
    r.start = start;
    r
}

/// A token unique to this run, for names and values that older binlogs cannot contain.
fn unique_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

/// Recognises rows events for one table (by the table id its TABLE_MAP announced), so that
/// other suites writing to the same master cannot be mistaken for ours.
struct OurRows {
    table: String,
    table_id: Option<Vec<u8>>,
}

impl OurRows {
    fn new(table: &str) -> OurRows {
        OurRows {
            table: table.to_string(),
            table_id: None,
        }
    }

    fn is_ours(&mut self, ev: &EventPacket) -> bool {
        let id = ev.event.get(19..25).map(<[u8]>::to_vec);
        match ev.event_type() {
            TABLE_MAP_EVENT => {
                if contains(ev.without_checksum(), self.table.as_bytes()) {
                    self.table_id = id;
                }
                false
            }
            WRITE_ROWS_EVENT_V1 | WRITE_ROWS_EVENT_V2 => id.is_some() && id == self.table_id,
            _ => false,
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Read events until `done` says so, failing after `limit`.
async fn read_until(
    s: &mut ReplicaSession,
    limit: Duration,
    mut done: impl FnMut(&EventPacket) -> bool,
) -> Vec<EventPacket> {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        assert!(
            start.elapsed() < limit,
            "condition not met within {limit:?}; saw {} events, types {:?}",
            seen.len(),
            seen.iter()
                .map(|e: &EventPacket| e.event_type())
                .collect::<Vec<_>>()
        );
        let ev = s.next_event().await.expect("next_event");
        let stop = done(&ev);
        seen.push(ev);
        if stop {
            return seen;
        }
    }
}

fn assert_crc(ev: &EventPacket) {
    assert_eq!(
        ev.without_checksum().len() + 4,
        ev.event.len(),
        "event type {} has no valid CRC32 although binlog_checksum=CRC32",
        ev.event_type()
    );
}

// ------------------------------------------------------------------------------------------
// Connecting and authenticating

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_auth_tls_then_fast_path_plain() {
    let addr = mysql();
    let mut o = opts(&addr);
    o.tls = tls_accepting(TlsMode::Required);
    let mut c = Connection::connect(&o).await.unwrap();
    assert!(c.is_tls());
    assert!(!c.is_mariadb());
    let v = c
        .query_one_string("SELECT @@version")
        .await
        .unwrap()
        .unwrap();
    assert!(v.starts_with("9.7"), "{v}");
    let cipher = c
        .query_rows("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    assert!(!cipher.rows[0][1].as_ref().unwrap().is_empty());
    c.close().await;

    // The TLS login cached the password: plain TCP without any key takes the fast path.
    let mut o = opts(&addr);
    o.tls = TlsOptions::disabled();
    let mut c = Connection::connect(&o).await.unwrap();
    assert!(!c.is_tls());
    assert_eq!(
        c.query_one_string("SELECT CURRENT_USER()").await.unwrap(),
        Some(format!("{}@%", env("GAPFILL_TEST_USER")))
    );
    c.ping().await.unwrap();
    c.close().await;
}

/// Create (or reset) an account and drop it from caching_sha2's cache (ALTER USER does that).
async fn fresh_user(admin: &mut Connection, user: &str, pw: &str) {
    admin
        .execute(&format!("DROP USER IF EXISTS '{user}'@'%'"))
        .await
        .unwrap();
    admin
        .execute(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED WITH caching_sha2_password BY '{pw}'"
        ))
        .await
        .unwrap();
}

async fn uncache(admin: &mut Connection, user: &str, pw: &str) {
    admin
        .execute(&format!("ALTER USER '{user}'@'%' IDENTIFIED BY '{pw}'"))
        .await
        .unwrap();
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_full_auth_over_tls() {
    let addr = mysql();
    let mut a = admin(&addr).await;
    let (user, pw) = ("gf_proto_tls", "gf-proto-tls-pw");
    fresh_user(&mut a, user, pw).await;

    // VerifyCa with the server's auto-generated CA: chain checked, CN is not a host name.
    let ca = format!("{}/ca.pem", env("GAPFILL_MYSQL_MASTER_DATADIR"));
    let mut o = opts_as(&addr, user, pw);
    o.tls = TlsOptions {
        mode: TlsMode::VerifyCa,
        ca_file: Some(ca.clone().into()),
        ..TlsOptions::default()
    };
    let mut c = Connection::connect(&o).await.unwrap();
    assert!(c.is_tls());
    assert_eq!(
        c.query_one_string("SELECT CURRENT_USER()").await.unwrap(),
        Some(format!("{user}@%"))
    );
    c.close().await;

    // VerifyIdentity fails: the auto-generated certificate does not name 127.0.0.1.
    uncache(&mut a, user, pw).await;
    o.tls.mode = TlsMode::VerifyIdentity;
    let e = Connection::connect(&o).await.unwrap_err();
    assert!(matches!(e, ProtocolError::Tls { .. }), "{e}");

    // A CA that did not sign the server certificate fails VerifyCa.
    let other_ca = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/protocol/not_the_server_ca.pem"
    );
    o.tls = TlsOptions {
        mode: TlsMode::VerifyCa,
        ca_file: Some(other_ca.into()),
        ..TlsOptions::default()
    };
    let e = Connection::connect(&o).await.unwrap_err();
    assert!(matches!(e, ProtocolError::Tls { .. }), "{e}");

    // Without TLS and without RSA, full authentication must be refused with a clear error.
    uncache(&mut a, user, pw).await;
    let mut o = opts_as(&addr, user, pw);
    o.tls = TlsOptions::disabled();
    let e = Connection::connect(&o).await.unwrap_err();
    assert!(matches!(e, ProtocolError::AuthNeedsSecureChannel), "{e}");
    assert!(e.to_string().contains("requires TLS or RSA"));

    // TLS whose certificate was not verified (preferred, required): full authentication would
    // hand the password to whoever answered. Refused before anything is sent, unless asked.
    for mode in [TlsMode::Preferred, TlsMode::Required] {
        uncache(&mut a, user, pw).await;
        let mut o = opts_as(&addr, user, pw);
        o.tls = TlsOptions::with_mode(mode);
        let e = Connection::connect(&o).await.unwrap_err();
        assert!(
            matches!(e, ProtocolError::FullAuthOverUnverifiedTls { .. }),
            "{mode:?}: {e}"
        );
        assert!(e.to_string().contains("--allow-unverified-tls"), "{e}");
    }
    let mut o = opts_as(&addr, user, pw);
    o.tls = tls_accepting(TlsMode::Preferred);
    let c = Connection::connect(&o).await.unwrap();
    assert!(c.is_tls());
    c.close().await;
    a.execute(&format!("DROP USER '{user}'@'%'")).await.unwrap();
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_full_auth_with_rsa_on_plain_tcp() {
    let addr = mysql();
    let mut a = admin(&addr).await;
    let (user, pw) = ("gf_proto_rsa", "gf-proto-rsa-pw");
    fresh_user(&mut a, user, pw).await;

    // Fetch the public key from the server (0x02 request).
    let mut o = opts_as(&addr, user, pw);
    o.tls = TlsOptions::disabled();
    o.allow_public_key_retrieval = true;
    let mut c = Connection::connect(&o).await.unwrap();
    assert!(!c.is_tls());
    let fetched = c.server_public_key().expect("key learned").to_vec();
    assert!(String::from_utf8_lossy(&fetched).contains("BEGIN PUBLIC KEY"));
    assert_eq!(
        c.query_one_string("SELECT CURRENT_USER()").await.unwrap(),
        Some(format!("{user}@%"))
    );
    c.close().await;

    // A configured key (the server's public_key.pem) needs no round trip.
    uncache(&mut a, user, pw).await;
    let key = std::fs::read(format!(
        "{}/public_key.pem",
        env("GAPFILL_MYSQL_MASTER_DATADIR")
    ))
    .unwrap();
    let mut o = opts_as(&addr, user, pw);
    o.tls = TlsOptions::disabled();
    o.server_public_key = Some(key);
    let mut c = Connection::connect(&o).await.unwrap();
    c.ping().await.unwrap();
    c.close().await;

    // Wrong password through the RSA path.
    uncache(&mut a, user, pw).await;
    let mut o = opts_as(&addr, user, "wrong");
    o.tls = TlsOptions::disabled();
    o.allow_public_key_retrieval = true;
    let e = Connection::connect(&o).await.unwrap_err();
    assert!(matches!(e, ProtocolError::AccessDenied { .. }), "{e}");
    a.execute(&format!("DROP USER '{user}'@'%'")).await.unwrap();
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mariadb_native_password() {
    let addr = mariadb();
    // TLS preferred (the default) falls back to plain: the sandbox MariaDB has no TLS.
    let mut c = Connection::connect(&opts(&addr)).await.unwrap();
    assert!(c.is_mariadb());
    assert!(!c.is_tls());
    let v = c
        .query_one_string("SELECT @@version")
        .await
        .unwrap()
        .unwrap();
    assert!(v.contains("MariaDB"), "{v}");
    assert_eq!(c.query_one_value("SELECT NULL").await.unwrap(), None);
    let rs = c
        .query_rows("SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, NULL")
        .await
        .unwrap();
    assert_eq!(rs.column_index("b"), Some(1));
    assert_eq!(rs.rows.len(), 2);
    assert_eq!(rs.rows[1][1], None);
    c.close().await;

    // Requiring TLS from a server without it is a clear error.
    let mut o = opts(&addr);
    o.tls = TlsOptions::with_mode(TlsMode::Required);
    let e = Connection::connect(&o).await.unwrap_err();
    assert!(matches!(e, ProtocolError::TlsUnsupported { .. }), "{e}");
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn wrong_password_is_a_clear_error() {
    for addr in [mysql(), mariadb()] {
        let mut o = opts_as(&addr, &env("GAPFILL_TEST_USER"), "not-the-password");
        // A wrong password fails caching_sha2's fast path, and the server then asks for full
        // authentication: under an unverified certificate gapfill would refuse to send it
        // (FullAuthOverUnverifiedTls); accepted here to see the server's answer.
        o.tls.allow_unverified = true;
        let e = Connection::connect(&o).await.unwrap_err();
        match &e {
            ProtocolError::AccessDenied { user, message, .. } => {
                assert_eq!(user, &env("GAPFILL_TEST_USER"));
                assert!(message.contains("Access denied"), "{message}");
            }
            other => panic!("{addr}: expected AccessDenied, got {other:?}"),
        }
        let text = e.to_string();
        assert!(text.contains("check the credentials"), "{text}");
        assert!(
            !text.contains("not-the-password"),
            "password leaked: {text}"
        );
    }
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn query_errors_carry_the_server_message() {
    let mut c = admin(&mysql()).await;
    let e = c
        .query_rows("SELECT * FROM no_such_db.t")
        .await
        .unwrap_err();
    assert_eq!(e.server_code(), Some(1049), "{e}");
    // The connection is still usable afterwards.
    assert_eq!(
        c.query_one_string("SELECT 1").await.unwrap(),
        Some("1".into())
    );
}

// ------------------------------------------------------------------------------------------
// Binlog dump

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_dump_by_position_from_first_binlog() {
    dump_by_position(&mysql(), "gf_proto_pos", 7101).await;
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mariadb_dump_by_position_from_first_binlog() {
    dump_by_position(&mariadb(), "gf_proto_pos", 7102).await;
}

async fn dump_by_position(addr: &str, db: &str, server_id: u32) {
    let mut a = admin(addr).await;
    fresh_db(&mut a, db).await;
    let first = first_binlog(&mut a).await;
    let mut r = replica(
        server_id,
        StartPosition::FilePos {
            file: first.clone(),
            pos: 4,
        },
    );
    r.report_port = 3399;
    let uuid = format!("00000000-0000-4000-8000-00000000{server_id:04}");
    if !a.is_mariadb() {
        r.replica_uuid = Some(uuid.clone());
    }
    let mut s = ReplicaSession::start(&opts(addr), &r).await.unwrap();
    assert_eq!(s.facts().binlog_checksum, "CRC32");

    // COM_REGISTER_SLAVE made us visible to the master as a replica.
    let sql = if a.is_mariadb() {
        "SHOW SLAVE HOSTS"
    } else {
        "SHOW REPLICAS"
    };
    let hosts = a.query_rows(sql).await.unwrap();
    let text = |row: &Vec<Option<Vec<u8>>>, i: usize| {
        String::from_utf8_lossy(row[i].as_deref().unwrap_or_default()).into_owned()
    };
    let row = hosts
        .rows
        .iter()
        .find(|row| text(row, 0) == server_id.to_string())
        .unwrap_or_else(|| panic!("server id {server_id} not in {sql}: {:?}", hosts.rows));
    let col = |name: &str| hosts.column_index(name).unwrap();
    assert_eq!(text(row, col("Host")), "gapfill-proto-test");
    assert_eq!(text(row, col("Port")), "3399");
    if !a.is_mariadb() {
        assert_eq!(text(row, col("Replica_UUID")), uuid);
    }

    // The artificial ROTATE names the file, then FORMAT_DESCRIPTION.
    let ev = s.next_event().await.unwrap();
    assert_eq!(ev.event_type(), ROTATE_EVENT);
    assert!(ev.is_artificial());
    assert_eq!(s.position(), (first.as_slice(), 4));
    let ev = s.next_event().await.unwrap();
    assert_eq!(ev.event_type(), FORMAT_DESCRIPTION_EVENT);
    assert_crc(&ev);

    // Earlier runs left the same statements in older binlogs: mark this run's table and row.
    let token = unique_token();
    let table = format!("t_{token}");
    a.execute(&format!(
        "CREATE TABLE {db}.{table} (id INT PRIMARY KEY, v VARCHAR(40))"
    ))
    .await
    .unwrap();
    a.execute(&format!(
        "INSERT INTO {db}.{table} VALUES (1, 'one'), (2, 'two-{token}')"
    ))
    .await
    .unwrap();

    let mut saw_create = false;
    let mut saw_map = false;
    let mut saw_rows = false;
    let row_marker = format!("two-{token}");
    read_until(&mut s, Duration::from_secs(60), |ev| {
        if !ev.is_heartbeat() {
            assert_crc(ev);
        }
        let body = ev.without_checksum();
        match ev.event_type() {
            QUERY_EVENT if contains(body, table.as_bytes()) => saw_create = true,
            TABLE_MAP_EVENT if contains(body, table.as_bytes()) => saw_map = true,
            WRITE_ROWS_EVENT_V1 | WRITE_ROWS_EVENT_V2
                if saw_map && contains(body, row_marker.as_bytes()) =>
            {
                saw_rows = true
            }
            _ => {}
        }
        saw_rows && ev.event_type() == XID_EVENT
    })
    .await;
    assert!(saw_create);

    // The tracked position agrees with the master's own idea of its binlog (which may have
    // rotated since, if anything else flushed the master's logs meanwhile).
    let (file, end) = binlog_end(&mut a).await;
    let (tfile, tpos) = s.position();
    assert!(
        tfile <= file.as_slice(),
        "tracked file is ahead of the master's"
    );
    assert!(tpos > 4, "tracked {tpos}");
    if tfile == file.as_slice() {
        assert!(tpos <= end, "tracked {tpos}, master end {end}");
    }
    s.close().await;
    a.execute(&format!("DROP DATABASE {db}")).await.unwrap();
}

/// `uuid:1-5:7-9,uuid2:...` (tagged parts skipped) as MySQL's untagged sid-block encoding.
/// A source uuid and its inclusive GTID ranges.
type UuidRanges = ([u8; 16], Vec<(u64, u64)>);

fn encode_untagged_gtid_set(text: &str) -> (Vec<u8>, Vec<UuidRanges>) {
    let mut sets = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let mut fields = part.split(':');
        let uuid_hex: String = fields
            .next()
            .unwrap()
            .chars()
            .filter(|c| *c != '-')
            .collect();
        let mut uuid = [0u8; 16];
        for (i, b) in uuid.iter_mut().enumerate() {
            *b = u8::from_str_radix(&uuid_hex[2 * i..2 * i + 2], 16).unwrap();
        }
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for f in fields {
            if f.starts_with(|c: char| c.is_ascii_digit()) {
                let (a, b) = f.split_once('-').unwrap_or((f, f));
                ranges.push((a.parse().unwrap(), b.parse().unwrap()));
            } else {
                break; // a tag: the untagged intervals of this uuid are complete
            }
        }
        if !ranges.is_empty() {
            sets.push((uuid, ranges));
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(sets.len() as u64).to_le_bytes());
    for (uuid, ranges) in &sets {
        out.extend_from_slice(uuid);
        out.extend_from_slice(&(ranges.len() as u64).to_le_bytes());
        for (a, b) in ranges {
            out.extend_from_slice(&a.to_le_bytes());
            out.extend_from_slice(&(b + 1).to_le_bytes());
        }
    }
    (out, sets)
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_dump_by_gtid_set() {
    let addr = mysql();
    let db = "gf_proto_gtid";
    let mut a = admin(&addr).await;
    fresh_db(&mut a, db).await;
    let table = format!("t_{}", unique_token());
    a.execute(&format!("CREATE TABLE {db}.{table} (id INT PRIMARY KEY)"))
        .await
        .unwrap();
    let executed = a
        .query_one_string("SELECT @@global.gtid_executed")
        .await
        .unwrap()
        .unwrap();
    let (encoded, sets) = encode_untagged_gtid_set(&executed);
    let uuid = a
        .query_one_string("SELECT @@server_uuid")
        .await
        .unwrap()
        .unwrap();

    let mut s = ReplicaSession::start(
        &opts(&addr),
        &replica(
            7103,
            StartPosition::MySqlGtid {
                encoded_set: encoded,
            },
        ),
    )
    .await
    .unwrap();
    assert_eq!(s.facts().gtid_mode.as_deref(), Some("ON"));
    assert_eq!(s.facts().server_uuid.as_deref(), Some(uuid.as_str()));
    a.execute(&format!("INSERT INTO {db}.{table} VALUES (42)"))
        .await
        .unwrap();
    let uuid_bytes: Vec<u8> = (0..16)
        .map(|i| {
            let hex: String = uuid.chars().filter(|c| *c != '-').collect();
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()
        })
        .collect();
    let mut ours = OurRows::new(&table);

    let in_sent = |sid: &[u8], gno: u64| {
        sets.iter().any(|(u, ranges)| {
            u.as_slice() == sid && ranges.iter().any(|(a, b)| (*a..=*b).contains(&gno))
        })
    };
    let mut gtids = Vec::new();
    let events = read_until(&mut s, Duration::from_secs(60), |ev| {
        if ev.event_type() == GTID_EVENT {
            let body = &ev.event[19..];
            let sid = body[1..17].to_vec();
            let gno = u64::from_le_bytes(body[17..25].try_into().unwrap());
            assert!(
                !in_sent(&sid, gno),
                "the master resent gno {gno} we already have"
            );
            gtids.push((sid, gno));
        }
        ours.is_ours(ev)
    })
    .await;
    // The transaction holding our row carries a new GTID of this master.
    let (sid, gno) = gtids.last().expect("no GTID event before our row");
    assert_eq!(sid, &uuid_bytes);
    assert!(!in_sent(sid, *gno));
    assert!(
        events
            .iter()
            .any(|e| e.event_type() == FORMAT_DESCRIPTION_EVENT)
    );
    s.close().await;
    a.execute(&format!("DROP DATABASE {db}")).await.unwrap();
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mariadb_dump_by_gtid_position() {
    let addr = mariadb();
    let db = "gf_proto_gtid";
    let mut a = admin(&addr).await;
    fresh_db(&mut a, db).await;
    let table = format!("t_{}", unique_token());
    a.execute(&format!("CREATE TABLE {db}.{table} (id INT PRIMARY KEY)"))
        .await
        .unwrap();
    let state = a
        .query_one_string("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    assert!(!state.is_empty());
    let last_seq: u64 = state
        .split(',')
        .map(|g| g.rsplit('-').next().unwrap().parse::<u64>().unwrap())
        .max()
        .unwrap();

    let mut s = ReplicaSession::start(
        &opts(&addr),
        &replica(
            7104,
            StartPosition::MariaDbGtid {
                state: state.clone(),
            },
        ),
    )
    .await
    .unwrap();
    assert_eq!(s.facts().gtid_binlog_pos.as_deref(), Some(state.as_str()));
    a.execute(&format!("INSERT INTO {db}.{table} VALUES (42)"))
        .await
        .unwrap();
    let mut ours = OurRows::new(&table);
    let mut seqs = Vec::new();
    read_until(&mut s, Duration::from_secs(60), |ev| {
        if ev.event_type() == MARIADB_GTID_EVENT && !ev.is_artificial() {
            let seq = u64::from_le_bytes(ev.event[19..27].try_into().unwrap());
            seqs.push(seq);
        }
        ours.is_ours(ev)
    })
    .await;
    assert!(!seqs.is_empty(), "no GTID event before our row");
    assert!(
        seqs.iter().all(|s| *s > last_seq),
        "got already-known GTIDs: {seqs:?} (state {state})"
    );
    s.close().await;
    a.execute(&format!("DROP DATABASE {db}")).await.unwrap();
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn heartbeats_arrive_when_idle() {
    // MySQL 8.0.26+ sends HEARTBEAT_V2 (41) because we ask for it; MariaDB sends v1 (27).
    for (addr, id, hb_type) in [(mysql(), 7105, 41), (mariadb(), 7106, 27)] {
        let mut a = admin(&addr).await;
        let (file, pos) = binlog_end(&mut a).await;
        let mut s = ReplicaSession::start(
            &opts(&addr),
            &replica(id, StartPosition::FilePos { file, pos }),
        )
        .await
        .unwrap();
        let events = read_until(&mut s, Duration::from_secs(30), |ev| ev.is_heartbeat()).await;
        let hb = events.last().unwrap();
        assert_eq!(hb.event_type(), hb_type);
        assert_crc(hb);
        let (tfile, tpos) = s.position();
        assert!(!tfile.is_empty(), "heartbeat names the file");
        assert!(tpos >= 4);
        eprintln!(
            "{addr}: heartbeat event type {} after {} events, position {}:{tpos}",
            hb.event_type(),
            events.len(),
            String::from_utf8_lossy(tfile)
        );
        s.close().await;
    }
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn silent_master_times_out() {
    let addr = mysql();
    let mut a = admin(&addr).await;
    let (file, pos) = binlog_end(&mut a).await;
    let mut r = replica(7107, StartPosition::FilePos { file, pos });
    r.heartbeat_period = Duration::from_secs(60);
    r.read_timeout = Some(Duration::from_millis(1500));
    let mut s = ReplicaSession::start(&opts(&addr), &r).await.unwrap();
    let start = Instant::now();
    loop {
        match s.next_event().await {
            Ok(_) => assert!(
                start.elapsed() < Duration::from_secs(30),
                "master never idle"
            ),
            Err(e @ ProtocolError::HeartbeatTimeout { .. }) => {
                assert!(e.is_transient());
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn nonexistent_binlog_is_a_continuity_break() {
    for (addr, id) in [(mysql(), 7108), (mariadb(), 7109)] {
        let mut s = ReplicaSession::start(
            &opts(&addr),
            &replica(
                id,
                StartPosition::FilePos {
                    file: b"binlog.999999".to_vec(),
                    pos: 4,
                },
            ),
        )
        .await
        .unwrap();
        let e = s.next_event().await.unwrap_err();
        match &e {
            ProtocolError::ContinuityBreak { code, message } => {
                assert_eq!(*code, 1236);
                eprintln!("{addr}: {message}");
            }
            other => panic!("{addr}: expected ContinuityBreak, got {other:?}"),
        }
        assert!(!e.is_transient());
    }
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn gtid_start_the_master_cannot_serve_is_a_continuity_break() {
    // MySQL: we claim GTIDs of the master's own uuid that it never executed.
    let mut a = admin(&mysql()).await;
    let uuid = a
        .query_one_string("SELECT @@server_uuid")
        .await
        .unwrap()
        .unwrap();
    let (encoded, _) = encode_untagged_gtid_set(&format!("{uuid}:1-999999999"));
    let mut s = ReplicaSession::start(
        &opts(&mysql()),
        &replica(
            7115,
            StartPosition::MySqlGtid {
                encoded_set: encoded,
            },
        ),
    )
    .await
    .unwrap();
    let e = s.next_event().await.unwrap_err();
    assert!(
        matches!(e, ProtocolError::ContinuityBreak { code: 1236, .. }),
        "{e}"
    );
    eprintln!("mysql: {e}");

    // MariaDB: a GTID beyond the master's own in its domain (strict mode is on). A fresh
    // topology has no GTID yet: write one so the master has a domain to be ahead of.
    let mut a = admin(&mariadb()).await;
    a.execute("CREATE DATABASE IF NOT EXISTS gf_proto_break")
        .await
        .unwrap();
    a.execute("DROP DATABASE gf_proto_break").await.unwrap();
    let pos = a
        .query_one_string("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    let first = pos.split(',').next().unwrap();
    let (domain_server, _) = first.rsplit_once('-').unwrap();
    let mut s = ReplicaSession::start(
        &opts(&mariadb()),
        &replica(
            7116,
            StartPosition::MariaDbGtid {
                state: format!("{domain_server}-999999999"),
            },
        ),
    )
    .await
    .unwrap();
    let mut types = Vec::new();
    let e = loop {
        match s.next_event().await {
            Ok(ev) => {
                types.push(ev.event_type());
                assert!(types.len() < 50, "no error after events {types:?}");
            }
            Err(e) => break e,
        }
    };
    eprintln!("mariadb: events before the error: {types:?}");
    assert!(
        matches!(e, ProtocolError::ContinuityBreak { code: 1236, .. }),
        "{e}"
    );
    eprintln!("mariadb: {e}");
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn non_blocking_dump_ends_with_eof() {
    let addr = mariadb();
    let mut a = admin(&addr).await;
    let (file, pos) = binlog_end(&mut a).await;
    let mut r = replica(7110, StartPosition::FilePos { file, pos });
    r.non_blocking = true;
    let mut s = ReplicaSession::start(&opts(&addr), &r).await.unwrap();
    let start = Instant::now();
    loop {
        match s.next_event().await {
            Ok(_) => assert!(start.elapsed() < Duration::from_secs(30)),
            Err(ProtocolError::EndOfBinlog) => break,
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_large_event_arrives_whole() {
    large_event(&mysql(), "gf_proto_big", 7111).await;
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mariadb_large_event_arrives_whole() {
    large_event(&mariadb(), "gf_proto_big", 7112).await;
}

async fn large_event(addr: &str, db: &str, server_id: u32) {
    const SIZE: usize = 20 * 1024 * 1024;
    let mut a = admin(addr).await;
    fresh_db(&mut a, db).await;
    a.execute(&format!(
        "CREATE TABLE {db}.t (id INT PRIMARY KEY, b LONGBLOB)"
    ))
    .await
    .unwrap();
    let (file, pos) = binlog_end(&mut a).await;
    let mut s = ReplicaSession::start(
        &opts(addr),
        &replica(server_id, StartPosition::FilePos { file, pos }),
    )
    .await
    .unwrap();
    a.execute(&format!(
        "INSERT INTO {db}.t VALUES (1, REPEAT('z', {SIZE}))"
    ))
    .await
    .unwrap();
    let events = read_until(&mut s, Duration::from_secs(120), |ev| {
        matches!(ev.event_type(), WRITE_ROWS_EVENT_V1 | WRITE_ROWS_EVENT_V2)
            && ev.event.len() > SIZE
    })
    .await;
    let big = events.last().unwrap();
    assert_crc(big);
    let zs = big.event.iter().filter(|b| **b == b'z').count();
    assert!(zs >= SIZE, "only {zs} payload bytes");
    s.close().await;
    a.execute(&format!("DROP DATABASE {db}")).await.unwrap();
}

// ------------------------------------------------------------------------------------------
// Semi-sync

async fn status_counter(conn: &mut Connection, name: &str) -> u64 {
    let rs = conn
        .query_rows(&format!("SHOW GLOBAL STATUS LIKE '{name}'"))
        .await
        .unwrap();
    String::from_utf8(rs.rows[0][1].clone().unwrap())
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_semisync_ack() {
    let addr = mysql();
    let mut a = admin(&addr).await;
    match a
        .execute("INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so'")
        .await
    {
        Ok(_) => {}
        Err(e) if e.server_code() == Some(1125) => {} // already exists
        Err(e) => panic!("{e}"),
    }
    a.execute("SET GLOBAL rpl_semi_sync_source_timeout = 2000")
        .await
        .unwrap();
    a.execute("SET GLOBAL rpl_semi_sync_source_enabled = 1")
        .await
        .unwrap();
    let result = semisync_round(
        &addr,
        "gf_proto_semi",
        7113,
        "Rpl_semi_sync_source",
        "rpl_semi_sync_source_wait_no_replica",
    )
    .await;
    a.execute("SET GLOBAL rpl_semi_sync_source_enabled = 0")
        .await
        .unwrap();
    a.execute("SET GLOBAL rpl_semi_sync_source_timeout = 10000")
        .await
        .unwrap();
    result.unwrap();
}

#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mariadb_semisync_ack() {
    let addr = mariadb();
    let mut a = admin(&addr).await;
    a.execute("SET GLOBAL rpl_semi_sync_master_timeout = 2000")
        .await
        .unwrap();
    a.execute("SET GLOBAL rpl_semi_sync_master_enabled = 1")
        .await
        .unwrap();
    let result = semisync_round(
        &addr,
        "gf_proto_semi",
        7114,
        "Rpl_semi_sync_master",
        "rpl_semi_sync_master_wait_no_slave",
    )
    .await;
    a.execute("SET GLOBAL rpl_semi_sync_master_enabled = 0")
        .await
        .unwrap();
    a.execute("SET GLOBAL rpl_semi_sync_master_timeout = 10000")
        .await
        .unwrap();
    result.unwrap();
}

/// Read one event (waiting at most 200 ms) and ACK it if asked.
async fn pump(s: &mut ReplicaSession, acked: &mut u32) -> Result<Option<EventPacket>, String> {
    let ev = match tokio::time::timeout(Duration::from_millis(200), s.next_event()).await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(_) => return Ok(None),
    };
    if ev.ack_requested {
        let (file, pos) = s.position();
        let (file, pos) = (file.to_vec(), pos);
        s.send_semisync_ack(&file, pos)
            .await
            .map_err(|e| e.to_string())?;
        *acked += 1;
    }
    Ok(Some(ev))
}

async fn status_text(conn: &mut Connection, name: &str) -> String {
    let rs = conn
        .query_rows(&format!("SHOW GLOBAL STATUS LIKE '{name}'"))
        .await
        .unwrap();
    String::from_utf8(rs.rows[0][1].clone().unwrap()).unwrap()
}

/// Dump with semi-sync, ACK every flagged event until the master reports semi-sync ON, then
/// commit two rows from another task and check that the master counted them as acknowledged
/// (`{prefix}_yes_tx`) and did not wait for its timeout.
async fn semisync_round(
    addr: &str,
    db: &str,
    server_id: u32,
    prefix: &str,
    wait_no_replica: &str,
) -> Result<(), String> {
    let yes_tx = format!("{prefix}_yes_tx");
    let status = format!("{prefix}_status");
    let mut a = admin(addr).await;
    fresh_db(&mut a, db).await;
    a.execute(&format!("CREATE TABLE {db}.t (id INT PRIMARY KEY)"))
        .await
        .map_err(|e| e.to_string())?;
    let (file, pos) = binlog_end(&mut a).await;
    let mut r = replica(server_id, StartPosition::FilePos { file, pos });
    r.semisync = true;
    let mut s = ReplicaSession::start(&opts(addr), &r)
        .await
        .map_err(|e| e.to_string())?;
    let mut acked = 0;
    // Other writers may have pushed the master to asynchronous fallback; our ACKs bring it
    // back to semi-sync once we have caught up.
    let start = Instant::now();
    loop {
        if status_text(&mut a, &status).await == "ON" {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("{status} never became ON ({acked} ACKs sent)"));
        }
        if start.elapsed() > Duration::from_secs(2) {
            // The master switches back on only when an ACK reaches its latest commit, which
            // a master busy with other suites' writes may never allow; setting wait_no_replica
            // (already ON) forces semi-sync back on now that we are connected and ACKing.
            a.execute(&format!("SET GLOBAL {wait_no_replica} = ON"))
                .await
                .map_err(|e| e.to_string())?;
        }
        pump(&mut s, &mut acked).await?;
    }
    let before = status_counter(&mut a, &yes_tx).await;

    let insert_addr = addr.to_string();
    let insert_db = db.to_string();
    // Two commits, each waiting for our ACK: the second proves the stream survives an ACK.
    let writer = tokio::spawn(async move {
        let mut w = admin(&insert_addr).await;
        let mut took = Duration::ZERO;
        for id in [7, 8] {
            let t = Instant::now();
            w.execute(&format!("INSERT INTO {insert_db}.t VALUES ({id})"))
                .await
                .unwrap();
            took = took.max(t.elapsed());
        }
        took
    });

    let start = Instant::now();
    let mut rows = 0;
    let mut ours = OurRows::new(db);
    while !(rows >= 2 && writer.is_finished()) {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("{rows} row events and {acked} ACKs after 30 s"));
        }
        let Some(ev) = pump(&mut s, &mut acked).await? else {
            continue;
        };
        // Other suites write to the same master: count only rows for our table.
        if ours.is_ours(&ev) {
            rows += 1;
        }
    }
    let took = writer.await.map_err(|e| e.to_string())?;
    let after = status_counter(&mut a, &yes_tx).await;
    eprintln!("{addr}: {acked} ACKs sent, commit took {took:?}, {yes_tx} {before} -> {after}");
    if acked == 0 {
        return Err("no event asked for an ACK".into());
    }
    if after < before + 2 {
        return Err(format!("{yes_tx} did not increase ({before} -> {after})"));
    }
    if took >= Duration::from_millis(1900) {
        return Err(format!("commit waited {took:?}: the ACK was not accepted"));
    }
    s.close().await;
    a.execute(&format!("DROP DATABASE {db}"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// fill and replay connect with mysql_async, which sends caching_sha2_password's full
/// authentication password in clear over any TLS: under an unverified certificate they first
/// log in with gapfill's own client, which refuses to send it. A cold cache is refused with the
/// way out named; the opt-in logs in (and fills the cache), after which the default passes.
#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_async_logins_never_send_the_password_over_unverified_tls() {
    use gapfill::apply::TargetOptions;
    use gapfill::credentials::Credentials;
    use mysql_async::prelude::Queryable;
    let addr = mysql();
    let mut a = admin(&addr).await;
    let (user, pw) = ("gf_proto_pre", "gf-proto-pre-pw");
    fresh_user(&mut a, user, pw).await;
    let target = |tls: TlsOptions| TargetOptions {
        addr: addr.clone(),
        credentials: Credentials {
            user: user.into(),
            password: Password::new(pw),
            source: "test".into(),
        },
        tls,
    };
    let e = target(TlsOptions::default()).connect().await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("--allow-unverified-tls") && msg.contains("verify-ca"),
        "{msg}"
    );
    assert!(!msg.contains(pw), "{msg}");
    // Accepting the unverified certificate logs in (mysql_async's full authentication)...
    let accepting = TlsOptions {
        allow_unverified: true,
        ..TlsOptions::default()
    };
    let mut c = target(accepting).connect().await.unwrap();
    let me: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(me, Some(format!("{user}@%")));
    c.disconnect().await.unwrap();
    // ... and caches the account: the default's check now takes the fast path.
    let c = target(TlsOptions::default()).connect().await.unwrap();
    c.disconnect().await.unwrap();
    a.execute(&format!("DROP USER '{user}'@'%'")).await.unwrap();
}

// ------------------------------------------------------------------------------------------
// A man in the middle of the TLS upgrade

/// A MySQL-aware TLS man in the middle: relays the server's greeting, then, when the client
/// asks for TLS, terminates it with its own self-signed certificate and opens TLS to the
/// server itself, relaying everything in between and recording what the client sent after
/// the upgrade, decrypted: what an attacker on the path reads.
struct Mitm {
    addr: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mitm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_packet<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 4];
    r.read_exact(&mut head).await?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    let mut p = head.to_vec();
    p.resize(4 + len, 0);
    r.read_exact(&mut p[4..]).await?;
    Ok(p)
}

async fn mitm(server: String, dir: &std::path::Path) -> Mitm {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (cert, key) = (dir.join("mitm.pem"), dir.join("mitm.key"));
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=not-the-server", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success());
    let acceptor = tokio_rustls::TlsAcceptor::from(
        gapfill::protocol::tls::server_config(&cert, &key, None).unwrap(),
    );
    let upstream = tokio_rustls::TlsConnector::from(
        gapfill::protocol::tls::client_config(&TlsOptions::with_mode(TlsMode::Required)).unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let rec = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut cli, _)) = listener.accept().await {
            let (acceptor, upstream, rec) = (acceptor.clone(), upstream.clone(), rec.clone());
            let server = server.clone();
            tokio::spawn(async move {
                let Ok(mut srv) = tokio::net::TcpStream::connect(&server).await else {
                    return;
                };
                let Ok(greeting) = read_packet(&mut srv).await else {
                    return;
                };
                if cli.write_all(&greeting).await.is_err() {
                    return;
                }
                let Ok(first) = read_packet(&mut cli).await else {
                    return;
                };
                rec.lock().unwrap().extend_from_slice(&first);
                if srv.write_all(&first).await.is_err() {
                    return;
                }
                // An SSLRequest: 32 bytes whose capabilities ask for SSL (0x800).
                let caps = first
                    .get(4..8)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                if first.len() != 36 || caps.is_none_or(|c| c & 0x800 == 0) {
                    return;
                }
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                let Ok(srv) = upstream.connect(name, srv).await else {
                    return;
                };
                let Ok(cli) = acceptor.accept(cli).await else {
                    return;
                };
                let (mut cr, mut cw) = tokio::io::split(cli);
                let (mut sr, mut sw) = tokio::io::split(srv);
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                let mut buf = vec![0u8; 16 << 10];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    rec.lock().unwrap().extend_from_slice(&buf[..n]);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                down.abort();
            });
        }
    });
    Mitm { addr, seen, task }
}

/// A proxy with a self-signed certificate between gapfill and MySQL: under `verify-ca` the
/// handshake is refused; under `preferred` full authentication refuses before sending the
/// password, so the proxy never sees it (asserted on the decrypted bytes it relayed), and the
/// fast path only sends a scramble; the opt-in `--allow-unverified-tls` hands it over (which is
/// why it is an opt-in, and what shows this test can fail).
#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn mysql_password_never_crosses_a_tls_man_in_the_middle() {
    let addr = mysql();
    let mut a = admin(&addr).await;
    let (user, pw) = ("gf_proto_mitm", "gf-proto-mitm-secret-7c1e");
    fresh_user(&mut a, user, pw).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = mitm(addr.clone(), dir.path()).await;
    let saw_password = || contains(&proxy.seen.lock().unwrap(), pw.as_bytes());
    let through = |tls: TlsOptions| {
        let mut o = opts_as(&proxy.addr, user, pw);
        o.tls = tls;
        o
    };

    // verify-ca with the server's real CA: the proxy's certificate is refused.
    let ca = format!("{}/ca.pem", env("GAPFILL_MYSQL_MASTER_DATADIR"));
    let e = Connection::connect(&through(TlsOptions {
        mode: TlsMode::VerifyCa,
        ca_file: Some(ca.into()),
        ..TlsOptions::default()
    }))
    .await
    .unwrap_err();
    assert!(matches!(e, ProtocolError::Tls { .. }), "{e}");
    // preferred, cold cache (full authentication): refused before the password is sent.
    let e = Connection::connect(&through(TlsOptions::with_mode(TlsMode::Preferred)))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ProtocolError::FullAuthOverUnverifiedTls { .. }),
        "{e}"
    );
    assert!(
        !proxy.seen.lock().unwrap().is_empty(),
        "the proxy relayed nothing"
    );
    assert!(
        !saw_password(),
        "the password crossed the man in the middle"
    );
    // The opt-in: the login works through the proxy, which reads the password.
    let c = Connection::connect(&through(tls_accepting(TlsMode::Preferred)))
        .await
        .expect("through the proxy with --allow-unverified-tls");
    c.close().await;
    assert!(
        saw_password(),
        "the proxy should read a password sent in clear inside its TLS"
    );
    // Warm cache: the fast path sends a scramble only, no opt-in needed.
    proxy.seen.lock().unwrap().clear();
    let c = Connection::connect(&through(TlsOptions::with_mode(TlsMode::Preferred)))
        .await
        .expect("fast path through the proxy");
    c.close().await;
    assert!(!proxy.seen.lock().unwrap().is_empty());
    assert!(!saw_password(), "the fast path sent the password");
    a.execute(&format!("DROP USER '{user}'@'%'")).await.unwrap();
}

/// fill and replay connect with mysql_async, whose `verify-ca` still checks the host name (its
/// name-skipping does not recognise this rustls's error): against MySQL's own certificate,
/// which names no host, the connection is refused before anything is sent, and the error says
/// why and what to do; a certificate of another CA (the man in the middle) is refused as such.
#[tokio::test]
#[ignore = "needs real servers: run scripts/test"]
async fn fill_and_replay_verify_ca_explain_a_certificate_without_the_host() {
    use gapfill::apply::TargetOptions;
    use gapfill::credentials::Credentials;
    let addr = mysql();
    let ca = format!("{}/ca.pem", env("GAPFILL_MYSQL_MASTER_DATADIR"));
    let target = |addr: &str| TargetOptions {
        addr: addr.to_string(),
        credentials: Credentials {
            user: env("GAPFILL_TEST_USER"),
            password: Password::new(env("GAPFILL_TEST_PASSWORD")),
            source: "test".into(),
        },
        tls: TlsOptions {
            mode: TlsMode::VerifyCa,
            ca_file: Some(ca.clone().into()),
            ..TlsOptions::default()
        },
    };
    let e = target(&addr).connect().await.unwrap_err().to_string();
    assert!(
        e.contains("not valid for name") && e.contains("--ssl-server-name"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let proxy = mitm(addr.clone(), dir.path()).await;
    let e = target(&proxy.addr).connect().await.unwrap_err().to_string();
    assert!(
        e.contains("invalid peer certificate") && !e.contains("--ssl-server-name"),
        "{e}"
    );
    assert!(
        !contains(
            &proxy.seen.lock().unwrap(),
            env("GAPFILL_TEST_PASSWORD").as_bytes()
        ),
        "the password crossed the man in the middle"
    );
}
