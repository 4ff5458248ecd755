//! What the gateway does when Stripe or the network misbehaves, and when billing is off.

use std::time::Duration;

use billing::{
    BillingCustomer, BillingError, BillingInterval, DisabledGateway, InvoicePage, PaidPlan,
    PaymentGateway, StripeGateway, gateway_from_settings,
};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::*;

const SUB: &str = "sub_1SDoztra0001";
const SUB_PATH: &str = "/v1/subscriptions/sub_1SDoztra0001";

#[tokio::test]
async fn a_server_error_is_retried_with_the_same_idempotency_key() {
    let (server, gateway) = stripe().await;
    Mock::given(method("POST"))
        .and(path(SUB_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_json(fixtures::error(
            "api_error",
            "",
            "An unknown error occurred",
        )))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    answer(
        &server,
        "POST",
        SUB_PATH,
        200,
        Sub::new(SUB, "cus_1", PRO_MONTHLY)
            .cancel_at_period_end(true)
            .json(),
        1,
    )
    .await;

    let state = gateway
        .set_cancel_at_period_end(SUB, true, "p")
        .await
        .unwrap();

    assert!(state.cancel_at_period_end);
    let attempts = received_at(&server, "POST", SUB_PATH).await;
    assert_eq!(attempts.len(), 2);
    assert!(idem_header(&attempts[0]).is_some());
    assert_eq!(idem_header(&attempts[0]), idem_header(&attempts[1]));
}

#[tokio::test]
async fn a_concurrent_request_with_the_same_key_is_waited_out() {
    let (server, gateway) = stripe().await;
    Mock::given(method("POST"))
        .and(path(SUB_PATH))
        .respond_with(ResponseTemplate::new(409).set_body_json(fixtures::error(
            "idempotency_error",
            "idempotency_key_in_use",
            "There is currently another in-progress request using this Idempotent Key.",
        )))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    answer(
        &server,
        "POST",
        SUB_PATH,
        200,
        Sub::new(SUB, "cus_1", PRO_MONTHLY).json(),
        1,
    )
    .await;

    gateway
        .set_cancel_at_period_end(SUB, false, "p")
        .await
        .unwrap();

    assert_eq!(received_at(&server, "POST", SUB_PATH).await.len(), 2);
}

#[tokio::test]
async fn a_persistent_server_error_gives_up_after_the_retries() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        503,
        fixtures::error("api_error", "", "Service unavailable"),
        3,
    )
    .await;

    let err = gateway.fetch_subscription(SUB).await.unwrap_err();

    assert!(
        matches!(err, BillingError::Gateway(ref m) if m.contains("503")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_rejected_api_key_is_a_gateway_error_and_not_retried() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        401,
        json!({ "error": { "message": "Invalid API Key provided: sk_test_****Key", "type": "invalid_request_error" } }),
        1,
    )
    .await;

    let err = gateway.fetch_subscription(SUB).await.unwrap_err();

    assert!(
        matches!(err, BillingError::Gateway(ref m) if m.contains("401")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_payment_method_is_an_invalid_request_naming_the_parameter() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "POST",
        "/v1/payment_methods/pm_bogus/attach",
        400,
        json!({ "error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such PaymentMethod: 'pm_bogus'",
            "param": "payment_method",
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_x",
            "type": "invalid_request_error"
        } }),
        1,
    )
    .await;

    let err = gateway
        .set_default_payment_method("cus_1", "pm_bogus", "p")
        .await
        .unwrap_err();

    assert_eq!(
        err,
        BillingError::InvalidRequest {
            message: "No such PaymentMethod: 'pm_bogus'".to_owned(),
            code: Some("resource_missing".to_owned()),
            param: Some("payment_method".to_owned()),
        }
    );
}

#[tokio::test]
async fn an_answer_that_is_not_stripe_json_is_a_gateway_error() {
    let (server, gateway) = stripe().await;
    Mock::given(method("GET"))
        .and(path(SUB_PATH))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>"))
        .mount(&server)
        .await;

    let err = gateway.fetch_subscription(SUB).await.unwrap_err();
    assert!(matches!(err, BillingError::Gateway(_)), "{err:?}");

    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        200,
        json!({ "id": SUB, "object": "subscription" }),
        1,
    )
    .await;
    let err = gateway.fetch_subscription(SUB).await.unwrap_err();
    assert!(
        matches!(err, BillingError::Gateway(ref m) if m.contains("unexpected answer")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_gateway_error_after_the_retries() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = StripeGateway::new(&settings(&format!("http://127.0.0.1:{port}"))).unwrap();

    let err = gateway.fetch_subscription(SUB).await.unwrap_err();

    assert!(
        matches!(err, BillingError::Gateway(ref m) if m.contains("could not reach")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_stripe_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(SUB_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(Sub::new(SUB, "cus_1", PRO_MONTHLY).json())
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let mut settings = settings(&server.uri());
    settings.request_timeout = Duration::from_millis(150);
    settings.max_network_retries = 1;
    let gateway = StripeGateway::new(&settings).unwrap();

    let err = gateway.fetch_subscription(SUB).await.unwrap_err();

    assert!(
        matches!(err, BillingError::Gateway(ref m) if m.contains("in time")),
        "{err:?}"
    );
    assert_eq!(
        received(&server).await.len(),
        2,
        "one retry after the timeout"
    );
}

#[tokio::test]
async fn an_api_base_with_a_path_prefix_is_honoured() {
    let server = MockServer::start().await;
    answer(
        &server,
        "GET",
        "/stripe/v1/subscriptions/sub_1SDoztra0001",
        200,
        Sub::new(SUB, "cus_1", BASIC_MONTHLY).json(),
        1,
    )
    .await;
    // No trailing slash: async-stripe alone would request /stripev1/...
    let gateway = StripeGateway::new(&settings(&format!("{}/stripe", server.uri()))).unwrap();

    let state = gateway.fetch_subscription(SUB).await.unwrap();

    assert_eq!(state.plan, Some(PaidPlan::Basic));
}

#[tokio::test]
async fn without_configuration_every_operation_is_not_configured() {
    let gateway = gateway_from_settings(None).unwrap();
    let customer = BillingCustomer {
        user_id: "u1".into(),
        email: "a@example.com".into(),
        name: None,
        stripe_customer_id: None,
    };

    let results = [
        gateway
            .subscribe(
                &customer,
                PaidPlan::Basic,
                BillingInterval::Monthly,
                "pm",
                "p",
            )
            .await
            .err(),
        gateway.change_plan(SUB, PaidPlan::Basic, "p").await.err(),
        gateway.set_cancel_at_period_end(SUB, true, "p").await.err(),
        gateway
            .set_default_payment_method("cus", "pm", "p")
            .await
            .err(),
        gateway.cancel_now(SUB, "p").await.err(),
        gateway
            .create_checkout_session(&customer, PaidPlan::Basic, BillingInterval::Monthly, "p")
            .await
            .err(),
        gateway.fetch_subscription(SUB).await.err(),
        gateway.create_portal_session("cus", "p").await.err(),
        gateway
            .list_invoices(
                "cus",
                &InvoicePage {
                    limit: 10,
                    starting_after: None,
                },
            )
            .await
            .err(),
    ];
    for result in results {
        assert_eq!(result, Some(BillingError::NotConfigured));
    }
    assert!(format!("{DisabledGateway:?}").contains("Disabled"));
}

#[tokio::test]
async fn with_configuration_the_factory_builds_the_stripe_gateway() {
    let (server, _) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        200,
        Sub::new(SUB, "cus_1", BASIC_MONTHLY).json(),
        1,
    )
    .await;
    let gateway = gateway_from_settings(Some(&settings(&server.uri()))).unwrap();

    assert_eq!(
        gateway
            .fetch_subscription(SUB)
            .await
            .unwrap()
            .stripe_subscription_id,
        SUB
    );
}
