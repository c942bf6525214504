//! The client side of the wire protocol over hostile server bytes: the packet codec (16 MiB
//! continuation, sequence numbers) fed in arbitrary chunks, then every payload through each
//! parser a server answer reaches: the v10 handshake, OK / ERR / EOF, column definitions, text
//! rows, the query response state machine, the dump stream (with and without the semi-sync
//! header) and the authentication state machine (caching_sha2_password and
//! mysql_native_password, with and without TLS).
//!
//! Input: a flags byte (bits 0-2: chunk size; bit 3: semi-sync; bit 4: TLS; bit 5: deprecate
//! EOF), then the bytes the server sends.
#![no_main]

use bytes::Bytes;
use gapfill::protocol::auth::{AuthParams, Authenticator, Password};
use gapfill::protocol::handshake::Handshake;
use gapfill::protocol::packet::PacketCodec;
use gapfill::protocol::result::{
    Column, ErrPacket, OkPacket, QueryResponseParser, is_eof, parse_text_row,
};
use gapfill::protocol::semisync::split_header;
use gapfill::protocol::stream::DumpDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let chunk = [usize::MAX, 1, 3, 4, 7, 64, 4096, 5][(flags & 7) as usize];
    let semisync = flags & 8 != 0;
    let tls = flags & 16 != 0;
    let deprecate_eof = flags & 32 != 0;
    let mut codec = PacketCodec::with_max_payload(1 << 20);
    let mut payloads = Vec::new();
    'feed: for piece in rest.chunks(chunk.min(rest.len().max(1))) {
        codec.feed(piece);
        loop {
            match codec.decode() {
                Ok(Some(p)) => payloads.push(p),
                Ok(None) => break,
                Err(_) => break 'feed,
            }
        }
    }
    // The whole input as one payload too: parsers must hold whatever a packet carries.
    payloads.push(Bytes::copy_from_slice(rest));
    let password = Password::new("pw");
    let params = AuthParams {
        user: "u",
        addr: "fuzz:1",
        password: &password,
        tls,
        secure_channel: tls,
        server_public_key: None,
        allow_public_key_retrieval: false,
    };
    let mut auth = [
        Authenticator::new("caching_sha2_password", &[7u8; 20], &params),
        Authenticator::new("mysql_native_password", &[7u8; 20], &params),
    ];
    for a in &mut auth {
        let _ = a.initial_response();
    }
    let mut responses = QueryResponseParser::new(deprecate_eof);
    let decoder = DumpDecoder::new(semisync);
    for p in &payloads {
        let _ = Handshake::parse(p);
        let _ = OkPacket::parse(p);
        let _ = ErrPacket::parse(p).map(|e| e.into_error().to_string());
        let _ = is_eof(p);
        let _ = Column::parse(p);
        for n in [0, 1, 3, 17] {
            let _ = parse_text_row(p, n);
        }
        let _ = responses.feed(p);
        let _ = split_header(p);
        let _ = decoder.decode(p.clone());
        for a in &mut auth {
            let _ = a.handle(p);
        }
    }
});
