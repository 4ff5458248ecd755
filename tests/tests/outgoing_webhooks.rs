//! Outgoing webhooks (issue 16): the admin's endpoints, Standard Webhooks signatures checked by
//! the official library, retries on the schedule with one webhook-id, an endpoint disabled after
//! failing deliveries, the SSRF guard, and the subscription events.

use std::time::Duration;

use chrono::Utc;
use doztra_tests::alerting::{
    deliveries, register_endpoint, set_token_limit, settled_deliveries, track,
};
use doztra_tests::webhook_receiver::WebhookReceiver;
use doztra_tests::{TestApp, db_tests, expect_error, tools};
use persistence::subscriptions::{self, SubscriptionChanges};
use serde_json::{Value, json};
use uuid::Uuid;

const ALL_EVENTS: [&str; 4] = [
    "usage.threshold_crossed",
    "usage.limit_reached",
    "subscription.updated",
    "payment.failed",
];

async fn admins_register_list_read_and_delete_endpoints(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let body = json!({"url": "https://hooks.example.com/doztra",
                      "event_types": ["usage.limit_reached", "usage.threshold_crossed"]});
    let res = app
        .post("/api/admin/webhooks", Some(&user.access), body.clone())
        .await;
    expect_error(res, 403, "admin_required").await;
    let res = app.get("/api/admin/webhooks", Some(&user.access)).await;
    expect_error(res, 403, "admin_required").await;

    let res = app
        .post("/api/admin/webhooks", Some(&admin.access), body)
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["url"], "https://hooks.example.com/doztra");
    assert_eq!(
        created["event_types"],
        json!(["usage.threshold_crossed", "usage.limit_reached"])
    );
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["description"], Value::Null);

    // The secret is shown once: neither the list nor the endpoint carries it.
    let res = app.get("/api/admin/webhooks", Some(&admin.access)).await;
    assert_eq!(res.status(), 200);
    let listed: Value = res.json().await.unwrap();
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 1);
    assert!(listed["endpoints"][0].get("secret").is_none());
    assert!(!listed.to_string().contains(secret));
    let res = app
        .get(&format!("/api/admin/webhooks/{id}"), Some(&admin.access))
        .await;
    assert_eq!(res.status(), 200);
    let one: Value = res.json().await.unwrap();
    assert_eq!(one["id"], id.as_str());
    assert!(one.get("secret").is_none());
    let res = app
        .get(
            &format!("/api/admin/webhooks/{id}/deliveries"),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(
        (
            page["total_records"].as_u64(),
            page["deliveries"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );

    // Every invalid field at once.
    let res = app
        .post(
            "/api/admin/webhooks",
            Some(&admin.access),
            json!({"url": "ftp://hooks.example.com", "event_types": ["usage.crossed"],
                   "description": "x".repeat(501)}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    let mut fields = doztra_tests::error_fields(&body);
    fields.sort_unstable();
    assert_eq!(fields, ["description", "event_types", "url"]);
    for bad in [
        json!({"url": "https://hooks.example.com", "event_types": []}),
        json!({"url": "https://hooks.example.com"}),
        json!({"url": "https://user:pw@hooks.example.com", "event_types": ["payment.failed"]}),
        json!({"event_types": ["payment.failed"]}),
        json!({"url": "https://hooks.example.com", "event_types": "payment.failed"}),
    ] {
        let res = app
            .post("/api/admin/webhooks", Some(&admin.access), bad.clone())
            .await;
        expect_error(res, 422, "validation_error").await;
    }

    // Unknown and malformed ids; paging.
    let unknown = Uuid::now_v7();
    for path in [
        format!("/api/admin/webhooks/{unknown}"),
        format!("/api/admin/webhooks/{unknown}/deliveries"),
        "/api/admin/webhooks/not-a-uuid".to_owned(),
    ] {
        let res = app.get(&path, Some(&admin.access)).await;
        expect_error(res, 404, "not_found").await;
    }
    let res = app
        .get(
            &format!("/api/admin/webhooks/{id}/deliveries?page=0"),
            Some(&admin.access),
        )
        .await;
    expect_error(res, 422, "validation_error").await;

    let res = app
        .delete(&format!("/api/admin/webhooks/{id}"), Some(&user.access))
        .await;
    expect_error(res, 403, "admin_required").await;
    let res = app
        .delete(&format!("/api/admin/webhooks/{id}"), Some(&admin.access))
        .await;
    assert_eq!(res.status(), 204);
    let res = app
        .delete(&format!("/api/admin/webhooks/{id}"), Some(&admin.access))
        .await;
    expect_error(res, 404, "not_found").await;
    assert_eq!(app.count("SELECT count(*) FROM webhook_endpoints").await, 0);
}

/// Each endpoint gets its own `webhook-id` for an event (API.md: one per event and endpoint),
/// so one receiver behind two endpoints, de-duplicating on the id alone, handles both.
async fn two_endpoints_get_their_own_webhook_id_for_one_event(app: TestApp) {
    let receiver = WebhookReceiver::answering(204).await;
    let admin = app.admin("admin@example.com").await;
    register_endpoint(&app, &admin, &receiver.url("/one"), &ALL_EVENTS).await;
    register_endpoint(&app, &admin, &receiver.url("/two"), &ALL_EVENTS).await;
    let user = app.user("writer@example.com").await;
    let res = app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            json!({"plan": "basic"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let received = receiver.wait_for(2).await;
    let mut paths: Vec<&str> = received.iter().map(|r| r.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/one", "/two"]);
    assert_ne!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
}

async fn signatures_verify_with_the_official_standard_webhooks_library(app: TestApp) {
    let receiver = WebhookReceiver::answering(204).await;
    let admin = app.admin("admin@example.com").await;
    let (endpoint, secret) =
        register_endpoint(&app, &admin, &receiver.url("/hook"), &ALL_EVENTS).await;
    let user = app.user("writer@example.com").await;
    set_token_limit(&app, &admin, &user, Some(100)).await;
    assert_eq!(track(&app, &user, 100, "all").await.0, 200);
    let res = app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            json!({"plan": "basic"}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Three crossings, the limit reached, and the plan change.
    let settled = settled_deliveries(&app, &admin, &endpoint).await;
    assert_eq!(settled.len(), 5);
    let received = receiver.wait_for(5).await;
    for request in &received {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/hook")
        );
        assert_eq!(request.header("content-type"), "application/json");
        let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
        assert!((Utc::now().timestamp() - timestamp).abs() < 120);
        assert!(request.header("webhook-signature").starts_with("v1,"));
        assert!(request.header("webhook-id").starts_with("msg_"));
    }
    let changed = received
        .iter()
        .find(|r| r.event_type() == "subscription.updated")
        .unwrap()
        .json();
    assert_eq!(
        changed["data"],
        json!({"user_id": user.user_id, "plan": "basic", "previous_plan": "free",
               "status": "active", "expires_at": null})
    );

    let requests: Vec<Value> = received
        .iter()
        .map(|r| json!({"secret": secret, "headers": r.headers, "body": r.body}))
        .collect();
    let file = std::env::temp_dir().join(format!("doztra-webhooks-{}.json", Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec(&requests).unwrap()).unwrap();
    let path = file.display().to_string();
    let output = tokio::task::spawn_blocking(move || {
        tools::run_python_script("verify_webhooks.py", &[&path], &[])
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&file);
    let printed = String::from_utf8_lossy(&output.stdout);
    let verified: Vec<&str> = printed
        .lines()
        .filter(|l| l.starts_with("verified "))
        .collect();
    assert_eq!(verified.len(), 5, "{printed}");
    for kind in [
        "usage.threshold_crossed",
        "usage.limit_reached",
        "subscription.updated",
    ] {
        assert!(printed.contains(&format!("verified {kind} ")), "{printed}");
    }
}

async fn a_plan_that_runs_out_is_announced_once(app: TestApp) {
    let receiver = WebhookReceiver::answering(200).await;
    let admin = app.admin("admin@example.com").await;
    let (endpoint, _) = register_endpoint(
        &app,
        &admin,
        &receiver.url("/hook"),
        &["subscription.updated"],
    )
    .await;
    let user = app.user("lapsing@example.com").await;
    let user_id = Uuid::parse_str(&user.user_id).unwrap();
    // A paid plan whose paid time ended an hour ago, not renewing.
    let ended = Utc::now() - chrono::TimeDelta::hours(1);
    subscriptions::update(
        app.db(),
        user_id,
        SubscriptionChanges {
            plan: Some("basic".to_owned()),
            expires_at: Some(Some(ended)),
            auto_renew: Some(false),
            ..Default::default()
        },
        Utc::now(),
    )
    .await
    .unwrap();
    // The server's own maintenance pass may be running too: whoever claims it, once.
    let worker = app.services().maintenance_worker(Duration::from_secs(3600));
    let first = worker.run_once().await.unwrap().lapses_announced;
    let second = worker.run_once().await.unwrap().lapses_announced;
    assert!(first <= 1 && second == 0, "{first} then {second}");
    let received = receiver.wait_for(1).await;
    let data = &received[0].json()["data"];
    assert_eq!(data["plan"], "free");
    assert_eq!(data["previous_plan"], "basic");
    assert_eq!(data["status"], "expired");
    assert_eq!(data["user_id"], user.user_id.as_str());
    assert_eq!(settled_deliveries(&app, &admin, &endpoint).await.len(), 1);
}

db_tests!(
    admins_register_list_read_and_delete_endpoints,
    two_endpoints_get_their_own_webhook_id_for_one_event,
    signatures_verify_with_the_official_standard_webhooks_library,
    a_plan_that_runs_out_is_announced_once,
);

/// Retries every 100 ms then 200 ms: three attempts per delivery; two failed deliveries in a
/// row disable the endpoint.
mod fast_retries {
    use std::time::Duration;

    use doztra_tests::alerting::{register_endpoint, set_token_limit, settled_deliveries, track};
    use doztra_tests::webhook_receiver::WebhookReceiver;
    use doztra_tests::{TestApp, db_tests_with};
    use serde_json::Value;

    use super::deliveries;

    async fn endpoint(app: &TestApp, admin: &doztra_tests::Session, id: &str) -> Value {
        let res = app
            .get(&format!("/api/admin/webhooks/{id}"), Some(&admin.access))
            .await;
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    async fn a_failing_endpoint_is_retried_on_the_schedule_then_disabled(app: TestApp) {
        let receiver = WebhookReceiver::answering(500).await;
        let admin = app.admin("admin@example.com").await;
        let (id, _) = register_endpoint(
            &app,
            &admin,
            &receiver.url("/hook"),
            &["usage.threshold_crossed"],
        )
        .await;
        let user = app.user("writer@example.com").await;
        set_token_limit(&app, &admin, &user, Some(100)).await;

        assert_eq!(track(&app, &user, 80, "a").await.0, 200);
        let first = settled_deliveries(&app, &admin, &id).await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0]["status"], "failed");
        assert_eq!(first[0]["attempts"], 3);
        assert_eq!(first[0]["last_status_code"], 500);
        assert_eq!(first[0]["last_error"], "HTTP 500");
        let received = receiver.wait_for(3).await;
        assert_eq!(received.len(), 3);
        for attempt in &received {
            assert_eq!(attempt.header("webhook-id"), first[0]["message_id"]);
            assert_eq!(
                attempt.body, received[0].body,
                "the same body on every attempt"
            );
        }
        // Each retry waits its turn on the schedule.
        assert!(received[1].at - received[0].at >= Duration::from_millis(100));
        assert!(received[2].at - received[1].at >= Duration::from_millis(200));
        let state = endpoint(&app, &admin, &id).await;
        assert_eq!(
            (
                state["status"].as_str(),
                state["consecutive_failures"].as_u64()
            ),
            (Some("enabled"), Some(1))
        );

        // A second delivery fails every attempt too: the endpoint is disabled.
        assert_eq!(track(&app, &user, 15, "b").await.0, 200);
        for _ in 0..400 {
            if endpoint(&app, &admin, &id).await["status"] == "disabled" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let state = endpoint(&app, &admin, &id).await;
        assert_eq!(state["status"], "disabled");
        assert_eq!(state["consecutive_failures"], 2);
        assert!(state["disabled_at"].as_str().is_some());
        assert_eq!(receiver.received().len(), 6);

        // Nothing is queued for a disabled endpoint.
        assert_eq!(track(&app, &user, 5, "c").await.0, 200);
        assert_eq!(deliveries(&app, &admin, &id).await.len(), 2);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.received().len(), 6);
    }

    async fn a_delivery_that_fails_then_succeeds_keeps_its_webhook_id(app: TestApp) {
        let receiver = WebhookReceiver::scripted(|n| Some(if n < 2 { 503 } else { 204 })).await;
        let admin = app.admin("admin@example.com").await;
        let (id, _) = register_endpoint(
            &app,
            &admin,
            &receiver.url("/hook"),
            &["usage.threshold_crossed"],
        )
        .await;
        let user = app.user("writer@example.com").await;
        set_token_limit(&app, &admin, &user, Some(100)).await;
        assert_eq!(track(&app, &user, 80, "a").await.0, 200);
        let settled = settled_deliveries(&app, &admin, &id).await;
        assert_eq!(settled[0]["status"], "succeeded");
        assert_eq!(settled[0]["attempts"], 3);
        assert_eq!(settled[0]["last_status_code"], 204);
        let received = receiver.wait_for(3).await;
        let ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
        assert_eq!(ids, [settled[0]["message_id"].as_str().unwrap(); 3]);
        assert_eq!(endpoint(&app, &admin, &id).await["consecutive_failures"], 0);
    }

    db_tests_with!(
        &[("WEBHOOK_RETRY_SCHEDULE", "100ms,200ms"), ("WEBHOOK_DISABLE_AFTER", "2")];
        a_failing_endpoint_is_retried_on_the_schedule_then_disabled,
        a_delivery_that_fails_then_succeeds_keeps_its_webhook_id,
    );
}

/// Private targets not allowed (as in production): the SSRF guard.
mod public_targets_only {
    use doztra_tests::alerting::{register_endpoint, set_token_limit, settled_deliveries, track};
    use doztra_tests::webhook_receiver::WebhookReceiver;
    use doztra_tests::{TestApp, db_tests_with, expect_error};
    use serde_json::json;

    async fn private_addresses_are_never_contacted(app: TestApp) {
        let receiver = WebhookReceiver::answering(204).await;
        let admin = app.admin("admin@example.com").await;
        let port = receiver.port;
        for url in [
            format!("https://127.0.0.1:{port}/hook"),
            format!("https://[::1]:{port}/hook"),
            format!("https://[::ffff:127.0.0.1]:{port}/hook"),
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            "https://10.0.0.7/hook".to_owned(),
            "https://2130706433/hook".to_owned(),
            format!("http://hooks.example.com:{port}/hook"),
        ] {
            let res = app
                .post(
                    "/api/admin/webhooks",
                    Some(&admin.access),
                    json!({"url": url, "event_types": ["usage.threshold_crossed"]}),
                )
                .await;
            let body = expect_error(res, 422, "validation_error").await;
            assert_eq!(body["errors"][0]["field"], "url", "{url}");
        }
        // A name is checked when an attempt resolves it: localhost is loopback.
        let (id, _) = register_endpoint(
            &app,
            &admin,
            &format!("https://localhost:{port}/hook"),
            &["usage.threshold_crossed"],
        )
        .await;
        let user = app.user("writer@example.com").await;
        set_token_limit(&app, &admin, &user, Some(100)).await;
        assert_eq!(track(&app, &user, 80, "a").await.0, 200);
        let settled = settled_deliveries(&app, &admin, &id).await;
        assert_eq!(settled[0]["status"], "failed");
        assert_eq!(settled[0]["attempts"], 2);
        let error = settled[0]["last_error"].as_str().unwrap();
        assert!(
            error.starts_with("refused: ") && error.contains("loopback"),
            "{error}"
        );
        assert_eq!(settled[0]["last_status_code"], serde_json::Value::Null);
        assert!(
            receiver.received().is_empty(),
            "the receiver was never contacted"
        );
    }

    db_tests_with!(
        &[("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false"), ("WEBHOOK_RETRY_SCHEDULE", "50ms")];
        private_addresses_are_never_contacted,
    );
}

/// A receiver that hangs (until `WEBHOOK_TIMEOUT`, 20 s here) holds up only its own deliveries:
/// the other endpoint's arrive as they are queued. Before, a pass sent a batch and waited for
/// all of it, so every delivery queued behind a hanging one waited out the timeout.
mod a_hanging_receiver {
    use doztra_tests::alerting::register_endpoint;
    use doztra_tests::webhook_receiver::WebhookReceiver;
    use doztra_tests::{TestApp, db_tests_with};
    use serde_json::json;

    use super::ALL_EVENTS;

    async fn a_hanging_receiver_holds_up_only_its_own_deliveries(app: TestApp) {
        let hanging = WebhookReceiver::scripted(|_| None).await;
        let healthy = WebhookReceiver::answering(204).await;
        let admin = app.admin("admin@example.com").await;
        register_endpoint(&app, &admin, &hanging.url("/slow"), &ALL_EVENTS).await;
        register_endpoint(&app, &admin, &healthy.url("/fast"), &ALL_EVENTS).await;
        let user = app.user("writer@example.com").await;
        let changes = 12;
        for plan in ["basic", "free"].iter().cycle().take(changes) {
            let res = app
                .patch(
                    &format!("/api/admin/users/{}", user.user_id),
                    Some(&admin.access),
                    json!({"plan": plan}),
                )
                .await;
            assert_eq!(res.status(), 200);
        }
        // Well inside the hanging receiver's 20 s: every change reached the healthy one.
        let received = healthy.wait_for(changes).await;
        assert_eq!(received.len(), changes);
        let held = hanging.received().len();
        assert!(
            (1..=4).contains(&held),
            "the hanging endpoint holds at most 4 attempts in flight: {held}"
        );
    }

    db_tests_with!(
        &[("WEBHOOK_TIMEOUT", "20s")];
        a_hanging_receiver_holds_up_only_its_own_deliveries,
    );
}
