//! The continuity record, `spool.json`: the spool's proof of what it holds.
//!
//! Owns its format and its atomic replacement (write `spool.json.tmp`, fsync, rename, fsync
//! the directory), and the conversions between its text fields and typed points. It records:
//!
//! * `mode`: how continuity is proven (MySQL GTIDs, MariaDB GTIDs, or binlog positions);
//! * `origin`: the point continuous capture started after. In GTID modes this is the set of
//!   transactions the spool assumes without holding them: the start set, grown by what a
//!   break lost and by what retention dropped. In position mode it names an epoch and a
//!   file:pos of that epoch's master;
//! * `epochs`: each master followed, in order, with its segments in order;
//! * `breaks`: every loss of continuity, with its reason, time, where the spool was, where
//!   capture restarted and (GTID modes) what was lost in between.
//!
//! It does not decide coverage (`coverage.rs`) or retention (`retention.rs`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::binlog::Flavor;
use crate::binlog::gtid_set::GtidSet;
use crate::binlog::mariadb_gtid::MariadbGtidPos;

use super::config::MasterInfo;
use super::error::SpoolError;
use super::segment::fsync_dir;
use super::types::{ResumePoint, StartPoint};

pub(crate) const FILE_NAME: &str = "spool.json";
const FORMAT: u32 = 1;

/// How continuity is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Mode {
    MysqlGtid,
    MariadbGtid,
    Position,
}

impl Mode {
    pub fn of(start: &StartPoint) -> Mode {
        match start {
            StartPoint::MySqlGtids(_) => Mode::MysqlGtid,
            StartPoint::MariaDbGtids(_) => Mode::MariadbGtid,
            StartPoint::FilePos { .. } => Mode::Position,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::MysqlGtid => "mysql gtid",
            Mode::MariadbGtid => "mariadb gtid",
            Mode::Position => "position",
        }
    }
}

/// A start or resume point in text form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum PointJson {
    MysqlGtids { set: String },
    MariadbGtids { pos: String },
    FilePos { file: String, pos: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OriginJson {
    /// Everything after this point is held (see the module docs for GTID modes).
    pub start: PointJson,
    /// The epoch whose master `start` refers to (position mode).
    pub epoch: u32,
    /// When continuous capture started (seconds since the Unix epoch).
    pub since: u64,
    /// How many times retention moved the origin forward, and when it last did.
    pub advanced_by_retention: u64,
    pub last_advanced_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MasterJson {
    pub addr: String,
    pub server_id: u32,
    pub server_uuid: Option<String>,
    /// `mysql` or `mariadb`.
    pub flavor: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentJson {
    /// File name inside the epoch directory.
    pub name: String,
    /// The master's binlog file it mirrors.
    pub master_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EpochJson {
    pub id: u32,
    pub master: MasterJson,
    pub started_at: u64,
    /// Where this epoch's capture started: the resume point at the change of master (GTID
    /// modes), or the position continuity holds from on this master (position mode).
    pub start: PointJson,
    pub segments: Vec<SegmentJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BreakJson {
    pub at: u64,
    pub epoch: u32,
    pub reason: String,
    pub held_until: Option<PointJson>,
    pub resumed_from: Option<PointJson>,
    /// GTID modes: what the master had between `held_until` and `resumed_from` that the spool
    /// never got (also added to the origin).
    pub lost: Option<PointJson>,
    /// Damage to the spool's own segment cut transactions it had received; capture closes
    /// it with nothing lost when the master serves them again.
    #[serde(default)]
    pub damage: bool,
}

/// The whole record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Continuity {
    pub format: u32,
    pub mode: Mode,
    pub origin: OriginJson,
    pub epochs: Vec<EpochJson>,
    pub breaks: Vec<BreakJson>,
}

impl Continuity {
    pub fn new(mode: Mode, start: &StartPoint, now: u64) -> Continuity {
        Continuity {
            format: FORMAT,
            mode,
            origin: OriginJson {
                start: start_json(start),
                epoch: 1,
                since: now,
                advanced_by_retention: 0,
                last_advanced_at: None,
            },
            epochs: Vec::new(),
            breaks: Vec::new(),
        }
    }

    /// Read `dir/spool.json`; `Ok(None)` when it does not exist.
    pub fn load(dir: &Path) -> Result<Option<Continuity>, SpoolError> {
        let path = dir.join(FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SpoolError::io("read", &path)(e)),
        };
        let c: Continuity = serde_json::from_str(&text).map_err(|e| SpoolError::BadContinuity {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        if c.format != FORMAT {
            return Err(SpoolError::BadContinuity {
                path,
                detail: format!(
                    "format {} is not {FORMAT}, written by another gapfill",
                    c.format
                ),
            });
        }
        // Check every point parses now, so later code can rely on it.
        let bad = |detail: String| SpoolError::BadContinuity {
            path: path.clone(),
            detail,
        };
        parse_point(&c.origin.start).map_err(&bad)?;
        for e in &c.epochs {
            parse_point(&e.start).map_err(&bad)?;
            parse_flavor(&e.master.flavor).map_err(&bad)?;
        }
        for b in &c.breaks {
            for p in [&b.held_until, &b.resumed_from, &b.lost]
                .into_iter()
                .flatten()
            {
                parse_point(p).map_err(&bad)?;
            }
        }
        Ok(Some(c))
    }

    /// Replace `dir/spool.json` atomically and durably.
    pub fn save(&self, dir: &Path) -> Result<(), SpoolError> {
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|e| SpoolError::BadContinuity {
            path: path.clone(),
            detail: format!("cannot serialise: {e}"),
        })?;
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(SpoolError::io("create", &tmp))?;
            f.write_all(text.as_bytes())
                .and_then(|_| f.write_all(b"\n"))
                .map_err(SpoolError::io("write", &tmp))?;
            f.sync_all().map_err(SpoolError::io("fsync", &tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(SpoolError::io("rename into place", &path))?;
        fsync_dir(dir)
    }

    pub fn origin_point(&self) -> StartPoint {
        // Validated at load or built from typed values.
        parse_point(&self.origin.start).unwrap_or(StartPoint::FilePos {
            file: String::new(),
            pos: 0,
        })
    }

    /// The open break (capture broke and has not restarted), if any.
    pub fn open_break(&self) -> Option<&BreakJson> {
        self.breaks.last().filter(|b| b.resumed_from.is_none())
    }
}

pub(crate) fn start_json(p: &StartPoint) -> PointJson {
    match p {
        StartPoint::MySqlGtids(s) => PointJson::MysqlGtids { set: s.to_string() },
        StartPoint::MariaDbGtids(p) => PointJson::MariadbGtids { pos: p.to_string() },
        StartPoint::FilePos { file, pos } => PointJson::FilePos {
            file: file.clone(),
            pos: *pos,
        },
    }
}

pub(crate) fn resume_json(p: &ResumePoint) -> PointJson {
    start_json(&resume_to_start(p))
}

pub(crate) fn resume_to_start(p: &ResumePoint) -> StartPoint {
    match p {
        ResumePoint::MySqlGtids(s) => StartPoint::MySqlGtids(s.clone()),
        ResumePoint::MariaDbGtids(p) => StartPoint::MariaDbGtids(p.clone()),
        ResumePoint::FilePos { file, pos } => StartPoint::FilePos {
            file: file.clone(),
            pos: *pos,
        },
    }
}

pub(crate) fn start_to_resume(p: &StartPoint) -> ResumePoint {
    match p {
        StartPoint::MySqlGtids(s) => ResumePoint::MySqlGtids(s.clone()),
        StartPoint::MariaDbGtids(p) => ResumePoint::MariaDbGtids(p.clone()),
        StartPoint::FilePos { file, pos } => ResumePoint::FilePos {
            file: file.clone(),
            pos: *pos,
        },
    }
}

pub(crate) fn parse_point(p: &PointJson) -> Result<StartPoint, String> {
    Ok(match p {
        PointJson::MysqlGtids { set } => {
            StartPoint::MySqlGtids(GtidSet::parse(set).map_err(|e| e.to_string())?)
        }
        PointJson::MariadbGtids { pos } => {
            StartPoint::MariaDbGtids(MariadbGtidPos::parse(pos).map_err(|e| e.to_string())?)
        }
        PointJson::FilePos { file, pos } => StartPoint::FilePos {
            file: file.clone(),
            pos: *pos,
        },
    })
}

pub(crate) fn master_json(m: &MasterInfo) -> MasterJson {
    MasterJson {
        addr: m.addr.clone(),
        server_id: m.server_id,
        server_uuid: m.server_uuid.clone(),
        flavor: match m.flavor {
            Flavor::MySql => "mysql".into(),
            Flavor::MariaDb => "mariadb".into(),
        },
    }
}

fn parse_flavor(s: &str) -> Result<Flavor, String> {
    match s {
        "mysql" => Ok(Flavor::MySql),
        "mariadb" => Ok(Flavor::MariaDb),
        other => Err(format!("unknown flavor {other:?}")),
    }
}

pub(crate) fn master_info(m: &MasterJson) -> MasterInfo {
    MasterInfo {
        addr: m.addr.clone(),
        server_id: m.server_id,
        server_uuid: m.server_uuid.clone(),
        flavor: parse_flavor(&m.flavor).unwrap_or(Flavor::MySql),
    }
}

/// Seconds since the Unix epoch of `t`.
pub(crate) fn unix_secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
