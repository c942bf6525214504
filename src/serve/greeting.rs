//! The connection phase, server side, sans-IO: the Handshake v10 greeting gapfill sends, the
//! replica's SSLRequest or HandshakeResponse41, and the authentication exchange after it
//! ([`ServerAuth`]): mysql_native_password and caching_sha2_password (fast path, and full
//! authentication with the cleartext password over TLS only), with an auth switch when the
//! replica answered for another plugin.
//!
//! gapfill knows the cleartext password, so it verifies a scramble by recomputing it with the
//! nonce it sent (`protocol::auth`'s functions) and comparing in constant time. Sockets and TLS
//! are the edge's; this module says when TLS starts and what to send.

use rand::Rng;
use subtle::ConstantTimeEq;

use crate::protocol::Password;
use crate::protocol::auth::{
    CACHING_SHA2_PASSWORD, MYSQL_NATIVE_PASSWORD, scramble_caching_sha2, scramble_native,
};
use crate::protocol::handshake::caps;

use super::error::{Result, ServeError};
use super::wire::{Reader, STATUS_AUTOCOMMIT, err_packet, ok_packet};

/// Length of the nonce (auth plugin data) in the greeting.
pub const NONCE_LEN: usize = 20;

/// The capabilities gapfill's server offers (CLIENT_SSL is added when TLS is configured).
pub const SERVER_CAPABILITIES: u32 = caps::LONG_PASSWORD
    | caps::FOUND_ROWS
    | caps::LONG_FLAG
    | caps::CONNECT_WITH_DB
    | caps::PROTOCOL_41
    | caps::TRANSACTIONS
    | caps::SECURE_CONNECTION
    | caps::MULTI_RESULTS
    | caps::PS_MULTI_RESULTS
    | caps::PLUGIN_AUTH
    | caps::CONNECT_ATTRS
    | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
    | caps::DEPRECATE_EOF;

/// A fresh nonce: 20 bytes in 1..=127 without `$` (as MySQL's own generator: no NUL, which
/// would end the string in the greeting, and nothing a client might treat specially).
pub fn new_nonce() -> [u8; NONCE_LEN] {
    let mut rng = rand::thread_rng();
    let mut n = [0u8; NONCE_LEN];
    for b in &mut n {
        *b = loop {
            let c: u8 = rng.gen_range(1..=127);
            if c != b'$' {
                break c;
            }
        };
    }
    n
}

/// What gapfill's greeting says.
#[derive(Debug, Clone)]
pub struct Greeting {
    pub server_version: String,
    pub connection_id: u32,
    pub capabilities: u32,
    pub charset: u8,
    pub nonce: [u8; NONCE_LEN],
    pub auth_plugin: &'static str,
}

impl Greeting {
    /// The greeting for a replica of `flavor_mariadb` sources, TLS offered when `tls`.
    pub fn new(server_version: String, connection_id: u32, mariadb: bool, tls: bool) -> Greeting {
        Greeting {
            server_version,
            connection_id,
            capabilities: SERVER_CAPABILITIES | if tls { caps::SSL } else { 0 },
            // utf8mb4_general_ci for MariaDB, utf8mb4_0900_ai_ci for MySQL 8+.
            charset: if mariadb { 45 } else { 255 },
            nonce: new_nonce(),
            // MariaDB replicas speak mysql_native_password; MySQL 9 servers no longer have it.
            auth_plugin: if mariadb {
                MYSQL_NATIVE_PASSWORD
            } else {
                CACHING_SHA2_PASSWORD
            },
        }
    }

    /// The Handshake v10 payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(80 + self.server_version.len());
        p.push(10);
        p.extend_from_slice(self.server_version.as_bytes());
        p.push(0);
        p.extend_from_slice(&self.connection_id.to_le_bytes());
        p.extend_from_slice(&self.nonce[..8]);
        p.push(0);
        p.extend_from_slice(&(self.capabilities as u16).to_le_bytes());
        p.push(self.charset);
        p.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
        p.extend_from_slice(&((self.capabilities >> 16) as u16).to_le_bytes());
        p.push((NONCE_LEN + 1) as u8);
        p.extend_from_slice(&[0u8; 10]);
        p.extend_from_slice(&self.nonce[8..]);
        p.push(0);
        p.extend_from_slice(self.auth_plugin.as_bytes());
        p.push(0);
        p
    }
}

/// The replica's HandshakeResponse41.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    pub capabilities: u32,
    pub max_packet: u32,
    pub charset: u8,
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    /// Empty when the replica did not name one (CLIENT_PLUGIN_AUTH off).
    pub auth_plugin: String,
}

/// The first packet of the replica: a request to start TLS, or the handshake response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHello {
    SslRequest { capabilities: u32 },
    Response(ClientResponse),
}

impl ClientHello {
    pub fn parse(payload: &[u8]) -> Result<ClientHello> {
        const W: &str = "handshake response";
        let mut r = Reader::new(payload, W);
        let capabilities = r.u32()?;
        if capabilities & caps::PROTOCOL_41 == 0 {
            return Err(ServeError::Unsupported(
                "the replica does not speak protocol 4.1 (CLIENT_PROTOCOL_41): MySQL 5.6+ or \
                 MariaDB 10+ replicas only"
                    .into(),
            ));
        }
        let max_packet = r.u32()?;
        let charset = r.u8()?;
        r.bytes(23)?;
        if r.remaining() == 0 {
            if capabilities & caps::SSL == 0 {
                return Err(ServeError::malformed(W, "it ends before the user name"));
            }
            return Ok(ClientHello::SslRequest { capabilities });
        }
        let user = String::from_utf8_lossy(r.nul_or_eof_bytes()).into_owned();
        let auth_response = if capabilities & caps::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
            r.lenenc_bytes()?.to_vec()
        } else if capabilities & caps::SECURE_CONNECTION != 0 {
            let n = r.u8()?;
            r.bytes(usize::from(n))?.to_vec()
        } else {
            r.nul_or_eof_bytes().to_vec()
        };
        let database = if capabilities & caps::CONNECT_WITH_DB != 0 && r.remaining() > 0 {
            Some(String::from_utf8_lossy(r.nul_or_eof_bytes()).into_owned())
        } else {
            None
        };
        let auth_plugin = if capabilities & caps::PLUGIN_AUTH != 0 && r.remaining() > 0 {
            String::from_utf8_lossy(r.nul_or_eof_bytes()).into_owned()
        } else {
            String::new()
        };
        // Connection attributes (CLIENT_CONNECT_ATTRS) follow; gapfill does not need them.
        Ok(ClientHello::Response(ClientResponse {
            capabilities,
            max_packet,
            charset,
            user,
            auth_response,
            database,
            auth_plugin,
        }))
    }
}

/// What the edge does after feeding [`ServerAuth`] a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAction {
    /// Send these payloads, then read the replica's next packet.
    SendAndRead(Vec<Vec<u8>>),
    /// Send these payloads (ending with OK): the replica is authenticated.
    Accept(Vec<Vec<u8>>),
    /// Send this ERR payload and close the connection; the second field says why (for the
    /// log: never the password).
    Refuse(Vec<u8>, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthState {
    /// Waiting for the answer to an auth switch request.
    Switched,
    /// caching_sha2: sent 0x01 0x04, waiting for the cleartext password.
    FullAuth,
    Done,
}

/// The server side of the authentication exchange of one connection.
#[derive(Debug)]
pub struct ServerAuth {
    user: String,
    password: Password,
    nonce: [u8; NONCE_LEN],
    plugin: &'static str,
    secure: bool,
    /// Skip the fast path (as a server whose cache does not know the account yet).
    full_auth_only: bool,
    login: String,
    state: AuthState,
}

/// MySQL's ER_ACCESS_DENIED_ERROR.
const ER_ACCESS_DENIED: u16 = 1045;
/// MySQL's ER_NOT_SUPPORTED_AUTH_MODE.
const ER_NOT_SUPPORTED_AUTH_MODE: u16 = 1251;

impl ServerAuth {
    /// `plugin` and `nonce` are the greeting's; `secure` says TLS is on.
    pub fn new(
        user: &str,
        password: &Password,
        greeting: &Greeting,
        secure: bool,
        full_auth_only: bool,
    ) -> ServerAuth {
        ServerAuth {
            user: user.to_string(),
            password: password.clone(),
            nonce: greeting.nonce,
            plugin: greeting.auth_plugin,
            secure,
            full_auth_only,
            login: String::new(),
            state: AuthState::Done,
        }
    }

    /// Start with the replica's handshake response.
    pub fn start(&mut self, resp: &ClientResponse) -> AuthAction {
        self.login = resp.user.clone();
        if resp.user != self.user {
            return self.deny("unknown user");
        }
        let answered = if resp.auth_plugin.is_empty() {
            MYSQL_NATIVE_PASSWORD
        } else {
            resp.auth_plugin.as_str()
        };
        if answered != self.plugin {
            // Ask for our plugin's answer, with the same nonce.
            let mut p = vec![0xfe];
            p.extend_from_slice(self.plugin.as_bytes());
            p.push(0);
            p.extend_from_slice(&self.nonce);
            p.push(0);
            self.state = AuthState::Switched;
            return AuthAction::SendAndRead(vec![p]);
        }
        self.verify_scramble(&resp.auth_response)
    }

    /// Feed the replica's next packet of the exchange.
    pub fn next(&mut self, payload: &[u8]) -> AuthAction {
        match self.state {
            AuthState::Switched => self.verify_scramble(payload),
            AuthState::FullAuth => {
                self.state = AuthState::Done;
                if !self.secure {
                    // A request for the public key (0x02) or an RSA-encrypted password.
                    return self.refuse(
                        ER_NOT_SUPPORTED_AUTH_MODE,
                        "caching_sha2_password full authentication sends the password; gapfill \
                         accepts it over TLS only: connect with TLS (SOURCE_SSL=1 / MASTER_SSL=1)",
                    );
                }
                let given = payload.strip_suffix(&[0]).unwrap_or(payload);
                if bool::from(given.ct_eq(self.password.expose().as_bytes())) {
                    AuthAction::Accept(vec![ok_packet()])
                } else {
                    self.deny("wrong password")
                }
            }
            AuthState::Done => self.refuse(
                ER_ACCESS_DENIED,
                "unexpected packet after the authentication exchange",
            ),
        }
    }

    fn verify_scramble(&mut self, answer: &[u8]) -> AuthAction {
        self.state = AuthState::Done;
        let pw = self.password.expose().as_bytes();
        let expected = match self.plugin {
            MYSQL_NATIVE_PASSWORD => scramble_native(pw, &self.nonce),
            _ => scramble_caching_sha2(pw, &self.nonce),
        };
        // Some clients send a NUL after an empty answer.
        let answer = if answer == [0] { &[][..] } else { answer };
        let matches = answer.len() == expected.len() && bool::from(answer.ct_eq(&expected));
        if self.plugin == MYSQL_NATIVE_PASSWORD {
            return if matches {
                AuthAction::Accept(vec![ok_packet()])
            } else {
                self.deny("wrong password")
            };
        }
        if pw.is_empty() {
            return if answer.is_empty() {
                AuthAction::Accept(vec![ok_packet()])
            } else {
                self.deny("wrong password")
            };
        }
        if matches && !self.full_auth_only {
            // fast_auth_success, then OK.
            return AuthAction::Accept(vec![vec![0x01, 0x03], ok_packet()]);
        }
        if !matches && !self.secure {
            return self.deny("wrong password");
        }
        // perform_full_authentication: the replica sends the cleartext password next.
        self.state = AuthState::FullAuth;
        AuthAction::SendAndRead(vec![vec![0x01, 0x04]])
    }

    fn deny(&self, why: &str) -> AuthAction {
        let tls = if self.secure { "YES" } else { "NO" };
        let msg = format!(
            "Access denied for user '{}' (using password: {}, TLS: {tls}): {why}",
            self.login,
            if self.password.is_empty() {
                "NO"
            } else {
                "YES"
            }
        );
        AuthAction::Refuse(err_packet(ER_ACCESS_DENIED, "28000", &msg), why.to_string())
    }

    fn refuse(&self, code: u16, why: &str) -> AuthAction {
        AuthAction::Refuse(err_packet(code, "08004", why), why.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::handshake::{Handshake, HandshakeResponse, encode_ssl_request};

    fn greeting(mariadb: bool) -> Greeting {
        Greeting::new("9.7.4-gapfill".into(), 42, mariadb, true)
    }

    #[test]
    fn greeting_parses_with_the_clients_parser() {
        let g = greeting(false);
        let hs = Handshake::parse(&g.encode()).unwrap();
        assert_eq!(hs.server_version, "9.7.4-gapfill");
        assert_eq!(hs.connection_id, 42);
        assert_eq!(hs.auth_plugin_data, g.nonce);
        assert_eq!(hs.auth_plugin_name, "caching_sha2_password");
        for f in [
            caps::PROTOCOL_41,
            caps::SECURE_CONNECTION,
            caps::PLUGIN_AUTH,
            caps::SSL,
            caps::DEPRECATE_EOF,
        ] {
            assert!(hs.supports(f), "{f:#x}");
        }
        let m = Greeting::new("5.5.5-10.11.14-MariaDB-gapfill".into(), 1, true, false);
        let hs = Handshake::parse(&m.encode()).unwrap();
        assert!(hs.is_mariadb());
        assert_eq!(hs.version(), "10.11.14-MariaDB-gapfill");
        assert_eq!(hs.auth_plugin_name, "mysql_native_password");
        assert!(!hs.supports(caps::SSL));
    }

    #[test]
    fn nonces_have_no_nul_and_differ() {
        let a = new_nonce();
        assert!(a.iter().all(|b| *b != 0 && *b != b'$' && *b < 128));
        assert_ne!(a, new_nonce());
    }

    fn response(plugin: &str, auth: &[u8], user: &str) -> ClientResponse {
        let caps = caps::PROTOCOL_41
            | caps::SECURE_CONNECTION
            | caps::PLUGIN_AUTH
            | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
            | caps::CONNECT_ATTRS;
        let p = HandshakeResponse {
            capabilities: caps,
            max_packet: 1 << 30,
            charset: 45,
            user,
            auth_response: auth,
            database: None,
            auth_plugin: plugin,
            connect_attrs: &[("_client_name", "libmysql")],
        }
        .encode()
        .unwrap();
        match ClientHello::parse(&p).unwrap() {
            ClientHello::Response(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_ssl_request_and_response() {
        let ssl = encode_ssl_request(caps::PROTOCOL_41, 1 << 24, 45);
        assert!(matches!(
            ClientHello::parse(&ssl).unwrap(),
            ClientHello::SslRequest { .. }
        ));
        let r = response("caching_sha2_password", &[1, 2, 3], "repl");
        assert_eq!(r.user, "repl");
        assert_eq!(r.auth_response, vec![1, 2, 3]);
        assert_eq!(r.auth_plugin, "caching_sha2_password");
        assert!(ClientHello::parse(&ssl[..20]).is_err());
        assert!(ClientHello::parse(&[0; 32]).is_err(), "no PROTOCOL_41");
    }

    fn auth(mariadb: bool, secure: bool, full_only: bool) -> (Greeting, ServerAuth) {
        let g = greeting(mariadb);
        let a = ServerAuth::new("repl", &Password::new("s3cret"), &g, secure, full_only);
        (g, a)
    }

    #[test]
    fn caching_sha2_fast_path() {
        let (g, mut a) = auth(false, false, false);
        let s = scramble_caching_sha2(b"s3cret", &g.nonce);
        let act = a.start(&response("caching_sha2_password", &s, "repl"));
        assert_eq!(act, AuthAction::Accept(vec![vec![1, 3], ok_packet()]));
    }

    #[test]
    fn caching_sha2_full_auth_over_tls_only() {
        let (g, mut a) = auth(false, true, true);
        let s = scramble_caching_sha2(b"s3cret", &g.nonce);
        let act = a.start(&response("caching_sha2_password", &s, "repl"));
        assert_eq!(act, AuthAction::SendAndRead(vec![vec![1, 4]]));
        assert_eq!(a.next(b"s3cret\0"), AuthAction::Accept(vec![ok_packet()]));

        let (_, mut a) = auth(false, true, true);
        a.start(&response("caching_sha2_password", &s, "repl"));
        assert!(matches!(a.next(b"wrong\0"), AuthAction::Refuse(..)));

        // Plain TCP: the replica asks for the public key; refused with a clear message.
        let (g, mut a) = auth(false, false, true);
        let s = scramble_caching_sha2(b"s3cret", &g.nonce);
        assert_eq!(
            a.start(&response("caching_sha2_password", &s, "repl")),
            AuthAction::SendAndRead(vec![vec![1, 4]])
        );
        let AuthAction::Refuse(err, _) = a.next(&[2]) else {
            panic!("accepted without TLS");
        };
        assert!(String::from_utf8_lossy(&err).contains("over TLS only"));
    }

    #[test]
    fn wrong_password_or_user_is_denied() {
        let (_, mut a) = auth(false, false, false);
        let act = a.start(&response("caching_sha2_password", &[7; 32], "repl"));
        let AuthAction::Refuse(err, e) = act else {
            panic!("accepted");
        };
        assert_eq!(&err[..3], &[0xff, 0x15, 0x04]);
        assert!(e.contains("wrong password"));
        let (g, mut a) = auth(false, false, false);
        let s = scramble_caching_sha2(b"s3cret", &g.nonce);
        assert!(matches!(
            a.start(&response("caching_sha2_password", &s, "root")),
            AuthAction::Refuse(..)
        ));
    }

    #[test]
    fn native_password_and_auth_switch() {
        let (g, mut a) = auth(true, false, false);
        let s = scramble_native(b"s3cret", &g.nonce);
        assert_eq!(
            a.start(&response("mysql_native_password", &s, "repl")),
            AuthAction::Accept(vec![ok_packet()])
        );
        // A MySQL replica answers for caching_sha2: switched to native with the same nonce.
        let (g, mut a) = auth(true, false, false);
        let AuthAction::SendAndRead(p) =
            a.start(&response("caching_sha2_password", &[1; 32], "repl"))
        else {
            panic!("no switch");
        };
        assert_eq!(p[0][0], 0xfe);
        assert!(p[0].ends_with(&[&g.nonce[..], &[0]].concat()));
        assert_eq!(
            a.next(&scramble_native(b"s3cret", &g.nonce)),
            AuthAction::Accept(vec![ok_packet()])
        );
    }
}
