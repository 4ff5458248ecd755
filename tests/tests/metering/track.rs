//! Tracking: what a track records and answers, invalid input, model tiers, and exactly-once by
//! request id.

use super::support::*;

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

async fn a_retry_after_a_downgrade_is_still_answered_with_its_record(app: TestApp) {
    let admin = app.admin("boss@example.com").await;
    let me = app.user("downgraded@example.com").await;
    set_subscription(&app, &admin, &me, json!({"plan": "basic"})).await;
    let body = with_request_id(event("chat", "gpt-4", 10, 10), "long-generation");
    let first = track_ok(&app, &me, body.clone()).await;
    set_subscription(&app, &admin, &me, json!({"plan": "free"})).await;

    // The backend retries a call that already happened: its answer is the record, not a 403.
    let retry = track_ok(&app, &me, body).await;
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["id"], first["id"]);
    // The same id with another payload is still a conflict; a new request is refused.
    expect_error(
        track(
            &app,
            &me,
            with_request_id(event("chat", "gpt-4", 10, 99), "long-generation"),
        )
        .await,
        409,
        "request_id_conflict",
    )
    .await;
    expect_error(
        track(
            &app,
            &me,
            with_request_id(event("chat", "gpt-4", 10, 10), "new"),
        )
        .await,
        403,
        "model_not_allowed",
    )
    .await;
    assert_eq!(events(&app).await, 1);
    assert_counters_match_events(&app).await;
}

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

db_tests!(
    tracking_records_the_event_and_reports_the_quota,
    total_tokens_is_derived_when_omitted,
    invalid_usage_is_refused_and_writes_nothing,
    an_unknown_model_is_refused_with_the_known_models,
    a_free_plan_may_not_use_gpt_4_until_an_admin_moves_it_to_basic,
    a_retry_after_a_downgrade_is_still_answered_with_its_record,
    a_repeated_request_id_is_recorded_once,
    a_request_id_reused_with_a_different_payload_is_a_conflict,
    two_users_may_use_the_same_request_id,
);
