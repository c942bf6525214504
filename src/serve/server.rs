//! The tokio edge: a listener serving one spool to any number of replicas, and the
//! connection driver that moves bytes between a replica's TCP (or TLS) stream, the sans-IO
//! core ([`greeting`](super::greeting), [`queries`](super::queries), [`dump`](super::dump))
//! and the spool's files. No protocol decisions are made here.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::binlog::FormatDescription;
use crate::binlog::checksum::ChecksumAlg;
use crate::binlog::header::HEADER_LEN;
use crate::protocol::handshake::caps;
use crate::protocol::{PacketCodec, Password};
use crate::spool::{Spool, TargetPosition, segment_fde};

use super::dump::{
    self, DumpPlan, DumpRequest, ER_SOURCE_FATAL_READING_BINLOG, Piece, event_payload,
};
use super::error::{Result, ServeError};
use super::greeting::{AuthAction, ClientHello, Greeting, ServerAuth};
use super::queries::{self, SessionVars, SourceFacts};
use super::wire::{eof_packet, err_packet, ok_packet};

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What `gapfill serve` serves and to whom.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub spool: PathBuf,
    /// `host:port` to listen on (port 0: any free port).
    pub listen: String,
    pub user: String,
    pub password: Password,
    pub tls: Option<TlsFiles>,
    /// The source's `@@server_id`; default: the spool's master's.
    pub server_id: Option<u32>,
    /// The source's `@@server_uuid` (MySQL); default: the spool's master's.
    pub server_uuid: Option<String>,
    /// caching_sha2_password: always ask for full authentication (as a source whose cache
    /// does not know the account), which needs TLS.
    pub full_auth_only: bool,
    /// How often an idle dump looks for transactions the spool received since.
    pub poll_interval: Duration,
}

impl ServeConfig {
    pub fn new(spool: PathBuf, listen: String, user: String, password: Password) -> ServeConfig {
        ServeConfig {
            spool,
            listen,
            user,
            password,
            tls: None,
            server_id: None,
            server_uuid: None,
            full_auth_only: false,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Read the password replicas must give from `path`: its first line (the newline is not
/// part of it). Refused when group or others can read the file, as credentials files are.
pub fn read_password_file(path: &Path) -> Result<Password> {
    let file_err = |source| ServeError::File {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(file_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ServeError::Config(format!(
                "password file {} is readable by group or others (mode {mode:o}): run `chmod \
                 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(file_err)?;
    let line = text.lines().next().unwrap_or("");
    Ok(Password::new(line))
}

struct Shared {
    cfg: ServeConfig,
    facts: SourceFacts,
    tls: Option<TlsAcceptor>,
    next_id: AtomicU32,
}

/// A listening replication source over one spool.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

fn load_tls(files: &TlsFiles) -> Result<TlsAcceptor> {
    crate::protocol::tls::server_config(&files.cert, &files.key, None)
        .map(TlsAcceptor::from)
        .map_err(|e| ServeError::Config(e.to_string()))
}

/// What the source says about itself, from the spool: flavor, identity, version, checksum.
fn facts_of(cfg: &ServeConfig) -> Result<SourceFacts> {
    let spool = Spool::open_read_only(&cfg.spool)?;
    let st = spool.status();
    let mariadb = match st.mode {
        "mysql gtid" => false,
        "mariadb gtid" => true,
        mode => {
            return Err(ServeError::Config(format!(
                "gapfill serve needs a spool captured with GTIDs; {} is in mode '{mode}'",
                cfg.spool.display()
            )));
        }
    };
    let mut version = None;
    let mut checksum = "CRC32";
    if let Some(Ok(first)) = spool.transactions().next() {
        let fde = segment_fde(&first.segment)?;
        if let Ok(d) = FormatDescription::parse(fde.get(HEADER_LEN..).unwrap_or_default()) {
            let (a, b, c) = d.version;
            version = Some(format!("{a}.{b}.{c}"));
            if d.checksum == ChecksumAlg::Off {
                checksum = "NONE";
            }
        }
    }
    let gtid_executed = match spool.resume_point() {
        Some(crate::spool::ResumePoint::MySqlGtids(s)) => s.to_string(),
        Some(crate::spool::ResumePoint::MariaDbGtids(p)) => p.to_string(),
        _ => String::new(),
    };
    let master = st.current_master.clone();
    let server_id = cfg
        .server_id
        .or(master.as_ref().map(|m| m.server_id))
        .unwrap_or(1);
    let server_uuid = cfg
        .server_uuid
        .clone()
        .or(master.and_then(|m| m.server_uuid))
        .unwrap_or_else(|| "00000000-0000-4000-8000-6761706669ff".into());
    let version = if mariadb {
        format!(
            "5.5.5-{}-MariaDB-gapfill",
            version.as_deref().unwrap_or("10.11.0")
        )
    } else {
        format!("{}-gapfill", version.as_deref().unwrap_or("9.7.0"))
    };
    Ok(SourceFacts {
        mariadb,
        server_id,
        server_uuid,
        version,
        binlog_checksum: checksum,
        gtid_executed,
    })
}

impl Server {
    /// Read the spool's facts, load TLS, and listen.
    pub async fn bind(cfg: ServeConfig) -> Result<Server> {
        let facts = facts_of(&cfg)?;
        let tls = cfg.tls.as_ref().map(load_tls).transpose()?;
        let listener = TcpListener::bind(&cfg.listen)
            .await
            .map_err(|source| ServeError::Io {
                peer: cfg.listen.clone(),
                action: "listening",
                source,
            })?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                cfg,
                facts,
                tls,
                next_id: AtomicU32::new(1),
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// What the source says about itself.
    pub fn facts(&self) -> &SourceFacts {
        &self.shared.facts
    }

    /// Serve replicas until `shutdown` completes; each connection runs in its own task.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "serve: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let shared = self.shared.clone();
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let peer = peer.to_string();
                match serve_connection(tcp, &peer, id, &shared).await {
                    Ok(()) => tracing::info!(%peer, id, "serve: replica disconnected"),
                    Err(e) => tracing::warn!(%peer, id, error = %e, "serve: connection ended"),
                }
            });
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Only during the TLS upgrade.
    Upgrading,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Upgrading => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, b),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, b),
            Stream::Upgrading => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Upgrading => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Upgrading => Poll::Ready(Ok(())),
        }
    }
}

/// One replica's connection: bytes in and out through the packet codec.
struct Conn {
    stream: Stream,
    codec: PacketCodec,
    wbuf: BytesMut,
    peer: String,
}

impl Conn {
    fn io(&self, action: &'static str, source: std::io::Error) -> ServeError {
        ServeError::Io {
            peer: self.peer.clone(),
            action,
            source,
        }
    }

    fn queue(&mut self, payload: &[u8]) {
        self.codec.encode(payload, &mut self.wbuf);
    }

    async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            let r = self.stream.write_all(&self.wbuf).await;
            self.wbuf.clear();
            r.map_err(|e| self.io("writing", e))?;
        }
        self.stream.flush().await.map_err(|e| self.io("writing", e))
    }

    async fn send(&mut self, payloads: &[Vec<u8>]) -> Result<()> {
        for p in payloads {
            self.queue(p);
        }
        self.flush().await
    }

    async fn read(&mut self) -> Result<bytes::Bytes> {
        loop {
            if let Some(p) = self.codec.decode()? {
                return Ok(p);
            }
            let buf = self.codec.read_buf();
            buf.reserve(16 * 1024);
            let n = tokio::time::timeout(READ_TIMEOUT, self.stream.read_buf(buf))
                .await
                .map_err(|_| {
                    self.io(
                        "reading",
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "no packet in time"),
                    )
                })?
                .map_err(|e| self.io("reading", e))?;
            if n == 0 {
                return Err(self.io("reading", std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }
}

impl Conn {
    /// Read exactly one packet from the socket, no byte more: before a TLS upgrade, the bytes
    /// after the SSLRequest are the TLS handshake's and must stay in the socket.
    async fn read_exact_packet(&mut self) -> Result<bytes::Bytes> {
        let mut header = [0u8; 4];
        let r = tokio::time::timeout(READ_TIMEOUT, self.stream.read_exact(&mut header)).await;
        r.map_err(|_| {
            self.io(
                "reading",
                std::io::Error::new(std::io::ErrorKind::TimedOut, "no packet in time"),
            )
        })?
        .map_err(|e| self.io("reading", e))?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        let mut body = vec![0u8; len];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(|e| self.io("reading", e))?;
        self.codec.feed(&header);
        self.codec.feed(&body);
        match self.codec.decode()? {
            Some(p) => Ok(p),
            // A 16 MiB first packet continues; no handshake response is that long.
            None => Err(ServeError::malformed(
                "handshake response",
                "longer than one packet",
            )),
        }
    }
}

/// How long a replica may stay silent before the dump starts.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0e;
const COM_REGISTER_SLAVE: u8 = 0x15;

async fn serve_connection(tcp: TcpStream, peer: &str, id: u32, shared: &Shared) -> Result<()> {
    // What the spool holds now (its GTIDs grow while a capture writes it).
    let cfg = shared.cfg.clone();
    let fresh = tokio::task::spawn_blocking(move || facts_of(&cfg)).await;
    let facts = &match fresh {
        Ok(Ok(f)) => f,
        _ => shared.facts.clone(),
    };
    let greeting = Greeting::new(
        facts.version.clone(),
        id,
        facts.mariadb,
        shared.tls.is_some(),
    );
    let mut conn = Conn {
        stream: Stream::Plain(tcp),
        codec: PacketCodec::new(),
        wbuf: BytesMut::new(),
        peer: peer.to_string(),
    };
    conn.send(&[greeting.encode()]).await?;
    let mut hello = ClientHello::parse(&conn.read_exact_packet().await?)?;
    let mut secure = false;
    if let ClientHello::SslRequest { .. } = hello {
        let Some(acceptor) = shared.tls.clone() else {
            conn.send(&[err_packet(
                1045,
                "08004",
                "gapfill serve has no TLS configured",
            )])
            .await?;
            return Err(ServeError::Tls {
                peer: peer.into(),
                detail: "the replica asked for TLS, none is configured".into(),
            });
        };
        let Stream::Plain(tcp) = std::mem::replace(&mut conn.stream, Stream::Upgrading) else {
            return Err(ServeError::malformed("SSLRequest", "TLS was already on"));
        };
        let tls = tokio::time::timeout(READ_TIMEOUT, acceptor.accept(tcp))
            .await
            .map_err(|_| ServeError::Tls {
                peer: peer.into(),
                detail: format!("no TLS handshake within {READ_TIMEOUT:?}"),
            })?
            .map_err(|e| ServeError::Tls {
                peer: peer.into(),
                detail: e.to_string(),
            })?;
        conn.stream = Stream::Tls(Box::new(tls));
        secure = true;
        hello = ClientHello::parse(&conn.read().await?)?;
    }
    let ClientHello::Response(resp) = hello else {
        return Err(ServeError::malformed(
            "handshake response",
            "a second SSLRequest",
        ));
    };
    let mut auth = ServerAuth::new(
        &shared.cfg.user,
        &shared.cfg.password,
        &greeting,
        secure,
        shared.cfg.full_auth_only,
    );
    let mut action = auth.start(&resp);
    loop {
        match action {
            AuthAction::SendAndRead(p) => {
                conn.send(&p).await?;
                let next = conn.read().await?;
                action = auth.next(&next);
            }
            AuthAction::Accept(p) => {
                conn.send(&p).await?;
                break;
            }
            AuthAction::Refuse(p, why) => {
                conn.send(&[p]).await?;
                return Err(ServeError::AccessDenied {
                    user: resp.user.clone(),
                    detail: why,
                });
            }
        }
    }
    tracing::info!(%peer, id, user = %resp.user, tls = secure, "serve: replica authenticated");
    let deprecate_eof = resp.capabilities & greeting.capabilities & caps::DEPRECATE_EOF != 0;
    let mut vars = SessionVars::default();
    loop {
        conn.codec.reset_seq();
        let cmd = conn.read().await?;
        match cmd.first().copied() {
            Some(COM_QUERY) => {
                let q = String::from_utf8_lossy(&cmd[1..]);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let a = queries::answer(&q, facts, &mut vars, now);
                if let queries::Answer::Err { message, .. } = &a {
                    tracing::warn!(%peer, id, query = %q, %message, "serve: query refused");
                }
                conn.send(&a.encode(deprecate_eof)).await?;
            }
            Some(COM_PING | COM_REGISTER_SLAVE | COM_INIT_DB) => conn.send(&[ok_packet()]).await?,
            Some(COM_QUIT) | None => return Ok(()),
            Some(dump::COM_BINLOG_DUMP | dump::COM_BINLOG_DUMP_GTID) => {
                tracing::debug!(%peer, id, len = cmd.len(), head = ?&cmd[..cmd.len().min(96)], "serve: dump command");
                let req = DumpRequest::parse(&cmd)?;
                return run_dump(conn, &req, &vars, shared, id).await;
            }
            Some(other) => {
                let msg = format!("gapfill serve does not handle command {other:#04x}");
                conn.send(&[err_packet(1047, "08S01", &msg)]).await?;
            }
        }
    }
}

/// Plan on a blocking thread (the spool's indexes and segments are read with std I/O).
/// `seen` is the spool's resume point when the previous plan was made: a follow-up plan
/// (`after` given) is skipped (`None`) while it has not moved, so an idle dump does not read
/// every index once per poll.
async fn plan(
    shared: &Shared,
    req: &DumpRequest,
    vars: &SessionVars,
    after: Option<TargetPosition>,
    cont: Option<(PathBuf, ChecksumAlg)>,
    seen: &mut Option<String>,
) -> Result<Option<DumpPlan>> {
    let last_seen = seen.clone();
    let dir = shared.cfg.spool.clone();
    let req = req.clone();
    let checksum = vars.checksum();
    let state = vars.connect_state().map(str::to_string);
    let server_id = shared.facts.server_id;
    let (plan, now) = tokio::task::spawn_blocking(move || -> Result<_> {
        let spool = Spool::open_read_only(&dir)?;
        let now = spool.resume_point().map(|r| r.to_string());
        let target = match after {
            Some(_) if now == last_seen => return Ok((None, now)),
            Some(t) => t,
            None => dump::target_of(&req, spool.status().mode, state.as_deref())?,
        };
        let plan = DumpPlan::build(
            &spool,
            &target,
            server_id,
            checksum.as_deref(),
            cont.as_ref().map(|(p, a)| (p, *a)),
        )?;
        Ok((Some(plan), now))
    })
    .await
    .map_err(|e| {
        ServeError::CannotServe(format!("gapfill serve: planning the dump failed: {e}"))
    })??;
    *seen = now;
    Ok(plan)
}

/// Queue and send every piece of `plan`.
async fn send_plan(conn: &mut Conn, plan: &DumpPlan) -> Result<()> {
    for piece in &plan.pieces {
        match piece {
            Piece::Event(e) => conn.queue(&event_payload(e)),
            Piece::Span {
                segment,
                start,
                end,
            } => {
                send_span(conn, segment, *start, *end).await?;
            }
        }
        if conn.wbuf.len() > 256 * 1024 {
            conn.flush().await?;
        }
    }
    conn.flush().await
}

/// Send the whole events of `segment` bytes `start..end`, one at a time.
async fn send_span(conn: &mut Conn, segment: &Path, start: u64, end: u64) -> Result<()> {
    let file_err = |source| ServeError::File {
        path: segment.to_path_buf(),
        source,
    };
    let mut f = tokio::fs::File::open(segment).await.map_err(file_err)?;
    f.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(file_err)?;
    let mut f = tokio::io::BufReader::with_capacity(256 * 1024, f);
    let mut at = start;
    while at < end {
        let mut payload = vec![0u8; 1 + HEADER_LEN];
        f.read_exact(&mut payload[1..]).await.map_err(file_err)?;
        let size = u32::from_le_bytes([payload[10], payload[11], payload[12], payload[13]]) as u64;
        if size < HEADER_LEN as u64 || at + size > end {
            return Err(ServeError::CannotServe(format!(
                "gapfill serve: {} holds an event of size {size} at offset {at}, past the \
                 transaction's end {end}",
                segment.display()
            )));
        }
        payload.resize(1 + size as usize, 0);
        f.read_exact(&mut payload[1 + HEADER_LEN..])
            .await
            .map_err(file_err)?;
        conn.queue(&payload);
        if conn.wbuf.len() > 256 * 1024 {
            conn.flush().await?;
        }
        at += size;
    }
    Ok(())
}

/// Refuse or end the dump with an ERR the replica shows (Last_IO_Error).
async fn fail_dump(conn: &mut Conn, e: ServeError) -> Result<()> {
    let _ = conn
        .send(&[err_packet(
            ER_SOURCE_FATAL_READING_BINLOG,
            "HY000",
            &e.to_string(),
        )])
        .await;
    Err(e)
}

async fn run_dump(
    mut conn: Conn,
    req: &DumpRequest,
    vars: &SessionVars,
    shared: &Shared,
    id: u32,
) -> Result<()> {
    let peer = conn.peer.clone();
    match req {
        DumpRequest::MySqlGtid { gtids, .. } => {
            tracing::info!(%peer, id, gtids = %gtids, "serve: dump requested")
        }
        DumpRequest::FilePos { file, pos, .. } => tracing::info!(
            %peer, id, %file, pos, connect_state = vars.connect_state().unwrap_or("(none)"),
            "serve: dump requested"
        ),
    }
    let mut seen = None;
    let first = plan(shared, req, vars, None, None, &mut seen).await;
    let first = first.and_then(|p| {
        p.ok_or_else(|| ServeError::CannotServe("gapfill serve: no plan was made".into()))
    });
    let mut plan_now = match first {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(%peer, id, error = %e, "serve: dump refused");
            return fail_dump(&mut conn, e).await;
        }
    };
    tracing::info!(%peer, id, transactions = plan_now.transactions, "serve: dump started");
    if let Err(e) = send_plan(&mut conn, &plan_now).await {
        return match e {
            ServeError::Io { .. } => Err(e),
            e => fail_dump(&mut conn, e).await,
        };
    }
    if req.non_blocking() {
        return conn.send(&[eof_packet()]).await;
    }
    let heartbeat = vars.heartbeat_period();
    let poll = shared.cfg.poll_interval.max(Duration::from_millis(50));
    let mut last_send = Instant::now();
    let mut last_poll = Instant::now();
    let mut scratch = [0u8; 1024];
    loop {
        let next_poll = last_poll + poll;
        let wake = heartbeat.map_or(next_poll, |h| next_poll.min(last_send + h));
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            r = conn.stream.read(&mut scratch) => match r {
                // The replica stopped (STOP REPLICA closes the connection).
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            },
        }
        let now = Instant::now();
        if now >= next_poll {
            last_poll = now;
            let cont = plan_now.segment.clone().map(|p| (p, plan_now.checksum));
            let after = Some(plan_now.after.clone());
            match plan(shared, req, vars, after, cont, &mut seen).await {
                Ok(None) => {}
                Ok(Some(more)) => {
                    if more.transactions > 0 {
                        if let Err(e) = send_plan(&mut conn, &more).await {
                            return match e {
                                ServeError::Io { .. } => Err(e),
                                e => fail_dump(&mut conn, e).await,
                            };
                        }
                        tracing::info!(%peer, id, transactions = more.transactions, "serve: sent");
                        last_send = now;
                    }
                    plan_now = more;
                }
                Err(e) => return fail_dump(&mut conn, e).await,
            }
        }
        if let Some(h) = heartbeat
            && now >= last_send + h
        {
            let hb = dump::heartbeat(
                shared.facts.server_id,
                &plan_now.file,
                plan_now.pos,
                plan_now.checksum,
            );
            conn.send(&[event_payload(&hb)]).await?;
            last_send = now;
        }
    }
}
