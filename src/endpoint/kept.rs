//! The step templates an endpoint keeps: a runner executes the same step of a workflow in
//! run after run, each time handing over the same parameters with new workflow state, and a
//! template checks those parameters whole once instead of every time
//! ([`StepTemplate`](crate::StepTemplate)). Kept by the endpoint, so that every way of
//! executing a step gets them: [`Executor::execute`](crate::Executor::execute), a `Task`, the
//! editor API.
//!
//! Parameters are recognised by content, in order: a hash and then an exact comparison, so a
//! template is only ever used for the very parameters it was made from. A template is made
//! the next time parameters come after an execution of them succeeded: parameters that
//! come once, or fail (and are retried), cost a hash and compile nothing. What is kept is
//! bounded: at most [`MAX_KEPT`] templates of parameters of at most [`MAX_PARAMETER_BYTES`]
//! as held in memory, at most [`MAX_HELD_BYTES`] for an endpoint and its siblings together,
//! and [`MAX_PASSED`] parameter sets remembered as having succeeded; when full, another is
//! left out for each that comes.

use super::template::Compiled;
use super::{Endpoint, StepTemplate};
use crate::util::lock;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Most templates kept.
pub(super) const MAX_KEPT: usize = 256;

/// Most parameter sets remembered as having succeeded, before a template is made of them,
/// and as having a template of no use.
pub(super) const MAX_PASSED: usize = 1_024;

/// Largest parameters kept, as held in memory: their text and [`NODE_BYTES`] for every value.
pub(super) const MAX_PARAMETER_BYTES: usize = 64 << 10;

/// What a value of parameters takes beside its text: serde_json's `Value`, and for a member
/// an ordered map's entry.
const NODE_BYTES: usize = 64;

/// Most memory held by the templates of an endpoint and its siblings together ([`Held`]),
/// each counted as [`Compiled::held_bytes`] with its parameters four times (the template's
/// copy; the first request it keeps, whose URL and headers come from them; and that
/// request's headers as the executor keeps them for the wire, where a header takes about
/// twice what it does in the parameters) and [`URL_BYTES`].
pub(super) const MAX_HELD_BYTES: usize = 8 << 20;

/// What the URL a template keeps may add beyond its parameters: a server from the
/// definition, as text and parsed.
const URL_BYTES: usize = 16 << 10;

/// The most one template may hold and be kept: a quarter of the table.
const MAX_TEMPLATE_BYTES: usize = MAX_HELD_BYTES / 4;

enum Kept {
    /// Being made by an execution; the others meanwhile execute the step whole.
    Making,
    /// A template of the parameters, and the bytes it holds.
    Made(Arc<Compiled>, usize),
}

#[derive(Default)]
struct Table {
    /// Parameters an execution of which succeeded, by hash: a template is made the next time
    /// they come.
    passed: Slots<()>,
    /// Parameters whose template is no use (it cannot be checked in parts) or too large to
    /// keep, by hash: they are executed whole without trying again.
    whole: Slots<()>,
    kept: Slots<Kept>,
    /// Bytes held by the templates kept.
    held: usize,
}

/// Adds `key` to a set of at most [`MAX_PASSED`], leaving another out when full.
fn remember(set: &mut Slots<()>, key: u64) {
    if set.len() >= MAX_PASSED
        && let Some(other) = set.other_than(key, |()| true)
    {
        set.remove(other);
    }
    set.insert(key, ());
}

/// Entries by key, in a vector with an index, so that one can be picked by place: when a
/// table is full, the one to leave out is at a place the incoming key picks (keys are
/// hashes), which has nothing to do with use. A cycle of more parameters than fit then still
/// finds most of them; leaving out the oldest or the least recently used would find none.
struct Slots<V> {
    entries: Vec<(u64, V)>,
    at: HashMap<u64, usize, AsIs>,
}

impl<V> Default for Slots<V> {
    fn default() -> Self {
        Slots {
            entries: Vec::new(),
            at: HashMap::default(),
        }
    }
}

impl<V> Slots<V> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn contains(&self, key: u64) -> bool {
        self.at.contains_key(&key)
    }

    fn get(&self, key: u64) -> Option<&V> {
        let &at = self.at.get(&key)?;
        self.entries.get(at).map(|(_, value)| value)
    }

    /// Sets `key`'s value, giving back the one it replaces.
    fn insert(&mut self, key: u64, value: V) -> Option<V> {
        match self.at.get(&key).and_then(|&at| self.entries.get_mut(at)) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.at.insert(key, self.entries.len());
                self.entries.push((key, value));
                None
            }
        }
    }

    fn remove(&mut self, key: u64) -> Option<V> {
        let at = self.at.remove(&key)?;
        let (_, value) = self.entries.swap_remove(at);
        if let Some((moved, _)) = self.entries.get(at) {
            self.at.insert(*moved, at);
        }
        Some(value)
    }

    /// A key other than `key` whose value `may_go`, from the place `key` picks on.
    fn other_than(&self, key: u64, may_go: impl Fn(&V) -> bool) -> Option<u64> {
        let start = (key % self.entries.len().max(1) as u64) as usize;
        let (before, after) = self.entries.split_at(start.min(self.entries.len()));
        after
            .iter()
            .chain(before)
            .find(|(other, value)| *other != key && may_go(value))
            .map(|(other, _)| *other)
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, value)| value)
    }
}

/// Bytes held by the templates of every endpoint compiled from one builder (an endpoint and
/// its siblings, as the editor API compiles each operation of a definition), so that
/// [`MAX_HELD_BYTES`] bounds them all together.
#[derive(Debug, Default)]
pub(crate) struct Held(AtomicUsize);

impl Held {
    /// Counts `bytes` more if they fit.
    fn reserve(&self, bytes: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes)
                    .filter(|&total| total <= MAX_HELD_BYTES)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.0.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// What an execution does with parameters.
pub(crate) enum Lookup<'e> {
    /// Executes them from this template.
    Template(StepTemplate<'e>),
    /// Executes them as a step; when they may be kept, tells [`Templates::passed`] this key
    /// if the execution succeeds.
    Step(Option<u64>),
}

pub(crate) struct Templates {
    /// A random start for each table's hashes.
    seed: u64,
    table: Mutex<Table>,
    /// Shared with the endpoint's siblings.
    all: Arc<Held>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = lock(&self.table);
        f.debug_struct("Templates")
            .field("kept", &table.kept.len())
            .field("held_bytes", &table.held)
            .finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::sharing(Arc::default())
    }
}

/// What it held no longer counts against its siblings'.
impl Drop for Templates {
    fn drop(&mut self) {
        self.all.release(lock(&self.table).held);
    }
}

impl Templates {
    /// Templates that count what they hold in `all`, with their siblings'.
    pub fn sharing(all: Arc<Held>) -> Self {
        Templates {
            seed: RandomState::new().hash_one(0u8),
            table: Mutex::new(Table::default()),
            all,
        }
    }

    /// How to execute these parameters.
    pub fn get<'e>(&self, endpoint: &'e Endpoint, parameters: &Map<String, Value>) -> Lookup<'e> {
        // A create at an id the step chose goes out as another operation, which templates do
        // not cover.
        if !endpoint.sends_as_itself(parameters) {
            return Lookup::Step(None);
        }
        let mut hasher = Quick(self.seed);
        let mut budget = MAX_PARAMETER_BYTES;
        if hash_map(parameters, &mut hasher, &mut budget).is_none() {
            return Lookup::Step(None);
        }
        let key = hasher.finish();
        let parameter_bytes = MAX_PARAMETER_BYTES - budget;
        {
            let mut table = lock(&self.table);
            let found = match table.kept.get(key) {
                Some(Kept::Made(compiled, _)) => Some(Arc::clone(compiled)),
                Some(Kept::Making) => return Lookup::Step(None),
                None if table.whole.contains(key) => return Lookup::Step(None),
                None => None,
            };
            if let Some(compiled) = found {
                drop(table);
                // Compared outside the lock, which every execution of the endpoint takes.
                // Other parameters may share the hash: a template is used only for its own.
                return if same_map(compiled.parameters(), parameters) {
                    Lookup::Template(StepTemplate::kept(endpoint, compiled))
                } else {
                    Lookup::Step(None)
                };
            }
            if table.passed.remove(key).is_none() {
                return Lookup::Step(Some(key));
            }
            table.kept.insert(key, Kept::Making);
        }
        // Made outside the lock: compiling its checks takes a while.
        let template = endpoint.template(parameters.clone());
        let compiled = template.compiled();
        let bytes = 4 * parameter_bytes + URL_BYTES + compiled.held_bytes();
        let mut table = lock(&self.table);
        if !compiled.checks_in_parts() || bytes > MAX_TEMPLATE_BYTES {
            if matches!(table.kept.get(key), Some(Kept::Making)) {
                table.kept.remove(key);
            }
            remember(&mut table.whole, key);
            drop(table);
            // Made already: this execution may as well use it.
            return if template.checks_in_parts() {
                Lookup::Template(template)
            } else {
                Lookup::Step(None)
            };
        }
        // Room is made by leaving others out, one at a time, at places this key picks
        // ([`Slots`]); those left out are dropped outside the lock.
        let mut left_out = Vec::new();
        let room = loop {
            let others = table.kept.len() - usize::from(table.kept.contains(key));
            if others < MAX_KEPT && self.all.reserve(bytes) {
                break true;
            }
            let other = table
                .kept
                .other_than(key, |kept| matches!(kept, Kept::Made(..)));
            let Some(Kept::Made(compiled, held)) = other.and_then(|other| table.kept.remove(other))
            else {
                // Nothing of this endpoint's left to leave out: the siblings hold the room.
                break false;
            };
            table.held -= held;
            self.all.release(held);
            left_out.push(compiled);
        };
        if room {
            table.held += bytes;
            let replaced = table
                .kept
                .insert(key, Kept::Made(Arc::clone(compiled), bytes));
            if let Some(Kept::Made(_, held)) = replaced {
                table.held -= held;
                self.all.release(held);
            }
        } else if matches!(table.kept.get(key), Some(Kept::Making)) {
            table.kept.remove(key);
        }
        drop(table);
        drop(left_out);
        Lookup::Template(template)
    }

    /// How many templates are kept (not those being made).
    pub fn len(&self) -> usize {
        lock(&self.table)
            .kept
            .values()
            .filter(|kept| matches!(kept, Kept::Made(..)))
            .count()
    }

    /// An execution of the parameters with this key succeeded: they get a template the next
    /// time they come.
    pub fn passed(&self, key: u64) {
        let mut table = lock(&self.table);
        if !table.kept.contains(key) && !table.whole.contains(key) {
            remember(&mut table.passed, key);
        }
    }
}

/// The tables' keys are hashes already, seeded: they are used as they are, not hashed again.
type AsIs = BuildHasherDefault<Key>;

#[derive(Default)]
struct Key(u64);

impl Hasher for Key {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash of few instructions a byte, eight bytes at a time, each word mixed in by a folded
/// multiply (the 128-bit product's halves XORed, as foldhash does): parameters are hashed on
/// every execution, and SipHash took more than the rest of the lookup. FxHash's plain
/// multiply, tried first, let a word's top byte reach only the top bits, and parameters
/// differing in one digit collided. A hash only picks the entry, which is then compared
/// whole, and the table is small and bounded, so colliding parameters cost their own
/// template, nothing more.
struct Quick(u64);

impl Quick {
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * 0x9e37_79b9_7f4a_7c15;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    /// A kind of node and a count (a text's bytes, an array's items, an object's members) in
    /// one word: what follows is delimited by it.
    #[inline]
    fn node(&mut self, kind: u8, count: usize) {
        self.add((count as u64) << 8 | u64::from(kind));
    }

    /// Bytes after their length, eight at a time, the last few read without a copy.
    #[inline]
    fn bytes(&mut self, kind: u8, mut bytes: &[u8]) {
        self.node(kind, bytes.len());
        while let Some((word, rest)) = bytes.split_first_chunk::<8>() {
            self.add(u64::from_le_bytes(*word));
            bytes = rest;
        }
        if bytes.is_empty() {
            return;
        }
        let (mut last, mut shift) = (0u64, 0);
        if let Some((four, rest)) = bytes.split_first_chunk::<4>() {
            last = u64::from(u32::from_le_bytes(*four));
            shift = 32;
            bytes = rest;
        }
        if let Some((two, rest)) = bytes.split_first_chunk::<2>() {
            last |= u64::from(u16::from_le_bytes(*two)) << shift;
            shift += 16;
            bytes = rest;
        }
        if let Some(&one) = bytes.first() {
            last |= u64::from(one) << shift;
        }
        self.add(last);
    }
}

/// For serde_json's own hash of a number.
impl Hasher for Quick {
    fn write(&mut self, bytes: &[u8]) {
        self.bytes(7, bytes);
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hashes a value in its order (two objects with the same members in another order are
/// written, and sent, differently), charging `budget` for what it holds in memory. `None`
/// once the budget is spent. Each node starts with a word of its kind and count, so values
/// of different shapes write different words (numbers without `exact-numbers` are hashed as
/// serde_json hashes them, which may give two numbers the same words: the comparison that
/// follows tells them apart).
fn hash_value(value: &Value, hasher: &mut Quick, budget: &mut usize) -> Option<()> {
    *budget = budget.checked_sub(NODE_BYTES)?;
    match value {
        Value::Null => hasher.node(0, 0),
        Value::Bool(flag) => hasher.node(1, usize::from(*flag)),
        Value::Number(number) => {
            hasher.node(2, 0);
            match exact_float(number) {
                Some(bits) => hasher.add(bits),
                None => number.hash(hasher),
            }
        }
        Value::String(text) => {
            *budget = budget.checked_sub(text.len())?;
            hasher.bytes(3, text.as_bytes());
        }
        Value::Array(items) => {
            hasher.node(4, items.len());
            for item in items {
                hash_value(item, hasher, budget)?;
            }
        }
        Value::Object(fields) => hash_map(fields, hasher, budget)?,
    }
    Some(())
}

fn hash_map(fields: &Map<String, Value>, hasher: &mut Quick, budget: &mut usize) -> Option<()> {
    hasher.node(5, fields.len());
    for (name, value) in fields {
        *budget = budget.checked_sub(name.len())?;
        hasher.bytes(6, name.as_bytes());
        hash_value(value, hasher, budget)?;
    }
    Some(())
}

/// A float's bits, where serde_json's own equality and hash do not tell apart what is written
/// differently: without `exact-numbers`, `0.0` and `-0.0` are equal. With it, a number is its
/// digits, compared as written, and this is `None`.
fn exact_float(number: &Number) -> Option<u64> {
    if cfg!(feature = "exact-numbers") || !number.is_f64() {
        return None;
    }
    number.as_f64().map(f64::to_bits)
}

/// Equal as written and in the same order: what `hash_value` tells apart.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(a), Value::Object(b)) => same_map(a, b),
        (Value::Number(a), Value::Number(b)) => a == b && exact_float(a) == exact_float(b),
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
    use crate::util::json::object;
    use serde_json::json;
    use std::collections::HashSet;

    fn endpoint() -> Endpoint {
        Endpoint::builder().build().expect("endpoint")
    }

    fn step(description: &str) -> Map<String, Value> {
        object(json!({ "organizationId": "org-1",
                       "body": { "description": description, "allowedIps": ["153.12.32.33"] } }))
    }

    /// The key to report a success with, or the template.
    fn look(
        templates: &Templates,
        endpoint: &Endpoint,
        parameters: &Map<String, Value>,
    ) -> Result<Arc<Compiled>, Option<u64>> {
        match templates.get(endpoint, parameters) {
            Lookup::Template(template) => Ok(Arc::clone(template.compiled())),
            Lookup::Step(key) => Err(key),
        }
    }

    /// Puts an entry in the table by hand.
    fn plant(templates: &Templates, key: u64, kept: Kept) {
        lock(&templates.table).kept.insert(key, kept);
    }

    /// The key of parameters seen for the first time: no template yet, and one may be kept.
    fn first_key(
        templates: &Templates,
        endpoint: &Endpoint,
        parameters: &Map<String, Value>,
    ) -> u64 {
        look(templates, endpoint, parameters)
            .expect_err("not made yet")
            .expect("may be kept")
    }

    /// Parameters seen and executed with success once.
    fn passed(templates: &Templates, endpoint: &Endpoint, parameters: &Map<String, Value>) {
        templates.passed(first_key(templates, endpoint, parameters));
    }

    #[test]
    fn a_template_is_made_after_a_success_and_used_after() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let parameters = step("Key ${workflow.input.team}");
        // Failures (the runner retries them) make nothing.
        for _ in 0..3 {
            assert!(look(&templates, &endpoint, &parameters).is_err());
        }
        passed(&templates, &endpoint, &parameters);
        let made = look(&templates, &endpoint, &parameters).expect("made");
        let again = look(&templates, &endpoint, &parameters).expect("kept");
        assert!(Arc::ptr_eq(&made, &again));
        assert_eq!(made.parameters(), &parameters);
    }

    /// An endpoint built not to keep templates makes none, however often its parameters pass.
    #[test]
    fn an_endpoint_may_keep_none() {
        let parameters = step("Key ${workflow.input.team}");
        for (keep, kept) in [(true, 1), (false, 0)] {
            let endpoint = Endpoint::builder()
                .keep_templates(keep)
                .build()
                .expect("endpoint");
            for _ in 0..3 {
                if let Lookup::Step(Some(key)) = endpoint.kept_template(&parameters) {
                    endpoint.passed(key);
                }
            }
            assert_eq!(
                matches!(endpoint.kept_template(&parameters), Lookup::Template(_)),
                keep
            );
            assert_eq!(endpoint.templates_kept(), kept);
        }
    }

    #[test]
    fn other_parameters_get_their_own() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let first = step("Key ${workflow.input.team}");
        let second = step("Other ${workflow.input.team}");
        passed(&templates, &endpoint, &first);
        passed(&templates, &endpoint, &second);
        let first_template = look(&templates, &endpoint, &first).expect("first");
        let second_template = look(&templates, &endpoint, &second).expect("second");
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
            hash_map(fields, &mut h, &mut MAX_PARAMETER_BYTES.clone()).expect("small");
            h.finish()
        };
        assert_ne!(hash(&a), hash(&b));
        let endpoint = endpoint();
        let templates = Templates::default();
        passed(&templates, &endpoint, &a);
        assert!(look(&templates, &endpoint, &a).is_ok());
        passed(&templates, &endpoint, &b);
        let b_template = look(&templates, &endpoint, &b).expect("b");
        assert!(same_map(b_template.parameters(), &b));
    }

    /// Parameters differing in one digit, or in one byte anywhere, hash apart (FxHash's plain
    /// multiply did not: a word's top byte reached only the top bits).
    #[test]
    fn near_parameters_hash_apart() {
        for seed in [0, 1, 0x5bc8_fbbc_bde5_c099, u64::MAX] {
            let hash = |fields: &Map<String, Value>| {
                let mut h = Quick(seed);
                hash_map(fields, &mut h, &mut MAX_PARAMETER_BYTES.clone()).expect("small");
                h.finish()
            };
            let mut seen = HashSet::new();
            for n in 0..10_000 {
                let fields =
                    object(json!({ "organizationId": format!("${{workflow.input.org}}-{n}") }));
                assert!(seen.insert(hash(&fields)), "seed {seed:x}, {n}");
            }
            let mut seen = HashSet::new();
            for at in 0..40 {
                for byte in b'0'..=b'z' {
                    let mut text = vec![b'x'; 40];
                    text[at] = byte;
                    let text = String::from_utf8(text).expect("ASCII");
                    if byte != b'x' || at == 0 {
                        let fields = object(json!({ "description": text }));
                        assert!(seen.insert(hash(&fields)), "seed {seed:x}, {at} {byte}");
                    }
                }
            }
        }
    }

    /// Values of different shapes whose texts are alike hash apart: each node begins with its
    /// kind and count.
    #[test]
    fn shapes_hash_apart() {
        let values = [
            json!(null),
            json!(false),
            json!(true),
            json!(0),
            json!(1),
            json!(""),
            json!("ab"),
            json!("a"),
            json!(["ab"]),
            json!(["a", "b"]),
            json!([["a"], "b"]),
            json!({ "a": "b" }),
            json!({ "ab": "" }),
            json!({ "a": ["b"] }),
            json!([]),
            json!({}),
            json!([null]),
            json!("abcdefgh"),
            json!("abcdefgh\u{0}"),
            json!("abcdefghi"),
        ];
        let mut seen = HashSet::new();
        for value in &values {
            let mut h = Quick(3);
            let fields = object(json!({ "body": value }));
            hash_map(&fields, &mut h, &mut MAX_PARAMETER_BYTES.clone()).expect("small");
            assert!(seen.insert(h.finish()), "{value}");
        }
    }

    /// Without `exact-numbers`, serde_json finds `0.0` and `-0.0` equal; they are written
    /// differently, so they are other parameters.
    #[test]
    fn numbers_are_the_same_only_as_written() {
        let zero = object(json!({ "body": { "n": 0.0 } }));
        let negative: Map<String, Value> =
            serde_json::from_str(r#"{ "body": { "n": -0.0 } }"#).expect("JSON");
        assert!(!same_map(&zero, &negative));
        let one = object(json!({ "body": { "n": 1 } }));
        assert!(same_map(&one, &object(json!({ "body": { "n": 1 } }))));
    }

    /// A collision, planted: parameters whose hash holds another's template get none.
    #[test]
    fn a_template_serves_only_its_own_parameters() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let mine = step("Mine ${workflow.input.team}");
        let theirs = step("Theirs ${workflow.input.team}");
        let key = first_key(&templates, &endpoint, &mine);
        let planted = Arc::clone(endpoint.template(theirs).compiled());
        plant(&templates, key, Kept::Made(planted, 0));
        assert_eq!(
            look(&templates, &endpoint, &mine).expect_err("not theirs"),
            None
        );
    }

    /// A stream of steps that each succeed once remembers them apart from the templates,
    /// which it never empties.
    #[test]
    fn steps_that_come_once_leave_the_templates_alone() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let repeated = step("Repeated ${workflow.input.team}");
        passed(&templates, &endpoint, &repeated);
        let made = look(&templates, &endpoint, &repeated).expect("made");
        for n in 0..(MAX_PASSED + 10) {
            passed(&templates, &endpoint, &step(&format!("once {n}")));
            assert!(templates.table.lock().expect("lock").passed.len() <= MAX_PASSED);
        }
        let kept = look(&templates, &endpoint, &repeated).expect("kept");
        assert!(Arc::ptr_eq(&made, &kept));
    }

    /// While one execution makes a template, the others execute the step whole.
    #[test]
    fn a_template_being_made_is_made_once() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let parameters = step("Key ${workflow.input.team}");
        let key = first_key(&templates, &endpoint, &parameters);
        plant(&templates, key, Kept::Making);
        templates.passed(key);
        assert_eq!(
            look(&templates, &endpoint, &parameters).expect_err("being made"),
            None
        );
    }

    /// Parameters whose template is no use are remembered apart, and leave the useful
    /// templates in place however many come.
    #[test]
    fn templates_of_no_use_leave_the_others_alone() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let useful = step("Useful ${workflow.input.team}");
        passed(&templates, &endpoint, &useful);
        let made = look(&templates, &endpoint, &useful).expect("made");
        for n in 0..(MAX_KEPT + 10) {
            let outside = object(
                json!({ "organizationId": format!("${{workflow.input.org}}-{n}"),
                                         "body": { "description": "d" } }),
            );
            passed(&templates, &endpoint, &outside);
            assert_eq!(
                look(&templates, &endpoint, &outside).expect_err("whole"),
                None
            );
            assert_eq!(
                look(&templates, &endpoint, &outside).expect_err("whole"),
                None
            );
        }
        let kept = look(&templates, &endpoint, &useful).expect("kept");
        assert!(Arc::ptr_eq(&made, &kept));
        assert_eq!(templates.table.lock().expect("lock").kept.len(), 1);
    }

    /// A create at a chosen id is two requests of another operation: no hash, no marker.
    #[test]
    fn a_step_sent_as_another_operation_is_not_remembered() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let parameters = object(json!({ "organizationId": "org-1", "keyId": "tw-1",
                                        "body": { "description": "d" } }));
        assert_eq!(
            look(&templates, &endpoint, &parameters).expect_err("whole"),
            None
        );
    }

    #[test]
    fn what_cannot_be_checked_in_parts_is_not_kept() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let parameters = object(json!({ "organizationId": "${workflow.input.org}",
                                        "body": { "description": "d" } }));
        passed(&templates, &endpoint, &parameters);
        for _ in 0..3 {
            assert_eq!(
                look(&templates, &endpoint, &parameters).expect_err("whole"),
                None
            );
        }
    }

    #[test]
    fn large_parameters_are_not_kept() {
        let endpoint = endpoint();
        let templates = Templates::default();
        // Few bytes of text, many values: counted as held in memory.
        let items = vec![json!([]); MAX_PARAMETER_BYTES / NODE_BYTES];
        let parameters = object(json!({ "body": { "acl": items } }));
        assert_eq!(
            look(&templates, &endpoint, &parameters).expect_err("large"),
            None
        );
        let text = step(&"x".repeat(MAX_PARAMETER_BYTES));
        assert_eq!(look(&templates, &endpoint, &text).expect_err("large"), None);
        assert_eq!(templates.table.lock().expect("lock").kept.len(), 0);
    }

    /// Entries stay where the index says through insertions and removals, and a key picks
    /// another present one to leave out.
    #[test]
    fn slots_keep_their_index_through_removals() {
        let mut slots = Slots::default();
        let mut model = HashMap::new();
        let mut x: u64 = 0x9e37_79b9;
        for step in 0..5_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x >> 8) % 64;
            if x & 1 == 0 {
                assert_eq!(slots.insert(key, step), model.insert(key, step));
            } else {
                assert_eq!(slots.remove(key), model.remove(&key));
            }
            assert_eq!(slots.len(), model.len());
            for (other, value) in &model {
                assert_eq!(slots.get(*other), Some(value));
            }
            match slots.other_than(key, |_| true) {
                Some(other) => assert!(other != key && model.contains_key(&other)),
                None => assert!(model.keys().all(|&other| other == key)),
            }
        }
    }

    /// More repeated steps than fit, in a cycle: leaving one out for each that comes, instead
    /// of starting again empty, keeps most of them (emptying kept at most a sixth).
    #[test]
    fn a_cycle_of_more_steps_than_fit_finds_most_of_them() {
        let endpoint = endpoint();
        let templates = Templates::default();
        let steps: Vec<_> = (0..MAX_KEPT + 44)
            .map(|n| step(&format!("key {n} ${{workflow.input.team}}")))
            .collect();
        let mut found = 0;
        for cycle in 0..6 {
            for parameters in &steps {
                match look(&templates, &endpoint, parameters) {
                    Ok(_) if cycle >= 3 => found += 1,
                    Ok(_) => {}
                    Err(Some(key)) => templates.passed(key),
                    Err(None) => {}
                }
                assert!(templates.len() <= MAX_KEPT);
            }
        }
        assert!(
            found * 4 >= 3 * 3 * steps.len(),
            "{found} of {}",
            3 * steps.len()
        );
    }

    /// An endpoint's siblings count what their templates hold together; what one drops no
    /// longer counts.
    #[test]
    fn siblings_share_the_bound_in_bytes() {
        let endpoint = endpoint();
        let sibling = endpoint.sibling("GetApiKey").expect("sibling");
        assert!(Arc::ptr_eq(
            &endpoint.options.templates_held,
            &sibling.options.templates_held
        ));
        let all = Arc::new(Held::default());
        let first = Templates::sharing(Arc::clone(&all));
        let second = Templates::sharing(Arc::clone(&all));
        let large = |n: usize| {
            step(&format!(
                "{n} {} ${{workflow.input.team}}",
                "x".repeat(40 << 10)
            ))
        };
        for n in 0..40 {
            for templates in [&first, &second] {
                passed(templates, &endpoint, &large(n));
                assert!(look(templates, &endpoint, &large(n)).is_ok());
                let together = lock(&first.table).held + lock(&second.table).held;
                assert_eq!(all.0.load(Ordering::Acquire), together);
                assert!(together <= MAX_HELD_BYTES, "{together}");
            }
        }
        assert!(second.len() > 0);
        drop(first);
        assert_eq!(all.0.load(Ordering::Acquire), lock(&second.table).held);
    }

    #[test]
    fn the_table_is_bounded_in_entries_and_bytes() {
        let endpoint = endpoint();
        let templates = Templates::default();
        for n in 0..(MAX_KEPT * 2 + 10) {
            let parameters = step(&format!("key {n} ${{workflow.input.team}}"));
            passed(&templates, &endpoint, &parameters);
            assert!(look(&templates, &endpoint, &parameters).is_ok());
            let table = templates.table.lock().expect("lock");
            assert!(table.kept.len() <= MAX_KEPT);
            assert!(table.held <= MAX_HELD_BYTES);
        }
        // Large templates fill the bytes before the entries.
        let templates = Templates::default();
        let large = |n: usize| {
            step(&format!(
                "{n} {} ${{workflow.input.team}}",
                "x".repeat(40 << 10)
            ))
        };
        let mut most = 0;
        for n in 0..MAX_KEPT {
            passed(&templates, &endpoint, &large(n));
            assert!(look(&templates, &endpoint, &large(n)).is_ok());
            let table = templates.table.lock().expect("lock");
            assert!(table.held <= MAX_HELD_BYTES, "{}", table.held);
            most = most.max(table.kept.len());
        }
        assert!(most < MAX_KEPT, "{most}");
    }
}
