//! Credentials come from configuration, never from step parameters, and never print.

use std::fmt;

/// Environment variable holding a Rebilly secret API key, sent as `REB-APIKEY`.
pub const API_KEY_ENV: &str = "REBILLY_API_KEY";
/// Environment variable holding a JWT, sent as `Authorization: Bearer`.
pub const JWT_ENV: &str = "REBILLY_JWT";

/// What every report, log line and `Debug` output shows instead of a secret.
pub const REDACTED: &str = "<redacted>";

/// A secret string. Its `Debug` and `Display` print `<redacted>`; only [`Secret::expose`]
/// gives the value, so every place that reveals one is greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// A secret API key, sent in the definition's API-key header (`REB-APIKEY`).
    ApiKey(Secret),
    /// A JSON Web Token, sent as `Authorization: Bearer <token>`.
    Bearer(Secret),
}

impl Credentials {
    /// Reads `REBILLY_API_KEY`, else `REBILLY_JWT`; `None` when neither is set and non-empty.
    pub fn from_env() -> Option<Credentials> {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        read(API_KEY_ENV)
            .map(|key| Credentials::ApiKey(Secret::new(key)))
            .or_else(|| read(JWT_ENV).map(|jwt| Credentials::Bearer(Secret::new(jwt))))
    }

    /// The environment variable a copy-pasteable curl line refers to for this kind.
    pub(crate) fn env_var(&self) -> &'static str {
        match self {
            Credentials::ApiKey(_) => API_KEY_ENV,
            Credentials::Bearer(_) => JWT_ENV,
        }
    }
}

/// Where an execution gets its credentials: the CLI reads the environment, an embedder plugs
/// in its own store. Asked once per execution, so a rotated key is picked up.
pub trait CredentialsSource: Send + Sync {
    /// The credentials to send, or `None` when none are configured.
    fn credentials(&self) -> Option<Credentials>;
}

impl CredentialsSource for Credentials {
    fn credentials(&self) -> Option<Credentials> {
        Some(self.clone())
    }
}

impl CredentialsSource for Option<Credentials> {
    fn credentials(&self) -> Option<Credentials> {
        self.clone()
    }
}

/// Credentials from `REBILLY_API_KEY`, else `REBILLY_JWT`, read at each execution.
#[derive(Debug, Clone, Copy, Default)]
pub struct FromEnv;

impl CredentialsSource for FromEnv {
    fn credentials(&self) -> Option<Credentials> {
        Credentials::from_env()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let credentials = Credentials::ApiKey(Secret::new("sk_canary_123"));
        assert!(!format!("{credentials:?}").contains("canary"));
        assert!(!format!("{}", Secret::new("sk_canary_123")).contains("canary"));
        assert_eq!(Secret::new("x").expose(), "x");
    }
}
