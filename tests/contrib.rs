//! contrib/, README.md and docs/OPERATING.md agree with each other and with the binary: one
//! hook line everywhere, and `gapfill daemon --check` passes on contrib's example
//! configuration, reports a missing file once and changes nothing on disk. No server needed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn read(p: &str) -> String {
    std::fs::read_to_string(repo(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The hook line of contrib's orchestrator snippet.
fn hook_line() -> String {
    let v: serde_json::Value =
        serde_json::from_str(&read("contrib/orchestrator.conf.json.snippet"))
            .expect("the snippet is a JSON object");
    let hooks = v["PostMasterFailoverProcesses"].as_array().expect("hooks");
    assert_eq!(hooks.len(), 1, "one hook line");
    hooks[0].as_str().unwrap().to_string()
}

#[test]
fn one_hook_line_everywhere() {
    let hook = hook_line();
    assert!(
        hook.contains("--config /etc/gapfill/gapfill.toml"),
        "{hook}"
    );
    for doc in ["README.md", "docs/OPERATING.md"] {
        assert!(
            read(doc).contains(&hook),
            "{doc} does not show contrib's hook line:\n{hook}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .args(["fill", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains(&hook),
        "`gapfill fill --help` does not show contrib's hook line:\n{help}"
    );
    // The paths the hook line uses are where the docs install things.
    assert!(read("docs/OPERATING.md").contains("/usr/local/bin/gapfill"));
    assert!(read("contrib/gapfill.service").contains("/etc/gapfill/gapfill.toml"));
}

#[test]
fn contrib_docs_say_how_the_fence_really_works() {
    let snippet = read("contrib/orchestrator.conf.json.snippet");
    assert!(
        !snippet.contains("fences the already-writable successor with super_read_only"),
        "contrib claims a super_read_only fence the code does not set"
    );
    assert!(read("src/fill/successor.rs").contains("SET GLOBAL read_only = ON"));
}

/// contrib/gapfill.toml with its host paths moved under `dir`.
fn contrib_config(dir: &Path, orchestrator_conf: &Path) -> (PathBuf, PathBuf) {
    let spool = dir.join("var/lib/gapfill");
    let text = read("contrib/gapfill.toml")
        .replace(
            "/etc/orchestrator.conf.json",
            orchestrator_conf.to_str().unwrap(),
        )
        .replace("/var/lib/gapfill", spool.to_str().unwrap());
    let path = dir.join("gapfill.toml");
    std::fs::write(&path, text).unwrap();
    (path, spool)
}

fn check(config: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .args(["daemon", "--check", "--config"])
        .arg(config)
        .env_remove("GAPFILL_USER")
        .env_remove("GAPFILL_PASSWORD")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn daemon_check_passes_on_contribs_example_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let orc = dir.path().join("orchestrator.conf.json");
    std::fs::write(
        &orc,
        r#"{"MySQLTopologyUser":"orc","MySQLTopologyPassword":"pw","SlaveBinLogEnableMaxLagSeconds":300}"#,
    )
    .unwrap();
    let (config, spool) = contrib_config(dir.path(), &orc);
    let (code, out) = check(&config);
    assert_eq!(code, 0, "daemon --check on contrib/gapfill.toml: {out}");
    assert!(
        !spool.exists() && !spool.parent().unwrap().exists(),
        "--check created the spool directory"
    );
}

#[test]
fn daemon_check_reports_a_missing_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-orchestrator.conf.json");
    let (config, spool) = contrib_config(dir.path(), &missing);
    let (code, out) = check(&config);
    assert_eq!(code, 2, "{out}");
    let name = missing.to_str().unwrap();
    assert_eq!(
        out.matches(name).count(),
        1,
        "the missing file is reported more (or less) than once:\n{out}"
    );
    assert!(out.contains("credentials.orchestrator_config"), "{out}");
    assert!(!spool.exists(), "--check created the spool directory");
}

#[test]
fn daemon_check_refuses_a_spool_dir_that_cannot_be_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let orc = dir.path().join("orchestrator.conf.json");
    std::fs::write(
        &orc,
        r#"{"MySQLTopologyUser":"orc","MySQLTopologyPassword":"pw"}"#,
    )
    .unwrap();
    let (config, spool) = contrib_config(dir.path(), &orc);
    // A file where a parent directory should be.
    std::fs::create_dir_all(spool.parent().unwrap().parent().unwrap()).unwrap();
    std::fs::write(spool.parent().unwrap(), "not a directory").unwrap();
    let (code, out) = check(&config);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("spool_dir: cannot create"), "{out}");
}

#[test]
fn logs_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("capture.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gapfill"))
        .args(["capture", "--source", "127.0.0.1:1", "--dir"])
        .arg(dir.path().join("spool"))
        .env("GAPFILL_USER", "u")
        .env("GAPFILL_PASSWORD", "p")
        .env("GAPFILL_LOG", "gapfill=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("INFO"), "no log line to check:\n{text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape codes in a log file:\n{text:?}"
    );
}

#[test]
fn the_release_artefact_is_stripped_and_its_install_documented() {
    let cargo: toml::Table = read("Cargo.toml").parse().unwrap();
    let release = &cargo["profile"]["release"];
    assert_eq!(release["strip"].as_str(), Some("debuginfo"), "{release}");
    let dist = &cargo["profile"]["dist"];
    assert_eq!(dist["inherits"].as_str(), Some("release"));
    assert!(repo("scripts/dist").exists());
    let readme = read("README.md");
    for needle in [
        "cargo install --locked --path .",
        "contrib/gapfill.service",
        "scripts/dist",
    ] {
        assert!(readme.contains(needle), "README lacks {needle:?}");
    }
}
