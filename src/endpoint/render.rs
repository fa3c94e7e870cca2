//! Renders a step's parameters against the workflow's state.
//!
//! Any string may hold expressions, `${workflow.input.customer.id}` or
//! `${lookup.output.response.body.plans[0].id}`: a dotted path, with `[n]` indexes, into the
//! context. A string that is exactly one expression takes the referenced value with its JSON
//! type; inside a longer string an expression is substituted as text. `$${` is a literal `${`.
//! Rendering is one pass: a substituted value is never evaluated again.

use crate::problem::{MAX_PROBLEMS, Problem, excerpt, json_kind};
use crate::util::pointer::Token;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt::{self, Write as _};

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
    /// Most values that the wildcards (`[*]`) of one step's expressions may visit, in total:
    /// a wildcard whose path then leaves out most of what it gathered costs what it visits,
    /// not what it keeps.
    pub max_wildcard_visits: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_expressions: 1_000,
            max_depth: 64,
            max_substituted_bytes: 256 << 10,
            max_wildcard_visits: 1_000_000,
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

    /// Most values that the wildcards of one step's expressions may visit, in total.
    pub fn with_max_wildcard_visits(mut self, visits: usize) -> Self {
        self.max_wildcard_visits = visits;
        self
    }
}

/// A parameter whose whole value came from one expression. Problems found below it are
/// reported at this pointer, since deeper pointers do not exist in the step as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Substitution<'r> {
    pub pointer: &'r str,
    pub expression: &'r str,
}

/// Where whole values were substituted, in the order rendering met them. Every site's pointer
/// and expression are spelled into one buffer, not two strings of their own: a large step has
/// hundreds of sites.
#[derive(Debug, Default)]
pub(crate) struct Substitutions {
    text: String,
    /// Each site's pointer and expression, as ranges of `text`: its pointer, then its
    /// expression, written after it or, for an expression met again, the first one's. In 32
    /// bits, as small as the two ends a site kept before repeats shared their text: `text`
    /// holds at most as many sites as a step evaluates expressions (1,000 by default), each a
    /// pointer below names of at most 256 bytes and an expression of the step's own text.
    sites: Vec<[u32; 4]>,
}

/// Bytes reserved for one reference token beyond its container's pointer.
const TOKEN_ROOM: usize = 32;

impl Substitutions {
    /// A site of `expression`, at `token` of `container`; its number.
    fn push(&mut self, container: &str, token: Token<'_>, expression: &str) -> usize {
        // The first site sizes the buffer, room for the token (its escapes or digits) too:
        // from empty it would grow at each of the three appends.
        if self.text.capacity() == 0 {
            self.text
                .reserve(container.len() + expression.len() + TOKEN_ROOM);
        }
        let (pointer_start, pointer_end) = self.push_pointer(container, token);
        self.text.push_str(expression);
        let end = at(self.text.len());
        self.sites
            .push([pointer_start, pointer_end, pointer_end, end]);
        self.sites.len() - 1
    }

    /// A site of the same expression as site `first`, at `token` of `container`.
    fn push_again(&mut self, container: &str, token: Token<'_>, first: usize) {
        let Some(&[.., expression_start, expression_end]) = self.sites.get(first) else {
            return;
        };
        let (pointer_start, pointer_end) = self.push_pointer(container, token);
        self.sites
            .push([pointer_start, pointer_end, expression_start, expression_end]);
    }

    fn push_pointer(&mut self, container: &str, token: Token<'_>) -> (u32, u32) {
        let start = at(self.text.len());
        self.text.push_str(container);
        token.append_to(&mut self.text);
        (start, at(self.text.len()))
    }

    /// The text between two positions of a site.
    fn between(&self, start: u32, end: u32) -> &str {
        self.text
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// The expression of site `site`.
    fn expression(&self, site: usize) -> &str {
        self.sites
            .get(site)
            .map_or("", |&[.., start, end]| self.between(start, end))
    }

    pub fn iter(&self) -> impl Iterator<Item = Substitution<'_>> {
        self.sites
            .iter()
            .map(|&[pointer_start, pointer_end, start, end]| Substitution {
                pointer: self.between(pointer_start, pointer_end),
                expression: self.between(start, end),
            })
    }
}

/// A position in the substitutions' text, which stays far below 4 GiB (see `sites`); past it,
/// a site's text reads as empty rather than as some other text.
fn at(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}

/// What rendering found: problems, and where whole values were substituted.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    /// At most [`MAX_PROBLEMS`] of them; `unlisted` counts the rest.
    pub problems: Vec<Problem>,
    /// Members not rendered for their long names, reported at their objects: unlike
    /// `problems`, not a reason to leave out what is found below those objects.
    pub long_names: Vec<Problem>,
    pub unlisted: usize,
    pub substitutions: Substitutions,
}

/// Renders `parameters` in place against `context`. Never fails as a whole: a string whose
/// expression does not resolve is left as written and reported, so the rest renders as far
/// as possible. Values without expressions are not touched, let alone copied.
// Out of line: called once per step, and a profile then shows the render stage as one entry.
#[inline(never)]
pub(crate) fn render(
    parameters: &mut Map<String, Value>,
    context: &Map<String, Value>,
    limits: &Limits,
) -> Rendered {
    // Sized for most depths at once, as the validator's walk is.
    let mut renderer = Renderer::new(context, limits, String::with_capacity(128));
    renderer.members(parameters, 1);
    renderer.found
}

/// Renders strings one at a time, as [`render`] renders them where they are: the same
/// expressions, limits and counts, shared by all the strings given. For a step template,
/// whose other values are known to hold no `$`.
pub(crate) struct SiteRenderer<'a>(Renderer<'a>);

impl<'a> SiteRenderer<'a> {
    pub fn new(context: &'a Map<String, Value>, limits: &'a Limits) -> Self {
        // No pointer is spelt: a site's problems only send the step to the whole check.
        SiteRenderer(Renderer::new(context, limits, String::new()))
    }

    /// Renders `value`, a string; says whether it and every string before it rendered
    /// without a problem.
    pub fn render(&mut self, value: &mut Value) -> bool {
        // A site is a string: depth matters only to what is walked into.
        self.0.value(value, Token::Key(""), 1);
        self.0.found.problems.is_empty() && self.0.found.unlisted == 0
    }
}

/// The longest member name rendered. Names in parameters are short (the definition's
/// parameters, the body's fields, header names); below a longer one nothing is rendered, and
/// that is an error, as every pointer below it would repeat the name: in each substitution
/// recorded, in each problem listed and in each comparison between them.
pub(crate) const MAX_NAME_BYTES: usize = 256;

struct Renderer<'a> {
    context: &'a Map<String, Value>,
    /// JSON Pointer of the array or object being walked. A value's own token is added only
    /// when a problem or a substitution needs its pointer: most values are strings that need
    /// neither, and appending their token (escaped) and truncating it again cost more than
    /// spelling the few pointers needed.
    pointer: String,
    limits: &'a Limits,
    expressions: usize,
    substituted: usize,
    /// Values the wildcards may still visit.
    visits: Visits,
    remembered: Remembered<'a>,
    found: Rendered,
}

/// Expressions that strings are exactly, already resolved in this step to one value, with its
/// size: a step that writes the same expression in many places (each entry of a long ACL
/// naming the same input) parses and resolves it once. The context does not change while a
/// step renders, and a value found without a wildcard visited nothing, so a repeat costs what
/// the first did against every limit; it is counted and charged as the first was.
///
/// A small table in place, one entry a slot chosen by the expression's fingerprint, the last
/// one met keeping it: a lookup compares one entry, so that a step of a thousand different
/// expressions pays almost nothing for it (comparing each with all of 16 kept cost a tenth
/// more), and nothing is allocated.
struct Remembered<'a> {
    slots: [Option<Slot<'a>>; Remembered::SLOTS],
}

/// A remembered expression: its fingerprint, the site where it was resolved (whose text is in
/// the substitutions), its value and size.
#[derive(Clone, Copy)]
struct Slot<'a> {
    fingerprint: u64,
    site: usize,
    value: &'a Value,
    size: usize,
}

impl<'a> Remembered<'a> {
    const SLOTS: usize = 16;

    fn new() -> Self {
        Remembered {
            slots: [None; Remembered::SLOTS],
        }
    }

    /// An expression's length and last eight bytes (the expressions of one step differ mostly
    /// at their ends: `x1`, `plans[2].id`), and its slot.
    fn fingerprint(expression: &str) -> (u64, usize) {
        let bytes = expression.as_bytes();
        let last = match bytes.last_chunk::<8>() {
            Some(last) => u64::from_le_bytes(*last),
            None => bytes
                .iter()
                .fold(0, |word, &byte| (word << 8) | u64::from(byte)),
        };
        let fingerprint = last ^ (bytes.len() as u64).rotate_right(8);
        // The top bits of a multiplicative hash.
        let slot = fingerprint.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60;
        (fingerprint, slot as usize % Self::SLOTS)
    }

    /// The site, value and size kept for `expression`.
    fn get(
        &self,
        expression: &str,
        substitutions: &Substitutions,
    ) -> Option<(usize, &'a Value, usize)> {
        let (fingerprint, slot) = Self::fingerprint(expression);
        let kept = self.slots.get(slot).copied().flatten()?;
        (kept.fingerprint == fingerprint && substitutions.expression(kept.site) == expression)
            .then_some((kept.site, kept.value, kept.size))
    }

    fn keep(&mut self, expression: &str, site: usize, value: &'a Value, size: usize) {
        let (fingerprint, slot) = Self::fingerprint(expression);
        if let Some(kept) = self.slots.get_mut(slot) {
            *kept = Some(Slot {
                fingerprint,
                site,
                value,
                size,
            });
        }
    }
}

/// The expression a string would be if it is exactly one: what is between a leading `${` and
/// a trailing `}`. Only a lookup key: `${a}${b}` gives `a}${b`, which no expression is.
fn whole_expression(text: &str) -> Option<&str> {
    text.strip_prefix("${")?.strip_suffix('}')
}

impl<'a> Renderer<'a> {
    /// A renderer at the start of a step: nothing counted yet, `pointer` empty.
    fn new(context: &'a Map<String, Value>, limits: &'a Limits, pointer: String) -> Self {
        Renderer {
            context,
            pointer,
            limits,
            expressions: 0,
            substituted: 0,
            visits: Visits {
                left: limits.max_wildcard_visits,
                limit: limits.max_wildcard_visits,
            },
            remembered: Remembered::new(),
            found: Rendered::default(),
        }
    }

    /// Renders `value`, named by `at` in the array or object being walked.
    fn value(&mut self, value: &mut Value, at: Token<'_>, depth: usize) {
        if depth > self.limits.max_depth && matches!(value, Value::Array(_) | Value::Object(_)) {
            let message = format!(
                "nested deeper than {} levels; rendering stops here",
                self.limits.max_depth
            );
            self.problem(at, message);
            return;
        }
        match value {
            Value::String(text) => {
                if !text.contains('$') {
                    return;
                }
                let remembered = whole_expression(text).and_then(|expression| {
                    self.remembered.get(expression, &self.found.substitutions)
                });
                let rendering = match remembered {
                    Some((first, found, size)) => self.again(first, found, size, at),
                    None => self.string(text, at),
                };
                match rendering {
                    // A string is copied into the buffer its expression was written in: an
                    // allocation and a free fewer than replacing it.
                    Some(Rendering::Whole(Found::One(Value::String(found)))) => {
                        text.clear();
                        text.push_str(found);
                    }
                    Some(Rendering::Whole(found)) => *value = found.to_value(),
                    Some(Rendering::Text(rendered)) => *text = rendered,
                    None => {}
                }
            }
            Value::Array(items) => {
                let len = self.pointer.len();
                at.append_to(&mut self.pointer);
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, Token::Index(i), depth + 1);
                }
                self.pointer.truncate(len);
            }
            Value::Object(fields) => {
                let len = self.pointer.len();
                at.append_to(&mut self.pointer);
                self.members(fields, depth + 1);
                self.pointer.truncate(len);
            }
            _ => {}
        }
    }

    /// Renders the members of the object being walked, at `depth`, but those whose names are
    /// too long.
    fn members(&mut self, fields: &mut Map<String, Value>, depth: usize) {
        for (key, item) in fields.iter_mut() {
            if key.len() > MAX_NAME_BYTES {
                self.long_name(key);
                continue;
            }
            self.value(item, Token::Key(key), depth);
        }
    }

    /// A member of the object being walked whose name is too long: not rendered, an error at
    /// the object (a pointer spelling the name would be as long), kept apart from the
    /// problems that silence what later checks say below them.
    #[cold]
    fn long_name(&mut self, name: &str) {
        let message = format!(
            "its member named {:?} is not rendered: names in parameters are at most {MAX_NAME_BYTES} bytes",
            crate::problem::excerpt(name, 40)
        );
        if self.found.long_names.len() < MAX_PROBLEMS {
            self.found
                .long_names
                .push(Problem::new(self.pointer.clone(), message));
        } else {
            self.found.unlisted += 1;
        }
    }

    fn problem(&mut self, at: Token<'_>, message: String) {
        if self.found.problems.len() < MAX_PROBLEMS {
            let mut pointer = self.pointer.clone();
            at.append_to(&mut pointer);
            self.found.problems.push(Problem::new(pointer, message));
        } else {
            self.found.unlisted += 1;
        }
    }

    /// What a string that holds a `$` renders to, or `None` to keep it as written (nothing
    /// to substitute, or a problem was recorded).
    fn string(&mut self, text: &str, at: Token<'_>) -> Option<Rendering<'a>> {
        // The whole string is checked before anything in it is evaluated: a syntax error
        // anywhere leaves it as written, and none of its expressions counts against the limits.
        let mut pieces = 0;
        let mut expressions = 0;
        let mut whole = None;
        for piece in Pieces::new(text, true) {
            match piece {
                Ok(Piece::Expression(expression)) => {
                    expressions += 1;
                    whole = Some(expression);
                }
                Ok(Piece::Text(_)) => {}
                Err(message) => {
                    self.problem(at, message);
                    return None;
                }
            }
            pieces += 1;
        }
        if let (1, Some(expression)) = (pieces, whole) {
            let (found, size) = self.evaluate(expression, at)?;
            let site = self.found.substitutions.push(&self.pointer, at, expression);
            // Kept only when the string is exactly the expression, `${` and `}` around it, so
            // that a string found equal to it is this one (one piece that is an expression
            // is that, and its length says so without comparing).
            if let Found::One(value) = found
                && text.len() == expression.len() + 3
            {
                self.remembered.keep(expression, site, value, size);
            }
            return Some(Rendering::Whole(found));
        }
        if expressions == 0 && !text.contains("$${") {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        // Checked above, so taken without checking the paths again.
        for piece in Pieces::new(text, false) {
            match piece {
                Ok(Piece::Text(literal)) => out.push_str(literal),
                Ok(Piece::Expression(expression)) => match self.evaluate(expression, at)?.0 {
                    Found::One(value) => append_as_text(&mut out, value),
                    many => append_as_text(&mut out, &many.to_value()),
                },
                Err(_) => return None,
            }
        }
        Some(Rendering::Text(out))
    }

    /// A string met again that is the expression first resolved at site `first` to `found`,
    /// of `size`: counted and charged as that one was, and substituted the same way.
    fn again(
        &mut self,
        first: usize,
        found: &'a Value,
        size: usize,
        at: Token<'_>,
    ) -> Option<Rendering<'a>> {
        if !(self.admit(at) && self.charge(size, at)) {
            return None;
        }
        self.found
            .substitutions
            .push_again(&self.pointer, at, first);
        Some(Rendering::Whole(Found::One(found)))
    }

    /// Resolves one expression, counting it against the limits: what it found and its size.
    /// `None` means a problem was recorded, or the expression was past a limit already
    /// reported (see [`Renderer::admit`]).
    fn evaluate(&mut self, expression: &str, at: Token<'_>) -> Option<(Found<'a>, usize)> {
        if !self.admit(at) {
            return None;
        }
        // Every value a wildcard gathers is at least 2 bytes substituted.
        let most = self.limits.max_substituted_bytes / 2 + 1;
        let found = match resolve(self.context, expression, most, &mut self.visits) {
            Ok(found) => found,
            Err(why) => {
                self.problem(
                    at,
                    format!("${{{}}} does not resolve: {why}", excerpt(expression, 200)),
                );
                return None;
            }
        };
        // Measured before anything is copied: a wildcard over a large context stops here.
        let left = self
            .limits
            .max_substituted_bytes
            .saturating_sub(self.substituted);
        let size = found.size_within(left);
        self.charge(size, at).then_some((found, size))
    }

    /// Counts one more expression: false when it is not to be evaluated, past the most
    /// expressions (said once) or past the substitution budget (said when it was passed).
    fn admit(&mut self, at: Token<'_>) -> bool {
        self.expressions += 1;
        if self.expressions > self.limits.max_expressions {
            if self.expressions == self.limits.max_expressions + 1 {
                self.problem(
                    at,
                    format!(
                        "more than {} expressions in one step; the rest are not evaluated",
                        self.limits.max_expressions
                    ),
                );
            }
            return false;
        }
        // Past the budget, nothing more is resolved: each resolution could walk the context.
        self.substituted <= self.limits.max_substituted_bytes
    }

    /// Charges a value's `size` to the substitution budget: false, and a problem, when it
    /// passes it.
    fn charge(&mut self, size: usize, at: Token<'_>) -> bool {
        self.substituted = self.substituted.saturating_add(size);
        if self.substituted > self.limits.max_substituted_bytes {
            self.problem(
                at,
                format!(
                    "expressions substitute more than {} bytes in one step",
                    self.limits.max_substituted_bytes
                ),
            );
            return false;
        }
        true
    }
}

/// What the wildcards of a step may still visit, of the most they may.
struct Visits {
    left: usize,
    limit: usize,
}

/// What a string renders to.
enum Rendering<'a> {
    /// The value of the one expression the string is, with its JSON type.
    Whole(Found<'a>),
    /// The string with its expressions substituted as text.
    Text(String),
}

/// A piece of a string: literal text, or the text of an expression between `${` and `}`.
#[derive(Debug, PartialEq)]
enum Piece<'t> {
    Text(&'t str),
    Expression(&'t str),
}

/// The literal text before a string's first expression, or `None` when it has none (or
/// cannot be parsed, which rendering reports).
pub(crate) fn before_first_expression(text: &str) -> Option<&str> {
    if !text.contains("${") {
        return None;
    }
    // Literal pieces are slices of `text`, except `${`, which `$${` (3 bytes) spells.
    let mut len = 0;
    let mut end = None;
    for piece in Pieces::new(text, true) {
        match piece.ok()? {
            Piece::Expression(_) => {
                end.get_or_insert(len);
            }
            Piece::Text("${") => len += 3,
            Piece::Text(literal) => len += literal.len(),
        }
    }
    Some(&text[..end?])
}

/// Splits a string into literal text and expressions as they are taken, without collecting
/// them: a string is read once to check it and once more to render it, which costs less than
/// the lists it took. `$${` is a literal `${`.
struct Pieces<'t> {
    text: &'t str,
    /// Where the literal text of the next piece starts.
    literal_start: usize,
    /// Where to look for the next `$`.
    at: usize,
    /// The piece found after a literal text, given next.
    next: Option<Piece<'t>>,
    /// Whether each expression's path is checked (and a bad one is an error) as it is found.
    check: bool,
}

impl<'t> Pieces<'t> {
    fn new(text: &'t str, check: bool) -> Self {
        Pieces {
            text,
            literal_start: 0,
            at: 0,
            next: None,
            check,
        }
    }

    /// Ends the pieces with an error.
    fn fail(&mut self, message: String) -> Option<Result<Piece<'t>, String>> {
        self.literal_start = self.text.len();
        self.at = self.text.len();
        Some(Err(message))
    }
}

impl<'t> Iterator for Pieces<'t> {
    type Item = Result<Piece<'t>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(piece) = self.next.take() {
            return Some(Ok(piece));
        }
        let text = self.text;
        let bytes = text.as_bytes();
        while let Some(offset) = memchr::memchr(b'$', &bytes[self.at..]) {
            let dollar = self.at + offset;
            let piece = if bytes[dollar..].starts_with(b"$${") {
                self.at = dollar + 3;
                Piece::Text("${")
            } else if bytes[dollar..].starts_with(b"${") {
                let open = dollar + 2;
                let Some(len) = memchr::memchr(b'}', &bytes[open..]) else {
                    return self.fail(format!(
                        "unterminated expression at byte {dollar}: `${{` has no closing `}}` (write `$${{` for a literal `${{`)"
                    ));
                };
                // `$`, `{` and `}` are ASCII: each byte position is a character boundary.
                let expression = &text[open..open + len];
                if self.check
                    && let Err(message) = check(expression)
                {
                    return self.fail(message);
                }
                self.at = open + len + 1;
                Piece::Expression(expression)
            } else {
                self.at = dollar + 1;
                continue;
            };
            let literal = &text[self.literal_start..dollar];
            self.literal_start = self.at;
            if literal.is_empty() {
                return Some(Ok(piece));
            }
            self.next = Some(piece);
            return Some(Ok(Piece::Text(literal)));
        }
        if self.literal_start < text.len() {
            let literal = &text[self.literal_start..];
            self.literal_start = text.len();
            self.at = text.len();
            return Some(Ok(Piece::Text(literal)));
        }
        None
    }
}

/// One step of a path: a field name or an array index.
#[derive(Debug, PartialEq)]
enum Step<'t> {
    /// `.name`, or `['name']` for a name with dots, spaces or brackets in it.
    Field(Cow<'t, str>),
    /// `[2]`, or `[-1]` for the last item.
    Index(i64),
    /// `[*]` or `.*`: every item of an array, every value of an object.
    Wildcard,
}

impl fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Field(name) if is_plain_name(name) => write!(f, ".{name}"),
            Step::Field(name) => write!(f, "[{name:?}]"),
            Step::Index(index) => write!(f, "[{index}]"),
            Step::Wildcard => f.write_str("[*]"),
        }
    }
}

/// A name written after a dot: no dots, brackets, quotes, spaces, `$`, braces or `*`.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(|c| {
            c.is_whitespace() || matches!(c, '.' | '[' | ']' | '{' | '}' | '$' | '"' | '\'' | '*')
        })
}

/// Checks an expression's path: the message for the first thing wrong with it.
fn check(expression: &str) -> Result<(), String> {
    if dotted_names(expression) {
        return Ok(());
    }
    if expression.is_empty() {
        return Err(invalid(expression, "it is empty"));
    }
    Steps::new(expression).try_for_each(|step| step.map(drop))
}

/// Whether an expression is plain names joined by single dots, `workflow.input.id`: most are,
/// and such a path is valid without taking it apart step by step.
fn dotted_names(expression: &str) -> bool {
    let mut after_dot = true;
    for &b in expression.as_bytes() {
        match NAME_BYTES[usize::from(b)] {
            NAME_PLAIN => after_dot = false,
            _ if b == b'.' && !after_dot => after_dot = true,
            _ => return false,
        }
    }
    !after_dot
}

fn invalid(expression: &str, why: &str) -> String {
    format!(
        "invalid expression ${{{}}}: {why}",
        excerpt(expression, 200)
    )
}

/// Parses the JSONPath subset Conductor users write: `a.b[0].c`, `a.items[-1]`,
/// `a.plans[*].id` (or `a.plans.*.id`), `a['dotted.key']`. Filters, slices, unions and
/// recursive descent are refused, each by name. A step at a time, as the path is checked or
/// followed: nothing is collected (only a quoted key with an escape in it is decoded into a
/// string of its own). The first error ends the steps.
#[derive(Clone)]
struct Steps<'t> {
    expression: &'t str,
    rest: &'t str,
    first: bool,
}

impl<'t> Steps<'t> {
    fn new(expression: &'t str) -> Self {
        Steps {
            expression,
            rest: expression,
            first: true,
        }
    }

    fn fail(&mut self, why: &str) -> Option<Result<Step<'t>, String>> {
        self.rest = "";
        Some(Err(invalid(self.expression, why)))
    }
}

impl<'t> Iterator for Steps<'t> {
    type Item = Result<Step<'t>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        if let Some(inside) = rest.strip_prefix('[') {
            let (step, after) = match bracket(inside) {
                Ok(found) => found,
                Err(why) => return self.fail(&why),
            };
            if self.first {
                return self.fail("an expression starts with a name");
            }
            self.rest = after;
            return Some(Ok(step));
        }
        let name_part = if self.first {
            rest
        } else if let Some(after_dot) = rest.strip_prefix('.') {
            if after_dot.starts_with('.') {
                return self
                    .fail("recursive descent (`..`) is not supported: write the whole path");
            }
            after_dot
        } else {
            let why = format!(
                "unexpected `{}` after `{}`",
                excerpt(rest, 40),
                excerpt(&self.expression[..self.expression.len() - rest.len()], 80)
            );
            return self.fail(&why);
        };
        self.first = false;
        // One pass finds the name's end and whether it is plain ASCII, the common case;
        // anything else is looked at a character at a time. `.` and `[` are ASCII, so the
        // byte position is a character boundary.
        let bytes = name_part.as_bytes();
        let mut end = 0;
        let mut plain = true;
        while let Some(&b) = bytes.get(end) {
            match NAME_BYTES[usize::from(b)] {
                NAME_END => break,
                NAME_PLAIN => {}
                _ => plain = false,
            }
            end += 1;
        }
        let name = &name_part[..end];
        self.rest = &name_part[end..];
        if name == "*" {
            return Some(Ok(Step::Wildcard));
        }
        if name.is_empty() {
            return self.fail("a path segment is empty");
        }
        if !plain
            && let Some(bad) = name.chars().find(|c| {
                c.is_whitespace() || matches!(c, ']' | '{' | '}' | '$' | '"' | '\'' | '*')
            })
        {
            let why = format!(
                "unexpected {bad:?} in `{}` (write a name like that as ['...'])",
                excerpt(name, 80)
            );
            return self.fail(&why);
        }
        Some(Ok(Step::Field(Cow::Borrowed(name))))
    }
}

/// A byte of a name after a dot that is printable ASCII, and not a character a name refuses.
const NAME_PLAIN: u8 = 0;
/// `.` or `[`: the name ends before it.
const NAME_END: u8 = 1;
/// Anything else: the name is looked at a character at a time.
const NAME_OTHER: u8 = 2;

/// What each byte is in a name after a dot: one look-up a byte, where testing each of the
/// refused characters in turn was a quarter of the cost of parsing an expression.
const NAME_BYTES: [u8; 256] = {
    let mut table = [NAME_OTHER; 256];
    let mut b: u8 = 0;
    loop {
        table[b as usize] = match b {
            b'.' | b'[' => NAME_END,
            b']' | b'{' | b'}' | b'$' | b'"' | b'\'' | b'*' => NAME_OTHER,
            _ if b.is_ascii_graphic() => NAME_PLAIN,
            _ => NAME_OTHER,
        };
        if b == u8::MAX {
            break table;
        }
        b += 1;
    }
};

/// One bracket selector, `text` starting after its `[`: the step and the text after its `]`.
fn bracket(text: &str) -> Result<(Step<'_>, &str), String> {
    if let Some(quote) = text.chars().next().filter(|c| *c == '\'' || *c == '"') {
        // A quoted key: `\` escapes the quote and itself.
        let mut key = String::new();
        let mut chars = text.char_indices().skip(1);
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped)) => key.push(escaped),
                    None => break,
                },
                c if c == quote => {
                    let after = &text[at + 1..];
                    let Some(after) = after.strip_prefix(']') else {
                        return Err(format!(
                            "a quoted key must be followed by `]`: [{quote}{key}{quote}"
                        ));
                    };
                    return Ok((Step::Field(Cow::Owned(key)), after));
                }
                c => key.push(c),
            }
        }
        return Err(format!("the quoted key [{quote}... has no closing {quote}"));
    }
    let Some(close) = text.find(']') else {
        return Err("`[` without `]`".to_owned());
    };
    let inside = text[..close].trim();
    let after = &text[close + 1..];
    let step = match inside {
        "*" => Step::Wildcard,
        _ if inside.starts_with('?') => {
            return Err(format!(
                "JSONPath filters (`[{inside}]`) are not supported: take the whole list, or use [*], [n] or [-n]"
            ));
        }
        _ if inside.contains(':') => {
            return Err(format!(
                "slices (`[{inside}]`) are not supported: use [*], [n] or [-n]"
            ));
        }
        _ if inside.contains(',') => {
            return Err(format!(
                "unions (`[{inside}]`) are not supported: write one expression per value"
            ));
        }
        _ => {
            let digits = inside.strip_prefix('-').unwrap_or(inside);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "`[{inside}]` is not an index, [*], or a quoted key ['...']"
                ));
            }
            Step::Index(
                inside
                    .parse::<i64>()
                    .map_err(|_| format!("index {inside} is too large"))?,
            )
        }
    };
    Ok((step, after))
}

/// What an expression points at: one value, or the list a wildcard gathered.
enum Found<'c> {
    One(&'c Value),
    Many(Vec<&'c Value>),
    /// A wildcard gathered more values than the substitution budget could hold.
    TooMany,
}

impl Found<'_> {
    /// Its approximate size, or anything over `budget` once it is clearly over.
    fn size_within(&self, budget: usize) -> usize {
        match self {
            Found::One(value) => size_within(value, budget),
            Found::Many(values) => {
                let mut size = 2;
                for (i, value) in values.iter().enumerate() {
                    size += usize::from(i > 0) + size_within(value, budget.saturating_sub(size));
                    if size > budget {
                        break;
                    }
                }
                size
            }
            Found::TooMany => usize::MAX,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Found::One(value) => (*value).clone(),
            Found::Many(values) => Value::Array(values.iter().map(|v| (*v).clone()).collect()),
            // Never substituted: its size is over any budget.
            Found::TooMany => Value::Null,
        }
    }
}

/// Follows an expression's path through the context, saying how far it got when it fails.
/// After a wildcard the path applies to each value gathered, and values it does not fit are
/// left out, as JSONPath does.
fn resolve<'c>(
    context: &'c Map<String, Value>,
    expression: &str,
    most: usize,
    visits: &mut Visits,
) -> Result<Found<'c>, String> {
    let mut steps = Steps::new(expression);
    let first = match steps.next() {
        Some(Ok(Step::Field(name))) => name,
        _ => return Err("an expression starts with a name".to_owned()),
    };
    let mut current = field(context, &first).ok_or_else(|| {
        format!(
            "the context has no `{}`{}",
            excerpt(&first, 80),
            available(context)
        )
    })?;
    // The path walked so far, for a message: spelt out only when there is one to write.
    let walked = |to: usize| {
        let mut text = first.to_string();
        for step in Steps::new(expression).skip(1).take(to).flatten() {
            let _ = write!(text, "{step}");
        }
        text
    };
    let mut at = 0;
    loop {
        // A wildcard's path is taken again from the wildcard itself.
        let from = steps.clone();
        let step = match steps.next() {
            Some(step) => step?,
            None => break,
        };
        current = match (&step, current) {
            (Step::Wildcard, Value::Array(_) | Value::Object(_)) => {
                let spent = |visits: &mut Visits| {
                    visits.left = 0;
                    format!(
                        "the step's wildcards would visit more than {} values",
                        visits.limit
                    )
                };
                // Each value gathered is a visit, counted as it is gathered (the next step of
                // the path goes through each): once the step's visits are spent, a wildcard
                // stops at its first value.
                let Some(left) = visits.left.checked_sub(1) else {
                    return Err(spent(visits));
                };
                visits.left = left;
                let mut gathered = vec![current];
                for step in from {
                    let step = step?;
                    let cap = most.min(visits.left);
                    gathered = gathered
                        .into_iter()
                        .flat_map(|value| follow(&step, value))
                        .take(cap + 1)
                        .collect();
                    if gathered.len() > cap {
                        if cap == most {
                            return Ok(Found::TooMany);
                        }
                        return Err(spent(visits));
                    }
                    visits.left -= gathered.len();
                }
                return Ok(Found::Many(gathered));
            }
            (Step::Field(name), Value::Object(fields)) => field(fields, name).ok_or_else(|| {
                format!(
                    "`{}` has no field `{}`{}",
                    walked(at),
                    excerpt(name, 80),
                    available(fields)
                )
            })?,
            (&Step::Index(index), Value::Array(items)) => item(items, index).ok_or_else(|| {
                format!(
                    "`{}` has {} item{}; [{index}] is out of range",
                    walked(at),
                    items.len(),
                    if items.len() == 1 { "" } else { "s" }
                )
            })?,
            (Step::Field(name), other) => {
                return Err(format!(
                    "`{}` is {}, so it has no field `{}`",
                    walked(at),
                    json_kind(other),
                    excerpt(name, 80)
                ));
            }
            (Step::Index(index), other) => {
                return Err(format!(
                    "`{}` is {}, not an array, so [{index}] does not apply",
                    walked(at),
                    json_kind(other)
                ));
            }
            (Step::Wildcard, other) => {
                return Err(format!(
                    "`{}` is {}, so [*] has nothing to take",
                    walked(at),
                    json_kind(other)
                ));
            }
        };
        at += 1;
    }
    Ok(Found::One(current))
}

/// One step from one value, as a wildcard's path takes it: what does not fit is left out.
/// Lazy, so that gathering stops at its bound without listing a huge array first.
fn follow<'c>(step: &Step<'_>, value: &'c Value) -> Box<dyn Iterator<Item = &'c Value> + 'c> {
    match (step, value) {
        (Step::Wildcard, Value::Array(items)) => Box::new(items.iter()),
        (Step::Wildcard, Value::Object(fields)) => Box::new(fields.values()),
        (Step::Field(name), Value::Object(fields)) => Box::new(field(fields, name).into_iter()),
        (Step::Index(index), Value::Array(items)) => Box::new(item(items, *index).into_iter()),
        _ => Box::new(std::iter::empty()),
    }
}

/// `fields[name]`. A context's objects are mostly small, and comparing a few keys costs less
/// than hashing the name first (SipHash was nearly half of evaluating an expression).
fn field<'c>(fields: &'c Map<String, Value>, name: &str) -> Option<&'c Value> {
    const SCANNED: usize = 8;
    if fields.len() <= SCANNED {
        fields
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value))
    } else {
        fields.get(name)
    }
}

/// `items[index]`, counting from the end for a negative index.
fn item(items: &[Value], index: i64) -> Option<&Value> {
    let at = if index < 0 {
        items
            .len()
            .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
    } else {
        usize::try_from(index).ok()?
    };
    items.get(at)
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

/// A cheap upper-bound-ish size of a value for the substitution budget, giving up (with a size
/// over `budget`) as soon as it passes `budget`: measuring a huge value must not cost what
/// copying it would.
fn size_within(value: &Value, budget: usize) -> usize {
    match value {
        Value::Null | Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(number) => number_len(number, budget),
        Value::String(text) => crate::util::json::str_len(text),
        // Commas between the items, as the JSON is written.
        Value::Array(items) => {
            let mut size = 2;
            for (i, item) in items.iter().enumerate() {
                size += usize::from(i > 0) + size_within(item, budget.saturating_sub(size));
                if size > budget {
                    break;
                }
            }
            size
        }
        Value::Object(fields) => {
            let mut size = 2;
            for (i, (key, item)) in fields.iter().enumerate() {
                size += usize::from(i > 0)
                    + crate::util::json::str_len(key)
                    + 1
                    + size_within(item, budget.saturating_sub(size));
                if size > budget {
                    break;
                }
            }
            size
        }
    }
}

/// The length of a number's text, or anything over `budget` once it is over: with exact
/// numbers (serde_json's `arbitrary_precision`, which any crate of the build may turn on) a
/// number keeps every digit it was written with, however many.
fn number_len(number: &serde_json::Number, budget: usize) -> usize {
    struct Measure {
        len: usize,
        budget: usize,
    }
    impl std::fmt::Write for Measure {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.len = self.len.saturating_add(text.len());
            if self.len > self.budget {
                Err(std::fmt::Error)
            } else {
                Ok(())
            }
        }
    }
    let mut measure = Measure { len: 0, budget };
    // An error only stops the count early, past the budget.
    let _ = std::fmt::Write::write_fmt(&mut measure, format_args!("{number}"));
    measure.len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::json::object;
    use serde_json::json;

    fn context() -> Map<String, Value> {
        object(json!({
            "workflow": { "workflowId": "wf-7", "input": { "n": 3, "ok": true, "none": null,
                "ids": ["a", "b"], "customer": { "name": "Ada" }, "raw": "${workflow.workflowId}" } },
            "lookup": { "output": { "response": { "body": { "plans": [
                { "id": "p-1", "tags": ["x"] }, { "id": "p-2", "tags": [] }, { "name": "no id" } ] } } } },
            "cfg": { "dotted.key": "dot", "with space": 1, "it's": "quote", "[x]": "brackets" }
        }))
    }

    #[test]
    fn jsonpath_as_conductor_users_write_it() {
        // Every plan's id, as one list (the plan without an id is left out, as JSONPath does).
        assert_eq!(
            one("${lookup.output.response.body.plans[*].id}").0,
            json!(["p-1", "p-2"])
        );
        assert_eq!(
            one("${lookup.output.response.body.plans.*.id}").0,
            json!(["p-1", "p-2"])
        );
        assert_eq!(
            one("${lookup.output.response.body.plans[*].tags[*]}").0,
            json!(["x"])
        );
        assert_eq!(one("${workflow.input.customer[*]}").0, json!(["Ada"]));
        assert_eq!(one("${workflow.input.ids[-1]}").0, json!("b"));
        assert_eq!(one("${workflow.input.ids[-2]}").0, json!("a"));
        assert_eq!(one("${cfg['dotted.key']}").0, json!("dot"));
        assert_eq!(one("${cfg[\"with space\"]}").0, json!(1));
        assert_eq!(one("${cfg['it\\'s']}").0, json!("quote"));
        assert_eq!(one("${cfg['[x]']}").0, json!("brackets"));
        assert_eq!(
            one("ids: ${lookup.output.response.body.plans[*].id}").0,
            json!(r#"ids: ["p-1","p-2"]"#)
        );
    }

    #[test]
    fn unsupported_jsonpath_is_named() {
        for (bad, says) in [
            ("${workflow.input.ids[?(@ == 'a')]}", "filters"),
            ("${workflow.input.ids[0:1]}", "slices"),
            ("${workflow.input.ids[0,1]}", "unions"),
            ("${workflow..ids}", "recursive descent"),
            ("${cfg['open}", "no closing"),
            ("${workflow.input.ids[x]}", "not an index"),
        ] {
            let (value, problems) = one(bad);
            assert_eq!(value, json!(bad));
            assert!(
                problems.len() == 1 && problems[0].message.contains(says),
                "{bad}: {problems:?}"
            );
        }
        let (_, problems) = one("${workflow.input.ids[-3]}");
        assert!(
            problems[0]
                .message
                .contains("has 2 items; [-3] is out of range"),
            "{problems:?}"
        );
        let (_, problems) = one("${workflow.input.n[*]}");
        assert!(
            problems[0]
                .message
                .contains("is a number, so [*] has nothing to take"),
            "{problems:?}"
        );
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
            "${", "x ${a.b", "${}", "${a..b}", "${a[x]}", "${a b}", "${a[0]x}", "${[0]}",
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

    /// A string met again is resolved once, but counted and charged each time, as the same
    /// expression spelt five ways is: the same values, problems and substitutions.
    #[test]
    fn a_repeated_expression_counts_as_often_as_it_is_written() {
        let same = ["${workflow.input.customer.name}"; 5];
        let spelt = [
            "${workflow.input.customer.name}",
            "${workflow['input'].customer.name}",
            "${workflow.input['customer'].name}",
            "${workflow.input.customer['name']}",
            "${workflow['input']['customer'].name}",
        ];
        // "Ada" is 5 bytes of JSON: three fit in 15, the fourth passes the budget and the
        // fifth is not resolved. Then, with room for them all, three expressions at most.
        for limits in [
            Limits::default().with_max_substituted_bytes(15),
            Limits::default().with_max_expressions(3),
        ] {
            let render_all = |texts: [&str; 5]| {
                let mut params = object(json!({ "a": texts, "b": { "c": texts[0] } }));
                let rendered = render(&mut params, &context(), &limits);
                let sites: Vec<String> = rendered
                    .substitutions
                    .iter()
                    .map(|site| site.pointer.to_owned())
                    .collect();
                let problems: Vec<(String, String)> = rendered
                    .problems
                    .into_iter()
                    .map(|problem| (problem.path, problem.message))
                    .collect();
                let rendered: Vec<Value> = params["a"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|value| Value::Bool(value == "Ada"))
                    .collect();
                (rendered, problems, sites)
            };
            let (rendered, problems, sites) = render_all(same);
            assert_eq!(
                render_all(spelt),
                (rendered.clone(), problems.clone(), sites.clone())
            );
            assert_eq!(rendered, [true, true, true, false, false].map(Value::Bool));
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].0, "/a/3");
            assert_eq!(sites, ["/a/0", "/a/1", "/a/2"]);
        }
    }

    /// The table of remembered expressions never gives one expression's value for another:
    /// not when 40 of them share its 16 slots, nor when two end alike and are as long (the
    /// same fingerprint).
    #[test]
    fn remembered_expressions_are_never_confused() {
        let input: Map<String, Value> = (0..40).map(|i| (format!("x{i}"), json!(i))).collect();
        let context = object(json!({
            "workflow": { "input": input },
            "aa": { "same.end": "first" },
            "bb": { "same.end": "second" }
        }));
        let mut texts: Vec<String> = (0..120)
            .map(|i| format!("${{workflow.input.x{}}}", (i * 7) % 40))
            .collect();
        for _ in 0..3 {
            texts.push("${aa['same.end']}".to_owned());
            texts.push("${bb['same.end']}".to_owned());
        }
        let mut params = object(json!({ "a": texts }));
        let rendered = render(&mut params, &context, &Limits::default());
        assert!(rendered.problems.is_empty(), "{:?}", rendered.problems);
        let mut expected: Vec<Value> = (0..120).map(|i| json!((i * 7) % 40)).collect();
        for _ in 0..3 {
            expected.extend([json!("first"), json!("second")]);
        }
        assert_eq!(params["a"], json!(expected));
        let sites: Vec<(String, String)> = rendered
            .substitutions
            .iter()
            .map(|site| (site.pointer.to_owned(), site.expression.to_owned()))
            .collect();
        let written: Vec<(String, String)> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| (format!("/a/{i}"), text[2..text.len() - 1].to_owned()))
            .collect();
        assert_eq!(sites, written);
    }

    #[test]
    fn a_wildcard_over_a_huge_list_stops_at_the_budget_and_nothing_resolves_after() {
        let big: Vec<Value> = (0..140_000).map(|i| json!({ "id": i })).collect();
        let context = object(json!({ "c": { "big": big } }));
        let mut params = object(json!({
            "a": "${c.big[*].id}",
            "b": "${c.big[*]}",
            "c": "${c.missing}"
        }));
        let rendered = render(&mut params, &context, &Limits::default());
        assert_eq!(params["a"], json!("${c.big[*].id}"));
        assert_eq!(rendered.problems.len(), 1, "{:?}", rendered.problems);
        assert!(
            rendered.problems[0]
                .message
                .contains("substitute more than")
        );
        assert_eq!(rendered.problems[0].path, "/a");
    }

    /// A wildcard costs what it visits: once the step's visits are spent, a wildcard fails
    /// however little it would keep, and a path without one still resolves.
    #[test]
    fn wildcards_count_what_they_visit() {
        let items: Vec<Value> = (0..1000).map(|i| json!({ "id": i })).collect();
        let context = object(json!({ "c": { "items": items }, "workflow": { "n": 3 } }));
        let mut params = object(json!({
            "a": ["${c.items[*].nothing}", "${c.items[*].nothing}", "${c.items[*].nothing}"],
            "b": "${workflow.n}"
        }));
        let limits = Limits::default().with_max_wildcard_visits(2500);
        let rendered = render(&mut params, &context, &limits);
        assert_eq!(params["a"], json!([[], [], "${c.items[*].nothing}"]));
        assert_eq!(params["b"], json!(3));
        assert_eq!(rendered.problems.len(), 1, "{:?}", rendered.problems);
        assert_eq!(rendered.problems[0].path, "/a/2");
        assert!(
            rendered.problems[0]
                .message
                .ends_with("the step's wildcards would visit more than 2500 values"),
            "{}",
            rendered.problems[0].message
        );
    }

    /// Below a long member name nothing is rendered, and that is an error at its object: no
    /// pointer spelling the name is ever made, and the rest renders.
    #[test]
    fn below_a_long_name_nothing_is_rendered() {
        let long = "k".repeat(MAX_NAME_BYTES + 1);
        let fine = "k".repeat(MAX_NAME_BYTES);
        let step = json!({
            "a": { long.clone(): vec!["${workflow.input.n}"; 10], "b": "${workflow.input.n}" },
            long.clone(): "${workflow.input.n}",
            fine.clone(): "${workflow.input.n}"
        });
        let mut params = object(step.clone());
        let rendered = render(&mut params, &context(), &Limits::default());
        let mut expected = step;
        expected["a"]["b"] = json!(3);
        expected[&fine] = json!(3);
        assert_eq!(Value::Object(params), expected);
        assert!(rendered.problems.is_empty(), "{:?}", rendered.problems);
        let paths: Vec<&str> = rendered
            .long_names
            .iter()
            .map(|p| p.path.as_str())
            .collect();
        assert_eq!(paths, ["/a", ""]);
        assert!(
            rendered.long_names[0]
                .message
                .starts_with("its member named \"kkkk")
                && rendered.long_names[0]
                    .message
                    .ends_with("is not rendered: names in parameters are at most 256 bytes"),
            "{}",
            rendered.long_names[0].message
        );
        let sites: Vec<usize> = rendered
            .substitutions
            .iter()
            .map(|site| site.pointer.len())
            .collect();
        assert_eq!(sites, [4, 1 + MAX_NAME_BYTES]);
    }

    /// A value is measured as its JSON is written, escapes and commas included, before
    /// anything is copied.
    #[test]
    fn a_value_is_measured_as_its_json() {
        for value in [
            json!([0, 0, 0]),
            json!("a\u{1}\u{1f}\"\\\n\r\t\u{8}\u{c}é€😀"),
            json!({ "k\n": [true, false, null, "x"], "n": -1.5, "big": 12345678901234567u64 }),
            json!([[], {}, [{}], ""]),
            json!({}),
        ] {
            let written = value.to_string().len();
            assert_eq!(size_within(&value, usize::MAX), written, "{value}");
        }
    }

    /// An exact number counts by its digits against the budget: a long one substituted a few
    /// times is refused, not copied into the request.
    #[cfg(feature = "exact-numbers")]
    #[test]
    fn a_number_counts_by_its_digits() {
        let digits = "9".repeat(100_000);
        let context: Map<String, Value> =
            serde_json::from_str(&format!(r#"{{"workflow": {{"n": {digits}}}}}"#)).expect("JSON");
        let mut params = object(json!({"a": ["${workflow.n}", "${workflow.n}", "${workflow.n}"]}));
        let rendered = render(&mut params, &context, &Limits::default());
        assert_eq!(rendered.problems.len(), 1, "{:?}", rendered.problems);
        assert!(
            rendered.problems[0]
                .message
                .contains("substitute more than")
        );
        assert_eq!(rendered.problems[0].path, "/a/2");
        assert_eq!(number_len(&serde_json::Number::from(-12), 100), 3);
        assert_eq!(
            number_len(&serde_json::Number::from_f64(0.5).expect("n"), 100),
            3
        );
        assert!(number_len(context["workflow"]["n"].as_number().expect("n"), 10) > 10);
    }

    #[test]
    fn pointers_are_spelled_for_problems_and_substitutions() {
        let mut params = object(json!({
            "x/y": [{ "~k": "${nope}", "n": "${workflow.input.n}" }, "${workflow.input.ids}"],
            "deep": [[["${workflow.input.n}"]]],
            "z": "${workflow.input.customer.name}"
        }));
        let limits = Limits::default().with_max_depth(2);
        let rendered = render(&mut params, &context(), &limits);
        let problems: Vec<&str> = rendered.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(problems, ["/x~1y/0/~0k", "/deep/0/0"]);
        let sites: Vec<(&str, &str)> = rendered
            .substitutions
            .iter()
            .map(|s| (s.pointer, s.expression))
            .collect();
        assert_eq!(
            sites,
            [
                ("/x~1y/0/n", "workflow.input.n"),
                ("/x~1y/1", "workflow.input.ids"),
                ("/z", "workflow.input.customer.name"),
            ]
        );
        assert_eq!(params["z"], json!("Ada"));
    }

    #[test]
    fn pieces_in_order() {
        let pieces: Vec<Piece<'_>> = Pieces::new("a${b.c}d$${e}f$ ${g}", true)
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        assert_eq!(
            pieces,
            [
                Piece::Text("a"),
                Piece::Expression("b.c"),
                Piece::Text("d"),
                Piece::Text("${"),
                Piece::Text("e}f$ "),
                Piece::Expression("g"),
            ]
        );
        let mut bad = Pieces::new("a ${b} ${c..d} ${", true);
        assert_eq!(bad.next(), Some(Ok(Piece::Text("a "))));
        assert_eq!(bad.next(), Some(Ok(Piece::Expression("b"))));
        assert!(matches!(bad.next(), Some(Err(message)) if message.contains("recursive descent")));
        assert_eq!(bad.next(), None);
        // Unchecked, the same pieces with the bad path taken as it is.
        let unchecked: Vec<_> = Pieces::new("a ${b} ${c..d}", false).collect();
        assert_eq!(unchecked.len(), 4);
    }

    #[test]
    fn the_name_table_is_the_rule_it_replaces() {
        for b in 0..=u8::MAX {
            let expected = if b == b'.' || b == b'[' {
                NAME_END
            } else if b.is_ascii_graphic()
                && !matches!(b, b']' | b'{' | b'}' | b'$' | b'"' | b'\'' | b'*')
            {
                NAME_PLAIN
            } else {
                NAME_OTHER
            };
            assert_eq!(NAME_BYTES[usize::from(b)], expected, "{b:#x}");
        }
    }

    #[test]
    fn dotted_names_are_paths_the_full_check_accepts() {
        for (expression, dotted) in [
            ("a", true),
            ("workflow.input.customer_id-2", true),
            ("", false),
            (".a", false),
            ("a.", false),
            ("a..b", false),
            ("a[0]", false),
            ("a.*", false),
            ("*", false),
            ("a b", false),
            ("a.é", false),
            ("a.b}", false),
        ] {
            assert_eq!(dotted_names(expression), dotted, "{expression}");
            if dotted {
                assert!(
                    Steps::new(expression).all(|step| step.is_ok()),
                    "{expression}"
                );
            }
        }
        assert!(check("a.é").is_ok());
        assert!(check("a..b").is_err());
    }

    #[test]
    fn field_finds_what_get_finds() {
        for size in [0, 3, 8, 9, 40] {
            let fields: Map<String, Value> =
                (0..size).map(|i| (format!("k{i}"), json!(i))).collect();
            for name in ["k0", "k2", "k7", "k8", "k39", "k", "missing", ""] {
                assert_eq!(field(&fields, name), fields.get(name), "{size} {name}");
            }
        }
    }

    #[test]
    fn problems_past_the_cap_are_counted() {
        let params: Map<String, Value> = (0..150)
            .map(|i| (format!("p{i}"), json!("${nope.x}")))
            .collect();
        let mut params = params;
        let rendered = render(&mut params, &context(), &Limits::default());
        assert_eq!(rendered.problems.len(), MAX_PROBLEMS);
        assert_eq!(rendered.unlisted, 50);
    }
}
