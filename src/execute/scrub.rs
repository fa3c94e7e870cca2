//! The credential that was sent, removed from everything derived from the answer.
//!
//! A server (or a proxy, or an attacker's endpoint) may reflect request headers into a body,
//! a problem detail or a `Location`. Whatever it echoes becomes task output, an error message
//! or an editor's answer, so the value actually sent is replaced by `<redacted>` in the
//! response's headers and body before anything reads them: in the raw bytes (any text), and
//! again in the parsed JSON (where escapes such as `\u0073k_...` spell it differently).

use crate::credentials::REDACTED;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};

/// Credentials shorter than this are not searched for: replacing every `abc` in an answer
/// would corrupt it, and such a value is no secret worth the name.
const MIN_SCRUBBED_LEN: usize = 6;

/// The secret values a request carried: the credential header's value and, for a bearer
/// token, the token alone.
/// Borrowed from the prepared request, which outlives every attempt.
#[derive(Default)]
pub(super) struct Scrub<'a> {
    secrets: Vec<&'a str>,
}

impl<'a> Scrub<'a> {
    pub fn new(header_value: Option<&'a str>) -> Self {
        let mut secrets: Vec<&str> = Vec::new();
        if let Some(value) = header_value {
            let bare = value.strip_prefix("Bearer ").map(str::trim);
            for secret in [Some(value), bare].into_iter().flatten() {
                if secret.len() >= MIN_SCRUBBED_LEN && !secrets.contains(&secret) {
                    secrets.push(secret);
                }
            }
        }
        // The longer first, so that `Bearer <token>` is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Scrub { secrets }
    }

    fn text(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for secret in &self.secrets {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(secret) {
                out = Some(current.replace(secret, REDACTED));
            }
        }
        out
    }

    /// In a message built from text the server chose (a URL it redirected to, an error).
    pub fn message(&self, text: &str) -> String {
        self.text(text).unwrap_or_else(|| text.to_owned())
    }

    /// Whether a header value holds a secret as written. Values are short, so each place
    /// its first byte occurs is compared, rather than a searcher built for every value.
    fn found_in_value(&self, bytes: &[u8]) -> bool {
        self.secrets.iter().any(|secret| {
            let secret = secret.as_bytes();
            secret.first().is_some_and(|&first| {
                memchr::memchr_iter(first, bytes).any(|at| bytes[at..].starts_with(secret))
            })
        })
    }

    /// In a body as read: copied only when it echoes a secret, which is rare, so that an
    /// answer read in one chunk stays the buffer the connection filled.
    pub fn body(&self, body: &mut bytes::Bytes) {
        if self
            .secrets
            .iter()
            .all(|secret| memchr::memmem::find(body, secret.as_bytes()).is_none())
        {
            return;
        }
        let mut copy = body.to_vec();
        self.bytes(&mut copy);
        *body = copy.into();
    }

    /// In raw bytes, whatever their encoding claims to be.
    pub fn bytes(&self, bytes: &mut Vec<u8>) {
        for secret in &self.secrets {
            let finder = memchr::memmem::Finder::new(secret.as_bytes());
            if finder.find(bytes).is_none() {
                continue;
            }
            let mut out = Vec::with_capacity(bytes.len());
            let mut rest = &bytes[..];
            while let Some(at) = finder.find(rest) {
                out.extend_from_slice(&rest[..at]);
                out.extend_from_slice(REDACTED.as_bytes());
                rest = &rest[at + secret.len()..];
            }
            out.extend_from_slice(rest);
            *bytes = out;
        }
    }

    /// In every header value (a reflected `Location`, a debugging header).
    pub fn headers(&self, headers: &mut HeaderMap) {
        if self.secrets.is_empty() {
            return;
        }
        for value in headers.values_mut() {
            if !self.found_in_value(value.as_bytes()) {
                continue;
            }
            let mut bytes = value.as_bytes().to_vec();
            self.bytes(&mut bytes);
            *value = HeaderValue::from_bytes(&bytes)
                .unwrap_or_else(|_| HeaderValue::from_static(REDACTED));
        }
    }

    /// Whether parsed JSON of these (already scrubbed) bytes can still spell a secret: only
    /// through an escape (`\u0073k_...`, `\/`), so not when the text has no backslash.
    pub fn needs_value_pass(&self, bytes: &[u8]) -> bool {
        !self.secrets.is_empty() && memchr::memchr(b'\\', bytes).is_some()
    }

    /// In every string and key of parsed JSON.
    pub fn value(&self, value: &mut Value) {
        if self.secrets.is_empty() {
            return;
        }
        match value {
            Value::String(text) => {
                if let Some(clean) = self.text(text) {
                    *text = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.value(item)),
            Value::Object(fields) => {
                if fields.keys().any(|key| self.text(key).is_some()) {
                    let old = std::mem::take(fields);
                    let mut clean = Map::with_capacity(old.len());
                    for (key, item) in old {
                        clean.insert(self.text(&key).unwrap_or(key), item);
                    }
                    *fields = clean;
                }
                fields.values_mut().for_each(|item| self.value(item));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_sent_credential_is_replaced_wherever_it_is_echoed() {
        let scrub = Scrub::new(Some("Bearer eyJ.token.sig"));
        let mut body =
            json!({"echo": "auth=Bearer eyJ.token.sig", "eyJ.token.sig": ["x eyJ.token.sig"]});
        scrub.value(&mut body);
        assert_eq!(
            body,
            json!({"echo": "auth=<redacted>", "<redacted>": ["x <redacted>"]})
        );
        let mut bytes = b"key=eyJ.token.sig;eyJ.token.sig".to_vec();
        scrub.bytes(&mut bytes);
        assert_eq!(bytes, b"key=<redacted>;<redacted>");
        let mut headers = HeaderMap::new();
        headers.insert("location", HeaderValue::from_static("/x?k=eyJ.token.sig"));
        scrub.headers(&mut headers);
        assert_eq!(headers["location"], "/x?k=<redacted>");
    }

    /// Every occurrence is replaced, wherever it sits and whatever partial spellings come
    /// before it, and an answer without one is left as it was.
    #[test]
    fn every_echo_is_replaced() {
        let secret = "sk_live_secret";
        let scrub = Scrub::new(Some(secret));
        for len in [0, 1, 100, 20_000] {
            for at in [0, len / 2, len] {
                let mut text = "s".repeat(len);
                text.insert_str(at, &format!("sk_live_s{secret}sk_"));
                let mut bytes = text.clone().into_bytes();
                scrub.bytes(&mut bytes);
                let expected = text.replace(secret, REDACTED);
                assert_eq!(
                    String::from_utf8(bytes).ok(),
                    Some(expected),
                    "{len} at {at}"
                );
                let mut clean = "s".repeat(len).into_bytes();
                scrub.bytes(&mut clean);
                assert_eq!(clean.len(), len);
            }
        }
    }

    #[test]
    fn short_or_absent_credentials_change_nothing() {
        let mut body = json!({"a": "abc"});
        Scrub::new(Some("abc")).value(&mut body);
        Scrub::new(None).value(&mut body);
        assert_eq!(body, json!({"a": "abc"}));
    }
}
