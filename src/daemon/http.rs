//! The daemon's HTTP endpoint: `/healthz`, `/status` (JSON) and `/metrics` (Prometheus), and
//! the peer endpoints (`peer_endpoint.rs`), on the configured address (loopback by default),
//! optionally behind a bearer token compared in constant time and over TLS, with client
//! certificates of a cluster CA required when `[http] client_ca` is set.
//!
//! Answers from the registry's snapshot; it changes nothing. hyper 1 with HTTP/1.1 only, each
//! connection with a read deadline so an idle client cannot hold it open forever.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::capture::Shutdown;
use crate::protocol::Password;

use super::error::DaemonError;
use super::metrics;
use super::peer_endpoint::{self, HttpBody, full};
use super::state::Registry;

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, DaemonError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: addr.to_string(),
            source,
        })
}

fn authorized(req: &Request<Incoming>, token: Option<&Password>) -> bool {
    let Some(token) = token else { return true };
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let want = token.expose().as_bytes();
    // Lengths differ: still compare something of equal length to keep the time flat.
    let eq = if given.len() == want.len() {
        given.as_bytes().ct_eq(want)
    } else {
        want.ct_eq(want) & 0u8.ct_eq(&1u8)
    };
    bool::from(eq)
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<HttpBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// The answer to one request.
pub fn route(path: &str, registry: &Registry) -> Response<HttpBody> {
    let snap = registry.snapshot();
    match path {
        "/healthz" => {
            let sick: Vec<String> = snap
                .clusters
                .iter()
                .filter(|c| !c.healthy())
                .map(|c| {
                    format!(
                        "{}: {}{}",
                        c.alias,
                        c.state.name(),
                        c.message
                            .as_ref()
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            let mut body = if sick.is_empty() {
                format!("ok: {} clusters capturing\n", snap.clusters.len())
            } else {
                format!("running; unhealthy clusters:\n{}\n", sick.join("\n"))
            };
            for q in &snap.discovery.unsettled {
                body.push_str(&format!("unsettled: {q}\n"));
            }
            if snap.discovery.orchestrator_ok == Some(false) {
                body.push_str(&format!(
                    "orchestrator unreachable: {}\n",
                    snap.discovery.orchestrator_error.as_deref().unwrap_or("")
                ));
            }
            reply(StatusCode::OK, "text/plain; charset=utf-8", body)
        }
        "/status" => reply(
            StatusCode::OK,
            "application/json",
            serde_json::to_string_pretty(&snap).unwrap_or_else(|_| "{}".into()),
        ),
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(&snap),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /status, /metrics, /healthz or /peer/<cluster>/reach\n".into(),
        ),
    }
}

/// Connections served at once; more wait in the kernel's backlog until one ends.
const MAX_CONNECTIONS: usize = 64;
/// A request's headers must arrive within this; an idle keep-alive connection is closed
/// after it too.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection lives longer (a peer's transaction stream included).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);

/// The endpoint's TLS from `[http]` (with client certificates required when `client_ca`).
pub fn tls_acceptor(
    tls: &super::config::HttpTls,
) -> Result<tokio_rustls::TlsAcceptor, DaemonError> {
    crate::protocol::tls::server_config(&tls.cert, &tls.key, tls.client_ca.as_deref())
        .map(tokio_rustls::TlsAcceptor::from)
        .map_err(|e| DaemonError::Http {
            url: "[http] tls_cert/tls_key/client_ca".into(),
            detail: e.to_string(),
        })
}

/// Serve until `stop`; over TLS with `tls` (the handshake, a client certificate included when
/// required, must finish within the header timeout).
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    token: Option<Password>,
    spool_dir: std::path::PathBuf,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: Shutdown,
) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = stop.requested() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = stop.requested() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "http: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let registry = registry.clone();
        let token = token.clone();
        let spool_dir = spool_dir.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let io = match tls {
                None => Io::Plain(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => Io::Tls(Box::new(s)),
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "http: TLS handshake refused");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let ok = authorized(&req, token.as_ref());
                let (registry, spool_dir) = (registry.clone(), spool_dir.clone());
                async move {
                    let resp = if !ok {
                        let mut r = reply(
                            StatusCode::UNAUTHORIZED,
                            "text/plain; charset=utf-8",
                            "a bearer token is required\n".into(),
                        );
                        r.headers_mut().insert(
                            hyper::header::WWW_AUTHENTICATE,
                            hyper::header::HeaderValue::from_static("Bearer"),
                        );
                        r
                    } else if req.method() != hyper::Method::GET {
                        reply(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "text/plain; charset=utf-8",
                            "GET only\n".into(),
                        )
                    } else if req.uri().path().starts_with("/peer/") {
                        let known: Vec<String> = registry
                            .snapshot()
                            .clusters
                            .iter()
                            .map(|c| c.alias.clone())
                            .collect();
                        peer_endpoint::handle(
                            req.uri().path(),
                            req.uri().query(),
                            &spool_dir,
                            &known,
                        )
                        .await
                    } else {
                        route(req.uri().path(), &registry)
                    };
                    Ok::<_, Infallible>(resp)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(io), service);
            if let Err(e) = tokio::time::timeout(CONNECTION_LIFETIME, conn)
                .await
                .unwrap_or(Ok(()))
            {
                tracing::debug!(%peer, error = %e, "http: connection ended with an error");
            }
        });
    }
}

/// A connection, in clear or TLS.
enum Io {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::{Read, Write};

    /// Idle connections are closed after the header timeout, and at most MAX_CONNECTIONS are
    /// served at once: one more waits until a slot frees.
    #[test]
    fn idle_connections_are_closed_and_their_number_bounded() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(bind("127.0.0.1:0".parse().unwrap())).unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, stop) = crate::capture::Shutdown::new();
        rt.spawn(serve(
            listener,
            Registry::new(Duration::from_secs(60)),
            None,
            std::env::temp_dir(),
            None,
            stop,
        ));
        let t0 = std::time::Instant::now();
        let idle: Vec<std::net::TcpStream> = (0..MAX_CONNECTIONS)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        // Every slot is taken by a silent client: one more is not answered yet.
        let mut late = std::net::TcpStream::connect(addr).unwrap();
        late.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        late.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(
            late.read(&mut buf).is_err(),
            "a connection beyond the limit was served at once"
        );
        // The silent ones are closed by the header timeout, then the late one is served.
        late.set_read_timeout(Some(HEADER_TIMEOUT * 3)).unwrap();
        let n = late.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 "), "{:?}", &buf[..n]);
        let waited = t0.elapsed();
        assert!(waited >= HEADER_TIMEOUT, "{waited:?}");
        for mut c in idle {
            c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            assert!(
                matches!(c.read(&mut buf), Ok(0) | Err(_)),
                "an idle connection still open"
            );
        }
        trigger.trigger();
    }

    #[test]
    fn healthz_shows_an_unsettled_master_question() {
        let registry = Registry::new(std::time::Duration::from_secs(5));
        registry.discovery(|d| {
            d.unsettled = vec![
                "cluster main: orchestrator names 2 masters (a:1, b:1); still following a:1".into(),
            ]
        });
        let resp = route("/healthz", &registry);
        assert_eq!(resp.status(), StatusCode::OK);
        let body = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(resp.into_body().collect())
            .unwrap()
            .to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("unsettled: cluster main: orchestrator names 2 masters"),
            "{body}"
        );
    }
}
