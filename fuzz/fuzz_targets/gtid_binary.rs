//! The binary GTID forms. Input: a selector byte, then bytes.
//! Selector (mod 5): 0 a sid block (PREVIOUS_GTIDS body, COM_BINLOG_DUMP_GTID data):
//! `GtidSet::decode_sid_block` and `decode_sid_block_prefix`; what decodes must re-encode (in
//! its natural format and, when possible, in the format it came in) to bytes that decode to the
//! same set, and re-encoding that is stable. 1-3 a GTID / ANONYMOUS_GTID / GTID_TAGGED body:
//! `GtidEvent::parse`; what parses and re-encodes parses back to the same GTID, and encoding
//! that again gives the same bytes. 4 a MariaDB GTID_LIST
//! body (and, with the same bytes, a MariaDB GTID body), re-encoded the same way.
#![no_main]

use gapfill::binlog::event_type::EventType;
use gapfill::binlog::gtid_event::{
    GtidEvent, MariadbGtidEvent, MariadbGtidListEvent, PreviousGtidsEvent,
};
use gapfill::binlog::gtid_set::{GtidFormat, GtidSet};
use libfuzzer_sys::fuzz_target;

fn sid_block(bytes: &[u8]) {
    let _ = GtidSet::decode_sid_block_prefix(bytes);
    let _ = PreviousGtidsEvent::parse(bytes);
    let Ok(set) = GtidSet::decode_sid_block(bytes) else {
        return;
    };
    let enc = set.encode_sid_block();
    assert_eq!(enc.len(), set.sid_block_len(set.natural_format()));
    let back = GtidSet::decode_sid_block(&enc).expect("re-encoded sid block decodes");
    assert_eq!(back, set, "sid block round trip");
    assert_eq!(back.encode_sid_block(), enc, "re-encoding is stable");
    let tagged = bytes.get(7) == Some(&1);
    let format = if tagged {
        GtidFormat::Tagged
    } else {
        GtidFormat::Untagged
    };
    if let Ok(enc) = set.encode_sid_block_as(format) {
        assert_eq!(enc.len(), set.sid_block_len(format));
        let back = GtidSet::decode_sid_block(&enc).expect("re-encoded sid block decodes");
        assert_eq!(back, set, "sid block round trip in {format:?}");
    }
}

fn gtid_event(t: EventType, bytes: &[u8]) {
    let Ok(mut ev) = GtidEvent::parse(t, bytes) else {
        return;
    };
    let _ = (ev.gtid(), ev.is_anonymous(), ev.may_have_sbr());
    ev.raw = &[];
    let Ok(enc) = ev.encode_body() else {
        return;
    };
    let mut back = GtidEvent::parse(t, &enc)
        .unwrap_or_else(|e| panic!("re-encoded {ev:?} does not parse: {e}"));
    back.raw = &[];
    // The GTID itself survives exactly. Optional fields may not: the tagged encoder writes
    // defaults (length 0, version 999999) for fields the input lacked, and a zero commit group
    // ticket is left out. So beyond the GTID, the encoding must be a fixed point.
    assert_eq!(
        (back.event_type, back.flags, back.uuid, &back.tag, back.gno),
        (ev.event_type, ev.flags, ev.uuid, &ev.tag, ev.gno),
        "GTID event round trip"
    );
    let again = back.encode_body().expect("a parsed re-encoding encodes");
    assert_eq!(again, enc, "GTID event re-encoding is not stable");
}

fn mariadb(bytes: &[u8]) {
    if let Ok(l) = MariadbGtidListEvent::parse(bytes) {
        let _ = l.to_binlog_state();
        if let Ok(enc) = l.encode_body() {
            let back = MariadbGtidListEvent::parse(&enc).expect("re-encoded GTID_LIST parses");
            assert_eq!(back, l, "GTID_LIST round trip");
        }
    }
    if let Some((&flags, body)) = bytes.split_first()
        && let Ok(g) = MariadbGtidEvent::parse(body, 7, flags as u16)
    {
        let _ = g.gtid();
        if let Ok(enc) = g.encode_body() {
            let back =
                MariadbGtidEvent::parse(&enc, 7, flags as u16).expect("re-encoded GTID parses");
            assert_eq!(back, g, "MariaDB GTID round trip");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 5 {
        0 => sid_block(rest),
        1 => gtid_event(EventType::Gtid, rest),
        2 => gtid_event(EventType::AnonymousGtid, rest),
        3 => gtid_event(EventType::GtidTagged, rest),
        _ => mariadb(rest),
    }
});
