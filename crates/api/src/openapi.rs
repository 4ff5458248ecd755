//! The OpenAPI 3 document of every route (`GET /api/openapi.json`, browsable at `/docs`,
//! printed by `doztra-auth openapi` and committed as `docs/openapi.json`). It is the same for
//! every deployment: nothing in it comes from settings.

use domain::ModelCatalog;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Doztra Auth", description = "Accounts, sessions, plans and token metering of the Doztra AI writing product."),
    paths(
        routes::auth::register_user,
        routes::auth::login_user,
        routes::auth::refresh_session,
        routes::auth::logout_session,
        routes::auth::logout_all_sessions,
        routes::auth::verify_email,
        routes::auth::resend_verification,
        routes::auth::request_password_reset,
        routes::auth::reset_password,
        routes::users::get_me,
        routes::users::update_me,
        routes::users::change_password,
        routes::users::get_my_subscription,
        routes::users::update_my_subscription,
        routes::billing::create_checkout_session,
        routes::billing::create_portal_session,
        routes::billing::list_invoices,
        routes::billing::stripe_webhook,
        routes::admin::list_users,
        routes::admin::get_user,
        routes::admin::create_user,
        routes::admin::patch_user,
        routes::admin::delete_user,
        routes::webhooks::create_webhook,
        routes::webhooks::list_webhooks,
        routes::webhooks::get_webhook,
        routes::webhooks::delete_webhook,
        routes::webhooks::list_deliveries,
        routes::api_keys::create_api_key,
        routes::api_keys::list_api_keys,
        routes::api_keys::get_api_key,
        routes::api_keys::revoke_api_key,
        routes::key_routes::track_user_usage,
        routes::key_routes::check_user_usage,
        routes::key_routes::get_user_token_stats,
        routes::key_routes::get_user_usage_history,
        routes::key_routes::reserve_for_user,
        routes::key_routes::list_user_reservations,
        routes::key_routes::release_user_reservation,
        routes::key_routes::get_user_usage,
        routes::key_routes::lookup_user,
        routes::preferences::get_preferences,
        routes::preferences::update_preferences,
        routes::catalog::list_plans,
        routes::catalog::list_models,
        routes::tokens::track_usage,
        routes::tokens::check_usage,
        routes::tokens::get_token_stats,
        routes::tokens::get_usage_history,
        routes::tokens::get_admin_usage,
        routes::tokens::get_usage,
        routes::tokens::get_usage_alias,
        routes::reservations::create_reservation,
        routes::reservations::list_reservations,
        routes::reservations::release_reservation,
        routes::alerts::get_usage_alerts,
        routes::ops::health,
        routes::ops::ready,
        routes::ops::metrics,
        routes::well_known::get_jwks,
        routes::well_known::get_openid_configuration,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::FieldErrorBody)),
    modifiers(&BearerAuth, &StandardResponses, &WireEnums),
    tags(
        (name = "auth", description = "Registration, sign-in, sessions"),
        (name = "users", description = "The caller's own account"),
        (name = "admin", description = "Account administration and outgoing webhook endpoints"),
        (name = "preferences", description = "The caller's preferences"),
        (name = "catalog", description = "Plans and models"),
        (name = "billing", description = "Stripe Checkout, Customer Portal, invoices and webhooks"),
        (name = "tokens", description = "Token metering and usage statistics"),
        (name = "keys", description = "What an AI backend does for a user with a service API key"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // A service API key: `X-Api-Key: dzk_...` (or `Authorization: Bearer dzk_...`).
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "X-Api-Key",
                    "A service API key (dzk_...); `Authorization: Bearer dzk_...` works too.",
                ),
            )),
        );
    }
}

/// The document every server answers and `doztra-auth openapi` prints. A `model` is a plain
/// string (each deployment extends the catalog with `MODEL_CATALOG`, so a generated client must
/// not hard-code one deployment's models); the built-in catalog's names are its examples.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let built_in: Vec<Value> = ModelCatalog::default()
        .models()
        .map(|(name, _)| Value::from(name))
        .collect();
    for (schema, property) in [
        ("TrackRequestBody", "model"),
        ("CheckRequestBody", "model"),
        ("ReservationRequestBody", "model"),
        ("PreferencesUpdateRequest", "default_model"),
    ] {
        set_model_examples(&mut doc, schema, property, &built_in);
    }
    doc
}

/// [`document`] as the pretty-printed JSON of `docs/openapi.json` (with a final newline).
pub fn document_json() -> Result<String, serde_json::Error> {
    let mut json = serde_json::to_string_pretty(&document())?;
    json.push('\n');
    Ok(json)
}

/// Describes a `model` property as any catalog name, with the built-in ones as examples.
fn set_model_examples(
    openapi: &mut utoipa::openapi::OpenApi,
    schema: &str,
    property: &str,
    examples: &[Value],
) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(field))) = object.properties.get_mut(property) {
        field.enum_values = None;
        field.examples = examples.to_vec();
        field.description = Some(
            "A model name of the deployment's catalog (`GET /api/models` lists it): the \
             built-in gpt-3.5-turbo, gpt-4 and gpt-4-turbo, plus what MODEL_CATALOG adds."
                .to_owned(),
        );
    }
}

/// The error responses every operation shares, added once here instead of on each handler:
/// a bearer operation may answer 401 (no, invalid or revoked token) and 403 (disabled
/// account); one with a JSON body 400 (malformed JSON), 413, 415 and 422; one with query
/// parameters 422. An operation's own description of a status wins.
struct StandardResponses;

const STANDARD: [(&str, &str, &str); 6] = [
    (
        "Unauthorized",
        "401",
        "not_authenticated / invalid_token: a missing, invalid or revoked bearer token",
    ),
    (
        "Forbidden",
        "403",
        "account_disabled / admin_required / a refused action",
    ),
    (
        "MalformedJson",
        "400",
        "malformed_json: the body is not valid JSON",
    ),
    (
        "PayloadTooLarge",
        "413",
        "payload_too_large: the body is over the limit",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "unsupported_media_type: send application/json",
    ),
    (
        "ValidationError",
        "422",
        "validation_error: invalid fields (listed in `errors`)",
    ),
];

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, _, description) in STANDARD {
            let body = Content::new(Some(Ref::from_schema_name("ErrorBody")));
            components.responses.insert(
                name.to_owned(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description(description)
                        .content("application/json", body)
                        .build(),
                ),
            );
        }
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_standard_responses(operation);
            }
        }
    }
}

fn add_standard_responses(operation: &mut Operation) {
    let bearer = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let body = operation.request_body.is_some();
    let query = operation.parameters.iter().flatten().any(|p| match p {
        RefOr::T(p) => matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query),
        RefOr::Ref(_) => false,
    });
    let wanted: &[&str] = match (bearer, body) {
        (true, true) => &[
            "Unauthorized",
            "Forbidden",
            "MalformedJson",
            "PayloadTooLarge",
            "UnsupportedMediaType",
            "ValidationError",
        ],
        (true, false) => &["Unauthorized", "Forbidden"],
        (false, true) => &[
            "MalformedJson",
            "PayloadTooLarge",
            "UnsupportedMediaType",
            "ValidationError",
        ],
        (false, false) => &[],
    };
    let query_extra: &[&str] = if query { &["ValidationError"] } else { &[] };
    for name in wanted.iter().chain(query_extra) {
        let Some((_, status, _)) = STANDARD.iter().find(|(n, _, _)| n == name) else {
            continue;
        };
        operation
            .responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
    }
}

/// The closed sets of strings the service accepts, as enums (`null` stays allowed where the
/// field is optional).
struct WireEnums;

const PLANS: [&str; 3] = ["free", "basic", "professional"];
const ROLES: [&str; 2] = ["user", "admin"];
const PERIODS: [&str; 2] = ["monthly", "yearly"];
const TIERS: [&str; 3] = ["gpt-3.5-turbo", "gpt-4", "gpt-4-turbo"];
const REQUEST_TYPES: [&str; 4] = ["chat", "plagiarism", "prompt", "prompt_generation"];

impl Modify for WireEnums {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let fields: [(&str, &str, &[&str]); 15] = [
            ("RegisterRequest", "role", &ROLES),
            ("SubscriptionChoice", "plan", &PLANS),
            ("SubscriptionChoice", "billing_period", &PERIODS),
            ("UpdateSubscriptionRequest", "plan", &PLANS),
            ("UpdateSubscriptionRequest", "billing_period", &PERIODS),
            ("CheckoutRequest", "plan", &PLANS[1..]),
            ("CheckoutRequest", "billing_period", &PERIODS),
            ("AdminCreateUserRequest", "role", &ROLES),
            ("AdminCreateUserRequest", "plan", &PLANS),
            ("AdminPatchRequest", "role", &ROLES),
            ("AdminPatchRequest", "plan", &PLANS),
            ("AdminPatchRequest", "max_model_tier", &TIERS),
            (
                "PreferencesUpdateRequest",
                "theme",
                &["light", "dark", "system"],
            ),
            ("TrackRequestBody", "request_type", &REQUEST_TYPES),
            ("CheckRequestBody", "request_type", &REQUEST_TYPES),
        ];
        for (schema, property, values) in fields {
            set_enum(openapi, schema, property, values);
        }
        let params: [(&str, &str, &[&str]); 7] = [
            ("/api/admin/users", "role", &ROLES),
            ("/api/admin/users", "plan", &PLANS),
            ("/api/admin/users", "sort", &["created_at", "email", "name"]),
            ("/api/admin/users", "order", &["asc", "desc"]),
            ("/api/tokens/me/history", "request_type", &REQUEST_TYPES),
            (
                "/api/tokens/admin/usage",
                "group_by",
                &["day", "user", "model", "request_type"],
            ),
            ("/api/tokens/admin/usage", "format", &["json", "csv"]),
        ];
        for (path, name, values) in params {
            set_param_enum(openapi, path, name, values);
        }
        for path in ["/api/tokens/me/history", "/api/tokens/admin/usage"] {
            for name in ["start_date", "end_date"] {
                set_param_schema(openapi, path, name, date_or_date_time());
            }
        }
    }
}

fn enum_values(object: &Object, values: &[&str]) -> Vec<Value> {
    let mut out: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
    if matches!(&object.schema_type, SchemaType::Array(types) if types.contains(&Type::Null)) {
        out.push(Value::Null);
    }
    out
}

/// Restricts a string property of a component schema to `values`.
fn set_enum(openapi: &mut utoipa::openapi::OpenApi, schema: &str, property: &str, values: &[&str]) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(field))) = object.properties.get_mut(property) {
        field.enum_values = Some(enum_values(field, values));
    }
}

/// Restricts a string query parameter of every operation of `path` to `values`.
fn set_param_enum(openapi: &mut utoipa::openapi::OpenApi, path: &str, name: &str, values: &[&str]) {
    for_each_param(openapi, path, name, |param| {
        if let Some(RefOr::T(Schema::Object(object))) = param.schema.as_mut() {
            object.enum_values = Some(enum_values(object, values));
        }
    });
}

/// An ISO date (`2025-10-01`) or an RFC 3339 date-time, as the date filters take.
fn date_or_date_time() -> Schema {
    let format = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .build()
    };
    Schema::AnyOf(
        AnyOfBuilder::new()
            .item(format(KnownFormat::Date))
            .item(format(KnownFormat::DateTime))
            .build(),
    )
}

/// Replaces the schema of a query parameter of every operation of `path`.
fn set_param_schema(
    openapi: &mut utoipa::openapi::OpenApi,
    path: &str,
    name: &str,
    schema: Schema,
) {
    for_each_param(openapi, path, name, |param| {
        param.schema = Some(RefOr::T(schema.clone()));
    });
}

/// Runs `edit` on the parameter `name` of every GET and POST operation of `path`.
fn for_each_param(
    openapi: &mut utoipa::openapi::OpenApi,
    path: &str,
    name: &str,
    mut edit: impl FnMut(&mut utoipa::openapi::path::Parameter),
) {
    let Some(item) = openapi.paths.paths.get_mut(path) else {
        return;
    };
    for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
        for param in operation.parameters.iter_mut().flatten() {
            if let RefOr::T(param) = param
                && param.name == name
            {
                edit(param);
            }
        }
    }
}
