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
                // Bash's ANSI-C quoting, as Chrome's "Copy as cURL" writes non-ASCII text:
                // `\xHH` and octal escapes are bytes (UTF-8 when taken together), `\u` and
                // `\U` are characters.
                let mut bytes: Vec<u8> = Vec::new();
                let push = |bytes: &mut Vec<u8>, c: char| {
                    let mut buffer = [0; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                };
                let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
                              radix: u32,
                              most: usize| {
                    let mut value: u32 = 0;
                    let mut count = 0;
                    while count < most {
                        let Some(digit) = chars.peek().and_then(|c| c.to_digit(radix)) else {
                            break;
                        };
                        value = value.saturating_mul(radix).saturating_add(digit);
                        chars.next();
                        count += 1;
                    }
                    (count > 0).then_some((value, count))
                };
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => bytes.push(b'\n'),
                            Some('t') => bytes.push(b'\t'),
                            Some('r') => bytes.push(b'\r'),
                            Some('a') => bytes.push(0x07),
                            Some('b') => bytes.push(0x08),
                            Some('e' | 'E') => bytes.push(0x1b),
                            Some('f') => bytes.push(0x0c),
                            Some('v') => bytes.push(0x0b),
                            Some('x') => match digits(&mut chars, 16, 2) {
                                Some((value, _)) => bytes.push(value as u8),
                                None => bytes.extend_from_slice(b"\\x"),
                            },
                            Some(c @ ('u' | 'U')) => {
                                let most = if c == 'u' { 4 } else { 8 };
                                match digits(&mut chars, 16, most)
                                    .and_then(|(value, _)| char::from_u32(value))
                                {
                                    Some(decoded) => push(&mut bytes, decoded),
                                    None => {
                                        bytes.push(b'\\');
                                        push(&mut bytes, c);
                                    }
                                }
                            }
                            Some(c @ '0'..='7') => {
                                let first = c.to_digit(8).unwrap_or(0);
                                let value = match digits(&mut chars, 8, 2) {
                                    Some((rest, 2)) => first * 64 + rest,
                                    Some((rest, _)) => first * 8 + rest,
                                    None => first,
                                };
                                bytes.push((value & 0xff) as u8);
                            }
                            Some('c') => match chars.next() {
                                Some(c) => bytes.push((c as u32 & 0x1f) as u8),
                                None => return Err(unclosed("$'...' quote")),
                            },
                            Some(c) => push(&mut bytes, c),
                            None => return Err(unclosed("$'...' quote")),
                        },
                        Some(c) => push(&mut bytes, c),
                        None => return Err(unclosed("$'...' quote")),
                    }
                }
                word.push_str(&String::from_utf8_lossy(&bytes));
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

    #[test]
    fn ansi_c_quotes_decode_as_bash_does() {
        assert_eq!(
            split(r#"curl --data-raw $'{"d":"caf\u00e9 \x41 \303\251 \101\tb\'c'"#),
            ["curl", "--data-raw", "{\"d\":\"caf\u{e9} A \u{e9} A\tb'c"]
        );
    }

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
