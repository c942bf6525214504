//! MySQL GTIDs and GTID sets, including the tagged GTIDs of MySQL 8.3+ (`uuid:tag:gno`).
//!
//! Owns the value types ([`Uuid`], [`Tag`], [`Gtid`], [`GtidSet`]), the set arithmetic the gap
//! computation is built on (union, subtraction, intersection, membership, subset), the text
//! form MySQL accepts and prints (`@@gtid_executed`, `GTID_SUBTRACT()` arguments) and the binary
//! "sid block" MySQL uses in COM_BINLOG_DUMP_GTID and in PREVIOUS_GTIDS_LOG_EVENT bodies, in
//! both its untagged and its tagged (8.3+) layout.
//!
//! It does not know about events (see `gtid_event`) nor about MariaDB GTIDs, which have
//! different semantics (see `mariadb_gtid`).
//!
//! Facts this module follows (MySQL `sql/rpl_gtid_set.cc`, `libs/mysql/gtid/`):
//! * a GNO is in `1..GNO_END` with `GNO_END = i64::MAX`, so the largest GNO is `i64::MAX - 1`;
//! * text: `uuid[:tag]:ranges` per source, untagged ranges first, then each tag in byte order,
//!   uuids in byte order, joined by `,` (the server joins with `,\n`); ranges print as `n` or
//!   `a-b`; tags are `[a-z_][a-z0-9_]{0,31}` and MySQL lowercases them;
//! * binary: `u64 n_sids`, then per (uuid, tag): `uuid[16]`, (tagged format only) a
//!   serialization-library string (varlen length, bytes), `u64 n_intervals`, then
//!   `(i64 start, i64 end_exclusive)` pairs. In the tagged format the first u64 is
//!   `(1 << 56) | (n_sids << 8) | 1`: the format code sits in the top byte (and again in the low
//!   byte), `n_sids` in bits 8..56.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::cursor::Cursor;
use super::error::{BinlogError, Result};

/// The largest GNO MySQL accepts (`GNO_END - 1` in the server, `GNO_END = i64::MAX`).
pub const MAX_GNO: u64 = i64::MAX as u64 - 1;

/// The longest tag MySQL accepts (`mysql::gtid::tag_max_length`).
pub const TAG_MAX_LEN: usize = 32;

const WHAT: &str = "GTID set";

// ---------------------------------------------------------------------------------------------
// Uuid
// ---------------------------------------------------------------------------------------------

/// A server UUID, the source part of a GTID. Ordered by bytes, which is the order MySQL prints
/// sets in (and, since the text is hex, also the lexicographic order of the text).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// Length of the canonical text form `8-4-4-4-12`.
    pub const TEXT_LEN: usize = 36;

    pub const fn from_bytes(bytes: [u8; 16]) -> Uuid {
        Uuid(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parse the hyphenated text form (hex digits in either case), as MySQL reads it in GTID
    /// sets. The 32-digit and braced forms MySQL accepts elsewhere are not GTID syntax.
    pub fn parse(s: &str) -> Result<Uuid> {
        Uuid::parse_bytes(s.as_bytes()).ok_or_else(|| {
            BinlogError::invalid(
                "UUID",
                format!("{s:?} is not a UUID of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
            )
        })
    }

    fn parse_bytes(s: &[u8]) -> Option<Uuid> {
        if s.len() != Self::TEXT_LEN {
            return None;
        }
        let mut out = [0u8; 16];
        let mut nibbles = 0usize;
        for (i, &c) in s.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let v = (c as char).to_digit(16)? as u8;
            let byte = out.get_mut(nibbles / 2)?;
            *byte = (*byte << 4) | v;
            nibbles += 1;
        }
        Some(Uuid(out))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl FromStr for Uuid {
    type Err = BinlogError;
    fn from_str(s: &str) -> Result<Uuid> {
        Uuid::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Tag
// ---------------------------------------------------------------------------------------------

/// A GTID tag (MySQL 8.3+): 1-32 characters `[a-z_][a-z0-9_]*`, stored lowercase because
/// MySQL folds tags to lowercase on input (`Tag::replace` in the server), so `Tag::new("AB")`
/// and `Tag::new("ab")` are the same tag.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// Validate and normalise a tag.
    pub fn new(s: &str) -> Result<Tag> {
        if s.is_empty() {
            return Err(BinlogError::invalid("GTID tag", "a tag cannot be empty"));
        }
        if s.len() > TAG_MAX_LEN {
            return Err(BinlogError::invalid(
                "GTID tag",
                format!(
                    "{s:?} is {} characters long, the limit is {TAG_MAX_LEN}",
                    s.len()
                ),
            ));
        }
        for (i, c) in s.chars().enumerate() {
            let ok = c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit());
            if !ok {
                return Err(BinlogError::invalid(
                    "GTID tag",
                    format!(
                        "{s:?}: character {c:?} at position {i} is not allowed (tags match [a-z_][a-z0-9_]*)"
                    ),
                ));
            }
        }
        Ok(Tag(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

impl FromStr for Tag {
    type Err = BinlogError;
    fn from_str(s: &str) -> Result<Tag> {
        Tag::new(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Gtid
// ---------------------------------------------------------------------------------------------

/// One MySQL GTID: `uuid:gno` or, tagged, `uuid:tag:gno`. This is what `SET GTID_NEXT` takes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Gtid {
    pub uuid: Uuid,
    pub tag: Option<Tag>,
    pub gno: u64,
}

impl Gtid {
    /// Build a GTID, checking the GNO is in `1..=MAX_GNO`.
    pub fn new(uuid: Uuid, tag: Option<Tag>, gno: u64) -> Result<Gtid> {
        check_gno(gno)?;
        Ok(Gtid { uuid, tag, gno })
    }

    /// Parse `uuid:gno` or `uuid:tag:gno` (whitespace around the parts is allowed).
    pub fn parse(s: &str) -> Result<Gtid> {
        let bad = |d: &str| BinlogError::invalid("GTID", format!("{s:?}: {d}"));
        let parts: Vec<&str> = s.split(':').map(str::trim).collect();
        let (uuid, tag, gno) = match parts.as_slice() {
            [u, g] => (*u, None, *g),
            [u, t, g] => (*u, Some(Tag::new(t)?), *g),
            _ => return Err(bad("expected uuid:gno or uuid:tag:gno")),
        };
        let uuid = Uuid::parse(uuid)?;
        let gno = parse_decimal_gno(gno.as_bytes()).map_err(|d| bad(&d))?;
        Ok(Gtid { uuid, tag, gno })
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(t) => write!(f, "{}:{}:{}", self.uuid, t, self.gno),
            None => write!(f, "{}:{}", self.uuid, self.gno),
        }
    }
}

impl FromStr for Gtid {
    type Err = BinlogError;
    fn from_str(s: &str) -> Result<Gtid> {
        Gtid::parse(s)
    }
}

fn check_gno(gno: u64) -> Result<()> {
    if gno == 0 || gno > MAX_GNO {
        return Err(BinlogError::invalid(
            "GTID",
            format!("GNO {gno} is outside 1..={MAX_GNO}"),
        ));
    }
    Ok(())
}

/// A GNO in decimal. Leading zeros are refused rather than guessed at: the server reads GNOs
/// with `strtoll(..., base 0)`, so `010` means 8 and `0x10` means 16 to MySQL.
fn parse_decimal_gno(s: &[u8]) -> std::result::Result<u64, String> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(format!(
            "expected a transaction number, found {:?}",
            String::from_utf8_lossy(s)
        ));
    }
    if s.len() > 1 && s[0] == b'0' {
        return Err(format!(
            "transaction number {:?} has a leading zero (MySQL would read it as octal or hex)",
            String::from_utf8_lossy(s)
        ));
    }
    let mut v: u64 = 0;
    for &d in s {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(|| format!("transaction number exceeds {MAX_GNO}"))?;
    }
    if v == 0 {
        return Err("transaction number 0 is not a valid GNO".into());
    }
    if v > MAX_GNO {
        return Err(format!("transaction number {v} exceeds {MAX_GNO}"));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Interval lists
// ---------------------------------------------------------------------------------------------

/// A half-open range of GNOs `start..end` (`end` exclusive, as in the binary encoding), with
/// `1 <= start < end <= MAX_GNO + 1`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Interval {
    pub start: u64,
    pub end: u64,
}

impl Interval {
    /// The last GNO in the range (what MySQL prints after the `-`).
    pub fn last(&self) -> u64 {
        self.end - 1
    }

    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Sorted, non-overlapping, non-adjacent intervals (adjacent ones are merged).
type Intervals = Vec<Interval>;

fn iv_insert(list: &mut Intervals, mut new: Interval) {
    // First interval that ends at or after new.start (touching counts, so it merges).
    let i = list.partition_point(|iv| iv.end < new.start);
    let mut j = i;
    while j < list.len() && list[j].start <= new.end {
        new.start = new.start.min(list[j].start);
        new.end = new.end.max(list[j].end);
        j += 1;
    }
    list.splice(i..j, std::iter::once(new));
}

fn iv_union(a: &[Interval], b: &[Interval]) -> Intervals {
    let mut out: Intervals = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = if j >= b.len() || (i < a.len() && a[i].start <= b[j].start) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        match out.last_mut() {
            Some(last) if last.end >= next.start => last.end = last.end.max(next.end),
            _ => out.push(next),
        }
    }
    out
}

fn iv_subtract(a: &[Interval], b: &[Interval]) -> Intervals {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &iv in a {
        let mut cur = iv;
        while j < b.len() && b[j].end <= cur.start {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].start < cur.end {
            if b[k].start > cur.start {
                out.push(Interval {
                    start: cur.start,
                    end: b[k].start,
                });
            }
            cur.start = cur.start.max(b[k].end);
            if cur.start >= cur.end {
                break;
            }
            k += 1;
        }
        if cur.start < cur.end {
            out.push(cur);
        }
    }
    out
}

fn iv_intersect(a: &[Interval], b: &[Interval]) -> Intervals {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(Interval { start, end });
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn iv_contains(list: &[Interval], gno: u64) -> bool {
    let i = list.partition_point(|iv| iv.end <= gno);
    list.get(i).is_some_and(|iv| iv.start <= gno)
}

// ---------------------------------------------------------------------------------------------
// GtidSet
// ---------------------------------------------------------------------------------------------

/// The two layouts of the binary sid block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GtidFormat {
    /// The layout every server understands; cannot carry tags.
    Untagged,
    /// MySQL 8.3+: every entry carries a tag (empty for untagged GTIDs). Servers before 8.3
    /// reject it as malformed.
    Tagged,
}

/// A set of MySQL GTIDs: uuid -> tag (untagged first) -> merged GNO intervals.
///
/// The gap computation is `spool_set.subtract(&successor_gtid_executed)`; membership of one
/// transaction is [`GtidSet::contains_gtid`]. Sets never hold empty interval lists, so two sets
/// are equal (`==`) exactly when they hold the same GTIDs.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct GtidSet {
    map: BTreeMap<Uuid, BTreeMap<Option<Tag>, Intervals>>,
}

impl GtidSet {
    pub fn new() -> GtidSet {
        GtidSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether any GTID in the set is tagged (decides the binary format MySQL uses).
    pub fn has_tags(&self) -> bool {
        self.map
            .values()
            .any(|tags| tags.keys().any(|t| t.is_some()))
    }

    /// Add one GTID. Fails only for a GNO outside `1..=MAX_GNO`.
    pub fn add(&mut self, gtid: &Gtid) -> Result<()> {
        check_gno(gtid.gno)?;
        self.insert_interval(
            gtid.uuid,
            gtid.tag.clone(),
            Interval {
                start: gtid.gno,
                end: gtid.gno + 1,
            },
        );
        Ok(())
    }

    /// Add the closed range `first..=last` of one source (`uuid`, `tag`).
    pub fn add_range(&mut self, uuid: Uuid, tag: Option<Tag>, first: u64, last: u64) -> Result<()> {
        check_gno(first)?;
        check_gno(last)?;
        if last < first {
            return Err(BinlogError::invalid(
                WHAT,
                format!("range {first}-{last} ends before it starts"),
            ));
        }
        self.insert_interval(
            uuid,
            tag,
            Interval {
                start: first,
                end: last + 1,
            },
        );
        Ok(())
    }

    fn insert_interval(&mut self, uuid: Uuid, tag: Option<Tag>, iv: Interval) {
        let list = self.map.entry(uuid).or_default().entry(tag).or_default();
        iv_insert(list, iv);
    }

    /// Whether the set holds this GTID.
    pub fn contains_gtid(&self, gtid: &Gtid) -> bool {
        self.contains(&gtid.uuid, gtid.tag.as_ref(), gtid.gno)
    }

    /// Whether the set holds `uuid[:tag]:gno`.
    pub fn contains(&self, uuid: &Uuid, tag: Option<&Tag>, gno: u64) -> bool {
        self.intervals_of(uuid, tag)
            .is_some_and(|l| iv_contains(l, gno))
    }

    /// The intervals of one source, if it has any.
    pub fn intervals_of(&self, uuid: &Uuid, tag: Option<&Tag>) -> Option<&[Interval]> {
        let tags = self.map.get(uuid)?;
        let list = match tag {
            // No allocation on the hot path of the gap computation; a uuid has few tags.
            None => tags.get(&None),
            Some(t) => tags
                .iter()
                .find(|(k, _)| k.as_ref() == Some(t))
                .map(|(_, l)| l),
        };
        list.map(Vec::as_slice)
    }

    /// Every source with its intervals, in MySQL's order (uuid, then untagged, then tags).
    pub fn sources(&self) -> impl Iterator<Item = (&Uuid, Option<&Tag>, &[Interval])> + '_ {
        self.map
            .iter()
            .flat_map(|(u, tags)| tags.iter().map(move |(t, l)| (u, t.as_ref(), l.as_slice())))
    }

    /// Every GTID in order. Lazy, but a set like `uuid:1-1000000000` yields a billion items:
    /// meant for small sets (tests, reports of a gap).
    pub fn iter(&self) -> impl Iterator<Item = Gtid> + '_ {
        self.sources().flat_map(|(u, t, list)| {
            list.iter().flat_map(move |iv| {
                (iv.start..iv.end).map(move |gno| Gtid {
                    uuid: *u,
                    tag: t.cloned(),
                    gno,
                })
            })
        })
    }

    /// Number of GTIDs in the set (saturating at `u64::MAX`, reachable only with several
    /// near-full sources).
    pub fn count(&self) -> u64 {
        self.sources()
            .flat_map(|(_, _, l)| l.iter())
            .fold(0u64, |n, iv| n.saturating_add(iv.len()))
    }

    /// `self ∪ other`.
    pub fn union(&self, other: &GtidSet) -> GtidSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    /// `self := self ∪ other`.
    pub fn union_with(&mut self, other: &GtidSet) {
        for (uuid, tags) in &other.map {
            let mine = self.map.entry(*uuid).or_default();
            for (tag, list) in tags {
                let merged = match mine.get(tag) {
                    Some(m) => iv_union(m, list),
                    None => list.clone(),
                };
                mine.insert(tag.clone(), merged);
            }
        }
    }

    /// `self \ other`: what `self` holds and `other` lacks (MySQL's `GTID_SUBTRACT`).
    pub fn subtract(&self, other: &GtidSet) -> GtidSet {
        let mut out = GtidSet::new();
        for (uuid, tags) in &self.map {
            for (tag, list) in tags {
                let rest = match other.map.get(uuid).and_then(|t| t.get(tag)) {
                    Some(o) => iv_subtract(list, o),
                    None => list.clone(),
                };
                if !rest.is_empty() {
                    out.map.entry(*uuid).or_default().insert(tag.clone(), rest);
                }
            }
        }
        out
    }

    /// `self ∩ other`.
    pub fn intersection(&self, other: &GtidSet) -> GtidSet {
        let mut out = GtidSet::new();
        for (uuid, tags) in &self.map {
            let Some(otags) = other.map.get(uuid) else {
                continue;
            };
            for (tag, list) in tags {
                if let Some(o) = otags.get(tag) {
                    let both = iv_intersect(list, o);
                    if !both.is_empty() {
                        out.map.entry(*uuid).or_default().insert(tag.clone(), both);
                    }
                }
            }
        }
        out
    }

    /// Whether every GTID of `self` is in `other` (MySQL's `GTID_SUBSET(self, other)`).
    pub fn is_subset(&self, other: &GtidSet) -> bool {
        self.map.iter().all(|(uuid, tags)| {
            tags.iter().all(
                |(tag, list)| match other.map.get(uuid).and_then(|t| t.get(tag)) {
                    Some(o) => iv_subtract(list, o).is_empty(),
                    None => list.is_empty(),
                },
            )
        })
    }

    // ----- text ---------------------------------------------------------------------------

    /// Parse MySQL's text form. Accepts what the server accepts in practice: the empty string,
    /// whitespace and newlines between tokens (as `@@gtid_executed` prints), empty entries
    /// (`,,`), the same uuid several times, unsorted and overlapping ranges, tags in any case,
    /// and a uuid or tag with no ranges. Refuses GNO 0, GNOs above [`MAX_GNO`], reversed
    /// ranges (`5-3`, which the server silently drops), numbers with leading zeros (which the
    /// server reads as octal/hex) and any other text, naming the position.
    pub fn parse(text: &str) -> Result<GtidSet> {
        TextParser {
            s: text.as_bytes(),
            pos: 0,
            text,
        }
        .parse()
    }

    /// The text form joined with `sep` between uuids.
    fn write_text(&self, f: &mut impl fmt::Write, sep: &str) -> fmt::Result {
        for (i, (uuid, tags)) in self.map.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            write!(f, "{uuid}")?;
            for (tag, list) in tags {
                if let Some(t) = tag {
                    write!(f, ":{t}")?;
                }
                for iv in list {
                    if iv.len() == 1 {
                        write!(f, ":{}", iv.start)?;
                    } else {
                        write!(f, ":{}-{}", iv.start, iv.last())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The form `SELECT @@gtid_executed` returns: uuids joined by `,\n`. The canonical form
    /// ([`fmt::Display`]) joins with `,` only, which is what to put on a command line or in a
    /// `SET GTID_PURGED` statement.
    pub fn to_server_string(&self) -> String {
        let mut s = String::new();
        let _ = self.write_text(&mut s, ",\n");
        s
    }

    // ----- binary -------------------------------------------------------------------------

    /// The format MySQL would pick for this set: tagged iff it holds a tagged GTID.
    pub fn natural_format(&self) -> GtidFormat {
        if self.has_tags() {
            GtidFormat::Tagged
        } else {
            GtidFormat::Untagged
        }
    }

    /// The binary sid block (COM_BINLOG_DUMP_GTID data, PREVIOUS_GTIDS body) in the format
    /// MySQL itself picks: untagged unless the set holds a tagged GTID.
    pub fn encode_sid_block(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_sid_block(self.natural_format(), &mut out);
        out
    }

    /// The sid block in a chosen format. The untagged format cannot carry tags: asking for it
    /// with a tagged set is an error rather than a silent loss (a dump request that drops
    /// tagged GTIDs would make the server resend them).
    pub fn encode_sid_block_as(&self, format: GtidFormat) -> Result<Vec<u8>> {
        if format == GtidFormat::Untagged && self.has_tags() {
            return Err(BinlogError::invalid(
                WHAT,
                "the untagged sid-block format cannot hold tagged GTIDs (needs MySQL 8.3+)",
            ));
        }
        let mut out = Vec::new();
        self.write_sid_block(format, &mut out);
        Ok(out)
    }

    /// Bytes [`GtidSet::encode_sid_block_as`] would produce.
    pub fn sid_block_len(&self, format: GtidFormat) -> usize {
        let mut n = 8;
        for (_, tag, list) in self.sources() {
            n += 16 + 8 + 16 * list.len();
            if format == GtidFormat::Tagged {
                let tl = tag.map_or(0, |t| t.as_str().len());
                n += varlen_uint_size(tl as u64) + tl;
            }
        }
        n
    }

    fn write_sid_block(&self, format: GtidFormat, out: &mut Vec<u8>) {
        let n_sids = self.sources().count() as u64;
        let header = match format {
            GtidFormat::Untagged => n_sids,
            GtidFormat::Tagged => (1u64 << 56) | (n_sids << 8) | 1,
        };
        out.extend_from_slice(&header.to_le_bytes());
        for (uuid, tag, list) in self.sources() {
            out.extend_from_slice(uuid.as_bytes());
            if format == GtidFormat::Tagged {
                let t = tag.map_or("", |t| t.as_str());
                write_varlen_uint(out, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for iv in list {
                out.extend_from_slice(&iv.start.to_le_bytes());
                out.extend_from_slice(&iv.end.to_le_bytes());
            }
        }
    }

    /// Decode a whole sid block; trailing bytes are an error (as in the server's PREVIOUS_GTIDS
    /// decoding). Both formats are recognised from the header.
    pub fn decode_sid_block(bytes: &[u8]) -> Result<GtidSet> {
        let (set, used) = GtidSet::decode_sid_block_prefix(bytes)?;
        if used != bytes.len() {
            return Err(BinlogError::invalid(
                WHAT,
                format!(
                    "{} unexpected bytes after the encoded set",
                    bytes.len() - used
                ),
            ));
        }
        Ok(set)
    }

    /// Decode a sid block at the start of `bytes`; returns the set and the bytes used.
    pub fn decode_sid_block_prefix(bytes: &[u8]) -> Result<(GtidSet, usize)> {
        let mut c = Cursor::new(bytes);
        let header = c.u64_le("GTID set header")?;
        let (format, n_sids) = match header >> 56 {
            0 => (GtidFormat::Untagged, header),
            1 => (GtidFormat::Tagged, (header >> 8) & 0x0000_ffff_ffff_ffff),
            f => {
                return Err(BinlogError::invalid(
                    WHAT,
                    format!("unknown sid-block format code {f} (header {header:#018x})"),
                ));
            }
        };
        let mut set = GtidSet::new();
        for _ in 0..n_sids {
            let uuid = Uuid(c.array::<16>("GTID set uuid")?);
            let tag = match format {
                GtidFormat::Untagged => None,
                GtidFormat::Tagged => {
                    let len = read_varlen_uint(&mut c, "GTID set tag length")?;
                    if len as usize > TAG_MAX_LEN {
                        return Err(BinlogError::invalid(
                            WHAT,
                            format!("tag length {len} exceeds {TAG_MAX_LEN}"),
                        ));
                    }
                    let raw = c.bytes(len as usize, "GTID set tag")?;
                    if raw.is_empty() {
                        None
                    } else {
                        let s = std::str::from_utf8(raw).map_err(|_| {
                            BinlogError::invalid(WHAT, format!("tag bytes {raw:02x?} are not text"))
                        })?;
                        Some(Tag::new(s)?)
                    }
                }
            };
            let n_iv = c.u64_le("GTID set interval count")?;
            let need = n_iv.checked_mul(16).filter(|&n| n <= c.remaining() as u64);
            if need.is_none() {
                return Err(BinlogError::Truncated {
                    what: "GTID set intervals",
                    needed: usize::try_from(n_iv.saturating_mul(16)).unwrap_or(usize::MAX),
                    available: c.remaining(),
                });
            }
            let mut last_end = 0i64;
            for _ in 0..n_iv {
                let start = c.i64_le("GTID set interval")?;
                let end = c.i64_le("GTID set interval")?;
                // The server's rule: strictly increasing, non-adjacent, non-empty, start >= 1.
                if start <= last_end || end <= start {
                    return Err(BinlogError::invalid(
                        WHAT,
                        format!(
                            "interval [{start}, {end}) of {uuid} is empty, overlaps or touches the previous one"
                        ),
                    ));
                }
                last_end = end;
                set.insert_interval(
                    uuid,
                    tag.clone(),
                    Interval {
                        start: start as u64,
                        end: end as u64,
                    },
                );
            }
        }
        Ok((set, c.position()))
    }
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_text(f, ",")
    }
}

impl fmt::Debug for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GtidSet({self})")
    }
}

impl FromStr for GtidSet {
    type Err = BinlogError;
    fn from_str(s: &str) -> Result<GtidSet> {
        GtidSet::parse(s)
    }
}

impl<'a> FromIterator<&'a Gtid> for GtidSet {
    /// Collect GTIDs; ones with an invalid GNO (0 or above [`MAX_GNO`]) are skipped.
    fn from_iter<I: IntoIterator<Item = &'a Gtid>>(iter: I) -> GtidSet {
        let mut s = GtidSet::new();
        for g in iter {
            let _ = s.add(g);
        }
        s
    }
}

struct TextParser<'a> {
    s: &'a [u8],
    pos: usize,
    text: &'a str,
}

impl TextParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn err(&self, detail: impl fmt::Display) -> BinlogError {
        let near: String = self
            .text
            .get(self.pos..)
            .unwrap_or("")
            .chars()
            .take(40)
            .collect();
        BinlogError::invalid(
            WHAT,
            format!("{detail} at character {} (near {near:?})", self.pos),
        )
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &[u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn number(&mut self) -> Result<u64> {
        let start = self.pos;
        let digits = self.take_while(|c| c.is_ascii_alphanumeric());
        parse_decimal_gno(digits).map_err(|d| self.pos_err(start, d))
    }

    fn pos_err(&self, at: usize, detail: impl fmt::Display) -> BinlogError {
        TextParser {
            s: self.s,
            pos: at,
            text: self.text,
        }
        .err(detail)
    }

    fn parse(mut self) -> Result<GtidSet> {
        let mut set = GtidSet::new();
        loop {
            self.skip_ws();
            while self.peek() == Some(b',') {
                self.pos += 1;
                self.skip_ws();
            }
            if self.peek().is_none() {
                return Ok(set);
            }
            let end = self.pos + Uuid::TEXT_LEN;
            let uuid = self
                .s
                .get(self.pos..end)
                .and_then(Uuid::parse_bytes)
                .ok_or_else(|| self.err("expected a UUID"))?;
            self.pos = end;
            self.skip_ws();
            let mut tag: Option<Tag> = None;
            while self.peek() == Some(b':') {
                self.pos += 1;
                self.skip_ws();
                match self.peek() {
                    Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                        let start = self.pos;
                        let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == b'_');
                        // Only ASCII was taken, so this cannot fail.
                        let word = std::str::from_utf8(word).unwrap_or_default();
                        tag = Some(Tag::new(word).map_err(|e| self.pos_err(start, e))?);
                        self.skip_ws();
                    }
                    _ => {
                        let first_at = self.pos;
                        let first = self.number()?;
                        self.skip_ws();
                        let last = if self.peek() == Some(b'-') {
                            self.pos += 1;
                            self.skip_ws();
                            let last = self.number()?;
                            self.skip_ws();
                            last
                        } else {
                            first
                        };
                        if last < first {
                            return Err(self.pos_err(
                                first_at,
                                format!("range {first}-{last} ends before it starts"),
                            ));
                        }
                        set.insert_interval(
                            uuid,
                            tag.clone(),
                            Interval {
                                start: first,
                                end: last + 1,
                            },
                        );
                    }
                }
            }
            match self.peek() {
                None | Some(b',') => {}
                Some(_) => return Err(self.err("expected ',', ':' or the end")),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// MySQL serialization-library variable-length integers (shared with the tagged GTID event)
// ---------------------------------------------------------------------------------------------

/// Bytes the serialization library uses for `v`: 1 + ceil((bits-1)/7) up to 8, 9 for 64 bits.
pub(crate) fn varlen_uint_size(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    ((bits * 575) >> 12) + 1
}

/// Write `v` in the serialization library's varlen format: the count of trailing one bits
/// in the first byte, plus one, is the total length; the value follows the terminating zero
/// bit, little-endian. Nine bytes (`0xff` + 8 raw bytes) for values needing 64 bits.
pub(crate) fn write_varlen_uint(out: &mut Vec<u8>, v: u64) {
    let n = varlen_uint_size(v);
    if n == 9 {
        out.push(0xff);
        out.extend_from_slice(&v.to_le_bytes());
        return;
    }
    let marker = (1u64 << (n - 1)) - 1;
    let enc = (v << n) | marker;
    out.extend_from_slice(&enc.to_le_bytes()[..n]);
}

/// Read a serialization-library varlen unsigned integer.
pub(crate) fn read_varlen_uint(c: &mut Cursor<'_>, what: &'static str) -> Result<u64> {
    let first = c.rest().first().copied().ok_or(BinlogError::Truncated {
        what,
        needed: 1,
        available: 0,
    })?;
    let n = first.trailing_ones() as usize + 1;
    let raw = c.bytes(n, what)?;
    if n == 9 {
        let mut b = [0u8; 8];
        b.copy_from_slice(raw.get(1..9).unwrap_or(&[0; 8]));
        return Ok(u64::from_le_bytes(b));
    }
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(raw);
    Ok(u64::from_le_bytes(b) >> n)
}

/// Read a serialization-library varlen signed integer (zig-zag: sign in the low bit).
pub(crate) fn read_varlen_int(c: &mut Cursor<'_>, what: &'static str) -> Result<i64> {
    let u = read_varlen_uint(c, what)?;
    let mag = (u >> 1) as i64;
    Ok(if u & 1 == 1 { -mag - 1 } else { mag })
}

/// Write a serialization-library varlen signed integer.
pub(crate) fn write_varlen_int(out: &mut Vec<u8>, v: i64) {
    let sign = (v >> 63) as u64; // 0 or all ones
    write_varlen_uint(out, ((v as u64) ^ sign) << 1 | (sign & 1));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const U2: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

    fn set(s: &str) -> GtidSet {
        GtidSet::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn uuid_and_tag() {
        let u = Uuid::parse("3E11FA47-71CA-11E1-9E33-C80AA9429562").unwrap();
        assert_eq!(u.to_string(), U1);
        assert!(Uuid::parse("3e11fa47-71ca-11e1-9e33-c80aa942956").is_err());
        assert!(Uuid::parse("3e11fa47071ca-11e1-9e33-c80aa9429562").is_err());
        assert!(Uuid::parse("3e11fa47-71ca-11e1-9e33-c80aa942956g").is_err());
        assert_eq!(Tag::new("My_Tag9").unwrap().as_str(), "my_tag9");
        assert!(Tag::new("_x").is_ok());
        assert!(Tag::new("").is_err());
        assert!(Tag::new("9a").is_err());
        assert!(Tag::new("a-b").is_err());
        assert!(Tag::new("é").is_err());
        assert!(Tag::new(&"a".repeat(32)).is_ok());
        assert!(Tag::new(&"a".repeat(33)).is_err());
    }

    #[test]
    fn gtid_parse_print() {
        let g = Gtid::parse(&format!("{U1}:5")).unwrap();
        assert_eq!(g.to_string(), format!("{U1}:5"));
        let t = Gtid::parse(&format!("{U1}:TaG:7")).unwrap();
        assert_eq!(t.to_string(), format!("{U1}:tag:7"));
        assert!(Gtid::parse(&format!("{U1}:0")).is_err());
        assert!(Gtid::parse(&format!("{U1}:9223372036854775807")).is_err());
        assert!(Gtid::parse(&format!("{U1}:9223372036854775806")).is_ok());
        assert!(Gtid::parse(U1).is_err());
        assert!(Gtid::parse(&format!("{U1}:1-2")).is_err());
    }

    #[test]
    fn parse_and_print_mysql_forms() {
        assert!(set("").is_empty());
        assert!(set("  \n ,, ").is_empty());
        let s = set(&format!("{U1}:1-5:11-18,{U2}:1-27"));
        assert_eq!(s.to_string(), format!("{U1}:1-5:11-18,{U2}:1-27"));
        // Server form with newlines, unsorted, overlapping and repeated entries.
        let s = set(&format!(
            " {U2}:20-27:1-19 ,\n{U1}:11-18:3 : 1-4 ,\n{U1}:5 ,\n"
        ));
        assert_eq!(s.to_string(), format!("{U1}:1-5:11-18,{U2}:1-27"));
        assert_eq!(s.to_server_string(), format!("{U1}:1-5:11-18,\n{U2}:1-27"));
        assert_eq!(s.count(), 5 + 8 + 27);
        // Tags: untagged first, then tags in order, tags lowercased.
        let s = set(&format!("{U1}:Zeta:1,{U1}:1-3:alpha:1-2:4"));
        assert_eq!(s.to_string(), format!("{U1}:1-3:alpha:1-2:4:zeta:1"));
        assert!(s.has_tags());
        let s = set(&format!("{U1}:tag_1:1-2"));
        assert_eq!(s.to_string(), format!("{U1}:tag_1:1-2"));
        // A uuid or tag without ranges adds nothing.
        assert!(set(U1).is_empty());
        assert!(set(&format!("{U1}:t")).is_empty());
        // Adjacent ranges merge.
        assert_eq!(
            set(&format!("{U1}:1-2:3-4:6")).to_string(),
            format!("{U1}:1-4:6")
        );
        let max = format!("{U1}:9223372036854775806");
        assert_eq!(set(&max).to_string(), max);
    }

    #[test]
    fn parse_errors() {
        for bad in [
            format!("{U1}:0"),
            format!("{U1}:1-0"),
            format!("{U1}:5-3"),
            format!("{U1}:1-9223372036854775807"),
            format!("{U1}:01"),
            format!("{U1}:0x10"),
            format!("{U1}:1:"),
            format!("{U1}::1"),
            format!("{U1}:1x"),
            format!("{U1}:-1"),
            format!("{U1}:1 2"),
            format!("{U1} x"),
            format!("{U1}:{}:1", "a".repeat(33)),
            "garbage".to_string(),
            "3e11fa47-71ca-11e1-9e33-c80aa942956:1".to_string(),
            format!("{U1}:1;{U2}:1"),
        ] {
            let e = GtidSet::parse(&bad).expect_err(&bad);
            assert!(matches!(e, BinlogError::Invalid { .. }), "{bad}: {e}");
        }
        let e = GtidSet::parse(&format!("{U1}:1-3,{U2}:0")).unwrap_err();
        assert!(e.to_string().contains("character"), "{e}");
    }

    #[test]
    fn arithmetic_examples() {
        let a = set(&format!("{U1}:1-10:20-30,{U2}:1-5:t:1-3"));
        let b = set(&format!("{U1}:5-25,{U2}:t:2"));
        assert_eq!(
            a.subtract(&b).to_string(),
            format!("{U1}:1-4:26-30,{U2}:1-5:t:1:3")
        );
        assert_eq!(
            a.intersection(&b).to_string(),
            format!("{U1}:5-10:20-25,{U2}:t:2")
        );
        assert_eq!(a.union(&b).to_string(), format!("{U1}:1-30,{U2}:1-5:t:1-3"));
        assert!(
            b.subtract(&a)
                .intervals_of(&Uuid::parse(U1).unwrap(), None)
                .is_some()
        );
        assert!(set(&format!("{U1}:2-3")).is_subset(&a));
        assert!(!b.is_subset(&a));
        assert!(GtidSet::new().is_subset(&a));
        let g = Gtid::parse(&format!("{U2}:t:3")).unwrap();
        assert!(a.contains_gtid(&g));
        assert!(!b.contains_gtid(&g));
        let listed: Vec<String> = set(&format!("{U1}:1-2:x:5"))
            .iter()
            .map(|g| g.to_string())
            .collect();
        assert_eq!(
            listed,
            [format!("{U1}:1"), format!("{U1}:2"), format!("{U1}:x:5")]
        );
    }

    #[test]
    fn binary_round_trips() {
        let a = set(&format!("{U1}:1-10:20-30,{U2}:7"));
        let enc = a.encode_sid_block();
        assert_eq!(enc.len(), a.sid_block_len(GtidFormat::Untagged));
        assert_eq!(&enc[..8], &2u64.to_le_bytes());
        assert_eq!(GtidSet::decode_sid_block(&enc).unwrap(), a);
        // Untagged set in the tagged format still decodes.
        let enc_t = a.encode_sid_block_as(GtidFormat::Tagged).unwrap();
        assert_eq!(enc_t.len(), a.sid_block_len(GtidFormat::Tagged));
        assert_eq!(GtidSet::decode_sid_block(&enc_t).unwrap(), a);

        let t = set(&format!("{U1}:1-14:mytag:1-3,{U2}:5"));
        let enc = t.encode_sid_block();
        assert_eq!(&enc[..8], &[1, 3, 0, 0, 0, 0, 0, 1]);
        assert_eq!(enc.len(), t.sid_block_len(GtidFormat::Tagged));
        assert_eq!(GtidSet::decode_sid_block(&enc).unwrap(), t);
        assert!(t.encode_sid_block_as(GtidFormat::Untagged).is_err());
        assert_eq!(
            GtidSet::decode_sid_block(&GtidSet::new().encode_sid_block()).unwrap(),
            GtidSet::new()
        );
        // Every prefix fails cleanly; trailing bytes are refused; the prefix form reports use.
        for n in 0..enc.len() {
            assert!(GtidSet::decode_sid_block(&enc[..n]).is_err(), "prefix {n}");
        }
        let mut long = enc.clone();
        long.push(0);
        assert!(GtidSet::decode_sid_block(&long).is_err());
        assert_eq!(
            GtidSet::decode_sid_block_prefix(&long).unwrap(),
            (t.clone(), enc.len())
        );
    }

    #[test]
    fn binary_rejects_what_the_server_rejects() {
        let mk = |ivs: &[(i64, i64)]| {
            let mut b = 1u64.to_le_bytes().to_vec();
            b.extend_from_slice(&[7; 16]);
            b.extend_from_slice(&(ivs.len() as u64).to_le_bytes());
            for (s, e) in ivs {
                b.extend_from_slice(&s.to_le_bytes());
                b.extend_from_slice(&e.to_le_bytes());
            }
            b
        };
        assert!(GtidSet::decode_sid_block(&mk(&[(1, 3), (5, 6)])).is_ok());
        for bad in [
            &[(0, 3)][..],
            &[(3, 3)],
            &[(4, 3)],
            &[(1, 3), (3, 5)],
            &[(5, 6), (1, 3)],
            &[(-5, 3)],
        ] {
            assert!(GtidSet::decode_sid_block(&mk(bad)).is_err(), "{bad:?}");
        }
        // Unknown format code; absurd interval count.
        let mut b = mk(&[(1, 2)]);
        b[7] = 2;
        assert!(GtidSet::decode_sid_block(&b).is_err());
        let mut b = mk(&[(1, 2)]);
        b[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(GtidSet::decode_sid_block(&b).is_err());
        // Huge sid count with no data.
        assert!(GtidSet::decode_sid_block(&u64::MAX.wrapping_shr(8).to_le_bytes()).is_err());
    }

    #[test]
    fn varlen_integers() {
        for v in [
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            1 << 56,
            (1 << 56) - 1,
            u64::MAX,
            65535,
        ] {
            let mut b = Vec::new();
            write_varlen_uint(&mut b, v);
            assert_eq!(b.len(), varlen_uint_size(v), "{v}");
            let mut c = Cursor::new(&b);
            assert_eq!(read_varlen_uint(&mut c, "t").unwrap(), v);
            assert!(c.is_empty());
        }
        // The serialization library's documented examples (65535 unsigned: 3 bytes).
        let mut b = Vec::new();
        write_varlen_uint(&mut b, 65535);
        assert_eq!(b, [0b1111_1011, 0xff, 0b0000_0111]);
        for v in [0i64, 1, -1, 65535, -65535, -65536, i64::MAX, i64::MIN] {
            let mut b = Vec::new();
            write_varlen_int(&mut b, v);
            assert_eq!(read_varlen_int(&mut Cursor::new(&b), "t").unwrap(), v);
        }
        let mut b = Vec::new();
        write_varlen_int(&mut b, -65535);
        assert_eq!(b, [0b1110_1011, 0xff, 0b0000_1111]);
        assert!(read_varlen_uint(&mut Cursor::new(&[0xff, 1, 2]), "t").is_err());
        assert!(read_varlen_uint(&mut Cursor::new(&[]), "t").is_err());
    }

    // ----- property tests against a brute-force model -------------------------------------

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    type Model = BTreeSet<(Uuid, Option<Tag>, u64)>;

    fn sources() -> Vec<(Uuid, Option<Tag>)> {
        let u1 = Uuid::parse(U1).unwrap();
        let u2 = Uuid::parse(U2).unwrap();
        let a = Some(Tag::new("a").unwrap());
        let b = Some(Tag::new("b").unwrap());
        vec![(u1, None), (u1, a.clone()), (u2, None), (u2, b), (u2, a)]
    }

    fn random_set(rng: &mut XorShift) -> (GtidSet, Model) {
        let srcs = sources();
        let mut s = GtidSet::new();
        let mut m = Model::new();
        for _ in 0..rng.below(8) {
            let (u, t) = &srcs[rng.below(srcs.len() as u64) as usize];
            let first = 1 + rng.below(40);
            let last = first + rng.below(6);
            if rng.below(2) == 0 {
                s.add_range(*u, t.clone(), first, last).unwrap();
            } else {
                for g in first..=last {
                    s.add(&Gtid {
                        uuid: *u,
                        tag: t.clone(),
                        gno: g,
                    })
                    .unwrap();
                }
            }
            for g in first..=last {
                m.insert((*u, t.clone(), g));
            }
        }
        (s, m)
    }

    fn model_of(s: &GtidSet) -> Model {
        s.iter().map(|g| (g.uuid, g.tag, g.gno)).collect()
    }

    fn check_invariants(s: &GtidSet) {
        for (_, _, list) in s.sources() {
            assert!(!list.is_empty());
            for w in list.windows(2) {
                assert!(w[0].end < w[1].start, "{s}");
            }
            assert!(list.iter().all(|iv| iv.start >= 1 && iv.start < iv.end));
        }
    }

    #[test]
    fn set_operations_match_model() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let (a, ma) = random_set(&mut rng);
            let (b, mb) = random_set(&mut rng);
            assert_eq!(model_of(&a), ma);
            check_invariants(&a);

            let u = a.union(&b);
            check_invariants(&u);
            assert_eq!(model_of(&u), &ma | &mb);
            let d = a.subtract(&b);
            check_invariants(&d);
            assert_eq!(model_of(&d), &ma - &mb);
            let i = a.intersection(&b);
            check_invariants(&i);
            assert_eq!(model_of(&i), &ma & &mb);
            assert_eq!(a.is_subset(&b), ma.is_subset(&mb));
            assert!(d.is_subset(&a));
            assert_eq!(a.count(), ma.len() as u64);
            let mut w = a.clone();
            w.union_with(&b);
            assert_eq!(w, u);

            for (uu, t) in sources() {
                for g in 1..50 {
                    let key = (uu, t.clone(), g);
                    assert_eq!(a.contains(&uu, t.as_ref(), g), ma.contains(&key));
                }
            }
            // Text and binary round trips.
            assert_eq!(GtidSet::parse(&a.to_string()).unwrap(), a);
            assert_eq!(GtidSet::parse(&a.to_server_string()).unwrap(), a);
            assert_eq!(GtidSet::decode_sid_block(&a.encode_sid_block()).unwrap(), a);
        }
    }
}
