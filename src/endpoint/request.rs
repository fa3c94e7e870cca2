//! The request as it is (or would be) sent, and the same request as a curl command.

use crate::credentials::REDACTED;
use crate::definition::AuthScheme;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
        // The body is most of a large line: its JSON, quoted, is reserved for up front.
        let body = self.body.as_ref().map(|body| {
            // Serializing a `Value` into bytes cannot fail; its `Display` (which goes through
            // the formatting machinery, a call per token) would cost three times as much.
            serde_json::to_string(body).unwrap_or_default()
        });
        let mut line = String::with_capacity(
            64 + self.url.len() + body.as_ref().map_or(0, |body| body.len() + 16),
        );
        line.push_str("curl -X ");
        line.push_str(&self.method);
        line.push(' ');
        push_quoted(&mut line, &self.url);
        let mut header = String::new();
        for (name, value) in &self.headers {
            if credential.is_some_and(|(header, _)| header.eq_ignore_ascii_case(name)) {
                continue;
            }
            line.push_str(" -H ");
            header.clear();
            header.push_str(name);
            header.push_str(": ");
            header.push_str(value);
            push_quoted(&mut line, &header);
        }
        if let Some((header, env_var)) = credential {
            let prefix = if header.eq_ignore_ascii_case("authorization") {
                "Bearer "
            } else {
                ""
            };
            for part in [" -H \"", header, ": ", prefix, "$", env_var, "\""] {
                line.push_str(part);
            }
        }
        if let Some(body) = &body {
            line.push_str(" --data-raw ");
            push_quoted(&mut line, body);
        }
        line
    }
}

/// POSIX single quoting: safe for any content, including `'`, `$` and newlines.
fn push_quoted(line: &mut String, text: &str) {
    line.reserve(text.len() + 2);
    line.push('\'');
    for (i, part) in text.split('\'').enumerate() {
        if i > 0 {
            line.push_str(r"'\''");
        }
        line.push_str(part);
    }
    line.push('\'');
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
            let mut line = String::new();
            push_quoted(&mut line, text);
            line
        };
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted("$HOME"), "'$HOME'");
        assert_eq!(quoted("'"), r"''\'''");
    }
}
