//! Located problems: what is wrong, and where in the step's parameters.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One problem found in a step, located by a JSON Pointer into the step's `parameters`.
///
/// Errors make a step invalid; warnings do not. Both have this shape so an editor can show
/// each one beside the field its `path` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// JSON Pointer (RFC 6901) into the step's parameters, e.g. `/body/acl/0/permissions/1`.
    /// The empty string is the parameters object itself.
    pub path: String,
    /// What is wrong, for a person. Never contains a credential.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(parameters)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Everything a check found, gathered along the data's path.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub defaults: Vec<AppliedDefault>,
}

impl Findings {
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Problem::new(path, message));
    }

    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem::new(path, message));
    }
}

/// A value the definition supplied because the step did not, shown so nothing is implicit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AppliedDefault {
    /// Where the value went, as a JSON Pointer into the parameters.
    pub path: String,
    /// The value applied.
    pub value: serde_json::Value,
}

/// A JSON Pointer with one more reference token, `~` and `/` escaped (RFC 6901).
pub(crate) fn push_token(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    append_token(&mut out, token);
    out
}

/// Appends a reference token in place: walkers keep one buffer and truncate it on the way
/// back, so a pointer is only allocated when a problem is recorded.
pub(crate) fn append_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    if !token.bytes().any(|b| b == b'~' || b == b'/') {
        pointer.push_str(token);
        return;
    }
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Appends an array index in place, without the formatting machinery (walkers call this for
/// every array item).
pub(crate) fn append_index(pointer: &mut String, index: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = index;
    loop {
        at -= 1;
        // `rest % 10` is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    pointer.push('/');
    for &digit in &digits[at..] {
        pointer.push(char::from(digit));
    }
}

/// A JSON value's kind with its article, for messages: "a string", "null".
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether `pointer` is `prefix` or lies below it.
pub(crate) fn is_within(pointer: &str, prefix: &str) -> bool {
    pointer == prefix
        || (pointer.starts_with(prefix) && pointer.as_bytes().get(prefix.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_escaped() {
        assert_eq!(push_token("/headers", "a/b~c"), "/headers/a~1b~0c");
        let mut pointer = String::from("/body/acl");
        append_index(&mut pointer, 3);
        append_index(&mut pointer, 0);
        append_index(&mut pointer, 1207);
        assert_eq!(pointer, "/body/acl/3/0/1207");
    }

    #[test]
    fn within_respects_token_boundaries() {
        assert!(is_within("/body/acl/0", "/body/acl"));
        assert!(is_within("/body/acl", "/body/acl"));
        assert!(!is_within("/body/aclx", "/body/acl"));
        assert!(is_within("/body", ""));
    }
}
