//! Asking peer daemons, over HTTP: how far their spool reaches, and the stream after a
//! position, written to a file as it arrives and verified before anyone uses it.
//!
//! Owns the client side of the two peer endpoints the daemon serves
//! (`GET /peer/<cluster>/reach`, `GET /peer/<cluster>/transactions?after=<position>`) and the
//! choice of the peer to pull from. Every request has a deadline: a peer that is down or slow
//! is skipped, never waited for.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use super::error::PeerError;
use super::export::Promise;
use super::import::{Received, accept, part_path};
use super::reach::Reach;

/// The header carrying a stream's [`Promise`] (JSON).
pub const PROMISE_HEADER: &str = "x-gapfill-promise";

/// Where and how to reach the peers.
#[derive(Debug, Clone, Default)]
pub struct PeerSet {
    /// `host:port` of each peer daemon's HTTP endpoint.
    pub addrs: Vec<String>,
    /// Bearer token the peers require (the daemons' `[http] token_file`).
    pub token: Option<crate::protocol::Password>,
    /// Deadline of each question; a stream may take 60 times as long.
    pub timeout: Duration,
    /// https to the peers (`[peers] ca_file`, `cert_file`, `key_file`): their certificates
    /// must chain to the cluster CA; this node presents its client certificate.
    pub tls: Option<crate::protocol::TlsOptions>,
}

/// `GET path` of `peer`, over https when the set says so.
async fn get(
    set: &PeerSet,
    peer: &str,
    path: &str,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let auth = bearer(set);
    match &set.tls {
        Some(tls) => request_tls(peer, path, auth.as_deref(), tls).await,
        None => request(peer, path, auth.as_deref()).await,
    }
}

/// What a pull brought.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pulled {
    pub peer: String,
    /// What the peer said it reaches (its recent stream sessions included).
    pub reach: Reach,
    pub promise: Promise,
    pub file: std::path::PathBuf,
}

/// Percent-encode a position for a query string.
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.:,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Send `GET path` to `authority` (`host:port`, plain HTTP/1.1) with an optional
/// `Authorization` header value; the response, its body still to be read. No deadline: the
/// caller sets one around the whole exchange. The daemon's own GETs use it too.
pub async fn request(
    authority: &str,
    path: &str,
    authorization: Option<&str>,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    send(stream, authority, path, authorization).await
}

/// As [`request`], over TLS: the server's certificate must chain to `tls`'s CA file and
/// name the host (`tls.mode` is used as given; callers ask for `VerifyIdentity`).
pub async fn request_tls(
    authority: &str,
    path: &str,
    authorization: Option<&str>,
    tls: &crate::protocol::TlsOptions,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    use crate::protocol::tls::{client_config, server_name};
    let config = client_config(tls).map_err(|e| e.to_string())?;
    let name = server_name(tls, authority).map_err(|e| e.to_string())?;
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    send(stream, authority, path, authorization).await
}

async fn send<T>(
    io: T,
    authority: &str,
    path: &str,
    authorization: Option<&str>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(conn);
    let mut req = Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "gapfill");
    if let Some(a) = authorization {
        req = req.header(hyper::header::AUTHORIZATION, a);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad request: {e}"))?;
    sender
        .send_request(req)
        .await
        .map_err(|e| format!("request failed: {e}"))
}

fn bearer(set: &PeerSet) -> Option<String> {
    set.token.as_ref().map(|t| format!("Bearer {}", t.expose()))
}

async fn error_text(resp: hyper::Response<hyper::body::Incoming>) -> String {
    let status = resp.status();
    let body = http_body_util::Limited::new(resp.into_body(), 64 << 10)
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
        .unwrap_or_default();
    format!("HTTP {status}: {body}")
}

/// How far `peer`'s spool of `cluster` reaches.
pub async fn reach(set: &PeerSet, peer: &str, cluster: &str) -> Result<Reach, String> {
    let path = format!("/peer/{}/reach", encode_query(cluster));
    let work = async {
        let resp = get(set, peer, &path).await?;
        if !resp.status().is_success() {
            return Err(error_text(resp).await);
        }
        let body = http_body_util::Limited::new(resp.into_body(), 1 << 20)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| format!("not a reach: {e}"))
    };
    tokio::time::timeout(set.timeout, work)
        .await
        .map_err(|_| format!("no answer within {:?}", set.timeout))?
}

/// Pull the transactions `peer` holds after `after` into `dest`, verified.
pub async fn pull(
    set: &PeerSet,
    peer: &str,
    cluster: &str,
    after: &str,
    dest: &Path,
) -> Result<(Promise, Received), String> {
    let path = format!(
        "/peer/{}/transactions?after={}",
        encode_query(cluster),
        encode_query(after)
    );
    let part = part_path(dest);
    let work = async {
        let resp = get(set, peer, &path).await?;
        if !resp.status().is_success() {
            return Err(error_text(resp).await);
        }
        let promise: Promise = resp
            .headers()
            .get(PROMISE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str(v).ok())
            .ok_or("the answer has no promise header")?;
        let mut body = resp.into_body();
        let mut f = tokio::fs::File::create(&part)
            .await
            .map_err(|e| format!("{}: {e}", part.display()))?;
        let mut got = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("reading the stream: {e}"))?;
            if let Ok(data) = frame.into_data() {
                got += data.len() as u64;
                if got > promise.bytes {
                    return Err(format!("more than the {} bytes promised", promise.bytes));
                }
                f.write_all(&data)
                    .await
                    .map_err(|e| format!("{}: {e}", part.display()))?;
            }
        }
        f.flush()
            .await
            .map_err(|e| format!("{}: {e}", part.display()))?;
        Ok(promise)
    };
    // The reach answered within `timeout`; the stream itself may take longer.
    let deadline = set.timeout * 60;
    let promise = match tokio::time::timeout(deadline, work).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        Err(_) => {
            let _ = std::fs::remove_file(&part);
            return Err(format!("the stream did not end within {deadline:?}"));
        }
    };
    let received = accept(peer, &promise, &part, dest).map_err(|e: PeerError| e.to_string())?;
    Ok((promise, received))
}

/// Ask every peer how far it reaches and pull, from the one holding the most beyond `local`,
/// what `local` lacks after `after` (falling back to the next peer when a pull fails or
/// `check` refuses what it brought: see `import::check_overlap`). The second value lists the
/// peers skipped and why.
pub async fn pull_best(
    set: &PeerSet,
    cluster: &str,
    local: &Reach,
    after: &str,
    dir: &Path,
    check: &dyn Fn(&mut Pulled) -> Result<(), String>,
) -> (Option<Pulled>, Vec<String>) {
    let mut skipped = Vec::new();
    // Ask all at once: the slowest peer's deadline bounds the whole.
    let asks: Vec<_> = set
        .addrs
        .iter()
        .map(|p| {
            let (set, peer, cluster) = (set.clone(), p.clone(), cluster.to_string());
            (
                p,
                tokio::spawn(async move { reach(&set, &peer, &cluster).await }),
            )
        })
        .collect();
    let mut ranked: Vec<(u64, &String, Reach)> = Vec::new();
    for (peer, ask) in asks {
        let r = ask.await.unwrap_or_else(|e| Err(e.to_string()));
        match r {
            Ok(r) => match r.beyond(local) {
                Some(n) if n > 0 => ranked.push((n, peer, r)),
                Some(_) => skipped.push(format!("{peer}: holds nothing beyond this spool")),
                None => skipped.push(format!("{peer}: not comparable ({} spool)", r.mode)),
            },
            Err(e) => skipped.push(format!("{peer}: {e}")),
        }
    }
    ranked.sort_by_key(|r| std::cmp::Reverse(r.0));
    for (n, peer, reach) in ranked {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let dest = dir.join(format!(
            "peer-{}-{stamp}.binlog",
            peer.replace([':', '/'], "_")
        ));
        tracing::info!(
            peer,
            beyond = n,
            "fill: pulling from the peer that reaches furthest"
        );
        match pull(set, peer, cluster, after, &dest).await {
            Ok((promise, received)) => {
                let mut pulled = Pulled {
                    peer: peer.clone(),
                    reach,
                    promise,
                    file: received.path,
                };
                match check(&mut pulled) {
                    Ok(()) => return (Some(pulled), skipped),
                    Err(e) => {
                        let _ = std::fs::remove_file(&pulled.file);
                        skipped.push(format!("{peer}: {e}"));
                    }
                }
            }
            Err(e) => skipped.push(format!("{peer}: {e}")),
        }
    }
    (None, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_travel_in_a_query() {
        assert_eq!(
            encode_query("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:t:7,0-1-2"),
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:t:7,0-1-2"
        );
        assert_eq!(encode_query("a b/c&d"), "a%20b%2Fc%26d");
    }
}
