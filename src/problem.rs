//! Located problems: what is wrong, and where in the step's parameters.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One problem found in a step, located by a JSON Pointer into the step's `parameters`.
///
/// Errors make a step invalid; warnings do not. Both have this shape so an editor can show
/// each one beside the field its `path` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
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

/// The most errors, and the most warnings, one report lists; the rest are counted. A step of
/// 15,000 misspelt permissions gets 100 located errors and a count, not a 200 MB answer.
pub(crate) const MAX_PROBLEMS: usize = 100;

/// The longest message, in bytes: messages that quote input are cut here.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024;

/// The most bytes of paths and messages one list of a report (errors, or warnings) holds: a
/// hundred problems deep under long names could otherwise make an answer of megabytes.
pub(crate) const MAX_LISTED_BYTES: usize = 128 << 10;

/// How many "did you mean" searches one step may cost: each compares a value with every known
/// name, so hostile input must not choose how many are made.
pub(crate) const MAX_SUGGESTIONS: usize = 20;

/// Everything a check found, gathered along the data's path, within [`MAX_PROBLEMS`].
#[derive(Debug)]
pub(crate) struct Findings {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    pub defaults: Vec<AppliedDefault>,
    /// Whether applied defaults are kept: a report lists them, a request about to be sent
    /// has no use for them.
    pub keeps_defaults: bool,
    /// Errors and warnings past the cap, counted but not kept.
    unlisted_errors: usize,
    unlisted_warnings: usize,
    suggestions_left: usize,
}

impl Default for Findings {
    fn default() -> Self {
        Findings {
            errors: Vec::new(),
            warnings: Vec::new(),
            defaults: Vec::new(),
            keeps_defaults: true,
            unlisted_errors: 0,
            unlisted_warnings: 0,
            suggestions_left: MAX_SUGGESTIONS,
        }
    }
}

impl Findings {
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        if self.errors.len() < MAX_PROBLEMS {
            self.errors.push(Problem::new(path, message));
        } else {
            self.unlisted_errors += 1;
        }
    }

    /// [`Findings::error`] for a problem that costs work to spell (a pointer, a message, a
    /// "did you mean"): past the cap it is only counted. Hostile input repeats such problems
    /// by the thousand.
    pub fn error_with(&mut self, problem: impl FnOnce(&mut Self) -> (String, String)) {
        if self.errors.len() < MAX_PROBLEMS {
            let (path, message) = problem(self);
            self.errors.push(Problem::new(path, message));
        } else {
            self.unlisted_errors += 1;
        }
    }

    /// [`Findings::warn`] for a warning that costs work to spell: past the cap it is only
    /// counted.
    pub fn warn_with(&mut self, warning: impl FnOnce() -> (String, String)) {
        if self.warnings.len() < MAX_PROBLEMS {
            let (path, message) = warning();
            self.warnings.push(Problem::new(path, message));
        } else {
            self.unlisted_warnings += 1;
        }
    }

    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        if self.warnings.len() < MAX_PROBLEMS {
            self.warnings.push(Problem::new(path, message));
        } else {
            self.unlisted_warnings += 1;
        }
    }

    /// Counts errors found elsewhere and not kept (rendering keeps at most [`MAX_PROBLEMS`]).
    pub fn unlisted_errors(&mut self, count: usize) {
        self.unlisted_errors += count;
    }

    /// Whether one more "did you mean" search fits the step's budget.
    pub fn may_suggest(&mut self) -> bool {
        let allowed = self.suggestions_left > 0;
        self.suggestions_left = self.suggestions_left.saturating_sub(1);
        allowed
    }

    /// Applies the caps to problems gathered elsewhere (rendering), cuts long messages, and
    /// says how many were left out.
    pub fn finish(&mut self) {
        for (list, unlisted, what) in [
            (&mut self.errors, &mut self.unlisted_errors, "errors"),
            (&mut self.warnings, &mut self.unlisted_warnings, "warnings"),
        ] {
            if list.len() > MAX_PROBLEMS {
                *unlisted += list.len() - MAX_PROBLEMS;
                list.truncate(MAX_PROBLEMS);
            }
            // Within the bytes too, the first problem always listed.
            let mut bytes = 0usize;
            let mut fits = list.len();
            for (i, problem) in list.iter_mut().enumerate() {
                cut(&mut problem.message, MAX_MESSAGE_BYTES);
                bytes = bytes.saturating_add(problem.path.len() + problem.message.len());
                if bytes > MAX_LISTED_BYTES && i > 0 {
                    fits = i;
                    break;
                }
            }
            let by_bytes = fits < list.len();
            if by_bytes {
                *unlisted += list.len() - fits;
                list.truncate(fits);
            }
            if *unlisted > 0 {
                let listed = if by_bytes {
                    format!("at most {MAX_LISTED_BYTES} bytes of them")
                } else {
                    format!("the first {MAX_PROBLEMS}")
                };
                list.push(Problem::new(
                    "",
                    format!("{unlisted} more {what} not listed (a report lists {listed})"),
                ));
            }
        }
    }
}

/// Cuts `text` to at most `max` bytes (at a character boundary) and says how long it was.
pub(crate) fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let total = text.len();
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!("… ({total} bytes in all)"));
}

/// `text` for quoting in a message: cut to `max` bytes.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let mut out = text.to_owned();
    cut(&mut out, max);
    out
}

/// A value the definition supplied because the step did not, shown so nothing is implicit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct AppliedDefault {
    /// Where the value went, as a JSON Pointer into the parameters.
    pub path: String,
    /// The value applied.
    pub value: serde_json::Value,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the cap a problem is counted, and whatever spells it is not run.
    #[test]
    fn a_problem_past_the_cap_is_counted_not_spelled() {
        let mut findings = Findings::default();
        for i in 0..MAX_PROBLEMS {
            findings.error_with(|_| (format!("/{i}"), "spelled".to_owned()));
        }
        findings.error_with(|_| unreachable!("spelled past the cap"));
        findings.error_with(|_| unreachable!("spelled past the cap"));
        for i in 0..MAX_PROBLEMS {
            findings.warn_with(|| (format!("/{i}"), "spelled".to_owned()));
        }
        findings.warn_with(|| unreachable!("spelled past the cap"));
        findings.finish();
        assert_eq!(findings.warnings.len(), MAX_PROBLEMS + 1);
        assert_eq!(
            findings.warnings[MAX_PROBLEMS].message,
            "1 more warnings not listed (a report lists the first 100)"
        );
        assert_eq!(findings.errors.len(), MAX_PROBLEMS + 1);
        assert_eq!(findings.errors[MAX_PROBLEMS - 1].path, "/99");
        assert_eq!(
            findings.errors[MAX_PROBLEMS].message,
            "2 more errors not listed (a report lists the first 100)"
        );
    }

    /// Long paths are listed up to the byte budget, the rest counted.
    #[test]
    fn problems_are_listed_within_a_byte_budget() {
        let mut findings = Findings::default();
        let deep = format!("/{}", "k".repeat(16 << 10));
        for _ in 0..50 {
            findings.error(deep.clone(), "m");
        }
        findings.finish();
        let listed = MAX_LISTED_BYTES / (deep.len() + 1);
        assert_eq!(findings.errors.len(), listed + 1);
        assert_eq!(
            findings.errors[listed].message,
            format!(
                "{} more errors not listed (a report lists at most 131072 bytes of them)",
                50 - listed
            )
        );
        // One problem longer than the budget is still listed.
        let mut findings = Findings::default();
        findings.error("/".repeat(MAX_LISTED_BYTES + 1), "m");
        findings.finish();
        assert_eq!(findings.errors.len(), 1);
    }
}
