//! The usage dashboard under `/app`: first over plain HTTP (the page for every client route,
//! its security and caching headers, JSON errors, and that the pages call only routes of the
//! public API), then in Debian's Chromium driven by Selenium (tests/python/dashboard_suite.py)
//! against the live server on both databases. Data is prepared through the HTTP API; the
//! browser scenarios write screenshots to `<target>/screenshots/<backend>/`.
#![recursion_limit = "256"]

use std::collections::BTreeSet;
use std::path::Path;

use billing::test_support::{self as support, StripeMock, fixtures};
use doztra_tests::reqwest::{StatusCode, header};
use doztra_tests::{
    Backend, PASSWORD, Session, TestApp, db_tests, expect_error, spawn_app_with, tools,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// --- over HTTP ---------------------------------------------------------------------------------

async fn the_page_answers_every_client_route_with_its_security_headers(app: TestApp) {
    let mut etags = BTreeSet::new();
    for route in [
        "/app",
        "/app/",
        "/app/usage",
        "/app/admin",
        "/app/no/such/page",
    ] {
        let res = app.get(route, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{route}");
        let headers = res.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        etags.insert(headers[header::ETAG].to_str().unwrap().to_owned());
        let html = res.text().await.unwrap();
        assert!(html.contains("<main id=\"main\""), "{route}: {html}");
        // No inline code: the CSP would block it anyway, so none may be relied on.
        assert!(
            !html.contains("<style") && !html.contains("style="),
            "{route}"
        );
        assert!(
            !html.contains("<script>") && !html.contains("onclick"),
            "{route}"
        );
    }
    assert_eq!(etags.len(), 1, "one page for every route: {etags:?}");
}

async fn every_file_the_page_names_is_served_with_its_type(app: TestApp) {
    let html = app.get("/app", None).await.text().await.unwrap();
    let files: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/app/assets/"))
        .collect();
    assert!(
        files.len() >= 4,
        "icon, style sheet, Chart.js, entry module: {files:?}"
    );
    for file in files {
        let res = app.get(file, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        let content_type = res.headers()[header::CONTENT_TYPE].to_str().unwrap();
        let expected = match Path::new(file).extension().and_then(|e| e.to_str()) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected asset type {other:?} for {file}"),
        };
        assert_eq!(content_type, expected, "{file}");
    }
}

async fn files_revalidate_by_etag_and_vendored_ones_are_immutable(app: TestApp) {
    let res = app.get("/app/assets/js/main.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
    let etag = res.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
    ] {
        let res = app
            .client
            .get(app.url("/app/assets/js/main.js"))
            .header(header::IF_NONE_MATCH, &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::NOT_MODIFIED,
            "If-None-Match: {tag}"
        );
        assert_eq!(res.headers()[header::ETAG], etag.as_str());
        assert!(res.bytes().await.unwrap().is_empty());
    }
    let res = app
        .client
        .get(app.url("/app/assets/js/main.js"))
        .header(header::IF_NONE_MATCH, "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .get("/app/assets/vendor/chart.js-4.6.1/chart.umd.min.js", None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(res.text().await.unwrap().contains("Chart.js v4.6.1"));
    let licence = app
        .get("/app/assets/vendor/chart.js-4.6.1/LICENSE.md", None)
        .await;
    assert!(licence.text().await.unwrap().contains("MIT License"));
}

async fn missing_files_and_other_methods_answer_json_errors(app: TestApp) {
    for missing in [
        "/app/assets/js/missing.js",
        "/app/assets/",
        "/app/assets/css",
    ] {
        expect_error(app.get(missing, None).await, 404, "not_found").await;
    }
    // Clients remove dot segments before sending; a raw request keeps them.
    for traversal in [
        "/app/assets/../index.html",
        "/app/assets/%2e%2e/index.html",
        "/app/assets/js/../../../Cargo.toml",
    ] {
        let response = raw_get(&app, traversal).await;
        assert!(
            response.starts_with("HTTP/1.1 404"),
            "{traversal}: {response}"
        );
        assert!(
            response.contains("\"code\":\"not_found\""),
            "{traversal}: {response}"
        );
    }
    let res = app.post("/app/usage", None, json!({})).await;
    expect_error(res, 405, "method_not_allowed").await;
}

/// Sends `GET target` exactly as written and returns the whole response.
async fn raw_get(app: &TestApp, target: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// Every `/api/...` path the pages' scripts name is an operation of the OpenAPI document, and
/// the document has no `/app` route: the dashboard adds no endpoint of its own.
async fn the_pages_call_only_routes_of_the_public_api(app: TestApp) {
    let document: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.keys().all(|p| !p.starts_with("/app")));
    let scripts = tools::repo_root().join("crates/api/app/assets/js");
    let mut called = BTreeSet::new();
    for file in files_under(&scripts) {
        let source = std::fs::read_to_string(&file).unwrap();
        for piece in source.split(['\'', '`', '"']).skip(1) {
            if let Some(path) = piece.strip_prefix("/api/") {
                let path = path.split(['?', '$']).next().unwrap();
                called.insert(format!("/api/{path}"));
            }
        }
    }
    assert!(called.len() >= 10, "the scripts' API calls: {called:?}");
    for path in &called {
        assert!(
            paths.contains_key(path),
            "{path} is not in the OpenAPI document"
        );
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

// --- in the browser ----------------------------------------------------------------------------

/// Runs one scenario of `tests/python/dashboard_suite.py` against `app` with `data`.
async fn browse(app: &TestApp, scenario: &str, data: Value) {
    let backend = match app.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let screenshots = tools::target_dir().join("screenshots").join(backend);
    let env = [
        ("DOZTRA_URL".to_owned(), app.address.clone()),
        ("DASHBOARD_DATA".to_owned(), data.to_string()),
        (
            "SCREENSHOT_DIR".to_owned(),
            screenshots.display().to_string(),
        ),
    ];
    let scenario = scenario.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let (chromium, driver) = tools::chromium();
        let mut env: Vec<(String, String)> = env.to_vec();
        env.push(("CHROMIUM".to_owned(), chromium.display().to_string()));
        env.push(("CHROMEDRIVER".to_owned(), driver.display().to_string()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        tools::run_python_script("dashboard_suite.py", &[&scenario], &env)
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains(": ok"), "scenario output: {printed}");
}

async fn register(app: &TestApp, name: &str, email: &str) -> Session {
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": name, "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "register {email}");
    Session::from_login(&res.json().await.unwrap())
}

/// Tracks one request; returns its total tokens.
async fn track(
    app: &TestApp,
    session: &Session,
    (request_type, model, prompt, completion): (&str, &str, u64, u64),
    request_id: &str,
) -> u64 {
    let res = app
        .post(
            "/api/tokens/me/track",
            Some(&session.access),
            json!({"request_type": request_type, "model": model, "prompt_tokens": prompt,
                   "completion_tokens": completion, "request_id": request_id}),
        )
        .await;
    let status = res.status();
    assert_eq!(status, StatusCode::OK, "{}", res.text().await.unwrap());
    prompt + completion
}

async fn set_plan(app: &TestApp, admin: &Session, user: &Session, patch: Value) {
    let res = app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            patch,
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
}

async fn a_user_signs_in_with_the_keyboard_and_watches_the_meters_move(app: TestApp) {
    let ada = register(&app, "Ada Lovelace", "ada@example.com").await;
    let mut tokens = 0;
    for (i, usage) in [
        ("chat", "gpt-3.5-turbo", 1_200, 2_400),
        ("chat", "gpt-3.5-turbo", 800, 1_900),
        ("plagiarism", "gpt-3.5-turbo", 2_500, 0),
    ]
    .into_iter()
    .enumerate()
    {
        tokens += track(&app, &ada, usage, &format!("seed-{i}")).await;
    }
    let more = json!([
        {"request_type": "chat", "model": "gpt-3.5-turbo", "prompt_tokens": 1500, "completion_tokens": 3500, "request_id": "later-chat"},
        {"request_type": "prompt", "model": "gpt-3.5-turbo", "prompt_tokens": 400, "completion_tokens": 1100, "request_id": "later-prompt"},
    ]);
    let data = json!({
        "email": "ada@example.com", "password": PASSWORD, "access": ada.access,
        "tokens": tokens, "chats": 2, "more_tracks": more, "tokens_after": tokens + 6_500,
    });
    browse(&app, "user_journey", data).await;
    // Signing out revoked the browser's sign-in; the API session made above is the only one left.
    let live = "SELECT COUNT(DISTINCT family_id) FROM refresh_tokens WHERE revoked_at IS NULL";
    assert_eq!(app.count(live).await, 1);
    let all = "SELECT COUNT(DISTINCT family_id) FROM refresh_tokens";
    assert_eq!(app.count(all).await, 2);
}

async fn history_pages_and_filters_show_what_the_api_recorded(app: TestApp) {
    let admin = app.admin("ops@example.com").await;
    let user = register(&app, "Grace Hopper", "grace@example.com").await;
    set_plan(&app, &admin, &user, json!({"plan": "basic"})).await;
    let (mut plagiarism, mut gpt4) = (0, 0);
    let total = 23;
    for i in 0..total {
        let request_type = ["chat", "plagiarism", "prompt"][i % 3];
        let model = if i % 4 == 0 { "gpt-4" } else { "gpt-3.5-turbo" };
        plagiarism += usize::from(request_type == "plagiarism");
        gpt4 += usize::from(model == "gpt-4");
        let usage = (request_type, model, 100 + i as u64, 50);
        track(&app, &user, usage, &format!("history-{i:02}")).await;
    }
    let data = json!({
        "email": "grace@example.com", "password": PASSWORD,
        "total": total, "plagiarism": plagiarism, "gpt4": gpt4,
    });
    browse(&app, "history", data).await;
}

async fn an_admin_groups_usage_downloads_the_csv_and_lists_users(app: TestApp) {
    let admin = app.admin("ops@example.com").await;
    let grace = register(&app, "Grace Hopper", "grace@example.com").await;
    let linus = register(&app, "Linus Pauling", "linus@example.com").await;
    let ada = register(&app, "Ada Lovelace", "ada@example.com").await;
    set_plan(&app, &admin, &grace, json!({"plan": "basic"})).await;
    let mut models = serde_json::Map::new();
    let mut add = |model: &str, tokens: u64| {
        let entry = models.entry(model.to_owned()).or_insert(json!(0));
        *entry = json!(entry.as_u64().unwrap() + tokens);
    };
    let plan = [
        (&grace, ("chat", "gpt-4", 3_000, 6_000)),
        (&grace, ("chat", "gpt-4", 2_000, 4_500)),
        (&grace, ("plagiarism", "gpt-3.5-turbo", 4_000, 0)),
        (&linus, ("chat", "gpt-3.5-turbo", 1_500, 3_000)),
        (&linus, ("prompt", "gpt-3.5-turbo", 600, 1_400)),
        (&ada, ("chat", "gpt-3.5-turbo", 700, 1_100)),
    ];
    let mut total = 0;
    for (i, (who, usage)) in plan.iter().enumerate() {
        let tokens = track(&app, who, *usage, &format!("admin-{i}")).await;
        add(usage.1, tokens);
        total += tokens;
    }
    set_plan(&app, &admin, &ada, json!({"is_active": false})).await;
    let data = json!({
        "email": "ops@example.com", "password": PASSWORD, "access": admin.access,
        "total_tokens": total, "requests": plan.len(), "models": models,
        "types": ["Chat", "Plagiarism check", "Prompt generation"],
        "users": [
            {"email": "grace@example.com"}, {"email": "linus@example.com"}, {"email": "ada@example.com"},
        ],
        "accounts": 4, "disabled": "ada@example.com", "basic": "grace@example.com",
    });
    browse(&app, "admin", data).await;
}

async fn a_user_is_refused_the_admin_page(app: TestApp) {
    let user = register(&app, "Linus Pauling", "linus@example.com").await;
    let data = json!({"email": "linus@example.com", "password": PASSWORD, "access": user.access});
    browse(&app, "denied", data).await;
}

async fn a_reached_limit_shows_the_402_the_next_request_would_get(app: TestApp) {
    let user = register(&app, "Ada Lovelace", "ada@example.com").await;
    for i in 0..5 {
        let usage = ("plagiarism", "gpt-3.5-turbo", 300, 0);
        track(&app, &user, usage, &format!("check-{i}")).await;
    }
    let res = app
        .post(
            "/api/tokens/me/track",
            Some(&user.access),
            json!({"request_type": "plagiarism", "model": "gpt-3.5-turbo", "prompt_tokens": 300, "request_id": "check-5"}),
        )
        .await;
    expect_error(res, 402, "plagiarism_check_limit_exceeded").await;
    let data = json!({"email": "ada@example.com", "password": PASSWORD});
    browse(&app, "limit_reached", data).await;
}

db_tests!(
    the_page_answers_every_client_route_with_its_security_headers,
    every_file_the_page_names_is_served_with_its_type,
    files_revalidate_by_etag_and_vendored_ones_are_immutable,
    missing_files_and_other_methods_answer_json_errors,
    the_pages_call_only_routes_of_the_public_api,
    a_user_signs_in_with_the_keyboard_and_watches_the_meters_move,
    history_pages_and_filters_show_what_the_api_recorded,
    an_admin_groups_usage_downloads_the_csv_and_lists_users,
    a_user_is_refused_the_admin_page,
    a_reached_limit_shows_the_402_the_next_request_would_get,
);

/// With one-second access tokens: the page refreshes an expired one without a word (the
/// refresh token rotates), and after logout-all it is back at sign-in.
async fn an_expired_session_is_refreshed_and_a_revoked_one_returns_to_sign_in(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &[("ACCESS_TOKEN_TTL", "1s")]).await else {
        return;
    };
    register(&app, "Ada Lovelace", "ada@example.com").await;
    let data = json!({"email": "ada@example.com", "password": PASSWORD});
    browse(&app, "session_expiry", data).await;
    let rotated = "SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NOT NULL";
    assert!(
        app.count(rotated).await >= 1,
        "the page refreshed its token"
    );
    let live = "SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL AND used_at IS NULL";
    assert_eq!(
        app.count(live).await,
        1,
        "logout-all ended every sign-in but the last one"
    );
}

/// With Stripe configured, Upgrade posts a Checkout Session and the browser follows its URL.
async fn upgrade_goes_to_stripe_checkout(backend: Backend) {
    let stripe = StripeMock::start().await;
    // Checkout's hosted page is not Stripe's API: a server of its own serves it.
    let checkout_page = MockServer::start().await;
    let base = stripe.uri();
    let Some(app) = spawn_app_with(
        backend,
        &[
            ("STRIPE_SECRET_KEY", support::SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", support::WEBHOOK_SECRET),
            ("STRIPE_PRICE_BASIC", support::BASIC_MONTHLY),
            ("STRIPE_PRICE_PROFESSIONAL", support::PRO_MONTHLY),
            ("STRIPE_SUCCESS_URL", support::SUCCESS_URL),
            ("STRIPE_CANCEL_URL", support::CANCEL_URL),
            ("STRIPE_API_BASE", base.as_str()),
        ],
    )
    .await
    else {
        return;
    };
    let user = register(&app, "Ada Lovelace", "ada@example.com").await;
    let checkout_url = format!("{}/c/pay/cs_test_dashboard", checkout_page.uri());
    let mut session = fixtures::checkout_session(
        "cs_test_dashboard",
        &user.user_id,
        None,
        Some("ada@example.com"),
    );
    session["url"] = json!(checkout_url);
    support::answer(&stripe, "POST", "/v1/checkout/sessions", 200, session, 1).await;
    Mock::given(method("GET"))
        .and(path("/c/pay/cs_test_dashboard"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<!doctype html><html lang=\"en\"><head><title>Checkout</title>\
             <link rel=\"icon\" href=\"data:,\"></head><body><h1>Stripe Checkout (test double)</h1></body></html>",
            "text/html; charset=utf-8",
        ))
        .expect(1)
        .mount(&checkout_page)
        .await;
    let data =
        json!({"email": "ada@example.com", "password": PASSWORD, "checkout_url": checkout_url});
    browse(&app, "checkout", data).await;
    let sent = support::received_at(&stripe, "POST", "/v1/checkout/sessions").await;
    assert_eq!(sent.len(), 1);
    let form = support::form(&sent[0]);
    assert_eq!(form["client_reference_id"], user.user_id);
    assert_eq!(form["line_items[0][price]"], support::BASIC_MONTHLY);
    assert_eq!(form["mode"], "subscription");
}

mod sessions {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        an_expired_session_is_refreshed_and_a_revoked_one_returns_to_sign_in(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        an_expired_session_is_refreshed_and_a_revoked_one_returns_to_sign_in(Backend::Postgres)
            .await;
    }
}

mod checkout {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        upgrade_goes_to_stripe_checkout(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        upgrade_goes_to_stripe_checkout(Backend::Postgres).await;
    }
}
