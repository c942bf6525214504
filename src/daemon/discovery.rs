//! Which clusters to follow and who their masters are: the static `[[cluster]]` list and,
//! when configured, orchestrator's clusters (looked up by alias), refreshed periodically and
//! on SIGHUP.
//!
//! An orchestrator that does not answer keeps the last known list (captures never stop
//! because discovery failed) and shows in the status. A cluster's master changes only once
//! orchestrator has named the new one in [`CONFIRM`] refreshes in a row, and never while two
//! masters answer to one alias ([`Settle`]): the question is shown in the status and
//! `/healthz` until it settles, and the current master is held meanwhile. A static entry wins over an
//! orchestrator cluster of the same alias. SIGHUP re-reads the configuration file's cluster
//! list; other settings need a restart. It starts no capture (see `supervisor`).

use std::collections::BTreeMap;
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

/// Refreshes in a row that must name a new master before it is followed.
pub const CONFIRM: u32 = 2;

/// Holds each alias's master until orchestrator's answers about it settle.
#[derive(Debug, Default)]
pub struct Settle {
    followed: BTreeMap<String, ClusterSpec>,
    /// alias -> (the new master named, in how many refreshes in a row).
    pending: BTreeMap<String, (String, u32)>,
}

impl Settle {
    /// One refresh's answer (an alias may appear more than once when two clusters carry it)
    /// -> the clusters to follow, and the unsettled questions in operator words.
    pub fn update(&mut self, answer: &[ClusterSpec]) -> (Vec<ClusterSpec>, Vec<String>) {
        let mut by_alias: BTreeMap<&str, Vec<&ClusterSpec>> = BTreeMap::new();
        for c in answer {
            let list = by_alias.entry(c.alias.as_str()).or_default();
            if !list.iter().any(|x| x.master == c.master) {
                list.push(c);
            }
        }
        let mut questions = Vec::new();
        let mut out = Vec::new();
        for (alias, specs) in by_alias {
            let held = self.followed.get(alias).cloned();
            if specs.len() > 1 {
                let masters: Vec<&str> = specs.iter().map(|c| c.master.as_str()).collect();
                questions.push(format!(
                    "cluster {alias}: orchestrator names {} masters ({}); {}: give each \
                     cluster its own alias (DetectClusterAliasQuery) or forget the stale one in \
                     orchestrator",
                    masters.len(),
                    masters.join(", "),
                    match &held {
                        Some(h) => format!("still following {}", h.master),
                        None => "following none of them until one remains".into(),
                    }
                ));
                self.pending.remove(alias);
                out.extend(held);
                continue;
            }
            let new = specs[0];
            let adopt = match &held {
                None => true,
                Some(h) if h.master == new.master => true,
                Some(h) => {
                    let streak = match self.pending.get(alias) {
                        Some((m, n)) if *m == new.master => n + 1,
                        _ => 1,
                    };
                    if streak >= CONFIRM {
                        tracing::info!(cluster = alias, from = %h.master, to = %new.master, "orchestrator names a new master: following it");
                        true
                    } else {
                        questions.push(format!(
                            "cluster {alias}: orchestrator now names {} as master instead of {} \
                             (seen {streak} of {CONFIRM} refreshes); still following {}",
                            new.master, h.master, h.master
                        ));
                        self.pending
                            .insert(alias.to_string(), (new.master.clone(), streak));
                        out.push(h.clone());
                        false
                    }
                }
            };
            if adopt {
                self.pending.remove(alias);
                self.followed.insert(alias.to_string(), new.clone());
                out.push(new.clone());
            }
        }
        // Aliases orchestrator no longer names are forgotten, as before.
        self.followed
            .retain(|a, _| answer.iter().any(|c| &c.alias == a));
        self.pending
            .retain(|a, _| answer.iter().any(|c| &c.alias == a));
        (out, questions)
    }
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
        let mut settle = Settle::default();
        loop {
            if let Some(client) = &self.client {
                match client.clusters().await {
                    Ok(list) => {
                        let (list, questions) = settle.update(&list);
                        for q in &questions {
                            tracing::warn!("{q}");
                        }
                        discovered = list;
                        self.registry.discovery(|d| {
                            d.orchestrator_ok = Some(true);
                            d.orchestrator_error = None;
                            d.last_refresh_unix = Some(unix_now());
                            d.unsettled = questions;
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
    fn a_new_master_is_followed_once_confirmed() {
        let mut s = Settle::default();
        assert_eq!(
            s.update(&[spec("a", "m1:1")]),
            (vec![spec("a", "m1:1")], vec![])
        );
        // A failover: named once, held; named again, followed.
        let (l, q) = s.update(&[spec("a", "m2:1")]);
        assert_eq!(l, vec![spec("a", "m1:1")]);
        assert!(
            q[0].contains("m2:1") && q[0].contains("still following m1:1"),
            "{q:?}"
        );
        assert_eq!(
            s.update(&[spec("a", "m2:1")]),
            (vec![spec("a", "m2:1")], vec![])
        );
    }

    #[test]
    fn flapping_and_two_masters_for_one_alias_hold_the_current_master() {
        let mut s = Settle::default();
        s.update(&[spec("a", "m1:1")]);
        // Alternating answers never confirm the other master.
        for _ in 0..10 {
            assert_eq!(
                s.update(&[spec("a", "phantom:1")]).0,
                vec![spec("a", "m1:1")]
            );
            assert_eq!(s.update(&[spec("a", "m1:1")]).0, vec![spec("a", "m1:1")]);
        }
        // Both in one answer: held, and the question says so in operator words.
        let (l, q) = s.update(&[spec("a", "m1:1"), spec("a", "phantom:1")]);
        assert_eq!(l, vec![spec("a", "m1:1")]);
        assert!(q[0].contains("names 2 masters (m1:1, phantom:1)"), "{q:?}");
        assert!(q[0].contains("still following m1:1"), "{q:?}");
        // Never seen before and ambiguous: nothing followed until it settles.
        let (l, q) = s.update(&[spec("b", "x:1"), spec("b", "y:1")]);
        assert!(l.is_empty() && q.len() == 1, "{l:?} {q:?}");
        // An alias orchestrator no longer names is dropped.
        assert!(s.update(&[]).0.is_empty());
    }

    #[test]
    fn static_entries_win() {
        let m = merge(&[spec("a", "s:1")], &[spec("a", "o:1"), spec("b", "o:2")]);
        assert_eq!(m, vec![spec("a", "s:1"), spec("b", "o:2")]);
    }
}
