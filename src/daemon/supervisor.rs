//! One follow task, one replica-position task and (with `[serve]`) one serve task per
//! cluster, started and stopped as the cluster list changes, each isolated from the others.
//!
//! A new alias starts its tasks; a forgotten alias is stopped gracefully (its capture syncs
//! the spool) in the background, so a slow stop never delays another cluster; a changed
//! master or replica list is handed to the running tasks, which follow it themselves (see
//! `follow`). On shutdown every task is stopped and awaited. It decides nothing about masters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::capture::{Shutdown, ShutdownTrigger};

use super::config::{ClusterSpec, DaemonConfig};
use super::follow::Follower;
use super::replicas::Recorder;
use super::serving::Serving;
use super::state::Registry;

/// How long a stopping capture may take to sync before the daemon exits anyway.
const STOP_LIMIT: Duration = Duration::from_secs(60);

struct Running {
    spec: watch::Sender<ClusterSpec>,
    trigger: ShutdownTrigger,
    tasks: Vec<JoinHandle<()>>,
}

pub struct Supervisor {
    pub cfg: Arc<DaemonConfig>,
    pub registry: Registry,
    running: BTreeMap<String, Running>,
}

impl Supervisor {
    pub fn new(cfg: Arc<DaemonConfig>, registry: Registry) -> Supervisor {
        Supervisor {
            cfg,
            registry,
            running: BTreeMap::new(),
        }
    }

    fn start(&mut self, spec: &ClusterSpec) {
        tracing::info!(cluster = %spec.alias, master = %spec.master, "following a cluster");
        self.registry
            .add(&spec.alias, &spec.master, self.cfg.semi_sync);
        let (tx, rx) = watch::channel(spec.clone());
        let (trigger, stop) = Shutdown::new();
        let follower = Follower {
            cfg: self.cfg.clone(),
            alias: spec.alias.clone(),
            spec: rx.clone(),
            stop: stop.clone(),
            registry: self.registry.clone(),
        };
        let stop_serve = stop.clone();
        let recorder = Recorder {
            cfg: self.cfg.clone(),
            alias: spec.alias.clone(),
            spec: rx,
            stop,
            registry: self.registry.clone(),
        };
        let mut tasks = vec![tokio::spawn(follower.run()), tokio::spawn(recorder.run())];
        let serve_addr = self.cfg.serve.as_ref().and_then(|s| {
            s.listen
                .iter()
                .find(|(a, _)| a == &spec.alias)
                .map(|(_, addr)| *addr)
        });
        if let Some(addr) = serve_addr {
            let serving = Serving {
                cfg: self.cfg.clone(),
                alias: spec.alias.clone(),
                addr,
                stop: stop_serve,
                registry: self.registry.clone(),
            };
            tasks.push(tokio::spawn(serving.run()));
        }
        self.running.insert(
            spec.alias.clone(),
            Running {
                spec: tx,
                trigger,
                tasks,
            },
        );
    }

    fn reconcile(&mut self, list: &[ClusterSpec]) {
        for spec in list {
            match self.running.get(&spec.alias) {
                Some(r) => {
                    r.spec.send_if_modified(|cur| {
                        let changed = cur != spec;
                        if changed {
                            *cur = spec.clone();
                        }
                        changed
                    });
                }
                None => self.start(spec),
            }
        }
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|a| !list.iter().any(|s| &s.alias == *a))
            .cloned()
            .collect();
        for alias in gone {
            if let Some(r) = self.running.remove(&alias) {
                tracing::info!(cluster = %alias, "the cluster is no longer listed: stopping its capture");
                r.trigger.trigger();
                let registry = self.registry.clone();
                tokio::spawn(async move {
                    for t in r.tasks {
                        let _ = tokio::time::timeout(STOP_LIMIT, t).await;
                    }
                    registry.remove(&alias);
                });
            }
        }
    }

    /// Follow the published cluster lists until `stop`, then stop every task and wait.
    pub async fn run(
        mut self,
        mut clusters: watch::Receiver<Vec<ClusterSpec>>,
        mut stop: Shutdown,
    ) {
        loop {
            let list = clusters.borrow_and_update().clone();
            self.reconcile(&list);
            tokio::select! {
                r = clusters.changed() => if r.is_err() { break },
                _ = stop.requested() => break,
            }
        }
        for r in self.running.values() {
            r.trigger.trigger();
        }
        for (alias, r) in std::mem::take(&mut self.running) {
            for t in r.tasks {
                if tokio::time::timeout(STOP_LIMIT, t).await.is_err() {
                    tracing::error!(cluster = %alias, "a task did not stop within {STOP_LIMIT:?}");
                }
            }
        }
    }
}
