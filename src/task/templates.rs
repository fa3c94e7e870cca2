//! The step templates a task keeps: a runner executes the same step of a workflow in run
//! after run, each time handing over the same parameters with new workflow state, and a
//! template checks those parameters whole once instead of every time
//! ([`StepTemplate`](crate::StepTemplate)).
//!
//! Parameters are recognised by content, in order: a hash of their JSON and then an exact
//! comparison, so a template is only ever used for the very parameters it was made from. A
//! template is made the second time the same parameters come, not the first: parameters that
//! come once (rendered by the engine itself, say) cost a hash and no compiling. What is kept
//! is bounded: at most [`MAX_KEPT`] parameter sets of at most [`MAX_KEPT_BYTES`] each; when
//! full, the table starts again empty.

use crate::endpoint::{Endpoint, StepTemplate};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};

/// Most parameter sets remembered.
pub(super) const MAX_KEPT: usize = 256;

/// Largest parameters kept, counted as their strings' bytes and a byte for every other value.
pub(super) const MAX_KEPT_BYTES: usize = 16 << 10;

/// What is known of the parameters with one hash.
enum Kept {
    /// Seen once.
    Seen,
    /// A template of them; `None` when it cannot be checked in parts, so is no use kept.
    Made(Option<Arc<StepTemplate<'static>>>),
}

pub(super) struct Templates {
    /// A random start for each table's hashes.
    seed: u64,
    kept: Mutex<HashMap<u64, Kept>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Templates")
            .field("kept", &kept.len())
            .finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            seed: RandomState::new().hash_one(0u8),
            kept: Mutex::new(HashMap::new()),
        }
    }
}

impl Templates {
    /// The template for these parameters, when they came before and can be checked in parts.
    pub fn get(
        &self,
        endpoint: &Arc<Endpoint>,
        parameters: &Map<String, Value>,
    ) -> Option<Arc<StepTemplate<'static>>> {
        let mut hasher = Quick(self.seed);
        let mut budget = MAX_KEPT_BYTES;
        hash_map(parameters, &mut hasher, &mut budget)?;
        let key = hasher.finish();
        {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            match kept.get(&key) {
                Some(Kept::Made(made)) => {
                    // Another set of parameters may share the hash: used only for its own.
                    return made
                        .as_ref()
                        .filter(|template| same_map(template.parameters(), parameters))
                        .cloned();
                }
                Some(Kept::Seen) => {}
                None => {
                    if kept.len() >= MAX_KEPT {
                        kept.clear();
                    }
                    kept.insert(key, Kept::Seen);
                    return None;
                }
            }
        }
        // Made outside the lock: compiling its checks takes a while.
        let template = StepTemplate::shared(Arc::clone(endpoint), parameters.clone());
        let made = template.checks_in_parts().then(|| Arc::new(template));
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.insert(key, Kept::Made(made.clone()));
        made
    }
}

/// A hash of few instructions a byte (rustc's FxHash, eight bytes at a time): parameters are
/// hashed on every execution, and SipHash took more than the rest of the lookup. A hash
/// only picks the entry, which is then compared whole, and the table is small and bounded, so
/// colliding parameters cost their own template, nothing more.
struct Quick(u64);

impl Quick {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Quick {
    fn write(&mut self, mut bytes: &[u8]) {
        while let Some((word, rest)) = bytes.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            bytes = rest;
        }
        let mut last = [0u8; 8];
        last[..bytes.len()].copy_from_slice(bytes);
        self.add(u64::from_le_bytes(last) ^ (bytes.len() as u64) << 59);
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hashes a value in its order (two objects with the same members in another order are
/// written, and sent, differently). `None` once more than `budget` has been hashed.
fn hash_value(value: &Value, hasher: &mut impl Hasher, budget: &mut usize) -> Option<()> {
    *budget = budget.checked_sub(1)?;
    match value {
        Value::Null => hasher.write_u8(0),
        Value::Bool(flag) => {
            hasher.write_u8(1);
            flag.hash(hasher);
        }
        Value::Number(number) => {
            hasher.write_u8(2);
            number.hash(hasher);
        }
        Value::String(text) => {
            hasher.write_u8(3);
            *budget = budget.checked_sub(text.len())?;
            text.hash(hasher);
        }
        Value::Array(items) => {
            hasher.write_u8(4);
            hasher.write_usize(items.len());
            for item in items {
                hash_value(item, hasher, budget)?;
            }
        }
        Value::Object(fields) => {
            hasher.write_u8(5);
            hash_map(fields, hasher, budget)?;
        }
    }
    Some(())
}

fn hash_map(
    fields: &Map<String, Value>,
    hasher: &mut impl Hasher,
    budget: &mut usize,
) -> Option<()> {
    hasher.write_usize(fields.len());
    for (name, value) in fields {
        *budget = budget.checked_sub(name.len())?;
        name.hash(hasher);
        hash_value(value, hasher, budget)?;
    }
    Some(())
}

/// Equal and in the same order: what `hash_value` tells apart.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(a), Value::Object(b)) => same_map(a, b),
        (a, b) => a == b,
    }
}

fn same_map(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((name_a, a), (name_b, b))| name_a == name_b && same_value(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(fields) => fields,
            _ => unreachable!("an object"),
        }
    }

    fn endpoint() -> Arc<Endpoint> {
        Arc::new(Endpoint::builder().build().expect("endpoint"))
    }

    fn step(description: &str) -> Map<String, Value> {
        object(json!({ "organizationId": "org-1",
                       "body": { "description": description, "allowedIps": ["153.12.32.33"] } }))
    }

    #[test]
    fn a_template_is_made_the_second_time_and_used_after() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let parameters = step("Key ${workflow.input.team}");
        assert!(templates.get(&endpoint, &parameters).is_none(), "seen once");
        let made = templates.get(&endpoint, &parameters).expect("made");
        let again = templates.get(&endpoint, &parameters).expect("kept");
        assert!(Arc::ptr_eq(&made, &again));
        assert_eq!(made.parameters(), &parameters);
    }

    #[test]
    fn other_parameters_get_their_own() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let first = step("Key ${workflow.input.team}");
        let second = step("Other ${workflow.input.team}");
        for _ in 0..2 {
            templates.get(&endpoint, &first);
            templates.get(&endpoint, &second);
        }
        let first_template = templates.get(&endpoint, &first).expect("first");
        let second_template = templates.get(&endpoint, &second).expect("second");
        assert_eq!(first_template.parameters(), &first);
        assert_eq!(second_template.parameters(), &second);
    }

    /// The same members in another order are another request: its body's JSON differs.
    #[test]
    fn members_in_another_order_are_other_parameters() {
        let a = object(json!({ "body": { "description": "d", "type": "secret" } }));
        let b = object(json!({ "body": { "type": "secret", "description": "d" } }));
        assert_eq!(a, b, "serde_json's own equality ignores the order");
        assert!(!same_map(&a, &b));
        let hash = |fields: &Map<String, Value>| {
            let mut h = Quick(7);
            hash_map(fields, &mut h, &mut MAX_KEPT_BYTES.clone()).expect("small");
            h.finish()
        };
        assert_ne!(hash(&a), hash(&b));
        let endpoint = endpoint();
        let templates = Templates::default();
        for _ in 0..2 {
            templates.get(&endpoint, &a);
        }
        assert!(templates.get(&endpoint, &b).is_none(), "b seen once");
        let b_template = templates.get(&endpoint, &b).expect("b");
        assert!(same_map(b_template.parameters(), &b));
    }

    #[test]
    fn what_cannot_be_checked_in_parts_is_not_kept() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let parameters = object(json!({ "organizationId": "${workflow.input.org}",
                                        "body": { "description": "d" } }));
        for _ in 0..3 {
            assert!(templates.get(&endpoint, &parameters).is_none());
        }
    }

    #[test]
    fn large_parameters_are_not_kept() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let parameters = step(&"x".repeat(MAX_KEPT_BYTES));
        for _ in 0..3 {
            assert!(templates.get(&endpoint, &parameters).is_none());
        }
        let kept = templates.kept.lock().expect("lock");
        assert!(kept.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let endpoint = endpoint();
        let templates = Templates::default();
        for n in 0..(MAX_KEPT * 2 + 10) {
            templates.get(&endpoint, &step(&format!("key {n}")));
            let kept = templates.kept.lock().expect("lock");
            assert!(kept.len() <= MAX_KEPT);
        }
    }
}
