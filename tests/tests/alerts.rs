//! Usage alerts (issue 16): a threshold crossed by a track is recorded once, in the track's
//! transaction, whatever the concurrency; each alert gives one email (when notifications are
//! on) and one webhook event; a threshold fired in a period never fires again in it, whatever
//! the limit becomes, and one not yet fired fires once the limit in force makes it reached.

use doztra_tests::alerting::{
    alerts, register_endpoint, set_token_limit, settled_deliveries, thresholds, track, track_type,
};
use doztra_tests::webhook_receiver::WebhookReceiver;
use doztra_tests::{TestApp, db_tests};
use serde_json::json;

const USAGE_EVENTS: [&str; 2] = ["usage.threshold_crossed", "usage.limit_reached"];

/// The alert emails among the user's messages (registration sent a verification one too).
fn alert_emails(app: &TestApp, to: &str) -> Vec<String> {
    app.emails_to(to)
        .into_iter()
        .filter(|m| m.contains("your monthly"))
        .collect()
}

async fn wait_for_alert_emails(app: &TestApp, to: &str, count: usize) -> Vec<String> {
    for _ in 0..400 {
        let found = alert_emails(app, to);
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{to} did not receive {count} alert email(s)");
}

async fn fifty_concurrent_tracks_crossing_80_percent_record_one_alert_one_email_one_webhook(
    app: TestApp,
) {
    let receiver = WebhookReceiver::answering(204).await;
    let admin = app.admin("admin@example.com").await;
    let (endpoint, _) =
        register_endpoint(&app, &admin, &receiver.url("/hook"), &USAGE_EVENTS).await;
    let user = app.user("writer@example.com").await;
    set_token_limit(&app, &admin, &user, Some(1_000)).await;
    assert_eq!(track(&app, &user, 790, "warm-up").await.0, 200);

    let burst = (0..50).map(|i| {
        let (app, user) = (&app, &user);
        async move { track(app, user, 1, &format!("burst-{i}")).await.0 }
    });
    let statuses = futures_util::future::join_all(burst).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // Exactly once, in the database: one alert, one email and one delivery queued with it.
    assert_eq!(app.count("SELECT count(*) FROM usage_alerts").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE kind = 'usage_alert'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_deliveries").await,
        1
    );
    let listed = alerts(&app, &user).await;
    assert_eq!(thresholds(&listed), [("tokens".to_owned(), 80)]);
    let used = listed[0]["used"].as_u64().unwrap();
    assert!((800..=840).contains(&used), "crossed at {used}");
    assert_eq!(listed[0]["limit"], 1_000);

    // Delivered once each.
    let delivered = settled_deliveries(&app, &admin, &endpoint).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["status"], "succeeded");
    assert_eq!(delivered[0]["attempts"], 1);
    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let body = received[0].json();
    assert_eq!(body["type"], "usage.threshold_crossed");
    assert_eq!(
        body["data"],
        json!({
            "user_id": user.user_id, "email": "writer@example.com", "unit": "tokens",
            "threshold": 80, "used": used, "limit": 1_000,
            "period_start": body["data"]["period_start"], "period_end": body["data"]["period_end"],
        })
    );
    assert!(
        body["data"]["period_start"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00.000Z")
    );
    assert!(
        body["data"]["period_end"]
            .as_str()
            .unwrap()
            .ends_with("T23:59:59.000Z")
    );
    assert_eq!(received[0].header("webhook-id"), delivered[0]["message_id"]);
    let emails = wait_for_alert_emails(&app, "writer@example.com", 1).await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].contains("80% of your monthly tokens"),
        "{}",
        emails[0]
    );
    assert_eq!(receiver.received().len(), 1, "no second webhook");
}

async fn one_track_over_several_thresholds_records_each_and_the_limit_reached(app: TestApp) {
    let receiver = WebhookReceiver::answering(200).await;
    let admin = app.admin("admin@example.com").await;
    let (endpoint, _) =
        register_endpoint(&app, &admin, &receiver.url("/hook"), &USAGE_EVENTS).await;
    let user = app.user("writer@example.com").await;
    set_token_limit(&app, &admin, &user, Some(1_000)).await;
    assert_eq!(track(&app, &user, 1_000, "all-at-once").await.0, 200);

    let listed = alerts(&app, &user).await;
    assert_eq!(
        thresholds(&listed),
        [
            ("tokens".to_owned(), 80),
            ("tokens".to_owned(), 95),
            ("tokens".to_owned(), 100)
        ]
    );
    let delivered = settled_deliveries(&app, &admin, &endpoint).await;
    assert_eq!(delivered.len(), 4, "three crossings and the limit reached");
    let received = receiver.wait_for(4).await;
    let mut types: Vec<(String, u64)> = received
        .iter()
        .map(|r| {
            (
                r.event_type(),
                r.json()["data"]["threshold"].as_u64().unwrap(),
            )
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            ("usage.limit_reached".to_owned(), 100),
            ("usage.threshold_crossed".to_owned(), 80),
            ("usage.threshold_crossed".to_owned(), 95),
            ("usage.threshold_crossed".to_owned(), 100),
        ]
    );
    let mut ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "one message id per event");
    let emails = wait_for_alert_emails(&app, "writer@example.com", 3).await;
    assert_eq!(emails.len(), 3);
    assert!(
        emails
            .iter()
            .any(|m| m.contains("reached your monthly limit of tokens"))
    );

    // The next track is refused and changes nothing.
    let (status, body) = track(&app, &user, 1, "over").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (402, Some("token_limit_exceeded"))
    );
    assert_eq!(alerts(&app, &user).await.len(), 3);
    assert_eq!(app.count("SELECT count(*) FROM usage_alerts").await, 3);
}

async fn a_fired_threshold_never_fires_again_and_a_new_limit_fires_what_it_reaches(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("writer@example.com").await;
    set_token_limit(&app, &admin, &user, Some(1_000)).await;
    assert_eq!(track(&app, &user, 850, "a").await.0, 200);
    assert_eq!(
        thresholds(&alerts(&app, &user).await),
        [("tokens".to_owned(), 80)]
    );

    // A raised limit and an upgrade: 85 % of the new limit fires nothing (80 fired already).
    set_token_limit(&app, &admin, &user, Some(2_000)).await;
    let res = app
        .patch(
            &format!("/api/admin/users/{}", user.user_id),
            Some(&admin.access),
            json!({"plan": "basic"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(track(&app, &user, 850, "b").await.0, 200);
    assert_eq!(alerts(&app, &user).await.len(), 1);

    // 95 % of the limit in force has not fired yet: it does.
    assert_eq!(track(&app, &user, 200, "c").await.0, 200);
    let listed = alerts(&app, &user).await;
    assert_eq!(
        thresholds(&listed),
        [("tokens".to_owned(), 80), ("tokens".to_owned(), 95)]
    );
    assert_eq!(
        listed[0]["limit"], 1_000,
        "each alert keeps the limit it crossed"
    );
    assert_eq!(listed[1]["limit"], 2_000);

    // A limit lowered below the usage: the next track is refused, and the limit reached is
    // announced with it.
    set_token_limit(&app, &admin, &user, Some(1_800)).await;
    let (status, _) = track(&app, &user, 10, "d").await;
    assert_eq!(status, 402);
    let listed = alerts(&app, &user).await;
    assert_eq!(listed.len(), 3);
    assert_eq!(
        (listed[2]["threshold"].as_u64(), listed[2]["used"].as_u64()),
        (Some(100), Some(1_900))
    );

    // Raised far above: nothing fires again this period.
    set_token_limit(&app, &admin, &user, Some(1_000_000)).await;
    assert_eq!(track(&app, &user, 10, "e").await.0, 200);
    assert_eq!(alerts(&app, &user).await.len(), 3);
    assert_eq!(app.count("SELECT count(*) FROM usage_alerts").await, 3);
}

async fn notifications_off_sends_no_email_but_the_webhook(app: TestApp) {
    let receiver = WebhookReceiver::answering(204).await;
    let admin = app.admin("admin@example.com").await;
    let (endpoint, _) =
        register_endpoint(&app, &admin, &receiver.url("/hook"), &USAGE_EVENTS).await;
    let user = app.user("quiet@example.com").await;
    let res = app
        .put(
            "/api/preferences/me",
            Some(&user.access),
            json!({"notifications": false}),
        )
        .await;
    assert_eq!(res.status(), 200);
    set_token_limit(&app, &admin, &user, Some(100)).await;
    assert_eq!(track(&app, &user, 90, "a").await.0, 200);

    assert_eq!(
        thresholds(&alerts(&app, &user).await),
        [("tokens".to_owned(), 80)]
    );
    let delivered = settled_deliveries(&app, &admin, &endpoint).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["status"], "succeeded");
    assert_eq!(
        receiver.wait_for(1).await[0].event_type(),
        "usage.threshold_crossed"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE kind = 'usage_alert'")
            .await,
        0
    );
    // The verification email was sent; nothing else comes.
    app.wait_for_emails("quiet@example.com", 1).await;
    assert!(alert_emails(&app, "quiet@example.com").is_empty());
}

async fn unit_counters_alert_on_their_own_limits(app: TestApp) {
    let user = app.user("checker@example.com").await;
    // The free plan allows 5 plagiarism checks: the 4th is 80 %, the 5th 100 % (and 95 %).
    for i in 0..4 {
        assert_eq!(
            track_type(&app, &user, "plagiarism", 10, &format!("p{i}"))
                .await
                .0,
            200
        );
    }
    assert_eq!(
        thresholds(&alerts(&app, &user).await),
        [("plagiarism_checks".to_owned(), 80)]
    );
    assert_eq!(track_type(&app, &user, "plagiarism", 10, "p4").await.0, 200);
    assert_eq!(
        thresholds(&alerts(&app, &user).await),
        [
            ("plagiarism_checks".to_owned(), 80),
            ("plagiarism_checks".to_owned(), 95),
            ("plagiarism_checks".to_owned(), 100)
        ]
    );
    // No endpoint listens: the alerts are recorded and emailed, nothing is queued for webhooks.
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_deliveries").await,
        0
    );
    assert_eq!(
        wait_for_alert_emails(&app, "checker@example.com", 3)
            .await
            .len(),
        3
    );
}

async fn alerts_are_listed_to_their_own_user_only(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("writer@example.com").await;
    let other = app.user("other@example.com").await;
    set_token_limit(&app, &admin, &user, Some(100)).await;
    assert_eq!(track(&app, &user, 99, "a").await.0, 200);
    assert_eq!(alerts(&app, &user).await.len(), 2);
    assert!(alerts(&app, &other).await.is_empty());
    let listed = alerts(&app, &user).await;
    assert!(listed[0]["crossed_at"].as_str().unwrap().ends_with('Z'));
    let res = app.get("/api/usage/me/alerts", None).await;
    doztra_tests::expect_error(res, 401, "not_authenticated").await;
}

db_tests!(
    fifty_concurrent_tracks_crossing_80_percent_record_one_alert_one_email_one_webhook,
    one_track_over_several_thresholds_records_each_and_the_limit_reached,
    a_fired_threshold_never_fires_again_and_a_new_limit_fires_what_it_reaches,
    notifications_off_sends_no_email_but_the_webhook,
    unit_counters_alert_on_their_own_limits,
    alerts_are_listed_to_their_own_user_only,
);
