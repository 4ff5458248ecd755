//! Business metrics (issue 16): after a scripted run, `/metrics` counts tracks by outcome,
//! reason and plan, tokens by plan, request type and model, alerts recorded and delivered,
//! webhook attempts and deliveries, Stripe webhook deliveries, the outbox backlogs, the
//! database pool and the track batch sizes, each with the value the run implies.

use std::collections::BTreeMap;
use std::time::Duration;

use doztra_tests::alerting::{register_endpoint, set_token_limit, settled_deliveries, track};
use doztra_tests::webhook_receiver::WebhookReceiver;
use doztra_tests::{TestApp, db_tests};
use serde_json::json;

/// The value of the sample `name{labels}` in an OpenMetrics text, if present (labels may be
/// a subset of the sample's).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let found: BTreeMap<&str, &str> = series_labels
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k, v.trim_matches('"')))
                .collect();
            labels
                .iter()
                .all(|(k, v)| found.get(k) == Some(v))
                .then(|| value.parse().ok())
                .flatten()
        })
}

/// A sample's name, labels and value.
type Expected = (&'static str, Vec<(&'static str, &'static str)>, f64);

async fn scrape(app: &TestApp) -> String {
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn the_metrics_count_a_scripted_run(app: TestApp) {
    let receiver = WebhookReceiver::answering(204).await;
    let admin = app.admin("admin@example.com").await;
    let (endpoint, _) = register_endpoint(
        &app,
        &admin,
        &receiver.url("/hook"),
        &["usage.threshold_crossed"],
    )
    .await;
    let user = app.user("writer@example.com").await;
    set_token_limit(&app, &admin, &user, Some(100)).await;

    assert_eq!(track(&app, &user, 50, "a").await.0, 200);
    assert_eq!(track(&app, &user, 50, "a").await.1["duplicate"], true);
    assert_eq!(track(&app, &user, 40, "b").await.0, 200); // 90: 80 % crossed
    assert_eq!(track(&app, &user, 7, "a").await.0, 409); // a reused request id
    let res = app
        .post(
            "/api/tokens/me/track",
            Some(&user.access),
            json!({"request_type": "chat", "model": "gpt-4", "total_tokens": 5}),
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = app
        .post(
            "/api/tokens/me/track",
            Some(&user.access),
            json!({"request_type": "chat", "model": "gpt-5", "total_tokens": 5}),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(track(&app, &user, 20, "c").await.0, 200); // 110: 95 and 100 crossed
    assert_eq!(track(&app, &user, 1, "d").await.0, 402);
    let res = app
        .client
        .post(app.url("/api/billing/webhook"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(settled_deliveries(&app, &admin, &endpoint).await.len(), 3);
    receiver.wait_for(3).await;

    let mut expected: Vec<Expected> = [
        ("accepted", "none", 3.0),
        ("duplicate", "none", 1.0),
        ("conflict", "none", 1.0),
        ("refused", "model_not_allowed", 1.0),
        ("refused", "unknown_model", 1.0),
        ("refused", "token_limit_exceeded", 1.0),
    ]
    .into_iter()
    .map(|(outcome, reason, count)| {
        let labels = vec![("outcome", outcome), ("reason", reason), ("plan", "free")];
        ("doztra_tracks_total", labels, count)
    })
    .collect();
    expected.extend([
        (
            "doztra_tracked_tokens_total",
            vec![
                ("plan", "free"),
                ("request_type", "chat"),
                ("model", "gpt-3.5-turbo"),
            ],
            110.0,
        ),
        (
            "doztra_usage_alerts_recorded_total",
            vec![("unit", "tokens"), ("threshold", "80")],
            1.0,
        ),
        (
            "doztra_usage_alerts_recorded_total",
            vec![("unit", "tokens"), ("threshold", "95")],
            1.0,
        ),
        (
            "doztra_usage_alerts_recorded_total",
            vec![("unit", "tokens"), ("threshold", "100")],
            1.0,
        ),
        (
            "doztra_usage_alerts_delivered_total",
            vec![("channel", "email")],
            3.0,
        ),
        (
            "doztra_usage_alerts_delivered_total",
            vec![("channel", "webhook")],
            3.0,
        ),
        (
            "doztra_webhook_attempts_total",
            vec![("outcome", "succeeded")],
            3.0,
        ),
        (
            "doztra_webhook_deliveries_total",
            vec![
                ("event_type", "usage.threshold_crossed"),
                ("outcome", "succeeded"),
            ],
            3.0,
        ),
        (
            "doztra_stripe_webhook_events_total",
            vec![
                ("event_type", "unverified"),
                ("outcome", "invalid_signature"),
            ],
            1.0,
        ),
        // Six tracks reached the ledger (the tier and the catalog refuse before it).
        ("doztra_track_batch_size_sum", vec![], 6.0),
        ("doztra_outbox_backlog", vec![("outbox", "webhook")], 0.0),
        ("doztra_outbox_backlog", vec![("outbox", "email")], 0.0),
        ("doztra_db_pool_max_connections", vec![], 8.0),
    ]);
    // Emails go out after their commit: wait until the counters have caught up.
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(&app).await;
        if expected
            .iter()
            .all(|(name, labels, value)| sample(&text, name, labels) == Some(*value))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(name, labels, value)| sample(&text, name, labels) != Some(*value))
        .map(|(name, labels, value)| {
            format!(
                "{name}{labels:?}: expected {value}, got {:?}",
                sample(&text, name, labels)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}\n{text}");
    assert!(
        sample(&text, "doztra_track_batch_size_count", &[])
            .is_some_and(|n| (1.0..=6.0).contains(&n))
    );
    assert!(sample(&text, "doztra_db_pool_size", &[]).is_some_and(|n| n >= 1.0));
    assert!(sample(&text, "doztra_db_pool_connections", &[("state", "idle")]).is_some());
    assert_eq!(
        sample(
            &text,
            "doztra_outbox_oldest_age_seconds",
            &[("outbox", "webhook")]
        ),
        Some(0.0)
    );
    // No user id, email or free text in any label.
    assert!(!text.contains(&user.user_id) && !text.contains("writer@example.com"));
}

db_tests!(the_metrics_count_a_scripted_run);
