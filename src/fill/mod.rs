//! `gapfill fill`: the orchestrator hook that replays a dead master's gap onto its successor.
//!
//! Owns the failover moment, built from the lower layers: the spool says what was captured
//! (`spool`), [`plan`] turns the successor's executed set into the gap and proves coverage,
//! [`guard`] refuses stale or oversized gaps, [`successor`] settles and fences the promoted
//! replica, the gap is applied by the `apply` engine (typed SQL with the original GTIDs) or
//! handed to the successor's own applier through gapfill's replication source
//! ([`via_serve`], `--via serve|auto`; [`own_writes`] checks the successor's own writes
//! against the gap first), and [`hook`] runs the steps in order and reports. It does not
//! capture (that is `capture`) nor decode rows itself.
//!
//! Two orchestrator set-ups are supported (see DESIGN.md): with
//! `ApplyMySQLPromotionAfterMasterFailover=false` run `gapfill fill --open-writes`, which waits
//! for the successor's SQL thread, stops and resets replication, fills and lifts read_only;
//! with orchestrator's default the successor is already writable when the hook runs, so the
//! fill fences it with `read_only` for the duration and restores it afterwards.

pub mod channel;
pub mod error;
pub mod guard;
pub mod hook;
pub mod lock;
pub mod own_writes;
pub mod plan;
pub mod successor;
pub mod tail;
pub mod via_serve;
pub mod witness;

pub use error::FillError;
pub use guard::{Refusal, WindowGuard};
pub use hook::{FillReport, FillRequest, Outcome, exit, run};
pub use plan::GapPlan;
pub use tail::{TailProof, TailReport};
pub use via_serve::{ServeVia, Via};
