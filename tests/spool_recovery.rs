//! Spool crash recovery and retention: torn tails at every byte, rebuilt indexes, corrupt
//! segments, byte caps and time windows moving the continuity origin.

#[path = "spool_support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gapfill::binlog::gtid_set::GtidSet;
use gapfill::spool::{
    Coverage, NotCovered, ResumePoint, Retention, Spool, SpoolError, StartPoint, TargetPosition,
};
use support::{FakeMaster, UUID, config, copy_dir, feed, txns, txns_rel};

fn set(s: &str) -> GtidSet {
    GtidSet::parse(s).unwrap()
}

const T0: u64 = 1_700_000_000_000_000;

/// Gnos 1..=4 in binlog.000001, 5..=7 in binlog.000002 (the live segment), one txn per
/// `step_us`. Returns the spool (closed) and the master.
fn build(dir: &Path, step_us: u64) -> FakeMaster {
    let mut m = FakeMaster::mysql("binlog.000001");
    m.file_head();
    let mut s = Spool::open(config(dir)).unwrap();
    s.begin(&m.info("db1:3306"), StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &m.session_start());
    for g in 1..=7u64 {
        if g == 5 {
            feed(&mut s, &m.rotate_to("binlog.000002"));
        }
        let ev = if g == 3 {
            m.mysql_ddl(g, T0 + g * step_us)
        } else {
            m.mysql_txn(g, T0 + g * step_us)
        };
        assert_eq!(feed(&mut s, &ev), 1);
    }
    s.close().unwrap();
    m
}

fn seg(dir: &Path, name: &str) -> PathBuf {
    dir.join("epoch-0001").join(name)
}

fn idx(dir: &Path, name: &str) -> PathBuf {
    dir.join("epoch-0001/index").join(format!("{name}.gfi"))
}

#[test]
fn torn_tail_at_every_byte_of_the_last_transaction_is_cut_cleanly() {
    let base = tempfile::tempdir().unwrap();
    let tpl = base.path().join("template");
    let mut m = build(&tpl, 1000);
    let (all, last) = {
        let s = Spool::open(config(&tpl)).unwrap();
        let all = txns_rel(&s);
        (all.clone(), all.last().unwrap().clone())
    };
    let want_held: Vec<_> = all[..all.len() - 1].to_vec();
    let want_resume = ResumePoint::MySqlGtids(set(&format!("{UUID}:1-6")));
    let seg_name = "binlog.000002";
    for cut in last.local_start..last.local_end {
        let d = base.path().join(format!("cut-{cut}"));
        copy_dir(&tpl, &d);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(seg(&d, seg_name))
            .unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let s = Spool::open(config(&d)).unwrap();
        assert_eq!(txns_rel(&s), want_held, "cut at {cut}");
        assert_eq!(s.resume_point(), Some(want_resume.clone()), "cut at {cut}");
        if cut > last.local_start {
            let c = &s.recovery_report().cuts;
            assert_eq!(c.len(), 1, "cut at {cut}: {c:?}");
            assert_eq!(c[0].to, last.local_start);
        }
        assert_eq!(
            std::fs::metadata(seg(&d, seg_name)).unwrap().len(),
            last.local_start
        );
        drop(s);
        // Reopens to the same state, nothing more to cut.
        let s = Spool::open(config(&d)).unwrap();
        assert_eq!(txns_rel(&s), want_held);
        assert!(s.recovery_report().cuts.is_empty());
        drop(s);
        std::fs::remove_dir_all(&d).unwrap();
    }
    // Garbage (zeros, as a crashed file system leaves) after the last transaction.
    let d = base.path().join("zeros");
    copy_dir(&tpl, &d);
    let mut bytes = std::fs::read(seg(&d, seg_name)).unwrap();
    bytes.extend_from_slice(&[0; 300]);
    std::fs::write(seg(&d, seg_name), &bytes).unwrap();
    let mut s = Spool::open(config(&d)).unwrap();
    assert_eq!(txns_rel(&s), all);
    assert_eq!(s.recovery_report().cuts.len(), 1);
    // And the spool continues: the master re-sends from the resume point.
    s.begin(&m.info("db1:3306"), StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &m.session_start());
    assert_eq!(feed(&mut s, &m.mysql_txn(8, T0 + 8000)), 1);
    assert_eq!(txns(&s).len(), 8);
}

#[test]
fn deleted_or_damaged_indexes_are_rebuilt_identical() {
    let base = tempfile::tempdir().unwrap();
    let tpl = base.path().join("template");
    build(&tpl, 1000);
    let want = txns_rel(&Spool::open(config(&tpl)).unwrap());
    for name in ["binlog.000001", "binlog.000002"] {
        let original = std::fs::read(idx(&tpl, name)).unwrap();
        type Damage = Box<dyn Fn(&Path)>;
        let damages: Vec<(&str, Damage)> = vec![
            (
                "deleted",
                Box::new(|p: &Path| std::fs::remove_file(p).unwrap()),
            ),
            (
                "flipped byte",
                Box::new(|p: &Path| {
                    let mut b = std::fs::read(p).unwrap();
                    let i = b.len() / 2;
                    b[i] ^= 0x10;
                    std::fs::write(p, b).unwrap();
                }),
            ),
            (
                "torn tail",
                Box::new(|p: &Path| {
                    let b = std::fs::read(p).unwrap();
                    std::fs::write(p, &b[..b.len() - 3]).unwrap();
                }),
            ),
            (
                "emptied",
                Box::new(|p: &Path| std::fs::write(p, b"").unwrap()),
            ),
        ];
        for (what, damage) in damages {
            let d = base
                .path()
                .join(format!("{name}-{}", what.replace(' ', "_")));
            copy_dir(&tpl, &d);
            damage(&idx(&d, name));
            let s = Spool::open(config(&d)).unwrap();
            assert_eq!(txns_rel(&s), want, "{name} {what}");
            assert_eq!(
                s.recovery_report().rebuilt_indexes,
                vec![idx(&d, name)],
                "{name} {what}"
            );
            assert_eq!(
                std::fs::read(idx(&d, name)).unwrap(),
                original,
                "{name} {what}: rebuilt index differs"
            );
        }
    }
}

#[test]
fn a_damaged_closed_segment_is_an_error_naming_file_and_offset() {
    let base = tempfile::tempdir().unwrap();
    build(base.path(), 1000);
    let p = seg(base.path(), "binlog.000001");
    let mut b = std::fs::read(&p).unwrap();
    let at = b.len() - 40;
    b[at] ^= 0xff;
    std::fs::write(&p, &b).unwrap();
    // The sealed index is still trusted (the segment's length did not change).
    assert!(Spool::open(config(base.path())).is_ok());
    // Without the index the damage is found, and reported, not cut.
    std::fs::remove_file(idx(base.path(), "binlog.000001")).unwrap();
    let err = Spool::open(config(base.path())).err().unwrap();
    match &err {
        SpoolError::CorruptSegment { path, offset, .. } => {
            assert_eq!(path, &p);
            assert!(*offset > 0);
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("binlog.000001"));
}

#[test]
fn random_damage_never_panics() {
    let base = tempfile::tempdir().unwrap();
    let tpl = base.path().join("template");
    build(&tpl, 1000);
    let files = [
        seg(&tpl, "binlog.000002"),
        idx(&tpl, "binlog.000002"),
        idx(&tpl, "binlog.000001"),
        tpl.join("spool.json"),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..120 {
        let d = base.path().join(format!("r{round}"));
        copy_dir(&tpl, &d);
        let f = &files[round % files.len()];
        let p = d.join(f.strip_prefix(&tpl).unwrap());
        let mut b = std::fs::read(&p).unwrap();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x as usize) % b.len();
            b[i] = (x >> 32) as u8;
        }
        std::fs::write(&p, &b).unwrap();
        // Either a usable spool holding a prefix of the transactions, or an error.
        if let Ok(s) = Spool::open(config(&d)) {
            for t in s.transactions() {
                let _ = t;
            }
            let _ = s.status();
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn missing_continuity_record_is_refused() {
    let base = tempfile::tempdir().unwrap();
    build(base.path(), 1000);
    std::fs::remove_file(base.path().join("spool.json")).unwrap();
    assert!(matches!(
        Spool::open(config(base.path())),
        Err(SpoolError::MissingContinuity { .. })
    ));
}

#[test]
fn retention_by_time_drops_whole_old_segments_and_moves_the_origin() {
    let base = tempfile::tempdir().unwrap();
    // One transaction per minute: binlog.000001 holds minutes 1-4, binlog.000002 5-7.
    let mut m = build(base.path(), 60_000_000);
    let mut cfg = config(base.path());
    cfg.retention = Retention {
        keep: Duration::from_secs(150),
        max_bytes: None,
    };
    let mut s = Spool::open(cfg.clone()).unwrap();
    let newest = T0 + 7 * 60_000_000;
    let now = UNIX_EPOCH + Duration::from_micros(newest + 1_000_000);
    let r = s.enforce_retention(now).unwrap();
    // Newest commit at minute 7, keep 2.5 minutes: binlog.000001 (last commit minute 4) goes.
    assert_eq!(r.dropped_segments, vec![seg(base.path(), "binlog.000001")]);
    assert_eq!(r.dropped_txns, 4);
    assert!(!seg(base.path(), "binlog.000001").exists());
    assert_eq!(txns(&s).len(), 3);
    // The origin moved: a target lacking gno 4 is no longer covered, one having 1-4 is.
    assert_eq!(
        r.new_origin.as_deref(),
        Some(&*format!("MySQL GTID set '{UUID}:1-4'"))
    );
    let t = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-3")));
    match s.coverage_for(&t) {
        Coverage::NotCovered(NotCovered::LacksBeforeOrigin {
            lacking,
            moved_by_retention,
            ..
        }) => {
            assert_eq!(lacking, format!("{UUID}:4"));
            assert!(moved_by_retention);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        s.coverage_for(&TargetPosition::MySqlGtids(set(&format!("{UUID}:1-4"))))
            .is_covered()
    );
    // The resume point is unchanged, and everything survives a reopen.
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::MySqlGtids(set(&format!("{UUID}:1-7"))))
    );
    // A later pass with a clock far ahead never drops the segment being written.
    let r = s
        .enforce_retention(now + Duration::from_secs(86400))
        .unwrap();
    assert!(r.dropped_segments.is_empty());
    drop(s);
    let mut s = Spool::open(cfg).unwrap();
    assert_eq!(txns(&s).len(), 3);
    assert!(
        !s.coverage_for(&TargetPosition::MySqlGtids(set(&format!("{UUID}:1-3"))))
            .is_covered()
    );
    // Capture continues after retention.
    s.begin(&m.info("db1:3306"), StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &m.session_start());
    assert_eq!(feed(&mut s, &m.mysql_txn(8, newest + 60_000_000)), 1);
}

#[test]
fn retention_by_bytes_and_epochs() {
    let base = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mysql("binlog.000001");
    m.file_head();
    let mut cfg = config(base.path());
    let mut s = Spool::open(cfg.clone()).unwrap();
    s.begin(&m.info("db1:3306"), StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &m.session_start());
    let mut g = 0;
    for f in 2..=5 {
        for _ in 0..3 {
            g += 1;
            feed(&mut s, &m.mysql_txn(g, T0 + g));
        }
        feed(&mut s, &m.rotate_to(&format!("binlog.{f:06}")));
    }
    feed(&mut s, &m.mysql_txn(13, T0 + 13));
    let st = s.status();
    assert_eq!(st.segments, 5);
    let per_seg = st.bytes / 5;
    drop(s);
    // Cap at a bit more than two segments: the three oldest go, whatever the time window.
    cfg.retention.max_bytes = Some(per_seg * 2 + per_seg / 2);
    let mut s = Spool::open(cfg.clone()).unwrap();
    let r = s.enforce_retention(SystemTime::now()).unwrap();
    assert_eq!(r.dropped_segments.len(), 3, "{r:?}");
    assert_eq!(r.dropped_txns, 9);
    assert!(!r.over_cap);
    assert_eq!(
        s.status().origin.as_deref(),
        Some(&*format!("MySQL GTID set '{UUID}:1-9'"))
    );
    // A cap below one segment drops all but the one being written, and says so.
    cfg.retention.max_bytes = Some(10);
    drop(s);
    let mut s = Spool::open(cfg.clone()).unwrap();
    let r = s.enforce_retention(SystemTime::now()).unwrap();
    assert_eq!(r.dropped_segments.len(), 1);
    assert!(r.over_cap);
    assert_eq!(s.status().segments, 1);
    assert_eq!(txns(&s).len(), 1);

    // Epochs: once every segment of an old epoch is gone, so is its directory.
    let mut n = FakeMaster::mysql("replica-bin.000001");
    n.server_id = 2;
    n.file_head();
    let mut info = n.info("db2:3306");
    info.server_uuid = Some("bbbbbbbb-0000-0000-0000-000000000002".into());
    s.begin(&info, StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &n.session_start());
    feed(&mut s, &n.mysql_txn(14, T0 + 14));
    let r = s.enforce_retention(SystemTime::now()).unwrap();
    assert_eq!(r.dropped_segments.len(), 1);
    assert!(!base.path().join("epoch-0001").exists());
    assert_eq!(s.status().epochs.len(), 1);
    drop(s);
    let s = Spool::open(cfg).unwrap();
    assert_eq!(s.status().epochs[0].id, 2);
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::MySqlGtids(set(&format!("{UUID}:1-14"))))
    );
}

#[test]
fn a_crash_right_after_a_rotation_resumes_in_the_previous_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mysql("binlog.000001");
    m.file_head();
    let start = m.pos;
    let mut s = Spool::open(config(dir.path())).unwrap();
    let info = m.info("db1:3306");
    s.begin(
        &info,
        StartPoint::FilePos {
            file: "binlog.000001".into(),
            pos: start,
        },
    )
    .unwrap();
    feed(&mut s, &m.session_start());
    feed(&mut s, &m.mysql_txn(1, T0 + 1));
    feed(&mut s, &m.mysql_txn(2, T0 + 2));
    let end_of_2 = m.pos;
    let mut old = FakeMaster::mysql("binlog.000001");
    old.pos = end_of_2;
    // The master rotates; the new file's head arrives, then the process dies.
    feed(&mut s, &m.rotate_to("binlog.000002"));
    assert_eq!(s.status().segments, 2);
    drop(s);
    let mut s = Spool::open(config(dir.path())).unwrap();
    // The empty new segment is gone, the old one reopened right after transaction 2.
    assert_eq!(s.status().segments, 1);
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::FilePos {
            file: "binlog.000001".into(),
            pos: end_of_2
        })
    );
    // Capture filters artificial events here: the resume point names the file.
    s.begin(
        &info,
        StartPoint::FilePos {
            file: "binlog.000001".into(),
            pos: start,
        },
    )
    .unwrap();
    let mut again = vec![old.session_start()[1].clone()];
    again.extend(old.rotate_to("binlog.000002"));
    again.retain(|e| e[17] & 0x20 == 0);
    feed(&mut s, &again);
    feed(&mut s, &old.mysql_txn(3, T0 + 3));
    let all = txns(&s);
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].master_file, "binlog.000002");
    drop(s);
    // The reopened first segment was sealed again and is whole: it ends with the ROTATE.
    let s = Spool::open(config(dir.path())).unwrap();
    assert!(s.recovery_report().rebuilt_indexes.is_empty());
    assert_eq!(txns(&s).len(), 3);
    let first = std::fs::read(seg(dir.path(), "binlog.000001")).unwrap();
    assert_eq!(first.len() as u64, m_len(&first));
}

/// Length of the events in a binlog image (checks it parses to the end).
fn m_len(bytes: &[u8]) -> u64 {
    let mut r = gapfill::binlog::file_reader::BinlogFileReader::new("x", bytes).unwrap();
    let mut last_type = 0;
    let mut end = 4;
    while let gapfill::binlog::file_reader::ReadOutcome::Event { offset, bytes } =
        r.next_event().unwrap()
    {
        last_type = bytes[4];
        end = offset + bytes.len() as u64;
    }
    assert_eq!(last_type, 4, "ends with a ROTATE");
    end
}

/// A byte flipped in the middle of the live segment cuts every transaction after it, the
/// ones the spool had received complete included: a continuity break (coverage refuses the
/// range), closed with nothing lost once the master serves those transactions again.
#[test]
fn mid_segment_damage_is_a_break_until_the_master_serves_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mysql("binlog.000001");
    m.file_head();
    let info = m.info("db1:3306");
    let mut s = Spool::open(config(dir.path())).unwrap();
    s.begin(&info, StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &m.session_start());
    let mut again = FakeMaster::mysql("binlog.000001");
    let mut replay = Vec::new();
    for g in 1..=6u64 {
        if g == 3 {
            again.pos = m.pos;
        }
        let ev = m.mysql_txn(g, T0 + g);
        if g >= 3 {
            replay.push(ev.clone());
        }
        feed(&mut s, &ev);
    }
    let third = txns(&s)[2].clone();
    s.close().unwrap();
    // Flip a byte inside transaction 3.
    let path = seg(dir.path(), "binlog.000001");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = (third.local_start + third.local_end) as usize / 2;
    bytes[at] ^= 0x5a;
    std::fs::write(&path, &bytes).unwrap();

    let mut s = Spool::open(config(dir.path())).unwrap();
    assert_eq!(txns(&s).len(), 2, "cut back to transaction 2");
    let st = s.status();
    let open = st.breaks.last().expect("a break is recorded");
    assert!(open.resumed_from.is_none(), "{open:?}");
    assert!(open.reason.contains("damaged"), "{}", open.reason);
    assert!(open.reason.contains("4 complete"), "{}", open.reason);
    let lacking = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-2")));
    assert!(
        matches!(
            s.coverage_for(&lacking),
            Coverage::NotCovered(NotCovered::OpenBreak { .. })
        ),
        "{:?}",
        s.coverage_for(&lacking)
    );
    // The master still has them: the same session protocol fetches them again.
    s.begin(&info, StartPoint::MySqlGtids(set(&format!("{UUID}:1-6"))))
        .unwrap();
    feed(&mut s, &again.session_start());
    for ev in &replay {
        assert_eq!(feed_observed(&mut s, ev), 1);
    }
    assert_eq!(txns(&s).len(), 6);
    let st = s.status();
    let closed = st.breaks.last().unwrap();
    assert!(closed.resumed_from.is_some(), "{closed:?}");
    assert!(
        s.coverage_for(&lacking).is_covered(),
        "{:?}",
        s.coverage_for(&lacking)
    );
    // Nothing was assumed lost: the origin is still the empty start.
    assert_eq!(st.origin.as_deref(), Some("MySQL GTID set ''"));
}

/// Feed one transaction's events as capture does: append, then tell the stream record.
fn feed_observed(s: &mut Spool, events: &[Vec<u8>]) -> usize {
    let mut commits = 0;
    for ev in events {
        if let gapfill::spool::Appended::Commit { master_end, .. } = s.append(ev).unwrap() {
            commits += 1;
            s.stream_observe(
                gapfill::spool::Seen::Commit {
                    gtid: None,
                    master_end,
                    commit_ts_us: 0,
                    ack_requested: false,
                },
                (b"binlog.000001", master_end),
            )
            .unwrap();
        }
    }
    commits
}
