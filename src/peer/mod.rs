//! Peers: the spool of another gapfill daemon as a source for a fill.
//!
//! Every orchestrator node runs a daemon that captures every master, so when the raft leader
//! fills a failover, another node's capture may reach further than its own (the leader's
//! daemon was restarting, or its network to the dead master failed first). This module owns
//! what travels between daemons, without any HTTP: what a spool holds ([`Reach`]), the
//! transactions a spool holds after a position as one binlog stream with the promise of what
//! it contains ([`Export`], [`Promise`]), and receiving such a stream into a file that is
//! verified against its promise, event checksums and GTIDs ([`receive`]), and the HTTP client
//! that asks peer daemons (`client.rs`); the daemon serves the endpoints.
//!
//! Peers need GTIDs: positions of one master's binlog mean nothing to a spool that followed
//! it under another name, so a position-mode spool has no reach to offer.

pub mod client;
pub mod error;
pub mod export;
pub mod import;
pub mod reach;

pub use client::{PeerSet, Pulled, pull_best, reach};
pub use error::PeerError;
pub use export::{Export, Promise};
pub use import::{Anchor, Overlap, Received, accept, check_overlap, part_path, receive};
pub use reach::Reach;
