//! Renders a step's parameters against the workflow's state.
//!
//! Any string may hold expressions, `${workflow.input.customer.id}` or
//! `${lookup.output.response.body.plans[0].id}`: a dotted path, with `[n]` indexes, into the
//! context. A string that is exactly one expression takes the referenced value with its JSON
//! type; inside a longer string an expression is substituted as text. `$${` is a literal `${`.
//! Rendering is one pass: a substituted value is never evaluated again.

use crate::problem::{Problem, excerpt, json_kind};
use crate::util::pointer::{append_index, append_token};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Bounds on the work one step may ask for, so hostile parameters cannot make rendering
/// unbounded. Each limit that is hit is reported as an error at the parameter that hit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Most expressions evaluated in one step.
    pub max_expressions: usize,
    /// Deepest nesting of arrays and objects in the parameters.
    pub max_depth: usize,
    /// Most bytes that expressions may substitute into one step, in total.
    pub max_substituted_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_expressions: 1_000,
            max_depth: 64,
            max_substituted_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// Most expressions evaluated in one step.
    pub fn with_max_expressions(mut self, expressions: usize) -> Self {
        self.max_expressions = expressions;
        self
    }

    /// Deepest nesting of arrays and objects in the parameters.
    pub fn with_max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Most bytes that expressions may substitute into one step, in total.
    pub fn with_max_substituted_bytes(mut self, bytes: usize) -> Self {
        self.max_substituted_bytes = bytes;
        self
    }
}

/// A parameter whose whole value came from one expression. Problems found below it are
/// reported at this pointer, since deeper pointers do not exist in the step as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Substitution {
    pub pointer: String,
    pub expression: String,
}

/// What rendering found: problems, and where whole values were substituted.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub problems: Vec<Problem>,
    pub substitutions: Vec<Substitution>,
}

/// Renders `parameters` in place against `context`. Never fails as a whole: a string whose
/// expression does not resolve is left as written and reported, so the rest renders as far
/// as possible. Values without expressions are not touched, let alone copied.
pub(crate) fn render(
    parameters: &mut Map<String, Value>,
    context: &Map<String, Value>,
    limits: &Limits,
) -> Rendered {
    let mut renderer = Renderer {
        context,
        pointer: String::new(),
        limits,
        expressions: 0,
        substituted: 0,
        found: Rendered::default(),
    };
    for (key, item) in parameters.iter_mut() {
        renderer.field(key, item, 1);
    }
    renderer.found
}

struct Renderer<'a> {
    context: &'a Map<String, Value>,
    /// JSON Pointer of the value being rendered.
    pointer: String,
    limits: &'a Limits,
    expressions: usize,
    substituted: usize,
    found: Rendered,
}

impl<'a> Renderer<'a> {
    fn field(&mut self, key: &str, value: &mut Value, depth: usize) {
        let len = self.pointer.len();
        append_token(&mut self.pointer, key);
        self.value(value, depth);
        self.pointer.truncate(len);
    }

    fn item(&mut self, index: usize, value: &mut Value, depth: usize) {
        let len = self.pointer.len();
        append_index(&mut self.pointer, index);
        self.value(value, depth);
        self.pointer.truncate(len);
    }

    fn value(&mut self, value: &mut Value, depth: usize) {
        if depth > self.limits.max_depth && matches!(value, Value::Array(_) | Value::Object(_)) {
            let message = format!(
                "nested deeper than {} levels; rendering stops here",
                self.limits.max_depth
            );
            self.problem(message);
            return;
        }
        match value {
            Value::String(text) => {
                if text.contains('$')
                    && let Some(rendered) = self.string(text)
                {
                    *value = rendered;
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.item(i, item, depth + 1);
                }
            }
            Value::Object(fields) => {
                for (key, item) in fields.iter_mut() {
                    self.field(key, item, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn problem(&mut self, message: String) {
        self.found
            .problems
            .push(Problem::new(self.pointer.clone(), message));
    }

    /// The rendered value of a string that holds a `$`, or `None` to keep it as written
    /// (nothing to substitute, or a problem was recorded).
    fn string(&mut self, text: &str) -> Option<Value> {
        let pieces = match parse(text) {
            Ok(pieces) => pieces,
            Err(message) => {
                self.problem(message);
                return None;
            }
        };
        if let [Piece::Expression(expression, steps)] = pieces.as_slice() {
            let found = self.evaluate(expression, steps)?;
            self.found.substitutions.push(Substitution {
                pointer: self.pointer.clone(),
                expression: (*expression).to_owned(),
            });
            return Some(found.clone());
        }
        if pieces.iter().all(|p| matches!(p, Piece::Text(_))) && !text.contains("$${") {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        for piece in &pieces {
            match piece {
                Piece::Text(literal) => out.push_str(literal),
                Piece::Expression(expression, steps) => {
                    append_as_text(&mut out, self.evaluate(expression, steps)?);
                }
            }
        }
        Some(Value::String(out))
    }

    /// Resolves one expression, counting it against the limits. `None` means a problem was
    /// recorded.
    fn evaluate(&mut self, expression: &str, steps: &[Step<'_>]) -> Option<&'a Value> {
        self.expressions += 1;
        if self.expressions > self.limits.max_expressions {
            if self.expressions == self.limits.max_expressions + 1 {
                self.problem(format!(
                    "more than {} expressions in one step; the rest are not evaluated",
                    self.limits.max_expressions
                ));
            }
            return None;
        }
        let found = match resolve(self.context, steps) {
            Ok(found) => found,
            Err(why) => {
                self.problem(format!(
                    "${{{}}} does not resolve: {why}",
                    excerpt(expression, 200)
                ));
                return None;
            }
        };
        self.substituted += approximate_size(found);
        if self.substituted > self.limits.max_substituted_bytes {
            self.problem(format!(
                "expressions substitute more than {} bytes in one step",
                self.limits.max_substituted_bytes
            ));
            return None;
        }
        Some(found)
    }
}

#[derive(Debug, PartialEq)]
enum Piece<'t> {
    Text(&'t str),
    /// The expression's text and its parsed path.
    Expression(&'t str, Vec<Step<'t>>),
}

/// The literal text before a string's first expression, or `None` when it has none (or
/// cannot be parsed, which rendering reports).
pub(crate) fn before_first_expression(text: &str) -> Option<&str> {
    if !text.contains("${") {
        return None;
    }
    let pieces = parse(text).ok()?;
    let first = pieces
        .iter()
        .position(|piece| matches!(piece, Piece::Expression(..)))?;
    // Literal pieces are slices of `text`, except `${`, which `$${` (3 bytes) spells.
    let end = pieces[..first]
        .iter()
        .map(|piece| match piece {
            Piece::Text("${") => 3,
            Piece::Text(literal) => literal.len(),
            Piece::Expression(..) => 0,
        })
        .sum();
    Some(&text[..end])
}

/// Splits a string into literal text and expressions. `$${` is a literal `${`.
fn parse(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut literal_start = 0;
    let mut at = 0;
    let bytes = text.as_bytes();
    while let Some(offset) = rest.find('$') {
        let dollar = at + offset;
        if bytes[dollar..].starts_with(b"$${") {
            if dollar > literal_start {
                pieces.push(Piece::Text(&text[literal_start..dollar]));
            }
            pieces.push(Piece::Text("${"));
            literal_start = dollar + 3;
            at = literal_start;
        } else if bytes[dollar..].starts_with(b"${") {
            let open = dollar + 2;
            let Some(len) = text[open..].find('}') else {
                return Err(format!(
                    "unterminated expression at byte {dollar}: `${{` has no closing `}}` (write `$${{` for a literal `${{`)"
                ));
            };
            if dollar > literal_start {
                pieces.push(Piece::Text(&text[literal_start..dollar]));
            }
            let expression = &text[open..open + len];
            pieces.push(Piece::Expression(expression, steps(expression)?));
            literal_start = open + len + 1;
            at = literal_start;
        } else {
            at = dollar + 1;
        }
        rest = &text[at..];
    }
    if literal_start < text.len() {
        pieces.push(Piece::Text(&text[literal_start..]));
    }
    Ok(pieces)
}

/// One step of a path: a field name or an array index.
#[derive(Debug, PartialEq)]
enum Step<'t> {
    Field(&'t str),
    Index(usize),
}

/// Parses `a.b[0].c` into its steps.
fn steps(expression: &str) -> Result<Vec<Step<'_>>, String> {
    let invalid = |why: &str| format!("invalid expression ${{{expression}}}: {why}");
    let mut out = Vec::new();
    for (n, segment) in expression.split('.').enumerate() {
        let name_end = segment.find('[').unwrap_or(segment.len());
        let name = &segment[..name_end];
        if name.is_empty() {
            return Err(invalid(if n == 0 && expression.is_empty() {
                "it is empty"
            } else {
                "a path segment is empty"
            }));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| c.is_whitespace() || matches!(c, ']' | '{' | '$' | '"' | '\''))
        {
            return Err(invalid(&format!("unexpected {bad:?} in `{name}`")));
        }
        out.push(Step::Field(name));
        let mut indexes = &segment[name_end..];
        while !indexes.is_empty() {
            let Some(close) = indexes.find(']') else {
                return Err(invalid("`[` without `]`"));
            };
            let digits = &indexes[1..close];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(&format!(
                    "`[{digits}]` is not an array index (a non-negative integer)"
                )));
            }
            let index = digits
                .parse::<usize>()
                .map_err(|_| invalid(&format!("index {digits} is too large")))?;
            out.push(Step::Index(index));
            indexes = &indexes[close + 1..];
            if !indexes.is_empty() && !indexes.starts_with('[') {
                return Err(invalid(&format!("unexpected `{indexes}` after `]`")));
            }
        }
    }
    Ok(out)
}

/// Follows an expression's path through the context, saying how far it got when it fails.
fn resolve<'c>(context: &'c Map<String, Value>, steps: &[Step<'_>]) -> Result<&'c Value, String> {
    let (first, rest) = match steps.split_first() {
        Some((Step::Field(name), rest)) => (*name, rest),
        _ => return Err("an expression starts with a name".to_owned()),
    };
    let mut current = context
        .get(first)
        .ok_or_else(|| format!("the context has no `{first}`{}", available(context)))?;
    let mut walked = first.to_owned();
    for step in rest {
        current = match (step, current) {
            (Step::Field(name), Value::Object(fields)) => fields
                .get(*name)
                .ok_or_else(|| format!("`{walked}` has no field `{name}`{}", available(fields)))?,
            (Step::Index(index), Value::Array(items)) => items.get(*index).ok_or_else(|| {
                format!(
                    "`{walked}` has {} item{}; [{index}] is out of range",
                    items.len(),
                    if items.len() == 1 { "" } else { "s" }
                )
            })?,
            (Step::Field(name), other) => {
                return Err(format!(
                    "`{walked}` is {}, so it has no field `{name}`",
                    json_kind(other)
                ));
            }
            (Step::Index(index), other) => {
                return Err(format!(
                    "`{walked}` is {}, not an array, so [{index}] does not apply",
                    json_kind(other)
                ));
            }
        };
        match step {
            Step::Field(name) => {
                walked.push('.');
                walked.push_str(name);
            }
            Step::Index(index) => {
                let _ = write!(walked, "[{index}]");
            }
        }
    }
    Ok(current)
}

fn available(fields: &Map<String, Value>) -> String {
    const SHOWN: usize = 10;
    if fields.is_empty() {
        return " (it is empty)".to_owned();
    }
    // Names come from the context, not the step: cut, or ten long keys quoted in each of a
    // thousand messages would turn a small step into a huge report.
    let mut names: Vec<String> = fields.keys().take(SHOWN).map(|k| excerpt(k, 40)).collect();
    if fields.len() > SHOWN {
        names.push("...".to_owned());
    }
    format!(" (it has: {})", names.join(", "))
}

/// Strings as they are; everything else in its compact JSON spelling.
fn append_as_text(out: &mut String, value: &Value) {
    match value {
        Value::String(text) => out.push_str(text),
        other => out.push_str(&other.to_string()),
    }
}

/// A cheap upper-bound-ish size of a value, for the substitution budget.
fn approximate_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(text) => text.len() + 2,
        Value::Array(items) => 2 + items.iter().map(approximate_size).sum::<usize>(),
        Value::Object(fields) => {
            2 + fields
                .iter()
                .map(|(k, v)| k.len() + 3 + approximate_size(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn context() -> Map<String, Value> {
        object(json!({
            "workflow": { "workflowId": "wf-7", "input": { "n": 3, "ok": true, "none": null,
                "ids": ["a", "b"], "customer": { "name": "Ada" }, "raw": "${workflow.workflowId}" } },
            "lookup": { "output": { "response": { "body": { "plans": [ { "id": "p-1" } ] } } } }
        }))
    }

    fn one(text: &str) -> (Value, Vec<Problem>) {
        let mut parameters = object(json!({ "v": text }));
        let rendered = render(&mut parameters, &context(), &Limits::default());
        (parameters["v"].clone(), rendered.problems)
    }

    #[test]
    fn whole_value_keeps_json_type() {
        assert_eq!(one("${workflow.input.n}").0, json!(3));
        assert_eq!(one("${workflow.input.ok}").0, json!(true));
        assert_eq!(one("${workflow.input.none}").0, Value::Null);
        assert_eq!(one("${workflow.input.ids}").0, json!(["a", "b"]));
        assert_eq!(
            one("${lookup.output.response.body.plans[0].id}").0,
            json!("p-1")
        );
    }

    #[test]
    fn embedded_values_are_text() {
        assert_eq!(one("n=${workflow.input.n}").0, json!("n=3"));
        assert_eq!(one("${workflow.input.none}!").0, json!("null!"));
        assert_eq!(
            one("ids ${workflow.input.ids}").0,
            json!(r#"ids ["a","b"]"#)
        );
        assert_eq!(
            one("Key for ${workflow.input.customer.name}").0,
            json!("Key for Ada")
        );
    }

    #[test]
    fn escapes_and_single_pass() {
        assert_eq!(one("$${workflow.input.n}").0, json!("${workflow.input.n}"));
        assert_eq!(one("cost: $5").0, json!("cost: $5"));
        assert_eq!(
            one("${workflow.input.raw}").0,
            json!("${workflow.workflowId}")
        );
    }

    #[test]
    fn unresolved_says_how_far_it_got() {
        let (value, problems) = one("${workflow.input.customer.email}");
        assert_eq!(value, json!("${workflow.input.customer.email}"));
        assert_eq!(problems[0].path, "/v");
        assert!(
            problems[0]
                .message
                .contains("`workflow.input.customer` has no field `email`"),
            "{}",
            problems[0].message
        );
        let (_, problems) = one("${workflow.input.ids[5]}");
        assert!(
            problems[0]
                .message
                .contains("has 2 items; [5] is out of range")
        );
        let (_, problems) = one("${nope.x}");
        assert!(problems[0].message.contains("the context has no `nope`"));
        let (_, problems) = one("${workflow.input.n.x}");
        assert!(problems[0].message.contains("is a number"));
    }

    #[test]
    fn the_literal_text_before_the_first_expression() {
        assert_eq!(before_first_expression("plain"), None);
        assert_eq!(before_first_expression("${a.b}"), Some(""));
        assert_eq!(
            before_first_expression("https://x.example/${a.b}/${c}"),
            Some("https://x.example/")
        );
        assert_eq!(before_first_expression("a$${b}c${d}"), Some("a$${b}c"));
        assert_eq!(before_first_expression("only $${escaped}"), None);
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "${", "x ${a.b", "${}", "${a..b}", "${a[x]}", "${a b}", "${a[0]x}",
        ] {
            let (value, problems) = one(bad);
            assert_eq!(value, json!(bad));
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        }
    }

    #[test]
    fn limits_are_errors() {
        let limits = Limits {
            max_expressions: 2,
            ..Limits::default()
        };
        let params =
            json!({"a": ["${workflow.input.n}", "${workflow.input.n}", "${workflow.input.n}"]});
        let mut params = object(params);
        let rendered = render(&mut params, &context(), &limits);
        assert_eq!(params["a"], json!([3, 3, "${workflow.input.n}"]));
        assert_eq!(rendered.problems.len(), 1);
        assert_eq!(rendered.problems[0].path, "/a/2");
    }
}
