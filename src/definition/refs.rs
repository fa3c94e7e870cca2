//! `$ref` resolution: local references are inlined when an operation is selected, so the rest
//! of the crate never sees one.

use super::Definition;
use super::error::{DefinitionError, DefinitionErrorKind as ErrorKind};
use serde_json::{Map, Value};

/// The most JSON values one inlining may produce. Non-recursive `$ref`s that fan out grow
/// exponentially with their depth (an 8 KB file can expand to gigabytes); a real operation's
/// schema is a few thousand values.
pub(crate) const MAX_INLINED_VALUES: usize = 200_000;

/// The most bytes of text (strings, keys, examples) one inlining may copy: a long string counts
/// for its length, not as one value.
pub(crate) const MAX_INLINED_BYTES: usize = 32 << 20;

/// The longest chain of `$ref`s followed from one place.
pub(crate) const MAX_REF_DEPTH: usize = 32;

/// One inlining's progress: the references being followed, and what it has produced.
struct Inlining {
    stack: Vec<String>,
    produced: usize,
    bytes: usize,
}

/// The bytes of text in a value copied whole (an example).
fn text_bytes(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(text_bytes).sum(),
        Value::Object(fields) => fields.iter().map(|(k, v)| k.len() + text_bytes(v)).sum(),
        _ => 8,
    }
}

impl Definition {
    /// A copy of `value` with every local `$ref` replaced by its target, within
    /// [`MAX_INLINED_VALUES`] and [`MAX_REF_DEPTH`].
    pub(super) fn inline(&self, value: &Value) -> Result<Value, DefinitionError> {
        let mut walk = Inlining {
            stack: Vec::new(),
            produced: 0,
            bytes: 0,
        };
        self.inline_in(value, &mut walk)
    }

    fn inline_in(&self, value: &Value, walk: &mut Inlining) -> Result<Value, DefinitionError> {
        walk.produced += 1;
        walk.bytes += match value {
            Value::String(text) => text.len(),
            Value::Object(fields) => fields.keys().map(String::len).sum(),
            _ => 0,
        };
        if walk.bytes > MAX_INLINED_BYTES {
            return Err(DefinitionError::new(
                ErrorKind::Unsupported,
                format!(
                    "{}: inlining its $refs copies more than {} MiB of text (references that fan out: {}); simplify the schema",
                    self.origin,
                    MAX_INLINED_BYTES >> 20,
                    walk.stack.join(" -> ")
                ),
            ));
        }
        if walk.produced > MAX_INLINED_VALUES {
            return Err(DefinitionError::new(
                ErrorKind::Unsupported,
                format!(
                    "{}: inlining its $refs produces more than {MAX_INLINED_VALUES} JSON values (references that fan out: {}); simplify the schema",
                    self.origin,
                    walk.stack.join(" -> ")
                ),
            ));
        }
        match value {
            Value::Object(fields) => {
                if let Some(reference) = fields.get("$ref").and_then(Value::as_str) {
                    let target = self.lookup(reference)?;
                    if walk.stack.iter().any(|seen| seen == reference) {
                        return Err(DefinitionError::new(
                            ErrorKind::Unsupported,
                            format!(
                                "{}: recursive $ref {reference} (through {}) cannot be inlined",
                                self.origin,
                                walk.stack.join(" -> ")
                            ),
                        ));
                    }
                    if walk.stack.len() >= MAX_REF_DEPTH {
                        return Err(DefinitionError::new(
                            ErrorKind::Unsupported,
                            format!(
                                "{}: $ref {reference} is more than {MAX_REF_DEPTH} references deep (through {})",
                                self.origin,
                                walk.stack.join(" -> ")
                            ),
                        ));
                    }
                    walk.stack.push(reference.to_owned());
                    let mut resolved = self.inline_in(target, walk)?;
                    walk.stack.pop();
                    // Siblings of `$ref` (3.1 allows them, e.g. a description) refine the target.
                    if fields.len() > 1
                        && let Value::Object(resolved_fields) = &mut resolved
                    {
                        for (key, sibling) in fields.iter().filter(|(k, _)| *k != "$ref") {
                            resolved_fields.insert(key.clone(), self.inline_in(sibling, walk)?);
                        }
                    }
                    return Ok(resolved);
                }
                let mut out = Map::with_capacity(fields.len());
                for (key, item) in fields {
                    // Examples are data, not schema: a `$ref` key inside one is literal.
                    let inlined = if key == "example" || key == "examples" {
                        walk.bytes += text_bytes(item);
                        item.clone()
                    } else {
                        self.inline_in(item, walk)?
                    };
                    out.insert(key.clone(), inlined);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .map(|item| self.inline_in(item, walk))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn lookup(&self, reference: &str) -> Result<&Value, DefinitionError> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return Err(DefinitionError::new(
                ErrorKind::Unsupported,
                format!(
                    "{}: $ref {reference} points outside the document; only local references (#/...) are supported",
                    self.origin
                ),
            ));
        };
        self.document
            .pointer(&percent_decode(pointer))
            .ok_or_else(|| {
                DefinitionError::new(
                    ErrorKind::Unsupported,
                    format!("{}: $ref {reference} points to nothing", self.origin),
                )
            })
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
