//! `$ref` resolution: local references are inlined when an operation is selected, so the rest
//! of the crate never sees one.

use super::Definition;
use super::error::{DefinitionError, DefinitionErrorKind as ErrorKind};
use serde_json::{Map, Value};

impl Definition {
    /// A copy of `value` with every local `$ref` replaced by its target.
    pub(super) fn inline(
        &self,
        value: &Value,
        stack: &mut Vec<String>,
    ) -> Result<Value, DefinitionError> {
        match value {
            Value::Object(fields) => {
                if let Some(reference) = fields.get("$ref").and_then(Value::as_str) {
                    let target = self.lookup(reference)?;
                    if stack.iter().any(|seen| seen == reference) {
                        return Err(DefinitionError::new(
                            ErrorKind::Unsupported,
                            format!(
                                "{}: recursive $ref {reference} (through {}) cannot be inlined",
                                self.origin,
                                stack.join(" -> ")
                            ),
                        ));
                    }
                    stack.push(reference.to_owned());
                    let mut resolved = self.inline(target, stack)?;
                    stack.pop();
                    // Siblings of `$ref` (3.1 allows them, e.g. a description) refine the target.
                    if fields.len() > 1
                        && let Value::Object(resolved_fields) = &mut resolved
                    {
                        for (key, sibling) in fields.iter().filter(|(k, _)| *k != "$ref") {
                            resolved_fields.insert(key.clone(), self.inline(sibling, stack)?);
                        }
                    }
                    return Ok(resolved);
                }
                let mut out = Map::with_capacity(fields.len());
                for (key, item) in fields {
                    // Examples are data, not schema: a `$ref` key inside one is literal.
                    let inlined = if key == "example" || key == "examples" {
                        item.clone()
                    } else {
                        self.inline(item, stack)?
                    };
                    out.insert(key.clone(), inlined);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .map(|item| self.inline(item, stack))
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
