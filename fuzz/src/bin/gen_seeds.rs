//! Write the seed corpus of every fuzz target: `gen_seeds [DIR]` (default `fuzz/seeds`)
//! creates `DIR/<target>/<hash>` files, one per seed, from `tests/fixtures`.

use std::path::PathBuf;

fn fnv64(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds"));
    let seeds = gapfill_fuzz::seeds::all();
    let mut targets: Vec<_> = seeds.by_target.iter().collect();
    targets.sort_by_key(|(t, _)| **t);
    for (target, list) in targets {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        for seed in list {
            let p = d.join(format!("seed-{:016x}", fnv64(seed)));
            std::fs::write(&p, seed).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        }
        println!("{target}: {} seeds", list.len());
    }
}
