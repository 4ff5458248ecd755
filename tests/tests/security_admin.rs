//! Abuse of what accounts and admins may write (issue 12): mailbox syntax smuggled into an email
//! address. Each test reproduces an attack.

use doztra_tests::{PASSWORD, TestApp, db_tests, expect_error};
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
async fn expect_invalid_email(res: doztra_tests::reqwest::Response, raw: &str) {
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

db_tests!(
    registration_refuses_mailbox_syntax_in_the_email,
    admin_creation_refuses_mailbox_syntax_in_the_email,
    a_profile_change_refuses_mailbox_syntax_in_the_email,
);
