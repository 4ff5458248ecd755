//! The path past one PostgreSQL stays open (docs/SCALING.md): the per-user metering tables can
//! be distributed by `user_id` (Citus), which needs every unique key of theirs to include
//! `user_id`, and every statement of the track path to name the users it touches.

use doztra_tests::{Backend, TestApp, db_tests, spawn_app_recording_sql};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;

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

db_tests!(
    every_unique_key_of_a_per_user_table_includes_user_id,
    the_maintenance_sweeps_walk_an_index
);

/// Every statement the request paths send to a per-user table names `user_id` (so a
/// distributed database routes it to one shard): tracks (new, repeated, refused), checks,
/// reservations (granted, settled, released), statistics, usage, history (page, cursor) and
/// alerts, recorded as the server's own database connection sent them.
async fn every_request_path_statement_on_a_per_user_table_names_user_id(backend: Backend) {
    let Some((app, log)) = spawn_app_recording_sql(backend).await else {
        return;
    };
    let user = app.user("sharded@example.com").await;
    let token = Some(user.access.as_str());
    // Whatever start-up and registration sent (migrations, housekeeping) is not a request path.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    log.lock().unwrap().clear();

    let track = |id: &str, tokens: u64| {
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "prompt_tokens": tokens,
               "completion_tokens": tokens, "request_id": id})
    };
    assert_eq!(
        app.post("/api/tokens/me/track", token, track("r-1", 100))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/api/tokens/me/track", token, track("r-1", 100))
            .await
            .status(),
        200
    );
    // Reservations: one settled by a track, one released.
    let reserve = |id: &str| {
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 50,
               "request_id": id})
    };
    let mut reservations = Vec::new();
    for id in ["res-1", "res-2"] {
        let res = app
            .post("/api/tokens/me/reservations", token, reserve(id))
            .await;
        assert_eq!(res.status(), 201);
        let body: serde_json::Value = res.json().await.unwrap();
        reservations.push(body["reservation_id"].as_str().unwrap().to_owned());
    }
    let mut settle = track("r-settle", 20);
    settle["reservation_id"] = json!(reservations[0]);
    assert_eq!(
        app.post("/api/tokens/me/track", token, settle)
            .await
            .status(),
        200
    );
    let release = format!("/api/tokens/me/reservations/{}", reservations[1]);
    assert!(app.delete(&release, token).await.status().is_success());
    // A refusal: far beyond the free plan's tokens.
    assert_eq!(
        app.post("/api/tokens/me/track", token, track("r-2", 60_000))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post("/api/tokens/me/track", token, track("r-3", 10))
            .await
            .status(),
        402
    );
    let check = json!({"request_type": "chat", "model": "gpt-3.5-turbo"});
    app.post("/api/tokens/me/check", token, check).await;
    for path in [
        "/api/tokens/me",
        "/api/usage/me",
        "/api/usage/me/alerts",
        "/api/tokens/me/reservations",
        "/api/tokens/me/history?limit=1",
    ] {
        assert_eq!(app.get(path, token).await.status(), 200, "{path}");
    }
    let page: serde_json::Value = app
        .get("/api/tokens/me/history?limit=1", token)
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let next = format!("/api/tokens/me/history?limit=1&cursor={cursor}");
    assert_eq!(app.get(&next, token).await.status(), 200);

    let statements = log.lock().unwrap().clone();
    let touching: Vec<&String> = statements
        .iter()
        .filter(|sql| {
            PER_USER_TABLES
                .iter()
                .any(|t| sql.contains(&format!("\"{t}\"")))
        })
        .collect();
    assert!(
        touching.len() >= 10,
        "the flows above reached the per-user tables: {statements:#?}"
    );
    for sql in touching {
        assert!(
            sql.contains("user_id"),
            "a request-path statement without user_id: {sql}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_request_path_statements_name_user_id() {
    every_request_path_statement_on_a_per_user_table_names_user_id(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_request_path_statements_name_user_id() {
    every_request_path_statement_on_a_per_user_table_names_user_id(Backend::Postgres).await;
}

/// The maintenance worker's sweeps across users can walk an index on both databases (migration
/// 000046): retention selects the oldest events by id and deletes them by id; closing expired
/// reservations selects active ones by `expires_at`. Without the indexes each batch scanned the
/// whole table on PostgreSQL. Plans are asked with sequential scans priced out, so an index that
/// cannot serve the statement shows as a scan all the same.
async fn the_maintenance_sweeps_walk_an_index(app: TestApp) {
    let bound = "'01900000-0000-7000-8000-000000000000'";
    let (bound, ids) = match app.backend {
        Backend::Postgres => (
            format!("{bound}::uuid"),
            format!("{bound}::uuid, '01900000-0000-7000-8000-000000000001'::uuid"),
        ),
        Backend::Sqlite => (bound.to_owned(), bound.to_owned()),
    };
    let sweeps = [
        (
            format!("SELECT id FROM token_usage WHERE id < {bound} ORDER BY id LIMIT 5000"),
            "ix_token_usage_id",
        ),
        (
            format!("DELETE FROM token_usage WHERE id IN ({ids})"),
            "ix_token_usage_id",
        ),
        (
            "SELECT id FROM token_reservations WHERE state = 'active' \
             AND expires_at <= '2030-01-01T00:00:00Z' ORDER BY expires_at LIMIT 100"
                .to_owned(),
            "ix_token_reservations_state_expiry",
        ),
    ];
    let txn = app.db().begin().await.unwrap();
    let freshen = match app.backend {
        Backend::Postgres => "SET LOCAL enable_seqscan = off",
        // EXPLAIN QUERY PLAN plans against the schema this pool connection last read, and does
        // not check it is current: a connection that read the schema before the server's
        // migration ran still plans without ix_token_reservations_state_expiry (the CI run of
        // stop 21 failed so). A statement that reads the database reloads a stale schema.
        Backend::Sqlite => "SELECT count(*) FROM sqlite_master",
    };
    txn.execute_unprepared(freshen).await.unwrap();
    for (sql, index) in sweeps {
        let (explain, column) = match app.backend {
            Backend::Postgres => (format!("EXPLAIN {sql}"), "QUERY PLAN"),
            Backend::Sqlite => (format!("EXPLAIN QUERY PLAN {sql}"), "detail"),
        };
        let rows = txn
            .query_all_raw(Statement::from_string(txn.get_database_backend(), explain))
            .await
            .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String>("", column).unwrap())
            .collect();
        let plan = plan.join("\n");
        let walks_an_index = match (app.backend, index) {
            // SQLite keeps `id` as the primary key of token_usage.
            (Backend::Sqlite, "ix_token_usage_id") => {
                plan.contains("SEARCH token_usage") && !plan.contains("SCAN token_usage")
            }
            _ => plan.contains(index),
        };
        assert!(walks_an_index, "{sql}\nshould use {index}:\n{plan}");
    }
    txn.rollback().await.unwrap();
}
