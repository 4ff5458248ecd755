//! Time rules, tested by moving the services' clock instead of sleeping: token lifetimes, email
//! links, reservations and the monthly period. Every server here reads a clock the test holds,
//! set to an instant years away from the real time, so a rule that read the system's time
//! instead would fail here.

use chrono::{DateTime, TimeDelta, Utc};
use doztra_tests::reqwest::Response;
use doztra_tests::{PASSWORD, Session, TestApp, clock_tests, expect_error, link_token};
use serde_json::{Value, json};

const ME: &str = "/api/users/me";
const TRACK: &str = "/api/tokens/me/track";
const USAGE: &str = "/api/usage/me";
const RESERVATIONS: &str = "/api/tokens/me/reservations";

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

async fn ok(res: Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "body: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> Response {
    app.post("/api/auth/refresh", None, json!({"refresh_token": token}))
        .await
}

/// Refreshes and returns the new pair, with the user id of `session`.
async fn refreshed(app: &TestApp, session: &Session) -> Session {
    let body = ok(refresh(app, &session.refresh).await).await;
    Session {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        user_id: session.user_id.clone(),
    }
}

async fn verify(app: &TestApp, token: &str) -> Response {
    app.post(&format!("/api/auth/verify-email/{token}"), None, json!({}))
        .await
}

fn chat(tokens: i64) -> Value {
    json!({
        "request_type": "chat",
        "model": "gpt-3.5-turbo",
        "prompt_tokens": tokens / 4,
        "completion_tokens": tokens - tokens / 4,
        "total_tokens": tokens,
    })
}

async fn track(app: &TestApp, who: &Session, tokens: i64) -> Response {
    app.post(TRACK, Some(&who.access), chat(tokens)).await
}

async fn usage(app: &TestApp, who: &Session) -> Value {
    ok(app.get(USAGE, Some(&who.access)).await).await
}

/// An access token lives `ACCESS_TOKEN_TTL` (15 min) on the services' clock, plus the five
/// seconds of leeway; the refresh token still works then and yields a working one.
async fn an_access_token_expires_when_the_clock_passes_its_lifetime(app: TestApp) {
    let start = at("2031-03-10T12:00:00Z");
    app.clock().set(start);
    let me = app.user("expiry@example.com").await;
    ok(app.get(ME, Some(&me.access)).await).await;

    app.clock().set(start + TimeDelta::seconds(900 + 5));
    ok(app.get(ME, Some(&me.access)).await).await;

    app.clock().set(start + TimeDelta::seconds(900 + 6));
    expect_error(app.get(ME, Some(&me.access)).await, 401, "invalid_token").await;

    let renewed = refreshed(&app, &me).await;
    let profile = ok(app.get(ME, Some(&renewed.access)).await).await;
    assert_eq!(profile["email"], "expiry@example.com");
}

/// A refresh token lapses after seven idle days (`REFRESH_TOKEN_IDLE_TTL`), counted from its
/// rotation.
async fn a_refresh_token_lapses_after_seven_idle_days(app: TestApp) {
    let start = at("2031-03-10T12:00:00Z");
    app.clock().set(start);
    let me = app.user("idle@example.com").await;
    app.clock()
        .set(start + TimeDelta::days(7) - TimeDelta::seconds(1));
    let me = refreshed(&app, &me).await;
    app.clock().advance(TimeDelta::days(7));
    expect_error(refresh(&app, &me.refresh).await, 401, "invalid_token").await;
}

/// A sign-in refreshed every six days still ends thirty days after it began
/// (`REFRESH_TOKEN_TTL`).
async fn a_sign_in_kept_busy_ends_thirty_days_after_it_began(app: TestApp) {
    let start = at("2031-03-10T12:00:00Z");
    app.clock().set(start);
    let mut session = app.user("busy@example.com").await;
    for day in [6, 12, 18, 24] {
        app.clock().set(start + TimeDelta::days(day));
        session = refreshed(&app, &session).await;
    }
    app.clock()
        .set(start + TimeDelta::days(30) - TimeDelta::seconds(1));
    session = refreshed(&app, &session).await;
    ok(app.get(ME, Some(&session.access)).await).await;
    app.clock().set(start + TimeDelta::days(30));
    expect_error(refresh(&app, &session.refresh).await, 401, "invalid_token").await;
}

/// A verification link works until `EMAIL_VERIFICATION_TTL` (48 h) has passed on the clock.
async fn a_verification_link_expires_when_the_clock_passes_its_lifetime(app: TestApp) {
    let start = at("2031-03-10T12:00:00Z");
    app.clock().set(start);
    app.register("early@example.com").await;
    app.register("late@example.com").await;
    let early = link_token(&app.wait_for_emails("early@example.com", 1).await[0]);
    let late = link_token(&app.wait_for_emails("late@example.com", 1).await[0]);

    app.clock()
        .set(start + TimeDelta::hours(48) - TimeDelta::seconds(1));
    assert_eq!(verify(&app, &early).await.status(), 200);
    app.clock().set(start + TimeDelta::hours(48));
    expect_error(verify(&app, &late).await, 400, "invalid_or_expired_token").await;

    let early = app.login("early@example.com", PASSWORD).await;
    let late = app.login("late@example.com", PASSWORD).await;
    assert_eq!(
        ok(app.get(ME, Some(&early.access)).await).await["is_verified"],
        true
    );
    assert_eq!(
        ok(app.get(ME, Some(&late.access)).await).await["is_verified"],
        false
    );
}

/// An unsettled reservation holds its tokens for `RESERVATION_TTL` (10 min) on the clock, then
/// stops counting with no job run; the maintenance pass later closes it.
async fn a_reservation_stops_counting_when_the_clock_passes_its_lifetime(app: TestApp) {
    let start = at("2031-03-10T12:00:00Z");
    app.clock().set(start);
    let me = app.user("reserve@example.com").await;
    ok(track(&app, &me, 99_000).await).await;
    let res = app
        .post(
            RESERVATIONS,
            Some(&me.access),
            json!({"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 1_000}),
        )
        .await;
    assert_eq!(res.status(), 201);

    app.clock()
        .set(start + TimeDelta::seconds(600) - TimeDelta::milliseconds(1));
    let refused = expect_error(track(&app, &me, 10).await, 402, "token_limit_exceeded").await;
    assert_eq!(refused["used"], 100_000, "{refused}");
    let held = ok(app.get(RESERVATIONS, Some(&me.access)).await).await;
    assert_eq!(held["total_reserved_tokens"], 1_000);

    app.clock().set(start + TimeDelta::seconds(600));
    let held = ok(app.get(RESERVATIONS, Some(&me.access)).await).await;
    assert_eq!(held["total_reserved_tokens"], 0);
    assert_eq!(held["reservations"].as_array().unwrap().len(), 0);
    ok(track(&app, &me, 10).await).await;
    assert_eq!(usage(&app, &me).await["tokens"]["used"], 99_010);

    let pruned = app
        .services()
        .maintenance_worker(std::time::Duration::from_secs(3600))
        .run_once()
        .await
        .unwrap();
    assert_eq!(pruned.expired_reservations, 1);
    let expired = "SELECT COUNT(*) FROM token_reservations WHERE state = 'expired'";
    assert_eq!(app.count(expired).await, 1);
}

/// The period is the UTC month of the services' clock: usage of January no longer counts once
/// the clock reaches February, and the reset date moves on a month.
async fn usage_of_last_month_stops_counting_when_the_clock_enters_a_new_month(app: TestApp) {
    app.clock().set(at("2031-01-31T23:55:00Z"));
    let me = app.user("rollover@example.com").await;
    ok(track(&app, &me, 100_000).await).await;
    let refused = expect_error(track(&app, &me, 10).await, 402, "token_limit_exceeded").await;
    assert_eq!(refused["used"], 100_000, "{refused}");
    assert_eq!(refused["reset_date"], "2031-02-01T00:00:00.000Z");
    let january = usage(&app, &me).await;
    assert_eq!(january["tokens"]["used"], 100_000);
    assert_eq!(january["chat_messages"]["used"], 1);
    assert_eq!(january["tokens"]["reset_date"], "2031-02-01T00:00:00.000Z");

    app.clock().set(at("2031-02-01T00:05:00Z"));
    let february = usage(&app, &me).await;
    assert_eq!(february["tokens"]["used"], 0);
    assert_eq!(february["chat_messages"]["used"], 0);
    assert_eq!(february["tokens"]["reset_date"], "2031-03-01T00:00:00.000Z");
    ok(track(&app, &me, 10).await).await;
    assert_eq!(usage(&app, &me).await["tokens"]["used"], 10);
    // Each month has its own counters; January's stay as they were.
    let periods = "SELECT COUNT(*) FROM usage_statistics";
    assert_eq!(app.count(periods).await, 2);
    let total = "SELECT CAST(SUM(tokens_used) AS BIGINT) FROM usage_statistics";
    assert_eq!(app.count(total).await, 100_010);
}

clock_tests!(
    an_access_token_expires_when_the_clock_passes_its_lifetime,
    a_refresh_token_lapses_after_seven_idle_days,
    a_sign_in_kept_busy_ends_thirty_days_after_it_began,
    a_verification_link_expires_when_the_clock_passes_its_lifetime,
    a_reservation_stops_counting_when_the_clock_passes_its_lifetime,
    usage_of_last_month_stops_counting_when_the_clock_enters_a_new_month,
);

/// History with `USAGE_EVENT_RETENTION` (2 days here): its count and its pages hold only the
/// events still kept, whether the count comes from the daily roll-ups (whole days), from the
/// events (date-times) or from both (the day the cutoff falls in); the same before and after
/// the maintenance pass deletes the older events.
mod retention {
    use super::*;

    const HISTORY: &str = "/api/tokens/me/history";

    /// Every page of `query`, by cursor: the first page's total and every request id listed.
    async fn walk(app: &TestApp, who: &Session, query: &str) -> (u64, Vec<String>) {
        let mut url = format!("{HISTORY}?limit=2&{query}");
        let mut total = None;
        let mut listed = Vec::new();
        loop {
            let page = ok(app.get(&url, Some(&who.access)).await).await;
            total.get_or_insert(page["total_records"].as_u64().unwrap());
            for event in page["history"].as_array().unwrap() {
                listed.push(event["request_id"].as_str().unwrap().to_owned());
            }
            let Some(cursor) = page["next_cursor"].as_str() else {
                break;
            };
            url = format!("{HISTORY}?limit=2&{query}&cursor={cursor}");
        }
        (total.unwrap_or_default(), listed)
    }

    async fn history_lists_and_counts_only_the_kept_events(app: TestApp) {
        let email = "kept@example.com";
        app.clock().set(at("2031-03-06T06:00:00Z"));
        app.user(email).await;
        for at_time in [
            "2031-03-06T06:00:00Z",
            "2031-03-07T06:00:00Z",
            "2031-03-08T06:00:00Z",
            "2031-03-08T18:00:00Z",
            "2031-03-09T06:00:00Z",
            "2031-03-10T06:00:00Z",
        ] {
            app.clock().set(at(at_time));
            let me = app.login(email, PASSWORD).await;
            let mut body = chat(10);
            body["request_id"] = json!(at_time);
            ok(app.post(TRACK, Some(&me.access), body).await).await;
        }
        // Kept: after 2031-03-08T12:00.
        app.clock().set(at("2031-03-10T12:00:00Z"));
        let me = app.login(email, PASSWORD).await;
        let kept = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
        let cases = [
            (
                "",
                kept(&[
                    "2031-03-10T06:00:00Z",
                    "2031-03-09T06:00:00Z",
                    "2031-03-08T18:00:00Z",
                ]),
            ),
            (
                "start_date=2031-03-01",
                kept(&[
                    "2031-03-10T06:00:00Z",
                    "2031-03-09T06:00:00Z",
                    "2031-03-08T18:00:00Z",
                ]),
            ),
            ("end_date=2031-03-08", kept(&["2031-03-08T18:00:00Z"])),
            ("end_date=2031-03-07", kept(&[])),
            (
                "start_date=2031-03-08&end_date=2031-03-09",
                kept(&["2031-03-09T06:00:00Z", "2031-03-08T18:00:00Z"]),
            ),
            (
                "start_date=2031-03-07T00:00:00Z",
                kept(&[
                    "2031-03-10T06:00:00Z",
                    "2031-03-09T06:00:00Z",
                    "2031-03-08T18:00:00Z",
                ]),
            ),
            (
                "end_date=2031-03-09T06:00:00Z",
                kept(&["2031-03-09T06:00:00Z", "2031-03-08T18:00:00Z"]),
            ),
            (
                "start_date=2031-03-09",
                kept(&["2031-03-10T06:00:00Z", "2031-03-09T06:00:00Z"]),
            ),
            // The last day RFC 3339 can name, as "no upper bound".
            (
                "end_date=9999-12-31",
                kept(&[
                    "2031-03-10T06:00:00Z",
                    "2031-03-09T06:00:00Z",
                    "2031-03-08T18:00:00Z",
                ]),
            ),
            (
                "end_date=9999-12-31T23:59:59.999Z",
                kept(&[
                    "2031-03-10T06:00:00Z",
                    "2031-03-09T06:00:00Z",
                    "2031-03-08T18:00:00Z",
                ]),
            ),
        ];
        for pass in ["before the maintenance pass", "after it"] {
            for (query, expected) in &cases {
                let (total, listed) = walk(&app, &me, query).await;
                assert_eq!(&listed, expected, "{query} {pass}");
                assert_eq!(total, expected.len() as u64, "{query} {pass}");
            }
            let pruned = app
                .services()
                .maintenance_worker(std::time::Duration::from_secs(3600))
                .run_once()
                .await
                .unwrap();
            assert!(pass == "after it" || pruned.usage_events == 3, "{pruned:?}");
        }
        // The statistics still count every event.
        let stats = ok(app.get("/api/tokens/me", Some(&me.access)).await).await;
        assert_eq!(stats["current_period"]["tokens_used"], 60, "{stats}");
    }

    clock_tests!(&[("USAGE_EVENT_RETENTION", "2d")]; history_lists_and_counts_only_the_kept_events);
}
