//! The client side of the MySQL/MariaDB wire protocol, as a replica.
//!
//! gapfill connects to each master like a replica's I/O thread: handshake and authentication
//! (caching_sha2_password fast and full via TLS or RSA, mysql_native_password, auth switch),
//! a few text queries to set the session up (checksum and heartbeat negotiation, MariaDB GTID
//! start, semi-sync), COM_REGISTER_SLAVE, then COM_BINLOG_DUMP or COM_BINLOG_DUMP_GTID, and it
//! hands every event out as raw bytes, acknowledging semi-sync events when told to.
//!
//! Layout: a sans-IO core of pure functions and state machines over bytes ([`packet`],
//! [`handshake`], [`auth`], [`result`], [`commands`], [`semisync`], [`stream`]), tested without
//! sockets, and a thin tokio edge ([`tls`], [`connection`], [`session`]) that moves bytes
//! between those and a TCP or TLS stream. [`backoff`] is the reconnect delay helper.
//!
//! This module does not know about spools or SQL apply, and does not decode events beyond
//! the header fields it needs to follow the master's coordinates (that is `binlog`'s job).
//! It never logs passwords.

pub mod auth;
pub mod backoff;
pub mod commands;
pub mod connection;
pub mod error;
pub mod handshake;
pub mod packet;
pub mod result;
pub mod semisync;
pub mod session;
pub mod stream;
pub mod tls;
pub(crate) mod wire;

pub use auth::Password;
pub use backoff::Backoff;
pub use connection::{ConnectOptions, Connection};
pub use error::{ProtocolError, Result};
pub use packet::PacketCodec;
pub use result::{QueryResponse, TextResultSet};
pub use session::{ReplicaOptions, ReplicaSession, ServerFacts, StartPosition};
pub use stream::{DumpPacket, EventPacket, PositionTracker};
pub use tls::{TlsMode, TlsOptions};
