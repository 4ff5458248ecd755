//! What every API key test uses.
#![allow(dead_code, unused_imports)]

pub(crate) use doztra_tests::reqwest::{Response, StatusCode};
pub(crate) use doztra_tests::{Session, TestApp, db_tests, expect_error};
pub(crate) use serde_json::{Value, json};

pub(crate) const KEYS: &str = "/api/admin/api-keys";
pub(crate) const ME_TRACK: &str = "/api/tokens/me/track";

/// A key's secret and id.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) id: String,
    pub(crate) secret: String,
}

/// Asserts 200 and returns the JSON body.
pub(crate) async fn ok(res: Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// An admin creates a key with `scopes`.
pub(crate) async fn create_key(app: &TestApp, admin: &Session, scopes: &[&str]) -> Key {
    let res = app
        .post(
            KEYS,
            Some(&admin.access),
            json!({"name": "backend", "scopes": scopes}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    Key {
        id: body["id"].as_str().unwrap().to_owned(),
        secret: body["secret"].as_str().unwrap().to_owned(),
    }
}

/// A key with every scope.
pub(crate) async fn full_key(app: &TestApp, admin: &Session) -> Key {
    create_key(app, admin, &["usage:write", "usage:read", "users:read"]).await
}

pub(crate) fn track_path(user: &Session) -> String {
    format!("/api/tokens/users/{}/track", user.user_id)
}

pub(crate) fn check_path(user: &Session) -> String {
    format!("/api/tokens/users/{}/check", user.user_id)
}

/// A chat event of `tokens` on the free plan's model.
pub(crate) fn chat(tokens: i64, request_id: &str) -> Value {
    json!({"request_type": "chat", "model": "gpt-3.5-turbo", "prompt_tokens": tokens / 4,
           "completion_tokens": tokens - tokens / 4, "total_tokens": tokens,
           "request_id": request_id})
}

pub(crate) async fn events(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM token_usage").await
}

/// Every counter equals the sum of the recorded events.
pub(crate) async fn assert_counters_match_events(app: &TestApp) {
    let sum = |expr: &str, table: &str| {
        format!("SELECT CAST(COALESCE(SUM({expr}), 0) AS BIGINT) FROM {table}")
    };
    let event_tokens = app.count(&sum("total_tokens", "token_usage")).await;
    assert_eq!(
        app.count(&sum("tokens_used", "usage_statistics")).await,
        event_tokens
    );
    assert_eq!(
        app.count(&sum("total_tokens", "token_usage_summary")).await,
        event_tokens
    );
    assert_eq!(
        app.count(&sum("chat_messages", "usage_statistics")).await,
        app.count("SELECT COUNT(*) FROM token_usage WHERE request_type = 'chat'")
            .await
    );
    assert_eq!(
        app.count(&sum("request_count", "token_usage_summary"))
            .await,
        events(app).await
    );
}
