//! Authentication plugins, sans-IO: the scramble computations and the small state machine that
//! answers the server's auth packets after HandshakeResponse41.
//!
//! Supported: `mysql_native_password` (SHA1 scramble) and `caching_sha2_password` (SHA256
//! fast path; full authentication with the cleartext password over TLS, or the password
//! XOR-ed with the nonce and RSA-OAEP(SHA1) encrypted with the server's public key over plain
//! TCP), and the auth switch request (0xFE). MariaDB's ed25519 and other plugins are not.
//! The password lives in [`Password`], whose `Debug` never shows it. Sockets are not here.

use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::error::{ProtocolError, Result};
use super::result::ErrPacket;
use super::wire::Reader;

pub const MYSQL_NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// A password. Its `Debug` output is redacted, so it can sit in config structs that get logged.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }

    /// The secret itself; call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

fn xor_into(a: &mut [u8], b: &[u8]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= *y;
    }
}

/// `SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))`; empty for an empty password.
pub fn scramble_native(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(stage2);
    let mut out = h.finalize().to_vec();
    xor_into(&mut out, &stage1);
    out
}

/// `SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)`; empty for an empty password.
pub fn scramble_caching_sha2(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha256::digest(password);
    let stage2 = Sha256::digest(stage1);
    let mut h = Sha256::new();
    h.update(stage2);
    h.update(nonce);
    let mut out = h.finalize().to_vec();
    xor_into(&mut out, &stage1);
    out
}

/// `password + NUL`, XOR-ed byte by byte with the nonce repeated: the plaintext of the RSA step.
pub fn xor_password_with_nonce(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(password.len() + 1);
    buf.extend_from_slice(password);
    buf.push(0);
    if !nonce.is_empty() {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= nonce[i % nonce.len()];
        }
    }
    buf
}

/// RSA-OAEP(SHA1) encryption of `xor_password_with_nonce` with a PEM (SubjectPublicKeyInfo)
/// public key, as caching_sha2_password full authentication expects.
pub fn encrypt_password_rsa(
    password: &[u8],
    nonce: &[u8],
    public_key_pem: &[u8],
) -> Result<Vec<u8>> {
    let pem = std::str::from_utf8(public_key_pem)
        .map_err(|_| ProtocolError::Rsa("public key is not PEM text".into()))?;
    let key = RsaPublicKey::from_public_key_pem(pem.trim_end_matches('\0').trim())
        .or_else(|_| {
            use rsa::pkcs1::DecodeRsaPublicKey;
            RsaPublicKey::from_pkcs1_pem(pem.trim_end_matches('\0').trim())
        })
        .map_err(|e| ProtocolError::Rsa(format!("cannot parse the public key PEM: {e}")))?;
    let plain = xor_password_with_nonce(password, nonce);
    key.encrypt(&mut rand::thread_rng(), Oaep::new::<Sha1>(), &plain)
        .map_err(|e| ProtocolError::Rsa(e.to_string()))
}

/// The initial auth response of `plugin` (sent in HandshakeResponse41 or after an auth switch).
pub fn initial_response(plugin: &str, password: &Password, nonce: &[u8]) -> Result<Vec<u8>> {
    let pw = password.expose().as_bytes();
    match plugin {
        MYSQL_NATIVE_PASSWORD => Ok(scramble_native(pw, nonce)),
        CACHING_SHA2_PASSWORD => Ok(scramble_caching_sha2(pw, nonce)),
        other => Err(ProtocolError::UnsupportedAuthPlugin(other.to_string())),
    }
}

/// What the connection must do after feeding the authenticator one server packet.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthStep {
    /// Authentication succeeded (the server sent OK).
    Done,
    /// Send this payload as the next packet of the exchange, then read again.
    Send(Vec<u8>),
    /// Nothing to send; read the next server packet.
    Read,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// HandshakeResponse41 (or an auth switch response) sent; waiting for the verdict.
    Started,
    /// caching_sha2: asked the server for its public key (0x02).
    AwaitingPublicKey,
    /// Sent the full-auth password; only OK or ERR may follow.
    SentPassword,
}

/// Sans-IO client side of the authentication exchange.
#[derive(Debug)]
pub struct Authenticator {
    plugin: String,
    nonce: Vec<u8>,
    password: Password,
    tls: bool,
    secure_channel: bool,
    server_public_key: Option<Vec<u8>>,
    allow_public_key_retrieval: bool,
    state: State,
    user: String,
    addr: String,
}

/// Inputs of [`Authenticator::new`].
#[derive(Debug, Clone)]
pub struct AuthParams<'a> {
    pub user: &'a str,
    /// For error messages only.
    pub addr: &'a str,
    pub password: &'a Password,
    /// The session runs over TLS.
    pub tls: bool,
    /// The password may cross in clear (caching_sha2 full authentication): TLS whose
    /// certificate was verified, or an unverified one the user accepted.
    pub secure_channel: bool,
    /// The server's RSA public key (PEM), if configured.
    pub server_public_key: Option<&'a [u8]>,
    /// May ask the server for its public key over an unencrypted connection.
    pub allow_public_key_retrieval: bool,
}

impl Authenticator {
    /// Start with the plugin and nonce from the server's handshake.
    pub fn new(plugin: &str, nonce: &[u8], p: &AuthParams<'_>) -> Authenticator {
        Authenticator {
            plugin: plugin.to_string(),
            nonce: nonce.to_vec(),
            password: p.password.clone(),
            tls: p.tls,
            secure_channel: p.secure_channel,
            server_public_key: p.server_public_key.map(<[u8]>::to_vec),
            allow_public_key_retrieval: p.allow_public_key_retrieval,
            state: State::Started,
            user: p.user.to_string(),
            addr: p.addr.to_string(),
        }
    }

    /// The plugin the response in HandshakeResponse41 is for. An unknown default plugin of the
    /// server is answered with caching_sha2 (the server then switches us to the account's one);
    /// no plugin name at all means mysql_native_password.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The auth response for HandshakeResponse41.
    pub fn initial_response(&mut self) -> Result<Vec<u8>> {
        if self.plugin.is_empty() {
            // A server without CLIENT_PLUGIN_AUTH speaks only the native scramble.
            self.plugin = MYSQL_NATIVE_PASSWORD.to_string();
        } else if self.plugin != MYSQL_NATIVE_PASSWORD && self.plugin != CACHING_SHA2_PASSWORD {
            // Let the server switch us to what the account really uses.
            self.plugin = CACHING_SHA2_PASSWORD.to_string();
        }
        initial_response(&self.plugin, &self.password, &self.nonce)
    }

    /// Feed one server packet of the auth exchange.
    pub fn handle(&mut self, payload: &[u8]) -> Result<AuthStep> {
        match payload.first() {
            Some(0x00) => Ok(AuthStep::Done),
            Some(0xff) => Err(self.err(payload)),
            Some(0xfe) if self.state != State::AwaitingPublicKey => self.switch(payload),
            Some(0x01) => self.more_data(&payload[1..]),
            _ => Err(ProtocolError::Unexpected {
                context: "during authentication",
                first: payload.first().copied().unwrap_or(0),
                len: payload.len(),
            }),
        }
    }

    fn err(&self, payload: &[u8]) -> ProtocolError {
        match ErrPacket::parse(payload) {
            Ok(e)
                if e.code == super::error::codes::ACCESS_DENIED
                    || e.code == super::error::codes::ACCESS_DENIED_NO_PASSWORD =>
            {
                ProtocolError::AccessDenied {
                    user: self.user.clone(),
                    addr: self.addr.clone(),
                    message: e.message,
                }
            }
            Ok(e) => e.into_error(),
            Err(e) => e,
        }
    }

    fn switch(&mut self, payload: &[u8]) -> Result<AuthStep> {
        const W: &str = "auth switch request";
        let mut r = Reader::new(&payload[1..], W);
        if r.is_empty() {
            return Err(ProtocolError::UnsupportedAuthPlugin(
                "mysql_old_password (pre-4.1)".into(),
            ));
        }
        let plugin = String::from_utf8_lossy(r.nul_or_eof_bytes()).into_owned();
        let data = r.rest();
        let nonce = data.strip_suffix(&[0]).unwrap_or(data);
        tracing::debug!(plugin = %plugin, "server requested an authentication plugin switch");
        self.plugin = plugin;
        self.nonce = nonce.to_vec();
        self.state = State::Started;
        Ok(AuthStep::Send(initial_response(
            &self.plugin,
            &self.password,
            &self.nonce,
        )?))
    }

    fn more_data(&mut self, data: &[u8]) -> Result<AuthStep> {
        if self.plugin != CACHING_SHA2_PASSWORD {
            return Err(ProtocolError::Unexpected {
                context: "auth more data for a plugin that sends none",
                first: 0x01,
                len: data.len() + 1,
            });
        }
        match (self.state, data) {
            (State::Started, [0x03]) => {
                tracing::debug!("caching_sha2_password fast authentication succeeded");
                Ok(AuthStep::Read)
            }
            (State::Started, [0x04]) => self.full_auth(),
            (State::AwaitingPublicKey, pem) => {
                let pem = pem.to_vec();
                let out =
                    encrypt_password_rsa(self.password.expose().as_bytes(), &self.nonce, &pem)?;
                self.server_public_key = Some(pem);
                self.state = State::SentPassword;
                Ok(AuthStep::Send(out))
            }
            _ => Err(ProtocolError::malformed(
                "caching_sha2_password auth data",
                format!("unexpected {} bytes in state {:?}", data.len(), self.state),
            )),
        }
    }

    fn full_auth(&mut self) -> Result<AuthStep> {
        tracing::debug!(
            tls = self.secure_channel,
            "caching_sha2_password full authentication"
        );
        if self.secure_channel {
            let mut out = self.password.expose().as_bytes().to_vec();
            out.push(0);
            self.state = State::SentPassword;
            return Ok(AuthStep::Send(out));
        }
        if let Some(pem) = &self.server_public_key {
            let out = encrypt_password_rsa(self.password.expose().as_bytes(), &self.nonce, pem)?;
            self.state = State::SentPassword;
            return Ok(AuthStep::Send(out));
        }
        if self.allow_public_key_retrieval {
            self.state = State::AwaitingPublicKey;
            return Ok(AuthStep::Send(vec![0x02]));
        }
        if self.tls {
            return Err(ProtocolError::FullAuthOverUnverifiedTls {
                addr: self.addr.clone(),
                user: self.user.clone(),
            });
        }
        Err(ProtocolError::AuthNeedsSecureChannel)
    }

    /// The server public key learned during the exchange (to configure it and skip a round
    /// trip next time).
    pub fn server_public_key(&self) -> Option<&[u8]> {
        self.server_public_key.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;

    const PW: &[u8] = b"gapfill-test-pw";
    const PUBLIC_PEM: &[u8] = include_bytes!("../../tests/fixtures/protocol/test_rsa_public.pem");
    const PRIVATE_PEM: &str = include_str!("../../tests/fixtures/protocol/test_rsa_private.pem");

    fn nonce() -> Vec<u8> {
        (1..=20).collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // Expected values computed independently with Python's hashlib (see the fixtures README).
    #[test]
    fn native_scramble_vector() {
        assert_eq!(
            hex(&scramble_native(PW, &nonce())),
            "84fa8a95d12b9b89b98cfa2277946496128e2396"
        );
        assert!(scramble_native(b"", &nonce()).is_empty());
    }

    #[test]
    fn caching_sha2_scramble_vector() {
        assert_eq!(
            hex(&scramble_caching_sha2(PW, &nonce())),
            "79f350b3ced9f7d5e91af43d5dd63effc5717f16bed8a8b87a765d01412b68bd"
        );
        assert!(scramble_caching_sha2(b"", &nonce()).is_empty());
    }

    #[test]
    fn xor_vector() {
        assert_eq!(
            hex(&xor_password_with_nonce(PW, &nonce())),
            "666373626c6a6b257d6f7878207e7810"
        );
    }

    #[test]
    fn rsa_oaep_round_trip() {
        let ct = encrypt_password_rsa(PW, &nonce(), PUBLIC_PEM).unwrap();
        assert_eq!(ct.len(), 256);
        let key = RsaPrivateKey::from_pkcs8_pem(PRIVATE_PEM).unwrap();
        let plain = key.decrypt(Oaep::new::<Sha1>(), &ct).unwrap();
        assert_eq!(plain, xor_password_with_nonce(PW, &nonce()));
        assert!(encrypt_password_rsa(PW, &nonce(), b"not a key").is_err());
    }

    fn params(pw: &Password, tls: bool, key: Option<&'static [u8]>, fetch: bool) -> Authenticator {
        params_tls(pw, tls, tls, key, fetch)
    }

    /// `tls`: the session is TLS; `secure`: its certificate was verified (or accepted).
    fn params_tls(
        pw: &Password,
        tls: bool,
        secure: bool,
        key: Option<&'static [u8]>,
        fetch: bool,
    ) -> Authenticator {
        Authenticator::new(
            CACHING_SHA2_PASSWORD,
            &nonce(),
            &AuthParams {
                user: "u",
                addr: "h:1",
                password: pw,
                tls,
                secure_channel: secure,
                server_public_key: key,
                allow_public_key_retrieval: fetch,
            },
        )
    }

    #[test]
    fn no_cleartext_password_over_unverified_tls() {
        let pw = Password::new("gapfill-test-pw");
        // TLS whose certificate was not verified: refused, nothing to send, the way out named.
        let mut a = params_tls(&pw, true, false, None, false);
        let e = a.handle(&[0x01, 0x04]).unwrap_err();
        assert!(
            matches!(e, ProtocolError::FullAuthOverUnverifiedTls { .. }),
            "{e}"
        );
        let msg = e.to_string();
        for want in [
            "verify-ca",
            "--ssl-ca",
            "--server-public-key",
            "--allow-unverified-tls",
        ] {
            assert!(msg.contains(want), "{msg}");
        }
        assert!(!msg.contains("gapfill-test-pw"));
        // A configured RSA key: the password travels encrypted to that key, not in clear.
        let mut a = params_tls(&pw, true, false, Some(PUBLIC_PEM), false);
        match a.handle(&[0x01, 0x04]).unwrap() {
            AuthStep::Send(ct) => {
                assert_eq!(ct.len(), 256);
                assert!(!ct.windows(15).any(|w| w == b"gapfill-test-pw"));
            }
            other => panic!("{other:?}"),
        }
        // The fast path never needs the password itself.
        let mut a = params_tls(&pw, true, false, None, false);
        assert_eq!(a.initial_response().unwrap().len(), 32);
        assert_eq!(a.handle(&[0x01, 0x03]).unwrap(), AuthStep::Read);
    }

    #[test]
    fn caching_sha2_fast_path() {
        let pw = Password::new("gapfill-test-pw");
        let mut a = params(&pw, false, None, false);
        assert_eq!(a.initial_response().unwrap().len(), 32);
        assert_eq!(a.handle(&[0x01, 0x03]).unwrap(), AuthStep::Read);
        assert_eq!(a.handle(&[0x00, 0, 0, 2, 0, 0, 0]).unwrap(), AuthStep::Done);
    }

    #[test]
    fn caching_sha2_full_auth_paths() {
        let pw = Password::new("gapfill-test-pw");
        // TLS: cleartext + NUL.
        let mut a = params(&pw, true, None, false);
        assert_eq!(
            a.handle(&[0x01, 0x04]).unwrap(),
            AuthStep::Send(b"gapfill-test-pw\0".to_vec())
        );
        // Plain, no key, no retrieval: a clear error.
        let mut a = params(&pw, false, None, false);
        let e = a.handle(&[0x01, 0x04]).unwrap_err();
        assert!(e.to_string().contains("requires TLS or RSA"));
        // Plain with retrieval: ask for the key, then encrypt with it.
        let mut a = params(&pw, false, None, true);
        assert_eq!(a.handle(&[0x01, 0x04]).unwrap(), AuthStep::Send(vec![0x02]));
        let mut key_packet = vec![0x01];
        key_packet.extend_from_slice(PUBLIC_PEM);
        match a.handle(&key_packet).unwrap() {
            AuthStep::Send(ct) => assert_eq!(ct.len(), 256),
            other => panic!("{other:?}"),
        }
        assert_eq!(a.server_public_key(), Some(PUBLIC_PEM));
        // Plain with a configured key: encrypt at once.
        let mut a = params(&pw, false, Some(PUBLIC_PEM), false);
        assert!(matches!(a.handle(&[0x01, 0x04]).unwrap(), AuthStep::Send(ct) if ct.len() == 256));
    }

    #[test]
    fn auth_switch_to_native() {
        let pw = Password::new("gapfill-test-pw");
        let mut a = params(&pw, false, None, false);
        let mut sw = vec![0xfe];
        sw.extend_from_slice(b"mysql_native_password\0");
        sw.extend_from_slice(&nonce());
        sw.push(0);
        match a.handle(&sw).unwrap() {
            AuthStep::Send(r) => assert_eq!(hex(&r), "84fa8a95d12b9b89b98cfa2277946496128e2396"),
            other => panic!("{other:?}"),
        }
        assert_eq!(a.plugin(), MYSQL_NATIVE_PASSWORD);
        let mut sw = vec![0xfe];
        sw.extend_from_slice(b"client_ed25519\0abc");
        assert!(matches!(
            a.handle(&sw),
            Err(ProtocolError::UnsupportedAuthPlugin(p)) if p == "client_ed25519"
        ));
    }

    #[test]
    fn default_plugin_fallbacks() {
        let pw = Password::new("gapfill-test-pw");
        let p = AuthParams {
            user: "u",
            addr: "h:1",
            password: &pw,
            tls: false,
            secure_channel: false,
            server_public_key: None,
            allow_public_key_retrieval: false,
        };
        let mut a = Authenticator::new("", &nonce(), &p);
        assert_eq!(
            hex(&a.initial_response().unwrap()),
            "84fa8a95d12b9b89b98cfa2277946496128e2396"
        );
        assert_eq!(a.plugin(), MYSQL_NATIVE_PASSWORD);
        let mut a = Authenticator::new("authentication_ldap_sasl", &nonce(), &p);
        assert_eq!(a.initial_response().unwrap().len(), 32);
        assert_eq!(a.plugin(), CACHING_SHA2_PASSWORD);
    }

    #[test]
    fn access_denied_names_user() {
        let pw = Password::new("x");
        let mut a = params(&pw, false, None, false);
        let mut err = vec![0xff, 0x15, 0x04, b'#'];
        err.extend_from_slice(b"28000Access denied for user 'u'@'localhost' (using password: YES)");
        let e = a.handle(&err).unwrap_err();
        assert!(matches!(e, ProtocolError::AccessDenied { .. }));
        let s = e.to_string();
        assert!(
            s.contains("'u'") && s.contains("check the credentials"),
            "{s}"
        );
    }

    #[test]
    fn password_debug_is_redacted() {
        let pw = Password::new("hunter2");
        assert_eq!(format!("{pw:?}"), "Password(***)");
    }
}
