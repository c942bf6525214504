//! PARTIAL_UPDATE_ROWS JSON diffs: the list of in-place JSON modifications MySQL 8.0 logs
//! instead of a full document when `binlog_row_value_options=PARTIAL_JSON`.
//!
//! Owns the diff list layout (`Json_diff_vector::write_binary`: per diff an operation byte,
//! a length-encoded path, and for REPLACE/INSERT a length-encoded binary JSON value) and its
//! rendering as the nested `JSON_REPLACE`/`JSON_INSERT`/`JSON_ARRAY_INSERT`/`JSON_REMOVE` call
//! `mysqlbinlog -v` prints (`print_json_diff`). Values are printed by `json_binary`.

use super::cursor::Cursor;
use super::error::{BinlogError, Result};
use super::json_binary::{JsonType, json_type, write_json_text_unquoted};

const W: &str = "JSON diff";

/// What a diff does at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonDiffOp {
    /// `JSON_REPLACE`: the value at the path is replaced.
    Replace,
    /// `JSON_INSERT` (or `JSON_ARRAY_INSERT` when the path ends in an array index).
    Insert,
    /// `JSON_REMOVE`: the value at the path is removed.
    Remove,
}

/// One diff, borrowed from the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonDiff<'a> {
    pub op: JsonDiffOp,
    /// The JSON path, e.g. `$.a[1]`.
    pub path: &'a [u8],
    /// The new value in binary JSON (`None` for REMOVE).
    pub value: Option<&'a [u8]>,
}

impl JsonDiff<'_> {
    /// The SQL function `mysqlbinlog` names this diff with.
    pub fn function_name(&self) -> &'static str {
        match self.op {
            JsonDiffOp::Replace => "JSON_REPLACE",
            JsonDiffOp::Insert if self.path.last() == Some(&b']') => "JSON_ARRAY_INSERT",
            JsonDiffOp::Insert => "JSON_INSERT",
            JsonDiffOp::Remove => "JSON_REMOVE",
        }
    }
}

/// Iterate the diffs of a `Value::JsonDiff`. Stops after the first error.
pub fn json_diffs(bytes: &[u8]) -> JsonDiffIter<'_> {
    JsonDiffIter {
        c: Cursor::new(bytes),
        failed: false,
    }
}

/// Iterator over the diffs of one partial JSON value.
#[derive(Debug, Clone)]
pub struct JsonDiffIter<'a> {
    c: Cursor<'a>,
    failed: bool,
}

impl<'a> JsonDiffIter<'a> {
    fn read(&mut self) -> Result<JsonDiff<'a>> {
        let op = match self.c.u8("JSON diff operation")? {
            0 => JsonDiffOp::Replace,
            1 => JsonDiffOp::Insert,
            2 => JsonDiffOp::Remove,
            other => {
                return Err(BinlogError::invalid(W, format!("operation {other}")));
            }
        };
        let path = self.c.lenenc_bytes("JSON diff path")?;
        let value = match op {
            JsonDiffOp::Remove => None,
            _ => Some(self.c.lenenc_bytes("JSON diff value")?),
        };
        Ok(JsonDiff { op, path, value })
    }
}

impl<'a> Iterator for JsonDiffIter<'a> {
    type Item = Result<JsonDiff<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.c.is_empty() {
            return None;
        }
        let r = self.read();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Append `bytes` as a single-quoted SQL string the way `mysqlbinlog` quotes
/// (`my_b_write_quoted`): `\b \f \n \r \t \\ \'` escaped, other bytes below 0x20 as `\xNN`.
pub fn write_sql_quoted(s: &str, out: &mut String) {
    out.push('\'');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            b'\\' => "\\\\",
            b'\'' => "\\'",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\x");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('\'');
}

/// Append a diff value as `mysqlbinlog` does (`json_wrapper_to_string`): numbers, booleans and
/// null bare; strings, temporals and opaque values as SQL strings; objects and arrays as
/// `CAST('...' AS JSON)`.
fn write_value(bin: &[u8], out: &mut String) -> Result<()> {
    let mut text = String::new();
    write_json_text_unquoted(bin, &mut text)?;
    match json_type(bin)? {
        JsonType::Null
        | JsonType::Decimal
        | JsonType::Int
        | JsonType::UInt
        | JsonType::Double
        | JsonType::Boolean => out.push_str(&text),
        JsonType::Object | JsonType::Array => {
            out.push_str("CAST(");
            write_sql_quoted(&text, out);
            out.push_str(" AS JSON)");
        }
        JsonType::String
        | JsonType::Date
        | JsonType::Time
        | JsonType::DateTime
        | JsonType::Timestamp
        | JsonType::Opaque => write_sql_quoted(&text, out),
    }
    Ok(())
}

/// Render a diff list applied to `column_sql_name` exactly as `mysqlbinlog -v` prints it in
/// the SET part of an `### UPDATE`, e.g.
/// `JSON_INSERT(\n###      JSON_REPLACE(@2, '$.a', 1),\n###      '$.b', 'x')`: consecutive diffs
/// of the same function share one call, and calls after the first are separated by
/// `mysqlbinlog`'s line prefix.
pub fn write_json_diff_text(diffs: &[u8], column_sql_name: &str, out: &mut String) -> Result<()> {
    write_json_diff_sql(diffs, column_sql_name, "\n###      ", out)
}

/// [`write_json_diff_text`] with a chosen separator between calls (a space or newline when
/// generating executable SQL rather than `mysqlbinlog` comments).
pub fn write_json_diff_sql(
    diffs: &[u8],
    column_sql_name: &str,
    separator: &str,
    out: &mut String,
) -> Result<()> {
    // First pass: validate and collect the function names (outermost call is the last diff).
    let mut names: Vec<&'static str> = Vec::new();
    for d in json_diffs(diffs) {
        names.push(d?.function_name());
    }
    let mut printed = false;
    for i in (0..names.len()).rev() {
        if i == 0 || names[i - 1] != names[i] {
            if printed {
                out.push_str(separator);
            }
            out.push_str(names[i]);
            out.push('(');
            printed = true;
        }
    }
    out.push_str(column_sql_name);
    if names.is_empty() {
        return Ok(());
    }
    out.push_str(", ");
    for (i, d) in json_diffs(diffs).enumerate() {
        let d = d?;
        let path = std::str::from_utf8(d.path)
            .map_err(|e| BinlogError::invalid(W, format!("path is not UTF-8: {e}")))?;
        write_sql_quoted(path, out);
        if let Some(v) = d.value {
            out.push_str(", ");
            write_value(v, out)?;
        }
        let last = i + 1 == names.len();
        if last || names[i + 1] != names[i] {
            out.push(')');
        }
        if !last {
            out.push(',');
            out.push_str(separator);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::json_binary::tests::{J, doc};

    fn diff(op: u8, path: &str, value: Option<Vec<u8>>) -> Vec<u8> {
        let mut o = vec![op, path.len() as u8];
        o.extend_from_slice(path.as_bytes());
        if let Some(v) = value {
            o.push(v.len() as u8);
            o.extend_from_slice(&v);
        }
        o
    }

    #[test]
    fn parses_diffs() {
        let mut b = diff(0, "$.a", Some(doc(&J::I16(1), false)));
        b.extend(diff(2, "$.b", None));
        let v: Vec<JsonDiff> = json_diffs(&b).collect::<Result<_>>().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].op, JsonDiffOp::Replace);
        assert_eq!(v[0].path, b"$.a");
        assert_eq!(v[1].op, JsonDiffOp::Remove);
        assert!(v[1].value.is_none());
        assert!(json_diffs(&[7, 0]).next().unwrap().is_err());
        for n in 0..b.len() {
            let _ = json_diffs(&b[..n]).count();
            let mut s = String::new();
            let _ = write_json_diff_text(&b[..n], "@2", &mut s);
        }
    }

    #[test]
    fn renders_like_mysqlbinlog() {
        let mut b = diff(0, "$.a", Some(doc(&J::I16(1), false)));
        b.extend(diff(0, "$.b", Some(doc(&J::S("x'y"), false))));
        b.extend(diff(
            1,
            "$.c",
            Some(doc(&J::Obj(vec![("k", J::Bool(true))]), false)),
        ));
        b.extend(diff(1, "$.d[1]", Some(doc(&J::F(2.0), false))));
        b.extend(diff(2, "$.e", None));
        let mut s = String::new();
        write_json_diff_text(&b, "@2", &mut s).unwrap();
        assert_eq!(
            s,
            "JSON_REMOVE(\n###      JSON_ARRAY_INSERT(\n###      JSON_INSERT(\n###      \
             JSON_REPLACE(@2, '$.a', 1,\n###      '$.b', 'x\\'y'),\n###      \
             '$.c', CAST('{\"k\": true}' AS JSON)),\n###      '$.d[1]', 2.0),\n###      '$.e')"
        );
        let mut s = String::new();
        write_json_diff_sql(&diff(2, "$.x", None), "`j`", " ", &mut s).unwrap();
        assert_eq!(s, "JSON_REMOVE(`j`, '$.x')");
        let mut s = String::new();
        write_json_diff_text(&[], "@3", &mut s).unwrap();
        assert_eq!(s, "@3");
    }

    #[test]
    fn sql_quoting() {
        let mut s = String::new();
        write_sql_quoted("a'b\\c\n\u{1}é", &mut s);
        assert_eq!(s, "'a\\'b\\\\c\\n\\x01é'");
    }
}
