//! MySQL JSON documents that hold typed opaque scalars, rebuilt as SQL expressions that keep
//! the types.
//!
//! JSON text loses what a binary document knows about its opaque scalars: the server parses
//! `0.2500` back as a DOUBLE `0.25`, a DATE as a string. A document holding such a scalar is
//! therefore sent as nested `JSON_OBJECT`/`JSON_ARRAY` calls whose scalars are typed casts
//! (`CAST(? AS DECIMAL(6,4))`, `CAST(? AS DATE)`, TIME(6) through CHAR,
//! `CAST(? AS DATETIME(6))`, `CAST(? AS BINARY)`, ...), with keys as literals (documents of one
//! shape share one statement text) and values as parameters. Documents without one keep the
//! fast text path (`values::bind`). Owns only the expression; where it goes is `row_sql`'s and
//! `executor`'s.
//!
//! Known limits: an opaque TIMESTAMP lands as a DATETIME (SQL has no cast to TIMESTAMP; the
//! text is the same) and an opaque binary value as the VARCHAR-typed opaque a `CAST(? AS
//! BINARY)` makes, whatever its original field type.

use std::fmt::Write as _;

use mysql_async::Value as Param;

use crate::binlog::decimal::write_decimal;
use crate::binlog::json_walk::{JsonScalar, JsonVisitor, text_loses_types, walk_json};
use crate::binlog::temporal::{datetime_from_packed, time_from_packed};
use crate::binlog::{BinlogError, Result};

/// A document as an SQL expression of type JSON and its parameters, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonExpr {
    pub sql: String,
    pub params: Vec<Param>,
}

/// The expression for the binary document `bin` when it holds a typed opaque scalar; `None`
/// when its JSON text is exact (bind the text then).
pub fn json_expr(bin: &[u8]) -> Result<Option<JsonExpr>> {
    if !text_loses_types(bin)? {
        return Ok(None);
    }
    let mut b = Builder {
        sql: String::with_capacity(64 + bin.len()),
        params: Vec::new(),
        first: Vec::new(),
        after_key: false,
    };
    walk_json(bin, &mut b)?;
    let top_scalar = !(b.sql.starts_with("JSON_OBJECT(") || b.sql.starts_with("JSON_ARRAY("));
    let sql = if top_scalar {
        format!("CAST({} AS JSON)", b.sql)
    } else {
        b.sql
    };
    Ok(Some(JsonExpr {
        sql,
        params: b.params,
    }))
}

struct Builder {
    sql: String,
    params: Vec<Param>,
    /// Per open container: no member written yet.
    first: Vec<bool>,
    /// A key was just written: its value follows without a separator.
    after_key: bool,
}

impl Builder {
    /// The separator before the next member of the innermost container.
    fn member(&mut self) {
        if self.after_key {
            self.after_key = false;
            return;
        }
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.sql.push(',');
            }
            *first = false;
        }
    }
}

/// A key as a utf8mb4 literal: quoted when plain, hex otherwise (no escaping rules involved,
/// whatever the session's `sql_mode`).
fn key_literal(key: &[u8], out: &mut String) {
    let plain = key.len() <= 64
        && key
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b' ' | b'.'));
    if plain {
        out.push_str("_utf8mb4'");
        // Checked ASCII above.
        out.push_str(std::str::from_utf8(key).unwrap_or_default());
        out.push('\'');
    } else {
        out.push_str("_utf8mb4 X'");
        for b in key {
            let _ = write!(out, "{b:02X}");
        }
        out.push('\'');
    }
}

impl<'a> JsonVisitor<'a> for Builder {
    fn begin(&mut self, object: bool, _count: usize) -> Result<()> {
        self.member();
        self.sql.push_str(if object {
            "JSON_OBJECT("
        } else {
            "JSON_ARRAY("
        });
        self.first.push(true);
        Ok(())
    }

    fn key(&mut self, key: &'a [u8]) -> Result<()> {
        self.member();
        key_literal(key, &mut self.sql);
        self.sql.push(',');
        self.after_key = true;
        Ok(())
    }

    fn scalar(&mut self, v: JsonScalar<'a>) -> Result<()> {
        self.member();
        let (sql, param): (&str, Option<Param>) = match v {
            JsonScalar::Null => ("CAST(_utf8mb4'null' AS JSON)", None),
            JsonScalar::Bool(true) => ("CAST(_utf8mb4'true' AS JSON)", None),
            JsonScalar::Bool(false) => ("CAST(_utf8mb4'false' AS JSON)", None),
            JsonScalar::Int(i) => ("CAST(? AS SIGNED)", Some(Param::Int(i))),
            JsonScalar::UInt(u) => ("CAST(? AS UNSIGNED)", Some(Param::UInt(u))),
            JsonScalar::Double(d) => ("CAST(? AS DOUBLE)", Some(Param::Double(d))),
            JsonScalar::String(s) => (
                "CAST(? AS CHAR CHARACTER SET utf8mb4)",
                Some(Param::Bytes(s.to_vec())),
            ),
            JsonScalar::Decimal(d) => {
                let mut text = String::with_capacity(d.precision as usize + 2);
                write_decimal(&d, &mut text);
                let _ = write!(
                    self.sql,
                    "CAST(? AS DECIMAL({},{}))",
                    d.precision.max(1),
                    d.scale
                );
                self.params.push(Param::Bytes(text.into_bytes()));
                return Ok(());
            }
            JsonScalar::Date(p) => (
                "CAST(? AS DATE)",
                Some(Param::Bytes(
                    datetime_from_packed(p, 0).date.to_string().into_bytes(),
                )),
            ),
            // Through CHAR: MySQL 9.7 casts a prepared statement's string parameter straight
            // to TIME wrongly ('20:04:03.000000' -> 00:00:00, '20:04:03.5' -> 05:00:00).
            JsonScalar::Time(p) => (
                "CAST(CAST(? AS CHAR CHARACTER SET ascii) AS TIME(6))",
                Some(Param::Bytes(
                    time_from_packed(p, 6).to_string().into_bytes(),
                )),
            ),
            JsonScalar::DateTime(p) | JsonScalar::Timestamp(p) => (
                "CAST(? AS DATETIME(6))",
                Some(Param::Bytes(
                    datetime_from_packed(p, 6).to_string().into_bytes(),
                )),
            ),
            JsonScalar::Opaque { data, .. } => {
                ("CAST(? AS BINARY)", Some(Param::Bytes(data.to_vec())))
            }
        };
        self.sql.push_str(sql);
        if let Some(p) = param {
            self.params.push(p);
        }
        Ok(())
    }

    fn end(&mut self, _object: bool) -> Result<()> {
        if self.first.pop().is_none() {
            return Err(BinlogError::invalid("binary JSON", "unbalanced containers"));
        }
        self.sql.push(')');
        Ok(())
    }
}

/// Where a document holds DATE, TIME or DATETIME (and TIMESTAMP) scalars: each one's JSON path
/// (`$."k"[2]`) and the type `JSON_TYPE` names (`DATE`, `TIME`, `DATETIME`). Their text is a
/// string's, so comparing documents as text cannot see them turn into strings; these can.
pub fn temporal_paths(bin: &[u8]) -> Result<Vec<(String, &'static str)>> {
    let mut p = Paths {
        path: String::from("$"),
        frames: Vec::new(),
        found: Vec::new(),
    };
    walk_json(bin, &mut p)?;
    Ok(p.found)
}

struct Paths {
    /// The path of the value being visited's parent.
    path: String,
    /// Per open container: the path's length before it, whether it is an object, the next
    /// array index, and the pending key.
    frames: Vec<(usize, bool, usize, Option<String>)>,
    found: Vec<(String, &'static str)>,
}

impl Paths {
    /// Push the path step of the next value; returns the length to truncate back to.
    fn step(&mut self) -> usize {
        let len = self.path.len();
        if let Some((_, object, index, key)) = self.frames.last_mut() {
            if *object {
                // A quoted member name is a JSON string: control characters, quotes and
                // backslashes escaped as JSON escapes them (checked on MySQL 9.7).
                let key = key.take().unwrap_or_default();
                self.path.push('.');
                self.path
                    .push_str(&serde_json::to_string(&key).unwrap_or_else(|_| "\"\"".into()));
            } else {
                let _ = write!(self.path, "[{index}]");
                *index += 1;
            }
        }
        len
    }
}

impl<'a> JsonVisitor<'a> for Paths {
    fn begin(&mut self, object: bool, _count: usize) -> Result<()> {
        let len = self.step();
        self.frames.push((len, object, 0, None));
        Ok(())
    }

    fn key(&mut self, key: &'a [u8]) -> Result<()> {
        if let Some(f) = self.frames.last_mut() {
            f.3 = Some(String::from_utf8_lossy(key).into_owned());
        }
        Ok(())
    }

    fn scalar(&mut self, v: JsonScalar<'a>) -> Result<()> {
        let ty = match v {
            JsonScalar::Date(_) => Some("DATE"),
            JsonScalar::Time(_) => Some("TIME"),
            JsonScalar::DateTime(_) | JsonScalar::Timestamp(_) => Some("DATETIME"),
            _ => None,
        };
        let len = self.step();
        if let Some(t) = ty {
            self.found.push((self.path.clone(), t));
        }
        self.path.truncate(len);
        Ok(())
    }

    fn end(&mut self, _object: bool) -> Result<()> {
        let (len, ..) = self
            .frames
            .pop()
            .ok_or_else(|| BinlogError::invalid("binary JSON", "unbalanced containers"))?;
        self.path.truncate(len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::json_binary::tests::{J, doc};

    #[test]
    fn temporal_scalars_by_path() {
        let packed: i64 = (((2020 * 13 + 1) << 5) | 2) << 41;
        let date = || J::Opaque(10, packed.to_le_bytes().to_vec());
        let dec = J::Opaque(246, vec![6, 4, 0x80, 0x09, 0xc4]);
        let j = J::Obj(vec![
            (
                "a",
                J::Arr(vec![dec, date(), J::Obj(vec![("q\"x\u{1}", date())])]),
            ),
            ("d", date()),
            ("s", J::S("2020-01-02")),
        ]);
        let p = temporal_paths(&doc(&j, false)).unwrap();
        assert_eq!(
            p,
            vec![
                ("$.\"a\"[1]".to_string(), "DATE"),
                ("$.\"a\"[2].\"q\\\"x\\u0001\"".to_string(), "DATE"),
                ("$.\"d\"".to_string(), "DATE"),
            ]
        );
        assert_eq!(
            temporal_paths(&doc(&date(), false)).unwrap(),
            vec![("$".to_string(), "DATE")]
        );
        assert!(temporal_paths(&doc(&J::S("x"), false)).unwrap().is_empty());
    }

    #[test]
    fn documents_without_typed_scalars_keep_the_text_path() {
        let j = J::Obj(vec![("a", J::I16(1)), ("s", J::S("x"))]);
        assert_eq!(json_expr(&doc(&j, false)).unwrap(), None);
    }

    #[test]
    fn typed_scalars_become_casts() {
        // {"k y": [0.2500, DATE 2020-01-02], "n": null, "t": true, "i": -1, "u": 7, "d": 1.5}
        let dec = J::Opaque(246, vec![6, 4, 0x80, 0x09, 0xc4]);
        // DATE packed: ((year*13+month) << 5 | day) << 17 << 24.
        let packed: i64 = (((2020 * 13 + 1) << 5) | 2) << 41;
        let date = J::Opaque(10, packed.to_le_bytes().to_vec());
        let j = J::Obj(vec![
            ("k y", J::Arr(vec![dec, date])),
            ("n", J::Null),
            ("t", J::Bool(true)),
            ("i", J::I16(-1)),
            ("u", J::U16(7)),
            ("d", J::F(1.5)),
            ("é", J::Opaque(252, vec![0xde, 0xad])),
        ]);
        let e = json_expr(&doc(&j, false)).unwrap().unwrap();
        // Keys in stored order.
        assert!(
            e.sql.starts_with(
                "JSON_OBJECT(_utf8mb4'k y',JSON_ARRAY(CAST(? AS DECIMAL(6,4)),CAST(? AS DATE)),"
            ),
            "{}",
            e.sql
        );
        assert!(
            e.sql.contains("_utf8mb4'd',CAST(? AS DOUBLE),"),
            "{}",
            e.sql
        );
        assert!(
            e.sql.contains("_utf8mb4'n',CAST(_utf8mb4'null' AS JSON)"),
            "{}",
            e.sql
        );
        assert!(
            e.sql.contains("_utf8mb4 X'C3A9',CAST(? AS BINARY)"),
            "{}",
            e.sql
        );
        assert_eq!(e.sql.matches('?').count(), e.params.len());
        assert!(e.params.contains(&Param::Bytes(b"0.2500".to_vec())));
        assert!(e.params.contains(&Param::Bytes(b"2020-01-02".to_vec())));
        assert!(e.params.contains(&Param::UInt(7)));
        assert!(e.params.contains(&Param::Int(-1)));
        // A scalar document is cast to JSON.
        let top = J::Opaque(246, vec![6, 4, 0x80, 0x09, 0xc4]);
        let e = json_expr(&doc(&top, false)).unwrap().unwrap();
        assert_eq!(e.sql, "CAST(CAST(? AS DECIMAL(6,4)) AS JSON)");
    }
}
