//! Which clusters to follow and who their masters are: the static `[[cluster]]` list and,
//! when configured, orchestrator's clusters (looked up by alias), refreshed periodically and
//! on SIGHUP.
//!
//! An orchestrator that does not answer keeps the last known list (captures never stop
//! because discovery failed) and shows in the status. A static entry wins over an
//! orchestrator cluster of the same alias. SIGHUP re-reads the configuration file's cluster
//! list; other settings need a restart. It starts no capture (see `supervisor`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, watch};

use crate::capture::Shutdown;

use super::config::{ClusterSpec, DaemonConfig};
use super::orchestrator::Client;
use super::state::Registry;

/// The static entries first, then orchestrator's clusters of other aliases.
pub fn merge(static_list: &[ClusterSpec], discovered: &[ClusterSpec]) -> Vec<ClusterSpec> {
    let mut out = static_list.to_vec();
    for c in discovered {
        if !out.iter().any(|s| s.alias == c.alias) {
            out.push(c.clone());
        }
    }
    out
}

pub struct Discovery {
    pub path: PathBuf,
    pub static_list: Vec<ClusterSpec>,
    pub client: Option<Client>,
    pub refresh: Duration,
    pub registry: Registry,
}

impl Discovery {
    pub fn new(cfg: &DaemonConfig, registry: Registry) -> Result<Discovery, super::DaemonError> {
        let client = cfg.orchestrator.as_ref().map(Client::new).transpose()?;
        let source = match (cfg.clusters.is_empty(), client.is_some()) {
            (false, true) => "static+orchestrator",
            (true, true) => "orchestrator",
            _ => "static",
        };
        registry.discovery(|d| {
            d.source = source.into();
            d.orchestrator_url = cfg.orchestrator.as_ref().map(|o| o.url.clone());
        });
        Ok(Discovery {
            path: cfg.path.clone(),
            static_list: cfg.clusters.clone(),
            client,
            refresh: cfg
                .orchestrator
                .as_ref()
                .map_or(Duration::from_secs(3600), |o| o.refresh),
            registry,
        })
    }

    /// Publish the cluster list until stopped; `reload` re-reads the file and refreshes now.
    pub async fn run(
        mut self,
        tx: watch::Sender<Vec<ClusterSpec>>,
        reload: Arc<Notify>,
        mut stop: Shutdown,
    ) {
        let mut discovered: Vec<ClusterSpec> = Vec::new();
        loop {
            if let Some(client) = &self.client {
                match client.clusters().await {
                    Ok(list) => {
                        discovered = list;
                        self.registry.discovery(|d| {
                            d.orchestrator_ok = Some(true);
                            d.orchestrator_error = None;
                            d.last_refresh_unix = Some(unix_now());
                        });
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "orchestrator did not answer: keeping the last known cluster list");
                        self.registry.discovery(|d| {
                            d.orchestrator_ok = Some(false);
                            d.orchestrator_error = Some(e.to_string());
                        });
                    }
                }
            }
            let list = merge(&self.static_list, &discovered);
            tx.send_if_modified(|cur| {
                if *cur == list {
                    false
                } else {
                    tracing::info!(clusters = ?list.iter().map(|c| format!("{}={}", c.alias, c.master)).collect::<Vec<_>>(), "cluster list");
                    *cur = list;
                    true
                }
            });
            tokio::select! {
                _ = stop.requested() => return,
                _ = tokio::time::sleep(self.refresh) => {}
                _ = reload.notified() => {
                    match DaemonConfig::load(&self.path) {
                        Ok(cfg) => {
                            tracing::info!(path = %self.path.display(), "SIGHUP: cluster list re-read");
                            self.static_list = cfg.clusters;
                        }
                        Err(e) => tracing::error!("SIGHUP: keeping the current cluster list: {e}"),
                    }
                }
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(alias: &str, master: &str) -> ClusterSpec {
        ClusterSpec {
            alias: alias.into(),
            master: master.into(),
            replicas: vec![],
        }
    }

    #[test]
    fn static_entries_win() {
        let m = merge(&[spec("a", "s:1")], &[spec("a", "o:1"), spec("b", "o:2")]);
        assert_eq!(m, vec![spec("a", "s:1"), spec("b", "o:2")]);
    }
}
