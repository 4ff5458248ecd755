//! Email verification and password reset, through the file outbox and through real SMTP.

use doztra_tests::smtp_sink::SmtpSink;
use doztra_tests::{
    Backend, PASSWORD, TestApp, db_tests, expect_error, link_token, spawn_app_with,
};
use serde_json::{Value, json};

async fn registration_sends_a_link_that_verifies_the_address_once(app: TestApp) {
    let me = app.user("verify@example.com").await;
    let mails = app.wait_for_emails("verify@example.com", 1).await;
    let mail = &mails[0];
    assert!(
        mail.contains("Subject: Confirm your email address"),
        "{mail}"
    );
    assert!(
        mail.contains("https://app.example.com/verify-email?token="),
        "{mail}"
    );
    let token = link_token(mail);
    assert!(token.len() >= 43, "256-bit token: {token}");
    // The token is stored only as a hash.
    let raw = app
        .count(&format!(
            "SELECT COUNT(*) FROM email_tokens WHERE token_hash = '{token}'"
        ))
        .await;
    assert_eq!(raw, 0);

    let res = app
        .post(&format!("/api/auth/verify-email/{token}"), None, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let me_body: Value = app
        .get("/api/users/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me_body["is_verified"], true);
    let res = app
        .post(&format!("/api/auth/verify-email/{token}"), None, json!({}))
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
}

async fn forged_verification_and_reset_tokens_are_refused(app: TestApp) {
    app.user("forged@example.com").await;
    let res = app
        .post("/api/auth/verify-email/not-a-real-token", None, json!({}))
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": "not-a-real-token", "new_password": "A-long-new-pass-1"}),
        )
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
    // A verification token is not a reset token.
    let mails = app.wait_for_emails("forged@example.com", 1).await;
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": link_token(&mails[0]), "new_password": "A-long-new-pass-1"}),
        )
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
    app.login("forged@example.com", PASSWORD).await;
}

async fn changing_the_email_sends_a_new_link_and_voids_the_old_one(app: TestApp) {
    let me = app.user("old@example.com").await;
    let first = link_token(&app.wait_for_emails("old@example.com", 1).await[0]);
    let res = app
        .put(
            "/api/users/me",
            Some(&me.access),
            json!({"email": "new@example.com", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let second = link_token(&app.wait_for_emails("new@example.com", 1).await[0]);
    assert_ne!(first, second);
    let res = app
        .post(&format!("/api/auth/verify-email/{first}"), None, json!({}))
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
    let res = app
        .post(&format!("/api/auth/verify-email/{second}"), None, json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = app
        .get("/api/users/me", Some(&me.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (body["email"].as_str(), body["is_verified"].as_bool()),
        (Some("new@example.com"), Some(true))
    );
}

async fn resending_verification_is_throttled(app: TestApp) {
    let me = app.user("resend@example.com").await;
    expect_error(
        app.post("/api/auth/resend-verification", None, json!({}))
            .await,
        401,
        "not_authenticated",
    )
    .await;
    for _ in 0..3 {
        let res = app
            .post("/api/auth/resend-verification", Some(&me.access), json!({}))
            .await;
        assert_eq!(res.status(), 200);
    }
    let mails = app.wait_for_emails("resend@example.com", 4).await;
    // Only the newest link works.
    let res = app
        .post(
            &format!("/api/auth/verify-email/{}", link_token(&mails[0])),
            None,
            json!({}),
        )
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
    let res = app
        .post("/api/auth/resend-verification", Some(&me.access), json!({}))
        .await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, 429, "too_many_attempts").await;
    let res = app
        .post(
            &format!("/api/auth/verify-email/{}", link_token(&mails[3])),
            None,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn a_verified_address_gets_no_new_link(app: TestApp) {
    let me = app.user("done@example.com").await;
    let token = link_token(&app.wait_for_emails("done@example.com", 1).await[0]);
    app.post(&format!("/api/auth/verify-email/{token}"), None, json!({}))
        .await;
    let res = app
        .post("/api/auth/resend-verification", Some(&me.access), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already verified")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.emails_to("done@example.com").len(), 1);
}

async fn a_reset_request_looks_the_same_for_known_and_unknown_addresses(app: TestApp) {
    app.user("known@example.com").await;
    let known = app
        .post(
            "/api/auth/password-reset",
            None,
            json!({"email": "KNOWN@example.com"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/auth/password-reset",
            None,
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    let known: Value = known.json().await.unwrap();
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(known, unknown);
    let mails = app.wait_for_emails("known@example.com", 2).await;
    assert!(mails[1].contains("Subject: Reset your Doztra password"));
    assert!(mails[1].contains("https://app.example.com/reset-password?token="));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.emails_to("nobody@example.com").is_empty());
}

async fn a_password_reset_is_single_use_and_signs_out_everywhere(app: TestApp) {
    let me = app.user("reset@example.com").await;
    app.post(
        "/api/auth/password-reset",
        None,
        json!({"email": "reset@example.com"}),
    )
    .await;
    let mails = app.wait_for_emails("reset@example.com", 2).await;
    let token = link_token(&mails[1]);
    // A weak password is refused without spending the token.
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": token, "new_password": "12345678"}),
        )
        .await;
    let body = expect_error(res, 422, "weak_password").await;
    assert_eq!(body["errors"][0]["field"], "new_password");
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": token, "new_password": "A-long-new-pass-1"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Every earlier session and access token is dead.
    expect_error(
        app.get("/api/users/me", Some(&me.access)).await,
        401,
        "invalid_token",
    )
    .await;
    expect_error(
        app.post(
            "/api/auth/refresh",
            None,
            json!({"refresh_token": me.refresh}),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;
    let res = app
        .post(
            "/api/auth/login",
            None,
            json!({"email": "reset@example.com", "password": PASSWORD}),
        )
        .await;
    expect_error(res, 401, "invalid_credentials").await;
    let fresh = app.login("reset@example.com", "A-long-new-pass-1").await;
    let body: Value = app
        .get("/api/users/me", Some(&fresh.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["is_verified"], true, "the reset proved the address");
    // Single use.
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": token, "new_password": "Another-pass-22"}),
        )
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
}

async fn reset_emails_are_throttled_but_the_answer_never_changes(app: TestApp) {
    app.user("flood@example.com").await;
    for _ in 0..5 {
        let res = app
            .post(
                "/api/auth/password-reset",
                None,
                json!({"email": "flood@example.com"}),
            )
            .await;
        assert_eq!(res.status(), 202);
    }
    // 1 verification + at most 3 reset emails.
    app.wait_for_emails("flood@example.com", 4).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.emails_to("flood@example.com").len(), 4);
}

async fn bad_reset_bodies_are_refused(app: TestApp) {
    let res = app
        .client
        .post(app.url("/api/auth/password-reset"))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "malformed_json").await;
    let res = app
        .post("/api/auth/reset-password", None, json!({"token": 5}))
        .await;
    expect_error(res, 422, "validation_error").await;
}

/// The per-address caps hold under a burst of concurrent requests, not only one after
/// another: each request is counted before it is checked (it used to read the count, then
/// record, so a burst all read the same count and each sent a mail).
mod bursts {
    use super::*;

    const BURST: usize = 15;

    async fn settle(app: &TestApp, to: &str) -> usize {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        app.emails_to(to).len()
    }

    async fn a_burst_of_reset_requests_sends_at_most_the_cap(app: TestApp) {
        let to = "burst@example.com";
        app.user(to).await;
        app.wait_for_emails(to, 1).await;
        let requests =
            (0..BURST).map(|_| app.post("/api/auth/password-reset", None, json!({"email": to})));
        for res in futures_util::future::join_all(requests).await {
            assert_eq!(res.status(), 202);
        }
        let sent = settle(&app, to).await;
        // The verification email and at most 3 reset emails.
        assert!(sent <= 1 + 3, "{sent} emails");
    }

    async fn a_burst_of_resends_sends_at_most_the_cap(app: TestApp) {
        let to = "resend-burst@example.com";
        let me = app.user(to).await;
        app.wait_for_emails(to, 1).await;
        let requests = (0..BURST)
            .map(|_| app.post("/api/auth/resend-verification", Some(&me.access), json!({})));
        let statuses: Vec<u16> = futures_util::future::join_all(requests)
            .await
            .iter()
            .map(|res| res.status().as_u16())
            .collect();
        assert!(
            statuses.iter().all(|s| [200, 202, 429].contains(s)),
            "{statuses:?}"
        );
        let sent = settle(&app, to).await;
        assert!(sent <= 1 + 3, "{sent} emails");
        let answered = statuses.iter().filter(|s| **s != 429).count();
        assert_eq!(
            sent,
            1 + answered,
            "one email per accepted resend: {statuses:?}"
        );
    }

    doztra_tests::db_tests_with!(
        &[("PASSWORD_RESET_MAX_PER_IP", "1000")];
        a_burst_of_reset_requests_sends_at_most_the_cap,
        a_burst_of_resends_sends_at_most_the_cap
    );
}

db_tests!(
    registration_sends_a_link_that_verifies_the_address_once,
    forged_verification_and_reset_tokens_are_refused,
    changing_the_email_sends_a_new_link_and_voids_the_old_one,
    resending_verification_is_throttled,
    a_verified_address_gets_no_new_link,
    a_reset_request_looks_the_same_for_known_and_unknown_addresses,
    a_password_reset_is_single_use_and_signs_out_everywhere,
    reset_emails_are_throttled_but_the_answer_never_changes,
    bad_reset_bodies_are_refused,
);

async fn an_expired_reset_link_is_refused(app: TestApp) {
    app.user("late@example.com").await;
    app.post(
        "/api/auth/password-reset",
        None,
        json!({"email": "late@example.com"}),
    )
    .await;
    let token = link_token(&app.wait_for_emails("late@example.com", 2).await[1]);
    app.clock().advance(chrono::TimeDelta::milliseconds(1_500));
    let res = app
        .post(
            "/api/auth/reset-password",
            None,
            json!({"token": token, "new_password": "A-long-new-pass-1"}),
        )
        .await;
    expect_error(res, 400, "invalid_or_expired_token").await;
    app.login("late@example.com", PASSWORD).await;
}

mod short_reset_links {
    use super::*;

    doztra_tests::clock_tests!(&[("PASSWORD_RESET_TTL", "1s")]; an_expired_reset_link_is_refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smtp_path_really_delivers() {
    let sink = SmtpSink::start().await;
    let port = sink.port.to_string();
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", port.as_str()),
            ("SMTP_SECURITY", "none"),
            ("EMAIL_FROM", "Doztra <auth@doztra.test>"),
        ],
    )
    .await
    .unwrap();
    app.user("smtp@example.com").await;
    let messages = sink.wait_for(1).await;
    let message = &messages[0];
    assert!(message.contains("To: smtp@example.com"), "{message}");
    assert!(
        message.contains("From: Doztra <auth@doztra.test>"),
        "{message}"
    );
    let token = link_token(message);
    assert_eq!(
        app.post(&format!("/api/auth/verify-email/{token}"), None, json!({}))
            .await
            .status(),
        200
    );
    assert!(
        app.emails_to("smtp@example.com").is_empty(),
        "SMTP replaces the file outbox"
    );
    // The sink has the message before the server hears its 250 and marks the row: wait for it.
    let sent = app
        .count_reaching(
            "SELECT COUNT(*) FROM email_outbox WHERE sent_at IS NOT NULL AND body = ''",
            1,
        )
        .await;
    assert_eq!(sent, 1, "a sent message keeps no copy of its link");
}

/// A refusal of our setup (a wrong password, a relay that refuses us: 5xx too) keeps the
/// message for a retry; only a refusal of the recipient gives it up. Neither stores or logs the
/// server's reply text, which quotes the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_refused_recipient_gives_a_message_up() {
    for (verb, reply, given_up) in [
        (
            "MAIL",
            "535 5.7.8 Authentication credentials invalid",
            false,
        ),
        ("MAIL", "530 5.7.0 Authentication required", false),
        (
            "MAIL",
            "554 5.7.1 <who@example.com>: Relay access denied",
            false,
        ),
        (
            "MAIL",
            "553 5.7.1 <who@example.com>: Sender address rejected: not owned by user",
            false,
        ),
        ("RCPT", "550 Unable to relay", false),
        (
            "RCPT",
            "550 5.1.1 <who@example.com>: Recipient address rejected",
            true,
        ),
    ] {
        let sink = SmtpSink::refusing(verb, reply).await;
        let port = sink.port.to_string();
        let app = spawn_app_with(
            Backend::Sqlite,
            &[
                ("SMTP_HOST", "127.0.0.1"),
                ("SMTP_PORT", port.as_str()),
                ("SMTP_SECURITY", "none"),
            ],
        )
        .await
        .unwrap();
        app.user("who@example.com").await;
        let attempted = app
            .count_reaching(
                "SELECT COUNT(*) FROM email_outbox WHERE last_error IS NOT NULL",
                1,
            )
            .await;
        assert_eq!(attempted, 1, "{reply}: the send was tried");
        let failed = app
            .count("SELECT COUNT(*) FROM email_outbox WHERE failed_at IS NOT NULL")
            .await;
        assert_eq!(failed == 1, given_up, "{reply}");
        let code = &reply[..3];
        let quoted = app
            .count(&format!(
                "SELECT COUNT(*) FROM email_outbox WHERE last_error LIKE '%{code}%' \
                 AND last_error NOT LIKE '%who@example.com%'"
            ))
            .await;
        assert_eq!(quoted, 1, "{reply}: the code is kept, the address is not");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_mail_server_never_loses_the_account_change() {
    // Nothing listens on this port: every attempt fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", closed.as_str()),
            ("SMTP_SECURITY", "none"),
            ("SMTP_TIMEOUT", "2s"),
        ],
    )
    .await
    .unwrap();
    app.user("down@example.com").await; // 201: the account is there whatever the mail server does
    let scheduled = app
        .count_reaching("SELECT COUNT(*) FROM email_outbox WHERE attempts >= 1 AND sent_at IS NULL AND failed_at IS NULL AND last_error IS NOT NULL", 1)
        .await;
    assert_eq!(scheduled, 1, "the failed message waits for a retry");
    app.login("down@example.com", PASSWORD).await;
}
