//! Values of a row written as JSON exactly as their GraphQL types answer them.

use async_graphql::resolver_utils::EnumType;
use chrono::{DateTime, Utc};

use crate::graphql::id::Id;

/// A value written as JSON exactly as its GraphQL type answers it.
pub trait Plain {
    fn write(&self, out: &mut Vec<u8>);
}

impl Plain for String {
    fn write(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl Plain for Id {
    fn write(&self, out: &mut Vec<u8>) {
        let mut buffer = uuid::Uuid::encode_buffer();
        write_str(out, self.0.hyphenated().encode_lower(&mut buffer));
    }
}

impl Plain for DateTime<Utc> {
    /// What async-graphql's `DateTime<Utc>` scalar answers (`to_rfc3339`: seconds with
    /// 3, 6 or 9 decimals as needed, `+00:00`), written without formatting machinery:
    /// a page of messages has a time per row. Years outside 0–9999 and leap seconds go
    /// through chrono itself.
    fn write(&self, out: &mut Vec<u8>) {
        use chrono::{Datelike, Timelike};
        // The calendar fields of the UTC time, taken once: each of `DateTime`'s own
        // accessors converts the time again.
        let (date, time) = (self.naive_utc().date(), self.naive_utc().time());
        let (year, nanos) = (date.year(), time.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            write_str(out, &self.to_rfc3339());
            return;
        }
        // Filled in place, digits from the right by constant divisions.
        let mut text = *b"\"0000-00-00T00:00:00.000000000";
        let mut put = |end: usize, mut value: u32, width: usize| {
            for at in (end - width..end).rev() {
                text[at] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(5, year.unsigned_abs(), 4);
        put(8, date.month(), 2);
        put(11, date.day(), 2);
        put(14, time.hour(), 2);
        put(17, time.minute(), 2);
        put(20, time.second(), 2);
        let end = if nanos == 0 {
            20
        } else if nanos % 1_000_000 == 0 {
            put(24, nanos / 1_000_000, 3);
            24
        } else if nanos % 1_000 == 0 {
            put(27, nanos / 1_000, 6);
            27
        } else {
            put(30, nanos, 9);
            30
        };
        out.extend_from_slice(&text[..end]);
        out.extend_from_slice(b"+00:00\"");
    }
}

impl<T: Plain> Plain for Option<T> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Some(value) => value.write(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

/// Writes an enum value under its GraphQL name.
pub fn write_enum<E: EnumType + PartialEq>(value: &E, out: &mut Vec<u8>) {
    match E::items().iter().find(|item| item.value == *value) {
        Some(item) => write_str(out, item.name),
        // Every value of a derived enum is among its items.
        None => out.extend_from_slice(b"null"),
    }
}

/// Writes `text` as a JSON string, escaped as serde_json escapes it. Most strings of an
/// answer need no escape: that is told in one pass without an early exit (which the
/// compiler vectorises), and they are copied whole.
pub(in crate::graphql) fn write_str(out: &mut Vec<u8>, text: &str) {
    let escapes = text.bytes().fold(false, |any, byte| {
        any | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
    });
    if escapes {
        // Writing a string to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(value: &impl Plain) -> String {
        let mut out = Vec::new();
        value.write(&mut out);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "line\nfeed\ttab\r\u{1}\u{1f}\u{7f}\u{2028}",
            "é 日本 🙂 </script>",
        ] {
            let expected = serde_json::to_string(text).expect("json");
            assert_eq!(written(&text.to_owned()), expected, "{text:?}");
        }
    }

    #[test]
    fn times_are_written_as_the_scalar_answers_them() {
        use chrono::TimeZone;
        let base = Utc.with_ymd_and_hms(2026, 12, 2, 9, 5, 7).unwrap();
        let mut times = vec![
            base,
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 30, 12, 0, 0).unwrap(),
        ];
        for nanos in [
            1,
            10,
            999,
            1_000,
            120_000,
            999_999,
            1_000_000,
            7_000_000,
            123_456_789,
            999_999_999,
        ] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
        }
        for time in times {
            let expected = serde_json::to_string(&time.to_rfc3339()).expect("json");
            assert_eq!(written(&time), expected);
        }
    }
}
