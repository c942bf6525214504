//! Live proofs of `gapfill daemon` against the real sandbox: the MySQL 9.7 topology (master,
//! two replicas) and the MariaDB 10.11 one (master, replica), discovered from a small fake
//! orchestrator served by the test with the real API shapes and basic auth.
//!
//! * `failover_followed_and_filled`: both clusters captured; the MySQL master SIGKILLed, the
//!   lagging replica promoted the way orchestrator does it, the API updated; the daemon waits
//!   for the fill (the server itself refuses a GTID dump then: checked), the hook line runs as
//!   orchestrator runs it, the successor equals the dead master, the daemon follows the new
//!   master into epoch 2, and the MariaDB cluster captures throughout.
//! * `trouble_stays_in_its_cluster`: orchestrator going away, a master that does not answer,
//!   and a spool on a full disk each show in the status while the other cluster captures.
//! * `mysql_daemon_serves_its_spool`, `mariadb_daemon_serves_its_spool`: `[serve]`; a replica
//!   given only the spool's origin replicates the spool from the daemon over TLS to the
//!   master's CHECKSUM TABLE and GTIDs, and a later transaction follows.
//! * `mariadb_failover_static_list_and_sighup`: the MariaDB cluster from a static list, failed
//!   over, the list edited and SIGHUP sent; the daemon waits for the fill, the fill makes the
//!   successor equal to the dead master, the daemon follows into epoch 2.
//! * `peers_fill_what_the_leaders_capture_missed`: three daemons as peers; the leader's capture
//!   stopped early; its fill pulls the tail from the furthest peer.
//! * `malformed_config_lists_every_problem` (no servers needed).
//! * `soak_memory_and_cpu`: RSS over heavy writes and CPU seconds per MB captured (45 s in
//!   scripts/test, GAPFILL_SOAK_SECS for longer).
//!
//! Every live test ends with `reset-topology`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Kind, Server, Topology, checksums, env, executed, sandbox, server_lock, wait_timeout,
};
use serde_json::{Value, json};

const MYSQL: &str = "gf-mysql";
const MARIA: &str = "gf-maria";
const ORC_USER: &str = "orc-api";
const ORC_PASSWORD: &str = "orc-api-pw";
const TOKEN: &str = "status-token-123";

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn private_file(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn split_addr(a: &str) -> (&str, u16) {
    let (h, p) = a.rsplit_once(':').expect("HOST:PORT");
    (h, p.parse().expect("port"))
}

// ------------------------------------------------------------------------------------------
// a fake orchestrator: the real API shapes (tests/fixtures/orchestrator/api-samples.json)

#[derive(Clone)]
struct FakeCluster {
    name: String,
    alias: String,
    master: String,
    replicas: Vec<String>,
    lost_in_recovery: bool,
}

struct OrcState {
    clusters: Vec<FakeCluster>,
    up: bool,
    requests: u64,
    unauthorized: u64,
}

#[derive(Clone)]
struct FakeOrchestrator {
    port: u16,
    state: Arc<Mutex<OrcState>>,
}

fn key(addr: &str) -> Value {
    let (h, p) = split_addr(addr);
    json!({"Hostname": h, "Port": p})
}

impl FakeCluster {
    fn live(alias: &str, master: &Server, replicas: &[&Server]) -> FakeCluster {
        FakeCluster {
            name: master.addr.clone(),
            alias: alias.into(),
            master: master.addr.clone(),
            replicas: replicas.iter().map(|r| r.addr.clone()).collect(),
            lost_in_recovery: false,
        }
    }

    fn info(&self) -> Value {
        json!({"ClusterName": self.name, "ClusterAlias": self.alias, "ClusterDomain": "",
               "CountInstances": 1 + self.replicas.len(), "HeuristicLag": 0,
               "HasAutomatedMasterRecovery": true, "HasAutomatedIntermediateMasterRecovery": true})
    }

    fn master_record(&self) -> Value {
        let replicas: Vec<Value> = self.replicas.iter().map(|r| key(r)).collect();
        json!({"Key": key(&self.master), "InstanceAlias": "", "ServerID": 1,
               "ReadOnly": false, "LogBinEnabled": true, "GTIDMode": "ON",
               "MasterKey": {"Hostname": "", "Port": 0},
               "SlaveHosts": replicas, "Replicas": replicas,
               "ClusterName": self.name, "SuggestedClusterAlias": self.alias,
               "IsLastCheckValid": !self.lost_in_recovery, "IsUpToDate": true,
               "IsDowntimed": self.lost_in_recovery,
               "DowntimeReason": if self.lost_in_recovery { "lost-in-recovery" } else { "" },
               "UsingMariaDBGTID": false, "UsingOracleGTID": false, "Problems": []})
    }
}

impl FakeOrchestrator {
    fn start(clusters: Vec<FakeCluster>) -> FakeOrchestrator {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(OrcState {
            clusters,
            up: true,
            requests: 0,
            unauthorized: 0,
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve_one(stream, &s);
            }
        });
        FakeOrchestrator { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, f: impl FnOnce(&mut OrcState)) {
        f(&mut self.state.lock().unwrap())
    }
}

fn serve_one(mut stream: TcpStream, state: &Mutex<OrcState>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let auth_ok = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("authorization:")
            && l.trim_end().ends_with("b3JjLWFwaTpvcmMtYXBpLXB3") // orc-api:orc-api-pw
    });
    let mut st = state.lock().unwrap();
    if !st.up {
        // Unreachable: the connection drops without an answer.
        return;
    }
    st.requests += 1;
    let (code, body) = if !auth_ok {
        st.unauthorized += 1;
        ("401 Unauthorized", "Unauthorized".to_string())
    } else if path == "/api/clusters-info" {
        let v: Vec<Value> = st.clusters.iter().map(FakeCluster::info).collect();
        ("200 OK", Value::Array(v).to_string())
    } else if let Some(hint) = path.strip_prefix("/api/master/") {
        // By alias or by cluster name, as orchestrator's clusterHint.
        match st
            .clusters
            .iter()
            .find(|c| c.alias == hint)
            .or_else(|| st.clusters.iter().find(|c| c.name == hint))
        {
            Some(c) => ("200 OK", c.master_record().to_string()),
            None => (
                "500 Internal Server Error",
                json!({"Code": "ERROR", "Message": "Unable to determine cluster name"}).to_string(),
            ),
        }
    } else {
        ("404 Not Found", "{}".to_string())
    };
    drop(st);
    let _ = write!(
        stream,
        "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

// ------------------------------------------------------------------------------------------
// the daemon

struct Daemon {
    child: Child,
    log: PathBuf,
    http: String,
    config: PathBuf,
}

struct Setup {
    root: tempfile::TempDir,
    http_port: u16,
}

impl Setup {
    fn new() -> Setup {
        let root = tempfile::tempdir().unwrap();
        private_file(
            &root.path().join("credentials"),
            &format!(
                "[client]\nuser={}\npassword={}\n",
                env("GAPFILL_TEST_USER"),
                env("GAPFILL_TEST_PASSWORD")
            ),
        );
        private_file(&root.path().join("orc.pw"), ORC_PASSWORD);
        private_file(&root.path().join("token"), TOKEN);
        Setup {
            root,
            http_port: free_port(),
        }
    }

    fn spool(&self) -> PathBuf {
        self.root.path().join("spool")
    }

    fn config(&self, orc: Option<&FakeOrchestrator>, extra: &str) -> PathBuf {
        let r = self.root.path();
        let mut text = format!(
            "spool_dir = \"{spool}\"\nmax_lag = \"10m\"\nfollow_wait = \"5m\"\n\
             [credentials]\nfile = \"{r}/credentials\"\n\
             [capture]\nheartbeat = \"1s\"\nfsync = \"interval\"\nallow_unverified_tls = true\n\
             [replicas]\ninterval = \"1s\"\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"{r}/token\"\n",
            spool = self.spool().display(),
            r = r.display(),
            port = self.http_port
        );
        if let Some(o) = orc {
            text.push_str(&format!(
                "[orchestrator]\nurl = \"{}\"\nuser = \"{ORC_USER}\"\npassword_file = \"{}/orc.pw\"\n\
                 refresh = \"1s\"\ntimeout = \"2s\"\n",
                o.url(),
                r.display()
            ));
        }
        text.push_str(extra);
        let p = r.join("gapfill.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn start(&self, config: &Path) -> Daemon {
        let log = self.root.path().join("daemon.log");
        let f = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gapfill"))
            .arg("daemon")
            .arg("--config")
            .arg(config)
            .env("GAPFILL_LOG", "gapfill=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(f))
            .spawn()
            .expect("spawn gapfill daemon");
        let d = Daemon {
            child,
            log,
            http: format!("127.0.0.1:{}", self.http_port),
            config: config.to_path_buf(),
        };
        wait_for(
            "the daemon's HTTP endpoint",
            Duration::from_secs(20),
            || d.get("/healthz").is_some(),
        );
        d
    }
}

impl Daemon {
    /// `GET path` with the bearer token; `None` when nothing answers.
    fn get_with(&self, path: &str, token: Option<&str>) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(&self.http).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
            self.http
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body.to_string()))
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        self.get_with(path, Some(TOKEN))
    }

    fn status(&self) -> Value {
        self.assert_running();
        let (code, body) = self.get("/status").expect("GET /status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("status JSON")
    }

    fn cluster(&self, alias: &str) -> Value {
        self.status()["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["alias"] == alias)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// As [`wait_for`], but a timeout shows the status and the end of the daemon's log.
    fn wait(&self, what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
        let t = Instant::now();
        while !ok() {
            if t.elapsed() > limit {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "timed out after {limit:?} waiting for {what}\nstatus: {:#}\nlog tail:\n{}",
                    self.status(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_running(&self) {
        let mut c = Command::new("kill");
        c.args(["-0", &self.child.id().to_string()]);
        assert!(
            c.status().unwrap().success(),
            "the daemon exited:\n{}",
            self.log()
        );
    }

    /// Wait until the spool holds everything up to `server`'s current binlog end.
    fn wait_caught_up(&self, alias: &str, server: &Server) {
        let q = match server.kind {
            Kind::MySql => "SHOW BINARY LOG STATUS",
            Kind::MariaDb => "SHOW MASTER STATUS",
        };
        let out = server.sql(q);
        let cols: Vec<&str> = out.split('\t').collect();
        let (file, pos): (String, u64) = (cols[0].into(), cols[1].trim().parse().unwrap());
        self.wait(
            &format!("{alias} to capture up to {file}:{pos}"),
            Duration::from_secs(60),
            || {
                let c = self.cluster(alias);
                c["state"] == "capturing"
                    && c["master_file"] == file.as_str()
                    && c["master_pos"].as_u64().is_some_and(|p| p >= pos)
            },
        );
    }

    fn stop(mut self) {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let st = wait_timeout(&mut self.child, Duration::from_secs(60));
        let log = self.log();
        assert!(st.success(), "daemon exit on SIGTERM: {st}\n{log}");
        assert!(log.contains("gapfill daemon stopped"), "{log}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------------------------------
// the workload

fn schema(s: &Server) {
    s.sql_text(
        "CREATE DATABASE gf_daemon;\nUSE gf_daemon;\n\
         CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), b LONGBLOB);\n",
    );
}

/// `n` one-row transactions, marked `tag`.
fn rows(s: &Server, tag: &str, n: u32) {
    let mut sql = String::from("USE gf_daemon;\n");
    for i in 0..n {
        sql.push_str(&format!("INSERT INTO t (v) VALUES ('{tag}-{i}');\n"));
    }
    s.sql_text(&sql);
}

fn wait_replica_has(replica: &Server, want: &str) {
    wait_for(
        &format!("{} to catch up to {want}", replica.addr),
        Duration::from_secs(60),
        || executed(replica) == want,
    );
}

fn gapfill(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .args(args)
        .output()
        .expect("run gapfill")
}

// ------------------------------------------------------------------------------------------
// the failover

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn failover_followed_and_filled() {
    let _l = server_lock();
    let _t = Topology::fresh();
    let (m, r1, r2) = (
        Server::mysql_master(),
        Server::mysql_replica1(),
        Server::mysql_replica2(),
    );
    let (mm, mr) = (Server::mariadb_master(), Server::mariadb_replica());
    let orc = FakeOrchestrator::start(vec![
        FakeCluster::live(MYSQL, &m, &[&r1, &r2]),
        FakeCluster::live(MARIA, &mm, &[&mr]),
    ]);
    let setup = Setup::new();
    let cfg = setup.config(Some(&orc), "");
    let d = setup.start(&cfg);
    d.wait("both clusters capturing", Duration::from_secs(30), || {
        d.cluster(MYSQL)["state"] == "capturing" && d.cluster(MARIA)["state"] == "capturing"
    });
    let mut maria_states = Vec::new();
    let mut sample_maria = |d: &Daemon| maria_states.push(d.cluster(MARIA)["state"].to_string());

    schema(&m);
    schema(&mm);
    rows(&m, "before", 50);
    rows(&mm, "before", 50);
    wait_replica_has(&r2, &executed(&m));
    // r2 lags from here: the gap.
    r2.sql("STOP REPLICA IO_THREAD");
    rows(&m, "gap", 200);
    rows(&mm, "during", 100);
    d.wait_caught_up(MYSQL, &m);
    d.wait_caught_up(MARIA, &mm);
    sample_maria(&d);
    // The daemon recorded where each replica stood on the master.
    let positions: Value = serde_json::from_str(
        &std::fs::read_to_string(setup.spool().join(MYSQL).join("replica-positions.json"))
            .expect("replica-positions.json"),
    )
    .unwrap();
    assert_eq!(
        positions["replicas"][&r2.addr]["source"],
        m.addr.as_str(),
        "{positions:#}"
    );
    assert!(positions["replicas"][&r1.addr]["pos"].as_u64().unwrap() > 4);
    // ...and /status shows those records (not `replicas: []`).
    let shown = d.cluster(MYSQL)["replicas"].clone();
    for r in [&r1, &r2] {
        let brief = shown
            .as_array()
            .and_then(|a| a.iter().find(|b| b["replica"] == r.addr.as_str()))
            .unwrap_or_else(|| panic!("/status lacks replica {}: {shown:#}", r.addr));
        assert_eq!(brief["recorded"]["source"], m.addr.as_str(), "{shown:#}");
        assert!(brief["recorded"]["pos"].as_u64().unwrap() > 4, "{shown:#}");
    }

    // The failover: master SIGKILLed, r2 promoted as orchestrator does, the API updated.
    let dead_executed = executed(&m);
    sandbox(&["instance", "kill", "mysql-master"]);
    r2.sql(
        "STOP REPLICA; RESET REPLICA ALL; SET GLOBAL super_read_only = 0; SET GLOBAL read_only = 0",
    );
    assert_ne!(
        executed(&r2),
        dead_executed,
        "the successor must lack the gap"
    );
    orc.set(|s| {
        s.clusters[0] = FakeCluster {
            name: r2.addr.clone(),
            alias: MYSQL.into(),
            master: r2.addr.clone(),
            replicas: vec![r1.addr.clone()],
            lost_in_recovery: false,
        };
        // The dead master: its own cluster, named and aliased by its address, downtimed.
        s.clusters.push(FakeCluster {
            name: m.addr.clone(),
            alias: m.addr.clone(),
            master: m.addr.clone(),
            replicas: vec![],
            lost_in_recovery: true,
        });
    });
    d.wait(
        "the daemon to wait for the fill",
        Duration::from_secs(30),
        || {
            let c = d.cluster(MYSQL);
            c["master"] == r2.addr.as_str() && c["state"] == "waiting-for-fill"
        },
    );
    let c = d.cluster(MYSQL);
    assert!(
        c["message"].as_str().unwrap().contains("gapfill fill"),
        "{c:#}"
    );
    assert!(
        d.cluster(&m.addr).is_null(),
        "the dead master's stale cluster must not be followed"
    );
    sample_maria(&d);

    // What the server says to a GTID dump from the spool's end now (a copy of the spool).
    let copy = setup.root.path().join("copy");
    let st = Command::new("cp")
        .arg("-a")
        .arg(setup.spool().join(MYSQL))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .args(["capture", "--source", &r2.addr, "--dir"])
        .arg(&copy)
        .args(["--server-id", "4343", "--on-break", "stop", "--stop-at-end"])
        .args(["--credentials-file"])
        .arg(setup.root.path().join("credentials"))
        .output()
        .unwrap();
    // MySQL 9.7 does not refuse: it checks only GTIDs of its own server_uuid, so it streams
    // what it has and the gap is simply never sent. Following now would be silent, which is
    // why the daemon waits for the fill instead of relying on an error.
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains(" 0 transactions"), "{said}");

    // The hook line exactly as orchestrator runs it.
    let (fh, fp) = split_addr(&m.addr);
    let (sh, sp) = split_addr(&r2.addr);
    let hook = "gapfill fill --cluster {failureClusterAlias} --failed {failedHost}:{failedPort} \
                --successor {successorHost}:{successorPort}"
        .replace("{failureClusterAlias}", MYSQL)
        .replace("{failedHost}", fh)
        .replace("{failedPort}", &fp.to_string())
        .replace("{successorHost}", sh)
        .replace("{successorPort}", &sp.to_string());
    let report = setup.root.path().join("fill.json");
    let out = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .args(hook.split_whitespace().skip(1))
        .arg("--config")
        .arg(&d.config)
        .arg("--report")
        .arg(&report)
        .env("ORC_FAILURE_CLUSTER_ALIAS", MYSQL)
        .env("ORC_FAILED_HOST", fh)
        .env("ORC_FAILED_PORT", fp.to_string())
        .env("ORC_SUCCESSOR_HOST", sh)
        .env("ORC_SUCCESSOR_PORT", sp.to_string())
        .env("GAPFILL_LOG", "gapfill=info")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "fill:\n{said}");
    let rep: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(rep["apply"]["transactions_applied"], 200, "{rep:#}");
    assert_eq!(executed(&r2), dead_executed);

    // The daemon follows the new master into the spool's second epoch.
    d.wait(
        "the daemon to follow the new master",
        Duration::from_secs(30),
        || {
            let c = d.cluster(MYSQL);
            c["state"] == "capturing" && c["master"] == r2.addr.as_str() && c["epoch"] == 2
        },
    );
    sample_maria(&d);

    // Equal to the dead master (restarted read-only, out of the API's view).
    sandbox(&["instance", "start", "mysql-master"]);
    m.sql("SET GLOBAL super_read_only = 1");
    assert_eq!(
        checksums(&r2),
        checksums(&m),
        "successor differs from the dead master"
    );
    assert_eq!(executed(&r2), executed(&m));

    // New writes on the new master land in epoch 2.
    r2.sql("INSERT INTO gf_daemon.t (v) VALUES ('after-failover-marker')");
    rows(&mm, "after", 20);
    d.wait_caught_up(MYSQL, &r2);
    d.wait_caught_up(MARIA, &mm);
    let epoch2 = setup.spool().join(MYSQL).join("epoch-0002");
    let segs: Vec<PathBuf> = std::fs::read_dir(&epoch2)
        .expect("epoch-0002")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    assert!(!segs.is_empty(), "no segment in {}", epoch2.display());
    let mut args = vec!["decode".to_string()];
    args.extend(segs.iter().map(|p| p.display().to_string()));
    let out = gapfill(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("after-failover-marker"),
        "epoch 2 lacks the new write:\n{text}"
    );
    sample_maria(&d);

    // The other cluster never stopped capturing.
    assert!(
        maria_states.iter().all(|s| s == "\"capturing\""),
        "{maria_states:?}"
    );
    let maria = d.cluster(MARIA);
    assert_eq!(maria["epoch"], 1);
    assert!(
        maria["transactions_captured"].as_u64().unwrap() >= 172,
        "{maria:#}"
    );
    let mpos: Value = serde_json::from_str(
        &std::fs::read_to_string(setup.spool().join(MARIA).join("replica-positions.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        mpos["replicas"][&mr.addr]["source"],
        mm.addr.as_str(),
        "{mpos:#}"
    );

    // The endpoints for people and Prometheus.
    let (code, metrics) = d.get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains(&format!(
            "gapfill_capture_lag_seconds{{cluster=\"{MARIA}\"}}"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("gapfill_epoch{{cluster=\"{MYSQL}\"}} 2")),
        "{metrics}"
    );
    assert_eq!(d.get_with("/status", None).unwrap().0, 401);
    assert_eq!(
        d.get_with("/status", Some("wrong-token-12345")).unwrap().0,
        401
    );
    let token = setup.root.path().join("token");
    let out = gapfill(&[
        "status",
        "--addr",
        &d.http,
        "--token-file",
        token.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.starts_with("CLUSTER"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(MYSQL) && l.contains("capturing") && l.contains(&r2.addr)),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(MARIA) && l.contains("capturing")),
        "{table}"
    );
    let log = d.log();
    assert!(
        !log.contains(&env("GAPFILL_TEST_PASSWORD")),
        "a password in the log"
    );
    assert!(!log.contains(ORC_PASSWORD), "a password in the log");
    println!("{table}");
    d.stop();
}

// ------------------------------------------------------------------------------------------
// trouble in one cluster

/// A tmpfs mounted on a spool directory, unmounted when dropped.
struct TinyDisk(PathBuf);

impl TinyDisk {
    fn mount(dir: &Path, size: &str) -> Option<TinyDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyDisk(dir.to_path_buf()))
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn trouble_stays_in_its_cluster() {
    let _l = server_lock();
    let _t = Topology::fresh();
    let (m, r1) = (Server::mysql_master(), Server::mysql_replica1());
    let mm = Server::mariadb_master();
    let orc = FakeOrchestrator::start(vec![FakeCluster::live(MYSQL, &m, &[&r1])]);
    let setup = Setup::new();
    // A master nobody answers for, and a cluster whose spool is on a 1 MiB disk.
    let dead_port = free_port();
    let full = TinyDisk::mount(&setup.spool().join("gf-full"), "1m");
    let extra = format!(
        "[[cluster]]\nalias = \"gf-nowhere\"\nmaster = \"127.0.0.1:{dead_port}\"\n\
         [[cluster]]\nalias = \"gf-full\"\nmaster = \"{}\"\n",
        mm.addr
    );
    let cfg = setup.config(Some(&orc), &extra);
    let d = setup.start(&cfg);
    d.wait(
        "the MySQL cluster capturing",
        Duration::from_secs(30),
        || d.cluster(MYSQL)["state"] == "capturing",
    );
    schema(&m);
    schema(&mm);

    // The unreachable master: its cluster says so, the others capture.
    d.wait(
        "gf-nowhere to report its error",
        Duration::from_secs(60),
        || {
            let c = d.cluster("gf-nowhere");
            (c["state"] == "reconnecting" || c["state"] == "error")
                && c["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&dead_port.to_string()))
        },
    );

    // The full disk (when tmpfs can be mounted: we run as root in the sandbox).
    if full.is_some() {
        mm.sql_text(
            "USE gf_daemon;\nINSERT INTO t (v, b) VALUES ('big', REPEAT('x', 400000));\n\
             INSERT INTO t (v, b) VALUES ('big', REPEAT('y', 400000));\n\
             INSERT INTO t (v, b) VALUES ('big', REPEAT('z', 400000));\n",
        );
        d.wait(
            "gf-full to report the full disk",
            Duration::from_secs(60),
            || {
                let c = d.cluster("gf-full");
                c["state"] == "error" && c["message"].as_str().is_some_and(|m| m.contains("space"))
            },
        );
    } else if std::env::var_os("GAPFILL_REQUIRE_SERVERS").is_some() {
        panic!(
            "the full-disk case needs a tmpfs mounted on a spool directory (root, mount -t \
             tmpfs): the full suite (scripts/test, GAPFILL_REQUIRE_SERVERS) never skips it"
        );
    } else {
        eprintln!(
            "SKIPPED the full-disk case: cannot mount a tmpfs here (scripts/test makes this a \
             failure)"
        );
    }

    // orchestrator goes away: the status says so, the capture goes on with the last list.
    orc.set(|s| s.up = false);
    d.wait(
        "the status to show orchestrator down",
        Duration::from_secs(30),
        || d.status()["discovery"]["orchestrator_ok"] == false,
    );
    let before = d.cluster(MYSQL)["transactions_captured"].as_u64().unwrap();
    rows(&m, "orc-down", 30);
    d.wait_caught_up(MYSQL, &m);
    let c = d.cluster(MYSQL);
    assert!(
        c["transactions_captured"].as_u64().unwrap() >= before + 30,
        "{c:#}"
    );
    let (code, health) = d.get("/healthz").unwrap();
    assert_eq!(code, 200);
    assert!(health.contains("gf-nowhere"), "{health}");
    assert!(health.contains("orchestrator unreachable"), "{health}");
    assert!(!health.contains(&format!("{MYSQL}:")), "{health}");
    let s = d.status();
    assert!(
        s["discovery"]["orchestrator_error"]
            .as_str()
            .unwrap()
            .contains(&orc.url()),
        "{s:#}"
    );
    // Back again.
    orc.set(|s| s.up = true);
    d.wait("orchestrator ok again", Duration::from_secs(30), || {
        d.status()["discovery"]["orchestrator_ok"] == true
    });
    assert_eq!(orc.state.lock().unwrap().unauthorized, 0);
    d.stop();
    drop(full);
}

// ------------------------------------------------------------------------------------------
// configuration

#[test]
fn malformed_config_lists_every_problem() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("gapfill.toml");
    std::fs::write(
        &cfg,
        format!(
            "spool_dir = \"{}/spool\"\nmax_lag = \"soon\"\nlog_format = \"yaml\"\n\
             [credentials]\nfile = \"{}/missing-credentials\"\n\
             [[cluster]]\nalias = \"main\"\nmaster = \"db1\"\n\
             [http]\nlisten = \"everywhere\"\n",
            root.path().display(),
            root.path().display()
        ),
    )
    .unwrap();
    let out = gapfill(&["daemon", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for key in [
        "max_lag:",
        "log_format:",
        "credentials.file:",
        "cluster[0].master:",
        "http.listen:",
    ] {
        assert!(err.contains(key), "{key} missing:\n{err}");
    }
    assert!(
        err.contains(cfg.to_str().unwrap()),
        "the file is not named:\n{err}"
    );
    assert!(err.contains("5 problem(s)"), "{err}");
    // Syntax errors name the line.
    std::fs::write(&cfg, "spool_dir = [\n").unwrap();
    let out = gapfill(&["daemon", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not valid TOML") && err.contains("line"),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------
// soak

fn proc_stat(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    (rss_kb, ticks / 100.0)
}

/// RSS over a few minutes of heavy writes on both masters, and CPU seconds per MB captured.
/// `GAPFILL_SOAK_SECS` (default 180; scripts/test sets 45) sets the length.
#[test]
#[ignore = "needs real servers: run scripts/test (a 45 s soak there; GAPFILL_SOAK_SECS for longer)"]
fn soak_memory_and_cpu() {
    let _l = server_lock();
    let _t = Topology::fresh();
    let (m, mm) = (Server::mysql_master(), Server::mariadb_master());
    let secs: u64 = std::env::var("GAPFILL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    let orc = FakeOrchestrator::start(vec![
        FakeCluster::live(MYSQL, &m, &[&Server::mysql_replica1()]),
        FakeCluster::live(MARIA, &mm, &[&Server::mariadb_replica()]),
    ]);
    let setup = Setup::new();
    let cfg = setup.config(Some(&orc), "");
    let d = setup.start(&cfg);
    d.wait("both clusters capturing", Duration::from_secs(30), || {
        d.cluster(MYSQL)["state"] == "capturing" && d.cluster(MARIA)["state"] == "capturing"
    });
    schema(&m);
    schema(&mm);
    let proc_sql = "USE gf_daemon;\nDELIMITER //\nCREATE PROCEDURE load_rows(n INT) BEGIN \
                    DECLARE i INT DEFAULT 0; WHILE i < n DO \
                    INSERT INTO t (v, b) VALUES (SHA2(i, 256), REPEAT(SHA2(i, 512), 16)); \
                    SET i = i + 1; END WHILE; END //\nDELIMITER ;\n";
    m.sql_text(proc_sql);
    mm.sql_text(proc_sql);
    let pid = d.child.id();
    let (_, cpu0) = proc_stat(pid);
    let t0 = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = [m.clone(), mm.clone()]
        .into_iter()
        .map(|s| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    s.sql("CALL gf_daemon.load_rows(2000)");
                    s.sql("DELETE FROM gf_daemon.t WHERE id % 2 = 0");
                }
            })
        })
        .collect();
    let mut samples = Vec::new();
    while t0.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(5));
        let (rss, cpu) = proc_stat(pid);
        samples.push((t0.elapsed().as_secs(), rss, cpu - cpu0));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    d.wait_caught_up(MYSQL, &m);
    d.wait_caught_up(MARIA, &mm);
    let (rss_end, cpu_end) = proc_stat(pid);
    let cpu = cpu_end - cpu0;
    let bytes: u64 = [MYSQL, MARIA]
        .iter()
        .map(|a| d.cluster(a)["bytes_captured"].as_u64().unwrap())
        .sum();
    let mb = bytes as f64 / 1e6;
    let rss: Vec<u64> = samples.iter().map(|s| s.1).collect();
    let third = rss.len() / 3;
    let early = rss[..third.max(1)].iter().max().copied().unwrap_or(0);
    let late = rss[rss.len() - third.max(1)..]
        .iter()
        .max()
        .copied()
        .unwrap_or(0);
    println!(
        "soak {secs}s: captured {mb:.1} MB; CPU {cpu:.2} s = {:.4} CPU s/MB; RSS max {} KiB \
         (first third max {early} KiB, last third max {late} KiB, end {rss_end} KiB)",
        cpu / mb.max(1e-9),
        rss.iter().max().unwrap()
    );
    for (t, rss, cpu) in &samples {
        println!("  t={t:>4}s rss={rss} KiB cpu={cpu:.2}s");
    }
    assert!(
        mb > 10.0,
        "the soak captured too little to measure: {mb} MB"
    );
    assert!(*rss.iter().max().unwrap() < 256 * 1024, "RSS above 256 MiB");
    assert!(
        late <= early + early / 2 + 8 * 1024,
        "RSS grew: {early} -> {late} KiB"
    );
    d.stop();
}

// ------------------------------------------------------------------------------------------
// peers

/// Three daemons (three orchestrator nodes) capture the MySQL cluster; the leader's daemon
/// stops before the last writes; the failover's fill on the leader pulls the missing tail from
/// the furthest peer (a fourth, dead peer is skipped) and the successor ends up equal to the
/// dead master.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn peers_fill_what_the_leaders_capture_missed() {
    let _l = server_lock();
    let _t = Topology::fresh();
    let (m, r2) = (Server::mysql_master(), Server::mysql_replica2());
    schema(&m);
    rows(&m, "base", 10);
    wait_replica_has(&r2, &executed(&m));

    let (a, b, c) = (Setup::new(), Setup::new(), Setup::new());
    let dead_peer = format!("127.0.0.1:{}", free_port());
    let cluster = format!(
        "[[cluster]]\nalias = \"{MYSQL}\"\nmaster = \"{}\"\n",
        m.addr
    );
    let peers = |others: &[&Setup], extra: &str| {
        let mut list: Vec<String> = others
            .iter()
            .map(|s| format!("\"127.0.0.1:{}\"", s.http_port))
            .collect();
        if !extra.is_empty() {
            list.push(format!("\"{extra}\""));
        }
        format!("[peers]\naddrs = [{}]\ntimeout = \"2s\"\n", list.join(", "))
    };
    let cfg_a = a.config(None, &format!("{cluster}{}", peers(&[&b, &c], &dead_peer)));
    let cfg_b = b.config(None, &format!("{cluster}{}", peers(&[&a, &c], "")));
    let cfg_c = c.config(None, &format!("{cluster}{}", peers(&[&a, &b], "")));
    let (da, db, dc) = (a.start(&cfg_a), b.start(&cfg_b), c.start(&cfg_c));
    for d in [&da, &db, &dc] {
        d.wait_caught_up(MYSQL, &m);
    }

    // The successor lags; everyone captures the first part of the gap.
    r2.sql("STOP REPLICA IO_THREAD");
    rows(&m, "gap-seen-by-all", 30);
    da.wait_caught_up(MYSQL, &m);
    // The leader's capture stops; the peers capture the rest.
    da.stop();
    rows(&m, "gap-peers-only", 40);
    db.wait_caught_up(MYSQL, &m);
    dc.wait_caught_up(MYSQL, &m);
    let dead_executed = executed(&m);

    sandbox(&["instance", "kill", "mysql-master"]);
    r2.sql(
        "STOP REPLICA; RESET REPLICA ALL; SET GLOBAL super_read_only = 0; SET GLOBAL read_only = 0",
    );
    let report = a.root.path().join("fill.json");
    let out = gapfill(&[
        "fill",
        "--cluster",
        MYSQL,
        "--failed",
        &m.addr,
        "--successor",
        &r2.addr,
        "--config",
        cfg_a.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "fill:\n{said}");
    let rep: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    // The leader's own stream ended locally; the tail rests on the peer's, which lived until
    // the master died.
    assert_eq!(rep["tail"]["proof"], "live_stream", "{:#}", rep["tail"]);
    assert!(
        rep["tail"]["stream_source"]
            .as_str()
            .is_some_and(|s| s.starts_with("peer ")),
        "{:#}",
        rep["tail"]
    );
    let from = &rep["plan"]["from_peer"];
    assert_eq!(
        from["transactions"], 40,
        "the peer supplies the tail: {rep:#}"
    );
    let peer = from["peer"].as_str().unwrap_or_default();
    assert!(
        peer == format!("127.0.0.1:{}", b.http_port)
            || peer == format!("127.0.0.1:{}", c.http_port),
        "{rep:#}"
    );
    let skipped = rep["peers_skipped"].to_string();
    assert!(
        skipped.contains(&dead_peer),
        "the dead peer is skipped: {rep:#}"
    );
    assert_eq!(rep["apply"]["transactions_applied"], 70, "{rep:#}");
    assert_eq!(executed(&r2), dead_executed);

    sandbox(&["instance", "start", "mysql-master"]);
    m.sql("SET GLOBAL super_read_only = 1");
    assert_eq!(
        checksums(&r2),
        checksums(&m),
        "successor differs from the dead master"
    );
    db.stop();
    dc.stop();
}

// ------------------------------------------------------------------------------------------
// [serve]: the daemon as a binlog server

const REPL_USER: &str = "gf_repl";
const REPL_PASSWORD: &str = "daemon-serve-pw";

/// The daemon follows a cluster with `[serve]` on: a replica that lacks everything the spool
/// holds (the standalone target, given the spool's origin) replicates it from the daemon, over
/// TLS, to the master's CHECKSUM TABLE and GTIDs, and a transaction committed later follows.
fn daemon_serves_its_spool(kind: Kind) {
    let _l = server_lock();
    let _t = Topology::fresh();
    let (master, target, alias) = match kind {
        Kind::MySql => (Server::mysql_master(), Server::mysql_target(), MYSQL),
        Kind::MariaDb => (Server::mariadb_master(), Server::mariadb_target(), MARIA),
    };
    target.reset();
    let setup = Setup::new();
    let r = setup.root.path();
    private_file(&r.join("serve.pw"), REPL_PASSWORD);
    let (cert, key) = common::self_signed(r, "gapfill-daemon-serve");
    let serve_port = free_port();
    let origin = executed(&master);
    let cfg = setup.config(
        None,
        &format!(
            "[[cluster]]\nalias = \"{alias}\"\nmaster = \"{}\"\n\
             [serve]\nuser = \"{REPL_USER}\"\npassword_file = \"{}\"\n\
             tls_cert = \"{}\"\ntls_key = \"{}\"\n\
             [serve.listen]\n\"{alias}\" = \"127.0.0.1:{serve_port}\"\n",
            master.addr,
            r.join("serve.pw").display(),
            cert.display(),
            key.display()
        ),
    );
    let d = setup.start(&cfg);
    d.wait_caught_up(alias, &master);
    schema(&master);
    rows(&master, "served", 200);
    d.wait_caught_up(alias, &master);
    d.wait(
        "the daemon to serve the spool",
        Duration::from_secs(30),
        || {
            d.cluster(alias)["serve"].as_str().is_some_and(|s| {
                s.contains(&format!(
                    "serving the spool to replicas on 127.0.0.1:{serve_port} (TLS)"
                ))
            })
        },
    );
    let (status, _) = d.get("/status").expect("status");
    assert_eq!(status, 200);

    // The target had nothing of this master: it starts from the spool's origin.
    let change = match kind {
        Kind::MySql => format!(
            "RESET BINARY LOGS AND GTIDS; SET GLOBAL gtid_purged = '{origin}'; \
             CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT={serve_port}, \
             SOURCE_USER='{REPL_USER}', SOURCE_PASSWORD='{REPL_PASSWORD}', SOURCE_AUTO_POSITION=1, \
             SOURCE_SSL=1, SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=5 FOR CHANNEL 'gapfill'; \
             START REPLICA FOR CHANNEL 'gapfill'"
        ),
        Kind::MariaDb => format!(
            "SET GLOBAL gtid_slave_pos = '{origin}'; \
             CHANGE MASTER 'gapfill' TO MASTER_HOST='127.0.0.1', MASTER_PORT={serve_port}, \
             MASTER_USER='{REPL_USER}', MASTER_PASSWORD='{REPL_PASSWORD}', \
             MASTER_USE_GTID=slave_pos, MASTER_SSL=1, MASTER_CONNECT_RETRY=1; \
             START SLAVE 'gapfill'"
        ),
    };
    target.sql(&change);
    let replica_executed = || match kind {
        Kind::MySql => executed(&target),
        Kind::MariaDb => target
            .sql("SELECT @@GLOBAL.gtid_slave_pos")
            .replace(['\n', ' '], ""),
    };
    let status_of = || {
        let q = match kind {
            Kind::MySql => "SHOW REPLICA STATUS FOR CHANNEL 'gapfill'",
            Kind::MariaDb => "SHOW SLAVE 'gapfill' STATUS",
        };
        common::rows_by_name(&target, q)
            .first()
            .map(|r| format!("{:?} {:?}", r.get("Last_IO_Error"), r.get("Last_SQL_Error")))
            .unwrap_or_default()
    };
    for round in ["the spool", "a later transaction"] {
        if round == "a later transaction" {
            rows(&master, "later", 1);
        }
        let want = executed(&master);
        d.wait(
            &format!("the replica of the daemon to apply {round}"),
            Duration::from_secs(90),
            || {
                let got = replica_executed();
                let st = status_of();
                assert!(!st.contains("1236"), "the replica was refused: {st}");
                got == want
            },
        );
        assert_eq!(checksums(&target), checksums(&master), "after {round}");
    }
    let stop = match kind {
        Kind::MySql => {
            "STOP REPLICA FOR CHANNEL 'gapfill'; RESET REPLICA ALL FOR CHANNEL 'gapfill'"
        }
        Kind::MariaDb => "STOP SLAVE 'gapfill'; RESET SLAVE 'gapfill' ALL",
    };
    target.sql(stop);
    target.reset();
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_daemon_serves_its_spool() {
    daemon_serves_its_spool(Kind::MySql);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_daemon_serves_its_spool() {
    daemon_serves_its_spool(Kind::MariaDb);
}

// ------------------------------------------------------------------------------------------
// MariaDB, a static cluster list and SIGHUP

/// The MariaDB cluster from a static list: the master SIGKILLed, the lagging replica promoted,
/// the config edited and the daemon sent SIGHUP; it waits for the fill, the fill (with
/// `--config`) makes the successor equal to the dead master, and the daemon follows the new
/// master into epoch 2.
#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_failover_static_list_and_sighup() {
    let _l = server_lock();
    let _t = Topology::fresh();
    let (mm, mr) = (Server::mariadb_master(), Server::mariadb_replica());
    schema(&mm);
    rows(&mm, "base", 10);
    wait_replica_has(&mr, &executed(&mm));
    let setup = Setup::new();
    let cluster =
        |master: &str| format!("[[cluster]]\nalias = \"{MARIA}\"\nmaster = \"{master}\"\n");
    let cfg = setup.config(None, &cluster(&mm.addr));
    let d = setup.start(&cfg);
    d.wait_caught_up(MARIA, &mm);

    mr.sql("STOP SLAVE IO_THREAD");
    rows(&mm, "gap", 50);
    d.wait_caught_up(MARIA, &mm);
    let dead_executed = executed(&mm);
    sandbox(&["instance", "kill", "mariadb-master"]);
    mr.sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0");

    // The operator points the static list at the new master and sends SIGHUP.
    setup.config(None, &cluster(&mr.addr));
    let st = Command::new("kill")
        .args(["-HUP", &d.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    d.wait(
        "the daemon to wait for the fill on the new master",
        Duration::from_secs(30),
        || {
            let c = d.cluster(MARIA);
            c["master"] == mr.addr.as_str() && c["state"] == "waiting-for-fill"
        },
    );

    let out = gapfill(&[
        "fill",
        "--cluster",
        MARIA,
        "--failed",
        &mm.addr,
        "--successor",
        &mr.addr,
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "fill:\n{said}");
    assert_eq!(executed(&mr), dead_executed, "{said}");

    d.wait(
        "the daemon to follow the new master",
        Duration::from_secs(30),
        || {
            let c = d.cluster(MARIA);
            c["state"] == "capturing" && c["master"] == mr.addr.as_str() && c["epoch"] == 2
        },
    );
    rows(&mr, "after", 5);
    d.wait_caught_up(MARIA, &mr);

    sandbox(&["instance", "start", "mariadb-master"]);
    mm.sql("SET GLOBAL read_only = 1");
    let succ: Vec<_> = checksums(&mr)
        .into_iter()
        .filter(|(t, _)| t.starts_with("gf_daemon."))
        .collect();
    // The successor has 5 rows more than the dead master: compare before them.
    mr.sql("DELETE FROM gf_daemon.t WHERE v LIKE 'after-%'");
    let succ_after_delete: Vec<_> = checksums(&mr)
        .into_iter()
        .filter(|(t, _)| t.starts_with("gf_daemon."))
        .collect();
    assert_ne!(
        succ, succ_after_delete,
        "the rows written after the failover are there"
    );
    let dead: Vec<_> = checksums(&mm)
        .into_iter()
        .filter(|(t, _)| t.starts_with("gf_daemon."))
        .collect();
    assert_eq!(
        succ_after_delete, dead,
        "successor differs from the dead master"
    );
    d.stop();
}
