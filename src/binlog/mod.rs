//! The binlog format, sans-IO: bytes in, typed values out.
//!
//! This module owns everything about reading and writing MySQL 5.6-9.x and MariaDB 10.x-11.x
//! binary logs: the file magic, the v4 event header, FORMAT_DESCRIPTION, every event type,
//! TABLE_MAP with its optional metadata compiled into a [`row_decoder::RowDecoder`], rows
//! events into [`value::Value`]s, GTID sets of both flavors, CRC32, and transaction payload and
//! MariaDB compression. It does no I/O except in `file_reader` and `file_writer`, and it never
//! panics on any input: every malformed byte sequence is a [`error::BinlogError`].
//!
//! It does not know about sockets (see `protocol`), durable storage (`spool`) or SQL (`apply`).

pub mod bitmap;
pub mod checksum;
pub mod column_compression;
pub mod column_type;
pub mod control;
pub mod cursor;
pub mod decimal;
pub mod error;
pub mod event;
pub mod event_type;
pub mod file_reader;
pub mod file_writer;
pub mod format;
pub mod framer;
pub mod gtid_event;
pub mod gtid_set;
pub mod header;
pub mod json_binary;
pub mod json_diff;
pub mod json_walk;
pub mod mariadb_compressed;
pub mod mariadb_executed;
pub mod mariadb_gtid;
pub mod payload;
pub mod query;
pub mod row_decoder;
pub mod rows_event;
pub mod stream;
pub mod table_map;
pub mod temporal;
pub mod value;

pub use error::{BinlogError, Result};
pub use event::{Event, EventBody};
pub use event_type::{EventType, RowsKind};
pub use format::{Flavor, FormatDescription};
pub use header::EventHeader;
pub use value::{OwnedRow, OwnedValue, Value};

/// The four bytes every binlog and relay log file starts with.
pub const BINLOG_MAGIC: [u8; 4] = [0xfe, b'b', b'i', b'n'];
