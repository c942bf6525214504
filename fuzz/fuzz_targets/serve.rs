//! The source side of the replication protocol (`gapfill serve`) over hostile replica bytes:
//! the handshake response / SSL request parser, the server's authentication state machine
//! (caching_sha2_password and mysql_native_password, with and without TLS), the connect-time
//! query answerer (one query per line, the session's variables carried from line to line),
//! the dump request parser and the event splitter.
//!
//! Input: a flags byte (bit 0: MariaDB source; bit 1: TLS; bit 2: full authentication only),
//! then the bytes a replica sends.
#![no_main]

use gapfill::protocol::auth::Password;
use gapfill::serve::dump::{DumpRequest, split_events};
use gapfill::serve::greeting::{ClientHello, Greeting, ServerAuth};
use gapfill::serve::queries::{SessionVars, SourceFacts, answer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mariadb = flags & 1 != 0;
    let tls = flags & 2 != 0;
    let full_auth_only = flags & 4 != 0;

    let _ = DumpRequest::parse(rest);
    let _ = split_events(rest);

    let greeting = Greeting::new("9.7.4-gapfill".into(), 7, mariadb, tls);
    let mut auth = ServerAuth::new("repl", &Password::new("pw"), &greeting, tls, full_auth_only);
    if let Ok(ClientHello::Response(r)) = ClientHello::parse(rest) {
        let _ = auth.start(&r);
    }
    for piece in rest.split(|&b| b == 0) {
        let _ = auth.next(piece);
    }

    let facts = SourceFacts {
        mariadb,
        server_id: 1,
        server_uuid: "3e11fa47-71ca-11e1-9e33-c80aa9429562".into(),
        version: greeting_version(mariadb).into(),
        binlog_checksum: "CRC32",
        gtid_executed: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5".into(),
    };
    let mut vars = SessionVars::default();
    for line in String::from_utf8_lossy(rest).lines() {
        let _ = answer(line, &facts, &mut vars, 1_700_000_000);
    }
    let _ = vars.heartbeat_period();
    let _ = vars.checksum();
    let _ = vars.connect_state();
});

fn greeting_version(mariadb: bool) -> &'static str {
    if mariadb {
        "5.5.5-10.11.14-MariaDB-gapfill"
    } else {
        "9.7.4-gapfill"
    }
}
