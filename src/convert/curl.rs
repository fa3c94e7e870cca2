//! A curl command line to the request it sends.

use super::error::{ConvertError, ConvertErrorKind};
use super::matching::RawRequest;
use super::shell::words;
use serde_json::Value;

/// Options that take no value and change nothing a step holds.
const IGNORED_FLAGS: [&str; 22] = [
    "-s",
    "--silent",
    "-S",
    "--show-error",
    "-i",
    "--include",
    "-v",
    "--verbose",
    "-L",
    "--location",
    "--compressed",
    "-f",
    "--fail",
    "--fail-with-body",
    "-k",
    "--insecure",
    "-g",
    "--globoff",
    "--http1.1",
    "--http2",
    "--no-progress-meter",
    "-N",
];

/// Options whose value changes nothing a step holds (output, timing, TLS files).
const IGNORED_WITH_VALUE: [&str; 14] = [
    "-o",
    "--output",
    "-w",
    "--write-out",
    "-m",
    "--max-time",
    "--connect-timeout",
    "--retry",
    "--cacert",
    "--cert",
    "--key",
    "-A",
    "--user-agent",
    "--proxy",
];

/// Of the options above, those that say how the request is sent, which a step does not hold:
/// the executor's client decides TLS, proxies, redirects (never followed), timeouts, retries,
/// the user agent, the HTTP version and compression. Leaving one out is said, not silent.
const HOW_SENT: [&str; 17] = [
    "-k",
    "--insecure",
    "-L",
    "--location",
    "--cacert",
    "--cert",
    "--key",
    "--proxy",
    "-m",
    "--max-time",
    "--connect-timeout",
    "--retry",
    "-A",
    "--user-agent",
    "--http1.1",
    "--http2",
    "--compressed",
];

/// An option's long name, so that `-k --insecure` is named once.
fn long_name(option: &str) -> &str {
    match option {
        "-k" => "--insecure",
        "-L" => "--location",
        "-m" => "--max-time",
        "-A" => "--user-agent",
        other => other,
    }
}

/// Long options that take a value and that a step holds (or that name a credential).
const LONG_WITH_VALUE: [&str; 13] = [
    "--request",
    "--header",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-ascii",
    "--json",
    "--url",
    "--user",
    "--oauth2-bearer",
    "--cookie",
    "--referer",
    "--data-urlencode",
];

/// Short options that can be clustered (`-sS`) and take no value.
const SHORT_FLAGS: &str = "sSivLfkgN";
/// Short options that take a value, attached (`-XPOST`) or as the next word.
const SHORT_WITH_VALUE: &str = "XHdoumAwbe";

/// The request a curl command line sends: its method, URL, headers and JSON body.
pub(crate) fn parse(text: &str, warnings: &mut Vec<String>) -> Result<RawRequest, ConvertError> {
    let words = words(text)?;
    let mut words = words.into_iter();
    match words.next() {
        Some(first) if first == "curl" || first.ends_with("/curl") => {}
        _ => {
            return Err(ConvertError::new(
                ConvertErrorKind::Syntax,
                "not a curl command: it must start with `curl`",
            ));
        }
    }
    let mut options: Vec<(String, Option<String>)> = Vec::new();
    let mut positional = Vec::new();
    let mut words = words.peekable();
    let missing = |option: &str| {
        ConvertError::new(ConvertErrorKind::Syntax, format!("{option} needs a value"))
    };
    while let Some(word) = words.next() {
        if let Some(long) = word.strip_prefix("--") {
            if long.is_empty() {
                positional.extend(words.by_ref());
                break;
            }
            let (name, attached) = match long.split_once('=') {
                Some((name, value)) => (format!("--{name}"), Some(value.to_owned())),
                None => (word.clone(), None),
            };
            if IGNORED_FLAGS.contains(&name.as_str()) || name == "--get" {
                options.push((name, None));
                continue;
            }
            if !LONG_WITH_VALUE.contains(&name.as_str())
                && !IGNORED_WITH_VALUE.contains(&name.as_str())
            {
                return Err(unsupported(&name));
            }
            let value = match attached {
                Some(value) => value,
                None => words.next().ok_or_else(|| missing(&name))?,
            };
            options.push((name, Some(value)));
        } else if word.len() > 1 && word.starts_with('-') {
            for (at, c) in word[1..].char_indices() {
                let name = format!("-{c}");
                if SHORT_FLAGS.contains(c) || c == 'G' {
                    options.push((name, None));
                } else if SHORT_WITH_VALUE.contains(c) {
                    let rest = &word[1 + at + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        words.next().ok_or_else(|| missing(&name))?
                    } else {
                        rest.to_owned()
                    };
                    options.push((name, Some(value)));
                    break;
                } else {
                    return Err(unsupported(&name));
                }
            }
        } else {
            positional.push(word);
        }
    }

    let mut method = None;
    let mut url = None;
    let mut headers = Vec::new();
    let mut data: Vec<String> = Vec::new();
    let mut get = false;
    let mut left_out: Vec<String> = Vec::new();
    for (name, value) in options {
        let value = value.unwrap_or_default();
        match name.as_str() {
            "-X" | "--request" => method = Some(value),
            "-H" | "--header" => {
                if value.starts_with('@') {
                    return Err(reads_file(&name));
                }
                let Some((header, content)) = value.split_once(':') else {
                    // Only the first word: the rest may be a credential written without its
                    // colon (`REB-APIKEY sk_live_...`).
                    let first = value.split_whitespace().next().unwrap_or_default();
                    return Err(ConvertError::new(
                        ConvertErrorKind::Syntax,
                        format!("{name} {first:?}... is not `Name: value` (the rest is not shown)"),
                    ));
                };
                headers.push((header.trim().to_owned(), content.trim().to_owned()));
            }
            "-d" | "--data" | "--data-binary" | "--data-ascii" | "--json" => {
                if value.starts_with('@') {
                    return Err(reads_file(&name));
                }
                data.push(value);
            }
            "--data-raw" => data.push(value),
            "--url" => url = Some(value),
            "-G" | "--get" => get = true,
            "-u" | "--user" | "--oauth2-bearer" | "-b" | "--cookie" => warnings.push(format!(
                "left out {name}: credentials come from REBILLY_API_KEY or REBILLY_JWT, never from a step"
            )),
            // A header by another name (`;auto` asks curl to set it on redirects, which a
            // step does not follow).
            "-e" | "--referer" => {
                let referer = value.trim_end_matches(";auto");
                if !referer.is_empty() {
                    headers.push(("Referer".to_owned(), referer.to_owned()));
                }
            }
            other
                if IGNORED_FLAGS.contains(&other)
                    || IGNORED_WITH_VALUE.contains(&other)
                    || ["-o", "-m", "-A", "-w"].contains(&other) =>
            {
                let name = long_name(other);
                if HOW_SENT.contains(&other) && !left_out.iter().any(|seen| seen == name) {
                    left_out.push(name.to_owned());
                }
            }
            other => return Err(unsupported(other)),
        }
    }
    if !left_out.is_empty() {
        warnings.push(format!(
            "left out {}: a step holds the request, not how it is sent (TLS, proxy, redirects, timeouts, retries, user agent, HTTP version, compression); the executor's HTTP client decides those",
            left_out.join(", ")
        ));
    }
    let mut positional = positional.into_iter();
    let url = match (url, positional.next()) {
        (Some(url), None) | (None, Some(url)) => url,
        (None, None) => {
            return Err(ConvertError::new(
                ConvertErrorKind::Syntax,
                "no URL in the command",
            ));
        }
        (Some(_), Some(_)) => return Err(several_urls()),
    };
    if positional.next().is_some() {
        return Err(several_urls());
    }
    let mut request = RawRequest {
        url,
        headers,
        ..RawRequest::default()
    };
    let joined = (!data.is_empty()).then(|| data.join("&"));
    match joined {
        Some(query) if get => {
            request
                .url
                .push(if request.url.contains('?') { '&' } else { '?' });
            request.url.push_str(&query);
        }
        Some(text) => {
            let body: Value = serde_json::from_str(&text).map_err(|error| {
                ConvertError::new(
                    ConvertErrorKind::Body,
                    format!("the request body is not JSON: {error}"),
                )
            })?;
            request.body = Some(body);
        }
        None => {}
    }
    request.method = match method {
        Some(method) => method,
        None if request.body.is_some() => "POST".into(),
        None => "GET".into(),
    };
    if keep_literal(&mut request) {
        warnings.push(
            "`${` in a curl line is sent as written, so the step writes it `$${`; write an expression in the step itself".into(),
        );
    }
    Ok(request)
}

/// A curl line is a request as sent: a `${` in it is text, which a step writes `$${` so that
/// it is not read as an expression. Says whether there was any.
fn keep_literal(request: &mut RawRequest) -> bool {
    fn escape(text: &mut String) -> bool {
        if !text.contains("${") {
            return false;
        }
        *text = text.replace("${", "$${");
        true
    }
    fn escape_value(value: &mut Value) -> bool {
        match value {
            Value::String(text) => escape(text),
            Value::Array(items) => items.iter_mut().fold(false, |any, v| escape_value(v) | any),
            Value::Object(fields) => fields
                .values_mut()
                .fold(false, |any, v| escape_value(v) | any),
            _ => false,
        }
    }
    let mut any = escape(&mut request.url);
    for (_, value) in &mut request.headers {
        any |= escape(value);
    }
    if let Some(body) = &mut request.body {
        any |= escape_value(body);
    }
    any
}

fn unsupported(option: &str) -> ConvertError {
    ConvertError::new(
        ConvertErrorKind::Unsupported,
        format!("curl option {option} is not supported here"),
    )
}

fn reads_file(option: &str) -> ConvertError {
    ConvertError::new(
        ConvertErrorKind::Unsupported,
        format!("{option} @FILE reads a file: paste its content instead"),
    )
}

fn several_urls() -> ConvertError {
    ConvertError::new(
        ConvertErrorKind::Unsupported,
        "the command has several URLs; a step sends one request",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> RawRequest {
        parse(text, &mut Vec::new()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn method_url_headers_and_body() {
        let request =
            parsed("curl -sS -X PUT 'https://h/x' -H 'A: 1' -H\"B:2\" --data-raw '{\"a\": 1}'");
        assert_eq!(request.method, "PUT");
        assert_eq!(request.url, "https://h/x");
        assert_eq!(
            request.headers,
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(request.body, Some(serde_json::json!({"a": 1})));
        assert_eq!(parsed("curl https://h/x -d '{}'").method, "POST");
        assert_eq!(parsed("curl --url https://h/x").method, "GET");
        assert_eq!(parsed("curl -XDELETE https://h/x").method, "DELETE");
        assert_eq!(parsed("curl --request=GET https://h/x").method, "GET");
    }

    #[test]
    fn get_moves_data_to_the_query() {
        let request = parsed("curl -G https://h/x -d limit=5 --data 'sort=a,b'");
        assert_eq!(request.url, "https://h/x?limit=5&sort=a,b");
        assert_eq!(request.body, None);
        assert_eq!(request.method, "GET");
    }

    #[test]
    fn what_cannot_be_converted_says_why() {
        let kind = |text: &str| parse(text, &mut Vec::new()).err().map(|e| e.kind());
        assert_eq!(kind("wget https://h"), Some(ConvertErrorKind::Syntax));
        assert_eq!(
            kind("curl -d @body.json https://h"),
            Some(ConvertErrorKind::Unsupported)
        );
        assert_eq!(
            kind("curl --frobnicate 1 https://h"),
            Some(ConvertErrorKind::Unsupported)
        );
        assert_eq!(
            kind("curl https://h -d 'a=1'"),
            Some(ConvertErrorKind::Body)
        );
        assert_eq!(
            kind("curl https://h https://i"),
            Some(ConvertErrorKind::Unsupported)
        );
        assert_eq!(kind("curl -X"), Some(ConvertErrorKind::Syntax));
    }

    #[test]
    fn credentials_are_left_out_without_echo() {
        let mut warnings = Vec::new();
        let request = parse("curl -u user:sk_secret https://h", &mut warnings);
        assert!(request.is_ok());
        assert_eq!(warnings.len(), 1);
        assert!(!warnings[0].contains("sk_secret"));
    }

    /// Output options pass quietly; options that say how the request is sent are named once
    /// each in one warning, without their values (a key file's path, a proxy's credentials).
    #[test]
    fn how_a_request_is_sent_is_left_out_and_said() {
        let mut warnings = Vec::new();
        let request = parse(
            "curl -sS -o out.json -w '%{http_code}' https://h -d '{}'",
            &mut warnings,
        );
        assert!(request.is_ok());
        assert_eq!(warnings, Vec::<String>::new());
        let request = parse(
            "curl -ksSL --cert me.pem --key me.key --proxy http://u:pw@proxy:8080 --insecure -m 5 \
             -e https://from.example/page https://h -d '{}'",
            &mut warnings,
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "left out --insecure, --location, --cert, --key, --proxy, --max-time: "
            ),
            "{}",
            warnings[0]
        );
        assert!(!warnings[0].contains("pw@proxy") && !warnings[0].contains("me.key"));
        // A referer is a header the request carries.
        let headers = request.map(|request| request.headers).unwrap_or_default();
        assert_eq!(
            headers,
            [("Referer".to_owned(), "https://from.example/page".to_owned())]
        );
    }
}
