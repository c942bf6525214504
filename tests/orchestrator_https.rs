//! orchestrator's API over https: the daemon's client (also the fill's witness) verifies the
//! server's certificate against `[orchestrator] ca_file` and sends basic auth inside TLS. A
//! local TLS server with a test CA made by `openssl` answers with the real API samples.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use gapfill::daemon::config::OrchestratorApi;
use gapfill::daemon::orchestrator::Client;
use gapfill::protocol::Password;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed to make the test CA (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and a second, unrelated CA.
fn make_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=orchestrator",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=other-ca",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
        ],
    );
}

fn samples() -> serde_json::Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/orchestrator/api-samples.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Serve the pre-failover samples over TLS; records the Authorization header of each request.
async fn serve(dir: &Path, seen: Arc<std::sync::Mutex<Vec<String>>>) -> String {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pre = samples()["pre_failover"].clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, pre, seen) = (acceptor.clone(), pre.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&got).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                if let Some(a) = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                {
                    seen.lock().unwrap().push(a.to_string());
                }
                let body = match path.as_str() {
                    "/api/clusters-info" => pre["GET /api/clusters-info"].to_string(),
                    p if p.starts_with("/api/master/") => {
                        pre["GET /api/master/sandbox97"].to_string()
                    }
                    p if p.starts_with("/api/instance/") => {
                        pre["GET /api/master/127.0.0.1:33061"].to_string()
                    }
                    _ => "{}".into(),
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://{addr}")
}

fn api(url: &str, ca: Option<&Path>) -> OrchestratorApi {
    OrchestratorApi {
        url: url.into(),
        user: Some("orc".into()),
        password: Some(Password::new("orc-secret")),
        refresh: Duration::from_secs(30),
        timeout: Duration::from_secs(5),
        ca_file: ca.map(Path::to_path_buf),
    }
}

#[test]
fn orchestrator_over_https_with_a_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let url = serve(dir.path(), seen.clone()).await;

        // The right CA: the cluster list and an instance, basic auth sent inside TLS.
        let c = Client::new(&api(&url, Some(&dir.path().join("ca.pem")))).unwrap();
        let clusters = c.clusters().await.unwrap();
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].alias, "sandbox97");
        let i = c.instance("127.0.0.1:33061").await.unwrap();
        assert_eq!(i.addr, "127.0.0.1:33061");
        assert!(
            seen.lock().unwrap().iter().all(|a| a.contains("Basic ")),
            "{seen:?}"
        );

        // A certificate that does not chain to the configured CA is refused.
        let c = Client::new(&api(&url, Some(&dir.path().join("other.pem")))).unwrap();
        let e = c.clusters().await.unwrap_err().to_string();
        assert!(e.to_ascii_lowercase().contains("certificate"), "{e}");

        // https without a CA file is refused up front.
        let e = Client::new(&api(&url, None)).err().unwrap().to_string();
        assert!(e.contains("ca_file"), "{e}");
    });
}
