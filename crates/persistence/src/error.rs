//! The persistence error type.

use sea_orm::{DbErr, SqlErr};

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (e.g. the email is taken).
    #[error("a unique constraint was violated: {0}")]
    Duplicate(String),
    /// The database could not be reached or no connection was free in time.
    #[error("the database is unavailable")]
    Unavailable(#[source] DbErr),
    /// Any other database failure.
    #[error("database error")]
    Database(#[source] DbErr),
    /// A stored value could not be read back (corrupt or out of range).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(what)) = err.sql_err() {
            return StoreError::Duplicate(what);
        }
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(err),
            other if is_connection_failure(&other) => StoreError::Unavailable(other),
            other => StoreError::Database(other),
        }
    }
}

/// An I/O error on an established connection (the server went away) also means "unavailable".
fn is_connection_failure(err: &DbErr) -> bool {
    let text = err.to_string().to_ascii_lowercase();
    [
        "connection refused",
        "connection reset",
        "broken pipe",
        "pool timed out",
        "io error",
        "closed",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}
