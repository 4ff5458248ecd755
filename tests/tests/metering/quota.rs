//! Quotas: each limit refuses only once it is reached, the last request is recorded in full,
//! admin overrides and unlimited plans.

use super::support::*;

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
               "estimated_tokens": 2_000_000}),
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

db_tests!(
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
);
