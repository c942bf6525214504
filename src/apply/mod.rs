//! Turning transactions into effects on a server: `gapfill replay` and the engine `gapfill fill`
//! drives.
//!
//! Reading complete transactions from binlog files (`reader`, `transaction`), scheduling them
//! on parallel connections as their logical clocks allow (`schedule`, `engine`), applying each
//! with its original GTID through prepared statements (`executor`, `row_sql`, `values`,
//! `json_sql`, `schema`, `session`), resuming position-based sources (`progress`), verifying the result (`touched` records
//! what the run wrote, `verify` reads it back) and reporting it (`report`). It does not talk the replication protocol (see `protocol`), keep
//! the spool, or guard the failover window (that is `fill`'s).
//!
//! Entry point: [`engine::apply_files`] (or [`engine::apply_files_blocking`]);
//! [`engine::survey_rows`] says which rows transactions touch, for a conflict check.

pub mod binlog_stmt;
pub mod engine;
pub mod error;
pub mod executor;
pub mod json_sql;
pub mod progress;
pub mod reader;
pub mod report;
pub mod row_sql;
pub mod schedule;
pub mod schema;
pub mod session;
pub mod touched;
pub mod transaction;
pub mod values;
pub mod verify;

pub use engine::{
    ApplyFailure, ApplyOptions, DryRunOutput, apply_files, apply_files_blocking, read_executed,
    survey_rows,
};
pub use error::ApplyError;
pub use reader::{IncompleteTransaction, ReadOptions, TransactionReader};
pub use report::RunReport;
pub use session::{ServerFlavor, TargetOptions};
pub use touched::{Loc, Overlap, Touched};
pub use transaction::{Executed, GtidSelection, Transaction, TxnGtid};
