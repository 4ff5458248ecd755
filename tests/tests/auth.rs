//! Registration, sign-in, sessions and the security properties the contract names.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use doztra_tests::{JWT_SECRET, PASSWORD, Session, TestApp, db_tests, expect_error};
use serde_json::{Value, json};

fn is_timestamp(v: &Value) -> bool {
    // RFC 3339 UTC with milliseconds and Z: 2025-10-04T15:00:00.000Z
    v.as_str()
        .is_some_and(|s| s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.')
}

async fn registration_returns_tokens_and_the_full_user(app: TestApp) {
    let body = app.register("  John.Doe@Example.COM ").await;
    assert_eq!(body["success"], true);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["email"], "john.doe@example.com");
    assert_eq!(body["role"], "user");
    let user = &body["user"];
    assert_eq!(user["email"], "john.doe@example.com");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["is_verified"], false);
    assert!(is_timestamp(&user["created_at"]), "{}", user["created_at"]);
    let sub = &user["subscription"];
    assert_eq!(sub["plan"], "free");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["is_active"], true);
    assert_eq!(sub["max_model_tier"], "gpt-3.5-turbo");
    assert_eq!(sub["token_limit"], Value::Null);
    assert_eq!(sub["user_id"], user["id"]);
    let prefs = &user["preferences"];
    assert_eq!(prefs["theme"], "light");
    assert_eq!(prefs["notifications"], true);
    assert_eq!(prefs["default_model"], "gpt-3.5-turbo");

    let me = app
        .get("/api/users/me", body["access_token"].as_str())
        .await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    assert!(is_timestamp(&me["last_login"]) || me["last_login"].is_null());
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM subscriptions").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM user_preferences").await, 1);
}

async fn a_taken_email_is_a_conflict_whatever_its_case(app: TestApp) {
    app.register("taken@example.com").await;
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "B", "email": "TAKEN@example.com", "password": PASSWORD}),
        )
        .await;
    expect_error(res, 409, "email_taken").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

async fn invalid_registration_reports_every_bad_field_and_writes_nothing(app: TestApp) {
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "", "email": "not-an-email", "password": "short"}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    let fields = doztra_tests::error_fields(&body);
    assert_eq!(fields, ["name", "email", "password"]);
    let res = app.post("/api/auth/register", None, json!({})).await;
    expect_error(res, 422, "validation_error").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

async fn one_answer_names_every_bad_field_of_a_registration_billing_ones_included(app: TestApp) {
    // Billing is not configured here: the fields are still judged first, all at once.
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "", "email": "not-an-email", "password": "short", "role": "root",
                   "subscription": {"plan": "basic", "billing_period": "weekly",
                                    "payment_method_id": "pm 1"}}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    assert_eq!(
        doztra_tests::error_fields(&body),
        [
            "name",
            "email",
            "password",
            "role",
            "billing_period",
            "subscription.payment_method_id"
        ]
    );
    // A free plan does not read the billing fields.
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "F", "email": "f@example.com", "password": PASSWORD,
                   "subscription": {"plan": "free", "billing_period": "weekly",
                                    "payment_method_id": "pm 1"}}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

async fn weak_and_common_passwords_are_refused(app: TestApp) {
    for password in ["short1!", "12345678", "password", &"x".repeat(129)] {
        let res = app
            .post(
                "/api/auth/register",
                None,
                json!({"name": "W", "email": "w@example.com", "password": password}),
            )
            .await;
        let body = expect_error(res, 422, "weak_password").await;
        assert_eq!(body["errors"][0]["field"], "password");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

async fn registration_never_grants_admin(app: TestApp) {
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "M", "email": "m@example.com", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    expect_error(res, 403, "forbidden_role").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

async fn a_paid_plan_without_billing_is_unavailable_and_leaves_no_account(app: TestApp) {
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "P", "email": "p@example.com", "password": PASSWORD,
                   "subscription": {"plan": "professional", "payment_method_id": "pm_123"}}),
        )
        .await;
    expect_error(res, 503, "billing_unavailable").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    let res = app
        .post("/api/auth/register", None, json!({"name": "P", "email": "p@example.com", "password": PASSWORD, "subscription": {"plan": "gold"}}))
        .await;
    expect_error(res, 422, "validation_error").await;
}

async fn fields_a_client_may_not_set_are_ignored(app: TestApp) {
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "Mass", "email": "mass@example.com", "password": PASSWORD, "is_verified": true,
                   "is_active": false, "id": "00000000-0000-0000-0000-000000000001", "token_limit": 1,
                   "max_model_tier": "gpt-4-turbo", "created_at": "2000-01-01T00:00:00.000Z"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let user = &body["user"];
    assert_eq!(user["is_verified"], false);
    assert_eq!(user["is_active"], true);
    assert_ne!(user["id"], "00000000-0000-0000-0000-000000000001");
    assert_eq!(user["subscription"]["token_limit"], Value::Null);
    assert_eq!(user["subscription"]["max_model_tier"], "gpt-3.5-turbo");
    let token = body["access_token"].as_str();
    let res = app
        .put(
            "/api/users/me",
            token,
            json!({"role": "admin", "is_verified": true, "name": "Renamed"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["role"], "user");
    assert_eq!(me["is_verified"], false);
    assert_eq!(me["name"], "Renamed");
}

async fn login_accepts_a_form_and_json(app: TestApp) {
    app.register("form@example.com").await;
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .form(&[("username", "FORM@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "form@example.com");
    assert_eq!(body["name"], "Test User");
    assert_eq!(body["user"]["email"], "form@example.com");
    assert!(is_timestamp(&body["user"]["last_login"]));
    let session = app.login("form@example.com", PASSWORD).await;
    assert_eq!(
        app.get("/api/users/me", Some(&session.access))
            .await
            .status(),
        200
    );
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .body("x")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    expect_error(res, 415, "unsupported_media_type").await;
}

async fn wrong_password_and_unknown_email_look_the_same(app: TestApp) {
    app.register("known@example.com").await;
    let wrong = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "known@example.com", "password": "Wrong-password-1"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "nobody@example.com", "password": "Wrong-password-1"}),
        )
        .await;
    let wrong = expect_error(wrong, 401, "invalid_credentials").await;
    let unknown = expect_error(unknown, 401, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
}

async fn repeated_failures_lock_the_email_with_retry_after(app: TestApp) {
    app.register("locked@example.com").await;
    for _ in 0..5 {
        let res = app
            .post(
                "/api/auth/login",
                None,
                json!({"email": "locked@example.com", "password": "bad-password"}),
            )
            .await;
        expect_error(res, 401, "invalid_credentials").await;
    }
    // Now even the right password is refused until the window passes.
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "locked@example.com", "password": PASSWORD}),
        )
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "retry-after {retry}");
    expect_error(res, 429, "too_many_attempts").await;
    // Unknown emails are throttled identically (no enumeration through the lock).
    for _ in 0..5 {
        app.post(
            "/api/auth/login",
            None,
            json!({"email": "ghost@example.com", "password": "bad-password"}),
        )
        .await;
    }
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "ghost@example.com", "password": "bad-password"}),
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, 429, "too_many_attempts").await;
    // Another account is not affected.
    app.register("free@example.com").await;
    app.login("free@example.com", PASSWORD).await;
}

/// A burst of concurrent wrong guesses gets no more verdicts than the budget allows: each
/// attempt is counted before its password is checked. Refused attempts leave nothing behind,
/// so the budget is exactly 5 guesses however they arrive.
async fn concurrent_guesses_never_exceed_the_budget(app: TestApp) {
    app.register("burst@example.com").await;
    let guess = || {
        app.post(
            "/api/auth/login",
            None,
            json!({"email": "burst@example.com", "password": "bad-password"}),
        )
    };
    let statuses: Vec<u16> = futures_util::future::join_all((0..20).map(|_| guess()))
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let mut verdicts = statuses.iter().filter(|s| **s == 401).count();
    assert!(verdicts <= 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // Only the answered guesses are on record.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM login_attempts WHERE scope = 'email'")
            .await,
        i64::try_from(verdicts).unwrap()
    );
    // One at a time, the rest of the budget and not one guess more.
    loop {
        let res = guess().await;
        match res.status().as_u16() {
            401 => verdicts += 1,
            429 => break,
            other => panic!("status {other}"),
        }
        assert!(verdicts <= 5);
    }
    assert_eq!(verdicts, 5);
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "burst@example.com", "password": PASSWORD}),
        )
        .await;
    expect_error(res, 429, "too_many_attempts").await;
}

async fn refresh_rotates_and_a_reused_token_revokes_the_family(app: TestApp) {
    let first = app.user("rot@example.com").await;
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": first.refresh}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["token_type"], "bearer");
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first.refresh);
    assert_eq!(
        app.get("/api/users/me", body["access_token"].as_str())
            .await
            .status(),
        200
    );
    // Presenting the spent token again: reuse. The whole family dies, including `second`.
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": first.refresh}),
        )
        .await;
    expect_error(res, 401, "refresh_token_reused").await;
    let res = app
        .post("/api/auth/refresh", None, json!({"refresh_token": second}))
        .await;
    expect_error(res, 401, "invalid_token").await;
    // Unknown tokens are simply invalid.
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": "not-a-token"}),
        )
        .await;
    expect_error(res, 401, "invalid_token").await;
    // Refresh tokens are stored only as hashes.
    let stored = app
        .count(&format!(
            "SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = '{}'",
            first.refresh
        ))
        .await;
    assert_eq!(stored, 0);
}

async fn two_concurrent_refreshes_of_one_token_succeed_once(app: TestApp) {
    let session = app.user("race@example.com").await;
    let attempts = (0..8).map(|_| {
        app.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": session.refresh}),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.status() == 200).count();
    assert_eq!(
        ok,
        1,
        "statuses: {:?}",
        results.iter().map(|r| r.status()).collect::<Vec<_>>()
    );
    assert!(
        results
            .iter()
            .all(|r| r.status() == 200 || r.status() == 401)
    );
    // Exactly one successor token was ever created.
    assert_eq!(app.count("SELECT COUNT(*) FROM refresh_tokens").await, 2);
}

async fn logout_ends_one_session_and_logout_all_ends_every_token(app: TestApp) {
    app.register("out@example.com").await;
    let a = app.login("out@example.com", PASSWORD).await;
    let b = app.login("out@example.com", PASSWORD).await;
    let res = app
        .post(
            "/api/auth/logout",
            Some(&a.access),
            json!({"refresh_token": a.refresh}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], true);
    expect_error(
        app.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": a.refresh}),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;
    // The other session lives on.
    assert_eq!(
        app.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": b.refresh})
        )
        .await
        .status(),
        200
    );
    let c = app.login("out@example.com", PASSWORD).await;
    let res = app
        .post("/api/auth/logout-all", Some(&c.access), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    expect_error(
        app.get("/api/users/me", Some(&c.access)).await,
        401,
        "invalid_token",
    )
    .await;
    expect_error(
        app.get("/api/users/me", Some(&b.access)).await,
        401,
        "invalid_token",
    )
    .await;
    expect_error(
        app.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": c.refresh}),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;
    // Signing in again works at once.
    let d = app.login("out@example.com", PASSWORD).await;
    assert_eq!(
        app.get("/api/users/me", Some(&d.access)).await.status(),
        200
    );
}

fn forge(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn forged_expired_and_foreign_tokens_are_rejected(app: TestApp) {
    let session = app.user("jwt@example.com").await;
    let good = claims_of(&session.access);
    let now = chrono::Utc::now().timestamp();

    expect_error(
        app.get("/api/users/me", None).await,
        401,
        "not_authenticated",
    )
    .await;
    let res = app
        .client
        .get(app.url("/api/users/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "invalid_token").await;

    // Tampered payload, original signature.
    let mut parts: Vec<String> = session.access.split('.').map(str::to_owned).collect();
    let mut tampered = good.clone();
    tampered["sub"] = json!("00000000-0000-0000-0000-000000000000");
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
    expect_error(
        app.get("/api/users/me", Some(&parts.join("."))).await,
        401,
        "invalid_token",
    )
    .await;

    // alg: none.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let none = format!(
        "{header}.{}.",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good).unwrap())
    );
    expect_error(
        app.get("/api/users/me", Some(&none)).await,
        401,
        "invalid_token",
    )
    .await;

    // Right key, but expired / wrong audience / wrong issuer / not yet valid / wrong type.
    let secret = JWT_SECRET.as_bytes();
    let cases: Vec<(&str, Value)> = vec![
        ("exp", json!(now - 120)),
        ("aud", json!("someone-else")),
        ("iss", json!("evil")),
        ("nbf", json!(now + 3600)),
        ("typ", json!("refresh")),
    ];
    for (claim, value) in cases {
        let mut c = good.clone();
        c[claim] = value;
        expect_error(
            app.get("/api/users/me", Some(&forge(&c, secret))).await,
            401,
            "invalid_token",
        )
        .await;
    }
    // A different key.
    expect_error(
        app.get("/api/users/me", Some(&forge(&good, &[7u8; 40])))
            .await,
        401,
        "invalid_token",
    )
    .await;
    // The genuine token still works.
    assert_eq!(
        app.get("/api/users/me", Some(&session.access))
            .await
            .status(),
        200
    );
}

async fn changing_the_password_revokes_the_other_sessions(app: TestApp) {
    app.register("pw@example.com").await;
    let mine = app.login("pw@example.com", PASSWORD).await;
    let other = app.login("pw@example.com", PASSWORD).await;
    let res = app
        .post(
            "/api/users/me/password",
            Some(&mine.access),
            json!({"current_password": "nope-nope", "new_password": "A-new-passphrase-1"}),
        )
        .await;
    expect_error(res, 403, "invalid_credentials").await;
    let res = app
        .post(
            "/api/users/me/password",
            Some(&mine.access),
            json!({"current_password": PASSWORD, "new_password": "12345678"}),
        )
        .await;
    let body = expect_error(res, 422, "weak_password").await;
    assert_eq!(body["errors"][0]["field"], "new_password");

    let res = app
        .post(
            "/api/users/me/password",
            Some(&mine.access),
            json!({"current_password": PASSWORD, "new_password": "A-new-passphrase-1"}),
        )
        .await;
    assert_eq!(res.status(), 204);
    // Other sessions: access and refresh tokens dead.
    expect_error(
        app.get("/api/users/me", Some(&other.access)).await,
        401,
        "invalid_token",
    )
    .await;
    expect_error(
        app.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": other.refresh}),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;
    // Own session: a refresh yields a working access token.
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": mine.refresh}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(
        app.get("/api/users/me", fresh["access_token"].as_str())
            .await
            .status(),
        200
    );
    // Old password no longer signs in; the new one does.
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "pw@example.com", "password": PASSWORD}),
        )
        .await;
    expect_error(res, 401, "invalid_credentials").await;
    app.login("pw@example.com", "A-new-passphrase-1").await;
}

async fn profile_changes_check_email_and_reset_verification(app: TestApp) {
    app.register("first@example.com").await;
    let me = app.user("me@example.com").await;
    let res = app
        .put(
            "/api/users/me",
            Some(&me.access),
            json!({"email": "FIRST@example.com", "current_password": PASSWORD}),
        )
        .await;
    expect_error(res, 409, "email_taken").await;
    let res = app
        .put("/api/users/me", Some(&me.access), json!({"email": "bad"}))
        .await;
    expect_error(res, 422, "validation_error").await;
    let res = app
        .put("/api/users/me", Some(&me.access), json!({"name": " "}))
        .await;
    expect_error(res, 422, "validation_error").await;
    let res = app
        .put(
            "/api/users/me",
            Some(&me.access),
            json!({"name": " ", "email": "bad"}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    assert_eq!(doztra_tests::error_fields(&body), ["name", "email"]);
    let res = app
        .put(
            "/api/users/me",
            Some(&me.access),
            json!({"email": "New@Example.com", "name": "New Name", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "new@example.com");
    assert_eq!(body["name"], "New Name");
    assert_eq!(body["is_verified"], false);
    app.login("new@example.com", PASSWORD).await;
}

async fn concurrent_registrations_of_one_email_create_one_account(app: TestApp) {
    let attempts = (0..6).map(|i| {
        app.post(
            "/api/auth/register",
            None,
            json!({"name": format!("R{i}"), "email": "dup@example.com", "password": PASSWORD}),
        )
    });
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.status() == 201).count();
    assert_eq!(created, 1);
    assert!(
        results
            .iter()
            .all(|r| r.status() == 201 || r.status() == 409)
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM subscriptions").await, 1);
}

async fn a_session_keeps_working_across_instances(app: TestApp) {
    let other = app.second_instance().await;
    let session: Session = app.user("multi@example.com").await;
    assert_eq!(
        other
            .get("/api/users/me", Some(&session.access))
            .await
            .status(),
        200
    );
    let res = other
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": session.refresh}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Reuse is detected by the first instance too.
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": session.refresh}),
        )
        .await;
    expect_error(res, 401, "refresh_token_reused").await;
}

db_tests!(
    registration_returns_tokens_and_the_full_user,
    a_taken_email_is_a_conflict_whatever_its_case,
    invalid_registration_reports_every_bad_field_and_writes_nothing,
    one_answer_names_every_bad_field_of_a_registration_billing_ones_included,
    weak_and_common_passwords_are_refused,
    registration_never_grants_admin,
    a_paid_plan_without_billing_is_unavailable_and_leaves_no_account,
    fields_a_client_may_not_set_are_ignored,
    login_accepts_a_form_and_json,
    wrong_password_and_unknown_email_look_the_same,
    repeated_failures_lock_the_email_with_retry_after,
    concurrent_guesses_never_exceed_the_budget,
    logout_ends_one_session_and_logout_all_ends_every_token,
    forged_expired_and_foreign_tokens_are_rejected,
    changing_the_password_revokes_the_other_sessions,
    profile_changes_check_email_and_reset_verification,
    concurrent_registrations_of_one_email_create_one_account,
);

// These assert the strict rule (any second use of a refresh token revokes its sign-in), which
// REFRESH_TOKEN_REUSE_INTERVAL=0s keeps; the default interval's behaviour is covered in
// security_edge.rs.
doztra_tests::db_tests_with!(
    strict_refresh,
    &[("REFRESH_TOKEN_REUSE_INTERVAL", "0s")],
    refresh_rotates_and_a_reused_token_revokes_the_family,
    two_concurrent_refreshes_of_one_token_succeed_once,
    a_session_keeps_working_across_instances,
);

/// One client address trying many emails is stopped by the per-address budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_trying_many_emails_is_throttled() {
    let app = doztra_tests::spawn_app_with(
        doztra_tests::Backend::Sqlite,
        &[
            ("LOGIN_MAX_FAILURES_PER_IP", "3"),
            ("LOGIN_MAX_FAILURES", "100"),
        ],
    )
    .await
    .unwrap();
    app.register("victim@example.com").await;
    for i in 0..3 {
        let res = app
            .post(
                "/api/auth/login",
                None,
                json!({"email": format!("guess{i}@example.com"), "password": "bad-password"}),
            )
            .await;
        expect_error(res, 401, "invalid_credentials").await;
    }
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "victim@example.com", "password": PASSWORD}),
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, 429, "too_many_attempts").await;
}
