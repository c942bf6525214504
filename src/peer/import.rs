//! Receiving a peer's stream into a file, verified.
//!
//! Owns the checks that make a peer's bytes as trustworthy as the local spool's: the length
//! the promise named, every event's checksum, only complete transactions, and exactly the
//! promised GTIDs. The stream lands in a temporary file renamed into place only once it
//! passed, so a half-received or lying stream never reaches the apply engine. Then
//! [`check_overlap`]: every transaction the stream and this node's spool both hold must be the
//! same bytes (the same master's binlog), and a stream asked to start with this node's last
//! transaction ([`Anchor`]) must, which proves it continues this spool.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::apply::{ReadOptions, TransactionReader, TxnGtid};
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_gtid::MariadbGtidPos;
use crate::spool::{ResumePoint, Spool};

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
    let mismatch = |detail: String| PeerError::Mismatch {
        peer: peer.to_string(),
        detail,
    };
    let held = read_stream(peer, path)?;
    if held.anonymous {
        return Err(mismatch("a transaction without a GTID".into()));
    }
    if let Some(i) = held.incomplete {
        return Err(mismatch(format!("an incomplete transaction: {i}")));
    }
    if held.transactions != promise.transactions {
        return Err(mismatch(format!(
            "{} transactions, {} promised",
            held.transactions, promise.transactions
        )));
    }
    if held.gtids != promise.gtids {
        return Err(mismatch(format!(
            "GTIDs {:?}, {:?} promised",
            held.gtids, promise.gtids
        )));
    }
    Ok(held.transactions)
}

/// What a stream file holds, read back with its checksums verified.
struct Held {
    transactions: u64,
    /// As a promise writes them: a MySQL GTID set, or MariaDB GTIDs comma-separated.
    gtids: String,
    /// A transaction without a GTID.
    anonymous: bool,
    /// The first transaction the file ends inside of.
    incomplete: Option<String>,
}

fn read_stream(peer: &str, path: &Path) -> Result<Held, PeerError> {
    let invalid = |source| PeerError::Invalid {
        peer: peer.to_string(),
        source: Box::new(source),
    };
    let mut reader = TransactionReader::new(vec![path.to_path_buf()], ReadOptions::default())
        .map_err(invalid)?;
    let (mut n, mut anonymous, mut mysql, mut mariadb) = (0u64, false, GtidSet::new(), Vec::new());
    while let Some(t) = reader.next_transaction().map_err(invalid)? {
        n += 1;
        match &t.gtid {
            TxnGtid::MySql(g) => {
                let _ = mysql.add(g);
            }
            TxnGtid::MariaDb(g) => mariadb.push(g.to_string()),
            TxnGtid::None => anonymous = true,
        }
    }
    Ok(Held {
        transactions: n,
        gtids: if mariadb.is_empty() {
            mysql.to_string()
        } else {
            mariadb.join(",")
        },
        anonymous,
        incomplete: reader.incomplete.first().map(|i| format!("{i:?}")),
    })
}

/// This node's last transaction, which a stream asked for with [`Anchor::after`] must start
/// with, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// Its GTID, as text.
    pub gtid: String,
    /// The position just before it: the spool's executed set without it.
    pub after: String,
}

impl Anchor {
    /// The anchor of `spool`: its last transaction with a GTID (`None`: nothing held, or no
    /// GTIDs).
    pub fn of(spool: &Spool) -> Option<Anchor> {
        // The spool's status knows its last transaction: no walk of the index.
        let gtid = spool.status().last?.gtid?;
        let after = match (spool.resume_point()?, &gtid) {
            (ResumePoint::MySqlGtids(set), crate::spool::TxnGtid::MySql(g)) => {
                let mut one = GtidSet::new();
                one.add(g).ok()?;
                set.subtract(&one).to_string()
            }
            (ResumePoint::MariaDbGtids(pos), crate::spool::TxnGtid::MariaDb(g)) => {
                let mut before = MariadbGtidPos::new();
                for p in pos.iter() {
                    if p.domain == g.domain {
                        if g.seq > 1 {
                            before.set(crate::binlog::mariadb_gtid::MariadbGtid {
                                seq: g.seq - 1,
                                ..*p
                            });
                        }
                    } else {
                        before.set(*p);
                    }
                }
                before.to_string()
            }
            _ => return None,
        };
        Some(Anchor {
            gtid: gtid.to_string(),
            after,
        })
    }
}

/// What [`check_overlap`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overlap {
    /// Transactions both hold, byte for byte equal.
    pub same: u64,
    /// Of those, removed from the stream (`strip`): applied from this node's spool instead.
    pub stripped: u64,
}

/// Compare the received stream at `path` with `local` wherever both hold a transaction (by
/// GTID): the bytes must be equal. With `anchor`, the stream's first transaction must be the
/// anchor. With `strip`, the transactions both hold are cut from the file and `promise` is
/// made to describe what is left. On any disagreement the file is removed.
pub fn check_overlap(
    peer: &str,
    promise: &mut Promise,
    path: &Path,
    local: &Spool,
    anchor: Option<&Anchor>,
    strip: bool,
) -> Result<Overlap, PeerError> {
    let r = overlap_inner(peer, promise, path, local, anchor, strip);
    if r.is_err() {
        let _ = std::fs::remove_file(path);
    }
    r
}

fn overlap_inner(
    peer: &str,
    promise: &mut Promise,
    path: &Path,
    local: &Spool,
    anchor: Option<&Anchor>,
    strip: bool,
) -> Result<Overlap, PeerError> {
    let diverges = |detail: String| PeerError::Diverges {
        peer: peer.to_string(),
        detail,
    };
    let invalid = |source| PeerError::Invalid {
        peer: peer.to_string(),
        source: Box::new(source),
    };
    let io = |source| PeerError::Io {
        path: path.to_path_buf(),
        source,
    };
    // The stream's transactions: GTID and byte range.
    let mut reader = TransactionReader::new(vec![path.to_path_buf()], ReadOptions::default())
        .map_err(invalid)?;
    let mut theirs: Vec<(String, u64, u64)> = Vec::new();
    while let Some(t) = reader.next_transaction().map_err(invalid)? {
        theirs.push((t.gtid.to_string(), t.pos.start, t.pos.end));
    }
    if let Some(a) = anchor {
        match theirs.first() {
            Some((g, _, _)) if *g == a.gtid => {}
            first => {
                return Err(diverges(format!(
                    "asked for the transactions after {}, it starts with {} instead of this \
                     node's last transaction {}",
                    a.after,
                    first.map_or("nothing", |f| f.0.as_str()),
                    a.gtid
                )));
            }
        }
    }
    let wanted: std::collections::HashMap<&str, usize> = theirs
        .iter()
        .enumerate()
        .map(|(i, t)| (t.0.as_str(), i))
        .collect();
    // The same transactions in this node's spool.
    let mut mine: Vec<Option<(std::path::PathBuf, u64, u64)>> = vec![None; theirs.len()];
    for rec in local.transactions() {
        let rec = rec?;
        if let Some(g) = &rec.gtid
            && let Some(&i) = wanted.get(g.to_string().as_str())
        {
            mine[i] = Some((rec.segment.clone(), rec.local_start, rec.local_end));
        }
    }
    if anchor.is_some() && mine.first().is_none_or(Option::is_none) {
        return Err(diverges(
            "this node no longer holds the anchor transaction".into(),
        ));
    }
    let mut out = Overlap::default();
    let mut cuts: Vec<(u64, u64)> = Vec::new();
    for (i, (g, start, end)) in theirs.iter().enumerate() {
        let Some((seg, ls, le)) = &mine[i] else {
            continue;
        };
        let held = read_range(seg, *ls, *le).map_err(|source| PeerError::Io {
            path: seg.clone(),
            source,
        })?;
        let got = read_range(path, *start, *end).map_err(io)?;
        if got != held {
            return Err(diverges(format!(
                "transaction {g} differs from the one this node holds ({} bytes there, {} here)",
                got.len(),
                held.len()
            )));
        }
        out.same += 1;
        if strip {
            cuts.push((*start, *end));
        }
    }
    if strip && !cuts.is_empty() {
        // Cut the transactions both hold (applied from this node's spool), streaming the rest
        // into a new file that replaces the stream.
        let cut_path = path.with_extension("cut");
        let copied =
            copy_without(path, &cuts, &cut_path).and_then(|_| std::fs::rename(&cut_path, path));
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&cut_path);
            return Err(io(e));
        }
        out.stripped = cuts.len() as u64;
        let held = read_stream(peer, path)?;
        promise.transactions = held.transactions;
        promise.gtids = held.gtids;
        promise.bytes = std::fs::metadata(path).map_err(io)?.len();
    }
    Ok(out)
}

/// Copy `from` to `to` leaving out the byte ranges `cuts` (in order, not overlapping).
fn copy_without(from: &Path, cuts: &[(u64, u64)], to: &Path) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut src = std::fs::File::open(from)?;
    let mut dst = std::io::BufWriter::new(std::fs::File::create(to)?);
    let mut at = 0u64;
    for &(s, e) in cuts {
        std::io::copy(&mut (&mut src).take(s - at), &mut dst)?;
        src.seek(SeekFrom::Start(e))?;
        at = e;
    }
    std::io::copy(&mut src, &mut dst)?;
    dst.flush()
}

fn read_range(path: &Path, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(start))?;
    let mut buf = vec![0u8; end.saturating_sub(start) as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}
