//! Operations and HTTP conventions: health, readiness, metrics, OpenAPI, Swagger UI, request ids,
//! and the JSON error envelope for refusals that happen before any handler runs.

use doztra_tests::reqwest::{Method, Response, StatusCode};
use doztra_tests::{TestApp, db_tests, expect_error};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

fn request_id(res: &Response) -> Option<String> {
    res.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn content_type(res: &Response) -> String {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Sends a raw body with the given content type to `path`.
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: impl Into<doztra_tests::reqwest::Body>,
) -> Response {
    app.client
        .request(method, app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn health_reports_ok_and_the_version(app: TestApp) {
    let res = app.get("/health", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(content_type(&res).starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let version = body["version"].as_str().unwrap();
    assert!(!version.is_empty());
    assert_eq!(version.split('.').count(), 3, "semver: {version}");
}

async fn readiness_answers_200_when_the_database_answers(app: TestApp) {
    let res = app.get("/health/ready", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(body["status"].is_string(), "{body}");
}

async fn metrics_count_requests_by_route_pattern_and_status(app: TestApp) {
    let user = app.user("metrics@example.com").await;
    for _ in 0..3 {
        let res = app.get("/api/users/me", Some(&user.access)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app.get("/api/users/me", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A path with an id is recorded under its pattern, not the raw path.
    let res = app
        .get(
            "/api/admin/users/0190c1f4-9a7b-7c3d-8e2f-123456789abc",
            Some(&user.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Unknown paths do not become labels.
    let res = app.get("/no/such/route-xyz-123", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let ct = content_type(&res);
    assert!(ct.starts_with("text/plain") || ct.starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();

    let lines: Vec<&str> = text.lines().collect();
    let me_ok = lines.iter().find(|l| {
        l.starts_with("http_requests_total{")
            && l.contains(r#"route="/api/users/me""#)
            && l.contains(r#"status="200""#)
            && l.contains(r#"method="GET""#)
    });
    let me_ok = me_ok.unwrap_or_else(|| panic!("no counter for GET /api/users/me 200:\n{text}"));
    let count: f64 = me_ok.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{me_ok}");
    assert!(
        lines.iter().any(|l| l.starts_with("http_requests_total{")
            && l.contains(r#"route="/api/users/me""#)
            && l.contains(r#"status="401""#)),
        "no 401 counter:\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("http_request_duration_seconds_bucket{")
                && l.contains(r#"route="/api/users/me""#)
                && l.contains("le=")),
        "no histogram bucket:\n{text}"
    );
    assert!(
        text.contains(r#"route="/api/admin/users/{id}""#),
        "id route not recorded by pattern:\n{text}"
    );
    assert!(
        !text.contains("0190c1f4"),
        "a raw id leaked into labels:\n{text}"
    );
    assert!(
        !text.contains("route-xyz-123"),
        "a raw unknown path leaked into labels:\n{text}"
    );
}

async fn the_openapi_document_lists_every_route_and_a_bearer_scheme(app: TestApp) {
    let res = app.get("/api/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(content_type(&res).starts_with("application/json"));
    let text = res.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "openapi: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/logout-all",
        "/api/users/me",
        "/api/users/me/password",
        "/api/admin/users",
        "/api/admin/users/{id}",
        "/health",
        "/health/ready",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    // The methods of the admin item routes.
    let item = &paths["/api/admin/users/{id}"];
    for method in ["get", "patch", "delete"] {
        assert!(
            item.get(method).is_some(),
            "{method} /api/admin/users/{{id}}"
        );
    }
    let users = &paths["/api/admin/users"];
    assert!(users.get("get").is_some() && users.get("post").is_some());
    assert!(paths["/api/users/me"].get("put").is_some());

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(
        schemes.values().any(|s| s["type"] == "http"
            && s["scheme"]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case("bearer"))),
        "no bearer scheme: {schemes:?}"
    );
    // Protected operations reference it.
    let name = schemes
        .iter()
        .find(|(_, s)| s["type"] == "http")
        .map(|(k, _)| k.clone())
        .unwrap();
    let security = &paths["/api/users/me"]["get"]["security"];
    assert!(
        security
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s.get(&name).is_some())),
        "GET /api/users/me security: {security}"
    );
}

async fn swagger_ui_is_served_under_docs(app: TestApp) {
    let res = app.get("/docs/", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        content_type(&res).starts_with("text/html"),
        "{}",
        content_type(&res)
    );
    let html = res.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");

    let res = app.get("/docs", None).await;
    assert!(res.status().is_redirection(), "GET /docs: {}", res.status());
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        location == "/docs/" || location.ends_with("/docs/"),
        "{location}"
    );
    // A Swagger UI asset is served from the binary.
    let res = app.get("/docs/swagger-ui.css", None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let big = "x".repeat(70 * 1024);
    let responses = vec![
        app.get("/health", None).await,
        app.get("/api/users/me", None).await,
        app.get("/nope", None).await,
        app.delete("/health", None).await,
        app.get("/metrics", None).await,
        app.get("/docs/", None).await,
        send_raw(
            &app,
            Method::POST,
            "/api/auth/register",
            "application/json",
            "{oops",
        )
        .await,
        send_raw(
            &app,
            Method::POST,
            "/api/auth/register",
            "application/json",
            format!("{{\"name\": \"{big}\"}}"),
        )
        .await,
    ];
    let mut ids = Vec::new();
    for res in responses {
        let status = res.status();
        let id = request_id(&res).unwrap_or_else(|| panic!("no x-request-id on a {status}"));
        assert!(!id.is_empty());
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "request ids repeat: {ids:?}");
}

async fn a_well_formed_request_id_is_echoed_and_a_malformed_one_replaced(app: TestApp) {
    for good in ["abc-123", "req_0190c1f4.9a7b:7c3d", &"a".repeat(128)] {
        let res = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", good)
            .send()
            .await
            .unwrap();
        assert_eq!(request_id(&res).as_deref(), Some(good));
    }
    // Echoed on errors too.
    let res = app
        .client
        .get(app.url("/api/users/me"))
        .header("X-Request-Id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(request_id(&res).as_deref(), Some("trace-42"));

    let long = "b".repeat(300);
    for bad in [
        "has spaces in it",
        long.as_str(),
        "semi;colon",
        "quote\"d",
        "a/b",
    ] {
        let res = app
            .client
            .get(app.url("/health"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let id = request_id(&res).expect("a replacement id");
        assert_ne!(id, bad);
        assert!(!id.is_empty() && id.len() <= 128, "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)),
            "{id}"
        );
    }
    // An empty header is replaced as well.
    let res = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "")
        .send()
        .await
        .unwrap();
    assert!(request_id(&res).is_some_and(|id| !id.is_empty()));
}

async fn an_unknown_route_is_a_json_404(app: TestApp) {
    for path in [
        "/nope",
        "/api/nope",
        "/api/users/me/nope",
        "/api/admin/users/x/y",
    ] {
        let res = app.get(path, None).await;
        expect_error(res, 404, "not_found").await;
    }
    let res = app.post("/api/does-not-exist", None, json!({})).await;
    expect_error(res, 404, "not_found").await;
}

async fn a_wrong_method_is_a_json_405(app: TestApp) {
    let res = app.delete("/health", None).await;
    expect_error(res, 405, "method_not_allowed").await;
    let res = app.get("/api/auth/login", None).await;
    expect_error(res, 405, "method_not_allowed").await;
    let res = app.put("/api/auth/register", None, json!({})).await;
    expect_error(res, 405, "method_not_allowed").await;
    let res = app.post("/metrics", None, json!({})).await;
    expect_error(res, 405, "method_not_allowed").await;
}

async fn malformed_json_is_a_400(app: TestApp) {
    for raw in ["{\"name\": ", "{oops}", "", "nul", "{\"name\": \"T\",}"] {
        let res = send_raw(
            &app,
            Method::POST,
            "/api/auth/register",
            "application/json",
            raw,
        )
        .await;
        assert_eq!(res.status().as_u16(), 400, "body {raw:?}");
        let b = expect_error(res, 400, "malformed_json").await;
        assert!(b.get("errors").is_none(), "{b}");
    }
    let res = send_raw(
        &app,
        Method::POST,
        "/api/auth/login",
        "application/json",
        "{not json",
    )
    .await;
    expect_error(res, 400, "malformed_json").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

/// Invalid JSON is malformed even when serde meets a wrongly typed value before the syntax
/// error (it reads the body as a stream).
async fn truncated_json_with_a_wrongly_typed_value_is_still_malformed(app: TestApp) {
    for raw in ["[1, 2", "{\"name\": 5", "{\"name\": 5,,}"] {
        let res = send_raw(
            &app,
            Method::POST,
            "/api/auth/register",
            "application/json",
            raw,
        )
        .await;
        assert_eq!(res.status().as_u16(), 400, "body {raw:?}");
        expect_error(res, 400, "malformed_json").await;
    }
}

async fn a_wrong_content_type_is_a_415(app: TestApp) {
    let valid = r#"{"name": "T", "email": "t@example.com", "password": "Password123!"}"#;
    let res = send_raw(
        &app,
        Method::POST,
        "/api/auth/register",
        "text/plain",
        valid,
    )
    .await;
    expect_error(res, 415, "unsupported_media_type").await;
    let res = send_raw(&app, Method::POST, "/api/auth/login", "text/plain", valid).await;
    expect_error(res, 415, "unsupported_media_type").await;
    // No content type at all.
    let res = app
        .client
        .post(app.url("/api/auth/register"))
        .body(valid)
        .send()
        .await
        .unwrap();
    expect_error(res, 415, "unsupported_media_type").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

async fn a_body_over_64_kib_is_a_413(app: TestApp) {
    let big = "x".repeat(65 * 1024);
    let body =
        format!(r#"{{"name": "{big}", "email": "big@example.com", "password": "Password123!"}}"#);
    let res = send_raw(
        &app,
        Method::POST,
        "/api/auth/register",
        "application/json",
        body.clone(),
    )
    .await;
    expect_error(res, 413, "payload_too_large").await;
    let res = send_raw(
        &app,
        Method::POST,
        "/api/auth/login",
        "application/json",
        body,
    )
    .await;
    expect_error(res, 413, "payload_too_large").await;
    let form = format!("username=big%40example.com&password={big}");
    let res = send_raw(
        &app,
        Method::POST,
        "/api/auth/login",
        "application/x-www-form-urlencoded",
        form,
    )
    .await;
    expect_error(res, 413, "payload_too_large").await;
    // Just under the limit is read (and refused for its content, not its size).
    let name = "y".repeat(60 * 1024);
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": name, "email": "big@example.com", "password": "Password123!"}),
        )
        .await;
    expect_error(res, 422, "validation_error").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

async fn json_of_the_wrong_type_is_a_422(app: TestApp) {
    for payload in [
        json!({"name": 5, "email": "t@example.com", "password": "Password123!"}),
        json!({"name": "T", "email": ["t@example.com"], "password": "Password123!"}),
        json!({"name": "T", "email": "t@example.com", "password": "Password123!", "subscription": "basic"}),
        json!([1, 2, 3]),
        json!("just a string"),
    ] {
        let res = app.post("/api/auth/register", None, payload.clone()).await;
        let b = expect_error(res, 422, "validation_error").await;
        assert!(
            b["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{payload}: {b}"
        );
    }
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": 5, "password": true}),
        )
        .await;
    expect_error(res, 422, "validation_error").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

/// PostgreSQL's text cannot hold NUL; a NUL in a lookup must be an ordinary "no match", never
/// a 500 (schemathesis found these four).
async fn a_nul_character_in_a_lookup_is_an_ordinary_miss(app: TestApp) {
    let admin = app.admin("root@example.com").await;
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "a\u{0}b@example.com", "password": "Password123!"}),
        )
        .await;
    expect_error(res, 401, "invalid_credentials").await;
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=a%00b@example.com&password=x")
        .send()
        .await
        .unwrap();
    expect_error(res, 401, "invalid_credentials").await;
    // A reset request checks the address first (issue 12): a NUL makes it malformed.
    let res = app
        .post(
            "/api/auth/password-reset",
            None,
            json!({"email": "a\u{0}b@example.com"}),
        )
        .await;
    expect_error(res, 422, "validation_error").await;
    // The history's model filter is a model name, as a track's is: no control characters.
    let res = app
        .get("/api/tokens/me/history?model=a%00b", Some(&admin.access))
        .await;
    expect_error(res, 422, "validation_error").await;
    let res = app
        .get("/api/admin/users?q=a%00b", Some(&admin.access))
        .await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["total_records"], 0, "{body}");
    // The failed sign-ins counted the NUL-bearing address (stored as its hash) as one subject.
    assert!(app.count("SELECT COUNT(*) FROM login_attempts").await >= 2);
}

/// Housekeeping deletes what has expired and nothing that still counts.
async fn maintenance_deletes_only_expired_rows(app: TestApp) {
    app.user("keep@example.com").await;
    // Two failed sign-ins now (they count for the throttle and must stay).
    for _ in 0..2 {
        app.post(
            "/api/auth/login",
            None,
            json!({"email": "keep@example.com", "password": "wrong-password"}),
        )
        .await;
    }
    let db = app.db();
    let old = (chrono::Utc::now() - chrono::TimeDelta::days(40)).to_rfc3339();
    for sql in [
        format!(
            "INSERT INTO login_attempts (id, scope, subject, attempted_at) VALUES \
             ('{}', 'email', 'old@example.com', '{old}')",
            uuid::Uuid::now_v7()
        ),
        format!(
            "INSERT INTO stripe_events (id, event_type, created, user_id, outcome, processed_at) \
             VALUES ('evt_old', 'invoice.paid', 1, NULL, 'applied', '{old}')"
        ),
        format!(
            "INSERT INTO email_tokens (id, user_id, purpose, token_hash, email, created_at, expires_at, used_at) \
             SELECT '{}', id, 'reset', 'hash-old', email, '{old}', '{old}', NULL FROM users \
             WHERE email = 'keep@example.com'",
            uuid::Uuid::now_v7()
        ),
        "UPDATE refresh_tokens SET family_expires_at = '2020-01-01T00:00:00Z' WHERE id IN \
         (SELECT id FROM refresh_tokens LIMIT 1)"
            .to_owned(),
    ] {
        db.execute_unprepared(&sql).await.unwrap();
    }
    let before_refresh = app.count("SELECT COUNT(*) FROM refresh_tokens").await;
    let pruned = app
        .services()
        .maintenance_worker(std::time::Duration::from_secs(3600))
        .run_once()
        .await
        .unwrap();
    assert_eq!(pruned.login_attempts, 1, "{pruned:?}");
    assert_eq!(pruned.stripe_events, 1, "{pruned:?}");
    assert_eq!(pruned.email_tokens, 1, "{pruned:?}");
    assert_eq!(pruned.refresh_tokens, 1, "{pruned:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM login_attempts WHERE scope = 'email'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM refresh_tokens").await,
        before_refresh - 1
    );
    // A second pass finds nothing.
    let again = app
        .services()
        .maintenance_worker(std::time::Duration::from_secs(3600))
        .run_once()
        .await
        .unwrap();
    assert_eq!(again, service::Pruned::default());
}

db_tests!(
    maintenance_deletes_only_expired_rows,
    a_nul_character_in_a_lookup_is_an_ordinary_miss,
    health_reports_ok_and_the_version,
    readiness_answers_200_when_the_database_answers,
    metrics_count_requests_by_route_pattern_and_status,
    the_openapi_document_lists_every_route_and_a_bearer_scheme,
    swagger_ui_is_served_under_docs,
    every_response_carries_a_request_id,
    a_well_formed_request_id_is_echoed_and_a_malformed_one_replaced,
    an_unknown_route_is_a_json_404,
    a_wrong_method_is_a_json_405,
    malformed_json_is_a_400,
    truncated_json_with_a_wrongly_typed_value_is_still_malformed,
    a_wrong_content_type_is_a_415,
    a_body_over_64_kib_is_a_413,
    json_of_the_wrong_type_is_a_422,
);
