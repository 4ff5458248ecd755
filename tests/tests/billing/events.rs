//! Outgoing webhook events from billing: `subscription.updated` when Stripe's webhooks change a
//! subscription (a new account's first state is not a change), and `payment.failed` for a failed
//! renewal (Stripe's `invoice.payment_failed`) and for a card declined while the customer waits.

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::{BASIC_MONTHLY as BASIC, StripeMock, answer};
use doztra_tests::TestApp;
use doztra_tests::alerting::{register_endpoint, settled_deliveries};
use doztra_tests::webhook_receiver::{Received, WebhookReceiver};
use serde_json::{Value, json};

use crate::{
    CUS, PM, SUB, current, customer_and_card, deliver, now, paid_user, subscription_event,
};

const EVENTS: [&str; 2] = ["subscription.updated", "payment.failed"];

fn data_of(received: &[Received], event_type: &str) -> Vec<Value> {
    received
        .iter()
        .filter(|r| r.event_type() == event_type)
        .map(|r| r.json()["data"].clone())
        .collect()
}

async fn stripe_changes_and_failed_renewals_are_announced(app: TestApp, stripe: StripeMock) {
    let receiver = WebhookReceiver::answering(204).await;
    let admin = app.admin("admin@example.com").await;
    let (endpoint, _) = register_endpoint(&app, &admin, &receiver.url("/hook"), &EVENTS).await;

    // A paid registration creates the subscription: no event.
    let session = paid_user(&app, &stripe, "pat@example.com", BASIC).await;

    // A failed renewal: past_due (plan kept) and the payment failure.
    let t = now() + 10;
    let failed = fixtures::event(
        "evt_failed",
        "invoice.payment_failed",
        t,
        current(fixtures::event_invoice("in_2", CUS, SUB, BASIC, false)),
    );
    assert_eq!(deliver(&app, &failed).await, "applied");
    let received = receiver.wait_for(2).await;
    let updated = data_of(&received, "subscription.updated");
    assert_eq!(updated.len(), 1);
    assert_eq!(
        updated[0],
        json!({"user_id": session.user_id, "plan": "basic", "previous_plan": "basic",
               "status": "past_due", "expires_at": updated[0]["expires_at"]})
    );
    assert!(updated[0]["expires_at"].as_str().is_some());
    let payments = data_of(&received, "payment.failed");
    assert_eq!(
        payments,
        [json!({"user_id": session.user_id, "plan": "basic", "decline_code": null})]
    );
    // The same event delivered again announces nothing more.
    assert_eq!(deliver(&app, &failed).await, "duplicate");

    // Stripe ends the subscription: basic -> free.
    let deleted = Sub::new(SUB, CUS, BASIC).status("canceled");
    let event = subscription_event(
        "evt_deleted",
        "customer.subscription.deleted",
        t + 20,
        &deleted,
    );
    assert_eq!(deliver(&app, &event).await, "applied");
    let received = receiver.wait_for(3).await;
    let updated = data_of(&received, "subscription.updated");
    assert_eq!(
        (
            updated[1]["plan"].as_str(),
            updated[1]["previous_plan"].as_str(),
            updated[1]["status"].as_str()
        ),
        (Some("free"), Some("basic"), Some("canceled"))
    );
    let settled = settled_deliveries(&app, &admin, &endpoint).await;
    assert_eq!(settled.len(), 3);
    assert!(settled.iter().all(|d| d["status"] == "succeeded"));
}

async fn a_card_declined_while_the_customer_waits_is_announced(app: TestApp, stripe: StripeMock) {
    let receiver = WebhookReceiver::answering(204).await;
    let admin = app.admin("admin@example.com").await;
    register_endpoint(&app, &admin, &receiver.url("/hook"), &EVENTS).await;
    let session = app.user("gil@example.com").await;
    customer_and_card(&stripe, "gil@example.com").await;
    answer(
        &stripe,
        "POST",
        "/v1/subscriptions",
        402,
        fixtures::error("card_error", "card_declined", "Your card was declined."),
        1,
    )
    .await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": "professional", "payment_method_id": PM}),
        )
        .await;
    assert_eq!(res.status(), 402);
    let received = receiver.wait_for(1).await;
    assert_eq!(
        data_of(&received, "payment.failed"),
        [json!({"user_id": session.user_id, "plan": "professional",
                "decline_code": "generic_decline"})]
    );
    // Nothing changed, so no subscription.updated.
    assert!(data_of(&receiver.received(), "subscription.updated").is_empty());
}

billing_tests!(
    stripe_changes_and_failed_renewals_are_announced,
    a_card_declined_while_the_customer_waits_is_announced,
);
