//! Reserve-then-settle for streamed calls: reservations go through the same gate as tracks and
//! count as used while active; a track carrying `reservation_id` replaces one by its actual
//! counts; release and expiry give it back. After each scenario the counters equal the events
//! and `open_reservations` equals the active reservations.

use super::support::*;

const RESERVATIONS: &str = "/api/tokens/me/reservations";

fn reservation(tokens: i64) -> Value {
    json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": tokens})
}

async fn reserve(app: &TestApp, who: &Session, body: Value) -> Response {
    app.post(RESERVATIONS, Some(&who.access), body).await
}

async fn reserve_ok(app: &TestApp, who: &Session, body: Value) -> Value {
    let res = reserve(app, who, body).await;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn settling(mut body: Value, reservation: &Value) -> Value {
    body["reservation_id"] = reservation["reservation_id"].clone();
    body
}

async fn assert_reservations_consistent(app: &TestApp) {
    assert_counters_match_events(app).await;
    let open = sum(app, "open_reservations", "usage_statistics", "").await;
    let active = app
        .count("SELECT COUNT(*) FROM token_reservations WHERE state = 'active'")
        .await;
    assert_eq!(open, active, "open_reservations == active reservation rows");
}

async fn concurrent_reservations_grant_exactly_what_fits(app: TestApp) {
    let me = app.user("stream@example.com").await;
    track_ok(&app, &me, chat(95_000)).await;
    let requests = (0..20).map(|_| reserve(&app, &me, reservation(1_000)));
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|res| res.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 402).count(),
        15,
        "{statuses:?}"
    );

    let list = ok(app.get(RESERVATIONS, Some(&me.access)).await).await;
    assert_eq!(list["reservations"].as_array().unwrap().len(), 5);
    assert_eq!(list["total_reserved_tokens"], 5_000);
    // What the reservations hold counts as used for tracks and checks.
    let refused = expect_error(
        track(&app, &me, chat(10)).await,
        402,
        "token_limit_exceeded",
    )
    .await;
    assert_eq!(
        refused["used"], 100_000,
        "used counts the reservations: {refused}"
    );
    expect_error(
        check(
            &app,
            &me,
            json!({"request_type": "chat", "model": "gpt-3.5-turbo"}),
        )
        .await,
        402,
        "token_limit_exceeded",
    )
    .await;
    assert_eq!(
        tokens_used(&app, &me).await,
        95_000,
        "statistics keep their shape: no reservations"
    );
    assert_reservations_consistent(&app).await;
}

async fn concurrent_reservations_respect_unit_limits(app: TestApp) {
    let me = app.user("units@example.com").await;
    for _ in 0..4 {
        track_ok(&app, &me, total_only("plagiarism", "gpt-3.5-turbo", 10)).await;
    }
    let body =
        json!({"request_type": "plagiarism", "model": "gpt-3.5-turbo", "estimated_tokens": 10});
    let requests = (0..10).map(|_| reserve(&app, &me, body.clone()));
    let statuses: Vec<u16> = futures_util::future::join_all(requests)
        .await
        .iter()
        .map(|res| res.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_reservations_consistent(&app).await;
}

async fn a_settling_track_replaces_the_reservation_by_its_actual_counts(app: TestApp) {
    let me = app.user("settle@example.com").await;
    track_ok(&app, &me, chat(99_000)).await;
    let held = reserve_ok(&app, &me, reservation(1_000)).await;
    assert_eq!(held["reserved_tokens"], 1_000);
    // The call used more than estimated: recorded in full, although it crosses the limit.
    let body = with_request_id(settling(chat(3_000), &held), "stream-1");
    let settled = track_ok(&app, &me, body.clone()).await;
    assert_eq!(settled["tokens_used"], 102_000);
    assert_eq!(settled["tokens_remaining"], 0);
    // A retry of the settling track is a duplicate; another request on it is refused.
    let again = track_ok(&app, &me, body).await;
    assert_eq!(again["duplicate"], true);
    expect_error(
        track(
            &app,
            &me,
            with_request_id(settling(chat(5), &held), "stream-2"),
        )
        .await,
        409,
        "reservation_settled",
    )
    .await;
    let list = ok(app.get(RESERVATIONS, Some(&me.access)).await).await;
    assert_eq!(list["total_reserved_tokens"], 0);
    assert_eq!(events(&app).await, 2);
    assert_reservations_consistent(&app).await;
}

async fn a_settling_track_under_the_estimate_frees_the_rest(app: TestApp) {
    let me = app.user("under@example.com").await;
    let held = reserve_ok(&app, &me, reservation(40_000)).await;
    let settled = track_ok(&app, &me, settling(chat(2_500), &held)).await;
    assert_eq!(settled["tokens_used"], 2_500);
    assert_eq!(settled["tokens_remaining"], 97_500);
    assert_reservations_consistent(&app).await;
}

async fn unknown_foreign_and_malformed_reservations_are_refused(app: TestApp) {
    let me = app.user("me@example.com").await;
    let other = app.user("other@example.com").await;
    let theirs = reserve_ok(&app, &other, reservation(100)).await;
    let unknown = json!({"reservation_id": uuid::Uuid::now_v7().to_string()});
    for reservation in [&theirs, &unknown] {
        expect_error(
            track(&app, &me, settling(chat(10), reservation)).await,
            404,
            "not_found",
        )
        .await;
    }
    let mut malformed = chat(10);
    malformed["reservation_id"] = json!("not-a-uuid");
    let body = expect_error(track(&app, &me, malformed).await, 422, "validation_error").await;
    assert!(has_error_for(&body, "reservation_id"), "{body}");
    expect_error(
        app.delete(
            &format!(
                "{RESERVATIONS}/{}",
                theirs["reservation_id"].as_str().unwrap()
            ),
            Some(&me.access),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(events(&app).await, 0);
    assert_reservations_consistent(&app).await;
}

async fn a_retried_reservation_returns_the_same_one(app: TestApp) {
    let me = app.user("retry@example.com").await;
    let body = with_request_id(reservation(500), "gen-1");
    let first = reserve_ok(&app, &me, body.clone()).await;
    let res = reserve(&app, &me, body).await;
    assert_eq!(
        res.status(),
        200,
        "a retry answers the reservation granted before"
    );
    let again: Value = res.json().await.unwrap();
    assert_eq!(again["reservation_id"], first["reservation_id"]);
    expect_error(
        reserve(&app, &me, with_request_id(reservation(900), "gen-1")).await,
        409,
        "request_id_conflict",
    )
    .await;
    let list = ok(app.get(RESERVATIONS, Some(&me.access)).await).await;
    assert_eq!(list["total_reserved_tokens"], 500);
    assert_reservations_consistent(&app).await;
}

async fn release_gives_the_tokens_back_once(app: TestApp) {
    let me = app.user("release@example.com").await;
    track_ok(&app, &me, chat(99_000)).await;
    let held = reserve_ok(&app, &me, reservation(1_000)).await;
    expect_error(
        track(&app, &me, chat(10)).await,
        402,
        "token_limit_exceeded",
    )
    .await;
    let path = format!(
        "{RESERVATIONS}/{}",
        held["reservation_id"].as_str().unwrap()
    );
    for _ in 0..2 {
        let res = app.delete(&path, Some(&me.access)).await;
        assert_eq!(res.status(), 204, "released, then nothing left to release");
    }
    track_ok(&app, &me, chat(10)).await;
    // A settled reservation cannot be released.
    let second = reserve_ok(&app, &me, reservation(100)).await;
    track_ok(&app, &me, settling(chat(50), &second)).await;
    let path = format!(
        "{RESERVATIONS}/{}",
        second["reservation_id"].as_str().unwrap()
    );
    expect_error(
        app.delete(&path, Some(&me.access)).await,
        409,
        "reservation_settled",
    )
    .await;
    assert_reservations_consistent(&app).await;
}

async fn invalid_reservations_are_422_and_the_tier_applies(app: TestApp) {
    let me = app.user("invalid@example.com").await;
    for body in [
        json!({"request_type": "chat", "model": "gpt-3.5-turbo"}),
        json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 0}),
        json!({"request_type": "essay", "model": "gpt-3.5-turbo", "estimated_tokens": 5}),
    ] {
        expect_error(reserve(&app, &me, body).await, 422, "validation_error").await;
    }
    expect_error(
        reserve(
            &app,
            &me,
            json!({"request_type": "chat", "model": "gpt-4", "estimated_tokens": 5}),
        )
        .await,
        403,
        "model_not_allowed",
    )
    .await;
    expect_error(
        app.post(RESERVATIONS, None, reservation(5)).await,
        401,
        "not_authenticated",
    )
    .await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM token_reservations").await,
        0
    );
}

db_tests!(
    concurrent_reservations_grant_exactly_what_fits,
    concurrent_reservations_respect_unit_limits,
    a_settling_track_replaces_the_reservation_by_its_actual_counts,
    a_settling_track_under_the_estimate_frees_the_rest,
    unknown_foreign_and_malformed_reservations_are_refused,
    a_retried_reservation_returns_the_same_one,
    release_gives_the_tokens_back_once,
    invalid_reservations_are_422_and_the_tier_applies,
);

mod expiry {
    use super::*;

    async fn an_expired_reservation_stops_counting_and_is_swept(app: TestApp) {
        let me = app.user("expiry@example.com").await;
        track_ok(&app, &me, chat(99_000)).await;
        let held = reserve_ok(&app, &me, reservation(1_000)).await;
        expect_error(
            track(&app, &me, chat(10)).await,
            402,
            "token_limit_exceeded",
        )
        .await;
        app.clock().advance(chrono::TimeDelta::milliseconds(1_300));
        // Expiry is computed on read: no job has run, yet the tokens are free again.
        let list = ok(app.get(RESERVATIONS, Some(&me.access)).await).await;
        assert_eq!(list["total_reserved_tokens"], 0);
        track_ok(&app, &me, chat(10)).await;
        // Its late settling track is an ordinary one (the counter is under the limit: recorded).
        track_ok(&app, &me, settling(chat(20), &held)).await;
        let pruned = app
            .services()
            .maintenance_worker(std::time::Duration::from_secs(3600))
            .run_once()
            .await
            .unwrap();
        assert_eq!(pruned.expired_reservations, 1);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM token_reservations WHERE state = 'expired'")
                .await,
            1
        );
        assert_reservations_consistent(&app).await;
    }

    doztra_tests::clock_tests!(&[("RESERVATION_TTL", "1s")]; an_expired_reservation_stops_counting_and_is_swept);
}

mod retention {
    use super::*;

    async fn old_events_are_deleted_but_statistics_keep_them(app: TestApp) {
        let me = app.user("retention@example.com").await;
        for tokens in [100, 200, 300] {
            track_ok(&app, &me, chat(tokens)).await;
        }
        app.clock().advance(chrono::TimeDelta::milliseconds(1_300));
        track_ok(&app, &me, chat(400)).await;
        let pruned = app
            .services()
            .maintenance_worker(std::time::Duration::from_secs(3600))
            .run_once()
            .await
            .unwrap();
        assert_eq!(pruned.usage_events, 3);
        let history = ok(app.get(HISTORY, Some(&me.access)).await).await;
        assert_eq!(history["history"].as_array().unwrap().len(), 1);
        assert!(history["retained_since"].is_string(), "{history}");
        // Counters and daily roll-ups stay: statistics and usage still count every request.
        assert_eq!(tokens_used(&app, &me).await, 1_000);
        let stats = ok(app.get(STATS, Some(&me.access)).await).await;
        assert_eq!(stats["current_period"]["tokens_used"], 1_000, "{stats}");
        assert_eq!(
            sum(&app, "request_count", "token_usage_summary", "").await,
            4,
            "roll-ups keep the deleted events"
        );
    }

    doztra_tests::clock_tests!(&[("USAGE_EVENT_RETENTION", "1s")]; old_events_are_deleted_but_statistics_keep_them);
}
