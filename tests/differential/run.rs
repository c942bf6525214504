//! The driver of the differential tester. For one `(flavor, seed)`, on the sandbox's standalone
//! target of that flavor (the only server it touches; the replication topology is left alone):
//!
//! 1. reset the target (`scripts/sandbox reset-instance`: an empty server, empty GTID set),
//!    set the run's global binlog options, run the generated workload on it and copy the
//!    binlog files it wrote;
//! 2. reset, apply the files with `gapfill replay`, snapshot every table;
//! 3. reset, apply them with the server's own tool (`mysqlbinlog | mysql`,
//!    `mariadb-binlog | mariadb`), snapshot every table;
//! 4. compare: the table list, `SHOW CREATE TABLE`, every row and every column (invisible and
//!    generated ones included; character, binary, JSON, ENUM, SET and BIT columns as HEX,
//!    numbers and temporal values as the server prints them), `CHECKSUM TABLE` where it is
//!    reliable (not MariaDB tables with VIRTUAL columns: their sum depends on row order), and
//!    the executed GTID set.
//!
//! One server applied three times in turn is slower than three servers in parallel, but it is
//! exact (every phase starts from the same empty template) and needs nothing beyond what the
//! sandbox already runs. Everything of a seed is kept under `target/differential/FLAVOR-SEED/`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::generator::{Flavor, generate};
use crate::common::{Kind, Server, env};

/// What a seed ended with.
#[derive(Debug)]
pub enum Outcome {
    Equal {
        tables: usize,
        rows: usize,
    },
    /// The server's own tool stopped only at XA COMMIT/ROLLBACK statements the server refused
    /// with XA_RBROLLBACK / XAER_NOTA (MariaDB forgets an empty prepared XA branch, the bug
    /// family of MDEV-25616); run again with `--force` past them, it gave the reference, and
    /// gapfill's result equals it.
    EqualPastXaErrors {
        tables: usize,
        rows: usize,
        skipped: usize,
    },
    /// The server's own tool left rows whose STORED generated columns disagree with their own
    /// expressions (its applier writes them from the row image, which can carry a value the
    /// source computed from a column the image lacks); once the server recomputes them
    /// (`ALTER TABLE ... FORCE, ALGORITHM=COPY`), its data equals gapfill's. Both still differ
    /// from the source, as the binlog lacks that column's value.
    EqualAfterRecompute {
        tables: usize,
        rows: usize,
        first: String,
    },
    /// The two appliers left different data (the first difference).
    Differs(String),
    /// `gapfill replay` failed where the server's tool applied everything.
    GapfillFailed(String),
    /// The server's own tool failed: no reference to compare with.
    ReferenceFailed(String),
    /// The server's own tool failed or left data different from the source server's, and
    /// gapfill's result equals the source server's own tables (the workload's server itself,
    /// snapshotted right after the workload): the authority behind both.
    EqualToSource {
        tables: usize,
        rows: usize,
        reference: String,
    },
}

impl Outcome {
    pub fn is_equal(&self) -> bool {
        matches!(
            self,
            Outcome::Equal { .. }
                | Outcome::EqualToSource { .. }
                | Outcome::EqualPastXaErrors { .. }
                | Outcome::EqualAfterRecompute { .. }
        )
    }
}

pub struct SeedResult {
    pub flavor: Flavor,
    pub seed: u64,
    pub outcome: Outcome,
    pub options: String,
    pub source_errors: usize,
    pub secs: f64,
    pub dir: PathBuf,
}

impl SeedResult {
    pub fn line(&self) -> String {
        let head = format!(
            "{} seed {} ({:.1} s, {} source statements refused; {})",
            self.flavor.name(),
            self.seed,
            self.secs,
            self.source_errors,
            self.options
        );
        match &self.outcome {
            Outcome::Equal { tables, rows } => {
                format!("{head}: equal ({tables} tables, {rows} rows)")
            }
            Outcome::EqualPastXaErrors {
                tables,
                rows,
                skipped,
            } => format!(
                "{head}: equal ({tables} tables, {rows} rows) to the server's own tool run past \
                 the {skipped} XA statement(s) the server refused (an empty prepared XA branch \
                 forgotten by MariaDB, MDEV-25616 family)"
            ),
            Outcome::EqualAfterRecompute {
                tables,
                rows,
                first,
            } => format!(
                "{head}: equal ({tables} tables, {rows} rows) to the server's own tool once the \
                 server recomputed the STORED generated columns its applier wrote from the row \
                 image (they disagreed with their own expressions; before: {first}); both differ \
                 from the source where the binlog lacks a value"
            ),
            Outcome::EqualToSource {
                tables,
                rows,
                reference,
            } => format!(
                "{head}: equal to the source server ({tables} tables, {rows} rows); the server's \
                 own tool {reference}"
            ),
            other => {
                let what = match other {
                    Outcome::Differs(d) => format!("DIFFERS: {d}"),
                    Outcome::GapfillFailed(e) => format!("GAPFILL REPLAY FAILED: {e}"),
                    Outcome::ReferenceFailed(e) => format!("REFERENCE FAILED: {e}"),
                    Outcome::Equal { .. }
                    | Outcome::EqualToSource { .. }
                    | Outcome::EqualPastXaErrors { .. }
                    | Outcome::EqualAfterRecompute { .. } => unreachable!(),
                };
                format!(
                    "{head}: {what}\n  files: {}\n  reproduce: {}",
                    self.dir.display(),
                    reproduce(self.flavor, self.seed)
                )
            }
        }
    }
}

pub fn reproduce(flavor: Flavor, seed: u64) -> String {
    format!(
        "scripts/differential --flavor {} --from {seed} --seeds 1",
        flavor.name()
    )
}

fn server(flavor: Flavor) -> Server {
    match flavor {
        Flavor::MySql => Server::mysql_target(),
        Flavor::MariaDb => Server::mariadb_target(),
    }
}

/// The root client on the server's socket.
fn client(s: &Server) -> Command {
    let mut c = match s.kind {
        Kind::MySql => Command::new(env("GAPFILL_MYSQL_CLIENT")),
        Kind::MariaDb => {
            let mut c = Command::new(env("GAPFILL_MARIADB_CLIENT"));
            c.arg("--no-defaults");
            c
        }
    };
    c.arg("--default-character-set=utf8mb4")
        .arg("-uroot")
        .arg("-S")
        .arg(&s.socket);
    c
}

/// Pipe `input` into `cmd`; (success, stdout, stderr).
fn pipe(mut cmd: Command, input: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    w.join().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn query(s: &Server, sql: &str) -> Result<String, String> {
    let out = client(s)
        .args(["-N", "-B", "-e", sql])
        .output()
        .expect("run the client");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn q(s: &Server, sql: &str) -> String {
    query(s, sql).unwrap_or_else(|e| panic!("query failed on {}: {e}", s.addr))
}

/// Empty the server between phases: drop the workload's database, forget the binlog and the
/// GTIDs (a fraction of `reset-instance`'s time). Checked: a server that still holds a user
/// database, a prepared XA transaction or a GTID, or whose DROP waits more than 5 s for a lock
/// (a failed `gapfill replay` can leave a prepared XA transaction holding the tables), is
/// wiped with `reset-instance` instead.
fn reset(s: &Server, db: &str) {
    let sql = match s.kind {
        Kind::MySql => format!(
            "SET SESSION lock_wait_timeout = 5; DROP DATABASE IF EXISTS `{db}`; RESET BINARY LOGS AND GTIDS; \
             SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name NOT IN \
             ('mysql', 'sys', 'information_schema', 'performance_schema'); XA RECOVER; \
             SELECT @@GLOBAL.gtid_executed"
        ),
        Kind::MariaDb => format!(
            "SET SESSION lock_wait_timeout = 5; DROP DATABASE IF EXISTS `{db}`; RESET MASTER; SET GLOBAL gtid_slave_pos = ''; \
             SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name NOT IN \
             ('mysql', 'sys', 'information_schema', 'performance_schema'); XA RECOVER; \
             SELECT @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_slave_pos"
        ),
    };
    match query(s, &sql) {
        Ok(out) if out.split_whitespace().collect::<Vec<_>>() == ["0"] => {}
        _ => s.reset(),
    }
}

/// Where a seed's files go.
pub fn out_root() -> PathBuf {
    match std::env::var_os("GAPFILL_DIFF_OUT") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/differential"),
    }
}

fn gapfill_bin() -> PathBuf {
    match std::env::var_os("GAPFILL_DIFF_BIN") {
        Some(b) => PathBuf::from(b),
        None => PathBuf::from(env!("CARGO_BIN_EXE_gapfill")),
    }
}

/// Rebuild every table of `db` that has a STORED generated column by copying it, which makes
/// the server compute those columns again from their expressions. `false`: there is none (or
/// the rebuild failed).
fn recompute_stored_generated(s: &Server, db: &str) -> bool {
    let list = format!(
        "SELECT DISTINCT TABLE_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db}' \
         AND EXTRA LIKE '%STORED GENERATED%'"
    );
    let Ok(tables) = query(s, &list) else {
        return false;
    };
    let tables: Vec<&str> = tables.lines().filter(|l| !l.is_empty()).collect();
    !tables.is_empty()
        && tables.iter().all(|t| {
            query(
                s,
                &format!(
                    "SET SESSION sql_log_bin = 0; ALTER TABLE `{db}`.`{t}` FORCE, ALGORITHM=COPY"
                ),
            )
            .is_ok()
        })
}

/// The client's errors are all MariaDB refusing an XA COMMIT/ROLLBACK of a branch it forgot
/// (ERROR 1402 XA_RBROLLBACK or 1397 XAER_NOTA), and there is at least one.
fn only_forgotten_xa(err: &str) -> bool {
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("ERROR")).collect();
    !errors.is_empty()
        && errors
            .iter()
            .all(|l| l.starts_with("ERROR 1402 ") || l.starts_with("ERROR 1397 "))
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n    ")
}

/// Run one seed of one flavor.
pub fn run_seed(flavor: Flavor, seed: u64) -> SeedResult {
    let t0 = Instant::now();
    let w = generate(flavor, seed);
    let s = server(flavor);
    let dir = out_root().join(format!("{}-{seed}", flavor.name()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("workload.sql"), &w.sql).unwrap();
    std::fs::write(
        dir.join("options.txt"),
        format!(
            "{}\n{}\n",
            w.options.describe(flavor),
            w.options.globals_sql(flavor)
        ),
    )
    .unwrap();

    // 1. The source.
    reset(&s, w.db);
    q(&s, &w.options.globals_sql(flavor));
    q(&s, "FLUSH BINARY LOGS");
    let first = s.current_binlog();
    let mut c = client(&s);
    c.arg("--force");
    let (_, _, errs) = pipe(c, w.sql.as_bytes());
    std::fs::write(dir.join("source-errors.txt"), &errs).unwrap();
    let source_errors = errs.lines().filter(|l| l.starts_with("ERROR")).count();
    let bindir = dir.join("binlog");
    std::fs::create_dir_all(&bindir).unwrap();
    let files = s.rotate_and_copy(&first, &bindir);
    let source = snapshot(&s, w.db);
    std::fs::write(dir.join("source.snapshot"), render(&source)).unwrap();

    let finish = |outcome: Outcome| SeedResult {
        flavor,
        seed,
        outcome,
        options: w.options.describe(flavor),
        source_errors,
        secs: t0.elapsed().as_secs_f64(),
        dir: dir.clone(),
    };

    // 2. gapfill replay.
    reset(&s, w.db);
    let out = Command::new(gapfill_bin())
        .arg("replay")
        .args(&files)
        .arg("--target")
        .arg(&s.addr)
        .env("GAPFILL_USER", env("GAPFILL_TEST_USER"))
        .env("GAPFILL_PASSWORD", env("GAPFILL_TEST_PASSWORD"))
        .output()
        .expect("run gapfill");
    let gf_err = String::from_utf8_lossy(&out.stderr).into_owned();
    std::fs::write(dir.join("gapfill-replay.txt"), &gf_err).unwrap();
    let gapfill_failed = (!out.status.success())
        .then(|| format!("exit {:?}:\n    {}", out.status.code(), tail(&gf_err, 6)));
    let got = snapshot(&s, w.db);

    // 3. The server's own tool.
    reset(&s, w.db);
    let (tool, extra): (String, &[&str]) = match flavor {
        Flavor::MySql => (env("GAPFILL_MYSQLBINLOG"), &[]),
        Flavor::MariaDb => (env("GAPFILL_MARIADB_BINLOG"), &["--no-defaults"]),
    };
    let dump = Command::new(tool)
        .args(extra)
        .args(&files)
        .output()
        .expect("run the binlog tool");
    if !dump.status.success() {
        return finish(Outcome::ReferenceFailed(format!(
            "binlog tool: {}",
            String::from_utf8_lossy(&dump.stderr).trim()
        )));
    }
    std::fs::write(dir.join("gapfill.snapshot"), render(&got)).unwrap();
    // When the server's own tool cannot give a reference, or gives one that differs from the
    // source server's own data, gapfill is held to the source server's data.
    let to_source = |reference: String| match compare(&got, &source) {
        None => Outcome::EqualToSource {
            tables: source.tables.len(),
            rows: source.tables.values().map(|t| t.rows.len()).sum(),
            reference,
        },
        Some(d) => Outcome::Differs(format!(
            "{d} (compared with the source server: {reference})"
        )),
    };
    let (mut ok, _, err) = pipe(client(&s), &dump.stdout);
    let mut xa_skipped = 0;
    if !ok && flavor == Flavor::MariaDb && only_forgotten_xa(&err) {
        reset(&s, w.db);
        let mut c = client(&s);
        c.arg("--force");
        let (_, _, forced) = pipe(c, &dump.stdout);
        if only_forgotten_xa(&forced) {
            ok = true;
            xa_skipped = forced.lines().filter(|l| l.starts_with("ERROR")).count();
        }
    }
    if !ok {
        let reference = format!("failed: {}", tail(&err, 4));
        if let Some(e) = gapfill_failed {
            return finish(Outcome::ReferenceFailed(format!(
                "{reference}; gapfill replay also failed: {e}"
            )));
        }
        return finish(to_source(reference));
    }
    let want = snapshot(&s, w.db);
    std::fs::write(dir.join("reference.snapshot"), render(&want)).unwrap();

    if let Some(e) = gapfill_failed {
        return finish(Outcome::GapfillFailed(e));
    }
    match compare(&got, &want) {
        None if xa_skipped > 0 => finish(Outcome::EqualPastXaErrors {
            tables: want.tables.len(),
            rows: want.tables.values().map(|t| t.rows.len()).sum(),
            skipped: xa_skipped,
        }),
        None => finish(Outcome::Equal {
            tables: want.tables.len(),
            rows: want.tables.values().map(|t| t.rows.len()).sum(),
        }),
        Some(d) => match compare(&want, &source) {
            Some(ref_vs_source) => {
                if recompute_stored_generated(&s, w.db) {
                    let again = snapshot(&s, w.db);
                    if compare(&got, &again).is_none() {
                        return finish(Outcome::EqualAfterRecompute {
                            tables: again.tables.len(),
                            rows: again.tables.values().map(|t| t.rows.len()).sum(),
                            first: d,
                        });
                    }
                }
                finish(to_source(format!(
                    "left data different from the source server's ({ref_vs_source})"
                )))
            }
            None => finish(Outcome::Differs(d)),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots.

#[derive(Debug, Default)]
pub struct TableSnap {
    create: String,
    checksum: Option<String>,
    columns: Vec<String>,
    /// Number of leading values that form the key (0: no primary key, the whole row is it).
    key_len: usize,
    /// Row values in column order (key columns first), sorted.
    rows: Vec<Vec<String>>,
}

#[derive(Debug, Default)]
pub struct Snapshot {
    gtids: String,
    tables: BTreeMap<String, TableSnap>,
}

fn render(s: &Snapshot) -> String {
    let mut out = format!("gtids {}\n", s.gtids);
    for (name, t) in &s.tables {
        writeln!(out, "== {name}\n{}\nchecksum {:?}", t.create, t.checksum).unwrap();
        writeln!(out, "{}", t.columns.join("\t")).unwrap();
        for r in &t.rows {
            writeln!(out, "{}", r.join("\t")).unwrap();
        }
    }
    out
}

fn snapshot(s: &Server, db: &str) -> Snapshot {
    // One client call for the metadata of every table, one for all their rows.
    let gtid_var = match s.kind {
        Kind::MySql => "gtid_executed",
        Kind::MariaDb => "gtid_binlog_pos",
    };
    let meta = q(
        s,
        &format!(
            "SELECT 'G', REPLACE(REPLACE(@@GLOBAL.{gtid_var}, '\\n', ''), ' ', ''); \
             SELECT 'C', table_name, column_name, data_type, extra FROM information_schema.columns \
             WHERE table_schema = '{db}' ORDER BY table_name, ordinal_position; \
             SELECT 'K', table_name, column_name FROM information_schema.statistics \
             WHERE table_schema = '{db}' AND index_name = 'PRIMARY' ORDER BY table_name, seq_in_index; \
             SELECT 'T', table_name FROM information_schema.tables WHERE table_schema = '{db}' \
             AND table_type = 'BASE TABLE' ORDER BY 1"
        ),
    );
    let mut snap = Snapshot::default();
    // table -> [(column, expression, virtual)]
    let mut cols: BTreeMap<String, Vec<(String, String, bool)>> = BTreeMap::new();
    let mut pks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut tables = Vec::new();
    for line in meta.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "G" => snap.gtids = f.get(1).copied().unwrap_or("").to_string(),
            "C" => {
                let (t, name, ty, extra) = (
                    f[1],
                    f[2],
                    f[3].to_lowercase(),
                    f.get(4).copied().unwrap_or(""),
                );
                let plain = matches!(
                    ty.as_str(),
                    "tinyint"
                        | "smallint"
                        | "mediumint"
                        | "int"
                        | "bigint"
                        | "decimal"
                        | "float"
                        | "double"
                        | "date"
                        | "time"
                        | "datetime"
                        | "timestamp"
                        | "year"
                );
                let e = if plain {
                    format!("`_t`.`{name}`")
                } else if ty == "json" && s.kind == Kind::MySql {
                    // The text, and the type of the document and of every value inside it in
                    // document order (opaque DATE/TIME/DECIMAL scalars print like strings and
                    // numbers, and CHECKSUM TABLE sums the text).
                    format!(
                        "CONCAT(HEX(`_t`.`{name}`), ':', IFNULL(JSON_TYPE(`_t`.`{name}`), ''), ':', \\
                         IFNULL((SELECT GROUP_CONCAT(JSON_TYPE(`_v`)) FROM JSON_TABLE(\\
                         JSON_EXTRACT(`_t`.`{name}`, '$**.*', '$**[*]'), '$[*]' \\
                         COLUMNS (`_v` JSON PATH '$')) AS `_jt`), ''))"
                    )
                } else {
                    format!("HEX(`_t`.`{name}`)")
                };
                cols.entry(t.to_string()).or_default().push((
                    name.to_string(),
                    e,
                    extra.contains("VIRTUAL"),
                ));
            }
            "K" => pks
                .entry(f[1].to_string())
                .or_default()
                .push(f[2].to_string()),
            "T" => tables.push(f[1].to_string()),
            _ => {}
        }
    }
    if tables.is_empty() {
        return snap;
    }
    let mut sql = String::new();
    let mut plans = Vec::new();
    for t in &tables {
        let c = cols.get(t).cloned().unwrap_or_default();
        let pk = pks.get(t).cloned().unwrap_or_default();
        // Key columns first.
        let mut order: Vec<&(String, String, bool)> = pk
            .iter()
            .filter_map(|k| c.iter().find(|x| &x.0 == k))
            .collect();
        order.extend(c.iter().filter(|x| !pk.contains(&x.0)));
        let sel: Vec<&str> = order.iter().map(|x| x.1.as_str()).collect();
        let has_virtual = c.iter().any(|x| x.2);
        write!(
            sql,
            "SELECT '#T', '{t}'; SHOW CREATE TABLE `{db}`.`{t}`; SELECT {} FROM `{db}`.`{t}` AS `_t`; ",
            sel.join(", ")
        )
        .unwrap();
        // MariaDB 10.11's CHECKSUM TABLE of a table with VIRTUAL columns depends on the order
        // the rows were written in: rows only there.
        if s.kind == Kind::MySql || !has_virtual {
            write!(sql, "SELECT '#S'; CHECKSUM TABLE `{db}`.`{t}`; ").unwrap();
        }
        plans.push((
            t.clone(),
            order.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
            pk.len(),
        ));
    }
    let text = q(s, &sql);
    let mut cur: Option<String> = None;
    let mut expect_create = false;
    let mut expect_sum = false;
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "#T" {
            let t = f[1].to_string();
            let plan = plans.iter().find(|p| p.0 == t).unwrap();
            snap.tables.insert(
                t.clone(),
                TableSnap {
                    columns: plan.1.clone(),
                    key_len: plan.2,
                    ..TableSnap::default()
                },
            );
            cur = Some(t);
            expect_create = true;
            continue;
        }
        let t = snap.tables.get_mut(cur.as_ref().unwrap()).unwrap();
        if expect_create {
            t.create = f.get(1).copied().unwrap_or("").to_string();
            expect_create = false;
        } else if f[0] == "#S" && f.len() == 1 {
            expect_sum = true;
        } else if expect_sum {
            t.checksum = Some(f.get(1).copied().unwrap_or("").to_string());
            expect_sum = false;
        } else {
            t.rows.push(f.iter().map(|x| x.to_string()).collect());
        }
    }
    for t in snap.tables.values_mut() {
        t.rows.sort();
    }
    snap
}

fn show(v: Option<&str>) -> String {
    match v {
        None => "(no row)".into(),
        Some(v) if v.len() > 200 => format!("{}... ({} chars)", &v[..200], v.len()),
        Some(v) => v.to_string(),
    }
}

/// The first difference between gapfill's result and the reference, if any.
pub fn compare(got: &Snapshot, want: &Snapshot) -> Option<String> {
    let gnames: Vec<&String> = got.tables.keys().collect();
    let wnames: Vec<&String> = want.tables.keys().collect();
    if gnames != wnames {
        return Some(format!("tables: gapfill {gnames:?}, reference {wnames:?}"));
    }
    for (name, w) in &want.tables {
        let g = &got.tables[name];
        if g.create != w.create {
            return Some(format!(
                "table {name}: definition: gapfill {:?}, reference {:?}",
                g.create, w.create
            ));
        }
        let key = |r: &[String], n: usize| -> String {
            if n == 0 {
                r.join(",")
            } else {
                r[..n].join(",")
            }
        };
        let gm: BTreeMap<String, &Vec<String>> =
            g.rows.iter().map(|r| (key(r, w.key_len), r)).collect();
        let wm: BTreeMap<String, &Vec<String>> =
            w.rows.iter().map(|r| (key(r, w.key_len), r)).collect();
        if w.key_len == 0 {
            // No primary key: the rows as a multiset.
            if g.rows != w.rows {
                let first_w = w.rows.iter().find(|r| !g.rows.contains(r));
                let first_g = g.rows.iter().find(|r| !w.rows.contains(r));
                return Some(format!(
                    "table {name} (no primary key; {} rows in gapfill, {} in reference): \
                     row only in reference: {}; row only in gapfill: {} (columns {})",
                    g.rows.len(),
                    w.rows.len(),
                    show(first_w.map(|r| r.join(",")).as_deref()),
                    show(first_g.map(|r| r.join(",")).as_deref()),
                    w.columns.join(",")
                ));
            }
        } else {
            for (k, wr) in &wm {
                match gm.get(k) {
                    None => {
                        return Some(format!(
                            "table {name} key ({k}) [{}]: row missing in gapfill's result",
                            w.columns[..w.key_len].join(",")
                        ));
                    }
                    Some(gr) => {
                        for (i, col) in w.columns.iter().enumerate() {
                            if gr.get(i) != wr.get(i) {
                                return Some(format!(
                                    "table {name} key ({k}) column {col}: gapfill {}, reference {}",
                                    show(gr.get(i).map(String::as_str)),
                                    show(wr.get(i).map(String::as_str))
                                ));
                            }
                        }
                    }
                }
            }
            if let Some(k) = gm.keys().find(|k| !wm.contains_key(*k)) {
                return Some(format!(
                    "table {name} key ({k}): row only in gapfill's result"
                ));
            }
        }
        if g.checksum != w.checksum {
            return Some(format!(
                "table {name}: every row equal but CHECKSUM TABLE differs: gapfill {:?}, reference {:?}",
                g.checksum, w.checksum
            ));
        }
    }
    if got.gtids != want.gtids {
        return Some(format!(
            "executed GTIDs: gapfill {}, reference {}",
            got.gtids, want.gtids
        ));
    }
    None
}

/// The seeds that failed once and are fixed: `FLAVOR SEED  # note` lines of
/// `tests/differential/regressions.txt`.
pub fn regressions(flavor: Flavor) -> Vec<u64> {
    seed_list("regressions.txt", flavor)
}

/// The seeds that fail today (open bugs), from `tests/differential/open-failures.txt`.
pub fn open_failures(flavor: Flavor) -> Vec<u64> {
    seed_list("open-failures.txt", flavor)
}

fn seed_list(file: &str, flavor: Flavor) -> Vec<u64> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/differential")
        .join(file);
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("").trim();
            let mut it = l.split_whitespace();
            let f = Flavor::parse(it.next()?)?;
            let seed = it.next()?.parse().ok()?;
            (f == flavor).then_some(seed)
        })
        .collect()
}

/// Run `seeds`, print one line each as it ends; return the failures' lines.
pub fn run_seeds(flavor: Flavor, seeds: impl IntoIterator<Item = u64>) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut failures = Vec::new();
    for seed in seeds {
        let r = run_seed(flavor, seed);
        n += 1;
        let line = r.line();
        eprintln!("{line}");
        if !r.outcome.is_equal() {
            failures.push(line);
        }
    }
    (n, failures)
}
