//! Idempotency keys derived from the intent, so a retried request reuses Stripe's first answer.

use sha2::{Digest, Sha256};

/// The `Idempotency-Key` for one `step` of an intent.
///
/// `prefix` names the intent (e.g. `register:{email}` or `plan:{user_id}:{row version}`) and
/// `parts` are the step's parameters (customer, price, payment method, ...). Same inputs, same
/// key; any different input, a different key. Stripe answers a reused key with *different*
/// parameters with a 400 `idempotency_error`, so every parameter that can vary is a part.
///
/// The inputs are hashed: keys stay within Stripe's 255 characters whatever the prefix holds,
/// and no email address ends up in Stripe's request logs. The step stays readable:
/// `doztra-subscription-<32 hex>`.
pub fn idempotency_key(prefix: &str, step: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    // Length-prefixed fields: ("ab", "c") and ("a", "bc") must not collide.
    for field in std::iter::once(prefix)
        .chain(std::iter::once(step))
        .chain(parts.iter().copied())
    {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    let digest = hex::encode(hasher.finalize());
    format!("doztra-{step}-{}", &digest[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_intent_same_key() {
        let a = idempotency_key("register:a@example.com", "customer", &["a@example.com"]);
        let b = idempotency_key("register:a@example.com", "customer", &["a@example.com"]);
        assert_eq!(a, b);
        assert!(a.starts_with("doztra-customer-"), "{a}");
        assert_eq!(a.len(), "doztra-customer-".len() + 32);
    }

    #[test]
    fn any_other_input_changes_the_key() {
        let base = idempotency_key("p", "attach", &["cus_1", "pm_1"]);
        assert_ne!(base, idempotency_key("q", "attach", &["cus_1", "pm_1"]));
        assert_ne!(base, idempotency_key("p", "default", &["cus_1", "pm_1"]));
        assert_ne!(base, idempotency_key("p", "attach", &["cus_1", "pm_2"]));
        assert_ne!(
            idempotency_key("p", "s", &["ab", "c"]),
            idempotency_key("p", "s", &["a", "bc"])
        );
    }

    #[test]
    fn long_prefixes_still_give_short_keys() {
        let prefix = "x".repeat(1000);
        assert!(idempotency_key(&prefix, "customer", &[]).len() < 255);
    }
}
