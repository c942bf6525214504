//! orchestrator's HTTP API as the daemon reads it: the cluster list (`/api/clusters-info`)
//! and each cluster's master by alias (`/api/master/<alias>`), with basic auth.
//!
//! After a failover the cluster NAME becomes the new master's `host:port` and only the alias
//! stays, while `/api/master/<old name>` keeps answering with the dead master's stale record:
//! so masters are always looked up by alias, and a cluster whose master orchestrator marked
//! "lost-in-recovery" (the dead master, now its own one-instance cluster) is skipped. This file
//! parses and fetches; it does not decide when to refresh (see `discovery`).

use serde::Deserialize;

use super::config::{ClusterSpec, OrchestratorApi};
use super::error::DaemonError;
use super::http_client;

/// One entry of `/api/clusters-info`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ClusterInfo {
    #[serde(rename = "ClusterName")]
    pub name: String,
    #[serde(rename = "ClusterAlias", default)]
    pub alias: String,
}

#[derive(Debug, Deserialize)]
struct InstanceKey {
    #[serde(rename = "Hostname")]
    hostname: String,
    #[serde(rename = "Port")]
    port: u16,
}

impl InstanceKey {
    fn addr(&self) -> String {
        format!("{}:{}", self.hostname, self.port)
    }
}

/// The fields of `/api/master/<alias>` the daemon uses.
#[derive(Debug, Deserialize)]
struct MasterJson {
    #[serde(rename = "Key")]
    key: InstanceKey,
    #[serde(rename = "Replicas", default)]
    replicas: Option<Vec<InstanceKey>>,
    #[serde(rename = "SlaveHosts", default)]
    slave_hosts: Option<Vec<InstanceKey>>,
    #[serde(rename = "IsDowntimed", default)]
    is_downtimed: bool,
    #[serde(rename = "DowntimeReason", default)]
    downtime_reason: String,
}

/// A cluster's master as orchestrator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterRecord {
    pub addr: String,
    pub replicas: Vec<String>,
    /// orchestrator downtimed it as "lost-in-recovery": the dead master of a failover.
    pub lost_in_recovery: bool,
}

pub fn parse_clusters_info(body: &[u8]) -> Result<Vec<ClusterInfo>, DaemonError> {
    serde_json::from_slice(body).map_err(|e| DaemonError::Parse {
        what: "orchestrator /api/clusters-info".into(),
        detail: e.to_string(),
    })
}

pub fn parse_master(alias: &str, body: &[u8]) -> Result<MasterRecord, DaemonError> {
    let m: MasterJson = serde_json::from_slice(body).map_err(|e| DaemonError::Parse {
        what: format!("orchestrator /api/master/{alias}"),
        detail: e.to_string(),
    })?;
    let replicas = m.replicas.or(m.slave_hosts).unwrap_or_default();
    Ok(MasterRecord {
        addr: m.key.addr(),
        replicas: replicas.iter().map(InstanceKey::addr).collect(),
        lost_in_recovery: m.is_downtimed && m.downtime_reason == "lost-in-recovery",
    })
}

#[derive(Debug, Deserialize)]
struct CoordsJson {
    #[serde(rename = "LogFile", default)]
    file: String,
    #[serde(rename = "LogPos", default)]
    pos: u64,
}

/// The fields of `/api/instance/<host>/<port>` a fill's tail proof uses.
#[derive(Debug, Deserialize)]
struct InstanceJson {
    #[serde(rename = "Key")]
    key: InstanceKey,
    #[serde(rename = "ExecutedGtidSet", default)]
    executed_gtid_set: String,
    #[serde(rename = "SelfBinlogCoordinates")]
    coords: Option<CoordsJson>,
    #[serde(rename = "LastSeenTimestamp", default)]
    last_seen: String,
    #[serde(rename = "Replicas", default)]
    replicas: Option<Vec<InstanceKey>>,
    #[serde(rename = "SlaveHosts", default)]
    slave_hosts: Option<Vec<InstanceKey>>,
}

/// orchestrator's last view of one server: what it had executed and where its binlog ended
/// when orchestrator last reached it, and who replicated from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub addr: String,
    /// `ExecutedGtidSet` (MySQL; empty without GTIDs and on MariaDB).
    pub executed_gtid_set: Option<String>,
    /// `SelfBinlogCoordinates`: the end of its binlog.
    pub binlog_end: Option<(String, u64)>,
    /// `LastSeenTimestamp`, seconds since the Unix epoch.
    pub last_seen_unix: Option<u64>,
    pub replicas: Vec<String>,
}

pub fn parse_instance(addr: &str, body: &[u8]) -> Result<InstanceRecord, DaemonError> {
    let i: InstanceJson = serde_json::from_slice(body).map_err(|e| DaemonError::Parse {
        what: format!("orchestrator /api/instance/{addr}"),
        detail: e.to_string(),
    })?;
    let replicas = i.replicas.or(i.slave_hosts).unwrap_or_default();
    Ok(InstanceRecord {
        addr: i.key.addr(),
        executed_gtid_set: Some(i.executed_gtid_set).filter(|s| !s.trim().is_empty()),
        binlog_end: i
            .coords
            .filter(|c| !c.file.is_empty())
            .map(|c| (c.file, c.pos)),
        last_seen_unix: crate::binlog::temporal::parse_rfc3339_utc(&i.last_seen),
        replicas: replicas.iter().map(InstanceKey::addr).collect(),
    })
}

/// Percent-encode a path segment (aliases may hold ':' or spaces).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A logged-in client of one orchestrator.
pub struct Client {
    authority: String,
    prefix: String,
    authorization: Option<String>,
    /// `https://`: the certificate must chain to `[orchestrator] ca_file` and name the host.
    tls: Option<crate::protocol::TlsOptions>,
    api: OrchestratorApi,
}

impl Client {
    pub fn new(api: &OrchestratorApi) -> Result<Client, DaemonError> {
        let url = http_client::split_url(&api.url).map_err(|detail| DaemonError::Http {
            url: api.url.clone(),
            detail,
        })?;
        let (authority, prefix) = (url.authority, url.prefix);
        let tls = if url.https {
            let Some(ca) = &api.ca_file else {
                return Err(DaemonError::Http {
                    url: api.url.clone(),
                    detail: "https needs [orchestrator] ca_file (the CA that signed \
                             orchestrator's certificate; --orchestrator-ca for fill)"
                        .into(),
                });
            };
            Some(crate::protocol::TlsOptions {
                mode: crate::protocol::TlsMode::VerifyIdentity,
                ca_file: Some(ca.clone()),
                server_name: None,
                ..crate::protocol::TlsOptions::default()
            })
        } else {
            None
        };
        let authorization = api
            .user
            .as_ref()
            .map(|u| http_client::basic_auth(u, api.password.as_ref().map_or("", |p| p.expose())));
        Ok(Client {
            authority,
            prefix,
            authorization,
            tls,
            api: api.clone(),
        })
    }

    async fn get(&self, path: &str) -> Result<bytes::Bytes, DaemonError> {
        let full = format!("{}{path}", self.prefix);
        let (status, body) = http_client::get(
            &self.authority,
            &full,
            self.authorization.as_deref(),
            self.tls.as_ref(),
            self.api.timeout,
        )
        .await?;
        if status != 200 {
            let hint = if status == 401 {
                " (check [orchestrator] user and password)"
            } else {
                ""
            };
            return Err(DaemonError::Http {
                url: format!("{}{path}", self.api.url),
                detail: format!("HTTP {status}{hint}"),
            });
        }
        Ok(body)
    }

    /// orchestrator's last view of the server at `host:port`.
    pub async fn instance(&self, addr: &str) -> Result<InstanceRecord, DaemonError> {
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| DaemonError::Parse {
            what: "instance address".into(),
            detail: format!("{addr:?} is not host:port"),
        })?;
        let body = self
            .get(&format!(
                "/api/instance/{}/{}",
                encode_segment(host),
                encode_segment(port)
            ))
            .await?;
        parse_instance(addr, &body)
    }

    /// Every cluster orchestrator manages, with its master and replicas, looked up by alias.
    pub async fn clusters(&self) -> Result<Vec<ClusterSpec>, DaemonError> {
        let infos = parse_clusters_info(&self.get("/api/clusters-info").await?)?;
        let mut out: Vec<ClusterSpec> = Vec::with_capacity(infos.len());
        for info in infos {
            let alias = if info.alias.is_empty() {
                info.name.clone()
            } else {
                info.alias.clone()
            };
            if let Err(why) = crate::spool::check_alias(&alias) {
                tracing::error!(cluster = %info.name, "orchestrator: cluster not followed: {why}");
                continue;
            }
            let body = self
                .get(&format!("/api/master/{}", encode_segment(&alias)))
                .await?;
            let m = parse_master(&alias, &body)?;
            if m.lost_in_recovery {
                tracing::debug!(alias, master = %m.addr, "orchestrator: skipping a master lost in recovery");
                continue;
            }
            // Two clusters with one alias both stay in the answer: discovery's `Settle`
            // decides (and shows the question) instead of whichever came first.
            if out.iter().any(|c| c.alias == alias && c.master == m.addr) {
                continue;
            }
            out.push(ClusterSpec {
                alias,
                master: m.addr,
                replicas: m.replicas,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> serde_json::Value {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/orchestrator/api-samples.json"
        );
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    fn body(phase: &str, key: &str) -> Vec<u8> {
        serde_json::to_vec(&samples()[phase][key]).unwrap()
    }

    #[test]
    fn the_dead_masters_last_view() {
        let i = parse_instance(
            "127.0.0.1:33061",
            &body("post_failover", "GET /api/master/127.0.0.1:33061"),
        )
        .unwrap();
        assert_eq!(i.addr, "127.0.0.1:33061");
        assert_eq!(
            i.executed_gtid_set.as_deref(),
            Some("8598e0f3-e5a0-11f1-98e6-02fc00000001:1-10")
        );
        assert_eq!(i.binlog_end, Some(("binlog.000003".into(), 952)));
        assert_eq!(i.last_seen_unix, Some(1_795_265_234));
        assert_eq!(i.replicas, ["127.0.0.1:33062", "127.0.0.1:33063"]);
        assert!(parse_instance("x:1", b"{}").is_err());
    }

    #[test]
    fn before_the_failover() {
        let infos = parse_clusters_info(&body("pre_failover", "GET /api/clusters-info")).unwrap();
        assert_eq!(
            infos,
            vec![ClusterInfo {
                name: "127.0.0.1:33061".into(),
                alias: "sandbox97".into()
            }]
        );
        let m = parse_master(
            "sandbox97",
            &body("pre_failover", "GET /api/master/sandbox97"),
        )
        .unwrap();
        assert_eq!(m.addr, "127.0.0.1:33061");
        assert_eq!(m.replicas, vec!["127.0.0.1:33062", "127.0.0.1:33063"]);
        assert!(!m.lost_in_recovery);
    }

    #[test]
    fn after_the_failover_the_alias_names_the_new_master() {
        let infos = parse_clusters_info(&body("post_failover", "GET /api/clusters-info")).unwrap();
        assert_eq!(infos.len(), 2);
        let by_alias = infos.iter().find(|i| i.alias == "sandbox97").unwrap();
        assert_eq!(by_alias.name, "127.0.0.1:33063");
        let m = parse_master(
            "sandbox97",
            &body("post_failover", "GET /api/master/sandbox97"),
        )
        .unwrap();
        assert_eq!(m.addr, "127.0.0.1:33063");
        assert_eq!(m.replicas, vec!["127.0.0.1:33062"]);
        // The old name still answers with the dead master: it must be recognisable.
        let stale = parse_master(
            "127.0.0.1:33061",
            &body("post_failover", "GET /api/master/127.0.0.1:33061"),
        )
        .unwrap();
        assert_eq!(stale.addr, "127.0.0.1:33061");
        assert!(stale.lost_in_recovery);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_clusters_info(b"{\"Code\":\"ERROR\"}").is_err());
        assert!(parse_master("x", b"[]").is_err());
        assert!(parse_master("x", b"").is_err());
        assert_eq!(encode_segment("a b/c:1"), "a%20b%2Fc:1");
    }
}
