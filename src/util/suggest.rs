//! "Did you mean" suggestions for names that are close to a known one.

/// The known name closest to `given`, if one is close enough to be a likely typo: a
/// case-insensitive match first, then the smallest edit distance within a third of the length.
pub(crate) fn closest<'a, I>(given: &str, known: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = given.to_lowercase();
    let limit = (given.chars().count() / 3).clamp(1, 4);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in known {
        if candidate.to_lowercase() == lower {
            return Some(candidate);
        }
        let distance = edit_distance(&lower, &candidate.to_lowercase(), limit);
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

/// Optimal string alignment distance (Levenshtein plus adjacent swaps), giving up early once
/// every path exceeds `limit`.
fn edit_distance(a: &str, b: &str, limit: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let width = b.len() + 1;
    let mut prev2 = vec![0; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut row = vec![0; width];
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
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
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
        assert_eq!(edit_distance("getcustomer", "getcustomers", 3), 1);
    }
}
