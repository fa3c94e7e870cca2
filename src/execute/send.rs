//! One attempt on the wire: the prepared request in wire form, sent, and its response read
//! within the size limit.

use super::classify;
use crate::endpoint::{Endpoint, Prepared};
use crate::error::{ErrorKind, TaskError};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::Duration;

/// A prepared request in wire form, shared by every attempt.
pub(super) struct Outgoing<'a> {
    pub endpoint: &'a Endpoint,
    pub prepared: &'a Prepared,
    method: reqwest::Method,
    headers: HeaderMap,
    /// Serialized once; each attempt shares the same bytes.
    body: Bytes,
}

impl<'a> Outgoing<'a> {
    pub fn new(endpoint: &'a Endpoint, prepared: &'a Prepared) -> Result<Self, TaskError> {
        let body = match &prepared.request.body {
            Some(body) => serde_json::to_vec(body).map_err(|error| {
                TaskError::new(
                    ErrorKind::InvalidStep,
                    format!("the body cannot be written as JSON: {error}"),
                )
                .with_source(error)
            })?,
            None => Vec::new(),
        };
        let method =
            reqwest::Method::from_bytes(prepared.request.method.as_bytes()).map_err(|_| {
                TaskError::new(
                    ErrorKind::InvalidStep,
                    "the definition's method is not a valid HTTP method",
                )
            })?;
        Ok(Outgoing {
            endpoint,
            prepared,
            method,
            headers: wire_headers(prepared)?,
            body: Bytes::from(body),
        })
    }

    /// RFC 9110's idempotent methods: repeating one has the effect of sending it once.
    pub fn idempotent(&self) -> bool {
        matches!(
            self.method,
            reqwest::Method::GET
                | reqwest::Method::HEAD
                | reqwest::Method::OPTIONS
                | reqwest::Method::PUT
                | reqwest::Method::DELETE
        )
    }
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
}

/// Sends one attempt and reads the whole response, refusing a body over `max_bytes` (by its
/// declared length before reading, or as soon as the chunks read pass it). `embedder_timeout`
/// is set when the client is the embedder's: its per-attempt timeout, and a sign that the
/// client may follow redirects.
pub(super) async fn once(
    client: &reqwest::Client,
    request: &Outgoing<'_>,
    embedder_timeout: Option<Duration>,
    max_bytes: usize,
) -> Result<Raw, TaskError> {
    let url = &request.prepared.request.url;
    let mut builder = client
        .request(request.method.clone(), url)
        .headers(request.headers.clone())
        .body(request.body.clone());
    if let Some(timeout) = embedder_timeout {
        builder = builder.timeout(timeout);
    }
    let mut response = builder
        .send()
        .await
        .map_err(|error| classify::transport(error, false))?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    if embedder_timeout.is_some() && reqwest::Url::parse(url).ok().as_ref() != Some(response.url())
    {
        return Err(classify::followed_redirect(
            request.endpoint,
            status,
            &headers,
            response.url().as_str(),
        ));
    }
    let too_large = |headers: &HeaderMap| {
        TaskError::new(
            ErrorKind::ResponseTooLarge,
            format!("the {status} response body is larger than {max_bytes} bytes; it was not read"),
        )
        .with_response(classify::response_output(status, headers, Value::Null))
    };
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(too_large(&headers));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max_bytes {
                    return Err(too_large(&headers));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) => return Err(classify::transport(error, true)),
        }
    }
    Ok(Raw {
        status,
        headers,
        body,
    })
}
