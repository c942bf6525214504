//! One HTTP/1.1 GET with a deadline: what the daemon asks orchestrator and what
//! `gapfill status` asks the daemon.
//!
//! Plain `http://` only (orchestrator and the daemon listen on local or private addresses;
//! put a TLS-terminating proxy in front otherwise). It owns URL splitting, the deadline and
//! reading a bounded answer; the request itself is `peer::client::request`. It does not know
//! what the answers mean.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::error::DaemonError;

/// Answers larger than this are refused (orchestrator's biggest answers are a few hundred KB).
const MAX_BODY: usize = 16 << 20;

/// `http://host:port/prefix` → (`host:port`, `/prefix` without a trailing slash).
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url:?}: only http:// URLs are supported (put a TLS proxy in front for https)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "{url:?}: expected http://host:port (credentials go in user/password_file, not the URL)"
        ));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

/// The status code and body of `GET path` on `authority`, within `timeout` overall.
pub async fn get(
    authority: &str,
    path: &str,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<(u16, Bytes), DaemonError> {
    let url = format!("http://{authority}{path}");
    let fail = |detail: String| DaemonError::Http {
        url: url.clone(),
        detail,
    };
    let work = async {
        let resp = crate::peer::client::request(authority, path, authorization)
            .await
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
        assert_eq!(
            split_url("http://orc:3000/").unwrap(),
            ("orc:3000".into(), String::new())
        );
        assert_eq!(
            split_url("http://orc/orchestrator").unwrap(),
            ("orc:80".into(), "/orchestrator".into())
        );
        assert!(split_url("https://orc:3000").is_err());
        assert!(split_url("http://u:p@orc:3000").is_err());
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }
}
