//! The Stripe stand-in: a wiremock server guarded by [`StripeRules`], the settings that point a
//! gateway at it, and helpers to mount answers and read what it received.

use std::collections::HashMap;
use std::ops::Deref;
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::rules::StripeRules;
use crate::{PriceTable, SecretString, StripeGateway, StripeSettings};

pub const SECRET_KEY: &str = "sk_test_51DoztraMockKey";
pub const WEBHOOK_SECRET: &str = "whsec_test_current";
pub const PREVIOUS_WEBHOOK_SECRET: &str = "whsec_test_previous";
pub const BASIC_MONTHLY: &str = "price_1DoztraBasicMonthly";
pub const BASIC_YEARLY: &str = "price_1DoztraBasicYearly";
pub const PRO_MONTHLY: &str = "price_1DoztraProMonthly";
pub const SUCCESS_URL: &str =
    "https://app.doztra.test/billing/success?session_id={CHECKOUT_SESSION_ID}";
pub const CANCEL_URL: &str = "https://app.doztra.test/billing/cancel";
pub const PORTAL_RETURN_URL: &str = "https://app.doztra.test/account/billing";

/// A local Stripe: a wiremock server (it derefs to [`MockServer`]) whose first mock is the
/// guard of [`StripeRules`].
pub struct StripeMock {
    server: MockServer,
    rules: StripeRules,
    strict: bool,
}

impl StripeMock {
    /// A stand-in where any refused request fails the test when the mock is dropped.
    pub async fn start() -> Self {
        Self::with(true).await
    }

    /// A stand-in that answers refused requests as Stripe does and nothing more (for tests of
    /// the refusals themselves).
    pub async fn start_tolerating_refusals() -> Self {
        Self::with(false).await
    }

    async fn with(strict: bool) -> Self {
        let server = MockServer::start().await;
        let rules = StripeRules::default();
        rules.guard(strict).mount(&server).await;
        Self {
            server,
            rules,
            strict,
        }
    }

    /// Forgets the mounted answers and the received requests, like [`MockServer::reset`], and
    /// mounts the guard again. The idempotency keys stay remembered, as at Stripe.
    pub async fn reset(&self) {
        self.server.reset().await;
        self.rules.guard(self.strict).mount(&self.server).await;
    }

    pub fn rules(&self) -> &StripeRules {
        &self.rules
    }
}

impl Deref for StripeMock {
    type Target = MockServer;

    fn deref(&self) -> &MockServer {
        &self.server
    }
}

/// Prices with a yearly basic plan but no yearly professional one.
pub fn prices() -> PriceTable {
    PriceTable {
        basic_monthly: BASIC_MONTHLY.to_owned(),
        basic_yearly: Some(BASIC_YEARLY.to_owned()),
        professional_monthly: PRO_MONTHLY.to_owned(),
        professional_yearly: None,
    }
}

/// Settings for a gateway talking to `api_base`, with short timeouts and back-off.
pub fn settings(api_base: &str) -> StripeSettings {
    let mut settings = StripeSettings::new(
        SECRET_KEY,
        WEBHOOK_SECRET,
        prices(),
        SUCCESS_URL,
        CANCEL_URL,
    );
    settings.previous_webhook_secret = Some(SecretString::new(PREVIOUS_WEBHOOK_SECRET));
    settings.portal_return_url = PORTAL_RETURN_URL.to_owned();
    settings.api_base = api_base.to_owned();
    settings.request_timeout = Duration::from_secs(5);
    settings.max_network_retries = 2;
    settings.retry_backoff = Duration::from_millis(5);
    settings
}

/// A fresh stand-in and a gateway pointed at it.
pub async fn stripe() -> (StripeMock, StripeGateway) {
    let server = StripeMock::start().await;
    let gateway = StripeGateway::new(&settings(&server.uri())).expect("gateway");
    (server, gateway)
}

/// Answers `verb path` with `status` and `body`, and expects exactly `times` such requests.
pub async fn answer(
    server: &MockServer,
    verb: &str,
    at: &str,
    status: u16,
    body: Value,
    times: impl Into<wiremock::Times>,
) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(times)
        .named(format!("{verb} {at}"))
        .mount(server)
        .await;
}

/// Every request the mock received, in order.
pub async fn received(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
}

/// The requests to `verb path`.
pub async fn received_at(server: &MockServer, verb: &str, at: &str) -> Vec<Request> {
    received(server)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == at)
        .collect()
}

/// The form body, decoded (`items[0][price]` -> value).
pub fn form(request: &Request) -> HashMap<String, String> {
    form_urlencoded::parse(&request.body).into_owned().collect()
}

/// The query string, decoded.
pub fn query(request: &Request) -> HashMap<String, String> {
    request.url.query_pairs().into_owned().collect()
}

/// The values of an array parameter such as `expand`, sorted.
pub fn form_list(request: &Request, name: &str) -> Vec<String> {
    let prefix = format!("{name}[");
    let mut values: Vec<String> = form_urlencoded::parse(&request.body)
        .into_owned()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| v)
        .collect();
    values.sort();
    values
}

pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn idem_header(request: &Request) -> Option<&str> {
    header(request, "idempotency-key")
}

/// Every mutating request carries an idempotency key, every read none; all carry our key.
pub fn assert_request_hygiene(requests: &[Request]) {
    for request in requests {
        let verb = request.method.as_str();
        let key = idem_header(request);
        if verb == "GET" {
            assert_eq!(key, None, "{verb} {} has an idempotency key", request.url);
        } else {
            assert!(
                key.is_some(),
                "{verb} {} has no idempotency key",
                request.url
            );
        }
        assert_eq!(
            header(request, "authorization"),
            Some(format!("Bearer {SECRET_KEY}").as_str())
        );
        assert!(header(request, "stripe-version").is_some_and(|v| v.starts_with("20")));
    }
}
