//! Timestamps on the wire: RFC 3339 in UTC, exactly as chrono's serde writes them (`…T12:34:56.789Z`,
//! with 0, 3, 6 or 9 fraction digits), but formatted into a stack buffer and written as one string.
//! chrono's own `Serialize` goes through `Display` and `collect_str`, which serde_json escapes one
//! character at a time; on list endpoints that was the largest cost of writing a response.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::Serializer;

/// `#[serde(serialize_with = "crate::time::rfc3339")]`
pub fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match format(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// `#[serde(serialize_with = "crate::time::rfc3339_opt")]` for optional timestamps.
pub fn rfc3339_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// Years 0–9999 without a leap second; `None` for the rest (the caller falls back to chrono).
fn format<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
    let t = t.naive_utc();
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    fn put(buf: &mut [u8], at: usize, digits: usize, mut v: u32) {
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(buf, 0, 4, year);
    buf[4] = b'-';
    put(buf, 5, 2, t.month());
    buf[7] = b'-';
    put(buf, 8, 2, t.day());
    buf[10] = b'T';
    put(buf, 11, 2, t.hour());
    buf[13] = b':';
    put(buf, 14, 2, t.minute());
    buf[16] = b':';
    put(buf, 17, 2, t.second());
    let mut len = 19;
    let (digits, value) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    if digits > 0 {
        buf[len] = b'.';
        put(buf, len + 1, digits, value);
        len += 1 + digits;
    }
    buf[len] = b'Z';
    std::str::from_utf8(&buf[..=len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(serde::Serialize)]
    struct Fast(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);

    fn fast(t: DateTime<Utc>) -> String {
        serde_json::to_string(&Fast(t)).expect("serialize")
    }

    #[test]
    fn matches_chrono_serde_exactly() {
        let base = Utc.with_ymd_and_hms(2026, 11, 27, 23, 44, 38).unwrap();
        let table = [
            base,
            base + chrono::Duration::milliseconds(5),
            base + chrono::Duration::microseconds(878_184),
            base + chrono::Duration::microseconds(1),
            base + chrono::Duration::nanoseconds(123_456_789),
            base + chrono::Duration::nanoseconds(7),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 2, 29, 9, 5, 3).unwrap(),
        ];
        for t in table {
            assert_eq!(fast(t), serde_json::to_string(&t).expect("chrono"), "{t:?}");
        }
        // a spread of instants across the years
        let mut t = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        while t.year() < 9999 {
            assert_eq!(fast(t), serde_json::to_string(&t).expect("chrono"), "{t:?}");
            t += chrono::Duration::nanoseconds(86_399_999_999_937) * 17;
        }
    }

    #[test]
    fn optional_timestamps_are_null_or_the_same_text() {
        #[derive(serde::Serialize)]
        struct Opt(#[serde(serialize_with = "rfc3339_opt")] Option<DateTime<Utc>>);
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(serde_json::to_string(&Opt(None)).unwrap(), "null");
        assert_eq!(
            serde_json::to_string(&Opt(Some(t))).unwrap(),
            "\"2026-01-02T03:04:05Z\""
        );
    }
}
