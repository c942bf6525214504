//! A replica session: the setup a real replica's I/O thread does, then the binlog stream.
//!
//! [`ReplicaSession::start`] connects, reads the server's identity ([`ServerFacts`]), negotiates
//! checksums and the heartbeat period, prepares the GTID start (MariaDB session variables) and
//! semi-sync, registers with COM_REGISTER_SLAVE (unless told not to) and sends COM_BINLOG_DUMP or
//! COM_BINLOG_DUMP_GTID. Then [`ReplicaSession::next_event`] hands out raw events, with a read
//! timeout derived from the heartbeat period to notice a silent master, and
//! [`ReplicaSession::send_semisync_ack`] acknowledges. Reconnecting is the caller's decision
//! (see [`Backoff`](super::backoff::Backoff)); what is done with events is not this file's
//! business.

use std::time::Duration;

use crate::binlog::Flavor;

use super::commands::{
    BINLOG_DUMP_NON_BLOCK, BINLOG_SEND_ANNOTATE_ROWS_EVENT, RegisterReplica,
    USE_HEARTBEAT_EVENT_V2, com_binlog_dump, com_binlog_dump_gtid,
};
use super::connection::{ConnectOptions, Connection};
use super::error::{ProtocolError, Result};
use super::semisync::encode_ack;
use super::stream::{DumpDecoder, DumpPacket, EventPacket, PositionTracker};

/// MySQL's encoding of the empty GTID set (a zero sid count); an empty data field is refused
/// with "Malformed GTID set encoding".
const EMPTY_GTID_SET: [u8; 8] = [0; 8];

/// Where the dump starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    /// A binlog file and position. An empty file name means the master's first binlog (MySQL).
    FilePos { file: Vec<u8>, pos: u64 },
    /// MySQL: everything not in this GTID set, given in MySQL's encoded (sid-block) form.
    MySqlGtid { encoded_set: Vec<u8> },
    /// MariaDB: after this GTID position (`@@gtid_slave_pos` syntax, e.g. `0-11-100,1-11-7`;
    /// empty means from the start of the oldest binlog).
    MariaDbGtid { state: String },
}

/// How this replica presents itself and what it asks for.
#[derive(Debug, Clone)]
pub struct ReplicaOptions {
    /// Our server id: must differ from every server and every other replica of the master.
    pub server_id: u32,
    /// MySQL: the `@replica_uuid` the master uses to tell replicas apart (and to drop a
    /// zombie dump of ours). `None`: not set.
    pub replica_uuid: Option<String>,
    /// Send COM_REGISTER_SLAVE before the dump, so the master lists us in `SHOW REPLICAS`
    /// (`SHOW SLAVE HOSTS`) with `report_host` and `report_port`. Neither MySQL nor MariaDB
    /// requires it for a dump (`mysqlbinlog --read-from-remote-server` does not register);
    /// without it the master lists no row for us.
    pub register: bool,
    /// Shown in the master's `SHOW REPLICAS`.
    pub report_host: String,
    /// Shown in the master's `SHOW REPLICAS`. Tools that discover replicas there
    /// (orchestrator) stop at a row with port 0: give a real one when registering.
    pub report_port: u16,
    /// How often an idle master sends a heartbeat; zero disables heartbeats.
    pub heartbeat_period: Duration,
    /// How long `next_event` waits for a packet before [`ProtocolError::HeartbeatTimeout`];
    /// `None`: twice the heartbeat period plus one second (no limit without heartbeats).
    pub read_timeout: Option<Duration>,
    /// Ask for semi-sync headers (the master must have its semi-sync source on to send them).
    pub semisync: bool,
    /// End with [`ProtocolError::EndOfBinlog`] at the end of the binlog instead of waiting.
    pub non_blocking: bool,
    /// MariaDB: also send the ANNOTATE_ROWS events of the binlog (as a MariaDB replica with
    /// `replicate_annotate_row_events` asks), so the stream is the binlog event for event.
    /// Ignored by MySQL.
    pub mariadb_annotate_rows: bool,
    pub start: StartPosition,
}

impl ReplicaOptions {
    /// Defaults: registered (with an empty report host and port 0: set them), heartbeat every
    /// 5 s, no semi-sync, blocking, no MariaDB ANNOTATE_ROWS, from the first binlog.
    pub fn new(server_id: u32) -> ReplicaOptions {
        ReplicaOptions {
            server_id,
            replica_uuid: None,
            register: true,
            report_host: String::new(),
            report_port: 0,
            heartbeat_period: Duration::from_secs(5),
            read_timeout: None,
            semisync: false,
            non_blocking: false,
            mariadb_annotate_rows: false,
            start: StartPosition::FilePos {
                file: Vec::new(),
                pos: 4,
            },
        }
    }

    fn effective_read_timeout(&self) -> Option<Duration> {
        self.read_timeout.or_else(|| {
            (!self.heartbeat_period.is_zero())
                .then(|| self.heartbeat_period * 2 + Duration::from_secs(1))
        })
    }
}

/// What the master told us about itself during setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFacts {
    pub flavor: Flavor,
    pub version: String,
    pub version_comment: String,
    pub server_id: u32,
    /// MySQL only.
    pub server_uuid: Option<String>,
    /// MySQL only: `ON`, `OFF`, `ON_PERMISSIVE`, ...
    pub gtid_mode: Option<String>,
    /// MariaDB only: `@@gtid_binlog_pos` when the session started.
    pub gtid_binlog_pos: Option<String>,
    /// `CRC32` or `NONE`.
    pub binlog_checksum: String,
}

/// A running binlog dump from one master.
#[derive(Debug)]
pub struct ReplicaSession {
    conn: Connection,
    facts: ServerFacts,
    decoder: DumpDecoder,
    tracker: PositionTracker,
    read_timeout: Option<Duration>,
    heartbeat_period: Duration,
}

/// Quote a string for SQL after checking it holds only `allowed` characters.
fn checked_literal(what: &'static str, v: &str, allowed: fn(char) -> bool) -> Result<String> {
    if let Some(c) = v.chars().find(|c| !allowed(*c)) {
        return Err(ProtocolError::Encode {
            what,
            detail: format!("character {c:?} is not allowed in {v:?}"),
        });
    }
    Ok(format!("'{v}'"))
}

/// COM_REGISTER_SLAVE: what the master's `SHOW REPLICAS` shows for us.
async fn register(conn: &mut Connection, opts: &ReplicaOptions) -> Result<()> {
    let register = RegisterReplica {
        server_id: opts.server_id,
        hostname: opts.report_host.as_bytes(),
        user: b"",
        password: b"",
        port: opts.report_port,
        replication_rank: 0,
        master_id: 0,
    }
    .encode()?;
    conn.send_command(&register).await?;
    let p = conn.read_payload().await?;
    match p.first() {
        Some(0x00) => Ok(()),
        Some(0xff) => Err(super::result::ErrPacket::parse(&p)?.into_error()),
        _ => Err(ProtocolError::Unexpected {
            context: "in answer to COM_REGISTER_SLAVE",
            first: p.first().copied().unwrap_or(0),
            len: p.len(),
        }),
    }
}

impl ReplicaSession {
    /// Connect to the master and start dumping.
    pub async fn start(conn: &ConnectOptions, opts: &ReplicaOptions) -> Result<ReplicaSession> {
        let conn = Connection::connect(conn).await?;
        ReplicaSession::start_on(conn, opts).await
    }

    /// Start dumping on an already authenticated connection.
    pub async fn start_on(mut conn: Connection, opts: &ReplicaOptions) -> Result<ReplicaSession> {
        let facts = read_facts(&mut conn).await?;
        if facts.server_id == opts.server_id {
            return Err(ProtocolError::Encode {
                what: "replica server id",
                detail: format!(
                    "{} is the master's own server id: configure a unique server id",
                    opts.server_id
                ),
            });
        }
        conn.execute(
            "SET @master_binlog_checksum = @@global.binlog_checksum, \
             @source_binlog_checksum = @@global.binlog_checksum",
        )
        .await?;
        if !opts.heartbeat_period.is_zero() {
            let ns = opts.heartbeat_period.as_nanos();
            conn.execute(&format!(
                "SET @master_heartbeat_period = {ns}, @source_heartbeat_period = {ns}"
            ))
            .await?;
        }
        match facts.flavor {
            Flavor::MySql => {
                if let Some(uuid) = &opts.replica_uuid {
                    let lit = checked_literal("replica uuid", uuid, |c| {
                        c.is_ascii_hexdigit() || c == '-'
                    })?;
                    conn.execute(&format!("SET @slave_uuid = {lit}, @replica_uuid = {lit}"))
                        .await?;
                }
            }
            Flavor::MariaDb => {
                // MARIA_SLAVE_CAPABILITY_GTID: GTID events, GTID_LIST, annotate rows, ...
                conn.execute("SET @mariadb_slave_capability = 4").await?;
                if let StartPosition::MariaDbGtid { state } = &opts.start {
                    let lit = checked_literal("MariaDB GTID position", state, |c| {
                        c.is_ascii_digit() || c == '-' || c == ','
                    })?;
                    conn.execute(&format!("SET @slave_connect_state = {lit}"))
                        .await?;
                    conn.execute("SET @slave_gtid_strict_mode = 1").await?;
                    conn.execute("SET @slave_gtid_ignore_duplicates = 0")
                        .await?;
                }
            }
        }
        if opts.semisync {
            // User variables: setting an unknown one is harmless, so set both spellings.
            conn.execute("SET @rpl_semi_sync_replica = 1, @rpl_semi_sync_slave = 1")
                .await?;
        }
        if opts.register {
            register(&mut conn, opts).await?;
        }

        let mut flags = if opts.non_blocking {
            BINLOG_DUMP_NON_BLOCK
        } else {
            0
        };
        // Like a MySQL 8.0.26+ replica: heartbeats v2 carry a 64-bit position and the file.
        // Not for MariaDB, where the same bit asks for ANNOTATE_ROWS events.
        if facts.flavor == Flavor::MySql && version_at_least(&facts.version, (8, 0, 26)) {
            flags |= USE_HEARTBEAT_EVENT_V2;
        }
        if facts.flavor == Flavor::MariaDb && opts.mariadb_annotate_rows {
            flags |= BINLOG_SEND_ANNOTATE_ROWS_EVENT;
        }
        let (dump, tracker) = match (&opts.start, facts.flavor) {
            (StartPosition::FilePos { file, pos }, flavor) => match u32::try_from(*pos) {
                Ok(p32) => (
                    com_binlog_dump(p32, flags, opts.server_id, file),
                    PositionTracker::new(file, *pos),
                ),
                // Past 4 GiB only COM_BINLOG_DUMP_GTID can carry the position; with an empty
                // GTID set (its 8-byte encoding: zero sids) MySQL starts at file:pos.
                Err(_) if flavor == Flavor::MySql => (
                    com_binlog_dump_gtid(flags, opts.server_id, file, *pos, &EMPTY_GTID_SET)?,
                    PositionTracker::new(file, *pos),
                ),
                Err(_) => {
                    return Err(ProtocolError::Encode {
                        what: "start position",
                        detail: format!("{pos} does not fit COM_BINLOG_DUMP's 32 bits"),
                    });
                }
            },
            (StartPosition::MySqlGtid { encoded_set }, Flavor::MySql) => (
                com_binlog_dump_gtid(flags, opts.server_id, b"", 4, encoded_set)?,
                PositionTracker::new(b"", 4),
            ),
            (StartPosition::MariaDbGtid { .. }, Flavor::MariaDb) => (
                com_binlog_dump(4, flags, opts.server_id, b""),
                PositionTracker::new(b"", 4),
            ),
            (start, flavor) => {
                return Err(ProtocolError::Encode {
                    what: "start position",
                    detail: format!("{start:?} cannot be used with a {flavor:?} master"),
                });
            }
        };
        conn.send_command(&dump).await?;
        tracing::info!(
            addr = %conn.addr(),
            server_id = opts.server_id,
            master_server_id = facts.server_id,
            start = ?opts.start,
            semisync = opts.semisync,
            "binlog dump started"
        );
        Ok(ReplicaSession {
            conn,
            facts,
            decoder: DumpDecoder::new(opts.semisync),
            tracker,
            read_timeout: opts.effective_read_timeout(),
            heartbeat_period: opts.heartbeat_period,
        })
    }

    /// What the master said about itself.
    pub fn facts(&self) -> &ServerFacts {
        &self.facts
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The master's binlog coordinates after the last event returned: `(file, position)`.
    /// This is where the stream is, not necessarily a transaction boundary: to resume after a
    /// reconnect, start from the end of the last complete transaction you kept.
    pub fn position(&self) -> (&[u8], u64) {
        (self.tracker.file(), self.tracker.pos())
    }

    /// The next event, heartbeats and artificial events included (see
    /// [`EventPacket::is_heartbeat`], [`EventPacket::is_artificial`]). Errors:
    /// [`ProtocolError::HeartbeatTimeout`] when the master is silent too long,
    /// [`ProtocolError::ContinuityBreak`] when it cannot serve the start point,
    /// [`ProtocolError::EndOfBinlog`] at the end of a non-blocking dump.
    pub async fn next_event(&mut self) -> Result<EventPacket> {
        let Some(payload) = self.conn.read_payload_within(self.read_timeout).await? else {
            return Err(ProtocolError::HeartbeatTimeout {
                addr: self.conn.addr().to_string(),
                waited: self.read_timeout.unwrap_or_default(),
                period: self.heartbeat_period,
            });
        };
        match self.decoder.decode(payload)? {
            DumpPacket::Event(ev) => {
                self.tracker.observe(&ev)?;
                if ev.ack_requested {
                    // The master numbers the packets after one that asks for a reply anew,
                    // whether or not the reply was read yet (seen live: a deferred ACK met
                    // `expected 6, got 1`).
                    self.conn.codec_mut().resync_on_next();
                }
                Ok(ev)
            }
            DumpPacket::Eof => Err(ProtocolError::EndOfBinlog),
        }
    }

    /// Whether the next event already arrived (read, not yet returned): events that arrive
    /// together can be acknowledged together.
    pub fn has_buffered_event(&self) -> bool {
        self.conn.has_buffered_packet()
    }

    /// Acknowledge to the semi-sync master that everything up to `pos` in `file` is durable.
    /// Call it only once the event is safe on disk.
    pub async fn send_semisync_ack(&mut self, file: &[u8], pos: u64) -> Result<()> {
        self.conn.send_command(&encode_ack(file, pos)).await?;
        // The ACK is not answered and the master's stream keeps its own sequence numbers.
        self.conn.codec_mut().resync_on_next();
        tracing::trace!(pos, "semi-sync ACK sent");
        Ok(())
    }

    /// Close the connection (no COM_QUIT: during a dump the master reads only ACKs).
    pub async fn close(self) {
        self.conn.shutdown().await;
    }
}

/// Whether a `major.minor.patch[-suffix]` version is at least `min`.
fn version_at_least(version: &str, min: (u32, u32, u32)) -> bool {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    v >= min
}

async fn read_facts(conn: &mut Connection) -> Result<ServerFacts> {
    let sql = "SELECT @@version, @@version_comment, @@server_id, @@global.binlog_checksum";
    let rs = conn.query_rows(sql).await?;
    let row = rs.rows.first().ok_or_else(|| ProtocolError::Query {
        query: sql.into(),
        detail: "returned no row".into(),
    })?;
    let text = |i: usize| {
        row.get(i)
            .and_then(|v| v.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    };
    let version = text(0);
    let server_id = text(2).parse().map_err(|_| ProtocolError::Query {
        query: sql.into(),
        detail: format!("returned a server id that is not a number: {:?}", text(2)),
    })?;
    let flavor = if conn.is_mariadb() || version.contains("MariaDB") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    let mut facts = ServerFacts {
        flavor,
        version,
        version_comment: text(1),
        server_id,
        server_uuid: None,
        gtid_mode: None,
        gtid_binlog_pos: None,
        binlog_checksum: text(3),
    };
    match flavor {
        Flavor::MySql => {
            let rs = conn.query_rows("SELECT @@server_uuid, @@gtid_mode").await?;
            if let Some(row) = rs.rows.first() {
                let get = |i: usize| {
                    row.get(i)
                        .and_then(|v| v.as_deref())
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                };
                facts.server_uuid = get(0);
                facts.gtid_mode = get(1);
            }
        }
        Flavor::MariaDb => {
            facts.gtid_binlog_pos = conn.query_one_string("SELECT @@gtid_binlog_pos").await?;
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_checked() {
        let hex = |c: char| c.is_ascii_hexdigit() || c == '-';
        assert_eq!(
            checked_literal("u", "3e11fa47-71ca-11e1-9e33-c80aa9429562", hex).unwrap(),
            "'3e11fa47-71ca-11e1-9e33-c80aa9429562'"
        );
        assert!(checked_literal("u", "x'; DROP TABLE t; --", hex).is_err());
    }

    #[test]
    fn versions() {
        assert!(version_at_least("9.7.4-2", (8, 0, 26)));
        assert!(version_at_least("8.0.26", (8, 0, 26)));
        assert!(!version_at_least("8.0.25-log", (8, 0, 26)));
        assert!(!version_at_least("5.7.44", (8, 0, 26)));
        assert!(!version_at_least("", (8, 0, 26)));
    }

    #[test]
    fn read_timeout_defaults() {
        let mut o = ReplicaOptions::new(1);
        o.heartbeat_period = Duration::from_secs(1);
        assert_eq!(o.effective_read_timeout(), Some(Duration::from_secs(3)));
        o.heartbeat_period = Duration::ZERO;
        assert_eq!(o.effective_read_timeout(), None);
        o.read_timeout = Some(Duration::from_secs(9));
        assert_eq!(o.effective_read_timeout(), Some(Duration::from_secs(9)));
    }
}
