//! `GET /api-keys`'s query, `filter`, `sort`, `limit` and `offset`, and the page of an
//! organization's keys it selects.

use super::filter::{Field, Filter};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// The API's bounds for `limit` and `offset`.
const MAX: u32 = 1000;
const DEFAULT_LIMIT: u32 = 100;

pub(super) struct Query {
    filter: Option<Filter>,
    /// Fields to order by, `true` for descending; after them, creation order.
    sort: Vec<(Field, bool)>,
    pub(super) limit: u32,
    pub(super) offset: u32,
}

impl Query {
    /// The query string's parameters, or the `invalidFields` entries to answer 422 with.
    /// Parameters it does not know are ignored.
    pub(super) fn parse(query: Option<&str>) -> Result<Query, Vec<Value>> {
        let mut parsed = Query {
            filter: None,
            sort: Vec::new(),
            limit: DEFAULT_LIMIT,
            offset: 0,
        };
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(json!({ "field": field, "message": message }));
        };
        let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        for (name, value) in pairs {
            match name.as_ref() {
                "limit" => match bounded(&value) {
                    Ok(limit) => parsed.limit = limit,
                    Err(message) => problem("limit", message),
                },
                "offset" => match bounded(&value) {
                    Ok(offset) => parsed.offset = offset,
                    Err(message) => problem("offset", message),
                },
                "filter" if value.trim().is_empty() => parsed.filter = None,
                "filter" => match Filter::parse(&value) {
                    Ok(filter) => parsed.filter = Some(filter),
                    Err(message) => problem("filter", message),
                },
                "sort" => match sort(&value) {
                    Ok(fields) => parsed.sort = fields,
                    Err(message) => problem("sort", message),
                },
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(parsed)
        } else {
            Err(problems)
        }
    }

    /// The keys the filter keeps, in the requested order, and how many there were before
    /// `offset` and `limit` cut the page.
    pub(super) fn page(&self, keys: Vec<Map<String, Value>>) -> (usize, Vec<Map<String, Value>>) {
        let mut kept: Vec<_> = keys
            .into_iter()
            .filter(|key| self.filter.as_ref().is_none_or(|f| f.matches(key)))
            .collect();
        // A stable sort: keys equal on every sort field stay in creation order.
        kept.sort_by(|a, b| {
            self.sort
                .iter()
                .map(|&(field, descending)| {
                    let order = field.of(a).cmp(field.of(b));
                    if descending { order.reverse() } else { order }
                })
                .find(|order| *order != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        let total = kept.len();
        let page = kept
            .into_iter()
            .skip(self.offset as usize)
            .take(self.limit as usize)
            .collect();
        (total, page)
    }
}

/// An integer from 0 to 1000.
fn bounded(text: &str) -> Result<u32, String> {
    match text.trim().parse::<i64>() {
        Ok(n) => u32::try_from(n)
            .ok()
            .filter(|n| *n <= MAX)
            .ok_or_else(|| format!("must be between 0 and {MAX}")),
        Err(_) => Err(format!("must be an integer from 0 to {MAX}, not {text:?}")),
    }
}

/// `createdTime,-id`: fields in order, `-` for descending.
fn sort(text: &str) -> Result<Vec<(Field, bool)>, String> {
    let mut fields = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, descending) = match part.strip_prefix('-') {
            Some(name) => (name, true),
            None => (part, false),
        };
        let field = Field::named(name).ok_or_else(|| {
            format!(
                "cannot sort by {name:?}{}; the fields are {}",
                crate::util::suggest::did_you_mean(name, Field::ALL.map(Field::name)),
                Field::list()
            )
        })?;
        fields.push((field, descending));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_percent_decoded_and_checked() {
        let query = Query::parse(Some(
            "filter=description%3Aa%2Cb%3Bid%3A!x&sort=-createdTime,+id&limit=5&offset=2",
        ));
        let query = query.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(query.filter.is_some());
        assert_eq!(query.sort, [(Field::CreatedTime, true), (Field::Id, false)]);
        assert_eq!((query.limit, query.offset), (5, 2));

        let fields = |query: &str| -> Vec<String> {
            Query::parse(Some(query))
                .err()
                .unwrap_or_default()
                .iter()
                .filter_map(|p| p["field"].as_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(fields("limit=1001&offset=-1"), ["limit", "offset"]);
        assert_eq!(fields("limit=ten&offset=1.5"), ["limit", "offset"]);
        assert_eq!(fields("filter=nope:1&sort=secretKey"), ["filter", "sort"]);
        assert!(fields("limit=0&offset=1000&filter=&sort=&other=1").is_empty());
    }
}
