//! "Did you mean" suggestions for names that are close to a known one.

/// The known name closest to `given`, if one is close enough to be a likely typo: a
/// case-insensitive match first, then the smallest edit distance within a third of the length.
/// A permission is checked against every operationId of the API (over a thousand), so the
/// buffers are reused from one candidate to the next and no candidate allocates.
pub(crate) fn closest<'a, I>(given: &str, known: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (given.chars().count() / 3).clamp(1, 4);
    let lower: Vec<char> = given.chars().flat_map(char::to_lowercase).collect();
    let mut candidate_lower: Vec<char> = Vec::new();
    let mut rows = Rows::default();
    let mut best: Option<(usize, &'a str)> = None;
    let ascii = given.is_ascii();
    for candidate in known {
        // Plain ASCII on both sides: lengths are counts of characters, and two lengths further
        // apart than the limit cannot be within it (most of a thousand operationIds).
        if ascii && candidate.is_ascii() && candidate.len().abs_diff(given.len()) > limit {
            continue;
        }
        candidate_lower.clear();
        candidate_lower.extend(candidate.chars().flat_map(char::to_lowercase));
        if candidate_lower == lower {
            return Some(candidate);
        }
        let distance = rows.distance(&lower, &candidate_lower, limit);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `" (did you mean \"x\"?)"`, or nothing.
pub(crate) fn did_you_mean<'a, I>(given: &str, known: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest(given, known)
        .map(|name| format!("; did you mean {name:?}?"))
        .unwrap_or_default()
}

/// The three rows of the distance table, kept between candidates.
#[derive(Default)]
struct Rows {
    prev2: Vec<usize>,
    prev: Vec<usize>,
    row: Vec<usize>,
}

impl Rows {
    /// Optimal string alignment distance (Levenshtein plus adjacent swaps), giving up early
    /// once every path exceeds `limit`.
    fn distance(&mut self, a: &[char], b: &[char], limit: usize) -> usize {
        if a.len().abs_diff(b.len()) > limit {
            return limit + 1;
        }
        let width = b.len() + 1;
        let Rows { prev2, prev, row } = self;
        prev2.clear();
        prev2.resize(width, 0);
        prev.clear();
        prev.extend(0..width);
        row.clear();
        row.resize(width, 0);
        for i in 1..=a.len() {
            row[0] = i;
            let mut row_min = row[0];
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut d = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d = d.min(prev2[j - 2] + 1);
                }
                row[j] = d;
                row_min = row_min.min(d);
            }
            if row_min > limit {
                return limit + 1;
            }
            std::mem::swap(prev2, prev);
            std::mem::swap(prev, row);
        }
        prev[b.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_and_case_slips() {
        let known = ["allowedIps", "acl", "description", "type"];
        assert_eq!(closest("allowedIPs", known), Some("allowedIps"));
        assert_eq!(closest("descripton", known), Some("description"));
        assert_eq!(closest("tpye", known), Some("type"));
        assert_eq!(closest("banana", known), None);
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        let mut rows = Rows::default();
        assert_eq!(
            rows.distance(&chars("getcustomer"), &chars("getcustomers"), 3),
            1
        );
        assert_eq!(rows.distance(&chars("ab"), &chars("ba"), 3), 1);
        assert_eq!(rows.distance(&chars("getcustomer"), &chars("xx"), 3), 4);
    }
}
