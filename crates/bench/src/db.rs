//! PostgreSQL side of the bench: a throw-away database, bulk seeding, and the "direct"
//! baseline — the very statements a track runs, sent by sqlx over a pool of the server's size,
//! with no HTTP, no JSON, no auth and no ORM in between.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::sqlx::postgres::{PgPool, PgPoolOptions};
use sea_orm::sqlx::{self, Connection, PgConnection, Row};
use uuid::Uuid;

/// A uniquely named database, dropped by [`TempDb::drop_now`].
pub struct TempDb {
    admin_url: String,
    pub name: String,
    pub url: String,
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

impl TempDb {
    pub async fn create(admin_url: &str) -> Result<Self, String> {
        let name = format!("doztra_bench_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .map_err(|e| format!("PostgreSQL at {admin_url}: {e}"))?;
        // The name is made of a fixed prefix and a UUID's hex digits: nothing to inject.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("create database: {e}"))?;
        let _ = admin.close().await;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }

    pub async fn drop_now(self) -> Result<(), String> {
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("drop database {}: {e}", self.name))?;
        let _ = admin.close().await;
        Ok(())
    }
}

/// A pool like the server's (same size).
pub async fn pool(url: &str, size: u32) -> Result<PgPool, String> {
    PgPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| format!("pool: {e}"))
}

pub async fn server_version(pool: &PgPool) -> String {
    sqlx::query_scalar::<_, String>("SHOW server_version")
        .fetch_one(pool)
        .await
        .unwrap_or_else(|_| "?".to_owned())
}

/// Whether the pool's connections are encrypted (sqlx's default `sslmode=prefer` uses TLS when
/// the server offers it, loopback included).
pub async fn uses_tls(pool: &PgPool) -> Option<bool> {
    sqlx::query_scalar::<_, bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .ok()
}

/// Gives every account the unlimited plan, so the track bench measures recording, not 402s.
pub async fn make_all_professional(pool: &PgPool) -> Result<(), String> {
    sqlx::query("UPDATE subscriptions SET plan = 'professional', updated_at = now()")
        .execute(pool)
        .await
        .map_err(|e| format!("upgrade plans: {e}"))?;
    Ok(())
}

/// Writes `events` usage events for one user with bulk SQL, spread evenly over the `days`
/// days before now (ids are UUIDv7-shaped and time-ordered like the service's), then builds the
/// matching daily roll-ups and per-period counters from them, so every invariant the service
/// keeps holds: counters = sums of events, roll-ups = groups of events.
pub async fn seed_events(
    pool: &PgPool,
    user_id: Uuid,
    events: u64,
    days: u32,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    let events = i64::try_from(events).map_err(|e| e.to_string())?;
    let span_ms = i64::from(days) * 86_400_000;
    let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
    // One statement per table; the roll-ups are computed from the inserted events.
    sqlx::query(
        "INSERT INTO token_usage (id, user_id, request_type, model, prompt_tokens,
             completion_tokens, total_tokens, request_id, conversation_id, created_at, usage_date)
         SELECT (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0') || '7'
                 || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15))::uuid,
                $1,
                (ARRAY['chat', 'plagiarism', 'prompt'])[1 + g % 3],
                (ARRAY['gpt-3.5-turbo', 'gpt-4', 'gpt-4-turbo'])[1 + (g / 3) % 3],
                40 + g % 20, 80 + g % 40, 120 + g % 20 + g % 40,
                'seed-' || g,
                CASE WHEN g % 2 = 0 THEN 'conv-' || (g / 50) END,
                ts,
                (ts AT TIME ZONE 'UTC')::date
         FROM (SELECT g, now() - interval '1 minute'
                         - ((($2::bigint - g) * $3::bigint / $2::bigint) * interval '1 millisecond') AS ts
               FROM generate_series(1, $2::bigint) AS g) AS s",
    )
    .bind(user_id)
    .bind(events)
    .bind(span_ms)
    .execute(&mut *conn)
    .await
    .map_err(|e| format!("seed events: {e}"))?;
    sqlx::query(
        "INSERT INTO token_usage_summary (id, user_id, usage_date, request_type, model,
             prompt_tokens, completion_tokens, total_tokens, request_count)
         SELECT gen_random_uuid(), user_id, usage_date, request_type, model,
                sum(prompt_tokens), sum(completion_tokens), sum(total_tokens), count(*)
         FROM token_usage WHERE user_id = $1
         GROUP BY user_id, usage_date, request_type, model",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .map_err(|e| format!("seed roll-ups: {e}"))?;
    sqlx::query(
        "INSERT INTO usage_statistics (id, user_id, period_start, tokens_used, chat_messages,
             plagiarism_checks, prompts_generated, updated_at)
         SELECT gen_random_uuid(), user_id, date_trunc('month', usage_date)::date,
                sum(total_tokens),
                count(*) FILTER (WHERE request_type = 'chat'),
                count(*) FILTER (WHERE request_type = 'plagiarism'),
                count(*) FILTER (WHERE request_type = 'prompt'),
                now()
         FROM token_usage WHERE user_id = $1
         GROUP BY user_id, date_trunc('month', usage_date)",
    )
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .map_err(|e| format!("seed counters: {e}"))?;
    sqlx::raw_sql("ANALYZE token_usage; ANALYZE token_usage_summary; ANALYZE usage_statistics")
        .execute(&mut *conn)
        .await
        .map_err(|e| format!("analyze: {e}"))?;
    Ok(t0.elapsed())
}

/// Counts the rows that break an invariant: counters that differ from the sums of the events,
/// and roll-ups that differ from the groups of the events (both directions). 0 = consistent.
pub async fn invariant_violations(pool: &PgPool) -> Result<i64, String> {
    sqlx::query_scalar::<_, i64>(INVARIANTS_SQL)
        .fetch_one(pool)
        .await
        .map_err(|e| format!("invariants: {e}"))
}

/// Kept identical to `scripts/lib.sh`'s check.
const INVARIANTS_SQL: &str = "
WITH ev AS (
  SELECT user_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS period_start,
         sum(total_tokens) AS tokens,
         count(*) FILTER (WHERE request_type = 'chat') AS chat,
         count(*) FILTER (WHERE request_type = 'plagiarism') AS plag,
         count(*) FILTER (WHERE request_type = 'prompt') AS prompt
  FROM token_usage GROUP BY 1, 2),
counters AS (
  SELECT count(*) AS bad FROM ev FULL JOIN usage_statistics s USING (user_id, period_start)
  WHERE coalesce(ev.tokens, 0) <> coalesce(s.tokens_used, 0)
     OR coalesce(ev.chat, 0) <> coalesce(s.chat_messages, 0)
     OR coalesce(ev.plag, 0) <> coalesce(s.plagiarism_checks, 0)
     OR coalesce(ev.prompt, 0) <> coalesce(s.prompts_generated, 0)),
days AS (
  SELECT user_id, usage_date, request_type, model, reporter, sum(prompt_tokens) AS p,
         sum(completion_tokens) AS c, sum(total_tokens) AS t, count(*) AS n
  FROM token_usage GROUP BY 1, 2, 3, 4, 5),
rollups AS (
  SELECT count(*) AS bad FROM days d
  FULL JOIN token_usage_summary s USING (user_id, usage_date, request_type, model, reporter)
  WHERE coalesce(d.p, 0) <> coalesce(s.prompt_tokens, 0)
     OR coalesce(d.c, 0) <> coalesce(s.completion_tokens, 0)
     OR coalesce(d.t, 0) <> coalesce(s.total_tokens, 0)
     OR coalesce(d.n, 0) <> coalesce(s.request_count, 0)),
dates AS (
  SELECT count(*) AS bad FROM token_usage
  WHERE usage_date <> (created_at AT TIME ZONE 'UTC')::date)
SELECT (SELECT bad FROM counters) + (SELECT bad FROM rollups) + (SELECT bad FROM dates)";

/// One usage event as the direct baseline writes it.
#[derive(Debug, Clone)]
pub struct DirectTrack {
    pub user_id: Uuid,
    /// The sign-in whose liveness the service's read checks with the account.
    pub session_id: Uuid,
    pub request_type: &'static str,
    pub model: &'static str,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub request_id: String,
    pub conversation_id: Option<String>,
}

// The statements below are the ones the service sends for one track (SeaORM's SQL for
// persistence::metering as of "Metering inserts decide by rows affected, not RETURNING",
// checked against PostgreSQL's statement log), in the same order, in one read-committed
// transaction. Keep them in step with crates/persistence/src/metering.rs.
// The statements the service sends for one track (PostgreSQL's statement log, as sea-orm
// renders them): the joined read of the bearer's account and subscription, then BEGIN, the
// event insert, the gate (one upsert of the period's counters; professional has no limits, so
// no WHERE), the day's roll-up, COMMIT.
const SELECT_ACCOUNT: &str = r#"SELECT "users"."id" AS "A_id", "users"."email" AS "A_email", "users"."name" AS "A_name", "users"."password_hash" AS "A_password_hash", "users"."role" AS "A_role", "users"."is_active" AS "A_is_active", "users"."is_verified" AS "A_is_verified", "users"."tokens_valid_after" AS "A_tokens_valid_after", "users"."last_login" AS "A_last_login", "users"."created_at" AS "A_created_at", "users"."updated_at" AS "A_updated_at", "subscriptions"."id" AS "B_id", "subscriptions"."user_id" AS "B_user_id", "subscriptions"."plan" AS "B_plan", "subscriptions"."status" AS "B_status", "subscriptions"."start_date" AS "B_start_date", "subscriptions"."expires_at" AS "B_expires_at", "subscriptions"."is_active" AS "B_is_active", "subscriptions"."auto_renew" AS "B_auto_renew", "subscriptions"."stripe_customer_id" AS "B_stripe_customer_id", "subscriptions"."stripe_subscription_id" AS "B_stripe_subscription_id", "subscriptions"."payment_method_id" AS "B_payment_method_id", "subscriptions"."token_limit" AS "B_token_limit", "subscriptions"."max_model_tier" AS "B_max_model_tier", "subscriptions"."stripe_price_id" AS "B_stripe_price_id", "subscriptions"."billing_interval" AS "B_billing_interval", "subscriptions"."stripe_status" AS "B_stripe_status", "subscriptions"."stripe_synced_at" AS "B_stripe_synced_at", "subscriptions"."created_at" AS "B_created_at", "subscriptions"."updated_at" AS "B_updated_at", EXISTS(SELECT "refresh_tokens"."id" FROM "refresh_tokens" WHERE "refresh_tokens"."family_id" = $1 AND "refresh_tokens"."user_id" = "users"."id" AND "refresh_tokens"."revoked_at" IS NULL) AS "A_session_live" FROM "users" LEFT JOIN "subscriptions" ON "users"."id" = "subscriptions"."user_id" WHERE "users"."id" = $2 LIMIT $3"#;
const INSERT_EVENT: &str = r#"INSERT INTO "token_usage" ("id", "user_id", "request_type", "model", "prompt_tokens", "completion_tokens", "total_tokens", "request_id", "conversation_id", "created_at", "usage_date") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT ("user_id", "request_id") DO NOTHING"#;
const GATE_CHAT: &str = r#"INSERT INTO "usage_statistics" ("id", "user_id", "period_start", "tokens_used", "chat_messages", "plagiarism_checks", "prompts_generated", "updated_at") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT ("user_id", "period_start") DO UPDATE SET "tokens_used" = "usage_statistics"."tokens_used" + "excluded"."tokens_used", "chat_messages" = "usage_statistics"."chat_messages" + "excluded"."chat_messages", "updated_at" = "excluded"."updated_at" RETURNING "id", "user_id", "period_start", "tokens_used", "chat_messages", "plagiarism_checks", "prompts_generated", "updated_at""#;
const GATE_PLAGIARISM: &str = r#"INSERT INTO "usage_statistics" ("id", "user_id", "period_start", "tokens_used", "chat_messages", "plagiarism_checks", "prompts_generated", "updated_at") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT ("user_id", "period_start") DO UPDATE SET "tokens_used" = "usage_statistics"."tokens_used" + "excluded"."tokens_used", "plagiarism_checks" = "usage_statistics"."plagiarism_checks" + "excluded"."plagiarism_checks", "updated_at" = "excluded"."updated_at" RETURNING "id", "user_id", "period_start", "tokens_used", "chat_messages", "plagiarism_checks", "prompts_generated", "updated_at""#;
const GATE_PROMPT: &str = r#"INSERT INTO "usage_statistics" ("id", "user_id", "period_start", "tokens_used", "chat_messages", "plagiarism_checks", "prompts_generated", "updated_at") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT ("user_id", "period_start") DO UPDATE SET "tokens_used" = "usage_statistics"."tokens_used" + "excluded"."tokens_used", "prompts_generated" = "usage_statistics"."prompts_generated" + "excluded"."prompts_generated", "updated_at" = "excluded"."updated_at" RETURNING "id", "user_id", "period_start", "tokens_used", "chat_messages", "plagiarism_checks", "prompts_generated", "updated_at""#;
const ADD_TO_SUMMARY: &str = r#"INSERT INTO "token_usage_summary" ("id", "user_id", "usage_date", "request_type", "model", "prompt_tokens", "completion_tokens", "total_tokens", "request_count", "reporter") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'user') ON CONFLICT ("user_id", "usage_date", "request_type", "model", "reporter") DO UPDATE SET "prompt_tokens" = "token_usage_summary"."prompt_tokens" + "excluded"."prompt_tokens", "completion_tokens" = "token_usage_summary"."completion_tokens" + "excluded"."completion_tokens", "total_tokens" = "token_usage_summary"."total_tokens" + "excluded"."total_tokens", "request_count" = "token_usage_summary"."request_count" + "excluded"."request_count""#;

fn month_start(now: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap_or_default()
}

/// The track transaction, run directly. With `with_reads`, first the read the service performs
/// outside the transaction (account and subscription in one query), for the profile.
pub async fn direct_track(
    pool: &PgPool,
    t: &DirectTrack,
    with_reads: bool,
) -> Result<(), sqlx::Error> {
    let now = Utc::now();
    let period_start = month_start(now);
    let total = t.prompt_tokens + t.completion_tokens;
    if with_reads {
        sqlx::query(SELECT_ACCOUNT)
            .bind(t.session_id)
            .bind(t.user_id)
            .bind(1i64)
            .fetch_optional(pool)
            .await?;
    }
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(INSERT_EVENT)
        .bind(Uuid::now_v7())
        .bind(t.user_id)
        .bind(t.request_type)
        .bind(t.model)
        .bind(t.prompt_tokens)
        .bind(t.completion_tokens)
        .bind(total)
        .bind(Some(t.request_id.as_str()))
        .bind(t.conversation_id.as_deref())
        .bind(now)
        .bind(now.date_naive())
        .execute(&mut *tx)
        .await?;
    if inserted.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(());
    }
    let (gate, units) = match t.request_type {
        "plagiarism" => (GATE_PLAGIARISM, (0i64, 1i64, 0i64)),
        "prompt" => (GATE_PROMPT, (0, 0, 1)),
        _ => (GATE_CHAT, (1, 0, 0)),
    };
    let after = sqlx::query(gate)
        .bind(Uuid::now_v7())
        .bind(t.user_id)
        .bind(period_start)
        .bind(total)
        .bind(units.0)
        .bind(units.1)
        .bind(units.2)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = &after {
        let _tokens_used: i64 = row.try_get("tokens_used")?;
    } else {
        tx.rollback().await?;
        return Ok(());
    }
    sqlx::query(ADD_TO_SUMMARY)
        .bind(Uuid::now_v7())
        .bind(t.user_id)
        .bind(now.date_naive())
        .bind(t.request_type)
        .bind(t.model)
        .bind(t.prompt_tokens)
        .bind(t.completion_tokens)
        .bind(total)
        .bind(1i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres", "x"),
            "postgres://u@h/x"
        );
    }
}
