//! HTTP routes. Handlers are short: extract, call one service function, map the result.
//! `app` serves the dashboard's embedded files under `/app`.

pub mod admin;
pub mod alerts;
pub mod api_keys;
pub mod app;
pub mod auth;
pub mod billing;
pub mod catalog;
pub mod key_routes;
pub mod ops;
pub mod preferences;
pub mod reservations;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod well_known;

use actix_web::web;

/// Registers every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .configure(auth::configure)
            .configure(key_routes::configure)
            .configure(users::configure)
            .configure(billing::configure)
            .configure(admin::configure)
            .configure(preferences::configure)
            .configure(catalog::configure)
            .configure(tokens::configure)
            .configure(reservations::configure)
            .configure(alerts::configure),
    )
    .configure(ops::configure)
    .configure(well_known::configure)
    .configure(app::configure);
}
