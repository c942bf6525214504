//! The tokio edge: one TCP (optionally TLS) connection to a server, authenticated, with text
//! query helpers.
//!
//! [`Connection::connect`] runs the connection phase (handshake, optional TLS upgrade,
//! authentication with the sans-IO [`Authenticator`](super::auth::Authenticator)); afterwards
//! the connection sends commands and reads payloads through the sans-IO
//! [`PacketCodec`](super::packet::PacketCodec). Replica-specific setup and the binlog stream
//! are in `session`. Passwords are never logged.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::auth::{AuthParams, AuthStep, Authenticator, Password};
use super::commands::{com_ping, com_query, com_quit};
use super::error::{ProtocolError, Result};
use super::handshake::{
    CHARSET_UTF8MB4_GENERAL_CI, Handshake, HandshakeResponse, caps, encode_ssl_request,
    negotiate_capabilities,
};
use super::packet::{DEFAULT_MAX_PAYLOAD, PacketCodec};
use super::result::{OkPacket, QueryResponse, QueryResponseParser, TextResultSet};
use super::tls::{TlsOptions, client_config, server_name};

/// `max_packet` announced in HandshakeResponse41 (1 GiB, MySQL's largest).
const CLIENT_MAX_PACKET: u32 = 1 << 30;

/// How to reach and log in to a server.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `host:port`.
    pub addr: String,
    pub user: String,
    pub password: Password,
    /// Default schema, if any.
    pub database: Option<String>,
    pub tls: TlsOptions,
    /// The server's RSA public key (PEM) for caching_sha2 full authentication without TLS.
    pub server_public_key: Option<Vec<u8>>,
    /// Ask the server for its RSA public key when needed over plain TCP (open to a
    /// man-in-the-middle; prefer TLS or a configured key).
    pub allow_public_key_retrieval: bool,
    pub connect_timeout: Duration,
    /// Limit for each read during the handshake and queries (not the binlog stream).
    pub io_timeout: Duration,
    /// Largest logical payload accepted.
    pub max_payload: usize,
}

impl ConnectOptions {
    /// Defaults: TLS preferred, 10 s connect timeout, 60 s I/O timeout, 1 GiB payloads.
    pub fn new(addr: impl Into<String>, user: impl Into<String>, password: Password) -> Self {
        ConnectOptions {
            addr: addr.into(),
            user: user.into(),
            password,
            database: None,
            tls: TlsOptions::default(),
            server_public_key: None,
            allow_public_key_retrieval: false,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(60),
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only during the TLS upgrade.
    Upgrading,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Upgrading => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, b),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, b),
            Stream::Upgrading => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Upgrading => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Upgrading => Poll::Ready(Ok(())),
        }
    }
}

/// An authenticated connection.
pub struct Connection {
    stream: Stream,
    codec: PacketCodec,
    wbuf: BytesMut,
    handshake: Handshake,
    capabilities: u32,
    addr: String,
    io_timeout: Duration,
    server_public_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .field("server_version", &self.handshake.server_version)
            .field("connection_id", &self.handshake.connection_id)
            .field("tls", &self.is_tls())
            .finish()
    }
}

impl Connection {
    /// Connect, optionally upgrade to TLS, and authenticate.
    pub async fn connect(opts: &ConnectOptions) -> Result<Connection> {
        let addr = opts.addr.clone();
        let tcp = tokio::time::timeout(opts.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| ProtocolError::ConnectTimeout {
                addr: addr.clone(),
                timeout: opts.connect_timeout,
            })?
            .map_err(|source| ProtocolError::Io {
                addr: addr.clone(),
                action: "connecting",
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let mut conn = Connection {
            stream: Stream::Plain(tcp),
            codec: PacketCodec::with_max_payload(opts.max_payload),
            wbuf: BytesMut::with_capacity(4096),
            handshake: Handshake::default(),
            capabilities: 0,
            addr,
            io_timeout: opts.io_timeout,
            server_public_key: opts.server_public_key.clone(),
        };
        conn.handshake_and_auth(opts).await?;
        Ok(conn)
    }

    async fn handshake_and_auth(&mut self, opts: &ConnectOptions) -> Result<()> {
        let first = self.read_payload().await?;
        let hs = Handshake::parse(&first)?;
        tracing::debug!(
            addr = %self.addr,
            version = %hs.server_version,
            connection_id = hs.connection_id,
            plugin = %hs.auth_plugin_name,
            "server handshake"
        );
        let tls = if opts.tls.wanted() && hs.supports(caps::SSL) {
            true
        } else if opts.tls.required() {
            return Err(ProtocolError::TlsUnsupported {
                addr: self.addr.clone(),
            });
        } else {
            false
        };
        let capabilities = negotiate_capabilities(&hs, tls, opts.database.is_some())?;
        self.capabilities = capabilities;
        if tls {
            let req =
                encode_ssl_request(capabilities, CLIENT_MAX_PACKET, CHARSET_UTF8MB4_GENERAL_CI);
            self.send(&req).await?;
            self.upgrade_tls(&opts.tls).await?;
        }
        let mut auth = Authenticator::new(
            &hs.auth_plugin_name,
            &hs.auth_plugin_data,
            &AuthParams {
                user: &opts.user,
                addr: &self.addr,
                password: &opts.password,
                tls,
                secure_channel: tls && (opts.tls.verifies() || opts.tls.allow_unverified),
                server_public_key: self.server_public_key.as_deref(),
                allow_public_key_retrieval: opts.allow_public_key_retrieval,
            },
        );
        let auth_response = auth.initial_response()?;
        let version = env!("CARGO_PKG_VERSION");
        let attrs = [
            ("_client_name", "gapfill"),
            ("_client_version", version),
            ("program_name", "gapfill"),
        ];
        let resp = HandshakeResponse {
            capabilities,
            max_packet: CLIENT_MAX_PACKET,
            charset: CHARSET_UTF8MB4_GENERAL_CI,
            user: &opts.user,
            auth_response: &auth_response,
            database: opts.database.as_deref(),
            auth_plugin: auth.plugin(),
            connect_attrs: &attrs,
        }
        .encode()?;
        self.send(&resp).await?;
        loop {
            let p = self.read_payload().await?;
            match auth.handle(&p)? {
                AuthStep::Done => break,
                AuthStep::Send(data) => self.send(&data).await?,
                AuthStep::Read => {}
            }
        }
        if let Some(key) = auth.server_public_key() {
            self.server_public_key = Some(key.to_vec());
        }
        tracing::debug!(
            addr = %self.addr,
            user = %opts.user,
            version = %hs.server_version,
            tls,
            plugin = %auth.plugin(),
            "connected"
        );
        self.handshake = hs;
        Ok(())
    }

    async fn upgrade_tls(&mut self, opts: &TlsOptions) -> Result<()> {
        let config = client_config(opts)?;
        let name = server_name(opts, &self.addr)?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Upgrading) else {
            return Err(ProtocolError::Tls {
                what: "upgrade",
                detail: "connection is not plain TCP".into(),
            });
        };
        let tls = tokio::time::timeout(
            self.io_timeout,
            TlsConnector::from(config).connect(name, tcp),
        )
        .await
        .map_err(|_| ProtocolError::Tls {
            what: "handshake",
            detail: format!("timed out after {:?}", self.io_timeout),
        })?
        .map_err(|e| ProtocolError::Tls {
            what: "handshake",
            detail: format!("with {}: {e}", self.addr),
        })?;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// The server's handshake (version, connection id, capabilities).
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub fn is_mariadb(&self) -> bool {
        self.handshake.is_mariadb()
    }

    /// The negotiated capability flags.
    pub fn capabilities(&self) -> u32 {
        self.capabilities
    }

    /// The server's RSA public key if configured or learned during authentication.
    pub fn server_public_key(&self) -> Option<&[u8]> {
        self.server_public_key.as_deref()
    }

    /// The packet codec (for out-of-band packets such as the semi-sync ACK).
    pub fn codec_mut(&mut self) -> &mut PacketCodec {
        &mut self.codec
    }

    fn io_err(&self, action: &'static str, source: io::Error) -> ProtocolError {
        ProtocolError::Io {
            addr: self.addr.clone(),
            action,
            source,
        }
    }

    /// Send `payload` as the next packet(s) of the current exchange.
    pub async fn send(&mut self, payload: &[u8]) -> Result<()> {
        self.wbuf.clear();
        self.codec.encode(payload, &mut self.wbuf);
        self.flush_wbuf().await
    }

    /// Send `payload` as a new command (sequence id 0).
    pub async fn send_command(&mut self, payload: &[u8]) -> Result<()> {
        self.wbuf.clear();
        self.codec.encode_command(payload, &mut self.wbuf);
        self.flush_wbuf().await
    }

    async fn flush_wbuf(&mut self) -> Result<()> {
        if let Err(e) = self.stream.write_all(&self.wbuf).await {
            return Err(self.io_err("writing", e));
        }
        if let Err(e) = self.stream.flush().await {
            return Err(self.io_err("writing", e));
        }
        Ok(())
    }

    /// Whether the next packet is already read (no wait for the network).
    pub fn has_buffered_packet(&self) -> bool {
        self.codec.has_whole_packet()
    }

    /// Read the next whole packet, waiting at most the I/O timeout.
    pub async fn read_payload(&mut self) -> Result<Bytes> {
        let limit = self.io_timeout;
        match self.read_payload_within(Some(limit)).await? {
            Some(p) => Ok(p),
            None => Err(self.io_err(
                "reading",
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {limit:?}"),
                ),
            )),
        }
    }

    /// Read the next whole payload; `Ok(None)` when `limit` passes first (`None`: no limit).
    /// Cancel-safe: bytes already read stay buffered for the next call.
    pub async fn read_payload_within(&mut self, limit: Option<Duration>) -> Result<Option<Bytes>> {
        let deadline = limit.map(|d| tokio::time::Instant::now() + d);
        loop {
            if let Some(p) = self.codec.decode()? {
                return Ok(Some(p));
            }
            let buf = self.codec.read_buf();
            if buf.capacity() - buf.len() < 16 * 1024 {
                buf.reserve(64 * 1024);
            }
            let read = self.stream.read_buf(buf);
            let n = match deadline {
                Some(d) => match tokio::time::timeout_at(d, read).await {
                    Ok(r) => r,
                    Err(_) => return Ok(None),
                },
                None => read.await,
            };
            match n {
                Ok(0) => {
                    return Err(ProtocolError::ConnectionClosed {
                        addr: self.addr.clone(),
                        context: if self.codec.has_partial() {
                            "in the middle of a packet"
                        } else {
                            "between packets"
                        },
                    });
                }
                Ok(_) => {}
                Err(e) => return Err(self.io_err("reading", e)),
            }
        }
    }

    /// Run one text query and return its whole response. Further results of a multi-result
    /// response are read and dropped.
    pub async fn query(&mut self, sql: &str) -> Result<QueryResponse> {
        tracing::trace!(addr = %self.addr, sql, "query");
        self.send_command(&com_query(sql)).await?;
        let deprecate_eof = self.capabilities & caps::DEPRECATE_EOF != 0;
        let first = self.read_query_response(deprecate_eof).await?;
        let mut more = first.more_results();
        while more {
            more = self
                .read_query_response(deprecate_eof)
                .await?
                .more_results();
        }
        Ok(first)
    }

    async fn read_query_response(&mut self, deprecate_eof: bool) -> Result<QueryResponse> {
        let mut parser = QueryResponseParser::new(deprecate_eof);
        loop {
            let p = self.read_payload().await?;
            if let Some(r) = parser.feed(&p)? {
                return Ok(r);
            }
        }
    }

    /// Run a statement that returns no rows (SET, CREATE, INSERT, ...).
    pub async fn execute(&mut self, sql: &str) -> Result<OkPacket> {
        match self.query(sql).await? {
            QueryResponse::Ok(ok) => Ok(ok),
            QueryResponse::ResultSet(_) => Err(ProtocolError::Query {
                query: sql.to_string(),
                detail: "returned rows where none were expected".into(),
            }),
        }
    }

    /// Run a query that returns rows.
    pub async fn query_rows(&mut self, sql: &str) -> Result<TextResultSet> {
        match self.query(sql).await? {
            QueryResponse::ResultSet(rs) => Ok(rs),
            QueryResponse::Ok(_) => Err(ProtocolError::Query {
                query: sql.to_string(),
                detail: "returned no result set".into(),
            }),
        }
    }

    /// The first column of the single row `sql` returns; `None` for SQL NULL. No row is an
    /// error.
    pub async fn query_one_value(&mut self, sql: &str) -> Result<Option<Vec<u8>>> {
        let mut rs = self.query_rows(sql).await?;
        if rs.rows.is_empty() || rs.rows[0].is_empty() {
            return Err(ProtocolError::Query {
                query: sql.to_string(),
                detail: "returned no row".into(),
            });
        }
        Ok(rs.rows.swap_remove(0).swap_remove(0))
    }

    /// [`query_one_value`](Self::query_one_value) as (lossy UTF-8) text.
    pub async fn query_one_string(&mut self, sql: &str) -> Result<Option<String>> {
        Ok(self
            .query_one_value(sql)
            .await?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// COM_PING.
    pub async fn ping(&mut self) -> Result<()> {
        self.send_command(&com_ping()).await?;
        let p = self.read_payload().await?;
        match p.first() {
            Some(0x00) => Ok(()),
            Some(0xff) => Err(super::result::ErrPacket::parse(&p)?.into_error()),
            _ => Err(ProtocolError::Unexpected {
                context: "in answer to COM_PING",
                first: p.first().copied().unwrap_or(0),
                len: p.len(),
            }),
        }
    }

    /// COM_QUIT and close the socket (errors ignored: the connection is going away).
    pub async fn close(mut self) {
        let _ = self.send_command(&com_quit()).await;
        let _ = self.stream.shutdown().await;
    }

    /// Close the socket without COM_QUIT: for a binlog dump, where the server reads nothing
    /// but semi-sync ACKs and would log any other packet as a bad ACK.
    pub async fn shutdown(mut self) {
        let _ = self.stream.shutdown().await;
    }
}
