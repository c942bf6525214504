//! The source side of the MySQL/MariaDB replication protocol, over a spool.
//!
//! A real MySQL or MariaDB replica connects to gapfill as to its source and replicates the
//! transactions a spool holds: the server handshake and authentication (TLS with rustls;
//! caching_sha2_password fast path and full authentication over TLS, mysql_native_password),
//! the text queries a replica's I/O thread sends on connect, COM_REGISTER_SLAVE, and the
//! binlog dump by GTID of both flavors (COM_BINLOG_DUMP_GTID; COM_BINLOG_DUMP with MariaDB's
//! `@slave_connect_state`), then heartbeats while idle, keeping the connection open.
//!
//! Layout: a sans-IO core of pure functions and state machines over bytes ([`wire`],
//! [`greeting`], [`queries`], [`dump`]), tested without sockets, and a thin tokio edge
//! ([`server`]) that moves bytes between those, the spool's files and a TCP or TLS stream.
//! Packets are framed by `protocol::packet`; scrambles are computed by `protocol::auth`.
//!
//! The served flavor is the spool's (`mysql gtid` or `mariadb gtid`); a spool captured by
//! position cannot be served. Transactions go out byte for byte as the spool holds them,
//! after the spool proves it holds every one after the replica's position; otherwise the
//! replica gets error 1236. This module does not decide what a failover's gap is (fill does),
//! writes nothing to the spool, and never logs the password.

pub mod dump;
pub mod error;
pub mod greeting;
pub mod queries;
pub mod server;
pub mod wire;

pub use error::{Result, ServeError};
pub use server::{ServeConfig, Server, TlsFiles, read_password_file};
