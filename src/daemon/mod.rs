//! The sidecar: `gapfill daemon` beside each orchestrator node, capturing every master of
//! every cluster so that whichever node leads can fill any failover.
//!
//! Files: [`config`] (the TOML file, validated whole at start), [`orchestrator`] (its API,
//! looked up by alias), [`discovery`] (the cluster list: static and/or orchestrator,
//! refreshed, SIGHUP), [`supervisor`] (one isolated task set per cluster), [`follow`] (one
//! cluster's captures, following a new master after a failover once it has been filled),
//! [`replicas`] (replica positions for fills without GTIDs), [`serving`] (`[serve]`: the
//! spool served to replicas), [`state`] (what status shows),
//! [`http`] + [`metrics`] (`/status`, `/metrics`, `/healthz`), [`http_client`] (one GET),
//! [`status_table`] (`gapfill status`), [`error`]. Decoding, SQL and the spool's format are
//! not this module's business: it drives `capture` and reads `spool` status.

pub mod config;
pub mod discovery;
pub mod error;
pub mod follow;
pub mod http;
pub mod http_client;
pub mod metrics;
pub mod orchestrator;
pub mod peer_endpoint;
pub mod replicas;
pub mod serving;
pub mod state;
pub mod status_table;
pub mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

pub use config::{ClusterSpec, DaemonConfig, LogFormat};
pub use error::DaemonError;

use crate::capture::Shutdown;

/// Run the daemon until SIGTERM or SIGINT: every capture stops and syncs its spool first.
pub async fn run(cfg: DaemonConfig) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    // `--check` only validated it; running creates it.
    std::fs::create_dir_all(&cfg.spool_dir).map_err(|source| DaemonError::Io {
        action: "cannot create spool_dir",
        path: cfg.spool_dir.clone(),
        source,
    })?;
    let cfg = Arc::new(cfg);
    let registry = state::Registry::new((cfg.heartbeat * 3).max(Duration::from_secs(5)));
    let listener = http::bind(cfg.http.listen).await?;
    let http_tls = cfg.http.tls.as_ref().map(http::tls_acceptor).transpose()?;
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let (trigger, stop) = Shutdown::new();
    let reload = Arc::new(Notify::new());

    let discovery = discovery::Discovery::new(&cfg, registry.clone())?;
    let (tx, rx) = watch::channel(Vec::new());
    tracing::info!(
        listen = %cfg.http.listen,
        spool_dir = %cfg.spool_dir.display(),
        clusters = cfg.clusters.len(),
        orchestrator = cfg.orchestrator.as_ref().map(|o| o.url.as_str()),
        user = %cfg.credentials.user,
        credentials_from = %cfg.credentials.source,
        "gapfill daemon starting"
    );
    let http_task = tokio::spawn(http::serve(
        listener,
        registry.clone(),
        cfg.http.token.clone(),
        cfg.spool_dir.clone(),
        http_tls,
        stop.clone(),
    ));
    let discovery_task = tokio::spawn(discovery.run(tx, reload.clone(), stop.clone()));
    let supervisor = supervisor::Supervisor::new(cfg.clone(), registry.clone());
    let mut supervisor_task = tokio::spawn(supervisor.run(rx, stop.clone()));

    let mut supervisor_done = false;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping every capture (spools are synced)"); break }
            _ = int.recv() => { tracing::info!("SIGINT: stopping every capture (spools are synced)"); break }
            _ = hup.recv() => { tracing::info!("SIGHUP: reloading the cluster list"); reload.notify_one(); }
            _ = &mut supervisor_task => {
                tracing::error!("the supervisor ended unexpectedly");
                supervisor_done = true;
                break;
            }
        }
    }
    trigger.trigger();
    if !supervisor_done {
        let _ = supervisor_task.await;
    }
    let _ = discovery_task.await;
    let _ = http_task.await;
    tracing::info!("gapfill daemon stopped");
    Ok(())
}
