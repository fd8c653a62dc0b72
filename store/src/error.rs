//! The store's one error type.

/// What can go wrong in the system of record.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write: `what` names the taken value (e.g. `email`).
    #[error("{what} is already taken")]
    Conflict { what: &'static str },
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot connect to the database")]
    Connect(#[source] diesel::ConnectionError),
    #[error("database migration failed")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("cannot create {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The state machine refuses `from → to`.
    #[error("illegal transition {from} → {to}")]
    IllegalTransition {
        from: common::ApplianceState,
        to: common::ApplianceState,
    },
    /// The database refused to orphan appliances: their application cannot go while they are not
    /// terminated, and an appliance needs an application (migration 5's triggers).
    #[error("appliances that are not terminated need their application")]
    LiveAppliances(#[source] diesel::result::Error),
    /// A pool's guest network has no address left to hand out.
    #[error("{0}")]
    Exhausted(String),
    /// The row changed since it was read (another writer moved it first).
    #[error("the record changed meanwhile")]
    Stale,
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
    /// A JSON value could not be written or read back.
    #[error("the {what} is not valid JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A database job waited longer than this for a worker (every connection was busy).
    #[error("the database is busy: no connection became free within {0:?}")]
    Busy(std::time::Duration),
    /// A database job panicked, or the workers are gone.
    #[error("a database task failed")]
    Worker,
}

impl StoreError {
    /// Recognise the refusal of migration 5's triggers; keep other errors.
    pub(crate) fn orphan_guard(e: diesel::result::Error) -> Self {
        use diesel::result::Error;
        match &e {
            Error::DatabaseError(_, info) if info.message().contains("live appliances") => {
                Self::LiveAppliances(e)
            }
            _ => Self::Query(e),
        }
    }

    /// Map a unique violation to [`StoreError::Conflict`] naming the first of `columns` its
    /// constraint mentions, else `default`; keep other errors.
    pub(crate) fn unique_among(
        e: diesel::result::Error,
        columns: &[&'static str],
        default: &'static str,
    ) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        if let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = &e {
            let named = |c: &str| {
                info.message().contains(c) || info.constraint_name().is_some_and(|n| n.contains(c))
            };
            if let Some(what) = columns.iter().copied().find(|c| named(c)) {
                return Self::Conflict { what };
            }
        }
        Self::unique_as(e, default)
    }

    /// Map a unique violation to [`StoreError::Conflict`] naming `what`; keep other errors.
    pub(crate) fn unique_as(e: diesel::result::Error, what: &'static str) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict { what },
            other => Self::Query(other),
        }
    }
}

/// An error with its causes, for logs and stored errors: `outer: cause: root cause`.
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl std::fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// [`Chain`] as a string.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    Chain(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_every_cause() {
        let io = std::io::Error::other("disk on fire");
        let e = StoreError::Io {
            path: "/data".into(),
            source: io,
        };
        assert_eq!(error_chain(&e), "cannot create /data: disk on fire");
        let q = StoreError::Query(diesel::result::Error::NotFound);
        assert_eq!(error_chain(&q), "database query failed: Record not found");
    }
}
