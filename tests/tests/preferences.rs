//! Preferences and the plan and model catalogs.

use doztra_tests::{Backend, PASSWORD, TestApp, db_tests, expect_error, spawn_app_with};
use serde_json::{Value, json};

async fn preferences_have_defaults_and_take_partial_updates(app: TestApp) {
    let me = app.user("prefs@example.com").await;
    let res = app.get("/api/preferences/me", Some(&me.access)).await;
    assert_eq!(res.status(), 200);
    let prefs: Value = res.json().await.unwrap();
    assert_eq!(prefs["user_id"], me.user_id.as_str());
    assert_eq!(prefs["theme"], "light");
    assert_eq!(prefs["notifications"], true);
    assert_eq!(prefs["default_model"], "gpt-3.5-turbo");
    for key in ["id", "created_at", "updated_at"] {
        assert!(prefs[key].is_string(), "{key}");
    }
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"theme": "dark"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["theme"], "dark");
    assert_eq!(updated["notifications"], true, "untouched fields stay");
    assert_eq!(updated["id"], prefs["id"]);
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"notifications": false, "theme": "system"}),
        )
        .await;
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["notifications"], false);
    assert_eq!(updated["theme"], "system");
    let again: Value = app
        .get("/api/preferences/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["theme"], "system");
}

async fn preference_refusals_change_nothing(app: TestApp) {
    let me = app.user("refuse@example.com").await;
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"theme": "purple"}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    assert_eq!(body["errors"][0]["field"], "theme");
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"default_model": "llama-9"}),
        )
        .await;
    let body = expect_error(res, 422, "unknown_model").await;
    assert!(
        body["detail"].as_str().unwrap().contains("gpt-3.5-turbo"),
        "lists known models: {body}"
    );
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"default_model": "gpt-4", "theme": "dark"}),
        )
        .await;
    expect_error(res, 403, "model_not_allowed").await;
    let prefs: Value = app
        .get("/api/preferences/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prefs["theme"], "light", "a refused update writes nothing");
    assert_eq!(prefs["default_model"], "gpt-3.5-turbo");
    expect_error(
        app.get("/api/preferences/me", None).await,
        401,
        "not_authenticated",
    )
    .await;
}

async fn one_answer_names_every_bad_field_of_a_preferences_update(app: TestApp) {
    let me = app.user("both@example.com").await;
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"theme": "purple", "default_model": "", "notifications": false}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    let fields = doztra_tests::error_fields(&body);
    assert_eq!(fields, ["theme", "model"]);
    let prefs: Value = app
        .get("/api/preferences/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        prefs["notifications"], true,
        "a refused update writes nothing"
    );
}

async fn a_downgrade_moves_the_default_model_within_the_new_plan(app: TestApp) {
    let admin = app.admin("boss@example.com").await;
    let me = app.user("down@example.com").await;
    let path = format!("/api/admin/users/{}", me.user_id);
    assert_eq!(
        app.patch(&path, Some(&admin.access), json!({"plan": "professional"}))
            .await
            .status(),
        200
    );
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"default_model": "gpt-4-turbo"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.patch(&path, Some(&admin.access), json!({"plan": "basic"}))
            .await
            .status(),
        200
    );
    let prefs: Value = app
        .get("/api/preferences/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(prefs["default_model"], "gpt-4");
    let stored = app
        .count("SELECT COUNT(*) FROM user_preferences WHERE default_model = 'gpt-4'")
        .await;
    assert_eq!(stored, 1, "the stored value is corrected too");
    let me_body: Value = app
        .get("/api/users/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me_body["preferences"]["default_model"], "gpt-4");
}

async fn an_admin_tier_override_widens_the_models(app: TestApp) {
    let admin = app.admin("root@example.com").await;
    let me = app.user("over@example.com").await;
    let path = format!("/api/admin/users/{}", me.user_id);
    let res = app
        .patch(
            &path,
            Some(&admin.access),
            json!({"max_model_tier": "gpt-4"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"default_model": "gpt-4"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let models: Value = app
        .get("/api/models", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(models["max_model_tier"], "gpt-4");
}

async fn plans_list_prices_limits_and_models(app: TestApp) {
    let res = app.get("/api/plans", None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let plans = body["plans"].as_array().unwrap();
    let names: Vec<&str> = plans.iter().map(|p| p["plan"].as_str().unwrap()).collect();
    assert_eq!(names, ["free", "basic", "professional"]);
    assert_eq!(plans[0]["price_cents"], 0);
    assert_eq!(plans[0]["limits"]["tokens"], 100_000);
    assert_eq!(plans[0]["limits"]["chat_messages"], 150);
    assert_eq!(plans[0]["limits"]["plagiarism_checks"], 5);
    assert_eq!(plans[0]["limits"]["prompts_generated"], 5);
    assert_eq!(plans[0]["allowed_models"], json!(["gpt-3.5-turbo"]));
    assert_eq!(plans[1]["price_cents"], 1900);
    assert_eq!(plans[1]["currency"], "usd");
    assert_eq!(plans[1]["limits"]["tokens"], 500_000);
    assert_eq!(plans[1]["max_model_tier"], "gpt-4");
    assert_eq!(
        plans[1]["allowed_models"],
        json!(["gpt-3.5-turbo", "gpt-4"])
    );
    assert_eq!(plans[2]["price_cents"], 4900);
    assert_eq!(plans[2]["limits"]["tokens"], Value::Null);
    assert_eq!(plans[2]["limits"]["chat_messages"], Value::Null);
    assert_eq!(plans[2]["max_model_tier"], "gpt-4-turbo");
}

async fn models_say_what_the_callers_plan_allows(app: TestApp) {
    let me = app.user("models@example.com").await;
    expect_error(app.get("/api/models", None).await, 401, "not_authenticated").await;
    let body: Value = app
        .get("/api/models", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["max_model_tier"], "gpt-3.5-turbo");
    let models = body["models"].as_array().unwrap();
    let view: Vec<(String, String, bool)> = models
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["tier"].as_str().unwrap().to_owned(),
                m["allowed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("gpt-3.5-turbo".to_owned(), "gpt-3.5-turbo".to_owned(), true),
            ("gpt-4".to_owned(), "gpt-4".to_owned(), false),
            ("gpt-4-turbo".to_owned(), "gpt-4-turbo".to_owned(), false),
        ]
    );
}

db_tests!(
    preferences_have_defaults_and_take_partial_updates,
    preference_refusals_change_nothing,
    one_answer_names_every_bad_field_of_a_preferences_update,
    a_downgrade_moves_the_default_model_within_the_new_plan,
    an_admin_tier_override_widens_the_models,
    plans_list_prices_limits_and_models,
    models_say_what_the_callers_plan_allows,
);

/// Configuration extends the catalog and sets prices (SQLite is enough: no SQL involved).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_models_and_prices_are_served() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("MODEL_CATALOG", "gpt-4o=gpt-4, claude-3-opus=gpt-4-turbo"),
            ("PLAN_PRICE_BASIC", "9.99"),
            ("PLAN_CURRENCY", "EUR"),
        ],
    )
    .await
    .unwrap();
    let plans: Value = app.get("/api/plans", None).await.json().await.unwrap();
    assert_eq!(plans["plans"][1]["price_cents"], 999);
    assert_eq!(plans["plans"][1]["currency"], "eur");
    assert_eq!(
        plans["plans"][1]["allowed_models"],
        json!(["gpt-3.5-turbo", "gpt-4", "gpt-4o"])
    );
    let admin = app.admin("cfg-admin@example.com").await;
    app.register("cfg@example.com").await;
    let me = app.login("cfg@example.com", PASSWORD).await;
    let path = format!("/api/admin/users/{}", me.user_id);
    app.patch(&path, Some(&admin.access), json!({"plan": "basic"}))
        .await;
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"default_model": "gpt-4o"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .put(
            "/api/preferences/me",
            Some(&me.access),
            json!({"default_model": "claude-3-opus"}),
        )
        .await;
    expect_error(res, 403, "model_not_allowed").await;
}
