//! One HTTP/1.1 GET with a deadline: what the daemon asks orchestrator and what
//! `gapfill status` asks the daemon.
//!
//! `http://`, or `https://` with the server's certificate verified against a CA file (the
//! TLS vocabulary of `protocol::tls`). It owns URL splitting, the deadline and
//! reading a bounded answer; the request itself is `peer::client::request`. It does not know
//! what the answers mean.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::error::DaemonError;

/// Answers larger than this are refused (orchestrator's biggest answers are a few hundred KB).
const MAX_BODY: usize = 16 << 20;

/// A base URL, split: where to connect and the path prefix of every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host:port` (the scheme's port when the URL names none).
    pub authority: String,
    /// The path prefix, without a trailing slash.
    pub prefix: String,
    /// `https://`: TLS with a verified certificate.
    pub https: bool,
}

/// `http[s]://host[:port]/prefix` → its parts.
pub fn split_url(url: &str) -> Result<HttpUrl, String> {
    let (rest, https) = if let Some(r) = url.strip_prefix("https://") {
        (r, true)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, false)
    } else {
        return Err(format!("{url:?}: expected an http:// or https:// URL"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "{url:?}: expected http[s]://host:port (credentials go in user/password_file, not the URL)"
        ));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:{}", if https { 443 } else { 80 })
    };
    Ok(HttpUrl {
        authority,
        prefix: path.to_string(),
        https,
    })
}

/// The status code and body of `GET path` on `authority`, within `timeout` overall; over
/// TLS when `tls` is given.
pub async fn get(
    authority: &str,
    path: &str,
    authorization: Option<&str>,
    tls: Option<&crate::protocol::TlsOptions>,
    timeout: Duration,
) -> Result<(u16, Bytes), DaemonError> {
    let url = format!(
        "{}://{authority}{path}",
        if tls.is_some() { "https" } else { "http" }
    );
    let fail = |detail: String| DaemonError::Http {
        url: url.clone(),
        detail,
    };
    let work = async {
        let resp = match tls {
            Some(t) => crate::peer::client::request_tls(authority, path, authorization, t).await,
            None => crate::peer::client::request(authority, path, authorization).await,
        }
        .map_err(fail)?;
        let status = resp.status().as_u16();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| fail(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| fail(format!("no answer within {timeout:?}")))?
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = |a: &str, p: &str, https| HttpUrl {
            authority: a.into(),
            prefix: p.into(),
            https,
        };
        assert_eq!(
            split_url("http://orc:3000/").unwrap(),
            u("orc:3000", "", false)
        );
        assert_eq!(
            split_url("http://orc/orchestrator").unwrap(),
            u("orc:80", "/orchestrator", false)
        );
        assert_eq!(split_url("https://orc").unwrap(), u("orc:443", "", true));
        assert_eq!(
            split_url("https://orc:3443/api/").unwrap(),
            u("orc:3443", "/api", true)
        );
        assert!(split_url("ftp://orc:3000").is_err());
        assert!(split_url("http://u:p@orc:3000").is_err());
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }
}
