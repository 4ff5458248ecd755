//! `subscribe`: customer, payment method, subscription, and the first payment's outcome.

use billing::{
    BillingCustomer, BillingError, BillingInterval, GatewayStatus, PaidPlan, PaymentGateway,
    idempotency_key,
};
use serde_json::json;

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::*;

const PM: &str = "pm_card_visa";
const CUS: &str = "cus_TDoztraAda001";
const SUB: &str = "sub_1SDoztra0001";

fn ada(existing_customer: Option<&str>) -> BillingCustomer {
    BillingCustomer {
        user_id: "0192f5c4-7b1e-7c3a-9d2e-5a6b7c8d9e0f".to_owned(),
        email: "ada@example.com".to_owned(),
        name: Some("Ada Lovelace".to_owned()),
        stripe_customer_id: existing_customer.map(str::to_owned),
    }
}

async fn customer_and_card(server: &wiremock::MockServer, create_customer: bool) {
    answer(
        server,
        "POST",
        "/v1/customers",
        200,
        fixtures::customer(CUS, "ada@example.com", Some("Ada Lovelace")),
        u64::from(create_customer),
    )
    .await;
    answer(
        server,
        "POST",
        &format!("/v1/payment_methods/{PM}/attach"),
        200,
        fixtures::payment_method(PM, Some(CUS)),
        1,
    )
    .await;
    answer(
        server,
        "POST",
        &format!("/v1/customers/{CUS}"),
        200,
        fixtures::customer_with_default_payment_method(CUS, "ada@example.com", PM),
        1,
    )
    .await;
}

#[tokio::test]
async fn subscribe_creates_the_customer_attaches_the_card_and_starts_an_active_subscription() {
    let (server, gateway) = stripe().await;
    customer_and_card(&server, true).await;
    answer(
        &server,
        "POST",
        "/v1/subscriptions",
        200,
        Sub::new(SUB, CUS, BASIC_MONTHLY).json(),
        1,
    )
    .await;

    let state = gateway
        .subscribe(
            &ada(None),
            PaidPlan::Basic,
            BillingInterval::Monthly,
            PM,
            "register:ada@example.com",
        )
        .await
        .unwrap();

    assert_eq!(state.status, GatewayStatus::Active);
    assert_eq!(state.stripe_customer_id, CUS);
    assert_eq!(state.stripe_subscription_id, SUB);
    assert_eq!(state.plan, Some(PaidPlan::Basic));
    assert_eq!(state.interval, Some(BillingInterval::Monthly));
    assert_eq!(state.current_period_end, Some(fixtures::PERIOD_END));
    assert!(!state.cancel_at_period_end);
    assert_eq!(state.client_secret(), None);

    let requests = received(&server).await;
    assert_request_hygiene(&requests);
    let paths: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        paths,
        [
            "POST /v1/customers".to_owned(),
            format!("POST /v1/payment_methods/{PM}/attach"),
            format!("POST /v1/customers/{CUS}"),
            "POST /v1/subscriptions".to_owned(),
        ]
    );

    let customer = form(&requests[0]);
    assert_eq!(customer["email"], "ada@example.com");
    assert_eq!(customer["name"], "Ada Lovelace");
    assert!(
        !customer.values().any(|v| v.contains("0192f5c4")),
        "the per-attempt user id must not be a parameter: {customer:?}"
    );
    assert_eq!(form(&requests[1])["customer"], CUS);
    assert_eq!(
        form(&requests[2])["invoice_settings[default_payment_method]"],
        PM
    );

    let subscription = form(&requests[3]);
    assert_eq!(subscription["customer"], CUS);
    assert_eq!(subscription["items[0][price]"], BASIC_MONTHLY);
    assert_eq!(subscription["items[0][quantity]"], "1");
    assert_eq!(subscription["payment_behavior"], "allow_incomplete");
    assert_eq!(
        form_list(&requests[3], "expand"),
        [
            "latest_invoice.confirmation_secret",
            "latest_invoice.payments"
        ]
    );

    let prefix = "register:ada@example.com";
    let keys: Vec<&str> = requests.iter().map(|r| idem_header(r).unwrap()).collect();
    assert_eq!(
        keys,
        [
            idempotency_key(prefix, "customer", &["ada@example.com", "Ada Lovelace"]),
            idempotency_key(prefix, "attach", &[CUS, PM]),
            idempotency_key(prefix, "default-payment-method", &[CUS, PM]),
            idempotency_key(prefix, "subscription", &[CUS, BASIC_MONTHLY, PM]),
        ]
    );
}

#[tokio::test]
async fn subscribe_reuses_an_existing_customer_and_charges_the_yearly_price() {
    let (server, gateway) = stripe().await;
    customer_and_card(&server, false).await;
    answer(
        &server,
        "POST",
        "/v1/subscriptions",
        200,
        Sub::new(SUB, CUS, BASIC_YEARLY).yearly().json(),
        1,
    )
    .await;

    let state = gateway
        .subscribe(
            &ada(Some(CUS)),
            PaidPlan::Basic,
            BillingInterval::Yearly,
            PM,
            "upgrade:u1:v7",
        )
        .await
        .unwrap();

    assert_eq!(state.plan, Some(PaidPlan::Basic));
    assert_eq!(state.interval, Some(BillingInterval::Yearly));
    let subscriptions = received_at(&server, "POST", "/v1/subscriptions").await;
    assert_eq!(form(&subscriptions[0])["items[0][price]"], BASIC_YEARLY);
    assert_request_hygiene(&received(&server).await);
}

#[tokio::test]
async fn a_retried_subscribe_sends_the_same_keys_and_a_new_card_gets_new_ones() {
    let (server, gateway) = stripe().await;
    let other_pm = "pm_card_mastercard";
    answer(
        &server,
        "POST",
        "/v1/customers",
        200,
        fixtures::customer(CUS, "ada@example.com", Some("Ada Lovelace")),
        3,
    )
    .await;
    for pm in [PM, other_pm] {
        answer(
            &server,
            "POST",
            &format!("/v1/payment_methods/{pm}/attach"),
            200,
            fixtures::payment_method(pm, Some(CUS)),
            if pm == PM { 2 } else { 1 },
        )
        .await;
    }
    answer(
        &server,
        "POST",
        &format!("/v1/customers/{CUS}"),
        200,
        fixtures::customer(CUS, "ada@example.com", None),
        3,
    )
    .await;
    answer(
        &server,
        "POST",
        "/v1/subscriptions",
        200,
        Sub::new(SUB, CUS, PRO_MONTHLY).json(),
        3,
    )
    .await;

    let prefix = "register:ada@example.com";
    for pm in [PM, PM, other_pm] {
        gateway
            .subscribe(
                &ada(None),
                PaidPlan::Professional,
                BillingInterval::Monthly,
                pm,
                prefix,
            )
            .await
            .unwrap();
    }

    let requests = received(&server).await;
    let keys: Vec<&str> = requests.iter().map(|r| idem_header(r).unwrap()).collect();
    let (first, second, third) = (&keys[0..4], &keys[4..8], &keys[8..12]);
    assert_eq!(first, second, "a retry must replay, not create");
    assert_eq!(first[0], third[0], "same customer whatever the card");
    for step in 1..4 {
        assert_ne!(first[step], third[step], "a new card is a new attempt");
    }
}

#[tokio::test]
async fn a_card_that_needs_authentication_leaves_the_subscription_pending_with_a_client_secret() {
    let (server, gateway) = stripe().await;
    customer_and_card(&server, true).await;
    let intent = "pi_3SDoztra3ds01";
    let invoice = fixtures::open_invoice("in_1SDoztra0001", CUS, SUB, PRO_MONTHLY, intent);
    let subscription = Sub::new(SUB, CUS, PRO_MONTHLY)
        .status("incomplete")
        .latest_invoice(invoice);
    answer(
        &server,
        "GET",
        &fixtures::payment_intent_path(intent),
        200,
        fixtures::payment_intent(intent, CUS, "requires_action"),
        1,
    )
    .await;
    answer(
        &server,
        "POST",
        "/v1/subscriptions",
        200,
        subscription.json(),
        1,
    )
    .await;

    let state = gateway
        .subscribe(
            &ada(None),
            PaidPlan::Professional,
            BillingInterval::Monthly,
            PM,
            "register:ada@example.com",
        )
        .await
        .unwrap();

    assert_eq!(
        state.status,
        GatewayStatus::Pending {
            client_secret: Some("pi_3SDoztra3ds01_secret_Fb2mXyZqL0cWk3nVtR8s".to_owned())
        }
    );
    assert_eq!(
        state.client_secret(),
        Some("pi_3SDoztra3ds01_secret_Fb2mXyZqL0cWk3nVtR8s")
    );
    assert_eq!(state.plan, Some(PaidPlan::Professional));
    assert_eq!(state.stripe_subscription_id, SUB);
    // The PaymentIntent was read in a second request, named by the invoice's payment.
    assert_request_hygiene(&received(&server).await);
    assert_eq!(
        received_at(&server, "GET", &fixtures::payment_intent_path(intent))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn without_the_payment_intent_the_confirmation_secret_is_the_client_secret() {
    let (server, gateway) = stripe().await;
    customer_and_card(&server, true).await;
    // An invoice whose payments name no PaymentIntent: nothing more to read.
    let mut invoice = fixtures::open_invoice(
        "in_1SDoztra0001",
        CUS,
        SUB,
        BASIC_MONTHLY,
        "pi_3SDoztraNotExpanded",
    );
    invoice["payments"]["data"] = json!([]);
    invoice["confirmation_secret"]["client_secret"] = json!("pi_3SDoztraNotExpanded_secret_abc");
    let subscription = Sub::new(SUB, CUS, BASIC_MONTHLY)
        .status("incomplete")
        .latest_invoice(invoice);
    answer(
        &server,
        "POST",
        "/v1/subscriptions",
        200,
        subscription.json(),
        1,
    )
    .await;

    let state = gateway
        .subscribe(
            &ada(None),
            PaidPlan::Basic,
            BillingInterval::Monthly,
            PM,
            "p",
        )
        .await
        .unwrap();

    assert_eq!(
        state.client_secret(),
        Some("pi_3SDoztraNotExpanded_secret_abc")
    );
    assert!(
        received_at(&server, "GET", "/v1/payment_intents/pi_3SDoztraNotExpanded")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_card_declined_on_the_first_invoice_is_declined() {
    let (server, gateway) = stripe().await;
    customer_and_card(&server, true).await;
    let intent = "pi_3SDoztraDecl01";
    let invoice = fixtures::open_invoice("in_1SDoztra0001", CUS, SUB, BASIC_MONTHLY, intent);
    let subscription = Sub::new(SUB, CUS, BASIC_MONTHLY)
        .status("incomplete")
        .latest_invoice(invoice);
    answer(
        &server,
        "GET",
        &fixtures::payment_intent_path(intent),
        200,
        fixtures::payment_intent(intent, CUS, "requires_payment_method"),
        1,
    )
    .await;
    answer(
        &server,
        "POST",
        "/v1/subscriptions",
        200,
        subscription.json(),
        1,
    )
    .await;

    let err = gateway
        .subscribe(
            &ada(None),
            PaidPlan::Basic,
            BillingInterval::Monthly,
            PM,
            "p",
        )
        .await
        .unwrap_err();

    assert_eq!(
        err,
        BillingError::Declined {
            message: "Your card has insufficient funds.".to_owned(),
            code: Some("insufficient_funds".to_owned()),
        }
    );
}

#[tokio::test]
async fn a_card_refused_when_attached_is_declined_and_no_subscription_is_created() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "POST",
        "/v1/customers",
        200,
        fixtures::customer(CUS, "ada@example.com", None),
        1,
    )
    .await;
    answer(
        &server,
        "POST",
        "/v1/payment_methods/pm_card_chargeDeclined/attach",
        402,
        fixtures::error("card_error", "card_declined", "Your card was declined."),
        1,
    )
    .await;
    answer(
        &server,
        "POST",
        &format!("/v1/customers/{CUS}"),
        200,
        json!({}),
        0,
    )
    .await;
    answer(&server, "POST", "/v1/subscriptions", 200, json!({}), 0).await;

    let err = gateway
        .subscribe(
            &ada(None),
            PaidPlan::Basic,
            BillingInterval::Monthly,
            "pm_card_chargeDeclined",
            "p",
        )
        .await
        .unwrap_err();

    assert_eq!(
        err,
        BillingError::Declined {
            message: "Your card was declined.".to_owned(),
            code: Some("generic_decline".to_owned()),
        }
    );
    // A 402 is final: no retry.
    assert_eq!(
        received_at(
            &server,
            "POST",
            "/v1/payment_methods/pm_card_chargeDeclined/attach"
        )
        .await
        .len(),
        1
    );
}

#[tokio::test]
async fn a_card_error_answer_to_the_subscription_itself_is_declined() {
    let (server, gateway) = stripe().await;
    customer_and_card(&server, true).await;
    answer(
        &server,
        "POST",
        "/v1/subscriptions",
        402,
        fixtures::error("card_error", "card_declined", "Your card was declined."),
        1,
    )
    .await;

    let err = gateway
        .subscribe(
            &ada(None),
            PaidPlan::Basic,
            BillingInterval::Monthly,
            PM,
            "p",
        )
        .await
        .unwrap_err();

    assert!(matches!(err, BillingError::Declined { .. }), "{err:?}");
}

#[tokio::test]
async fn a_plan_without_a_yearly_price_is_refused_before_calling_stripe() {
    let (server, gateway) = stripe().await;

    let err = gateway
        .subscribe(
            &ada(None),
            PaidPlan::Professional,
            BillingInterval::Yearly,
            PM,
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
