//! `gapfill decode`: binlog events rendered for people (text) and tools (JSON).
//!
//! Owns presentation only: the text form reads like `mysqlbinlog -vv
//! --base64-output=decode-rows` (row lines byte-compatible, so the two can be diffed), the JSON
//! form gives one object per event and per row with typed values. Decoding itself is `binlog`'s.

pub mod decoder;
pub mod driver;
pub mod error;
pub mod float_format;
pub mod json;
pub mod parallel;
pub mod quote;
pub mod row_text;
pub mod text;

pub use driver::{ChunkSizes, DecodeOptions, DecodeStats, Format, decode_files, decode_reader};
pub use error::DecodeError;
