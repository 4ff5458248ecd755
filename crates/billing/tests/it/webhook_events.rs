//! `webhook::parse_event` and `WebhookVerifier`: the events the service acts on.

use billing::webhook::{
    self, CheckoutCompleted, EventData, SubscriptionChange, WebhookError, WebhookVerifier,
};
use billing::{BillingInterval, GatewayStatus, PaidPlan};
use serde_json::{Value, json};

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::*;

const CUS: &str = "cus_TDoztraAda001";
const SUB: &str = "sub_1SDoztra0001";
const NOW: i64 = 1_780_000_100;

fn parse(event: &Value) -> EventData {
    let payload = serde_json::to_vec(event).unwrap();
    webhook::parse_event(&payload, &prices()).unwrap().data
}

#[test]
fn subscription_events_carry_the_subscription_state() {
    let object = Sub::new(SUB, CUS, PRO_MONTHLY)
        .status("past_due")
        .cancel_at_period_end(true)
        .json();
    for (type_, change) in [
        ("customer.subscription.created", SubscriptionChange::Created),
        ("customer.subscription.updated", SubscriptionChange::Updated),
        ("customer.subscription.deleted", SubscriptionChange::Deleted),
    ] {
        let payload =
            serde_json::to_vec(&fixtures::event("evt_1", type_, NOW, object.clone())).unwrap();
        let event = webhook::parse_event(&payload, &prices()).unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.type_, type_);
        assert_eq!(event.created, NOW);
        assert_eq!(event.api_version.as_deref(), Some("2026-09-30.endive"));
        let EventData::SubscriptionChanged {
            change: got,
            subscription,
        } = event.data
        else {
            panic!("{type_}: {:?}", event.data);
        };
        assert_eq!(got, change);
        assert_eq!(subscription.stripe_subscription_id, SUB);
        assert_eq!(subscription.stripe_customer_id, CUS);
        assert_eq!(subscription.status, GatewayStatus::PastDue);
        assert_eq!(subscription.plan, Some(PaidPlan::Professional));
        assert_eq!(subscription.interval, Some(BillingInterval::Monthly));
        assert_eq!(subscription.current_period_end, Some(fixtures::PERIOD_END));
        assert!(subscription.cancel_at_period_end);
        assert_eq!(subscription.cancel_at, Some(fixtures::PERIOD_END));
    }
}

#[test]
fn a_subscription_in_an_older_api_version_still_reads() {
    // Before 2025-03-31 the period was on the subscription and the customer could be expanded.
    let mut object = Sub::new(SUB, CUS, BASIC_YEARLY)
        .yearly()
        .status("canceled")
        .json();
    object["current_period_end"] = json!(1_790_000_000);
    object["items"]["data"][0]
        .as_object_mut()
        .unwrap()
        .remove("current_period_end");
    object["customer"] = fixtures::customer(CUS, "ada@example.com", None);
    let data = parse(&fixtures::event(
        "evt_2",
        "customer.subscription.deleted",
        NOW,
        object,
    ));
    let EventData::SubscriptionChanged { subscription, .. } = data else {
        panic!("{data:?}")
    };
    assert_eq!(subscription.current_period_end, Some(1_790_000_000));
    assert_eq!(subscription.stripe_customer_id, CUS);
    assert_eq!(subscription.plan, Some(PaidPlan::Basic));
    assert_eq!(subscription.interval, Some(BillingInterval::Yearly));
    assert!(subscription.status.is_ended());
}

#[test]
fn a_price_we_do_not_sell_gives_no_plan_but_keeps_the_interval() {
    let object = Sub::new(SUB, CUS, "price_1ManualDashboardPrice").json();
    let data = parse(&fixtures::event(
        "evt_3",
        "customer.subscription.updated",
        NOW,
        object,
    ));
    let EventData::SubscriptionChanged { subscription, .. } = data else {
        panic!("{data:?}")
    };
    assert_eq!(subscription.plan, None);
    assert_eq!(subscription.interval, Some(BillingInterval::Monthly));
    assert_eq!(
        subscription.price_id.as_deref(),
        Some("price_1ManualDashboardPrice")
    );
}

#[test]
fn checkout_completed_ties_the_subscription_to_the_user() {
    let user = "0192f5c4-7b1e-7c3a-9d2e-5a6b7c8d9e0f";
    let mut session = fixtures::checkout_session("cs_test_a1Done", user, Some(CUS), None);
    session["subscription"] = json!(SUB);
    session["status"] = json!("complete");
    session["payment_status"] = json!("paid");
    let data = parse(&fixtures::event(
        "evt_4",
        "checkout.session.completed",
        NOW,
        session,
    ));
    let EventData::CheckoutCompleted(CheckoutCompleted {
        session_id,
        client_reference_id,
        customer_id,
        subscription_id,
        mode,
        payment_status,
        metadata,
    }) = data
    else {
        panic!("{data:?}")
    };
    assert_eq!(session_id, "cs_test_a1Done");
    assert_eq!(client_reference_id.as_deref(), Some(user));
    assert_eq!(customer_id.as_deref(), Some(CUS));
    assert_eq!(subscription_id.as_deref(), Some(SUB));
    assert_eq!(mode.as_deref(), Some("subscription"));
    assert_eq!(payment_status.as_deref(), Some("paid"));
    assert_eq!(metadata["user_id"], user);
    assert_eq!(metadata["plan"], "basic");
}

#[test]
fn invoice_paid_names_the_subscription_and_the_period_paid_for() {
    let invoice = fixtures::event_invoice("in_1SPaid", CUS, SUB, BASIC_MONTHLY, true);
    let data = parse(&fixtures::event("evt_5", "invoice.paid", NOW, invoice));
    let EventData::InvoicePaid(paid) = data else {
        panic!("{data:?}")
    };
    assert_eq!(paid.invoice_id, "in_1SPaid");
    assert_eq!(paid.subscription_id.as_deref(), Some(SUB));
    assert_eq!(paid.customer_id.as_deref(), Some(CUS));
    assert_eq!(paid.billing_reason.as_deref(), Some("subscription_cycle"));
    assert_eq!(paid.period_end, Some(fixtures::PERIOD_END));
}

#[test]
fn invoice_subscription_is_found_in_older_and_newer_shapes() {
    // Pre-2025-03-31: `invoice.subscription`, no `parent`.
    let mut old = fixtures::event_invoice("in_1SOld", CUS, SUB, BASIC_MONTHLY, true);
    old["parent"] = Value::Null;
    old["lines"]["data"][0]["parent"] = Value::Null;
    old["subscription"] = json!(SUB);
    let EventData::InvoicePaid(paid) = parse(&fixtures::event("evt_6", "invoice.paid", NOW, old))
    else {
        panic!()
    };
    assert_eq!(paid.subscription_id.as_deref(), Some(SUB));

    // Only the line items know it.
    let mut lines_only = fixtures::event_invoice("in_1SLines", CUS, SUB, BASIC_MONTHLY, true);
    lines_only["parent"] = Value::Null;
    let EventData::InvoicePaid(paid) =
        parse(&fixtures::event("evt_7", "invoice.paid", NOW, lines_only))
    else {
        panic!()
    };
    assert_eq!(paid.subscription_id.as_deref(), Some(SUB));

    // A one-off invoice has none.
    let mut one_off = fixtures::event_invoice("in_1SOneOff", CUS, SUB, BASIC_MONTHLY, true);
    one_off["parent"] = Value::Null;
    one_off["lines"]["data"][0]["parent"] = Value::Null;
    let EventData::InvoicePaid(paid) =
        parse(&fixtures::event("evt_8", "invoice.paid", NOW, one_off))
    else {
        panic!()
    };
    assert_eq!(paid.subscription_id, None);
}

#[test]
fn invoice_payment_failed_says_when_stripe_retries() {
    let invoice = fixtures::event_invoice("in_1SFailed", CUS, SUB, PRO_MONTHLY, false);
    let data = parse(&fixtures::event(
        "evt_9",
        "invoice.payment_failed",
        NOW,
        invoice,
    ));
    let EventData::InvoicePaymentFailed(failed) = data else {
        panic!("{data:?}")
    };
    assert_eq!(failed.subscription_id.as_deref(), Some(SUB));
    assert_eq!(failed.attempt_count, Some(2));
    assert_eq!(
        failed.next_payment_attempt,
        Some(fixtures::CREATED + 259_200)
    );
}

#[test]
fn unknown_event_types_are_other_not_errors() {
    for type_ in [
        "customer.created",
        "payment_intent.succeeded",
        "v2.core.account.updated",
        "something.new",
    ] {
        let data = parse(&fixtures::event(
            "evt_10",
            type_,
            NOW,
            json!({ "id": "x", "object": "unknown_thing" }),
        ));
        assert_eq!(data, EventData::Other, "{type_}");
    }
}

#[test]
fn unreadable_payloads_are_invalid_payload_errors() {
    let not_json = webhook::parse_event(b"not json", &prices()).unwrap_err();
    assert!(matches!(not_json, WebhookError::InvalidPayload(_)));
    assert!(!not_json.is_signature_error());

    let bad_object = serde_json::to_vec(&fixtures::event(
        "evt_11",
        "customer.subscription.updated",
        NOW,
        json!({ "id": SUB }),
    ))
    .unwrap();
    assert!(matches!(
        webhook::parse_event(&bad_object, &prices()),
        Err(WebhookError::InvalidPayload(_))
    ));
}

#[test]
fn the_verifier_checks_then_parses_with_the_configured_secrets() {
    let verifier = WebhookVerifier::new(&settings("http://127.0.0.1:9"));
    let payload = serde_json::to_vec(&fixtures::event(
        "evt_12",
        "customer.subscription.updated",
        NOW,
        Sub::new(SUB, CUS, BASIC_MONTHLY).json(),
    ))
    .unwrap();

    for secret in [WEBHOOK_SECRET, PREVIOUS_WEBHOOK_SECRET] {
        let header = webhook::sign(&payload, secret, NOW);
        let event = verifier
            .verify_and_parse(&payload, &header, NOW + 10)
            .unwrap();
        assert_eq!(event.id, "evt_12");
    }

    let header = webhook::sign(&payload, WEBHOOK_SECRET, NOW);
    assert_eq!(
        verifier
            .verify_and_parse(&payload, &header, NOW + 301)
            .unwrap_err(),
        WebhookError::Stale { timestamp: NOW }
    );
    assert_eq!(
        verifier.verify_and_parse(b"{}", &header, NOW).unwrap_err(),
        WebhookError::SignatureMismatch
    );
}
