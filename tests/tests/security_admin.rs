//! Abuse of what accounts and admins may write (issue 12): mailbox syntax smuggled into an email
//! address, admins removing each other until none is left, and one track carrying a hundred
//! times the plan. Each test reproduces an attack.

use doztra_tests::reqwest::Response;
use doztra_tests::{PASSWORD, Session, TestApp, db_tests, db_tests_with, expect_error};
use serde_json::{Value, json};

// ---- 13: mailbox syntax in email addresses ----

/// Addresses that a mail library reads as something other than one bare address: a display
/// name with the real recipient in angle brackets, a group, a comment, a quoted local part, a
/// list. Each has exactly one `@`, no whitespace and a dotted domain, so only the mailbox
/// syntax gives them away.
const MAILBOX_SYNTAX: [&str; 10] = [
    "x<probe@evil.io>",
    "<probe@evil.io>",
    "\"x\"<probe@evil.io>",
    "victim:probe@evil.io;",
    "probe@evil.io>",
    "(comment)probe@evil.io",
    "probe@evil.io(comment)",
    "\"probe\"@evil.io",
    "probe,x@evil.io",
    "x;probe@evil.io",
];

/// Asserts a 422 `validation_error` that names the `email` field.
async fn expect_invalid_email(res: Response, raw: &str) {
    let body = expect_error(res, 422, "validation_error").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{raw}: no errors list in {body}"))
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email"], "{raw}: {body}");
}

/// Nothing was queued for the address hidden in the mailbox syntax.
async fn nothing_queued_for_the_probe(app: &TestApp) {
    assert_eq!(
        app.count("SELECT COUNT(*) FROM email_outbox WHERE recipient LIKE '%evil.io%'")
            .await,
        0
    );
}

/// `x<probe@evil.io>` used to register as an account of its own whose mail (the verification
/// link) went to `probe@evil.io`. Registration refuses every mailbox form.
async fn registration_refuses_mailbox_syntax_in_the_email(app: TestApp) {
    for raw in MAILBOX_SYNTAX {
        let res = app
            .post(
                "/api/auth/register",
                None,
                json!({"name": "Probe", "email": raw, "password": PASSWORD}),
            )
            .await;
        expect_invalid_email(res, raw).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    nothing_queued_for_the_probe(&app).await;
    // A bare address with the characters a real one may hold still registers.
    app.register("first.last+tag_x-y@mail.example.co.uk").await;
}

/// An admin cannot create such an account either.
async fn admin_creation_refuses_mailbox_syntax_in_the_email(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    for raw in MAILBOX_SYNTAX {
        let res = app
            .post(
                "/api/admin/users",
                Some(&admin.access),
                json!({"name": "Probe", "email": raw, "password": PASSWORD}),
            )
            .await;
        expect_invalid_email(res, raw).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

/// Nor can an account change its email to one: the stored address stays the same.
async fn a_profile_change_refuses_mailbox_syntax_in_the_email(app: TestApp) {
    let user = app.user("owner@example.com").await;
    for raw in MAILBOX_SYNTAX {
        // `current_password` is what an email change asks for; the format is refused anyway.
        let res = app
            .put(
                "/api/users/me",
                Some(&user.access),
                json!({"email": raw, "current_password": PASSWORD}),
            )
            .await;
        expect_invalid_email(res, raw).await;
    }
    let me: Value = app
        .get("/api/users/me", Some(&user.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "owner@example.com");
    nothing_queued_for_the_probe(&app).await;
}

// ---- 14: the last admin ----

/// One way an admin takes another account's admin rights away.
#[derive(Debug, Clone, Copy)]
enum Removal {
    Demote,
    Disable,
    Delete,
}

async fn remove(app: &TestApp, actor: &Session, target: &str, how: Removal) -> Response {
    let path = format!("/api/admin/users/{target}");
    let token = Some(actor.access.as_str());
    match how {
        Removal::Demote => app.patch(&path, token, json!({"role": "user"})).await,
        Removal::Disable => app.patch(&path, token, json!({"is_active": false})).await,
        Removal::Delete => app.delete(&path, token).await,
    }
}

async fn active_admins(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM users WHERE role = 'admin' AND is_active = true")
        .await
}

/// Two admins who demote, disable or delete each other at the same moment used to both succeed
/// and leave no admin at all. Round after round, exactly one of the two changes goes through
/// and exactly one active admin remains; the other is refused (409 `last_admin` when both
/// requests were past authentication, else the loser no longer passes it).
async fn two_admins_removing_each_other_at_once_leave_one_admin(app: TestApp) {
    use Removal::{Delete, Demote, Disable};
    let rounds = [
        (Demote, Demote),
        (Disable, Disable),
        (Delete, Delete),
        (Demote, Delete),
        (Disable, Demote),
        (Delete, Disable),
        (Demote, Disable),
        (Delete, Demote),
        (Demote, Demote),
        (Disable, Disable),
    ];
    let mut survivor = app.admin("admin-0@example.com").await;
    let mut last_admin_refusals = 0;
    for (round, (survivor_does, other_does)) in rounds.into_iter().enumerate() {
        let other = app.admin(&format!("admin-{}@example.com", round + 1)).await;
        assert_eq!(active_admins(&app).await, 2);
        let (by_survivor, by_other) = tokio::join!(
            remove(&app, &survivor, &other.user_id, survivor_does),
            remove(&app, &other, &survivor.user_id, other_does),
        );
        let (survivor_won, other_won) = (
            by_survivor.status().is_success(),
            by_other.status().is_success(),
        );
        assert!(
            survivor_won != other_won,
            "round {round} ({survivor_does:?} vs {other_does:?}): exactly one change succeeds, got {} and {}",
            by_survivor.status(),
            by_other.status()
        );
        let loser = if survivor_won { by_other } else { by_survivor };
        let status = loser.status().as_u16();
        let body: Value = loser.json().await.unwrap();
        let code = body["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            matches!(
                (status, code.as_str()),
                (409, "last_admin")
                    | (403, "admin_required" | "account_disabled")
                    | (401, "invalid_token")
            ),
            "round {round}: the refused change answered {status} {body}"
        );
        if code == "last_admin" {
            last_admin_refusals += 1;
        }
        assert_eq!(active_admins(&app).await, 1, "round {round}");
        if other_won {
            survivor = other;
        }
        // The remaining admin still administers.
        let res = app.get("/api/admin/users", Some(&survivor.access)).await;
        assert_eq!(res.status(), 200, "round {round}");
    }
    // Both requests were past authentication at least once, or the race was not exercised.
    assert!(
        last_admin_refusals > 0,
        "no round reached the database check"
    );
}

/// The only active admin cannot take its own rights away in any way: 409 `last_admin`, and
/// nothing changes. With a second active admin the self rule (403) still holds, and one admin
/// may demote the other.
async fn the_last_active_admin_cannot_demote_disable_or_delete_itself(app: TestApp) {
    let admin = app.admin("only@example.com").await;
    // A disabled admin does not count as one.
    let dormant = app.admin("dormant@example.com").await;
    let res = remove(&app, &admin, &dormant.user_id, Removal::Disable).await;
    assert_eq!(res.status(), 200);
    assert_eq!(active_admins(&app).await, 1);

    let me = format!("/api/admin/users/{}", admin.user_id);
    for payload in [
        json!({"role": "user"}),
        json!({"is_active": false}),
        json!({"role": "admin", "is_active": false}),
        json!({"role": "user", "token_limit": 5}),
    ] {
        let res = app.patch(&me, Some(&admin.access), payload.clone()).await;
        let body = expect_error(res, 409, "last_admin").await;
        assert!(body.get("errors").is_none(), "{payload}: {body}");
    }
    let res = app.delete(&me, Some(&admin.access)).await;
    expect_error(res, 409, "last_admin").await;
    assert_eq!(active_admins(&app).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);
    let u: Value = app
        .get(&me, Some(&admin.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u["role"], "admin");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["subscription"]["token_limit"], Value::Null);

    // Changes that keep the admin an active admin still pass.
    let res = app
        .patch(
            &me,
            Some(&admin.access),
            json!({"role": "admin", "token_limit": 5}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // With a second active admin: still no self-demotion, but one may demote the other.
    let second = app.admin("second@example.com").await;
    let res = app
        .patch(&me, Some(&admin.access), json!({"role": "user"}))
        .await;
    expect_error(res, 403, "forbidden_self_change").await;
    let res = remove(&app, &admin, &second.user_id, Removal::Demote).await;
    assert_eq!(res.status(), 200);
    assert_eq!(active_admins(&app).await, 1);
    // The demoted account is an ordinary one now.
    let res = app.get("/api/admin/users", Some(&second.access)).await;
    expect_error(res, 403, "admin_required").await;
    let res = remove(&app, &admin, &second.user_id, Removal::Delete).await;
    assert_eq!(res.status(), 204);
    let res = remove(&app, &admin, &dormant.user_id, Removal::Delete).await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

// ---- 15: one huge track ----

const TRACK: &str = "/api/tokens/me/track";
const CHECK: &str = "/api/tokens/me/check";
const RESERVE: &str = "/api/tokens/me/reservations";
/// The free plan's monthly tokens.
const FREE_TOKENS: u64 = 100_000;
/// `MAX_TOKENS_PER_REQUEST`'s default.
const DEFAULT_MAX: u64 = 2_000_000;

fn chat(prompt: u64, completion: u64) -> Value {
    json!({"request_type": "chat", "model": "gpt-3.5-turbo",
           "prompt_tokens": prompt, "completion_tokens": completion})
}

/// Asserts a 422 `validation_error` naming exactly `field`.
async fn expect_invalid_field(res: Response, field: &str) {
    let body = expect_error(res, 422, "validation_error").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list in {body}"))
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, [field], "{body}");
}

async fn tokens_used(app: &TestApp, who: &Session) -> u64 {
    let usage: Value = app
        .get("/api/usage/me", Some(&who.access))
        .await
        .json()
        .await
        .unwrap();
    usage["tokens"]["used"].as_u64().unwrap()
}

async fn recorded_events(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM token_usage").await
}

/// One track of 10,000,000 tokens used to add them all to a 100,000-token free plan. A track
/// whose total is above `MAX_TOKENS_PER_REQUEST` (2,000,000 by default) is 422 and records
/// nothing, whether the total is given or computed from its parts; one at the maximum is still
/// recorded in full (the call happened).
async fn one_track_cannot_carry_more_than_the_request_maximum(app: TestApp) {
    let user = app.user("huge@example.com").await;
    for body in [
        chat(5_000_000, 5_000_000),
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "total_tokens": 10_000_000}),
        chat(DEFAULT_MAX - 1, 2),
        json!({"request_type": "chat", "model": "gpt-3.5-turbo",
               "total_tokens": DEFAULT_MAX + 1, "request_id": "huge-1"}),
    ] {
        let res = app.post(TRACK, Some(&user.access), body.clone()).await;
        expect_invalid_field(res, "total_tokens").await;
    }
    assert_eq!(recorded_events(&app).await, 0);
    assert_eq!(tokens_used(&app, &user).await, 0);

    let res = app
        .post(
            TRACK,
            Some(&user.access),
            chat(DEFAULT_MAX / 2, DEFAULT_MAX / 2),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(tokens_used(&app, &user).await, DEFAULT_MAX);
    // The plan is spent: the next track is refused by the quota as before.
    let res = app.post(TRACK, Some(&user.access), chat(1, 1)).await;
    expect_error(res, 402, "token_limit_exceeded").await;
    assert_eq!(recorded_events(&app).await, 1);
}

/// The check and a reservation refuse an estimate above the maximum (422, even on an unlimited
/// plan); an estimate that does not fit what remains of the plan is refused in advance (402),
/// one that fits exactly is allowed. Following that recipe, no track overshoots the plan.
async fn the_check_refuses_in_advance_what_a_track_could_not_fit(app: TestApp) {
    let admin = app.admin("boss@example.com").await;
    let user = app.user("careful@example.com").await;
    let estimate = |tokens: u64| json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": tokens});
    for path in [CHECK, RESERVE] {
        let res = app
            .post(path, Some(&user.access), estimate(DEFAULT_MAX + 1))
            .await;
        expect_invalid_field(res, "estimated_tokens").await;
    }
    // Over what remains: refused before the call, by the quota.
    let res = app
        .post(CHECK, Some(&user.access), estimate(FREE_TOKENS + 1))
        .await;
    let body = expect_error(res, 402, "token_limit_exceeded").await;
    assert_eq!(body["limit"], FREE_TOKENS);
    assert_eq!(body["used"], 0);
    let res = app
        .post(CHECK, Some(&user.access), estimate(FREE_TOKENS))
        .await;
    assert_eq!(res.status(), 200);
    // Spend part of the plan; the check follows what remains.
    let res = app
        .post(TRACK, Some(&user.access), chat(30_000, 30_000))
        .await;
    assert_eq!(res.status(), 200);
    let res = app.post(CHECK, Some(&user.access), estimate(40_001)).await;
    expect_error(res, 402, "token_limit_exceeded").await;
    let res = app.post(CHECK, Some(&user.access), estimate(40_000)).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["allowed"], true, "{body}");
    assert_eq!(body["tokens_remaining"], 40_000);
    let res = app
        .post(TRACK, Some(&user.access), chat(20_000, 20_000))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(tokens_used(&app, &user).await, FREE_TOKENS);

    // An unlimited plan has no quota to exhaust, but one request is still bounded.
    let res = app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            json!({"plan": "professional"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(CHECK, Some(&user.access), estimate(DEFAULT_MAX))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(CHECK, Some(&user.access), estimate(DEFAULT_MAX + 1))
        .await;
    expect_invalid_field(res, "estimated_tokens").await;
    let res = app
        .post(TRACK, Some(&user.access), chat(DEFAULT_MAX, 1))
        .await;
    expect_invalid_field(res, "total_tokens").await;
    assert_eq!(recorded_events(&app).await, 2);
}

/// With `MAX_TOKENS_PER_REQUEST=1000`, every path honours that maximum: a track, a check, a
/// reservation, and a track settling a reservation (refused, and the reservation stays).
async fn a_configured_maximum_bounds_tracks_checks_and_reservations(app: TestApp) {
    let user = app.user("bounded@example.com").await;
    let res = app.post(TRACK, Some(&user.access), chat(500, 501)).await;
    expect_invalid_field(res, "total_tokens").await;
    let res = app.post(TRACK, Some(&user.access), chat(500, 500)).await;
    assert_eq!(res.status(), 200);
    let estimate = |tokens: u64| json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": tokens});
    let res = app.post(CHECK, Some(&user.access), estimate(1001)).await;
    expect_invalid_field(res, "estimated_tokens").await;
    let res = app.post(CHECK, Some(&user.access), estimate(1000)).await;
    assert_eq!(res.status(), 200);
    let res = app.post(RESERVE, Some(&user.access), estimate(1001)).await;
    expect_invalid_field(res, "estimated_tokens").await;
    let res = app.post(RESERVE, Some(&user.access), estimate(1000)).await;
    assert_eq!(res.status(), 201);
    let reservation: Value = res.json().await.unwrap();
    let id = reservation["reservation_id"].as_str().unwrap();

    let mut settle = chat(1000, 1);
    settle["reservation_id"] = json!(id);
    let res = app.post(TRACK, Some(&user.access), settle).await;
    expect_invalid_field(res, "total_tokens").await;
    let held: Value = app
        .get(RESERVE, Some(&user.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(held["total_reserved_tokens"], 1000, "{held}");
    let mut settle = chat(400, 600);
    settle["reservation_id"] = json!(id);
    let res = app.post(TRACK, Some(&user.access), settle).await;
    assert_eq!(res.status(), 200);
    assert_eq!(tokens_used(&app, &user).await, 2000);
    assert_eq!(recorded_events(&app).await, 2);
}

db_tests_with!(
    small_request_maximum,
    &[("MAX_TOKENS_PER_REQUEST", "1000")],
    a_configured_maximum_bounds_tracks_checks_and_reservations,
);

db_tests!(
    registration_refuses_mailbox_syntax_in_the_email,
    admin_creation_refuses_mailbox_syntax_in_the_email,
    a_profile_change_refuses_mailbox_syntax_in_the_email,
    two_admins_removing_each_other_at_once_leave_one_admin,
    the_last_active_admin_cannot_demote_disable_or_delete_itself,
    one_track_cannot_carry_more_than_the_request_maximum,
    the_check_refuses_in_advance_what_a_track_could_not_fit,
);
