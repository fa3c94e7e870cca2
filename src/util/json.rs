//! Compact JSON for the largest things we write: a report's body, its curl line, a request's
//! body. The bytes are serde_json's (`to_writer`), written with fewer calls: serde_json
//! writes a string in runs cut at each byte it escapes, a call per run and per escape, and
//! a curl line carrying a JSON body has a `"` every few bytes. Here a string is copied eight
//! bytes at a time, and the output buffer is only cut back where an escape is found.

use serde_json::Value;

/// How each byte is written in a JSON string: 0 as itself, `u` as `\u00XX`, any other as a
/// backslash followed by it. serde_json's table: `"`, `\` and the control characters, with
/// short forms for five of them; DEL and every non-ASCII byte are written as they are.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A mask with the high bit set in the first byte of `word` (in memory order) that JSON
/// escapes, if any: `"`, `\` or a byte under 0x20. Bytes after that one may be marked too
/// (a borrow carries into them); only the lowest mark is used.
#[inline]
fn escapes(word: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = zero(word ^ (ONES * u64::from(b'"')));
    let backslash = zero(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (quote | backslash | control) & HIGHS
}

#[inline]
fn write_byte(out: &mut Vec<u8>, byte: u8) {
    match ESCAPE[usize::from(byte)] {
        0 => out.push(byte),
        b'u' => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]),
        short => out.extend_from_slice(&[b'\\', short]),
    }
}

/// Appends `text` as a JSON string, quotes included.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    let mut rest = text.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    while let Some((word, _)) = rest.split_first_chunk::<8>() {
        // The eight bytes go in as they are; where one needs escaping, the output is cut
        // back to the bytes before it.
        out.extend_from_slice(word);
        let marks = escapes(u64::from_le_bytes(*word));
        if marks == 0 {
            rest = &rest[8..];
            continue;
        }
        let clean = (marks.trailing_zeros() / 8) as usize;
        out.truncate(out.len() - 8 + clean);
        write_byte(out, rest[clean]);
        rest = &rest[clean + 1..];
    }
    for &byte in rest {
        write_byte(out, byte);
    }
    out.push(b'"');
}

/// The length of `text` as [`write_str`] writes it, quotes included, counted eight bytes at a
/// time as it writes: what a substitution adds to a request, measured before it is copied.
pub(crate) fn str_len(text: &str) -> usize {
    let escaped = |byte: u8| match ESCAPE[usize::from(byte)] {
        0 => 0,
        b'u' => 5,
        _ => 1,
    };
    let mut len = text.len() + 2;
    let mut rest = text.as_bytes();
    while let Some((word, after)) = rest.split_first_chunk::<8>() {
        if escapes(u64::from_le_bytes(*word)) != 0 {
            len += word.iter().map(|&byte| escaped(byte)).sum::<usize>();
        }
        rest = after;
    }
    len + rest.iter().map(|&byte| escaped(byte)).sum::<usize>()
}

/// Appends `value` as compact JSON. Numbers are written by serde_json itself (with
/// `exact-numbers`, the input's digits, in serde_json's form: `1E5` is `1e+5`).
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // A number into a `Vec` cannot fail: neither the writer nor the number has an error.
        Value::Number(number) => {
            let _ = serde_json::to_writer(&mut *out, number);
        }
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (i, (name, field)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, name);
                out.push(b':');
                write_value(out, field);
            }
            out.push(b'}');
        }
    }
}

/// An object's members, for tests that write parameters and state with `json!`.
#[cfg(test)]
pub(crate) fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        other => panic!("not an object: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ours(text: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, text);
        String::from_utf8(out).expect("UTF-8")
    }

    /// Every character class at every offset within a word, and at the end of the string.
    #[test]
    fn strings_are_serde_jsons() {
        let specials = [
            "\"",
            "\\",
            "\u{0}",
            "\u{1f}",
            "\n",
            "\r",
            "\t",
            "\u{8}",
            "\u{c}",
            "\u{7f}",
            " ",
            "!",
            "#",
            "[",
            "]",
            "\u{e9}",
            "\u{20ac}",
            "\u{1f600}",
            "'",
            "/",
            "\u{80}",
        ];
        for special in specials {
            for before in 0..17 {
                for after in [0, 1, 7, 8, 9] {
                    let text = format!("{}{special}{}", "a".repeat(before), "b".repeat(after));
                    let expected = serde_json::to_string(&text).expect("json");
                    assert_eq!(ours(&text), expected, "{text:?}");
                    assert_eq!(str_len(&text), expected.len(), "{text:?}");
                }
            }
        }
        // Every byte under 0x80, two at a time, in a string longer than a word.
        for first in 0u8..0x80 {
            let text: String = (0u8..0x80)
                .flat_map(|second| [char::from(first), char::from(second), 'x'])
                .collect();
            assert_eq!(ours(&text), serde_json::to_string(&text).expect("json"));
            assert_eq!(str_len(&text), ours(&text).len());
        }
        assert_eq!(ours(""), "\"\"");
        assert_eq!(str_len(""), 2);
    }

    #[test]
    fn values_are_serde_jsons() {
        let values = [
            json!(null),
            json!({}),
            json!([]),
            json!({"a": [1, -2, 3.5, 1e300, 18446744073709551615u64, -9223372036854775808i64,
                         true, false, null, "x\"y", {"k\n": {}}], "": [[]], "é": "\u{1}"}),
            serde_json::from_str(include_str!("../../benches/steps/large.json")).expect("json"),
        ];
        for value in values {
            let mut out = Vec::new();
            write_value(&mut out, &value);
            assert_eq!(out, serde_json::to_vec(&value).expect("json"));
        }
    }
}
