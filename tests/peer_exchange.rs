//! Peer exchange without HTTP: what a spool advertises, the stream of its transactions after
//! a position, and receiving that stream verified (length, checksums, complete transactions,
//! GTIDs), including streams that lie.

#[path = "spool_support/mod.rs"]
mod support;

use gapfill::binlog::gtid_set::GtidSet;
use gapfill::peer::{Export, PeerError, Reach, receive};
use gapfill::spool::{Spool, StartPoint};
use support::{FakeMaster, UUID, config, feed, txns};

fn set(s: &str) -> GtidSet {
    GtidSet::parse(s).unwrap()
}

/// A spool that captured gnos 101..=`last` (a rotation after 105), origin 1-100.
fn mysql_spool(dir: &std::path::Path, last: u64) -> Spool {
    mysql_spool_at(dir, last, 1_700_000_000_000_000)
}

/// [`mysql_spool`] whose transactions were committed from `t0` on (another history of the same
/// GTIDs when `t0` differs).
fn mysql_spool_at(dir: &std::path::Path, last: u64, t0: u64) -> Spool {
    let mut m = FakeMaster::mysql("binlog.000007");
    m.written = set(&format!("{UUID}:1-100"));
    m.file_head();
    let mut s = Spool::open(config(dir)).unwrap();
    s.begin(
        &m.info("db1:3306"),
        StartPoint::MySqlGtids(set(&format!("{UUID}:1-100"))),
    )
    .unwrap();
    feed(&mut s, &m.session_start());
    for g in 101..=last {
        if g == 106 {
            feed(&mut s, &m.rotate_to("binlog.000008"));
        }
        feed(&mut s, &m.mysql_txn(g, t0 + g));
    }
    s.sync().unwrap();
    s
}

#[test]
fn the_furthest_peer_streams_exactly_what_the_other_lacks() {
    let (a_dir, b_dir, out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = mysql_spool(a_dir.path(), 110);
    let b = mysql_spool(b_dir.path(), 103);
    let (ra, rb) = (Reach::of(&a), Reach::of(&b));
    assert_eq!(ra.beyond(&rb), Some(7));
    assert_eq!(rb.beyond(&ra), Some(0));
    assert_eq!(ra.transactions, 10);

    let export = Export::plan(&a, "c1", rb.executed.as_deref().unwrap()).unwrap();
    assert_eq!(export.promise.transactions, 7);
    assert_eq!(export.promise.gtids, format!("{UUID}:104-110"));
    let mut body = Vec::new();
    export.write_to(&mut body).unwrap();
    assert_eq!(body.len() as u64, export.promise.bytes);

    let dest = out.path().join("peer.binlog");
    let got = receive("peer-a", &export.promise, &mut body.as_slice(), &dest).unwrap();
    assert_eq!(got.transactions, 7);
    // The received transactions are byte for byte the spool's.
    let file = std::fs::read(&dest).unwrap();
    let held: Vec<Vec<u8>> = txns(&a)[3..]
        .iter()
        .map(|t| {
            let seg = std::fs::read(&t.segment).unwrap();
            seg[t.local_start as usize..t.local_end as usize].to_vec()
        })
        .collect();
    let mut at = 0usize;
    for t in &held {
        let i = file[at..]
            .windows(t.len())
            .position(|w| w == t.as_slice())
            .expect("transaction bytes in the stream");
        at += i + t.len();
    }
}

#[test]
fn a_stream_that_lies_is_refused_and_leaves_nothing() {
    let (a_dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = mysql_spool(a_dir.path(), 108);
    let export = Export::plan(&a, "c1", &format!("{UUID}:1-102")).unwrap();
    let mut body = Vec::new();
    export.write_to(&mut body).unwrap();
    let dest = out.path().join("peer.binlog");
    let refused = |promise: &gapfill::peer::Promise, bytes: &[u8]| {
        let mut r = bytes;
        let e = receive("peer-a", promise, &mut r, &dest).unwrap_err();
        assert!(!dest.exists(), "a refused stream must not land");
        assert!(
            !dest.with_extension("part").exists(),
            "the partial file must go"
        );
        e
    };
    // Cut short.
    let e = refused(&export.promise, &body[..body.len() - 10]);
    assert!(matches!(e, PeerError::Mismatch { .. }), "{e}");
    // Longer than promised.
    let mut long = body.clone();
    long.extend_from_slice(b"more");
    assert!(matches!(
        refused(&export.promise, &long),
        PeerError::Mismatch { .. }
    ));
    // One flipped byte inside an event: its checksum fails.
    let mut bad = body.clone();
    let n = bad.len();
    bad[n - 30] ^= 0x40;
    let e = refused(&export.promise, &bad);
    assert!(matches!(e, PeerError::Invalid { .. }), "{e}");
    // Other GTIDs than promised.
    let mut p = export.promise.clone();
    p.gtids = format!("{UUID}:103-107");
    assert!(matches!(refused(&p, &body), PeerError::Mismatch { .. }));
    // The honest stream still lands.
    receive("peer-a", &export.promise, &mut body.as_slice(), &dest).unwrap();
}

#[test]
fn a_peer_never_serves_a_hole() {
    let a_dir = tempfile::tempdir().unwrap();
    let a = mysql_spool(a_dir.path(), 105);
    // The spool starts after 1-100: it cannot serve from 1-50.
    let e = Export::plan(&a, "c1", &format!("{UUID}:1-50"))
        .err()
        .expect("a hole must be refused");
    assert!(matches!(e, PeerError::NotCovered(_)), "{e}");
    assert!(matches!(
        Export::plan(&a, "c1", "not a gtid set").err(),
        Some(PeerError::BadPosition { .. })
    ));
    // Nothing missing: an empty stream that still verifies.
    let ex = Export::plan(&a, "c1", &format!("{UUID}:1-105")).unwrap();
    assert_eq!(ex.promise.transactions, 0);
    let mut body = Vec::new();
    ex.write_to(&mut body).unwrap();
    let out = tempfile::tempdir().unwrap();
    receive(
        "peer-a",
        &ex.promise,
        &mut body.as_slice(),
        &out.path().join("p.binlog"),
    )
    .unwrap();
}

// ------------------------------------------------------------------------------------------
// Over the daemon's HTTP endpoint with mutual TLS (`[http] tls_cert/tls_key/client_ca`,
// `[peers] ca_file/cert_file/key_file`): only a peer with a certificate of the cluster CA is
// answered, and a fill trusts only a peer whose certificate chains to it.

/// `openssl` with `args`, in `dir`; a failure fails the test.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA `name`, and certificates it signs: `<name>-server` for 127.0.0.1, `<name>-client`.
fn cluster_ca(dir: &std::path::Path, name: &str) {
    let (ca, key) = (format!("{name}.pem"), format!("{name}.key"));
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
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &ca,
        ],
    );
    for (leaf, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        let base = format!("{name}-{leaf}");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={base}"),
                "-keyout",
                &format!("{base}.key"),
                "-out",
                &format!("{base}.csr"),
            ],
        );
        std::fs::write(dir.join(format!("{base}.ext")), format!("{ext}\n")).unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{base}.csr"),
                "-CA",
                &ca,
                "-CAkey",
                &key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{base}.ext"),
                "-out",
                &format!("{base}.pem"),
            ],
        );
    }
}

#[test]
fn peers_over_mutual_tls_answer_only_the_cluster() {
    use gapfill::peer::{PeerSet, client};
    use gapfill::protocol::{TlsMode, TlsOptions};
    let certs = tempfile::tempdir().unwrap();
    let c = certs.path();
    cluster_ca(c, "cluster");
    cluster_ca(c, "other");
    let root = tempfile::tempdir().unwrap();
    let spool_dir = root.path().join("spools");
    std::fs::create_dir_all(&spool_dir).unwrap();
    let a = mysql_spool(&spool_dir.join("c1"), 110);
    drop(a);
    let out = tempfile::tempdir().unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tls = gapfill::daemon::config::HttpTls {
        cert: c.join("cluster-server.pem"),
        key: c.join("cluster-server.key"),
        client_ca: Some(c.join("cluster.pem")),
    };
    let acceptor = gapfill::daemon::http::tls_acceptor(&tls).unwrap();
    let listener = rt
        .block_on(gapfill::daemon::http::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let registry = gapfill::daemon::state::Registry::new(std::time::Duration::from_secs(60));
    registry.add("c1", "db1:3306", false);
    let (trigger, stop) = gapfill::capture::Shutdown::new();
    rt.spawn(gapfill::daemon::http::serve(
        listener,
        registry,
        None,
        spool_dir.clone(),
        Some(acceptor),
        stop,
    ));

    let peers = |ca: &str, client: Option<&str>| PeerSet {
        addrs: vec![addr.clone()],
        token: None,
        timeout: std::time::Duration::from_secs(5),
        tls: Some(TlsOptions {
            mode: TlsMode::VerifyCa,
            ca_file: Some(c.join(format!("{ca}.pem"))),
            cert_file: client.map(|n| c.join(format!("{n}-client.pem"))),
            key_file: client.map(|n| c.join(format!("{n}-client.key"))),
            ..TlsOptions::default()
        }),
    };
    // The cluster's certificate both ways: the reach, then the stream.
    let good = peers("cluster", Some("cluster"));
    let reach = rt
        .block_on(client::reach(&good, &addr, "c1"))
        .expect("a peer with the cluster's certificate");
    assert_eq!(reach.transactions, 10);
    let local = Reach {
        mode: "mysql gtid".into(),
        executed: Some(format!("{UUID}:1-103")),
        transactions: 3,
        last_gtid: None,
        last_commit_us: None,
        streams: Vec::new(),
    };
    let (pulled, skipped) = rt.block_on(client::pull_best(
        &good,
        "c1",
        &local,
        &format!("{UUID}:1-103"),
        out.path(),
        &|_| Ok(()),
    ));
    let pulled = pulled.unwrap_or_else(|| panic!("nothing pulled: {skipped:?}"));
    assert_eq!(pulled.promise.gtids, format!("{UUID}:104-110"));

    // Refused: no client certificate, one of another CA, a plain HTTP client, and a server
    // whose certificate does not chain to the CA the fill trusts.
    for (what, set) in [
        ("no client certificate", peers("cluster", None)),
        (
            "a client certificate of another CA",
            peers("cluster", Some("other")),
        ),
        (
            "plain HTTP",
            PeerSet {
                tls: None,
                ..good.clone()
            },
        ),
        ("a server of another CA", peers("other", Some("cluster"))),
    ] {
        let r = rt.block_on(client::reach(&set, &addr, "c1"));
        assert!(r.is_err(), "{what}: answered {r:?}");
        let (pulled, skipped) = rt.block_on(client::pull_best(
            &set,
            "c1",
            &local,
            &format!("{UUID}:1-103"),
            out.path(),
            &|_| Ok(()),
        ));
        assert!(
            pulled.is_none() && skipped.len() == 1,
            "{what}: {skipped:?}"
        );
    }
    trigger.trigger();
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
}

/// A stream asked from this node's last transaction on must start with that transaction's very
/// bytes; then it is cut and the promise describes the rest. A peer that followed another
/// history of the same GTIDs (another master, a rewritten binlog) is refused and its file
/// removed; without an anchor, every transaction both hold is compared.
#[test]
fn a_stream_must_continue_this_spool() {
    use gapfill::peer::{Anchor, check_overlap};
    let (a_dir, b_dir, c_dir, out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = mysql_spool(a_dir.path(), 110);
    let b = mysql_spool(b_dir.path(), 103);
    let other = mysql_spool_at(c_dir.path(), 110, 1_800_000_000_000_000);
    let anchor = Anchor::of(&b).expect("b holds transactions");
    assert_eq!(anchor.gtid, format!("{UUID}:103"));
    assert_eq!(anchor.after, format!("{UUID}:1-102"));

    let pull = |from: &Spool, name: &str| {
        let export = Export::plan(from, "c1", &anchor.after).unwrap();
        let mut body = Vec::new();
        export.write_to(&mut body).unwrap();
        let dest = out.path().join(format!("{name}.binlog"));
        receive(name, &export.promise, &mut body.as_slice(), &dest).unwrap();
        (export.promise, dest)
    };
    // The same master: the anchor matches and is cut; 104-110 remain.
    let (mut promise, file) = pull(&a, "a");
    assert_eq!(promise.gtids, format!("{UUID}:103-110"));
    let o = check_overlap("a", &mut promise, &file, &b, Some(&anchor), true).unwrap();
    assert_eq!((o.same, o.stripped), (1, 1));
    assert_eq!(promise.transactions, 7);
    assert_eq!(promise.gtids, format!("{UUID}:104-110"));
    assert_eq!(promise.bytes, std::fs::metadata(&file).unwrap().len());
    // Another history of the same GTIDs: refused, nothing left behind.
    let (mut promise, file) = pull(&other, "other");
    let e = check_overlap("other", &mut promise, &file, &b, Some(&anchor), true).unwrap_err();
    assert!(matches!(e, PeerError::Diverges { .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("{UUID}:103 differs")),
        "{e}"
    );
    assert!(!file.exists());
    // Without an anchor (this spool does not cover the gap): what both hold is compared.
    let (mut promise, file) = pull(&other, "other2");
    let e = check_overlap("other2", &mut promise, &file, &a, None, false).unwrap_err();
    assert!(matches!(e, PeerError::Diverges { .. }), "{e}");
    let (mut promise, file) = pull(&a, "a2");
    let o = check_overlap("a2", &mut promise, &file, &a, None, false).unwrap();
    assert_eq!((o.same, o.stripped), (8, 0));
    assert_eq!(promise.transactions, 8, "nothing cut without strip");
}
