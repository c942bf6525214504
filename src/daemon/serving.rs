//! `[serve]`: one cluster's spool served to replicas, as a binlog server would.
//!
//! Owns the task that keeps a `serve::Server` listening on the cluster's configured address
//! while the daemon follows the cluster: it waits (retrying every few seconds, the reason in
//! `gapfill status`) until the spool holds a GTID stream, then serves until the daemon stops
//! or forgets the cluster. Replicas get what the spool holds, epochs included, and error 1236
//! when it cannot prove it holds what they lack (`serve`'s rules). It does not capture, choose
//! what to serve, or speak the protocol (`serve`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::capture::Shutdown;
use crate::serve::{ServeConfig, Server};

use super::config::DaemonConfig;
use super::state::Registry;

/// How long to wait before trying again to serve a spool that cannot be served yet.
const RETRY: Duration = Duration::from_secs(5);

/// The serve task of one cluster.
pub struct Serving {
    pub cfg: Arc<DaemonConfig>,
    pub alias: String,
    pub addr: SocketAddr,
    pub stop: Shutdown,
    pub registry: Registry,
}

impl Serving {
    pub async fn run(mut self) {
        let Some(settings) = self.cfg.serve.clone() else {
            return;
        };
        let dir = match crate::spool::cluster_dir(&self.cfg.spool_dir, &self.alias) {
            Ok(d) => d,
            Err(why) => {
                self.say(format!("not served: {why}"));
                return;
            }
        };
        let mut last_said = String::new();
        loop {
            let mut sc = ServeConfig::new(
                dir.clone(),
                self.addr.to_string(),
                settings.user.clone(),
                settings.password.clone(),
            );
            sc.tls = settings.tls.clone();
            match Server::bind(sc).await {
                Ok(server) => {
                    let addr = server.local_addr().unwrap_or(self.addr);
                    self.say(format!(
                        "serving the spool to replicas on {addr}{}",
                        if settings.tls.is_some() { " (TLS)" } else { "" }
                    ));
                    tracing::info!(cluster = %self.alias, %addr, "serving the spool to replicas");
                    let stop = &mut self.stop;
                    match server.run(stop.requested()).await {
                        Ok(()) => return,
                        Err(e) => {
                            let what = format!(
                                "serving on {} stopped: {e}; starting again in {RETRY:?}",
                                self.addr
                            );
                            tracing::warn!(cluster = %self.alias, "{what}");
                            self.say(what);
                        }
                    }
                }
                Err(e) => {
                    let what = format!(
                        "not serving on {} yet: {e}; trying again every {RETRY:?}",
                        self.addr
                    );
                    // Said once per reason, not every retry.
                    if what != last_said {
                        tracing::warn!(cluster = %self.alias, "{what}");
                        last_said = what.clone();
                    }
                    self.say(what);
                }
            }
            tokio::select! {
                _ = self.stop.requested() => return,
                _ = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    fn say(&self, what: String) {
        self.registry.set_serve(&self.alias, what);
    }
}
