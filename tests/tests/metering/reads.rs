//! Reads: the check endpoint, the period statistics, both usage endpoints and the history pages.

use super::support::*;

async fn check_answers_before_spending_and_writes_nothing(app: TestApp) {
    let p = period();
    let me = app.user("check@example.com").await;
    let res = ok(check(
        &app,
        &me,
        json!({"request_type": "chat", "model": "gpt-3.5-turbo"}),
    )
    .await)
    .await;
    assert_eq!(res["allowed"], true);
    assert_eq!(res["tokens_remaining"], 100_000);
    assert_eq!(res["units_remaining"], 150);
    assert_eq!(res["reset_date"], p.reset.as_str());
    for (request_type, units) in [("plagiarism", 5), ("prompt", 5), ("prompt_generation", 5)] {
        let res = ok(check(
            &app,
            &me,
            json!({"request_type": request_type, "model": "gpt-3.5-turbo"}),
        )
        .await)
        .await;
        assert_eq!(res["units_remaining"], units, "{request_type}");
    }
    let res = ok(check(
        &app,
        &me,
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 100_000}),
    )
    .await)
    .await;
    assert_eq!(
        res["allowed"], true,
        "an estimate that fits exactly is allowed"
    );
    assert_nothing_recorded(&app).await;

    track_ok(&app, &me, chat(1_000)).await;
    let res = ok(check(
        &app,
        &me,
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 99_000}),
    )
    .await)
    .await;
    assert_eq!(res["tokens_remaining"], 99_000);
    assert_eq!(res["units_remaining"], 149);
    let body = expect_error(
        check(
            &app,
            &me,
            json!({"request_type": "chat", "model": "gpt-3.5-turbo",
                   "estimated_tokens": 99_001}),
        )
        .await,
        402,
        "token_limit_exceeded",
    )
    .await;
    assert_eq!(body["limit"], 100_000);
    assert_eq!(body["used"], 1_000);
    assert_eq!(body["reset_date"], p.reset.as_str());
    expect_error(
        check(&app, &me, json!({"request_type": "chat", "model": "gpt-4"})).await,
        403,
        "model_not_allowed",
    )
    .await;
    expect_error(
        app.post(
            CHECK,
            None,
            json!({"request_type": "chat", "model": "gpt-3.5-turbo"}),
        )
        .await,
        401,
        "not_authenticated",
    )
    .await;

    // Only the one track wrote anything.
    assert_eq!(events(&app).await, 1);
    let stats = usage(&app, &me).await;
    assert_eq!(stats["tokens"]["used"], 1_000);
    assert_eq!(stats["chat_messages"]["used"], 1);
    assert_eq!(stats["plagiarism_checks"]["used"], 0);
    assert_counters_match_events(&app).await;
}

async fn token_statistics_show_the_period_breakdown_models_and_days(app: TestApp) {
    let p = period();
    let admin = app.admin("boss@example.com").await;
    let me = app.user("stats@example.com").await;

    let mut empty = ok(app.get(STATS, Some(&me.access)).await).await;
    // 0 or 0.0 on the wire; compared as a number, the rest exactly.
    assert!(
        approx(&empty["current_period"]["percentage_used"], 0.0),
        "{empty}"
    );
    empty["current_period"]
        .as_object_mut()
        .unwrap()
        .remove("percentage_used");
    assert_eq!(
        empty,
        json!({
            "current_period": {
                "start_date": p.start,
                "end_date": p.end,
                "tokens_used": 0,
                "tokens_limit": 100_000,
            },
            "breakdown": {
                "chat": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "plagiarism": {"total_tokens": 0},
                "prompt_generation": {"total_tokens": 0},
            },
            "models": {},
            "daily_usage": [],
        })
    );

    track_ok(&app, &me, event("chat", "gpt-3.5-turbo", 200, 800)).await;
    track_ok(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 200)).await;
    track_ok(
        &app,
        &me,
        total_only("prompt_generation", "gpt-3.5-turbo", 34),
    )
    .await;
    let stats = ok(app.get(STATS, Some(&me.access)).await).await;
    let current = &stats["current_period"];
    assert_eq!(current["start_date"], p.start.as_str());
    assert_eq!(current["end_date"], p.end.as_str());
    assert_eq!(current["tokens_used"], 1_234);
    assert_eq!(current["tokens_limit"], 100_000);
    assert!(
        approx(&current["percentage_used"], 1.23),
        "1,234 of 100,000 is 1.23%: {stats}"
    );
    assert_eq!(
        stats["breakdown"],
        json!({
            "chat": {"prompt_tokens": 200, "completion_tokens": 800, "total_tokens": 1_000},
            "plagiarism": {"total_tokens": 200},
            "prompt_generation": {"total_tokens": 34},
        })
    );
    assert_eq!(stats["models"], json!({"gpt-3.5-turbo": 1_234}));
    assert_eq!(
        stats["daily_usage"],
        json!([{"date": p.today, "total_tokens": 1_234}])
    );

    set_subscription(&app, &admin, &me, json!({"plan": "basic"})).await;
    track_ok(&app, &me, event("chat", "gpt-4", 266, 500)).await;
    let stats = ok(app.get(STATS, Some(&me.access)).await).await;
    let current = &stats["current_period"];
    assert_eq!(current["tokens_used"], 2_000);
    assert_eq!(current["tokens_limit"], 500_000);
    assert!(approx(&current["percentage_used"], 0.4), "{stats}");
    assert_eq!(
        stats["breakdown"]["chat"],
        json!({"prompt_tokens": 466, "completion_tokens": 1_300, "total_tokens": 1_766})
    );
    assert_eq!(
        stats["models"],
        json!({"gpt-3.5-turbo": 1_234, "gpt-4": 766})
    );
    assert_eq!(
        stats["daily_usage"],
        json!([{"date": p.today, "total_tokens": 2_000}])
    );

    // Another user's usage is not mine.
    let other = app.user("other@example.com").await;
    let theirs = ok(app.get(STATS, Some(&other.access)).await).await;
    assert_eq!(theirs["current_period"]["tokens_used"], 0);
    assert_eq!(theirs["models"], json!({}));
    expect_error(app.get(STATS, None).await, 401, "not_authenticated").await;
    assert_counters_match_events(&app).await;
}

async fn both_usage_endpoints_report_every_counter_against_the_plan(app: TestApp) {
    let p = period();
    let admin = app.admin("boss@example.com").await;
    let me = app.user("usage@example.com").await;
    let counter =
        |used: i64, limit: i64| json!({"used": used, "limit": limit, "reset_date": p.reset});

    let fresh = usage(&app, &me).await;
    assert_eq!(
        fresh,
        json!({
            "chat_messages": counter(0, 150),
            "plagiarism_checks": counter(0, 5),
            "prompts_generated": counter(0, 5),
            "tokens": counter(0, 100_000),
        })
    );
    assert_eq!(
        ok(app.get(USAGE_ALIAS, Some(&me.access)).await).await,
        fresh
    );

    track_ok(&app, &me, chat(10)).await;
    track_ok(&app, &me, chat(10)).await;
    track_ok(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 5)).await;
    track_ok(
        &app,
        &me,
        total_only("prompt_generation", "gpt-3.5-turbo", 7),
    )
    .await;
    let expected = json!({
        "chat_messages": counter(2, 150),
        "plagiarism_checks": counter(1, 5),
        "prompts_generated": counter(1, 5),
        "tokens": counter(32, 100_000),
    });
    assert_eq!(usage(&app, &me).await, expected);
    assert_eq!(
        ok(app.get(USAGE_ALIAS, Some(&me.access)).await).await,
        expected
    );

    set_subscription(&app, &admin, &me, json!({"plan": "basic"})).await;
    let expected = json!({
        "chat_messages": counter(2, 1_500),
        "plagiarism_checks": counter(1, 50),
        "prompts_generated": counter(1, 50),
        "tokens": counter(32, 500_000),
    });
    assert_eq!(usage(&app, &me).await, expected);
    assert_eq!(
        ok(app.get(USAGE_ALIAS, Some(&me.access)).await).await,
        expected
    );

    expect_error(app.get(USAGE, None).await, 401, "not_authenticated").await;
    expect_error(app.get(USAGE_ALIAS, None).await, 401, "not_authenticated").await;
    assert_counters_match_events(&app).await;
}

async fn history(app: &TestApp, who: &Session, query: &str) -> Value {
    ok(app
        .get(&format!("{HISTORY}?{query}"), Some(&who.access))
        .await)
    .await
}

fn totals(page: &Value) -> Vec<i64> {
    page["history"]
        .as_array()
        .unwrap_or_else(|| panic!("history is an array: {page}"))
        .iter()
        .map(|r| r["total_tokens"].as_i64().unwrap())
        .collect()
}

async fn history_pages_newest_first_and_filters(app: TestApp) {
    let p = period();
    let admin = app.admin("boss@example.com").await;
    let me = app.user("history@example.com").await;
    set_subscription(&app, &admin, &me, json!({"plan": "basic"})).await;

    let mut first = event("chat", "gpt-3.5-turbo", 4, 6);
    first["request_id"] = json!("h-1");
    first["conversation_id"] = json!("conv-1");
    let mut last = event("chat", "gpt-3.5-turbo", 20, 30);
    last["conversation_id"] = json!("conv-1");
    let payloads = [
        first,
        total_only("plagiarism", "gpt-3.5-turbo", 20),
        event("chat", "gpt-4", 10, 20),
        total_only("prompt_generation", "gpt-3.5-turbo", 40),
        last,
    ];
    let mut ids = Vec::new();
    for payload in payloads {
        ids.push(track_ok(&app, &me, payload).await["id"].clone());
        // Distinct timestamps, so "newest first" is well defined.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let page = ok(app.get(HISTORY, Some(&me.access)).await).await;
    assert_eq!(page["total_records"], 5);
    assert_eq!(page["total_pages"], 1);
    assert_eq!(page["current_page"], 1);
    assert_eq!(page["records_per_page"], 20);
    assert_eq!(totals(&page), [50, 40, 30, 20, 10], "newest first");
    let records = page["history"].as_array().unwrap();
    let got_ids: Vec<Value> = records.iter().map(|r| r["id"].clone()).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(got_ids, newest_first, "ids are the tracked ids");
    let oldest = &records[4];
    assert_eq!(oldest["request_type"], "chat");
    assert_eq!(oldest["model"], "gpt-3.5-turbo");
    assert_eq!(oldest["prompt_tokens"], 4);
    assert_eq!(oldest["completion_tokens"], 6);
    assert_eq!(oldest["total_tokens"], 10);
    assert_eq!(oldest["request_id"], "h-1");
    assert_eq!(oldest["conversation_id"], "conv-1");
    assert!(is_timestamp(&oldest["timestamp"]), "{oldest}");
    let plagiarism = &records[3];
    assert_eq!(plagiarism["request_type"], "plagiarism");
    assert_eq!(plagiarism["prompt_tokens"], 0);
    assert_eq!(plagiarism["completion_tokens"], 0);
    assert_eq!(plagiarism["request_id"], Value::Null);
    assert_eq!(plagiarism["conversation_id"], Value::Null);
    assert_eq!(
        records[1]["request_type"], "prompt",
        "the alias is stored canonically"
    );
    assert_eq!(records[2]["model"], "gpt-4");

    // Pages.
    let page = history(&app, &me, "limit=2").await;
    assert_eq!(page["total_records"], 5);
    assert_eq!(page["total_pages"], 3);
    assert_eq!(page["current_page"], 1);
    assert_eq!(page["records_per_page"], 2);
    assert_eq!(totals(&page), [50, 40]);
    let page = history(&app, &me, "page=2&limit=2").await;
    assert_eq!(page["current_page"], 2);
    assert_eq!(totals(&page), [30, 20]);
    let page = history(&app, &me, "page=3&limit=2").await;
    assert_eq!(totals(&page), [10]);
    // Aliases of `limit`.
    let page = history(&app, &me, "page=3&per_page=2").await;
    assert_eq!(page["records_per_page"], 2);
    assert_eq!(page["total_pages"], 3);
    assert_eq!(totals(&page), [10]);
    let page = history(&app, &me, "page_size=2").await;
    assert_eq!(page["records_per_page"], 2);
    assert_eq!(totals(&page), [50, 40]);
    let page = history(&app, &me, "limit=100").await;
    assert_eq!(page["records_per_page"], 100);
    assert_eq!(totals(&page), [50, 40, 30, 20, 10]);

    // Filters.
    let page = history(&app, &me, "request_type=chat").await;
    assert_eq!(page["total_records"], 3);
    assert_eq!(totals(&page), [50, 30, 10]);
    for alias in ["prompt", "prompt_generation"] {
        let page = history(&app, &me, &format!("request_type={alias}")).await;
        assert_eq!(totals(&page), [40], "{alias}");
    }
    let page = history(&app, &me, "model=gpt-4").await;
    assert_eq!(page["total_records"], 1);
    assert_eq!(totals(&page), [30]);
    let page = history(
        &app,
        &me,
        "request_type=chat&model=gpt-3.5-turbo&limit=1&page=2",
    )
    .await;
    assert_eq!(page["total_records"], 2);
    assert_eq!(page["total_pages"], 2);
    assert_eq!(totals(&page), [10]);
    let today = &p.today;
    let page = history(&app, &me, &format!("start_date={today}&end_date={today}")).await;
    assert_eq!(page["total_records"], 5, "dates are inclusive");
    let page = history(&app, &me, &format!("start_date={today}T00:00:00Z")).await;
    assert_eq!(page["total_records"], 5, "date-times are accepted");
    let page = history(&app, &me, &format!("start_date={}", p.tomorrow)).await;
    assert_eq!(page["total_records"], 0);
    assert_eq!(totals(&page), Vec::<i64>::new());
    let page = history(&app, &me, &format!("end_date={}", p.yesterday)).await;
    assert_eq!(page["total_records"], 0);

    // Refusals.
    for query in [
        "limit=0".to_owned(),
        "limit=101".to_owned(),
        "per_page=101".to_owned(),
        "start_date=not-a-date".to_owned(),
        "end_date=2025-02-30".to_owned(),
        format!("start_date={today}&end_date={}", p.yesterday),
    ] {
        let res = app
            .get(&format!("{HISTORY}?{query}"), Some(&me.access))
            .await;
        expect_error(res, 422, "validation_error").await;
    }
    let res = app
        .get(&format!("{HISTORY}?page=0&limit=0"), Some(&me.access))
        .await;
    let b = expect_error(res, 422, "validation_error").await;
    let fields = doztra_tests::error_fields(&b);
    assert_eq!(fields, ["page", "limit"], "{b}");
    // Every invalid parameter at once: one 422 naming each.
    let res = app
        .get(
            &format!(
                "{HISTORY}?page=0&request_type=video&model=&reporter=someone\
                 &start_date=x&end_date=y&cursor=c"
            ),
            Some(&me.access),
        )
        .await;
    let b = expect_error(res, 422, "validation_error").await;
    let fields = doztra_tests::error_fields(&b);
    assert_eq!(
        fields,
        [
            "page",
            "request_type",
            "model",
            "reporter",
            "start_date",
            "end_date",
            "cursor"
        ],
        "{b}"
    );

    // Mine only.
    let other = app.user("stranger@example.com").await;
    let page = ok(app.get(HISTORY, Some(&other.access)).await).await;
    assert_eq!(page["total_records"], 0);
    assert_eq!(totals(&page), Vec::<i64>::new());
    expect_error(app.get(HISTORY, None).await, 401, "not_authenticated").await;
}

fn ids(page: &Value) -> Vec<String> {
    page["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn history_cursors_walk_every_page_in_order_with_the_same_filters(app: TestApp) {
    let me = app.user("cursor@example.com").await;
    // Sent at once, so several events share a millisecond: the order must still be total.
    let tracks = (0..23).map(|i| {
        let body = if i % 5 == 0 {
            total_only("prompt", "gpt-3.5-turbo", i + 1)
        } else {
            chat(i + 1)
        };
        track_ok(&app, &me, body)
    });
    futures_util::future::join_all(tracks).await;

    // Offset pages and cursor pages list the same events in the same order.
    let mut by_offset = Vec::new();
    for page in 1..=3 {
        by_offset.extend(ids(
            &history(&app, &me, &format!("limit=10&page={page}")).await
        ));
    }
    let mut by_cursor = Vec::new();
    let mut query = "limit=10".to_owned();
    let mut pages = Vec::new();
    loop {
        let page = history(&app, &me, &query).await;
        by_cursor.extend(ids(&page));
        pages.push(page["current_page"].as_u64().unwrap());
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=10&cursor={cursor}"),
            None => {
                assert!(page["next_cursor"].is_null());
                break;
            }
        }
    }
    assert_eq!(pages, [1, 2, 3]);
    assert_eq!(by_cursor.len(), 23);
    assert_eq!(by_cursor, by_offset);
    let distinct: std::collections::HashSet<&String> = by_cursor.iter().collect();
    assert_eq!(distinct.len(), 23);

    // Filters carry over: five prompt events (the free plan's limit), pages of three and two.
    let first = history(&app, &me, "limit=3&request_type=prompt").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = history(
        &app,
        &me,
        &format!("limit=3&request_type=prompt&cursor={cursor}"),
    )
    .await;
    assert_eq!(
        totals(&second).len(),
        3 - 1,
        "6 prompts? no: 23 tracks, every fourth is a prompt"
    );
    assert!(second["next_cursor"].is_null());
    assert!(
        second["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["request_type"] == "prompt")
    );

    // The same filter written another way continues the same listing.
    let today = chrono::Utc::now().date_naive();
    let first = history(&app, &me, &format!("limit=10&start_date={today}")).await;
    let cursor_of_day = first["next_cursor"].as_str().unwrap().to_owned();
    let second = history(
        &app,
        &me,
        &format!("limit=10&start_date={today}T00:00:00Z&cursor={cursor_of_day}"),
    )
    .await;
    assert_eq!(second["current_page"], 2);
    assert_eq!(ids(&second), by_offset[10..20]);
    // The last day RFC 3339 names is no end at all.
    let first = history(&app, &me, "limit=10").await;
    let cursor_of_all = first["next_cursor"].as_str().unwrap().to_owned();
    let second = history(
        &app,
        &me,
        &format!("limit=10&end_date=9999-12-31&cursor={cursor_of_all}"),
    )
    .await;
    assert_eq!(ids(&second), by_offset[10..20]);

    // A cursor only continues the listing it came from.
    for bad in [
        format!("limit=3&request_type=chat&cursor={cursor}"),
        format!("limit=4&request_type=prompt&cursor={cursor}"),
        format!("limit=3&request_type=prompt&cursor={cursor}&page=2"),
        "cursor=not-a-cursor".to_owned(),
        "cursor=".to_owned(),
    ] {
        let res = app.get(&format!("{HISTORY}?{bad}"), Some(&me.access)).await;
        let body = expect_error(res, 422, "validation_error").await;
        assert!(has_error_for(&body, "cursor"), "{bad}: {body}");
    }
}

db_tests!(
    history_cursors_walk_every_page_in_order_with_the_same_filters,
    check_answers_before_spending_and_writes_nothing,
    token_statistics_show_the_period_breakdown_models_and_days,
    both_usage_endpoints_report_every_counter_against_the_plan,
    history_pages_newest_first_and_filters,
);
