//! Packet framing: the 4-byte header (3-byte little-endian length, 1-byte sequence id) and the
//! 16 MiB continuation rule, in both directions, sans-IO.
//!
//! [`PacketCodec`] takes raw bytes from the socket and yields whole logical payloads, joining
//! continuation packets (a packet of exactly 0xFFFFFF bytes is followed by more; a payload whose
//! length is a multiple of 0xFFFFFF ends with an empty packet) and checking that sequence ids
//! follow each other. It encodes outgoing payloads the same way. It does not interpret payloads
//! (see `result`, `handshake`, `stream`) and does not do I/O: the edge in `connection` reads
//! into [`PacketCodec::read_buf`] and writes what [`PacketCodec::encode`] produced.
//! The compressed protocol is not supported (gapfill never asks for it).

use bytes::{Buf, Bytes, BytesMut};

use super::error::{ProtocolError, Result};

/// Largest payload one packet can carry; a longer payload continues in the next packet.
pub const MAX_PACKET_PAYLOAD: usize = 0xff_ffff;
/// Bytes of the packet header.
pub const HEADER_LEN: usize = 4;
/// Default limit on one logical payload: MySQL's largest `max_allowed_packet` (1 GiB) plus room
/// for the event header and semi-sync bytes.
pub const DEFAULT_MAX_PAYLOAD: usize = (1 << 30) + 4096;

/// Encode one logical payload as wire packets, starting at sequence id `*seq` and advancing it.
pub fn encode_packets(payload: &[u8], seq: &mut u8, out: &mut BytesMut) {
    out.reserve(payload.len() + HEADER_LEN * (1 + payload.len() / MAX_PACKET_PAYLOAD));
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_PACKET_PAYLOAD);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.extend_from_slice(&[*seq]);
        out.extend_from_slice(&rest[..n]);
        *seq = seq.wrapping_add(1);
        rest = &rest[n..];
        // A full packet always needs a successor, possibly empty, to mark the end.
        if n < MAX_PACKET_PAYLOAD {
            break;
        }
    }
}

/// Sans-IO packet codec for one connection: bytes in, whole payloads out; payloads in,
/// bytes out. Tracks the sequence id shared by both directions within one command.
#[derive(Debug)]
pub struct PacketCodec {
    rx: BytesMut,
    partial: Option<BytesMut>,
    seq: u8,
    max_payload: usize,
    resync: bool,
}

impl Default for PacketCodec {
    fn default() -> Self {
        PacketCodec::new()
    }
}

impl PacketCodec {
    pub fn new() -> PacketCodec {
        PacketCodec::with_max_payload(DEFAULT_MAX_PAYLOAD)
    }

    /// A codec that refuses logical payloads longer than `max_payload` bytes.
    pub fn with_max_payload(max_payload: usize) -> PacketCodec {
        PacketCodec {
            rx: BytesMut::with_capacity(64 * 1024),
            partial: None,
            seq: 0,
            max_payload,
            resync: false,
        }
    }

    /// The sequence id the next packet (in either direction) must carry.
    pub fn seq(&self) -> u8 {
        self.seq
    }

    /// Start a new command: the next packet sent has sequence id 0.
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }

    /// Accept whatever sequence id the next incoming packet carries and continue from it.
    /// Used after an out-of-band packet (a semi-sync ACK) that the server answers with nothing:
    /// the server's dump stream keeps its own numbering.
    pub fn resync_on_next(&mut self) {
        self.resync = true;
    }

    /// The receive buffer: the I/O edge appends socket bytes here.
    pub fn read_buf(&mut self) -> &mut BytesMut {
        &mut self.rx
    }

    /// Append received bytes (convenience for tests and non-tokio callers).
    pub fn feed(&mut self, data: &[u8]) {
        self.rx.extend_from_slice(data);
    }

    /// How many more bytes are needed before [`decode`](Self::decode) can make progress; a
    /// hint for sizing reads.
    pub fn bytes_wanted(&self) -> usize {
        if self.rx.len() < HEADER_LEN {
            return HEADER_LEN - self.rx.len();
        }
        let len = u32::from_le_bytes([self.rx[0], self.rx[1], self.rx[2], 0]) as usize;
        (HEADER_LEN + len).saturating_sub(self.rx.len()).max(1)
    }

    /// Whether a whole packet is already buffered (the next [`decode`](Self::decode) needs no
    /// read).
    pub fn has_whole_packet(&self) -> bool {
        self.rx.len() >= HEADER_LEN
            && self.rx.len()
                >= HEADER_LEN + u32::from_le_bytes([self.rx[0], self.rx[1], self.rx[2], 0]) as usize
    }

    /// Whether bytes of an unfinished payload are buffered.
    pub fn has_partial(&self) -> bool {
        !self.rx.is_empty() || self.partial.is_some()
    }

    /// Take the next whole payload out of the buffered bytes, or `None` if more bytes are
    /// needed. A single-packet payload is returned without copying.
    pub fn decode(&mut self) -> Result<Option<Bytes>> {
        loop {
            if self.rx.len() < HEADER_LEN {
                return Ok(None);
            }
            let len = u32::from_le_bytes([self.rx[0], self.rx[1], self.rx[2], 0]) as usize;
            let got = self.rx[3];
            if self.rx.len() < HEADER_LEN + len {
                // Make room for the whole packet once instead of growing step by step.
                self.rx.reserve(HEADER_LEN + len - self.rx.len());
                return Ok(None);
            }
            if self.resync {
                self.resync = false;
                self.seq = got;
            }
            if got != self.seq {
                return Err(ProtocolError::OutOfOrder {
                    expected: self.seq,
                    got,
                });
            }
            self.seq = self.seq.wrapping_add(1);
            self.rx.advance(HEADER_LEN);
            let chunk = self.rx.split_to(len);
            let so_far = self.partial.as_ref().map_or(0, |p| p.len());
            if so_far + len > self.max_payload {
                self.partial = None;
                return Err(ProtocolError::TooLarge {
                    size: so_far + len,
                    limit: self.max_payload,
                });
            }
            let more = len == MAX_PACKET_PAYLOAD;
            match (self.partial.take(), more) {
                (None, false) => return Ok(Some(chunk.freeze())),
                (None, true) => self.partial = Some(chunk),
                (Some(mut acc), more) => {
                    acc.unsplit_or_extend(chunk);
                    if more {
                        self.partial = Some(acc);
                    } else {
                        return Ok(Some(acc.freeze()));
                    }
                }
            }
        }
    }

    /// Encode `payload` as the next packet(s) of the current command.
    pub fn encode(&mut self, payload: &[u8], out: &mut BytesMut) {
        encode_packets(payload, &mut self.seq, out);
    }

    /// Encode `payload` as the first packet(s) of a new command (sequence id 0).
    pub fn encode_command(&mut self, payload: &[u8], out: &mut BytesMut) {
        self.reset_seq();
        self.encode(payload, out);
    }
}

trait UnsplitOrExtend {
    fn unsplit_or_extend(&mut self, other: BytesMut);
}

impl UnsplitOrExtend for BytesMut {
    fn unsplit_or_extend(&mut self, other: BytesMut) {
        if self.capacity() - self.len() < other.len() {
            // Grow geometrically: large events arrive in many 16 MiB pieces.
            self.reserve(other.len().max(self.len()));
        }
        self.extend_from_slice(&other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(payload: &[u8], seq: u8) -> BytesMut {
        let mut s = seq;
        let mut out = BytesMut::new();
        encode_packets(payload, &mut s, &mut out);
        out
    }

    #[test]
    fn small_packet_layout() {
        let out = encode(b"\x03select 1", 0);
        assert_eq!(&out[..], b"\x09\x00\x00\x00\x03select 1");
        let out = encode(b"", 7);
        assert_eq!(&out[..], b"\x00\x00\x00\x07");
    }

    #[test]
    fn decode_byte_by_byte_and_seq() {
        let mut wire = encode(b"hello", 0);
        wire.extend_from_slice(&encode(b"world!", 1));
        let mut c = PacketCodec::new();
        let mut got = Vec::new();
        for b in wire.iter() {
            c.feed(&[*b]);
            while let Some(p) = c.decode().unwrap() {
                got.push(p);
            }
        }
        assert_eq!(
            got,
            vec![Bytes::from_static(b"hello"), Bytes::from_static(b"world!")]
        );
        assert_eq!(c.seq(), 2);
        assert!(!c.has_partial());
    }

    #[test]
    fn out_of_order_is_an_error() {
        let mut c = PacketCodec::new();
        c.feed(&encode(b"x", 3));
        assert!(matches!(
            c.decode(),
            Err(ProtocolError::OutOfOrder {
                expected: 0,
                got: 3
            })
        ));
    }

    #[test]
    fn resync_accepts_next_seq() {
        let mut c = PacketCodec::new();
        c.resync_on_next();
        c.feed(&encode(b"x", 42));
        c.feed(&encode(b"y", 43));
        assert_eq!(c.decode().unwrap().unwrap(), &b"x"[..]);
        assert_eq!(c.decode().unwrap().unwrap(), &b"y"[..]);
        assert_eq!(c.seq(), 44);
    }

    #[test]
    fn seq_wraps() {
        let mut c = PacketCodec::new();
        let mut wire = BytesMut::new();
        let mut s = 0u8;
        for _ in 0..300 {
            encode_packets(b"e", &mut s, &mut wire);
        }
        c.feed(&wire);
        let mut n = 0;
        while c.decode().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 300);
        assert_eq!(c.seq(), (300 % 256) as u8);
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn large_payload_split_and_joined() {
        let payload = pattern(MAX_PACKET_PAYLOAD * 2 + 1000); // > 32 MiB, three packets
        let wire = encode(&payload, 0);
        assert_eq!(wire.len(), payload.len() + 3 * HEADER_LEN);
        assert_eq!(&wire[..4], &[0xff, 0xff, 0xff, 0]);
        let second = HEADER_LEN + MAX_PACKET_PAYLOAD;
        assert_eq!(&wire[second..second + 4], &[0xff, 0xff, 0xff, 1]);
        let third = 2 * second;
        assert_eq!(&wire[third..third + 4], &[0xe8, 0x03, 0x00, 2]);

        let mut c = PacketCodec::new();
        // Deliver in odd-sized chunks.
        let mut got = None;
        for chunk in wire.chunks(1_000_003) {
            c.feed(chunk);
            if let Some(p) = c.decode().unwrap() {
                assert!(got.is_none());
                got = Some(p);
            }
        }
        assert_eq!(got.unwrap().as_ref(), payload.as_slice());
        assert_eq!(c.seq(), 3);
    }

    #[test]
    fn exact_boundary_needs_empty_trailer() {
        let payload = pattern(MAX_PACKET_PAYLOAD);
        let wire = encode(&payload, 5);
        assert_eq!(wire.len(), payload.len() + 2 * HEADER_LEN);
        assert_eq!(&wire[wire.len() - 4..], &[0, 0, 0, 6]);

        let mut c = PacketCodec::new();
        c.reset_seq();
        // Pretend we sent 5 packets already.
        for _ in 0..5 {
            let mut sink = BytesMut::new();
            c.encode(b"", &mut sink);
        }
        c.feed(&wire[..wire.len() - 4]);
        assert!(c.decode().unwrap().is_none(), "must wait for the trailer");
        c.feed(&wire[wire.len() - 4..]);
        let p = c.decode().unwrap().unwrap();
        assert_eq!(p.len(), MAX_PACKET_PAYLOAD);
        assert_eq!(p.as_ref(), payload.as_slice());

        // Twice the boundary: two full packets and the empty one.
        let payload = pattern(2 * MAX_PACKET_PAYLOAD);
        let wire = encode(&payload, 0);
        assert_eq!(wire.len(), payload.len() + 3 * HEADER_LEN);
        let mut c = PacketCodec::new();
        c.feed(&wire);
        assert_eq!(c.decode().unwrap().unwrap().len(), 2 * MAX_PACKET_PAYLOAD);
    }

    #[test]
    fn too_large_is_refused() {
        let mut c = PacketCodec::with_max_payload(10);
        c.feed(&encode(&[0u8; 11], 0));
        assert!(matches!(
            c.decode(),
            Err(ProtocolError::TooLarge {
                size: 11,
                limit: 10
            })
        ));
    }

    #[test]
    fn encode_command_resets_seq() {
        let mut c = PacketCodec::new();
        let mut out = BytesMut::new();
        c.encode(b"a", &mut out);
        c.encode(b"b", &mut out);
        assert_eq!(c.seq(), 2);
        out.clear();
        c.encode_command(b"\x0e", &mut out);
        assert_eq!(&out[..], b"\x01\x00\x00\x00\x0e");
        assert_eq!(c.seq(), 1);
    }

    #[test]
    fn bytes_wanted_hint() {
        let mut c = PacketCodec::new();
        assert_eq!(c.bytes_wanted(), 4);
        c.feed(&[10, 0, 0, 0, 1]);
        assert_eq!(c.bytes_wanted(), 9);
    }
}
