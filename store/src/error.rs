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
    /// The row changed since it was read (another writer moved it first).
    #[error("the record changed meanwhile")]
    Stale,
    #[error("a stored row is invalid: {0}")]
    Corrupt(String),
    /// A database job waited longer than this for a worker (every connection was busy).
    #[error("the database is busy: no connection became free within {0:?}")]
    Busy(std::time::Duration),
    /// A database job panicked, or the workers are gone.
    #[error("a database task failed")]
    Worker,
}

impl StoreError {
    /// Map a unique violation to [`StoreError::Conflict`] naming `what`; keep other errors.
    pub(crate) fn unique_as(e: diesel::result::Error, what: &'static str) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::Conflict { what },
            other => Self::Query(other),
        }
    }
}
