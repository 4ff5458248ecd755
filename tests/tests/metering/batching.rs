//! Group commit: tracks that arrive together are written in one transaction, and each keeps its
//! own outcome. The servers here wait 300 ms for a batch to fill, so requests sent at once share
//! one batch.

use super::support::*;

const POISON_MODEL: &str = "poison-model";

/// Sends every `(label, session, body)` at once; returns `label -> (status, body)`.
async fn all_at_once(
    app: &TestApp,
    requests: Vec<(&'static str, &Session, Value)>,
) -> std::collections::HashMap<&'static str, (u16, Value)> {
    let sent = requests.into_iter().map(|(label, who, body)| async move {
        let res = track(app, who, body).await;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{label}: status {status}, not JSON ({e}): {text}"));
        (label, (status, body))
    });
    futures_util::future::join_all(sent)
        .await
        .into_iter()
        .collect()
}

async fn a_mixed_batch_answers_each_track_on_its_own(app: TestApp) {
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let carol = app.user("carol@example.com").await;
    track_ok(&app, &alice, chat(99_000)).await;
    track_ok(&app, &bob, with_request_id(chat(10), "known")).await;
    for _ in 0..5 {
        track_ok(&app, &carol, total_only("plagiarism", "gpt-3.5-turbo", 10)).await;
    }
    let mut invalid = chat(10);
    invalid["prompt_tokens"] = json!(-1);
    let answers = all_at_once(
        &app,
        vec![
            ("alice-1", &alice, chat(600)),
            ("alice-2", &alice, chat(600)),
            ("alice-3", &alice, chat(600)),
            ("bob-r1", &bob, with_request_id(chat(20), "r1")),
            ("bob-r1-again", &bob, with_request_id(chat(20), "r1")),
            ("bob-known-other", &bob, with_request_id(chat(99), "known")),
            ("bob-known-same", &bob, with_request_id(chat(10), "known")),
            ("bob-invalid", &bob, invalid),
            ("bob-gpt-4", &bob, event("chat", "gpt-4", 10, 10)),
            (
                "carol-plagiarism",
                &carol,
                total_only("plagiarism", "gpt-3.5-turbo", 10),
            ),
            ("carol-chat", &carol, chat(10)),
        ],
    )
    .await;
    let status = |label: &str| answers[label].0;
    let body = |label: &str| &answers[label].1;

    let alice_statuses = {
        let mut s = vec![status("alice-1"), status("alice-2"), status("alice-3")];
        s.sort_unstable();
        s
    };
    assert_eq!(alice_statuses, [200, 200, 402], "{answers:?}");
    for label in ["alice-1", "alice-2", "alice-3"] {
        if status(label) == 402 {
            assert_eq!(body(label)["code"], "token_limit_exceeded");
            assert_eq!(body(label)["used"], 100_200);
        }
    }
    assert_eq!(tokens_used(&app, &alice).await, 100_200);

    assert_eq!((status("bob-r1"), status("bob-r1-again")), (200, 200));
    assert_eq!(body("bob-r1")["id"], body("bob-r1-again")["id"]);
    let mut duplicates = [
        body("bob-r1")["duplicate"].clone(),
        body("bob-r1-again")["duplicate"].clone(),
    ];
    duplicates.sort_by_key(|d| d.as_bool());
    assert_eq!(duplicates, [json!(false), json!(true)]);
    expect_error_body(
        status("bob-known-other"),
        body("bob-known-other"),
        409,
        "request_id_conflict",
    );
    assert_eq!(status("bob-known-same"), 200);
    assert_eq!(body("bob-known-same")["duplicate"], true);
    expect_error_body(
        status("bob-invalid"),
        body("bob-invalid"),
        422,
        "validation_error",
    );
    expect_error_body(
        status("bob-gpt-4"),
        body("bob-gpt-4"),
        403,
        "model_not_allowed",
    );
    assert_eq!(tokens_used(&app, &bob).await, 30);

    expect_error_body(
        status("carol-plagiarism"),
        body("carol-plagiarism"),
        402,
        "plagiarism_check_limit_exceeded",
    );
    assert_eq!(
        status("carol-chat"),
        200,
        "another unit of the same account is unaffected"
    );

    assert_eq!(events(&app).await, 3 + 2 + 6);
    assert_counters_match_events(&app).await;
}

fn expect_error_body(status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
}

async fn the_hot_account_is_gated_in_order_within_one_batch(app: TestApp) {
    let me = app.user("hot@example.com").await;
    track_ok(&app, &me, chat(95_000)).await;
    let requests = (0..32)
        .map(|i| -> (&'static str, &Session, Value) {
            let label: &'static str = Box::leak(format!("t{i}").into_boxed_str());
            (label, &me, with_request_id(chat(1_000), label))
        })
        .collect();
    let answers = all_at_once(&app, requests).await;
    let mut accepted: Vec<i64> = answers
        .values()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body["tokens_used"].as_i64().unwrap())
        .collect();
    accepted.sort_unstable();
    assert_eq!(
        accepted,
        [96_000, 97_000, 98_000, 99_000, 100_000],
        "each saw the running counter"
    );
    let refused = answers
        .values()
        .filter(|(status, _)| *status == 402)
        .count();
    assert_eq!(refused, 27);
    assert_eq!(tokens_used(&app, &me).await, 100_000);
    assert_counters_match_events(&app).await;
}

async fn repeats_of_one_request_id_in_a_batch_record_one_event(app: TestApp) {
    let me = app.user("repeat@example.com").await;
    let labels = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let requests = labels
        .iter()
        .map(|label| (*label, &me, with_request_id(chat(100), "same")))
        .collect();
    let answers = all_at_once(&app, requests).await;
    assert!(
        answers.values().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let first = answers
        .values()
        .filter(|(_, b)| b["duplicate"] == false)
        .count();
    assert_eq!(first, 1, "{answers:?}");
    let ids: std::collections::HashSet<String> =
        answers.values().map(|(_, b)| b["id"].to_string()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(events(&app).await, 1);
    assert_eq!(tokens_used(&app, &me).await, 100);
    assert_counters_match_events(&app).await;
}

/// Makes the database refuse roll-ups of [`POISON_MODEL`]; on PostgreSQL with `sqlstate`.
async fn poison_summaries(app: &TestApp, sqlstate: &str) {
    let statements: Vec<String> = match app.backend {
        doztra_tests::Backend::Sqlite => vec![format!(
            "CREATE TRIGGER poison BEFORE INSERT ON token_usage_summary \
             WHEN NEW.model = '{POISON_MODEL}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )],
        doztra_tests::Backend::Postgres => vec![
            format!(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.model = '{POISON_MODEL}' THEN \
                 RAISE EXCEPTION 'poisoned' USING ERRCODE = '{sqlstate}'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER poison BEFORE INSERT ON token_usage_summary \
             FOR EACH ROW EXECUTE FUNCTION poison()"
                .to_owned(),
        ],
    };
    for statement in statements {
        sea_orm::ConnectionTrait::execute_unprepared(app.db(), &statement)
            .await
            .unwrap();
    }
}

async fn a_track_the_database_refuses_fails_alone_not_its_batch(app: TestApp) {
    poison_summaries(&app, "P0001").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let answers = all_at_once(
        &app,
        vec![
            ("alice", &alice, with_request_id(chat(100), "a1")),
            ("poison", &bob, total_only("chat", POISON_MODEL, 50)),
            ("bob", &bob, with_request_id(chat(200), "b1")),
        ],
    )
    .await;
    assert_eq!(answers["alice"].0, 200, "{answers:?}");
    assert_eq!(answers["bob"].0, 200, "{answers:?}");
    expect_error_body(
        answers["poison"].0,
        &answers["poison"].1,
        500,
        "internal_error",
    );
    assert_eq!(events(&app).await, 2);
    assert_eq!(tokens_used(&app, &bob).await, 200);
    assert_counters_match_events(&app).await;
}

async fn a_batch_the_database_drops_answers_every_caller_503_and_writes_nothing(app: TestApp) {
    if app.backend == doztra_tests::Backend::Sqlite {
        return; // SQLite has no server to go away; the PostgreSQL run covers it.
    }
    // 57P01 (admin shutdown) is what PostgreSQL says when it terminates the session.
    poison_summaries(&app, "57P01").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let answers = all_at_once(
        &app,
        vec![
            ("alice", &alice, with_request_id(chat(100), "a1")),
            ("poison", &bob, total_only("chat", POISON_MODEL, 50)),
            ("bob", &bob, with_request_id(chat(200), "b1")),
        ],
    )
    .await;
    for (label, (status, body)) in &answers {
        expect_error_body(*status, body, 503, "service_unavailable");
        assert!(!label.is_empty());
    }
    assert_nothing_recorded(&app).await;
    // The same tracks succeed once the database answers again.
    sea_orm::ConnectionTrait::execute_unprepared(
        app.db(),
        "DROP TRIGGER poison ON token_usage_summary",
    )
    .await
    .unwrap();
    track_ok(&app, &alice, with_request_id(chat(100), "a1")).await;
    assert_counters_match_events(&app).await;
}

db_tests_with!(
    &[("TRACK_BATCH_WINDOW", "300ms"), ("MODEL_CATALOG", "poison-model=gpt-3.5-turbo")];
    a_mixed_batch_answers_each_track_on_its_own,
    the_hot_account_is_gated_in_order_within_one_batch,
    repeats_of_one_request_id_in_a_batch_record_one_event,
    a_track_the_database_refuses_fails_alone_not_its_batch,
    a_batch_the_database_drops_answers_every_caller_503_and_writes_nothing,
);
