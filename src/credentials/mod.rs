//! Where database credentials come from: never the command line.
//!
//! Owns resolving a user and password for the servers gapfill talks to, in this order: a
//! credentials file given explicitly (must not be readable by group or others), an
//! orchestrator configuration (`MySQLTopologyUser`/`MySQLTopologyPassword`, or the ini file named
//! by `MySQLTopologyCredentialsConfigFile`), then the `GAPFILL_USER`/`GAPFILL_PASSWORD`
//! environment. Arguments on argv show in `ps` for every user of the host, so no command takes a
//! password argument. It does not connect anywhere.

use std::path::{Path, PathBuf};

use crate::protocol::Password;

/// A user and its password; the password never prints.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: Password,
    /// Where they came from, for messages (never the secret).
    pub source: String,
}

/// Why no usable credentials were found.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read credentials file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "credentials file {path} is readable by group or others (mode {mode:o}): \
         run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("credentials file {path} has no {key}= line (expected `user=` and `password=`)")]
    Missing { path: PathBuf, key: &'static str },
    #[error("orchestrator config {path} is not valid JSON: {detail}")]
    OrchestratorJson { path: PathBuf, detail: String },
    #[error(
        "no credentials: give a credentials file (user=..., password=..., mode 0600), an \
         orchestrator.conf.json with MySQLTopologyUser/MySQLTopologyPassword, or set \
         GAPFILL_USER and GAPFILL_PASSWORD"
    )]
    NoneFound,
}

/// Read `user=`/`password=` from an ini-style file (`[client]` sections and `#`/`;` comments
/// allowed, as in `.my.cnf` or orchestrator's `MySQLTopologyCredentialsConfigFile`).
pub fn from_file(path: &Path) -> Result<Credentials, CredentialsError> {
    let meta = std::fs::metadata(path).map_err(|source| CredentialsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CredentialsError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_ini(&text, path)
}

fn parse_ini(text: &str, path: &Path) -> Result<Credentials, CredentialsError> {
    let mut user = None;
    let mut password = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';', '[']) {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
        match k.trim() {
            "user" => user = Some(v.to_string()),
            "password" => password = Some(v.to_string()),
            _ => {}
        }
    }
    let missing = |key| CredentialsError::Missing {
        path: path.to_path_buf(),
        key,
    };
    Ok(Credentials {
        user: user.ok_or_else(|| missing("user"))?,
        password: Password::new(password.ok_or_else(|| missing("password"))?),
        source: path.display().to_string(),
    })
}

/// Credentials from an orchestrator configuration file.
pub fn from_orchestrator(path: &Path) -> Result<Credentials, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| CredentialsError::OrchestratorJson {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if let Some(file) = v
        .get("MySQLTopologyCredentialsConfigFile")
        .and_then(|f| f.as_str())
        .filter(|f| !f.is_empty())
    {
        return from_file(Path::new(file));
    }
    let user = v.get("MySQLTopologyUser").and_then(|u| u.as_str());
    let password = v.get("MySQLTopologyPassword").and_then(|p| p.as_str());
    match (user, password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Credentials {
            user: u.to_string(),
            password: Password::new(p),
            source: format!("{} (MySQLTopologyUser)", path.display()),
        }),
        _ => Err(CredentialsError::Missing {
            path: path.to_path_buf(),
            key: "MySQLTopologyUser",
        }),
    }
}

/// Credentials from `GAPFILL_USER` and `GAPFILL_PASSWORD`.
pub fn from_env() -> Option<Credentials> {
    let user = std::env::var("GAPFILL_USER").ok()?;
    let password = std::env::var("GAPFILL_PASSWORD").ok()?;
    Some(Credentials {
        user,
        password: Password::new(password),
        source: "GAPFILL_USER/GAPFILL_PASSWORD".into(),
    })
}

/// Resolve credentials in the documented order.
pub fn resolve(
    file: Option<&Path>,
    orchestrator_conf: Option<&Path>,
) -> Result<Credentials, CredentialsError> {
    if let Some(f) = file {
        return from_file(f);
    }
    if let Some(o) = orchestrator_conf {
        return from_orchestrator(o);
    }
    from_env().ok_or(CredentialsError::NoneFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_must_be_private_and_complete() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("creds");
        std::fs::write(
            &p,
            "[client]\n# comment\nuser = repl\npassword=\"s3cr=t\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            from_file(&p),
            Err(CredentialsError::TooOpen { mode: 0o644, .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = from_file(&p).unwrap();
        assert_eq!(c.user, "repl");
        assert_eq!(c.password.expose(), "s3cr=t");
        assert!(!format!("{c:?}").contains("s3cr"));
        std::fs::write(&p, "user=x\n").unwrap();
        assert!(matches!(
            from_file(&p),
            Err(CredentialsError::Missing {
                key: "password",
                ..
            })
        ));
    }

    #[test]
    fn orchestrator_config() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("orchestrator.conf.json");
        std::fs::write(
            &p,
            r#"{"MySQLTopologyUser": "orc", "MySQLTopologyPassword": "pw", "SlaveBinLogEnableMaxLagSeconds": 300}"#,
        )
        .unwrap();
        let c = from_orchestrator(&p).unwrap();
        assert_eq!((c.user.as_str(), c.password.expose()), ("orc", "pw"));
        std::fs::write(&p, "{not json").unwrap();
        assert!(matches!(
            from_orchestrator(&p),
            Err(CredentialsError::OrchestratorJson { .. })
        ));
    }
}
