//! Spool behaviour without servers: append and reopen, resume points, reconnects, epochs,
//! breaks, coverage, fsync policies.

#[path = "spool_support/mod.rs"]
mod support;

use std::time::Duration;

use gapfill::binlog::gtid_set::GtidSet;
use gapfill::binlog::mariadb_executed::MariadbExecuted;
use gapfill::binlog::mariadb_gtid::MariadbGtidPos;
use gapfill::spool::{
    Appended, Coverage, FsyncPolicy, Missing, NotCovered, ResumePoint, Spool, SpoolError,
    StartPoint, TargetPosition, TxnEnd, TxnGtid,
};
use support::{FakeMaster, UUID, config, feed, txns};

fn set(s: &str) -> GtidSet {
    GtidSet::parse(s).unwrap()
}

/// A spool that captured gnos 101..=105 then (after a rotate) 106..=108, from start 1-100.
fn mysql_spool(dir: &std::path::Path) -> (Spool, FakeMaster) {
    let mut m = FakeMaster::mysql("binlog.000007");
    m.written = set(&format!("{UUID}:1-100"));
    m.file_head();
    let mut s = Spool::open(config(dir)).unwrap();
    s.begin(
        &m.info("db1:3306"),
        StartPoint::MySqlGtids(set(&format!("{UUID}:1-100"))),
    )
    .unwrap();
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::MySqlGtids(set(&format!("{UUID}:1-100"))))
    );
    feed(&mut s, &m.session_start());
    let t0 = 1_700_000_000_000_000u64;
    let mut n = 0;
    for g in 101..=105 {
        let ev = if g == 103 {
            m.mysql_ddl(g, t0 + g)
        } else {
            m.mysql_txn(g, t0 + g)
        };
        n += feed(&mut s, &ev);
    }
    n += feed(&mut s, &m.rotate_to("binlog.000008"));
    for g in 106..=108 {
        n += feed(&mut s, &m.mysql_txn(g, t0 + g));
    }
    assert_eq!(n, 8);
    (s, m)
}

#[test]
fn append_and_reopen_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _m) = mysql_spool(dir.path());
    let before = txns(&s);
    let status = s.status();
    assert_eq!(before.len(), 8);
    assert_eq!(status.segments, 2);
    assert_eq!(status.txns, 8);
    assert_eq!(before[2].end, TxnEnd::Statement);
    assert_eq!(before[0].end, TxnEnd::Xid);
    assert_eq!(before[0].master_file, "binlog.000007");
    assert_eq!(before[7].master_file, "binlog.000008");
    assert_eq!(before[0].commit_ts_us, 1_700_000_000_000_101);
    assert!(before[0].logical_clock.is_some());
    // Local byte ranges hold exactly the transaction, starting with its GTID event.
    for t in &before {
        let bytes = std::fs::read(&t.segment).unwrap();
        let txn = &bytes[t.local_start as usize..t.local_end as usize];
        assert_eq!(txn[4], 33, "starts with a GTID event");
        assert_eq!(t.master_end - t.master_start, t.local_end - t.local_start);
    }
    let resume = s.resume_point();
    assert_eq!(
        resume,
        Some(ResumePoint::MySqlGtids(set(&format!("{UUID}:1-108"))))
    );
    drop(s);
    let s = Spool::open(config(dir.path())).unwrap();
    assert_eq!(txns(&s), before);
    assert_eq!(s.resume_point(), resume);
    assert!(
        s.recovery_report().cuts.is_empty(),
        "{:?}",
        s.recovery_report()
    );
    assert!(s.recovery_report().rebuilt_indexes.is_empty());
}

#[test]
fn reconnect_mid_transaction_keeps_no_partial_and_no_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut m) = mysql_spool(dir.path());
    let info = m.info("db1:3306");
    // Half a transaction, then the connection drops.
    let pos_before = m.pos;
    let half = m.mysql_txn(109, 1_700_000_000_000_109);
    feed(&mut s, &half[..2]);
    // New session: begin, the master re-sends from the resume point (same file, mid-file).
    s.begin(&info, StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    m.pos = pos_before;
    let mut again = m.session_start();
    let full = m.mysql_txn(109, 1_700_000_000_000_109);
    again.extend(full);
    assert_eq!(feed(&mut s, &again), 1);
    let all = txns(&s);
    assert_eq!(all.len(), 9);
    let last = &all[8];
    // The segment is contiguous: the transaction directly follows the previous one.
    assert_eq!(last.local_start, all[7].local_end);
    let seg_len = std::fs::metadata(&last.segment).unwrap().len();
    assert_eq!(seg_len, last.local_end);

    // A GTID resume re-sends the file head (FDE, PREVIOUS_GTIDS): skipped, not duplicated.
    s.begin(&info, StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    let mut head = FakeMaster::mysql("binlog.000008");
    head.written = set(&format!("{UUID}:1-105"));
    let mut evs = head.session_start();
    evs.extend(head.file_head().into_iter().skip(1));
    feed(&mut s, &evs);
    let next = m.mysql_txn(110, 1_700_000_000_000_110);
    assert_eq!(feed(&mut s, &next), 1);
    let all = txns(&s);
    assert_eq!(all.len(), 10);
    assert_eq!(all[9].local_start, all[8].local_end);
}

#[test]
fn resume_points_by_position_and_mariadb() {
    // Position mode: the end of the last complete transaction.
    let dir = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mysql("binlog.000003");
    m.file_head();
    m.mysql_txn(1, 1);
    let start_pos = m.pos;
    let mut s = Spool::open(config(dir.path())).unwrap();
    s.begin(
        &m.info("db1:3306"),
        StartPoint::FilePos {
            file: "binlog.000003".into(),
            pos: start_pos,
        },
    )
    .unwrap();
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::FilePos {
            file: "binlog.000003".into(),
            pos: start_pos
        })
    );
    feed(&mut s, &m.session_start());
    feed(&mut s, &m.mysql_txn(2, 2));
    let end = m.pos;
    feed(&mut s, &m.mysql_txn(3, 3)[..3]); // incomplete
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::FilePos {
            file: "binlog.000003".into(),
            pos: end
        })
    );
    drop(s);
    let s = Spool::open(config(dir.path())).unwrap();
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::FilePos {
            file: "binlog.000003".into(),
            pos: end
        })
    );
    assert_eq!(s.recovery_report().cuts.len(), 1);

    // MariaDB: the start position advanced by every group held.
    let dir = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mariadb("mariadb-bin.000001");
    m.file_head();
    let mut s = Spool::open(config(dir.path())).unwrap();
    let start = MariadbGtidPos::parse("0-11-5,1-11-2").unwrap();
    s.begin(&m.info("maria:3306"), StartPoint::MariaDbGtids(start))
        .unwrap();
    feed(&mut s, &m.session_start());
    feed(&mut s, &m.mariadb_txn(0, 6, false));
    feed(&mut s, &m.mariadb_txn(0, 7, true));
    feed(&mut s, &m.mariadb_txn(2, 1, false));
    let want = MariadbGtidPos::parse("0-11-7,1-11-2,2-11-1").unwrap();
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::MariaDbGtids(want.clone()))
    );
    let all = txns(&s);
    assert_eq!(all[1].end, TxnEnd::Statement);
    drop(s);
    let s = Spool::open(config(dir.path())).unwrap();
    assert_eq!(s.resume_point(), Some(ResumePoint::MariaDbGtids(want)));
}

#[test]
fn coverage_gtid_answers_honestly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut m) = mysql_spool(dir.path());
    let info = m.info("db1:3306");
    // Covered: the target has the start set and some of what was captured.
    let t = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-103")));
    match s.coverage_for(&t) {
        Coverage::Covered {
            missing: Missing::MySqlGtids(miss),
        } => assert_eq!(miss, set(&format!("{UUID}:104-108"))),
        other => panic!("{other:?}"),
    }
    let replay: Vec<_> = s
        .transactions_missing_from(&t)
        .map(|r| r.unwrap().gtid.unwrap().to_string())
        .collect();
    assert_eq!(replay.len(), 5);
    assert_eq!(replay[0], format!("{UUID}:104"));
    // Not covered: the target lacks transactions from before the start.
    let t = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-90")));
    match s.coverage_for(&t) {
        Coverage::NotCovered(NotCovered::LacksBeforeOrigin { lacking, .. }) => {
            assert_eq!(lacking, format!("{UUID}:91-100"))
        }
        other => panic!("{other:?}"),
    }
    // A break: while open nothing is covered; after restarting at a later set, a target that
    // lacks what was lost is not covered, one that has it is.
    s.record_break("master purged binlog.000009 (error 1236)")
        .unwrap();
    assert!(matches!(
        s.append(&m.mysql_txn(109, 1)[0]),
        Err(SpoolError::NotBegun { .. })
    ));
    let t = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-108")));
    assert!(matches!(
        s.coverage_for(&t),
        Coverage::NotCovered(NotCovered::OpenBreak { .. })
    ));
    s.begin(&info, StartPoint::MySqlGtids(set(&format!("{UUID}:1-120"))))
        .unwrap();
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::MySqlGtids(set(&format!("{UUID}:1-120"))))
    );
    match s.coverage_for(&t) {
        Coverage::NotCovered(NotCovered::LostInBreak {
            lacking, reason, ..
        }) => {
            assert_eq!(lacking, format!("{UUID}:109-120"));
            assert!(reason.contains("1236"));
        }
        other => panic!("{other:?}"),
    }
    let t = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-120")));
    assert!(s.coverage_for(&t).is_covered());
    // The record survives a reopen.
    drop(s);
    let s = Spool::open(config(dir.path())).unwrap();
    let t = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-108")));
    assert!(matches!(
        s.coverage_for(&t),
        Coverage::NotCovered(NotCovered::LostInBreak { .. })
    ));
    assert_eq!(s.status().breaks.len(), 1);
    // Wrong kind of question.
    let t = TargetPosition::FilePos {
        master: "db1:3306".into(),
        file: "binlog.000007".into(),
        pos: 4,
    };
    assert!(matches!(
        s.coverage_for(&t),
        Coverage::NotCovered(NotCovered::WrongKind { .. })
    ));
}

#[test]
fn coverage_by_position_and_mariadb() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mysql("binlog.000003");
    m.file_head();
    m.mysql_txn(1, 1);
    let start = m.pos;
    let mut s = Spool::open(config(dir.path())).unwrap();
    s.begin(
        &m.info("db1:3306"),
        StartPoint::FilePos {
            file: "binlog.000003".into(),
            pos: start,
        },
    )
    .unwrap();
    feed(&mut s, &m.session_start());
    feed(&mut s, &m.mysql_txn(2, 2));
    let mid = m.pos;
    feed(&mut s, &m.mysql_txn(3, 3));
    feed(&mut s, &m.rotate_to("binlog.000004"));
    feed(&mut s, &m.mysql_txn(4, 4));
    let at = |file: &str, pos| TargetPosition::FilePos {
        master: "db1:3306".into(),
        file: file.into(),
        pos,
    };
    assert!(s.coverage_for(&at("binlog.000003", start)).is_covered());
    let lacking: Vec<_> = s
        .transactions_missing_from(&at("binlog.000003", mid))
        .map(|t| t.unwrap().master_start)
        .collect();
    assert_eq!(lacking.len(), 2);
    assert_eq!(lacking[0], mid);
    assert!(s.coverage_for(&at("binlog.000004", 4)).is_covered());
    assert!(matches!(
        s.coverage_for(&at("binlog.000003", start - 1)),
        Coverage::NotCovered(NotCovered::BeforeStart { .. })
    ));
    assert!(matches!(
        s.coverage_for(&at("binlog.000002", 900)),
        Coverage::NotCovered(NotCovered::BeforeStart { .. })
    ));
    assert!(matches!(
        s.coverage_for(&TargetPosition::FilePos {
            master: "other:3306".into(),
            file: "binlog.000003".into(),
            pos: start
        }),
        Coverage::NotCovered(NotCovered::UnknownMaster { .. })
    ));

    // MariaDB: the target must have every domain of the start position.
    let dir = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mariadb("mariadb-bin.000001");
    m.file_head();
    let mut s = Spool::open(config(dir.path())).unwrap();
    s.begin(
        &m.info("maria:3306"),
        StartPoint::MariaDbGtids(MariadbGtidPos::parse("0-11-5").unwrap()),
    )
    .unwrap();
    feed(&mut s, &m.session_start());
    feed(&mut s, &m.mariadb_txn(0, 6, false));
    feed(&mut s, &m.mariadb_txn(0, 7, false));
    let t = TargetPosition::MariaDbGtids(MariadbExecuted::from_replicated(
        MariadbGtidPos::parse("0-11-6").unwrap(),
    ));
    assert!(s.coverage_for(&t).is_covered());
    let lacking: Vec<_> = s
        .transactions_missing_from(&t)
        .map(|r| r.unwrap().gtid)
        .collect();
    assert_eq!(lacking.len(), 1);
    assert!(matches!(&lacking[0], Some(TxnGtid::MariaDb(g)) if g.seq == 7));
    let t = TargetPosition::MariaDbGtids(MariadbExecuted::from_replicated(
        MariadbGtidPos::parse("0-11-4").unwrap(),
    ));
    assert!(matches!(
        s.coverage_for(&t),
        Coverage::NotCovered(NotCovered::LacksBeforeOrigin { .. })
    ));
}

#[test]
fn failover_starts_an_epoch_continuous_by_gtid() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _old) = mysql_spool(dir.path());
    // The promoted replica has its own binlog files and uuid; it already holds 1-108.
    let mut new = FakeMaster::mysql("replica-bin.000002");
    new.server_id = 2;
    new.written = set(&format!("{UUID}:1-108"));
    new.file_head();
    let mut info = new.info("db2:3306");
    info.server_uuid = Some("aaaaaaaa-0000-0000-0000-000000000002".into());
    s.begin(&info, StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::MySqlGtids(set(&format!("{UUID}:1-108"))))
    );
    feed(&mut s, &new.session_start());
    feed(&mut s, &new.mysql_txn(109, 1_700_000_001_000_000));
    let st = s.status();
    assert_eq!(st.epochs.len(), 2);
    assert_eq!(st.epochs[1].master.addr, "db2:3306");
    assert_eq!(st.current_master.unwrap().addr, "db2:3306");
    drop(s);
    let s = Spool::open(config(dir.path())).unwrap();
    let all = txns(&s);
    assert_eq!(all.len(), 9);
    assert_eq!(all[8].epoch, 2);
    assert!(all[8].segment.to_string_lossy().contains("epoch-0002"));
    assert_eq!(
        s.resume_point(),
        Some(ResumePoint::MySqlGtids(set(&format!("{UUID}:1-109"))))
    );
    // Coverage spans epochs.
    let t = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-104")));
    assert!(s.coverage_for(&t).is_covered());
    assert_eq!(s.transactions_missing_from(&t).count(), 5);
}

#[test]
fn position_mode_failover_records_a_break() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mysql("binlog.000001");
    m.file_head();
    let mut s = Spool::open(config(dir.path())).unwrap();
    s.begin(
        &m.info("db1:3306"),
        StartPoint::FilePos {
            file: "binlog.000001".into(),
            pos: m.pos,
        },
    )
    .unwrap();
    feed(&mut s, &m.session_start());
    feed(&mut s, &m.mysql_txn(1, 1));
    let mut n = FakeMaster::mysql("binlog.000001");
    n.server_id = 2;
    n.file_head();
    let mut info = n.info("db2:3306");
    info.server_uuid = None;
    s.begin(
        &info,
        StartPoint::FilePos {
            file: "binlog.000001".into(),
            pos: n.pos,
        },
    )
    .unwrap();
    feed(&mut s, &n.session_start());
    feed(&mut s, &n.mysql_txn(1, 2));
    let st = s.status();
    assert_eq!(st.epochs.len(), 2);
    assert_eq!(st.breaks.len(), 1);
    assert!(st.breaks[0].reason.contains("without GTIDs"));
    // Each master's positions are judged in its own epoch.
    let t = TargetPosition::FilePos {
        master: "db1:3306".into(),
        file: "binlog.000001".into(),
        pos: 4,
    };
    assert!(!s.coverage_for(&t).is_covered());
    assert_eq!(txns(&s).len(), 2);
}

#[test]
fn fsync_policies() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.fsync = FsyncPolicy::Always;
    let mut m = FakeMaster::mysql("binlog.000001");
    m.file_head();
    let mut s = Spool::open(cfg.clone()).unwrap();
    s.begin(&m.info("db1:3306"), StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &m.session_start());
    let ev = m.mysql_txn(1, 1);
    let mut last = None;
    for e in &ev {
        last = Some(s.append(e).unwrap());
    }
    assert!(matches!(last, Some(Appended::Commit { durable: true, .. })));
    assert!(!s.maybe_sync().unwrap());
    drop(s);

    cfg.fsync = FsyncPolicy::Interval(Duration::from_millis(20));
    let mut s = Spool::open(cfg.clone()).unwrap();
    s.begin(&m.info("db1:3306"), StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &m.session_start());
    let ev = m.mysql_txn(2, 2);
    let r: Vec<_> = ev.iter().map(|e| s.append(e).unwrap()).collect();
    assert!(matches!(r[3], Appended::Commit { durable: false, .. }));
    std::thread::sleep(Duration::from_millis(30));
    assert!(s.maybe_sync().unwrap());
    assert!(!s.maybe_sync().unwrap());
    drop(s);

    cfg.fsync = FsyncPolicy::Never;
    let mut s = Spool::open(cfg).unwrap();
    s.begin(&m.info("db1:3306"), StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    feed(&mut s, &m.session_start());
    feed(&mut s, &m.mysql_txn(3, 3));
    assert!(!s.maybe_sync().unwrap());
    s.sync().unwrap();
    assert_eq!(txns(&s).len(), 3);
    s.close().unwrap();
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = FakeMaster::mysql("binlog.000001");
    let mut s = Spool::open(config(dir.path())).unwrap();
    let head = m.file_head();
    assert!(matches!(
        s.append(&head[0]),
        Err(SpoolError::NotBegun { .. })
    ));
    s.begin(&m.info("db1:3306"), StartPoint::MySqlGtids(GtidSet::new()))
        .unwrap();
    // No ROTATE named the file.
    assert!(matches!(s.append(&head[0]), Err(SpoolError::UnknownFile)));
    // An event before any FORMAT_DESCRIPTION.
    assert!(matches!(
        s.append(&m.mysql_txn(1, 1)[1]),
        Err(SpoolError::NoFormatDescription { .. })
    ));
    feed(&mut s, &m.session_start());
    // A corrupt event is refused and nothing is stored.
    let mut ev = m.mysql_txn(2, 2);
    ev[0][25] ^= 1;
    assert!(matches!(s.append(&ev[0]), Err(SpoolError::BadEvent { .. })));
    assert!(matches!(
        s.append(&ev[0][..10]),
        Err(SpoolError::BadEvent { .. })
    ));
    // A start point of another kind.
    assert!(matches!(
        s.begin(
            &m.info("db1:3306"),
            StartPoint::FilePos {
                file: "x.1".into(),
                pos: 4
            }
        ),
        Err(SpoolError::ModeMismatch { .. })
    ));
    // Messages say what to do.
    let msg = SpoolError::UnknownFile.to_string();
    assert!(msg.contains("pass ROTATE events"), "{msg}");
}

#[test]
fn one_writer_at_a_time_and_readers_take_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut m) = mysql_spool(dir.path());
    s.sync().unwrap();
    assert!(
        matches!(
            Spool::open(config(dir.path())),
            Err(SpoolError::Locked { .. })
        ),
        "a second writer must be refused while the first has the spool open"
    );
    let r = Spool::open_read_only(dir.path()).unwrap();
    assert!(r.is_read_only());
    let held = txns(&s);
    assert_eq!(txns(&r), held, "the reader sees what the writer holds");
    assert_eq!(r.resume_point(), s.resume_point());

    // The writer goes on; the open reader keeps its view, a new reader sees the new one.
    feed(&mut s, &m.mysql_txn(109, 1_700_000_000_000_109));
    s.sync().unwrap();
    assert_eq!(txns(&r).len(), 8);
    let r2 = Spool::open_read_only(dir.path()).unwrap();
    assert_eq!(txns(&r2).len(), 9);
    let t = TargetPosition::MySqlGtids(set(&format!("{UUID}:1-105")));
    assert!(r2.coverage_for(&t).is_covered());
    assert_eq!(r2.transactions_missing_from(&t).count(), 4);

    // A reader never writes.
    let mut r3 = Spool::open_read_only(dir.path()).unwrap();
    assert!(matches!(
        r3.begin(
            &m.info("db1:3306"),
            StartPoint::MySqlGtids(set(&format!("{UUID}:1-100")))
        ),
        Err(SpoolError::ReadOnly { .. })
    ));
    assert!(matches!(
        r3.record_break("test"),
        Err(SpoolError::ReadOnly { .. })
    ));

    drop(s);
    Spool::open(config(dir.path())).expect("the lock goes with the writer");
}

#[test]
fn a_reader_ignores_the_writers_unfinished_tail_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, mut m) = mysql_spool(dir.path());
    s.sync().unwrap();
    let held = txns(&s);
    let live = held.last().unwrap().segment.clone();
    // Half an event in the segment and half an index record: a writer mid-append.
    let ev: Vec<u8> = m.mysql_txn(109, 1_700_000_000_000_109).concat();
    let mut seg = std::fs::read(&live).unwrap();
    seg.extend_from_slice(&ev[..ev.len() / 2]);
    std::fs::write(&live, &seg).unwrap();
    let index = live.parent().unwrap().join("index").join(format!(
        "{}.gfi",
        live.file_name().unwrap().to_string_lossy()
    ));
    let mut idx = std::fs::read(&index).unwrap();
    idx.extend_from_slice(&[0x47, 0x46, 0x01, 0x02, 0x03]);
    std::fs::write(&index, &idx).unwrap();

    let r = Spool::open_read_only(dir.path()).unwrap();
    assert_eq!(txns(&r), held);
    assert_eq!(
        std::fs::read(&live).unwrap(),
        seg,
        "the segment was changed"
    );
    assert_eq!(std::fs::read(&index).unwrap(), idx, "the index was changed");

    // An empty directory reads as an empty spool.
    let empty = tempfile::tempdir().unwrap();
    let e = Spool::open_read_only(&empty.path().join("nothing")).unwrap();
    assert_eq!(e.transactions().count(), 0);
    assert!(e.resume_point().is_none());
}
