//! Helpers of the usage-alert and outgoing-webhook suites: register an endpoint, give an account
//! a token limit, track, and wait for what the workers do after a commit.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Session, TestApp};

/// Registers an endpoint as `admin`; returns `(id, secret)`.
pub async fn register_endpoint(
    app: &TestApp,
    admin: &Session,
    url: &str,
    event_types: &[&str],
) -> (String, String) {
    let res = app
        .post(
            "/api/admin/webhooks",
            Some(&admin.access),
            json!({"url": url, "event_types": event_types, "description": "test receiver"}),
        )
        .await;
    assert_eq!(res.status(), 201, "register {url}");
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// Sets the account's monthly token limit (an admin override).
pub async fn set_token_limit(app: &TestApp, admin: &Session, user: &Session, limit: Option<u64>) {
    let res = app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            json!({"token_limit": limit}),
        )
        .await;
    assert_eq!(res.status(), 200, "token_limit {limit:?}");
}

/// Tracks `tokens` chat tokens on gpt-3.5-turbo; returns the status and body.
pub async fn track(app: &TestApp, user: &Session, tokens: u64, request_id: &str) -> (u16, Value) {
    track_type(app, user, "chat", tokens, request_id).await
}

/// Tracks a request of `request_type`.
pub async fn track_type(
    app: &TestApp,
    user: &Session,
    request_type: &str,
    tokens: u64,
    request_id: &str,
) -> (u16, Value) {
    let res = app
        .post(
            "/api/tokens/me/track",
            Some(&user.access),
            json!({"request_type": request_type, "model": "gpt-3.5-turbo",
                   "total_tokens": tokens, "request_id": request_id}),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The endpoint's deliveries as the admin sees them (newest first).
pub async fn deliveries(app: &TestApp, admin: &Session, endpoint: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/api/admin/webhooks/{endpoint}/deliveries?limit=100"),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["deliveries"].as_array().unwrap().clone()
}

/// Waits (up to 20 s) until no delivery of the endpoint is pending; returns them.
pub async fn settled_deliveries(app: &TestApp, admin: &Session, endpoint: &str) -> Vec<Value> {
    for _ in 0..400 {
        let all = deliveries(app, admin, endpoint).await;
        if !all.is_empty() && all.iter().all(|d| d["status"] != "pending") {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "deliveries still pending: {:?}",
        deliveries(app, admin, endpoint).await
    );
}

/// The user's alerts of the period.
pub async fn alerts(app: &TestApp, user: &Session) -> Vec<Value> {
    let res = app.get("/api/usage/me/alerts", Some(&user.access)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["alerts"].as_array().unwrap().clone()
}

/// `(unit, threshold)` of each alert.
pub fn thresholds(alerts: &[Value]) -> Vec<(String, u64)> {
    alerts
        .iter()
        .map(|a| {
            (
                a["unit"].as_str().unwrap().to_owned(),
                a["threshold"].as_u64().unwrap(),
            )
        })
        .collect()
}
