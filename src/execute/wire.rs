//! The request in wire form, shared by every attempt, and a response as read from the wire.

use super::scrub::Scrub;
use crate::endpoint::{Endpoint, Prepared};
use crate::error::{ErrorKind, TaskError};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32};

/// A prepared request in wire form, shared by every attempt.
pub(super) struct Outgoing<'a> {
    pub endpoint: &'a Endpoint,
    pub prepared: &'a Prepared,
    pub method: reqwest::Method,
    /// The URL, parsed once (by the destination check when it could).
    pub url: reqwest::Url,
    /// The URL and headers for the first attempt, built with the rest and taken by it (no
    /// copy of the header map); a retry copies the URL and builds the headers again.
    first: Mutex<Option<(reqwest::Url, HeaderMap)>>,
    /// Serialized once; each attempt shares the same bytes.
    pub body: Bytes,
    /// The credential sent, to be removed from whatever the answer echoes.
    pub scrub: Scrub<'a>,
}

impl<'a> Outgoing<'a> {
    pub fn new(endpoint: &'a Endpoint, prepared: &'a Prepared) -> Result<Self, TaskError> {
        let body = match (&prepared.body_json, &prepared.request.body) {
            (Some(written), _) => written.clone(),
            (None, Some(body)) => {
                // Most bodies fit at once. A `Value` always has a JSON form.
                let mut bytes = Vec::with_capacity(512);
                crate::util::json::write_value(&mut bytes, body);
                Bytes::from(bytes)
            }
            (None, None) => Bytes::new(),
        };
        let method =
            reqwest::Method::from_bytes(prepared.request.method.as_bytes()).map_err(|_| {
                TaskError::new(
                    ErrorKind::InvalidStep,
                    "the definition's method is not a valid HTTP method",
                )
            })?;
        let url = match &prepared.url {
            Some(url) => url.clone(),
            None => reqwest::Url::parse(&prepared.request.url).map_err(|error| {
                TaskError::new(
                    ErrorKind::InvalidStep,
                    format!("the URL cannot be sent: {error}"),
                )
                .with_source(error)
            })?,
        };
        let first = Mutex::new(Some((url.clone(), wire_headers(prepared)?)));
        Ok(Outgoing {
            endpoint,
            prepared,
            method,
            url,
            first,
            body,
            scrub: Scrub::new(prepared.credential.as_ref().map(|(_, s)| s.expose())),
        })
    }

    /// The request for one attempt, without a body or timeout.
    pub fn attempt(&self) -> Result<reqwest::Request, TaskError> {
        let taken = self.first.lock().ok().and_then(|mut first| first.take());
        let (url, headers) = match taken {
            Some(first) => first,
            None => (self.url.clone(), wire_headers(self.prepared)?),
        };
        let mut request = reqwest::Request::new(self.method.clone(), url);
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Whether repeating it has the effect of sending it once.
    pub fn idempotent(&self) -> bool {
        is_idempotent(self.method.as_str())
    }
}

/// RFC 9110's idempotent methods: repeating one has the effect of sending it once.
pub(super) fn is_idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE")
}

/// The headers to send: the prepared ones, then the credential, marked sensitive so that
/// even the HTTP stack's `Debug` hides it.
fn wire_headers(prepared: &Prepared) -> Result<HeaderMap, TaskError> {
    let invalid = |what: &str| {
        TaskError::new(
            ErrorKind::InvalidStep,
            format!("{what} cannot be sent as an HTTP header"),
        )
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &prepared.request.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid(name.as_str()))?;
        headers.append(name, value);
    }
    if let Some((name, secret)) = &prepared.credential {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
        let mut value =
            HeaderValue::from_str(secret.expose()).map_err(|_| invalid("the credential"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// What an execution stopped from outside needs to know: how far the attempts got, and whether
/// one was on the wire.
#[derive(Default)]
pub(super) struct Progress {
    pub in_flight: AtomicBool,
    pub attempts: AtomicU32,
}

/// One response as read from the wire, before it becomes output or an error.
pub(super) struct Raw {
    pub status: reqwest::StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Why the body is missing, for an answer classified by its status alone.
    pub unread: Option<String>,
}
