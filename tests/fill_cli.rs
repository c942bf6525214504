//! `gapfill fill` refusals that need no server: they happen before anything is touched.

use std::process::Command;

fn fill(args: &[&str], spool: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .arg("fill")
        .args(args)
        .arg("--spool-dir")
        .arg(spool)
        .env_remove("GAPFILL_CONFIG")
        .env("GAPFILL_USER", "u")
        .env("GAPFILL_PASSWORD", "p")
        .output()
        .expect("run gapfill fill");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_alias_that_would_leave_the_spool_root_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let spool = root.path().join("spools");
    std::fs::create_dir_all(spool.join("evil")).unwrap();
    for alias in ["../evil", ".hidden", "a/b", "-x"] {
        let (code, err) = fill(
            &[
                &format!("--cluster={alias}"),
                "--failed",
                "127.0.0.1:1",
                "--successor",
                "127.0.0.1:2",
            ],
            &spool,
        );
        assert_eq!(code, 1, "{alias}: {err}");
        assert!(
            err.contains("cannot name a spool directory"),
            "{alias}: {err}"
        );
    }
    // Nothing was created beside or inside the root.
    let mut names: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["spools"]);
}
