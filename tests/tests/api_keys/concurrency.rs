//! Keys and user tokens tracking for the same user at once: one quota, one exactly-once.

use super::support::*;

/// Sends every track at once; returns (status, body) in order.
async fn all_at_once(app: &TestApp, requests: Vec<(String, String, Value)>) -> Vec<(u16, Value)> {
    let sent = requests
        .iter()
        .map(|(path, token, body)| app.post(path, Some(token), body.clone()));
    let mut out = Vec::new();
    for res in futures_util::future::join_all(sent).await {
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}, not JSON ({e}): {text}"));
        out.push((status, body));
    }
    out
}

async fn keys_and_the_user_racing_at_the_limit_share_one_quota(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("race@example.com").await;
    let first = full_key(&app, &admin).await;
    let second = create_key(&app, &admin, &["usage:write"]).await;
    ok(app
        .post(ME_TRACK, Some(&user.access), chat(95_000, "start"))
        .await)
    .await;
    let requests = (0..48)
        .map(|i| {
            let (path, token) = match i % 3 {
                0 => (ME_TRACK.to_owned(), user.access.clone()),
                1 => (track_path(&user), first.secret.clone()),
                _ => (track_path(&user), second.secret.clone()),
            };
            (path, token, chat(1_000, &format!("race-{i}")))
        })
        .collect();
    let results = all_at_once(&app, requests).await;
    let accepted = results.iter().filter(|(s, _)| *s == 200).count();
    let refused = results.iter().filter(|(s, _)| *s == 402).count();
    assert_eq!(accepted, 5, "five of 1,000 fit from 95,000: {results:?}");
    assert_eq!(refused, 43);
    for (_, body) in results.iter().filter(|(s, _)| *s == 402) {
        assert_eq!(body["code"], "token_limit_exceeded");
    }
    let usage = ok(app
        .get(
            &format!("/api/usage/users/{}", user.user_id),
            Some(&first.secret),
        )
        .await)
    .await;
    assert_eq!(usage["tokens"]["used"], 100_000);
    assert_eq!(events(&app).await, 6);
    assert_counters_match_events(&app).await;
}

async fn one_request_id_sent_through_keys_and_the_user_at_once_is_one_event(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("repeat@example.com").await;
    let key = full_key(&app, &admin).await;
    let other_key = create_key(&app, &admin, &["usage:write"]).await;
    // Ten request ids, each sent six times at once: twice by the user, twice by each key.
    let mut requests = Vec::new();
    for round in 0..6 {
        for id in 0..10 {
            let (path, token) = match round % 3 {
                0 => (ME_TRACK.to_owned(), user.access.clone()),
                1 => (track_path(&user), key.secret.clone()),
                _ => (track_path(&user), other_key.secret.clone()),
            };
            requests.push((path, token, chat(100 + id, &format!("req-{id}"))));
        }
    }
    let results = all_at_once(&app, requests).await;
    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    let fresh = results
        .iter()
        .filter(|(_, b)| b["duplicate"] == false)
        .count();
    assert_eq!(fresh, 10, "one first record per request id");
    for id in 0..10 {
        let ids: std::collections::HashSet<String> = results
            .iter()
            .skip(id)
            .step_by(10)
            .map(|(_, b)| b["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1, "every answer names one event for req-{id}");
    }
    assert_eq!(events(&app).await, 10);
    let expected: i64 = (0..10).map(|id| 100 + id).sum();
    let usage = ok(app.get("/api/usage/me", Some(&user.access)).await).await;
    assert_eq!(usage["tokens"]["used"], expected);
    assert_eq!(usage["chat_messages"]["used"], 10);
    assert_counters_match_events(&app).await;
}

db_tests!(
    keys_and_the_user_racing_at_the_limit_share_one_quota,
    one_request_id_sent_through_keys_and_the_user_at_once_is_one_event,
);
