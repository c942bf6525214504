//! The text form of `gapfill decode`: what a DBA reads instead of `mysqlbinlog -vv`.
//!
//! Owns the layout of each event block: `# at POS`, a `#YYMMDD HH:MM:SS server id ...` line, then
//! what the event means (the statement, the GTID, `### INSERT INTO ...` row lines). Row lines are
//! byte-compatible with `mysqlbinlog -vv --base64-output=decode-rows` (see `row_text`); the rest
//! follows its shape without its session-restoring `SET` boilerplate. Times print in UTC.

use crate::binlog::bitmap::Bitmap;
use crate::binlog::control::{UserVarEvent, UserVarType, XaPrepareEvent};
use crate::binlog::event::{Event, EventBody};
use crate::binlog::event_type::RowsKind;
use crate::binlog::gtid_event::{GtidEvent, MariadbGtidEvent};
use crate::binlog::query::QueryEvent;
use crate::binlog::row_decoder::CompiledColumn;
use crate::binlog::rows_event::RowsEvent;
use crate::binlog::stream::MappedTable;
use crate::binlog::value::Value;
use crate::binlog::{BinlogError, EventType};

use super::quote::write_identifier;
use super::row_text::{Scratch, Style, push_prefix, write_type_comment, write_value};

/// Renders events as text into a byte buffer the caller flushes.
#[derive(Default)]
pub struct TextRenderer {
    scratch: Scratch,
    table: TableText,
}

fn push_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn push_hex(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for x in b {
        out.push(HEX[(x >> 4) as usize]);
        out.push(HEX[(x & 15) as usize]);
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYMMDD HH:MM:SS` in UTC, as mysqlbinlog prints event times (the hour space-padded).
pub fn write_short_time(out: &mut Vec<u8>, secs: u32) {
    let secs = secs as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400) as u32;
    let two = |v: u32| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    let mut b = *b"000000 00:00:00";
    b[..2].copy_from_slice(&two(y.rem_euclid(100) as u32));
    b[2..4].copy_from_slice(&two(m));
    b[4..6].copy_from_slice(&two(d));
    b[7..9].copy_from_slice(&two(t / 3600));
    if t < 36_000 {
        b[7] = b' ';
    }
    b[10..12].copy_from_slice(&two(t / 60 % 60));
    b[13..15].copy_from_slice(&two(t % 60));
    out.extend_from_slice(&b);
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC for a microsecond timestamp.
pub fn write_micros_time(out: &mut Vec<u8>, micros: u64) {
    let secs = (micros / 1_000_000) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    let s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        t / 3600,
        t / 60 % 60,
        t % 60,
        micros % 1_000_000
    );
    out.extend_from_slice(s.as_bytes());
}

impl TextRenderer {
    /// Follow `flavor`'s conventions (string escaping), as its FORMAT_DESCRIPTION sets them.
    pub fn set_flavor(&mut self, flavor: crate::binlog::Flavor) {
        self.scratch.style = match flavor {
            crate::binlog::Flavor::MySql => Style::MySql,
            crate::binlog::Flavor::MariaDb => Style::MariaDb,
        };
    }

    /// The `# at` and header lines every event starts with.
    fn header(&mut self, out: &mut Vec<u8>, pos: u64, ev: &Event<'_>) {
        out.extend_from_slice(b"# at ");
        push_int(out, pos);
        out.extend_from_slice(b"\n#");
        write_short_time(out, ev.header.timestamp);
        out.extend_from_slice(b" server id ");
        push_int(out, ev.header.server_id);
        out.extend_from_slice(b"  end_log_pos ");
        push_int(out, ev.header.log_pos);
        out.push(b' ');
    }

    /// Render one event. For rows events the caller passes the mapped table and the rows event
    /// to print (already expanded when MariaDB compressed it).
    pub fn event(
        &mut self,
        out: &mut Vec<u8>,
        pos: u64,
        ev: &Event<'_>,
        rows: Option<(&MappedTable, &RowsEvent<'_>)>,
    ) -> Result<(), BinlogError> {
        self.header(out, pos, ev);
        let name = ev.header.event_type.name();
        match &ev.body {
            EventBody::FormatDescription(f) => {
                self.set_flavor(f.flavor);
                out.extend_from_slice(b"\tStart: binlog v ");
                push_int(out, f.binlog_version);
                out.extend_from_slice(b", server v ");
                out.extend_from_slice(f.server_version.as_bytes());
                out.extend_from_slice(b" created ");
                write_short_time(out, f.create_timestamp);
                out.push(b'\n');
            }
            EventBody::PreviousGtids(p) => {
                out.extend_from_slice(b"\tPrevious-GTIDs\n# ");
                let s = p.gtids.to_string();
                out.extend_from_slice(if s.is_empty() {
                    b"[empty]"
                } else {
                    s.as_bytes()
                });
                out.push(b'\n');
            }
            EventBody::Gtid(g) => write_gtid(out, g),
            EventBody::MariadbGtid(g) => write_mariadb_gtid(out, g),
            EventBody::MariadbGtidList(l) => {
                out.extend_from_slice(b"\tGtid list [");
                for (i, g) in l.gtids.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(g.to_string().as_bytes());
                }
                out.extend_from_slice(b"]\n");
            }
            EventBody::Query(q) => write_query(out, q, ev.header.timestamp),
            EventBody::Xid(x) => {
                out.extend_from_slice(b"\tXid = ");
                push_int(out, *x);
                out.extend_from_slice(b"\nCOMMIT/*!*/;\n");
            }
            EventBody::Rotate(r) => {
                out.extend_from_slice(b"\tRotate to ");
                out.extend_from_slice(r.next_file);
                out.extend_from_slice(b"  pos: ");
                push_int(out, r.position);
                out.push(b'\n');
            }
            EventBody::Stop => out.extend_from_slice(b"\tStop\n"),
            EventBody::Intvar(i) => {
                out.extend_from_slice(b"\tIntvar\nSET ");
                out.extend_from_slice(if i.kind == 1 {
                    b"LAST_INSERT_ID"
                } else {
                    b"INSERT_ID"
                });
                out.push(b'=');
                push_int(out, i.value);
                out.extend_from_slice(b"/*!*/;\n");
            }
            EventBody::Rand(r) => {
                out.extend_from_slice(b"\tRand\nSET @@RAND_SEED1=");
                push_int(out, r.seed1);
                out.extend_from_slice(b", @@RAND_SEED2=");
                push_int(out, r.seed2);
                out.extend_from_slice(b"/*!*/;\n");
            }
            EventBody::UserVar(u) => write_user_var(out, u),
            EventBody::RowsQuery(q) => {
                out.extend_from_slice(b"\tRows_query\n# ");
                out.extend_from_slice(q);
                out.push(b'\n');
            }
            EventBody::TableMap(tm) => {
                out.extend_from_slice(b"\tTable_map: ");
                write_identifier(out, tm.schema);
                out.push(b'.');
                write_identifier(out, tm.table);
                out.extend_from_slice(b" mapped to number ");
                push_int(out, tm.table_id);
                out.push(b'\n');
            }
            EventBody::XaPrepare(x) => write_xa_prepare(out, x),
            EventBody::TransactionPayload(p) => {
                out.extend_from_slice(b"\tTransaction_Payload\tpayload_size=");
                push_int(out, p.payload.len());
                out.extend_from_slice(b"\tuncompressed_size=");
                push_int(out, p.uncompressed_size);
                out.extend_from_slice(b"\n");
            }
            EventBody::Rows(_) => {
                out.push(b'\t');
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
                if let Some((t, r)) = rows {
                    self.rows(out, t, r)?;
                }
            }
            EventBody::Heartbeat(_)
            | EventBody::Incident(_)
            | EventBody::BinlogCheckpoint(_)
            | EventBody::Other(_) => {
                out.push(b'\t');
                out.extend_from_slice(name.as_bytes());
                if let EventType::Unknown(code) = ev.header.event_type {
                    out.extend_from_slice(b" type ");
                    push_int(out, code);
                }
                out.push(b'\n');
            }
        }
        Ok(())
    }

    /// The `###` lines of a rows event.
    pub fn rows(
        &mut self,
        out: &mut Vec<u8>,
        table: &MappedTable,
        rows: &RowsEvent<'_>,
    ) -> Result<(), BinlogError> {
        if self.table.generation != table.generation || self.table.cols.is_empty() {
            self.table = TableText::new(table, &mut self.scratch);
        }
        let cols = table.decoder.columns();
        let (verb, first, second): (&[u8], &[u8], Option<&[u8]>) = match rows.kind {
            RowsKind::Write => (b"### INSERT INTO ", b"### SET\n", None),
            RowsKind::Delete => (b"### DELETE FROM ", b"### WHERE\n", None),
            RowsKind::Update | RowsKind::PartialUpdate => {
                (b"### UPDATE ", b"### WHERE\n", Some(b"### SET\n"))
            }
        };
        let mut before = Vec::with_capacity(cols.len());
        let mut after = Vec::with_capacity(cols.len());
        let mut it = rows.rows(&table.decoder);
        let after_present = rows.columns_after.as_ref().unwrap_or(&rows.columns_before);
        while it.next_row(&mut before, &mut after)? {
            out.extend_from_slice(verb);
            out.extend_from_slice(&self.table.name);
            let img1 = if rows.kind == RowsKind::Write {
                &after
            } else {
                &before
            };
            self.image(out, cols, first, img1, &rows.columns_before)?;
            if let Some(second) = second {
                self.image(out, cols, second, &after, after_present)?;
            }
        }
        Ok(())
    }

    fn image(
        &mut self,
        out: &mut Vec<u8>,
        cols: &[CompiledColumn],
        clause: &[u8],
        values: &[Value<'_>],
        present: &Bitmap<'_>,
    ) -> Result<(), BinlogError> {
        out.extend_from_slice(clause);
        for (i, ((col, v), text)) in cols.iter().zip(values).zip(&self.table.cols).enumerate() {
            if !present.get(i) {
                continue;
            }
            text.prefix.push(out);
            write_value(out, col, v, &text.name, &mut self.scratch)?;
            text.tail[v.is_null() as usize].push(out);
        }
        Ok(())
    }
}

/// A MySQL GTID event: its header line, the commit timestamp and `SET @@SESSION.GTID_NEXT`.
fn write_gtid(out: &mut Vec<u8>, g: &GtidEvent<'_>) {
    out.extend_from_slice(if g.is_anonymous() {
        b"\tAnonymous_GTID"
    } else {
        b"\tGTID"
    });
    if let Some(lc) = &g.logical_clock {
        out.extend_from_slice(b"\tlast_committed=");
        push_int(out, lc.last_committed);
        out.extend_from_slice(b"\tsequence_number=");
        push_int(out, lc.sequence_number);
    }
    if let Some(l) = g.transaction_length {
        out.extend_from_slice(b"\ttransaction_length=");
        push_int(out, l);
    }
    out.push(b'\n');
    if let Some(ts) = g.original_commit_timestamp.or(g.immediate_commit_timestamp) {
        out.extend_from_slice(b"# original_commit_timestamp=");
        push_int(out, ts);
        out.extend_from_slice(b" (");
        write_micros_time(out, ts);
        out.extend_from_slice(b" UTC)\n");
    }
    match g.gtid() {
        Some(gtid) => {
            out.extend_from_slice(b"SET @@SESSION.GTID_NEXT= '");
            out.extend_from_slice(gtid.to_string().as_bytes());
            out.extend_from_slice(b"'/*!*/;\n");
        }
        None => out.extend_from_slice(b"SET @@SESSION.GTID_NEXT= 'ANONYMOUS'/*!*/;\n"),
    }
}

/// A MariaDB GTID event: the GTID, its commit id and whether it is DDL, standalone or a transaction.
fn write_mariadb_gtid(out: &mut Vec<u8>, g: &MariadbGtidEvent) {
    out.extend_from_slice(b"\tGTID ");
    out.extend_from_slice(g.gtid().to_string().as_bytes());
    if let Some(c) = g.commit_id {
        out.extend_from_slice(b" cid=");
        push_int(out, c);
    }
    if g.is_ddl() {
        out.extend_from_slice(b" ddl");
    }
    if g.is_standalone() {
        out.extend_from_slice(b" standalone");
    } else {
        out.extend_from_slice(b" trans");
    }
    out.push(b'\n');
}

/// A statement with its database and timestamp, as `mysqlbinlog` prints it.
fn write_query(out: &mut Vec<u8>, q: &QueryEvent<'_>, timestamp: u32) {
    out.extend_from_slice(b"\tQuery\tthread_id=");
    push_int(out, q.thread_id);
    out.extend_from_slice(b"\texec_time=");
    push_int(out, q.exec_time);
    out.extend_from_slice(b"\terror_code=");
    push_int(out, q.error_code);
    out.push(b'\n');
    if !q.schema.is_empty() {
        out.extend_from_slice(b"use ");
        write_identifier(out, q.schema);
        out.extend_from_slice(b"/*!*/;\n");
    }
    out.extend_from_slice(b"SET TIMESTAMP=");
    push_int(out, timestamp);
    if let Some(us) = q.status.microseconds.or(q.status.hrnow) {
        out.extend_from_slice(format!(".{us:06}").as_bytes());
    }
    out.extend_from_slice(b"/*!*/;\n");
    out.extend_from_slice(&q.query);
    out.extend_from_slice(b"\n/*!*/;\n");
}

/// `SET @name:=value` of a USER_VAR event.
fn write_user_var(out: &mut Vec<u8>, u: &UserVarEvent<'_>) {
    out.extend_from_slice(b"\tUser_var\nSET @");
    write_identifier(out, u.name);
    out.extend_from_slice(b":=");
    match &u.value {
        None => out.extend_from_slice(b"NULL"),
        Some(v) => match (v.kind, <[u8; 8]>::try_from(v.bytes)) {
            (UserVarType::Int, Ok(b)) if v.unsigned => push_int(out, u64::from_le_bytes(b)),
            (UserVarType::Int, Ok(b)) => push_int(out, i64::from_le_bytes(b)),
            (UserVarType::Real, Ok(b)) => {
                super::float_format::write_g(out, f64::from_le_bytes(b), 14, 0)
            }
            _ => super::quote::write_quoted(out, v.bytes),
        },
    }
    out.extend_from_slice(b"/*!*/;\n");
}

/// XA_PREPARE as the statement the server would replay: `XA PREPARE X'gtrid',X'bqual',format`
/// (or `XA COMMIT ... ONE PHASE`).
fn write_xa_prepare(out: &mut Vec<u8>, x: &XaPrepareEvent<'_>) {
    let mut stmt = Vec::new();
    stmt.extend_from_slice(if x.one_phase {
        b"XA COMMIT X'"
    } else {
        b"XA PREPARE X'"
    });
    push_hex(&mut stmt, x.gtrid);
    stmt.extend_from_slice(b"',X'");
    push_hex(&mut stmt, x.bqual);
    stmt.extend_from_slice(b"',");
    push_int(&mut stmt, x.format_id);
    if x.one_phase {
        stmt.extend_from_slice(b" ONE PHASE");
    }
    out.push(b'\t');
    out.extend_from_slice(&stmt);
    out.push(b'\n');
    out.extend_from_slice(&stmt);
    out.extend_from_slice(b"\n/*!*/;\n");
}

/// The constant text of a table's row lines, built once per TABLE_MAP: `###   @N=` prefixes and
/// the ` /* TYPE meta=M nullable=N is_null=I */` comments, so a row costs only its values.
#[derive(Default)]
struct TableText {
    generation: u64,
    /// `` `db`.`t` `` and a newline.
    name: Vec<u8>,
    cols: Vec<ColumnText>,
}

struct ColumnText {
    /// `###   @N=`
    prefix: Snippet<16>,
    /// `@N`, the name partial JSON updates refer to.
    name: String,
    /// The comment and newline after a value, for `is_null=0` and `is_null=1`.
    tail: [Snippet<64>; 2],
}

/// Constant text appended with one fixed-size copy when it is short (most are): a copy of a
/// known size is a few stores, a copy of a varying size a call, and there are several per value.
struct Snippet<const N: usize> {
    fixed: [u8; N],
    len: usize,
    /// The text when longer than `N`.
    long: Option<Box<[u8]>>,
}

impl<const N: usize> Snippet<N> {
    fn new(text: &[u8]) -> Self {
        let mut fixed = [0; N];
        let long = match fixed.get_mut(..text.len()) {
            Some(f) => {
                f.copy_from_slice(text);
                None
            }
            None => Some(text.into()),
        };
        Snippet {
            fixed,
            len: text.len(),
            long,
        }
    }

    #[inline]
    fn push(&self, out: &mut Vec<u8>) {
        match &self.long {
            None => push_prefix(out, &self.fixed, self.len),
            Some(t) => out.extend_from_slice(t),
        }
    }
}

impl TableText {
    fn new(table: &MappedTable, scratch: &mut Scratch) -> TableText {
        let tm = table.table_map();
        let mut name = Vec::new();
        write_identifier(&mut name, tm.schema);
        name.push(b'.');
        write_identifier(&mut name, tm.table);
        name.push(b'\n');
        let mut cols = Vec::new();
        let mut buf = Vec::new();
        for (i, col) in table.decoder.columns().iter().enumerate() {
            let n = format!("@{}", i + 1);
            let mut tail = |is_null| {
                buf.clear();
                write_type_comment(&mut buf, col, tm.vector_dimension(i), is_null, scratch);
                buf.push(b'\n');
                Snippet::new(&buf)
            };
            cols.push(ColumnText {
                prefix: Snippet::new(format!("###   {n}=").as_bytes()),
                tail: [tail(false), tail(true)],
                name: n,
            });
        }
        TableText {
            generation: table.generation,
            name,
            cols,
        }
    }
}
