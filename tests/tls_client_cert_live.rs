//! Live proof of `--ssl-cert`/`--ssl-key` (and `ssl_cert`/`ssl_key`): an account that
//! `REQUIRE X509` on a real MySQL 9.7 is reached with the client certificate the server
//! generated, through both connection paths gapfill has (the replication protocol of
//! `capture`, and the SQL sessions of `fill`/`replay`), and refused without it.
//!
//! `#[ignore]`d: needs the sandbox servers (scripts/test).

mod common;

use std::process::{Command, Stdio};

use common::{Server, server_lock};
use gapfill::apply::TargetOptions;
use gapfill::credentials::Credentials;
use gapfill::protocol::{Password, TlsMode, TlsOptions};
use mysql_async::prelude::Queryable;

const PW: &str = "gf-x509-pw";

fn tls(s: &Server, with_cert: bool) -> TlsOptions {
    TlsOptions {
        mode: TlsMode::Required,
        cert_file: with_cert.then(|| s.datadir.join("client-cert.pem")),
        key_file: with_cert.then(|| s.datadir.join("client-key.pem")),
        // The sandbox's self-generated certificates (see scripts/sandbox).
        allow_unverified: true,
        ..TlsOptions::default()
    }
}

fn capture(s: &Server, cert: bool) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (
        s.datadir.join("client-cert.pem"),
        s.datadir.join("client-key.pem"),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gapfill"));
    cmd.arg("capture")
        .args([
            "--source",
            &s.addr,
            "--stop-at-end",
            "--server-id",
            "3300001",
        ])
        .arg("--dir")
        .arg(dir.path().join("spool"))
        .args(["--ssl-mode", "required"]);
    if cert {
        cmd.arg("--ssl-cert").arg(&c).arg("--ssl-key").arg(&k);
    }
    cmd.env("GAPFILL_USER", "gf_x509")
        .env("GAPFILL_PASSWORD", PW)
        .stdin(Stdio::null())
        .output()
        .expect("run gapfill capture")
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_x509_account_needs_the_client_certificate() {
    let _g = server_lock();
    let s = Server::mysql_target();
    s.sql_text(&format!(
        "DROP USER IF EXISTS gf_x509;\n\
         CREATE USER gf_x509 IDENTIFIED BY '{PW}' REQUIRE X509;\n\
         GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO gf_x509;\n"
    ));

    // The SQL sessions (fill, replay).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = |cert| TargetOptions {
        addr: s.addr.clone(),
        credentials: Credentials {
            user: "gf_x509".into(),
            password: Password::new(PW),
            source: "test".into(),
        },
        tls: tls(&s, cert),
    };
    rt.block_on(async {
        let mut c = target(true)
            .connect()
            .await
            .expect("connect with the certificate");
        let one: Option<u8> = c.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
        let _ = c.disconnect().await;
        let e = target(false).connect().await.map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("1045"), "{e}");
    });
    // The replication protocol (capture).
    let ok = capture(&s, true);
    assert!(
        ok.status.success(),
        "capture with the client certificate: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let refused = capture(&s, false);
    assert!(
        !refused.status.success(),
        "an X509 account was reached without a client certificate"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("access denied"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    s.sql("DROP USER gf_x509");
}
