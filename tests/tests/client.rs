//! The Rust client (`crates/client`) against the real server, on SQLite and PostgreSQL: the
//! session calls, check -> track -> reads, reservations, every typed error, and the retries,
//! through a stand-in ([`FlakyProxy`]) that fails chosen attempts: a track whose answer is lost
//! or replaced by a 5xx is sent again with the same `request_id` and counted once; and the key
//! routes with a service API key.

use std::time::{Duration, Instant};

use client::{
    Check, Client, Error, ErrorCode, HistoryQuery, Plan, RequestType, Reserve, RetryPolicy, Usage,
};
use doztra_tests::flaky_proxy::{Fault, FlakyProxy};
use doztra_tests::{PASSWORD, TestApp, db_tests};
use serde_json::{Value, json};

/// Short waits so the retry tests stay fast.
fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    }
}

fn client_of(address: &str) -> Client {
    Client::builder(address)
        .retry_policy(quick_retries())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn events_with(app: &TestApp, request_id: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM token_usage WHERE request_id = '{request_id}'"
    ))
    .await
}

async fn signed_in(app: &TestApp, client: &Client, email: &str) -> String {
    app.register(email).await;
    client.login(email, PASSWORD).await.unwrap().access_token
}

async fn sign_in_refresh_rotation_and_reuse(app: TestApp) {
    let client = client_of(&app.address);
    let signed = client
        .register("Client User", "client@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(signed.user.email, "client@example.com");
    assert_eq!(signed.user.subscription.plan, Plan::Free);
    assert!(signed.expires_in > 0);
    let debug = format!("{signed:?}");
    assert!(
        !debug.contains(&signed.refresh_token) && !debug.contains(&signed.access_token),
        "tokens are redacted: {debug}"
    );

    let login = client.login("client@example.com", PASSWORD).await.unwrap();
    let me = client.me(&login.access_token).await.unwrap();
    assert_eq!(me.id, signed.user.id);

    let next = client.refresh(&login.refresh_token).await.unwrap();
    assert_ne!(next.refresh_token, login.refresh_token);
    let newest = client.refresh(&next.refresh_token).await.unwrap();
    // Two generations old: reuse revokes the whole session.
    let reused = client.refresh(&login.refresh_token).await.unwrap_err();
    assert!(
        matches!(&reused, Error::Unauthorized(r) if r.code == ErrorCode::RefreshTokenReused),
        "{reused:?}"
    );
    let revoked = client.refresh(&newest.refresh_token).await.unwrap_err();
    assert!(matches!(revoked, Error::Unauthorized(_)), "{revoked:?}");
    let gone = client.me(&newest.access_token).await.unwrap_err();
    assert!(
        matches!(&gone, Error::Unauthorized(r) if r.code == ErrorCode::InvalidToken),
        "{gone:?}"
    );

    // The first session is untouched by the other one's revocation; logout ends it.
    client
        .logout(&signed.access_token, &signed.refresh_token)
        .await
        .unwrap();
    let after = client.refresh(&signed.refresh_token).await.unwrap_err();
    assert!(matches!(after, Error::Unauthorized(_)), "{after:?}");

    let wrong = client
        .login("client@example.com", "wrong-password")
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, Error::Unauthorized(r) if r.code == ErrorCode::InvalidCredentials),
        "{wrong:?}"
    );
}

async fn check_then_track_records_once_and_the_reads_show_it(app: TestApp) {
    let client = client_of(&app.address);
    let token = signed_in(&app, &client, "backend@example.com").await;

    let check = client
        .check(
            &token,
            &Check::new(RequestType::Chat, "gpt-3.5-turbo").estimated_tokens(500),
        )
        .await
        .unwrap();
    assert!(check.allowed);
    assert_eq!(check.tokens_remaining, Some(100_000));
    assert_eq!(check.units_remaining, Some(150));

    let usage = Usage::new(RequestType::Chat, "gpt-3.5-turbo")
        .prompt_tokens(50)
        .completion_tokens(100)
        .conversation_id("conv-1");
    assert_eq!(
        uuid::Uuid::parse_str(usage.request_id())
            .unwrap()
            .get_version_num(),
        4
    );
    let tracked = client.track(&token, &usage).await.unwrap();
    assert!(!tracked.duplicate);
    assert_eq!(tracked.tokens_used, 150);
    assert_eq!(tracked.tokens_remaining, Some(99_850));

    // Sent again (as after a lost answer): the same record, nothing counted twice.
    let again = client.track(&token, &usage).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.id, tracked.id);
    assert_eq!(again.tokens_used, 150);
    assert_eq!(events_with(&app, usage.request_id()).await, 1);

    let counters = client.usage(&token).await.unwrap();
    assert_eq!(counters.tokens.used, 150);
    assert_eq!(counters.tokens.limit, Some(100_000));
    assert_eq!(counters.chat_messages.used, 1);
    assert_eq!(counters.tokens.reset_date, tracked.reset_date);

    let stats = client.token_stats(&token).await.unwrap();
    assert_eq!(stats.current_period.tokens_used, 150);
    assert_eq!(stats.breakdown.chat.prompt_tokens, 50);
    assert_eq!(stats.models.get("gpt-3.5-turbo"), Some(&150));
    assert_eq!(stats.daily_usage.len(), 1);

    // Two more, then the history page by page with the cursor.
    for tokens in [10, 20] {
        let more = Usage::new(RequestType::Plagiarism, "gpt-3.5-turbo").total_tokens(tokens);
        client.track(&token, &more).await.unwrap();
    }
    let query = HistoryQuery {
        limit: Some(2),
        ..HistoryQuery::default()
    };
    let first = client.history(&token, &query).await.unwrap();
    assert_eq!(first.total_records, 3);
    assert_eq!(first.history.len(), 2);
    assert_eq!(first.history[0].total_tokens, 20, "newest first");
    let next = query.after(&first).expect("a second page");
    let second = client.history(&token, &next).await.unwrap();
    assert_eq!(second.history.len(), 1);
    assert_eq!(second.history[0].id, tracked.id);
    assert_eq!(second.history[0].request_type, RequestType::Chat);
    assert_eq!(
        second.history[0].request_id.as_deref(),
        Some(usage.request_id())
    );
    assert!(query.after(&second).is_none());
    let filtered = client
        .history(
            &token,
            &HistoryQuery {
                request_type: Some(RequestType::Plagiarism),
                ..HistoryQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(filtered.total_records, 2);

    assert!(client.usage_alerts(&token).await.unwrap().is_empty());
    let models = client.models(&token).await.unwrap();
    assert!(
        models
            .models
            .iter()
            .any(|m| m.name == "gpt-4" && !m.allowed)
    );
}

async fn reservations_are_reserved_settled_and_released(app: TestApp) {
    let client = client_of(&app.address);
    let token = signed_in(&app, &client, "streamer@example.com").await;

    let reserve = Reserve::new(RequestType::Chat, "gpt-3.5-turbo", 4_000);
    let held = client.reserve(&token, &reserve).await.unwrap();
    assert_eq!(held.reserved_tokens, 4_000);
    assert_eq!(held.request_id.as_deref(), Some(reserve.request_id()));
    // A retry of the reservation answers the same one.
    let again = client.reserve(&token, &reserve).await.unwrap();
    assert_eq!(again.reservation_id, held.reservation_id);
    let listed = client.reservations(&token).await.unwrap();
    assert_eq!(listed.total_reserved_tokens, 4_000);

    let settled = client
        .track(
            &token,
            &Usage::new(RequestType::Chat, "gpt-3.5-turbo")
                .prompt_tokens(1_000)
                .completion_tokens(2_500)
                .reservation(held.reservation_id),
        )
        .await
        .unwrap();
    assert_eq!(settled.tokens_used, 3_500);
    assert_eq!(
        client
            .reservations(&token)
            .await
            .unwrap()
            .total_reserved_tokens,
        0
    );
    let late = client
        .release(&token, held.reservation_id)
        .await
        .unwrap_err();
    assert!(
        matches!(&late, Error::Conflict(r) if r.code == ErrorCode::ReservationSettled),
        "{late:?}"
    );

    let other = client
        .reserve(
            &token,
            &Reserve::new(RequestType::Chat, "gpt-3.5-turbo", 10),
        )
        .await
        .unwrap();
    client.release(&token, other.reservation_id).await.unwrap();
    client.release(&token, other.reservation_id).await.unwrap();
    let unknown = client
        .release(&token, uuid::Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(matches!(unknown, Error::NotFound(_)), "{unknown:?}");
}

async fn refusals_are_typed_errors_with_the_contract_fields(app: TestApp) {
    let client = client_of(&app.address);
    let token = signed_in(&app, &client, "limited@example.com").await;
    let admin = app.admin("admin@example.com").await;
    let me = client.me(&token).await.unwrap();
    let res = app
        .patch(
            &format!("/api/admin/users/{}", me.id),
            Some(&admin.access),
            json!({"token_limit": 100}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // 403: above the plan's tier.
    let tier = client
        .check(&token, &Check::new(RequestType::Chat, "gpt-4"))
        .await
        .unwrap_err();
    assert!(
        matches!(&tier, Error::Forbidden(r) if r.code == ErrorCode::ModelNotAllowed),
        "{tier:?}"
    );
    // 422: an unknown model, and every invalid field at once.
    let unknown = client
        .track(&token, &Usage::new(RequestType::Chat, "gpt-9"))
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, Error::Invalid { refusal, .. } if refusal.code == ErrorCode::UnknownModel),
        "{unknown:?}"
    );
    let invalid = client
        .track(
            &token,
            &Usage::new(RequestType::Chat, "gpt-3.5-turbo")
                .with_request_id("x".repeat(129))
                .prompt_tokens(20_000_000),
        )
        .await
        .unwrap_err();
    let Error::Invalid { refusal, errors } = &invalid else {
        panic!("a 422: {invalid:?}");
    };
    assert_eq!(refusal.code, ErrorCode::ValidationError);
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(
        fields.contains(&"request_id") && fields.contains(&"prompt_tokens"),
        "{fields:?}"
    );

    // 402: the last request is recorded in full, then the quota body comes back typed.
    let over = Usage::new(RequestType::Chat, "gpt-3.5-turbo").total_tokens(150);
    client.track(&token, &over).await.unwrap();
    let refused = client
        .track(
            &token,
            &Usage::new(RequestType::Chat, "gpt-3.5-turbo").total_tokens(1),
        )
        .await
        .unwrap_err();
    let Error::QuotaExceeded(quota) = &refused else {
        panic!("a quota error: {refused:?}");
    };
    assert_eq!(quota.code, ErrorCode::TokenLimitExceeded);
    assert_eq!((quota.limit, quota.used), (Some(100), Some(150)));
    let reset = quota.reset_date.expect("reset_date");
    assert_eq!(reset, client.usage(&token).await.unwrap().tokens.reset_date);
    assert!(!refused.is_transient());

    // 409: the same request_id with other numbers.
    let conflict = client
        .track(&token, &over.clone().total_tokens(151))
        .await
        .unwrap_err();
    assert!(
        matches!(&conflict, Error::Conflict(r) if r.code == ErrorCode::RequestIdConflict),
        "{conflict:?}"
    );

    // 401 without a valid token.
    let anonymous = client.usage("not-a-token").await.unwrap_err();
    assert!(
        matches!(&anonymous, Error::Unauthorized(r) if r.code == ErrorCode::InvalidToken),
        "{anonymous:?}"
    );

    // 429 with Retry-After after too many failed sign-ins.
    let mut last = None;
    for _ in 0..6 {
        last = client
            .login("limited@example.com", "wrong-password")
            .await
            .err();
    }
    let throttled = last.expect("refused");
    assert!(
        matches!(&throttled, Error::TooManyRequests { refusal, retry_after: Some(wait) }
            if refusal.code == ErrorCode::TooManyAttempts && *wait > Duration::ZERO),
        "{throttled:?}"
    );
}

/// The stand-in's bodies all carry `request_id`.
fn request_ids(proxy: &FlakyProxy) -> Vec<String> {
    proxy
        .bodies()
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn a_track_whose_answer_is_lost_or_replaced_by_a_5xx_is_recorded_once(app: TestApp) {
    let token = signed_in(&app, &client_of(&app.address), "retry@example.com").await;
    for fault in [Fault::ForwardThenDrop, Fault::ForwardThen502] {
        let proxy = FlakyProxy::start(app.port, vec![fault]).await;
        let client = client_of(&proxy.address);
        let usage = Usage::new(RequestType::Chat, "gpt-3.5-turbo").total_tokens(7);
        let tracked = client.track(&token, &usage).await.unwrap();
        // The first attempt was recorded; the retry found it.
        assert!(tracked.duplicate, "{fault:?}: {tracked:?}");
        assert_eq!(
            request_ids(&proxy),
            vec![usage.request_id().to_owned(); 2],
            "{fault:?}: one request_id on every attempt"
        );
        assert_eq!(events_with(&app, usage.request_id()).await, 1, "{fault:?}");
    }
}

async fn a_503_before_the_server_is_retried_after_its_retry_after(app: TestApp) {
    let token = signed_in(&app, &client_of(&app.address), "busy@example.com").await;
    let proxy = FlakyProxy::start(
        app.port,
        vec![Fault::Answer {
            status: 503,
            retry_after: Some(1),
        }],
    )
    .await;
    let client = client_of(&proxy.address);
    let usage = Usage::new(RequestType::Chat, "gpt-3.5-turbo").total_tokens(3);
    let started = Instant::now();
    let tracked = client.track(&token, &usage).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited the Retry-After"
    );
    assert!(!tracked.duplicate, "the server saw it once");
    assert_eq!(request_ids(&proxy).len(), 2);
    assert_eq!(events_with(&app, usage.request_id()).await, 1);
}

async fn a_timed_out_track_is_sent_again_with_the_same_request_id(app: TestApp) {
    let token = signed_in(&app, &client_of(&app.address), "slow@example.com").await;
    let proxy = FlakyProxy::start(app.port, vec![Fault::Hang(Duration::from_secs(3))]).await;
    let client = Client::builder(&proxy.address)
        .retry_policy(quick_retries())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let usage = Usage::new(RequestType::Chat, "gpt-3.5-turbo").total_tokens(5);
    let tracked = client.track(&token, &usage).await.unwrap();
    assert!(!tracked.duplicate);
    assert_eq!(request_ids(&proxy), vec![usage.request_id().to_owned(); 2]);
    assert_eq!(events_with(&app, usage.request_id()).await, 1);
}

async fn retries_are_bounded_and_only_for_calls_that_cannot_count_twice(app: TestApp) {
    let token = signed_in(&app, &client_of(&app.address), "down@example.com").await;
    let always_503 = vec![
        Fault::Answer {
            status: 503,
            retry_after: None,
        };
        10
    ];
    let proxy = FlakyProxy::start(app.port, always_503.clone()).await;
    let client = client_of(&proxy.address);
    let usage = Usage::new(RequestType::Chat, "gpt-3.5-turbo").total_tokens(5);
    let err = client.track(&token, &usage).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable { status: 503, attempts: 3, refusal: Some(r), .. }
            if r.code == ErrorCode::ServiceUnavailable),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(proxy.bodies().len(), 3, "max_attempts in all");
    assert_eq!(events_with(&app, usage.request_id()).await, 0);

    // A Retry-After longer than the policy waits ends the retries at once, and is reported.
    let patient = FlakyProxy::start(
        app.port,
        vec![Fault::Answer {
            status: 503,
            retry_after: Some(120),
        }],
    )
    .await;
    let err = client_of(&patient.address)
        .track(&token, &usage)
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(patient.bodies().len(), 1);

    // Sign-in is not sent again after an answer (only when no connection could be made).
    let login_proxy = FlakyProxy::start(app.port, always_503).await;
    let err = client_of(&login_proxy.address)
        .login("down@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { attempts: 1, .. }),
        "{err:?}"
    );
    assert_eq!(login_proxy.bodies().len(), 1);

    // Nobody listening: connection errors are retried, then reported.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = client_of(&format!("http://127.0.0.1:{port}"))
        .track(&token, &usage)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport { attempts: 3, .. }),
        "{err:?}"
    );
}

async fn create_key(app: &TestApp, admin_token: &str, scopes: &[&str]) -> String {
    let res = app
        .post(
            "/api/admin/api-keys",
            Some(admin_token),
            json!({"name": "chat-backend", "scopes": scopes}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["secret"].as_str().unwrap().to_owned()
}

async fn a_service_key_meters_a_user_and_shares_the_request_id(app: TestApp) {
    let client = client_of(&app.address);
    let token = signed_in(&app, &client, "keyed@example.com").await;
    let user_id = client.me(&token).await.unwrap().id;
    let admin = app.admin("admin@example.com").await;
    let key = create_key(&app, &admin.access, &["usage:write", "usage:read"]).await;

    let check = client
        .check_for(
            &key,
            user_id,
            &Check::new(RequestType::Chat, "gpt-3.5-turbo"),
        )
        .await
        .unwrap();
    assert!(check.allowed);
    let usage = Usage::new(RequestType::Chat, "gpt-3.5-turbo").total_tokens(40);
    let tracked = client.track_for(&key, user_id, &usage).await.unwrap();
    assert!(!tracked.duplicate);
    // The user's own route knows the request_id the key recorded.
    let mine = client.track(&token, &usage).await.unwrap();
    assert!(mine.duplicate);
    assert_eq!(mine.id, tracked.id);
    assert_eq!(events_with(&app, usage.request_id()).await, 1);

    assert_eq!(
        client.usage_for(&key, user_id).await.unwrap(),
        client.usage(&token).await.unwrap()
    );
    assert_eq!(
        client
            .token_stats_for(&key, user_id)
            .await
            .unwrap()
            .current_period
            .tokens_used,
        40
    );
    let history = client
        .history_for(&key, user_id, &HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(history.history[0].id, tracked.id);

    // Typed refusals of the key routes.
    let read_only = create_key(&app, &admin.access, &["usage:read"]).await;
    let scope = client
        .track_for(
            &read_only,
            user_id,
            &Usage::new(RequestType::Chat, "gpt-3.5-turbo"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&scope, Error::Forbidden(r) if r.code == ErrorCode::InsufficientScope),
        "{scope:?}"
    );
    for not_a_key in ["dzk_not-a-key", token.as_str()] {
        let refused = client.usage_for(not_a_key, user_id).await.unwrap_err();
        assert!(
            matches!(&refused, Error::Unauthorized(r) if r.code == ErrorCode::InvalidApiKey),
            "{refused:?}"
        );
    }
    let nobody = client
        .usage_for(&key, uuid::Uuid::new_v4())
        .await
        .unwrap_err();
    assert!(matches!(nobody, Error::NotFound(_)), "{nobody:?}");
}

db_tests!(
    a_service_key_meters_a_user_and_shares_the_request_id,
    sign_in_refresh_rotation_and_reuse,
    check_then_track_records_once_and_the_reads_show_it,
    reservations_are_reserved_settled_and_released,
    refusals_are_typed_errors_with_the_contract_fields,
    a_track_whose_answer_is_lost_or_replaced_by_a_5xx_is_recorded_once,
    a_503_before_the_server_is_retried_after_its_retry_after,
    a_timed_out_track_is_sent_again_with_the_same_request_id,
    retries_are_bounded_and_only_for_calls_that_cannot_count_twice,
);
