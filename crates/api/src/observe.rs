//! Per-request observability: a request id (taken from a well-formed `X-Request-Id` or made
//! up), echoed in the response and attached to every log line of the request with the method
//! and the route pattern (never the raw path or query, which may hold tokens); one access log
//! line; and the request metrics.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Data;
use futures_util::FutureExt;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::metrics;
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route of a request that matches no resource (logs and metrics).
const UNMATCHED: &str = "unmatched";

fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    ok.then(|| value.to_owned())
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let request_id = incoming_id(&req).unwrap_or_else(|| Uuid::now_v7().to_string());
    let method = metrics::method_label(req.method());
    let state = req.app_data::<Data<AppState>>().cloned();
    // The route pattern, never the raw path: paths carry secrets (a verification token in
    // `/api/auth/verify-email/{token}`), and the query string is never logged either. The
    // pattern is known before routing (the app's resource map); an unknown path is not logged.
    let route = req.match_pattern().unwrap_or_else(|| UNMATCHED.to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();
    // A panic is a bug, but it must still end as a JSON 500 and a log line, not a reset
    // connection and a dead worker.
    let result = AssertUnwindSafe(next.call(req).instrument(span.clone()))
        .catch_unwind()
        .await;
    let elapsed = started.elapsed();
    let mut res = match result {
        Ok(res) => res?,
        Err(_) => {
            // The request was consumed by the panicking service; answer through the error
            // path, which actix turns into this JSON response.
            span.in_scope(|| tracing::error!("handler panicked"));
            if let Some(state) = &state {
                state
                    .metrics
                    .observe(method, "panicked", 500, elapsed.as_secs_f64());
            }
            return Err(ApiError::new(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal server error.",
            )
            .into());
        }
    };
    let status = res.status().as_u16();
    if let Some(state) = &state {
        state
            .metrics
            .observe(method, &route, status, elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}
