//! The subscriber's own billing through Stripe: the Customer Portal link and the invoice list.

use billing::test_support::fixtures;
use billing::test_support::{
    BASIC_MONTHLY as BASIC, StripeMock, answer, form, query, received_at as received,
};
use doztra_tests::{Backend, TestApp, expect_error, spawn_app};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::{CUS, paid_user};

const PORTAL: &str = "/v1/billing_portal/sessions";
const INVOICES: &str = "/v1/invoices";

async fn portal(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    app.post("/api/billing/portal-session", token, json!({}))
        .await
}

async fn invoices(app: &TestApp, token: Option<&str>, query: &str) -> reqwest::Response {
    app.get(&format!("/api/billing/invoices{query}"), token)
        .await
}

async fn the_portal_opens_for_a_paying_customer_and_returns_to_the_app(
    app: TestApp,
    stripe: StripeMock,
) {
    let session = paid_user(&app, &stripe, "pam@example.com", BASIC).await;
    let answer_body = fixtures::portal_session("bps_1Doztra", CUS, "https://app.example.com");
    answer(&stripe, "POST", PORTAL, 200, answer_body, 2).await;

    let res = portal(&app, Some(&session.access)).await;

    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "url": "https://billing.stripe.com/p/session/test_bps_1Doztra" })
    );
    let sent = received(&stripe, "POST", PORTAL).await;
    let fields = form(&sent[0]);
    assert_eq!(fields["customer"], CUS);
    // STRIPE_PORTAL_RETURN_URL is unset: the portal returns to APP_BASE_URL.
    assert_eq!(fields["return_url"], "https://app.example.com");
    // A second visit is a new session, not a replay of the first.
    assert_eq!(portal(&app, Some(&session.access)).await.status(), 200);
    let sent = received(&stripe, "POST", PORTAL).await;
    assert_ne!(
        sent[0].headers.get("idempotency-key"),
        sent[1].headers.get("idempotency-key")
    );
}

async fn invoices_are_listed_newest_first_a_page_at_a_time(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "quinn@example.com", BASIC).await;
    let t = fixtures::CREATED;
    let first = fixtures::invoice_list(
        vec![
            fixtures::listed_invoice("in_draft", CUS, "", "draft", t + 300),
            fixtures::listed_invoice("in_3", CUS, "7D1F0E2A-0003", "open", t + 200),
        ],
        true,
    );
    Mock::given(method("GET"))
        .and(path(INVOICES))
        .and(query_param_is_missing("starting_after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .expect(1)
        .mount(&stripe)
        .await;
    let last = fixtures::invoice_list(
        vec![fixtures::listed_invoice(
            "in_2",
            CUS,
            "7D1F0E2A-0002",
            "paid",
            t,
        )],
        false,
    );
    Mock::given(method("GET"))
        .and(path(INVOICES))
        .and(query_param("starting_after", "in_3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(last))
        .expect(1)
        .mount(&stripe)
        .await;

    let res = invoices(&app, Some(&session.access), "?limit=2").await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["has_more"], true);
    assert_eq!(page["next_cursor"], "in_3");
    let listed = page["invoices"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "the draft is not listed: {page}");
    assert_eq!(
        listed[0],
        json!({
            "id": "in_3",
            "number": "7D1F0E2A-0003",
            "created": "2026-05-28T20:30:00.000Z",
            "amount_due": 1900,
            "amount_paid": 0,
            "currency": "usd",
            "status": "open",
            "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1Doztra/test_in_3",
            "invoice_pdf": "https://pay.stripe.com/invoice/acct_1Doztra/test_in_3/pdf"
        })
    );

    let res = invoices(&app, Some(&session.access), "?limit=2&starting_after=in_3").await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["has_more"], false);
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(page["invoices"][0]["id"], "in_2");
    assert_eq!(page["invoices"][0]["status"], "paid");
    assert_eq!(page["invoices"][0]["amount_paid"], 1900);

    // What Stripe was asked: the caller's customer, the page size, the cursor.
    let sent = received(&stripe, "GET", INVOICES).await;
    let (first, second) = (query(&sent[0]), query(&sent[1]));
    assert_eq!(first["customer"], CUS);
    assert_eq!(first["limit"], "2");
    assert!(!first.contains_key("starting_after"));
    assert_eq!(second["customer"], CUS);
    assert_eq!(second["starting_after"], "in_3");
}

async fn the_default_page_is_ten_invoices(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "ray@example.com", BASIC).await;
    answer(
        &stripe,
        "GET",
        INVOICES,
        200,
        fixtures::invoice_list(vec![], false),
        1,
    )
    .await;

    let res = invoices(&app, Some(&session.access), "").await;

    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(
        page,
        json!({ "invoices": [], "has_more": false, "next_cursor": null })
    );
    let sent = received(&stripe, "GET", INVOICES).await;
    assert_eq!(query(&sent[0])["limit"], "10");
}

async fn bad_invoice_queries_are_refused_before_stripe_is_asked(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "sam@example.com", BASIC).await;
    let token = Some(session.access.as_str());
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=ten", "limit"),
        ("?starting_after=cus_1", "starting_after"),
        ("?starting_after=in_1%26limit%3D5", "starting_after"),
    ] {
        let body = expect_error(invoices(&app, token, query).await, 422, "validation_error").await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    let body = expect_error(
        invoices(&app, token, "?limit=0&starting_after=x").await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");
    assert!(received(&stripe, "GET", INVOICES).await.is_empty());
}

async fn an_account_that_never_paid_has_neither_portal_nor_invoices(
    app: TestApp,
    stripe: StripeMock,
) {
    let session = app.user("tom@example.com").await;

    expect_error(portal(&app, Some(&session.access)).await, 404, "not_found").await;
    let res = invoices(&app, Some(&session.access), "").await;
    expect_error(res, 404, "not_found").await;
    assert!(stripe.received_requests().await.unwrap().is_empty());
}

async fn without_a_token_both_are_401(app: TestApp, stripe: StripeMock) {
    expect_error(portal(&app, None).await, 401, "not_authenticated").await;
    expect_error(invoices(&app, None, "").await, 401, "not_authenticated").await;
    let res = invoices(&app, Some("not-a-token"), "?limit=0").await;
    expect_error(res, 401, "invalid_token").await;
    assert!(stripe.received_requests().await.unwrap().is_empty());
}

async fn when_stripe_fails_both_are_502(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "uma@example.com", BASIC).await;
    let outage = fixtures::error("api_error", "", "Something went wrong on Stripe's end.");
    // The first try and both retries fail.
    answer(&stripe, "POST", PORTAL, 500, outage.clone(), 3).await;
    answer(&stripe, "GET", INVOICES, 503, outage, 3).await;

    let res = portal(&app, Some(&session.access)).await;
    expect_error(res, 502, "payment_provider_unavailable").await;
    let res = invoices(&app, Some(&session.access), "").await;
    expect_error(res, 502, "payment_provider_unavailable").await;
}

async fn a_customer_deleted_at_stripe_is_404(app: TestApp, stripe: StripeMock) {
    let session = paid_user(&app, &stripe, "vic@example.com", BASIC).await;
    let gone = json!({ "error": {
        "code": "resource_missing",
        "message": format!("No such customer: '{CUS}'"),
        "param": "customer",
        "type": "invalid_request_error"
    } });
    answer(&stripe, "POST", PORTAL, 400, gone.clone(), 1).await;
    answer(&stripe, "GET", INVOICES, 400, gone, 1).await;

    expect_error(portal(&app, Some(&session.access)).await, 404, "not_found").await;
    let res = invoices(&app, Some(&session.access), "").await;
    expect_error(res, 404, "not_found").await;
}

billing_tests!(
    the_portal_opens_for_a_paying_customer_and_returns_to_the_app,
    invoices_are_listed_newest_first_a_page_at_a_time,
    the_default_page_is_ten_invoices,
    bad_invoice_queries_are_refused_before_stripe_is_asked,
    an_account_that_never_paid_has_neither_portal_nor_invoices,
    without_a_token_both_are_401,
    when_stripe_fails_both_are_502,
    a_customer_deleted_at_stripe_is_404,
);

/// Without Stripe settings both answer 503, even for an account that never paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_billing_the_portal_and_invoices_are_unavailable() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = spawn_app(backend).await else {
            continue;
        };
        let session = app.user("wes@example.com").await;
        let token = Some(session.access.as_str());
        expect_error(portal(&app, token).await, 503, "billing_unavailable").await;
        let res = invoices(&app, token, "").await;
        expect_error(res, 503, "billing_unavailable").await;
        expect_error(portal(&app, None).await, 401, "not_authenticated").await;
    }
}

/// Both routes are in the OpenAPI document with their error answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_portal_and_invoices() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let doc: Value = app
        .get("/api/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    for (path, verb, statuses) in [
        (
            "/api/billing/portal-session",
            "post",
            &["200", "401", "404", "502", "503"][..],
        ),
        (
            "/api/billing/invoices",
            "get",
            &["200", "401", "404", "422", "502", "503"][..],
        ),
    ] {
        let operation = &doc["paths"][path][verb];
        assert!(operation.is_object(), "{verb} {path} missing");
        assert!(
            operation["security"].is_array(),
            "{verb} {path} is not bearer"
        );
        for status in statuses {
            assert!(
                operation["responses"][status].is_object(),
                "{verb} {path}: no {status}"
            );
        }
    }
    let params: Vec<&str> = doc["paths"]["/api/billing/invoices"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(params, ["limit", "starting_after"]);
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "PortalSessionResponse",
        "InvoiceListResponse",
        "InvoiceItem",
    ] {
        assert!(schemas[schema].is_object(), "{schema} missing");
    }
}
