//! The randomized differential tester on the real servers (see `tests/differential/`): for
//! each seed a random schema, workload and set of binlog options runs on the sandbox's
//! standalone target, and its binlog applied with `gapfill replay` must leave exactly what
//! `mysqlbinlog | mysql` (`mariadb-binlog | mariadb`) leaves. The suite runs the first six
//! seeds of each flavor that are not open failures (`tests/differential/open-failures.txt`,
//! bugs not fixed yet, run with `scripts/differential --open`) plus every fixed regression
//! (`tests/differential/regressions.txt`); `scripts/differential --seeds N` runs long
//! (through `long_run`, which only drives: it checks nothing unless the script asks).

mod common;
mod differential;

use differential::generator::Flavor;
use differential::run::{open_failures, regressions, reproduce, run_seeds};

/// How many fixed seeds every suite run covers (per flavor).
const FIXED: usize = 6;

fn suite(flavor: Flavor) {
    let open = open_failures(flavor);
    let mut seeds: Vec<u64> = (1..).filter(|s| !open.contains(s)).take(FIXED).collect();
    for s in regressions(flavor) {
        if !seeds.contains(&s) {
            seeds.push(s);
        }
    }
    let (n, failures) = run_seeds(flavor, seeds);
    assert!(
        failures.is_empty(),
        "{} of {n} {} seeds differ from the server's own tool:\n{}",
        failures.len(),
        flavor.name(),
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mysql_fixed_and_regression_seeds() {
    suite(Flavor::MySql);
}

#[test]
#[ignore = "needs real servers: run scripts/test"]
fn mariadb_fixed_and_regression_seeds() {
    suite(Flavor::MariaDb);
}

/// `scripts/differential` sets GAPFILL_DIFF_SEEDS (and GAPFILL_DIFF_FLAVOR, GAPFILL_DIFF_FROM);
/// without them (the suite) this does nothing.
#[test]
#[ignore = "run by scripts/differential"]
fn long_run() {
    let Ok(n) = std::env::var("GAPFILL_DIFF_SEEDS") else {
        return;
    };
    let n: u64 = n.parse().expect("GAPFILL_DIFF_SEEDS: a number");
    let from: u64 = std::env::var("GAPFILL_DIFF_FROM")
        .ok()
        .map(|s| s.parse().expect("GAPFILL_DIFF_FROM: a number"))
        .unwrap_or(1);
    let flavors: Vec<Flavor> = match std::env::var("GAPFILL_DIFF_FLAVOR").ok().as_deref() {
        None | Some("") | Some("both") => vec![Flavor::MySql, Flavor::MariaDb],
        Some(f) => vec![Flavor::parse(f).expect("GAPFILL_DIFF_FLAVOR: mysql, mariadb or both")],
    };
    let open = std::env::var_os("GAPFILL_DIFF_OPEN").is_some();
    let mut report = Vec::new();
    let mut all = Vec::new();
    for f in flavors {
        let seeds: Vec<u64> = if open {
            open_failures(f)
        } else {
            (from..from + n).collect()
        };
        let (ran, failures) = run_seeds(f, seeds);
        report.push(format!(
            "{}: {ran} seeds from {from}, {} equal, {} failed",
            f.name(),
            ran - failures.len(),
            failures.len()
        ));
        all.extend(failures);
    }
    eprintln!("\n== summary\n{}", report.join("\n"));
    if !all.is_empty() {
        eprintln!("\n== failures\n{}", all.join("\n"));
        eprintln!(
            "\nadd each new failing seed to tests/differential/open-failures.txt; reproduce one with e.g. {}",
            reproduce(Flavor::MySql, from)
        );
        panic!("{} seeds failed", all.len());
    }
}
