//! `create_portal_session` and `list_invoices`: what customers see of their own billing.

use billing::test_support::fixtures;
use billing::test_support::*;
use billing::{BillingError, InvoicePage, PaymentGateway, idempotency_key};
use serde_json::json;

const CUS: &str = "cus_TDoztraAda001";

fn page(limit: u8, starting_after: Option<&str>) -> InvoicePage {
    InvoicePage {
        limit,
        starting_after: starting_after.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_portal_session_is_for_the_customer_and_returns_to_the_configured_url() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "POST",
        "/v1/billing_portal/sessions",
        200,
        fixtures::portal_session("bps_1Doztra", CUS, PORTAL_RETURN_URL),
        1,
    )
    .await;

    let session = gateway
        .create_portal_session(CUS, "portal:u1:abc")
        .await
        .unwrap();

    assert_eq!(session.id, "bps_1Doztra");
    assert_eq!(
        session.url,
        "https://billing.stripe.com/p/session/test_bps_1Doztra"
    );
    let requests = received(&server).await;
    assert_request_hygiene(&requests);
    let sent = form(&requests[0]);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent["customer"], CUS);
    assert_eq!(sent["return_url"], PORTAL_RETURN_URL);
    assert_eq!(
        idem_header(&requests[0]),
        Some(idempotency_key("portal:u1:abc", "portal", &[CUS, PORTAL_RETURN_URL]).as_str())
    );
}

#[tokio::test]
async fn invoices_are_listed_newest_first_without_drafts() {
    let (server, gateway) = stripe().await;
    let t = fixtures::CREATED;
    let list = fixtures::invoice_list(
        vec![
            fixtures::listed_invoice("in_draft", CUS, "", "draft", t + 300),
            fixtures::listed_invoice("in_3", CUS, "7D1F0E2A-0003", "open", t + 200),
            fixtures::listed_invoice("in_2", CUS, "7D1F0E2A-0002", "paid", t + 100),
        ],
        false,
    );
    answer(&server, "GET", "/v1/invoices", 200, list, 1).await;

    let listed = gateway.list_invoices(CUS, &page(10, None)).await.unwrap();

    let ids: Vec<&str> = listed.invoices.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["in_3", "in_2"]);
    assert!(!listed.has_more);
    assert_eq!(listed.next_cursor, None);
    let paid = &listed.invoices[1];
    assert_eq!(paid.number.as_deref(), Some("7D1F0E2A-0002"));
    assert_eq!(paid.created, t + 100);
    assert_eq!((paid.amount_due, paid.amount_paid), (1900, 1900));
    assert_eq!(paid.currency, "usd");
    assert_eq!(paid.status, "paid");
    assert_eq!(
        paid.hosted_invoice_url.as_deref(),
        Some("https://invoice.stripe.com/i/acct_1Doztra/test_in_2")
    );
    assert_eq!(
        paid.invoice_pdf.as_deref(),
        Some("https://pay.stripe.com/invoice/acct_1Doztra/test_in_2/pdf")
    );
    assert_eq!(listed.invoices[0].amount_paid, 0);

    let requests = received(&server).await;
    assert_request_hygiene(&requests);
    let sent = query(&requests[0]);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent["customer"], CUS);
    assert_eq!(sent["limit"], "10");
}

#[tokio::test]
async fn the_next_page_starts_after_the_last_invoice_stripe_returned() {
    let (server, gateway) = stripe().await;
    let t = fixtures::CREATED;
    let list = fixtures::invoice_list(
        vec![
            fixtures::listed_invoice("in_5", CUS, "7D1F0E2A-0005", "paid", t + 50),
            fixtures::listed_invoice("in_4draft", CUS, "", "draft", t + 40),
        ],
        true,
    );
    answer(&server, "GET", "/v1/invoices", 200, list, 1).await;

    let listed = gateway
        .list_invoices(CUS, &page(2, Some("in_6")))
        .await
        .unwrap();

    assert_eq!(listed.invoices.len(), 1);
    assert!(listed.has_more);
    // The skipped draft is still where the next page starts.
    assert_eq!(listed.next_cursor.as_deref(), Some("in_4draft"));
    let sent = query(&received(&server).await[0]);
    assert_eq!(sent["starting_after"], "in_6");
    assert_eq!(sent["limit"], "2");
}

#[tokio::test]
async fn a_customer_stripe_does_not_know_is_an_invalid_request() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        "/v1/invoices",
        400,
        json!({ "error": {
            "code": "resource_missing",
            "message": "No such customer: 'cus_gone'",
            "param": "customer",
            "type": "invalid_request_error"
        } }),
        1,
    )
    .await;

    let err = gateway
        .list_invoices("cus_gone", &page(10, None))
        .await
        .unwrap_err();

    assert_eq!(
        err,
        BillingError::InvalidRequest {
            message: "No such customer: 'cus_gone'".to_owned(),
            code: Some("resource_missing".to_owned()),
            param: Some("customer".to_owned()),
        }
    );
}

#[tokio::test]
async fn a_portal_answer_without_a_url_is_a_gateway_error() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "POST",
        "/v1/billing_portal/sessions",
        200,
        json!({ "id": "bps_1", "object": "billing_portal.session" }),
        1,
    )
    .await;

    let err = gateway.create_portal_session(CUS, "p").await.unwrap_err();

    assert!(
        matches!(err, BillingError::Gateway(ref m) if m.contains("unexpected answer")),
        "{err:?}"
    );
}
