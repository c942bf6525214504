//! TRANSACTION_PAYLOAD_EVENT (MySQL 8.0.20+ `binlog_transaction_compression`).
//!
//! Owns the payload header (a list of type-length-value fields) and zstd expansion. The expanded
//! bytes are a sequence of ordinary events without checksums; the event stream reads them as if
//! they had been in the file.

use super::cursor::Cursor;
use super::error::{BinlogError, Result};

/// Refuse to expand beyond this, whatever the header claims (the server's limit is 1 GiB).
const MAX_UNCOMPRESSED: u64 = 1 << 31;
/// Most memory reserved up front on the strength of the header's size alone.
const PREALLOC_LIMIT: usize = 16 << 20;

/// How the payload is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadCompression {
    Zstd,
    None,
}

/// A parsed TRANSACTION_PAYLOAD body.
#[derive(Debug, Clone)]
pub struct TransactionPayload<'a> {
    pub compression: PayloadCompression,
    pub uncompressed_size: u64,
    pub payload: &'a [u8],
}

mod field {
    pub const END_MARK: u64 = 0;
    pub const PAYLOAD_SIZE: u64 = 1;
    pub const COMPRESSION_TYPE: u64 = 2;
    pub const UNCOMPRESSED_SIZE: u64 = 3;
}

impl<'a> TransactionPayload<'a> {
    pub fn parse(body: &'a [u8]) -> Result<TransactionPayload<'a>> {
        const W: &str = "transaction payload header";
        let mut c = Cursor::new(body);
        let mut size = None;
        let mut compression = None;
        let mut uncompressed_size = 0;
        loop {
            let t = c.lenenc_int(W)?;
            if t == field::END_MARK {
                break;
            }
            let len = c.lenenc_int(W)? as usize;
            let value = c.bytes(len, W)?;
            let v = Cursor::new(value).lenenc_int(W);
            match t {
                field::PAYLOAD_SIZE => size = Some(v?),
                field::COMPRESSION_TYPE => {
                    compression = Some(match v? {
                        0 => PayloadCompression::Zstd,
                        255 => PayloadCompression::None,
                        other => {
                            return Err(BinlogError::unsupported(
                                "transaction payload compression",
                                format!("type {other}"),
                            ));
                        }
                    })
                }
                field::UNCOMPRESSED_SIZE => uncompressed_size = v?,
                _ => {} // a newer field: its length lets us skip it
            }
        }
        let payload = c.take_rest();
        if let Some(s) = size
            && s != payload.len() as u64
        {
            return Err(BinlogError::invalid(
                "transaction payload",
                format!("header says {s} bytes, event holds {}", payload.len()),
            ));
        }
        Ok(TransactionPayload {
            compression: compression.unwrap_or(PayloadCompression::None),
            uncompressed_size,
            payload,
        })
    }

    /// Expand the payload into `out` (cleared first), reusing its allocation.
    pub fn expand_into(&self, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        match self.compression {
            PayloadCompression::None => out.extend_from_slice(self.payload),
            PayloadCompression::Zstd => {
                if self.uncompressed_size > MAX_UNCOMPRESSED {
                    return Err(BinlogError::invalid(
                        "transaction payload",
                        format!("uncompressed size {} too large", self.uncompressed_size),
                    ));
                }
                // The header's size is only a claim until the frame backs it: reserve what
                // it can plausibly hold and let the vector grow past that.
                out.reserve((self.uncompressed_size as usize).min(PREALLOC_LIMIT));
                let mut d =
                    zstd::stream::read::Decoder::with_buffer(self.payload).map_err(|e| {
                        BinlogError::Decompress {
                            what: "transaction payload",
                            detail: e.to_string(),
                        }
                    })?;
                use std::io::Read;
                // Expand no further than one byte past the size the header claims (enough to
                // tell it was wrong), so a small frame cannot balloon to MAX_UNCOMPRESSED.
                let limit = match self.uncompressed_size {
                    0 => MAX_UNCOMPRESSED,
                    n => n + 1,
                };
                (&mut d)
                    .take(limit)
                    .read_to_end(out)
                    .map_err(|e| BinlogError::Decompress {
                        what: "transaction payload",
                        detail: e.to_string(),
                    })?;
            }
        }
        if self.uncompressed_size != 0 && out.len() as u64 != self.uncompressed_size {
            return Err(BinlogError::Decompress {
                what: "transaction payload",
                detail: format!(
                    "expanded to {} bytes, header says {}",
                    out.len(),
                    self.uncompressed_size
                ),
            });
        }
        Ok(())
    }
}
