//! The run report: what a replay or fill did, as a struct and as JSON.
//!
//! Owns the counters and their serialization; the engine fills it in. Never holds
//! credentials; row values only in the message of a failed verification (shortened).

use serde::Serialize;

use super::reader::IncompleteTransaction;
use crate::binlog::mariadb_gtid::MariadbGtid;

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RunReport {
    /// `host:port`, or `None` for a dry run without a server.
    pub target: Option<String>,
    pub dry_run: bool,
    pub parallel: usize,
    pub files: Vec<String>,
    /// Complete transactions read that passed the filters.
    pub transactions_read: u64,
    /// Transactions applied by this run.
    pub transactions_applied: u64,
    /// Transactions the target already had (by GTID, or before the recorded progress).
    pub transactions_skipped: u64,
    /// Transactions left out by `--include-gtids`/`--exclude-gtids`/`--database`.
    pub transactions_filtered: u64,
    /// Row changes applied.
    pub rows: u64,
    /// UPDATE/DELETE rows found by a before image that lacks some of the table's columns
    /// (`binlog_row_image=MINIMAL` or `NOBLOB`): a change the target made to a missing column
    /// could not be seen as a conflict and was overwritten. 0 when every row was compared
    /// against its full before image (see [`RunReport::conflicts_fully_checked`]).
    pub rows_matched_by_partial_image: u64,
    /// Binlog bytes of the applied transactions.
    pub bytes: u64,
    /// Statements sent to the target.
    pub statements: u64,
    /// Transactions run again after a deadlock or lock wait timeout on the target (as the
    /// server's applier does, up to 10 times each).
    pub lock_retries: u64,
    /// Transactions rolled back while waiting for their turn to commit and run again, to
    /// release locks an earlier transaction waited for (commit order kept: MariaDB, or a
    /// progress file).
    pub lock_yields: u64,
    pub seconds: f64,
    pub transactions_per_second: f64,
    pub first_gtid: Option<String>,
    pub last_gtid: Option<String>,
    /// The last transaction committed in reading order (GTID or file:pos), for messages.
    pub last_applied: Option<String>,
    /// Transactions the input ends inside of: never applied.
    pub incomplete: Vec<IncompleteTransaction>,
    /// Rows checked after the run: every primary key the applied transactions wrote (its
    /// last image) or deleted last (must be absent). `None` when the data was not checked.
    pub rows_to_verify: Option<u64>,
    /// Of those, the rows the target holds as expected.
    pub rows_verified: Option<u64>,
    /// Row changes that could not be checked: tables without a primary key, images without
    /// the key, rows a later statement (DDL, statement-based DML) naming their table may
    /// have changed, rows of transactions rolled back to a savepoint or only XA-prepared,
    /// rows applied as BINLOG statements.
    pub rows_not_verifiable: Option<u64>,
    /// Rows checked whose binlog image is inconsistent: every column it carries matches but a
    /// generated one, whose logged value does not follow from the others (the source changed a
    /// column the image lacks: MariaDB logs a `REPLACE` run as an update under
    /// `binlog_row_image=NOBLOB`/`MINIMAL` without the columns it reset). No applier can
    /// reach the source's row; these rows may differ from it. Not counted as verified.
    pub rows_image_inconsistent: u64,
    /// The first of those (table, key, column, both values).
    pub first_image_inconsistent: Option<String>,
    /// The target's executed GTIDs after the run contain every GTID applied or skipped, and
    /// every row checked holds the data the binlog's last image says.
    pub verified: Option<bool>,
    /// MariaDB transactions that change nothing (see `Transaction::no_effect`): not applied,
    /// since MariaDB does not binlog an empty transaction; not counted as missing by the
    /// verification. A fill records them in `gtid_slave_pos`.
    #[serde(serialize_with = "as_strings")]
    pub gtids_without_effect: Vec<MariadbGtid>,
    pub gtid_executed_after: Option<String>,
    pub errors: Vec<String>,
}

impl RunReport {
    /// Whether every UPDATE/DELETE compared the target's row with the whole before image, so
    /// any write the target made to those rows was detected as a conflict.
    pub fn conflicts_fully_checked(&self) -> bool {
        self.rows_matched_by_partial_image == 0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} {} transactions ({} rows, {} bytes) in {:.2}s ({:.0}/s); {} already on the target; {} filtered",
            if self.dry_run { "printed" } else { "applied" },
            self.transactions_applied,
            self.rows,
            self.bytes,
            self.seconds,
            self.transactions_per_second,
            self.transactions_skipped,
            self.transactions_filtered,
        );
        if let (Some(a), Some(b)) = (&self.first_gtid, &self.last_gtid) {
            s.push_str(&format!("; GTIDs {a} .. {b}"));
        }
        if !self.incomplete.is_empty() {
            s.push_str(&format!(
                "; {} incomplete transaction(s) not applied",
                self.incomplete.len()
            ));
        }
        if self.rows_matched_by_partial_image > 0 {
            s.push_str(&format!(
                "; {} row(s) found by a partial before image (MINIMAL/NOBLOB): conflicts in \
                 columns it lacks could not be seen",
                self.rows_matched_by_partial_image
            ));
        }
        if self.lock_retries + self.lock_yields > 0 {
            s.push_str(&format!(
                "; {} run(s) again after a lock wait timeout or deadlock on the target, {} \
                 rolled back to let an earlier transaction commit first",
                self.lock_retries, self.lock_yields
            ));
        }
        if let (Some(n), Some(m)) = (self.rows_verified, self.rows_to_verify) {
            s.push_str(&format!("; rows verified {n}/{m}"));
        }
        if let Some(k) = self.rows_not_verifiable.filter(|k| *k > 0) {
            s.push_str(&format!(
                "; {k} row change(s) not verifiable (no primary key, or changed by a later \
                 statement, savepoint rollback or XA)"
            ));
        }
        if self.rows_image_inconsistent > 0 {
            s.push_str(&format!(
                "; {} row(s) whose binlog image is inconsistent (a generated column that does not \
                 follow from the image's other columns: the source changed a column the image \
                 lacks), which may differ from the source: first {}",
                self.rows_image_inconsistent,
                self.first_image_inconsistent.as_deref().unwrap_or("-")
            ));
        }
        if !self.gtids_without_effect.is_empty() {
            s.push_str(&format!(
                "; {} transaction(s) without effect not applied (only SAVEPOINT/XA control; \
                 MariaDB does not binlog an empty transaction): {}",
                self.gtids_without_effect.len(),
                self.gtids_without_effect
                    .iter()
                    .take(5)
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
                    + if self.gtids_without_effect.len() > 5 {
                        ",..."
                    } else {
                        ""
                    }
            ));
        }
        if self.verified == Some(true) {
            s.push_str(if self.rows_image_inconsistent > 0 {
                "; verified but for the rows whose image is inconsistent"
            } else {
                "; verified"
            });
        }
        s
    }
}

fn as_strings<S: serde::Serializer>(v: &[MariadbGtid], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|g| g.to_string()))
}
