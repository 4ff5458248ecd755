//! The subscription object, and a paid plan that lapses.

use doztra_tests::{TestApp, db_tests, expect_error};
use serde_json::{Value, json};

async fn the_subscription_endpoint_returns_the_seed_object(app: TestApp) {
    let me = app.user("sub@example.com").await;
    expect_error(
        app.get("/api/users/me/subscription", None).await,
        401,
        "not_authenticated",
    )
    .await;
    let res = app
        .get("/api/users/me/subscription", Some(&me.access))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "auto_renew",
            "created_at",
            "expires_at",
            "id",
            "is_active",
            "max_model_tier",
            "payment_method_id",
            "plan",
            "start_date",
            "status",
            "stripe_customer_id",
            "stripe_subscription_id",
            "token_limit",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(body["user_id"], me.user_id.as_str());
    assert_eq!(
        (body["plan"].as_str(), body["status"].as_str()),
        (Some("free"), Some("active"))
    );
    assert_eq!(body["max_model_tier"], "gpt-3.5-turbo");
}

async fn a_paid_plan_past_its_end_is_free_everywhere(app: TestApp) {
    let admin = app.admin("ops@example.com").await;
    let me = app.user("lapse@example.com").await;
    let path = format!("/api/admin/users/{}", me.user_id);
    assert_eq!(
        app.patch(&path, Some(&admin.access), json!({"plan": "basic"}))
            .await
            .status(),
        200
    );
    let track = json!({"request_type": "chat", "model": "gpt-4", "prompt_tokens": 10, "completion_tokens": 5});
    assert_eq!(
        app.post("/api/tokens/me/track", Some(&me.access), track.clone())
            .await
            .status(),
        200
    );

    // The paid time ends (as when Stripe stops renewing): nothing else changes in the row.
    let user_id: uuid::Uuid = me.user_id.parse().unwrap();
    let ended = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    let changes = persistence::subscriptions::SubscriptionChanges {
        expires_at: Some(Some(ended)),
        ..Default::default()
    };
    persistence::subscriptions::update(app.db(), user_id, changes, chrono::Utc::now())
        .await
        .unwrap();

    let sub: Value = app
        .get("/api/users/me/subscription", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (sub["plan"].as_str(), sub["status"].as_str()),
        (Some("free"), Some("expired"))
    );
    assert_eq!(sub["is_active"], false);
    assert_eq!(sub["max_model_tier"], "gpt-3.5-turbo");
    expect_error(
        app.post("/api/tokens/me/track", Some(&me.access), track)
            .await,
        403,
        "model_not_allowed",
    )
    .await;
    let usage: Value = app
        .get("/api/usage/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage["tokens"]["limit"], 100_000);
    let models: Value = app
        .get("/api/models", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(models["max_model_tier"], "gpt-3.5-turbo");
    let prefs: Value = app
        .get("/api/preferences/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prefs["default_model"], "gpt-3.5-turbo");
}

async fn one_answer_names_every_bad_field_of_a_subscription_change(app: TestApp) {
    let me = app.user("change@example.com").await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&me.access),
            json!({"plan": "gold", "billing_period": "weekly", "payment_method_id": "pm 1"}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    let fields = doztra_tests::error_fields(&body);
    assert_eq!(fields, ["plan", "billing_period", "payment_method_id"]);
}

db_tests!(
    the_subscription_endpoint_returns_the_seed_object,
    a_paid_plan_past_its_end_is_free_everywhere,
    one_answer_names_every_bad_field_of_a_subscription_change,
);
