//! What a run touched, recorded while it applies, for checking the data afterwards.
//!
//! Owns the per-worker record of the rows the applied transactions changed: per table, each
//! primary key (in a compact, reversible encoding) with where its last image is in the source
//! (file, transaction, event, row) and whether that image deleted it; the statements that may
//! have changed rows outside row events (their identifiers, hashed); the transactions whose
//! rows may not be what landed (ROLLBACK TO SAVEPOINT, XA PREPARE). Nothing per value is
//! allocated: a row costs its key's encoding in a reused buffer and one map lookup (one
//! allocation the first time a key is seen). Reading the data back is `verify`'s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::binlog::RowsKind;
use crate::binlog::rows_event::RowsEvent;
use crate::binlog::value::{Date, DateTime, Decimal, Time, Timestamp, Value};

use super::executor::starts_ci;
use super::schema::TableSpec;

/// Where a row image is in the source, in reading order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub file: u32,
    /// Offset of the transaction's first event.
    pub start: u64,
    /// Index of the event in the transaction.
    pub event: u32,
    /// Index of the row in the event.
    pub row: u32,
}

impl Loc {
    pub fn txn(&self) -> (u32, u64) {
        (self.file, self.start)
    }
}

/// The last image of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Last {
    pub loc: Loc,
    /// The last change deleted the row (or moved it to another key).
    pub deleted: bool,
}

/// The rows of one table.
#[derive(Debug)]
pub struct TableTouched {
    pub schema: String,
    pub table: String,
    /// The table's latest shape, and where it was last used.
    pub spec: Arc<TableSpec>,
    pub spec_loc: Loc,
    pub keys: HashMap<Box<[u8]>, Last>,
    /// Row changes of this table recorded without a key (see `Touched::rows_without_key`).
    pub unkeyed: u64,
}

/// Everything one worker (or, merged, a whole run) touched.
#[derive(Debug, Default)]
pub struct Touched {
    index: HashMap<Box<[u8]>, usize>,
    pub tables: Vec<TableTouched>,
    /// Row changes that cannot be checked: tables without a primary key, images without it,
    /// rows applied as BINLOG statements.
    pub rows_without_key: u64,
    /// Identifier (hashed, lower case) -> the last statement naming it.
    pub statements: HashMap<u64, Loc>,
    /// Schema name (hashed, lower case) -> the last DROP DATABASE naming it.
    pub schema_drops: HashMap<u64, Loc>,
    /// Transactions whose rows may not be the data that landed.
    pub uncertain: HashSet<(u32, u64)>,
    /// Keys for a conflict check ([`Touched::for_conflicts`]), not for reading rows back.
    conflict_keys: bool,
    name_buf: Vec<u8>,
    key_buf: Vec<u8>,
}

impl Touched {
    pub fn new() -> Touched {
        Touched::default()
    }

    /// A record whose keys say whether two sets of changes touch the same row (see
    /// [`Touched::overlap`]): a table without a primary key is keyed by the whole row, and
    /// text compared case-insensitively by its collation is keyed folded (lower case, no
    /// trailing spaces), so two spellings of one key are one key. Such keys cannot be decoded
    /// to read rows back.
    pub fn for_conflicts() -> Touched {
        Touched {
            conflict_keys: true,
            ..Touched::default()
        }
    }

    /// The slot of `spec`'s table, its shape updated when `loc` is later.
    pub fn table_slot(&mut self, spec: &Arc<TableSpec>, loc: Loc) -> usize {
        self.name_buf.clear();
        self.name_buf.extend_from_slice(spec.schema.as_bytes());
        self.name_buf.push(0);
        self.name_buf.extend_from_slice(spec.table.as_bytes());
        if let Some(&i) = self.index.get(self.name_buf.as_slice()) {
            let t = &mut self.tables[i];
            if !Arc::ptr_eq(&t.spec, spec) && loc >= t.spec_loc {
                t.spec = spec.clone();
            }
            t.spec_loc = t.spec_loc.max(loc);
            return i;
        }
        let i = self.tables.len();
        self.tables.push(TableTouched {
            schema: spec.schema.clone(),
            table: spec.table.clone(),
            spec: spec.clone(),
            spec_loc: loc,
            keys: HashMap::new(),
            unkeyed: 0,
        });
        self.index
            .insert(self.name_buf.clone().into_boxed_slice(), i);
        i
    }

    /// Record one row of a rows event applied at `loc`.
    pub fn row(
        &mut self,
        slot: usize,
        rows: &RowsEvent<'_>,
        before: &[Value<'_>],
        after: &[Value<'_>],
        loc: Loc,
    ) {
        let spec = self.tables[slot].spec.clone();
        if self.conflict_keys {
            return self.conflict_row(slot, &spec, rows, before, after, loc);
        }
        let Some(pk) = spec.primary_key.as_deref() else {
            return self.no_key(slot);
        };
        let has_before = pk.iter().all(|&k| rows.columns_before.get(k));
        match rows.kind {
            RowsKind::Write => {
                if has_before && encode_key(pk, after, &mut self.key_buf) {
                    self.set(slot, loc, false);
                } else {
                    self.no_key(slot);
                }
            }
            RowsKind::Delete => {
                if has_before && encode_key(pk, before, &mut self.key_buf) {
                    self.set(slot, loc, true);
                } else {
                    self.no_key(slot);
                }
            }
            RowsKind::Update | RowsKind::PartialUpdate => {
                if !(has_before && encode_key(pk, before, &mut self.key_buf)) {
                    return self.no_key(slot);
                }
                // The key after the update: a key column the after image holds (all of them
                // with a full image; only the changed ones with MINIMAL) takes its new value,
                // the others keep the before image's.
                let in_after = |k: usize| rows.columns_after.is_some_and(|a| a.get(k));
                let moved = pk
                    .iter()
                    .any(|&k| in_after(k) && before.get(k) != after.get(k));
                if moved {
                    // The row left its old key: that key is gone unless written again.
                    self.set(slot, loc, true);
                    self.key_buf.clear();
                    let encoded = pk.iter().all(|&k| {
                        let image = if in_after(k) { after } else { before };
                        image
                            .get(k)
                            .is_some_and(|v| encode_value(v, &mut self.key_buf))
                    });
                    if !encoded {
                        return self.no_key(slot);
                    }
                }
                self.set(slot, loc, false);
            }
        }
    }

    fn no_key(&mut self, slot: usize) {
        self.rows_without_key += 1;
        self.tables[slot].unkeyed += 1;
    }

    /// [`Touched::row`] for a conflict check: the key columns are the primary key or, without
    /// one, every column; an update records the row it left and the row it made.
    fn conflict_row(
        &mut self,
        slot: usize,
        spec: &TableSpec,
        rows: &RowsEvent<'_>,
        before: &[Value<'_>],
        after: &[Value<'_>],
        loc: Loc,
    ) {
        let all: Vec<usize>;
        let cols: &[usize] = match spec.primary_key.as_deref() {
            Some(pk) => pk,
            None => {
                all = (0..spec.columns.len()).collect();
                &all
            }
        };
        let present = |k: usize| rows.columns_before.get(k);
        let in_after = |k: usize| rows.columns_after.is_some_and(|a| a.get(k));
        let (first, deleted) = match rows.kind {
            RowsKind::Write => (after, false),
            RowsKind::Delete => (before, true),
            RowsKind::Update | RowsKind::PartialUpdate => (before, true),
        };
        if !cols.iter().all(|&k| present(k))
            || !encode_conflict_key(spec, cols, |k| first.get(k), &mut self.key_buf)
        {
            return self.no_key(slot);
        }
        if !matches!(rows.kind, RowsKind::Update | RowsKind::PartialUpdate) {
            return self.set(slot, loc, deleted);
        }
        self.set(slot, loc, true);
        // The row the update made: the after image's columns over the before image's.
        let pick = |k: usize| {
            if in_after(k) {
                after.get(k)
            } else {
                before.get(k)
            }
        };
        if encode_conflict_key(spec, cols, pick, &mut self.key_buf) {
            self.set(slot, loc, false);
        } else {
            self.no_key(slot);
        }
    }

    fn set(&mut self, slot: usize, loc: Loc, deleted: bool) {
        let keys = &mut self.tables[slot].keys;
        let last = Last { loc, deleted };
        match keys.get_mut(self.key_buf.as_slice()) {
            Some(l) => {
                if loc >= l.loc {
                    *l = last;
                }
            }
            None => {
                keys.insert(self.key_buf.clone().into_boxed_slice(), last);
            }
        }
    }

    /// Record a statement run at `loc` (other than BEGIN/COMMIT/ROLLBACK): rows of the tables
    /// it names, written before it, may have been changed by it.
    pub fn statement(&mut self, loc: Loc, sql: &[u8]) {
        let drop_db = starts_ci(sql, b"DROP DATABASE") || starts_ci(sql, b"DROP SCHEMA");
        let rollback_to = starts_ci(sql, b"ROLLBACK TO") || starts_ci(sql, b"ROLLBACK WORK TO");
        if rollback_to {
            self.uncertain.insert(loc.txn());
        }
        let map = if drop_db {
            &mut self.schema_drops
        } else {
            &mut self.statements
        };
        for_each_identifier(sql, |h| {
            let e = map.entry(h).or_insert(loc);
            *e = (*e).max(loc);
        });
    }

    /// Rows of this transaction may not have landed as logged (an XA PREPARE: committed or
    /// rolled back later).
    pub fn uncertain_txn(&mut self, loc: Loc) {
        self.uncertain.insert(loc.txn());
    }

    /// Fold another worker's record into this one (the later image of a key wins).
    pub fn merge(&mut self, other: Touched) {
        self.rows_without_key += other.rows_without_key;
        for (h, l) in other.statements {
            let e = self.statements.entry(h).or_insert(l);
            *e = (*e).max(l);
        }
        for (h, l) in other.schema_drops {
            let e = self.schema_drops.entry(h).or_insert(l);
            *e = (*e).max(l);
        }
        self.uncertain.extend(other.uncertain);
        for t in other.tables {
            let slot = self.table_slot(&t.spec, t.spec_loc);
            self.tables[slot].unkeyed += t.unkeyed;
            let keys = &mut self.tables[slot].keys;
            if keys.is_empty() {
                *keys = t.keys;
                continue;
            }
            for (k, l) in t.keys {
                match keys.get_mut(&k) {
                    Some(cur) if cur.loc >= l.loc => {}
                    Some(cur) => *cur = l,
                    None => {
                        keys.insert(k, l);
                    }
                }
            }
        }
    }

    /// The last statement that may have changed rows of `schema.table`.
    pub fn barrier(&self, schema: &str, table: &str) -> Option<Loc> {
        let t = self.statements.get(&ident_hash(table.as_bytes())).copied();
        let s = self
            .schema_drops
            .get(&ident_hash(schema.as_bytes()))
            .copied();
        t.max(s)
    }
}

/// Where two records of changes meet: the first row (or table) both touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub schema: String,
    pub table: String,
    /// What both touched: `id=5`, or why rows cannot be told apart.
    pub what: String,
    /// Where in each record's source: `self`'s, then `other`'s.
    pub mine: Loc,
    pub theirs: Loc,
    /// How many rows (or tables) overlap in all.
    pub count: u64,
}

impl Touched {
    /// The rows both records touch (both made by [`Touched::for_conflicts`] on the same
    /// target's table shapes): a key both hold, a table both changed where either side has
    /// rows without a usable key, or a statement of one side naming a table the other
    /// changed rows of. `None`: no row in common.
    pub fn overlap(&self, other: &Touched) -> Option<Overlap> {
        let mut first: Option<Overlap> = None;
        let mut count = 0u64;
        let mut note = |o: Overlap, n: u64| {
            count += n;
            first.get_or_insert(o);
        };
        for t in &self.tables {
            let Some(u) = other.table(&t.schema, &t.table) else {
                continue;
            };
            let base = |what: String, mine: Loc, theirs: Loc| Overlap {
                schema: t.schema.clone(),
                table: t.table.clone(),
                what,
                mine,
                theirs,
                count: 0,
            };
            let (small, large, flipped) = if t.keys.len() <= u.keys.len() {
                (&t.keys, &u.keys, false)
            } else {
                (&u.keys, &t.keys, true)
            };
            for (k, a) in small {
                if let Some(b) = large.get(k) {
                    let (mine, theirs) = if flipped {
                        (b.loc, a.loc)
                    } else {
                        (a.loc, b.loc)
                    };
                    let cols: Vec<usize> = match t.spec.primary_key.as_deref() {
                        Some(pk) => pk.to_vec(),
                        None => (0..t.spec.columns.len()).collect(),
                    };
                    note(
                        base(super::verify::show_key_of(&t.spec, &cols, k), mine, theirs),
                        1,
                    );
                }
            }
            if t.unkeyed + u.unkeyed > 0 {
                let mine = t.keys.values().map(|l| l.loc).max().unwrap_or(t.spec_loc);
                let theirs = u.keys.values().map(|l| l.loc).max().unwrap_or(u.spec_loc);
                note(
                    base(
                        "rows without a usable key (no primary key and a partial image, or a \
                         value that cannot be compared): they cannot be told apart"
                            .into(),
                        mine,
                        theirs,
                    ),
                    1,
                );
            }
        }
        // A statement on one side that names a table the other side changed rows of.
        for (stmts, rows, mine_is_stmt) in [
            (&self.statements, other, true),
            (&other.statements, self, false),
        ] {
            for t in &rows.tables {
                if let Some(&at) = stmts.get(&ident_hash(t.table.as_bytes())) {
                    let row_loc = t.keys.values().map(|l| l.loc).max().unwrap_or(t.spec_loc);
                    let (mine, theirs) = if mine_is_stmt {
                        (at, row_loc)
                    } else {
                        (row_loc, at)
                    };
                    note(
                        Overlap {
                            schema: t.schema.clone(),
                            table: t.table.clone(),
                            what: "a statement (DDL or statement-based DML) naming the table: \
                                   the rows it changed are not in the binlog"
                                .into(),
                            mine,
                            theirs,
                            count: 0,
                        },
                        1,
                    );
                }
            }
        }
        first.map(|o| Overlap { count, ..o })
    }

    fn table(&self, schema: &str, table: &str) -> Option<&TableTouched> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.table == table)
    }
}

/// Encode `cols` of a row (`get` gives each column's value) as a conflict key: text of a
/// case-insensitive collation folded (see [`Touched::for_conflicts`]). False when a column is
/// missing or cannot be a key.
fn encode_conflict_key<'v>(
    spec: &TableSpec,
    cols: &[usize],
    get: impl Fn(usize) -> Option<&'v Value<'v>>,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    cols.iter().all(|&k| {
        let Some(v) = get(k) else { return false };
        match (v, spec.columns.get(k).map(|c| &c.style)) {
            (Value::Bytes(b), Some(super::schema::ParamStyle::Text { collation, .. })) => {
                let b = strip_trailing_spaces(b);
                if case_insensitive(collation) {
                    match std::str::from_utf8(b) {
                        Ok(text) => bytes(14, text.to_lowercase().as_bytes(), out),
                        Err(_) => bytes(14, &b.to_ascii_lowercase(), out),
                    }
                } else {
                    bytes(14, b, out)
                }
                true
            }
            _ => encode_value(v, out),
        }
    })
}

fn strip_trailing_spaces(b: &[u8]) -> &[u8] {
    let n = b.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    &b[..n]
}

/// A collation that compares case-insensitively (`..._ci`, and MySQL's `utf8mb4_0900_ai_ci`).
fn case_insensitive(collation: &str) -> bool {
    collation.ends_with("_ci") || collation.contains("_ci_")
}

/// FNV-1a of the lower-cased identifier.
pub fn ident_hash(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= b.to_ascii_lowercase() as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Call `f` with the hash of every identifier-like word of `sql`: bare words not starting with
/// a digit and backquoted names; string literals are skipped.
fn for_each_identifier(sql: &[u8], mut f: impl FnMut(u64)) {
    let mut i = 0;
    while i < sql.len() {
        let b = sql[i];
        match b {
            b'\'' | b'"' => {
                i += 1;
                while i < sql.len() && sql[i] != b {
                    if sql[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                let start = i + 1;
                i = start;
                while i < sql.len() && sql[i] != b'`' {
                    i += 1;
                }
                f(ident_hash(&sql[start..i.min(sql.len())]));
                i += 1;
            }
            _ if ident_byte(b) => {
                let start = i;
                while i < sql.len() && ident_byte(sql[i]) {
                    i += 1;
                }
                if !b.is_ascii_digit() {
                    f(ident_hash(&sql[start..i]));
                }
            }
            _ => i += 1,
        }
    }
}

/// Encode the key columns `pk` of `image` into `out` (cleared first); false when a key
/// column holds a value that cannot be a key.
pub fn encode_key(pk: &[usize], image: &[Value<'_>], out: &mut Vec<u8>) -> bool {
    out.clear();
    pk.iter()
        .all(|&k| image.get(k).is_some_and(|v| encode_value(v, out)))
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn bytes(tag: u8, b: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn encode_value(v: &Value<'_>, out: &mut Vec<u8>) -> bool {
    match *v {
        Value::Null => out.push(0),
        Value::Int(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::UInt(u) => {
            out.push(2);
            out.extend_from_slice(&u.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(3);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Double(d) => {
            out.push(4);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Decimal(d) => {
            out.push(5);
            out.push(d.precision);
            out.push(d.scale);
            varint(d.bin.len() as u64, out);
            out.extend_from_slice(d.bin);
        }
        Value::Year(y) => {
            out.push(6);
            out.extend_from_slice(&y.to_le_bytes());
        }
        Value::Date(d) => {
            out.push(7);
            date(&d, out);
        }
        Value::Time(t) => {
            out.push(8);
            out.push(t.negative as u8);
            out.extend_from_slice(&t.hours.to_le_bytes());
            out.extend_from_slice(&[t.minutes, t.seconds, t.fsp]);
            out.extend_from_slice(&t.micros.to_le_bytes());
        }
        Value::DateTime(dt) => {
            out.push(9);
            date(&dt.date, out);
            out.extend_from_slice(&[dt.hour, dt.minute, dt.second, dt.fsp]);
            out.extend_from_slice(&dt.micros.to_le_bytes());
        }
        Value::Timestamp(ts) => {
            out.push(10);
            out.extend_from_slice(&ts.seconds.to_le_bytes());
            out.extend_from_slice(&ts.micros.to_le_bytes());
            out.push(ts.fsp);
        }
        Value::Bit { bits, width } => {
            out.push(11);
            out.extend_from_slice(&bits.to_le_bytes());
            out.extend_from_slice(&width.to_le_bytes());
        }
        Value::Enum(e) => {
            out.push(12);
            out.extend_from_slice(&e.to_le_bytes());
        }
        Value::Set(s) => {
            out.push(13);
            out.extend_from_slice(&s.to_le_bytes());
        }
        Value::Bytes(b) => bytes(14, b, out),
        Value::Compressed(b) => bytes(15, b, out),
        Value::Json(b) => bytes(16, b, out),
        Value::Geometry(b) => bytes(17, b, out),
        Value::Vector(b) => bytes(18, b, out),
        Value::JsonDiff(_) => return false,
    }
    true
}

fn date(d: &Date, out: &mut Vec<u8>) {
    out.extend_from_slice(&d.year.to_le_bytes());
    out.push(d.month);
    out.push(d.day);
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|b| b.try_into().ok())
    }
    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            n |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }
    fn slice(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.take(n)
    }
    fn date(&mut self) -> Option<Date> {
        Some(Date {
            year: u16::from_le_bytes(self.arr()?),
            month: self.u8()?,
            day: self.u8()?,
        })
    }
}

/// The key values of an encoded key, in key order; `None` when `key` is not an encoding made
/// by [`encode_key`].
pub fn decode_key(key: &[u8]) -> Option<Vec<Value<'_>>> {
    let mut r = Reader { b: key };
    let mut out = Vec::new();
    while !r.b.is_empty() {
        let v = match r.u8()? {
            0 => Value::Null,
            1 => Value::Int(i64::from_le_bytes(r.arr()?)),
            2 => Value::UInt(u64::from_le_bytes(r.arr()?)),
            3 => Value::Float(f32::from_bits(u32::from_le_bytes(r.arr()?))),
            4 => Value::Double(f64::from_bits(u64::from_le_bytes(r.arr()?))),
            5 => {
                let precision = r.u8()?;
                let scale = r.u8()?;
                Value::Decimal(Decimal {
                    precision,
                    scale,
                    bin: r.slice()?,
                })
            }
            6 => Value::Year(u16::from_le_bytes(r.arr()?)),
            7 => Value::Date(r.date()?),
            8 => {
                let negative = r.u8()? != 0;
                let hours = u32::from_le_bytes(r.arr()?);
                let [minutes, seconds, fsp] = r.arr()?;
                Value::Time(Time {
                    negative,
                    hours,
                    minutes,
                    seconds,
                    micros: u32::from_le_bytes(r.arr()?),
                    fsp,
                })
            }
            9 => {
                let date = r.date()?;
                let [hour, minute, second, fsp] = r.arr()?;
                Value::DateTime(DateTime {
                    date,
                    hour,
                    minute,
                    second,
                    micros: u32::from_le_bytes(r.arr()?),
                    fsp,
                })
            }
            10 => Value::Timestamp(Timestamp {
                seconds: u32::from_le_bytes(r.arr()?),
                micros: u32::from_le_bytes(r.arr()?),
                fsp: r.u8()?,
            }),
            11 => Value::Bit {
                bits: u64::from_le_bytes(r.arr()?),
                width: u16::from_le_bytes(r.arr()?),
            },
            12 => Value::Enum(u16::from_le_bytes(r.arr()?)),
            13 => Value::Set(u64::from_le_bytes(r.arr()?)),
            14 => Value::Bytes(r.slice()?),
            15 => Value::Compressed(r.slice()?),
            16 => Value::Json(r.slice()?),
            17 => Value::Geometry(r.slice()?),
            18 => Value::Vector(r.slice()?),
            _ => return None,
        };
        out.push(v);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let bin = [0x80, 1, 2];
        let vals = [
            Value::Int(-5),
            Value::Bytes(b"ab\0"),
            Value::Decimal(Decimal {
                precision: 5,
                scale: 2,
                bin: &bin,
            }),
            Value::DateTime(DateTime {
                date: Date {
                    year: 2024,
                    month: 2,
                    day: 29,
                },
                hour: 1,
                minute: 2,
                second: 3,
                micros: 456,
                fsp: 6,
            }),
            Value::Null,
            Value::Set(u64::MAX),
            Value::Time(Time {
                negative: true,
                hours: 838,
                minutes: 1,
                seconds: 2,
                micros: 3,
                fsp: 1,
            }),
        ];
        let mut buf = Vec::new();
        assert!(encode_key(&[0, 1, 2, 3, 4, 5, 6], &vals, &mut buf));
        assert_eq!(decode_key(&buf).unwrap(), vals.to_vec());
        assert!(decode_key(&[99]).is_none());
        assert!(decode_key(&[14, 5, b'a']).is_none());
        assert!(!encode_key(&[0], &[Value::JsonDiff(b"x")], &mut buf));
    }

    fn spec(collation: &str, pk: Option<Vec<usize>>) -> Arc<TableSpec> {
        use super::super::schema::{ColumnSpec, ParamStyle};
        use super::super::values::BindInfo;
        use crate::binlog::row_decoder::ColumnKind;
        let col = |name: &str, style: ParamStyle| ColumnSpec {
            name: name.into(),
            bind: BindInfo {
                kind: ColumnKind::Int32 { unsigned: false },
                unsigned: false,
                binary_pad: None,
            },
            style,
            generated: false,
        };
        Arc::new(TableSpec {
            schema: "db".into(),
            table: "t".into(),
            columns: vec![
                col("id", ParamStyle::Plain),
                col(
                    "name",
                    ParamStyle::Text {
                        charset: "utf8mb4".into(),
                        collation: collation.into(),
                    },
                ),
            ],
            primary_key: pk,
            decoder: None,
        })
    }

    fn at(start: u64) -> Loc {
        Loc {
            file: 0,
            start,
            event: 0,
            row: 0,
        }
    }

    /// A conflict record holding one row of `spec`, keyed by the columns `cols`.
    fn one_row(spec: &Arc<TableSpec>, cols: &[usize], row: &[Value<'_>], loc: Loc) -> Touched {
        let mut t = Touched::for_conflicts();
        let slot = t.table_slot(spec, loc);
        assert!(encode_conflict_key(
            spec,
            cols,
            |k| row.get(k),
            &mut t.key_buf
        ));
        t.set(slot, loc, false);
        t
    }

    #[test]
    fn conflict_keys_follow_the_collation() {
        let ci = spec("utf8mb4_0900_ai_ci", Some(vec![1]));
        let bin = spec("utf8mb4_bin", Some(vec![1]));
        let key = |s: &Arc<TableSpec>, name: &'static [u8]| {
            let row = [Value::Int(1), Value::Bytes(name)];
            let mut out = Vec::new();
            assert!(encode_conflict_key(s, &[1], |k| row.get(k), &mut out));
            out
        };
        assert_eq!(key(&ci, b"Ann  "), key(&ci, b"ann"));
        assert_eq!(
            key(&ci, "\u{c9}MILE".as_bytes()),
            key(&ci, "\u{e9}mile".as_bytes())
        );
        assert_ne!(key(&bin, b"Ann"), key(&bin, b"ann"));
        assert_eq!(key(&bin, b"ann "), key(&bin, b"ann"), "PAD SPACE");
        assert!(case_insensitive("latin1_swedish_ci"));
        assert!(!case_insensitive("utf8mb4_0900_as_cs"));
    }

    #[test]
    fn overlaps_by_key_by_whole_row_and_by_statement() {
        let ci = spec("utf8mb4_0900_ai_ci", Some(vec![1]));
        let mine = one_row(&ci, &[1], &[Value::Int(1), Value::Bytes(b"ANN")], at(10));
        let same = one_row(&ci, &[1], &[Value::Int(2), Value::Bytes(b"ann ")], at(20));
        let other = one_row(&ci, &[1], &[Value::Int(1), Value::Bytes(b"bob")], at(30));
        let o = mine.overlap(&same).expect("one key, two spellings");
        assert_eq!((o.schema.as_str(), o.table.as_str()), ("db", "t"));
        assert_eq!(o.what, "name='ann'");
        assert_eq!((o.mine, o.theirs, o.count), (at(10), at(20), 1));
        assert_eq!(
            same.overlap(&mine).map(|o| (o.mine, o.theirs)),
            Some((at(20), at(10)))
        );
        assert_eq!(mine.overlap(&other), None);
        // Without a primary key: the whole row.
        let nopk = spec("utf8mb4_bin", None);
        let a = one_row(&nopk, &[0, 1], &[Value::Int(1), Value::Bytes(b"x")], at(1));
        let b = one_row(&nopk, &[0, 1], &[Value::Int(1), Value::Bytes(b"x")], at(2));
        let c = one_row(&nopk, &[0, 1], &[Value::Int(2), Value::Bytes(b"x")], at(3));
        assert!(a.overlap(&b).is_some());
        assert_eq!(a.overlap(&c), None);
        // Rows without a usable key in a table both touch cannot be told apart.
        let mut d = one_row(&nopk, &[0, 1], &[Value::Int(9), Value::Bytes(b"z")], at(4));
        d.no_key(0);
        assert!(
            d.overlap(&c)
                .unwrap()
                .what
                .starts_with("rows without a usable key")
        );
        // A statement naming a table the other side changed rows of.
        let mut ddl = Touched::for_conflicts();
        ddl.statement(at(50), b"ALTER TABLE `db`.`t` ADD COLUMN z INT");
        let o = ddl.overlap(&other).expect("DDL on a table with gap rows");
        assert_eq!((o.mine, o.theirs), (at(50), at(30)));
        let o = other.overlap(&ddl).expect("either way round");
        assert_eq!((o.mine, o.theirs), (at(30), at(50)));
        let mut elsewhere = Touched::for_conflicts();
        elsewhere.statement(at(50), b"INSERT INTO db.u VALUES (1)");
        assert_eq!(elsewhere.overlap(&other), None);
    }

    #[test]
    fn identifiers_of_statements() {
        let mut seen = Vec::new();
        for_each_identifier(
            b"ALTER TABLE `db`.`My T` ADD c INT DEFAULT 'orders' -- 5 x1",
            |h| seen.push(h),
        );
        assert!(seen.contains(&ident_hash(b"my t")));
        assert!(seen.contains(&ident_hash(b"DB")));
        assert!(seen.contains(&ident_hash(b"x1")));
        assert!(!seen.contains(&ident_hash(b"orders")));
        assert!(!seen.contains(&ident_hash(b"5")));
        let mut t = Touched::new();
        let loc = Loc {
            file: 0,
            start: 10,
            event: 2,
            row: 0,
        };
        t.statement(loc, b"TRUNCATE TABLE t1");
        assert_eq!(t.barrier("db", "T1"), Some(loc));
        assert_eq!(t.barrier("db", "t"), None);
        t.statement(loc, b"drop database db");
        assert_eq!(t.barrier("db", "t"), Some(loc));
        t.statement(loc, b"ROLLBACK TO SAVEPOINT s");
        assert!(t.uncertain.contains(&(0, 10)));
    }
}
