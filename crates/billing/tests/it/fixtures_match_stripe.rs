//! The mock's answers are only worth something if they look like Stripe's. async-stripe's
//! generated types come from Stripe's OpenAPI spec for the pinned API version and reject an
//! object that lacks a required field, so every fixture must deserialize into them.

use serde_json::Value;

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::*;

fn typed<T: miniserde::Deserialize>(what: &str, value: &Value) {
    let text = serde_json::to_string(value).unwrap();
    if let Err(err) = miniserde::json::from_str::<T>(&text) {
        panic!("{what} is not shaped like async-stripe's type: {err:?}");
    }
}

#[test]
fn fixtures_are_shaped_like_stripe_objects() {
    let cus = "cus_TDoztraAda001";
    let sub = "sub_1SDoztra0001";
    typed::<stripe_core::Customer>(
        "customer",
        &fixtures::customer(cus, "ada@example.com", Some("Ada")),
    );
    typed::<stripe_payment::PaymentMethod>(
        "payment method",
        &fixtures::payment_method("pm_card_visa", Some(cus)),
    );
    typed::<stripe_billing::Subscription>(
        "active subscription",
        &Sub::new(sub, cus, BASIC_MONTHLY).json(),
    );
    typed::<stripe_billing::Subscription>(
        "canceled subscription",
        &Sub::new(sub, cus, BASIC_MONTHLY)
            .status("canceled")
            .cancel_at_period_end(true)
            .json(),
    );
    for status in ["requires_action", "requires_payment_method"] {
        let intent = fixtures::payment_intent("pi_1", cus, status);
        typed::<stripe_core::PaymentIntent>(status, &intent);
        let invoice = fixtures::open_invoice("in_1", cus, sub, BASIC_MONTHLY, "pi_1");
        typed::<stripe_billing::Invoice>("expanded invoice", &invoice);
        let subscription = Sub::new(sub, cus, BASIC_MONTHLY)
            .status("incomplete")
            .latest_invoice(invoice);
        typed::<stripe_billing::Subscription>("incomplete subscription", &subscription.json());
        typed::<stripe_billing::Subscription>(
            "pending update",
            &subscription.pending_update(PRO_MONTHLY).json(),
        );
    }
    typed::<stripe_billing::Invoice>(
        "paid invoice",
        &fixtures::event_invoice("in_2", cus, sub, BASIC_MONTHLY, true),
    );
    typed::<stripe_billing::Invoice>(
        "failed invoice",
        &fixtures::event_invoice("in_3", cus, sub, BASIC_MONTHLY, false),
    );
    for status in ["paid", "open", "void", "draft"] {
        typed::<stripe_billing::Invoice>(
            status,
            &fixtures::listed_invoice("in_4", cus, "7D1F0E2A-0004", status, fixtures::CREATED),
        );
    }
    typed::<stripe_billing::BillingPortalSession>(
        "portal session",
        &fixtures::portal_session("bps_1", cus, PORTAL_RETURN_URL),
    );
    typed::<stripe_checkout::CheckoutSession>(
        "checkout session",
        &fixtures::checkout_session("cs_test_1", "u1", None, Some("ada@example.com")),
    );
    let card_error = fixtures::error("card_error", "card_declined", "Your card was declined.");
    typed::<stripe::ApiErrors>("card error", &card_error["error"]);
}

#[test]
fn the_shape_check_has_teeth() {
    let mut subscription = Sub::new("sub_1", "cus_1", BASIC_MONTHLY).json();
    subscription
        .as_object_mut()
        .unwrap()
        .remove("billing_schedules");
    let text = serde_json::to_string(&subscription).unwrap();
    assert!(miniserde::json::from_str::<stripe_billing::Subscription>(&text).is_err());
}
