//! Billing end to end: the real server with the real async-stripe client, pointed at the test
//! Stripe of `billing::test_support` (a wiremock server that refuses what Stripe refuses: expand
//! paths over four levels, unknown parameters, reused idempotency keys), answering with
//! fixtures shaped like Stripe's API version 2026-09-30. Webhooks are signed with the test
//! secret. What this does not prove (Stripe's live behaviour) is listed in docs/BILLING.md.
#![recursion_limit = "256"]

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::{
    BASIC_MONTHLY as BASIC, CANCEL_URL, PREVIOUS_WEBHOOK_SECRET, PRO_MONTHLY as PRO, SECRET_KEY,
    SUCCESS_URL, StripeMock, WEBHOOK_SECRET, answer,
};
use doztra_tests::{Backend, PASSWORD, Session, TestApp, expect_error, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const PM: &str = "pm_card_visa";
const CUS: &str = "cus_TDoztraAda001";
const SUB: &str = "sub_1SDoztra0001";

/// A server configured for Stripe at `stripe`.
async fn app_with_stripe(backend: Backend, stripe: &StripeMock) -> Option<TestApp> {
    let base = stripe.uri();
    spawn_app_with(
        backend,
        &[
            ("STRIPE_SECRET_KEY", SECRET_KEY),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("STRIPE_WEBHOOK_SECRET_PREVIOUS", PREVIOUS_WEBHOOK_SECRET),
            ("STRIPE_PRICE_BASIC", BASIC),
            (
                "STRIPE_PRICE_BASIC_YEARLY",
                billing::test_support::BASIC_YEARLY,
            ),
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
                    let stripe = billing::test_support::StripeMock::start().await;
                    if let Some(app) = crate::app_with_stripe(doztra_tests::Backend::Sqlite, &stripe).await {
                        super::$name(app, stripe).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let stripe = billing::test_support::StripeMock::start().await;
                    if let Some(app) = crate::app_with_stripe(doztra_tests::Backend::Postgres, &stripe).await {
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
async fn customer_and_card(stripe: &StripeMock, email: &str) {
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
async fn paid_user(app: &TestApp, stripe: &StripeMock, email: &str, price: &str) -> Session {
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

mod changes;
mod events;
mod portal;
mod registration;
mod webhooks;

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
        // The fields are checked before the configuration: each bad one named, in one 422.
        for (body, fields) in [
            (
                json!({"plan": "gold", "billing_period": "weekly"}),
                vec!["plan", "billing_period"],
            ),
            (json!({"plan": "free"}), vec!["plan"]),
        ] {
            let res = app
                .post(
                    "/api/billing/checkout-session",
                    Some(&session.access),
                    body.clone(),
                )
                .await;
            let error = expect_error(res, 422, "validation_error").await;
            let named = doztra_tests::error_fields(&error);
            assert_eq!(named, fields, "{body}");
        }
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
