//! Asking a running capture to stop cleanly: a [`Shutdown`] handle the loop watches, set by
//! SIGINT/SIGTERM ([`on_signals`]) or by the daemon ([`Shutdown::new`] + [`ShutdownTrigger`]).
//!
//! The loop checks it between events; stopping (sync the spool, close the session) is the
//! loop's job, not this file's.

use tokio::sync::watch;

use super::error::CaptureError;

/// The side the capture loop watches. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The side that requests the stop.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }
}

impl Shutdown {
    /// A handle and its trigger.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// A handle that never fires.
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive forever so `requested` pends rather than resolving on close.
        std::mem::forget(tx);
        Shutdown { rx }
    }

    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once a stop is requested (or the trigger is dropped). Cancel-safe.
    pub async fn requested(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// A handle set by the first SIGINT or SIGTERM. Call inside a tokio runtime.
pub fn on_signals() -> Result<Shutdown, CaptureError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).map_err(CaptureError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(CaptureError::Signals)?;
    let (trigger, shutdown) = Shutdown::new();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        tracing::info!(
            signal = name,
            "stop requested: syncing the spool and closing"
        );
        trigger.trigger();
        // Keep the handlers installed so a second signal does not kill the process mid-sync.
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            tracing::warn!("already stopping: waiting for the spool to sync");
        }
    });
    Ok(shutdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trigger_wakes_waiters() {
        let (t, mut s) = Shutdown::new();
        assert!(!s.is_requested());
        let mut s2 = s.clone();
        let h = tokio::spawn(async move { s2.requested().await });
        t.trigger();
        s.requested().await;
        h.await.unwrap();
        assert!(s.is_requested());
        let n = Shutdown::never();
        assert!(!n.is_requested());
    }
}
