//! Shared by the binary's tests that need PostgreSQL: a database of the test's own.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// An empty PostgreSQL database made for one test, on `TEST_DATABASE_URL`'s server.
pub struct ScratchPostgres {
    admin: DatabaseConnection,
    name: String,
    /// Where the test connects.
    pub url: String,
}

impl ScratchPostgres {
    /// A new database named `{prefix}_{random}`; `None` (the test skips) when PostgreSQL does
    /// not answer, unless `REQUIRE_POSTGRES` makes that a failure.
    pub async fn create(prefix: &str) -> Option<Self> {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let admin = match Database::connect(&admin_url).await {
            Ok(db) => db,
            Err(e) if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true") => {
                panic!("PostgreSQL is required but unreachable at {admin_url}: {e}")
            }
            Err(e) => {
                eprintln!("skipping: PostgreSQL unreachable at {admin_url} ({e})");
                return None;
            }
        };
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("scratch database created");
        let prefix = admin_url
            .split('?')
            .next()
            .and_then(|base| base.rsplit_once('/'))
            .map(|(prefix, _)| prefix.to_owned())
            .expect("TEST_DATABASE_URL names a database");
        let url = format!("{prefix}/{name}");
        Some(Self { admin, name, url })
    }

    /// Drops the database (whatever the test left connected to it).
    pub async fn drop_now(self) {
        self.admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await
            .expect("scratch database dropped");
    }
}
