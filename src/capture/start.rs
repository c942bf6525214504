//! Where each dump session starts, sans-IO: the spool's start point for a fresh spool (or to
//! close a break) from the configured [`StartMode`] and the master's current state, and the
//! dump request for the spool's resume point.
//!
//! It decides nothing about reconnecting (that is `run`) and reads nothing from the network
//! (the master's state comes from `master`).

use std::cmp::Ordering;

use crate::binlog::Flavor;
use crate::protocol::StartPosition;
use crate::spool::{MasterInfo, ResumePoint, StartPoint};

use super::config::StartMode;
use super::error::CaptureError;
use super::master::MasterState;

/// How the spool proves continuity, as [`crate::spool::SpoolStatus::mode`] names it.
pub const MODE_MYSQL_GTID: &str = "mysql gtid";
pub const MODE_MARIADB_GTID: &str = "mariadb gtid";
pub const MODE_POSITION: &str = "position";

/// The spool's identity of the master.
pub fn master_info(state: &MasterState) -> MasterInfo {
    MasterInfo {
        addr: state.addr.clone(),
        server_id: state.server_id,
        server_uuid: state.server_uuid.clone(),
        flavor: state.flavor,
    }
}

/// "After now" on this master, in the given continuity mode.
fn current_point(state: &MasterState, mode: &str) -> Result<StartPoint, CaptureError> {
    Ok(match mode {
        MODE_MYSQL_GTID if state.flavor == Flavor::MySql => {
            if !state.gtids_on() {
                return Err(CaptureError::GtidModeOff {
                    addr: state.addr.clone(),
                    mode: state.gtid_mode.clone().unwrap_or_else(|| "unknown".into()),
                });
            }
            StartPoint::MySqlGtids(state.gtid_executed.clone().unwrap_or_default())
        }
        MODE_MARIADB_GTID if state.flavor == Flavor::MariaDb => {
            StartPoint::MariaDbGtids(state.gtid_binlog_pos.clone().unwrap_or_default())
        }
        MODE_POSITION => StartPoint::FilePos {
            file: state.binlog_file.clone(),
            pos: state.binlog_pos,
        },
        _ => {
            return Err(CaptureError::MasterState {
                addr: state.addr.clone(),
                what: "flavor",
                detail: format!(
                    "the spool proves continuity by {mode} but the master is {:?}: use another \
                     spool directory for this master",
                    state.flavor
                ),
            });
        }
    })
}

/// The start point of a fresh spool.
pub fn fresh_start(mode: &StartMode, state: &MasterState) -> Result<StartPoint, CaptureError> {
    let gtid_mode = match state.flavor {
        Flavor::MySql => MODE_MYSQL_GTID,
        Flavor::MariaDb => MODE_MARIADB_GTID,
    };
    match mode {
        StartMode::Position { file, pos } => Ok(StartPoint::FilePos {
            file: file.clone(),
            pos: *pos,
        }),
        StartMode::Gtid => current_point(state, gtid_mode),
        StartMode::Auto if state.gtids_on() => current_point(state, gtid_mode),
        StartMode::Auto => current_point(state, MODE_POSITION),
    }
}

/// The master's current state as a start point of an existing spool's kind (used by the
/// spool only to close a break or to start a position-mode epoch on a new master).
pub fn restart_point(spool_mode: &str, state: &MasterState) -> Result<StartPoint, CaptureError> {
    current_point(state, spool_mode)
}

/// The dump request that continues right after the last transaction the spool holds.
pub fn dump_start(resume: &ResumePoint) -> StartPosition {
    match resume {
        ResumePoint::MySqlGtids(set) => StartPosition::MySqlGtid {
            encoded_set: set.encode_sid_block(),
        },
        ResumePoint::MariaDbGtids(pos) => StartPosition::MariaDbGtid {
            state: pos.to_string(),
        },
        ResumePoint::FilePos { file, pos } => StartPosition::FilePos {
            file: file.as_bytes().to_vec(),
            pos: *pos,
        },
    }
}

/// Order of two binlog coordinates of one master: files by their numeric extension (as the
/// server numbers them), then positions. `None` when the base names differ.
pub fn cmp_coords(a_file: &[u8], a_pos: u64, b_file: &[u8], b_pos: u64) -> Option<Ordering> {
    let split = |f: &[u8]| -> (Vec<u8>, Option<u64>) {
        match f.iter().rposition(|&c| c == b'.') {
            Some(i) => (
                f[..i].to_vec(),
                std::str::from_utf8(&f[i + 1..])
                    .ok()
                    .and_then(|n| n.parse().ok()),
            ),
            None => (f.to_vec(), None),
        }
    };
    let (ab, an) = split(a_file);
    let (bb, bn) = split(b_file);
    if ab != bb {
        return None;
    }
    let files = match (an, bn) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a_file.cmp(b_file),
    };
    Some(files.then(a_pos.cmp(&b_pos)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::gtid_set::GtidSet;
    use crate::binlog::mariadb_gtid::MariadbGtidPos;

    fn mysql(gtid_mode: &str) -> MasterState {
        MasterState {
            addr: "m:3306".into(),
            flavor: Flavor::MySql,
            version: "9.7.4".into(),
            server_id: 1,
            server_uuid: Some("3e11fa47-71ca-11e1-9e33-c80aa9429562".into()),
            gtid_mode: Some(gtid_mode.into()),
            gtid_executed: Some(
                GtidSet::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5").unwrap(),
            ),
            gtid_binlog_pos: None,
            binlog_file: "binlog.000007".into(),
            binlog_pos: 1234,
        }
    }

    fn mariadb() -> MasterState {
        MasterState {
            addr: "m:3306".into(),
            flavor: Flavor::MariaDb,
            version: "10.11.19-MariaDB".into(),
            server_id: 11,
            server_uuid: None,
            gtid_mode: None,
            gtid_executed: None,
            gtid_binlog_pos: Some(MariadbGtidPos::parse("0-11-519").unwrap()),
            binlog_file: "binlog.000003".into(),
            binlog_pos: 400,
        }
    }

    #[test]
    fn fresh_starts() {
        let on = mysql("ON");
        assert!(matches!(
            fresh_start(&StartMode::Auto, &on).unwrap(),
            StartPoint::MySqlGtids(s) if s.count() == 5
        ));
        let off = mysql("OFF");
        assert_eq!(
            fresh_start(&StartMode::Auto, &off).unwrap(),
            StartPoint::FilePos {
                file: "binlog.000007".into(),
                pos: 1234
            }
        );
        assert!(matches!(
            fresh_start(&StartMode::Gtid, &off),
            Err(CaptureError::GtidModeOff { .. })
        ));
        assert!(matches!(
            fresh_start(&StartMode::Gtid, &mysql("ON_PERMISSIVE")),
            Err(CaptureError::GtidModeOff { .. })
        ));
        let given = StartMode::Position {
            file: "binlog.000001".into(),
            pos: 4,
        };
        assert_eq!(
            fresh_start(&given, &on).unwrap(),
            StartPoint::FilePos {
                file: "binlog.000001".into(),
                pos: 4
            }
        );
        assert_eq!(
            fresh_start(&StartMode::Auto, &mariadb())
                .unwrap()
                .to_string(),
            "MariaDB GTID position '0-11-519'"
        );
        assert!(restart_point(MODE_MYSQL_GTID, &mariadb()).is_err());
        assert!(restart_point(MODE_POSITION, &mariadb()).is_ok());
    }

    #[test]
    fn dump_requests() {
        let set = GtidSet::parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5").unwrap();
        assert_eq!(
            dump_start(&ResumePoint::MySqlGtids(set.clone())),
            StartPosition::MySqlGtid {
                encoded_set: set.encode_sid_block()
            }
        );
        assert_eq!(
            dump_start(&ResumePoint::MariaDbGtids(
                MariadbGtidPos::parse("0-11-5,1-11-7").unwrap()
            )),
            StartPosition::MariaDbGtid {
                state: "0-11-5,1-11-7".into()
            }
        );
        assert_eq!(
            dump_start(&ResumePoint::FilePos {
                file: "b.000002".into(),
                pos: 99
            }),
            StartPosition::FilePos {
                file: b"b.000002".to_vec(),
                pos: 99
            }
        );
    }

    #[test]
    fn coordinates() {
        use Ordering::*;
        assert_eq!(cmp_coords(b"b.000009", 5, b"b.000010", 4), Some(Less));
        assert_eq!(cmp_coords(b"b.999999", 5, b"b.1000000", 4), Some(Less));
        assert_eq!(cmp_coords(b"b.000010", 5, b"b.000010", 4), Some(Greater));
        assert_eq!(cmp_coords(b"b.000010", 4, b"b.000010", 4), Some(Equal));
        assert_eq!(cmp_coords(b"a.000010", 4, b"b.000010", 4), None);
    }
}
