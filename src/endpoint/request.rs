//! The request as it is (or would be) sent, and the same request as a curl command.

use crate::credentials::REDACTED;
use crate::definition::AuthScheme;
use crate::util::json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ops::Range;

/// The request that is (or would be) sent. It never holds a credential's value: the
/// credential header, when shown, says `<redacted>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct HttpRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers in the order they are sent, as a JSON object.
    #[serde(with = "header_map")]
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub headers: Vec<(String, String)>,
    /// The JSON body, if the operation has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub body: Option<Value>,
}

impl HttpRequest {
    /// Appends the request as compact JSON, the bytes `serde_json::to_writer` gives (see
    /// [`TestReport::write_json`](super::TestReport::write_json)). `body_json`, when given, is
    /// the body already written that way ([`HttpRequest::curl_and_body`]), and is copied
    /// instead of written again.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>, body_json: Option<&[u8]>) {
        let HttpRequest {
            method,
            url,
            headers,
            body,
        } = self;
        out.extend_from_slice(b"{\"method\":");
        json::write_str(out, method);
        out.extend_from_slice(b",\"url\":");
        json::write_str(out, url);
        out.extend_from_slice(b",\"headers\":{");
        for (i, (name, value)) in headers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, name);
            out.push(b':');
            json::write_str(out, value);
        }
        out.push(b'}');
        if let Some(body) = body {
            out.extend_from_slice(b",\"body\":");
            match body_json {
                Some(written) => out.extend_from_slice(written),
                None => json::write_value(out, body),
            }
        }
        out.push(b'}');
    }

    /// Appends the credential header as a report shows it.
    pub(crate) fn show_credential(&mut self, scheme: &AuthScheme) {
        let shown = match scheme {
            AuthScheme::Bearer => format!("Bearer {REDACTED}"),
            AuthScheme::ApiKeyHeader { .. } => REDACTED.to_owned(),
        };
        self.headers.push((scheme.header().to_owned(), shown));
    }

    /// A shell command that sends this request with curl. Credentials are read from the
    /// environment variable named in the line, never written into it.
    pub fn to_curl(&self, credential: Option<(&str, &str)>) -> String {
        self.curl_and_body(credential).0
    }

    /// [`HttpRequest::to_curl`], and where in the line the body's JSON is as
    /// [`HttpRequest::write_json`] writes it: a report can copy it from there instead of
    /// writing it again. `None` when the line quotes it (it holds a `'`) or there is no body.
    pub(crate) fn curl_and_body(
        &self,
        credential: Option<(&str, &str)>,
    ) -> (String, Option<Range<usize>>) {
        // Built as bytes: the body's JSON goes straight into the line.
        let mut line = Vec::with_capacity(64 + self.url.len());
        line.extend_from_slice(b"curl -X ");
        line.extend_from_slice(self.method.as_bytes());
        line.push(b' ');
        push_quoted(&mut line, self.url.as_bytes());
        let mut header = Vec::new();
        for (name, value) in &self.headers {
            if credential.is_some_and(|(header, _)| header.eq_ignore_ascii_case(name)) {
                continue;
            }
            line.extend_from_slice(b" -H ");
            header.clear();
            header.extend_from_slice(name.as_bytes());
            header.extend_from_slice(b": ");
            header.extend_from_slice(value.as_bytes());
            push_quoted(&mut line, &header);
        }
        if let Some((header, env_var)) = credential {
            let prefix = if header.eq_ignore_ascii_case("authorization") {
                "Bearer "
            } else {
                ""
            };
            for part in [" -H \"", header, ": ", prefix, "$", env_var, "\""] {
                line.extend_from_slice(part.as_bytes());
            }
        }
        let mut body_at = None;
        if let Some(body) = &self.body {
            // Most of a large line: written in place, and quoted again only if it holds a `'`.
            line.extend_from_slice(b" --data-raw '");
            let written = line.len();
            json::write_value(&mut line, body);
            if memchr::memchr(b'\'', &line[written..]).is_some() {
                let json = line.split_off(written);
                quote_into(&mut line, &json);
            } else {
                body_at = Some(written..line.len());
            }
            line.push(b'\'');
        }
        // UTF-8 pieces, and JSON, which is UTF-8.
        match String::from_utf8(line) {
            Ok(line) => (line, body_at),
            Err(_) => (String::new(), None),
        }
    }
}

/// POSIX single quoting: safe for any content, including `'`, `$` and newlines.
fn push_quoted(line: &mut Vec<u8>, text: &[u8]) {
    line.push(b'\'');
    quote_into(line, text);
    line.push(b'\'');
}

/// What [`push_quoted`] writes between its quotes: each `'` closed, escaped and reopened.
fn quote_into(out: &mut Vec<u8>, text: &[u8]) {
    out.reserve(text.len() + 8);
    for (i, part) in text.split(|byte| *byte == b'\'').enumerate() {
        if i > 0 {
            out.extend_from_slice(br"'\''");
        }
        out.extend_from_slice(part);
    }
}

mod header_map {
    use serde::de::{Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(headers: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(headers.len()))?;
        for (name, value) in headers {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    out.push(pair);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_quotes() {
        let quoted = |text: &str| {
            let mut line = Vec::new();
            push_quoted(&mut line, text.as_bytes());
            String::from_utf8(line).expect("UTF-8")
        };
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted("$HOME"), "'$HOME'");
        assert_eq!(quoted("'"), r"''\'''");
    }
    /// The body, written straight into the line, is quoted as `push_quoted` quotes its JSON.
    #[test]
    fn a_body_is_quoted_as_its_json_would_be() {
        for body in [
            serde_json::json!({"description": "it's", "acl": ["''", "'", "x'y'z"], "n": 1}),
            serde_json::json!({"description": "no quote at all", "n": [1.5, null]}),
            serde_json::json!("'"),
        ] {
            let request = HttpRequest {
                method: "POST".into(),
                url: "https://api.example/x".into(),
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: Some(body.clone()),
            };
            let mut expected = Vec::from(
                "curl -X POST 'https://api.example/x' -H 'Content-Type: application/json' --data-raw ",
            );
            push_quoted(&mut expected, body.to_string().as_bytes());
            assert_eq!(request.to_curl(None).as_bytes(), expected);
        }
    }
}
