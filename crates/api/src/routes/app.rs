//! `/app`: the usage dashboard, a single page served from the binary (see `static_app`). Every
//! path under `/app` except `/app/assets/...` is a client route and answers the page; a missing
//! asset is the usual JSON 404. Responses carry a Content-Security-Policy that allows only this
//! origin (no inline script or style), ETags with `If-None-Match` revalidation (304), and the
//! caching policy of the file. The pages call only the public API; nothing here is in the
//! OpenAPI document, like the Swagger UI files under `/docs`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Path};
use actix_web::{HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::static_app::{self, Asset};

/// Only this origin, for everything; no inline code, no framing, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/app/assets/{path:.*}").get(get_app_asset))
        .service(web::resource(["/app", "/app/{route:.*}"]).get(get_app_page));
}

/// The dashboard page, for `/app` and every client route under it.
pub async fn get_app_page(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let page = static_app::page().ok_or_else(missing)?;
    Ok(serve(&request, page))
}

/// A script, style sheet, image or vendored library of the dashboard.
pub async fn get_app_asset(
    request: HttpRequest,
    path: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asset = static_app::asset(&path).ok_or_else(missing)?;
    Ok(serve(&request, asset))
}

fn missing() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such file.")
}

fn serve(request: &HttpRequest, asset: &'static Asset) -> HttpResponse {
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| matches_etag(tags, &asset.etag));
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, asset.etag.as_str()))
        .insert_header((header::CACHE_CONTROL, asset.cache_control))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if unchanged {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.bytes)
}

/// `If-None-Match` uses the weak comparison: `W/"x"` matches `"x"`; `*` matches anything.
fn matches_etag(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::matches_etag;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        assert!(matches_etag("\"abc\"", "\"abc\""));
        assert!(matches_etag("W/\"abc\"", "\"abc\""));
        assert!(matches_etag("\"x\", \"abc\"", "\"abc\""));
        assert!(matches_etag("*", "\"abc\""));
        assert!(!matches_etag("\"abd\"", "\"abc\""));
        assert!(!matches_etag("abc", "\"abc\""));
    }
}
