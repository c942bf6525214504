//! The peer endpoints: how far this daemon's spools reach, and streams of their transactions
//! for a fill running on another orchestrator node.
//!
//! `GET /peer/<cluster>/reach` answers a [`Reach`]; `GET /peer/<cluster>/transactions?after=P`
//! answers the transactions the spool holds after position `P` as one binlog stream, its
//! [`crate::peer::Promise`] in a header, or 409 when the spool cannot prove it holds them all.
//! Spools are opened read-only (the capture keeps writing) on a blocking thread, and the
//! stream flows through a bounded channel, so a large gap never sits in memory and a client
//! that goes away stops the reading. What the stream contains is `peer::export`'s business.

use std::convert::Infallible;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use crate::peer::client::PROMISE_HEADER;
use crate::peer::{Export, PeerError, Reach};
use crate::spool::Spool;

/// Every response body of the daemon's HTTP endpoint.
pub type HttpBody = BoxBody<Bytes, std::io::Error>;

/// A fixed body.
pub fn full(body: String) -> HttpBody {
    http_body_util::Full::new(Bytes::from(body))
        .map_err(|e: Infallible| match e {})
        .boxed()
}

fn text(status: StatusCode, body: String) -> Response<HttpBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Chunks written on a blocking thread, read by hyper.
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// A `Write` feeding a [`ChannelBody`] in 64 KiB chunks; fails once the client is gone.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 << 10;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// `%XX` decoding of a query value (malformed escapes stay as they are).
fn decode_query(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answer a `/peer/...` request; `known` are the clusters this daemon follows.
pub async fn handle(
    path: &str,
    query: Option<&str>,
    spool_dir: &Path,
    known: &[String],
) -> Response<HttpBody> {
    let mut parts = path.trim_start_matches("/peer/").splitn(2, '/');
    let (cluster, what) = (
        decode_query(parts.next().unwrap_or("")),
        parts.next().unwrap_or(""),
    );
    if !known.contains(&cluster) {
        return text(
            StatusCode::NOT_FOUND,
            format!("this daemon does not follow a cluster named {cluster:?}\n"),
        );
    }
    let dir = spool_dir.join(&cluster);
    match what {
        "reach" => {
            let r = tokio::task::spawn_blocking(move || {
                Spool::open_read_only(&dir).map(|s| Reach::of(&s))
            })
            .await;
            match r {
                Ok(Ok(reach)) => {
                    let mut resp = Response::new(full(
                        serde_json::to_string(&reach).unwrap_or_else(|_| "{}".into()),
                    ));
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("application/json"),
                    );
                    resp
                }
                Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
            }
        }
        "transactions" => {
            let after = query
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("after="))
                .map(decode_query);
            let Some(after) = after else {
                return text(
                    StatusCode::BAD_REQUEST,
                    "give ?after=<GTID set or MariaDB position>\n".into(),
                );
            };
            stream(dir, cluster, after).await
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "peer endpoints: /peer/<cluster>/reach, /peer/<cluster>/transactions?after=P\n".into(),
        ),
    }
}

async fn stream(dir: std::path::PathBuf, cluster: String, after: String) -> Response<HttpBody> {
    let (tx, rx) = mpsc::channel(8);
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let planned = Spool::open_read_only(&dir)
            .map_err(PeerError::from)
            .and_then(|spool| Export::plan(&spool, &cluster, &after));
        let export = match planned {
            Ok(e) => e,
            Err(e) => {
                let _ = head_tx.send(Err(e));
                return;
            }
        };
        if head_tx.send(Ok(export.promise.clone())).is_err() {
            return;
        }
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = export.write_to(&mut w) {
            tracing::warn!(cluster, error = %e, "peer: a stream ended early");
            let _ =
                w.tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    match head_rx.await {
        Ok(Ok(promise)) => {
            let mut r = Response::new(ChannelBody { rx }.boxed());
            let h = r.headers_mut();
            h.insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(hyper::header::CONTENT_LENGTH, promise.bytes.into());
            if let Ok(v) = hyper::header::HeaderValue::from_str(
                &serde_json::to_string(&promise).unwrap_or_default(),
            ) {
                h.insert(PROMISE_HEADER, v);
            }
            r
        }
        Ok(Err(
            e @ (PeerError::NotCovered(_)
            | PeerError::BadPosition { .. }
            | PeerError::NoGtids { .. }),
        )) => text(StatusCode::CONFLICT, format!("{e}\n")),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the export thread stopped\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_decode() {
        assert_eq!(decode_query("a%20b%2Fc"), "a b/c");
        assert_eq!(decode_query("0-1-2,1-1-3"), "0-1-2,1-1-3");
        assert_eq!(decode_query("bad%zz%"), "bad%zz%");
    }
}
