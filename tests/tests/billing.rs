//! Billing end to end: the real server with the real async-stripe client, pointed at a local
//! wiremock server that answers like Stripe (fixtures shared with the billing crate's own tests,
//! shaped like Stripe's API version 2026-09-30). Webhooks are signed with the test secret.
//! What this does not prove (Stripe's live behaviour) is listed in docs/BILLING.md.
#![recursion_limit = "256"]

#[path = "../../crates/billing/tests/it/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "../../crates/billing/tests/it/support.rs"]
#[allow(dead_code)]
mod support;

use doztra_tests::{Backend, PASSWORD, Session, TestApp, expect_error, spawn_app, spawn_app_with};
use fixtures::Sub;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::{
    BASIC_MONTHLY as BASIC, BASIC_YEARLY, CANCEL_URL, PREVIOUS_WEBHOOK_SECRET, PRO_MONTHLY as PRO,
    SECRET_KEY, SUCCESS_URL, WEBHOOK_SECRET, answer, form, idem_header, received_at as received,
};
const PM: &str = "pm_card_visa";
const CUS: &str = "cus_TDoztraAda001";
const SUB: &str = "sub_1SDoztra0001";

/// A server configured for Stripe at `stripe`.
async fn app_with_stripe(backend: Backend, stripe: &MockServer) -> Option<TestApp> {
    let base = stripe.uri();
    spawn_app_with(
        backend,
        &[
            ("STRIPE_SECRET_KEY", SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_WEBHOOK_SECRET_PREVIOUS", PREVIOUS_WEBHOOK_SECRET),
            ("STRIPE_PRICE_BASIC", BASIC),
            ("STRIPE_PRICE_BASIC_YEARLY", BASIC_YEARLY),
            ("STRIPE_PRICE_PROFESSIONAL", PRO),
            ("STRIPE_SUCCESS_URL", SUCCESS_URL),
            ("STRIPE_CANCEL_URL", CANCEL_URL),
            ("STRIPE_API_BASE", base.as_str()),
        ],
    )
    .await
}

/// Runs each `async fn name(app, stripe)` on SQLite and PostgreSQL with a fresh mock Stripe.
macro_rules! billing_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let stripe = wiremock::MockServer::start().await;
                    if let Some(app) = super::app_with_stripe(doztra_tests::Backend::Sqlite, &stripe).await {
                        super::$name(app, stripe).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let stripe = wiremock::MockServer::start().await;
                    if let Some(app) = super::app_with_stripe(doztra_tests::Backend::Postgres, &stripe).await {
                        super::$name(app, stripe).await;
                    }
                }
            )*
        }
    };
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A fixture moved to the present: the fixtures' fixed period (in 2026-05) would already be
/// over, so their period start becomes a minute ago and their period end 30 days ahead.
fn current(mut value: Value) -> Value {
    fn walk(v: &mut Value, start: i64, end: i64) {
        match v {
            Value::Number(n) if n.as_i64() == Some(fixtures::PERIOD_END) => *v = json!(end),
            Value::Number(n) if n.as_i64() == Some(fixtures::PERIOD_START) => *v = json!(start),
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, start, end)),
            Value::Object(map) => map.values_mut().for_each(|i| walk(i, start, end)),
            _ => {}
        }
    }
    walk(&mut value, now() - 60, now() + 30 * 86_400);
    value
}

/// The customer and card steps of a new subscription.
async fn customer_and_card(stripe: &MockServer, email: &str) {
    answer(
        stripe,
        "POST",
        "/v1/customers",
        200,
        fixtures::customer(CUS, email, Some("Ada")),
        1,
    )
    .await;
    answer(
        stripe,
        "POST",
        &format!("/v1/payment_methods/{PM}/attach"),
        200,
        fixtures::payment_method(PM, Some(CUS)),
        1,
    )
    .await;
    answer(
        stripe,
        "POST",
        &format!("/v1/customers/{CUS}"),
        200,
        fixtures::customer_with_default_payment_method(CUS, email, PM),
        1,
    )
    .await;
}

async fn register_paid(app: &TestApp, email: &str, plan: &str) -> reqwest::Response {
    app.post(
        "/api/auth/register",
        None,
        json!({"name": "Ada", "email": email, "password": PASSWORD,
               "subscription": {"plan": plan, "payment_method_id": PM}}),
    )
    .await
}

/// Registers `email` on `plan` with an active Stripe subscription `SUB`.
async fn paid_user(app: &TestApp, stripe: &MockServer, email: &str, price: &str) -> Session {
    customer_and_card(stripe, email).await;
    answer(
        stripe,
        "POST",
        "/v1/subscriptions",
        200,
        current(Sub::new(SUB, CUS, price).json()),
        1,
    )
    .await;
    let plan = if price == PRO {
        "professional"
    } else {
        "basic"
    };
    let res = register_paid(app, email, plan).await;
    assert_eq!(res.status(), 201);
    Session::from_login(&res.json().await.unwrap())
}

async fn subscription(app: &TestApp, session: &Session) -> Value {
    let res = app
        .get("/api/users/me/subscription", Some(&session.access))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Posts `event` signed with `secret` at `signed_at`.
async fn deliver_signed(
    app: &TestApp,
    event: &Value,
    secret: &str,
    signed_at: i64,
) -> reqwest::Response {
    let body = serde_json::to_vec(event).unwrap();
    let signature = billing::webhook::sign(&body, secret, signed_at);
    app.client
        .post(app.url("/api/billing/webhook"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Delivers `event` correctly signed; asserts 200 and returns the outcome.
async fn deliver(app: &TestApp, event: &Value) -> String {
    let res = deliver_signed(app, event, WEBHOOK_SECRET, now()).await;
    assert_eq!(res.status(), 200, "{event}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["received"], true);
    body["outcome"].as_str().unwrap().to_owned()
}

fn subscription_event(id: &str, type_: &str, created: i64, sub: &Sub) -> Value {
    fixtures::event(id, type_, created, current(sub.json()))
}

// --- registration ---------------------------------------------------------------------------

async fn a_paid_registration_pays_before_the_account_exists(app: TestApp, stripe: MockServer) {
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

async fn a_declined_card_is_402_and_leaves_no_account(app: TestApp, stripe: MockServer) {
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
    stripe: MockServer,
) {
    customer_and_card(&stripe, "cy@example.com").await;
    let intent = fixtures::payment_intent("pi_3SDoztra3ds01", CUS, "requires_action");
    let invoice = fixtures::open_invoice("in_1SDoztra0001", CUS, SUB, PRO, intent);
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
    stripe: MockServer,
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

async fn a_double_clicked_registration_reuses_stripes_answer(app: TestApp, stripe: MockServer) {
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

// --- changes --------------------------------------------------------------------------------

async fn a_free_user_upgrades_changes_plan_and_downgrades_at_period_end(
    app: TestApp,
    stripe: MockServer,
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

async fn a_declined_upgrade_changes_nothing(app: TestApp, stripe: MockServer) {
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
}

async fn checkout_ties_the_session_to_the_user_and_its_completion_grants_the_plan(
    app: TestApp,
    stripe: MockServer,
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

async fn deleting_an_account_cancels_its_stripe_subscription(app: TestApp, stripe: MockServer) {
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
    stripe: MockServer,
) {
    // Registration whose first payment waits for 3-D Secure that never happens.
    customer_and_card(&stripe, "ola@example.com").await;
    let intent = fixtures::payment_intent("pi_3SDoztra3ds02", CUS, "requires_action");
    let invoice = fixtures::open_invoice("in_1SDoztra0002", CUS, SUB, BASIC, intent);
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
    stripe: MockServer,
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

// --- webhooks -------------------------------------------------------------------------------

async fn webhook_signatures_are_verified(app: TestApp, _stripe: MockServer) {
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

async fn a_replayed_event_is_applied_once(app: TestApp, stripe: MockServer) {
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

async fn an_update_arriving_after_the_deletion_is_stale(app: TestApp, stripe: MockServer) {
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

async fn a_failed_renewal_then_a_paid_one(app: TestApp, stripe: MockServer) {
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

async fn events_in_the_same_second_are_settled_by_fetching(app: TestApp, stripe: MockServer) {
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

async fn unknown_customers_and_types_are_acknowledged(app: TestApp, _stripe: MockServer) {
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

async fn an_unreachable_stripe_is_502_and_the_event_is_retried(app: TestApp, stripe: MockServer) {
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
    a_paid_registration_pays_before_the_account_exists,
    a_declined_card_is_402_and_leaves_no_account,
    a_payment_that_needs_the_customer_registers_pending_until_stripe_says_paid,
    a_paid_registration_needs_a_payment_method_and_a_known_period,
    a_double_clicked_registration_reuses_stripes_answer,
    a_free_user_upgrades_changes_plan_and_downgrades_at_period_end,
    a_declined_upgrade_changes_nothing,
    checkout_ties_the_session_to_the_user_and_its_completion_grants_the_plan,
    deleting_an_account_cancels_its_stripe_subscription,
    an_unfinished_first_payment_can_start_over_or_be_abandoned,
    deleting_an_account_whose_subscription_stripe_no_longer_has,
    webhook_signatures_are_verified,
    a_replayed_event_is_applied_once,
    an_update_arriving_after_the_deletion_is_stale,
    a_failed_renewal_then_a_paid_one,
    events_in_the_same_second_are_settled_by_fetching,
    unknown_customers_and_types_are_acknowledged,
    an_unreachable_stripe_is_502_and_the_event_is_retried,
);

/// Without Stripe settings every paid-plan operation is 503 and the rest works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_billing_paid_plans_are_unavailable() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = spawn_app(backend).await else {
            continue;
        };
        let res = register_paid(&app, "pat@example.com", "basic").await;
        expect_error(res, 503, "billing_unavailable").await;
        let session = app.user("pat@example.com").await;
        let res = app
            .put(
                "/api/users/me/subscription",
                Some(&session.access),
                json!({"plan": "basic", "payment_method_id": PM}),
            )
            .await;
        expect_error(res, 503, "billing_unavailable").await;
        let res = app
            .post(
                "/api/billing/checkout-session",
                Some(&session.access),
                json!({"plan": "basic"}),
            )
            .await;
        expect_error(res, 503, "billing_unavailable").await;
        let event = fixtures::event("evt_z", "product.created", now(), json!({}));
        let res = deliver_signed(&app, &event, WEBHOOK_SECRET, now()).await;
        expect_error(res, 503, "billing_unavailable").await;
        // Renewal of the free plan is a plain setting.
        let res = app
            .put(
                "/api/users/me/subscription",
                Some(&session.access),
                json!({"auto_renew": false}),
            )
            .await;
        assert_eq!(res.status(), 200);
        let sub: Value = res.json().await.unwrap();
        assert_eq!(sub["plan"], "free");
        assert_eq!(sub["auto_renew"], false);
        // Unauthenticated changes are refused.
        let res = app
            .put("/api/users/me/subscription", None, json!({"plan": "free"}))
            .await;
        expect_error(res, 401, "not_authenticated").await;
    }
}
