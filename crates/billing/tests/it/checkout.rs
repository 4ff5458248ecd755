//! `create_checkout_session`: a hosted page for a configured price, tied to the user.

use billing::{
    BillingCustomer, BillingError, BillingInterval, PaidPlan, PaymentGateway, idempotency_key,
};

use billing::test_support::fixtures;
use billing::test_support::*;

const USER: &str = "0192f5c4-7b1e-7c3a-9d2e-5a6b7c8d9e0f";
const SESSION: &str = "cs_test_a1DoztraCheckout01";

fn grace(customer: Option<&str>) -> BillingCustomer {
    BillingCustomer {
        user_id: USER.to_owned(),
        email: "grace@example.com".to_owned(),
        name: None,
        stripe_customer_id: customer.map(str::to_owned),
    }
}

#[tokio::test]
async fn checkout_session_uses_the_configured_price_and_ties_the_session_to_the_user() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "POST",
        "/v1/checkout/sessions",
        200,
        fixtures::checkout_session(SESSION, USER, None, Some("grace@example.com")),
        1,
    )
    .await;

    let session = gateway
        .create_checkout_session(
            &grace(None),
            PaidPlan::Basic,
            BillingInterval::Monthly,
            "checkout:u1:basic",
        )
        .await
        .unwrap();

    assert_eq!(session.id, SESSION);
    assert!(
        session
            .url
            .starts_with("https://checkout.stripe.com/c/pay/cs_test_"),
        "{}",
        session.url
    );

    let requests = received(&server).await;
    assert_request_hygiene(&requests);
    let sent = form(&requests[0]);
    assert_eq!(sent["mode"], "subscription");
    assert_eq!(sent["line_items[0][price]"], BASIC_MONTHLY);
    assert_eq!(sent["line_items[0][quantity]"], "1");
    assert_eq!(sent["client_reference_id"], USER);
    assert_eq!(sent["metadata[user_id]"], USER);
    assert_eq!(sent["metadata[plan]"], "basic");
    assert_eq!(sent["metadata[billing_period]"], "monthly");
    assert_eq!(sent["subscription_data[metadata][user_id]"], USER);
    assert_eq!(sent["customer_email"], "grace@example.com");
    assert!(!sent.contains_key("customer"));
    assert_eq!(sent["success_url"], SUCCESS_URL);
    assert_eq!(sent["cancel_url"], CANCEL_URL);
    assert_eq!(
        idem_header(&requests[0]),
        Some(
            idempotency_key(
                "checkout:u1:basic",
                "checkout",
                &[
                    USER,
                    "grace@example.com",
                    BASIC_MONTHLY,
                    SUCCESS_URL,
                    CANCEL_URL
                ]
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn checkout_for_an_existing_customer_names_the_customer_and_the_yearly_price() {
    let (server, gateway) = stripe().await;
    let customer = "cus_TDoztraGrace01";
    answer(
        &server,
        "POST",
        "/v1/checkout/sessions",
        200,
        fixtures::checkout_session(SESSION, USER, Some(customer), None),
        1,
    )
    .await;

    gateway
        .create_checkout_session(
            &grace(Some(customer)),
            PaidPlan::Basic,
            BillingInterval::Yearly,
            "p",
        )
        .await
        .unwrap();

    let sent = form(&received(&server).await[0]);
    assert_eq!(sent["customer"], customer);
    assert!(!sent.contains_key("customer_email"));
    assert_eq!(sent["line_items[0][price]"], BASIC_YEARLY);
}

#[tokio::test]
async fn checkout_for_an_unpriced_interval_is_refused_without_calling_stripe() {
    let (server, gateway) = stripe().await;

    let err = gateway
        .create_checkout_session(
            &grace(None),
            PaidPlan::Professional,
            BillingInterval::Yearly,
            "p",
        )
        .await
        .unwrap_err();

    assert_eq!(
        err,
        BillingError::PriceUnavailable {
            plan: PaidPlan::Professional,
            interval: BillingInterval::Yearly
        }
    );
    assert!(received(&server).await.is_empty());
}
