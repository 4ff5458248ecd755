//! The test Stripe refuses what Stripe refuses (`billing::test_support::rules`), so a request the
//! gateway should never send cannot pass unnoticed. Raw requests go through async-stripe's own
//! client, exactly as the gateway sends them.

use billing::test_support::rules::{MAX_EXPAND_DEPTH, expand_refusal};
use billing::test_support::*;
use serde_json::json;
use stripe::{IdempotencyKey, RequestStrategy, StripeError};
use stripe_client_core::{RequestBuilder, StripeMethod};

const OLD_PATH: &str = "latest_invoice.payments.data.payment.payment_intent";

fn client(server: &StripeMock) -> stripe::Client {
    stripe::ClientBuilder::new(SECRET_KEY)
        .url(format!("{}/", server.uri()))
        .build()
        .unwrap()
}

/// Sends `verb /v1{path}` with the raw form `body`, with `key` as its idempotency key.
async fn send(
    server: &StripeMock,
    verb: StripeMethod,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> Result<miniserde::json::Value, (u16, stripe::ApiErrors)> {
    let mut request = RequestBuilder::new(verb, path);
    if matches!(verb, StripeMethod::Get) {
        request.query = Some(body.to_owned());
    } else {
        request.body = Some(body.to_owned());
    }
    let mut request = request.customize::<miniserde::json::Value>();
    if let Some(key) = key {
        request = request.request_strategy(RequestStrategy::Idempotent(
            IdempotencyKey::new(key).unwrap(),
        ));
    }
    match request.send(&client(server)).await {
        Ok(value) => Ok(value),
        Err(StripeError::Stripe(error, status)) => Err((status, *error)),
        Err(other) => panic!("not a Stripe error: {other}"),
    }
}

fn code(error: &stripe::ApiErrors) -> Option<&str> {
    error.code.as_ref().map(|c| c.as_str())
}

#[test]
fn every_expansion_the_gateway_sends_is_within_stripes_limit() {
    assert_eq!(MAX_EXPAND_DEPTH, 4);
    assert!(!GATEWAY_EXPAND_PATHS.is_empty());
    for path in GATEWAY_EXPAND_PATHS {
        assert_eq!(expand_refusal(path), None, "{path}");
    }
    assert!(expand_refusal(OLD_PATH).is_some());
}

#[tokio::test]
async fn the_old_five_level_expansion_is_refused_as_stripe_refuses_it() {
    let server = StripeMock::start_tolerating_refusals().await;
    // What would have answered, had the request been acceptable.
    answer(&server, "POST", "/v1/subscriptions", 200, json!({}), 0).await;

    let body = format!(
        "customer=cus_1&items[0][price]={BASIC_MONTHLY}&expand[0]=latest_invoice.confirmation_secret&expand[1]={OLD_PATH}"
    );
    let (status, error) = send(
        &server,
        StripeMethod::Post,
        "/subscriptions",
        &body,
        Some("k1"),
    )
    .await
    .unwrap_err();

    assert_eq!(status, 400);
    assert_eq!(error.type_.as_str(), "invalid_request_error");
    assert_eq!(code(&error), Some("property_expansion_max_depth"));
    assert_eq!(error.param.as_deref(), Some("expand"));
    let message = error.message.unwrap();
    assert!(
        message.contains("cannot expand more than 4 levels"),
        "{message}"
    );
    assert!(message.contains(OLD_PATH), "{message}");
}

#[tokio::test]
async fn expansions_in_a_query_string_are_held_to_the_same_limit() {
    let server = StripeMock::start_tolerating_refusals().await;
    let path = "/v1/subscriptions/sub_1";
    answer(&server, "GET", path, 200, json!({ "id": "sub_1" }), 1).await;

    let ok = send(
        &server,
        StripeMethod::Get,
        "/subscriptions/sub_1",
        "expand[0]=latest_invoice.payments",
        None,
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
    let (status, error) = send(
        &server,
        StripeMethod::Get,
        "/subscriptions/sub_1",
        "expand[]=items.data.price.product.default_price",
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        (status, code(&error)),
        (400, Some("property_expansion_max_depth"))
    );
}

#[tokio::test]
async fn an_unknown_parameter_is_refused_at_the_top_and_one_level_down() {
    let server = StripeMock::start_tolerating_refusals().await;
    answer(
        &server,
        "POST",
        "/v1/customers",
        200,
        json!({ "id": "cus_1" }),
        1,
    )
    .await;
    answer(
        &server,
        "POST",
        "/v1/subscriptions",
        200,
        json!({ "id": "sub_1" }),
        0,
    )
    .await;

    let known = send(
        &server,
        StripeMethod::Post,
        "/customers",
        "email=a%40example.com&name=A&metadata[anything]=1",
        Some("c1"),
    )
    .await;
    assert!(known.is_ok(), "{known:?}");

    let (status, error) = send(
        &server,
        StripeMethod::Post,
        "/customers",
        "email=a%40example.com&nickname=A",
        Some("c2"),
    )
    .await
    .unwrap_err();
    assert_eq!(status, 400);
    assert_eq!(error.type_.as_str(), "invalid_request_error");
    assert_eq!(code(&error), Some("parameter_unknown"));
    assert_eq!(error.param.as_deref(), Some("nickname"));
    assert_eq!(
        error.message.as_deref(),
        Some("Received unknown parameter: nickname")
    );

    let (_, error) = send(
        &server,
        StripeMethod::Post,
        "/subscriptions",
        "customer=cus_1&items[0][price]=price_1&items[0][colour]=red",
        Some("s1"),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&error), Some("parameter_unknown"));
    assert_eq!(error.param.as_deref(), Some("items[0][colour]"));

    // Query parameters too (the invoice list takes no `page`).
    let (_, error) = send(
        &server,
        StripeMethod::Get,
        "/invoices",
        "customer=cus_1&page=2",
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(error.param.as_deref(), Some("page"));
}

#[tokio::test]
async fn an_endpoint_the_gateway_does_not_call_is_stripes_404() {
    let server = StripeMock::start_tolerating_refusals().await;

    let (status, error) = send(
        &server,
        StripeMethod::Post,
        "/charges",
        "amount=100",
        Some("x1"),
    )
    .await
    .unwrap_err();

    assert_eq!(status, 404);
    assert_eq!(error.type_.as_str(), "invalid_request_error");
    assert!(
        error
            .message
            .unwrap()
            .starts_with("Unrecognized request URL (POST: /v1/charges)")
    );
}

#[tokio::test]
async fn a_key_replays_with_the_same_parameters_and_is_refused_with_others() {
    let server = StripeMock::start_tolerating_refusals().await;
    answer(
        &server,
        "POST",
        "/v1/customers",
        200,
        json!({ "id": "cus_1" }),
        3,
    )
    .await;
    answer(
        &server,
        "POST",
        "/v1/customers/cus_1",
        200,
        json!({ "id": "cus_1" }),
        0,
    )
    .await;

    let first = "email=a%40example.com&name=Ada";
    assert!(
        send(
            &server,
            StripeMethod::Post,
            "/customers",
            first,
            Some("key-1")
        )
        .await
        .is_ok()
    );
    // The same parameters, even in another order: Stripe replays.
    let reordered = "name=Ada&email=a%40example.com";
    assert!(
        send(
            &server,
            StripeMethod::Post,
            "/customers",
            reordered,
            Some("key-1")
        )
        .await
        .is_ok()
    );

    let (status, error) = send(
        &server,
        StripeMethod::Post,
        "/customers",
        "email=b%40example.com&name=Ada",
        Some("key-1"),
    )
    .await
    .unwrap_err();
    assert_eq!(status, 400);
    assert_eq!(error.type_.as_str(), "idempotency_error");
    assert!(
        error
            .message
            .unwrap()
            .contains("same parameters they were first used with")
    );

    let (status, error) = send(
        &server,
        StripeMethod::Post,
        "/customers/cus_1",
        first,
        Some("key-1"),
    )
    .await
    .unwrap_err();
    assert_eq!((status, error.type_.as_str()), (400, "idempotency_error"));

    // Another key is another request.
    assert!(
        send(
            &server,
            StripeMethod::Post,
            "/customers",
            "email=b%40example.com",
            Some("key-2")
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn a_request_refused_by_validation_does_not_claim_its_key() {
    let server = StripeMock::start_tolerating_refusals().await;
    answer(
        &server,
        "POST",
        "/v1/customers",
        200,
        json!({ "id": "cus_1" }),
        1,
    )
    .await;

    let refused = send(
        &server,
        StripeMethod::Post,
        "/customers",
        "emial=a%40example.com",
        Some("key-3"),
    )
    .await;
    assert!(refused.is_err());
    let fixed = send(
        &server,
        StripeMethod::Post,
        "/customers",
        "email=a%40example.com",
        Some("key-3"),
    )
    .await;
    assert!(fixed.is_ok(), "{fixed:?}");
}

#[tokio::test]
async fn keys_are_remembered_across_a_reset() {
    let server = StripeMock::start_tolerating_refusals().await;
    answer(
        &server,
        "POST",
        "/v1/customers",
        200,
        json!({ "id": "cus_1" }),
        1,
    )
    .await;
    assert!(
        send(
            &server,
            StripeMethod::Post,
            "/customers",
            "email=a%40example.com",
            Some("key-4")
        )
        .await
        .is_ok()
    );

    server.reset().await;
    let (_, error) = send(
        &server,
        StripeMethod::Post,
        "/customers",
        "email=z%40example.com",
        Some("key-4"),
    )
    .await
    .unwrap_err();
    assert_eq!(error.type_.as_str(), "idempotency_error");
}

#[tokio::test]
#[should_panic(expected = "Verifications failed")]
async fn the_default_stand_in_fails_the_test_that_sent_a_refused_request() {
    let (server, _) = stripe().await;
    let body = format!("customer=cus_1&expand[0]={OLD_PATH}");
    // The code under test may well turn the 400 into an error it handles...
    let _ = send(
        &server,
        StripeMethod::Post,
        "/subscriptions",
        &body,
        Some("k"),
    )
    .await;
    // ...the test still fails, when the stand-in is dropped.
    drop(server);
}
