//! Commit latency probe for `scripts/bench-capture`: N autocommit single-row INSERTs on one
//! connection, each timed from send to OK, then the percentiles.
//!
//!   GAPFILL_USER=... GAPFILL_PASSWORD=... commit_latency HOST:PORT TABLE N
//!
//! Prints one line: `n=N avg_us=.. p50_us=.. p90_us=.. p99_us=.. max_us=..`. The credentials
//! come from the environment (never argv); the table must exist with an AUTO_INCREMENT key and
//! a `v` column.

use std::time::Instant;

use gapfill::protocol::{ConnectOptions, Connection, Password};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, table, n] = args.as_slice() else {
        eprintln!("usage: commit_latency HOST:PORT TABLE N (GAPFILL_USER/GAPFILL_PASSWORD in env)");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N is a number");
    let user = std::env::var("GAPFILL_USER").expect("GAPFILL_USER");
    let password = std::env::var("GAPFILL_PASSWORD").expect("GAPFILL_PASSWORD");
    let opts = ConnectOptions::new(addr.as_str(), user, Password::new(password));
    let mut conn = Connection::connect(&opts).await.expect("connect");
    let sql = format!("INSERT INTO {table} (v) VALUES (REPEAT('x', 100))");
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        conn.execute(&sql).await.expect("insert");
        lat.push(t.elapsed().as_micros() as u64);
    }
    conn.close().await;
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    let avg = lat.iter().sum::<u64>() / lat.len().max(1) as u64;
    println!(
        "n={} avg_us={} p50_us={} p90_us={} p99_us={} max_us={}",
        lat.len(),
        avg,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        lat[lat.len() - 1]
    );
}
