//! User info (`user:password@`) in a URL as written: a credential, which is neither copied
//! into a step nor shown in a message.

/// `url` split around its user info: `(scheme and "://", user info, host and the rest)`, when
/// its authority has any. The authority ends at the first `/`, `?` or `#` after `://`, and
/// the user info at its last `@`, as URL parsers read it.
pub(crate) fn split(url: &str) -> Option<(&str, &str, &str)> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| start + at);
    let at = url[start..authority_end].rfind('@')? + start;
    Some((&url[..start], &url[start..at], &url[at + 1..]))
}

/// The URL with its user info replaced by `<redacted>`, for a message.
pub(crate) fn redacted(url: &str) -> String {
    match split(url) {
        Some((scheme, _, rest)) => format!("{scheme}<redacted>@{rest}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_at_sign_of_the_authority_ends_the_user_info() {
        assert_eq!(
            split("https://u:p@ss@h.example/a@b"),
            Some(("https://", "u:p@ss", "h.example/a@b"))
        );
        assert_eq!(split("https://h.example/a@b"), None);
        assert_eq!(split("h.example"), None);
        assert_eq!(
            redacted("http://u:pw@127.0.0.1:9/x"),
            "http://<redacted>@127.0.0.1:9/x"
        );
    }
}
