//! Properties over arbitrary input: rendering and validation never panic, every problem points
//! at something that exists in the step as written, and parameters without expressions render
//! unchanged.

use crate::support::endpoint;
use apikey_task::{Endpoint, Step};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Strings rich in what breaks parsers: `${`, `$${`, braces, dots, brackets, unicode.
fn tricky_string() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("${".to_owned()),
        Just("$${".to_owned()),
        Just("}".to_owned()),
        Just("{".to_owned()),
        Just("$".to_owned()),
        Just(".".to_owned()),
        Just("[0]".to_owned()),
        Just("[".to_owned()),
        Just("workflow".to_owned()),
        Just("input".to_owned()),
        Just("a".to_owned()),
        Just("é🔑".to_owned()),
        Just(" ".to_owned()),
        "[a-z]{1,6}",
    ];
    proptest::collection::vec(pieces, 0..12).prop_map(|parts| parts.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((tricky_string(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Any text, and text of ASCII alone: quotes, backslashes and every control character come
/// often enough to meet each at every place in an eight-byte word.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(proptest::char::range('\u{0}', '\u{7f}'), 0..40)
            .prop_map(String::from_iter),
    ]
}

/// Any JSON: every character (quotes, backslashes, control characters), floats, and the
/// integers at both ends.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any_text().prop_map(Value::String),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((any_text(), inner), 0..5)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Parameters shaped like a step's, with arbitrary values in every slot.
fn parameters() -> impl Strategy<Value = Map<String, Value>> {
    (
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        proptest::collection::vec((tricky_string(), json_value()), 0..4),
    )
        .prop_map(|(org, server, body, headers, extra)| {
            let mut map = Map::new();
            map.insert("organizationId".into(), org);
            map.insert("server".into(), server);
            map.insert("body".into(), body);
            map.insert("headers".into(), headers);
            map.extend(extra);
            map
        })
}

/// `PostApiKey`, compiled once for all cases, as a runner would.
fn compiled() -> &'static Endpoint {
    static ENDPOINT: std::sync::OnceLock<Endpoint> = std::sync::OnceLock::new();
    ENDPOINT.get_or_init(endpoint)
}

fn context() -> Map<String, Value> {
    let value = json!({
        "workflow": { "workflowId": "wf", "input": { "a": [1, "x", null, { "b": true }], "é🔑": "k" } },
        "input": { "a": "${workflow.workflowId}" }
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn has_no_dollar(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.contains('$'),
        Value::Array(items) => items.iter().all(has_no_dollar),
        Value::Object(fields) => fields.values().all(has_no_dollar),
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn every_problem_points_into_the_step_as_written(parameters in parameters()) {
        let endpoint = compiled();
        let original = Value::Object(parameters.clone());
        let report = endpoint.test_request(Step { parameters, context: context() }, None);
        for problem in report.errors.iter().chain(&report.warnings) {
            prop_assert!(
                original.pointer(&problem.path).is_some(),
                "{} does not exist in {}: {}", problem.path, original, problem.message
            );
        }
        prop_assert_eq!(report.valid, report.errors.is_empty());
    }

    #[test]
    fn any_string_renders_without_panicking(text in tricky_string()) {
        let endpoint = compiled();
        let parameters: Map<String, Value> = match json!({
            "organizationId": "org-1",
            "body": { "description": text },
            "headers": { "X-Note": text }
        }) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let report = endpoint.test_request(Step { parameters, context: context() }, None);
        prop_assert!(report.request.url.ends_with("/api-keys"));
    }

    #[test]
    fn bodies_without_expressions_are_sent_as_written(body in json_value()) {
        prop_assume!(has_no_dollar(&body));
        let endpoint = compiled();
        let parameters: Map<String, Value> = match json!({ "organizationId": "org-1", "body": body.clone() }) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let report = endpoint.test_request(Step { parameters, context: context() }, None);
        prop_assert_eq!(report.request.body, Some(body));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// `TestReport::write_json` and `Endpoint::test_request_json`, which the CLI and the editor
    /// API write, give serde's bytes for any report: valid or not, any text in its messages, URL, headers and curl line.
    #[test]
    fn a_report_is_written_as_serde_writes_it(
        body in any_json(),
        text in any_text(),
        keyed in any::<bool>(),
    ) {
        let endpoint = compiled();
        let mut parameters: Map<String, Value> = match json!({
            "organizationId": text,
            "body": body,
            "headers": { "X-Note": text, text.clone(): "x" }
        }) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if keyed {
            parameters.insert("keyId".into(), Value::String(text.clone()));
        }
        let step = Step { parameters, context: context() };
        let report = endpoint.test_request(step.clone(), None);
        let mut written = Vec::new();
        report.write_json(&mut written);
        let serde = serde_json::to_string(&report).expect("json");
        prop_assert_eq!(String::from_utf8_lossy(&written), serde.as_str());
        // With the body written once for the request and the curl line.
        let mut answered = Vec::new();
        let same = endpoint.test_request_json(step, None, &mut answered);
        prop_assert_eq!(&same, &report);
        prop_assert_eq!(String::from_utf8_lossy(&answered), serde);
    }
}

#[test]
fn deep_nesting_and_many_expressions_are_bounded_errors() {
    let endpoint = compiled();
    let mut deep = json!("leaf");
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let many: Vec<Value> = (0..1_500)
        .map(|_| json!("${workflow.workflowId}"))
        .collect();
    let parameters: Map<String, Value> = match json!({
        "organizationId": "org-1",
        "body": { "description": "x", "acl": deep, "allowedIps": many }
    }) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let report = endpoint.test_request(
        Step {
            parameters,
            context: context(),
        },
        None,
    );
    let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("nested deeper than 64")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("more than 1000 expressions")),
        "{messages:?}"
    );
}

/// Anything a step can put where the URL is built from: separators, dot segments, encodings,
/// schemes, credentials, unicode.
fn hostile_segment() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("/".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("%2e".to_owned()),
        Just("%2F".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("@".to_owned()),
        Just(":".to_owned()),
        Just("\\\\".to_owned()),
        Just("https://evil.example".to_owned()),
        Just("user:pw@".to_owned()),
        Just(" ".to_owned()),
        Just("é".to_owned()),
        Just("{organizationId}".to_owned()),
        "[a-z0-9]{1,5}",
    ];
    proptest::collection::vec(pieces, 1..8).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Only `server` chooses the scheme, host, port and path: every other value that reaches
    /// the URL stays inside one path segment.
    #[test]
    fn no_parameter_moves_the_request(org in hostile_segment(), id in hostile_segment(), header in hostile_segment()) {
        let create = compiled();
        let parameters: Map<String, Value> = match json!({
            "organizationId": org,
            "headers": { "X-Note": header },
            "body": { "description": org }
        }) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let report = create.test_request(Step { parameters, context: context() }, None);
        let url = url::Url::parse(&report.request.url).expect("an absolute URL");
        prop_assert_eq!(url.scheme(), "https");
        prop_assert_eq!(url.host_str(), Some("api-sandbox.rebilly.com"));
        prop_assert_eq!(url.port(), None);
        prop_assert!(url.query().is_none() && url.fragment().is_none());
        let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
        prop_assert_eq!(segments.len(), 3, "{}", url);
        prop_assert_eq!(segments[0], "organizations");
        prop_assert_eq!(segments[2], "api-keys");

        static GET: std::sync::OnceLock<Endpoint> = std::sync::OnceLock::new();
        let get = GET.get_or_init(|| {
            Endpoint::builder().operation_id("GetApiKey").build().expect("GetApiKey")
        });
        let parameters: Map<String, Value> = match json!({ "organizationId": "org-1", "id": id }) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let report = get.test_request(Step { parameters, context: context() }, None);
        let url = url::Url::parse(&report.request.url).expect("an absolute URL");
        prop_assert_eq!(url.host_str(), Some("api-sandbox.rebilly.com"));
        let segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
        prop_assert_eq!(segments.len(), 4, "{}", url);
        prop_assert_eq!(&segments[..3], &["organizations", "org-1", "api-keys"][..]);
    }
}
