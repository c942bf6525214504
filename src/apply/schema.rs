//! The shape of a target table as the apply engine uses it: column names, which columns are
//! generated, the primary key, and how each column's values are bound.
//!
//! Owns reading a table from the target's `information_schema` (ordinal order, generated
//! columns, primary key, charsets) and checking it against the binlog's TABLE_MAP (column count
//! and types), with names from the table map's FULL metadata when present. A mismatch is an
//! error naming the table and column. Caching and invalidation on DDL live in `executor`; SQL
//! text lives in `row_sql`.

use crate::binlog::column_type::ColumnType;
use crate::binlog::row_decoder::{ColumnKind, RowDecoder};
use crate::binlog::table_map::TableMap;

use super::values::BindInfo;

/// One column of a target table, from `information_schema.COLUMNS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    /// `DATA_TYPE`, lower case (`int`, `varchar`, `json`, `point`, ...).
    pub data_type: String,
    /// `COLUMN_TYPE`, lower case (`int unsigned`, `binary(16)`, ...).
    pub column_type: String,
    pub charset: Option<String>,
    pub collation: Option<String>,
    /// A VIRTUAL or STORED generated column: never written.
    pub generated: bool,
    /// `DATETIME_PRECISION` of a temporal column.
    pub datetime_precision: Option<u8>,
}

/// A table as the target has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTable {
    pub columns: Vec<TargetColumn>,
    /// Primary key column names in key order (empty without one).
    pub primary_key: Vec<String>,
}

/// How a parameter is written into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamStyle {
    /// `?`: numbers, temporal values, binary strings, ENUM/SET indexes, GEOMETRY, VECTOR.
    Plain,
    /// Text bytes reinterpreted in the column's charset, compared in its collation:
    /// `CAST(? AS CHAR CHARACTER SET cs) COLLATE coll` (the session sends parameters as
    /// binary, so the bytes land unconverted).
    Text { charset: String, collation: String },
    /// MySQL JSON bound as utf8mb4 text.
    Json,
}

/// One column as the engine writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: String,
    pub bind: BindInfo,
    pub style: ParamStyle,
    pub generated: bool,
}

/// A table as the engine writes it: the table map's columns with names and binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub schema: String,
    pub table: String,
    pub columns: Vec<ColumnSpec>,
    /// Indexes of the primary key columns, in key order.
    pub primary_key: Option<Vec<usize>>,
    /// The row decoder to use instead of the table map's, when the target's definition says
    /// what the table map cannot: the precision of MariaDB 5.3 temporal columns
    /// ([`RowDecoder::with_mariadb_hires`]).
    pub decoder: Option<RowDecoder>,
}

impl TableSpec {
    /// The decoder of this table's rows: [`TableSpec::decoder`] or the table map's.
    pub fn decoder<'a>(&'a self, from_map: &'a RowDecoder) -> &'a RowDecoder {
        self.decoder.as_ref().unwrap_or(from_map)
    }

    /// `` `db`.`t` ``
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// Backquote an identifier.
pub fn quote_ident(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('`');
    for c in s.chars() {
        if c == '`' {
            o.push('`');
        }
        o.push(c);
    }
    o.push('`');
    o
}

/// A mismatch between table map and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub column: String,
    pub detail: String,
}

/// The `DATA_TYPE`s a binlog column type may land in.
fn compatible(real: ColumnType, kind: ColumnKind, data_type: &str) -> bool {
    use ColumnType as T;
    let dt = data_type;
    match kind {
        ColumnKind::Int8 { .. } => matches!(dt, "tinyint" | "bool" | "boolean"),
        ColumnKind::Int16 { .. } => dt == "smallint",
        ColumnKind::Int24 { .. } => dt == "mediumint",
        ColumnKind::Int32 { .. } => matches!(dt, "int" | "integer"),
        ColumnKind::Int64 { .. } => dt == "bigint",
        ColumnKind::Float => dt == "float",
        ColumnKind::Double => matches!(dt, "double" | "real" | "double precision"),
        ColumnKind::Decimal { .. } => matches!(dt, "decimal" | "numeric"),
        ColumnKind::Year => dt == "year",
        ColumnKind::Date => dt == "date",
        ColumnKind::Time | ColumnKind::Time2 { .. } | ColumnKind::TimeHires { .. } => dt == "time",
        ColumnKind::DateTime | ColumnKind::DateTime2 { .. } | ColumnKind::DateTimeHires { .. } => {
            dt == "datetime"
        }
        ColumnKind::Timestamp
        | ColumnKind::Timestamp2 { .. }
        | ColumnKind::TimestampHires { .. } => dt == "timestamp",
        ColumnKind::Bit { .. } => dt == "bit",
        ColumnKind::Enum { .. } => dt == "enum",
        ColumnKind::Set { .. } => dt == "set",
        ColumnKind::VarChar { .. } | ColumnKind::VarCharCompressed { .. } => {
            matches!(dt, "varchar" | "varbinary")
        }
        ColumnKind::Char { .. } => {
            matches!(dt, "char" | "binary" | "inet4" | "inet6" | "uuid")
                || real == T::String && matches!(dt, "char" | "binary")
        }
        ColumnKind::Blob { .. } | ColumnKind::BlobCompressed { .. } => matches!(
            dt,
            "tinytext"
                | "text"
                | "mediumtext"
                | "longtext"
                | "tinyblob"
                | "blob"
                | "mediumblob"
                | "longblob"
                | "json"
        ),
        ColumnKind::Json { .. } => dt == "json",
        ColumnKind::Geometry { .. } => matches!(
            dt,
            "geometry"
                | "point"
                | "linestring"
                | "polygon"
                | "multipoint"
                | "multilinestring"
                | "multipolygon"
                | "geometrycollection"
                | "geomcollection"
        ),
        ColumnKind::Vector { .. } => dt == "vector",
        ColumnKind::Null => true,
    }
}

fn binary_len(column_type: &str) -> Option<u16> {
    let rest = column_type.strip_prefix("binary(")?;
    rest.strip_suffix(')')?.parse().ok()
}

fn is_text_kind(kind: ColumnKind) -> bool {
    matches!(
        kind,
        ColumnKind::VarChar { .. }
            | ColumnKind::Char { .. }
            | ColumnKind::Blob { .. }
            | ColumnKind::VarCharCompressed { .. }
            | ColumnKind::BlobCompressed { .. }
    )
}

/// Build the spec of a table from its table map and, when available, the target's shape.
/// Without a target (a dry run with no server), names come from FULL metadata or are `@N`.
pub fn build_spec(
    tm: &TableMap<'_>,
    decoder: &RowDecoder,
    target: Option<&TargetTable>,
) -> Result<TableSpec, Mismatch> {
    let schema = String::from_utf8_lossy(tm.schema).into_owned();
    let table = String::from_utf8_lossy(tm.table).into_owned();
    let hires = target.and_then(|t| {
        decoder.with_mariadb_hires(|i| t.columns.get(i).and_then(|c| c.datetime_precision))
    });
    let cols = hires.as_ref().unwrap_or(decoder).columns();
    let tm_names: Vec<Option<String>> = (0..cols.len())
        .map(|i| {
            tm.column_name(i)
                .map(|n| String::from_utf8_lossy(n).into_owned())
        })
        .collect();
    let mut out = Vec::with_capacity(cols.len());
    if let Some(t) = target {
        if t.columns.len() != cols.len() {
            let column = if t.columns.len() > cols.len() {
                t.columns[cols.len()].name.clone()
            } else {
                tm_names[t.columns.len()]
                    .clone()
                    .unwrap_or_else(|| format!("#{}", t.columns.len() + 1))
            };
            return Err(Mismatch {
                column,
                detail: format!(
                    "the binlog's table map has {} columns, the target table has {}",
                    cols.len(),
                    t.columns.len()
                ),
            });
        }
        for (i, (c, tc)) in cols.iter().zip(&t.columns).enumerate() {
            if let Some(n) = &tm_names[i]
                && !n.eq_ignore_ascii_case(&tc.name)
            {
                return Err(Mismatch {
                    column: n.clone(),
                    detail: format!(
                        "column #{} is `{n}` in the binlog but `{}` on the target",
                        i + 1,
                        tc.name
                    ),
                });
            }
            if !compatible(c.real_type, c.kind, &tc.data_type) {
                let mut bt = String::new();
                c.mysqlbinlog_type_name(&mut bt);
                return Err(Mismatch {
                    column: tc.name.clone(),
                    detail: format!(
                        "column #{} is {bt} in the binlog but {} on the target",
                        i + 1,
                        tc.column_type
                    ),
                });
            }
            let style = if matches!(c.kind, ColumnKind::Json { .. }) {
                ParamStyle::Json
            } else if is_text_kind(c.kind)
                && let (Some(cs), Some(coll)) = (&tc.charset, &tc.collation)
                && cs != "binary"
            {
                ParamStyle::Text {
                    charset: cs.clone(),
                    collation: coll.clone(),
                }
            } else {
                ParamStyle::Plain
            };
            out.push(ColumnSpec {
                name: tc.name.clone(),
                bind: BindInfo {
                    kind: c.kind,
                    unsigned: c.unsigned || tc.column_type.contains("unsigned"),
                    // Fixed-length binary types (BINARY(n), MariaDB INET4/INET6/UUID) lose
                    // their trailing 0x00 bytes in the binlog: pad them back.
                    binary_pad: match c.kind {
                        ColumnKind::Char { max_len, .. }
                            if tc.charset.as_deref().is_none_or(|c| c == "binary") =>
                        {
                            binary_len(&tc.column_type).or(Some(max_len))
                        }
                        _ => None,
                    },
                },
                style,
                generated: tc.generated,
            });
        }
        let pk: Option<Vec<usize>> = if t.primary_key.is_empty() {
            None
        } else {
            t.primary_key
                .iter()
                .map(|k| out.iter().position(|c| c.name.eq_ignore_ascii_case(k)))
                .collect()
        };
        return Ok(TableSpec {
            schema,
            table,
            columns: out,
            primary_key: pk,
            decoder: hires,
        });
    }
    for (i, c) in cols.iter().enumerate() {
        let name = tm_names[i].clone().unwrap_or_else(|| format!("@{}", i + 1));
        let style = match c.kind {
            ColumnKind::Json { .. } => ParamStyle::Json,
            _ => ParamStyle::Plain,
        };
        let binary_pad = match (c.kind, c.charset) {
            (ColumnKind::Char { max_len, .. }, Some(63)) => Some(max_len),
            _ => None,
        };
        out.push(ColumnSpec {
            name,
            bind: BindInfo {
                kind: c.kind,
                unsigned: c.unsigned,
                binary_pad,
            },
            style,
            generated: false,
        });
    }
    let pk: Vec<usize> = tm.primary_key().map(|k| k.0).collect();
    Ok(TableSpec {
        schema,
        table,
        columns: out,
        primary_key: if pk.is_empty() { None } else { Some(pk) },
        decoder: None,
    })
}

/// Read a table's shape from the target. `Ok(None)` when the table does not exist.
pub async fn fetch_target_table(
    conn: &mut mysql_async::Conn,
    schema: &str,
    table: &str,
) -> Result<Option<TargetTable>, mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<u64>,
    );
    let rows: Vec<Row> = conn
        .exec(
            "SELECT CAST(COLUMN_NAME AS CHAR CHARACTER SET utf8mb4), \
             CAST(LOWER(DATA_TYPE) AS CHAR CHARACTER SET utf8mb4), \
             CAST(LOWER(COLUMN_TYPE) AS CHAR CHARACTER SET utf8mb4), \
             CAST(CHARACTER_SET_NAME AS CHAR CHARACTER SET utf8mb4), \
             CAST(COLLATION_NAME AS CHAR CHARACTER SET utf8mb4), \
             CAST(UPPER(EXTRA) AS CHAR CHARACTER SET utf8mb4), DATETIME_PRECISION \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = CAST(? AS CHAR CHARACTER SET utf8mb4) \
             AND TABLE_NAME = CAST(? AS CHAR CHARACTER SET utf8mb4) ORDER BY ORDINAL_POSITION",
            (schema.as_bytes(), table.as_bytes()),
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let columns = rows
        .into_iter()
        .map(|(name, dt, ct, cs, coll, extra, dtp)| {
            let extra = extra.unwrap_or_default();
            TargetColumn {
                name,
                data_type: dt,
                column_type: ct,
                charset: cs,
                collation: coll,
                generated: extra.contains("VIRTUAL GENERATED")
                    || extra.contains("STORED GENERATED")
                    || extra.contains("PERSISTENT GENERATED")
                    || extra == "VIRTUAL"
                    || extra == "PERSISTENT",
                datetime_precision: dtp.map(|p| p.min(6) as u8),
            }
        })
        .collect();
    let primary_key: Vec<String> = conn
        .exec(
            "SELECT CAST(COLUMN_NAME AS CHAR CHARACTER SET utf8mb4) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = CAST(? AS CHAR CHARACTER SET utf8mb4) \
             AND TABLE_NAME = CAST(? AS CHAR CHARACTER SET utf8mb4) \
             AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (schema.as_bytes(), table.as_bytes()),
        )
        .await?;
    Ok(Some(TargetTable {
        columns,
        primary_key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_compatibility() {
        assert!(compatible(
            ColumnType::Long,
            ColumnKind::Int32 { unsigned: false },
            "int"
        ));
        assert!(!compatible(
            ColumnType::Long,
            ColumnKind::Int32 { unsigned: false },
            "bigint"
        ));
        assert!(compatible(
            ColumnType::Geometry,
            ColumnKind::Geometry { len_bytes: 4 },
            "point"
        ));
        assert!(compatible(
            ColumnType::Blob,
            ColumnKind::Blob { len_bytes: 4 },
            "longtext"
        ));
        assert_eq!(binary_len("binary(16)"), Some(16));
        assert_eq!(binary_len("varbinary(16)"), None);
        assert_eq!(quote_ident("a`b"), "`a``b`");
    }
}
