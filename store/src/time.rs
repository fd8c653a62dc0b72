//! UTC time as stored: microsecond precision on both engines.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// Now, truncated to microseconds so values read back compare equal on PostgreSQL and SQLite.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub(crate) fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}
