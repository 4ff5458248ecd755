//! Persistence for Doztra Auth: SeaORM entities and repository functions. This is the only crate
//! that speaks SQL. Repository functions take `&impl ConnectionTrait`, so they run on the pool or
//! inside a transaction that the service layer opened with [`begin_write`]. Every statement here
//! runs on both SQLite and PostgreSQL.

pub mod alerts;
pub mod api_keys;
pub mod email;
pub mod entities;
mod error;
pub mod ledger;
pub mod metering;
pub mod preferences;
pub mod reservations;
pub mod sessions;
pub mod stripe_events;
pub mod subscriptions;
pub mod throttle;
pub mod users;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

use std::time::Duration;

pub use error::StoreError;
pub use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};

/// Connections of a pool as the metrics show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections (idle and in use).
    pub size: u32,
    /// Open connections waiting for work.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// The pool's connections now.
pub fn pool_stats(db: &DatabaseConnection) -> PoolStats {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            PoolStats {
                size: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            }
        }
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            PoolStats {
                size: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            }
        }
        _ => PoolStats::default(),
    }
}

use sea_orm::{ConnectOptions, Database, SqliteTransactionMode, TransactionOptions};

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Largest number of open connections.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it fails.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Opens a pool. SQLite files get WAL, a busy timeout and foreign keys, so concurrent writers
/// queue instead of failing with "database is locked".
pub async fn connect(url: &str, pool: &PoolSettings) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(pool.max_connections)
        .min_connections(0)
        .acquire_timeout(pool.acquire_timeout)
        .connect_timeout(pool.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
        });
    Database::connect(options).await.map_err(StoreError::from)
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes waits for other writers
/// instead of failing when it upgrades its lock; PostgreSQL uses its default (read committed).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, StoreError> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
    .map_err(StoreError::from)
}

/// The row offset of a 1-based page, or `None` when it lies beyond anything a database can
/// hold (drivers bind integers as i64; a larger value must never reach them).
pub(crate) fn page_offset(page: u64, per_page: u64) -> Option<u64> {
    let offset = page.saturating_sub(1).checked_mul(per_page)?;
    (offset <= i64::MAX as u64 && per_page <= i64::MAX as u64).then_some(offset)
}

/// A lookup key as the database can compare it: PostgreSQL's text cannot hold NUL and refuses
/// the whole statement, so NUL becomes U+FFFD. Stored values never contain NUL (validation
/// refuses control characters), so a key that had one still matches nothing.
pub(crate) fn lookup_text(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.contains('\0') {
        std::borrow::Cow::Owned(raw.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(raw)
    }
}

/// Answers whether the database responds (for readiness probes).
pub async fn ping(db: &DatabaseConnection) -> Result<(), StoreError> {
    db.ping().await.map_err(StoreError::from)
}
