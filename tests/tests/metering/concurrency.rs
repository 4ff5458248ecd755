//! Concurrency: racing tracks at a limit, concurrent repeats, and two instances sharing one
//! quota; the counters equal the events afterwards.

use super::support::*;

/// Sends `n` chat tracks of 1,000 tokens at once, with distinct request ids; `instances` take
/// turns. Returns the status and body of each.
async fn burst(instances: &[&TestApp], who: &Session, n: usize) -> Vec<(u16, Value)> {
    let requests = (0..n).map(|i| {
        let target = instances[i % instances.len()];
        target.post(
            TRACK,
            Some(&who.access),
            with_request_id(chat(1_000), &format!("burst-{i}")),
        )
    });
    let mut out = Vec::new();
    for res in futures_util::future::join_all(requests).await {
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}, not JSON ({e}): {text}"));
        out.push((status, body));
    }
    out
}

async fn assert_limit_race_outcome(app: &TestApp, who: &Session, results: &[(u16, Value)]) {
    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    let refused: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 402)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(accepted, 5, "statuses: {statuses:?}");
    assert_eq!(refused.len(), 45, "statuses: {statuses:?}");
    for body in refused {
        assert_eq!(body["code"], "token_limit_exceeded", "{body}");
        assert_eq!(body["limit"], 100_000, "{body}");
    }
    for (_, body) in results.iter().filter(|(s, _)| *s == 200) {
        assert_eq!(body["duplicate"], false);
    }
    let used = tokens_used(app, who).await;
    assert!(
        (100_000..101_000).contains(&used),
        "overshoot below one request's tokens: {used}"
    );
    assert_eq!(used, 100_000, "five of 1,000 fit exactly from 95,000");
    assert_eq!(events(app).await, 6);
    assert_counters_match_events(app).await;
}

async fn concurrent_tracks_at_the_limit_overshoot_by_less_than_one_request(app: TestApp) {
    let me = app.user("race@example.com").await;
    track_ok(&app, &me, chat(95_000)).await;
    let results = burst(&[&app], &me, 50).await;
    assert_limit_race_outcome(&app, &me, &results).await;
}

async fn concurrent_repeats_of_one_request_id_record_one_event(app: TestApp) {
    let me = app.user("repeat@example.com").await;
    let payload = with_request_id(chat(700), "same-request");
    let requests = (0..20).map(|_| track(&app, &me, payload.clone()));
    let mut bodies = Vec::new();
    for res in futures_util::future::join_all(requests).await {
        bodies.push(ok(res).await);
    }
    let fresh = bodies.iter().filter(|b| b["duplicate"] == false).count();
    assert_eq!(fresh, 1, "exactly one first record");
    assert!(
        bodies
            .iter()
            .all(|b| b["duplicate"] == false || b["duplicate"] == true),
        "duplicate is a boolean"
    );
    let id = &bodies[0]["id"];
    assert!(id.is_string());
    assert!(bodies.iter().all(|b| b["id"] == *id), "one id for all");
    assert_eq!(events(&app).await, 1);
    let stats = usage(&app, &me).await;
    assert_eq!(stats["tokens"]["used"], 700);
    assert_eq!(stats["chat_messages"]["used"], 1);
    assert_counters_match_events(&app).await;
}

async fn concurrent_plagiarism_checks_stop_at_exactly_the_unit_limit(app: TestApp) {
    let me = app.user("plagrace@example.com").await;
    let requests = (0..20).map(|i| {
        track(
            &app,
            &me,
            with_request_id(
                total_only("plagiarism", "gpt-3.5-turbo", 10),
                &format!("plag-{i}"),
            ),
        )
    });
    let mut accepted = 0;
    let mut statuses = Vec::new();
    for res in futures_util::future::join_all(requests).await {
        let status = res.status().as_u16();
        statuses.push(status);
        if status == 200 {
            accepted += 1;
        } else {
            expect_error(res, 402, "plagiarism_check_limit_exceeded").await;
        }
    }
    assert_eq!(accepted, 5, "statuses: {statuses:?}");
    let stats = usage(&app, &me).await;
    assert_eq!(stats["plagiarism_checks"]["used"], 5);
    assert_eq!(stats["tokens"]["used"], 50);
    assert_eq!(events(&app).await, 5);
    assert_counters_match_events(&app).await;
}

async fn two_instances_racing_at_the_limit_share_one_quota(app: TestApp) {
    let other = app.second_instance().await;
    let me = app.user("multi@example.com").await;
    track_ok(&other, &me, chat(95_000)).await;
    let results = burst(&[&app, &other], &me, 50).await;
    assert_limit_race_outcome(&app, &me, &results).await;
    assert_eq!(
        tokens_used(&other, &me).await,
        100_000,
        "both instances agree"
    );
}

db_tests!(
    concurrent_tracks_at_the_limit_overshoot_by_less_than_one_request,
    concurrent_repeats_of_one_request_id_record_one_event,
    concurrent_plagiarism_checks_stop_at_exactly_the_unit_limit,
    two_instances_racing_at_the_limit_share_one_quota,
);
