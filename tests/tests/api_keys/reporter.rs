//! Each event records who reported it (`user` or the key's id); the admin analytics group and
//! filter by it.

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

db_tests!(the_admin_report_groups_and_filters_usage_by_reporter);
