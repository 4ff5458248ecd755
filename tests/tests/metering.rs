//! Token metering: tracking, quotas, exactly-once, the check endpoint, statistics, history, the
//! admin report, and the counters staying equal to the events under concurrency.

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use doztra_tests::reqwest::Response;
use doztra_tests::{PASSWORD, Session, TestApp, db_tests, expect_error};
use serde_json::{Value, json};

const TRACK: &str = "/api/tokens/me/track";
const CHECK: &str = "/api/tokens/me/check";
const STATS: &str = "/api/tokens/me";
const HISTORY: &str = "/api/tokens/me/history";
const USAGE: &str = "/api/usage/me";
const USAGE_ALIAS: &str = "/api/users/me/usage";
const ADMIN_USAGE: &str = "/api/tokens/admin/usage";

/// The current billing period (UTC calendar month), as the service should print it.
struct Period {
    start: String,
    end: String,
    reset: String,
    today: String,
    yesterday: String,
    tomorrow: String,
}

fn period() -> Period {
    let today = Utc::now().date_naive();
    let first = today.with_day(1).unwrap();
    let (year, month) = if first.month() == 12 {
        (first.year() + 1, 1)
    } else {
        (first.year(), first.month() + 1)
    };
    let next = NaiveDate::from_ymd_opt(year, month, 1).unwrap();
    let last = next.pred_opt().unwrap();
    Period {
        start: format!("{first}T00:00:00.000Z"),
        end: format!("{last}T23:59:59.000Z"),
        reset: format!("{next}T00:00:00.000Z"),
        today: today.to_string(),
        yesterday: today.pred_opt().unwrap().to_string(),
        tomorrow: today.succ_opt().unwrap().to_string(),
    }
}

/// Asserts 200 and returns the JSON body (the raw body is shown when it is not).
async fn ok(res: Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A well-formed usage event with explicit parts and total.
fn event(request_type: &str, model: &str, prompt: i64, completion: i64) -> Value {
    json!({
        "request_type": request_type,
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    })
}

/// A chat event of `tokens` on the free plan's model.
fn chat(tokens: i64) -> Value {
    event("chat", "gpt-3.5-turbo", tokens / 4, tokens - tokens / 4)
}

/// An event of `request_type` that only reports its total.
fn total_only(request_type: &str, model: &str, total: i64) -> Value {
    json!({"request_type": request_type, "model": model, "total_tokens": total})
}

fn with_request_id(mut body: Value, request_id: &str) -> Value {
    body["request_id"] = json!(request_id);
    body
}

async fn track(app: &TestApp, who: &Session, body: Value) -> Response {
    app.post(TRACK, Some(&who.access), body).await
}

async fn track_ok(app: &TestApp, who: &Session, body: Value) -> Value {
    ok(track(app, who, body).await).await
}

async fn check(app: &TestApp, who: &Session, body: Value) -> Response {
    app.post(CHECK, Some(&who.access), body).await
}

/// An admin override through `PATCH /api/admin/users/{id}`.
async fn set_subscription(app: &TestApp, admin: &Session, user: &Session, payload: Value) {
    ok(app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            payload,
        )
        .await)
    .await;
}

async fn usage(app: &TestApp, who: &Session) -> Value {
    ok(app.get(USAGE, Some(&who.access)).await).await
}

async fn tokens_used(app: &TestApp, who: &Session) -> i64 {
    usage(app, who).await["tokens"]["used"].as_i64().unwrap()
}

fn has_error_for(body: &Value, field: &str) -> bool {
    body["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["field"] == field))
}

async fn events(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM token_usage").await
}

async fn sum(app: &TestApp, expr: &str, table: &str, filter: &str) -> i64 {
    app.count(&format!(
        "SELECT CAST(COALESCE(SUM({expr}), 0) AS BIGINT) FROM {table} {filter}"
    ))
    .await
}

/// The invariants: every counter equals the sum of the recorded events.
async fn assert_counters_match_events(app: &TestApp) {
    let event_count = events(app).await;
    let event_tokens = sum(app, "total_tokens", "token_usage", "").await;
    assert_eq!(
        sum(app, "tokens_used", "usage_statistics", "").await,
        event_tokens,
        "usage_statistics.tokens_used == SUM(token_usage.total_tokens)"
    );
    for column in ["total_tokens", "prompt_tokens", "completion_tokens"] {
        assert_eq!(
            sum(app, column, "token_usage_summary", "").await,
            sum(app, column, "token_usage", "").await,
            "SUM(token_usage_summary.{column}) == SUM(token_usage.{column})"
        );
    }
    assert_eq!(
        sum(app, "request_count", "token_usage_summary", "").await,
        event_count,
        "SUM(token_usage_summary.request_count) == COUNT(token_usage)"
    );
    for (counter, request_type) in [
        ("chat_messages", "chat"),
        ("plagiarism_checks", "plagiarism"),
        ("prompts_generated", "prompt"),
    ] {
        let filter = format!("WHERE request_type = '{request_type}'");
        let typed_events = app
            .count(&format!("SELECT COUNT(*) FROM token_usage {filter}"))
            .await;
        assert_eq!(
            sum(app, counter, "usage_statistics", "").await,
            typed_events,
            "usage_statistics.{counter} == count of {request_type} events"
        );
        assert_eq!(
            sum(app, "request_count", "token_usage_summary", &filter).await,
            typed_events,
            "summary request_count for {request_type}"
        );
        assert_eq!(
            sum(app, "total_tokens", "token_usage_summary", &filter).await,
            sum(app, "total_tokens", "token_usage", &filter).await,
            "summary tokens for {request_type}"
        );
    }
}

/// Nothing at all has been metered.
async fn assert_nothing_recorded(app: &TestApp) {
    assert_eq!(events(app).await, 0, "no token_usage rows");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM token_usage_summary").await,
        0,
        "no token_usage_summary rows"
    );
    for counter in [
        "tokens_used",
        "chat_messages",
        "plagiarism_checks",
        "prompts_generated",
    ] {
        assert_eq!(
            sum(app, counter, "usage_statistics", "").await,
            0,
            "{counter} stays zero"
        );
    }
}

fn is_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && s.contains('T') && s.contains('.'))
}

fn approx(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}

// ---------------------------------------------------------------------------------------------
// Tracking
// ---------------------------------------------------------------------------------------------

async fn tracking_records_the_event_and_reports_the_quota(app: TestApp) {
    let p = period();
    let me = app.user("track@example.com").await;
    let mut body = event("chat", "gpt-3.5-turbo", 50, 100);
    body["request_id"] = json!("req_abc");
    body["conversation_id"] = json!("conv_1");
    let res = track_ok(&app, &me, body).await;
    assert_eq!(res["success"], true);
    assert_eq!(res["message"], "Token usage tracked successfully");
    assert!(
        res["id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
        "id is a UUID: {res}"
    );
    assert_eq!(res["duplicate"], false);
    assert_eq!(res["tokens_used"], 150);
    assert_eq!(res["tokens_limit"], 100_000);
    assert_eq!(res["tokens_remaining"], 99_850);
    assert_eq!(res["reset_date"], p.reset.as_str());

    // The event is stored as sent.
    assert_eq!(events(&app).await, 1);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM token_usage WHERE request_type = 'chat' \
             AND model = 'gpt-3.5-turbo' AND prompt_tokens = 50 AND completion_tokens = 100 \
             AND total_tokens = 150 AND request_id = 'req_abc' AND conversation_id = 'conv_1'"
        )
        .await,
        1
    );
    assert_counters_match_events(&app).await;

    // The next one adds to the period.
    let res = track_ok(&app, &me, event("chat", "gpt-3.5-turbo", 10, 40)).await;
    assert_eq!(res["duplicate"], false);
    assert_eq!(res["tokens_used"], 200);
    assert_eq!(res["tokens_remaining"], 99_800);
    assert_eq!(events(&app).await, 2);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM token_usage WHERE request_id IS NULL")
            .await,
        1,
        "request_id is optional"
    );
    assert_counters_match_events(&app).await;

    expect_error(
        app.post(TRACK, None, chat(10)).await,
        401,
        "not_authenticated",
    )
    .await;
    assert_eq!(events(&app).await, 2);
}

async fn total_tokens_is_derived_when_omitted(app: TestApp) {
    let me = app.user("derive@example.com").await;
    let res = track_ok(
        &app,
        &me,
        json!({"request_type": "chat", "model": "gpt-3.5-turbo",
               "prompt_tokens": 30, "completion_tokens": 70}),
    )
    .await;
    assert_eq!(res["tokens_used"], 100);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM token_usage WHERE prompt_tokens = 30 \
             AND completion_tokens = 70 AND total_tokens = 100"
        )
        .await,
        1
    );
    // A total alone (no parts) is taken as is.
    let res = track_ok(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 500)).await;
    assert_eq!(res["tokens_used"], 600);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM token_usage WHERE prompt_tokens = 0 \
             AND completion_tokens = 0 AND total_tokens = 500"
        )
        .await,
        1
    );
    assert_counters_match_events(&app).await;
}

async fn invalid_usage_is_refused_and_writes_nothing(app: TestApp) {
    let me = app.user("invalid@example.com").await;
    let cases = [
        (
            json!({"request_type": "chat", "model": "gpt-3.5-turbo", "prompt_tokens": -1,
                   "completion_tokens": 10}),
            "prompt_tokens",
        ),
        (
            json!({"request_type": "chat", "model": "gpt-3.5-turbo", "prompt_tokens": 10,
                   "completion_tokens": -5}),
            "completion_tokens",
        ),
        (
            json!({"request_type": "chat", "model": "gpt-3.5-turbo", "total_tokens": -100}),
            "total_tokens",
        ),
        (
            json!({"request_type": "chat", "model": "gpt-3.5-turbo",
                   "prompt_tokens": 10_000_001, "completion_tokens": 0}),
            "prompt_tokens",
        ),
        (
            json!({"request_type": "chat", "model": "gpt-3.5-turbo",
                   "completion_tokens": 10_000_001}),
            "completion_tokens",
        ),
        (
            json!({"request_type": "chat", "model": "gpt-3.5-turbo",
                   "total_tokens": 10_000_001}),
            "total_tokens",
        ),
        (
            json!({"request_type": "chat", "model": "gpt-3.5-turbo", "prompt_tokens": 10,
                   "completion_tokens": 20, "total_tokens": 31}),
            "total_tokens",
        ),
        (
            json!({"model": "gpt-3.5-turbo", "prompt_tokens": 10, "completion_tokens": 20}),
            "request_type",
        ),
        (
            json!({"request_type": "image", "model": "gpt-3.5-turbo", "prompt_tokens": 10,
                   "completion_tokens": 20}),
            "request_type",
        ),
    ];
    for (payload, field) in cases {
        let body = expect_error(
            track(&app, &me, payload.clone()).await,
            422,
            "validation_error",
        )
        .await;
        // The field by name, or `body` when the JSON extractor refused the type itself.
        assert!(
            has_error_for(&body, field) || has_error_for(&body, "body"),
            "{payload} should report {field}: {body}"
        );
        assert_nothing_recorded(&app).await;
    }
    // The check endpoint validates the same way.
    for payload in [
        json!({"request_type": "image", "model": "gpt-3.5-turbo"}),
        json!({"model": "gpt-3.5-turbo"}),
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": -1}),
    ] {
        expect_error(check(&app, &me, payload).await, 422, "validation_error").await;
    }
    assert_nothing_recorded(&app).await;
    let stats = usage(&app, &me).await;
    assert_eq!(stats["tokens"]["used"], 0);
    assert_eq!(stats["chat_messages"]["used"], 0);
}

async fn an_unknown_model_is_refused_with_the_known_models(app: TestApp) {
    let me = app.user("unknown@example.com").await;
    let body = expect_error(
        track(&app, &me, event("chat", "llama-9", 10, 10)).await,
        422,
        "unknown_model",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("gpt-3.5-turbo"),
        "lists known models: {body}"
    );
    expect_error(
        check(
            &app,
            &me,
            json!({"request_type": "chat", "model": "llama-9"}),
        )
        .await,
        422,
        "unknown_model",
    )
    .await;
    assert_nothing_recorded(&app).await;
}

async fn a_free_plan_may_not_use_gpt_4_until_an_admin_moves_it_to_basic(app: TestApp) {
    let admin = app.admin("boss@example.com").await;
    let me = app.user("tier@example.com").await;
    for model in ["gpt-4", "gpt-4-turbo"] {
        expect_error(
            track(&app, &me, event("chat", model, 10, 10)).await,
            403,
            "model_not_allowed",
        )
        .await;
        expect_error(
            check(&app, &me, json!({"request_type": "chat", "model": model})).await,
            403,
            "model_not_allowed",
        )
        .await;
    }
    assert_nothing_recorded(&app).await;

    set_subscription(&app, &admin, &me, json!({"plan": "basic"})).await;
    let res = track_ok(&app, &me, event("chat", "gpt-4", 10, 10)).await;
    assert_eq!(res["tokens_used"], 20);
    assert_eq!(res["tokens_limit"], 500_000);
    assert_eq!(res["tokens_remaining"], 499_980);
    let res = track_ok(&app, &me, event("chat", "gpt-3.5-turbo", 5, 5)).await;
    assert_eq!(res["tokens_used"], 30, "lower tiers stay allowed");
    expect_error(
        track(&app, &me, event("chat", "gpt-4-turbo", 10, 10)).await,
        403,
        "model_not_allowed",
    )
    .await;
    assert_eq!(events(&app).await, 2);
    assert_counters_match_events(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Quotas
// ---------------------------------------------------------------------------------------------

async fn the_token_limit_refuses_only_once_it_is_reached(app: TestApp) {
    let p = period();
    let me = app.user("limit@example.com").await;
    let res = track_ok(&app, &me, chat(95_000)).await;
    assert_eq!(res["tokens_used"], 95_000);
    assert_eq!(res["tokens_remaining"], 5_000);
    let res = track_ok(&app, &me, chat(5_000)).await;
    assert_eq!(res["tokens_used"], 100_000, "reaching the limit is allowed");
    assert_eq!(res["tokens_limit"], 100_000);
    assert_eq!(res["tokens_remaining"], 0);

    let body = expect_error(track(&app, &me, chat(1)).await, 402, "token_limit_exceeded").await;
    assert_eq!(body["limit"], 100_000);
    assert_eq!(body["used"], 100_000);
    assert_eq!(body["reset_date"], p.reset.as_str());
    // Every request type is refused once the tokens are spent.
    let body = expect_error(
        track(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 1)).await,
        402,
        "token_limit_exceeded",
    )
    .await;
    assert_eq!(body["used"], 100_000);
    let body = expect_error(
        check(
            &app,
            &me,
            json!({"request_type": "chat", "model": "gpt-3.5-turbo"}),
        )
        .await,
        402,
        "token_limit_exceeded",
    )
    .await;
    assert_eq!(body["limit"], 100_000);
    assert_eq!(body["used"], 100_000);
    assert_eq!(body["reset_date"], p.reset.as_str());

    assert_eq!(events(&app).await, 2);
    assert_eq!(tokens_used(&app, &me).await, 100_000);
    assert_counters_match_events(&app).await;
}

async fn a_request_that_crosses_the_limit_is_recorded_in_full(app: TestApp) {
    let me = app.user("cross@example.com").await;
    track_ok(&app, &me, chat(99_999)).await;
    let res = track_ok(&app, &me, chat(1_000)).await;
    assert_eq!(
        res["tokens_used"], 100_999,
        "usage that happened is never dropped"
    );
    assert_eq!(res["tokens_limit"], 100_000);
    assert_eq!(res["tokens_remaining"], 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM token_usage WHERE total_tokens = 1000")
            .await,
        1
    );
    let body = expect_error(track(&app, &me, chat(1)).await, 402, "token_limit_exceeded").await;
    assert_eq!(body["limit"], 100_000);
    assert_eq!(body["used"], 100_999);
    assert_eq!(tokens_used(&app, &me).await, 100_999);
    assert_counters_match_events(&app).await;
}

async fn a_retry_of_a_recorded_request_is_a_duplicate_even_at_the_limit(app: TestApp) {
    let me = app.user("retry@example.com").await;
    track_ok(&app, &me, chat(95_000)).await;
    let last = with_request_id(chat(5_000), "req-last");
    let first = track_ok(&app, &me, last.clone()).await;
    assert_eq!(first["tokens_used"], 100_000);
    let again = track_ok(&app, &me, last).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["tokens_used"], 100_000);
    assert_eq!(events(&app).await, 2);
    assert_counters_match_events(&app).await;
}

async fn the_sixth_plagiarism_check_of_a_free_month_is_refused(app: TestApp) {
    let p = period();
    let me = app.user("plag@example.com").await;
    for n in 1..=5 {
        let res = ok(check(
            &app,
            &me,
            json!({"request_type": "plagiarism", "model": "gpt-3.5-turbo"}),
        )
        .await)
        .await;
        assert_eq!(res["units_remaining"], 6 - n);
        let res = track_ok(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 100)).await;
        assert_eq!(res["tokens_used"], 100 * n);
    }
    let body = expect_error(
        track(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 100)).await,
        402,
        "plagiarism_check_limit_exceeded",
    )
    .await;
    assert_eq!(body["limit"], 5);
    assert_eq!(body["used"], 5);
    assert_eq!(body["reset_date"], p.reset.as_str());
    expect_error(
        check(
            &app,
            &me,
            json!({"request_type": "plagiarism", "model": "gpt-3.5-turbo"}),
        )
        .await,
        402,
        "plagiarism_check_limit_exceeded",
    )
    .await;
    // Other request types have their own counters.
    track_ok(&app, &me, chat(10)).await;
    let stats = usage(&app, &me).await;
    assert_eq!(stats["plagiarism_checks"]["used"], 5);
    assert_eq!(stats["plagiarism_checks"]["limit"], 5);
    assert_eq!(stats["chat_messages"]["used"], 1);
    assert_eq!(events(&app).await, 6);
    assert_counters_match_events(&app).await;
}

async fn prompt_generation_is_an_alias_of_prompt_and_counts_to_its_limit(app: TestApp) {
    let p = period();
    let me = app.user("prompts@example.com").await;
    for n in 0..5 {
        let request_type = if n % 2 == 0 {
            "prompt_generation"
        } else {
            "prompt"
        };
        track_ok(&app, &me, total_only(request_type, "gpt-3.5-turbo", 20)).await;
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM token_usage WHERE request_type = 'prompt'")
            .await,
        5,
        "stored under the canonical name"
    );
    for request_type in ["prompt_generation", "prompt"] {
        let body = expect_error(
            track(&app, &me, total_only(request_type, "gpt-3.5-turbo", 20)).await,
            402,
            "prompt_limit_exceeded",
        )
        .await;
        assert_eq!(body["limit"], 5);
        assert_eq!(body["used"], 5);
        assert_eq!(body["reset_date"], p.reset.as_str());
    }
    expect_error(
        check(
            &app,
            &me,
            json!({"request_type": "prompt_generation", "model": "gpt-3.5-turbo"}),
        )
        .await,
        402,
        "prompt_limit_exceeded",
    )
    .await;
    let stats = usage(&app, &me).await;
    assert_eq!(stats["prompts_generated"]["used"], 5);
    assert_eq!(stats["tokens"]["used"], 100);
    assert_eq!(events(&app).await, 5);
    assert_counters_match_events(&app).await;
}

async fn the_151st_chat_message_of_a_free_month_is_refused(app: TestApp) {
    let me = app.user("chatty@example.com").await;
    for _ in 0..150 {
        track_ok(&app, &me, chat(4)).await;
    }
    let body = expect_error(
        track(&app, &me, chat(4)).await,
        402,
        "chat_message_limit_exceeded",
    )
    .await;
    assert_eq!(body["limit"], 150);
    assert_eq!(body["used"], 150);
    let stats = usage(&app, &me).await;
    assert_eq!(stats["chat_messages"]["used"], 150);
    assert_eq!(stats["tokens"]["used"], 600);
    assert_eq!(events(&app).await, 150);
    assert_counters_match_events(&app).await;
}

async fn an_admin_token_limit_overrides_the_plan_and_null_restores_it(app: TestApp) {
    let admin = app.admin("boss@example.com").await;
    let me = app.user("override@example.com").await;
    set_subscription(&app, &admin, &me, json!({"token_limit": 10})).await;
    let res = track_ok(&app, &me, chat(10)).await;
    assert_eq!(res["tokens_limit"], 10);
    assert_eq!(res["tokens_used"], 10);
    assert_eq!(res["tokens_remaining"], 0);
    let body = expect_error(track(&app, &me, chat(1)).await, 402, "token_limit_exceeded").await;
    assert_eq!(body["limit"], 10);
    assert_eq!(body["used"], 10);
    assert_eq!(usage(&app, &me).await["tokens"]["limit"], 10);

    set_subscription(&app, &admin, &me, json!({"token_limit": null})).await;
    let res = track_ok(&app, &me, chat(1)).await;
    assert_eq!(res["tokens_limit"], 100_000, "the plan's limit is back");
    assert_eq!(res["tokens_used"], 11);
    assert_eq!(res["tokens_remaining"], 99_989);
    assert_eq!(usage(&app, &me).await["tokens"]["limit"], 100_000);
    assert_eq!(events(&app).await, 2);
    assert_counters_match_events(&app).await;
}

async fn a_token_limit_of_zero_refuses_even_the_first_track_of_a_period(app: TestApp) {
    let admin = app.admin("boss@example.com").await;
    let me = app.user("zero@example.com").await;
    set_subscription(&app, &admin, &me, json!({"token_limit": 0})).await;
    let first = with_request_id(chat(10), "req-zero");
    let body = expect_error(
        track(&app, &me, first.clone()).await,
        402,
        "token_limit_exceeded",
    )
    .await;
    assert_eq!(body["limit"], 0);
    assert_eq!(body["used"], 0);
    assert_nothing_recorded(&app).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM usage_statistics").await,
        0,
        "a refusal creates no counters row"
    );

    // The refused request left no event: once the limit allows it, the same request id records.
    set_subscription(&app, &admin, &me, json!({"token_limit": 1})).await;
    let res = track_ok(&app, &me, first.clone()).await;
    assert_eq!(res["duplicate"], false);
    assert_eq!(
        res["tokens_used"], 10,
        "a fresh period is under a limit of 1"
    );
    assert_eq!(res["tokens_limit"], 1);
    assert_eq!(res["tokens_remaining"], 0);
    let again = track_ok(&app, &me, first).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], res["id"]);
    assert_eq!(again["tokens_used"], 10);
    let body = expect_error(track(&app, &me, chat(1)).await, 402, "token_limit_exceeded").await;
    assert_eq!(body["limit"], 1);
    assert_eq!(body["used"], 10);
    assert_eq!(events(&app).await, 1);
    assert_counters_match_events(&app).await;
}

async fn the_first_track_of_a_period_may_cross_the_limit_in_one_request(app: TestApp) {
    let me = app.user("bigfirst@example.com").await;
    let res = track_ok(&app, &me, chat(150_000)).await;
    assert_eq!(
        res["tokens_used"], 150_000,
        "usage that happened is never dropped"
    );
    assert_eq!(res["tokens_limit"], 100_000);
    assert_eq!(res["tokens_remaining"], 0);
    let stats = usage(&app, &me).await;
    assert_eq!(stats["chat_messages"]["used"], 1);
    let body = expect_error(track(&app, &me, chat(1)).await, 402, "token_limit_exceeded").await;
    assert_eq!(body["used"], 150_000);
    assert_eq!(events(&app).await, 1);
    assert_counters_match_events(&app).await;
}

async fn tracking_needs_a_live_token_of_an_active_account(app: TestApp) {
    let admin = app.admin("boss@example.com").await;
    app.register("live@example.com").await;
    let me = app.login("live@example.com", PASSWORD).await;
    expect_error(
        app.post(TRACK, None, json!({})).await,
        401,
        "not_authenticated",
    )
    .await;
    expect_error(
        app.post(TRACK, Some("not-a-token"), chat(1)).await,
        401,
        "invalid_token",
    )
    .await;
    track_ok(&app, &me, chat(5)).await;

    // Logging out everywhere revokes the token (at millisecond precision: same second).
    let res = app
        .post("/api/auth/logout-all", Some(&me.access), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    expect_error(track(&app, &me, chat(1)).await, 401, "invalid_token").await;
    let fresh = app.login("live@example.com", PASSWORD).await;
    track_ok(&app, &fresh, chat(7)).await;

    // A disabled account says so, even with a token that is revoked anyway.
    let u = ok(app
        .patch(
            &format!("/api/admin/users/{}", fresh.user_id),
            Some(&admin.access),
            json!({"is_active": false}),
        )
        .await)
    .await;
    assert_eq!(u["is_active"], false);
    expect_error(track(&app, &fresh, chat(1)).await, 403, "account_disabled").await;
    expect_error(track(&app, &me, chat(1)).await, 403, "account_disabled").await;
    assert_eq!(events(&app).await, 2);
    assert_eq!(sum(&app, "tokens_used", "usage_statistics", "").await, 12);
    assert_counters_match_events(&app).await;
}

async fn professional_usage_is_unlimited(app: TestApp) {
    let admin = app.admin("boss@example.com").await;
    let me = app.user("pro@example.com").await;
    set_subscription(&app, &admin, &me, json!({"plan": "professional"})).await;
    let res = track_ok(&app, &me, event("chat", "gpt-4-turbo", 400_000, 600_000)).await;
    assert_eq!(res["tokens_used"], 1_000_000);
    assert_eq!(res["tokens_limit"], Value::Null);
    assert_eq!(res["tokens_remaining"], Value::Null);
    for _ in 0..6 {
        let res = track_ok(&app, &me, total_only("plagiarism", "gpt-4", 10)).await;
        assert_eq!(res["tokens_limit"], Value::Null);
    }
    let res = ok(check(
        &app,
        &me,
        json!({"request_type": "plagiarism", "model": "gpt-4-turbo",
               "estimated_tokens": 10_000_000}),
    )
    .await)
    .await;
    assert_eq!(res["allowed"], true);
    assert_eq!(res["tokens_remaining"], Value::Null);
    assert_eq!(res["units_remaining"], Value::Null);

    let stats = usage(&app, &me).await;
    for key in [
        "chat_messages",
        "plagiarism_checks",
        "prompts_generated",
        "tokens",
    ] {
        assert_eq!(stats[key]["limit"], Value::Null, "{key}: {stats}");
    }
    assert_eq!(stats["tokens"]["used"], 1_000_060);
    assert_eq!(stats["plagiarism_checks"]["used"], 6);
    let tokens = ok(app.get(STATS, Some(&me.access)).await).await;
    assert_eq!(tokens["current_period"]["tokens_limit"], Value::Null);
    assert_eq!(tokens["current_period"]["percentage_used"], Value::Null);
    assert_eq!(tokens["current_period"]["tokens_used"], 1_000_060);
    assert_counters_match_events(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Exactly once
// ---------------------------------------------------------------------------------------------

async fn a_repeated_request_id_is_recorded_once(app: TestApp) {
    let me = app.user("once@example.com").await;
    let mut payload = with_request_id(chat(300), "req-1");
    payload["conversation_id"] = json!("conv-9");
    let first = track_ok(&app, &me, payload.clone()).await;
    assert_eq!(first["duplicate"], false);
    let again = track_ok(&app, &me, payload).await;
    assert_eq!(again["success"], true);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["tokens_used"], 300);
    assert_eq!(events(&app).await, 1);
    let stats = usage(&app, &me).await;
    assert_eq!(stats["tokens"]["used"], 300);
    assert_eq!(stats["chat_messages"]["used"], 1);
    assert_counters_match_events(&app).await;
}

async fn a_request_id_reused_with_a_different_payload_is_a_conflict(app: TestApp) {
    let me = app.user("conflict@example.com").await;
    let first = track_ok(&app, &me, with_request_id(chat(100), "req-x")).await;
    for payload in [
        with_request_id(chat(200), "req-x"),
        with_request_id(event("chat", "gpt-3.5-turbo", 50, 50), "req-x"),
        with_request_id(event("plagiarism", "gpt-3.5-turbo", 25, 75), "req-x"),
    ] {
        expect_error(track(&app, &me, payload).await, 409, "request_id_conflict").await;
    }
    assert_eq!(events(&app).await, 1);
    assert_eq!(tokens_used(&app, &me).await, 100);
    // The original still answers as a duplicate.
    let again = track_ok(&app, &me, with_request_id(chat(100), "req-x")).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    assert_counters_match_events(&app).await;
}

async fn two_users_may_use_the_same_request_id(app: TestApp) {
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let a = track_ok(&app, &ann, with_request_id(chat(100), "shared")).await;
    let b = track_ok(&app, &bob, with_request_id(chat(100), "shared")).await;
    assert_eq!(a["duplicate"], false);
    assert_eq!(b["duplicate"], false);
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["tokens_used"], 100, "counters are per user");
    assert_eq!(events(&app).await, 2);
    assert_eq!(tokens_used(&app, &ann).await, 100);
    assert_eq!(tokens_used(&app, &bob).await, 100);
    assert_counters_match_events(&app).await;
}

// ---------------------------------------------------------------------------------------------
// The check endpoint
// ---------------------------------------------------------------------------------------------

async fn check_answers_before_spending_and_writes_nothing(app: TestApp) {
    let p = period();
    let me = app.user("check@example.com").await;
    let res = ok(check(
        &app,
        &me,
        json!({"request_type": "chat", "model": "gpt-3.5-turbo"}),
    )
    .await)
    .await;
    assert_eq!(res["allowed"], true);
    assert_eq!(res["tokens_remaining"], 100_000);
    assert_eq!(res["units_remaining"], 150);
    assert_eq!(res["reset_date"], p.reset.as_str());
    for (request_type, units) in [("plagiarism", 5), ("prompt", 5), ("prompt_generation", 5)] {
        let res = ok(check(
            &app,
            &me,
            json!({"request_type": request_type, "model": "gpt-3.5-turbo"}),
        )
        .await)
        .await;
        assert_eq!(res["units_remaining"], units, "{request_type}");
    }
    let res = ok(check(
        &app,
        &me,
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 100_000}),
    )
    .await)
    .await;
    assert_eq!(
        res["allowed"], true,
        "an estimate that fits exactly is allowed"
    );
    assert_nothing_recorded(&app).await;

    track_ok(&app, &me, chat(1_000)).await;
    let res = ok(check(
        &app,
        &me,
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 99_000}),
    )
    .await)
    .await;
    assert_eq!(res["tokens_remaining"], 99_000);
    assert_eq!(res["units_remaining"], 149);
    let body = expect_error(
        check(
            &app,
            &me,
            json!({"request_type": "chat", "model": "gpt-3.5-turbo",
                   "estimated_tokens": 99_001}),
        )
        .await,
        402,
        "token_limit_exceeded",
    )
    .await;
    assert_eq!(body["limit"], 100_000);
    assert_eq!(body["used"], 1_000);
    assert_eq!(body["reset_date"], p.reset.as_str());
    expect_error(
        check(&app, &me, json!({"request_type": "chat", "model": "gpt-4"})).await,
        403,
        "model_not_allowed",
    )
    .await;
    expect_error(
        app.post(
            CHECK,
            None,
            json!({"request_type": "chat", "model": "gpt-3.5-turbo"}),
        )
        .await,
        401,
        "not_authenticated",
    )
    .await;

    // Only the one track wrote anything.
    assert_eq!(events(&app).await, 1);
    let stats = usage(&app, &me).await;
    assert_eq!(stats["tokens"]["used"], 1_000);
    assert_eq!(stats["chat_messages"]["used"], 1);
    assert_eq!(stats["plagiarism_checks"]["used"], 0);
    assert_counters_match_events(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

async fn token_statistics_show_the_period_breakdown_models_and_days(app: TestApp) {
    let p = period();
    let admin = app.admin("boss@example.com").await;
    let me = app.user("stats@example.com").await;

    let mut empty = ok(app.get(STATS, Some(&me.access)).await).await;
    // 0 or 0.0 on the wire; compared as a number, the rest exactly.
    assert!(
        approx(&empty["current_period"]["percentage_used"], 0.0),
        "{empty}"
    );
    empty["current_period"]
        .as_object_mut()
        .unwrap()
        .remove("percentage_used");
    assert_eq!(
        empty,
        json!({
            "current_period": {
                "start_date": p.start,
                "end_date": p.end,
                "tokens_used": 0,
                "tokens_limit": 100_000,
            },
            "breakdown": {
                "chat": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "plagiarism": {"total_tokens": 0},
                "prompt_generation": {"total_tokens": 0},
            },
            "models": {},
            "daily_usage": [],
        })
    );

    track_ok(&app, &me, event("chat", "gpt-3.5-turbo", 200, 800)).await;
    track_ok(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 200)).await;
    track_ok(
        &app,
        &me,
        total_only("prompt_generation", "gpt-3.5-turbo", 34),
    )
    .await;
    let stats = ok(app.get(STATS, Some(&me.access)).await).await;
    let current = &stats["current_period"];
    assert_eq!(current["start_date"], p.start.as_str());
    assert_eq!(current["end_date"], p.end.as_str());
    assert_eq!(current["tokens_used"], 1_234);
    assert_eq!(current["tokens_limit"], 100_000);
    assert!(
        approx(&current["percentage_used"], 1.23),
        "1,234 of 100,000 is 1.23%: {stats}"
    );
    assert_eq!(
        stats["breakdown"],
        json!({
            "chat": {"prompt_tokens": 200, "completion_tokens": 800, "total_tokens": 1_000},
            "plagiarism": {"total_tokens": 200},
            "prompt_generation": {"total_tokens": 34},
        })
    );
    assert_eq!(stats["models"], json!({"gpt-3.5-turbo": 1_234}));
    assert_eq!(
        stats["daily_usage"],
        json!([{"date": p.today, "total_tokens": 1_234}])
    );

    set_subscription(&app, &admin, &me, json!({"plan": "basic"})).await;
    track_ok(&app, &me, event("chat", "gpt-4", 266, 500)).await;
    let stats = ok(app.get(STATS, Some(&me.access)).await).await;
    let current = &stats["current_period"];
    assert_eq!(current["tokens_used"], 2_000);
    assert_eq!(current["tokens_limit"], 500_000);
    assert!(approx(&current["percentage_used"], 0.4), "{stats}");
    assert_eq!(
        stats["breakdown"]["chat"],
        json!({"prompt_tokens": 466, "completion_tokens": 1_300, "total_tokens": 1_766})
    );
    assert_eq!(
        stats["models"],
        json!({"gpt-3.5-turbo": 1_234, "gpt-4": 766})
    );
    assert_eq!(
        stats["daily_usage"],
        json!([{"date": p.today, "total_tokens": 2_000}])
    );

    // Another user's usage is not mine.
    let other = app.user("other@example.com").await;
    let theirs = ok(app.get(STATS, Some(&other.access)).await).await;
    assert_eq!(theirs["current_period"]["tokens_used"], 0);
    assert_eq!(theirs["models"], json!({}));
    expect_error(app.get(STATS, None).await, 401, "not_authenticated").await;
    assert_counters_match_events(&app).await;
}

async fn both_usage_endpoints_report_every_counter_against_the_plan(app: TestApp) {
    let p = period();
    let admin = app.admin("boss@example.com").await;
    let me = app.user("usage@example.com").await;
    let counter =
        |used: i64, limit: i64| json!({"used": used, "limit": limit, "reset_date": p.reset});

    let fresh = usage(&app, &me).await;
    assert_eq!(
        fresh,
        json!({
            "chat_messages": counter(0, 150),
            "plagiarism_checks": counter(0, 5),
            "prompts_generated": counter(0, 5),
            "tokens": counter(0, 100_000),
        })
    );
    assert_eq!(
        ok(app.get(USAGE_ALIAS, Some(&me.access)).await).await,
        fresh
    );

    track_ok(&app, &me, chat(10)).await;
    track_ok(&app, &me, chat(10)).await;
    track_ok(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 5)).await;
    track_ok(
        &app,
        &me,
        total_only("prompt_generation", "gpt-3.5-turbo", 7),
    )
    .await;
    let expected = json!({
        "chat_messages": counter(2, 150),
        "plagiarism_checks": counter(1, 5),
        "prompts_generated": counter(1, 5),
        "tokens": counter(32, 100_000),
    });
    assert_eq!(usage(&app, &me).await, expected);
    assert_eq!(
        ok(app.get(USAGE_ALIAS, Some(&me.access)).await).await,
        expected
    );

    set_subscription(&app, &admin, &me, json!({"plan": "basic"})).await;
    let expected = json!({
        "chat_messages": counter(2, 1_500),
        "plagiarism_checks": counter(1, 50),
        "prompts_generated": counter(1, 50),
        "tokens": counter(32, 500_000),
    });
    assert_eq!(usage(&app, &me).await, expected);
    assert_eq!(
        ok(app.get(USAGE_ALIAS, Some(&me.access)).await).await,
        expected
    );

    expect_error(app.get(USAGE, None).await, 401, "not_authenticated").await;
    expect_error(app.get(USAGE_ALIAS, None).await, 401, "not_authenticated").await;
    assert_counters_match_events(&app).await;
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

async fn history(app: &TestApp, who: &Session, query: &str) -> Value {
    ok(app
        .get(&format!("{HISTORY}?{query}"), Some(&who.access))
        .await)
    .await
}

fn totals(page: &Value) -> Vec<i64> {
    page["history"]
        .as_array()
        .unwrap_or_else(|| panic!("history is an array: {page}"))
        .iter()
        .map(|r| r["total_tokens"].as_i64().unwrap())
        .collect()
}

async fn history_pages_newest_first_and_filters(app: TestApp) {
    let p = period();
    let admin = app.admin("boss@example.com").await;
    let me = app.user("history@example.com").await;
    set_subscription(&app, &admin, &me, json!({"plan": "basic"})).await;

    let mut first = event("chat", "gpt-3.5-turbo", 4, 6);
    first["request_id"] = json!("h-1");
    first["conversation_id"] = json!("conv-1");
    let mut last = event("chat", "gpt-3.5-turbo", 20, 30);
    last["conversation_id"] = json!("conv-1");
    let payloads = [
        first,
        total_only("plagiarism", "gpt-3.5-turbo", 20),
        event("chat", "gpt-4", 10, 20),
        total_only("prompt_generation", "gpt-3.5-turbo", 40),
        last,
    ];
    let mut ids = Vec::new();
    for payload in payloads {
        ids.push(track_ok(&app, &me, payload).await["id"].clone());
        // Distinct timestamps, so "newest first" is well defined.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let page = ok(app.get(HISTORY, Some(&me.access)).await).await;
    assert_eq!(page["total_records"], 5);
    assert_eq!(page["total_pages"], 1);
    assert_eq!(page["current_page"], 1);
    assert_eq!(page["records_per_page"], 20);
    assert_eq!(totals(&page), [50, 40, 30, 20, 10], "newest first");
    let records = page["history"].as_array().unwrap();
    let got_ids: Vec<Value> = records.iter().map(|r| r["id"].clone()).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(got_ids, newest_first, "ids are the tracked ids");
    let oldest = &records[4];
    assert_eq!(oldest["request_type"], "chat");
    assert_eq!(oldest["model"], "gpt-3.5-turbo");
    assert_eq!(oldest["prompt_tokens"], 4);
    assert_eq!(oldest["completion_tokens"], 6);
    assert_eq!(oldest["total_tokens"], 10);
    assert_eq!(oldest["request_id"], "h-1");
    assert_eq!(oldest["conversation_id"], "conv-1");
    assert!(is_timestamp(&oldest["timestamp"]), "{oldest}");
    let plagiarism = &records[3];
    assert_eq!(plagiarism["request_type"], "plagiarism");
    assert_eq!(plagiarism["prompt_tokens"], 0);
    assert_eq!(plagiarism["completion_tokens"], 0);
    assert_eq!(plagiarism["request_id"], Value::Null);
    assert_eq!(plagiarism["conversation_id"], Value::Null);
    assert_eq!(
        records[1]["request_type"], "prompt",
        "the alias is stored canonically"
    );
    assert_eq!(records[2]["model"], "gpt-4");

    // Pages.
    let page = history(&app, &me, "limit=2").await;
    assert_eq!(page["total_records"], 5);
    assert_eq!(page["total_pages"], 3);
    assert_eq!(page["current_page"], 1);
    assert_eq!(page["records_per_page"], 2);
    assert_eq!(totals(&page), [50, 40]);
    let page = history(&app, &me, "page=2&limit=2").await;
    assert_eq!(page["current_page"], 2);
    assert_eq!(totals(&page), [30, 20]);
    let page = history(&app, &me, "page=3&limit=2").await;
    assert_eq!(totals(&page), [10]);
    // Aliases of `limit`.
    let page = history(&app, &me, "page=3&per_page=2").await;
    assert_eq!(page["records_per_page"], 2);
    assert_eq!(page["total_pages"], 3);
    assert_eq!(totals(&page), [10]);
    let page = history(&app, &me, "page_size=2").await;
    assert_eq!(page["records_per_page"], 2);
    assert_eq!(totals(&page), [50, 40]);
    let page = history(&app, &me, "limit=100").await;
    assert_eq!(page["records_per_page"], 100);
    assert_eq!(totals(&page), [50, 40, 30, 20, 10]);

    // Filters.
    let page = history(&app, &me, "request_type=chat").await;
    assert_eq!(page["total_records"], 3);
    assert_eq!(totals(&page), [50, 30, 10]);
    for alias in ["prompt", "prompt_generation"] {
        let page = history(&app, &me, &format!("request_type={alias}")).await;
        assert_eq!(totals(&page), [40], "{alias}");
    }
    let page = history(&app, &me, "model=gpt-4").await;
    assert_eq!(page["total_records"], 1);
    assert_eq!(totals(&page), [30]);
    let page = history(
        &app,
        &me,
        "request_type=chat&model=gpt-3.5-turbo&limit=1&page=2",
    )
    .await;
    assert_eq!(page["total_records"], 2);
    assert_eq!(page["total_pages"], 2);
    assert_eq!(totals(&page), [10]);
    let today = &p.today;
    let page = history(&app, &me, &format!("start_date={today}&end_date={today}")).await;
    assert_eq!(page["total_records"], 5, "dates are inclusive");
    let page = history(&app, &me, &format!("start_date={today}T00:00:00Z")).await;
    assert_eq!(page["total_records"], 5, "date-times are accepted");
    let page = history(&app, &me, &format!("start_date={}", p.tomorrow)).await;
    assert_eq!(page["total_records"], 0);
    assert_eq!(totals(&page), Vec::<i64>::new());
    let page = history(&app, &me, &format!("end_date={}", p.yesterday)).await;
    assert_eq!(page["total_records"], 0);

    // Refusals.
    for query in [
        "limit=0".to_owned(),
        "limit=101".to_owned(),
        "per_page=101".to_owned(),
        "start_date=not-a-date".to_owned(),
        "end_date=2025-02-30".to_owned(),
        format!("start_date={today}&end_date={}", p.yesterday),
    ] {
        let res = app
            .get(&format!("{HISTORY}?{query}"), Some(&me.access))
            .await;
        expect_error(res, 422, "validation_error").await;
    }

    // Mine only.
    let other = app.user("stranger@example.com").await;
    let page = ok(app.get(HISTORY, Some(&other.access)).await).await;
    assert_eq!(page["total_records"], 0);
    assert_eq!(totals(&page), Vec::<i64>::new());
    expect_error(app.get(HISTORY, None).await, 401, "not_authenticated").await;
}

// ---------------------------------------------------------------------------------------------
// Admin report
// ---------------------------------------------------------------------------------------------

/// Alice (basic) and Bob (free) with known usage; returns (admin, alice, bob).
async fn two_users_with_usage(app: &TestApp) -> (Session, Session, Session) {
    let admin = app.admin("boss@example.com").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    set_subscription(app, &admin, &alice, json!({"plan": "basic"})).await;
    track_ok(app, &alice, event("chat", "gpt-4", 40, 60)).await;
    track_ok(app, &alice, event("chat", "gpt-3.5-turbo", 20, 30)).await;
    track_ok(app, &alice, total_only("plagiarism", "gpt-3.5-turbo", 25)).await;
    track_ok(app, &bob, event("prompt", "gpt-3.5-turbo", 4, 6)).await;
    track_ok(app, &bob, event("chat", "gpt-3.5-turbo", 50, 150)).await;
    (admin, alice, bob)
}

async fn admin_usage(app: &TestApp, admin: &Session, query: &str) -> Value {
    ok(app
        .get(&format!("{ADMIN_USAGE}?{query}"), Some(&admin.access))
        .await)
    .await
}

fn assert_totals(report: &Value) {
    assert_eq!(report["total_tokens"], 385, "{report}");
    assert_eq!(report["prompt_tokens"], 114, "{report}");
    assert_eq!(report["completion_tokens"], 246, "{report}");
    assert_eq!(report["request_count"], 5, "{report}");
    assert_eq!(report["active_users"], 2, "{report}");
    assert!(report["start_date"].is_string(), "{report}");
    assert!(report["end_date"].is_string(), "{report}");
}

fn rows<'a>(report: &'a Value, key: &str) -> &'a Vec<Value> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is an array: {report}"))
}

fn row_by<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value}: {rows:?}"))
}

async fn the_admin_report_groups_by_day_user_model_and_request_type(app: TestApp) {
    let p = period();
    let (admin, alice, bob) = two_users_with_usage(&app).await;
    let today = &p.today;

    // Default: the last 30 days, by day.
    let report = ok(app.get(ADMIN_USAGE, Some(&admin.access)).await).await;
    assert_totals(&report);
    let days = rows(&report, "breakdown_by_day");
    let day = row_by(days, "date", today);
    assert_eq!(day["total_tokens"], 385);
    assert_eq!(day["request_count"], 5);
    let day_sum: i64 = days
        .iter()
        .map(|d| d["total_tokens"].as_i64().unwrap())
        .sum();
    assert_eq!(day_sum, 385);

    let range = format!("start_date={today}&end_date={today}");
    let report = admin_usage(&app, &admin, &format!("{range}&group_by=day")).await;
    assert_totals(&report);
    assert_eq!(
        row_by(rows(&report, "breakdown_by_day"), "date", today)["total_tokens"],
        385
    );

    let report = admin_usage(&app, &admin, &format!("{range}&group_by=user")).await;
    assert_totals(&report);
    let users = rows(&report, "breakdown_by_user");
    let tokens: Vec<i64> = users
        .iter()
        .map(|u| u["total_tokens"].as_i64().unwrap())
        .collect();
    assert!(
        tokens.windows(2).all(|w| w[0] >= w[1]),
        "descending: {users:?}"
    );
    let active: Vec<&Value> = users
        .iter()
        .filter(|u| u["total_tokens"].as_i64() != Some(0))
        .collect();
    assert_eq!(active.len(), 2, "{users:?}");
    assert_eq!(
        *active[0],
        json!({"user_id": bob.user_id, "email": "bob@example.com", "name": "Test User",
               "total_tokens": 210, "request_count": 2})
    );
    assert_eq!(
        *active[1],
        json!({"user_id": alice.user_id, "email": "alice@example.com", "name": "Test User",
               "total_tokens": 175, "request_count": 3})
    );

    let report = admin_usage(&app, &admin, &format!("{range}&group_by=model")).await;
    assert_totals(&report);
    let models = rows(&report, "breakdown_by_model");
    assert_eq!(models.len(), 2, "{models:?}");
    assert_eq!(
        *row_by(models, "model", "gpt-4"),
        json!({"model": "gpt-4", "total_tokens": 100, "prompt_tokens": 40,
               "completion_tokens": 60, "request_count": 1})
    );
    assert_eq!(
        *row_by(models, "model", "gpt-3.5-turbo"),
        json!({"model": "gpt-3.5-turbo", "total_tokens": 285, "prompt_tokens": 74,
               "completion_tokens": 186, "request_count": 4})
    );

    let report = admin_usage(&app, &admin, &format!("{range}&group_by=request_type")).await;
    assert_totals(&report);
    let types = rows(&report, "breakdown_by_request_type");
    assert_eq!(types.len(), 3, "{types:?}");
    for (request_type, total, count) in [("chat", 350, 3), ("plagiarism", 25, 1), ("prompt", 10, 1)]
    {
        assert_eq!(
            *row_by(types, "request_type", request_type),
            json!({"request_type": request_type, "total_tokens": total, "request_count": count})
        );
    }

    // A range with nothing in it.
    let report = admin_usage(
        &app,
        &admin,
        "start_date=2000-01-01&end_date=2000-01-31&group_by=model",
    )
    .await;
    assert_eq!(report["total_tokens"], 0);
    assert_eq!(report["request_count"], 0);
    assert_eq!(report["active_users"], 0);
    assert_eq!(rows(&report, "breakdown_by_model").len(), 0);

    let res = app
        .get(&format!("{ADMIN_USAGE}?group_by=week"), Some(&admin.access))
        .await;
    expect_error(res, 422, "validation_error").await;
}

async fn the_admin_report_exports_csv(app: TestApp) {
    let (admin, _, _) = two_users_with_usage(&app).await;
    let today = period().today;
    for (group_by, key, columns) in [
        (
            "user",
            "breakdown_by_user",
            &["user_id", "email", "name", "total_tokens", "request_count"][..],
        ),
        (
            "model",
            "breakdown_by_model",
            &[
                "model",
                "total_tokens",
                "prompt_tokens",
                "completion_tokens",
                "request_count",
            ][..],
        ),
        (
            "request_type",
            "breakdown_by_request_type",
            &["request_type", "total_tokens", "request_count"][..],
        ),
        (
            "day",
            "breakdown_by_day",
            &["date", "total_tokens", "request_count"][..],
        ),
    ] {
        let query = format!("start_date={today}&end_date={today}&group_by={group_by}");
        let json_rows = rows(&admin_usage(&app, &admin, &query).await, key).len();
        let res = app
            .get(
                &format!("{ADMIN_USAGE}?{query}&format=csv"),
                Some(&admin.access),
            )
            .await;
        assert_eq!(res.status(), 200, "{group_by}");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            content_type.starts_with("text/csv"),
            "{group_by}: {content_type}"
        );
        let text = res.text().await.unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let header = lines.first().copied().unwrap_or("");
        for column in columns {
            assert!(
                header.contains(column),
                "{group_by} header {header:?} has {column}"
            );
        }
        assert_eq!(lines.len(), json_rows + 1, "{group_by}: {text}");
        match group_by {
            "user" => {
                assert!(text.contains("alice@example.com") && text.contains("bob@example.com"));
                assert!(text.contains("210") && text.contains("175"));
            }
            "model" => assert!(text.contains("gpt-4") && text.contains("gpt-3.5-turbo")),
            "request_type" => assert!(text.contains("plagiarism") && text.contains("350")),
            _ => assert!(text.contains(&today) && text.contains("385")),
        }
    }
}

async fn only_admins_see_the_usage_report(app: TestApp) {
    let (_, alice, _) = two_users_with_usage(&app).await;
    for query in ["", "?group_by=user", "?group_by=user&format=csv"] {
        let path = format!("{ADMIN_USAGE}{query}");
        expect_error(
            app.get(&path, Some(&alice.access)).await,
            403,
            "admin_required",
        )
        .await;
        expect_error(app.get(&path, None).await, 401, "not_authenticated").await;
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

/// Sends `n` chat tracks of 1,000 tokens at once, with distinct request ids; `instances` take
/// turns. Returns the status and body of each.
async fn burst(instances: &[&TestApp], who: &Session, n: usize) -> Vec<(u16, Value)> {
    let requests = (0..n).map(|i| {
        let target = instances[i % instances.len()];
        target.post(
            TRACK,
            Some(&who.access),
            with_request_id(chat(1_000), &format!("burst-{i}")),
        )
    });
    let mut out = Vec::new();
    for res in futures_util::future::join_all(requests).await {
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}, not JSON ({e}): {text}"));
        out.push((status, body));
    }
    out
}

async fn assert_limit_race_outcome(app: &TestApp, who: &Session, results: &[(u16, Value)]) {
    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    let refused: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 402)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(accepted, 5, "statuses: {statuses:?}");
    assert_eq!(refused.len(), 45, "statuses: {statuses:?}");
    for body in refused {
        assert_eq!(body["code"], "token_limit_exceeded", "{body}");
        assert_eq!(body["limit"], 100_000, "{body}");
    }
    for (_, body) in results.iter().filter(|(s, _)| *s == 200) {
        assert_eq!(body["duplicate"], false);
    }
    let used = tokens_used(app, who).await;
    assert!(
        (100_000..101_000).contains(&used),
        "overshoot below one request's tokens: {used}"
    );
    assert_eq!(used, 100_000, "five of 1,000 fit exactly from 95,000");
    assert_eq!(events(app).await, 6);
    assert_counters_match_events(app).await;
}

async fn concurrent_tracks_at_the_limit_overshoot_by_less_than_one_request(app: TestApp) {
    let me = app.user("race@example.com").await;
    track_ok(&app, &me, chat(95_000)).await;
    let results = burst(&[&app], &me, 50).await;
    assert_limit_race_outcome(&app, &me, &results).await;
}

async fn concurrent_repeats_of_one_request_id_record_one_event(app: TestApp) {
    let me = app.user("repeat@example.com").await;
    let payload = with_request_id(chat(700), "same-request");
    let requests = (0..20).map(|_| track(&app, &me, payload.clone()));
    let mut bodies = Vec::new();
    for res in futures_util::future::join_all(requests).await {
        bodies.push(ok(res).await);
    }
    let fresh = bodies.iter().filter(|b| b["duplicate"] == false).count();
    assert_eq!(fresh, 1, "exactly one first record");
    assert!(
        bodies
            .iter()
            .all(|b| b["duplicate"] == false || b["duplicate"] == true),
        "duplicate is a boolean"
    );
    let id = &bodies[0]["id"];
    assert!(id.is_string());
    assert!(bodies.iter().all(|b| b["id"] == *id), "one id for all");
    assert_eq!(events(&app).await, 1);
    let stats = usage(&app, &me).await;
    assert_eq!(stats["tokens"]["used"], 700);
    assert_eq!(stats["chat_messages"]["used"], 1);
    assert_counters_match_events(&app).await;
}

async fn concurrent_plagiarism_checks_stop_at_exactly_the_unit_limit(app: TestApp) {
    let me = app.user("plagrace@example.com").await;
    let requests = (0..20).map(|i| {
        track(
            &app,
            &me,
            with_request_id(
                total_only("plagiarism", "gpt-3.5-turbo", 10),
                &format!("plag-{i}"),
            ),
        )
    });
    let mut accepted = 0;
    let mut statuses = Vec::new();
    for res in futures_util::future::join_all(requests).await {
        let status = res.status().as_u16();
        statuses.push(status);
        if status == 200 {
            accepted += 1;
        } else {
            expect_error(res, 402, "plagiarism_check_limit_exceeded").await;
        }
    }
    assert_eq!(accepted, 5, "statuses: {statuses:?}");
    let stats = usage(&app, &me).await;
    assert_eq!(stats["plagiarism_checks"]["used"], 5);
    assert_eq!(stats["tokens"]["used"], 50);
    assert_eq!(events(&app).await, 5);
    assert_counters_match_events(&app).await;
}

async fn two_instances_racing_at_the_limit_share_one_quota(app: TestApp) {
    let other = app.second_instance().await;
    let me = app.user("multi@example.com").await;
    track_ok(&other, &me, chat(95_000)).await;
    let results = burst(&[&app, &other], &me, 50).await;
    assert_limit_race_outcome(&app, &me, &results).await;
    assert_eq!(
        tokens_used(&other, &me).await,
        100_000,
        "both instances agree"
    );
}

db_tests!(
    tracking_records_the_event_and_reports_the_quota,
    total_tokens_is_derived_when_omitted,
    invalid_usage_is_refused_and_writes_nothing,
    an_unknown_model_is_refused_with_the_known_models,
    a_free_plan_may_not_use_gpt_4_until_an_admin_moves_it_to_basic,
    the_token_limit_refuses_only_once_it_is_reached,
    a_request_that_crosses_the_limit_is_recorded_in_full,
    a_retry_of_a_recorded_request_is_a_duplicate_even_at_the_limit,
    the_sixth_plagiarism_check_of_a_free_month_is_refused,
    prompt_generation_is_an_alias_of_prompt_and_counts_to_its_limit,
    the_151st_chat_message_of_a_free_month_is_refused,
    an_admin_token_limit_overrides_the_plan_and_null_restores_it,
    a_token_limit_of_zero_refuses_even_the_first_track_of_a_period,
    the_first_track_of_a_period_may_cross_the_limit_in_one_request,
    tracking_needs_a_live_token_of_an_active_account,
    professional_usage_is_unlimited,
    a_repeated_request_id_is_recorded_once,
    a_request_id_reused_with_a_different_payload_is_a_conflict,
    two_users_may_use_the_same_request_id,
    check_answers_before_spending_and_writes_nothing,
    token_statistics_show_the_period_breakdown_models_and_days,
    both_usage_endpoints_report_every_counter_against_the_plan,
    history_pages_newest_first_and_filters,
    the_admin_report_groups_by_day_user_model_and_request_type,
    the_admin_report_exports_csv,
    only_admins_see_the_usage_report,
    concurrent_tracks_at_the_limit_overshoot_by_less_than_one_request,
    concurrent_repeats_of_one_request_id_record_one_event,
    concurrent_plagiarism_checks_stop_at_exactly_the_unit_limit,
    two_instances_racing_at_the_limit_share_one_quota,
);
