//! UTC time as stored: microsecond precision on both engines, and `Ts`, the column type of every
//! timestamp, which reads SQLite's text timestamps without diesel's slow format-by-format parsing.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SubsecRound, Utc};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Text, Timestamp};
use diesel::sqlite::Sqlite;

/// Now, truncated to microseconds so values read back compare equal on PostgreSQL and SQLite.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A `TIMESTAMP` column value (UTC, no zone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Timestamp)]
pub struct Ts(pub NaiveDateTime);

pub(crate) fn to_db(t: DateTime<Utc>) -> Ts {
    Ts(t.naive_utc())
}

pub(crate) fn from_db(t: Ts) -> DateTime<Utc> {
    t.0.and_utc()
}

/// Parse `YYYY-MM-DD HH:MM:SS[.fraction]` (what diesel writes to SQLite) without format strings.
fn parse_fast(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let mut nanos = 0u32;
    if b.len() > 19 {
        if b[19] != b'.' || b.len() == 20 || b.len() > 29 {
            return None;
        }
        let frac = num(20..b.len())?;
        nanos = frac * 10u32.pow(u32::try_from(29 - b.len()).ok()?);
    }
    let time = NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    Some(NaiveDateTime::new(date, time))
}

impl FromSql<Timestamp, Sqlite> for Ts {
    fn from_sql(value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        if let Some(t) = parse_fast(&text) {
            return Ok(Ts(t));
        }
        for format in ["%F %T%.f%:z", "%F %T%:z", "%F %R", "%FT%T%.f", "%FT%T%.fZ"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(&text, format) {
                return Ok(Ts(t));
            }
        }
        Err(format!("invalid timestamp {text:?}").into())
    }
}

impl ToSql<Timestamp, Sqlite> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Sqlite>>::to_sql(&self.0, out)
    }
}

impl FromSql<Timestamp, Pg> for Ts {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Ts)
    }
}

impl ToSql<Timestamp, Pg> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<Timestamp, crate::conn::MultiBackend> for Ts {
    fn from_sql(bytes: crate::conn::MultiRawValue<'_>) -> deserialize::Result<Self> {
        bytes.from_sql::<Self, Timestamp>()
    }
}

impl ToSql<Timestamp, crate::conn::MultiBackend> for Ts {
    fn to_sql<'b>(
        &'b self,
        out: &mut Output<'b, '_, crate::conn::MultiBackend>,
    ) -> serialize::Result {
        out.set_value((Timestamp, self));
        Ok(serialize::IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_parse_matches_chrono() {
        let table = [
            "2026-11-27 21:05:47",
            "2026-11-27 21:05:47.7",
            "2026-11-27 21:05:47.737744",
            "2026-11-27 21:05:47.737744123",
            "1999-01-01 00:00:00.000001",
        ];
        for s in table {
            let want = NaiveDateTime::parse_from_str(s, "%F %T%.f").unwrap();
            assert_eq!(parse_fast(s), Some(want), "{s}");
        }
        for bad in [
            "2026-13-01 00:00:00",
            "2026-11-27 25:00:00",
            "2026-11-27",
            "2026-11-27 21:05:47.",
            "x026-11-27 21:05:47",
        ] {
            assert_eq!(parse_fast(bad), None, "{bad}");
        }
    }
}
