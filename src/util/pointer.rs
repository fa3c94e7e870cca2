//! JSON Pointers (RFC 6901), built as walkers descend: every problem is located by one.

/// A JSON Pointer with one more reference token, `~` and `/` escaped (RFC 6901).
pub(crate) fn push_token(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    append_token(&mut out, token);
    out
}

/// Appends a reference token in place: walkers keep one buffer and truncate it on the way
/// back, so a pointer is only allocated when a problem is recorded.
pub(crate) fn append_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    if !token.bytes().any(|b| b == b'~' || b == b'/') {
        pointer.push_str(token);
        return;
    }
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Appends an array index in place, without the formatting machinery (walkers call this for
/// every array item).
pub(crate) fn append_index(pointer: &mut String, index: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = index;
    loop {
        at -= 1;
        // `rest % 10` is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    pointer.push('/');
    for &digit in &digits[at..] {
        pointer.push(char::from(digit));
    }
}

/// Where a walk is in a document, kept as the walk's own stack frames: each level borrows its
/// reference token and points at its parent's frame. Descending costs nothing; the JSON
/// Pointer is spelled, escaped as [`append_token`] escapes it, only when a problem or a
/// substitution needs it (most values need neither).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Location<'p> {
    parent: Option<&'p Location<'p>>,
    token: Token<'p>,
}

/// One reference token: a member's name or an item's index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Token<'p> {
    Key(&'p str),
    Index(usize),
}

impl Token<'_> {
    /// Appends `/` and this token to `pointer`, escaped.
    pub fn append_to(self, pointer: &mut String) {
        match self {
            Token::Key(key) => append_token(pointer, key),
            Token::Index(index) => append_index(pointer, index),
        }
    }
}

impl<'p> Location<'p> {
    /// A member of the document's root object: `/key`.
    pub fn root(key: &'p str) -> Self {
        Location {
            parent: None,
            token: Token::Key(key),
        }
    }

    /// A member of the object at `self`.
    pub fn key(&'p self, key: &'p str) -> Self {
        Location {
            parent: Some(self),
            token: Token::Key(key),
        }
    }

    /// An item of the array at `self`.
    pub fn index(&'p self, index: usize) -> Self {
        Location {
            parent: Some(self),
            token: Token::Index(index),
        }
    }

    /// Appends this location's JSON Pointer to `out`.
    pub fn write(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.write(out);
        }
        self.token.append_to(out);
    }

    /// This location's JSON Pointer.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

/// Whether `pointer` is `prefix` or lies below it.
pub(crate) fn is_within(pointer: &str, prefix: &str) -> bool {
    pointer == prefix
        || (pointer.starts_with(prefix) && pointer.as_bytes().get(prefix.len()) == Some(&b'/'))
}

/// Whether `pointer` passes through a member whose name, decoded, is longer than `bytes`.
pub(crate) fn has_name_longer_than(pointer: &str, bytes: usize) -> bool {
    pointer.split('/').any(|token| {
        let escapes = token.matches("~0").count() + token.matches("~1").count();
        token.len() - escapes > bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_escaped() {
        assert_eq!(push_token("/headers", "a/b~c"), "/headers/a~1b~0c");
        let mut pointer = String::from("/body/acl");
        append_index(&mut pointer, 3);
        append_index(&mut pointer, 0);
        append_index(&mut pointer, 1207);
        assert_eq!(pointer, "/body/acl/3/0/1207");
    }

    #[test]
    fn a_location_spells_what_appending_builds() {
        // The eager way: a buffer appended to on the way down.
        let mut eager = String::new();
        append_token(&mut eager, "body");
        append_token(&mut eager, "a/b~c");
        append_index(&mut eager, 0);
        append_token(&mut eager, "");
        append_index(&mut eager, 1207);
        append_token(&mut eager, "~~//x");
        append_token(&mut eager, "é ü");
        let body = Location::root("body");
        let odd = body.key("a/b~c");
        let first = odd.index(0);
        let empty = first.key("");
        let item = empty.index(1207);
        let escaped = item.key("~~//x");
        let last = escaped.key("é ü");
        assert_eq!(last.pointer(), eager);
        assert_eq!(eager, "/body/a~1b~0c/0//1207/~0~0~1~1x/é ü");
        assert_eq!(body.pointer(), "/body");
        assert_eq!(Location::root("").pointer(), "/");
        assert_eq!(item.pointer(), "/body/a~1b~0c/0//1207");
        let mut prefixed = String::from("xyz");
        first.write(&mut prefixed);
        assert_eq!(prefixed, "xyz/body/a~1b~0c/0");
        let mut tokens = String::from("/a");
        Token::Key("b/~").append_to(&mut tokens);
        Token::Index(10).append_to(&mut tokens);
        assert_eq!(tokens, "/a/b~1~0/10");
    }

    #[test]
    fn within_respects_token_boundaries() {
        assert!(is_within("/body/acl/0", "/body/acl"));
        assert!(is_within("/body/acl", "/body/acl"));
        assert!(!is_within("/body/aclx", "/body/acl"));
        assert!(is_within("/body", ""));
    }

    /// A name is measured decoded: `~1` is one byte of it, `/`.
    #[test]
    fn names_are_measured_decoded() {
        assert!(has_name_longer_than("/a/bcd/e", 2));
        assert!(!has_name_longer_than("/a/bc/e", 2));
        assert!(!has_name_longer_than("/a/~1~0/e", 2));
        assert!(has_name_longer_than("/a/~1~0x/e", 2));
        assert!(!has_name_longer_than("", 0));
    }
}
