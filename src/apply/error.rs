//! The one error type of the apply engine.
//!
//! Every failure of a replay or fill names where it happened (the transaction by GTID or
//! file:pos, the statement shape without values) and whether re-running is safe. It never holds
//! a password or row values: statement shapes carry `?` placeholders only.

use std::path::PathBuf;

use crate::binlog::BinlogError;

/// Server errors that mean the target's data contradicts the transaction.
const CONFLICT_CODES: &[u16] = &[
    1022, // ER_DUP_KEY
    1062, // ER_DUP_ENTRY
    1032, // ER_KEY_NOT_FOUND
    1451, // ER_ROW_IS_REFERENCED_2
    1452, // ER_NO_REFERENCED_ROW_2
    1950, // MariaDB ER_GTID_STRICT_OUT_OF_ORDER
];

/// Why applying transactions stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The source files could not be read or decoded.
    #[error(transparent)]
    Binlog(#[from] BinlogError),
    /// A file does not start with a FORMAT_DESCRIPTION event.
    #[error(
        "{path}: first event is {found}, not FORMAT_DESCRIPTION: not a binlog, relay log or spool segment"
    )]
    NoFormatDescription { path: PathBuf, found: &'static str },
    /// The master logged an INCIDENT: events are missing after this point.
    #[error(
        "{path} at offset {offset}: INCIDENT event ({message}): the master lost events here; \
         refusing to replay past it"
    )]
    Incident {
        path: PathBuf,
        offset: u64,
        message: String,
    },
    /// An option or input the engine cannot work with.
    #[error("{0}")]
    Invalid(String),
    /// Connecting to the target failed.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: mysql_async::Error,
    },
    /// A setup or verification query on the target failed.
    #[error("query on {target} failed (`{statement}`): {source}")]
    Target {
        target: String,
        statement: String,
        #[source]
        source: mysql_async::Error,
    },
    /// A statement of a transaction failed on the target.
    #[error(
        "transaction {txn} failed at statement `{statement}`: {source}; the transaction was \
         rolled back and re-running is safe (applied transactions are skipped)"
    )]
    Statement {
        txn: String,
        statement: String,
        #[source]
        source: mysql_async::Error,
    },
    /// The target's table does not have the shape the binlog's table map describes.
    #[error(
        "schema mismatch in transaction {txn}: table {table}, column {column}: {detail}; \
         nothing of this transaction was applied"
    )]
    SchemaMismatch {
        txn: String,
        table: String,
        column: String,
        detail: String,
    },
    /// An UPDATE or DELETE found no row to change: the target differs from the source.
    #[error(
        "transaction {txn}: no row of {table} matched `{statement}` ({differs}: the target has \
         diverged from the source); the transaction was rolled back and nothing of it was applied"
    )]
    RowNotFound {
        txn: String,
        table: String,
        statement: String,
        /// What differs: no row with the key, or which columns.
        differs: String,
    },
    /// A row event could not be turned into SQL (bad value for the column).
    #[error("transaction {txn}: table {table}: {detail}")]
    Row {
        txn: String,
        table: String,
        detail: String,
    },
    /// The target lacks GTIDs the run applied or skipped.
    #[error("verification failed: after the run the target's executed GTIDs lack {missing}")]
    Verification { missing: String },
    /// Rows read back after the run differ from the binlog's last images.
    #[error(
        "verification failed: {first}{more}; the transactions were applied and committed, so \
         a re-run finds nothing to apply and does not check these rows again: find what \
         changed them on the target (a trigger, another writer, a column type, default or \
         generated expression that differs from the source) and reconcile"
    )]
    DataMismatch {
        /// The first difference: table, key, column and both values (shortened).
        first: String,
        /// `` (and N more of M rows)``, or empty.
        more: String,
    },
    /// The progress file of a position-based replay could not be read or written.
    #[error("progress file {path}: {detail}")]
    Progress { path: PathBuf, detail: String },
    /// The failure injected by a test hook.
    #[error("injected failure after {0} applied transactions (test hook); re-running is safe")]
    Injected(u64),
    /// A worker or the reader thread stopped unexpectedly.
    #[error("internal error: {0}")]
    Internal(String),
    /// Writing dry-run output failed.
    #[error("writing dry-run output: {0}")]
    Output(#[source] std::io::Error),
}

impl ApplyError {
    /// Whether running the same replay again is safe and should finish the job (the target
    /// skips what it already has).
    pub fn rerun_is_safe(&self) -> bool {
        !matches!(self, ApplyError::Invalid(_) | ApplyError::Binlog(_))
    }

    /// A deadlock (1213) or lock wait timeout (1205) between transactions applied side by
    /// side: the transaction can run again.
    pub fn is_lock_conflict(&self) -> bool {
        matches!(
            self,
            ApplyError::Statement {
                source: mysql_async::Error::Server(e),
                ..
            } if e.code == 1213 || e.code == 1205
        )
    }

    /// Whether the target holds data that contradicts the transaction: a row the gap changes
    /// was changed or deleted there, a key the gap inserts exists, or (MariaDB strict mode)
    /// the target wrote a GTID of its own with the sequence number the gap needs. A re-run
    /// stops at the same place until someone reconciles the rows.
    pub fn is_conflict(&self) -> bool {
        match self {
            ApplyError::RowNotFound { .. } => true,
            ApplyError::Statement {
                source: mysql_async::Error::Server(e),
                ..
            } => CONFLICT_CODES.contains(&e.code),
            _ => false,
        }
    }
}
