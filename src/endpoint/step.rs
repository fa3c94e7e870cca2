//! A step as a runner or editor hands it over: parameters and the workflow state, and why a
//! text is not one, located.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A workflow step as a runner or editor hands it over: the parameters as written in the
/// workflow definition, and the workflow state their expressions read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `organizationId`, `server`, `headers` and `body`, possibly with `${...}` expressions.
    pub parameters: Map<String, Value>,
    /// `workflow` (with `input`, `workflowId`, ...) and each earlier step's reference name.
    #[serde(default)]
    pub context: Map<String, Value>,
}

impl Step {
    /// Reads a step from JSON: an object with `parameters` and optional `context`, both objects.
    pub fn from_json(text: &str) -> Result<Step, StepError> {
        serde_json::from_str(text).map_err(|error| StepError::new(text, error))
    }
}

/// A text that is not a step: what is wrong, at which line and column, and at which value (a
/// JSON Pointer into the text) when the text got that far. The JSON error is the
/// [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct StepError {
    message: String,
    pointer: Option<String>,
    source: serde_json::Error,
}

impl StepError {
    /// Explains `error`, which serde_json gave for `text`.
    pub(crate) fn new(text: &str, error: serde_json::Error) -> Self {
        let offset = byte_offset(text, error.line(), error.column());
        let pointer = (error.line() > 0).then(|| pointer_at(text, offset));
        // Only for serde_json's errors about a `\u` escape: another error near a valid pair
        // is not about the pair.
        let about_escape = {
            let said = error.to_string();
            [
                "lone leading surrogate",
                "unexpected end of hex escape",
                "invalid unicode code point",
            ]
            .iter()
            .any(|kind| said.starts_with(kind))
        };
        let message = match about_escape.then(|| lone_surrogate(text, offset)).flatten() {
            Some(escape) => format!(
                "{escape} is a lone surrogate: valid JSON, but half of a UTF-16 pair and no character, so it cannot be sent as text; write the character itself, or remove it"
            ),
            None => {
                let text = error.to_string();
                let position = format!(" at line {} column {}", error.line(), error.column());
                text.strip_suffix(&position).unwrap_or(&text).to_owned()
            }
        };
        StepError {
            message,
            pointer,
            source: error,
        }
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON Pointer of the value being read when it went wrong (`""` for the whole text).
    pub fn pointer(&self) -> Option<&str> {
        self.pointer.as_deref()
    }

    /// Line (from 1) of the text where it went wrong; 0 when the shape, not the syntax, is wrong.
    pub fn line(&self) -> usize {
        self.source.line()
    }

    /// Column (from 1) of that line.
    pub fn column(&self) -> usize {
        self.source.column()
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if self.line() > 0 {
            write!(f, " at line {} column {}", self.line(), self.column())?;
        }
        match &self.pointer {
            Some(pointer) if !pointer.is_empty() => write!(f, " (at {pointer})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The byte offset of a 1-based line and column as serde_json counts them (a column counts
/// bytes), moved back to a character boundary.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let mut at = (start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The JSON Pointer of the value the text is in at `offset`: a small scan that follows the
/// containers, keys and indexes, for text that may be invalid after that point.
fn pointer_at(text: &str, offset: usize) -> String {
    enum Frame {
        Object {
            key: Option<String>,
            expecting_key: bool,
        },
        Array {
            index: usize,
        },
    }
    let mut stack: Vec<Frame> = Vec::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < offset.min(bytes.len()) {
        match bytes[at] {
            b'"' => {
                // A string: find its end, honouring escapes.
                let start = at + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end] != b'"' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                let inside = end >= offset;
                if let Some(Frame::Object {
                    key,
                    expecting_key: true,
                }) = stack.last_mut()
                {
                    if inside {
                        // Reading a key: the object is the place.
                        *key = None;
                        break;
                    }
                    let raw = &text[start..end.min(text.len())];
                    *key = Some(
                        serde_json::from_str(&format!("\"{raw}\""))
                            .unwrap_or_else(|_| raw.to_owned()),
                    );
                }
                at = end + 1;
                continue;
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                expecting_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { expecting_key, .. }) = stack.last_mut() {
                    *expecting_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, expecting_key }) => {
                    *key = None;
                    *expecting_key = true;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        at += 1;
    }
    let mut pointer = String::new();
    for frame in &stack {
        match frame {
            Frame::Object {
                key: Some(key),
                expecting_key: false,
            } => crate::util::pointer::append_token(&mut pointer, key),
            Frame::Object { .. } => break,
            Frame::Array { index } => crate::util::pointer::append_index(&mut pointer, *index),
        }
    }
    pointer
}

/// A `\uD800`-`\uDFFF` escape near `offset` that is not half of a pair, if the error is one.
fn lone_surrogate(text: &str, offset: usize) -> Option<String> {
    let from = text[..offset.min(text.len())]
        .char_indices()
        .rev()
        .nth(16)
        .map_or(0, |(at, _)| at);
    // Up to just past the error: serde_json stops at or right after the escape at fault, and
    // an escape further on is another value's (nor should a long text be read to its end).
    let mut to = offset.saturating_add(12).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    // Positions are the text's own: a pair may start before `from` or end after `to`. A
    // `\u` after an odd run of backslashes is a literal backslash and a `u`, not an escape.
    let unit_at = |at: usize| {
        let escaped = text
            .get(..at)?
            .bytes()
            .rev()
            .take_while(|&b| b == b'\\')
            .count()
            % 2
            == 1;
        text.get(at..at + 6)
            .filter(|_| !escaped)
            .and_then(|escape| escape.strip_prefix("\\u"))
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
    };
    let high = |unit: u16| (0xD800..=0xDBFF).contains(&unit);
    let low = |unit: u16| (0xDC00..=0xDFFF).contains(&unit);
    let mut search = from;
    while let Some(found) = text.get(search..to).and_then(|window| window.find("\\u")) {
        let at = search + found;
        if let Some(unit) = unit_at(at) {
            let next = unit_at(at + 6);
            let before = at.checked_sub(6).and_then(unit_at);
            if high(unit) && next.is_some_and(low) {
                search = at + 12;
                continue;
            }
            if (high(unit) && !next.is_some_and(low)) || (low(unit) && !before.is_some_and(high)) {
                return Some(text[at..at + 6].to_owned());
            }
        }
        search = at + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only an escape at the error is named: one further on belongs to another value.
    #[test]
    fn a_lone_surrogate_is_named_only_where_the_error_is() {
        let error = Step::from_json(r#"{"parameters": {"a": tru}, "context": {"x": "\ud800"}}"#)
            .expect_err("invalid");
        assert!(
            !error.message().contains("surrogate"),
            "{}",
            error.message()
        );
        assert_eq!(error.pointer(), Some("/parameters/a"));
        // A valid pair just after another error is no lone surrogate.
        let error =
            Step::from_json(r#"{"parameters": {"a": "\q\ud83d\ude00"}}"#).expect_err("invalid");
        assert!(
            error.message().starts_with("invalid escape"),
            "{}",
            error.message()
        );
        // A backslash escaped before `u` is no escape; a pair before the window is a pair.
        for (text, named) in [
            (
                r#"{"parameters": {"a": "\\ud83d\udc00\ud83d\ude00"}}"#,
                "\\udc00",
            ),
            (r#"{"parameters": {"a": "\ud83d\ude00\ud800"}}"#, "\\ud800"),
            (r#"{"parameters": {"a": "\\ud800\u0041\udc00"}}"#, "\\udc00"),
        ] {
            let error = Step::from_json(text).expect_err("invalid");
            assert!(
                error
                    .message()
                    .starts_with(&format!("{named} is a lone surrogate")),
                "{text}: {}",
                error.message()
            );
        }
        let error = Step::from_json(r#"{"parameters": {"a": "\ud800"}}"#).expect_err("invalid");
        assert!(
            error.message().starts_with("\\ud800 is a lone surrogate"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn syntax_errors_are_located_by_pointer() {
        let error = Step::from_json(r#"{"parameters": {"body": {"acl": [{"a": 1}, {"b": tru}]}}}"#)
            .expect_err("invalid");
        assert_eq!(error.pointer(), Some("/parameters/body/acl/1/b"));
        assert!(
            error.to_string().ends_with("(at /parameters/body/acl/1/b)"),
            "{error}"
        );
    }

    #[test]
    fn columns_count_bytes_so_text_before_the_error_may_be_any_script() {
        let error = Step::from_json(r#"{"parameters": {"d": "Ключ для команды", "e": tru}}"#)
            .expect_err("invalid");
        assert_eq!(error.pointer(), Some("/parameters/e"), "{error}");
    }

    #[test]
    fn lone_surrogates_are_named_as_such() {
        let error = Step::from_json(r#"{"parameters": {"body": {"description": "a\ud800b"}}}"#)
            .expect_err("lone surrogate");
        assert!(
            error.message().starts_with("\\ud800 is a lone surrogate"),
            "{error}"
        );
        assert_eq!(error.pointer(), Some("/parameters/body/description"));
        // A real pair is a character.
        let step = Step::from_json(r#"{"parameters": {"d": "\ud83d\ude00"}}"#).expect("a pair");
        assert_eq!(step.parameters["d"], "😀");
        let error = Step::from_json(r#"{"parameters": {"d": "\udc00"}}"#).expect_err("low alone");
        assert!(
            error.message().starts_with("\\udc00 is a lone surrogate"),
            "{error}"
        );
    }

    #[test]
    fn shape_errors_say_what_is_expected() {
        let error = Step::from_json(r#"{"parameters": []}"#).expect_err("shape");
        assert!(error.message().contains("invalid type"), "{error}");
    }
}
