//! gapfill closes the binlog gap on a MySQL or MariaDB failover.
//!
//! It captures every master's binlog as a fake replica, keeps it in a durable spool, and when a
//! failover hook calls it, replays onto the new master every committed transaction that master
//! lacks, with the original GTIDs. The same engine replays binlog files offline and decodes them
//! for people.
//!
//! Data flows one way: [`binlog`] (the format, sans-IO) is the ground floor everything else
//! stands on.

pub mod apply;
pub mod binlog;
pub mod capture;
pub mod credentials;
pub mod daemon;
pub mod decode;
pub mod fill;
pub mod peer;
pub mod protocol;
pub mod serve;
pub mod spool;
