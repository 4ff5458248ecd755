//! The path past one PostgreSQL stays open (docs/SCALING.md): the per-user metering tables can
//! be distributed by `user_id` (Citus), which needs every unique key of theirs to include
//! `user_id`, and every statement of the track path to name the users it touches.

use doztra_tests::{Backend, TestApp, db_tests};
use sea_orm::{ConnectionTrait, Statement};

/// The tables a distributed deployment shards by `user_id`.
const PER_USER_TABLES: [&str; 5] = [
    "token_usage",
    "token_usage_summary",
    "usage_statistics",
    "token_reservations",
    "usage_alerts",
];

async fn every_unique_key_of_a_per_user_table_includes_user_id(app: TestApp) {
    if app.backend == Backend::Sqlite {
        return; // A single SQLite file is never distributed; its keys stay as they are.
    }
    let sql = "SELECT t.relname AS table_name, i.relname AS index_name, \
               array_to_string(array_agg(a.attname ORDER BY a.attname), ',') AS columns \
               FROM pg_index x \
               JOIN pg_class i ON i.oid = x.indexrelid \
               JOIN pg_class t ON t.oid = x.indrelid \
               JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public' \
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey) \
               WHERE x.indisunique \
               GROUP BY t.relname, i.relname ORDER BY 1, 2";
    let rows = app
        .db()
        .query_all_raw(Statement::from_string(app.db().get_database_backend(), sql))
        .await
        .unwrap();
    let mut checked = Vec::new();
    for row in rows {
        let table: String = row.try_get("", "table_name").unwrap();
        if !PER_USER_TABLES.contains(&table.as_str()) {
            continue;
        }
        let index: String = row.try_get("", "index_name").unwrap();
        let columns: String = row.try_get("", "columns").unwrap();
        assert!(
            columns.split(',').any(|c| c == "user_id"),
            "unique key {index} of {table} ({columns}) must include user_id"
        );
        checked.push(table);
    }
    for table in PER_USER_TABLES {
        assert!(
            checked.iter().any(|t| t == table),
            "{table} has a unique key (at least its primary key)"
        );
    }
}

db_tests!(every_unique_key_of_a_per_user_table_includes_user_id);
