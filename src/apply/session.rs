//! One connection to the target (or a dry-run printer standing in for one) with the session
//! state the applier has set on it.
//!
//! Owns connecting with `mysql_async` (credentials never logged, TLS as `--ssl-mode`), the
//! session variables currently in force (so a SET is sent only when a value changes), queuing
//! small control statements so they travel with the next statement in one round trip, and
//! running statements: raw statement bytes from QUERY events and prepared statements with
//! bound values. In dry-run mode the same calls print SQL with values inlined as literals.
//! It does not know binlog events (see `executor`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts, Value as Param};

use crate::credentials::Credentials;
use crate::protocol::{TlsMode, TlsOptions};

use super::values::inline_params;

/// Which server family the target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ServerFlavor {
    MySql,
    MariaDb,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// `host:port`
    pub addr: String,
    pub credentials: Credentials,
    pub tls: TlsOptions,
}

impl TargetOptions {
    fn host_port(&self) -> (String, u16) {
        match self.addr.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse().unwrap_or(3306),
            ),
            _ => (self.addr.clone(), 3306),
        }
    }

    fn opts(&self, tls: bool) -> Opts {
        let (host, port) = self.host_port();
        let mut b = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(self.credentials.user.clone()))
            .pass(Some(self.credentials.password.expose().to_string()))
            .prefer_socket(false)
            .stmt_cache_size(256)
            .client_found_rows(true)
            .max_allowed_packet(Some(1 << 30));
        if tls {
            let mut ssl = SslOpts::default();
            if let (Some(cert), Some(key)) = (&self.tls.cert_file, &self.tls.key_file) {
                ssl = ssl.with_client_identity(Some(mysql_async::ClientIdentity::new(
                    cert.clone().into(),
                    key.clone().into(),
                )));
            }
            match self.tls.mode {
                TlsMode::VerifyCa | TlsMode::VerifyIdentity => {
                    if let Some(ca) = &self.tls.ca_file {
                        ssl = ssl
                            .with_root_certs(vec![ca.clone().into()])
                            .with_disable_built_in_roots(true);
                    }
                    if self.tls.mode == TlsMode::VerifyCa {
                        ssl = ssl.with_danger_skip_domain_validation(true);
                    }
                    if let Some(n) = &self.tls.server_name {
                        ssl = ssl.with_danger_tls_hostname_override(Some(n.clone()));
                    }
                }
                _ => {
                    ssl = ssl
                        .with_danger_accept_invalid_certs(true)
                        .with_danger_skip_domain_validation(true);
                }
            }
            b = b.ssl_opts(Some(ssl));
        }
        b.into()
    }

    /// Open one connection: TLS as the mode says (`Preferred` falls back to plain when the
    /// server offers no TLS; caching_sha2_password then uses the server's RSA key).
    pub async fn connect(&self) -> Result<Conn, mysql_async::Error> {
        self.preflight().await?;
        match self.tls.mode {
            TlsMode::Disabled => Conn::new(self.opts(false)).await,
            TlsMode::Preferred => match Conn::new(self.opts(true)).await {
                Err(mysql_async::Error::Driver(
                    mysql_async::DriverError::NoClientSslFlagFromServer,
                )) => Conn::new(self.opts(false)).await,
                r => r,
            },
            _ => Conn::new(self.opts(true))
                .await
                .map_err(|e| self.explain_name_check(e)),
        }
    }

    /// mysql_async's "skip domain validation" does not recognise the name error of the rustls
    /// it is built with, so under `verify-ca` it still requires the certificate to name the
    /// host it was given: say so, and what to do, instead of a bare certificate error.
    fn explain_name_check(&self, e: mysql_async::Error) -> mysql_async::Error {
        let text = e.to_string();
        if self.tls.mode == TlsMode::VerifyCa
            && self.tls.server_name.is_none()
            && text.contains("not valid for name")
        {
            return mysql_async::Error::Other(Box::new(VerifyCaNameCheck {
                addr: self.addr.clone(),
                detail: text,
            }));
        }
        e
    }
}

/// `verify-ca` on fill/replay met a certificate that does not name the host (see
/// [`TargetOptions::explain_name_check`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "TLS to {addr}: {detail}. Under --ssl-mode verify-ca, fill and replay's MySQL client still \
     checks that the server's certificate names the host it connects to (its subjectAltName; \
     the common name is not enough): pass --ssl-server-name with a name the certificate \
     carries, or give the server a certificate whose subjectAltName holds this host, then use \
     --ssl-mode verify-identity. Nothing was sent to the server"
)]
pub struct VerifyCaNameCheck {
    addr: String,
    detail: String,
}

impl TargetOptions {
    /// mysql_async sends caching_sha2_password's full-authentication password in clear over
    /// any TLS, verified or not. Unless the certificate is verified (or the user accepted an
    /// unverified one), log in first with gapfill's own client: it takes the fast path when the
    /// server's cache knows the account (mysql_async right after does too) and refuses, before
    /// sending anything, when full authentication would send the password (the error says how
    /// to verify the server). Other failures are left to mysql_async to report.
    async fn preflight(&self) -> Result<(), mysql_async::Error> {
        if self.tls.mode == TlsMode::Disabled || self.tls.verifies() || self.tls.allow_unverified {
            return Ok(());
        }
        let mut o = crate::protocol::ConnectOptions::new(
            self.addr.clone(),
            self.credentials.user.clone(),
            self.credentials.password.clone(),
        );
        o.tls = self.tls.clone();
        match crate::protocol::Connection::connect(&o).await {
            Ok(c) => {
                c.close().await;
                Ok(())
            }
            Err(e @ crate::protocol::ProtocolError::FullAuthOverUnverifiedTls { .. }) => {
                Err(mysql_async::Error::Other(Box::new(e)))
            }
            Err(e) => {
                tracing::debug!(target = %self.addr, error = %e, "TLS login check inconclusive");
                Ok(())
            }
        }
    }
}

/// Where statements go.
pub enum Sink {
    Live(Conn),
    /// Dry run: statements are printed, ending with `;`. The connection, when the target is
    /// reachable, is only read (table shapes), so the printed SQL is what a run would send.
    Print(Arc<Mutex<Box<dyn Write + Send>>>, Option<Conn>),
}

/// A statement failure with the statement shape that failed (no values).
#[derive(Debug)]
pub struct StmtError {
    pub statement: String,
    pub source: mysql_async::Error,
}

/// Shorten a statement for messages.
pub fn shape(sql: &[u8]) -> String {
    let s = String::from_utf8_lossy(sql);
    let s = s.trim();
    if s.chars().count() > 300 {
        let cut: String = s.chars().take(300).collect();
        format!("{cut}...")
    } else {
        s.to_string()
    }
}

/// A session on the target.
pub struct Session {
    pub sink: Sink,
    pub flavor: ServerFlavor,
    vars: HashMap<&'static str, String>,
    queued: Vec<u8>,
    /// A BEGIN not sent yet: it goes out with the next statement, or never when the
    /// transaction turns out to be one statement that autocommit commits.
    begin_deferred: bool,
    /// Statements sent (or printed).
    pub statements: u64,
}

impl Session {
    pub fn live(conn: Conn, flavor: ServerFlavor) -> Session {
        Session {
            sink: Sink::Live(conn),
            flavor,
            vars: HashMap::new(),
            queued: Vec::new(),
            begin_deferred: false,
            statements: 0,
        }
    }

    /// A dry-run session; `schema` (a connection to the target, when reachable) is only read.
    pub fn print(
        out: Arc<Mutex<Box<dyn Write + Send>>>,
        schema: Option<Conn>,
        flavor: ServerFlavor,
    ) -> Session {
        Session {
            sink: Sink::Print(out, schema),
            flavor,
            vars: HashMap::new(),
            queued: Vec::new(),
            begin_deferred: false,
            statements: 0,
        }
    }

    pub fn is_dry_run(&self) -> bool {
        matches!(self.sink, Sink::Print(..))
    }

    pub fn conn(&mut self) -> Option<&mut Conn> {
        match &mut self.sink {
            Sink::Live(c) => Some(c),
            Sink::Print(..) => None,
        }
    }

    /// A connection to read table shapes from: the live one, or a dry run's read-only one.
    pub fn schema_conn(&mut self) -> Option<&mut Conn> {
        match &mut self.sink {
            Sink::Live(c) => Some(c),
            Sink::Print(_, c) => c.as_mut(),
        }
    }

    /// Replace the connection with a new one (session state starts over).
    pub async fn reconnect(&mut self, target: Option<&TargetOptions>) -> Result<(), StmtError> {
        let (Sink::Live(_), Some(t)) = (&self.sink, target) else {
            return Ok(());
        };
        let conn = t.connect().await.map_err(|source| StmtError {
            statement: "(reconnect)".into(),
            source,
        })?;
        if let Sink::Live(old) = std::mem::replace(&mut self.sink, Sink::Live(conn)) {
            let _ = old.disconnect().await;
        }
        self.forget_state();
        Ok(())
    }

    /// Forget what is known about session variables (after a failure the server state is
    /// unknown).
    pub fn forget_state(&mut self) {
        self.vars.clear();
        self.queued.clear();
        self.begin_deferred = false;
    }

    /// Want session variable `name` (written as in `SET name=value`) to have `value`: queue a
    /// SET unless it already has it.
    pub fn want(&mut self, name: &'static str, value: impl AsRef<str>) {
        let value = value.as_ref();
        // Per row statement: allocates only when the value changes.
        if self.vars.get(name).map(String::as_str) == Some(value) {
            return;
        }
        let mut s = String::with_capacity(name.len() + value.len() + 8);
        s.push_str("SET ");
        s.push_str(name);
        s.push('=');
        s.push_str(value);
        self.queue(s.as_bytes());
        self.vars.insert(name, value.to_string());
    }

    /// Record that `name` now has `value`; true when that is a change (the caller sends it).
    pub fn want_tracked(&mut self, name: &'static str, value: &str) -> bool {
        if self.vars.get(name).map(String::as_str) == Some(value) {
            return false;
        }
        self.vars.insert(name, value.to_string());
        true
    }

    /// Open a transaction with the next statement sent (see [`Session::autocommit_instead`]).
    pub fn defer_begin(&mut self) {
        self.begin_deferred = true;
    }

    /// Whether the deferred BEGIN is still unsent: nothing of the transaction ran yet.
    pub fn begin_is_deferred(&self) -> bool {
        self.begin_deferred
    }

    /// Drop the deferred BEGIN: the transaction's one statement commits by itself.
    pub fn autocommit_instead(&mut self) {
        self.begin_deferred = false;
    }

    fn materialize_begin(&mut self) {
        if std::mem::take(&mut self.begin_deferred) {
            self.queue(b"BEGIN");
        }
    }

    /// Queue a control statement to travel with the next one.
    pub fn queue(&mut self, sql: &[u8]) {
        if !self.queued.is_empty() {
            self.queued.extend_from_slice(b";\n");
        }
        self.queued.extend_from_slice(sql);
    }

    /// Send the queued statements now.
    pub async fn flush(&mut self) -> Result<(), StmtError> {
        self.materialize_begin();
        if self.queued.is_empty() {
            return Ok(());
        }
        let q = std::mem::take(&mut self.queued);
        self.send_text(q).await
    }

    async fn send_text(&mut self, q: Vec<u8>) -> Result<(), StmtError> {
        self.statements += 1;
        match &mut self.sink {
            Sink::Live(c) => c
                .query_drop(q.as_slice())
                .await
                .map_err(|source| StmtError {
                    statement: shape(&q),
                    source,
                }),
            Sink::Print(out, _) => {
                let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                let _ = o.write_all(&q);
                let _ = o.write_all(b";\n");
                Ok(())
            }
        }
    }

    /// Run a statement given as raw bytes (a QUERY event's text in its own charset), after
    /// whatever is queued.
    pub async fn query(&mut self, sql: &[u8]) -> Result<(), StmtError> {
        self.materialize_begin();
        let mut q = std::mem::take(&mut self.queued);
        if !q.is_empty() {
            q.extend_from_slice(b";\n");
        }
        q.extend_from_slice(sql);
        self.send_text(q).await
    }

    /// Run a prepared statement with bound values (queued statements go first, in their own
    /// round trip). Returns the affected (found) rows; dry runs report `expected`.
    pub async fn exec(
        &mut self,
        sql: &str,
        params: Vec<Param>,
        expected: u64,
    ) -> Result<u64, StmtError> {
        self.flush().await?;
        self.statements += 1;
        match &mut self.sink {
            Sink::Live(c) => {
                c.exec_drop(sql, params).await.map_err(|source| StmtError {
                    statement: shape(sql.as_bytes()),
                    source,
                })?;
                Ok(c.affected_rows())
            }
            Sink::Print(out, _) => {
                let text = inline_params(sql, &params);
                let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                let _ = o.write_all(text.as_bytes());
                let _ = o.write_all(b";\n");
                Ok(expected)
            }
        }
    }

    /// The first row of a prepared query, each column as an integer (`None` for NULL or
    /// non-numbers); `None` when there is no row or in dry runs.
    pub async fn query_first_row(
        &mut self,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Option<Vec<Option<i64>>>, StmtError> {
        self.flush().await?;
        match &mut self.sink {
            Sink::Live(c) => {
                let row: Option<mysql_async::Row> =
                    c.exec_first(sql, params)
                        .await
                        .map_err(|source| StmtError {
                            statement: shape(sql.as_bytes()),
                            source,
                        })?;
                Ok(row.map(|r| {
                    (0..r.len())
                        .map(|i| r.get_opt::<i64, _>(i).and_then(Result::ok))
                        .collect()
                }))
            }
            Sink::Print(..) => Ok(None),
        }
    }

    /// First column of the first row of a query, as text (`None` in dry runs or for NULL).
    pub async fn query_string(&mut self, sql: &str) -> Result<Option<String>, StmtError> {
        self.flush().await?;
        match &mut self.sink {
            Sink::Live(c) => {
                let v: Option<Option<Vec<u8>>> =
                    c.query_first(sql).await.map_err(|source| StmtError {
                        statement: sql.to_string(),
                        source,
                    })?;
                Ok(v.flatten()
                    .map(|b| String::from_utf8_lossy(&b).into_owned()))
            }
            Sink::Print(..) => Ok(None),
        }
    }
}

/// Ask the server what it is.
pub async fn detect_flavor(conn: &mut Conn) -> Result<ServerFlavor, mysql_async::Error> {
    let v: Option<String> = conn.query_first("SELECT @@version").await?;
    Ok(if v.unwrap_or_default().contains("MariaDB") {
        ServerFlavor::MariaDb
    } else {
        ServerFlavor::MySql
    })
}
