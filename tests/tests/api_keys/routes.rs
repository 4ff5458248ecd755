//! The key routes: the same answers as the user's own routes, scopes on every call, and every
//! refusal (no key, a wrong, revoked or expired key, a user token, a disabled or unknown user).

use sea_orm::ConnectionTrait;
use sha2::Digest;

use super::support::*;

async fn a_key_answers_exactly_what_the_users_own_routes_answer(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    let by_key = ok(app
        .post(&track_path(&user), Some(&key.secret), chat(400, "k-1"))
        .await)
    .await;
    assert_eq!(by_key["duplicate"], false);
    assert_eq!(by_key["tokens_used"], 400);
    assert_eq!(by_key["tokens_limit"], 100_000);
    assert_eq!(by_key["tokens_remaining"], 99_600);
    let by_user = ok(app
        .post(ME_TRACK, Some(&user.access), chat(100, "u-1"))
        .await)
    .await;
    assert_eq!(by_user["tokens_used"], 500);

    let id = &user.user_id;
    for (mine, theirs) in [
        (
            "/api/tokens/me".to_owned(),
            format!("/api/tokens/users/{id}"),
        ),
        ("/api/usage/me".to_owned(), format!("/api/usage/users/{id}")),
        (
            "/api/tokens/me/history?limit=1".to_owned(),
            format!("/api/tokens/users/{id}/history?limit=1"),
        ),
    ] {
        let mine = ok(app.get(&mine, Some(&user.access)).await).await;
        let theirs = ok(app.get(&theirs, Some(&key.secret)).await).await;
        assert_eq!(mine, theirs);
    }
    let check = json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 50});
    let mine = ok(app
        .post("/api/tokens/me/check", Some(&user.access), check.clone())
        .await)
    .await;
    let theirs = ok(app.post(&check_path(&user), Some(&key.secret), check).await).await;
    assert_eq!(mine, theirs);
    assert_eq!(theirs["tokens_remaining"], 99_500);

    // The second page through the key follows the cursor of the first.
    let page = ok(app
        .get(
            &format!("/api/tokens/users/{id}/history?limit=1"),
            Some(&key.secret),
        )
        .await)
    .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = ok(app
        .get(
            &format!("/api/tokens/users/{id}/history?limit=1&cursor={cursor}"),
            Some(&key.secret),
        )
        .await)
    .await;
    assert_eq!(next["history"][0]["request_id"], "k-1");

    // X-Api-Key works as well as the bearer header.
    let res = app
        .client
        .get(app.url(&format!("/api/usage/users/{id}")))
        .header("X-Api-Key", &key.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(ok(res).await["tokens"]["used"], 500);
}

async fn a_request_id_is_one_event_through_either_route(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    let first = ok(app
        .post(ME_TRACK, Some(&user.access), chat(300, "shared"))
        .await)
    .await;
    let again = ok(app
        .post(&track_path(&user), Some(&key.secret), chat(300, "shared"))
        .await)
    .await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["tokens_used"], 300);
    let other = ok(app
        .post(&track_path(&user), Some(&key.secret), chat(10, "from-key"))
        .await)
    .await;
    let back = ok(app
        .post(ME_TRACK, Some(&user.access), chat(10, "from-key"))
        .await)
    .await;
    assert_eq!(back["duplicate"], true);
    assert_eq!(back["id"], other["id"]);
    expect_error(
        app.post(&track_path(&user), Some(&key.secret), chat(301, "shared"))
            .await,
        409,
        "request_id_conflict",
    )
    .await;
    assert_eq!(events(&app).await, 2);
    // request ids are per user: another user's "shared" is a new event.
    let other_user = app.user("other@example.com").await;
    let res = ok(app
        .post(
            &track_path(&other_user),
            Some(&key.secret),
            chat(300, "shared"),
        )
        .await)
    .await;
    assert_eq!(res["duplicate"], false);
    assert_counters_match_events(&app).await;
}

async fn the_quota_gate_and_tier_rules_hold_through_a_key(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    ok(app
        .post(&track_path(&user), Some(&key.secret), chat(100_000, "big"))
        .await)
    .await;
    let body = expect_error(
        app.post(&track_path(&user), Some(&key.secret), chat(1, "over"))
            .await,
        402,
        "token_limit_exceeded",
    )
    .await;
    assert_eq!(body["limit"], 100_000);
    assert_eq!(body["used"], 100_000);
    assert!(
        body["reset_date"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00.000Z")
    );
    let check = json!({"request_type": "chat", "model": "gpt-3.5-turbo"});
    expect_error(
        app.post(&check_path(&user), Some(&key.secret), check).await,
        402,
        "token_limit_exceeded",
    )
    .await;
    let gpt4 = json!({"request_type": "chat", "model": "gpt-4", "total_tokens": 5});
    expect_error(
        app.post(&track_path(&user), Some(&key.secret), gpt4).await,
        403,
        "model_not_allowed",
    )
    .await;
    let bad = json!({"request_type": "nope", "model": "gpt-3.5-turbo", "total_tokens": -1});
    let body = expect_error(
        app.post(&track_path(&user), Some(&key.secret), bad).await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    expect_error(
        app.post(
            &track_path(&user),
            Some(&key.secret),
            json!({"request_type": "chat", "model": "llama"}),
        )
        .await,
        422,
        "unknown_model",
    )
    .await;
    assert_eq!(events(&app).await, 1);
}

/// Every key route with the scope it needs.
fn routes(user_id: &str) -> Vec<(&'static str, String, Option<Value>, &'static str)> {
    let check = json!({"request_type": "chat", "model": "gpt-3.5-turbo"});
    vec![
        (
            "POST",
            format!("/api/tokens/users/{user_id}/track"),
            Some(chat(10, "scoped")),
            "usage:write",
        ),
        (
            "POST",
            format!("/api/tokens/users/{user_id}/check"),
            Some(check),
            "usage:write",
        ),
        (
            "GET",
            format!("/api/tokens/users/{user_id}"),
            None,
            "usage:read",
        ),
        (
            "GET",
            format!("/api/tokens/users/{user_id}/history"),
            None,
            "usage:read",
        ),
        (
            "GET",
            format!("/api/usage/users/{user_id}"),
            None,
            "usage:read",
        ),
        (
            "GET",
            format!("/api/users/lookup?id={user_id}"),
            None,
            "users:read",
        ),
    ]
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    match method {
        "POST" => app.post(path, Some(token), body.unwrap()).await,
        _ => app.get(path, Some(token)).await,
    }
}

async fn every_route_checks_its_scope(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    for scope in ["usage:write", "usage:read", "users:read"] {
        let key = create_key(&app, &admin, &[scope]).await;
        for (method, path, body, needed) in routes(&user.user_id) {
            let res = send(&app, method, &path, &key.secret, body).await;
            if needed == scope {
                assert_eq!(res.status(), 200, "{method} {path} with {scope}");
            } else {
                let body = expect_error(res, 403, "insufficient_scope").await;
                assert!(body["detail"].as_str().unwrap().contains(needed), "{body}");
            }
        }
    }
    assert_eq!(events(&app).await, 1, "only the usage:write key tracked");
}

async fn only_a_live_key_opens_a_key_route(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    let expiring = full_key(&app, &admin).await;
    let revoked = full_key(&app, &admin).await;
    assert_eq!(
        app.delete(&format!("{KEYS}/{}", revoked.id), Some(&admin.access))
            .await
            .status(),
        204
    );
    app.db()
        .execute_unprepared(&format!(
            "UPDATE api_keys SET expires_at = created_at WHERE key_hash = '{}'",
            hex::encode(sha2::Sha256::digest(expiring.secret.as_bytes()))
        ))
        .await
        .unwrap();
    let wrong = format!("dzk_{}", "A".repeat(43));
    let tampered = format!("{}x", key.secret);
    for (method, path, body, _) in routes(&user.user_id) {
        let res = match method {
            "POST" => {
                app.request(
                    doztra_tests::reqwest::Method::POST,
                    &path,
                    None,
                    body.clone(),
                )
                .await
            }
            _ => app.get(&path, None).await,
        };
        expect_error(res, 401, "not_authenticated").await;
        for token in [
            wrong.as_str(),
            tampered.as_str(),
            revoked.secret.as_str(),
            expiring.secret.as_str(),
            user.access.as_str(),
            admin.access.as_str(),
            "",
        ] {
            let res = send(&app, method, &path, token, body.clone()).await;
            assert_eq!(res.status(), 401, "{method} {path} with {token}");
            expect_error(res, 401, "invalid_api_key").await;
        }
        let res = app
            .client
            .get(app.url(&path))
            .header("Authorization", format!("Basic {}", key.secret))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), if method == "GET" { 401 } else { 405 });
        // X-Api-Key with a dead key.
        let res = app
            .client
            .get(app.url(&path))
            .header("X-Api-Key", &revoked.secret)
            .send()
            .await
            .unwrap();
        if method == "GET" {
            expect_error(res, 401, "invalid_api_key").await;
        }
    }
    // A key never opens a /me route.
    for path in ["/api/tokens/me", "/api/usage/me", "/api/users/me"] {
        expect_error(app.get(path, Some(&key.secret)).await, 401, "invalid_token").await;
    }
    expect_error(
        app.post(ME_TRACK, Some(&key.secret), chat(1, "x")).await,
        401,
        "invalid_token",
    )
    .await;
    // The order of refusals (API.md): a body not of the route's shape before the key; values
    // that break the rules only once the key is allowed.
    let track = track_path(&user);
    let history = format!("/api/tokens/users/{}/history", user.user_id);
    let shapeless = json!({"request_type": "chat", "total_tokens": "many"});
    let bad_values = json!({"request_type": "video", "model": "", "total_tokens": -1});
    expect_error(
        app.post(&track, Some(&revoked.secret), shapeless).await,
        422,
        "validation_error",
    )
    .await;
    for (token, status) in [(revoked.secret.as_str(), 401), (key.secret.as_str(), 422)] {
        let res = app.post(&track, Some(token), bad_values.clone()).await;
        assert_eq!(res.status(), status, "{token}");
        let res = app
            .get(&format!("{history}?page=0&reporter=x"), Some(token))
            .await;
        assert_eq!(res.status(), status, "{token}");
    }
    assert_eq!(events(&app).await, 0);
}

async fn revocation_takes_effect_on_the_next_request_on_every_instance(app: TestApp) {
    let other = app.second_instance().await;
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    let usage = format!("/api/usage/users/{}", user.user_id);
    ok(other.get(&usage, Some(&key.secret)).await).await;
    assert_eq!(
        app.delete(&format!("{KEYS}/{}", key.id), Some(&admin.access))
            .await
            .status(),
        204
    );
    expect_error(
        other.get(&usage, Some(&key.secret)).await,
        401,
        "invalid_api_key",
    )
    .await;
    expect_error(
        app.get(&usage, Some(&key.secret)).await,
        401,
        "invalid_api_key",
    )
    .await;
}

async fn a_disabled_and_an_unknown_user_look_the_same_without_users_read(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = create_key(&app, &admin, &["usage:write", "usage:read"]).await;
    ok(app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            json!({"is_active": false}),
        )
        .await)
    .await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for (method, path, body, scope) in routes(&user.user_id) {
        if scope == "users:read" {
            continue;
        }
        let disabled = expect_error(
            send(&app, method, &path, &key.secret, body.clone()).await,
            404,
            "not_found",
        )
        .await;
        let path = path.replace(&user.user_id, &unknown);
        let missing = expect_error(
            send(&app, method, &path, &key.secret, body.clone()).await,
            404,
            "not_found",
        )
        .await;
        assert_eq!(disabled, missing, "{path}");
        let path = path.replace(&unknown, "not-a-uuid");
        expect_error(
            send(&app, method, &path, &key.secret, body).await,
            404,
            "not_found",
        )
        .await;
    }
    assert_eq!(events(&app).await, 0);
}

async fn a_key_with_users_read_looks_users_up_by_id_or_email(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("someone@example.com").await;
    let key = create_key(&app, &admin, &["users:read"]).await;
    let by_id = ok(app
        .get(
            &format!("/api/users/lookup?id={}", user.user_id),
            Some(&key.secret),
        )
        .await)
    .await;
    assert_eq!(
        by_id,
        json!({"id": user.user_id, "email": "someone@example.com", "name": "Test User",
               "plan": "free", "is_active": true})
    );
    let by_email = ok(app
        .get(
            "/api/users/lookup?email=SomeOne@Example.com",
            Some(&key.secret),
        )
        .await)
    .await;
    assert_eq!(by_email, by_id);
    ok(app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            json!({"is_active": false, "plan": "basic"}),
        )
        .await)
    .await;
    let disabled = ok(app
        .get(
            &format!("/api/users/lookup?id={}", user.user_id),
            Some(&key.secret),
        )
        .await)
    .await;
    assert_eq!(disabled["is_active"], false);
    assert_eq!(disabled["plan"], "basic");
    for query in [
        format!("id={}", uuid::Uuid::now_v7()),
        "email=nobody@example.com".to_owned(),
        "email=not-an-email".to_owned(),
    ] {
        expect_error(
            app.get(&format!("/api/users/lookup?{query}"), Some(&key.secret))
                .await,
            404,
            "not_found",
        )
        .await;
    }
    for query in [
        String::new(),
        "id=nope".to_owned(),
        format!("id={}&email=someone@example.com", user.user_id),
    ] {
        expect_error(
            app.get(&format!("/api/users/lookup?{query}"), Some(&key.secret))
                .await,
            422,
            "validation_error",
        )
        .await;
    }
}

/// A backend reserves for a user's streamed call through its key, settles it with the track,
/// and releases another: the same reservations the user's own routes see.
async fn a_key_reserves_settles_and_releases_for_a_user(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    let path = format!("/api/tokens/users/{}/reservations", user.user_id);
    let reserve = |id: &str| {
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 400,
               "request_id": id})
    };
    let res = app
        .post(&path, Some(&key.secret), reserve("stream-1"))
        .await;
    assert_eq!(res.status(), 201);
    let granted: Value = res.json().await.unwrap();
    let first = granted["reservation_id"].as_str().unwrap().to_owned();
    assert_eq!(granted["reserved_tokens"], 400);
    // A retry answers the same reservation; the user's own list shows it.
    let again = ok(app
        .post(&path, Some(&key.secret), reserve("stream-1"))
        .await)
    .await;
    assert_eq!(again["reservation_id"], first.as_str());
    let mine = ok(app
        .get("/api/tokens/me/reservations", Some(&user.access))
        .await)
    .await;
    assert_eq!(mine["total_reserved_tokens"], 400);
    let listed = ok(app.get(&path, Some(&key.secret)).await).await;
    assert_eq!(listed, mine);
    // The track through the key settles it with the actual tokens.
    let mut settle = chat(250, "stream-1-done");
    settle["reservation_id"] = json!(first);
    let tracked = ok(app
        .post(&track_path(&user), Some(&key.secret), settle)
        .await)
    .await;
    assert_eq!(tracked["tokens_used"], 250);
    let listed = ok(app.get(&path, Some(&key.secret)).await).await;
    assert_eq!(listed["total_reserved_tokens"], 0);
    // Another one, released through the key.
    let res = app
        .post(&path, Some(&key.secret), reserve("stream-2"))
        .await;
    assert_eq!(res.status(), 201);
    let second: Value = res.json().await.unwrap();
    let release = format!("{path}/{}", second["reservation_id"].as_str().unwrap());
    assert_eq!(app.delete(&release, Some(&key.secret)).await.status(), 204);
    let mine = ok(app
        .get("/api/tokens/me/reservations", Some(&user.access))
        .await)
    .await;
    assert_eq!(mine["total_reserved_tokens"], 0);
    // Another user's path does not reach this user's reservation.
    let other = app.user("other@example.com").await;
    let foreign = format!(
        "/api/tokens/users/{}/reservations/{}",
        other.user_id,
        second["reservation_id"].as_str().unwrap()
    );
    expect_error(
        app.delete(&foreign, Some(&key.secret)).await,
        404,
        "not_found",
    )
    .await;
    // Scopes: reserving and releasing need usage:write, listing usage:read.
    let reader = create_key(&app, &admin, &["usage:read"]).await;
    expect_error(
        app.post(&path, Some(&reader.secret), reserve("stream-3"))
            .await,
        403,
        "insufficient_scope",
    )
    .await;
    expect_error(
        app.delete(&release, Some(&reader.secret)).await,
        403,
        "insufficient_scope",
    )
    .await;
    let writer = create_key(&app, &admin, &["usage:write"]).await;
    expect_error(
        app.get(&path, Some(&writer.secret)).await,
        403,
        "insufficient_scope",
    )
    .await;
    assert_counters_match_events(&app).await;
}

db_tests!(
    a_key_reserves_settles_and_releases_for_a_user,
    a_key_answers_exactly_what_the_users_own_routes_answer,
    a_request_id_is_one_event_through_either_route,
    the_quota_gate_and_tier_rules_hold_through_a_key,
    every_route_checks_its_scope,
    only_a_live_key_opens_a_key_route,
    revocation_takes_effect_on_the_next_request_on_every_instance,
    a_disabled_and_an_unknown_user_look_the_same_without_users_read,
    a_key_with_users_read_looks_users_up_by_id_or_email,
);
