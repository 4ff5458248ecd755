//! Response headers every answer carries, whichever layer produced it (a handler, an extractor's
//! refusal, actix's own 404/405, CORS, a panic turned into a 500): `X-Content-Type-Options:
//! nosniff` and `X-Frame-Options: DENY` everywhere, `Cache-Control: no-store` on `/api` (its
//! answers hold tokens and personal data), and `Strict-Transport-Security` when `HSTS_MAX_AGE`
//! is above zero. This middleware is the outermost one, so nothing answers around it.

use actix_web::HttpResponse;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;

/// What the middleware adds besides the fixed headers.
#[derive(Debug, Clone, Default)]
pub struct SecureHeaders {
    /// The `Strict-Transport-Security` value, when HSTS is on.
    hsts: Option<HeaderValue>,
}

impl SecureHeaders {
    /// `hsts_max_age_secs` of 0 sends no HSTS header (the service may sit behind plain HTTP in
    /// development; only the operator knows that every client reaches it over HTTPS).
    pub fn new(hsts_max_age_secs: u64) -> Self {
        let hsts = (hsts_max_age_secs > 0)
            .then(|| HeaderValue::from_str(&format!("max-age={hsts_max_age_secs}")).ok())
            .flatten();
        Self { hsts }
    }

    fn apply(&self, headers: &mut HeaderMap, is_api: bool) {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if is_api {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if let Some(hsts) = &self.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

/// The middleware (`from_fn`); the settings come from the app data.
pub async fn secure_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let config = req
        .app_data::<actix_web::web::Data<SecureHeaders>>()
        .map(|d| d.get_ref().clone())
        .unwrap_or_default();
    let path = req.path();
    let is_api = path == "/api" || path.starts_with("/api/");
    match next.call(req).await {
        Ok(mut res) => {
            config.apply(res.headers_mut(), is_api);
            Ok(res)
        }
        // An inner middleware gave up (a panicking handler): actix renders the error after
        // every middleware has run, so the headers go in through the error's own mapper.
        Err(mut err) => {
            err.add_response_mapper(move |mut res: HttpResponse| {
                config.apply(res.headers_mut(), is_api);
                res
            });
            Err(err)
        }
    }
}
