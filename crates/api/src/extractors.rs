//! Request extractors: the authenticated caller and the login body in either of its two
//! encodings.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::{Data, Form};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use service::{CurrentUser, FieldError, ServiceError, Subscriber};

use crate::dto::{LoginForm, LoginJson};
use crate::error::ApiError;
use crate::state::AppState;

/// The client's address as far as `TRUSTED_PROXIES` vouches for it (see
/// [`crate::client_address`]), for the per-address budgets.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = req
            .app_data::<Data<AppState>>()
            .and_then(|state| state.trusted_proxies.client_ip(req));
        std::future::ready(Ok(ClientIp(ip)))
    }
}

/// The signed-in caller: a valid, unrevoked access token of an active account.
#[derive(Debug, Clone)]
pub struct AuthUser(pub CurrentUser);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let credentials = credentials(req);
        Box::pin(async move {
            let (state, token) = credentials?;
            let user = state.services.accounts.authenticate(&token).await?;
            record_user(&user);
            Ok(AuthUser(user))
        })
    }
}

/// The services and the bearer token of a request (401 `not_authenticated` without one).
fn credentials(req: &HttpRequest) -> Result<(Data<AppState>, String), ApiError> {
    let state = req
        .app_data::<Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::from(ServiceError::NotAuthenticated))?;
    Ok((state, bearer_token(req)?))
}

/// Names the caller in the request's log span.
fn record_user(user: &CurrentUser) {
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
}

/// The signed-in caller with their subscription, read in the same query as the account (the
/// metering path, which needs the limits on every request).
#[derive(Debug, Clone)]
pub struct AuthSubscriber(pub Subscriber);

impl FromRequest for AuthSubscriber {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let credentials = credentials(req);
        Box::pin(async move {
            let (state, token) = credentials?;
            let caller = state
                .services
                .accounts
                .authenticate_subscriber(&token)
                .await?;
            record_user(&caller.user);
            Ok(AuthSubscriber(caller))
        })
    }
}

/// The signed-in caller, who must be an admin: 403 `admin_required` otherwise. The admin
/// routes are wrapped in [`admin_first`], which authenticates before anything else of the
/// request is read, so a non-admin never learns from a 422 what a route accepts; the handler
/// then takes the admin it found. The admin use cases check the role again themselves.
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Some(admin) = req.extensions().get::<AdminUser>().cloned() {
            return Box::pin(std::future::ready(Ok(admin)));
        }
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let AuthUser(user) = user.await?;
            if !user.role.is_admin() {
                return Err(ServiceError::AdminRequired.into());
            }
            Ok(AdminUser(user))
        })
    }
}

/// Middleware of the admin routes: 401 or 403 before the route's own extractors run (a path
/// that is no route goes on to its 404). actix
/// polls a handler's extractors together, so an [`AdminUser`] argument alone would let a query
/// or body that fails to deserialize answer first (400/422 to a non-admin).
pub async fn admin_first(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if req.match_pattern().is_none() {
        // No admin route has this path: the 404 (or 405) says nothing about one.
        return Ok(next.call(req).await?.map_into_left_body());
    }
    match req.extract::<AdminUser>().await {
        Ok(admin) => {
            req.extensions_mut().insert(admin);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(refused) => Ok(req.error_response(refused).map_into_right_body()),
    }
}

/// The Prometheus scraper: anyone while `METRICS_TOKEN` is unset, else only a request with
/// `Authorization: Bearer <METRICS_TOKEN>` (401 `not_authenticated` without the header,
/// `invalid_token` with another token).
#[derive(Debug, Clone, Copy)]
pub struct MetricsScraper;

impl FromRequest for MetricsScraper {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = req
            .app_data::<Data<AppState>>()
            .and_then(|state| state.metrics_token.as_ref());
        std::future::ready(match expected {
            None => Ok(MetricsScraper),
            Some(expected) => bearer_token(req).and_then(|presented| {
                if expected.matches(&presented) {
                    Ok(MetricsScraper)
                } else {
                    Err(ServiceError::InvalidToken.into())
                }
            }),
        })
    }
}

/// The bearer token of a request: 401 `not_authenticated` without an `Authorization` header,
/// 401 `invalid_token` with one that is not `Bearer <token>`.
pub(crate) fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ServiceError::NotAuthenticated.into());
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::from(ServiceError::InvalidToken))?;
    let mut parts = value.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let token = parts.next().unwrap_or_default().trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ServiceError::InvalidToken.into());
    }
    Ok(token.to_owned())
}

/// Credentials from a form (OAuth2 password grant: `username`, `password`) or JSON
/// (`email`, `password`).
#[derive(Debug, Clone)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

impl FromRequest for LoginBody {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let form = Form::<LoginForm>::from_request(req, payload);
            Box::pin(async move {
                let form = form.await?.into_inner();
                Ok(LoginBody {
                    email: form.username,
                    password: form.password,
                })
            })
        } else if content_type.starts_with("application/json") {
            let json = JsonBody::<LoginJson>::from_request(req, payload);
            Box::pin(async move {
                let json = json.await?.into_inner();
                Ok(LoginBody {
                    email: json.email,
                    password: json.password,
                })
            })
        } else {
            Box::pin(async {
                Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Send the body as application/x-www-form-urlencoded or application/json.",
                )
                .into())
            })
        }
    }
}

/// A JSON request body. Unlike actix's `Json`, it tells malformed JSON (400 `malformed_json`)
/// from well-formed JSON of the wrong shape (422 `validation_error`, also for anything but an
/// object) even when a wrongly typed value comes before the syntax error, by parsing the syntax
/// first.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| {
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !is_json(req) {
            return Box::pin(async {
                Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Send the body as application/json.",
                )
                .into())
            });
        }
        // The body limit comes from the app's PayloadConfig (413 past it).
        let bytes = actix_web::web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    "The request body is not valid JSON.",
                )
            })?;
            // Every JSON body of the API is an object; serde would also read a struct from an
            // array (`[]` as all defaults), which the schema does not allow.
            if !value.is_object() {
                return Err(
                    ApiError::invalid("body", "The request body must be a JSON object.").into(),
                );
            }
            let parsed = T::deserialize(value).map_err(|e| crate::error::deserialize_error(&e))?;
            Ok(JsonBody(parsed))
        })
    }
}

/// A query string read into `T` (every field of which is optional). Unlike actix's `Query`, a
/// refusal names each parameter that does not parse (`?page=abc&limit=x` names `page` and
/// `limit`), as the API promises of every invalid field: each parameter is tried on its own,
/// which only happens once the whole query has been refused.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T> QueryParams<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string();
        std::future::ready(match serde_urlencoded::from_str::<T>(query) {
            Ok(parsed) => Ok(QueryParams(parsed)),
            Err(whole) => Err(query_refusal::<T>(query, &whole)),
        })
    }
}

/// Names each parameter of `query` that `T` refuses on its own; the whole query's error when
/// none does (a parameter given twice, say).
fn query_refusal<T: serde::de::DeserializeOwned>(
    query: &str,
    whole: &serde_urlencoded::de::Error,
) -> ApiError {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let mut errors: Vec<FieldError> = Vec::new();
    for (name, value) in &pairs {
        if errors.iter().any(|e| &e.field == name) {
            continue;
        }
        let alone = serde_urlencoded::to_string([(name, value)]).unwrap_or_default();
        if let Err(e) = serde_urlencoded::from_str::<T>(&alone) {
            errors.push(FieldError {
                field: name.clone(),
                message: e.to_string(),
            });
        }
    }
    if errors.is_empty() {
        errors.push(FieldError {
            field: "query".to_owned(),
            message: whole.to_string(),
        });
    }
    crate::error::invalid_query(errors)
}

/// The service API key a request presents, from `Authorization: Bearer dzk_...` or
/// `X-Api-Key: dzk_...`: 401 `not_authenticated` without either, 401 `invalid_api_key` for a
/// malformed `Authorization`. Whether it is a live key with the route's scope is decided by the
/// use case, in the same round trip that reads the user it acts for.
#[derive(Debug, Clone)]
pub struct ApiKeyCredential(pub String);

/// The header that may carry an API key instead of `Authorization`.
pub const API_KEY_HEADER: &str = "x-api-key";

impl FromRequest for ApiKeyCredential {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(api_key_credentials(req).map(ApiKeyCredential))
    }
}

fn api_key_credentials(req: &HttpRequest) -> Result<String, ApiError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return bearer_token(req).map_err(|_| ApiError::from(ServiceError::InvalidApiKey));
    }
    match req.headers().get(API_KEY_HEADER) {
        None => Err(ServiceError::NotAuthenticated.into()),
        Some(value) => {
            let secret = value
                .to_str()
                .map(str::trim)
                .map_err(|_| ApiError::from(ServiceError::InvalidApiKey))?;
            Ok(secret.to_owned())
        }
    }
}
