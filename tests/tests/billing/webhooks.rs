//! Webhooks: signatures, exactly once, ordering, renewals, unknown events, Stripe down.

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::{
    BASIC_MONTHLY as BASIC, PREVIOUS_WEBHOOK_SECRET, PRO_MONTHLY as PRO, StripeMock,
    WEBHOOK_SECRET, answer,
};
use doztra_tests::{TestApp, expect_error};
use serde_json::json;

use crate::{
    CUS, SUB, current, deliver, deliver_signed, now, paid_user, subscription, subscription_event,
};

async fn webhook_signatures_are_verified(app: TestApp, _stripe: StripeMock) {
    let event = fixtures::event("evt_sig", "product.created", now(), json!({"id": "prod_1"}));
    let body = serde_json::to_vec(&event).unwrap();
    // Good with the current secret and with the previous one.
    let res = deliver_signed(&app, &event, WEBHOOK_SECRET, now()).await;
    assert_eq!(res.status(), 200);
    let other = fixtures::event(
        "evt_sig_prev",
        "product.created",
        now(),
        json!({"id": "prod_1"}),
    );
    let res = deliver_signed(&app, &other, PREVIOUS_WEBHOOK_SECRET, now()).await;
    assert_eq!(res.status(), 200);
    // Wrong secret, stale, missing.
    let third = fixtures::event(
        "evt_sig_3",
        "product.created",
        now(),
        json!({"id": "prod_1"}),
    );
    let res = deliver_signed(&app, &third, "whsec_someone_else", now()).await;
    expect_error(res, 400, "invalid_signature").await;
    let res = deliver_signed(&app, &third, WEBHOOK_SECRET, now() - 301).await;
    expect_error(res, 400, "invalid_signature").await;
    let res = app
        .client
        .post(app.url("/api/billing/webhook"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_signature").await;
    // Tampered: signed, then one byte changed.
    let signature = billing::webhook::sign(&body, WEBHOOK_SECRET, now());
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("prod_1", "prod_2");
    let res = app
        .client
        .post(app.url("/api/billing/webhook"))
        .header("stripe-signature", signature.clone())
        .body(tampered)
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "invalid_signature").await;
    // Two v1 values (Stripe sends several while secrets roll): any one matching is enough.
    let t = now();
    let good = billing::webhook::sign(&serde_json::to_vec(&third).unwrap(), WEBHOOK_SECRET, t);
    let good_v1 = good.split("v1=").nth(1).unwrap();
    let header = format!("t={t},v1={},v1={good_v1}", "0".repeat(64));
    let res = app
        .client
        .post(app.url("/api/billing/webhook"))
        .header("stripe-signature", header)
        .body(serde_json::to_vec(&third).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Nothing of the refused deliveries was stored.
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 3);
}

async fn a_replayed_event_is_applied_once(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "jo@example.com", BASIC).await;
    let due = Sub::new(SUB, CUS, BASIC).status("past_due");
    let event = subscription_event("evt_once", "customer.subscription.updated", now() + 5, &due);
    // Five concurrent deliveries of one event, then one more.
    let outcomes = futures_util::future::join_all((0..5).map(|_| deliver(&app, &event))).await;
    assert_eq!(
        outcomes.iter().filter(|o| *o == "applied").count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().all(|o| o == "applied" || o == "duplicate"));
    assert_eq!(deliver(&app, &event).await, "duplicate");
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 1);
    let sub = subscription(&app, &session).await;
    assert_eq!(sub["status"], "past_due");
    assert_eq!(sub["plan"], "basic", "past_due keeps the plan");
}

async fn an_update_arriving_after_the_deletion_is_stale(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "kim@example.com", PRO).await;
    let t = now() + 10;
    let deleted = Sub::new(SUB, CUS, PRO).status("canceled");
    let event = subscription_event(
        "evt_deleted",
        "customer.subscription.deleted",
        t + 10,
        &deleted,
    );
    assert_eq!(deliver(&app, &event).await, "applied");
    // The older `updated` (still active) arrives late.
    let active = Sub::new(SUB, CUS, PRO);
    let late = subscription_event("evt_late", "customer.subscription.updated", t + 5, &active);
    assert_eq!(deliver(&app, &late).await, "stale");
    // Even a newer-looking event cannot revive a canceled subscription.
    let later = subscription_event(
        "evt_later",
        "customer.subscription.updated",
        t + 20,
        &active,
    );
    assert_eq!(deliver(&app, &later).await, "stale");
    let sub = subscription(&app, &session).await;
    assert_eq!(sub["plan"], "free");
    assert_eq!(sub["status"], "canceled");
    assert_eq!(sub["max_model_tier"], "gpt-3.5-turbo");
}

async fn a_failed_renewal_then_a_paid_one(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "lee@example.com", BASIC).await;
    let t = now() + 10;
    let failed = fixtures::event(
        "evt_failed",
        "invoice.payment_failed",
        t,
        current(fixtures::event_invoice("in_2", CUS, SUB, BASIC, false)),
    );
    assert_eq!(deliver(&app, &failed).await, "applied");
    let sub = subscription(&app, &session).await;
    assert_eq!(sub["status"], "past_due");
    assert_eq!(sub["plan"], "basic");
    // Stripe's retry succeeds; the service fetches the subscription as it is now.
    answer(
        &stripe,
        "GET",
        &format!("/v1/subscriptions/{SUB}"),
        200,
        current(Sub::new(SUB, CUS, BASIC).json()),
        1,
    )
    .await;
    let paid = fixtures::event(
        "evt_paid",
        "invoice.paid",
        t + 60,
        current(fixtures::event_invoice("in_2", CUS, SUB, BASIC, true)),
    );
    assert_eq!(deliver(&app, &paid).await, "applied");
    let sub = subscription(&app, &session).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["plan"], "basic");
    // The failure delivered again late changes nothing.
    assert_eq!(deliver(&app, &failed).await, "duplicate");
    let again = fixtures::event(
        "evt_failed_old",
        "invoice.payment_failed",
        t - 5,
        current(fixtures::event_invoice("in_2", CUS, SUB, BASIC, false)),
    );
    assert_eq!(deliver(&app, &again).await, "stale");
    assert_eq!(subscription(&app, &session).await["status"], "active");
}

async fn events_in_the_same_second_are_settled_by_fetching(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "max@example.com", BASIC).await;
    let t = now() + 10;
    let first = subscription_event(
        "evt_a",
        "customer.subscription.updated",
        t,
        &Sub::new(SUB, CUS, BASIC).status("past_due"),
    );
    assert_eq!(deliver(&app, &first).await, "applied");
    // Same second, payload says active: which came first? Stripe is asked.
    answer(
        &stripe,
        "GET",
        &format!("/v1/subscriptions/{SUB}"),
        200,
        current(Sub::new(SUB, CUS, BASIC).status("past_due").json()),
        1,
    )
    .await;
    let second = subscription_event(
        "evt_b",
        "customer.subscription.updated",
        t,
        &Sub::new(SUB, CUS, BASIC),
    );
    assert_eq!(deliver(&app, &second).await, "applied");
    assert_eq!(subscription(&app, &session).await["status"], "past_due");
}

async fn unknown_customers_and_types_are_acknowledged(app: TestApp, _stripe: StripeMock) {
    let stranger = Sub::new("sub_1SNobody", "cus_Nobody", BASIC);
    let event = subscription_event("evt_x", "customer.subscription.updated", now(), &stranger);
    assert_eq!(deliver(&app, &event).await, "unknown_customer");
    let other = fixtures::event("evt_y", "charge.refunded", now(), json!({"id": "ch_1"}));
    assert_eq!(deliver(&app, &other).await, "ignored");
    // Signed but not an event: refused, not stored.
    let res = deliver_signed(&app, &json!({"hello": "world"}), WEBHOOK_SECRET, now()).await;
    expect_error(res, 422, "validation_error").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 2);
}

async fn an_unreachable_stripe_is_502_and_the_event_is_retried(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "ned@example.com", BASIC).await;
    let outage = fixtures::error("api_error", "", "Something went wrong on Stripe's end.");
    answer(
        &stripe,
        "GET",
        &format!("/v1/subscriptions/{SUB}"),
        500,
        outage,
        1..,
    )
    .await;
    let paid = fixtures::event(
        "evt_paid_later",
        "invoice.paid",
        now() + 10,
        current(fixtures::event_invoice("in_3", CUS, SUB, BASIC, true)),
    );
    let res = deliver_signed(&app, &paid, WEBHOOK_SECRET, now()).await;
    expect_error(res, 502, "payment_provider_unavailable").await;
    // Not recorded: Stripe's redelivery will be applied.
    assert_eq!(app.count("SELECT COUNT(*) FROM stripe_events").await, 0);
    // A plan change while Stripe is down changes nothing.
    let before = subscription(&app, &session).await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": "professional"}),
        )
        .await;
    expect_error(res, 502, "payment_provider_unavailable").await;
    assert_eq!(subscription(&app, &session).await, before);
}

billing_tests!(
    webhook_signatures_are_verified,
    a_replayed_event_is_applied_once,
    an_update_arriving_after_the_deletion_is_stale,
    a_failed_renewal_then_a_paid_one,
    events_in_the_same_second_are_settled_by_fetching,
    unknown_customers_and_types_are_acknowledged,
    an_unreachable_stripe_is_502_and_the_event_is_retried,
);
