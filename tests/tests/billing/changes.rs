//! Plan changes, Checkout, and account deletion with a Stripe subscription.

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::{
    BASIC_MONTHLY as BASIC, BASIC_YEARLY, PRO_MONTHLY as PRO, StripeMock, answer, form,
    received_at as received,
};
use doztra_tests::{Session, TestApp, expect_error};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::{
    CUS, PM, SUB, current, customer_and_card, deliver, now, paid_user, register_paid, subscription,
    subscription_event,
};

async fn a_free_user_upgrades_changes_plan_and_downgrades_at_period_end(
    app: TestApp,
    stripe: StripeMock,
) {
    let session = app.user("fay@example.com").await;
    // Upgrade from free needs a card.
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": "basic"}),
        )
        .await;
    let body = expect_error(res, 422, "validation_error").await;
    assert_eq!(body["errors"][0]["field"], "payment_method_id");

    customer_and_card(&stripe, "fay@example.com").await;
    answer(
        &stripe,
        "POST",
        "/v1/subscriptions",
        200,
        current(Sub::new(SUB, CUS, BASIC).json()),
        1,
    )
    .await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": "basic", "payment_method_id": PM}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["plan"], "basic");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["stripe_subscription_id"], SUB);
    assert!(sub.get("client_secret").is_none());

    // basic -> professional: the item's price is swapped, prorated and invoiced now.
    let sub_path = format!("/v1/subscriptions/{SUB}");
    answer(
        &stripe,
        "GET",
        &sub_path,
        200,
        current(Sub::new(SUB, CUS, BASIC).json()),
        1,
    )
    .await;
    Mock::given(method("POST"))
        .and(path(sub_path.clone()))
        .and(body_string_contains("proration_behavior"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(current(Sub::new(SUB, CUS, PRO).json())),
        )
        .expect(1)
        .mount(&stripe)
        .await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": "professional"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["plan"], "professional");
    assert_eq!(sub["max_model_tier"], "gpt-4-turbo");
    let update = received(&stripe, "POST", &sub_path).await;
    let fields = form(&update[0]);
    assert_eq!(fields["items[0][price]"], PRO);
    assert_eq!(fields["proration_behavior"], "always_invoice");

    // Down to free: cancel at period end; the paid plan lasts until expires_at.
    Mock::given(method("POST"))
        .and(path(sub_path.clone()))
        .and(body_string_contains("cancel_at_period_end=true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(current(
            Sub::new(SUB, CUS, PRO).cancel_at_period_end(true).json(),
        )))
        .expect(1)
        .mount(&stripe)
        .await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": "free"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["plan"], "professional", "{sub}");
    assert_eq!(sub["auto_renew"], false);
    assert!(sub["expires_at"].is_string());

    // Renewal back on.
    Mock::given(method("POST"))
        .and(path(sub_path.clone()))
        .and(body_string_contains("cancel_at_period_end=false"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(current(Sub::new(SUB, CUS, PRO).json())),
        )
        .expect(1)
        .mount(&stripe)
        .await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"auto_renew": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["auto_renew"], true);
    assert_eq!(sub["plan"], "professional");
}

async fn a_declined_upgrade_changes_nothing(app: TestApp, stripe: StripeMock) {
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
    let before = subscription(&app, &session).await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": "professional", "payment_method_id": PM}),
        )
        .await;
    expect_error(res, 402, "payment_failed").await;
    assert_eq!(subscription(&app, &session).await, before);
    // A refused change gives its lease back too.
    let leased = "SELECT COUNT(*) FROM subscriptions WHERE change_lease_until IS NOT NULL";
    assert_eq!(app.count(leased).await, 0);
}

async fn checkout_ties_the_session_to_the_user_and_its_completion_grants_the_plan(
    app: TestApp,
    stripe: StripeMock,
) {
    let session = app.user("hal@example.com").await;
    let res = app
        .post(
            "/api/billing/checkout-session",
            Some(&session.access),
            json!({"plan": "free"}),
        )
        .await;
    expect_error(res, 422, "validation_error").await;
    answer(
        &stripe,
        "POST",
        "/v1/checkout/sessions",
        200,
        fixtures::checkout_session("cs_test_1", &session.user_id, None, Some("hal@example.com")),
        1,
    )
    .await;
    let res = app
        .post(
            "/api/billing/checkout-session",
            Some(&session.access),
            json!({"plan": "basic", "billing_period": "yearly"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], "cs_test_1");
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .starts_with("https://checkout.stripe.com/")
    );
    let sent = form(&received(&stripe, "POST", "/v1/checkout/sessions").await[0]);
    assert_eq!(sent["client_reference_id"], session.user_id);
    assert_eq!(sent["line_items[0][price]"], BASIC_YEARLY);
    assert_eq!(sent["mode"], "subscription");

    // Stripe reports the completed session; the subscription is fetched and applied.
    let mut completed = fixtures::checkout_session("cs_test_1", &session.user_id, Some(CUS), None);
    completed["status"] = json!("complete");
    completed["payment_status"] = json!("paid");
    completed["subscription"] = json!(SUB);
    answer(
        &stripe,
        "GET",
        &format!("/v1/subscriptions/{SUB}"),
        200,
        current(Sub::new(SUB, CUS, BASIC_YEARLY).yearly().json()),
        1,
    )
    .await;
    let event = fixtures::event(
        "evt_checkout",
        "checkout.session.completed",
        now(),
        completed,
    );
    assert_eq!(deliver(&app, &event).await, "applied");
    let sub = subscription(&app, &session).await;
    assert_eq!(sub["plan"], "basic");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["stripe_customer_id"], CUS);
    assert_eq!(sub["stripe_subscription_id"], SUB);
    // A second Checkout while subscribed is refused: change the plan instead.
    let res = app
        .post(
            "/api/billing/checkout-session",
            Some(&session.access),
            json!({"plan": "professional"}),
        )
        .await;
    expect_error(res, 409, "subscription_exists").await;
}

async fn deleting_an_account_cancels_its_stripe_subscription(app: TestApp, stripe: StripeMock) {
    let admin = app.admin("root@example.com").await;
    let session = paid_user(&app, &stripe, "ivy@example.com", BASIC).await;
    answer(
        &stripe,
        "DELETE",
        &format!("/v1/subscriptions/{SUB}"),
        200,
        current(Sub::new(SUB, CUS, BASIC).status("canceled").json()),
        1,
    )
    .await;
    let res = app
        .delete(
            &format!("/api/admin/users/{}", session.user_id),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM subscriptions WHERE stripe_subscription_id IS NOT NULL")
            .await,
        0
    );
}

async fn an_unfinished_first_payment_can_start_over_or_be_abandoned(
    app: TestApp,
    stripe: StripeMock,
) {
    // Registration whose first payment waits for 3-D Secure that never happens.
    customer_and_card(&stripe, "ola@example.com").await;
    // The first invoice is open; its PaymentIntent, read in a second request, needs 3-D Secure.
    let intent = "pi_3SDoztra3ds02";
    let invoice = fixtures::open_invoice("in_1SDoztra0002", CUS, SUB, BASIC, intent);
    answer(
        &stripe,
        "GET",
        &fixtures::payment_intent_path(intent),
        200,
        fixtures::payment_intent(intent, CUS, "requires_action"),
        1,
    )
    .await;
    let open = Sub::new(SUB, CUS, BASIC)
        .status("incomplete")
        .latest_invoice(invoice);
    answer(
        &stripe,
        "POST",
        "/v1/subscriptions",
        200,
        current(open.json()),
        1,
    )
    .await;
    let res = register_paid(&app, "ola@example.com", "basic").await;
    assert_eq!(res.status(), 201);
    let session = Session::from_login(&res.json().await.unwrap());
    stripe.reset().await;

    // Starting over with another card: the open subscription is canceled, a new one made
    // for the same customer.
    let second = "sub_1SDoztra0002";
    let other_pm = "pm_card_mastercard";
    answer(
        &stripe,
        "DELETE",
        &format!("/v1/subscriptions/{SUB}"),
        200,
        current(
            Sub::new(SUB, CUS, BASIC)
                .status("incomplete_expired")
                .json(),
        ),
        1,
    )
    .await;
    answer(
        &stripe,
        "POST",
        &format!("/v1/payment_methods/{other_pm}/attach"),
        200,
        fixtures::payment_method(other_pm, Some(CUS)),
        1,
    )
    .await;
    answer(
        &stripe,
        "POST",
        &format!("/v1/customers/{CUS}"),
        200,
        fixtures::customer_with_default_payment_method(CUS, "ola@example.com", other_pm),
        1,
    )
    .await;
    answer(
        &stripe,
        "POST",
        "/v1/subscriptions",
        200,
        current(Sub::new(second, CUS, BASIC).json()),
        1,
    )
    .await;
    let res = app
        .put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": "basic", "payment_method_id": other_pm}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let sub: Value = res.json().await.unwrap();
    assert_eq!(sub["plan"], "basic");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["stripe_subscription_id"], second);
    assert_eq!(sub["payment_method_id"], other_pm);
    // No second customer was created.
    assert!(received(&stripe, "POST", "/v1/customers").await.is_empty());
    // Events of the abandoned subscription change nothing now.
    let expired = Sub::new(SUB, CUS, BASIC).status("incomplete_expired");
    let event = subscription_event(
        "evt_old",
        "customer.subscription.deleted",
        now() + 30,
        &expired,
    );
    assert_eq!(deliver(&app, &event).await, "other_subscription");
    assert_eq!(subscription(&app, &session).await["plan"], "basic");
}

async fn deleting_an_account_whose_subscription_stripe_no_longer_has(
    app: TestApp,
    stripe: StripeMock,
) {
    let admin = app.admin("root@example.com").await;
    let session = paid_user(&app, &stripe, "pia@example.com", BASIC).await;
    answer(
        &stripe,
        "DELETE",
        &format!("/v1/subscriptions/{SUB}"),
        404,
        fixtures::error(
            "invalid_request_error",
            "resource_missing",
            "No such subscription: 'sub_1SDoztra0001'",
        ),
        1,
    )
    .await;
    let res = app
        .delete(
            &format!("/api/admin/users/{}", session.user_id),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

/// Two plan changes sent at once (a double click, two tabs) reach Stripe once: the second is
/// refused with 409 while the first holds the subscription. Before, both read "no live
/// subscription", sent different idempotency keys (the price is part of them) and Stripe
/// created two subscriptions, the one not recorded billed forever.
async fn two_changes_at_once_reach_stripe_once(app: TestApp, stripe: StripeMock) {
    let session = app.user("twice@example.com").await;
    customer_and_card(&stripe, "twice@example.com").await;
    Mock::given(method("POST"))
        .and(path("/v1/subscriptions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(current(Sub::new(SUB, CUS, BASIC).json()))
                .set_delay(std::time::Duration::from_millis(500)),
        )
        .mount(&stripe)
        .await;
    let change = |plan: &'static str| {
        app.put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"plan": plan, "payment_method_id": PM}),
        )
    };
    let (basic, professional) = tokio::join!(change("basic"), change("professional"));
    let mut answers = Vec::new();
    for res in [basic, professional] {
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = res.json().await.unwrap();
        answers.push((status, body["code"].clone(), retry_after));
    }
    answers.sort_by_key(|(status, ..)| *status);
    assert_eq!(answers[0].0, 200, "{answers:?}");
    assert_eq!(
        answers[1],
        (
            409,
            json!("subscription_change_in_progress"),
            Some("2".to_owned())
        )
    );
    assert_eq!(
        received(&stripe, "POST", "/v1/subscriptions").await.len(),
        1
    );
    assert_eq!(subscription(&app, &session).await["plan"], "basic");
    // The lease is given back: the next change is not held up.
    let leased = "SELECT COUNT(*) FROM subscriptions WHERE change_lease_until IS NOT NULL";
    assert_eq!(app.count(leased).await, 0);

    // A lease still running holds the next change off; one a dead change left behind has
    // lapsed and holds nothing.
    let renewal = || {
        app.put(
            "/api/users/me/subscription",
            Some(&session.access),
            json!({"auto_renew": true}),
        )
    };
    answer(
        &stripe,
        "POST",
        &format!("/v1/subscriptions/{SUB}"),
        200,
        current(Sub::new(SUB, CUS, BASIC).json()),
        1,
    )
    .await;
    for (until, status) in [
        ("2999-01-01T00:00:00+00:00", 409),
        ("2000-01-01T00:00:00+00:00", 200),
    ] {
        app.db()
            .execute_unprepared(&format!(
                "UPDATE subscriptions SET change_lease_until = '{until}'"
            ))
            .await
            .unwrap();
        let answer = renewal().await;
        assert_eq!(answer.status(), status, "lease until {until}");
    }
}

billing_tests!(
    two_changes_at_once_reach_stripe_once,
    a_free_user_upgrades_changes_plan_and_downgrades_at_period_end,
    a_declined_upgrade_changes_nothing,
    checkout_ties_the_session_to_the_user_and_its_completion_grants_the_plan,
    deleting_an_account_cancels_its_stripe_subscription,
    an_unfinished_first_payment_can_start_over_or_be_abandoned,
    deleting_an_account_whose_subscription_stripe_no_longer_has,
);
