//! What Stripe refuses, checked on every request the stand-in receives, before any mounted
//! answer: the limits a mock that accepts anything cannot show (issue #11 was one of them).
//!
//! - **Expansion depth.** Stripe counts every segment of an `expand[]` path, `data` included,
//!   and refuses more than four: 400 `property_expansion_max_depth`.
//! - **Unknown parameters.** Each endpoint the gateway calls takes the parameters listed in
//!   `endpoints.rs` (from Stripe's API reference, as async-stripe's generated request builders
//!   carry them); anything else is 400 `parameter_unknown`, also one level down inside the
//!   objects we send (`items[0][...]`, `invoice_settings[...]`). An endpoint not in that list is
//!   Stripe's 404 "Unrecognized request URL".
//! - **Idempotency keys.** Stripe remembers the first request made with an `Idempotency-Key`
//!   (POST only; for 24 hours) and refuses the key on another endpoint or with other parameters:
//!   400 `idempotency_error`. The same key with the same parameters passes (Stripe replays).
//!   A request refused by validation does not claim its key, as at Stripe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Match, Mock, Request, Respond, ResponseTemplate};

use super::endpoints::{self, Endpoint};

/// Stripe's limit on the segments of one `expand[]` path.
pub const MAX_EXPAND_DEPTH: usize = 4;

/// A request Stripe would refuse, with the answer it would give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// `invalid_request_error` or `idempotency_error`.
    pub type_: &'static str,
    pub code: Option<&'static str>,
    pub message: String,
    pub param: Option<String>,
}

impl Refusal {
    fn invalid(code: &'static str, message: String, param: impl Into<String>) -> Self {
        Self {
            status: 400,
            type_: "invalid_request_error",
            code: Some(code),
            message,
            param: Some(param.into()),
        }
    }

    /// Stripe's error body: `{"error": {"type", "code"?, "message", "param"?, ...}}`.
    pub fn body(&self) -> Value {
        let mut error = json!({
            "type": self.type_,
            "message": self.message,
            "request_log_url": "https://dashboard.stripe.com/test/logs/req_StandIn0001",
        });
        if let Some(code) = self.code {
            error["code"] = json!(code);
            error["doc_url"] = json!(format!(
                "https://stripe.com/docs/error-codes/{}",
                code.replace('_', "-")
            ));
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

/// Stripe's answer to `expand[]=path` when the path is too deep; `None` when it is allowed.
pub fn expand_refusal(path: &str) -> Option<Refusal> {
    (path.split('.').count() > MAX_EXPAND_DEPTH).then(|| {
        Refusal::invalid(
            "property_expansion_max_depth",
            format!("You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. Property: {path}"),
            "expand",
        )
    })
}

/// The rules, with the memory of the idempotency keys seen. Clones share that memory, so a
/// guard mounted again after a reset still knows the keys Stripe would.
#[derive(Debug, Clone, Default)]
pub struct StripeRules {
    keys: Arc<Mutex<HashMap<String, Fingerprint>>>,
}

/// What an idempotency key was first used for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    endpoint: String,
    params: Vec<(String, String)>,
}

impl StripeRules {
    /// Why Stripe would refuse `request`, if it would; remembers nothing.
    pub fn check(&self, request: &Request) -> Option<Refusal> {
        self.evaluate(request, false)
    }

    /// A mock that answers every request Stripe would refuse with Stripe's error, and lets the
    /// others through to the mounted answers (it matches only refused requests, ahead of every
    /// other mock). With `strict`, any refusal also fails the test when the server is dropped.
    pub fn guard(&self, strict: bool) -> Mock {
        let mock = Mock::given(Guard(self.clone()))
            .respond_with(Guard(self.clone()))
            .with_priority(1)
            .named("requests Stripe would refuse (billing::test_support::rules)");
        if strict { mock.expect(0) } else { mock }
    }

    fn evaluate(&self, request: &Request, remember: bool) -> Option<Refusal> {
        let method = request.method.as_str();
        let path = request.url.path();
        let Some(endpoint) = endpoints::find(method, path) else {
            return Some(Refusal {
                status: 404,
                type_: "invalid_request_error",
                code: None,
                message: format!(
                    "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
                ),
                param: None,
            });
        };
        let params = params(request);
        if let Some(refusal) = params
            .iter()
            .find_map(|(k, v)| parameter_refusal(endpoint, k, v))
        {
            return Some(refusal);
        }
        let key = request.headers.get("idempotency-key")?.to_str().ok()?;
        if method != "POST" {
            return None; // Stripe ignores keys on GET and DELETE.
        }
        let mut sorted = params;
        sorted.sort();
        let seen = Fingerprint {
            endpoint: format!("{method} {path}"),
            params: sorted,
        };
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        match keys.get(key) {
            None => {
                if remember {
                    keys.insert(key.to_owned(), seen);
                }
                None
            }
            Some(first) if *first == seen => None,
            Some(first) if first.endpoint != seen.endpoint => Some(Refusal {
                status: 400,
                type_: "idempotency_error",
                code: None,
                message: format!(
                    "Keys for idempotent requests can only be used for the same endpoint they were first used for ('{}' vs '{}'). Try using a key other than '{key}' if you meant to execute a different request.",
                    first.endpoint, seen.endpoint
                ),
                param: None,
            }),
            Some(_) => Some(Refusal {
                status: 400,
                type_: "idempotency_error",
                code: None,
                message: format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                ),
                param: None,
            }),
        }
    }
}

/// The form body's and the query string's parameters, as sent (`items[0][price]` -> value).
fn params(request: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(&request.body)
        .into_owned()
        .chain(request.url.query_pairs().into_owned())
        .collect()
}

/// A parameter the endpoint does not take, or an expansion too deep.
fn parameter_refusal(endpoint: &Endpoint, key: &str, value: &str) -> Option<Refusal> {
    let (name, subscripts) = split_key(key);
    let unknown = || {
        Some(Refusal::invalid(
            "parameter_unknown",
            format!("Received unknown parameter: {key}"),
            key,
        ))
    };
    if !endpoint.params.contains(&name) {
        return unknown();
    }
    if name == "expand" {
        return expand_refusal(value);
    }
    let (_, fields) = endpoint.nested.iter().find(|(object, _)| *object == name)?;
    // `items[0][price]`: skip the list index; the first named subscript is the field.
    match subscripts
        .iter()
        .find(|s| !s.chars().all(|c| c.is_ascii_digit()))
    {
        Some(field) if !fields.contains(field) => unknown(),
        _ => None,
    }
}

/// `items[0][price]` -> (`items`, [`0`, `price`]).
fn split_key(key: &str) -> (&str, Vec<&str>) {
    let Some((name, rest)) = key.split_once('[') else {
        return (key, Vec::new());
    };
    let subscripts = rest
        .split('[')
        .map(|part| part.trim_end_matches(']'))
        .collect();
    (name, subscripts)
}

/// Matches the requests Stripe would refuse and answers them as Stripe does.
struct Guard(StripeRules);

impl Match for Guard {
    fn matches(&self, request: &Request) -> bool {
        self.0.evaluate(request, true).is_some()
    }
}

impl Respond for Guard {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match self.0.check(request) {
            Some(refusal) => {
                eprintln!(
                    "Stripe stand-in refused {} {}: {}",
                    request.method, request.url, refusal.message
                );
                ResponseTemplate::new(refusal.status).set_body_json(refusal.body())
            }
            None => ResponseTemplate::new(500).set_body_json(json!({
                "error": { "type": "api_error", "message": "stand-in: refusal not reproducible" }
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_levels_pass_and_five_are_refused() {
        assert_eq!(expand_refusal("latest_invoice.payments"), None);
        assert_eq!(
            expand_refusal("data.invoice.subscription.default_source"),
            None
        );
        let refusal = expand_refusal("latest_invoice.payments.data.payment.payment_intent")
            .expect("five levels");
        assert_eq!(refusal.code, Some("property_expansion_max_depth"));
        assert_eq!(refusal.status, 400);
        assert!(refusal.message.contains("more than 4 levels"));
    }

    #[test]
    fn keys_split_into_name_and_subscripts() {
        assert_eq!(split_key("email"), ("email", vec![]));
        assert_eq!(split_key("items[0][price]"), ("items", vec!["0", "price"]));
        assert_eq!(split_key("expand[]"), ("expand", vec![""]));
    }
}
