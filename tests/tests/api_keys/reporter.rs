//! Each event records who reported it (`user` or the key's id); the admin analytics group and
//! filter by it, and the history shows and filters it.

use super::support::*;

const ADMIN_USAGE: &str = "/api/tokens/admin/usage";

async fn the_admin_report_groups_and_filters_usage_by_reporter(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let first = full_key(&app, &admin).await;
    let second = create_key(&app, &admin, &["usage:write"]).await;
    ok(app.post(ME_TRACK, Some(&user.access), chat(100, "u")).await).await;
    ok(app
        .post(&track_path(&user), Some(&first.secret), chat(200, "a"))
        .await)
    .await;
    for (tokens, id) in [(300, "b1"), (400, "b2")] {
        ok(app
            .post(&track_path(&user), Some(&second.secret), chat(tokens, id))
            .await)
        .await;
    }
    // A repeat through a key of what the user recorded stays the user's.
    let repeat = ok(app
        .post(&track_path(&user), Some(&first.secret), chat(100, "u"))
        .await)
    .await;
    assert_eq!(repeat["duplicate"], true);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM token_usage WHERE reporter = 'user'")
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM token_usage WHERE reporter = '{}'",
            second.id
        ))
        .await,
        2
    );

    let report = ok(app
        .get(
            &format!("{ADMIN_USAGE}?group_by=reporter"),
            Some(&admin.access),
        )
        .await)
    .await;
    assert_eq!(report["total_tokens"], 1_000);
    let rows = report["breakdown_by_reporter"].as_array().unwrap();
    let summary: Vec<(String, Value, i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["reporter"].as_str().unwrap().to_owned(),
                r["name"].clone(),
                r["total_tokens"].as_i64().unwrap(),
                r["request_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (second.id.clone(), json!("backend"), 700, 2),
            (first.id.clone(), json!("backend"), 200, 1),
            ("user".to_owned(), Value::Null, 100, 1),
        ]
    );

    for (reporter, tokens, count) in [
        (first.id.as_str(), 200, 1),
        ("user", 100, 1),
        (second.id.as_str(), 700, 2),
    ] {
        let filtered = ok(app
            .get(
                &format!("{ADMIN_USAGE}?reporter={reporter}&group_by=model"),
                Some(&admin.access),
            )
            .await)
        .await;
        assert_eq!(filtered["total_tokens"], tokens, "{reporter}");
        assert_eq!(filtered["request_count"], count, "{reporter}");
        assert_eq!(
            filtered["breakdown_by_model"][0]["total_tokens"], tokens,
            "{reporter}"
        );
    }
    let nobody = ok(app
        .get(
            &format!("{ADMIN_USAGE}?reporter={}", uuid::Uuid::now_v7()),
            Some(&admin.access),
        )
        .await)
    .await;
    assert_eq!(nobody["total_tokens"], 0);
    assert_eq!(nobody["breakdown_by_day"], json!([]));
    for query in ["reporter=someone", "reporter=", "group_by=reporters"] {
        expect_error(
            app.get(&format!("{ADMIN_USAGE}?{query}"), Some(&admin.access))
                .await,
            422,
            "validation_error",
        )
        .await;
    }

    let csv = app
        .get(
            &format!("{ADMIN_USAGE}?group_by=reporter&format=csv"),
            Some(&admin.access),
        )
        .await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "reporter,name,total_tokens,prompt_tokens,completion_tokens,request_count"
    );
    assert_eq!(lines[3], "user,,100,25,75,1");
    assert_counters_match_events(&app).await;
}

/// The history names each event's reporter and filters by it, on both of its counting paths
/// (the roll-ups for whole days, the events otherwise) and through the key route too.
async fn the_history_shows_and_filters_each_events_reporter(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    let user = app.user("user@example.com").await;
    let key = full_key(&app, &admin).await;
    ok(app.post(ME_TRACK, Some(&user.access), chat(100, "u")).await).await;
    for id in ["k1", "k2"] {
        ok(app
            .post(&track_path(&user), Some(&key.secret), chat(200, id))
            .await)
        .await;
    }
    let mine = "/api/tokens/me/history";
    let all = ok(app.get(mine, Some(&user.access)).await).await;
    let mut reporters: Vec<(&str, &str)> = all["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["request_id"].as_str().unwrap(),
                e["reporter"].as_str().unwrap(),
            )
        })
        .collect();
    reporters.sort_unstable();
    assert_eq!(
        reporters,
        vec![
            ("k1", key.id.as_str()),
            ("k2", key.id.as_str()),
            ("u", "user")
        ]
    );

    let today = chrono::Utc::now().date_naive();
    let whole_day = format!("start_date={today}&end_date={today}");
    let since_midnight = format!("start_date={today}T00:00:00Z");
    for (reporter, ids) in [("user", vec!["u"]), (key.id.as_str(), vec!["k1", "k2"])] {
        for dates in [whole_day.as_str(), since_midnight.as_str()] {
            let query = format!("?reporter={reporter}&{dates}");
            for (path, credential) in [
                (mine.to_owned(), &user.access),
                (
                    format!("/api/tokens/users/{}/history", user.user_id),
                    &key.secret,
                ),
            ] {
                let page = ok(app.get(&format!("{path}{query}"), Some(credential)).await).await;
                let mut got: Vec<&str> = page["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["request_id"].as_str().unwrap())
                    .collect();
                got.sort_unstable();
                assert_eq!(got, ids, "{path}{query}");
                assert_eq!(page["total_records"], ids.len(), "{path}{query}");
            }
        }
    }
    let nobody = ok(app
        .get(
            &format!("{mine}?reporter={}", uuid::Uuid::now_v7()),
            Some(&user.access),
        )
        .await)
    .await;
    assert_eq!(nobody["total_records"], 0);
    assert_eq!(nobody["history"], json!([]));
    for query in ["reporter=someone", "reporter="] {
        expect_error(
            app.get(&format!("{mine}?{query}"), Some(&user.access))
                .await,
            422,
            "validation_error",
        )
        .await;
    }
}

db_tests!(
    the_admin_report_groups_and_filters_usage_by_reporter,
    the_history_shows_and_filters_each_events_reporter
);
