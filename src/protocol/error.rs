//! The one error type of the replication client, [`ProtocolError`].
//!
//! Every variant says what failed and, where a person can act on it, what to do. Server ERR
//! packets are classified here ([`ProtocolError::from_server`]) so callers can tell a broken
//! binlog continuity (the master no longer has what we asked for) from a wrong password or a
//! passing network fault. This file knows nothing about sockets or packets beyond the ERR fields.

use std::time::Duration;

/// Result alias for the protocol module.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;

/// MySQL/MariaDB error codes the client treats specially.
pub mod codes {
    /// ER_ACCESS_DENIED_ERROR: wrong user, host or password.
    pub const ACCESS_DENIED: u16 = 1045;
    /// ER_ACCESS_DENIED_NO_PASSWORD_ERROR.
    pub const ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
    /// ER_SPECIFIC_ACCESS_DENIED_ERROR: a missing privilege such as REPLICATION SLAVE.
    pub const SPECIFIC_ACCESS_DENIED: u16 = 1227;
    /// ER_MASTER_FATAL_ERROR_READING_BINLOG: the dump thread cannot serve the request.
    pub const FATAL_ERROR_READING_BINLOG: u16 = 1236;
    /// ER_UNKNOWN_SYSTEM_VARIABLE.
    pub const UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;
}

/// Everything that can go wrong while talking the replication protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// A packet from the server does not have the layout its type requires.
    #[error("malformed {what} from the server: {detail}")]
    Malformed { what: &'static str, detail: String },

    /// A packet arrived with a sequence id other than the next one.
    #[error(
        "packet sequence out of order: expected {expected}, got {got}; \
         the connection is out of step with the server: reconnect"
    )]
    OutOfOrder { expected: u8, got: u8 },

    /// A logical payload larger than the configured limit.
    #[error(
        "payload of {size} bytes exceeds the client limit of {limit} bytes: \
         raise the maximum packet size in the config"
    )]
    TooLarge { size: usize, limit: usize },

    /// A value we were asked to send does not fit its wire field.
    #[error("cannot encode {what}: {detail}")]
    Encode { what: &'static str, detail: String },

    /// The server rejected the user name or password.
    #[error(
        "access denied for user '{user}' at {addr}: {message}; check the credentials in the config"
    )]
    AccessDenied {
        user: String,
        addr: String,
        message: String,
    },

    /// caching_sha2_password asked for the full password and we have no safe channel for it.
    #[error(
        "server requires TLS or RSA for caching_sha2_password full authentication: enable TLS \
         (tls mode preferred or stricter), configure the server's RSA public key, or allow \
         fetching it from the server"
    )]
    AuthNeedsSecureChannel,

    /// caching_sha2_password asked for the full password inside a TLS session whose
    /// certificate was not verified: sending it would hand it to a man in the middle.
    #[error(
        "{addr} asked for caching_sha2_password full authentication of '{user}' (its cache \
         does not hold this password: cold after a restart or ALTER USER, or the password is \
         wrong), which sends the password, but the server's TLS certificate was not verified \
         (ssl mode preferred or required), so a man in the middle could read it; nothing was \
         sent. Verify the server: \
         --ssl-mode verify-ca (or verify-identity) with --ssl-ca FILE ([capture] ssl_mode and \
         ssl_ca in gapfill.toml); or give its RSA public key (--server-public-key FILE, the \
         server's public_key.pem); or accept the risk with --allow-unverified-tls \
         ([capture] allow_unverified_tls = true)"
    )]
    FullAuthOverUnverifiedTls { addr: String, user: String },

    /// The account uses an authentication plugin this client does not speak.
    #[error(
        "unsupported authentication plugin '{0}': use an account with caching_sha2_password \
         or mysql_native_password"
    )]
    UnsupportedAuthPlugin(String),

    /// The password could not be RSA-encrypted with the server's public key.
    #[error("cannot RSA-encrypt the password with the server's public key: {0}")]
    Rsa(String),

    /// TLS was required but the server did not offer it.
    #[error(
        "server at {addr} does not support TLS but the tls mode requires it: enable TLS on the \
         server or lower the tls mode"
    )]
    TlsUnsupported { addr: String },

    /// Setting up or running TLS failed.
    #[error("TLS {what}: {detail}")]
    Tls { what: &'static str, detail: String },

    /// An ERR packet from the server that has no more specific meaning here.
    #[error("server error {code} ({sql_state}): {message}{}", hint(*.code))]
    Server {
        code: u16,
        sql_state: String,
        message: String,
    },

    /// The master can no longer serve the binlog from where we asked (purged file, GTIDs not in
    /// its binlogs, unknown file). The capture is no longer continuous.
    #[error(
        "binlog continuity broken: the master cannot continue the stream from the requested \
         start ({message}); the capture can no longer be continuous with what it holds: start \
         a new capture from the master's current state and treat the boundary as a gap"
    )]
    ContinuityBreak { code: u16, message: String },

    /// Another replica with our server id (or uuid) connected and the master dropped us.
    #[error(
        "the master dropped this dump because another replica connected with the same server id \
         or uuid ({message}): give each gapfill sidecar its own server id"
    )]
    DuplicateReplicaId { message: String },

    /// Nothing arrived for longer than the heartbeat period allows.
    #[error(
        "no packet from {addr} for {waited:?} (heartbeat period {period:?}): the master is silent \
         or the network is down; reconnect"
    )]
    HeartbeatTimeout {
        addr: String,
        waited: Duration,
        period: Duration,
    },

    /// A non-blocking dump reached the end of the master's binlog (EOF packet).
    #[error("end of the master's binlog reached (non-blocking dump)")]
    EndOfBinlog,

    /// The server closed the connection.
    #[error("connection to {addr} closed by the server {context}")]
    ConnectionClosed { addr: String, context: &'static str },

    /// A well-formed packet that makes no sense at this point of the conversation.
    #[error("unexpected packet {context}: first byte {first:#04x}, {len} bytes")]
    Unexpected {
        context: &'static str,
        first: u8,
        len: usize,
    },

    /// A setup query returned something other than what the client needs.
    #[error("query `{query}` {detail}")]
    Query { query: String, detail: String },

    /// Connecting took longer than the connect timeout.
    #[error("connect to {addr} timed out after {timeout:?}: check the address and the firewall")]
    ConnectTimeout { addr: String, timeout: Duration },

    /// A socket error.
    #[error("I/O error talking to {addr} while {action}: {source}")]
    Io {
        addr: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn hint(code: u16) -> &'static str {
    match code {
        codes::SPECIFIC_ACCESS_DENIED => {
            "; grant the account REPLICATION SLAVE and REPLICATION CLIENT"
        }
        _ => "",
    }
}

impl ProtocolError {
    /// Classify a server ERR packet (access errors during the handshake are mapped by the
    /// connection, which knows the user name).
    pub fn from_server(code: u16, sql_state: &str, message: &str) -> ProtocolError {
        if code == codes::FATAL_ERROR_READING_BINLOG {
            let lower = message.to_ascii_lowercase();
            if lower.contains("same server_uuid") || lower.contains("same server_id") {
                return ProtocolError::DuplicateReplicaId {
                    message: message.to_string(),
                };
            }
            // Too-large events and similar are configuration problems, not lost continuity.
            if !lower.contains("max_allowed_packet") {
                return ProtocolError::ContinuityBreak {
                    code,
                    message: message.to_string(),
                };
            }
        }
        ProtocolError::Server {
            code,
            sql_state: sql_state.to_string(),
            message: message.to_string(),
        }
    }

    /// The server error code, if this error came from an ERR packet.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            ProtocolError::Server { code, .. } | ProtocolError::ContinuityBreak { code, .. } => {
                Some(*code)
            }
            ProtocolError::DuplicateReplicaId { .. } => Some(codes::FATAL_ERROR_READING_BINLOG),
            _ => None,
        }
    }

    /// Whether reconnecting (with back-off) may help: network faults and timeouts, but not bad
    /// credentials, missing privileges or a broken continuity. (`EndOfBinlog` is not an error
    /// to retry but the expected end of a non-blocking dump.)
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProtocolError::Io { .. }
                | ProtocolError::HeartbeatTimeout { .. }
                | ProtocolError::ConnectionClosed { .. }
                | ProtocolError::ConnectTimeout { .. }
                | ProtocolError::OutOfOrder { .. }
        )
    }

    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> ProtocolError {
        ProtocolError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_1236() {
        let e = ProtocolError::from_server(
            1236,
            "HY000",
            "Could not find first log file name in binary log index file",
        );
        assert!(matches!(
            e,
            ProtocolError::ContinuityBreak { code: 1236, .. }
        ));
        let e = ProtocolError::from_server(
            1236,
            "HY000",
            "A replica with the same server_uuid/server_id as this replica has connected to the source",
        );
        assert!(matches!(e, ProtocolError::DuplicateReplicaId { .. }));
        let e = ProtocolError::from_server(
            1236,
            "HY000",
            "log event entry exceeded max_allowed_packet; Increase max_allowed_packet on source",
        );
        assert!(matches!(e, ProtocolError::Server { code: 1236, .. }));
        let e = ProtocolError::from_server(1227, "42000", "Access denied");
        assert!(e.to_string().contains("REPLICATION SLAVE"));
    }
}
