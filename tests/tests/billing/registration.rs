//! Paid registration: Stripe before the account; declines, 3-D Secure, validation, double clicks.

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::{
    BASIC_MONTHLY as BASIC, PRO_MONTHLY as PRO, SECRET_KEY, StripeMock, answer, form, idem_header,
    received_at as received,
};
use doztra_tests::{PASSWORD, Session, TestApp, expect_error};
use serde_json::{Value, json};

use crate::{
    CUS, PM, SUB, current, customer_and_card, deliver, now, paid_user, register_paid, subscription,
    subscription_event,
};

async fn a_paid_registration_pays_before_the_account_exists(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "ada@example.com", PRO).await;
    let sub = subscription(&app, &session).await;
    assert_eq!(sub["plan"], "professional");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["is_active"], true);
    assert_eq!(sub["auto_renew"], true);
    assert_eq!(sub["max_model_tier"], "gpt-4-turbo");
    assert_eq!(sub["stripe_customer_id"], CUS);
    assert_eq!(sub["stripe_subscription_id"], SUB);
    assert_eq!(sub["payment_method_id"], PM);
    let expires =
        chrono::DateTime::parse_from_rfc3339(sub["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires.timestamp() > now() + 29 * 86_400, "{sub}");

    // What Stripe was asked: the professional price, the card as default, keys on every step.
    let created = received(&stripe, "POST", "/v1/subscriptions").await;
    assert_eq!(created.len(), 1);
    let fields = form(&created[0]);
    assert_eq!(fields["customer"], CUS);
    assert_eq!(fields["items[0][price]"], PRO);
    for request in stripe.received_requests().await.unwrap() {
        assert!(idem_header(&request).is_some(), "{}", request.url);
        assert_eq!(
            request
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap(),
            format!("Bearer {SECRET_KEY}")
        );
    }
    // The paid plan is what metering enforces.
    let res = app
        .post(
            "/api/tokens/me/track",
            Some(&session.access),
            json!({"request_type": "chat", "model": "gpt-4-turbo", "prompt_tokens": 10,
                   "completion_tokens": 5, "request_id": "r-1"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The same email again: refused before Stripe is asked anything.
    let before = stripe.received_requests().await.unwrap().len();
    let res = register_paid(&app, "ada@example.com", "professional").await;
    expect_error(res, 409, "email_taken").await;
    assert_eq!(stripe.received_requests().await.unwrap().len(), before);
}

async fn a_declined_card_is_402_and_leaves_no_account(app: TestApp, stripe: StripeMock) {
    customer_and_card(&stripe, "bob@example.com").await;
    answer(
        &stripe,
        "POST",
        "/v1/subscriptions",
        402,
        fixtures::error("card_error", "card_declined", "Your card was declined."),
        1,
    )
    .await;
    let res = register_paid(&app, "bob@example.com", "basic").await;
    let body = expect_error(res, 402, "payment_failed").await;
    assert_eq!(body["decline_code"], "generic_decline");
    assert!(
        body["detail"].as_str().unwrap().contains("declined"),
        "{body}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM subscriptions").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM refresh_tokens").await, 0);
}

async fn a_payment_that_needs_the_customer_registers_pending_until_stripe_says_paid(
    app: TestApp,
    stripe: StripeMock,
) {
    customer_and_card(&stripe, "cy@example.com").await;
    // The first invoice is open; its PaymentIntent, read in a second request, needs 3-D Secure.
    let intent = "pi_3SDoztra3ds01";
    let invoice = fixtures::open_invoice("in_1SDoztra0001", CUS, SUB, PRO, intent);
    answer(
        &stripe,
        "GET",
        &fixtures::payment_intent_path(intent),
        200,
        fixtures::payment_intent(intent, CUS, "requires_action"),
        1,
    )
    .await;
    let pending = Sub::new(SUB, CUS, PRO)
        .status("incomplete")
        .latest_invoice(invoice);
    answer(
        &stripe,
        "POST",
        "/v1/subscriptions",
        200,
        current(pending.json()),
        1,
    )
    .await;
    let res = register_paid(&app, "cy@example.com", "professional").await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["client_secret"],
        "pi_3SDoztra3ds01_secret_Fb2mXyZqL0cWk3nVtR8s"
    );
    let sub = &body["user"]["subscription"];
    assert_eq!(sub["plan"], "free", "{sub}");
    assert_eq!(sub["status"], "pending");
    assert_eq!(sub["stripe_subscription_id"], SUB);
    let session = Session::from_login(&body);

    // The customer finishes 3-D Secure; Stripe reports the subscription active.
    let active = Sub::new(SUB, CUS, PRO);
    let event = subscription_event(
        "evt_active",
        "customer.subscription.updated",
        now() + 5,
        &active,
    );
    assert_eq!(deliver(&app, &event).await, "applied");
    let sub = subscription(&app, &session).await;
    assert_eq!(sub["plan"], "professional");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["is_active"], true);
}

async fn a_paid_registration_needs_a_payment_method_and_a_known_period(
    app: TestApp,
    stripe: StripeMock,
) {
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "D", "email": "d@example.com", "password": PASSWORD,
                   "subscription": {"plan": "basic"}}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    assert_eq!(body["errors"][0]["field"], "subscription.payment_method_id");
    for (pm, period) in [("pm 1", "monthly"), (PM, "weekly"), ("", "monthly")] {
        let res = app
            .post(
                "/api/auth/register",
                None,
                json!({"name": "D", "email": "d@example.com", "password": PASSWORD,
                       "subscription": {"plan": "basic", "payment_method_id": pm, "billing_period": period}}),
            )
            .await;
        expect_error(res, 422, "validation_error").await;
    }
    // Professional has no yearly price configured: refused before any Stripe request.
    let res = app
        .post(
            "/api/auth/register",
            None,
            json!({"name": "D", "email": "d@example.com", "password": PASSWORD,
                   "subscription": {"plan": "professional", "payment_method_id": PM, "billing_period": "yearly"}}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    assert_eq!(body["errors"][0]["field"], "billing_period");
    assert_eq!(
        received(&stripe, "POST", "/v1/subscriptions").await.len(),
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

async fn a_double_clicked_registration_reuses_stripes_answer(app: TestApp, stripe: StripeMock) {
    // Either click may reach Stripe, or both: every step answers as often as asked.
    let email = "eve@example.com";
    let customer = fixtures::customer(CUS, email, Some("Ada"));
    answer(&stripe, "POST", "/v1/customers", 200, customer, 1..).await;
    let card = fixtures::payment_method(PM, Some(CUS));
    let attach = format!("/v1/payment_methods/{PM}/attach");
    answer(&stripe, "POST", &attach, 200, card, 1..).await;
    let default = fixtures::customer_with_default_payment_method(CUS, email, PM);
    answer(
        &stripe,
        "POST",
        &format!("/v1/customers/{CUS}"),
        200,
        default,
        1..,
    )
    .await;
    let sub = current(Sub::new(SUB, CUS, BASIC).json());
    answer(&stripe, "POST", "/v1/subscriptions", 200, sub, 1..).await;
    let (a, b) = tokio::join!(
        register_paid(&app, "eve@example.com", "basic"),
        register_paid(&app, "eve@example.com", "basic")
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    // Whenever both reached Stripe, they sent the same keys: Stripe replays the first answer
    // instead of creating a second subscription.
    let keys: Vec<_> = received(&stripe, "POST", "/v1/subscriptions")
        .await
        .iter()
        .map(|r| idem_header(r).map(str::to_owned))
        .collect();
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.is_some() && *k == keys[0]),
        "{keys:?}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

billing_tests!(
    a_paid_registration_pays_before_the_account_exists,
    a_declined_card_is_402_and_leaves_no_account,
    a_payment_that_needs_the_customer_registers_pending_until_stripe_says_paid,
    a_paid_registration_needs_a_payment_method_and_a_known_period,
    a_double_clicked_registration_reuses_stripes_answer,
);
