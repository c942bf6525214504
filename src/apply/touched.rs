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
    name_buf: Vec<u8>,
    key_buf: Vec<u8>,
}

impl Touched {
    pub fn new() -> Touched {
        Touched::default()
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
        let Some(pk) = spec.primary_key.as_deref() else {
            self.rows_without_key += 1;
            return;
        };
        let has_before = pk.iter().all(|&k| rows.columns_before.get(k));
        match rows.kind {
            RowsKind::Write => {
                if has_before && encode_key(pk, after, &mut self.key_buf) {
                    self.set(slot, loc, false);
                } else {
                    self.rows_without_key += 1;
                }
            }
            RowsKind::Delete => {
                if has_before && encode_key(pk, before, &mut self.key_buf) {
                    self.set(slot, loc, true);
                } else {
                    self.rows_without_key += 1;
                }
            }
            RowsKind::Update | RowsKind::PartialUpdate => {
                if !(has_before && encode_key(pk, before, &mut self.key_buf)) {
                    self.rows_without_key += 1;
                    return;
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
                        self.rows_without_key += 1;
                        return;
                    }
                }
                self.set(slot, loc, false);
            }
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
