//! Abuse of the credential flows (issue 12, findings 1, 4, 5, 6 and 9): password-hash
//! starvation, the budgets of registration, password reset, email and password changes, the
//! size of what a flood leaves in the throttle table, email changes with a stolen access token,
//! and reset links that outlive a credential change. Each test reproduces an attack.

use std::time::Duration;

use doztra_tests::reqwest::{Client, Response};
use doztra_tests::{PASSWORD, TestApp, db_tests_with, expect_error, link_token};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "A-long-new-pass-1";

fn retry_after(res: &Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After missing: {:?}", res.headers()))
}

/// The `doztra_password_hashes_total` counter for `outcome` (computed, skipped, refused), or the
/// `doztra_password_hash_pending` gauge for `"pending"`.
async fn hashes(app: &TestApp, outcome: &str) -> u64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let series = if outcome == "pending" {
        "doztra_password_hash_pending ".to_owned()
    } else {
        format!("doztra_password_hashes_total{{outcome=\"{outcome}\"}} ")
    };
    text.lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as u64)
}

async fn login_status(app: &TestApp, client: &Client, email: &str, password: &str) -> u16 {
    client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

// ---- 1: password-hash starvation ----

/// Junk reset tokens used to hash the new password before the token was looked at. Now the
/// token is checked first: with one hashing thread and room for one waiting hash, 40 concurrent
/// junk redemptions are all plain 400s (none is 503 `service_busy`) and no hash is computed.
async fn junk_reset_tokens_never_reach_the_hasher(app: TestApp) {
    let before = hashes(&app, "computed").await;
    let attempts = (0..40).map(|i| {
        let app = &app;
        async move {
            app.post(
                "/api/auth/reset-password",
                None,
                json!({"token": format!("junk-token-{i}-0123456789abcdef0123456789"), "new_password": NEW_PASSWORD}),
            )
            .await
        }
    });
    for res in futures_util::future::join_all(attempts).await {
        expect_error(res, 400, "invalid_or_expired_token").await;
    }
    assert_eq!(
        hashes(&app, "computed").await,
        before,
        "a junk token hashed"
    );
}

/// A flood of hashing requests fills the bounded queue: the excess is refused at once with 503
/// `service_busy` and `Retry-After`, without hashing, and the service serves sign-ins again as
/// soon as the flood passes.
async fn a_full_hash_queue_answers_service_busy_at_once(app: TestApp) {
    app.user("owner@example.com").await;
    let attempts = (0..60).map(|i| {
        let app = &app;
        async move {
            app.post(
                "/api/auth/login",
                None,
                json!({"email": format!("guess{i}@example.com"), "password": "wrong-password"}),
            )
            .await
        }
    });
    let mut busy = 0;
    for res in futures_util::future::join_all(attempts).await {
        match res.status().as_u16() {
            401 => {}
            503 => {
                assert!(retry_after(&res) >= 1);
                expect_error(res, 503, "service_busy").await;
                busy += 1;
            }
            other => panic!("unexpected {other}: {}", res.text().await.unwrap()),
        }
    }
    assert!(busy > 0, "60 concurrent hashes fit a queue of 1");
    assert!(hashes(&app, "refused").await >= busy);
    assert!(hashes(&app, "computed").await <= 60 - busy + 1);
    app.login("owner@example.com", PASSWORD).await;
}

/// Requests sent and dropped at once used to keep their hashes queued: every one still ran,
/// delaying everyone behind them. A hash whose request has gone is skipped now.
async fn hashes_of_dropped_requests_are_skipped(app: TestApp) {
    let impatient = Client::builder()
        .timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    let attempts = (0..40).map(|i| {
        let app = &app;
        let impatient = &impatient;
        async move {
            impatient
                .post(app.url("/api/auth/login"))
                .json(
                    &json!({"email": format!("gone{i}@example.com"), "password": "wrong-password"}),
                )
                .send()
                .await
        }
    });
    let answered = futures_util::future::join_all(attempts)
        .await
        .iter()
        .filter(|r| r.is_ok())
        .count();
    assert!(answered < 40, "the client should have given up on most");
    for _ in 0..200 {
        if hashes(&app, "pending").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hashes(&app, "pending").await, 0);
    // Only the hashes already running when their clients gave up may have run (one thread);
    // the rest were skipped in the queue or never queued. Before, all 40 ran.
    let computed = hashes(&app, "computed").await;
    let skipped = hashes(&app, "skipped").await;
    assert!(
        computed <= 4,
        "{computed} hashes computed (and {skipped} skipped) for 40 dropped requests"
    );
    // Afterwards the service answers a sign-in as usual.
    app.user("after@example.com").await;
    app.login("after@example.com", PASSWORD).await;
}

/// Registration had no budget: anyone could create accounts (and hashes) without end. The
/// client address's budget is spent per address (behind a trusted proxy, per forwarded client).
async fn registrations_are_budgeted_per_client_address(app: TestApp) {
    let register = |email: String, forwarded: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/auth/register"))
                .header("x-forwarded-for", forwarded)
                .json(&json!({"name": "N", "email": email, "password": PASSWORD}))
                .send()
                .await
                .unwrap()
        }
    };
    for i in 0..3 {
        let res = register(format!("r{i}@example.com"), "203.0.113.7").await;
        assert_eq!(res.status(), 201);
    }
    let res = register("r3@example.com".into(), "203.0.113.7").await;
    let wait = retry_after(&res);
    assert!(wait > 0 && wait <= 900, "{wait}");
    expect_error(res, 429, "too_many_attempts").await;
    assert_eq!(
        login_status(&app, &app.client, "r3@example.com", PASSWORD).await,
        401,
        "a refused registration created the account"
    );
    // Another client is not held up by the first one's budget.
    let res = register("other@example.com".into(), "198.51.100.9").await;
    assert_eq!(res.status(), 201);

    // An IPv6 client is its /64: a fresh address in the same network is no fresh budget.
    for (i, address) in ["2001:db8:7:1::a", "2001:db8:7:1::b", "2001:db8:7:1:ffff::c"]
        .into_iter()
        .enumerate()
    {
        let res = register(format!("v6-{i}@example.com"), address).await;
        assert_eq!(res.status(), 201, "{address}");
    }
    let res = register("v6-3@example.com".into(), "2001:db8:7:1:1234::d").await;
    expect_error(res, 429, "too_many_attempts").await;
    let res = register("v6-other@example.com".into(), "2001:db8:7:2::a").await;
    assert_eq!(res.status(), 201, "the next /64 is another client");
}

/// Reset requests per client address: beyond the budget 429, whatever the address asked for.
async fn reset_requests_are_budgeted_per_client_address(app: TestApp) {
    for i in 0..3 {
        let res = app
            .post(
                "/api/auth/password-reset",
                None,
                json!({"email": format!("who{i}@example.com")}),
            )
            .await;
        assert_eq!(res.status(), 202);
    }
    let res = app
        .post(
            "/api/auth/password-reset",
            None,
            json!({"email": "who3@example.com"}),
        )
        .await;
    assert!(retry_after(&res) >= 1);
    expect_error(res, 429, "too_many_attempts").await;
}

/// Token redemptions per client address: a guesser is stopped, and once the budget is spent
/// even a real token waits (the attempt costs nothing, not even a token check).
async fn reset_redemptions_are_budgeted_per_client_address(app: TestApp) {
    app.user("victim@example.com").await;
    app.post(
        "/api/auth/password-reset",
        None,
        json!({"email": "victim@example.com"}),
    )
    .await;
    let token = link_token(&app.wait_for_emails("victim@example.com", 2).await[1]);
    for i in 0..3 {
        let res = app
            .post(
                "/api/auth/reset-password",
                None,
                json!({"token": format!("guess-{i}"), "new_password": NEW_PASSWORD}),
            )
            .await;
        expect_error(res, 400, "invalid_or_expired_token").await;
    }
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert!(retry_after(&res) >= 1);
    expect_error(res, 429, "too_many_attempts").await;
    app.login("victim@example.com", PASSWORD).await;
}

// ---- 9: password-change guessing ----

/// `POST /api/users/me/password` had no failure budget: a stolen access token could guess the
/// current password without end. After the budget's failures even the right one gets 429.
async fn password_change_failures_lock_even_the_right_password(app: TestApp) {
    let me = app.user("guessed@example.com").await;
    let change = |current: &'static str| {
        let app = &app;
        let access = me.access.clone();
        async move {
            app.post(
                "/api/users/me/password",
                Some(&access),
                json!({"current_password": current, "new_password": NEW_PASSWORD}),
            )
            .await
        }
    };
    for guess in ["guess-one", "guess-two", "guess-three"] {
        expect_error(change(guess).await, 403, "invalid_credentials").await;
    }
    let res = change(PASSWORD).await;
    assert!(retry_after(&res) >= 1);
    expect_error(res, 429, "too_many_attempts").await;
    app.login("guessed@example.com", PASSWORD).await;
}

/// The budget counts failures only: right passwords never use it up (more changes than the
/// budget of 5 all succeed).
async fn right_passwords_do_not_spend_the_change_budget(app: TestApp) {
    app.user("careful@example.com").await;
    let mut current = PASSWORD.to_owned();
    for i in 0..8 {
        let next = format!("{NEW_PASSWORD}-{i}");
        // A change ends the access tokens issued before it: sign in with the current password.
        let me = app.login("careful@example.com", &current).await;
        let res = app
            .post(
                "/api/users/me/password",
                Some(&me.access),
                json!({"current_password": current, "new_password": next}),
            )
            .await;
        assert_eq!(res.status(), 204, "change {i}");
        current = next;
    }
}

// ---- 5: email change without re-authentication ----

/// A stolen access token alone used to move the account to the attacker's address (then a
/// reset took it over). An email change needs the current password, and the old address is told.
async fn an_email_change_needs_the_current_password_and_tells_the_old_address(app: TestApp) {
    let me = app.user("owner@example.com").await;
    let put = |body: Value| {
        let app = &app;
        let access = me.access.clone();
        async move { app.put("/api/users/me", Some(&access), body).await }
    };
    expect_error(
        put(json!({"email": "attacker@evil.example"})).await,
        403,
        "invalid_credentials",
    )
    .await;
    expect_error(
        put(json!({"email": "attacker@evil.example", "current_password": "guess"})).await,
        403,
        "invalid_credentials",
    )
    .await;
    // A name change alone needs no password.
    assert_eq!(put(json!({"name": "Renamed"})).await.status(), 200);
    let me_now: Value = app
        .get("/api/users/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me_now["email"], "owner@example.com");
    assert!(app.emails_to("attacker@evil.example").is_empty());

    let res = put(json!({"email": "moved@example.com", "current_password": PASSWORD})).await;
    assert_eq!(res.status(), 200);
    let told = app.wait_for_emails("owner@example.com", 2).await;
    let notice = &told[1];
    assert!(notice.contains("Subject: Your Doztra email address was changed"));
    assert!(notice.contains("moved@example.com"));
    app.wait_for_emails("moved@example.com", 1).await;
}

/// Email changes per user: beyond the budget 429, even with the right password.
async fn email_changes_are_budgeted_per_user(app: TestApp) {
    let me = app.user("mover@example.com").await;
    for i in 0..2 {
        let res = app
            .put(
                "/api/users/me",
                Some(&me.access),
                json!({"email": format!("mover{i}@example.com"), "current_password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = app
        .put(
            "/api/users/me",
            Some(&me.access),
            json!({"email": "mover9@example.com", "current_password": PASSWORD}),
        )
        .await;
    assert!(retry_after(&res) >= 1);
    expect_error(res, 429, "too_many_attempts").await;
}

// ---- 6: reset links that survive credential changes ----

async fn request_reset_link(app: &TestApp, email: &str, mails_before: usize) -> String {
    let res = app
        .post("/api/auth/password-reset", None, json!({"email": email}))
        .await;
    assert_eq!(res.status(), 202);
    link_token(&app.wait_for_emails(email, mails_before + 1).await[mails_before])
}

/// A reset link requested before a password change used to work afterwards.
async fn a_password_change_retires_reset_links(app: TestApp) {
    let me = app.user("changer@example.com").await;
    app.wait_for_emails("changer@example.com", 1).await;
    let link = request_reset_link(&app, "changer@example.com", 1).await;
    let res = app
        .post(
            "/api/users/me/password",
            Some(&me.access),
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": link, "new_password": "Attacker-pass-99"}),
        )
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
    app.login("changer@example.com", NEW_PASSWORD).await;
}

/// A reset link that went to the old address used to work after an email change: whoever
/// still reads the old mailbox could take the account back.
async fn an_email_change_retires_reset_links_sent_to_the_old_address(app: TestApp) {
    let me = app.user("before@example.com").await;
    app.wait_for_emails("before@example.com", 1).await;
    let link = request_reset_link(&app, "before@example.com", 1).await;
    let res = app
        .put(
            "/api/users/me",
            Some(&me.access),
            json!({"email": "after@example.com", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": link, "new_password": "Attacker-pass-99"}),
        )
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
    app.login("after@example.com", PASSWORD).await;
}

/// A reset retires every other outstanding reset link.
async fn a_reset_retires_the_other_reset_links(app: TestApp) {
    app.user("twice@example.com").await;
    app.wait_for_emails("twice@example.com", 1).await;
    let first = request_reset_link(&app, "twice@example.com", 1).await;
    let second = request_reset_link(&app, "twice@example.com", 2).await;
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": second, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": first, "new_password": "Attacker-pass-99"}),
        )
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
}

// ---- 4: unbounded throttle rows ----

/// Reset requests used to store the raw email (up to 64 KB) twice for an hour, even over
/// budget: a flood grew the database by megabytes. A malformed address is refused before
/// anything is stored, a spent budget stores nothing more, and a stored subject is a
/// fixed-size hash.
async fn a_reset_flood_stores_a_bounded_amount(app: TestApp) {
    let huge = format!("{}@example.com", "a".repeat(64 * 1024));
    let res = app
        .post("/api/auth/password-reset", None, json!({"email": huge}))
        .await;
    expect_error(res, 413, "payload_too_large").await;
    let long = format!("{}@example.com", "a".repeat(250));
    for email in [
        long.as_str(),
        "two@example.com, three@example.com",
        "no-at-sign",
    ] {
        let res = app
            .post("/api/auth/password-reset", None, json!({"email": email}))
            .await;
        expect_error(res, 422, "validation_error").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM login_attempts").await, 0);
    let mut refused = 0;
    for i in 0..40 {
        let res = app
            .post(
                "/api/auth/password-reset",
                None,
                json!({"email": format!("flood{i}@example.com")}),
            )
            .await;
        match res.status().as_u16() {
            202 => {}
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(refused, 37);
    // Three requests counted for the address, three for their emails; nothing for the rest.
    assert_eq!(app.count("SELECT COUNT(*) FROM login_attempts").await, 6);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM login_attempts WHERE LENGTH(subject) <> 64")
            .await,
        0
    );
}

db_tests_with!(
    hashing,
    &[
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_QUEUE", "1"),
        ("RESET_PASSWORD_MAX_PER_IP", "1000"),
        ("LOGIN_MAX_FAILURES_PER_IP", "1000"),
    ],
    junk_reset_tokens_never_reach_the_hasher,
    a_full_hash_queue_answers_service_busy_at_once,
);

db_tests_with!(
    dropped,
    &[
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_QUEUE", "100"),
        ("LOGIN_MAX_FAILURES_PER_IP", "1000"),
    ],
    hashes_of_dropped_requests_are_skipped,
);

db_tests_with!(
    budgets,
    &[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("REGISTER_MAX_PER_IP", "3"),
        ("PASSWORD_RESET_MAX_PER_IP", "3"),
        ("RESET_PASSWORD_MAX_PER_IP", "3"),
        ("PASSWORD_CHANGE_MAX_FAILURES", "3"),
        ("EMAIL_CHANGE_MAX_PER_USER", "2"),
    ],
    registrations_are_budgeted_per_client_address,
    reset_requests_are_budgeted_per_client_address,
    reset_redemptions_are_budgeted_per_client_address,
    password_change_failures_lock_even_the_right_password,
    email_changes_are_budgeted_per_user,
    a_reset_flood_stores_a_bounded_amount,
);

db_tests_with!(
    credentials,
    &[],
    right_passwords_do_not_spend_the_change_budget,
    an_email_change_needs_the_current_password_and_tells_the_old_address,
    a_password_change_retires_reset_links,
    an_email_change_retires_reset_links_sent_to_the_old_address,
    a_reset_retires_the_other_reset_links,
);
