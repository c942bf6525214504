//! A peer daemon's stream as a fill receives it (`peer::receive`: the bytes copied up to the
//! promised length, then read back as transactions with checksums and compared with the
//! promise), so a hostile peer's bytes get a clear `PeerError`, never a panic or a hang.
//!
//! Input: a flags byte (bit 0: promise the exact length received, so the bytes reach the
//! transaction reader; bits 1-7: the number of transactions promised), then the stream after
//! its binlog magic (the seeds of `decode_file`).
#![no_main]

use gapfill::binlog::BINLOG_MAGIC;
use gapfill::peer::{Promise, receive};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut stream = BINLOG_MAGIC.to_vec();
    stream.extend_from_slice(rest);
    let promise = Promise {
        transactions: u64::from(flags >> 1),
        bytes: if flags & 1 == 1 {
            stream.len() as u64
        } else {
            (stream.len() / 2) as u64
        },
        gtids: String::new(),
        first_commit_us: None,
        last_commit_us: None,
    };
    let dir = std::env::temp_dir().join(format!("gapfill-fuzz-peer-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let dest = dir.join("stream.binlog");
    match receive("fuzz-peer", &promise, &mut &stream[..], &dest) {
        Ok(got) => {
            // Accepted only what was promised: the length, the count and no GTIDs.
            assert_eq!(got.bytes, promise.bytes);
            assert_eq!(got.transactions, promise.transactions);
            let _ = std::fs::remove_file(&dest);
        }
        Err(_) => {
            // A refused stream leaves nothing behind, neither the part file nor the target.
            assert!(!dest.exists(), "a refused stream reached its destination");
            assert!(
                !gapfill::peer::part_path(&dest).exists(),
                "a refused stream left its part file"
            );
        }
    }
});
