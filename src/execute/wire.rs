//! The request in wire form, shared by every attempt, and a response as read from the wire.

use super::scrub::Scrub;
use crate::endpoint::{Endpoint, Prepared};
use crate::error::{ErrorKind, TaskError};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32};

/// A prepared request in wire form, shared by every attempt.
pub(super) struct Outgoing<'a> {
    pub endpoint: &'a Endpoint,
    pub prepared: &'a Prepared<'a>,
    pub method: reqwest::Method,
    /// The URL, parsed once (by the destination check when it could).
    pub url: Cow<'a, reqwest::Url>,
    /// The URL and headers for the first attempt, built with the rest and taken by it (no
    /// copy of the header map); a retry copies the URL and builds the headers again.
    first: Mutex<Option<(reqwest::Url, HeaderMap)>>,
    /// Serialized once; each attempt shares the same bytes.
    pub body: Bytes,
    /// The credential sent, to be removed from whatever the answer echoes.
    pub scrub: Scrub<'a>,
}

impl<'a> Outgoing<'a> {
    pub fn new(endpoint: &'a Endpoint, prepared: &'a Prepared<'a>) -> Result<Self, TaskError> {
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
            Some(url) => Cow::Borrowed(&**url),
            None => Cow::Owned(reqwest::Url::parse(&prepared.request.url).map_err(|error| {
                TaskError::new(
                    ErrorKind::InvalidStep,
                    format!("the URL cannot be sent: {error}"),
                )
                .with_source(error)
            })?),
        };
        let first = Mutex::new(Some((url.clone().into_owned(), wire_headers(prepared)?)));
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
            None => (self.url.clone().into_owned(), wire_headers(self.prepared)?),
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
/// even the HTTP stack's `Debug` hides it. A template's kept request has the same headers in
/// every run: they are made into a map once, kept in its slot, and copied for each run.
fn wire_headers(prepared: &Prepared<'_>) -> Result<HeaderMap, TaskError> {
    let kept = prepared.wire.and_then(|slot| {
        slot.get()
            .or_else(|| {
                let made = WireForm::new(prepared).ok()?;
                Some(slot.get_or_init(|| Box::new(made)))
            })
            .and_then(|kept| kept.downcast_ref::<WireForm>())
    });
    let mut headers = match kept {
        Some(kept) => kept.headers.clone(),
        None => request_headers(prepared)?,
    };
    if let Some((name, secret)) = &prepared.credential {
        let name = match kept.and_then(|kept| kept.credential.as_ref()) {
            Some(kept) if kept.as_str().eq_ignore_ascii_case(name) => kept.clone(),
            _ => HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?,
        };
        let mut value =
            HeaderValue::from_str(secret.expose()).map_err(|_| invalid("the credential"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// What a template's kept request is in wire form: its headers, and the name of the
/// credential header its first run sent.
struct WireForm {
    headers: HeaderMap,
    credential: Option<HeaderName>,
}

impl WireForm {
    fn new(prepared: &Prepared<'_>) -> Result<WireForm, TaskError> {
        Ok(WireForm {
            headers: request_headers(prepared)?,
            credential: prepared
                .credential
                .as_ref()
                .and_then(|(name, _)| HeaderName::from_bytes(name.as_bytes()).ok()),
        })
    }
}

/// The prepared request's own headers (no credential) as the HTTP stack sends them.
fn request_headers(prepared: &Prepared<'_>) -> Result<HeaderMap, TaskError> {
    // Not sized to these: the HTTP stack adds its own (the user agent, the body's length).
    let mut headers = HeaderMap::new();
    for (name, value) in &prepared.request.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(name))?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid(name.as_str()))?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn invalid(what: &str) -> TaskError {
    TaskError::new(
        ErrorKind::InvalidStep,
        format!("{what} cannot be sent as an HTTP header"),
    )
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
    pub body: Bytes,
    /// Why the body is missing, for an answer classified by its status alone.
    pub unread: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Credentials, Secret};
    use crate::util::json::object;
    use serde_json::json;

    /// A template's headers, made once and kept, are the headers its request would be sent
    /// with if made each time, the credential (sensitive) among them.
    #[test]
    fn a_templates_kept_headers_are_those_it_would_make() {
        let endpoint = Endpoint::builder().build().expect("endpoint");
        let template = endpoint.template(object(json!({
            "organizationId": "org-1",
            "body": { "description": "key ${workflow.input.n}" }
        })));
        let state = object(json!({ "workflow": { "input": { "n": 1 } } }));
        let credentials = || Some(Credentials::ApiKey(Secret::new("sk_test_wire_form")));
        let whole = template.prepare(&state, credentials()).expect("whole");
        assert!(whole.wire.is_none());
        let in_parts = template.prepare(&state, credentials()).expect("in parts");
        assert!(in_parts.wire.is_some());
        let made = wire_headers(&whole).expect("made");
        let first = wire_headers(&in_parts).expect("first, kept");
        let again = wire_headers(&in_parts).expect("again, from the kept");
        assert!(in_parts.wire.is_some_and(|slot| slot.get().is_some()));
        assert_eq!(first, made);
        assert_eq!(again, made);
        assert!(made.len() >= 2, "{made:?}");
        let credential = again.get("reb-apikey").expect("the credential header");
        assert!(credential.is_sensitive());
        assert_eq!(credential, "sk_test_wire_form");
        // Other credentials in a later run: the kept headers take them, not the first ones.
        let bearer = template
            .prepare(&state, Some(Credentials::Bearer(Secret::new("jwt.a.b.c"))))
            .expect("bearer");
        assert!(bearer.wire.is_some());
        let headers = wire_headers(&bearer).expect("bearer headers");
        assert!(headers.get("reb-apikey").is_none(), "{headers:?}");
        assert_eq!(
            headers.get("authorization").map(HeaderValue::is_sensitive),
            Some(true)
        );
    }
}
