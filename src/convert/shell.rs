//! Words of a shell command line, as a POSIX shell splits them, without running anything:
//! `$VAR` and `${...}` stay as written (the latter are workflow expressions).

use super::error::{ConvertError, ConvertErrorKind};

/// Splits `text` into words: single quotes are literal, double quotes let `\` escape `"`,
/// `\`, `$` and a newline, `$'...'` takes C escapes, and a backslash-newline outside quotes
/// joins lines. A `#` at the start of a word begins a comment.
pub(crate) fn words(text: &str) -> Result<Vec<String>, ConvertError> {
    let unclosed = |what: &str| {
        ConvertError::new(
            ConvertErrorKind::Syntax,
            format!("unclosed {what} in the command line"),
        )
    };
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some('\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                }
                Some(next) => {
                    word.push(next);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(unclosed("single quote")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(unclosed("double quote")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(unclosed("double quote")),
                    }
                }
            }
            '$' if chars.peek() == Some(&'\'') => {
                chars.next();
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => word.push('\n'),
                            Some('t') => word.push('\t'),
                            Some('r') => word.push('\r'),
                            Some(c) => word.push(c),
                            None => return Err(unclosed("$'...' quote")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(unclosed("$'...' quote")),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<String> {
        words(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn quotes_escapes_and_continuations() {
        assert_eq!(split("curl -X POST 'a b'"), ["curl", "-X", "POST", "a b"]);
        assert_eq!(split(r"'it'\''s'"), ["it's"]);
        assert_eq!(split(r#""say \"hi\" $HOME""#), [r#"say "hi" $HOME"#]);
        assert_eq!(split("curl \\\n  -H x"), ["curl", "-H", "x"]);
        assert_eq!(split("a\\ b"), ["a b"]);
        assert_eq!(split("$'a\\nb\\'c'"), ["a\nb'c"]);
        assert_eq!(split("\"${workflow.input.x}\""), ["${workflow.input.x}"]);
        assert_eq!(split("a # comment\nb"), ["a", "b"]);
        assert_eq!(split("''"), [""]);
    }

    #[test]
    fn unclosed_quotes_are_errors() {
        for text in ["'abc", "\"abc", "$'abc"] {
            let error = words(text).err().map(|e| e.kind());
            assert_eq!(error, Some(ConvertErrorKind::Syntax), "{text}");
        }
    }
}
