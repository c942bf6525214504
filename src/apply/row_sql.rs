//! SQL text for row changes: multi-row INSERT, UPDATE and DELETE with `?` placeholders.
//!
//! Owns the statement shapes, nothing else: which columns go in the column list, SET list and
//! WHERE clause is decided by the caller (`executor`) from the row images' column bitmaps and
//! the table's key; values are bound separately (see `values`). Rows are found by primary key
//! (`=`, in the column's collation, so the index serves the lookup) plus every other present
//! before-image column NULL-safe (`<=>`), so a row changed on the target since is not found (a
//! conflict, not a silent overwrite); without a usable key by every present before-image
//! column with `LIMIT 1`. Character columns are compared byte-exactly
//! (`CAST(col AS BINARY) <=> ?`, and for key columns in addition to the collation-aware `=`):
//! a case-only or trailing-space change under a `_ci` or PAD SPACE collation is a difference. Partial JSON updates become nested `JSON_REPLACE`/`JSON_INSERT`/
//! `JSON_ARRAY_INSERT`/`JSON_REMOVE` calls on the column with bound paths and values.

use std::fmt::Write as _;

use super::schema::{ParamStyle, TableSpec, quote_ident};

/// Where a placeholder stands: writing a value or comparing with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    Write,
    Compare,
}

/// The placeholder expression of a column's parameter.
pub fn placeholder(style: &ParamStyle, ctx: Ctx, out: &mut String) {
    match style {
        ParamStyle::Plain => out.push('?'),
        ParamStyle::Text { charset, collation } => {
            let _ = write!(
                out,
                "CAST(? AS CHAR CHARACTER SET {charset}) COLLATE {collation}"
            );
        }
        ParamStyle::Json => match ctx {
            Ctx::Write => out.push_str("CAST(? AS CHAR CHARACTER SET utf8mb4)"),
            Ctx::Compare => out.push_str("CAST(CAST(? AS CHAR CHARACTER SET utf8mb4) AS JSON)"),
        },
    }
}

/// A column value written or compared as an SQL expression (with its own parameters) instead
/// of the column's placeholder: a JSON document with typed scalars (see `json_sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnExpr {
    /// The column's index in the table.
    pub col: usize,
    pub sql: String,
}

fn expr_for(exprs: &[ColumnExpr], col: usize) -> Option<&str> {
    exprs.iter().find(|e| e.col == col).map(|e| e.sql.as_str())
}

/// `INSERT INTO t (c1,c2) VALUES (?,?),(?,?)` for `rows` rows of the given columns; `exprs`
/// (row in the batch, expression), in row order, replace placeholders of single values.
pub fn insert_sql(
    t: &TableSpec,
    cols: &[usize],
    rows: usize,
    exprs: &[(usize, ColumnExpr)],
) -> String {
    let mut one = String::from("(");
    for (n, &i) in cols.iter().enumerate() {
        if n > 0 {
            one.push(',');
        }
        placeholder(&t.columns[i].style, Ctx::Write, &mut one);
    }
    one.push(')');
    let mut s = String::with_capacity(64 + cols.len() * 12 + rows * (one.len() + 1));
    s.push_str("INSERT INTO ");
    s.push_str(&t.qualified());
    s.push_str(" (");
    for (n, &i) in cols.iter().enumerate() {
        if n > 0 {
            s.push(',');
        }
        s.push_str(&quote_ident(&t.columns[i].name));
    }
    s.push_str(") VALUES ");
    let mut next = exprs.iter().peekable();
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        if next.peek().is_none_or(|(row, _)| *row != r) {
            s.push_str(&one);
            continue;
        }
        s.push('(');
        for (n, &i) in cols.iter().enumerate() {
            if n > 0 {
                s.push(',');
            }
            match next.peek() {
                Some((row, e)) if *row == r && e.col == i => {
                    s.push_str(&e.sql);
                    next.next();
                }
                _ => placeholder(&t.columns[i].style, Ctx::Write, &mut s),
            }
        }
        s.push(')');
    }
    s
}

/// One diff of a partial JSON update, as far as the SQL shape is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffShape {
    pub function: &'static str,
    pub has_value: bool,
    /// The value as an expression (a document with typed scalars) instead of JSON text.
    pub value_expr: Option<String>,
}

/// What an UPDATE sets a column to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetShape {
    /// A new value.
    Value(usize),
    /// A new value given as an expression.
    Expr(ColumnExpr),
    /// Diffs applied to the column's current JSON, in order.
    JsonDiff(usize, Vec<DiffShape>),
}

/// Which before-image columns find the row: the first `key` of `cols` are the primary key
/// (compared with `=`, and no `LIMIT`), the rest are compared NULL-safe. `key == 0` means the
/// table has no usable key: `LIMIT 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowMatch<'a> {
    pub cols: &'a [usize],
    pub key: usize,
}

/// Whether a column's values are compared by their bytes as well as by the column's collation:
/// character columns, whose collation may call different bytes equal.
pub fn compared_binary(style: &ParamStyle) -> bool {
    matches!(style, ParamStyle::Text { .. })
}

/// `col<=>?` for a non-key column (`CAST(col AS BINARY)<=>?` for character columns).
pub fn compare_term(name: &str, style: &ParamStyle, expr: Option<&str>, s: &mut String) {
    if compared_binary(style) {
        s.push_str("CAST(");
        s.push_str(&quote_ident(name));
        s.push_str(" AS BINARY)<=>?");
        return;
    }
    s.push_str(&quote_ident(name));
    s.push_str("<=>");
    match expr {
        Some(e) => s.push_str(e),
        None => placeholder(style, Ctx::Compare, s),
    }
}

/// Which WHERE parameters a row match takes, in order: each column's value once, and once
/// more right after it for a character key column (its byte-exact check).
pub fn where_param_repeats(t: &TableSpec, m: RowMatch<'_>) -> impl Iterator<Item = (usize, bool)> {
    m.cols.iter().enumerate().flat_map(move |(n, &i)| {
        let twice = n < m.key && compared_binary(&t.columns[i].style);
        std::iter::once((i, false)).chain(twice.then_some((i, true)))
    })
}

pub fn where_clause(t: &TableSpec, m: RowMatch<'_>, exprs: &[ColumnExpr], s: &mut String) {
    s.push_str(" WHERE ");
    for (n, &i) in m.cols.iter().enumerate() {
        if n > 0 {
            s.push_str(" AND ");
        }
        let c = &t.columns[i];
        if n < m.key {
            // The key in its collation (the index finds the row), then its bytes.
            s.push_str(&quote_ident(&c.name));
            s.push('=');
            placeholder(&c.style, Ctx::Compare, s);
            if compared_binary(&c.style) {
                s.push_str(" AND CAST(");
                s.push_str(&quote_ident(&c.name));
                s.push_str(" AS BINARY)=?");
            }
        } else {
            compare_term(&c.name, &c.style, expr_for(exprs, i), s);
        }
    }
    if m.key == 0 {
        s.push_str(" LIMIT 1");
    }
}

/// `UPDATE t SET ... WHERE ...`; parameters: SET values (diff paths and values in order),
/// then WHERE values. `where_exprs` replace the placeholders of those before-image columns.
pub fn update_sql(
    t: &TableSpec,
    set: &[SetShape],
    m: RowMatch<'_>,
    where_exprs: &[ColumnExpr],
) -> String {
    let mut s = String::with_capacity(128);
    s.push_str("UPDATE ");
    s.push_str(&t.qualified());
    s.push_str(" SET ");
    for (n, sh) in set.iter().enumerate() {
        if n > 0 {
            s.push(',');
        }
        match sh {
            SetShape::Value(i) => {
                let c = &t.columns[*i];
                s.push_str(&quote_ident(&c.name));
                s.push('=');
                placeholder(&c.style, Ctx::Write, &mut s);
            }
            SetShape::Expr(e) => {
                s.push_str(&quote_ident(&t.columns[e.col].name));
                s.push('=');
                s.push_str(&e.sql);
            }
            SetShape::JsonDiff(i, diffs) => {
                let name = quote_ident(&t.columns[*i].name);
                s.push_str(&name);
                s.push('=');
                let mut expr = name;
                for d in diffs {
                    let mut e = String::with_capacity(expr.len() + 96);
                    e.push_str(d.function);
                    e.push('(');
                    e.push_str(&expr);
                    e.push_str(", CAST(? AS CHAR CHARACTER SET utf8mb4)");
                    match (&d.value_expr, d.has_value) {
                        (Some(v), _) => {
                            e.push_str(", ");
                            e.push_str(v);
                        }
                        (None, true) => {
                            e.push_str(", CAST(CAST(? AS CHAR CHARACTER SET utf8mb4) AS JSON)")
                        }
                        (None, false) => {}
                    }
                    e.push(')');
                    expr = e;
                }
                s.push_str(&expr);
            }
        }
    }
    where_clause(t, m, where_exprs, &mut s);
    s
}

/// `DELETE FROM t WHERE ...`.
pub fn delete_sql(t: &TableSpec, m: RowMatch<'_>, where_exprs: &[ColumnExpr]) -> String {
    let mut s = String::with_capacity(96);
    s.push_str("DELETE FROM ");
    s.push_str(&t.qualified());
    where_clause(t, m, where_exprs, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::schema::ColumnSpec;
    use crate::apply::values::BindInfo;
    use crate::binlog::row_decoder::ColumnKind;

    fn table(pk: bool) -> TableSpec {
        let col = |name: &str, style| ColumnSpec {
            name: name.into(),
            bind: BindInfo {
                kind: ColumnKind::Int32 { unsigned: false },
                unsigned: false,
                binary_pad: None,
            },
            style,
            generated: false,
        };
        TableSpec {
            schema: "db".into(),
            table: "t".into(),
            columns: vec![
                col("id", ParamStyle::Plain),
                col(
                    "name",
                    ParamStyle::Text {
                        charset: "latin1".into(),
                        collation: "latin1_swedish_ci".into(),
                    },
                ),
                col("j", ParamStyle::Json),
            ],
            primary_key: pk.then(|| vec![0]),
            decoder: None,
        }
    }

    #[test]
    fn insert_batches() {
        let t = table(true);
        assert_eq!(
            insert_sql(&t, &[0, 2], 2, &[]),
            "INSERT INTO `db`.`t` (`id`,`j`) VALUES (?,CAST(? AS CHAR CHARACTER SET utf8mb4)),\
             (?,CAST(? AS CHAR CHARACTER SET utf8mb4))"
        );
    }

    #[test]
    fn update_by_key_and_without() {
        let t = table(true);
        assert_eq!(
            update_sql(
                &t,
                &[SetShape::Value(1)],
                RowMatch { cols: &[0], key: 1 },
                &[]
            ),
            "UPDATE `db`.`t` SET `name`=CAST(? AS CHAR CHARACTER SET latin1) COLLATE \
             latin1_swedish_ci WHERE `id`=?"
        );
        let t = table(false);
        assert_eq!(
            delete_sql(
                &t,
                RowMatch {
                    cols: &[0, 1],
                    key: 0
                },
                &[]
            ),
            "DELETE FROM `db`.`t` WHERE `id`<=>? AND CAST(`name` AS BINARY)<=>? LIMIT 1"
        );
        let t = table(true);
        assert_eq!(
            delete_sql(
                &t,
                RowMatch {
                    cols: &[0, 1, 2],
                    key: 1
                },
                &[]
            ),
            "DELETE FROM `db`.`t` WHERE `id`=? AND CAST(`name` AS BINARY)<=>? AND \
             `j`<=>CAST(CAST(? AS CHAR CHARACTER SET utf8mb4) AS JSON)"
        );
    }

    #[test]
    fn partial_json() {
        let t = table(true);
        let diffs = vec![
            DiffShape {
                function: "JSON_REPLACE",
                has_value: true,
                value_expr: None,
            },
            DiffShape {
                function: "JSON_REMOVE",
                has_value: false,
                value_expr: None,
            },
        ];
        assert_eq!(
            update_sql(
                &t,
                &[SetShape::JsonDiff(2, diffs)],
                RowMatch { cols: &[0], key: 1 },
                &[]
            ),
            "UPDATE `db`.`t` SET `j`=JSON_REMOVE(JSON_REPLACE(`j`, CAST(? AS CHAR CHARACTER SET \
             utf8mb4), CAST(CAST(? AS CHAR CHARACTER SET utf8mb4) AS JSON)), CAST(? AS CHAR \
             CHARACTER SET utf8mb4)) WHERE `id`=?"
        );
    }

    #[test]
    fn expressions_replace_single_placeholders() {
        let t = table(true);
        let e = |sql: &str| ColumnExpr {
            col: 2,
            sql: sql.into(),
        };
        assert_eq!(
            insert_sql(&t, &[0, 2], 3, &[(1, e("JSON_ARRAY(?)"))]),
            "INSERT INTO `db`.`t` (`id`,`j`) VALUES (?,CAST(? AS CHAR CHARACTER SET utf8mb4)),\
             (?,JSON_ARRAY(?)),(?,CAST(? AS CHAR CHARACTER SET utf8mb4))"
        );
        assert_eq!(
            update_sql(
                &t,
                &[SetShape::Expr(e("JSON_ARRAY(?)"))],
                RowMatch {
                    cols: &[0, 2],
                    key: 1
                },
                &[e("JSON_OBJECT(_utf8mb4'a',?)")]
            ),
            "UPDATE `db`.`t` SET `j`=JSON_ARRAY(?) WHERE `id`=? AND `j`<=>JSON_OBJECT(_utf8mb4'a',?)"
        );
    }

    #[test]
    fn character_keys_are_also_compared_by_their_bytes() {
        let mut t = table(true);
        t.primary_key = Some(vec![1]);
        let m = RowMatch {
            cols: &[1, 0],
            key: 1,
        };
        assert_eq!(
            delete_sql(&t, m, &[]),
            "DELETE FROM `db`.`t` WHERE `name`=CAST(? AS CHAR CHARACTER SET latin1) COLLATE \
             latin1_swedish_ci AND CAST(`name` AS BINARY)=? AND `id`<=>?"
        );
        assert_eq!(
            where_param_repeats(&t, m).collect::<Vec<_>>(),
            [(1, false), (1, true), (0, false)]
        );
    }
}
