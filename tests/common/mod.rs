//! Helpers shared by the live-server tests: finding the sandbox servers the test command
//! started, running SQL on them as root over their unix sockets (no passwords on argv), and
//! collecting the binlog files a workload wrote.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Read a variable `scripts/test` exports; a missing one is a hard failure, never a skip.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: live tests need the real servers; run scripts/test (it starts them)"
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MySql,
    MariaDb,
}

/// One sandbox server.
#[derive(Debug, Clone)]
pub struct Server {
    pub kind: Kind,
    /// `127.0.0.1:PORT`
    pub addr: String,
    pub socket: PathBuf,
    pub datadir: PathBuf,
}

/// With `GAPFILL_REQUIRE_SERVERS` set (scripts/test sets it), a server the environment names
/// must answer on TCP: one that does not within 30 s (a reset in progress takes a few) fails
/// the test at once, instead of later as some unrelated SQL error. Checked once per address
/// per test process.
fn require_reachable(addr: &str) {
    use std::collections::HashSet;
    use std::net::{TcpStream, ToSocketAddrs};
    use std::sync::Mutex;
    static CHECKED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    if std::env::var_os("GAPFILL_REQUIRE_SERVERS").is_none() {
        return;
    }
    let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
    if !checked
        .get_or_insert_with(HashSet::new)
        .insert(addr.to_string())
    {
        return;
    }
    let sock = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("GAPFILL_REQUIRE_SERVERS: {addr:?} is not an address"));
    let t = Instant::now();
    loop {
        match TcpStream::connect_timeout(&sock, Duration::from_secs(1)) {
            Ok(_) => return,
            Err(e) if t.elapsed() > Duration::from_secs(30) => panic!(
                "GAPFILL_REQUIRE_SERVERS is set and the server at {addr} does not answer ({e}): \
                 start the sandbox (scripts/sandbox up)"
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

impl Server {
    fn from_env(kind: Kind, prefix: &str) -> Server {
        let addr = env(prefix);
        require_reachable(&addr);
        Server {
            kind,
            addr,
            socket: env(&format!("{prefix}_SOCKET")).into(),
            datadir: env(&format!("{prefix}_DATADIR")).into(),
        }
    }

    pub fn mysql_master() -> Server {
        Self::from_env(Kind::MySql, "GAPFILL_MYSQL_MASTER")
    }

    pub fn mariadb_master() -> Server {
        Self::from_env(Kind::MariaDb, "GAPFILL_MARIADB_MASTER")
    }

    pub fn mysql_replica1() -> Server {
        Self::from_env(Kind::MySql, "GAPFILL_MYSQL_REPLICA1")
    }

    pub fn mysql_replica2() -> Server {
        Self::from_env(Kind::MySql, "GAPFILL_MYSQL_REPLICA2")
    }

    pub fn mariadb_replica() -> Server {
        Self::from_env(Kind::MariaDb, "GAPFILL_MARIADB_REPLICA")
    }

    /// The standalone MySQL replay target (empty after [`Server::reset`]).
    pub fn mysql_target() -> Server {
        Self::from_env(Kind::MySql, "GAPFILL_MYSQL_TARGET")
    }

    /// The standalone MariaDB replay target.
    pub fn mariadb_target() -> Server {
        Self::from_env(Kind::MariaDb, "GAPFILL_MARIADB_TARGET")
    }

    /// Wipe and restart a standalone instance (`scripts/sandbox reset-instance`).
    pub fn reset(&self) {
        let name = match self.kind {
            Kind::MySql => "mysql-target",
            Kind::MariaDb => "mariadb-target",
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox");
        let out = Command::new(script)
            .args(["reset-instance", name])
            .output()
            .expect("run scripts/sandbox reset-instance");
        assert!(
            out.status.success(),
            "reset-instance {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run a SQL script given as text.
    pub fn sql_text(&self, sql: &str) {
        use std::io::Write as _;
        let mut child = self
            .client()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the SQL client");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(sql.as_bytes())
            .expect("write SQL");
        let out = child.wait_with_output().expect("SQL client");
        assert!(
            out.status.success(),
            "SQL script failed on {:?}:\n{}",
            self.kind,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn client(&self) -> Command {
        let mut c = match self.kind {
            Kind::MySql => Command::new(env("GAPFILL_MYSQL_CLIENT")),
            Kind::MariaDb => {
                let mut c = Command::new(env("GAPFILL_MARIADB_CLIENT"));
                c.arg("--no-defaults")
                    .arg("--default-character-set=utf8mb4");
                c
            }
        };
        c.arg("-uroot").arg("-S").arg(&self.socket);
        c
    }

    /// Run statements; return the batch output (tab-separated, no headers).
    pub fn sql(&self, sql: &str) -> String {
        let out = self
            .client()
            .args(["-N", "-B", "-e", sql])
            .output()
            .expect("run the SQL client");
        assert!(
            out.status.success(),
            "SQL failed on {:?}: {sql}\n{}",
            self.kind,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run a SQL script file.
    pub fn sql_file(&self, path: &Path) {
        let f = std::fs::File::open(path).expect("open SQL file");
        let out = self
            .client()
            .stdin(Stdio::from(f))
            .output()
            .expect("run the SQL client");
        assert!(
            out.status.success(),
            "SQL script {} failed on {:?}:\n{}",
            path.display(),
            self.kind,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The binlog file the server is writing now.
    pub fn current_binlog(&self) -> String {
        let q = match self.kind {
            Kind::MySql => "SHOW BINARY LOG STATUS",
            Kind::MariaDb => "SHOW MASTER STATUS",
        };
        self.sql(q)
            .split('\t')
            .next()
            .expect("binlog status row")
            .to_string()
    }

    /// Rotate the binlog and copy every file from `first` up to the one just closed into `dir`.
    pub fn rotate_and_copy(&self, first: &str, dir: &Path) -> Vec<PathBuf> {
        self.sql("FLUSH BINARY LOGS");
        let current = self.current_binlog();
        let mut files = Vec::new();
        let listing = self.sql("SHOW BINARY LOGS");
        for line in listing.lines() {
            let name = line.split('\t').next().unwrap_or_default();
            if name >= first && name < current.as_str() {
                let dst = dir.join(name);
                std::fs::copy(self.datadir.join(name), &dst).expect("copy binlog file");
                files.push(dst);
            }
        }
        assert!(
            !files.is_empty(),
            "no binlog files between {first} and {current}"
        );
        files
    }
}

/// Run a reference decoder (`mysqlbinlog` 9.7 or `mariadb-binlog`) with `-vv` on a file.
pub fn reference_decode(kind: Kind, file: &Path) -> Vec<u8> {
    let tool = match kind {
        Kind::MySql => env("GAPFILL_MYSQLBINLOG"),
        Kind::MariaDb => env("GAPFILL_MARIADB_BINLOG"),
    };
    let mut c = Command::new(tool);
    if kind == Kind::MariaDb {
        c.arg("--no-defaults");
    }
    let out = c
        .args(["-vv", "--base64-output=decode-rows"])
        .arg(file)
        .output()
        .expect("run the reference binlog decoder");
    assert!(
        out.status.success(),
        "reference decoder failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every user table's `CHECKSUM TABLE`.
pub fn checksums(s: &Server) -> BTreeMap<String, String> {
    let tables: Vec<String> = s
        .sql(
            "SELECT CONCAT('`', table_schema, '`.`', table_name, '`') FROM information_schema.tables \
             WHERE table_type = 'BASE TABLE' AND table_schema NOT IN \
             ('mysql', 'sys', 'information_schema', 'performance_schema') ORDER BY 1",
        )
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!tables.is_empty(), "no user tables on {}", s.addr);
    s.sql(&format!("CHECKSUM TABLE {}", tables.join(", ")))
        .lines()
        .map(|l| {
            let (t, c) = l.split_once('\t').expect("table\\tchecksum");
            (t.to_string(), c.to_string())
        })
        .collect()
}

/// The executed GTIDs: MySQL `gtid_executed`, MariaDB `gtid_binlog_pos`.
pub fn executed(s: &Server) -> String {
    let q = match s.kind {
        Kind::MySql => "SELECT @@GLOBAL.gtid_executed",
        Kind::MariaDb => "SELECT @@GLOBAL.gtid_binlog_pos",
    };
    s.sql(q).replace(['\n', ' '], "")
}

/// Run `scripts/sandbox` with `args`; a failure fails the test.
pub fn sandbox(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sandbox");
    let out = Command::new(script)
        .args(args)
        .output()
        .expect("run scripts/sandbox");
    assert!(
        out.status.success(),
        "scripts/sandbox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh topology for a test that kills and promotes servers; reset again when dropped,
/// so a failing test leaves the sandbox usable.
pub struct Topology;

impl Topology {
    pub fn fresh() -> Topology {
        // A missing environment is a failure, never a skip.
        env("GAPFILL_MYSQL_MASTER");
        sandbox(&["reset-topology"]);
        Topology
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        sandbox(&["reset-topology"]);
    }
}

/// A serial lock so live tests that reconfigure a server globally do not interleave.
pub fn server_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
pub mod oracle;

/// Wait for a child process, killing it and failing the test after `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("child did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The master's binlog end, `(file, pos)`.
pub fn binlog_end(master: &Server) -> (String, u64) {
    let q = match master.kind {
        Kind::MySql => "SHOW BINARY LOG STATUS",
        Kind::MariaDb => "SHOW MASTER STATUS",
    };
    let out = master.sql(q);
    let cols: Vec<&str> = out.split('\t').collect();
    (cols[0].to_string(), cols[1].trim().parse().unwrap_or(0))
}

/// Wait until the capture writing `spool` has received everything `master` wrote so far (its
/// stream record, written at least once a second, reached the master's binlog end).
pub fn wait_spool_reached(spool: &Path, master: &Server) {
    let (file, pos) = binlog_end(master);
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(spool.join("streams.json")).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let last = v["sessions"].as_array().and_then(|a| a.last()).cloned();
        if let Some(s) = last
            && s["master_file"] == file.as_str()
            && s["master_pos"].as_u64().unwrap_or(0) >= pos
        {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the capture into {} did not reach {file}:{pos}: {text}",
            spool.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run one statement; return its rows keyed by column name (as a client reading a result set
/// by name, e.g. orchestrator's `m.GetString("Host")`).
pub fn rows_by_name(s: &Server, sql: &str) -> Vec<BTreeMap<String, String>> {
    let out = s
        .client()
        .args(["-B", "-e", sql])
        .output()
        .expect("run the SQL client");
    assert!(
        out.status.success(),
        "SQL failed on {:?}: {sql}\n{}",
        s.kind,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split('\t').collect();
    lines
        .map(|l| {
            names
                .iter()
                .zip(l.split('\t'))
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A self-signed certificate and its key (PEM, `cert-<cn>.pem`, `key-<cn>.pem` in `dir`), made
/// with the openssl CLI; a failure fails the test.
pub fn self_signed(dir: &Path, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (
        dir.join(format!("cert-{cn}.pem")),
        dir.join(format!("key-{cn}.pem")),
    );
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={cn}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
