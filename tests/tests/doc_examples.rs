//! Every example of docs/INTEGRATION.md runs against a live server, on SQLite and PostgreSQL:
//! the curl scripts and the Python snippets of docs/examples/ for a web app, its email-link
//! pages and an AI backend, and the Rust crate that embeds the domain crate. Each example
//! asserts what it shows and exits non-zero otherwise.

use doztra_tests::{TestApp, db_tests, examples, link_token};

/// Runs a docs/examples script against `app` with extra variables.
async fn run(app: &TestApp, name: &'static str, extra: &[(&str, &str)]) -> String {
    let mut env: Vec<(String, String)> = vec![("BASE_URL".into(), app.address.clone())];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let output = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        examples::run(name, &env)
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        printed.trim_end().ends_with("OK"),
        "{name} printed: {printed}"
    );
    printed
}

async fn the_web_app_examples_run(app: TestApp) {
    run(&app, "web-app.sh", &[]).await;
    run(&app, "web_app.py", &[]).await;
}

async fn the_ai_backend_examples_run(app: TestApp) {
    let printed = run(&app, "ai-backend.sh", &[]).await;
    assert!(printed.contains("402: used 101200 of 100000"), "{printed}");
    let printed = run(&app, "ai_backend.py", &[]).await;
    assert!(printed.contains("402: used 101200 of 100000"), "{printed}");
    // Handed an existing user's token, the example does not spend that user's month.
    let user = app.user("backend-user@example.com").await;
    run(&app, "ai_backend.py", &[("USER_TOKEN", &user.access)]).await;
    let usage: serde_json::Value = app
        .get("/api/usage/me", Some(&user.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(usage["tokens"]["used"], 1200, "{usage}");
}

/// The tokens of the verification and reset links the service mailed to `email`, after
/// checking the links have the documented shape.
async fn link_tokens(app: &TestApp, email: &str) -> (String, String) {
    app.register(email).await;
    app.post(
        "/api/auth/password-reset",
        None,
        serde_json::json!({"email": email}),
    )
    .await;
    let mails = app.wait_for_emails(email, 2).await;
    let with = |link: &str| {
        mails
            .iter()
            .find(|m| m.contains(link))
            .unwrap_or_else(|| panic!("a mail to {email} with {link}: {mails:?}"))
    };
    (
        link_token(with("https://app.example.com/verify-email?token=")),
        link_token(with("https://app.example.com/reset-password?token=")),
    )
}

async fn the_email_link_page_examples_run(app: TestApp) {
    for (email, example) in [
        ("pages-sh@example.com", "email-links.sh"),
        ("pages-py@example.com", "email_links.py"),
    ] {
        let (verify, reset) = link_tokens(&app, email).await;
        run(
            &app,
            example,
            &[
                ("EMAIL", email),
                ("VERIFY_TOKEN", &verify),
                ("RESET_TOKEN", &reset),
            ],
        )
        .await;
        let verified = app
            .count(&format!(
                "SELECT COUNT(*) FROM users WHERE email = '{email}' AND is_verified"
            ))
            .await;
        assert_eq!(verified, 1, "{example} verified {email}");
    }
}

/// The webhook receiver example refuses a forged request, then verifies and handles a real
/// usage alert (it exits after one message).
async fn the_webhook_receiver_example_verifies_and_handles_an_alert(app: TestApp) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = app.admin("admin@example.com").await;
    let (_, secret) = doztra_tests::alerting::register_endpoint(
        &app,
        &admin,
        &format!("http://127.0.0.1:{port}/hooks/doztra"),
        &["usage.threshold_crossed"],
    )
    .await;
    let receiver = tokio::task::spawn_blocking(move || {
        let port = port.to_string();
        examples::run(
            "webhook_receiver.py",
            &[
                ("WEBHOOK_SECRET", &secret),
                ("PORT", &port),
                ("EXIT_AFTER", "1"),
            ],
        )
    });
    let url = format!("http://127.0.0.1:{port}/hooks/doztra");
    let mut forged = None;
    for _ in 0..200 {
        if let Ok(res) = app
            .client
            .post(&url)
            .header("webhook-id", "msg_forged")
            .header(
                "webhook-timestamp",
                chrono::Utc::now().timestamp().to_string(),
            )
            .header("webhook-signature", "v1,Zm9yZ2Vk")
            .body(r#"{"type":"usage.limit_reached","timestamp":"","data":{}}"#)
            .send()
            .await
        {
            forged = Some(res.status().as_u16());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(forged, Some(400), "a forged request is refused");
    let user = app.user("writer@example.com").await;
    doztra_tests::alerting::set_token_limit(&app, &admin, &user, Some(100)).await;
    assert_eq!(
        doztra_tests::alerting::track(&app, &user, 85, "a").await.0,
        200
    );
    let output = receiver.await.unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&format!(
            "usage.threshold_crossed tokens 80 {}",
            user.user_id
        )),
        "{printed}"
    );
    assert!(!printed.contains("usage.limit_reached"), "{printed}");
    assert!(printed.trim_end().ends_with("OK"), "{printed}");
}

/// The backend with a service API key tracks for a user; the events name the key.
async fn the_ai_backend_key_example_runs(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("key-user@example.com").await;
    let res = app
        .post(
            "/api/admin/api-keys",
            Some(&admin.access),
            serde_json::json!({"name": "chat-backend", "scopes": ["usage:write", "usage:read"]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = res.json().await.unwrap();
    let printed = run(
        &app,
        "ai_backend_key.py",
        &[
            ("DOZTRA_API_KEY", created["secret"].as_str().unwrap()),
            ("USER_ID", &user.user_id),
        ],
    )
    .await;
    assert!(printed.contains("402: used 101200 of 100000"), "{printed}");
    let by_key = app
        .count(&format!(
            "SELECT COUNT(*) FROM token_usage WHERE reporter = '{}'",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_key, 2);
}

db_tests!(
    the_web_app_examples_run,
    the_ai_backend_examples_run,
    the_ai_backend_key_example_runs,
    the_email_link_page_examples_run,
    the_webhook_receiver_example_verifies_and_handles_an_alert,
);

#[test]
fn the_embedded_domain_example_builds_and_runs() {
    let output = examples::cargo_run("embed-domain");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("model_not_allowed"), "{printed}");
    assert!(printed.trim_end().ends_with("OK"), "{printed}");
}

/// Every code block of docs/INTEGRATION.md marked `<!-- from docs/examples/FILE -->` is still a
/// word-for-word excerpt of that file, so the document cannot drift from the tested examples.
#[test]
fn quoted_excerpts_match_the_example_files() {
    let root = doztra_tests::tools::repo_root();
    let doc = std::fs::read_to_string(root.join("docs/INTEGRATION.md")).unwrap();
    let mut checked = 0;
    for part in doc.split("<!-- from ").skip(1) {
        let (file, rest) = part.split_once(" -->").expect("a closed marker");
        let rest = rest.trim_start();
        let fence_end = rest.find('\n').expect("a code block after the marker");
        assert!(
            rest.starts_with("```"),
            "{file}: the marker is followed by a code block"
        );
        let body = &rest[fence_end + 1..];
        let excerpt = &body[..body.find("\n```").expect("a closed code block") + 1];
        let source =
            std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            source.contains(excerpt),
            "docs/INTEGRATION.md quotes {file}, which no longer contains:\n{excerpt}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "found {checked} quoted excerpts");
}
