//! The billing settings: the plan prices `GET /api/plans` shows (`PLAN_PRICE_BASIC`,
//! `PLAN_PRICE_PROFESSIONAL`, `PLAN_CURRENCY`) and Stripe (the `STRIPE_*` variables, read by
//! `billing::StripeSettings::from_vars`, plus the client's `STRIPE_TIMEOUT` and
//! `STRIPE_MAX_RETRIES`).

use std::time::Duration;

use billing::StripeSettings;
use service::PlanPrices;

use super::{SettingsError, Vars};

/// Prices and payments.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    pub prices: PlanPrices,
    /// Stripe, when `STRIPE_SECRET_KEY` is set (else paid plans answer 503).
    pub stripe: Option<StripeSettings>,
}

impl BillingSettings {
    /// `app_base_url` is where the Customer Portal returns unless `STRIPE_PORTAL_RETURN_URL`
    /// says otherwise.
    pub(super) fn read(vars: &Vars, app_base_url: &str) -> Result<Self, SettingsError> {
        let mut stripe = StripeSettings::from_vars(vars, app_base_url)?;
        if let Some(stripe) = stripe.as_mut() {
            // A request that calls Stripe waits at most about timeout x (retries + 1) per call.
            stripe.request_timeout = vars.duration("STRIPE_TIMEOUT", Duration::from_secs(10))?;
            stripe.max_network_retries = vars.number("STRIPE_MAX_RETRIES", 2u32, 0)?;
        }
        Ok(Self {
            prices: read_prices(vars)?,
            stripe,
        })
    }
}

fn read_prices(vars: &Vars) -> Result<PlanPrices, SettingsError> {
    let currency = vars.string_or("PLAN_CURRENCY", "usd").to_ascii_lowercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(SettingsError::new(
            "PLAN_CURRENCY",
            format!("'{currency}' is not a three-letter ISO 4217 code"),
        ));
    }
    let price = |name, default| {
        vars.parse(name, cents)
            .map(|value| value.unwrap_or(default))
    };
    Ok(PlanPrices {
        basic_cents: price("PLAN_PRICE_BASIC", 1900)?,
        professional_cents: price("PLAN_PRICE_PROFESSIONAL", 4900)?,
        currency,
    })
}

/// A price in major units with at most two decimals (`19`, `19.9`, `19.00`), as cents.
fn cents(raw: &str) -> Result<u64, String> {
    let invalid = || format!("'{raw}' is not a price like 19 or 19.00");
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty() || fraction.len() > 2 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    let whole: u64 = whole.parse().map_err(|_| invalid())?;
    let cents: u64 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<BillingSettings, SettingsError> {
        BillingSettings::read(&Vars::from_pairs(pairs), "https://app.example")
    }

    #[test]
    fn prices_are_read_as_cents() {
        let s = read(&[
            ("PLAN_PRICE_BASIC", "9.5"),
            ("PLAN_PRICE_PROFESSIONAL", "120"),
        ])
        .unwrap();
        assert_eq!(s.prices.basic_cents, 950);
        assert_eq!(s.prices.professional_cents, 12_000);
        assert_eq!(read(&[]).unwrap().prices.basic_cents, 1900);
        assert_eq!(
            read(&[("PLAN_CURRENCY", "EUR")]).unwrap().prices.currency,
            "eur"
        );
    }

    #[test]
    fn stripe_is_configured_by_its_key_with_a_short_timeout() {
        assert!(read(&[]).unwrap().stripe.is_none());
        let s = read(&[
            ("STRIPE_SECRET_KEY", "sk_test_123"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_current"),
            ("STRIPE_PRICE_BASIC", "price_basic_m"),
            ("STRIPE_PRICE_PROFESSIONAL", "price_pro_m"),
            ("STRIPE_SUCCESS_URL", "https://app.example/billing/success"),
            ("STRIPE_CANCEL_URL", "https://app.example/billing/cancel"),
            ("STRIPE_MAX_RETRIES", "0"),
        ])
        .unwrap();
        let stripe = s.stripe.unwrap();
        assert_eq!(stripe.request_timeout, Duration::from_secs(10));
        assert_eq!(stripe.max_network_retries, 0);
        assert_eq!(stripe.portal_return_url, "https://app.example");
        let err = read(&[("STRIPE_SECRET_KEY", "sk_test_123")]).unwrap_err();
        assert_eq!(err.variable, "STRIPE_WEBHOOK_SECRET");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("PLAN_PRICE_BASIC", "19.999"),
            ("PLAN_PRICE_BASIC", "-1"),
            ("PLAN_PRICE_PROFESSIONAL", ".5"),
            ("PLAN_CURRENCY", "dollars"),
            ("STRIPE_SECRET_KEY", "pk_test_123"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }
}
