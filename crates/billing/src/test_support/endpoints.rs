//! The Stripe endpoints the gateway calls and the parameters each takes, from Stripe's API
//! reference for API version 2026-09-30.endive (the fields of async-stripe 1.0.0-rc.10's
//! generated request builders, which are made from Stripe's OpenAPI spec). A new call needs
//! its endpoint here, or the stand-in answers it with Stripe's 404.

/// One endpoint: its method, its path (`{id}` stands for one path segment), its top-level
/// parameters, and the fields of the objects among them that we send nested.
pub(crate) struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub params: &'static [&'static str],
    pub nested: &'static [(&'static str, &'static [&'static str])],
}

#[rustfmt::skip]
const CREATE_CUSTOMER: &[&str] = &[
    "address", "balance", "business_name", "cash_balance", "description", "email", "expand",
    "individual_name", "invoice_prefix", "invoice_settings", "metadata", "name",
    "next_invoice_sequence", "payment_method", "phone", "preferred_locales", "shipping",
    "source", "tax", "tax_exempt", "tax_id_data", "test_clock", "validate",
];

#[rustfmt::skip]
const UPDATE_CUSTOMER: &[&str] = &[
    "address", "balance", "business_name", "cash_balance", "default_source", "description",
    "email", "expand", "individual_name", "invoice_prefix", "invoice_settings", "metadata",
    "name", "next_invoice_sequence", "phone", "preferred_locales", "shipping", "source", "tax",
    "tax_exempt", "validate",
];

#[rustfmt::skip]
const CUSTOMER_INVOICE_SETTINGS: &[&str] = &[
    "custom_fields", "default_payment_method", "footer", "rendering_options",
];

#[rustfmt::skip]
const CREATE_SUBSCRIPTION: &[&str] = &[
    "add_invoice_items", "application_fee_percent", "automatic_tax", "backdate_start_date",
    "billing_cycle_anchor", "billing_cycle_anchor_config", "billing_mode", "billing_schedules",
    "billing_thresholds", "cancel_at", "cancel_at_period_end", "collection_method", "currency",
    "customer", "customer_account", "days_until_due", "default_payment_method",
    "default_source", "default_tax_rates", "description", "discounts", "expand",
    "invoice_settings", "items", "metadata", "off_session", "on_behalf_of", "payment_behavior",
    "payment_settings", "pending_invoice_item_interval", "proration_behavior",
    "transfer_data", "trial_end", "trial_from_plan", "trial_period_days", "trial_settings",
];

#[rustfmt::skip]
const CREATE_SUBSCRIPTION_ITEM: &[&str] = &[
    "billing_thresholds", "current_trial", "discounts", "metadata", "plan", "price",
    "price_data", "quantity", "tax_rates",
];

#[rustfmt::skip]
const UPDATE_SUBSCRIPTION: &[&str] = &[
    "add_invoice_items", "application_fee_percent", "automatic_tax", "billing_cycle_anchor",
    "billing_schedules", "billing_thresholds", "cancel_at", "cancel_at_period_end",
    "cancellation_details", "collection_method", "days_until_due", "default_payment_method",
    "default_source", "default_tax_rates", "description", "discounts", "expand",
    "invoice_settings", "items", "metadata", "off_session", "on_behalf_of", "pause_collection",
    "payment_behavior", "payment_settings", "pending_invoice_item_interval",
    "proration_behavior", "proration_date", "transfer_data", "trial_end", "trial_from_plan",
    "trial_settings",
];

#[rustfmt::skip]
const UPDATE_SUBSCRIPTION_ITEM: &[&str] = &[
    "billing_thresholds", "clear_usage", "current_trial", "deleted", "discounts", "id",
    "metadata", "plan", "price", "price_data", "quantity", "tax_rates",
];

#[rustfmt::skip]
const CREATE_CHECKOUT_SESSION: &[&str] = &[
    "adaptive_pricing", "after_expiration", "allow_promotion_codes",
    "allowed_payment_method_types", "automatic_tax", "billing_address_collection",
    "branding_settings", "cancel_url", "client_reference_id", "consent_collection", "currency",
    "custom_fields", "custom_text", "customer", "customer_account", "customer_creation",
    "customer_email", "customer_update", "discounts", "excluded_payment_method_types",
    "expand", "expires_at", "integration_identifier", "invoice_creation", "line_items",
    "locale", "managed_payments", "metadata", "mode", "name_collection", "optional_items",
    "origin_context", "payment_intent_data", "payment_method_collection",
    "payment_method_configuration", "payment_method_data", "payment_method_options",
    "permissions", "phone_number_collection", "redirect_on_completion", "return_url",
    "saved_payment_method_options", "setup_intent_data", "shipping_address_collection",
    "shipping_options", "submit_type", "subscription_data", "success_url", "tax_id_collection",
    "ui_mode", "wallet_options",
];

#[rustfmt::skip]
const CHECKOUT_LINE_ITEM: &[&str] = &[
    "adjustable_quantity", "metadata", "price", "price_data", "quantity", "tax_rates",
];

#[rustfmt::skip]
const CHECKOUT_SUBSCRIPTION_DATA: &[&str] = &[
    "application_fee_percent", "billing_cycle_anchor", "billing_cycle_anchor_config",
    "billing_mode", "default_tax_rates", "description", "invoice_settings", "metadata",
    "on_behalf_of", "pending_invoice_item_interval", "proration_behavior", "transfer_data",
    "trial_end", "trial_period_days", "trial_settings",
];

#[rustfmt::skip]
const CREATE_PORTAL_SESSION: &[&str] = &[
    "configuration", "customer", "customer_account", "expand", "flow_data", "locale",
    "on_behalf_of", "return_url",
];

#[rustfmt::skip]
const LIST_INVOICES: &[&str] = &[
    "collection_method", "created", "customer", "customer_account", "due_date",
    "ending_before", "expand", "limit", "starting_after", "status", "subscription",
];

pub(crate) const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/v1/customers",
        params: CREATE_CUSTOMER,
        nested: &[("invoice_settings", CUSTOMER_INVOICE_SETTINGS)],
    },
    Endpoint {
        method: "POST",
        path: "/v1/customers/{id}",
        params: UPDATE_CUSTOMER,
        nested: &[("invoice_settings", CUSTOMER_INVOICE_SETTINGS)],
    },
    Endpoint {
        method: "POST",
        path: "/v1/payment_methods/{id}/attach",
        params: &["customer", "customer_account", "expand"],
        nested: &[],
    },
    Endpoint {
        method: "POST",
        path: "/v1/subscriptions",
        params: CREATE_SUBSCRIPTION,
        nested: &[("items", CREATE_SUBSCRIPTION_ITEM)],
    },
    Endpoint {
        method: "GET",
        path: "/v1/subscriptions/{id}",
        params: &["expand"],
        nested: &[],
    },
    Endpoint {
        method: "POST",
        path: "/v1/subscriptions/{id}",
        params: UPDATE_SUBSCRIPTION,
        nested: &[("items", UPDATE_SUBSCRIPTION_ITEM)],
    },
    Endpoint {
        method: "DELETE",
        path: "/v1/subscriptions/{id}",
        params: &["cancellation_details", "expand", "invoice_now", "prorate"],
        nested: &[],
    },
    Endpoint {
        method: "GET",
        path: "/v1/payment_intents/{id}",
        params: &["client_secret", "expand"],
        nested: &[],
    },
    Endpoint {
        method: "POST",
        path: "/v1/checkout/sessions",
        params: CREATE_CHECKOUT_SESSION,
        nested: &[
            ("line_items", CHECKOUT_LINE_ITEM),
            ("subscription_data", CHECKOUT_SUBSCRIPTION_DATA),
        ],
    },
    Endpoint {
        method: "POST",
        path: "/v1/billing_portal/sessions",
        params: CREATE_PORTAL_SESSION,
        nested: &[],
    },
    Endpoint {
        method: "GET",
        path: "/v1/invoices",
        params: LIST_INVOICES,
        nested: &[],
    },
];

/// The endpoint `method path` names, if the gateway calls it.
pub(crate) fn find(method: &str, path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS
        .iter()
        .find(|e| e.method == method && same_shape(e.path, path))
}

fn same_shape(pattern: &str, path: &str) -> bool {
    let (mut pattern, mut path) = (pattern.split('/'), path.split('/'));
    loop {
        match (pattern.next(), path.next()) {
            (None, None) => return true,
            (Some("{id}"), Some(segment)) if !segment.is_empty() => {}
            (Some(expected), Some(segment)) if expected == segment => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_by_shape() {
        assert!(find("POST", "/v1/customers").is_some());
        assert!(find("POST", "/v1/customers/cus_1").is_some());
        assert!(find("GET", "/v1/customers/cus_1").is_none());
        assert!(find("POST", "/v1/payment_methods/pm_1/attach").is_some());
        assert!(find("POST", "/v1/payment_methods/pm_1/detach").is_none());
        assert!(find("DELETE", "/v1/subscriptions/sub_1").is_some());
        assert!(find("POST", "/v1/subscriptions//").is_none());
        assert!(find("GET", "/v1/invoices/in_1").is_none());
    }
}
