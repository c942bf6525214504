//! Where each replica of a cluster stood on its master, as the daemon last saw it:
//! `replica-positions.json` in the cluster's spool directory.
//!
//! Owns the file's format, its atomic replacement and [`recorded_position`], which a fill
//! without GTIDs reads (orchestrator reset the successor's replication before the hook, so the
//! successor can no longer say where it stood). Polling the replicas is the daemon's
//! (`daemon::replicas`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SpoolError;

/// The file, in each cluster's spool directory.
pub const FILE_NAME: &str = "replica-positions.json";

/// One replica's position on its source, as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaPosition {
    /// `host:port` of the source it replicated from.
    pub source: String,
    /// The source's binlog file and position the replica's SQL thread had executed up to
    /// (`Relay_Source_Log_File`/`Exec_Source_Log_Pos`, MariaDB `Relay_Master_Log_File`/
    /// `Exec_Master_Log_Pos`).
    pub file: String,
    pub pos: u64,
    /// MySQL `Executed_Gtid_Set` / MariaDB `Gtid_IO_Pos`, when shown.
    pub executed_gtid_set: Option<String>,
    pub retrieved_gtid_set: Option<String>,
    /// When it was read, unix seconds.
    pub at: u64,
}

/// The whole file: replica `host:port` → its last position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedPositions {
    pub replicas: BTreeMap<String, ReplicaPosition>,
}

/// Every replica last seen replicating from `source` (`host:port`) with its last record
/// (the GTIDs it had executed and received then). Empty when nothing was recorded.
pub fn recorded_for(
    cluster_dir: &Path,
    source: &str,
) -> Result<Vec<(String, ReplicaPosition)>, SpoolError> {
    Ok(read_all(cluster_dir)?
        .replicas
        .into_iter()
        .filter(|(_, p)| p.source == source)
        .collect())
}

fn read_all(cluster_dir: &Path) -> Result<RecordedPositions, SpoolError> {
    let path = cluster_dir.join(FILE_NAME);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(RecordedPositions::default());
        }
        Err(source) => return Err(SpoolError::io("read", &path)(source)),
    };
    serde_json::from_str(&text).map_err(|e| SpoolError::ReplicaPositions {
        path: path.clone(),
        detail: e.to_string(),
    })
}

/// The position `replica` was last seen at on `source`, from a cluster's spool directory.
/// `Ok(None)` when nothing was recorded for that pair.
pub fn recorded_position(
    cluster_dir: &Path,
    replica: &str,
    source: &str,
) -> Result<Option<ReplicaPosition>, SpoolError> {
    Ok(read_all(cluster_dir)?
        .replicas
        .get(replica)
        .filter(|p| p.source == source)
        .cloned())
}

/// Replace the file atomically (write a temporary file, fsync, rename).
pub fn save(path: &Path, all: &RecordedPositions) -> Result<(), SpoolError> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(all).unwrap_or_default();
    let mut f = std::fs::File::create(&tmp).map_err(SpoolError::io("create", &tmp))?;
    f.write_all(&json).map_err(SpoolError::io("write", &tmp))?;
    f.sync_all().map_err(SpoolError::io("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(SpoolError::io("rename", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_is_looked_up_by_source() {
        let dir = tempfile::tempdir().unwrap();
        let mut all = RecordedPositions::default();
        all.replicas.insert(
            "r1:3306".into(),
            ReplicaPosition {
                source: "m:3306".into(),
                file: "binlog.000007".into(),
                pos: 1234,
                executed_gtid_set: None,
                retrieved_gtid_set: None,
                at: 1,
            },
        );
        save(&dir.path().join(FILE_NAME), &all).unwrap();
        let p = recorded_position(dir.path(), "r1:3306", "m:3306")
            .unwrap()
            .unwrap();
        assert_eq!((p.file.as_str(), p.pos), ("binlog.000007", 1234));
        // Replicating from another source: its position means nothing on the dead master.
        assert_eq!(
            recorded_position(dir.path(), "r1:3306", "x:3306").unwrap(),
            None
        );
        assert_eq!(
            recorded_position(dir.path(), "r2:3306", "m:3306").unwrap(),
            None
        );
        std::fs::write(dir.path().join(FILE_NAME), "{").unwrap();
        assert!(recorded_position(dir.path(), "r1:3306", "m:3306").is_err());
    }
}
