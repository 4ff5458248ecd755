//! What every metering test uses: the routes, event bodies, one-line requests and the
//! invariant that every counter equals the sum of the recorded events.
#![allow(dead_code, unused_imports)]

pub(crate) use std::time::Duration;

pub(crate) use chrono::{Datelike, NaiveDate, Utc};
pub(crate) use doztra_tests::reqwest::Response;
pub(crate) use doztra_tests::{PASSWORD, Session, TestApp, db_tests, db_tests_with, expect_error};
pub(crate) use serde_json::{Value, json};

pub(crate) const TRACK: &str = "/api/tokens/me/track";
pub(crate) const CHECK: &str = "/api/tokens/me/check";
pub(crate) const STATS: &str = "/api/tokens/me";
pub(crate) const HISTORY: &str = "/api/tokens/me/history";
pub(crate) const USAGE: &str = "/api/usage/me";
pub(crate) const USAGE_ALIAS: &str = "/api/users/me/usage";
pub(crate) const ADMIN_USAGE: &str = "/api/tokens/admin/usage";

/// The current billing period (UTC calendar month), as the service should print it.
pub(crate) struct Period {
    pub(crate) start: String,
    pub(crate) end: String,
    pub(crate) reset: String,
    pub(crate) today: String,
    pub(crate) yesterday: String,
    pub(crate) tomorrow: String,
}

pub(crate) fn period() -> Period {
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
pub(crate) async fn ok(res: Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A well-formed usage event with explicit parts and total.
pub(crate) fn event(request_type: &str, model: &str, prompt: i64, completion: i64) -> Value {
    json!({
        "request_type": request_type,
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    })
}

/// A chat event of `tokens` on the free plan's model.
pub(crate) fn chat(tokens: i64) -> Value {
    event("chat", "gpt-3.5-turbo", tokens / 4, tokens - tokens / 4)
}

/// An event of `request_type` that only reports its total.
pub(crate) fn total_only(request_type: &str, model: &str, total: i64) -> Value {
    json!({"request_type": request_type, "model": model, "total_tokens": total})
}

pub(crate) fn with_request_id(mut body: Value, request_id: &str) -> Value {
    body["request_id"] = json!(request_id);
    body
}

pub(crate) async fn track(app: &TestApp, who: &Session, body: Value) -> Response {
    app.post(TRACK, Some(&who.access), body).await
}

pub(crate) async fn track_ok(app: &TestApp, who: &Session, body: Value) -> Value {
    ok(track(app, who, body).await).await
}

pub(crate) async fn check(app: &TestApp, who: &Session, body: Value) -> Response {
    app.post(CHECK, Some(&who.access), body).await
}

/// An admin override through `PATCH /api/admin/users/{id}`.
pub(crate) async fn set_subscription(
    app: &TestApp,
    admin: &Session,
    user: &Session,
    payload: Value,
) {
    ok(app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            payload,
        )
        .await)
    .await;
}

pub(crate) async fn usage(app: &TestApp, who: &Session) -> Value {
    ok(app.get(USAGE, Some(&who.access)).await).await
}

pub(crate) async fn tokens_used(app: &TestApp, who: &Session) -> i64 {
    usage(app, who).await["tokens"]["used"].as_i64().unwrap()
}

pub(crate) fn has_error_for(body: &Value, field: &str) -> bool {
    body["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["field"] == field))
}

pub(crate) async fn events(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM token_usage").await
}

pub(crate) async fn sum(app: &TestApp, expr: &str, table: &str, filter: &str) -> i64 {
    app.count(&format!(
        "SELECT CAST(COALESCE(SUM({expr}), 0) AS BIGINT) FROM {table} {filter}"
    ))
    .await
}

/// The invariants: every counter equals the sum of the recorded events.
pub(crate) async fn assert_counters_match_events(app: &TestApp) {
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
pub(crate) async fn assert_nothing_recorded(app: &TestApp) {
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

pub(crate) fn is_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && s.contains('T') && s.contains('.'))
}

pub(crate) fn approx(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - expected).abs() < 1e-9)
}
