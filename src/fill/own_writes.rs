//! The serve path's conflict check: the successor's own writes against the gap, row by row.
//!
//! Owns deciding whether writes the successor accepted after its promotion (its own GTIDs,
//! see `Successor::own_writes`) touch a row the gap touches, before anything is applied:
//! their transactions are read from the successor's binlog as a replica reads them (a
//! non-blocking dump: MySQL by GTID, everything but its own writes given as already held;
//! MariaDB from its `gtid_slave_pos`, where its replication of the dead master stopped), both
//! sides are walked on the successor's table shapes without sending anything
//! (`apply::survey_rows`), and their keys intersected (`Touched::overlap`: table + primary
//! key, or the whole row without one; a statement naming a table the other side changed is an
//! overlap too). The SQL path needs none of this: it compares every row it changes.
//!
//! It does not apply anything, choose the path (`via_serve`), or decide what the own writes
//! are (`successor`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::Rng;

use crate::apply::{
    Executed, GtidSelection, Loc, ReadOptions, ServerFlavor, TargetOptions, TransactionReader,
    survey_rows,
};
use crate::binlog::gtid_set::GtidSet;
use crate::protocol::{
    ConnectOptions, ProtocolError, ReplicaOptions, ReplicaSession, StartPosition,
};

/// ROTATE_EVENT: the dump's file changes; not part of any transaction.
const ROTATE_EVENT: u8 = 4;

/// What the check found.
#[derive(Debug)]
pub enum Verdict {
    /// No row in common: the successor's applier may replicate the gap.
    Clear(String),
    /// A row both touch: applying the gap would overwrite (or collide with) an own write.
    Conflict(String),
    /// The check could not be made (the own writes are not in the successor's binlog, a
    /// table shape changed, ...): the SQL path, which compares every row, must fill instead.
    Unknown(String),
}

/// The gap, as the plan names it.
pub struct Gap<'a> {
    pub files: &'a [PathBuf],
    pub read: ReadOptions,
}

/// Check the successor's own writes `own` (as `Successor::own_writes` names them) against
/// `gap`. `work` is where the own writes are written while they are walked (removed after).
pub async fn check(
    successor: &TargetOptions,
    flavor: ServerFlavor,
    executed: &Executed,
    own: &str,
    gap: Gap<'_>,
    work: &Path,
) -> Verdict {
    let file = work.join(format!(
        "own-writes-{:08x}.binlog",
        rand::thread_rng().r#gen::<u32>()
    ));
    let v = check_with(successor, flavor, executed, own, gap, &file).await;
    let _ = std::fs::remove_file(&file);
    v
}

async fn check_with(
    successor: &TargetOptions,
    flavor: ServerFlavor,
    executed: &Executed,
    own: &str,
    gap: Gap<'_>,
    file: &Path,
) -> Verdict {
    let (start, include) = match start_of(flavor, executed, own) {
        Ok(s) => s,
        Err(why) => return Verdict::Unknown(why),
    };
    let events = match read_own(successor, start, file).await {
        Ok(n) => n,
        Err(why) => {
            return Verdict::Unknown(format!(
                "its own writes could not be read from its binlog ({why})"
            ));
        }
    };
    let own_files = vec![file.to_path_buf()];
    let own_read = own_selection(&include);
    let (mine, own_report) = match survey_rows(&own_files, successor.clone(), own_read).await {
        Ok(r) => r,
        Err(f) => {
            return Verdict::Unknown(format!("walking its own writes: {}", f.error));
        }
    };
    if let Err(why) = all_read(flavor, own, &gtids_in(&own_files, own_selection(&include))) {
        return Verdict::Unknown(format!(
            "its binlog does not hold all of its own writes ({why}; {events} events read)"
        ));
    }
    let (theirs, gap_report) =
        match survey_rows(gap.files, successor.clone(), gap.read.clone()).await {
            Ok(r) => r,
            Err(f) => return Verdict::Unknown(format!("walking the gap: {}", f.error)),
        };
    let own_rows: usize = mine.tables.iter().map(|t| t.keys.len()).sum();
    let gap_rows: usize = theirs.tables.iter().map(|t| t.keys.len()).sum();
    match mine.overlap(&theirs) {
        None => Verdict::Clear(format!(
            "its own writes ({} transaction(s), {own_rows} row(s)) touch none of the {gap_rows} \
             row(s) of the gap's {} transaction(s)",
            own_report.transactions_read, gap_report.transactions_read
        )),
        Some(o) => {
            let own_gtid = gtid_at(&own_files, o.mine, ReadOptions::default());
            let gap_gtid = gtid_at(gap.files, o.theirs, gap.read.clone());
            let more = if o.count > 1 {
                format!(" ({} overlaps in all)", o.count)
            } else {
                String::new()
            };
            Verdict::Conflict(format!(
                "conflict: the successor's own write {own_gtid} and the gap's transaction \
                 {gap_gtid} both change `{}`.`{}` {}{more}; nothing was applied: reconcile the \
                 two by hand (`gapfill decode` shows the gap), then fill again",
                o.schema, o.table, o.what
            ))
        }
    }
}

/// Where the dump of the own writes starts, and which transactions of it are own writes.
fn start_of(
    flavor: ServerFlavor,
    executed: &Executed,
    own: &str,
) -> Result<(StartPosition, Option<GtidSelection>), String> {
    match (flavor, executed) {
        (ServerFlavor::MySql, Executed::MySql(all)) => {
            let own_set = GtidSet::parse(own).map_err(|e| format!("own writes {own:?}: {e}"))?;
            let held = all.subtract(&own_set);
            Ok((
                StartPosition::MySqlGtid {
                    encoded_set: held.encode_sid_block(),
                },
                Some(GtidSelection::MySql(own_set)),
            ))
        }
        (ServerFlavor::MariaDb, Executed::MariaDb(e)) => Ok((
            StartPosition::MariaDbGtid {
                state: e.replicated().to_string(),
            },
            None,
        )),
        _ => Err("the successor's executed GTIDs are not of its flavor".into()),
    }
}

/// Every own write was read: MySQL, the whole set; MariaDB, the last own GTID of each domain.
fn all_read(flavor: ServerFlavor, own: &str, read: &[String]) -> Result<(), String> {
    match flavor {
        ServerFlavor::MySql => {
            let want = GtidSet::parse(own).map_err(|e| e.to_string())?;
            let mut got = GtidSet::new();
            for g in read {
                if let Ok(s) = GtidSet::parse(g) {
                    got.union_with(&s);
                }
            }
            let missing = want.subtract(&got);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("{missing} not found"))
            }
        }
        ServerFlavor::MariaDb => {
            let missing: Vec<&str> = own
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty() && !read.iter().any(|r| r == g))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("{} not found", missing.join(",")))
            }
        }
    }
}

/// The own writes' file read as a whole, or (MySQL) only the own GTIDs.
fn own_selection(include: &Option<GtidSelection>) -> ReadOptions {
    ReadOptions {
        include: include.clone(),
        ..ReadOptions::default()
    }
}

/// The GTIDs of the transactions `files` hold (as `read` selects them), as text.
fn gtids_in(files: &[PathBuf], read: ReadOptions) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(mut r) = TransactionReader::new(files.to_vec(), read) {
        while let Ok(Some(t)) = r.next_transaction() {
            out.push(t.gtid.to_string());
        }
    }
    out
}

/// Dump the successor's binlog from `start` to its end into `file` (a binlog file: the magic,
/// then every event but heartbeats and rotations). Returns the events written.
async fn read_own(
    successor: &TargetOptions,
    start: StartPosition,
    file: &Path,
) -> Result<u64, String> {
    let mut conn = ConnectOptions::new(
        successor.addr.clone(),
        successor.credentials.user.clone(),
        successor.credentials.password.clone(),
    );
    conn.tls = successor.tls.clone();
    // A server id no server of the cluster uses (the dump is refused for a duplicate).
    let mut opts = ReplicaOptions::new(rand::thread_rng().gen_range(0x7000_0000..0x7fff_ff00));
    opts.register = false;
    opts.non_blocking = true;
    opts.heartbeat_period = Duration::ZERO;
    opts.read_timeout = Some(Duration::from_secs(30));
    opts.mariadb_annotate_rows = true;
    opts.start = start;
    let mut session = ReplicaSession::start(&conn, &opts)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(64 << 10);
    out.extend_from_slice(&crate::binlog::BINLOG_MAGIC);
    let mut events = 0u64;
    let result = loop {
        match session.next_event().await {
            Ok(ev) => {
                if ev.is_heartbeat() || ev.is_artificial() || ev.event_type() == ROTATE_EVENT {
                    continue;
                }
                out.extend_from_slice(&ev.event);
                events += 1;
            }
            Err(ProtocolError::EndOfBinlog) => break Ok(events),
            Err(e) => break Err(e.to_string()),
        }
    };
    session.close().await;
    let n = result?;
    std::fs::write(file, &out).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(n)
}

/// The GTID of the transaction at `loc` of `files` (as a walk of them with `read` numbered
/// it), or a description of where it is when it cannot be read back.
fn gtid_at(files: &[PathBuf], loc: Loc, read: ReadOptions) -> String {
    let i = loc.file as usize;
    let place = || {
        format!(
            "at {}:{}",
            files
                .get(i)
                .map_or_else(String::new, |f| f.display().to_string()),
            loc.start
        )
    };
    let Some(rest) = files.get(i..) else {
        return place();
    };
    let read = ReadOptions {
        start_position: Some(loc.start),
        stop_position: if rest.len() == 1 {
            read.stop_position
        } else {
            None
        },
        include: None,
        exclude: None,
        ..read
    };
    match TransactionReader::new(rest.to_vec(), read).and_then(|mut r| r.next_transaction()) {
        Ok(Some(t)) if t.gtid != crate::apply::TxnGtid::None => t.gtid.to_string(),
        _ => place(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn every_own_write_must_be_read() {
        let own = format!("{S}:7-9");
        let read: Vec<String> = (7..=9).map(|n| format!("{S}:{n}")).collect();
        assert!(all_read(ServerFlavor::MySql, &own, &read).is_ok());
        let e = all_read(ServerFlavor::MySql, &own, &read[..2]).unwrap_err();
        assert!(e.contains(&format!("{S}:9")), "{e}");
        let read = vec!["0-12-41".to_string(), "1-12-3".to_string()];
        assert!(all_read(ServerFlavor::MariaDb, "0-12-41,1-12-3", &read).is_ok());
        let e = all_read(ServerFlavor::MariaDb, "0-12-42", &read).unwrap_err();
        assert!(e.contains("0-12-42"), "{e}");
    }
}
