//! The capture edge: one master's binlog stream, received as a replica, made durable in a
//! spool, continuous across reconnects.
//!
//! [`run`] is the loop `gapfill capture` and the daemon run for each master: open the spool,
//! choose the start (a fresh spool: after the master's current GTID state or binlog position,
//! or after a given `FILE:POS`; an existing spool: its resume point, so nothing is skipped or
//! repeated), start a [`ReplicaSession`](crate::protocol::ReplicaSession), append every event
//! of the master's binlog to the spool (heartbeats and the dump thread's made-up events are not
//! part of it), apply the fsync policy at each commit, ACK semi-sync events only once the
//! spool has synced them, reconnect with back-off on transient faults, and record a purged
//! binlog as a continuity break. Progress is reported to a callback; SIGINT/SIGTERM (or the
//! daemon) stop it cleanly through [`Shutdown`].
//!
//! Files: [`run`] (the loop and its reconnect/break policy), [`start`] (start and resume points),
//! [`config`] (what to capture, policies), [`master`] (the master's current state for a
//! fresh start), [`progress`] (counters and reports), [`shutdown`] (clean-stop handle and
//! signals), [`error`]. This module parses no event beyond the header fields the stream
//! already exposes: transaction boundaries, GTIDs and segments are the spool's business.

pub mod config;
pub mod error;
pub mod master;
pub mod progress;
pub mod run;
pub mod shutdown;
pub mod start;

pub use config::{
    CaptureConfig, DEFAULT_REPORT_PORT, OnBreak, SemiSyncAck, StartMode, parse_duration,
    parse_file_pos,
};
pub use error::CaptureError;
pub use master::MasterState;
pub use progress::{Progress, ProgressMeter};
pub use run::{Capture, CaptureSummary, StopReason, run};
pub use shutdown::{Shutdown, ShutdownTrigger, on_signals};
