//! Rebilly's search-filter syntax (the `filter` query parameter of a collection) over an API
//! key's fields: `field:value` clauses joined by `;` (AND), several values joined by `,` (OR),
//! `!` to exclude values, and `a..b`, `a..`, `..b` ranges on the two time fields.
//!
//! Strings match exactly, ignoring case, as the API's do. Times are compared as RFC 3339 UTC
//! timestamps with second precision, the only form the emulator writes; a filter's time may
//! carry fractional seconds and `Z`, `+00:00` or `-00:00`. A `!` that starts the value list
//! excludes every value listed (`type:!secret,publishable`), as the API documents; a `!` on a
//! later value excludes that value only. Ranges apply to times: on the other fields `..` is
//! text like any other.

use serde_json::{Map, Value};

/// The fields a key can be filtered and sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Id,
    Description,
    Type,
    CreatedTime,
    UpdatedTime,
    ApiUser,
}

impl Field {
    pub(super) const ALL: [Field; 6] = [
        Field::Id,
        Field::Description,
        Field::Type,
        Field::CreatedTime,
        Field::UpdatedTime,
        Field::ApiUser,
    ];

    /// The field's name in the key and in queries.
    pub(super) fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Description => "description",
            Field::Type => "type",
            Field::CreatedTime => "createdTime",
            Field::UpdatedTime => "updatedTime",
            Field::ApiUser => "apiUser",
        }
    }

    pub(super) fn named(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.name() == name)
    }

    /// `"id, description, ..."`, for messages.
    pub(super) fn list() -> String {
        Field::ALL.map(Field::name).join(", ")
    }

    fn is_time(self) -> bool {
        matches!(self, Field::CreatedTime | Field::UpdatedTime)
    }

    /// The key's value of this field; empty when it has none.
    pub(super) fn of(self, key: &Map<String, Value>) -> &str {
        key.get(self.name()).and_then(Value::as_str).unwrap_or("")
    }
}

/// A parsed filter: every clause must hold.
#[derive(Debug, PartialEq)]
pub(super) struct Filter {
    clauses: Vec<Clause>,
}

/// One `field:values`: the value must match one of `include` (when there are any) and none
/// of `exclude`.
#[derive(Debug, PartialEq)]
struct Clause {
    field: Field,
    include: Vec<Term>,
    exclude: Vec<Term>,
}

#[derive(Debug, PartialEq)]
enum Term {
    /// A string, lowercased.
    Text(String),
    At(Time),
    /// Inclusive bounds; at least one is present.
    Range(Option<Time>, Option<Time>),
}

/// A UTC time as `YYYY-MM-DDTHH:MM:SSZ`, and whether the filter gave it a non-zero fraction
/// of a second (then it lies strictly after `text`).
#[derive(Debug, PartialEq)]
struct Time {
    text: String,
    fraction: bool,
}

impl Filter {
    /// Parses a (percent-decoded) filter; the error is the message for `invalidFields`.
    pub(super) fn parse(text: &str) -> Result<Filter, String> {
        let mut clauses = Vec::new();
        for part in text.split(';') {
            let Some((name, values)) = part.split_once(':') else {
                return Err(format!(
                    "{part:?} is not field:value (clauses are separated by ';')"
                ));
            };
            let name = name.trim();
            let field = Field::named(name).ok_or_else(|| {
                format!(
                    "cannot filter on {name:?}{}; the fields are {}",
                    crate::util::suggest::did_you_mean(name, Field::ALL.map(Field::name)),
                    Field::list()
                )
            })?;
            let (negate_all, values) = match values.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, values),
            };
            let mut clause = Clause {
                field,
                include: Vec::new(),
                exclude: Vec::new(),
            };
            for value in values.split(',') {
                let (negated, value) = match value.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (negate_all, value),
                };
                if value.is_empty() {
                    return Err(format!("{name} has an empty value"));
                }
                let term = term(field, value)?;
                if negated {
                    clause.exclude.push(term);
                } else {
                    clause.include.push(term);
                }
            }
            clauses.push(clause);
        }
        Ok(Filter { clauses })
    }

    pub(super) fn matches(&self, key: &Map<String, Value>) -> bool {
        self.clauses.iter().all(|clause| {
            let value = clause.field.of(key);
            let lower = value.to_lowercase();
            let hit = |term: &Term| term.matches(value, &lower);
            (clause.include.is_empty() || clause.include.iter().any(hit))
                && !clause.exclude.iter().any(hit)
        })
    }
}

impl Term {
    fn matches(&self, value: &str, lower: &str) -> bool {
        match self {
            Term::Text(text) => lower == text,
            Term::At(at) => !at.fraction && value == at.text,
            Term::Range(from, to) => {
                from.as_ref().is_none_or(|from| {
                    if from.fraction {
                        value > from.text.as_str()
                    } else {
                        value >= from.text.as_str()
                    }
                }) && to.as_ref().is_none_or(|to| value <= to.text.as_str())
            }
        }
    }
}

fn term(field: Field, value: &str) -> Result<Term, String> {
    if !field.is_time() {
        return Ok(Term::Text(value.to_lowercase()));
    }
    let bound = |text: &str| match text {
        "" => Ok(None),
        text => time(text).map(Some),
    };
    match value.split_once("..") {
        Some(("", "")) => Err(format!("{}: a range needs a bound", field.name())),
        Some((from, to)) => Ok(Term::Range(bound(from)?, bound(to)?)),
        None => time(value).map(Term::At),
    }
}

/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z`, `+00:00` or `-00:00`. A `+` sent
/// unencoded in a query string arrives as a space, so ` 00:00` is taken too.
fn time(text: &str) -> Result<Time, String> {
    let wrong = || format!("{text:?} is not a UTC time such as 2026-01-31T12:00:00Z");
    let shape = b"dddd-dd-ddTdd:dd:dd";
    let bytes = text.as_bytes();
    let head_ok = bytes.len() >= shape.len()
        && shape.iter().zip(bytes).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            b'T' => got.eq_ignore_ascii_case(&b'T'),
            _ => got == want,
        });
    let (Some(head), Some(mut rest)) = (text.get(..shape.len()), text.get(shape.len()..)) else {
        return Err(wrong());
    };
    if !head_ok {
        return Err(wrong());
    }
    let mut fraction = false;
    if let Some(after) = rest.strip_prefix('.') {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(wrong());
        }
        fraction = after.bytes().take(digits).any(|b| b != b'0');
        rest = &after[digits..];
    }
    if !matches!(rest, "Z" | "z" | "+00:00" | "-00:00" | " 00:00") {
        return Err(wrong());
    }
    Ok(Time {
        text: format!("{}Z", head.to_ascii_uppercase()),
        fraction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(id: &str, description: &str, created: &str) -> Map<String, Value> {
        let value = json!({
            "id": id, "description": description, "type": "secret", "apiUser": "emulator",
            "createdTime": created, "updatedTime": created,
        });
        value.as_object().cloned().unwrap_or_default()
    }

    fn keys() -> Vec<Map<String, Value>> {
        vec![
            key("a", "Alpha", "2026-01-01T00:00:00Z"),
            key("b", "Beta", "2026-01-02T00:00:00Z"),
            key("c", "Gamma, Delta", "2026-01-03T00:00:00Z"),
        ]
    }

    /// The ids of the keys `filter` keeps.
    fn kept(filter: &str) -> Vec<String> {
        let filter = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        keys()
            .iter()
            .filter(|k| filter.matches(k))
            .map(|k| Field::Id.of(k).to_owned())
            .collect()
    }

    #[test]
    fn strings_match_exactly_ignoring_case() {
        assert_eq!(kept("description:alpha"), ["a"]);
        assert_eq!(kept("description:ALPH"), Vec::<String>::new());
        assert_eq!(kept("id:a,c"), ["a", "c"]);
        assert_eq!(kept("type:secret;id:b"), ["b"]);
        assert_eq!(kept(" apiUser:EMULATOR;id:b"), ["b"]);
    }

    #[test]
    fn a_leading_bang_excludes_every_value_listed() {
        assert_eq!(kept("id:!a"), ["b", "c"]);
        assert_eq!(kept("id:!a,b"), ["c"]);
        assert_eq!(kept("id:a,b,!b"), ["a"]);
    }

    #[test]
    fn time_ranges_compare_utc_timestamps() {
        assert_eq!(kept("createdTime:2026-01-02T00:00:00Z.."), ["b", "c"]);
        assert_eq!(kept("createdTime:..2026-01-02T00:00:00Z"), ["a", "b"]);
        assert_eq!(
            kept("createdTime:2026-01-01T12:00:00Z..2026-01-02T00:00:00+00:00"),
            ["b"]
        );
        assert_eq!(kept("updatedTime:2026-01-03T00:00:00.000Z"), ["c"]);
        assert_eq!(kept("createdTime:!2026-01-03t00:00:00z"), ["a", "b"]);
        // A fraction lies after its whole second: a lower bound excludes that second, an upper
        // bound includes it, and no whole-second time equals it.
        assert_eq!(kept("createdTime:2026-01-02T00:00:00.5Z.."), ["c"]);
        assert_eq!(kept("createdTime:..2026-01-02T00:00:00.5Z"), ["a", "b"]);
        assert_eq!(
            kept("createdTime:2026-01-02T00:00:00.5Z"),
            Vec::<String>::new()
        );
        // An unencoded `+` arrives as a space.
        assert_eq!(kept("createdTime:2026-01-03T00:00:00 00:00.."), ["c"]);
        // Ranges are for times; elsewhere `..` is text.
        assert_eq!(kept("description:a..b"), Vec::<String>::new());
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        let error = |text: &str| Filter::parse(text).err().unwrap_or_default();
        assert!(error("descriptoin:x").contains("did you mean \"description\""));
        assert!(error("secretKey:x").contains("cannot filter on \"secretKey\""));
        assert!(error("description").contains("field:value"));
        assert!(error("id:a;").contains("field:value"));
        assert!(error("id:a,,b").contains("empty value"));
        assert!(error("id:!").contains("empty value"));
        assert!(error("createdTime:..").contains("needs a bound"));
        assert!(error("createdTime:2026-01-01").contains("UTC time"));
        assert!(error("createdTime:2026-01-01T00:00:00+02:00..").contains("UTC time"));
        assert!(error("createdTime:2026-01-01T00:00:00.Z").contains("UTC time"));
        assert!(error("createdTime:2026-01-01T00:00:00é").contains("UTC time"));
    }
}
