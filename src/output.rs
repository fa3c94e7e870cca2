//! Task output: the response, Conductor-shaped, for later steps to reference as
//! `${createKey.output.response.body.id}`.

use crate::credentials::REDACTED;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, SET_COOKIE};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// What a successful execution emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "apikey-task output")]
#[non_exhaustive]
pub struct TaskOutput {
    /// The server's answer. Secret fields hold what the secret sink returned.
    pub response: ResponseOutput,
    /// How the request went.
    pub request: RequestSummary,
    /// Whether the response's secret (e.g. a created key's `secretKey`) reached the secret
    /// sink: when the answer lacked it, it was read back by id first. Absent for operations
    /// whose answer has no secret field of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_obtained: Option<bool>,
}

/// An HTTP response as task output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ResponseOutput {
    /// HTTP status code, e.g. 201.
    pub status_code: u16,
    /// The status's reason phrase, e.g. `Created`.
    pub reason_phrase: String,
    /// Response headers, names in lower case; repeated headers joined with `, `.
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: ResponseHeaders,
    /// The JSON body; a body that is not JSON is kept as a string, an empty one is `null`.
    pub body: Value,
}

/// The request side of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestSummary {
    /// HTTP method.
    pub method: String,
    /// The URL the request was sent to.
    pub url: String,
    /// How many times it was sent (retries included).
    pub attempts: u32,
    /// Wall time from the first attempt to the final response, in milliseconds.
    pub duration_ms: u64,
}

/// A response's headers as task output: names in lower case, a repeated header's values joined
/// with `, `, `set-cookie` redacted (cookies are credentials of a kind). Kept as the HTTP stack
/// read them, so an execution copies no header; written as a JSON object whose names are in
/// sorted order.
#[derive(Clone, Default, PartialEq)]
pub struct ResponseHeaders(HeaderMap);

impl ResponseHeaders {
    /// The header's value (values joined with `, ` when it was repeated); bytes that are not
    /// UTF-8 are replaced by U+FFFD.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self.0.get_all(name).iter();
        let first = String::from_utf8_lossy(values.next()?.as_bytes());
        Some(values.fold(first, |mut joined, value| {
            let joined_mut = joined.to_mut();
            joined_mut.push_str(", ");
            joined_mut.push_str(&String::from_utf8_lossy(value.as_bytes()));
            joined
        }))
    }

    /// Whether the response has the header.
    pub fn contains_key(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// How many distinct header names there are.
    pub fn len(&self) -> usize {
        self.0.keys_len()
    }

    /// Whether there is no header at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each header name with its value, names in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        let mut names: Vec<&str> = self.0.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
            .into_iter()
            .filter_map(|name| Some((name, self.get(name)?)))
    }
}

impl From<HeaderMap> for ResponseHeaders {
    fn from(mut headers: HeaderMap) -> Self {
        // Looked up first: `entry` makes room for an insertion before it looks (a new table
        // when the map is full), and most answers set no cookie.
        if headers.contains_key(SET_COOKIE)
            && let reqwest::header::Entry::Occupied(mut cookies) = headers.entry(SET_COOKIE)
        {
            for cookie in cookies.iter_mut() {
                *cookie = HeaderValue::from_static(REDACTED);
            }
        }
        ResponseHeaders(headers)
    }
}

impl fmt::Debug for ResponseHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for ResponseHeaders {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ResponseHeaders {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(deserializer)?;
        let mut headers = HeaderMap::with_capacity(map.len());
        for (name, value) in map {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                serde::de::Error::custom(format!("{name:?} is not an HTTP header name"))
            })?;
            let value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
                serde::de::Error::custom(format!("the value of {name} is not an HTTP header value"))
            })?;
            headers.append(name, value);
        }
        Ok(ResponseHeaders(headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &[u8])]) -> ResponseHeaders {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_bytes(value).expect("value"),
            );
        }
        headers.into()
    }

    /// What the output said when it was a map built header by header: names sorted, repeats
    /// joined, cookies redacted one by one, bytes that are not UTF-8 replaced.
    fn as_map(pairs: &[(&str, &[u8])]) -> BTreeMap<String, String> {
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in pairs {
            let text = if name.eq_ignore_ascii_case("set-cookie") {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value).into_owned()
            };
            map.entry(name.to_ascii_lowercase())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(&text);
                })
                .or_insert(text);
        }
        map
    }

    #[test]
    fn written_as_the_sorted_joined_redacted_map() {
        let pairs: &[(&str, &[u8])] = &[
            ("X-Trace", b"b"),
            ("content-type", b"application/json"),
            ("set-cookie", b"session=s3cr3t"),
            ("x-trace", b"a"),
            ("set-cookie", b"other=s3cr3t"),
            ("x-latin", b"caf\xe9"),
            ("accept-ranges", b"bytes"),
        ];
        let headers = read(pairs);
        let expected = as_map(pairs);
        assert_eq!(
            serde_json::to_string(&headers).expect("json"),
            serde_json::to_string(&expected).expect("json")
        );
        assert_eq!(format!("{headers:?}"), format!("{expected:?}"));
        assert_eq!(headers.len(), expected.len());
        assert_eq!(headers.get("x-trace").as_deref(), Some("b, a"));
        assert_eq!(headers.get("X-Trace").as_deref(), Some("b, a"));
        assert_eq!(
            headers.get("set-cookie").as_deref(),
            Some("<redacted>, <redacted>")
        );
        assert!(!format!("{headers:?}").contains("s3cr3t"));
        assert!(headers.contains_key("accept-ranges"));
        assert_eq!(headers.get("absent"), None);
    }

    #[test]
    fn read_back_from_its_json() {
        let headers = read(&[("location", b"/api-keys/1"), ("x-n", b"1"), ("x-n", b"2")]);
        let json = serde_json::to_value(&headers).expect("json");
        let back: ResponseHeaders = serde_json::from_value(json.clone()).expect("back");
        assert_eq!(serde_json::to_value(&back).expect("json"), json);
        assert_eq!(back.get("x-n").as_deref(), Some("1, 2"));
        let error = serde_json::from_value::<ResponseHeaders>(serde_json::json!({"bad name": "x"}))
            .expect_err("not a header name");
        assert!(
            error.to_string().contains("not an HTTP header name"),
            "{error}"
        );
        assert!(ResponseHeaders::default().is_empty());
    }
}
