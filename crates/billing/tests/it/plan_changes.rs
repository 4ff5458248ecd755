//! `change_plan`, `set_cancel_at_period_end`, `cancel_now` and `fetch_subscription`.

use billing::{
    BillingError, BillingInterval, GatewayStatus, PaidPlan, PaymentGateway, idempotency_key,
};

use billing::test_support::fixtures::{self, Sub};
use billing::test_support::*;

const CUS: &str = "cus_TDoztraAda001";
const SUB: &str = "sub_1SDoztra0001";
const ITEM: &str = "si_1SDoztra0001";
const SUB_PATH: &str = "/v1/subscriptions/sub_1SDoztra0001";

#[tokio::test]
async fn change_plan_swaps_the_item_price_with_prorations_invoiced_now() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, BASIC_MONTHLY).json(),
        1,
    )
    .await;
    answer(
        &server,
        "POST",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, PRO_MONTHLY).json(),
        1,
    )
    .await;

    let state = gateway
        .change_plan(SUB, PaidPlan::Professional, "plan:u1:v3")
        .await
        .unwrap();

    assert_eq!(state.status, GatewayStatus::Active);
    assert_eq!(state.plan, Some(PaidPlan::Professional));
    assert_eq!(state.price_id.as_deref(), Some(PRO_MONTHLY));

    let requests = received(&server).await;
    assert_request_hygiene(&requests);
    let update = form(&requests[1]);
    assert_eq!(update["items[0][id]"], ITEM);
    assert_eq!(update["items[0][price]"], PRO_MONTHLY);
    assert_eq!(update["proration_behavior"], "always_invoice");
    assert_eq!(update["payment_behavior"], "pending_if_incomplete");
    assert_eq!(
        idem_header(&requests[1]),
        Some(idempotency_key("plan:u1:v3", "change-plan", &[SUB, ITEM, PRO_MONTHLY]).as_str())
    );
}

#[tokio::test]
async fn change_plan_keeps_a_yearly_subscription_yearly() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, BASIC_YEARLY).yearly().json(),
        1,
    )
    .await;

    // There is no yearly professional price in the test configuration.
    let err = gateway
        .change_plan(SUB, PaidPlan::Professional, "p")
        .await
        .unwrap_err();

    assert_eq!(
        err,
        BillingError::PriceUnavailable {
            plan: PaidPlan::Professional,
            interval: BillingInterval::Yearly
        }
    );
    assert!(received_at(&server, "POST", SUB_PATH).await.is_empty());
}

#[tokio::test]
async fn changing_to_the_current_plan_sends_no_update() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, BASIC_MONTHLY).json(),
        1,
    )
    .await;
    answer(
        &server,
        "POST",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, BASIC_MONTHLY).json(),
        0,
    )
    .await;

    let state = gateway
        .change_plan(SUB, PaidPlan::Basic, "p")
        .await
        .unwrap();

    assert_eq!(state.plan, Some(PaidPlan::Basic));
}

#[tokio::test]
async fn an_upgrade_whose_payment_needs_authentication_is_pending_on_the_old_plan() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, BASIC_MONTHLY).json(),
        1,
    )
    .await;
    let intent = "pi_3SDoztraUpg01";
    let invoice = fixtures::open_invoice("in_1SDoztraUpg1", CUS, SUB, PRO_MONTHLY, intent);
    answer(
        &server,
        "GET",
        &fixtures::payment_intent_path(intent),
        200,
        fixtures::payment_intent(intent, CUS, "requires_action"),
        1,
    )
    .await;
    let pending = Sub::new(SUB, CUS, BASIC_MONTHLY)
        .pending_update(PRO_MONTHLY)
        .latest_invoice(invoice);
    answer(&server, "POST", SUB_PATH, 200, pending.json(), 1).await;

    let state = gateway
        .change_plan(SUB, PaidPlan::Professional, "p")
        .await
        .unwrap();

    assert_eq!(
        state.client_secret(),
        Some("pi_3SDoztraUpg01_secret_Fb2mXyZqL0cWk3nVtR8s")
    );
    assert_eq!(
        state.plan,
        Some(PaidPlan::Basic),
        "the old plan stays until paid"
    );
    assert!(state.has_pending_update);
}

#[tokio::test]
async fn a_declined_upgrade_is_declined() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, BASIC_MONTHLY).json(),
        1,
    )
    .await;
    let intent = "pi_3SDoztraUpg02";
    let invoice = fixtures::open_invoice("in_1SDoztraUpg2", CUS, SUB, PRO_MONTHLY, intent);
    answer(
        &server,
        "GET",
        &fixtures::payment_intent_path(intent),
        200,
        fixtures::payment_intent(intent, CUS, "requires_payment_method"),
        1,
    )
    .await;
    let pending = Sub::new(SUB, CUS, BASIC_MONTHLY)
        .pending_update(PRO_MONTHLY)
        .latest_invoice(invoice);
    answer(&server, "POST", SUB_PATH, 200, pending.json(), 1).await;

    let err = gateway
        .change_plan(SUB, PaidPlan::Professional, "p")
        .await
        .unwrap_err();

    assert!(
        matches!(err, BillingError::Declined { ref code, .. } if code.as_deref() == Some("insufficient_funds")),
        "{err:?}"
    );
}

#[tokio::test]
async fn auto_renew_off_sets_cancel_at_period_end_and_on_clears_it() {
    for cancel in [true, false] {
        let (server, gateway) = stripe().await;
        let answer_body = Sub::new(SUB, CUS, PRO_MONTHLY)
            .cancel_at_period_end(cancel)
            .json();
        answer(&server, "POST", SUB_PATH, 200, answer_body, 1).await;

        let state = gateway
            .set_cancel_at_period_end(SUB, cancel, "renew:u1:v9")
            .await
            .unwrap();

        assert_eq!(state.cancel_at_period_end, cancel);
        assert_eq!(
            state.status,
            GatewayStatus::Active,
            "the plan lasts until the period ends"
        );
        assert_eq!(state.current_period_end, Some(fixtures::PERIOD_END));
        let requests = received(&server).await;
        assert_request_hygiene(&requests);
        assert_eq!(
            form(&requests[0])["cancel_at_period_end"],
            cancel.to_string()
        );
        let flag = cancel.to_string();
        assert_eq!(
            idem_header(&requests[0]),
            Some(idempotency_key("renew:u1:v9", "cancel-at-period-end", &[SUB, &flag]).as_str())
        );
    }
}

#[tokio::test]
async fn cancel_now_deletes_the_subscription() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "DELETE",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, PRO_MONTHLY).status("canceled").json(),
        1,
    )
    .await;

    let state = gateway.cancel_now(SUB, "delete-account:u1").await.unwrap();

    assert_eq!(state.status, GatewayStatus::Canceled);
    assert!(state.status.is_ended());
    assert_request_hygiene(&received(&server).await);
}

#[tokio::test]
async fn fetch_subscription_maps_status_plan_and_period() {
    let (server, gateway) = stripe().await;
    answer(
        &server,
        "GET",
        SUB_PATH,
        200,
        Sub::new(SUB, CUS, PRO_MONTHLY).status("past_due").json(),
        1,
    )
    .await;

    let state = gateway.fetch_subscription(SUB).await.unwrap();

    assert_eq!(state.status, GatewayStatus::PastDue);
    assert!(state.status.keeps_paid_plan());
    assert_eq!(state.plan, Some(PaidPlan::Professional));
    assert_eq!(state.current_period_start, Some(fixtures::PERIOD_START));
    assert_eq!(state.current_period_end, Some(fixtures::PERIOD_END));
    assert_eq!(state.created, Some(fixtures::CREATED));
    assert_request_hygiene(&received(&server).await);
}

#[tokio::test]
async fn set_default_payment_method_attaches_and_makes_it_the_invoice_default() {
    let (server, gateway) = stripe().await;
    let pm = "pm_card_amex";
    answer(
        &server,
        "POST",
        &format!("/v1/payment_methods/{pm}/attach"),
        200,
        fixtures::payment_method(pm, Some(CUS)),
        1,
    )
    .await;
    answer(
        &server,
        "POST",
        &format!("/v1/customers/{CUS}"),
        200,
        fixtures::customer_with_default_payment_method(CUS, "ada@example.com", pm),
        1,
    )
    .await;

    gateway
        .set_default_payment_method(CUS, pm, "card:u1:v2")
        .await
        .unwrap();

    let requests = received(&server).await;
    assert_request_hygiene(&requests);
    assert_eq!(
        form(&requests[1])["invoice_settings[default_payment_method]"],
        pm
    );
}
