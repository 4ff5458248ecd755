//! The persistence error type.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

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

/// An I/O error on an established connection (the server went away), or PostgreSQL saying it
/// cannot serve the session (shutting down, starting up, too many connections) also means
/// "unavailable": the request may succeed on retry, and nothing was committed.
fn is_connection_failure(err: &DbErr) -> bool {
    if let DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e)) = err
    {
        match e.as_ref() {
            sea_orm::sqlx::Error::Io(_)
            | sea_orm::sqlx::Error::PoolTimedOut
            | sea_orm::sqlx::Error::PoolClosed
            | sea_orm::sqlx::Error::WorkerCrashed => return true,
            sea_orm::sqlx::Error::Database(db) => {
                if let Some(code) = db.code()
                    && is_unavailable_sqlstate(&code)
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    let text = err.to_string().to_ascii_lowercase();
    [
        "connection refused",
        "connection reset",
        "broken pipe",
        "pool timed out",
        "io error",
        "closed",
        "terminating connection",
        "the database system is",
        "unexpected eof",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// PostgreSQL's SQLSTATEs for "not now": class 08 (connection exception), 57P01..57P05
/// (admin shutdown, crash shutdown, cannot connect now, database dropped, idle session
/// timeout) and 53300 (too many connections). SQLite's codes are numeric and never match.
fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_shutdown_states_mean_unavailable() {
        for code in ["57P01", "57P02", "57P03", "08006", "08003", "53300"] {
            assert!(is_unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "22021", "40001", "2067"] {
            assert!(!is_unavailable_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn termination_text_maps_to_unavailable() {
        let err = DbErr::Query(RuntimeErr::Internal(
            "FATAL: terminating connection due to administrator command".into(),
        ));
        assert!(matches!(StoreError::from(err), StoreError::Unavailable(_)));
        let err = DbErr::Query(RuntimeErr::Internal("syntax error at or near".into()));
        assert!(matches!(StoreError::from(err), StoreError::Database(_)));
    }
}
