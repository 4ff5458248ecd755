//! Stripe settings read from the environment: the secret key, webhook secrets, the price table
//! and the Checkout return URLs. Billing is "configured" when `STRIPE_SECRET_KEY` is set; a key
//! without the rest is a start-up error naming the missing variable, never a silent half-setup.

use std::time::Duration;

use ::settings::Vars;
pub use ::settings::{SecretString, SettingsError};

use crate::plan::{BillingInterval, PaidPlan};

/// Stripe's production API. Tests point `STRIPE_API_BASE` at a local mock instead.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com/";

/// Ends the message of a variable missing beside the key.
const WITH_THE_KEY: &str = "when STRIPE_SECRET_KEY is set";

/// The Stripe price id of each paid plan and interval. Yearly prices are optional: without one,
/// that plan is only sold monthly. The client never names a price; these are the only ones used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    pub basic_monthly: String,
    pub basic_yearly: Option<String>,
    pub professional_monthly: String,
    pub professional_yearly: Option<String>,
}

impl PriceTable {
    /// The price to charge for `plan` every `interval`, if one is configured.
    pub fn price_for(&self, plan: PaidPlan, interval: BillingInterval) -> Option<&str> {
        match (plan, interval) {
            (PaidPlan::Basic, BillingInterval::Monthly) => Some(&self.basic_monthly),
            (PaidPlan::Basic, BillingInterval::Yearly) => self.basic_yearly.as_deref(),
            (PaidPlan::Professional, BillingInterval::Monthly) => Some(&self.professional_monthly),
            (PaidPlan::Professional, BillingInterval::Yearly) => {
                self.professional_yearly.as_deref()
            }
        }
    }

    /// Which plan and interval a Stripe price id stands for; `None` for a price we do not sell
    /// (for example one added by hand in the Stripe dashboard).
    pub fn plan_for_price(&self, price_id: &str) -> Option<(PaidPlan, BillingInterval)> {
        self.entries()
            .find(|(_, _, id)| *id == price_id)
            .map(|(plan, interval, _)| (plan, interval))
    }

    fn entries(&self) -> impl Iterator<Item = (PaidPlan, BillingInterval, &str)> {
        PaidPlan::ALL.into_iter().flat_map(move |plan| {
            [BillingInterval::Monthly, BillingInterval::Yearly]
                .into_iter()
                .filter_map(move |interval| {
                    self.price_for(plan, interval)
                        .map(|price| (plan, interval, price))
                })
        })
    }
}

/// Everything the Stripe gateway and the webhook verifier need.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// `sk_...` (or a restricted `rk_...`) key.
    pub secret_key: SecretString,
    /// The endpoint's signing secret (`whsec_...`).
    pub webhook_secret: SecretString,
    /// The secret being rolled out of use; events signed with it are still accepted.
    pub previous_webhook_secret: Option<SecretString>,
    pub prices: PriceTable,
    /// Where Checkout sends the customer after paying (may contain `{CHECKOUT_SESSION_ID}`).
    pub success_url: String,
    /// Where Checkout sends the customer who gives up.
    pub cancel_url: String,
    /// Where the Customer Portal's "return" link leads (`STRIPE_PORTAL_RETURN_URL`, else the
    /// app's base URL).
    pub portal_return_url: String,
    /// Base URL of the API, ending in `/` (requests go to `{api_base}v1/...`).
    pub api_base: String,
    /// Per-attempt time limit of one HTTP request to Stripe (async-stripe has none by default).
    pub request_timeout: Duration,
    /// Further attempts after a network error, timeout, 409, 429 or 5xx; each attempt reuses the
    /// same idempotency key, so a retry can never create a second object.
    pub max_network_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff: Duration,
}

impl StripeSettings {
    /// Settings with the defaults for everything that is not an environment variable; the
    /// Customer Portal returns to `cancel_url` (a page of the app) until told otherwise.
    pub fn new(
        secret_key: impl Into<String>,
        webhook_secret: impl Into<String>,
        prices: PriceTable,
        success_url: impl Into<String>,
        cancel_url: impl Into<String>,
    ) -> Self {
        let cancel_url = cancel_url.into();
        Self {
            secret_key: SecretString::new(secret_key),
            webhook_secret: SecretString::new(webhook_secret),
            previous_webhook_secret: None,
            prices,
            success_url: success_url.into(),
            portal_return_url: cancel_url.clone(),
            cancel_url,
            api_base: DEFAULT_API_BASE.to_owned(),
            request_timeout: Duration::from_secs(30),
            max_network_retries: 2,
            retry_backoff: Duration::from_millis(500),
        }
    }

    /// Reads the `STRIPE_*` variables (for example from `settings::Vars::from_env()`, or
    /// `Vars::from_pairs` in tests). `app_base_url` is the web app's address, where the
    /// Customer Portal returns unless `STRIPE_PORTAL_RETURN_URL` says otherwise.
    ///
    /// `Ok(None)`: `STRIPE_SECRET_KEY` is unset or empty, billing is not configured and paid-plan
    /// operations answer 503 `billing_unavailable`. With the key set, `STRIPE_WEBHOOK_SECRET`,
    /// `STRIPE_PRICE_BASIC`, `STRIPE_PRICE_PROFESSIONAL`, `STRIPE_SUCCESS_URL` and
    /// `STRIPE_CANCEL_URL` are required; `STRIPE_WEBHOOK_SECRET_PREVIOUS`,
    /// `STRIPE_PRICE_BASIC_YEARLY`, `STRIPE_PRICE_PROFESSIONAL_YEARLY`, `STRIPE_API_BASE` and
    /// `STRIPE_PORTAL_RETURN_URL` are optional.
    pub fn from_vars(vars: &Vars, app_base_url: &str) -> Result<Option<Self>, SettingsError> {
        let Some(secret_key) = vars.string("STRIPE_SECRET_KEY") else {
            return Ok(None);
        };
        check_secret_key(&secret_key)?;
        let required_url = |name| {
            vars.url(name)?
                .ok_or_else(|| SettingsError::missing(name, WITH_THE_KEY))
        };
        let mut settings = Self::new(
            secret_key,
            vars.required("STRIPE_WEBHOOK_SECRET", WITH_THE_KEY)?,
            read_prices(vars)?,
            required_url("STRIPE_SUCCESS_URL")?,
            required_url("STRIPE_CANCEL_URL")?,
        );
        settings.previous_webhook_secret = vars.secret("STRIPE_WEBHOOK_SECRET_PREVIOUS");
        settings.portal_return_url = vars
            .url("STRIPE_PORTAL_RETURN_URL")?
            .unwrap_or_else(|| app_base_url.to_owned());
        if let Some(base) = vars.url("STRIPE_API_BASE")? {
            settings.api_base = normalize_api_base(&base);
        }
        Ok(Some(settings))
    }

    /// The secrets a webhook signature may be made with, current first.
    pub fn webhook_secrets(&self) -> Vec<&str> {
        std::iter::once(&self.webhook_secret)
            .chain(self.previous_webhook_secret.as_ref())
            .map(SecretString::expose)
            .collect()
    }
}

/// async-stripe joins `{base}v1/...` without a separator: `http://host/stripe` would become
/// `http://host/stripev1/...`. A trailing `/` makes a base with a path prefix work.
pub(crate) fn normalize_api_base(base: &str) -> String {
    if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    }
}

fn check_secret_key(key: &str) -> Result<(), SettingsError> {
    const VARIABLE: &str = "STRIPE_SECRET_KEY";
    if key.starts_with("pk_") {
        return Err(SettingsError::new(
            VARIABLE,
            "is a publishable key (pk_...); the server needs the secret key (sk_...)",
        ));
    }
    if !(key.starts_with("sk_") || key.starts_with("rk_")) {
        return Err(SettingsError::new(
            VARIABLE,
            "must be a secret key (sk_...) or a restricted key (rk_...)",
        ));
    }
    Ok(())
}

/// The monthly prices (required) and the yearly ones (optional), each a distinct price id.
fn read_prices(vars: &Vars) -> Result<PriceTable, SettingsError> {
    let price = |name| vars.parse(name, price_id);
    let required_price =
        |name| price(name)?.ok_or_else(|| SettingsError::missing(name, WITH_THE_KEY));
    let prices = PriceTable {
        basic_monthly: required_price("STRIPE_PRICE_BASIC")?,
        basic_yearly: price("STRIPE_PRICE_BASIC_YEARLY")?,
        professional_monthly: required_price("STRIPE_PRICE_PROFESSIONAL")?,
        professional_yearly: price("STRIPE_PRICE_PROFESSIONAL_YEARLY")?,
    };
    check_distinct(&prices)?;
    Ok(prices)
}

fn price_id(raw: &str) -> Result<String, &'static str> {
    if raw.chars().any(char::is_whitespace) {
        Err("a Stripe price id contains no whitespace")
    } else {
        Ok(raw.to_owned())
    }
}

fn check_distinct(prices: &PriceTable) -> Result<(), SettingsError> {
    let named = [
        ("STRIPE_PRICE_BASIC", Some(&prices.basic_monthly)),
        ("STRIPE_PRICE_BASIC_YEARLY", prices.basic_yearly.as_ref()),
        (
            "STRIPE_PRICE_PROFESSIONAL",
            Some(&prices.professional_monthly),
        ),
        (
            "STRIPE_PRICE_PROFESSIONAL_YEARLY",
            prices.professional_yearly.as_ref(),
        ),
    ];
    for (i, (name, price)) in named.iter().enumerate() {
        let Some(price) = price else { continue };
        if let Some((other, _)) = named[..i].iter().find(|(_, p)| *p == Some(*price)) {
            // One price for two plans would make webhooks ambiguous about the plan paid for.
            return Err(SettingsError::new(
                name,
                format!("is the same price as {other}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn full() -> HashMap<String, String> {
        vars(&[
            ("STRIPE_SECRET_KEY", "sk_test_123"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_current"),
            ("STRIPE_PRICE_BASIC", "price_basic_m"),
            ("STRIPE_PRICE_PROFESSIONAL", "price_pro_m"),
            ("STRIPE_SUCCESS_URL", "https://app.example/billing/success"),
            ("STRIPE_CANCEL_URL", "https://app.example/billing/cancel"),
        ])
    }

    fn read(map: &HashMap<String, String>) -> Result<Option<StripeSettings>, SettingsError> {
        StripeSettings::from_vars(&Vars::from_map(map), "https://app.example")
    }

    #[test]
    fn without_a_secret_key_billing_is_not_configured() {
        let mut map = full();
        map.insert("STRIPE_SECRET_KEY".into(), "  ".into());
        assert_eq!(read(&map).unwrap().map(|s| s.api_base), None);
        assert!(read(&HashMap::new()).unwrap().is_none());
    }

    #[test]
    fn a_full_configuration_reads_with_defaults() {
        let settings = read(&full()).unwrap().unwrap();
        assert_eq!(settings.secret_key.expose(), "sk_test_123");
        assert_eq!(settings.api_base, DEFAULT_API_BASE);
        assert_eq!(settings.prices.basic_yearly, None);
        assert_eq!(settings.webhook_secrets(), vec!["whsec_current"]);
        assert_eq!(settings.portal_return_url, "https://app.example");
        assert_eq!(
            settings
                .prices
                .price_for(PaidPlan::Professional, BillingInterval::Monthly),
            Some("price_pro_m")
        );
        assert_eq!(
            settings
                .prices
                .price_for(PaidPlan::Professional, BillingInterval::Yearly),
            None
        );
    }

    #[test]
    fn optional_variables_are_read() {
        let mut map = full();
        map.insert("STRIPE_WEBHOOK_SECRET_PREVIOUS".into(), "whsec_old".into());
        map.insert("STRIPE_PRICE_BASIC_YEARLY".into(), "price_basic_y".into());
        map.insert(
            "STRIPE_PRICE_PROFESSIONAL_YEARLY".into(),
            "price_pro_y".into(),
        );
        map.insert("STRIPE_API_BASE".into(), "http://127.0.0.1:12111".into());
        map.insert(
            "STRIPE_PORTAL_RETURN_URL".into(),
            "https://app.example/account".into(),
        );
        let settings = read(&map).unwrap().unwrap();
        assert_eq!(settings.portal_return_url, "https://app.example/account");
        assert_eq!(
            settings.webhook_secrets(),
            vec!["whsec_current", "whsec_old"]
        );
        assert_eq!(settings.api_base, "http://127.0.0.1:12111/");
        assert_eq!(
            settings.prices.plan_for_price("price_pro_y"),
            Some((PaidPlan::Professional, BillingInterval::Yearly))
        );
        assert_eq!(settings.prices.plan_for_price("price_other"), None);
    }

    #[test]
    fn a_key_without_the_rest_names_the_missing_variable() {
        for missing in [
            "STRIPE_WEBHOOK_SECRET",
            "STRIPE_PRICE_BASIC",
            "STRIPE_PRICE_PROFESSIONAL",
            "STRIPE_SUCCESS_URL",
            "STRIPE_CANCEL_URL",
        ] {
            let mut map = full();
            map.remove(missing);
            assert_eq!(read(&map).unwrap_err().variable, missing);
        }
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let cases = [
            ("STRIPE_SECRET_KEY", "pk_test_123"),
            ("STRIPE_SECRET_KEY", "not-a-key"),
            ("STRIPE_PRICE_BASIC", "price basic"),
            ("STRIPE_PRICE_PROFESSIONAL", "price_basic_m"),
            ("STRIPE_SUCCESS_URL", "app.example/success"),
            ("STRIPE_API_BASE", "localhost:12111"),
            ("STRIPE_PORTAL_RETURN_URL", "/account"),
        ];
        for (variable, value) in cases {
            let mut map = full();
            map.insert(variable.into(), value.into());
            let err = read(&map).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
            assert!(!err.problem.is_empty());
        }
    }

    #[test]
    fn secrets_never_print() {
        let settings = read(&full()).unwrap().unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("sk_test_123"), "{printed}");
        assert!(!printed.contains("whsec_current"), "{printed}");
    }
}
