//! Reading the data back after a run: `verified` means the rows the run wrote are on the
//! target as the binlog's last images say, and the rows it deleted last are gone.
//!
//! Owns the check after a successful run: from what the workers recorded (`touched`), the keys
//! to check per table; a second read of the source files that decodes only the last image of
//! each written key (memory stays one small entry per key, never the images); batched reads
//! of the target, a few hundred keys a statement (`SELECT n, c1<=>?, ... FROM t WHERE pk=?
//! UNION ALL ...`), every value bound exactly as the apply path binds it and compared by the
//! server column by column, byte-exactly: character columns as binary strings, DECIMAL as a
//! DECIMAL of the column's precision and scale, TIME as TIME(6), MySQL JSON as the server's
//! text against gapfill's text of the image (a value, a DECIMAL's scale, a number's type) plus
//! the JSON_TYPE of each DATE/TIME/DATETIME scalar by its path (whose text is a string's),
//! everything else NULL-safe against the bound value. Only columns the last image carries are compared
//! (MINIMAL/NOBLOB images, partial JSON updates). It does not apply anything.
//!
//! Rows that are not checked, counted as not verifiable: tables without a primary key (a row
//! has no identity there: duplicates are allowed, and finding a row by its whole image is a
//! table scan per row), rows whose last image came before a statement that names their table
//! (DDL, statement-based DML: the statement may have changed them), rows of a transaction
//! rolled back to a savepoint or only XA-prepared, and rows applied as BINLOG statements.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use mysql_async::Value as Param;
use mysql_async::prelude::Queryable;
use tokio::sync::mpsc;

use crate::binlog::event::EventBody;
use crate::binlog::row_decoder::ColumnKind;
use crate::binlog::stream::{EventStream, expand_rows};
use crate::binlog::value::Value;
use crate::binlog::{FormatDescription, RowsKind};

use super::error::ApplyError;
use super::json_sql::temporal_paths;
use super::reader::{ReadOptions, TransactionReader};
use super::row_sql::{RowMatch, compare_term, where_clause, where_param_repeats};
use super::schema::{ParamStyle, TableSpec, quote_ident};
use super::touched::{Loc, Touched, decode_key};
use super::transaction::Transaction;
use super::values::{bind, literal};

/// Most keys in one read.
const CHUNK_KEYS: usize = 256;
/// Most parameters in one read.
const CHUNK_PARAMS: usize = 24_000;
/// Longest value shown in a message.
const SHOW_CHARS: usize = 48;

/// What the check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DataCheck {
    /// Keys checked: the last image of every key written, and every key deleted last.
    pub to_verify: u64,
    /// Keys whose row on the target is as expected.
    pub verified: u64,
    /// Row changes that could not be checked (see the module documentation).
    pub not_verifiable: u64,
    /// Keys that differ.
    pub mismatches: u64,
    /// The first difference, as the error the run fails with.
    pub first: Option<String>,
    /// Keys whose row equals the last image in every column the image carries except
    /// generated ones, the image lacking some stored column: the image's generated value does
    /// not follow from its other columns,
    /// so the source changed a column the image lacks (MariaDB logs a `REPLACE` run as an
    /// update under `binlog_row_image=NOBLOB`/`MINIMAL` without the columns it reset). No
    /// applier can reach the source's row; the server's own applier even writes the
    /// generated value as logged. Reported, not a failure.
    pub image_inconsistent: u64,
    /// The first of those, for the report.
    pub first_inconsistent: Option<String>,
}

/// A written key whose last image is to be decoded again.
struct Need {
    loc: Loc,
    table: usize,
    key: Box<[u8]>,
}

/// One key's read: its comparison terms' parameters and its key parameters.
struct KeyRead {
    key: Box<[u8]>,
    /// Parameters of the select list's terms, then of the key.
    params: Vec<Param>,
    /// For each compared column: its parameters' range in `params` and its expression.
    cols: Vec<(usize, usize, Option<String>)>,
}

/// Keys of one table read by one statement shape.
struct Chunk {
    table: usize,
    /// Columns compared (none for keys that must be absent).
    cols: Vec<usize>,
    deleted: bool,
    reads: Vec<KeyRead>,
    params: usize,
}

struct Ctx<'a> {
    conn: &'a mut mysql_async::Conn,
    label: &'a str,
    tables: Vec<(Arc<TableSpec>, String)>,
    check: DataCheck,
}

fn target_err(label: &str, statement: &str, source: mysql_async::Error) -> ApplyError {
    ApplyError::Target {
        target: label.to_string(),
        statement: statement.to_string(),
        source,
    }
}

/// Check the data `touched` says the run wrote, reading the source `files` again with `read`.
pub async fn verify_data(
    conn: &mut mysql_async::Conn,
    label: &str,
    files: &[PathBuf],
    read: &ReadOptions,
    touched: Touched,
) -> Result<DataCheck, ApplyError> {
    let setup = "SET @@session.time_zone='+00:00', \
                 @@session.sql_mode='NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,ALLOW_INVALID_DATES', \
                 @@session.character_set_client=binary, @@session.collation_connection=binary, \
                 @@session.character_set_results=binary";
    conn.query_drop(setup)
        .await
        .map_err(|e| target_err(label, setup, e))?;
    let mut check = DataCheck {
        not_verifiable: touched.rows_without_key,
        ..DataCheck::default()
    };
    let mut needs: Vec<Need> = Vec::new();
    let mut absent: Vec<(usize, Box<[u8]>)> = Vec::new();
    let mut tables = Vec::with_capacity(touched.tables.len());
    for (ti, t) in touched.tables.iter().enumerate() {
        tables.push((t.spec.clone(), t.spec.display_name()));
        let barrier = touched.barrier(&t.schema, &t.table);
        for (key, last) in &t.keys {
            if barrier.is_some_and(|b| last.loc < b) || touched.uncertain.contains(&last.loc.txn())
            {
                check.not_verifiable += 1;
                continue;
            }
            check.to_verify += 1;
            if last.deleted {
                absent.push((ti, key.clone()));
            } else {
                needs.push(Need {
                    loc: last.loc,
                    table: ti,
                    key: key.clone(),
                });
            }
        }
    }
    drop(touched);
    let mut cx = Ctx {
        conn,
        label,
        tables,
        check,
    };
    // Keys deleted last: absent.
    let mut chunks: HashMap<(usize, bool, Vec<usize>), Chunk> = HashMap::new();
    for (table, key) in absent {
        let spec = cx.tables[table].0.clone();
        let read = key_read(&spec, key, Vec::new(), Vec::new())?;
        push_read(&mut cx, &mut chunks, table, true, Vec::new(), read).await?;
    }
    // Keys written last: their images, in source order.
    needs.sort_unstable_by_key(|n| n.loc);
    if !needs.is_empty() {
        second_pass(&mut cx, &mut chunks, files, read, needs).await?;
    }
    let rest: Vec<Chunk> = chunks.into_values().collect();
    for c in rest {
        run_chunk(&mut cx, c).await?;
    }
    Ok(cx.check)
}

enum Msg {
    Txn(Box<Transaction>),
    Failed(ApplyError),
}

/// Read the files again and queue a read of every needed image.
async fn second_pass(
    cx: &mut Ctx<'_>,
    chunks: &mut HashMap<(usize, bool, Vec<usize>), Chunk>,
    files: &[PathBuf],
    read: &ReadOptions,
    needs: Vec<Need>,
) -> Result<(), ApplyError> {
    let reader = TransactionReader::new(files.to_vec(), read.clone())?;
    let (tx, mut rx) = mpsc::channel::<Msg>(16);
    let thread = std::thread::Builder::new()
        .name("gapfill-verify-reader".into())
        .spawn(move || {
            let mut reader = reader;
            loop {
                let m = match reader.next_transaction() {
                    Ok(Some(t)) => Msg::Txn(Box::new(t)),
                    Ok(None) => return,
                    Err(e) => Msg::Failed(e),
                };
                let failed = matches!(m, Msg::Failed(_));
                if tx.blocking_send(m).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|e| ApplyError::Internal(format!("cannot start the verify reader: {e}")))?;
    let mut next = 0usize;
    let mut stream: Option<(Arc<FormatDescription>, EventStream)> = None;
    let mut rows_buf = Vec::new();
    let mut needs = needs.into_iter().map(Some).collect::<Vec<_>>();
    while next < needs.len() {
        let txn = match rx.recv().await {
            Some(Msg::Txn(t)) => t,
            Some(Msg::Failed(e)) => return Err(e),
            None => break,
        };
        let id = (txn.pos.file_index as u32, txn.pos.start);
        let first = next;
        while next < needs.len() && needs[next].as_ref().is_some_and(|n| n.loc.txn() == id) {
            next += 1;
        }
        if first == next {
            // Not needed, or before the next need: skip (needs are in source order).
            continue;
        }
        if !stream
            .as_ref()
            .is_some_and(|(f, _)| Arc::ptr_eq(f, &txn.fde))
        {
            stream = Some((
                txn.fde.clone(),
                EventStream::new((*txn.fde).clone()).verify_checksums(false),
            ));
        }
        let Some((_, stream)) = stream.as_mut() else {
            continue;
        };
        let mut k = first;
        for (ei, e) in txn.events.iter().enumerate() {
            if k >= next {
                break;
            }
            let ev = txn.decode(stream, e)?;
            let EventBody::Rows(r) = &ev.body else {
                continue;
            };
            if needs[k].as_ref().is_none_or(|n| n.loc.event != ei as u32) {
                continue;
            }
            let mapped = stream
                .table(r.table_id)
                .map_err(|err| err.in_file(&*txn.pos.file, e.offset))?;
            let compressed = ev.header.event_type.rows_info().is_some_and(|i| i.2);
            let rows = expand_rows(r, compressed, &mut rows_buf)
                .map_err(|err| err.in_file(&*txn.pos.file, e.offset))?;
            // The needs of one event are of its table: decode with that table's decoder.
            let event_spec = needs[k].as_ref().map(|n| cx.tables[n.table].0.clone());
            let decoder = match &event_spec {
                Some(s) => s.decoder(&mapped.decoder),
                None => &mapped.decoder,
            };
            let mut it = rows.rows(decoder);
            let mut before: Vec<Value<'_>> = Vec::new();
            let mut after: Vec<Value<'_>> = Vec::new();
            let mut row = 0u32;
            while let Some(need) = needs[k].as_ref().filter(|n| n.loc.event == ei as u32) {
                let want = need.loc.row;
                let more = it
                    .next_row(&mut before, &mut after)
                    .map_err(|err| err.in_file(&*txn.pos.file, e.offset))?;
                if !more {
                    break;
                }
                if row == want {
                    let need = needs[k].take().expect("checked above");
                    k += 1;
                    let spec = cx.tables[need.table].0.clone();
                    if mapped.decoder.columns().len() != spec.columns.len() {
                        cx.check.not_verifiable += 1;
                        cx.check.to_verify -= 1;
                    } else {
                        let present = match rows.kind {
                            RowsKind::Write => Some(rows.columns_before),
                            _ => rows.columns_after,
                        };
                        let pk = spec.primary_key.as_deref().unwrap_or_default();
                        let cols: Vec<usize> = present
                            .map(|b| {
                                b.ones()
                                    .filter(|i| {
                                        !pk.contains(i)
                                            && !matches!(after.get(*i), Some(Value::JsonDiff(_)))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        let read = image_read(&spec, need.key, &cols, &after)?;
                        push_read(cx, chunks, need.table, false, cols, read).await?;
                    }
                    if k >= next {
                        break;
                    }
                }
                row += 1;
            }
        }
        // Images the event did not hold (never expected): counted as not verifiable.
        for n in needs[k..next].iter_mut() {
            if n.take().is_some() {
                cx.check.not_verifiable += 1;
                cx.check.to_verify -= 1;
            }
        }
    }
    drop(rx);
    let _ = thread.join();
    let left = needs.iter().filter(|n| n.is_some()).count() as u64;
    if left > 0 {
        return Err(ApplyError::Invalid(format!(
            "verification: {left} row image(s) the run applied were not found when the source \
             files were read again (a file changed during the run?); re-run to verify"
        )));
    }
    Ok(())
}

/// The key's parameters (each key column once, a character column twice: collation, bytes).
fn key_params(spec: &TableSpec, key: &[u8], out: &mut Vec<Param>) -> Result<(), ApplyError> {
    let pk = spec.primary_key.as_deref().unwrap_or_default();
    let values = decode_key(key)
        .filter(|v| v.len() == pk.len())
        .ok_or_else(|| {
            ApplyError::Internal(format!("{}: bad recorded key", spec.display_name()))
        })?;
    let m = RowMatch {
        cols: pk,
        key: pk.len(),
    };
    for (i, repeat) in where_param_repeats(spec, m) {
        if repeat {
            let p = out.last().cloned().unwrap_or(Param::NULL);
            out.push(p);
            continue;
        }
        let n = pk.iter().position(|&c| c == i).unwrap_or(0);
        let p = bind(&values[n], &spec.columns[i].bind, true).map_err(|d| ApplyError::Row {
            txn: "(verification)".into(),
            table: spec.display_name(),
            detail: format!("key column {}: {d}", spec.columns[i].name),
        })?;
        out.push(p);
    }
    Ok(())
}

fn key_read(
    spec: &TableSpec,
    key: Box<[u8]>,
    mut params: Vec<Param>,
    cols: Vec<(usize, usize, Option<String>)>,
) -> Result<KeyRead, ApplyError> {
    key_params(spec, &key, &mut params)?;
    Ok(KeyRead { key, params, cols })
}

/// The read of one written key: its image's columns `cols` bound as the apply path binds them.
fn image_read(
    spec: &TableSpec,
    key: Box<[u8]>,
    cols: &[usize],
    image: &[Value<'_>],
) -> Result<KeyRead, ApplyError> {
    let mut params = Vec::with_capacity(cols.len() + 2);
    let mut ranges = Vec::with_capacity(cols.len());
    for &i in cols {
        let c = &spec.columns[i];
        let v = image.get(i).copied().unwrap_or(Value::Null);
        let from = params.len();
        let err = |d: String| ApplyError::Row {
            txn: "(verification)".into(),
            table: spec.display_name(),
            detail: format!("column {}: {d}", c.name),
        };
        let mut expr = None;
        match v {
            // MySQL JSON (see `term`): the server's text against gapfill's text of the image,
            // and the type of every DATE/TIME/DATETIME scalar, whose text is a string's.
            Value::Json(bin) if c.style == ParamStyle::Json => {
                let mut text = String::with_capacity(bin.len() * 2);
                crate::binlog::json_binary::write_json_text(bin, &mut text)
                    .map_err(|e| err(format!("JSON value: {e}")))?;
                params.push(Param::Bytes(text.into_bytes()));
                let typed = temporal_paths(bin).map_err(|e| err(format!("JSON value: {e}")))?;
                if !typed.is_empty() {
                    let name = quote_ident(&c.name);
                    let mut checks = String::new();
                    for (path, ty) in typed {
                        checks.push_str(&format!(
                            " AND JSON_TYPE(JSON_EXTRACT({name},CAST(? AS CHAR CHARACTER SET utf8mb4)))=?"
                        ));
                        params.push(Param::Bytes(path.into_bytes()));
                        params.push(Param::Bytes(ty.as_bytes().to_vec()));
                    }
                    expr = Some(checks);
                }
            }
            _ => params.push(bind(&v, &c.bind, true).map_err(err)?),
        }
        ranges.push((from, params.len(), expr));
    }
    key_read(spec, key, params, ranges)
}

async fn push_read(
    cx: &mut Ctx<'_>,
    chunks: &mut HashMap<(usize, bool, Vec<usize>), Chunk>,
    table: usize,
    deleted: bool,
    cols: Vec<usize>,
    read: KeyRead,
) -> Result<(), ApplyError> {
    let k = (table, deleted, cols);
    let c = chunks.entry(k.clone()).or_insert_with(|| Chunk {
        table,
        cols: k.2.clone(),
        deleted,
        reads: Vec::new(),
        params: 0,
    });
    c.params += read.params.len();
    c.reads.push(read);
    if (c.reads.len() >= CHUNK_KEYS || c.params >= CHUNK_PARAMS)
        && let Some(c) = chunks.remove(&k)
    {
        run_chunk(cx, c).await?;
    }
    Ok(())
}

/// The comparison of column `i` with its bound value (or expression).
fn term(spec: &TableSpec, i: usize, expr: Option<&str>, s: &mut String) {
    let c = &spec.columns[i];
    let name = quote_ident(&c.name);
    match (&c.style, c.bind.kind) {
        (ParamStyle::Json, _) => {
            // The server's text of the document against gapfill's text of the image (the
            // text MySQL's CAST and mysqlbinlog -vv write): the value, a DECIMAL's scale, an
            // integer against a double, an opaque value's type. A DATE, TIME or DATETIME scalar
            // has the text of a string: `expr` then checks each one's JSON_TYPE by its path.
            s.push_str(&format!(
                "(CAST({name} AS CHAR CHARACTER SET utf8mb4)<=>?{})",
                expr.unwrap_or_default()
            ));
        }
        (
            ParamStyle::Plain,
            ColumnKind::Decimal {
                precision, scale, ..
            },
        ) => {
            s.push_str(&format!("{name}<=>CAST(? AS DECIMAL({precision},{scale}))"));
        }
        (
            ParamStyle::Plain,
            ColumnKind::Time | ColumnKind::Time2 { .. } | ColumnKind::TimeHires { .. },
        ) => {
            // Through CHAR: MySQL 9.7 casts a prepared statement's string parameter straight
            // to TIME wrongly (see json_sql).
            s.push_str(&format!(
                "{name}<=>CAST(CAST(? AS CHAR CHARACTER SET ascii) AS TIME(6))"
            ));
        }
        (style, _) => compare_term(&c.name, style, expr, s),
    }
}

/// Read one chunk and count what matches.
async fn run_chunk(cx: &mut Ctx<'_>, c: Chunk) -> Result<(), ApplyError> {
    if c.reads.is_empty() {
        return Ok(());
    }
    let spec = cx.tables[c.table].0.clone();
    let pk = spec.primary_key.clone().unwrap_or_default();
    let m = RowMatch {
        cols: &pk,
        key: pk.len(),
    };
    let mut sql = String::with_capacity(c.reads.len() * (64 + c.cols.len() * 24));
    let mut params = Vec::with_capacity(c.params);
    for (n, r) in c.reads.iter().enumerate() {
        if n > 0 {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str(&format!("SELECT {n}"));
        for (j, &i) in c.cols.iter().enumerate() {
            sql.push(',');
            term(&spec, i, r.cols[j].2.as_deref(), &mut sql);
        }
        sql.push_str(" FROM ");
        sql.push_str(&spec.qualified());
        where_clause(&spec, m, &[], &mut sql);
        params.extend(r.params.iter().cloned());
    }
    let rows: Vec<mysql_async::Row> = cx
        .conn
        .exec(sql.as_str(), params)
        .await
        .map_err(|e| target_err(cx.label, &super::session::shape(sql.as_bytes()), e))?;
    // Per read: not found, or found with the first differing column and whether the image
    // is inconsistent: every differing column is generated and the image lacks a stored
    // column (a full image whose generated value differs means the target computes it
    // differently: a real difference).
    let partial_image = (0..spec.columns.len())
        .any(|i| !spec.columns[i].generated && !pk.contains(&i) && !c.cols.contains(&i));
    let mut found: Vec<Option<Option<(usize, bool)>>> = vec![None; c.reads.len()];
    for row in rows {
        let n = row.get_opt::<i64, _>(0).and_then(Result::ok).unwrap_or(-1);
        let Some(slot) = usize::try_from(n).ok().and_then(|n| found.get_mut(n)) else {
            continue;
        };
        let differs = |j: &usize| {
            row.get_opt::<i64, _>(j + 1)
                .and_then(Result::ok)
                .is_none_or(|v| v != 1)
        };
        let first = (0..c.cols.len()).find(differs);
        let only_generated = partial_image
            && (0..c.cols.len())
                .filter(differs)
                .all(|j| spec.columns[c.cols[j]].generated);
        *slot = Some(first.map(|j| (j, only_generated)));
    }
    for (n, r) in c.reads.iter().enumerate() {
        let problem = match (c.deleted, found[n]) {
            (true, None) | (false, Some(None)) => None,
            (true, Some(_)) => Some(
                "the gap deleted this row last, but the target has a row with this key".to_string(),
            ),
            (false, None) => {
                Some("the gap wrote this row last, but the target has no row with this key".into())
            }
            (false, Some(Some((j, true)))) => {
                cx.check.image_inconsistent += 1;
                if cx.check.first_inconsistent.is_none() {
                    let d = describe_column(cx, &spec, &c, r, j).await;
                    cx.check.first_inconsistent = Some(format!(
                        "table {}, key {}: {d}",
                        cx.tables[c.table].1,
                        show_key(&spec, &r.key)
                    ));
                }
                continue;
            }
            (false, Some(Some((j, false)))) => Some(describe_column(cx, &spec, &c, r, j).await),
        };
        match problem {
            None => cx.check.verified += 1,
            Some(p) => {
                cx.check.mismatches += 1;
                if cx.check.first.is_none() {
                    cx.check.first = Some(format!(
                        "table {}, key {}: {p}",
                        cx.tables[c.table].1,
                        show_key(&spec, &r.key)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `column `c` is X on the target, Y in the binlog's last image`.
async fn describe_column(
    cx: &mut Ctx<'_>,
    spec: &TableSpec,
    c: &Chunk,
    r: &KeyRead,
    j: usize,
) -> String {
    let i = c.cols[j];
    let col = &spec.columns[i];
    let (from, to, expr) = &r.cols[j];
    // The value's parameter first (JSON: its text, then path and type of each temporal
    // scalar).
    let params = &r.params[*from..*to];
    let mut expected = String::new();
    if let Some(p) = params.first() {
        literal(p, &mut expected);
    }
    let mut expected = short(&expected);
    if expr.is_some() {
        let typed: Vec<String> = params[1..]
            .chunks(2)
            .map(|pt| {
                let text = |p: &Param| match p {
                    Param::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => String::new(),
                };
                format!(
                    "{} a {}",
                    text(&pt[0]),
                    pt.get(1).map(text).unwrap_or_default()
                )
            })
            .collect();
        expected.push_str(&format!(
            " (with {}: the target's text may be the same, its JSON_TYPE is not)",
            typed.join(", ")
        ));
    }
    let name = quote_ident(&col.name);
    let shown = match (&col.style, col.bind.kind) {
        (ParamStyle::Json, _) => format!("CAST({name} AS CHAR CHARACTER SET utf8mb4)"),
        (_, ColumnKind::Enum { .. } | ColumnKind::Set { .. } | ColumnKind::Bit { .. }) => {
            format!("{name}+0")
        }
        _ => name.clone(),
    };
    let pk = spec.primary_key.clone().unwrap_or_default();
    let mut sql = format!("SELECT {shown} FROM {}", spec.qualified());
    where_clause(
        spec,
        RowMatch {
            cols: &pk,
            key: pk.len(),
        },
        &[],
        &mut sql,
    );
    let mut kp = Vec::new();
    let found = match key_params(spec, &r.key, &mut kp) {
        Ok(()) => match cx
            .conn
            .exec_first::<mysql_async::Row, _, _>(sql.as_str(), kp)
            .await
        {
            Ok(Some(row)) => match row.as_ref(0) {
                Some(v) => {
                    let mut s = String::new();
                    literal(v, &mut s);
                    s
                }
                None => "?".into(),
            },
            Ok(None) => "(row gone)".into(),
            Err(e) => format!("(cannot read it: {e})"),
        },
        Err(_) => "?".into(),
    };
    format!(
        "column {} is {} on the target, but the binlog's last image has {}",
        col.name,
        short(&found),
        expected
    )
}

fn short(s: &str) -> String {
    if s.chars().count() <= SHOW_CHARS {
        return s.to_string();
    }
    let cut: String = s.chars().take(SHOW_CHARS).collect();
    format!("{cut}...")
}

/// `(a,b)=(1,'x')` or `id=5`.
fn show_key(spec: &TableSpec, key: &[u8]) -> String {
    show_key_of(spec, spec.primary_key.as_deref().unwrap_or_default(), key)
}

/// [`show_key`] of a key made of the columns `pk`.
pub(super) fn show_key_of(spec: &TableSpec, pk: &[usize], key: &[u8]) -> String {
    let names: Vec<&str> = pk.iter().map(|&i| spec.columns[i].name.as_str()).collect();
    let vals: Vec<String> = match decode_key(key) {
        Some(v) => v
            .iter()
            .zip(pk)
            .map(|(v, &i)| {
                let mut s = String::new();
                match bind(v, &spec.columns[i].bind, false) {
                    Ok(p) => literal(&p, &mut s),
                    Err(_) => s.push('?'),
                }
                short(&s)
            })
            .collect(),
        None => vec!["?".into()],
    };
    if names.len() == 1 {
        format!("{}={}", names[0], vals.join(","))
    } else {
        format!("({})=({})", names.join(","), vals.join(","))
    }
}
