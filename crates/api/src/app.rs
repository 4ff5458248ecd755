//! The HTTP application: every route, the middleware around them (security headers, access log
//! and metrics, CORS, JSON error bodies) and the extractor settings. The server binary builds
//! one per worker thread from the same [`AppParts`].

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Condition, ErrorHandlers, from_fn};
use actix_web::web::{self, Data};
use actix_web::{App, HttpResponse, http::header};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ensure_json_body, form_error, path_error, query_error};
use crate::observe::observe;
use crate::openapi;
use crate::routes;
use crate::secure_headers::{SecureHeaders, secure_headers};
use crate::state::AppState;

/// What the application is made of; cloned into every worker thread.
#[derive(Clone)]
pub struct AppParts {
    state: Data<AppState>,
    headers: Data<SecureHeaders>,
    body_limit: usize,
    cors_origins: Arc<Vec<String>>,
    openapi: utoipa::openapi::OpenApi,
}

impl AppParts {
    /// `hsts_max_age_secs` 0 sends no HSTS; `cors_origins` empty allows no cross-origin
    /// access (`*` any).
    pub fn new(
        state: AppState,
        hsts_max_age_secs: u64,
        body_limit: usize,
        cors_origins: Vec<String>,
    ) -> Self {
        Self {
            state: Data::new(state),
            headers: Data::new(SecureHeaders::new(hsts_max_age_secs)),
            body_limit,
            cors_origins: Arc::new(cors_origins),
            openapi: openapi::document(),
        }
    }
}

/// The application, ready for `HttpServer::new(move || app(parts.clone()))`.
pub fn app(
    parts: AppParts,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(parts.state)
        .app_data(parts.headers)
        .app_data(
            web::FormConfig::default()
                .limit(parts.body_limit)
                .error_handler(form_error),
        )
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::PayloadConfig::new(parts.body_limit))
        .wrap(ErrorHandlers::new().default_handler(ensure_json_body))
        .wrap(Condition::new(
            !parts.cors_origins.is_empty(),
            cors(&parts.cors_origins),
        ))
        .wrap(from_fn(observe))
        // Outermost: every answer, whoever made it, gets the security headers.
        .wrap(from_fn(secure_headers))
        // Before the routes: the `/api` scope would otherwise claim `/api/openapi.json`.
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api/openapi.json", parts.openapi))
        .configure(routes::configure)
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, "/docs/"))
                    .finish()
            }),
        )
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}
