//! The OpenAPI 3 document of every route (`GET /api/openapi.json`, browsable at `/docs`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        routes::billing::stripe_webhook,
        routes::admin::list_users,
        routes::admin::get_user,
        routes::admin::create_user,
        routes::admin::patch_user,
        routes::admin::delete_user,
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
        routes::ops::health,
        routes::ops::ready,
        routes::ops::metrics,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::FieldErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, sign-in, sessions"),
        (name = "users", description = "The caller's own account"),
        (name = "admin", description = "Account administration"),
        (name = "preferences", description = "The caller's preferences"),
        (name = "catalog", description = "Plans and models"),
        (name = "billing", description = "Stripe Checkout and webhooks"),
        (name = "tokens", description = "Token metering and usage statistics"),
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
    }
}
