//! The admin routes of API keys: create (the secret shown once, stored only as a hash), list,
//! read, revoke; and their refusals.

use sha2::{Digest, Sha256};

use super::support::*;

async fn an_admin_creates_lists_reads_and_revokes_a_key(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let res = app
        .post(
            KEYS,
            Some(&admin.access),
            json!({"name": "chat-backend", "scopes": ["usage:write", "usage:read", "usage:write"],
                   "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dzk_"), "{secret}");
    assert_eq!(secret.len(), 4 + 43, "dzk_ + 256 bits URL-safe: {secret}");
    assert!(
        secret[4..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(created["prefix"], secret[..12]);
    assert_eq!(created["name"], "chat-backend");
    assert_eq!(created["scopes"], json!(["usage:write", "usage:read"]));
    assert_eq!(created["expires_at"], "2099-01-01T00:00:00.000Z");
    assert_eq!(created["revoked_at"], Value::Null);
    assert_eq!(created["last_used_at"], Value::Null);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    // Only the SHA-256 is stored.
    let hash = hex::encode(Sha256::digest(secret.as_bytes()));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE key_hash = '{hash}'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE key_hash LIKE '%{}%' OR name LIKE '%{}%'",
            &secret[4..],
            &secret[4..]
        ))
        .await,
        0
    );

    let second = create_key(&app, &admin, &["users:read"]).await;
    let list = ok(app.get(KEYS, Some(&admin.access)).await).await;
    let keys = list["api_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["id"], second.id, "newest first");
    assert!(keys.iter().all(|k| k.get("secret").is_none()), "{list}");

    let one = ok(app.get(&format!("{KEYS}/{id}"), Some(&admin.access)).await).await;
    assert_eq!(one["prefix"], created["prefix"]);
    assert!(one.get("secret").is_none());

    let res = app
        .delete(&format!("{KEYS}/{id}"), Some(&admin.access))
        .await;
    assert_eq!(res.status(), 204);
    let revoked = ok(app.get(&format!("{KEYS}/{id}"), Some(&admin.access)).await).await;
    let revoked_at = revoked["revoked_at"].as_str().unwrap().to_owned();
    // Revoking again changes nothing.
    let res = app
        .delete(&format!("{KEYS}/{id}"), Some(&admin.access))
        .await;
    assert_eq!(res.status(), 204);
    let again = ok(app.get(&format!("{KEYS}/{id}"), Some(&admin.access)).await).await;
    assert_eq!(again["revoked_at"], revoked_at);

    let unknown = uuid::Uuid::now_v7();
    for res in [
        app.get(&format!("{KEYS}/{unknown}"), Some(&admin.access))
            .await,
        app.delete(&format!("{KEYS}/{unknown}"), Some(&admin.access))
            .await,
        app.get(&format!("{KEYS}/not-a-uuid"), Some(&admin.access))
            .await,
    ] {
        expect_error(res, 404, "not_found").await;
    }
}

async fn key_creation_refuses_bad_input_with_every_field_at_once(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let body = expect_error(
        app.post(
            KEYS,
            Some(&admin.access),
            json!({"name": " ", "scopes": ["admin"]}),
        )
        .await,
        422,
        "validation_error",
    )
    .await;
    let fields = doztra_tests::error_fields(&body);
    assert_eq!(fields, ["name", "scopes"], "{body}");
    for payload in [
        json!({"name": "k", "scopes": []}),
        json!({"name": "k"}),
        json!({"name": "k", "scopes": "usage:write"}),
        json!({"name": "k", "scopes": ["usage:write"], "expires_at": "2000-01-01T00:00:00Z"}),
        json!({"name": "k", "scopes": ["usage:write"], "expires_at": "tomorrow"}),
        json!({"name": "x".repeat(101), "scopes": ["usage:write"]}),
        json!({"name": "tab\there", "scopes": ["usage:write"]}),
    ] {
        let res = app.post(KEYS, Some(&admin.access), payload.clone()).await;
        expect_error(res, 422, "validation_error").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM api_keys").await, 0);
}

async fn only_admins_manage_keys_and_a_key_is_no_admin(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    let body = json!({"name": "k", "scopes": ["usage:write"]});
    expect_error(
        app.post(KEYS, Some(&user.access), body.clone()).await,
        403,
        "admin_required",
    )
    .await;
    expect_error(
        app.get(KEYS, Some(&user.access)).await,
        403,
        "admin_required",
    )
    .await;
    expect_error(
        app.delete(&format!("{KEYS}/{}", key.id), Some(&user.access))
            .await,
        403,
        "admin_required",
    )
    .await;
    expect_error(app.get(KEYS, None).await, 401, "not_authenticated").await;
    // A key never authenticates an admin route, in either header.
    expect_error(app.get(KEYS, Some(&key.secret)).await, 401, "invalid_token").await;
    let res = app
        .client
        .get(app.url(KEYS))
        .header("X-Api-Key", &key.secret)
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "not_authenticated").await;
    expect_error(
        app.post(KEYS, Some(&key.secret), body).await,
        401,
        "invalid_token",
    )
    .await;
    assert_eq!(app.count("SELECT COUNT(*) FROM api_keys").await, 1);
}

async fn last_used_at_is_stamped_after_use_at_most_once_a_minute(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    let stats = format!("/api/tokens/users/{}", user.user_id);
    ok(app.get(&stats, Some(&key.secret)).await).await;
    let mut stamped = Value::Null;
    for _ in 0..100 {
        let view = ok(app
            .get(&format!("{KEYS}/{}", key.id), Some(&admin.access))
            .await)
        .await;
        stamped = view["last_used_at"].clone();
        if !stamped.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(stamped.is_string(), "last_used_at stamped");
    for _ in 0..5 {
        ok(app.get(&stats, Some(&key.secret)).await).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let view = ok(app
        .get(&format!("{KEYS}/{}", key.id), Some(&admin.access))
        .await)
    .await;
    assert_eq!(
        view["last_used_at"], stamped,
        "not rewritten within the minute"
    );
}

db_tests!(
    an_admin_creates_lists_reads_and_revokes_a_key,
    key_creation_refuses_bad_input_with_every_field_at_once,
    only_admins_manage_keys_and_a_key_is_no_admin,
    last_used_at_is_stamped_after_use_at_most_once_a_minute,
);
