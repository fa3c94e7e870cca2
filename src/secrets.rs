//! Secrets the server returns (a created key's `secretKey`) leave through a sink, never
//! through task output, logs or errors.
//!
//! Which response fields are secret is data: the definition marks them `x-secret: true`.

use crate::credentials::{REDACTED, Secret};
use async_trait::async_trait;
use std::fmt;

/// One secret taken out of a response before the response becomes task output.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReturnedSecret {
    /// JSON Pointer of the field in the response body, e.g. `/secretKey`.
    pub field: String,
    /// The `id` of the resource the secret belongs to, when the response has one.
    pub resource_id: Option<String>,
    /// The secret itself.
    pub value: Secret,
}

/// Takes custody of secrets from responses. What [`SecretSink::store`] returns is what the
/// task output shows in the secret's place: a reference the embedder can resolve later (a
/// vault path, a secret-manager ARN), or `<redacted>`.
#[async_trait]
pub trait SecretSink: Send + Sync {
    /// Stores one secret; returns the reference the output shows instead.
    async fn store(&self, secret: ReturnedSecret) -> Result<String, SecretSinkError>;
}

/// The default sink: the secret is dropped and the output says `<redacted>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Redact;

#[async_trait]
impl SecretSink for Redact {
    async fn store(&self, _secret: ReturnedSecret) -> Result<String, SecretSinkError> {
        Ok(REDACTED.to_owned())
    }
}

/// Puts the secret itself in the output. Only for an explicit request to see it (the CLI's
/// `--reveal-secret`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Reveal;

#[async_trait]
impl SecretSink for Reveal {
    async fn store(&self, secret: ReturnedSecret) -> Result<String, SecretSinkError> {
        Ok(secret.value.expose().to_owned())
    }
}

/// A sink could not take a secret. The resource exists; its secret is lost. The message must
/// not contain the secret; the store's own error, if any, is the
/// [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct SecretSinkError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SecretSinkError {
    /// A refusal that says why, e.g. `"vault is sealed"`.
    pub fn new(message: impl Into<String>) -> Self {
        SecretSinkError {
            message: message.into(),
            source: None,
        }
    }

    /// A refusal caused by the store's own error.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SecretSinkError {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl fmt::Display for SecretSinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SecretSinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}
