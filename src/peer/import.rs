//! Receiving a peer's stream into a file, verified.
//!
//! Owns the checks that make a peer's bytes as trustworthy as the local spool's: the length
//! the promise named, every event's checksum, only complete transactions, and exactly the
//! promised GTIDs. The stream lands in a temporary file renamed into place only once it
//! passed, so a half-received or lying stream never reaches the apply engine.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::apply::{ReadOptions, TransactionReader, TxnGtid};
use crate::binlog::gtid_set::GtidSet;

use super::error::PeerError;
use super::export::Promise;

/// A verified stream on disk.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: PathBuf,
    pub transactions: u64,
    pub bytes: u64,
}

/// Copy `body` into `dest` and verify it against `promise`. `peer` names the source in
/// errors.
pub fn receive(
    peer: &str,
    promise: &Promise,
    body: &mut dyn Read,
    dest: &Path,
) -> Result<Received, PeerError> {
    let part = part_path(dest);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PeerError::Io { path, source }
    };
    let mut f = std::fs::File::create(&part).map_err(io(&part))?;
    // Never more than promised: a peer streaming forever cannot fill the disk.
    let copied = std::io::copy(&mut body.take(promise.bytes + 1), &mut f)
        .and_then(|_| f.flush())
        .map_err(io(&part));
    drop(f);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    accept(peer, promise, &part, dest)
}

/// Where a stream for `dest` is written while it arrives.
pub fn part_path(dest: &Path) -> PathBuf {
    dest.with_extension("part")
}

/// Verify a stream received into `part` (see [`part_path`]) and move it to `dest`; on any
/// failure `part` is removed.
pub fn accept(
    peer: &str,
    promise: &Promise,
    part: &Path,
    dest: &Path,
) -> Result<Received, PeerError> {
    let result = (|| {
        let got = std::fs::metadata(part)
            .map_err(|source| PeerError::Io {
                path: part.to_path_buf(),
                source,
            })?
            .len();
        if got != promise.bytes {
            return Err(PeerError::Mismatch {
                peer: peer.to_string(),
                detail: format!("{got} bytes received, {} promised", promise.bytes),
            });
        }
        let n = verify(peer, promise, part)?;
        std::fs::rename(part, dest).map_err(|source| PeerError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        Ok(Received {
            path: dest.to_path_buf(),
            transactions: n,
            bytes: got,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(part);
    }
    result
}

/// Read the file back as transactions (checksums verified) and compare with the promise.
fn verify(peer: &str, promise: &Promise, path: &Path) -> Result<u64, PeerError> {
    let invalid = |source| PeerError::Invalid {
        peer: peer.to_string(),
        source: Box::new(source),
    };
    let mismatch = |detail: String| PeerError::Mismatch {
        peer: peer.to_string(),
        detail,
    };
    let mut reader = TransactionReader::new(vec![path.to_path_buf()], ReadOptions::default())
        .map_err(invalid)?;
    let mut n = 0u64;
    let mut mysql = GtidSet::new();
    let mut mariadb = Vec::new();
    while let Some(t) = reader.next_transaction().map_err(invalid)? {
        n += 1;
        match &t.gtid {
            TxnGtid::MySql(g) => {
                let _ = mysql.add(g);
            }
            TxnGtid::MariaDb(g) => mariadb.push(g.to_string()),
            TxnGtid::None => return Err(mismatch("a transaction without a GTID".into())),
        }
    }
    if let Some(i) = reader.incomplete.first() {
        return Err(mismatch(format!("an incomplete transaction: {i:?}")));
    }
    if n != promise.transactions {
        return Err(mismatch(format!(
            "{n} transactions, {} promised",
            promise.transactions
        )));
    }
    let gtids = if mariadb.is_empty() {
        mysql.to_string()
    } else {
        mariadb.join(",")
    };
    if gtids != promise.gtids {
        return Err(mismatch(format!(
            "GTIDs {gtids:?}, {:?} promised",
            promise.gtids
        )));
    }
    Ok(n)
}
