//! `/api/admin/users`: role checks, listing, creation, overrides, self-protection, deletion.

use doztra_tests::reqwest::{Method, Response, StatusCode};
use doztra_tests::{PASSWORD, Session, TestApp, db_tests, expect_error};
use serde_json::{Value, json};

const UNKNOWN_ID: &str = "0190c1f4-9a7b-7c3d-8e2f-123456789abc";

async fn body(res: Response) -> Value {
    res.json().await.unwrap()
}

async fn ok_json(res: Response) -> Value {
    let status = res.status();
    let value: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "body: {value}");
    value
}

/// Creates an account through the admin API; returns the created user object.
async fn create(app: &TestApp, admin: &Session, payload: Value) -> Value {
    let res = app
        .post("/api/admin/users", Some(&admin.access), payload)
        .await;
    let status = res.status();
    let value = body(res).await;
    assert_eq!(status, StatusCode::CREATED, "create: {value}");
    value
}

async fn create_named(
    app: &TestApp,
    admin: &Session,
    email: &str,
    name: &str,
    plan: &str,
) -> Value {
    create(
        app,
        admin,
        json!({"name": name, "email": email, "password": PASSWORD, "plan": plan}),
    )
    .await
}

async fn list(app: &TestApp, admin: &Session, query: &str) -> Value {
    ok_json(
        app.get(&format!("/api/admin/users?{query}"), Some(&admin.access))
            .await,
    )
    .await
}

fn emails(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

/// Every admin endpoint, as (method, path, body).
fn admin_endpoints(target: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/admin/users".to_owned(), None),
        (
            Method::POST,
            "/api/admin/users".to_owned(),
            Some(
                json!({"name": "X", "email": "new@example.com", "password": PASSWORD, "role": "admin"}),
            ),
        ),
        (Method::GET, format!("/api/admin/users/{target}"), None),
        (
            Method::PATCH,
            format!("/api/admin/users/{target}"),
            Some(json!({"role": "admin"})),
        ),
        (Method::DELETE, format!("/api/admin/users/{target}"), None),
    ]
}

async fn a_plain_user_gets_admin_required_on_every_admin_endpoint(app: TestApp) {
    let user = app.user("plain@example.com").await;
    let other = app.user("other@example.com").await;
    for (method, path, payload) in admin_endpoints(&other.user_id) {
        let res = app
            .request(method.clone(), &path, Some(&user.access), payload)
            .await;
        let b = body_of(res, 403, "admin_required").await;
        assert!(b.get("errors").is_none(), "{method} {path}: {b}");
    }
    // Nothing was done on the plain user's behalf.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'new@example.com'")
            .await,
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE role = 'admin'")
            .await,
        0
    );
}

async fn body_of(res: Response, status: u16, code: &str) -> Value {
    expect_error(res, status, code).await
}

async fn a_request_without_a_token_gets_not_authenticated_on_every_admin_endpoint(app: TestApp) {
    let other = app.user("other@example.com").await;
    for (method, path, payload) in admin_endpoints(&other.user_id) {
        let res = app.request(method, &path, None, payload).await;
        expect_error(res, 401, "not_authenticated").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

async fn the_listing_paginates_and_reports_totals(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    for i in 0..4 {
        app.register(&format!("page{i}@example.com")).await;
    }
    // 5 accounts in all (the admin included).
    let first = list(&app, &admin, "page=1&limit=2").await;
    assert_eq!(first["total_records"], 5);
    assert_eq!(first["total_pages"], 3);
    assert_eq!(first["current_page"], 1);
    assert_eq!(first["records_per_page"], 2);
    assert_eq!(first["users"].as_array().unwrap().len(), 2);

    let second = list(&app, &admin, "page=2&limit=2").await;
    assert_eq!(second["current_page"], 2);
    assert_eq!(second["users"].as_array().unwrap().len(), 2);
    let third = list(&app, &admin, "page=3&limit=2").await;
    assert_eq!(third["users"].as_array().unwrap().len(), 1);

    // The pages do not overlap and together hold every account.
    let mut all: Vec<String> = [emails(&first), emails(&second), emails(&third)].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5, "pages overlap: {all:?}");

    let beyond = list(&app, &admin, "page=4&limit=2").await;
    assert_eq!(beyond["total_records"], 5);
    assert_eq!(beyond["total_pages"], 3);
    assert_eq!(beyond["current_page"], 4);
    assert_eq!(beyond["users"], json!([]));

    // Defaults: page 1, 20 per page, newest first.
    let default = list(&app, &admin, "").await;
    assert_eq!(default["current_page"], 1);
    assert_eq!(default["records_per_page"], 20);
    assert_eq!(default["total_pages"], 1);
    assert_eq!(default["users"].as_array().unwrap().len(), 5);
    assert_eq!(default["users"][0]["email"], "page3@example.com");
    assert_eq!(default["users"][4]["email"], "admin@example.com");
    // Each entry carries its subscription.
    assert_eq!(default["users"][0]["subscription"]["plan"], "free");
    assert!(default["users"][0].get("password_hash").is_none());
}

/// Huge page numbers must not overflow the offset (page - 1) * limit, nor exceed what the
/// database can bind (i64): an empty page or a 422, never a dropped connection.
async fn a_page_far_beyond_the_end_is_empty_not_an_error(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let mut failures = Vec::new();
    for query in [
        "page=1000000&limit=100",
        "page=9223372036854775807&limit=1",
        "page=18446744073709551615&limit=1",
        "page=9223372036854775807&limit=100",
        "page=18446744073709551615&limit=100",
    ] {
        let sent = app
            .client
            .get(app.url(&format!("/api/admin/users?{query}")))
            .bearer_auth(&admin.access)
            .send()
            .await;
        let res = match sent {
            Ok(res) => res,
            Err(e) => {
                failures.push(format!("{query}: no response ({e:?})"));
                continue;
            }
        };
        let status = res.status().as_u16();
        let b: Value = res.json().await.unwrap();
        let fine = match status {
            200 => b["users"] == json!([]) && b["total_records"] == 1,
            422 => b["code"] == "validation_error",
            _ => false,
        };
        if !fine {
            failures.push(format!("{query}: {status} {b}"));
        }
    }
    // The server still answers.
    assert_eq!(list(&app, &admin, "").await["total_records"], 1);
    assert!(failures.is_empty(), "{failures:#?}");
}

async fn the_listing_filters_by_q_case_insensitively_on_email_and_name(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    create_named(
        &app,
        &admin,
        "alice.smith@example.com",
        "Alice Smith",
        "free",
    )
    .await;
    create_named(&app, &admin, "bob@example.com", "Bob MacGregor", "free").await;
    create_named(&app, &admin, "carol@example.com", "Carol Jones", "free").await;

    // On the email, whatever the case of the query.
    let page = list(&app, &admin, "q=ALICE.SM").await;
    assert_eq!(emails(&page), ["alice.smith@example.com"]);
    assert_eq!(page["total_records"], 1);

    // On the name, whatever the case of the name or of the query.
    let page = list(&app, &admin, "q=macgregor").await;
    assert_eq!(emails(&page), ["bob@example.com"]);
    let page = list(&app, &admin, "q=JoNeS").await;
    assert_eq!(emails(&page), ["carol@example.com"]);

    // A common substring matches several; no match is an empty page.
    let page = list(&app, &admin, "q=EXAMPLE.COM").await;
    assert_eq!(page["total_records"], 4);
    let page = list(&app, &admin, "q=nobody-here").await;
    assert_eq!(page["total_records"], 0);
    assert_eq!(page["total_pages"], 0);
    assert_eq!(page["users"], json!([]));

    // LIKE wildcards in q are literal.
    let page = list(&app, &admin, "q=%25").await;
    assert_eq!(page["total_records"], 0, "{page}");
    let page = list(&app, &admin, "q=_").await;
    assert_eq!(page["total_records"], 0, "{page}");
}

async fn the_listing_filters_by_role_plan_and_is_active(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    create_named(&app, &admin, "free@example.com", "Free", "free").await;
    create_named(&app, &admin, "basic@example.com", "Basic", "basic").await;
    let pro = create_named(&app, &admin, "pro@example.com", "Pro", "professional").await;
    create(
        &app,
        &admin,
        json!({"name": "Second Admin", "email": "admin2@example.com", "password": PASSWORD, "role": "admin"}),
    )
    .await;
    let res = app
        .patch(
            &format!("/api/admin/users/{}", pro["id"].as_str().unwrap()),
            Some(&admin.access),
            json!({"is_active": false}),
        )
        .await;
    ok_json(res).await;

    let mut admins = emails(&list(&app, &admin, "role=admin").await);
    admins.sort();
    assert_eq!(admins, ["admin2@example.com", "admin@example.com"]);
    let users = list(&app, &admin, "role=user").await;
    assert_eq!(users["total_records"], 3);

    assert_eq!(
        emails(&list(&app, &admin, "plan=basic").await),
        ["basic@example.com"]
    );
    assert_eq!(
        emails(&list(&app, &admin, "plan=professional").await),
        ["pro@example.com"]
    );
    assert_eq!(list(&app, &admin, "plan=free").await["total_records"], 3);

    assert_eq!(
        emails(&list(&app, &admin, "is_active=false").await),
        ["pro@example.com"]
    );
    assert_eq!(
        list(&app, &admin, "is_active=true").await["total_records"],
        4
    );

    // Filters combine.
    assert_eq!(
        list(&app, &admin, "role=user&plan=free&is_active=true&q=free").await["total_records"],
        1
    );
    assert_eq!(
        list(&app, &admin, "role=admin&plan=basic").await["total_records"],
        0
    );
}

async fn the_listing_sorts_by_email_and_name_in_both_orders(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    // Email order is the reverse of name order.
    create_named(&app, &admin, "alpha@sorted.test", "Zulu", "free").await;
    create_named(&app, &admin, "bravo@sorted.test", "Yankee", "free").await;
    create_named(&app, &admin, "charlie@sorted.test", "Xray", "free").await;
    let abc = [
        "alpha@sorted.test",
        "bravo@sorted.test",
        "charlie@sorted.test",
    ];
    let cba = [
        "charlie@sorted.test",
        "bravo@sorted.test",
        "alpha@sorted.test",
    ];

    assert_eq!(
        emails(&list(&app, &admin, "q=sorted&sort=email").await),
        abc
    );
    assert_eq!(
        emails(&list(&app, &admin, "q=sorted&sort=email&order=asc").await),
        abc
    );
    assert_eq!(
        emails(&list(&app, &admin, "q=sorted&sort=email&order=desc").await),
        cba
    );
    assert_eq!(emails(&list(&app, &admin, "q=sorted&sort=name").await), cba);
    assert_eq!(
        emails(&list(&app, &admin, "q=sorted&sort=name&order=asc").await),
        cba
    );
    assert_eq!(
        emails(&list(&app, &admin, "q=sorted&sort=name&order=desc").await),
        abc
    );
    assert_eq!(
        emails(&list(&app, &admin, "q=sorted&sort=created_at&order=asc").await),
        abc
    );
    assert_eq!(
        emails(&list(&app, &admin, "q=sorted&sort=created_at&order=desc").await),
        cba
    );
}

async fn bad_listing_parameters_are_unprocessable(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    for query in [
        "sort=password_hash",
        "sort=",
        "order=sideways",
        "limit=0",
        "limit=101",
        "page=0",
        "role=superuser",
        "plan=gold",
    ] {
        let res = app
            .get(&format!("/api/admin/users?{query}"), Some(&admin.access))
            .await;
        let b = expect_error(res, 422, "validation_error").await;
        assert!(
            b["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{query}: {b}"
        );
    }
    for query in ["limit=-1", "page=abc", "is_active=maybe"] {
        let res = app
            .get(&format!("/api/admin/users?{query}"), Some(&admin.access))
            .await;
        let b = expect_error(res, 422, "validation_error").await;
        let named = query.split('=').next().unwrap();
        assert_eq!(b["errors"][0]["field"], named, "{query}: {b}");
    }
    // Parameters that do not parse are named together (each is tried on its own).
    let res = app
        .get(
            "/api/admin/users?page=abc&limit=-1&is_active=maybe&role=user&q=x",
            Some(&admin.access),
        )
        .await;
    let b = expect_error(res, 422, "validation_error").await;
    let fields = doztra_tests::error_fields(&b);
    assert_eq!(fields, ["page", "limit", "is_active"], "{b}");
    // A parameter given twice is the query's fault, not one parameter's.
    let res = app
        .get("/api/admin/users?page=1&page=2", Some(&admin.access))
        .await;
    let b = expect_error(res, 422, "validation_error").await;
    assert_eq!(b["errors"][0]["field"], "query", "{b}");
    // The bounds themselves are fine.
    assert_eq!(list(&app, &admin, "limit=1").await["records_per_page"], 1);
    assert_eq!(
        list(&app, &admin, "limit=100").await["records_per_page"],
        100
    );
}

async fn a_listing_with_a_bad_role_sort_and_order_answers_one_422_naming_all_three(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let res = app
        .get(
            "/api/admin/users?role=superuser&sort=password_hash&order=sideways",
            Some(&admin.access),
        )
        .await;
    let b = expect_error(res, 422, "validation_error").await;
    let mut fields = doztra_tests::error_fields(&b);
    fields.sort_unstable();
    assert_eq!(fields, ["order", "role", "sort"], "{b}");
    assert_eq!(b["detail"], "The request has 3 invalid fields.", "{b}");
    // A bad page and a bad page size are named together too.
    let res = app
        .get("/api/admin/users?page=0&limit=101", Some(&admin.access))
        .await;
    let b = expect_error(res, 422, "validation_error").await;
    let fields = doztra_tests::error_fields(&b);
    assert_eq!(fields, ["page", "limit"], "{b}");
}

/// The role is checked before anything else: a plain user learns nothing from a 422.
async fn a_plain_user_gets_admin_required_before_any_validation(app: TestApp) {
    let user = app.user("plain@example.com").await;
    let other = app.user("other@example.com").await;
    let res = app
        .get("/api/admin/users?sort=password_hash", Some(&user.access))
        .await;
    expect_error(res, 403, "admin_required").await;
    let res = app
        .post(
            "/api/admin/users",
            Some(&user.access),
            json!({"name": "", "email": "nope", "password": "short", "role": "root"}),
        )
        .await;
    expect_error(res, 403, "admin_required").await;
    let res = patch(&app, &user, &other.user_id, json!({"plan": "gold"})).await;
    expect_error(res, 403, "admin_required").await;
    // Also what fails before any field is looked at (a query or body that does not
    // deserialize, a body that is no JSON): actix reads a handler's arguments together.
    for path in [
        "/api/admin/users?page=abc",
        "/api/admin/users?is_active=maybe",
        "/api/tokens/admin/usage?group_by=day&group_by=user",
    ] {
        let res = app.get(path, Some(&user.access)).await;
        expect_error(res, 403, "admin_required").await;
        let res = app.get(path, None).await;
        expect_error(res, 401, "not_authenticated").await;
    }
    let res = patch(&app, &user, &other.user_id, json!({"token_limit": "x"})).await;
    expect_error(res, 403, "admin_required").await;
    let res = app
        .post("/api/admin/users", Some(&user.access), json!({"name": "n"}))
        .await;
    expect_error(res, 403, "admin_required").await;
    let res = app
        .client
        .post(app.url("/api/admin/webhooks"))
        .bearer_auth(&user.access)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, 403, "admin_required").await;
    // The API keys and the outgoing webhooks of the admin scope too.
    let res = app
        .post(
            "/api/admin/api-keys",
            Some(&user.access),
            json!({"name": "", "scopes": ["root"]}),
        )
        .await;
    expect_error(res, 403, "admin_required").await;
    let res = app
        .post(
            "/api/admin/webhooks",
            Some(&user.access),
            json!({"url": "not a url", "event_types": ["nope"]}),
        )
        .await;
    expect_error(res, 403, "admin_required").await;
}

async fn getting_one_user_returns_the_full_object_with_subscription_and_preferences(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("someone@example.com").await;
    let res = app
        .get(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
        )
        .await;
    let u = ok_json(res).await;
    assert_eq!(u["id"], user.user_id.as_str());
    assert_eq!(u["email"], "someone@example.com");
    assert_eq!(u["name"], "Test User");
    assert_eq!(u["role"], "user");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["is_verified"], false);
    for key in ["created_at", "updated_at"] {
        let at = u[key].as_str().unwrap();
        assert!(at.ends_with('Z') && at.contains('.'), "{key}: {at}");
    }
    assert!(u.get("last_login").is_some());
    assert!(u.get("password_hash").is_none() && u.get("password").is_none());

    let s = &u["subscription"];
    assert_eq!(s["user_id"], user.user_id.as_str());
    assert_eq!(s["plan"], "free");
    assert_eq!(s["status"], "active");
    assert_eq!(s["is_active"], true);
    assert_eq!(s["token_limit"], Value::Null);
    assert_eq!(s["max_model_tier"], "gpt-3.5-turbo");
    for key in [
        "id",
        "start_date",
        "expires_at",
        "auto_renew",
        "stripe_customer_id",
        "stripe_subscription_id",
        "payment_method_id",
        "created_at",
        "updated_at",
    ] {
        assert!(s.get(key).is_some(), "subscription.{key} missing: {s}");
    }

    let p = &u["preferences"];
    assert_eq!(p["user_id"], user.user_id.as_str());
    assert_eq!(p["theme"], "light");
    assert_eq!(p["notifications"], true);
    assert_eq!(p["default_model"], "gpt-3.5-turbo");
    for key in ["id", "created_at", "updated_at"] {
        assert!(p.get(key).is_some(), "preferences.{key} missing: {p}");
    }

    // The same object the user sees for itself.
    let me = ok_json(app.get("/api/users/me", Some(&user.access)).await).await;
    assert_eq!(me, u);
}

async fn an_unknown_or_malformed_user_id_is_not_found(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let res = app
        .get(
            &format!("/api/admin/users/{UNKNOWN_ID}"),
            Some(&admin.access),
        )
        .await;
    expect_error(res, 404, "not_found").await;
    for bad in ["not-a-uuid", "123", "0190c1f4-9a7b-7c3d-8e2f-12345678"] {
        let res = app
            .get(&format!("/api/admin/users/{bad}"), Some(&admin.access))
            .await;
        expect_error(res, 404, "not_found").await;
        let res = app
            .patch(
                &format!("/api/admin/users/{bad}"),
                Some(&admin.access),
                json!({"is_verified": true}),
            )
            .await;
        expect_error(res, 404, "not_found").await;
        let res = app
            .delete(&format!("/api/admin/users/{bad}"), Some(&admin.access))
            .await;
        expect_error(res, 404, "not_found").await;
    }
}

async fn an_admin_creates_an_admin_on_the_basic_plan(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let res = app
        .post(
            "/api/admin/users",
            Some(&admin.access),
            json!({"name": "  New Admin ", "email": "  New.Admin@Example.COM ", "password": "Another-Passw0rd",
                   "role": "admin", "plan": "basic"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let u = body(res).await;
    assert_eq!(u["email"], "new.admin@example.com");
    assert_eq!(u["name"], "New Admin");
    assert_eq!(u["role"], "admin");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["subscription"]["plan"], "basic");
    assert_eq!(u["subscription"]["status"], "active");
    assert_eq!(u["subscription"]["max_model_tier"], "gpt-4");
    assert_eq!(u["subscription"]["token_limit"], Value::Null);
    assert!(u["preferences"]["theme"].is_string(), "{u}");
    assert!(
        u.get("access_token").is_none(),
        "no session for the admin: {u}"
    );

    // The stored account works: it signs in and is an admin.
    let created = app.login("new.admin@example.com", "Another-Passw0rd").await;
    let res = app.get("/api/admin/users", Some(&created.access)).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Defaults: role user, plan free.
    let plain = create(
        &app,
        &admin,
        json!({"name": "Plain", "email": "plain@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(plain["role"], "user");
    assert_eq!(plain["subscription"]["plan"], "free");
    assert_eq!(plain["subscription"]["max_model_tier"], "gpt-3.5-turbo");

    // Professional: the top tier, unlimited.
    let pro = create_named(&app, &admin, "pro@example.com", "Pro", "professional").await;
    assert_eq!(pro["subscription"]["max_model_tier"], "gpt-4-turbo");
}

async fn creating_a_user_with_a_taken_email_is_a_conflict(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    app.register("dup@example.com").await;
    for email in ["dup@example.com", "DUP@Example.com", " dup@example.com "] {
        let res = app
            .post(
                "/api/admin/users",
                Some(&admin.access),
                json!({"name": "Dup", "email": email, "password": PASSWORD}),
            )
            .await;
        expect_error(res, 409, "email_taken").await;
    }
    // The admin's own email is taken too.
    let res = app
        .post(
            "/api/admin/users",
            Some(&admin.access),
            json!({"name": "Dup", "email": "admin@example.com", "password": PASSWORD}),
        )
        .await;
    expect_error(res, 409, "email_taken").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);
}

async fn creating_a_user_with_a_weak_password_is_refused(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    for password in ["password", "12345678", "short", &"x".repeat(129)] {
        let res = app
            .post(
                "/api/admin/users",
                Some(&admin.access),
                json!({"name": "Weak", "email": "weak@example.com", "password": password}),
            )
            .await;
        let b = expect_error(res, 422, "weak_password").await;
        assert_eq!(b["errors"][0]["field"], "password", "{b}");
    }
    // Other invalid input is a plain validation error naming the fields.
    let res = app
        .post(
            "/api/admin/users",
            Some(&admin.access),
            json!({"name": "", "email": "not-an-email", "password": PASSWORD, "role": "root", "plan": "gold"}),
        )
        .await;
    let b = expect_error(res, 422, "validation_error").await;
    let mut fields = doztra_tests::error_fields(&b);
    fields.sort_unstable();
    assert_eq!(fields, ["email", "name", "plan", "role"], "{b}");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

async fn patch(app: &TestApp, admin: &Session, id: &str, payload: Value) -> Response {
    app.patch(
        &format!("/api/admin/users/{id}"),
        Some(&admin.access),
        payload,
    )
    .await
}

async fn patching_the_plan_to_professional_raises_the_max_model_tier(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    let u =
        ok_json(patch(&app, &admin, &user.user_id, json!({"plan": "professional"})).await).await;
    assert_eq!(u["subscription"]["plan"], "professional");
    assert_eq!(u["subscription"]["status"], "active");
    assert_eq!(u["subscription"]["is_active"], true);
    assert_eq!(u["subscription"]["max_model_tier"], "gpt-4-turbo");
    // The user sees it too.
    let me = ok_json(app.get("/api/users/me", Some(&user.access)).await).await;
    assert_eq!(me["subscription"]["plan"], "professional");
    assert_eq!(me["subscription"]["max_model_tier"], "gpt-4-turbo");

    let u = ok_json(patch(&app, &admin, &user.user_id, json!({"plan": "basic"})).await).await;
    assert_eq!(u["subscription"]["max_model_tier"], "gpt-4");
    let u = ok_json(patch(&app, &admin, &user.user_id, json!({"plan": "free"})).await).await;
    assert_eq!(u["subscription"]["max_model_tier"], "gpt-3.5-turbo");
}

async fn a_token_limit_override_shows_in_the_subscription_and_null_clears_it(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    let u = ok_json(patch(&app, &admin, &user.user_id, json!({"token_limit": 1234})).await).await;
    assert_eq!(u["subscription"]["token_limit"], 1234);
    let got = ok_json(
        app.get(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    assert_eq!(got["subscription"]["token_limit"], 1234);

    // A patch that does not name token_limit leaves it alone.
    let u = ok_json(patch(&app, &admin, &user.user_id, json!({"is_verified": true})).await).await;
    assert_eq!(u["subscription"]["token_limit"], 1234);
    assert_eq!(u["is_verified"], true);

    // Zero is a legal limit.
    let u = ok_json(patch(&app, &admin, &user.user_id, json!({"token_limit": 0})).await).await;
    assert_eq!(u["subscription"]["token_limit"], 0);

    let u = ok_json(patch(&app, &admin, &user.user_id, json!({"token_limit": null})).await).await;
    assert_eq!(u["subscription"]["token_limit"], Value::Null);
    let me = ok_json(app.get("/api/users/me", Some(&user.access)).await).await;
    assert_eq!(me["subscription"]["token_limit"], Value::Null);
}

async fn a_max_model_tier_override_shows_in_the_subscription_and_null_clears_it(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    let u = ok_json(
        patch(
            &app,
            &admin,
            &user.user_id,
            json!({"max_model_tier": "gpt-4-turbo"}),
        )
        .await,
    )
    .await;
    assert_eq!(u["subscription"]["plan"], "free");
    assert_eq!(u["subscription"]["max_model_tier"], "gpt-4-turbo");
    let me = ok_json(app.get("/api/users/me", Some(&user.access)).await).await;
    assert_eq!(me["subscription"]["max_model_tier"], "gpt-4-turbo");

    let u =
        ok_json(patch(&app, &admin, &user.user_id, json!({"max_model_tier": null})).await).await;
    assert_eq!(u["subscription"]["max_model_tier"], "gpt-3.5-turbo");
}

async fn an_invalid_plan_tier_or_role_in_a_patch_is_unprocessable(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    for (payload, field) in [
        (json!({"plan": "gold"}), "plan"),
        (json!({"max_model_tier": "gpt-5"}), "max_model_tier"),
        (json!({"role": "superuser"}), "role"),
    ] {
        let res = patch(&app, &admin, &user.user_id, payload.clone()).await;
        let b = expect_error(res, 422, "validation_error").await;
        assert!(
            b["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{payload}: {b}"
        );
    }
    // Wrong JSON types too.
    for payload in [
        json!({"is_active": "no"}),
        json!({"token_limit": "lots"}),
        json!({"plan": 3}),
    ] {
        let res = patch(&app, &admin, &user.user_id, payload).await;
        expect_error(res, 422, "validation_error").await;
    }
    // Nothing changed.
    let u = ok_json(
        app.get(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    assert_eq!(u["role"], "user");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["subscription"]["plan"], "free");
    assert_eq!(u["subscription"]["max_model_tier"], "gpt-3.5-turbo");
}

async fn a_negative_token_limit_is_unprocessable(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    let res = patch(&app, &admin, &user.user_id, json!({"token_limit": -1})).await;
    let b = expect_error(res, 422, "validation_error").await;
    assert_eq!(b["errors"][0]["field"], "token_limit", "{b}");
    // The whole patch is refused, not half applied.
    let res = patch(
        &app,
        &admin,
        &user.user_id,
        json!({"plan": "basic", "token_limit": -5}),
    )
    .await;
    expect_error(res, 422, "validation_error").await;
    let u = ok_json(
        app.get(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    assert_eq!(u["subscription"]["plan"], "free");
    assert_eq!(u["subscription"]["token_limit"], Value::Null);
}

async fn mass_assignment_fields_in_a_patch_are_ignored(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    let before = ok_json(
        app.get(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
        )
        .await,
    )
    .await;
    let u = ok_json(
        patch(
            &app,
            &admin,
            &user.user_id,
            json!({
                "id": UNKNOWN_ID,
                "email": "hijack@example.com",
                "created_at": "2001-01-01T00:00:00.000Z",
                "password_hash": "x",
                "tokens_valid_after": "2001-01-01T00:00:00.000Z",
                "is_verified": true
            }),
        )
        .await,
    )
    .await;
    assert_eq!(u["id"], user.user_id.as_str());
    assert_eq!(u["email"], "u@example.com");
    assert_eq!(u["created_at"], before["created_at"]);
    assert_eq!(u["is_verified"], true);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'hijack@example.com'")
            .await,
        0
    );
    // The password and the session still work.
    app.login("u@example.com", PASSWORD).await;
    let res = app.get("/api/users/me", Some(&user.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get(
            &format!("/api/admin/users/{UNKNOWN_ID}"),
            Some(&admin.access),
        )
        .await;
    expect_error(res, 404, "not_found").await;
}

async fn role_changes_by_another_admin_take_effect_on_the_next_request(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    // Promote: the user's existing token now opens the admin API.
    let u = ok_json(patch(&app, &admin, &user.user_id, json!({"role": "admin"})).await).await;
    assert_eq!(u["role"], "admin");
    let res = app.get("/api/admin/users", Some(&user.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Demote again (by the other admin): the same token loses it at once.
    let u = ok_json(patch(&app, &admin, &user.user_id, json!({"role": "user"})).await).await;
    assert_eq!(u["role"], "user");
    let res = app.get("/api/admin/users", Some(&user.access)).await;
    expect_error(res, 403, "admin_required").await;
}

async fn mass_assignment_fields_on_create_are_ignored(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let u = create(
        &app,
        &admin,
        json!({"name": "New", "email": "new@example.com", "password": PASSWORD,
               "id": UNKNOWN_ID, "created_at": "2001-01-01T00:00:00.000Z",
               "password_hash": "$argon2id$fake", "token_limit": 5, "max_model_tier": "gpt-4-turbo"}),
    )
    .await;
    assert_ne!(u["id"], UNKNOWN_ID);
    assert!(
        !u["created_at"].as_str().unwrap().starts_with("2001"),
        "{u}"
    );
    assert_eq!(u["subscription"]["token_limit"], Value::Null);
    assert_eq!(u["subscription"]["max_model_tier"], "gpt-3.5-turbo");
    app.login("new@example.com", PASSWORD).await;
}

async fn an_admin_cannot_demote_disable_or_delete_itself(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    // Another active admin: the self rule holds even then (as the last one it is 409
    // `last_admin`, see security_admin.rs).
    app.admin("other-admin@example.com").await;
    let me = format!("/api/admin/users/{}", admin.user_id);
    for payload in [
        json!({"role": "user"}),
        json!({"is_active": false}),
        json!({"role": "user", "is_active": false}),
        // A legal change alongside does not sneak through either.
        json!({"role": "user", "plan": "professional"}),
    ] {
        let res = app.patch(&me, Some(&admin.access), payload).await;
        expect_error(res, 403, "forbidden_self_change").await;
    }
    let res = app.delete(&me, Some(&admin.access)).await;
    expect_error(res, 403, "forbidden_self_change").await;

    // Nothing changed: still an active admin on the free plan, still signed in.
    let u = ok_json(app.get(&me, Some(&admin.access)).await).await;
    assert_eq!(u["role"], "admin");
    assert_eq!(u["is_active"], true);
    assert_eq!(u["subscription"]["plan"], "free");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": admin.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Harmless self-changes are allowed.
    let u = ok_json(
        app.patch(
            &me,
            Some(&admin.access),
            json!({"role": "admin", "is_active": true, "plan": "basic"}),
        )
        .await,
    )
    .await;
    assert_eq!(u["subscription"]["plan"], "basic");
}

async fn disable(app: &TestApp, admin: &Session, id: &str) {
    let u = ok_json(patch(app, admin, id, json!({"is_active": false})).await).await;
    assert_eq!(u["is_active"], false);
}

async fn a_disabled_users_access_token_gets_account_disabled(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    disable(&app, &admin, &user.user_id).await;
    let res = app.get("/api/users/me", Some(&user.access)).await;
    expect_error(res, 403, "account_disabled").await;
}

async fn a_disabled_users_refresh_token_no_longer_works(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    disable(&app, &admin, &user.user_id).await;
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": user.refresh}),
        )
        .await;
    let status = res.status().as_u16();
    assert!(
        status == 401 || status == 403,
        "refresh after disable: {status}"
    );
    let b = body(res).await;
    assert!(
        ["invalid_token", "account_disabled"].contains(&b["code"].as_str().unwrap_or("")),
        "{b}"
    );
    // Every stored session of the user is revoked.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL")
            .await,
        1,
        "only the admin's session stays live"
    );
}

async fn a_disabled_user_cannot_sign_in_and_can_again_once_enabled(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("u@example.com").await;
    disable(&app, &admin, &user.user_id).await;
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "u@example.com", "password": PASSWORD}),
        )
        .await;
    expect_error(res, 403, "account_disabled").await;
    // A wrong password does not reveal the state.
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "u@example.com", "password": "Wrong-Password-1"}),
        )
        .await;
    expect_error(res, 401, "invalid_credentials").await;
    // The listing shows it.
    let page = list(&app, &admin, "is_active=false").await;
    assert_eq!(emails(&page), ["u@example.com"]);

    ok_json(patch(&app, &admin, &user.user_id, json!({"is_active": true})).await).await;
    let again = app.login("u@example.com", PASSWORD).await;
    let res = app.get("/api/users/me", Some(&again.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The token issued before the lock stays dead.
    let res = app.get("/api/users/me", Some(&user.access)).await;
    assert_eq!(res.status().as_u16(), 401);
}

async fn deleting_a_user_removes_it_and_everything_it_owns(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let victim = app.user("victim@example.com").await;
    app.login("victim@example.com", PASSWORD).await;
    let bystander = app.user("bystander@example.com").await;

    let tables = [
        "users",
        "refresh_tokens",
        "subscriptions",
        "user_preferences",
    ];
    let mut before = Vec::new();
    for t in tables {
        before.push(app.count(&format!("SELECT COUNT(*) FROM {t}")).await);
    }
    let res = app
        .delete(
            &format!("/api/admin/users/{}", victim.user_id),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.bytes().await.unwrap().is_empty());

    let mut after = Vec::new();
    for t in tables {
        after.push(app.count(&format!("SELECT COUNT(*) FROM {t}")).await);
    }
    assert_eq!(before[0] - after[0], 1, "users");
    assert_eq!(before[1] - after[1], 2, "refresh_tokens (two sign-ins)");
    assert_eq!(before[2] - after[2], 1, "subscriptions");
    assert_eq!(before[3] - after[3], 1, "user_preferences");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'victim@example.com'")
            .await,
        0
    );

    let res = app
        .get(
            &format!("/api/admin/users/{}", victim.user_id),
            Some(&admin.access),
        )
        .await;
    expect_error(res, 404, "not_found").await;
    // The victim's tokens are dead.
    let res = app.get("/api/users/me", Some(&victim.access)).await;
    expect_error(res, 401, "invalid_token").await;
    let res = app
        .post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": victim.refresh}),
        )
        .await;
    expect_error(res, 401, "invalid_token").await;
    // Deleting again is a 404; others are untouched.
    let res = app
        .delete(
            &format!("/api/admin/users/{}", victim.user_id),
            Some(&admin.access),
        )
        .await;
    expect_error(res, 404, "not_found").await;
    let res = app.get("/api/users/me", Some(&bystander.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The email is free again.
    app.register("victim@example.com").await;
}

async fn deleting_or_patching_an_unknown_user_is_not_found(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let path = format!("/api/admin/users/{UNKNOWN_ID}");
    let res = app.delete(&path, Some(&admin.access)).await;
    expect_error(res, 404, "not_found").await;
    let res = app
        .patch(&path, Some(&admin.access), json!({"plan": "basic"}))
        .await;
    expect_error(res, 404, "not_found").await;
    let res = app
        .patch(&path, Some(&admin.access), json!({"token_limit": 5}))
        .await;
    expect_error(res, 404, "not_found").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

db_tests!(
    a_plain_user_gets_admin_required_on_every_admin_endpoint,
    a_request_without_a_token_gets_not_authenticated_on_every_admin_endpoint,
    the_listing_paginates_and_reports_totals,
    a_page_far_beyond_the_end_is_empty_not_an_error,
    the_listing_filters_by_q_case_insensitively_on_email_and_name,
    the_listing_filters_by_role_plan_and_is_active,
    the_listing_sorts_by_email_and_name_in_both_orders,
    bad_listing_parameters_are_unprocessable,
    a_listing_with_a_bad_role_sort_and_order_answers_one_422_naming_all_three,
    a_plain_user_gets_admin_required_before_any_validation,
    getting_one_user_returns_the_full_object_with_subscription_and_preferences,
    an_unknown_or_malformed_user_id_is_not_found,
    an_admin_creates_an_admin_on_the_basic_plan,
    creating_a_user_with_a_taken_email_is_a_conflict,
    creating_a_user_with_a_weak_password_is_refused,
    patching_the_plan_to_professional_raises_the_max_model_tier,
    a_token_limit_override_shows_in_the_subscription_and_null_clears_it,
    a_max_model_tier_override_shows_in_the_subscription_and_null_clears_it,
    an_invalid_plan_tier_or_role_in_a_patch_is_unprocessable,
    a_negative_token_limit_is_unprocessable,
    mass_assignment_fields_in_a_patch_are_ignored,
    role_changes_by_another_admin_take_effect_on_the_next_request,
    mass_assignment_fields_on_create_are_ignored,
    an_admin_cannot_demote_disable_or_delete_itself,
    a_disabled_users_access_token_gets_account_disabled,
    a_disabled_users_refresh_token_no_longer_works,
    a_disabled_user_cannot_sign_in_and_can_again_once_enabled,
    deleting_a_user_removes_it_and_everything_it_owns,
    deleting_or_patching_an_unknown_user_is_not_found,
);
