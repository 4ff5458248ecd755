//! Stripe objects as the API returns them (API version 2026-09-30.endive, the one async-stripe
//! 1.0.0-rc.10 pins), trimmed of nothing: `fixtures_are_shaped_like_stripe_objects` checks each
//! one against async-stripe's own generated types, which are made from Stripe's OpenAPI spec.

use serde_json::{Value, json};

pub const CREATED: i64 = 1_780_000_000;
pub const PERIOD_START: i64 = 1_780_000_000;
pub const PERIOD_END: i64 = 1_782_592_000;
pub const PRODUCT: &str = "prod_QDoztraPlans01";

pub fn customer(id: &str, email: &str, name: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": CREATED,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "email": email,
        "invoice_prefix": "7D1F0E2A",
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null
        },
        "livemode": false,
        "metadata": {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null
    })
}

pub fn customer_with_default_payment_method(id: &str, email: &str, pm: &str) -> Value {
    let mut customer = customer(id, email, None);
    customer["invoice_settings"]["default_payment_method"] = json!(pm);
    customer
}

pub fn payment_method(id: &str, customer: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                "city": null, "country": null, "line1": null,
                "line2": null, "postal_code": null, "state": null
            },
            "email": null,
            "name": null,
            "phone": null,
            "tax_id": null
        },
        "card": {
            "brand": "visa",
            "checks": {
                "address_line1_check": null,
                "address_postal_code_check": null,
                "cvc_check": "pass"
            },
            "country": "US",
            "display_brand": "visa",
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": "Xt5EWLLDS7FJjR1c",
            "funding": "credit",
            "generated_from": null,
            "last4": "4242",
            "networks": { "available": ["visa"], "preferred": null },
            "regulated_status": "unregulated",
            "three_d_secure_usage": { "supported": true },
            "wallet": null
        },
        "created": CREATED,
        "customer": customer,
        "livemode": false,
        "metadata": {},
        "type": "card"
    })
}

fn price(id: &str, interval: &str, amount: i64) -> Value {
    json!({
        "id": id,
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": CREATED,
        "currency": "usd",
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": null,
        "metadata": {},
        "nickname": null,
        "product": PRODUCT,
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "meter": null,
            "trial_period_days": null,
            "usage_type": "licensed"
        },
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": amount.to_string()
    })
}

fn plan(id: &str, interval: &str, amount: i64) -> Value {
    json!({
        "id": id,
        "object": "plan",
        "active": true,
        "amount": amount,
        "amount_decimal": amount.to_string(),
        "billing_scheme": "per_unit",
        "created": CREATED,
        "currency": "usd",
        "interval": interval,
        "interval_count": 1,
        "livemode": false,
        "metadata": {},
        "meter": null,
        "nickname": null,
        "product": PRODUCT,
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": "licensed"
    })
}

/// What a subscription fixture looks like; `Sub::new` gives an active monthly one.
#[derive(Clone)]
pub struct Sub {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub price: String,
    pub interval: String,
    pub item: String,
    pub cancel_at_period_end: bool,
    pub latest_invoice: Value,
    pub pending_update: Value,
}

impl Sub {
    pub fn new(id: &str, customer: &str, price: &str) -> Self {
        Self {
            id: id.to_owned(),
            customer: customer.to_owned(),
            status: "active".to_owned(),
            price: price.to_owned(),
            interval: "month".to_owned(),
            item: format!("si_{}", &id[4..]),
            cancel_at_period_end: false,
            latest_invoice: json!(format!("in_{}", &id[4..])),
            pending_update: Value::Null,
        }
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = status.to_owned();
        self
    }

    pub fn yearly(mut self) -> Self {
        self.interval = "year".to_owned();
        self
    }

    pub fn cancel_at_period_end(mut self, cancel: bool) -> Self {
        self.cancel_at_period_end = cancel;
        self
    }

    pub fn latest_invoice(mut self, invoice: Value) -> Self {
        self.latest_invoice = invoice;
        self
    }

    pub fn pending_update(mut self, price: &str) -> Self {
        self.pending_update = json!({
            "billing_cycle_anchor": null,
            "expires_at": PERIOD_START + 82_800,
            "subscription_items": [{
                "id": self.item,
                "object": "subscription_item",
                "billing_thresholds": null,
                "created": CREATED,
                "current_period_end": PERIOD_END,
                "current_period_start": PERIOD_START,
                "discounts": [],
                "metadata": {},
                "plan": plan(price, &self.interval, 4900),
                "price": self::price(price, &self.interval, 4900),
                "quantity": 1,
                "subscription": self.id,
                "tax_rates": []
            }],
            "trial_end": null,
            "trial_from_plan": null
        });
        self
    }

    pub fn json(&self) -> Value {
        let amount = 1900;
        let ended = matches!(self.status.as_str(), "canceled" | "incomplete_expired");
        json!({
            "id": self.id,
            "object": "subscription",
            "application": null,
            "application_fee_percent": null,
            "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null },
            "billing_cycle_anchor": PERIOD_START,
            "billing_cycle_anchor_config": null,
            "billing_mode": { "flexible": null, "type": "classic", "updated_at": null },
            "billing_schedules": [],
            "billing_thresholds": null,
            "cancel_at": if self.cancel_at_period_end { json!(PERIOD_END) } else { Value::Null },
            "cancel_at_period_end": self.cancel_at_period_end,
            "canceled_at": if self.cancel_at_period_end || ended { json!(CREATED + 3600) } else { Value::Null },
            "cancellation_details": { "comment": null, "feedback": null, "reason": if ended { json!("cancellation_requested") } else { Value::Null } },
            "collection_method": "charge_automatically",
            "created": CREATED,
            "currency": "usd",
            "customer": self.customer,
            "customer_account": null,
            "days_until_due": null,
            "default_payment_method": null,
            "default_source": null,
            "default_tax_rates": [],
            "description": null,
            "discounts": [],
            "ended_at": if ended { json!(CREATED + 3600) } else { Value::Null },
            "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
            "items": {
                "object": "list",
                "data": [{
                    "id": self.item,
                    "object": "subscription_item",
                    "billing_thresholds": null,
                    "created": CREATED,
                    "current_period_end": PERIOD_END,
                    "current_period_start": PERIOD_START,
                    "discounts": [],
                    "metadata": {},
                    "plan": plan(&self.price, &self.interval, amount),
                    "price": price(&self.price, &self.interval, amount),
                    "quantity": 1,
                    "subscription": self.id,
                    "tax_rates": []
                }],
                "has_more": false,
                "total_count": 1,
                "url": format!("/v1/subscription_items?subscription={}", self.id)
            },
            "latest_invoice": self.latest_invoice,
            "livemode": false,
            "metadata": {},
            "next_pending_invoice_item_invoice": null,
            "on_behalf_of": null,
            "pause_collection": null,
            "payment_settings": {
                "payment_method_options": null,
                "payment_method_types": null,
                "save_default_payment_method": "off"
            },
            "pending_invoice_item_interval": null,
            "pending_setup_intent": null,
            "pending_update": self.pending_update,
            "schedule": null,
            "start_date": PERIOD_START,
            "status": self.status,
            "test_clock": null,
            "transfer_data": null,
            "trial_end": null,
            "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
            "trial_start": null
        })
    }
}

/// A PaymentIntent in `status`; `requires_payment_method` comes with a decline.
pub fn payment_intent(id: &str, customer: &str, status: &str) -> Value {
    let declined = status == "requires_payment_method";
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": 1900,
        "amount_capturable": 0,
        "amount_details": { "tip": {} },
        "amount_received": 0,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic",
        "client_secret": format!("{id}_secret_Fb2mXyZqL0cWk3nVtR8s"),
        "confirmation_method": "automatic",
        "created": CREATED,
        "currency": "usd",
        "customer": customer,
        "description": "Subscription creation",
        "last_payment_error": if declined {
            json!({
                "charge": "ch_3SDeclined0001",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                "message": "Your card has insufficient funds.",
                "payment_method": payment_method("pm_card_chargeDeclinedInsufficientFunds", Some(customer)),
                "type": "card_error"
            })
        } else {
            Value::Null
        },
        "latest_charge": if declined { json!("ch_3SDeclined0001") } else { Value::Null },
        "livemode": false,
        "metadata": {},
        "next_action": if status == "requires_action" {
            json!({
                "type": "use_stripe_sdk",
                "use_stripe_sdk": { "type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1Doztra" }
            })
        } else {
            Value::Null
        },
        "on_behalf_of": null,
        "payment_method": if declined { Value::Null } else { json!("pm_card_authenticationRequired") },
        "payment_method_configuration_details": null,
        "payment_method_options": {
            "card": {
                "installments": null,
                "mandate_options": null,
                "network": null,
                "request_three_d_secure": "automatic"
            }
        },
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": "off_session",
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": status,
        "transfer_data": null,
        "transfer_group": null
    })
}

/// An open invoice of `subscription`, expanded as `PAYMENT_EXPANSIONS` asks: its confirmation
/// secret and its payments with their PaymentIntent.
pub fn open_invoice(
    id: &str,
    customer: &str,
    subscription: &str,
    price: &str,
    intent: Value,
) -> Value {
    let secret = intent["client_secret"].clone();
    json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Doztra",
        "account_tax_ids": null,
        "amount_due": 1900,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 1900,
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 1,
        "attempted": true,
        "auto_advance": true,
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null },
        "automatically_finalizes_at": null,
        "billing_reason": "subscription_create",
        "collection_method": "charge_automatically",
        "confirmation_secret": { "client_secret": secret, "type": "payment_intent" },
        "created": CREATED,
        "currency": "usd",
        "custom_fields": null,
        "customer": customer,
        "customer_account": null,
        "customer_address": null,
        "customer_email": "ada@example.com",
        "customer_name": "Ada Lovelace",
        "customer_phone": null,
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": CREATED,
        "ending_balance": 0,
        "footer": null,
        "from_invoice": null,
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1Doztra/test_YWNjdF8x",
        "invoice_pdf": "https://pay.stripe.com/invoice/acct_1Doztra/test_YWNjdF8x/pdf",
        "issuer": { "type": "self" },
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": {
            "object": "list",
            "data": [invoice_line(id, subscription, price)],
            "has_more": false,
            "total_count": 1,
            "url": format!("/v1/invoices/{id}/lines")
        },
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": null,
        "number": "7D1F0E2A-0001",
        "on_behalf_of": null,
        "parent": {
            "quote_details": null,
            "subscription_details": { "metadata": {}, "subscription": subscription },
            "type": "subscription_details"
        },
        "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
        "payments": {
            "object": "list",
            "data": [{
                "id": "inpay_1SDoztra0001",
                "object": "invoice_payment",
                "amount_paid": null,
                "amount_requested": 1900,
                "created": CREATED,
                "currency": "usd",
                "invoice": id,
                "is_default": true,
                "livemode": false,
                "payment": { "payment_intent": intent, "type": "payment_intent" },
                "status": "open",
                "status_transitions": { "canceled_at": null, "paid_at": null }
            }],
            "has_more": false,
            "url": "/v1/invoice_payments"
        },
        "period_end": PERIOD_START,
        "period_start": PERIOD_START,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": "open",
        "status_transitions": { "finalized_at": CREATED, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
        "subtotal": 1900,
        "subtotal_excluding_tax": 1900,
        "test_clock": null,
        "total": 1900,
        "total_discount_amounts": [],
        "total_excluding_tax": 1900,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": CREATED
    })
}

fn invoice_line(invoice: &str, subscription: &str, price: &str) -> Value {
    json!({
        "id": "il_1SDoztra0001",
        "object": "line_item",
        "amount": 1900,
        "currency": "usd",
        "description": "1 × Doztra Basic (at $19.00 / month)",
        "discount_amounts": [],
        "discountable": true,
        "discounts": [],
        "invoice": invoice,
        "livemode": false,
        "metadata": {},
        "parent": {
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null,
                "proration": false,
                "proration_details": { "credited_items": null },
                "subscription": subscription,
                "subscription_item": "si_SDoztra0001"
            },
            "type": "subscription_item_details"
        },
        "period": { "end": PERIOD_END, "start": PERIOD_START },
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": { "price": price, "product": PRODUCT },
            "type": "price_details",
            "unit_amount_decimal": "1900"
        },
        "quantity": 1,
        "subtotal": 1900,
        "taxes": []
    })
}

/// An invoice as in `invoice.paid` / `invoice.payment_failed` events (nothing expanded).
pub fn event_invoice(
    id: &str,
    customer: &str,
    subscription: &str,
    price: &str,
    paid: bool,
) -> Value {
    let mut invoice = open_invoice(id, customer, subscription, price, Value::Null);
    if let Some(object) = invoice.as_object_mut() {
        object.remove("payments");
        object.insert("confirmation_secret".into(), Value::Null);
        object.insert("billing_reason".into(), json!("subscription_cycle"));
        if paid {
            object.insert("status".into(), json!("paid"));
            object.insert("amount_paid".into(), json!(1900));
            object.insert("amount_remaining".into(), json!(0));
        } else {
            object.insert("attempt_count".into(), json!(2));
            object.insert("next_payment_attempt".into(), json!(CREATED + 259_200));
        }
    }
    invoice
}

pub fn checkout_session(
    id: &str,
    user_id: &str,
    customer: Option<&str>,
    email: Option<&str>,
) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": null,
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": 1900,
        "amount_total": 1900,
        "automatic_tax": { "enabled": false, "liability": null, "provider": null, "status": null },
        "billing_address_collection": null,
        "cancel_url": "https://app.doztra.test/billing/cancel",
        "client_reference_id": user_id,
        "client_secret": null,
        "collected_information": null,
        "consent": null,
        "consent_collection": null,
        "created": CREATED,
        "currency": "usd",
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
        "customer": customer,
        "customer_creation": if customer.is_some() { Value::Null } else { json!("always") },
        "customer_details": null,
        "customer_email": email,
        "discounts": [],
        "expires_at": CREATED + 86_400,
        "invoice": null,
        "invoice_creation": null,
        "livemode": false,
        "locale": null,
        "metadata": { "user_id": user_id, "plan": "basic", "billing_period": "monthly" },
        "mode": "subscription",
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "always",
        "payment_method_configuration_details": null,
        "payment_method_options": { "card": { "request_three_d_secure": "automatic" } },
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": { "enabled": false },
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": "https://app.doztra.test/billing/success?session_id={CHECKOUT_SESSION_ID}",
        "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
        "ui_mode": "hosted",
        "url": format!("https://checkout.stripe.com/c/pay/{id}#fidkdWxOYHwnPyd1blpxYHZxWjA0")
    })
}

/// Stripe's error body, e.g. `("card_error", "card_declined", "Your card was declined.")`.
pub fn error(type_: &str, code: &str, message: &str) -> Value {
    let mut error = json!({
        "message": message,
        "request_log_url": "https://dashboard.stripe.com/test/logs/req_T3stLog0001?t=1780000000",
        "type": type_
    });
    if !code.is_empty() {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if type_ == "card_error" {
        error["decline_code"] = json!("generic_decline");
    }
    json!({ "error": error })
}

/// An event envelope around `object`.
pub fn event(id: &str, type_: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2026-09-30.endive",
        "created": created,
        "data": { "object": object, "previous_attributes": {} },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": "req_T3stLog0001", "idempotency_key": "doztra-subscription-0123456789abcdef0123456789abcdef" },
        "type": type_
    })
}
