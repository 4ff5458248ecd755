//! The admin usage report: groupings, CSV export and who may read it.

use super::support::*;

/// Alice (basic) and Bob (free) with known usage; returns (admin, alice, bob).
async fn two_users_with_usage(app: &TestApp) -> (Session, Session, Session) {
    let admin = app.admin("boss@example.com").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    set_subscription(app, &admin, &alice, json!({"plan": "basic"})).await;
    track_ok(app, &alice, event("chat", "gpt-4", 40, 60)).await;
    track_ok(app, &alice, event("chat", "gpt-3.5-turbo", 20, 30)).await;
    track_ok(app, &alice, total_only("plagiarism", "gpt-3.5-turbo", 25)).await;
    track_ok(app, &bob, event("prompt", "gpt-3.5-turbo", 4, 6)).await;
    track_ok(app, &bob, event("chat", "gpt-3.5-turbo", 50, 150)).await;
    (admin, alice, bob)
}

async fn admin_usage(app: &TestApp, admin: &Session, query: &str) -> Value {
    ok(app
        .get(&format!("{ADMIN_USAGE}?{query}"), Some(&admin.access))
        .await)
    .await
}

fn assert_totals(report: &Value) {
    assert_eq!(report["total_tokens"], 385, "{report}");
    assert_eq!(report["prompt_tokens"], 114, "{report}");
    assert_eq!(report["completion_tokens"], 246, "{report}");
    assert_eq!(report["request_count"], 5, "{report}");
    assert_eq!(report["active_users"], 2, "{report}");
    assert!(report["start_date"].is_string(), "{report}");
    assert!(report["end_date"].is_string(), "{report}");
}

fn rows<'a>(report: &'a Value, key: &str) -> &'a Vec<Value> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is an array: {report}"))
}

fn row_by<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value}: {rows:?}"))
}

async fn the_admin_report_groups_by_day_user_model_and_request_type(app: TestApp) {
    let p = period();
    let (admin, alice, bob) = two_users_with_usage(&app).await;
    let today = &p.today;

    // Default: the last 30 days, by day.
    let report = ok(app.get(ADMIN_USAGE, Some(&admin.access)).await).await;
    assert_totals(&report);
    let days = rows(&report, "breakdown_by_day");
    let day = row_by(days, "date", today);
    assert_eq!(day["total_tokens"], 385);
    assert_eq!(day["request_count"], 5);
    let day_sum: i64 = days
        .iter()
        .map(|d| d["total_tokens"].as_i64().unwrap())
        .sum();
    assert_eq!(day_sum, 385);

    let range = format!("start_date={today}&end_date={today}");
    let report = admin_usage(&app, &admin, &format!("{range}&group_by=day")).await;
    assert_totals(&report);
    assert_eq!(
        row_by(rows(&report, "breakdown_by_day"), "date", today)["total_tokens"],
        385
    );

    // A date-time counts as its day, the last millisecond of a day too (JavaScript's endOf).
    let report = admin_usage(
        &app,
        &admin,
        &format!("start_date={today}T00:00:00Z&end_date={today}T23:59:59.999Z"),
    )
    .await;
    assert_eq!(report["start_date"], *today);
    assert_eq!(report["end_date"], *today, "{report}");
    assert_totals(&report);

    let report = admin_usage(&app, &admin, &format!("{range}&group_by=user")).await;
    assert_totals(&report);
    let users = rows(&report, "breakdown_by_user");
    let tokens: Vec<i64> = users
        .iter()
        .map(|u| u["total_tokens"].as_i64().unwrap())
        .collect();
    assert!(
        tokens.windows(2).all(|w| w[0] >= w[1]),
        "descending: {users:?}"
    );
    let active: Vec<&Value> = users
        .iter()
        .filter(|u| u["total_tokens"].as_i64() != Some(0))
        .collect();
    assert_eq!(active.len(), 2, "{users:?}");
    assert_eq!(
        *active[0],
        json!({"user_id": bob.user_id, "email": "bob@example.com", "name": "Test User",
               "total_tokens": 210, "request_count": 2})
    );
    assert_eq!(
        *active[1],
        json!({"user_id": alice.user_id, "email": "alice@example.com", "name": "Test User",
               "total_tokens": 175, "request_count": 3})
    );

    let report = admin_usage(&app, &admin, &format!("{range}&group_by=model")).await;
    assert_totals(&report);
    let models = rows(&report, "breakdown_by_model");
    assert_eq!(models.len(), 2, "{models:?}");
    assert_eq!(
        *row_by(models, "model", "gpt-4"),
        json!({"model": "gpt-4", "total_tokens": 100, "prompt_tokens": 40,
               "completion_tokens": 60, "request_count": 1})
    );
    assert_eq!(
        *row_by(models, "model", "gpt-3.5-turbo"),
        json!({"model": "gpt-3.5-turbo", "total_tokens": 285, "prompt_tokens": 74,
               "completion_tokens": 186, "request_count": 4})
    );

    let report = admin_usage(&app, &admin, &format!("{range}&group_by=request_type")).await;
    assert_totals(&report);
    let types = rows(&report, "breakdown_by_request_type");
    assert_eq!(types.len(), 3, "{types:?}");
    for (request_type, total, count) in [("chat", 350, 3), ("plagiarism", 25, 1), ("prompt", 10, 1)]
    {
        assert_eq!(
            *row_by(types, "request_type", request_type),
            json!({"request_type": request_type, "total_tokens": total, "request_count": count})
        );
    }

    // A range with nothing in it.
    let report = admin_usage(
        &app,
        &admin,
        "start_date=2000-01-01&end_date=2000-01-31&group_by=model",
    )
    .await;
    assert_eq!(report["total_tokens"], 0);
    assert_eq!(report["request_count"], 0);
    assert_eq!(report["active_users"], 0);
    assert_eq!(rows(&report, "breakdown_by_model").len(), 0);

    let res = app
        .get(&format!("{ADMIN_USAGE}?group_by=week"), Some(&admin.access))
        .await;
    expect_error(res, 422, "validation_error").await;
}

async fn the_admin_report_exports_csv(app: TestApp) {
    let (admin, _, _) = two_users_with_usage(&app).await;
    let today = period().today;
    for (group_by, key, columns) in [
        (
            "user",
            "breakdown_by_user",
            &["user_id", "email", "name", "total_tokens", "request_count"][..],
        ),
        (
            "model",
            "breakdown_by_model",
            &[
                "model",
                "total_tokens",
                "prompt_tokens",
                "completion_tokens",
                "request_count",
            ][..],
        ),
        (
            "request_type",
            "breakdown_by_request_type",
            &["request_type", "total_tokens", "request_count"][..],
        ),
        (
            "day",
            "breakdown_by_day",
            &["date", "total_tokens", "request_count"][..],
        ),
    ] {
        let query = format!("start_date={today}&end_date={today}&group_by={group_by}");
        let json_rows = rows(&admin_usage(&app, &admin, &query).await, key).len();
        let res = app
            .get(
                &format!("{ADMIN_USAGE}?{query}&format=csv"),
                Some(&admin.access),
            )
            .await;
        assert_eq!(res.status(), 200, "{group_by}");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(
            content_type.starts_with("text/csv"),
            "{group_by}: {content_type}"
        );
        let text = res.text().await.unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let header = lines.first().copied().unwrap_or("");
        for column in columns {
            assert!(
                header.contains(column),
                "{group_by} header {header:?} has {column}"
            );
        }
        assert_eq!(lines.len(), json_rows + 1, "{group_by}: {text}");
        match group_by {
            "user" => {
                assert!(text.contains("alice@example.com") && text.contains("bob@example.com"));
                assert!(text.contains("210") && text.contains("175"));
            }
            "model" => assert!(text.contains("gpt-4") && text.contains("gpt-3.5-turbo")),
            "request_type" => assert!(text.contains("plagiarism") && text.contains("350")),
            _ => assert!(text.contains(&today) && text.contains("385")),
        }
    }
}

async fn only_admins_see_the_usage_report(app: TestApp) {
    let (_, alice, _) = two_users_with_usage(&app).await;
    for query in ["", "?group_by=user", "?group_by=user&format=csv"] {
        let path = format!("{ADMIN_USAGE}{query}");
        expect_error(
            app.get(&path, Some(&alice.access)).await,
            403,
            "admin_required",
        )
        .await;
        expect_error(app.get(&path, None).await, 401, "not_authenticated").await;
    }
}

/// Dates at the ends of the calendar are a 422, not a panic: the default start (29 days before
/// the end) of the first day chrono knows used to overflow.
async fn dates_beyond_four_digit_years_are_a_422(app: TestApp) {
    let admin = app.admin("far@example.com").await;
    for query in [
        "end_date=-262143-01-01",
        "end_date=-0001-12-31",
        "start_date=+262143-12-31",
        "start_date=9999-12-31&end_date=+10000-01-01",
    ] {
        let res = app
            .get(&format!("{ADMIN_USAGE}?{query}"), Some(&admin.access))
            .await;
        expect_error(res, 422, "validation_error").await;
        let res = app
            .get(
                &format!("/api/tokens/me/history?{query}"),
                Some(&admin.access),
            )
            .await;
        expect_error(res, 422, "validation_error").await;
    }
    let res = app
        .get(
            &format!("{ADMIN_USAGE}?start_date=9999-12-01&end_date=9999-12-31"),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), 200);
}

db_tests!(
    the_admin_report_groups_by_day_user_model_and_request_type,
    the_admin_report_exports_csv,
    only_admins_see_the_usage_report,
    dates_beyond_four_digit_years_are_a_422,
);
